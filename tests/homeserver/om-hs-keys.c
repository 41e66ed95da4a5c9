/* om-hs-keys.c — E2EE key distribution (keys/upload, query, claim, changes)
 * and to-device messages, in the shapes of tests/data/transcripts/e2ee-keys.json
 *
 * The server stores keys as the client uploaded them and never checks
 * signatures, like a homeserver: that is the clients' business.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-keys"

#include "om-hs.h"

#include <string.h>

static char *
node_to_string (JsonNode *node)
{
  return om_hs_json_to_string (node);
}

/* Python's repr() of a JSON value, as Synapse puts it in an error text. */
static void
append_python_repr (GString  *out,
                    JsonNode *node)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *o = json_node_get_object (node);
      GList *members = json_object_get_members (o);

      g_string_append_c (out, '{');
      for (GList *l = members; l; l = l->next)
        {
          g_string_append_printf (out, "%s'%s': ", l == members ? "" : ", ", (char *) l->data);
          append_python_repr (out, json_object_get_member (o, l->data));
        }
      g_string_append_c (out, '}');
      g_list_free (members);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *a = json_node_get_array (node);

      g_string_append_c (out, '[');
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          if (i)
            g_string_append (out, ", ");
          append_python_repr (out, json_array_get_element (a, i));
        }
      g_string_append_c (out, ']');
    }
  else if (JSON_NODE_HOLDS_NULL (node))
    g_string_append (out, "None");
  else if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    g_string_append (out, json_node_get_boolean (node) ? "True" : "False");
  else if (json_node_get_value_type (node) == G_TYPE_STRING)
    g_string_append_printf (out, "'%s'", json_node_get_string (node));
  else
    {
      g_autofree char *text = json_to_string (node, FALSE);
      g_string_append (out, text);
    }
}

static char *
key_algorithm (const char *key_id)
{
  return g_strndup (key_id, strcspn (key_id, ":"));
}

static JsonObject *
otk_counts (OmHs       *hs,
            const char *user_id,
            const char *device_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT algorithm, COUNT (*) FROM one_time_keys"
                                     " WHERE user_id = ? AND device_id = ? GROUP BY algorithm");
  JsonObject *counts = json_object_new ();

  /* Synapse always reports signed_curve25519. */
  json_object_set_int_member (counts, "signed_curve25519", 0);
  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  while (sqlite3_step (st) == SQLITE_ROW)
    json_object_set_int_member (counts, (const char *) sqlite3_column_text (st, 0),
                                sqlite3_column_int64 (st, 1));
  sqlite3_reset (st);
  return counts;
}

