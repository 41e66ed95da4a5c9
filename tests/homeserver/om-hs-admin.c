/* om-hs-admin.c — the subset of Synapse's admin API (/_synapse/admin/) the
 * client's admin mode uses, in the shapes of tests/data/transcripts/admin-api.json
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-admin"

#include "om-hs.h"

#include <string.h>

#define SEG(i) (req->segs[(i)])

typedef struct
{
  char      *delete_id;
  char      *room_id;
  char      *status;        /* "active" until the purge ran, then "complete" */
  GPtrArray *kicked;        /* user IDs */
  guint      purge_source;
} OmHsDeletion;

/* Room deletions of this process (Synapse keeps them in memory too). */
static GPtrArray *deletions;
/* user_id -> "messages_per_second burst_count" as last set by an admin */
static GHashTable *overrides;

static gboolean
require_admin (OmHsRequest *req)
{
  if (om_hs_request_is_admin (req))
    return TRUE;
  om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "You are not a server admin");
  return FALSE;
}

static const char *
state_value (OmHs        *hs,
             const char  *room_id,
             const char  *type,
             const char  *key,
             JsonObject **out_content)
{
  g_autoptr(OmHsEvent) ev = om_hs_state_get (hs, room_id, type, "");

  *out_content = ev ? om_hs_parse_object (ev->content) : NULL;
  return om_hs_json_str (*out_content, key);
}

static void
set_string_or_null (JsonObject *o,
                    const char *key,
                    const char *value)
{
  if (value)
    json_object_set_string_member (o, key, value);
  else
    json_object_set_null_member (o, key);
}

/* Users */

/* @list_form: the v2 users list uses 0/1 integers and milliseconds, a
 * single user booleans and seconds (Synapse 1.94). */
static JsonObject *
user_json (OmHs       *hs,
           const char *user_id,
           gboolean    list_form)
{
  g_auto(GStrv) row = om_hs_user_row (hs, user_id);
  JsonObject *o;
  gint64 created;
  gboolean admin, deactivated;

  if (row == NULL)
    return NULL;
  admin = g_strcmp0 (row[1], "0") != 0 && row[1] != NULL;
  deactivated = g_strcmp0 (row[2], "1") == 0;
  created = row[3] ? g_ascii_strtoll (row[3], NULL, 10) : 0;
  o = json_object_new ();
  json_object_set_string_member (o, "name", user_id);
  if (list_form)
    {
      json_object_set_null_member (o, "user_type");
      json_object_set_int_member (o, "is_guest", 0);
      json_object_set_int_member (o, "admin", admin);
      json_object_set_int_member (o, "deactivated", deactivated);
      json_object_set_int_member (o, "shadow_banned", 0);
      set_string_or_null (o, "displayname", row[0]);
      json_object_set_null_member (o, "avatar_url");
      json_object_set_int_member (o, "creation_ts", created);
      json_object_set_boolean_member (o, "erased", FALSE);
      json_object_set_null_member (o, "last_seen_ts");
      json_object_set_int_member (o, "locked", 0);
      return o;
    }
  json_object_set_boolean_member (o, "admin", admin);
  json_object_set_boolean_member (o, "deactivated", deactivated);
  json_object_set_boolean_member (o, "locked", FALSE);
  json_object_set_boolean_member (o, "shadow_banned", FALSE);
  json_object_set_int_member (o, "creation_ts", created / 1000);
  json_object_set_null_member (o, "appservice_id");
  json_object_set_null_member (o, "consent_server_notice_sent");
  json_object_set_null_member (o, "consent_version");
  json_object_set_null_member (o, "consent_ts");
  json_object_set_null_member (o, "user_type");
  json_object_set_boolean_member (o, "is_guest", FALSE);
  set_string_or_null (o, "displayname", row[0]);
  json_object_set_null_member (o, "avatar_url");
  json_object_set_array_member (o, "threepids", json_array_new ());
  json_object_set_array_member (o, "external_ids", json_array_new ());
  json_object_set_boolean_member (o, "erased", FALSE);
  json_object_set_null_member (o, "last_seen_ts");
  return o;
}

