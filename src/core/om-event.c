/* om-event.c — one Matrix event (remote, or the local echo of one we send)
 *
 * The event keeps a reference to the JsonObject it was parsed from and
 * never copies its content: a timeline of 100,000 events costs one object
 * per event plus the parsed JSON.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-event"

#include "om-json.h"
#include "om-event.h"
#include "om-error.h"

struct _OmEvent
{
  GObject      parent_instance;

  JsonObject  *json;          /* owned ref: the whole event */
  JsonObject  *content;       /* borrowed from json, or owned empty_content */
  JsonObject  *empty_content; /* owned, only when the event had no content */

  /* Borrowed from json (valid while json is held and not replaced). */
  const char  *room_id;
  const char  *sender;
  const char  *event_type;
  const char  *state_key;

  char        *event_id;      /* owned, NULL for an unsent echo */
  char        *txn_id;        /* owned, nullable */
  gint64       origin_server_ts;

  OmSendState  send_state;
  char        *send_error;    /* owned, nullable */
};

G_DEFINE_FINAL_TYPE (OmEvent, om_event, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (OmSendState, om_send_state,
  G_DEFINE_ENUM_VALUE (OM_SEND_STATE_NONE, "none"),
  G_DEFINE_ENUM_VALUE (OM_SEND_STATE_QUEUED, "queued"),
  G_DEFINE_ENUM_VALUE (OM_SEND_STATE_SENDING, "sending"),
  G_DEFINE_ENUM_VALUE (OM_SEND_STATE_SENT, "sent"),
  G_DEFINE_ENUM_VALUE (OM_SEND_STATE_FAILED, "failed"))

enum {
  PROP_0,
  PROP_EVENT_ID,
  PROP_SENDER,
  PROP_EVENT_TYPE,
  PROP_ORIGIN_SERVER_TS,
  PROP_BODY,
  PROP_SEND_STATE,
  PROP_SEND_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
om_event_finalize (GObject *object)
{
  OmEvent *self = OM_EVENT (object);

  g_clear_pointer (&self->json, json_object_unref);
  g_clear_pointer (&self->empty_content, json_object_unref);
  g_clear_pointer (&self->event_id, g_free);
  g_clear_pointer (&self->txn_id, g_free);
  g_clear_pointer (&self->send_error, g_free);

  G_OBJECT_CLASS (om_event_parent_class)->finalize (object);
}

static void
om_event_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  OmEvent *self = OM_EVENT (object);

  switch (prop_id)
    {
    case PROP_EVENT_ID:
      g_value_set_string (value, self->event_id);
      break;
    case PROP_SENDER:
      g_value_set_string (value, self->sender);
      break;
    case PROP_EVENT_TYPE:
      g_value_set_string (value, self->event_type);
      break;
    case PROP_ORIGIN_SERVER_TS:
      g_value_set_int64 (value, self->origin_server_ts);
      break;
    case PROP_BODY:
      g_value_set_string (value, om_event_get_body (self));
      break;
    case PROP_SEND_STATE:
      g_value_set_enum (value, self->send_state);
      break;
    case PROP_SEND_ERROR:
      g_value_set_string (value, self->send_error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
om_event_class_init (OmEventClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = om_event_finalize;
  object_class->get_property = om_event_get_property;

  properties[PROP_EVENT_ID] =
    g_param_spec_string ("event-id", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SENDER] =
    g_param_spec_string ("sender", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_EVENT_TYPE] =
    g_param_spec_string ("event-type", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ORIGIN_SERVER_TS] =
    g_param_spec_int64 ("origin-server-ts", NULL, NULL, G_MININT64, G_MAXINT64, 0,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BODY] =
    g_param_spec_string ("body", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SEND_STATE] =
    g_param_spec_enum ("send-state", NULL, NULL, OM_TYPE_SEND_STATE, OM_SEND_STATE_NONE,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SEND_ERROR] =
    g_param_spec_string ("send-error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
om_event_init (OmEvent *self)
{
}

static gboolean
node_is_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
node_is_int (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_INT64;
}

static gboolean
bad_event (GError    **error,
           const char *what)
{
  g_set_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE, "Malformed event: %s", what);
  return FALSE;
}

/* Checks @json and caches its fields into @self (which must not yet hold
 * another object).  Leaves @self untouched on error. */
static gboolean
om_event_load (OmEvent     *self,
               JsonObject  *json,
               gboolean     allow_partial,
               GError     **error)
{
  JsonNode *node;
  const char *event_type, *sender, *event_id = NULL, *state_key = NULL, *room_id = NULL;
  const char *txn_id = NULL;
  JsonObject *content = NULL;
  gint64 ts = 0;

  node = json_object_get_member (json, "type");
  if (!node_is_string (node) || *(event_type = json_node_get_string (node)) == '\0')
    return bad_event (error, "`type` must be a non-empty string");

  node = json_object_get_member (json, "sender");
  if (!node_is_string (node) || *(sender = json_node_get_string (node)) == '\0')
    return bad_event (error, "`sender` must be a non-empty string");

  node = json_object_get_member (json, "content");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    content = json_node_get_object (node);
  else if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    return bad_event (error, "`content` must be an object");

  node = json_object_get_member (json, "event_id");
  if (node_is_string (node) && *json_node_get_string (node) != '\0')
    event_id = json_node_get_string (node);
  else if (node != NULL || !allow_partial)
    return bad_event (error, "`event_id` must be a non-empty string");

  node = json_object_get_member (json, "origin_server_ts");
  if (node_is_int (node))
    ts = json_node_get_int (node);
  else if (node != NULL || !allow_partial)
    return bad_event (error, "`origin_server_ts` must be an integer");

  node = json_object_get_member (json, "state_key");
  if (node_is_string (node))
    state_key = json_node_get_string (node);
  else if (node != NULL)
    return bad_event (error, "`state_key` must be a string");

  node = json_object_get_member (json, "room_id");
  if (node_is_string (node))
    room_id = json_node_get_string (node);
  else if (node != NULL)
    return bad_event (error, "`room_id` must be a string");

  /* unsigned is informative: a malformed one loses nothing we need. */
  node = json_object_get_member (json, "unsigned");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    txn_id = om_json_get_string (json_node_get_object (node), "transaction_id");

  if (content == NULL && self->empty_content == NULL)
    self->empty_content = json_object_new ();

  json_object_ref (json);
  g_clear_pointer (&self->json, json_object_unref);
  self->json = json;
  self->content = content != NULL ? content : self->empty_content;
  self->event_type = event_type;
  self->sender = sender;
  self->state_key = state_key;
  self->room_id = room_id;
  self->origin_server_ts = ts;
  if (g_strcmp0 (self->event_id, event_id) != 0)
    {
      g_free (self->event_id);
      self->event_id = g_strdup (event_id);
    }
  if (txn_id != NULL && g_strcmp0 (self->txn_id, txn_id) != 0)
    {
      g_free (self->txn_id);
      self->txn_id = g_strdup (txn_id);
    }

  return TRUE;
}

OmEvent *
om_event_new_from_json (JsonObject  *object,
                        gboolean     allow_partial,
                        GError     **error)
{
  g_autoptr(OmEvent) self = NULL;

  g_return_val_if_fail (object != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (OM_TYPE_EVENT, NULL);
  if (!om_event_load (self, object, allow_partial, error))
    return NULL;

  return g_steal_pointer (&self);
}

OmEvent *
om_event_new_local (const char *room_id,
                    const char *txn_id,
                    const char *sender,
                    const char *event_type,
                    JsonObject *content)
{
  g_autoptr(OmEvent) self = NULL;
  g_autoptr(JsonObject) json = NULL;
  JsonObject *unsigned_obj;
  gboolean ok;

  g_return_val_if_fail (txn_id != NULL && *txn_id != '\0', NULL);
  g_return_val_if_fail (sender != NULL && *sender != '\0', NULL);
  g_return_val_if_fail (event_type != NULL && *event_type != '\0', NULL);

  json = json_object_new ();
  json_object_set_string_member (json, "type", event_type);
  json_object_set_string_member (json, "sender", sender);
  if (room_id != NULL)
    json_object_set_string_member (json, "room_id", room_id);
  json_object_set_object_member (json, "content",
                                 content != NULL ? json_object_ref (content) : json_object_new ());
  json_object_set_int_member (json, "origin_server_ts", g_get_real_time () / 1000);
  unsigned_obj = json_object_new ();
  json_object_set_string_member (unsigned_obj, "transaction_id", txn_id);
  json_object_set_object_member (json, "unsigned", unsigned_obj);

  self = g_object_new (OM_TYPE_EVENT, NULL);
  ok = om_event_load (self, json, TRUE, NULL);
  g_assert (ok);
  self->send_state = OM_SEND_STATE_QUEUED;

  return g_steal_pointer (&self);
}

const char *
om_event_get_event_id (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->event_id;
}

const char *
om_event_get_room_id (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->room_id;
}

const char *
om_event_get_sender (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->sender;
}

const char *
om_event_get_event_type (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->event_type;
}

const char *
om_event_get_state_key (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->state_key;
}

gboolean
om_event_is_state (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), FALSE);

  return self->state_key != NULL;
}

gint64
om_event_get_origin_server_ts (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), 0);

  return self->origin_server_ts;
}

JsonObject *
om_event_get_content (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->content;
}

JsonObject *
om_event_get_json (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->json;
}

char *
om_event_to_string (OmEvent *self)
{
  g_autoptr(JsonNode) node = NULL;

  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  node = json_node_init_object (json_node_alloc (), self->json);
  return json_to_string (node, FALSE);
}

const char *
om_event_get_msgtype (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return om_json_get_string (self->content, "msgtype");
}

const char *
om_event_get_body (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return om_json_get_string (self->content, "body");
}

const char *
om_event_get_content_string (OmEvent    *self,
                             const char *key)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);
  g_return_val_if_fail (key != NULL, NULL);

  return om_json_get_string (self->content, key);
}

