/* om-sync.c — the /sync long-poll loop
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-sync"

#include "om-json.h"
#include "om-backoff.h"
#include "om-error.h"
#include "om-http.h"
#include "om-presence.h"
#include "om-room-private.h"
#include "om-session-private.h"
#include "om-store.h"
#include "om-sync.h"

/* Back-off after failures: 0.5 s doubling up to 30 s, with jitter. */
#define BACKOFF_BASE_MS  500
#define BACKOFF_MAX_MS 30000
/* The server may hold a long-poll this much past its timeout. */
#define LONG_POLL_MARGIN_MS 30000

/* Bump when the filter definition changes, so stores re-upload it. */
#define FILTER_KEY "filter_id.v1"

struct _OmSync
{
  GObject       parent_instance;

  OmSession    *session;        /* borrowed: the session owns us */
  GCancellable *cancellable;    /* owned, the request in flight */
  char         *since;          /* owned, nullable */
  char         *filter_id;      /* owned, nullable */
  char         *error;          /* owned, nullable */
  guint         backoff_id;     /* GSource */
  guint         failures;
  guint         timeout_ms;
  guint         generation;     /* tells a stale callback from the current request */
  gboolean      caught_up;      /* a request of this run has succeeded */
  gboolean      running;
  gboolean      in_flight;
};

typedef struct {
  OmSync *self;        /* owned ref */
  guint   generation;
} RequestData;

static RequestData *
request_data_new (OmSync *self)
{
  RequestData *data = g_new0 (RequestData, 1);

  data->self = g_object_ref (self);
  data->generation = ++self->generation;
  return data;
}