static void
a_server_version (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = json_object_new ();

  /* The Synapse version whose admin API this models. */
  json_object_set_string_member (out, "server_version", "1.94.0");
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_user_admin (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = NULL;

  if (!require_admin (req))
    return;
  out = json_object_new ();
  json_object_set_boolean_member (out, "admin", om_hs_user_is_admin (req->hs, SEG (3)));
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_users_list (OmHsRequest *req)
{
  const char *from_str = om_hs_query (req, "from");
  const char *limit_str = om_hs_query (req, "limit");
  g_autoptr(GPtrArray) users = NULL;
  g_autoptr(JsonObject) out = NULL;
  guint from = from_str ? (guint) g_ascii_strtoull (from_str, NULL, 10) : 0;
  guint limit = limit_str ? (guint) g_ascii_strtoull (limit_str, NULL, 10) : 100;
  JsonArray *arr;

  if (!require_admin (req))
    return;
  users = om_hs_user_list (req->hs, om_hs_query (req, "name"));
  arr = json_array_new ();
  for (guint i = from; i < users->len && i < from + limit; i++)
    json_array_add_object_element (arr, user_json (req->hs, users->pdata[i], TRUE));
  out = json_object_new ();
  json_object_set_array_member (out, "users", arr);
  json_object_set_int_member (out, "total", users->len);
  if (from + limit < users->len)
    {
      g_autofree char *next = g_strdup_printf ("%u", from + limit);
      json_object_set_string_member (out, "next_token", next);
    }
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_user_get (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = NULL;

  if (!require_admin (req))
    return;
  out = user_json (req->hs, SEG (2), FALSE);
  if (out == NULL)
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "User not found");
      return;
    }
  om_hs_reply_object (req->msg, 200, out);
}

static void
deactivate (OmHs       *hs,
            const char *user_id)
{
  g_autoptr(GPtrArray) rooms = om_hs_user_rooms (hs, user_id);

  om_hs_user_update (hs, user_id, NULL, -1, 1);
  om_hs_token_delete_user (hs, user_id);
  /* Synapse parts a deactivated user from every room. */
  for (guint i = 0; i < rooms->len; i++)
    {
      OmHsEvent *ev = rooms->pdata[i];
      g_autoptr(JsonObject) c = om_hs_parse_object (ev->content);
      const char *m = om_hs_json_str (c, "membership");

      if (g_strcmp0 (m, "join") == 0 || g_strcmp0 (m, "invite") == 0)
        om_hs_set_membership (hs, ev->room_id, user_id, user_id, "leave", NULL);
    }
}

static void
a_user_put (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) out = NULL;
  const char *user_id = SEG (2);
  const char *server = NULL;
  gboolean created = FALSE;
  gint admin = -1;

  if (!require_admin (req))
    return;
  body = om_hs_request_body (req);
  if (body == NULL)
    return;
  server = strchr (user_id, ':');
  if (user_id[0] != '@' || server == NULL || !g_str_equal (server + 1, req->hs->server_name))
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM", "Can only look up local users");
      return;
    }
  if (json_object_has_member (body, "admin"))
    admin = json_object_get_boolean_member (body, "admin");
  if (!om_hs_user_exists (req->hs, user_id))
    {
      g_autofree char *localpart = g_strndup (user_id + 1, server - user_id - 1);

      om_hs_user_create (req->hs, localpart, om_hs_json_str (body, "password"), admin > 0,
                         om_hs_json_str (body, "displayname"));
      created = TRUE;
    }
  else
    {
      om_hs_user_update (req->hs, user_id, om_hs_json_str (body, "password"), admin, -1);
      if (om_hs_json_str (body, "displayname"))
        om_hs_user_set_displayname (req->hs, user_id, om_hs_json_str (body, "displayname"));
      if (json_object_has_member (body, "deactivated"))
        {
          if (json_object_get_boolean_member (body, "deactivated"))
            deactivate (req->hs, user_id);
          else
            om_hs_user_update (req->hs, user_id, NULL, -1, 0);
        }
    }
  out = user_json (req->hs, user_id, FALSE);
  om_hs_reply_object (req->msg, created ? 201 : 200, out);
}