void
om_hs_handle_keys_upload (OmHsRequest *req)
{
  OmHs *hs = req->hs;
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  g_autoptr(JsonObject) out = NULL;
  JsonObject *otks = NULL, *fallback = NULL;
  GList *ids;

  if (body == NULL)
    return;
  if (json_object_has_member (body, "device_keys"))
    {
      g_autofree char *text = node_to_string (json_object_get_member (body, "device_keys"));
      sqlite3_stmt *st = om_hs_stmt (hs, "SELECT json FROM device_keys WHERE user_id = ? AND device_id = ?");
      g_autofree char *old = NULL;

      om_hs_bind_text (st, 1, req->user_id);
      om_hs_bind_text (st, 2, req->device_id);
      if (sqlite3_step (st) == SQLITE_ROW)
        old = om_hs_col_dup (st, 0);
      sqlite3_reset (st);
      if (g_strcmp0 (old, text) != 0)
        {
          st = om_hs_stmt (hs, "INSERT OR REPLACE INTO device_keys (user_id, device_id, json) VALUES (?, ?, ?)");
          om_hs_bind_text (st, 1, req->user_id);
          om_hs_bind_text (st, 2, req->device_id);
          om_hs_bind_text (st, 3, text);
          om_hs_step_done (hs, st);
          om_hs_device_list_bump (hs, req->user_id);
        }
    }

  if (json_object_has_member (body, "one_time_keys"))
    otks = json_object_get_object_member (body, "one_time_keys");
  ids = otks ? json_object_get_members (otks) : NULL;
  for (GList *l = ids; l; l = l->next)
    {
      JsonNode *key = json_object_get_member (otks, l->data);
      g_autofree char *text = node_to_string (key);
      g_autofree char *algorithm = key_algorithm (l->data);
      g_autofree char *old = NULL;
      sqlite3_stmt *st = om_hs_stmt (hs, "SELECT json FROM one_time_keys WHERE user_id = ? AND device_id = ?"
                                         " AND key_id = ?");

      om_hs_bind_text (st, 1, req->user_id);
      om_hs_bind_text (st, 2, req->device_id);
      om_hs_bind_text (st, 3, l->data);
      if (sqlite3_step (st) == SQLITE_ROW)
        old = om_hs_col_dup (st, 0);
      sqlite3_reset (st);
      if (old && !g_str_equal (old, text))
        {
          g_autoptr(GString) msg = g_string_new (NULL);

          g_string_append_printf (msg, "One time key %s already exists. Old key: %s; new key: ",
                                  (char *) l->data, old);
          append_python_repr (msg, key);
          om_hs_reply_error (req->msg, 400, "M_UNKNOWN", msg->str);
          g_list_free (ids);
          return;
        }
      st = om_hs_stmt (hs, "INSERT OR IGNORE INTO one_time_keys (user_id, device_id, key_id, algorithm, json)"
                           " VALUES (?, ?, ?, ?, ?)");
      om_hs_bind_text (st, 1, req->user_id);
      om_hs_bind_text (st, 2, req->device_id);
      om_hs_bind_text (st, 3, l->data);
      om_hs_bind_text (st, 4, algorithm);
      om_hs_bind_text (st, 5, text);
      om_hs_step_done (hs, st);
    }
  g_list_free (ids);

  if (json_object_has_member (body, "fallback_keys"))
    fallback = json_object_get_object_member (body, "fallback_keys");
  else if (json_object_has_member (body, "org.matrix.msc2732.fallback_keys"))
    fallback = json_object_get_object_member (body, "org.matrix.msc2732.fallback_keys");
  ids = fallback ? json_object_get_members (fallback) : NULL;
  for (GList *l = ids; l; l = l->next)
    {
      g_autofree char *text = node_to_string (json_object_get_member (fallback, l->data));
      g_autofree char *algorithm = key_algorithm (l->data);
      sqlite3_stmt *st = om_hs_stmt (hs, "INSERT OR REPLACE INTO fallback_keys"
                                         " (user_id, device_id, algorithm, key_id, json, used)"
                                         " VALUES (?, ?, ?, ?, ?, 0)");

      om_hs_bind_text (st, 1, req->user_id);
      om_hs_bind_text (st, 2, req->device_id);
      om_hs_bind_text (st, 3, algorithm);
      om_hs_bind_text (st, 4, l->data);
      om_hs_bind_text (st, 5, text);
      om_hs_step_done (hs, st);
    }
  g_list_free (ids);

  out = json_object_new ();
  json_object_set_object_member (out, "one_time_key_counts", otk_counts (hs, req->user_id, req->device_id));
  om_hs_reply_object (req->msg, 200, out);
}

static void
add_device_keys (OmHs       *hs,
                 JsonObject *by_device,
                 const char *user_id,
                 const char *only_device)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT k.device_id, k.json, d.display_name FROM device_keys k"
                                     " LEFT JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id"
                                     " WHERE k.user_id = ?1 AND (?2 IS NULL OR k.device_id = ?2)"
                                     " ORDER BY k.device_id");

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, only_device);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      JsonObject *keys = om_hs_parse_object ((const char *) sqlite3_column_text (st, 1));
      const char *name = (const char *) sqlite3_column_text (st, 2);
      JsonObject *unsig;

      if (keys == NULL)
        continue;
      unsig = json_object_new ();
      if (name)
        json_object_set_string_member (unsig, "device_display_name", name);
      json_object_set_object_member (keys, "unsigned", unsig);
      json_object_set_object_member (by_device, (const char *) sqlite3_column_text (st, 0), keys);
    }
  sqlite3_reset (st);
}

