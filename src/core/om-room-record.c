/* om-room-record.c — a room's own record in the store: what is not state,
 * timeline or receipts (summary, counts, read marker, account data) plus
 * the derived values the room list shows, so that a restored room shows
 * them without reading its state; and restoring a room from it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-room"

#include <string.h>

#include "om-json.h"
#include "om-room-internal.h"
#include "om-room-private.h"
#include "om-timeline.h"

/* Persistence.  The record holds what is not state, timeline or receipts:
 * { "summary": {m.heroes, m.joined_member_count, m.invited_member_count},
 *   "unread_notifications": {notification_count, highlight_count},
 *   "prev_batch", "fully_read", "invite_direct", "is_direct",
 *   "account_data": { type: content } }  (typing is not kept). */

static void
add_string_member (JsonBuilder *builder,
                   const char  *name,
                   const char  *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

static char *
om_room_dup_record_json (OmRoom *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  const char *prev_batch = om_timeline_get_prev_batch (self->timeline);
  GHashTableIter iter;
  gpointer key, value;

  json_builder_begin_object (builder);

  json_builder_set_member_name (builder, "summary");
  json_builder_begin_object (builder);
  if (self->heroes != NULL)
    {
      json_builder_set_member_name (builder, "m.heroes");
      json_builder_begin_array (builder);
      for (guint i = 0; self->heroes[i] != NULL; i++)
        json_builder_add_string_value (builder, self->heroes[i]);
      json_builder_end_array (builder);
    }
  if (self->summary_joined >= 0)
    {
      json_builder_set_member_name (builder, "m.joined_member_count");
      json_builder_add_int_value (builder, self->summary_joined);
    }
  if (self->summary_invited >= 0)
    {
      json_builder_set_member_name (builder, "m.invited_member_count");
      json_builder_add_int_value (builder, self->summary_invited);
    }
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "unread_notifications");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "notification_count");
  json_builder_add_int_value (builder, self->unread_count);
  json_builder_set_member_name (builder, "highlight_count");
  json_builder_add_int_value (builder, self->highlight_count);
  json_builder_end_object (builder);

  if (prev_batch != NULL)
    {
      json_builder_set_member_name (builder, "prev_batch");
      json_builder_add_string_value (builder, prev_batch);
    }
  if (self->fully_read != NULL)
    {
      json_builder_set_member_name (builder, "fully_read");
      json_builder_add_string_value (builder, self->fully_read);
    }
  json_builder_set_member_name (builder, "invite_direct");
  json_builder_add_boolean_value (builder, self->invite_direct);
  if (self->direct_override >= 0)
    {
      json_builder_set_member_name (builder, "is_direct");
      json_builder_add_boolean_value (builder, self->direct_override != 0);
    }

  json_builder_set_member_name (builder, "account_data");
  json_builder_begin_object (builder);
  g_hash_table_iter_init (&iter, self->account_data);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      JsonNode *node = json_node_init_object (json_node_alloc (), value);

      json_builder_set_member_name (builder, key);
      json_builder_add_value (builder, node);
    }
  json_builder_end_object (builder);

  /* What the room list shows, so a restart can show it without reading
   * and parsing every room's state (loaded on first use instead). */
  json_builder_set_member_name (builder, "derived");
  json_builder_begin_object (builder);
  add_string_member (builder, "display_name", self->display_name);
  add_string_member (builder, "topic", self->topic);
  add_string_member (builder, "canonical_alias", self->canonical_alias);
  add_string_member (builder, "avatar_url", self->avatar_url);
  add_string_member (builder, "inviter", self->inviter);
  json_builder_set_member_name (builder, "is_space");
  json_builder_add_boolean_value (builder, self->is_space);
  json_builder_set_member_name (builder, "is_encrypted");
  json_builder_add_boolean_value (builder, self->is_encrypted);
  json_builder_set_member_name (builder, "joined_count");
  json_builder_add_int_value (builder, self->joined_count);
  json_builder_set_member_name (builder, "invited_count");
  json_builder_add_int_value (builder, self->invited_count);
  json_builder_set_member_name (builder, "last_activity");
  json_builder_add_int_value (builder, self->last_activity);
  json_builder_end_object (builder);

  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/* Takes the derived values kept by om_room_dup_record_json; FALSE (nothing
 * taken) for a record from before they were kept. */
