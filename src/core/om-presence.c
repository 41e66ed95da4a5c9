/* om-presence.c — our presence and what we know of others'
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-presence"

#include "om-json.h"
#include "om-error.h"
#include "om-http.h"
#include "om-presence.h"
#include "om-session.h"
#include "om-store.h"

typedef struct {
  OmPresenceState state;
  char           *status_message;   /* owned, nullable */
  gint64          last_active_ago;  /* -1 if unknown */
  gboolean        currently_active;
} Entry;

struct _OmPresence
{
  GObject          parent_instance;

  OmSession       *session;         /* borrowed */
  GHashTable      *users;           /* user_id → Entry* (owned) */
  OmPresenceState  state;
  char            *status_message;  /* owned, nullable */
  gint64           healed_at;       /* monotonic µs of the last correction */
  gboolean         chosen;          /* the user set our state explicitly */
  gboolean         setting;         /* a PUT is in flight */
};

/* At most one correction of the server's idea of our presence per this. */
#define HEAL_INTERVAL_US (5 * G_USEC_PER_SEC)

static void put_presence (OmPresence *self, GTask *task);

enum {
  PROP_0,
  PROP_STATE,
  PROP_STATUS_MESSAGE,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (OmPresence, om_presence, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (OmPresenceState, om_presence_state,
  G_DEFINE_ENUM_VALUE (OM_PRESENCE_UNKNOWN, "unknown"),
  G_DEFINE_ENUM_VALUE (OM_PRESENCE_ONLINE, "online"),
  G_DEFINE_ENUM_VALUE (OM_PRESENCE_UNAVAILABLE, "unavailable"),
  G_DEFINE_ENUM_VALUE (OM_PRESENCE_OFFLINE, "offline"))

OmPresenceState
om_presence_state_from_string (const char *presence)
{
  if (g_strcmp0 (presence, "online") == 0)
    return OM_PRESENCE_ONLINE;
  if (g_strcmp0 (presence, "unavailable") == 0)
    return OM_PRESENCE_UNAVAILABLE;
  if (g_strcmp0 (presence, "offline") == 0)
    return OM_PRESENCE_OFFLINE;
  return OM_PRESENCE_UNKNOWN;
}

const char *
om_presence_state_to_string (OmPresenceState state)
{
  switch (state)
    {
    case OM_PRESENCE_ONLINE:
      return "online";
    case OM_PRESENCE_UNAVAILABLE:
      return "unavailable";
    case OM_PRESENCE_OFFLINE:
      return "offline";
    case OM_PRESENCE_UNKNOWN:
    default:
      return NULL;
    }
}

static void
entry_free (Entry *entry)
{
  g_free (entry->status_message);
  g_free (entry);
}

static void
om_presence_finalize (GObject *object)
{
  OmPresence *self = OM_PRESENCE (object);

  g_clear_pointer (&self->users, g_hash_table_unref);
  g_clear_pointer (&self->status_message, g_free);

  G_OBJECT_CLASS (om_presence_parent_class)->finalize (object);
}

static void
om_presence_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  OmPresence *self = OM_PRESENCE (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_STATUS_MESSAGE:
      g_value_set_string (value, self->status_message);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
om_presence_class_init (OmPresenceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = om_presence_finalize;
  object_class->get_property = om_presence_get_property;

  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, OM_TYPE_PRESENCE_STATE, OM_PRESENCE_ONLINE,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATUS_MESSAGE] =
    g_param_spec_string ("status-message", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
om_presence_init (OmPresence *self)
{
  self->users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) entry_free);
  self->state = OM_PRESENCE_ONLINE;
}

OmPresence *
om_presence_new (OmSession *session)
{
  OmPresence *self = g_object_new (OM_TYPE_PRESENCE, NULL);

  self->session = session;
  return self;
}

OmPresenceState
om_presence_get_state (OmPresence *self)
{
  g_return_val_if_fail (OM_IS_PRESENCE (self), OM_PRESENCE_UNKNOWN);
  return self->state;
}

const char *
om_presence_get_status_message (OmPresence *self)
{
  g_return_val_if_fail (OM_IS_PRESENCE (self), NULL);
  return self->status_message;
}

OmPresenceState
om_presence_lookup (OmPresence  *self,
                    const char  *user_id,
                    const char **out_status_message,
                    gint64      *out_last_active_ago,
                    gboolean    *out_currently_active)
{
  Entry *entry;

  g_return_val_if_fail (OM_IS_PRESENCE (self), OM_PRESENCE_UNKNOWN);
  g_return_val_if_fail (user_id != NULL, OM_PRESENCE_UNKNOWN);

  entry = g_hash_table_lookup (self->users, user_id);
  if (out_status_message)
    *out_status_message = entry ? entry->status_message : NULL;
  if (out_last_active_ago)
    *out_last_active_ago = entry ? entry->last_active_ago : -1;
  if (out_currently_active)
    *out_currently_active = entry ? entry->currently_active : FALSE;
  return entry ? entry->state : OM_PRESENCE_UNKNOWN;
}

/* Applies {presence, status_msg, last_active_ago, currently_active};
 * returns TRUE if anything changed. */
static gboolean
update_entry (OmPresence *self,
              const char *user_id,
              JsonObject *content)
{
  OmPresenceState state = om_presence_state_from_string (om_json_get_string (content, "presence"));
  const char *status = om_json_get_string (content, "status_msg");
  JsonNode *node;
  gint64 last_active_ago = -1;
  gboolean currently_active = FALSE;
  Entry *entry;
  gboolean changed;

  if (state == OM_PRESENCE_UNKNOWN)
    return FALSE;

  node = json_object_get_member (content, "last_active_ago");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    last_active_ago = json_node_get_int (node);
  node = json_object_get_member (content, "currently_active");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    currently_active = json_node_get_boolean (node);

  entry = g_hash_table_lookup (self->users, user_id);
  if (entry == NULL)
    {
      entry = g_new0 (Entry, 1);
      g_hash_table_insert (self->users, g_strdup (user_id), entry);
      changed = TRUE;
    }
  else
    changed = entry->state != state || g_strcmp0 (entry->status_message, status) != 0 ||
              entry->currently_active != currently_active;

  entry->state = state;
  g_free (entry->status_message);
  entry->status_message = g_strdup (status);
  entry->last_active_ago = last_active_ago;
  entry->currently_active = currently_active;
  return changed;
}

void
om_presence_apply_event (OmPresence *self,
                         JsonObject *event)
{
  const char *sender = om_json_get_string (event, "sender");
  JsonNode *content_node = json_object_get_member (event, "content");
  JsonObject *content;
  OmStore *store;

  g_return_if_fail (OM_IS_PRESENCE (self));

  if (sender == NULL || g_strcmp0 (om_json_get_string (event, "type"), "m.presence") != 0 ||
      content_node == NULL || !JSON_NODE_HOLDS_OBJECT (content_node))
    {
      g_warning ("Skipping a malformed presence event");
      return;
    }
  content = json_node_get_object (content_node);

  /* The server reports a state for us that we did not choose (a sync that
   * was already on its way when we changed it can do that): say it again. */
  if (self->chosen && !self->setting &&
      g_strcmp0 (sender, om_session_get_user_id (self->session)) == 0 &&
      om_presence_state_from_string (om_json_get_string (content, "presence")) != OM_PRESENCE_UNKNOWN &&
      om_presence_state_from_string (om_json_get_string (content, "presence")) != self->state &&
      g_get_monotonic_time () - self->healed_at > HEAL_INTERVAL_US)
    {
      self->healed_at = g_get_monotonic_time ();
      g_debug ("the server has us %s; setting %s again", om_json_get_string (content, "presence"),
               om_presence_state_to_string (self->state));
      put_presence (self, NULL);
    }

  if (!update_entry (self, sender, content))
    return;

  store = om_session_get_store (self->session);
  if (store != NULL)
    {
      g_autofree char *json = json_to_string (content_node, FALSE);
      om_store_set_presence (store, sender, json, NULL);
    }
  g_signal_emit (self, signals[CHANGED], 0, sender);
}

void
om_presence_load (OmPresence *self)
{
  g_autoptr(GHashTable) stored = NULL;
  GHashTableIter iter;
  gpointer key, value;

  g_return_if_fail (OM_IS_PRESENCE (self));

  stored = om_store_load_presence (om_session_get_store (self->session), NULL);
  if (stored == NULL)
    return;

  g_hash_table_iter_init (&iter, stored);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_autoptr(JsonNode) node = json_from_string (value, NULL);

      if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
        update_entry (self, key, json_node_get_object (node));
    }
}

static void
set_cb (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  OmPresence *self = g_task_get_source_object (task);
  GError *error = NULL;
  JsonNode *body = om_http_request_finish (OM_HTTP (source), result, NULL, &error);

  g_clear_pointer (&body, json_node_unref);
  self->setting = FALSE;
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/* PUT /presence/{me}/status with our state; @task (nullable, owned) is
 * completed with the outcome. */
static void
put_presence (OmPresence *self,
              GTask      *task)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) body = NULL;
  g_autofree char *user = NULL;
  g_autofree char *path = NULL;