const char *
om_event_get_txn_id (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->txn_id;
}

const char *
om_event_get_redacts (OmEvent *self)
{
  const char *redacts;

  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  if (g_strcmp0 (self->event_type, "m.room.redaction") != 0)
    return NULL;

  /* Room versions ≥ 11 moved `redacts` into content. */
  redacts = om_json_get_string (self->json, "redacts");
  if (redacts == NULL)
    redacts = om_json_get_string (self->content, "redacts");

  return redacts;
}

OmSendState
om_event_get_send_state (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), OM_SEND_STATE_NONE);

  return self->send_state;
}

const char *
om_event_get_send_error (OmEvent *self)
{
  g_return_val_if_fail (OM_IS_EVENT (self), NULL);

  return self->send_error;
}

void
om_event_set_send_state (OmEvent     *self,
                         OmSendState  state,
                         const char  *error_message)
{
  g_return_if_fail (OM_IS_EVENT (self));

  g_object_freeze_notify (G_OBJECT (self));

  if (self->send_state != state)
    {
      self->send_state = state;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEND_STATE]);
    }

  if (g_strcmp0 (self->send_error, error_message) != 0)
    {
      g_free (self->send_error);
      self->send_error = g_strdup (error_message);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEND_ERROR]);
    }

  g_object_thaw_notify (G_OBJECT (self));
}