static gboolean
load_derived (OmRoom     *self,
              JsonObject *derived)
{
  gint64 n;
  gboolean b;

  if (derived == NULL || om_json_get_string (derived, "display_name") == NULL)
    return FALSE;
  om_room_set_string (self, &self->display_name, om_json_get_string (derived, "display_name"), PROP_DISPLAY_NAME);
  om_room_set_string (self, &self->topic, om_json_get_string (derived, "topic"), PROP_TOPIC);
  om_room_set_string (self, &self->canonical_alias, om_json_get_string (derived, "canonical_alias"),
              PROP_CANONICAL_ALIAS);
  om_room_set_string (self, &self->avatar_url, om_json_get_string (derived, "avatar_url"), PROP_AVATAR_URL);
  om_room_set_string (self, &self->inviter, om_json_get_string (derived, "inviter"), PROP_INVITER);
  if (om_json_get_boolean (derived, "is_space", &b))
    SET_SCALAR (self, is_space, b, PROP_IS_SPACE);
  if (om_json_get_boolean (derived, "is_encrypted", &b))
    SET_SCALAR (self, is_encrypted, b, PROP_IS_ENCRYPTED);
  if (om_json_get_int (derived, "joined_count", &n) && n >= 0)
    SET_SCALAR (self, joined_count, (guint) n, PROP_JOINED_MEMBER_COUNT);
  if (om_json_get_int (derived, "invited_count", &n) && n >= 0)
    SET_SCALAR (self, invited_count, (guint) n, PROP_INVITED_MEMBER_COUNT);
  if (om_json_get_int (derived, "last_activity", &n))
    self->last_activity = n;
  return TRUE;
}


gboolean
om_room_save_record (OmRoom  *self,
                     GError **error)
{
  g_autofree char *json = NULL;
  const char *membership;

  g_return_val_if_fail (OM_IS_ROOM (self), FALSE);

  if (self->store == NULL)
    return TRUE;

  /* The store knows join, invite and leave; a ban is a way of leaving. */
  membership = om_membership_to_string (self->membership);
  if (self->membership == OM_MEMBERSHIP_BAN || membership == NULL)
    membership = "leave";

  json = om_room_dup_record_json (self);
  return om_store_save_room (self->store, self->room_id, membership, json, error);
}

/* TRUE when the record carried the derived values (see load_derived). */
static gboolean
load_record (OmRoom     *self,
             const char *data_json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *record, *account_data;
  JsonNode *node;
  const char *s;

  if (data_json == NULL)
    return FALSE;
  if (!json_parser_load_from_data (parser, data_json, -1, &error) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_warning ("Room %s: stored record unreadable, starting afresh: %s", self->room_id,
                 error != NULL ? error->message : "not an object");
      return FALSE;
    }
  record = json_node_get_object (json_parser_get_root (parser));

  om_room_apply_summary (self, om_json_get_object (record, "summary"));
  om_room_apply_unread (self, om_json_get_object (record, "unread_notifications"));
  om_timeline_set_prev_batch (self->timeline, om_json_get_string (record, "prev_batch"));
  if ((s = om_json_get_string (record, "fully_read")) != NULL)
    om_room_set_string (self, &self->fully_read, s, PROP_FULLY_READ);

  node = json_object_get_member (record, "invite_direct");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    self->invite_direct = json_node_get_boolean (node);
  node = json_object_get_member (record, "is_direct");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    self->direct_override = json_node_get_boolean (node) ? 1 : 0;

  account_data = om_json_get_object (record, "account_data");
  if (account_data != NULL)
    {
      JsonObjectIter iter;
      const char *type;
      JsonNode *content;

      json_object_iter_init (&iter, account_data);
      while (json_object_iter_next (&iter, &type, &content))
        if (JSON_NODE_HOLDS_OBJECT (content))
          g_hash_table_insert (self->account_data, g_strdup (type),
                               json_object_ref (json_node_get_object (content)));
    }

  return load_derived (self, om_json_get_object (record, "derived"));
}