static void
a_deactivate (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = NULL;

  if (!require_admin (req))
    return;
  if (!om_hs_user_exists (req->hs, SEG (2)))
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "User not found");
      return;
    }
  deactivate (req->hs, SEG (2));
  out = json_object_new ();
  json_object_set_string_member (out, "id_server_unbind_result", "success");
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_user_joined_rooms (OmHsRequest *req)
{
  g_autoptr(GPtrArray) rooms = NULL;
  g_autoptr(JsonObject) out = NULL;
  JsonArray *arr;

  if (!require_admin (req))
    return;
  rooms = om_hs_user_rooms (req->hs, SEG (3));
  arr = json_array_new ();
  for (guint i = 0; i < rooms->len; i++)
    {
      OmHsEvent *ev = rooms->pdata[i];
      g_autoptr(JsonObject) c = om_hs_parse_object (ev->content);

      if (g_strcmp0 (om_hs_json_str (c, "membership"), "join") == 0)
        json_array_add_string_element (arr, ev->room_id);
    }
  out = json_object_new ();
  json_object_set_int_member (out, "total", json_array_get_length (arr));
  json_object_set_array_member (out, "joined_rooms", arr);
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_override_ratelimit (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = json_object_new ();

  if (!require_admin (req))
    return;
  if (overrides == NULL)
    overrides = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (g_str_equal (req->method, "POST"))
    {
      g_autoptr(JsonObject) body = om_hs_request_body (req);
      gint64 mps, burst;

      if (body == NULL)
        return;
      mps = json_object_has_member (body, "messages_per_second")
            ? json_object_get_int_member (body, "messages_per_second") : 0;
      burst = json_object_has_member (body, "burst_count")
              ? json_object_get_int_member (body, "burst_count") : 0;
      /* 0/0 means unlimited, which is no limit at all here. */
      om_hs_ratelimit_set (req->hs, SEG (3), (gdouble) burst, (gdouble) mps);
      g_hash_table_replace (overrides, g_strdup (SEG (3)),
                            g_strdup_printf ("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT, mps, burst));
    }
  else if (g_str_equal (req->method, "DELETE"))
    {
      om_hs_ratelimit_set (req->hs, SEG (3), 0, 0);
      g_hash_table_remove (overrides, SEG (3));
    }
  if (!g_str_equal (req->method, "DELETE") && g_hash_table_contains (overrides, SEG (3)))
    {
      const char *v = g_hash_table_lookup (overrides, SEG (3));

      json_object_set_int_member (out, "messages_per_second", g_ascii_strtoll (v, NULL, 10));
      json_object_set_int_member (out, "burst_count", g_ascii_strtoll (strchr (v, ' ') + 1, NULL, 10));
    }
  om_hs_reply_object (req->msg, 200, out);
}

void
om_hs_admin_whois (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = NULL;
  JsonObject *devices, *dev;
  JsonArray *sessions;
  JsonObject *session;

  if (!g_str_equal (SEG (2), req->user_id) && !require_admin (req))
    return;
  out = json_object_new ();
  devices = json_object_new ();
  dev = json_object_new ();
  sessions = json_array_new ();
  session = json_object_new ();
  json_object_set_array_member (session, "connections", json_array_new ());
  json_array_add_object_element (sessions, session);
  json_object_set_array_member (dev, "sessions", sessions);
  json_object_set_object_member (devices, "", dev);
  json_object_set_string_member (out, "user_id", SEG (2));
  json_object_set_object_member (out, "devices", devices);
  om_hs_reply_object (req->msg, 200, out);
}

/* Rooms */

static JsonObject *
room_json (OmHs       *hs,
           const char *room_id,
           gboolean    details)
{
  JsonObject *o = json_object_new ();
  g_autoptr(GPtrArray) joined = om_hs_room_members (hs, room_id, "join");
  g_autoptr(GPtrArray) state = om_hs_state_at (hs, room_id, 0);
  g_autoptr(OmHsEvent) create = om_hs_state_get (hs, room_id, "m.room.create", "");
  g_autoptr(JsonObject) c1 = NULL, c2 = NULL, c3 = NULL, c4 = NULL, c5 = NULL, c6 = NULL;
  g_autoptr(JsonObject) c7 = NULL, c8 = NULL, c9 = NULL;
  const char *join_rule;

  json_object_set_string_member (o, "room_id", room_id);
  set_string_or_null (o, "name", state_value (hs, room_id, "m.room.name", "name", &c1));
  set_string_or_null (o, "canonical_alias", state_value (hs, room_id, "m.room.canonical_alias", "alias", &c2));
  json_object_set_int_member (o, "joined_members", joined->len);
  json_object_set_int_member (o, "joined_local_members", joined->len);
  set_string_or_null (o, "version", state_value (hs, room_id, "m.room.create", "room_version", &c3));
  set_string_or_null (o, "creator", create ? create->sender : NULL);
  set_string_or_null (o, "encryption", state_value (hs, room_id, "m.room.encryption", "algorithm", &c4));
  json_object_set_boolean_member (o, "federatable", TRUE);
  json_object_set_boolean_member (o, "public", FALSE);
  join_rule = state_value (hs, room_id, "m.room.join_rules", "join_rule", &c5);
  set_string_or_null (o, "join_rules", join_rule);
  set_string_or_null (o, "guest_access", state_value (hs, room_id, "m.room.guest_access", "guest_access", &c6));
  set_string_or_null (o, "history_visibility",
                      state_value (hs, room_id, "m.room.history_visibility", "history_visibility", &c7));
  json_object_set_int_member (o, "state_events", state->len);
  if (details)
    {
      set_string_or_null (o, "avatar", state_value (hs, room_id, "m.room.avatar", "url", &c8));
      set_string_or_null (o, "topic", state_value (hs, room_id, "m.room.topic", "topic", &c9));
    }
  g_clear_pointer (&c3, json_object_unref);
  set_string_or_null (o, "room_type", state_value (hs, room_id, "m.room.create", "type", &c3));
  if (details)
    {
      json_object_set_int_member (o, "joined_local_devices", joined->len);
      json_object_set_boolean_member (o, "forgotten", FALSE);
    }
  return o;
}

static gboolean
require_room (OmHsRequest *req,
              const char  *room_id)
{
  if (om_hs_room_exists (req->hs, room_id))
    return TRUE;
  om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "Room not found");
  return FALSE;
}

static void
a_rooms_list (OmHsRequest *req)
{
  const char *search = om_hs_query (req, "search_term");
  const char *from_str = om_hs_query (req, "from");
  const char *limit_str = om_hs_query (req, "limit");
  guint from = from_str ? (guint) g_ascii_strtoull (from_str, NULL, 10) : 0;
  guint limit = limit_str ? (guint) g_ascii_strtoull (limit_str, NULL, 10) : 100;
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) matching = g_ptr_array_new ();
  g_autoptr(JsonObject) out = NULL;
  JsonArray *arr;

  if (!require_admin (req))
    return;
  all = om_hs_room_list (req->hs);
  for (guint i = 0; i < all->len; i++)
    {
      g_autoptr(JsonObject) c = NULL;
      const char *name = state_value (req->hs, all->pdata[i], "m.room.name", "name", &c);

      if (search == NULL || (name && strstr (name, search)) || strstr (all->pdata[i], search))
        g_ptr_array_add (matching, all->pdata[i]);
    }
  arr = json_array_new ();
  for (guint i = from; i < matching->len && i < from + limit; i++)
    json_array_add_object_element (arr, room_json (req->hs, matching->pdata[i], FALSE));
  out = json_object_new ();
  json_object_set_int_member (out, "offset", from);
  json_object_set_array_member (out, "rooms", arr);
  json_object_set_int_member (out, "total_rooms", matching->len);
  if (from + limit < matching->len)
    json_object_set_int_member (out, "next_batch", from + limit);
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_room_get (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = NULL;

  if (!require_admin (req) || !require_room (req, SEG (2)))
    return;
  out = room_json (req->hs, SEG (2), TRUE);
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_room_members (OmHsRequest *req)
{
  g_autoptr(GPtrArray) members = NULL;
  g_autoptr(JsonObject) out = NULL;
  JsonArray *arr;

  if (!require_admin (req) || !require_room (req, SEG (2)))
    return;
  members = om_hs_room_members (req->hs, SEG (2), "join");
  arr = json_array_new ();
  for (guint i = 0; i < members->len; i++)
    json_array_add_string_element (arr, members->pdata[i]);
  out = json_object_new ();
  json_object_set_array_member (out, "members", arr);
  json_object_set_int_member (out, "total", members->len);
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_room_state (OmHsRequest *req)
{
  g_autoptr(GPtrArray) state = NULL;
  g_autoptr(JsonObject) out = NULL;
  JsonArray *arr;

  if (!require_admin (req) || !require_room (req, SEG (2)))
    return;
  state = om_hs_state_at (req->hs, SEG (2), 0);
  arr = json_array_new ();
  for (guint i = 0; i < state->len; i++)
    json_array_add_element (arr, om_hs_event_to_json (req->hs, state->pdata[i], OM_HS_FORMAT_CLIENT,
                                                      req->user_id, req->device_id));
  out = json_object_new ();
  json_object_set_array_member (out, "state", arr);
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_room_messages (OmHsRequest *req)
{
  const char *limit_str = om_hs_query (req, "limit");
  gboolean forwards = g_strcmp0 (om_hs_query (req, "dir"), "f") == 0;
  gint64 limit = limit_str ? CLAMP (g_ascii_strtoll (limit_str, NULL, 10), 1, 1000) : 10;
  g_autoptr(GPtrArray) evs = NULL;
  g_autoptr(JsonObject) out = NULL;
  JsonArray *chunk;

  if (!require_admin (req) || !require_room (req, SEG (2)))
    return;
  evs = om_hs_room_events (req->hs, SEG (2), 0, G_MAXINT64, (guint) limit, !forwards);
  chunk = json_array_new ();
  for (guint i = 0; i < evs->len; i++)
    json_array_add_element (chunk, om_hs_event_to_json (req->hs, evs->pdata[i], OM_HS_FORMAT_CLIENT,
                                                        req->user_id, req->device_id));
  out = json_object_new ();
  json_object_set_array_member (out, "chunk", chunk);
  {
    g_autofree char *start = g_strdup_printf ("s%" G_GINT64_FORMAT, req->hs->stream);
    json_object_set_string_member (out, "start", start);
  }
  if (evs->len > 0)
    {
      OmHsEvent *last = evs->pdata[evs->len - 1];
      g_autofree char *end = g_strdup_printf ("t%" G_GINT64_FORMAT, forwards ? last->stream : last->stream - 1);
      json_object_set_string_member (out, "end", end);
    }
  om_hs_reply_object (req->msg, 200, out);
}

/* POST join/{roomIdOrAlias} {user_id}: the admin must be able to invite,
 * unless the room is public. */
static void
a_join (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) out = NULL;
  g_autoptr(JsonObject) rules = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *admin_m = NULL;
  g_autofree char *target_m = NULL;
  const char *target;

  if (!require_admin (req))
    return;
  body = om_hs_request_body (req);
  if (body == NULL)
    return;
  target = om_hs_json_str (body, "user_id");
  if (target == NULL || !om_hs_user_exists (req->hs, target))
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "User not found");
      return;
    }
  room_id = SEG (2)[0] == '#' ? om_hs_alias_lookup (req->hs, SEG (2)) : g_strdup (SEG (2));
  if (room_id == NULL || !om_hs_room_exists (req->hs, room_id))
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "Room not found");
      return;
    }
  target_m = om_hs_membership (req->hs, room_id, target);
  if (g_strcmp0 (state_value (req->hs, room_id, "m.room.join_rules", "join_rule", &rules), "public") != 0 &&
      g_strcmp0 (target_m, "join") != 0 && g_strcmp0 (target_m, "invite") != 0)
    {
      admin_m = om_hs_membership (req->hs, room_id, req->user_id);
      if (g_strcmp0 (admin_m, "join") != 0)
        {
          g_autofree char *msg = g_strdup_printf ("%s not in room %s.", req->user_id, room_id);
          om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", msg);
          return;
        }
      om_hs_set_membership (req->hs, room_id, req->user_id, target, "invite", NULL);
    }
  if (g_strcmp0 (target_m, "join") != 0)
    om_hs_set_membership (req->hs, room_id, target, target, "join", NULL);
  out = json_object_new ();
  json_object_set_string_member (out, "room_id", room_id);
  om_hs_reply_object (req->msg, 200, out);
}