void
om_hs_handle_keys_query (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  g_autoptr(JsonObject) out = NULL;
  JsonObject *wanted = NULL, *result;
  GList *users;

  if (body == NULL)
    return;
  if (json_object_has_member (body, "device_keys"))
    wanted = json_object_get_object_member (body, "device_keys");
  result = json_object_new ();
  users = wanted ? json_object_get_members (wanted) : NULL;
  for (GList *l = users; l; l = l->next)
    {
      JsonArray *devices = json_object_get_array_member (wanted, l->data);
      JsonObject *by_device = json_object_new ();

      if (devices == NULL || json_array_get_length (devices) == 0)
        add_device_keys (req->hs, by_device, l->data, NULL);
      else
        for (guint i = 0; i < json_array_get_length (devices); i++)
          add_device_keys (req->hs, by_device, l->data, json_array_get_string_element (devices, i));
      json_object_set_object_member (result, l->data, by_device);
    }
  g_list_free (users);

  out = json_object_new ();
  json_object_set_object_member (out, "device_keys", result);
  json_object_set_object_member (out, "failures", json_object_new ());
  json_object_set_object_member (out, "master_keys", json_object_new ());
  json_object_set_object_member (out, "self_signing_keys", json_object_new ());
  json_object_set_object_member (out, "user_signing_keys", json_object_new ());
  om_hs_reply_object (req->msg, 200, out);
}

/* One-time key first (oldest key ID), else the fallback key (which stays,
 * marked used).  Returns the key ID and its JSON, or FALSE. */
static gboolean
claim_key (OmHs        *hs,
           const char  *user_id,
           const char  *device_id,
           const char  *algorithm,
           char       **out_key_id,
           char       **out_json)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT key_id, json FROM one_time_keys WHERE user_id = ?"
                                     " AND device_id = ? AND algorithm = ? ORDER BY key_id LIMIT 1");
  gboolean found = FALSE;

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  om_hs_bind_text (st, 3, algorithm);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      *out_key_id = om_hs_col_dup (st, 0);
      *out_json = om_hs_col_dup (st, 1);
      found = TRUE;
    }
  sqlite3_reset (st);
  if (found)
    {
      st = om_hs_stmt (hs, "DELETE FROM one_time_keys WHERE user_id = ? AND device_id = ? AND key_id = ?");
      om_hs_bind_text (st, 1, user_id);
      om_hs_bind_text (st, 2, device_id);
      om_hs_bind_text (st, 3, *out_key_id);
      om_hs_step_done (hs, st);
      return TRUE;
    }

  st = om_hs_stmt (hs, "SELECT key_id, json FROM fallback_keys WHERE user_id = ? AND device_id = ?"
                       " AND algorithm = ?");
  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  om_hs_bind_text (st, 3, algorithm);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      *out_key_id = om_hs_col_dup (st, 0);
      *out_json = om_hs_col_dup (st, 1);
      found = TRUE;
    }
  sqlite3_reset (st);
  if (found)
    {
      st = om_hs_stmt (hs, "UPDATE fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?");
      om_hs_bind_text (st, 1, user_id);
      om_hs_bind_text (st, 2, device_id);
      om_hs_bind_text (st, 3, algorithm);
      om_hs_step_done (hs, st);
    }
  return found;
}