void
om_event_set_event_id (OmEvent    *self,
                       const char *event_id)
{
  g_return_if_fail (OM_IS_EVENT (self));
  g_return_if_fail (event_id != NULL && *event_id != '\0');

  if (g_strcmp0 (self->event_id, event_id) == 0)
    return;

  g_free (self->event_id);
  self->event_id = g_strdup (event_id);
  json_object_set_string_member (self->json, "event_id", event_id);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EVENT_ID]);
}

void
om_event_merge_remote (OmEvent *self,
                       OmEvent *remote)
{
  g_autofree char *old_event_id = NULL;
  g_autofree char *old_body = NULL;
  gint64 old_ts;
  gboolean ok;

  g_return_if_fail (OM_IS_EVENT (self));
  g_return_if_fail (OM_IS_EVENT (remote));

  if (self == remote)
    return;

  old_event_id = g_strdup (self->event_id);
  old_body = g_strdup (om_event_get_body (self));
  old_ts = self->origin_server_ts;

  g_object_freeze_notify (G_OBJECT (self));

  /* The remote JSON was validated when @remote was built. */
  ok = om_event_load (self, remote->json, TRUE, NULL);
  g_assert (ok);
  if (self->event_id == NULL && remote->event_id != NULL)
    self->event_id = g_strdup (remote->event_id);

  if (g_strcmp0 (old_event_id, self->event_id) != 0)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EVENT_ID]);
  if (old_ts != self->origin_server_ts)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ORIGIN_SERVER_TS]);
  if (g_strcmp0 (old_body, om_event_get_body (self)) != 0)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BODY]);

  om_event_set_send_state (self, OM_SEND_STATE_SENT, NULL);

  g_object_thaw_notify (G_OBJECT (self));
}