/* make_room_admin: the room's most powerful local member raises the target
 * to 100 and, unless they are in the room, invites them (they must join). */
static void
a_make_room_admin (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GPtrArray) members = NULL;
  g_autoptr(OmHsEvent) pl_ev = NULL;
  g_autoptr(JsonObject) pl = NULL;
  g_autoptr(OmHsEvent) ev = NULL;
  g_autofree char *target_m = NULL;
  const char *room_id = SEG (2);
  const char *target;
  const char *granter = NULL;
  gint best = -1;

  if (!require_admin (req) || !require_room (req, room_id))
    return;
  body = om_hs_request_body (req);
  if (body == NULL)
    return;
  target = om_hs_json_str (body, "user_id");
  if (target == NULL)
    target = req->user_id;
  members = om_hs_room_members (req->hs, room_id, "join");
  for (guint i = 0; i < members->len; i++)
    {
      gint level = om_hs_user_power (req->hs, room_id, members->pdata[i]);

      if (level > best)
        {
          best = level;
          granter = members->pdata[i];
        }
    }
  if (granter == NULL || best < 100)
    {
      om_hs_reply_error (req->msg, 400, "M_UNKNOWN", "No local admin user in room");
      return;
    }
  pl_ev = om_hs_state_get (req->hs, room_id, "m.room.power_levels", "");
  pl = pl_ev ? om_hs_parse_object (pl_ev->content) : json_object_new ();
  if (!json_object_has_member (pl, "users"))
    json_object_set_object_member (pl, "users", json_object_new ());
  json_object_set_int_member (json_object_get_object_member (pl, "users"), target, 100);
  ev = om_hs_send_state (req->hs, room_id, granter, "m.room.power_levels", "", pl);
  target_m = om_hs_membership (req->hs, room_id, target);
  if (g_strcmp0 (target_m, "join") != 0 && g_strcmp0 (target_m, "invite") != 0)
    om_hs_set_membership (req->hs, room_id, granter, target, "invite", NULL);
  om_hs_reply_empty (req->msg);
}

