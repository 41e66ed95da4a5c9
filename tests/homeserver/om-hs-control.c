/* om-hs-control.c — test-only control endpoints under /_test/
 *
 * No authentication: the server only listens on 127.0.0.1.  These
 * endpoints are never subject to fault rules.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-control"

#include "om-hs.h"

#include <string.h>

void
om_hs_fault_free (OmHsFault *fault)
{
  if (fault == NULL)
    return;
  g_free (fault->path);
  g_free (fault->method);
  g_free (fault->errcode);
  g_free (fault->raw_body);
  g_free (fault->content_type);
  g_free (fault->error);
  g_free (fault);
}

void
om_hs_faults_clear (OmHs *hs)
{
  g_list_free_full (g_steal_pointer (&hs->faults), (GDestroyNotify) om_hs_fault_free);
}

OmHsFault *
om_hs_fault_match (OmHs       *hs,
                   const char *method,
                   const char *path)
{
  for (GList *l = hs->faults; l; l = l->next)
    {
      OmHsFault *f = l->data;
      OmHsFault *copy;

      if (strstr (path, f->path) == NULL)
        continue;
      if (f->method && g_ascii_strcasecmp (f->method, method) != 0)
        continue;
      if (f->probability < 1.0 && g_rand_double (hs->rand) >= f->probability)
        continue;

      copy = g_memdup2 (f, sizeof *f);
      copy->path = g_strdup (f->path);
      copy->method = g_strdup (f->method);
      copy->errcode = g_strdup (f->errcode);
      copy->raw_body = g_strdup (f->raw_body);
      copy->content_type = g_strdup (f->content_type);
      copy->error = g_strdup (f->error);
      if (f->count > 0 && --f->count == 0)
        {
          hs->faults = g_list_delete_link (hs->faults, l);
          om_hs_fault_free (f);
        }
      return copy;
    }
  return NULL;
}

static JsonObject *
control_body (SoupServerMessage *msg)
{
  g_autoptr(GBytes) bytes = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  JsonObject *obj = text[0] ? om_hs_parse_object (text) : json_object_new ();

  if (obj == NULL)
    om_hs_reply_error (msg, 400, "M_NOT_JSON", "Content not JSON.");
  return obj;
}

static const char *
str_or (JsonObject *obj,
        const char *key,
        const char *fallback)
{
  JsonNode *n;

  if (!json_object_has_member (obj, key))
    return fallback;
  n = json_object_get_member (obj, key);
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return fallback;
  return json_node_get_string (n);
}

static gint64
int_or (JsonObject *obj,
        const char *key,
        gint64      fallback)
{
  JsonNode *n;

  if (!json_object_has_member (obj, key))
    return fallback;
  n = json_object_get_member (obj, key);
  if (!JSON_NODE_HOLDS_VALUE (n))
    return fallback;
  return (gint64) json_node_get_double (n);
}

static gdouble
double_or (JsonObject *obj,
           const char *key,
           gdouble     fallback)
{
  JsonNode *n;

  if (!json_object_has_member (obj, key))
    return fallback;
  n = json_object_get_member (obj, key);
  if (!JSON_NODE_HOLDS_VALUE (n))
    return fallback;
  return json_node_get_double (n);
}

static void
c_users (OmHs              *hs,
         SoupServerMessage *msg)
{
  g_autoptr(JsonObject) body = control_body (msg);
  g_autoptr(JsonObject) out = NULL;
  g_autofree char *user_id = NULL;
  const char *username;

  if (body == NULL)
    return;
  username = str_or (body, "username", NULL);
  if (username == NULL || username[0] == '\0')
    {
      om_hs_reply_error (msg, 400, "M_MISSING_PARAM", "Missing username");
      return;
    }
  if (!om_hs_user_create (hs, username, str_or (body, "password", NULL),
                          json_object_has_member (body, "admin") && json_object_get_boolean_member (body, "admin"),
                          str_or (body, "displayname", NULL)))
    {
      om_hs_reply_error (msg, 409, "M_USER_IN_USE", "User ID already taken.");
      return;
    }
  user_id = om_hs_user_id (hs, username);
  out = json_object_new ();
  json_object_set_string_member (out, "user_id", user_id);
  om_hs_reply_object (msg, 200, out);
}

static void
c_faults (OmHs              *hs,
          SoupServerMessage *msg)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) out = NULL;
  OmHsFault *f;
  const char *action;

  if (g_str_equal (soup_server_message_get_method (msg), "DELETE"))
    {
      om_hs_faults_clear (hs);
      om_hs_reply_empty (msg);
      return;
    }
  body = control_body (msg);
  if (body == NULL)
    return;
  action = str_or (body, "action", "");
  f = g_new0 (OmHsFault, 1);
  if (g_str_equal (action, "error"))
    f->action = OM_HS_FAULT_ERROR;
  else if (g_str_equal (action, "ratelimit"))
    f->action = OM_HS_FAULT_RATELIMIT;
  else if (g_str_equal (action, "drop"))
    f->action = OM_HS_FAULT_DROP;
  else if (g_str_equal (action, "drop_after"))
    f->action = OM_HS_FAULT_DROP_AFTER;
  else if (g_str_equal (action, "delay"))
    f->action = OM_HS_FAULT_DELAY;
  else
    {
      g_free (f);
      om_hs_reply_error (msg, 400, "M_INVALID_PARAM", "Unknown action");
      return;
    }
  f->id = hs->next_fault_id++;
  f->path = g_strdup (str_or (body, "path", ""));
  f->method = g_strdup (str_or (body, "method", NULL));
  f->status = (guint) int_or (body, "status", 500);
  f->errcode = g_strdup (str_or (body, "errcode", NULL));
  f->raw_body = g_strdup (str_or (body, "raw_body", NULL));
  f->error = g_strdup (str_or (body, "error", "Injected fault"));
  f->content_type = g_strdup (str_or (body, "content_type", NULL));
  if (f->raw_body && f->content_type == NULL)
    {
      g_autoptr(JsonNode) parsed = json_from_string (f->raw_body, NULL);

      f->content_type = g_strdup (parsed ? "application/json" : "text/html");
    }
  f->retry_after_ms = int_or (body, "retry_after_ms", 200);
  f->delay_ms = (guint) int_or (body, "delay_ms", 300);
  f->count = (gint) int_or (body, "count", 1);
  f->probability = double_or (body, "probability", 1.0);
  if (f->count == 0)
    f->count = 1;
  hs->faults = g_list_append (hs->faults, f);

  out = json_object_new ();
  json_object_set_int_member (out, "id", f->id);
  om_hs_reply_object (msg, 200, out);
}

static void
c_expire_token (OmHs              *hs,
                SoupServerMessage *msg)
{
  g_autoptr(JsonObject) body = control_body (msg);
  g_autoptr(JsonObject) out = NULL;
  guint n;

  if (body == NULL)
    return;
  /* "refresh_tokens": true expires the user's refresh tokens too: the
   * next refresh is a soft logout (Synapse's refresh_token_lifetime). */
  n = om_hs_token_expire (hs, str_or (body, "user_id", NULL), str_or (body, "access_token", NULL),
                          json_object_has_member (body, "refresh_tokens") &&
                          json_object_get_boolean_member (body, "refresh_tokens"));
  out = json_object_new ();
  json_object_set_int_member (out, "expired", n);
  om_hs_reply_object (msg, 200, out);
}