void
om_hs_handle_keys_claim (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  g_autoptr(JsonObject) out = NULL;
  JsonObject *wanted = NULL, *result;
  GList *users;

  if (body == NULL)
    return;
  if (json_object_has_member (body, "one_time_keys"))
    wanted = json_object_get_object_member (body, "one_time_keys");
  result = json_object_new ();
  users = wanted ? json_object_get_members (wanted) : NULL;
  for (GList *u = users; u; u = u->next)
    {
      JsonObject *devices = json_object_get_object_member (wanted, u->data);
      GList *ids = devices ? json_object_get_members (devices) : NULL;
      JsonObject *by_device = json_object_new ();

      for (GList *d = ids; d; d = d->next)
        {
          g_autofree char *key_id = NULL;
          g_autofree char *json = NULL;
          const char *algorithm = json_object_get_string_member (devices, d->data);
          JsonObject *keys;

          if (algorithm == NULL || !claim_key (req->hs, u->data, d->data, algorithm, &key_id, &json))
            continue;
          keys = json_object_new ();
          json_object_set_object_member (keys, key_id, om_hs_parse_object (json));
          json_object_set_object_member (by_device, d->data, keys);
        }
      g_list_free (ids);
      /* Users without any claimed key are left out (Synapse). */
      if (json_object_get_size (by_device) > 0)
        json_object_set_object_member (result, u->data, by_device);
      else
        json_object_unref (by_device);
    }
  g_list_free (users);

  out = json_object_new ();
  json_object_set_object_member (out, "one_time_keys", result);
  json_object_set_object_member (out, "failures", json_object_new ());
  om_hs_reply_object (req->msg, 200, out);
}

static gboolean
parse_stream_token (const char *token,
                    gint64     *out)
{
  char *end = NULL;

  if (token == NULL || (token[0] != 's' && token[0] != 't'))
    return FALSE;
  *out = g_ascii_strtoll (token + 1, &end, 10);
  return end != token + 1 && *end == '\0';
}

void
om_hs_handle_keys_changes (OmHsRequest *req)
{
  g_autoptr(GPtrArray) rooms = om_hs_user_rooms (req->hs, req->user_id);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(JsonObject) out = NULL;
  gint64 from, to;
  JsonArray *changed;

  if (!parse_stream_token (om_hs_query (req, "from"), &from) ||
      !parse_stream_token (om_hs_query (req, "to"), &to))
    {
      om_hs_reply_error (req->msg, 400, "M_UNKNOWN", "Invalid stream token");
      return;
    }
  changed = json_array_new ();
  for (guint i = 0; i < rooms->len; i++)
    {
      OmHsEvent *mev = rooms->pdata[i];
      g_autoptr(GPtrArray) members = om_hs_room_members (req->hs, mev->room_id, "join");

      for (guint j = 0; j < members->len; j++)
        {
          const char *m = members->pdata[j];
          gint64 pos;

          if (g_hash_table_contains (seen, m))
            continue;
          g_hash_table_add (seen, g_strdup (m));
          pos = om_hs_device_list_pos (req->hs, m);
          if (pos > from && pos <= to)
            json_array_add_string_element (changed, m);
        }
    }
  out = json_object_new ();
  json_object_set_array_member (out, "changed", changed);
  json_object_set_array_member (out, "left", json_array_new ());
  om_hs_reply_object (req->msg, 200, out);
}