static void
deletion_free (OmHsDeletion *d)
{
  if (d->purge_source)
    g_source_remove (d->purge_source);
  g_free (d->delete_id);
  g_free (d->room_id);
  g_free (d->status);
  g_ptr_array_unref (d->kicked);
  g_free (d);
}

static JsonObject *
deletion_json (OmHsDeletion *d)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "delete_id", d->delete_id);
  json_object_set_string_member (o, "status", d->status);
  if (g_str_equal (d->status, "complete"))
    {
      JsonObject *sr = json_object_new ();
      JsonArray *kicked = json_array_new ();

      for (guint i = 0; i < d->kicked->len; i++)
        json_array_add_string_element (kicked, d->kicked->pdata[i]);
      json_object_set_array_member (sr, "kicked_users", kicked);
      json_object_set_array_member (sr, "failed_to_kick_users", json_array_new ());
      json_object_set_array_member (sr, "local_aliases", json_array_new ());
      json_object_set_null_member (sr, "new_room_id");
      json_object_set_object_member (o, "shutdown_room", sr);
    }
  else
    json_object_set_null_member (o, "shutdown_room");
  return o;
}

typedef struct
{
  OmHs         *hs;
  OmHsDeletion *deletion;   /* borrowed from deletions */
  gboolean      purge;
} OmHsPurgeJob;