static void
request_data_free (RequestData *data)
{
  g_object_unref (data->self);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (RequestData, request_data_free)

/* Takes the result of a request; FALSE when it belongs to a request that
 * was stopped or superseded, which must then change nothing. */
static gboolean
request_data_is_current (RequestData *data)
{
  OmSync *self = data->self;

  if (data->generation != self->generation || !self->running)
    return FALSE;
  self->in_flight = FALSE;
  g_clear_object (&self->cancellable);
  return TRUE;
}

enum {
  PROP_0,
  PROP_RUNNING,
  PROP_SINCE,
  PROP_FAILURES,
  PROP_ERROR,
  PROP_TIMEOUT_MS,
  N_PROPS
};

enum {
  SYNCED,
  TOKEN_REJECTED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (OmSync, om_sync, G_TYPE_OBJECT)

static void om_sync_next (OmSync *self);

static void
om_sync_dispose (GObject *object)
{
  OmSync *self = OM_SYNC (object);

  om_sync_stop (self);

  G_OBJECT_CLASS (om_sync_parent_class)->dispose (object);
}

static void
om_sync_finalize (GObject *object)
{
  OmSync *self = OM_SYNC (object);

  g_clear_pointer (&self->since, g_free);
  g_clear_pointer (&self->filter_id, g_free);
  g_clear_pointer (&self->error, g_free);

  G_OBJECT_CLASS (om_sync_parent_class)->finalize (object);
}

static void
om_sync_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  OmSync *self = OM_SYNC (object);

  switch (prop_id)
    {
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;
    case PROP_SINCE:
      g_value_set_string (value, self->since);
      break;
    case PROP_FAILURES:
      g_value_set_uint (value, self->failures);
      break;
    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;
    case PROP_TIMEOUT_MS:
      g_value_set_uint (value, self->timeout_ms);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
om_sync_set_property (GObject      *object,
                      guint         prop_id,
                      const GValue *value,
                      GParamSpec   *pspec)
{
  OmSync *self = OM_SYNC (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT_MS:
      om_sync_set_timeout_ms (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
om_sync_class_init (OmSyncClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = om_sync_dispose;
  object_class->finalize = om_sync_finalize;
  object_class->get_property = om_sync_get_property;
  object_class->set_property = om_sync_set_property;

  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SINCE] =
    g_param_spec_string ("since", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FAILURES] =
    g_param_spec_uint ("failures", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR] =
    g_param_spec_string ("error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TIMEOUT_MS] =
    g_param_spec_uint ("timeout-ms", NULL, NULL, 0, G_MAXUINT, OM_SYNC_TIMEOUT_MS,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SYNCED] =
    g_signal_new ("synced", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
  signals[TOKEN_REJECTED] =
    g_signal_new ("token-rejected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
om_sync_init (OmSync *self)
{
  self->timeout_ms = OM_SYNC_TIMEOUT_MS;
}

OmSync *
om_sync_new (OmSession *session)
{
  OmSync *self;
  OmStore *store;

  g_return_val_if_fail (OM_IS_SESSION (session), NULL);

  self = g_object_new (OM_TYPE_SYNC, NULL);
  self->session = session;

  store = om_session_get_store (session);
  if (store != NULL)
    {
      self->since = om_store_dup_value (store, "sync_token");
      self->filter_id = om_store_dup_value (store, FILTER_KEY);
    }

  return self;
}

gboolean
om_sync_get_running (OmSync *self)
{
  g_return_val_if_fail (OM_IS_SYNC (self), FALSE);
  return self->running;
}

const char *
om_sync_get_since (OmSync *self)
{
  g_return_val_if_fail (OM_IS_SYNC (self), NULL);
  return self->since;
}

guint
om_sync_get_failures (OmSync *self)
{
  g_return_val_if_fail (OM_IS_SYNC (self), 0);
  return self->failures;
}

const char *
om_sync_get_error (OmSync *self)
{
  g_return_val_if_fail (OM_IS_SYNC (self), NULL);
  return self->error;
}

void
om_sync_set_timeout_ms (OmSync *self,
                        guint   timeout_ms)
{
  g_return_if_fail (OM_IS_SYNC (self));

  if (self->timeout_ms == timeout_ms)
    return;
  self->timeout_ms = timeout_ms;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMEOUT_MS]);
}

static void
set_error (OmSync     *self,
           const char *message)
{
  if (g_strcmp0 (self->error, message) == 0)
    return;
  g_free (self->error);
  self->error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

static void
set_failures (OmSync *self,
              guint   failures)
{
  if (self->failures == failures)
    return;
  self->failures = failures;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FAILURES]);
}

static void
set_running (OmSync   *self,
             gboolean  running)
{
  if (self->running == running)
    return;
  self->running = running;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

/* Dispatch of one response */

/* Like get_object_member, but says so when the member is there and wrong. */
static JsonObject *
get_section (JsonObject *object,
             const char *name)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;

  if (node != NULL && !JSON_NODE_HOLDS_OBJECT (node) && !JSON_NODE_HOLDS_NULL (node))
    g_warning ("Ignoring a malformed \"%s\" in a sync response", name);
  return om_json_get_object (object, name);
}

static gboolean
apply_rooms (OmSync        *self,
             JsonObject    *rooms,
             const char    *section,
             OmMembership   membership,
             GError       **error)
{
  JsonObject *section_obj = get_section (rooms, section);
  OmRoomList *list = om_session_get_room_list (self->session);
  JsonObjectIter iter;
  const char *room_id;
  JsonNode *room_node;

  if (section_obj == NULL)
    return TRUE;

  json_object_iter_init (&iter, section_obj);
  while (json_object_iter_next (&iter, &room_id, &room_node))
    {
      OmRoom *room;

      if (!JSON_NODE_HOLDS_OBJECT (room_node) || room_id[0] != '!')
        {
          g_warning ("Skipping a malformed room in rooms.%s", section);
          continue;
        }

      room = om_room_list_lookup (list, room_id);
      if (room == NULL)
        {
          g_autoptr(OmRoom) created = om_session_create_room_object (self->session, room_id);

          om_room_list_add (list, created);
          room = created;
        }

      if (!om_room_apply_sync (room, membership, json_node_get_object (room_node), error))
        return FALSE;
    }

  return TRUE;
}

static void
apply_presence (OmSync     *self,
                JsonObject *response)
{
  JsonArray *events = om_json_get_array (om_json_get_object (response, "presence"), "events");
  OmPresence *presence = om_session_get_presence (self->session);

  if (events == NULL || presence == NULL)
    return;

  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      JsonNode *node = json_array_get_element (events, i);

      if (JSON_NODE_HOLDS_OBJECT (node))
        om_presence_apply_event (presence, json_node_get_object (node));
    }
}

gboolean
om_sync_apply_response (OmSync      *self,
                        JsonObject  *response,
                        gboolean     initial,
                        GError     **error)
{
  OmStore *store = om_session_get_store (self->session);
  JsonNode *next_batch_node;
  const char *next_batch;
  JsonObject *rooms;

  g_return_val_if_fail (OM_IS_SYNC (self), FALSE);
  g_return_val_if_fail (response != NULL, FALSE);

  next_batch_node = json_object_get_member (response, "next_batch");
  if (next_batch_node == NULL || !JSON_NODE_HOLDS_VALUE (next_batch_node) ||
      json_node_get_value_type (next_batch_node) != G_TYPE_STRING ||
      *(next_batch = json_node_get_string (next_batch_node)) == '\0')
    {
      g_set_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                   "The server's sync response has no next_batch token");
      return FALSE;
    }

  if (!om_store_begin (store, error))
    return FALSE;

  rooms = get_section (response, "rooms");
  if (!apply_rooms (self, rooms, "join", OM_MEMBERSHIP_JOIN, error) ||
      !apply_rooms (self, rooms, "invite", OM_MEMBERSHIP_INVITE, error) ||
      !apply_rooms (self, rooms, "leave", OM_MEMBERSHIP_LEAVE, error))
    {
      om_store_rollback (store);
      return FALSE;
    }

  apply_presence (self, response);
  om_session_apply_account_data (self->session,
                                 om_json_get_array (om_json_get_object (response, "account_data"),
                                                   "events"));

  /* The token moves only together with what it covers. */
  if (!om_store_set_value (store, "sync_token", next_batch, error) ||
      !om_store_commit (store, error))
    {
      om_store_rollback (store);
      return FALSE;
    }

  if (g_strcmp0 (self->since, next_batch) != 0)
    {
      g_free (self->since);
      self->since = g_strdup (next_batch);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SINCE]);
    }

  g_signal_emit (self, signals[SYNCED], 0, initial);
  return TRUE;
}

/* The loop */

static gboolean
backoff_done_cb (gpointer user_data)
{
  OmSync *self = user_data;

  self->backoff_id = 0;
  om_sync_next (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry (OmSync       *self,
                const GError *error)
{
  gint64 retry_after = om_error_get_retry_after_ms (error);
  guint delay;

  set_failures (self, self->failures + 1);
  set_error (self, error->message);

  delay = om_backoff_delay_ms (self->failures, BACKOFF_BASE_MS, BACKOFF_MAX_MS);
  if (retry_after >= 0)
    delay = (guint) MIN (retry_after, (gint64) BACKOFF_MAX_MS * 4);

  g_debug ("sync failed (%u in a row), retrying in %u ms", self->failures, delay);
  om_session_sync_state_changed (self->session);

  g_clear_handle_id (&self->backoff_id, g_source_remove);
  self->backoff_id = g_timeout_add (delay, backoff_done_cb, self);
}

static gboolean
handle_fatal (OmSync       *self,
              const GError *error)
{
  if (g_error_matches (error, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN) ||
      g_error_matches (error, OM_ERROR, OM_ERROR_MISSING_TOKEN) ||
      g_error_matches (error, OM_ERROR, OM_ERROR_USER_DEACTIVATED))
    {
      set_error (self, error->message);
      om_sync_stop (self);
      g_signal_emit (self, signals[TOKEN_REJECTED], 0, error);
      return TRUE;
    }
  return FALSE;
}

static void
sync_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(RequestData) data = user_data;
  OmSync *self = data->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) body = NULL;
  gboolean initial;

  body = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (!request_data_is_current (data))
    return;

  if (error != NULL)
    {
      if (handle_fatal (self, error))
        return;

      /* The server forgot our filter (400 M_INVALID_PARAM "No such
       * filter") or our since token (400 M_UNKNOWN "Invalid stream
       * token"), e.g. after its database was reset: start over. */
      if (error->domain == OM_ERROR && om_error_get_http_status (error) == 400)
        {
          if (error->code == OM_ERROR_INVALID_PARAM && self->filter_id != NULL)
            {
              g_warning ("The server no longer knows our sync filter; uploading it again");
              g_clear_pointer (&self->filter_id, g_free);
              om_store_set_value (om_session_get_store (self->session), FILTER_KEY, NULL, NULL);
            }
          else if (error->code == OM_ERROR_UNKNOWN && self->since != NULL)
            {
              g_warning ("The server rejected the stored sync token; doing a full sync");
              g_clear_pointer (&self->since, g_free);
            }
        }

      schedule_retry (self, error);
      return;
    }

  if (!JSON_NODE_HOLDS_OBJECT (body))
    {
      g_autoptr(GError) bad = g_error_new (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                                           "The server's sync response is not a JSON object");
      schedule_retry (self, bad);
      return;
    }

  initial = self->since == NULL;
  if (!om_sync_apply_response (self, json_node_get_object (body), initial, &error))
    {
      schedule_retry (self, error);
      return;
    }

  self->caught_up = TRUE;
  set_failures (self, 0);
  set_error (self, NULL);
  om_session_sync_state_changed (self->session);
  om_sync_next (self);
}

static guint
current_timeout_ms (OmSync *self)
{
  return self->since != NULL && self->caught_up ? self->timeout_ms : 0;
}

static char *
build_sync_path (OmSync *self)
{
  GString *path = g_string_new ("/_matrix/client/v3/sync?timeout=");
  const char *set_presence;

  /* Until a request of this run has succeeded, ask for an answer at once,
   * so a restored client is online (and caught up) without waiting out a
   * long-poll. */
  g_string_append_printf (path, "%u", current_timeout_ms (self));

  if (self->filter_id != NULL)
    {
      g_autofree char *escaped = g_uri_escape_string (self->filter_id, NULL, FALSE);
      g_string_append_printf (path, "&filter=%s", escaped);
    }
  if (self->since != NULL)
    {
      g_autofree char *escaped = g_uri_escape_string (self->since, NULL, FALSE);
      g_string_append_printf (path, "&since=%s", escaped);
    }

  set_presence = om_session_get_sync_set_presence (self->session);
  if (set_presence != NULL)
    g_string_append_printf (path, "&set_presence=%s", set_presence);

  return g_string_free (path, FALSE);
}

static void
start_sync_request (OmSync *self)
{
  g_autofree char *path = build_sync_path (self);

  self->in_flight = TRUE;
  self->cancellable = g_cancellable_new ();
  om_http_request_async (om_session_get_http (self->session), "GET", path, NULL,
                         OM_HTTP_NO_RETRY,
                         current_timeout_ms (self) + LONG_POLL_MARGIN_MS,
                         self->cancellable, sync_cb, request_data_new (self));
}

static void
filter_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(RequestData) data = user_data;
  OmSync *self = data->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) body = NULL;
  JsonNode *id_node = NULL;

  body = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (!request_data_is_current (data))
    return;

  if (error == NULL && JSON_NODE_HOLDS_OBJECT (body))
    id_node = json_object_get_member (json_node_get_object (body), "filter_id");

  if (error == NULL &&
      (id_node == NULL || !JSON_NODE_HOLDS_VALUE (id_node) ||
       json_node_get_value_type (id_node) != G_TYPE_STRING))
    error = g_error_new (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                         "The server's answer to the filter upload has no filter_id");

  if (error != NULL)
    {
      if (!handle_fatal (self, error))
        schedule_retry (self, error);
      return;
    }

  self->filter_id = g_strdup (json_node_get_string (id_node));
  om_store_set_value (om_session_get_store (self->session), FILTER_KEY, self->filter_id, NULL);
  start_sync_request (self);
}