static void
c_ratelimit (OmHs              *hs,
             SoupServerMessage *msg)
{
  g_autoptr(JsonObject) body = control_body (msg);
  const char *user_id;

  if (body == NULL)
    return;
  user_id = str_or (body, "user_id", NULL);
  if (user_id == NULL)
    {
      om_hs_reply_error (msg, 400, "M_MISSING_PARAM", "Missing user_id");
      return;
    }
  om_hs_ratelimit_set (hs, user_id, double_or (body, "burst", 0), double_or (body, "per_second", 0));
  om_hs_reply_empty (msg);
}

static void
c_config (OmHs              *hs,
          SoupServerMessage *msg)
{
  g_autoptr(JsonObject) body = control_body (msg);

  if (body == NULL)
    return;
  hs->token_lifetime_ms = MAX (1, int_or (body, "access_token_lifetime_ms", hs->token_lifetime_ms));
  hs->sync_cache_ms = MAX (0, int_or (body, "sync_cache_ms", hs->sync_cache_ms));
  if (hs->sync_cache_ms == 0)
    g_clear_pointer (&hs->sync_cache, g_hash_table_unref);
  om_hs_reply_empty (msg);
}

/* POST /_test/seed {"user_id", "rooms": N, "messages": M, "name": "Room"}:
 * N private rooms created by user_id as /createRoom would, named
 * "<name> 1" …, with M text messages each; for benchmarks of big accounts.
 * Answers {"room_ids": [...]}. */