/* Runs after the members had a moment to sync their leave, as the
 * deletion is asynchronous in Synapse too. */
static gboolean
purge_cb (gpointer user_data)
{
  OmHsPurgeJob *job = user_data;

  job->deletion->purge_source = 0;
  if (job->purge)
    om_hs_room_purge (job->hs, job->deletion->room_id);
  g_free (job->deletion->status);
  job->deletion->status = g_strdup ("complete");
  return G_SOURCE_REMOVE;
}

static void
a_room_delete (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) out = NULL;
  g_autoptr(GPtrArray) members = NULL;
  const char *room_id = SEG (2);
  OmHsDeletion *d;
  OmHsPurgeJob *job;

  if (!require_admin (req))
    return;
  body = om_hs_request_body (req);
  if (body == NULL || !require_room (req, room_id))
    return;
  if (deletions == NULL)
    deletions = g_ptr_array_new_with_free_func ((GDestroyNotify) deletion_free);
  d = g_new0 (OmHsDeletion, 1);
  d->delete_id = om_hs_random_string (16, FALSE);
  d->room_id = g_strdup (room_id);
  d->status = g_strdup ("active");
  d->kicked = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (deletions, d);

  members = om_hs_room_members (req->hs, room_id, NULL);
  for (guint i = 0; i < members->len; i++)
    {
      g_autofree char *m = om_hs_membership (req->hs, room_id, members->pdata[i]);

      if (g_strcmp0 (m, "join") != 0 && g_strcmp0 (m, "invite") != 0)
        continue;
      om_hs_set_membership (req->hs, room_id, members->pdata[i], members->pdata[i], "leave",
                            om_hs_json_str (body, "message"));
      g_ptr_array_add (d->kicked, g_strdup (members->pdata[i]));
    }
  job = g_new0 (OmHsPurgeJob, 1);
  job->hs = req->hs;
  job->deletion = d;
  job->purge = !json_object_has_member (body, "purge") || json_object_get_boolean_member (body, "purge");
  d->purge_source = g_timeout_add_full (G_PRIORITY_DEFAULT, 200, purge_cb, job, g_free);

  out = json_object_new ();
  json_object_set_string_member (out, "delete_id", d->delete_id);
  om_hs_reply_object (req->msg, 200, out);
}

