/* om-hs-rooms.c — the room model: event JSON, room creation, membership,
 * typing
 *
 * Room creation follows Synapse 1.94: the same initial events in the same
 * order, with its default power levels.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-rooms"

#include "om-hs.h"

#include <string.h>

/* Event JSON */

static void
set_json_member (JsonObject *obj,
                 const char *key,
                 const char *json)
{
  g_autoptr(JsonNode) node = json ? json_from_string (json, NULL) : NULL;

  if (node)
    json_object_set_member (obj, key, g_steal_pointer (&node));
}

JsonNode *
om_hs_event_to_json (OmHs       *hs,
                     OmHsEvent  *ev,
                     OmHsFormat  format,
                     const char *user_id,
                     const char *device_id)
{
  JsonObject *obj = json_object_new ();
  JsonObject *unsig;
  g_autoptr(OmHsEvent) prev = NULL;
  gint64 age = MAX (0, om_hs_now_ms () - ev->origin_server_ts);

  json_object_set_string_member (obj, "type", ev->type);
  if (format == OM_HS_FORMAT_STRIPPED)
    {
      json_object_set_string_member (obj, "state_key", ev->state_key ? ev->state_key : "");
      set_json_member (obj, "content", ev->content);
      json_object_set_string_member (obj, "sender", ev->sender);
      return json_node_init_object (json_node_alloc (), obj);
    }
  if (format == OM_HS_FORMAT_CLIENT)
    json_object_set_string_member (obj, "room_id", ev->room_id);
  json_object_set_string_member (obj, "sender", ev->sender);
  set_json_member (obj, "content", ev->content);
  if (ev->state_key)
    json_object_set_string_member (obj, "state_key", ev->state_key);
  if (g_str_equal (ev->type, "m.room.redaction"))
    {
      g_autoptr(JsonObject) c = om_hs_parse_object (ev->content);
      if (c && json_object_has_member (c, "redacts"))
        json_object_set_string_member (obj, "redacts", json_object_get_string_member (c, "redacts"));
    }
  json_object_set_int_member (obj, "origin_server_ts", ev->origin_server_ts);

  unsig = json_object_new ();
  if (ev->prev_event_id)
    {
      json_object_set_string_member (unsig, "replaces_state", ev->prev_event_id);
      prev = om_hs_event_get (hs, ev->prev_event_id);
      if (prev)
        {
          set_json_member (unsig, "prev_content", prev->content);
          json_object_set_string_member (unsig, "prev_sender", prev->sender);
        }
    }
  json_object_set_int_member (unsig, "age", age);
  /* Only the sending device learns its transaction ID (spec, and Synapse). */
  if (ev->txn_id && user_id && device_id &&
      g_str_equal (user_id, ev->sender) && g_strcmp0 (device_id, ev->device_id) == 0)
    json_object_set_string_member (unsig, "transaction_id", ev->txn_id);
  if (ev->redacted_because)
    set_json_member (unsig, "redacted_because", ev->redacted_because);
  json_object_set_object_member (obj, "unsigned", unsig);
  json_object_set_string_member (obj, "event_id", ev->event_id);

  if (format == OM_HS_FORMAT_CLIENT)
    {
      /* Synapse's legacy client format repeats these at the top level. */
      json_object_set_string_member (obj, "user_id", ev->sender);
      json_object_set_int_member (obj, "age", age);
      if (ev->prev_event_id)
        {
          json_object_set_string_member (obj, "replaces_state", ev->prev_event_id);
          if (prev)
            set_json_member (obj, "prev_content", prev->content);
        }
    }
  return json_node_init_object (json_node_alloc (), obj);
}

/* Room operations shared with the demo */

OmHsEvent *
om_hs_send_state (OmHs       *hs,
                  const char *room_id,
                  const char *sender,
                  const char *type,
                  const char *state_key,
                  JsonObject *content)
{
  return om_hs_event_create (hs, room_id, sender, type, state_key ? state_key : "",
                             content, NULL, NULL, 0);
}

static JsonObject *
member_content (OmHs       *hs,
                const char *user_id,
                const char *membership,
                const char *reason)
{
  JsonObject *c = json_object_new ();
  g_autofree char *name = NULL;

  if (reason)
    json_object_set_string_member (c, "reason", reason);
  json_object_set_string_member (c, "membership", membership);
  if (g_str_equal (membership, "join") || g_str_equal (membership, "invite"))
    {
      name = om_hs_user_dup_displayname (hs, user_id);
      if (name)
        json_object_set_string_member (c, "displayname", name);
    }
  return c;
}