static void
c_seed (OmHs              *hs,
        SoupServerMessage *msg)
{
  g_autoptr(JsonObject) body = control_body (msg);
  g_autoptr(JsonObject) out = NULL;
  JsonArray *ids;
  const char *user_id;
  const char *prefix;
  gint64 n_rooms, n_messages;
  gint64 ts = g_get_real_time () / 1000;

  if (body == NULL)
    return;
  user_id = str_or (body, "user_id", NULL);
  prefix = str_or (body, "name", "Room");
  n_rooms = CLAMP (int_or (body, "rooms", 1), 0, 100000);
  n_messages = CLAMP (int_or (body, "messages", 0), 0, 100000);
  if (user_id == NULL || !om_hs_user_exists (hs, user_id))
    {
      om_hs_reply_error (msg, 400, "M_INVALID_PARAM", "user_id must name an existing user");
      return;
    }

  out = json_object_new ();
  ids = json_array_new ();
  for (gint64 i = 0; i < n_rooms; i++)
    {
      g_autoptr(JsonObject) create = json_object_new ();
      g_autofree char *name = g_strdup_printf ("%s %" G_GINT64_FORMAT, prefix, i + 1);
      g_autofree char *error = NULL;
      g_autofree char *room_id = NULL;
      const char *errcode = NULL;
      guint status = 0;

      json_object_set_string_member (create, "name", name);
      json_object_set_string_member (create, "preset", "private_chat");
      room_id = om_hs_create_room (hs, user_id, create, &errcode, &error, &status);
      if (room_id == NULL)
        {
          om_hs_reply_error (msg, 500, "M_UNKNOWN", error != NULL ? error : "could not create a room");
          json_array_unref (ids);
          return;
        }
      for (gint64 m = 0; m < n_messages; m++)
        {
          g_autoptr(JsonObject) content = json_object_new ();
          g_autofree char *text = g_strdup_printf ("Message %" G_GINT64_FORMAT " in %s", m + 1, name);
          g_autoptr(OmHsEvent) ev = NULL;

          json_object_set_string_member (content, "msgtype", "m.text");
          json_object_set_string_member (content, "body", text);
          ev = om_hs_event_create (hs, room_id, user_id, "m.room.message", NULL,
                                   content, NULL, NULL, ts);
        }
      json_array_add_string_element (ids, room_id);
    }
  json_object_set_array_member (out, "room_ids", ids);
  om_hs_notify (hs);
  om_hs_reply_object (msg, 200, out);
}