void
om_hs_handle_send_to_device (OmHsRequest *req)
{
  OmHs *hs = req->hs;
  const char *type = req->segs[1], *txn_id = req->segs[2];
  g_autoptr(JsonObject) body = NULL;
  sqlite3_stmt *st;
  JsonObject *messages = NULL;
  GList *users;
  gint64 pos;

  body = om_hs_request_body (req);
  if (body == NULL)
    return;
  /* The same txnId from the same device is sent once. */
  st = om_hs_stmt (hs, "INSERT OR IGNORE INTO to_device_txns (user_id, device_id, txn_id) VALUES (?, ?, ?)");
  om_hs_bind_text (st, 1, req->user_id);
  om_hs_bind_text (st, 2, req->device_id);
  om_hs_bind_text (st, 3, txn_id);
  om_hs_step_done (hs, st);
  if (sqlite3_changes (hs->db) == 0)
    {
      om_hs_reply_empty (req->msg);
      return;
    }
  if (json_object_has_member (body, "messages"))
    messages = json_object_get_object_member (body, "messages");
  pos = hs->stream + 1;
  users = messages ? json_object_get_members (messages) : NULL;
  for (GList *u = users; u; u = u->next)
    {
      JsonObject *devices = json_object_get_object_member (messages, u->data);
      GList *ids = devices ? json_object_get_members (devices) : NULL;

      for (GList *d = ids; d; d = d->next)
        {
          g_autofree char *content = node_to_string (json_object_get_member (devices, d->data));

          st = om_hs_stmt (hs, "INSERT INTO to_device (stream, user_id, device_id, sender, type, content)"
                               " SELECT ?1, user_id, device_id, ?3, ?4, ?5 FROM devices"
                               " WHERE user_id = ?2 AND (?6 = '*' OR device_id = ?6)");
          sqlite3_bind_int64 (st, 1, pos);
          om_hs_bind_text (st, 2, u->data);
          om_hs_bind_text (st, 3, req->user_id);
          om_hs_bind_text (st, 4, type);
          om_hs_bind_text (st, 5, content);
          om_hs_bind_text (st, 6, d->data);
          om_hs_step_done (hs, st);
        }
      g_list_free (ids);
    }
  g_list_free (users);
  om_hs_stream_advance (hs);
  om_hs_reply_empty (req->msg);
}

gboolean
om_hs_sync_add_e2ee (OmHs       *hs,
                     const char *user_id,
                     const char *device_id,
                     gint64      since,
                     JsonObject *out)
{
  JsonArray *events = json_array_new ();
  JsonArray *fallback = json_array_new ();
  sqlite3_stmt *st;
  gboolean any;

  /* A sync with a later since acknowledges what the previous one brought
   * (idempotent, so trial builds for parked requests may do it too). */
  if (since >= 0)
    {
      st = om_hs_stmt (hs, "DELETE FROM to_device WHERE user_id = ? AND device_id = ? AND stream <= ?");
      om_hs_bind_text (st, 1, user_id);
      om_hs_bind_text (st, 2, device_id);
      sqlite3_bind_int64 (st, 3, since);
      om_hs_step_done (hs, st);
    }
  st = om_hs_stmt (hs, "SELECT sender, type, content FROM to_device WHERE user_id = ? AND device_id = ?"
                       " AND stream > ? ORDER BY rowid LIMIT 100");
  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  sqlite3_bind_int64 (st, 3, since < 0 ? 0 : since);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      JsonObject *ev = json_object_new ();
      JsonObject *content = om_hs_parse_object ((const char *) sqlite3_column_text (st, 2));

      json_object_set_object_member (ev, "content", content ? content : json_object_new ());
      json_object_set_string_member (ev, "type", (const char *) sqlite3_column_text (st, 1));
      json_object_set_string_member (ev, "sender", (const char *) sqlite3_column_text (st, 0));
      json_array_add_object_element (events, ev);
    }
  sqlite3_reset (st);
  any = json_array_get_length (events) > 0;
  if (any)
    {
      JsonObject *td = json_object_new ();
      json_object_set_array_member (td, "events", events);
      json_object_set_object_member (out, "to_device", td);
    }
  else
    json_array_unref (events);

  json_object_set_object_member (out, "device_one_time_keys_count", otk_counts (hs, user_id, device_id));
  st = om_hs_stmt (hs, "SELECT algorithm FROM fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0"
                       " ORDER BY algorithm");
  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  while (sqlite3_step (st) == SQLITE_ROW)
    json_array_add_string_element (fallback, (const char *) sqlite3_column_text (st, 0));
  sqlite3_reset (st);
  json_object_set_array_member (out, "org.matrix.msc2732.device_unused_fallback_key_types",
                                json_array_ref (fallback));
  json_object_set_array_member (out, "device_unused_fallback_key_types", fallback);
  return any;
}