gboolean
om_hs_set_membership (OmHs       *hs,
                      const char *room_id,
                      const char *sender,
                      const char *target,
                      const char *membership,
                      const char *reason)
{
  g_autoptr(JsonObject) c = member_content (hs, target, membership, reason);
  g_autoptr(OmHsEvent) ev = om_hs_send_state (hs, room_id, sender, "m.room.member", target, c);

  return ev != NULL;
}


static JsonObject *
default_power_levels (const char *creator)
{
  JsonObject *pl = json_object_new ();
  JsonObject *users = json_object_new ();
  JsonObject *events = json_object_new ();

  json_object_set_int_member (users, creator, 100);
  json_object_set_object_member (pl, "users", users);
  json_object_set_int_member (pl, "users_default", 0);
  json_object_set_int_member (events, "m.room.name", 50);
  json_object_set_int_member (events, "m.room.power_levels", 100);
  json_object_set_int_member (events, "m.room.history_visibility", 100);
  json_object_set_int_member (events, "m.room.canonical_alias", 50);
  json_object_set_int_member (events, "m.room.avatar", 50);
  json_object_set_int_member (events, "m.room.tombstone", 100);
  json_object_set_int_member (events, "m.room.server_acl", 100);
  json_object_set_int_member (events, "m.room.encryption", 100);
  json_object_set_object_member (pl, "events", events);
  json_object_set_int_member (pl, "events_default", 0);
  json_object_set_int_member (pl, "state_default", 50);
  json_object_set_int_member (pl, "ban", 50);
  json_object_set_int_member (pl, "kick", 50);
  json_object_set_int_member (pl, "redact", 50);
  json_object_set_int_member (pl, "invite", 0);
  json_object_set_int_member (pl, "historical", 100);
  return pl;
}

static void
emit_state (OmHs       *hs,
            const char *room_id,
            const char *sender,
            const char *type,
            const char *key,
            const char *value)
{
  g_autoptr(JsonObject) c = json_object_new ();
  g_autoptr(OmHsEvent) ev = NULL;

  json_object_set_string_member (c, key, value);
  ev = om_hs_send_state (hs, room_id, sender, type, "", c);
}

static gboolean
in_initial_state (JsonObject *body,
                  const char *type)
{
  JsonArray *arr;

  if (!json_object_has_member (body, "initial_state"))
    return FALSE;
  arr = json_object_get_array_member (body, "initial_state");
  for (guint i = 0; arr && i < json_array_get_length (arr); i++)
    {
      JsonObject *s = json_array_get_object_element (arr, i);
      const char *key = om_hs_json_str (s, "state_key");

      if (g_strcmp0 (om_hs_json_str (s, "type"), type) == 0 && (key == NULL || key[0] == '\0'))
        return TRUE;
    }
  return FALSE;
}

/* Creates a room the way Synapse does (same events, same order).  Returns
 * the room ID, or NULL with an error for the client. */