static void
c_stats (OmHs              *hs,
         SoupServerMessage *msg)
{
  g_autoptr(JsonObject) out = json_object_new ();

  json_object_set_int_member (out, "requests", (gint64) hs->n_requests);
  json_object_set_int_member (out, "connections", (gint64) hs->n_connections);
  json_object_set_int_member (out, "sync_requests", (gint64) hs->n_sync_requests);
  json_object_set_int_member (out, "stream", hs->stream);
  json_object_set_int_member (out, "waiting_syncs", g_list_length (hs->waiters));
  json_object_set_int_member (out, "introspections", (gint64) hs->n_introspections);
  om_hs_reply_object (msg, 200, out);
}

static void
c_events (OmHs              *hs,
          SoupServerMessage *msg)
{
  GUri *uri = soup_server_message_get_uri (msg);
  const char *query = g_uri_get_query (uri);
  g_autoptr(GHashTable) params = query ? g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL) : NULL;
  const char *room_id = params ? g_hash_table_lookup (params, "room_id") : NULL;
  g_autoptr(GPtrArray) evs = NULL;
  g_autoptr(JsonObject) out = NULL;
  JsonArray *arr;

  if (room_id == NULL)
    {
      om_hs_reply_error (msg, 400, "M_MISSING_PARAM", "Missing room_id");
      return;
    }
  evs = om_hs_all_room_events (hs, room_id);
  arr = json_array_new ();
  for (guint i = 0; i < evs->len; i++)
    json_array_add_element (arr, om_hs_event_to_json (hs, evs->pdata[i], OM_HS_FORMAT_CLIENT, NULL, NULL));
  out = json_object_new ();
  json_object_set_array_member (out, "events", arr);
  om_hs_reply_object (msg, 200, out);
}

void
om_hs_timing_received (OmHs       *hs,
                       const char *event_id,
                       gint64      received_us)
{
  g_hash_table_replace (hs->received_us, g_strdup (event_id), g_memdup2 (&received_us, sizeof received_us));
}

typedef struct {
  OmHs      *hs;     /* borrowed: lives as long as the server */
  GPtrArray *keys;   /* "user_id event_id", owned */
} Delivery;

static void
delivery_free (gpointer data,
               GClosure *closure)
{
  Delivery *d = data;

  g_ptr_array_unref (d->keys);
  g_free (d);
}

static void
wrote_body_cb (SoupServerMessage *msg,
               Delivery          *d)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < d->keys->len; i++)
    if (!g_hash_table_contains (d->hs->delivered_us, d->keys->pdata[i]))
      g_hash_table_insert (d->hs->delivered_us, g_strdup (d->keys->pdata[i]),
                           g_memdup2 (&now, sizeof now));
}

/* Records, for each timeline event in a /sync answer, when the answer
 * carrying it to @user_id was completely written to the socket. */
void
om_hs_timing_delivered (OmHs              *hs,
                        SoupServerMessage *msg,
                        const char        *user_id,
                        JsonObject        *sync_response)
{
  JsonObject *rooms, *join;
  JsonObjectIter iter;
  const char *room_id;
  JsonNode *room;
  Delivery *d;

  if (user_id == NULL || !json_object_has_member (sync_response, "rooms"))
    return;
  rooms = json_object_get_object_member (sync_response, "rooms");
  if (rooms == NULL || !json_object_has_member (rooms, "join"))
    return;
  join = json_object_get_object_member (rooms, "join");

  d = g_new0 (Delivery, 1);
  d->hs = hs;
  d->keys = g_ptr_array_new_with_free_func (g_free);

  json_object_iter_init (&iter, join);
  while (json_object_iter_next (&iter, &room_id, &room))
    {
      JsonObject *timeline = json_object_get_object_member (json_node_get_object (room), "timeline");
      JsonArray *events = timeline ? json_object_get_array_member (timeline, "events") : NULL;

      for (guint i = 0; events != NULL && i < json_array_get_length (events); i++)
        {
          const char *event_id = json_object_get_string_member_with_default (
            json_array_get_object_element (events, i), "event_id", NULL);

          if (event_id != NULL && g_hash_table_contains (hs->received_us, event_id))
            g_ptr_array_add (d->keys, g_strdup_printf ("%s %s", user_id, event_id));
        }
    }

  if (d->keys->len == 0)
    {
      delivery_free (d, NULL);
      return;
    }
  g_signal_connect_data (msg, "wrote-body", G_CALLBACK (wrote_body_cb), d, delivery_free, 0);
}