  if (task == NULL)
    task = g_task_new (self, NULL, NULL, NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "presence");
  json_builder_add_string_value (builder, om_presence_state_to_string (self->state));
  if (self->status_message != NULL)
    {
      json_builder_set_member_name (builder, "status_msg");
      json_builder_add_string_value (builder, self->status_message);
    }
  json_builder_end_object (builder);
  body = json_builder_get_root (builder);

  user = om_http_escape (om_session_get_user_id (self->session));
  path = g_strdup_printf ("/_matrix/client/v3/presence/%s/status", user);
  self->setting = TRUE;
  om_http_request_async (om_session_get_http (self->session), "PUT", path, body,
                         OM_HTTP_FLAGS_NONE, 0, g_task_get_cancellable (task), set_cb, task);
}

void
om_presence_set_async (OmPresence          *self,
                       OmPresenceState      state,
                       const char          *status_message,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (OM_IS_PRESENCE (self));
  g_return_if_fail (state != OM_PRESENCE_UNKNOWN);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_presence_set_async);

  self->chosen = TRUE;
  if (g_strcmp0 (self->status_message, status_message) != 0)
    {
      g_free (self->status_message);
      self->status_message = g_strdup (status_message);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS_MESSAGE]);
    }
  /* Notified last: the session restarts its sync with the new state. */
  if (self->state != state)
    {
      self->state = state;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }

  put_presence (self, task);
}

gboolean
om_presence_set_finish (OmPresence    *self,
                        GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