char *
om_hs_create_room (OmHs        *hs,
                   const char  *creator,
                   JsonObject  *body,
                   const char **out_errcode,
                   char       **out_error,
                   guint       *out_status)
{
  const char *visibility = om_hs_json_str (body, "visibility");
  const char *preset = om_hs_json_str (body, "preset");
  const char *alias_name = om_hs_json_str (body, "room_alias_name");
  const char *name = om_hs_json_str (body, "name");
  const char *topic = om_hs_json_str (body, "topic");
  gboolean is_direct = json_object_has_member (body, "is_direct") &&
                       json_object_get_boolean_member (body, "is_direct");
  g_autofree char *alias = NULL;
  g_autofree char *rnd = om_hs_random_string (18, FALSE);
  g_autofree char *room_id = NULL;
  g_autoptr(JsonObject) create = NULL;
  g_autoptr(JsonObject) pl = NULL;
  g_autoptr(OmHsEvent) ev = NULL;
  JsonArray *invites = NULL;

  *out_status = 400;
  if (preset == NULL)
    preset = g_strcmp0 (visibility, "public") == 0 ? "public_chat" : "private_chat";
  if (!g_str_equal (preset, "private_chat") && !g_str_equal (preset, "public_chat") &&
      !g_str_equal (preset, "trusted_private_chat"))
    {
      *out_errcode = "M_BAD_JSON";
      *out_error = g_strdup_printf ("'%s' is not a valid preset", preset);
      return NULL;
    }
  if (alias_name)
    {
      g_autofree char *taken = NULL;

      if (strpbrk (alias_name, " :#\t\n") != NULL || alias_name[0] == '\0')
        {
          *out_errcode = "M_UNKNOWN";
          *out_error = g_strdup ("Invalid characters in room alias");
          return NULL;
        }
      alias = g_strdup_printf ("#%s:%s", alias_name, hs->server_name);
      taken = om_hs_alias_lookup (hs, alias);
      if (taken != NULL)
        {
          *out_errcode = "M_ROOM_IN_USE";
          *out_error = g_strdup ("Room alias already taken");
          return NULL;
        }
    }
  if (json_object_has_member (body, "invite"))
    invites = json_object_get_array_member (body, "invite");

  /* Room IDs are 18 random letters, like Synapse's. */
  for (char *p = rnd; *p; p++)
    if (!g_ascii_isalpha (*p))
      *p = 'A' + (*p % 26);
  room_id = g_strdup_printf ("!%s:%s", rnd, hs->server_name);

  /* m.room.create: creation_content first, as Synapse serialises it. */
  create = json_object_new ();
  if (json_object_has_member (body, "creation_content"))
    {
      JsonObject *cc = json_object_get_object_member (body, "creation_content");
      GList *members = cc ? json_object_get_members (cc) : NULL;

      for (GList *l = members; l; l = l->next)
        json_object_set_member (create, l->data, json_node_copy (json_object_get_member (cc, l->data)));
      g_list_free (members);
    }
  json_object_set_string_member (create, "room_version", "10");
  json_object_set_string_member (create, "creator", creator);
  ev = om_hs_send_state (hs, room_id, creator, "m.room.create", "", create);
  g_clear_pointer (&ev, om_hs_event_free);

  om_hs_set_membership (hs, room_id, creator, creator, "join", NULL);

  pl = default_power_levels (creator);
  if (g_str_equal (preset, "trusted_private_chat") && invites)
    {
      JsonObject *users = json_object_get_object_member (pl, "users");
      for (guint i = 0; i < json_array_get_length (invites); i++)
        json_object_set_int_member (users, json_array_get_string_element (invites, i), 100);
    }
  if (json_object_has_member (body, "power_level_content_override"))
    {
      JsonObject *o = json_object_get_object_member (body, "power_level_content_override");
      GList *members = o ? json_object_get_members (o) : NULL;

      for (GList *l = members; l; l = l->next)
        json_object_set_member (pl, l->data, json_node_copy (json_object_get_member (o, l->data)));
      g_list_free (members);
    }
  /* Like Synapse, initial_state takes precedence over the preset's events. */
  if (!in_initial_state (body, "m.room.power_levels"))
    {
      ev = om_hs_send_state (hs, room_id, creator, "m.room.power_levels", "", pl);
      g_clear_pointer (&ev, om_hs_event_free);
    }

  if (alias)
    {
      om_hs_alias_create (hs, alias, room_id);
      emit_state (hs, room_id, creator, "m.room.canonical_alias", "alias", alias);
    }
  if (!in_initial_state (body, "m.room.join_rules"))
    emit_state (hs, room_id, creator, "m.room.join_rules", "join_rule",
                g_str_equal (preset, "public_chat") ? "public" : "invite");
  if (!in_initial_state (body, "m.room.history_visibility"))
    emit_state (hs, room_id, creator, "m.room.history_visibility", "history_visibility", "shared");
  if (!g_str_equal (preset, "public_chat") && !in_initial_state (body, "m.room.guest_access"))
    emit_state (hs, room_id, creator, "m.room.guest_access", "guest_access", "can_join");

  if (json_object_has_member (body, "initial_state"))
    {
      JsonArray *arr = json_object_get_array_member (body, "initial_state");

      for (guint i = 0; arr && i < json_array_get_length (arr); i++)
        {
          JsonObject *s = json_array_get_object_element (arr, i);
          const char *type = om_hs_json_str (s, "type");
          JsonObject *content = s && json_object_has_member (s, "content")
                                ? json_object_get_object_member (s, "content") : NULL;

          if (type && content)
            {
              ev = om_hs_send_state (hs, room_id, creator, type, om_hs_json_str (s, "state_key"), content);
              g_clear_pointer (&ev, om_hs_event_free);
            }
        }
    }
  if (name)
    emit_state (hs, room_id, creator, "m.room.name", "name", name);
  if (topic)
    emit_state (hs, room_id, creator, "m.room.topic", "topic", topic);
  for (guint i = 0; invites && i < json_array_get_length (invites); i++)
    {
      const char *target = json_array_get_string_element (invites, i);
      g_autoptr(JsonObject) c = member_content (hs, target, "invite", NULL);

      if (is_direct)
        json_object_set_boolean_member (c, "is_direct", TRUE);
      ev = om_hs_send_state (hs, room_id, creator, "m.room.member", target, c);
      g_clear_pointer (&ev, om_hs_event_free);
    }
  *out_status = 200;
  return g_steal_pointer (&room_id);
}