/* Parses stored event JSON strings; unreadable ones are skipped. */
GPtrArray *
om_room_parse_stored_events (OmRoom    *self,
                     GPtrArray *rows,
                     gboolean   allow_partial)
{
  GPtrArray *events = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(JsonParser) all = json_parser_new ();
  g_autoptr(GString) array = g_string_new ("[");

  /* One parse for the whole room: an array of 8 events parses in 60 % of
   * the time of 8 separate parses with json-glib (a mutable parser: sealing
   * immutable nodes costs more than it saves here).
   * Stored rows are our own JSON objects; if one is damaged, the rows are
   * parsed one by one below and only the damaged one is skipped. */
  for (guint i = 0; i < rows->len; i++)
    {
      if (i > 0)
        g_string_append_c (array, ',');
      g_string_append (array, g_ptr_array_index (rows, i));
    }
  g_string_append_c (array, ']');
  if (json_parser_load_from_data (all, array->str, array->len, NULL) &&
      JSON_NODE_HOLDS_ARRAY (json_parser_get_root (all)) &&
      json_array_get_length (json_node_get_array (json_parser_get_root (all))) == rows->len)
    {
      JsonArray *parsed = json_node_get_array (json_parser_get_root (all));
      gboolean ok = TRUE;

      for (guint i = 0; i < rows->len && ok; i++)
        {
          JsonNode *node = json_array_get_element (parsed, i);
          OmEvent *event = JSON_NODE_HOLDS_OBJECT (node)
                           ? om_event_new_from_json (json_node_get_object (node), allow_partial, NULL)
                           : NULL;

          if (event == NULL)
            ok = FALSE;
          else
            g_ptr_array_add (events, event);
        }
      if (ok)
        return events;
      g_ptr_array_set_size (events, 0);
    }

  for (guint i = 0; i < rows->len; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      OmEvent *event = NULL;

      if (json_parser_load_from_data (parser, g_ptr_array_index (rows, i), -1, &error) &&
          JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        event = om_event_new_from_json (json_node_get_object (json_parser_get_root (parser)),
                                        allow_partial, &error);
      if (event == NULL)
        {
          g_warning ("Room %s: stored event skipped: %s", self->room_id,
                     error != NULL ? error->message : "not an object");
          continue;
        }
      g_ptr_array_add (events, event);
    }

  return events;
}

OmRoom *
om_room_new_from_store (OmSession    *session,
                        OmStoreRoom  *record,
                        const char   *own_user_id,
                        OmStore      *store,
                        OmHttp       *http,
                        GError      **error)
{
  g_autoptr(OmRoom) self = NULL;
  OmMembership membership;

  g_return_val_if_fail (record != NULL && record->room_id != NULL, NULL);
  g_return_val_if_fail (OM_IS_STORE (store), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = om_room_new (session, record->room_id, own_user_id, store, http);

  g_object_freeze_notify (G_OBJECT (self));

  membership = om_membership_from_string (record->membership);
  om_room_set_membership (self, membership != OM_MEMBERSHIP_NONE ? membership : OM_MEMBERSHIP_LEAVE);
  /* With a summary of what the list shows, the state waits for first use
   * (a start with 1,000 rooms then parses no state event at all). */
  self->state_pending = load_record (self, record->data_json);
  if (!self->state_pending)
    {
      self->state_pending = TRUE;
      if (!om_room_load_state (self, error))
        return NULL;
    }

  self->receipts_pending = TRUE;
  self->timeline_pending = TRUE;
  /* Without a summary, the order comes from the newest stored event. */
  self->stored_latest_ts = self->state_pending && self->last_activity > 0
                           ? -1 : om_store_timeline_latest_ts (store, self->room_id);

  om_room_refresh (self);
  g_object_thaw_notify (G_OBJECT (self));

  return g_steal_pointer (&self);
}