static JsonNode *
build_filter (void)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "room");
  json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "state");
    json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "lazy_load_members");
      json_builder_add_boolean_value (builder, TRUE);
    json_builder_end_object (builder);
    json_builder_set_member_name (builder, "timeline");
    json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "limit");
      json_builder_add_int_value (builder, OM_SYNC_TIMELINE_LIMIT);
      json_builder_set_member_name (builder, "lazy_load_members");
      json_builder_add_boolean_value (builder, TRUE);
    json_builder_end_object (builder);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

static void
om_sync_next (OmSync *self)
{
  if (!self->running || self->in_flight || self->backoff_id != 0)
    return;

  if (self->filter_id == NULL)
    {
      g_autoptr(JsonNode) filter = build_filter ();
      g_autofree char *user = om_http_escape (om_session_get_user_id (self->session));
      g_autofree char *path = g_strdup_printf ("/_matrix/client/v3/user/%s/filter", user);

      self->in_flight = TRUE;
      self->cancellable = g_cancellable_new ();
      om_http_request_async (om_session_get_http (self->session), "POST", path, filter,
                             OM_HTTP_FLAGS_NONE, 0, self->cancellable,
                             filter_cb, request_data_new (self));
      return;
    }

  start_sync_request (self);
}

void
om_sync_start (OmSync *self)
{
  g_return_if_fail (OM_IS_SYNC (self));

  if (self->running)
    return;
  self->caught_up = FALSE;
  set_running (self, TRUE);
  om_sync_next (self);
}

void
om_sync_stop (OmSync *self)
{
  g_return_if_fail (OM_IS_SYNC (self));

  g_clear_handle_id (&self->backoff_id, g_source_remove);
  self->generation++;
  if (self->cancellable != NULL)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
    }
  self->in_flight = FALSE;
  set_running (self, FALSE);
}

void
om_sync_restart (OmSync *self)
{
  g_return_if_fail (OM_IS_SYNC (self));

  if (!self->running)
    return;

  self->generation++;
  if (self->cancellable != NULL)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
    }
  self->in_flight = FALSE;
  g_clear_handle_id (&self->backoff_id, g_source_remove);
  om_sync_next (self);
}

void
om_sync_nudge (OmSync *self)
{
  g_return_if_fail (OM_IS_SYNC (self));

  if (!self->running || self->backoff_id == 0)
    return;
  g_clear_handle_id (&self->backoff_id, g_source_remove);
  om_sync_next (self);
}