static void
a_delete_status (OmHsRequest *req)
{
  gboolean by_room = !g_str_equal (SEG (2), "delete_status");
  const char *key = by_room ? SEG (2) : SEG (3);
  g_autoptr(JsonObject) out = NULL;
  JsonArray *results = json_array_new ();

  if (!require_admin (req))
    {
      json_array_unref (results);
      return;
    }
  for (guint i = 0; deletions && i < deletions->len; i++)
    {
      OmHsDeletion *d = deletions->pdata[i];

      if (g_str_equal (by_room ? d->room_id : d->delete_id, key))
        json_array_add_object_element (results, deletion_json (d));
    }
  if (json_array_get_length (results) == 0)
    {
      json_array_unref (results);
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "delete id not found");
      return;
    }
  if (by_room)
    {
      out = json_object_new ();
      json_object_set_array_member (out, "results", results);
    }
  else
    {
      out = json_object_ref (json_array_get_object_element (results, 0));
      json_array_unref (results);
    }
  om_hs_reply_object (req->msg, 200, out);
}

static const OmHsRoute admin_routes[] = {
  { "GET",    "v1/server_version", a_server_version, FALSE },
  { "GET",    "v1/users/*/admin", a_user_admin, TRUE },
  { "GET",    "v1/users/*/joined_rooms", a_user_joined_rooms, TRUE },
  { "GET",    "v1/users/*/override_ratelimit", a_override_ratelimit, TRUE },
  { "POST",   "v1/users/*/override_ratelimit", a_override_ratelimit, TRUE },
  { "DELETE", "v1/users/*/override_ratelimit", a_override_ratelimit, TRUE },
  { "GET",    "v2/users", a_users_list, TRUE },
  { "GET",    "v2/users/*", a_user_get, TRUE },
  { "PUT",    "v2/users/*", a_user_put, TRUE },
  { "POST",   "v1/deactivate/*", a_deactivate, TRUE },
  { "GET",    "v1/rooms", a_rooms_list, TRUE },
  { "GET",    "v1/rooms/*", a_room_get, TRUE },
  { "GET",    "v1/rooms/*/members", a_room_members, TRUE },
  { "GET",    "v1/rooms/*/state", a_room_state, TRUE },
  { "GET",    "v1/rooms/*/messages", a_room_messages, TRUE },
  { "POST",   "v1/rooms/*/make_room_admin", a_make_room_admin, TRUE },
  { "POST",   "v1/join/*", a_join, TRUE },
  { "DELETE", "v2/rooms/*", a_room_delete, TRUE },
  { "GET",    "v2/rooms/delete_status/*", a_delete_status, TRUE },
  { "GET",    "v2/rooms/*/delete_status", a_delete_status, TRUE },
};

gboolean
om_hs_route_admin (OmHsRequest *req,
                   const char  *rest,
                   gboolean    *out_method_ok)
{
  return om_hs_route_table (req, rest, admin_routes, G_N_ELEMENTS (admin_routes), out_method_ok);
}

void
om_hs_admin_shutdown (void)
{
  g_clear_pointer (&deletions, g_ptr_array_unref);
  g_clear_pointer (&overrides, g_hash_table_unref);
}