/* Typing (in memory, like Synapse) */

typedef struct
{
  OmHs  *hs;
  char  *room_id;
  char  *user_id;
  guint  timeout_id;
} OmHsTyping;

static void
typing_free (OmHsTyping *t)
{
  if (t->timeout_id)
    g_source_remove (t->timeout_id);
  g_free (t->room_id);
  g_free (t->user_id);
  g_free (t);
}

static void
typing_changed (OmHs       *hs,
                const char *room_id)
{
  gint64 *pos = g_new (gint64, 1);

  *pos = hs->stream + 1;
  g_hash_table_replace (hs->typing_pos, g_strdup (room_id), pos);
  om_hs_stream_advance (hs);
}

static gboolean
typing_expired_cb (gpointer user_data)
{
  OmHsTyping *t = user_data;
  OmHs *hs = t->hs;
  g_autofree char *room_id = g_strdup (t->room_id);
  GHashTable *users = g_hash_table_lookup (hs->typing, room_id);

  t->timeout_id = 0;
  g_hash_table_remove (users, t->user_id);
  typing_changed (hs, room_id);
  return G_SOURCE_REMOVE;
}

void
om_hs_typing_set (OmHs       *hs,
                  const char *room_id,
                  const char *user_id,
                  gboolean    typing,
                  guint       timeout_ms)
{
  GHashTable *users = g_hash_table_lookup (hs->typing, room_id);
  OmHsTyping *t;

  if (users == NULL)
    {
      users = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) typing_free);
      g_hash_table_insert (hs->typing, g_strdup (room_id), users);
    }
  t = g_hash_table_lookup (users, user_id);
  if (!typing)
    {
      if (t)
        {
          g_hash_table_remove (users, user_id);
          typing_changed (hs, room_id);
        }
      return;
    }
  if (t)
    {
      /* A refresh only moves the expiry; no change to report. */
      g_source_remove (t->timeout_id);
      t->timeout_id = g_timeout_add (timeout_ms, typing_expired_cb, t);
      return;
    }
  t = g_new0 (OmHsTyping, 1);
  t->hs = hs;
  t->room_id = g_strdup (room_id);
  t->user_id = g_strdup (user_id);
  t->timeout_id = g_timeout_add (timeout_ms, typing_expired_cb, t);
  g_hash_table_insert (users, t->user_id, t);
  typing_changed (hs, room_id);
}

GPtrArray *
om_hs_typing_users (OmHs       *hs,
                    const char *room_id)
{
  GHashTable *users = g_hash_table_lookup (hs->typing, room_id);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  if (users)
    {
      g_hash_table_iter_init (&iter, users);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (out, g_strdup (key));
    }
  g_ptr_array_sort (out, (GCompareFunc) g_strcmp0);
  return out;
}

void
om_hs_typing_clear_all (OmHs *hs)
{
  g_hash_table_remove_all (hs->typing);
}

/* GET /_matrix/client/v1/rooms/{roomId}/hierarchy (no pagination) */

static const char *
state_str (OmHs       *hs,
           const char *room_id,
           const char *type,
           const char *key,
           JsonObject **out_content)
{
  g_autoptr(OmHsEvent) ev = om_hs_state_get (hs, room_id, type, "");

  *out_content = ev ? om_hs_parse_object (ev->content) : NULL;
  return om_hs_json_str (*out_content, key);
}

static gboolean
can_see_room (OmHs       *hs,
              const char *room_id,
              const char *user_id)
{
  g_autofree char *m = om_hs_membership (hs, room_id, user_id);
  g_autoptr(JsonObject) c = NULL;

  if (g_strcmp0 (m, "join") == 0 || g_strcmp0 (m, "invite") == 0)
    return TRUE;
  return g_strcmp0 (state_str (hs, room_id, "m.room.join_rules", "join_rule", &c), "public") == 0;
}