static void
c_timings (OmHs              *hs,
           SoupServerMessage *msg)
{
  GUri *uri = soup_server_message_get_uri (msg);
  const char *query = g_uri_get_query (uri);
  g_autoptr(GHashTable) params = query ? g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE, NULL) : NULL;
  const char *room_id = params ? g_hash_table_lookup (params, "room_id") : NULL;
  const char *user_id = params ? g_hash_table_lookup (params, "user_id") : NULL;
  g_autoptr(GPtrArray) evs = NULL;
  g_autoptr(JsonObject) out = NULL;
  JsonArray *arr;

  if (room_id == NULL || user_id == NULL)
    {
      om_hs_reply_error (msg, 400, "M_MISSING_PARAM", "Missing room_id or user_id");
      return;
    }
  evs = om_hs_all_room_events (hs, room_id);
  arr = json_array_new ();
  for (guint i = 0; i < evs->len; i++)
    {
      OmHsEvent *ev = evs->pdata[i];
      gint64 *received = g_hash_table_lookup (hs->received_us, ev->event_id);
      g_autofree char *key = g_strdup_printf ("%s %s", user_id, ev->event_id);
      gint64 *delivered = g_hash_table_lookup (hs->delivered_us, key);
      JsonObject *e;

      if (received == NULL)
        continue;
      e = json_object_new ();
      json_object_set_string_member (e, "event_id", ev->event_id);
      json_object_set_int_member (e, "received_us", *received);
      if (delivered != NULL)
        json_object_set_int_member (e, "delivered_us", *delivered);
      json_array_add_object_element (arr, e);
    }
  out = json_object_new ();
  json_object_set_array_member (out, "events", arr);
  om_hs_reply_object (msg, 200, out);
}

static gboolean
shutdown_cb (gpointer user_data)
{
  OmHs *hs = user_data;

  g_main_loop_quit (hs->loop);
  return G_SOURCE_REMOVE;
}

void
om_hs_handle_control (OmHs              *hs,
                      SoupServerMessage *msg,
                      const char        *path)
{
  const char *method = soup_server_message_get_method (msg);

  if (g_str_equal (path, "/_test/users") && g_str_equal (method, "POST"))
    c_users (hs, msg);
  else if (g_str_equal (path, "/_test/faults") &&
           (g_str_equal (method, "POST") || g_str_equal (method, "DELETE")))
    c_faults (hs, msg);
  else if (g_str_equal (path, "/_test/expire_token") && g_str_equal (method, "POST"))
    c_expire_token (hs, msg);
  else if (g_str_equal (path, "/_test/ratelimit") && g_str_equal (method, "POST"))
    c_ratelimit (hs, msg);
  else if (g_str_equal (path, "/_test/config") && g_str_equal (method, "POST"))
    c_config (hs, msg);
  else if (g_str_equal (path, "/_test/seed") && g_str_equal (method, "POST"))
    c_seed (hs, msg);
  else if (g_str_equal (path, "/_test/stats") && g_str_equal (method, "GET"))
    c_stats (hs, msg);
  else if (g_str_equal (path, "/_test/events") && g_str_equal (method, "GET"))
    c_events (hs, msg);
  else if (g_str_equal (path, "/_test/timings") && g_str_equal (method, "GET"))
    c_timings (hs, msg);
  else if (g_str_equal (path, "/_test/shutdown") && g_str_equal (method, "POST"))
    {
      om_hs_reply_empty (msg);
      g_timeout_add (50, shutdown_cb, hs);
    }
  else
    om_hs_reply_error (msg, 404, "M_UNRECOGNIZED", "Unrecognized request");
}