static JsonObject *
hierarchy_entry (OmHs       *hs,
                 const char *room_id,
                 GPtrArray  *children)
{
  JsonObject *o = json_object_new ();
  JsonArray *cs = json_array_new ();
  g_autoptr(GPtrArray) joined = om_hs_room_members (hs, room_id, "join");
  g_autoptr(GPtrArray) state = om_hs_state_at (hs, room_id, 0);
  g_autoptr(JsonObject) c1 = NULL, c2 = NULL, c3 = NULL, c4 = NULL, c5 = NULL, c6 = NULL, c7 = NULL;
  const char *v;

  json_object_set_string_member (o, "room_id", room_id);
  if ((v = state_str (hs, room_id, "m.room.name", "name", &c1)))
    json_object_set_string_member (o, "name", v);
  if ((v = state_str (hs, room_id, "m.room.topic", "topic", &c2)))
    json_object_set_string_member (o, "topic", v);
  if ((v = state_str (hs, room_id, "m.room.canonical_alias", "alias", &c3)))
    json_object_set_string_member (o, "canonical_alias", v);
  json_object_set_int_member (o, "num_joined_members", joined->len);
  if ((v = state_str (hs, room_id, "m.room.avatar", "url", &c4)))
    json_object_set_string_member (o, "avatar_url", v);
  if ((v = state_str (hs, room_id, "m.room.join_rules", "join_rule", &c5)))
    json_object_set_string_member (o, "join_rule", v);
  json_object_set_boolean_member (o, "world_readable",
                                  g_strcmp0 (state_str (hs, room_id, "m.room.history_visibility",
                                                        "history_visibility", &c6), "world_readable") == 0);
  json_object_set_boolean_member (o, "guest_can_join",
                                  g_strcmp0 (state_str (hs, room_id, "m.room.guest_access",
                                                        "guest_access", &c7), "can_join") == 0);
  g_clear_pointer (&c1, json_object_unref);
  if ((v = state_str (hs, room_id, "m.room.create", "type", &c1)))
    json_object_set_string_member (o, "room_type", v);

  for (guint i = 0; i < state->len; i++)
    {
      OmHsEvent *ev = state->pdata[i];
      g_autoptr(JsonObject) c = NULL;
      JsonNode *node;

      if (!g_str_equal (ev->type, "m.space.child"))
        continue;
      c = om_hs_parse_object (ev->content);
      /* A child without "via" is a removed link. */
      if (c == NULL || !json_object_has_member (c, "via"))
        continue;
      node = om_hs_event_to_json (hs, ev, OM_HS_FORMAT_STRIPPED, NULL, NULL);
      json_object_set_int_member (json_node_get_object (node), "origin_server_ts", ev->origin_server_ts);
      json_array_add_element (cs, node);
      g_ptr_array_add (children, g_strdup (ev->state_key));
    }
  json_object_set_array_member (o, "children_state", cs);
  return o;
}

void
om_hs_handle_hierarchy (OmHsRequest *req)
{
  const char *root = req->segs[2];
  const char *limit_str = om_hs_query (req, "limit");
  const char *depth_str = om_hs_query (req, "max_depth");
  guint limit = limit_str ? (guint) CLAMP (g_ascii_strtoll (limit_str, NULL, 10), 1, 1000) : 50;
  guint max_depth = depth_str ? (guint) g_ascii_strtoull (depth_str, NULL, 10) : G_MAXUINT;
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GQueue) queue = g_queue_new ();
  g_autoptr(JsonObject) out = json_object_new ();
  JsonArray *rooms = json_array_new ();

  if (!om_hs_room_exists (req->hs, root) || !can_see_room (req->hs, root, req->user_id))
    {
      g_autofree char *msg = g_strdup_printf ("User %s not in room %s, and room previews are disabled",
                                              req->user_id, root);
      json_array_unref (rooms);
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", msg);
      return;
    }
  g_queue_push_tail (queue, g_strdup_printf ("0 %s", root));
  while (!g_queue_is_empty (queue) && json_array_get_length (rooms) < limit)
    {
      g_autofree char *item = g_queue_pop_head (queue);
      char *room_id = strchr (item, ' ') + 1;
      guint depth = (guint) g_ascii_strtoull (item, NULL, 10);
      g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func (g_free);

      if (g_hash_table_contains (seen, room_id) || !om_hs_room_exists (req->hs, room_id) ||
          !can_see_room (req->hs, room_id, req->user_id))
        continue;
      g_hash_table_add (seen, g_strdup (room_id));
      json_array_add_object_element (rooms, hierarchy_entry (req->hs, room_id, children));
      if (depth < max_depth)
        for (guint i = 0; i < children->len; i++)
          g_queue_push_tail (queue, g_strdup_printf ("%u %s", depth + 1, (char *) children->pdata[i]));
    }
  while (!g_queue_is_empty (queue))
    g_free (g_queue_pop_head (queue));
  json_object_set_array_member (out, "rooms", rooms);
  om_hs_reply_object (req->msg, 200, out);
}
