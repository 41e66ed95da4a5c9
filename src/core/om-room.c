/* om-room.c — one room: its state, members, counts, typing users, receipts
 *
 * A room is fed by /sync (om_room_apply_sync) and restored from the store
 * (om_room_new_from_store).  Raw state lives in a (type, state_key) map of
 * OmEvent; everything front ends bind to (name, counts, …) is derived from
 * it by om_room_refresh, which notifies only what changed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-room"

#include <string.h>

#include "om-json.h"
#include "om-error.h"
#include "om-room-internal.h"
#include "om-room-private.h"
#include "om-room-state.h"

typedef struct {
  char   *event_id;
  gint64  ts;
} Receipt;


G_DEFINE_FINAL_TYPE (OmRoom, om_room, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (OmMembership, om_membership,
  G_DEFINE_ENUM_VALUE (OM_MEMBERSHIP_NONE, "none"),
  G_DEFINE_ENUM_VALUE (OM_MEMBERSHIP_JOIN, "join"),
  G_DEFINE_ENUM_VALUE (OM_MEMBERSHIP_INVITE, "invite"),
  G_DEFINE_ENUM_VALUE (OM_MEMBERSHIP_LEAVE, "leave"),
  G_DEFINE_ENUM_VALUE (OM_MEMBERSHIP_BAN, "ban"),
  G_DEFINE_ENUM_VALUE (OM_MEMBERSHIP_KNOCK, "knock"))


enum {
  MEMBERS_CHANGED,
  RECEIPTS_CHANGED,
  N_SIGNALS
};

GParamSpec *om_room_properties[N_PROPS];
static guint signals[N_SIGNALS];

static const char *membership_names[] = {
  [OM_MEMBERSHIP_NONE] = NULL,
  [OM_MEMBERSHIP_JOIN] = "join",
  [OM_MEMBERSHIP_INVITE] = "invite",
  [OM_MEMBERSHIP_LEAVE] = "leave",
  [OM_MEMBERSHIP_BAN] = "ban",
  [OM_MEMBERSHIP_KNOCK] = "knock",
};

OmMembership
om_membership_from_string (const char *membership)
{
  for (guint i = 1; i < G_N_ELEMENTS (membership_names); i++)
    if (g_strcmp0 (membership, membership_names[i]) == 0)
      return i;

  return OM_MEMBERSHIP_NONE;
}

const char *
om_membership_to_string (OmMembership membership)
{
  if ((guint) membership >= G_N_ELEMENTS (membership_names))
    return NULL;

  return membership_names[membership];
}

static void
receipt_free (Receipt *receipt)
{
  g_free (receipt->event_id);
  g_free (receipt);
}

/* State and members (om-room-state.c). */

static void ensure_state (OmRoom *self);

OmEvent *
om_room_get_state_event (OmRoom     *self,
                         const char *event_type,
                         const char *state_key)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  g_return_val_if_fail (event_type != NULL, NULL);

  ensure_state (self);
  return om_room_state_get (self->state, event_type, state_key);
}

static JsonObject *
state_content (OmRoom     *self,
               const char *event_type)
{
  ensure_state (self);
  return om_room_state_get_content (self->state, event_type);
}

/* Makes @event current state.  Returns FALSE if the store failed (the
 * event is applied in memory all the same); a malformed event is skipped
 * with a warning and is no failure.  Sets *members_changed when members
 * or power levels moved. */
static gboolean
apply_state_event (OmRoom    *self,
                   OmEvent   *event,
                   gboolean   persist,
                   gboolean  *members_changed,
                   GError   **error)
{
  const char *event_type = om_event_get_event_type (event);
  const char *state_key = om_event_get_state_key (event);
  const char *problem = om_room_state_check (event);

  if (problem != NULL)
    {
      g_warning ("Room %s: state event %s skipped: %s", self->room_id,
                 om_event_get_event_id (event) != NULL ? om_event_get_event_id (event) : event_type,
                 problem);
      return TRUE;
    }

  if (om_room_state_set (self->state, event) && members_changed != NULL)
    *members_changed = TRUE;

  if (g_strcmp0 (event_type, "m.room.member") == 0 &&
      g_strcmp0 (state_key, self->own_user_id) == 0 &&
      om_room_state_get_membership (self->state, state_key) == OM_MEMBERSHIP_INVITE)
    {
      JsonNode *node = json_object_get_member (om_event_get_content (event), "is_direct");

      self->invite_direct = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
                            json_node_get_value_type (node) == G_TYPE_BOOLEAN &&
                            json_node_get_boolean (node);
    }

  if (persist && self->store != NULL)
    {
      g_autofree char *json = om_event_to_string (event);

      if (!om_store_set_state_event (self->store, self->room_id, event_type, state_key, json,
                                     error))
        return FALSE;
    }

  return TRUE;
}

GStrv
om_room_dup_member_ids (OmRoom       *self,
                        OmMembership  membership)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);

  ensure_state (self);
  return om_room_state_dup_member_ids (self->state, membership);
}

OmMembership
om_room_get_member_membership (OmRoom     *self,
                               const char *user_id)
{
  g_return_val_if_fail (OM_IS_ROOM (self), OM_MEMBERSHIP_NONE);

  ensure_state (self);
  return om_room_state_get_membership (self->state, user_id);
}

char *
om_room_dup_member_display_name (OmRoom     *self,
                                 const char *user_id)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  g_return_val_if_fail (user_id != NULL, NULL);

  ensure_state (self);
  return om_room_state_dup_member_name (self->state, user_id);
}

gint64
om_room_get_member_power_level (OmRoom     *self,
                                const char *user_id)
{
  g_return_val_if_fail (OM_IS_ROOM (self), 0);
  g_return_val_if_fail (user_id != NULL, 0);

  ensure_state (self);
  return om_room_state_get_power_level (self->state, user_id);
}

/* Receipts. */

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

static gboolean set_receipt (OmRoom     *self,
                             const char *user_id,
                             const char *event_id,
                             gint64      ts);

/* A restored room reads its stored receipts when they are first needed. */
static void
ensure_receipts (OmRoom *self)
{
  g_autoptr(GPtrArray) receipts = NULL;
  g_autoptr(GError) error = NULL;

  if (!self->receipts_pending)
    return;
  self->receipts_pending = FALSE;
  receipts = om_store_load_receipts (self->store, self->room_id, &error);
  if (receipts == NULL)
    {
      g_warning ("Could not load the stored receipts of %s: %s", self->room_id, error->message);
      return;
    }
  for (guint i = 0; i < receipts->len; i++)
    {
      OmStoreReceipt *receipt = g_ptr_array_index (receipts, i);

      if (g_strcmp0 (receipt->receipt_type, "m.read") == 0 &&
          (receipt->thread_id == NULL || g_strcmp0 (receipt->thread_id, "main") == 0))
        set_receipt (self, receipt->user_id, receipt->event_id, receipt->ts);
    }
}

const char *
om_room_get_receipt_event_id (OmRoom     *self,
                              const char *user_id)
{
  Receipt *receipt;

  g_return_val_if_fail (OM_IS_ROOM (self), NULL);

  ensure_receipts (self);
  receipt = user_id != NULL ? g_hash_table_lookup (self->receipts, user_id) : NULL;
  return receipt != NULL ? receipt->event_id : NULL;
}

GStrv
om_room_dup_receipt_user_ids (OmRoom     *self,
                              const char *event_id)
{
  GPtrArray *ids = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (OM_IS_ROOM (self), NULL);

  ensure_receipts (self);
  g_hash_table_iter_init (&iter, self->receipts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Receipt *receipt = value;

      if (g_strcmp0 (receipt->event_id, event_id) == 0 &&
          g_strcmp0 (key, self->own_user_id) != 0)
        g_ptr_array_add (ids, g_strdup (key));
    }

  g_ptr_array_sort (ids, compare_strings);
  g_ptr_array_add (ids, NULL);
  return (GStrv) g_ptr_array_free (ids, FALSE);
}

/* Keeps the newest m.read of @user_id.  TRUE if it moved. */
static gboolean
set_receipt (OmRoom     *self,
             const char *user_id,
             const char *event_id,
             gint64      ts)
{
  Receipt *receipt;

  ensure_receipts (self);
  receipt = g_hash_table_lookup (self->receipts, user_id);

  if (receipt != NULL && (receipt->ts > ts || g_strcmp0 (receipt->event_id, event_id) == 0))
    return FALSE;

  receipt = g_new0 (Receipt, 1);
  receipt->event_id = g_strdup (event_id);
  receipt->ts = ts;
  g_hash_table_insert (self->receipts, g_strdup (user_id), receipt);
  return TRUE;
}

/* Derived om_room_properties. */

gboolean
om_room_set_string (OmRoom     *self,
            char      **field,
            const char *value,
            guint       prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;

  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), om_room_properties[prop]);
  return TRUE;
}


static gboolean apply_state_event (OmRoom    *self,
                                   OmEvent   *event,
                                   gboolean   persist,
                                   gboolean  *members_changed,
                                   GError   **error);

/* Loads the stored state of a restored room (state_pending). */
gboolean
om_room_load_state (OmRoom  *self,
            GError **error)
{
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) events = NULL;

  self->state_pending = FALSE;
  rows = om_store_load_state (self->store, self->room_id, error);
  if (rows == NULL)
    return FALSE;
  events = om_room_parse_stored_events (self, rows, TRUE);
  for (guint i = 0; i < events->len; i++)
    apply_state_event (self, g_ptr_array_index (events, i), FALSE, NULL, NULL);

  if (self->membership == OM_MEMBERSHIP_LEAVE &&
      om_room_state_get_membership (self->state, self->own_user_id) == OM_MEMBERSHIP_BAN)
    om_room_set_membership (self, OM_MEMBERSHIP_BAN);
  return TRUE;
}

static void
ensure_state (OmRoom *self)
{
  g_autoptr(GError) error = NULL;

  if (!self->state_pending)
    return;
  if (!om_room_load_state (self, &error))
    g_warning ("Could not load the stored state of %s: %s", self->room_id, error->message);
  om_room_refresh (self);
}

/* A restored room loads its stored timeline when something first needs
 * it (the room is opened, a sync brings events, a receipt is sent): a
 * start with 1,000 rooms reads 1,000 timestamps, not 100,000 events. */
static void
ensure_timeline (OmRoom *self)
{
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autoptr(GError) error = NULL;

  if (!self->timeline_pending)
    return;
  self->timeline_pending = FALSE;
  rows = om_store_timeline_load_latest (self->store, self->room_id, OM_ROOM_TIMELINE_CACHE, &error);
  if (rows == NULL)
    {
      g_warning ("Could not load the stored timeline of %s: %s", self->room_id, error->message);
      return;
    }
  events = om_room_parse_stored_events (self, rows, FALSE);
  om_timeline_prepend_remote (self->timeline, events);
}

static gint64
compute_last_activity (OmRoom *self)
{
  OmEvent *latest;
  OmEvent *event;

  if (self->timeline_pending && self->stored_latest_ts > 0)
    return self->stored_latest_ts;
  latest = om_timeline_get_latest_remote (self->timeline);
  if (latest != NULL)
    return om_event_get_origin_server_ts (latest);
  /* Restored from its summary: what was worked out before. */
  if (self->state_pending)
    return self->last_activity;

  event = om_room_get_state_event (self, "m.room.create", "");
  if (event != NULL && om_event_get_origin_server_ts (event) > 0)
    return om_event_get_origin_server_ts (event);

  /* An invite has only stripped state; our invite is usually dated. */
  event = om_room_state_get_member (self->state, self->own_user_id);
  return event != NULL ? om_event_get_origin_server_ts (event) : 0;
}

static void
on_timeline_items_changed (OmRoom *self)
{
  gint64 last_activity = compute_last_activity (self);

  SET_SCALAR (self, last_activity, last_activity, PROP_LAST_ACTIVITY);
}

void
om_room_refresh (OmRoom *self)
{
  g_autofree char *display_name = NULL;
  JsonObject *content;
  OmEvent *own;
  const char *s;
  gboolean b;
  guint n;

  g_object_freeze_notify (G_OBJECT (self));

  /* Restored from its summary, state not loaded: only what needs no state. */
  if (self->state_pending)
    {
      b = self->direct_override >= 0 ? self->direct_override != 0 : self->invite_direct;
      SET_SCALAR (self, is_direct, b, PROP_IS_DIRECT);
      on_timeline_items_changed (self);
      g_object_thaw_notify (G_OBJECT (self));
      return;
    }

  n = self->summary_joined >= 0 ? (guint) self->summary_joined
                                : om_room_state_count_members (self->state, OM_MEMBERSHIP_JOIN);
  SET_SCALAR (self, joined_count, n, PROP_JOINED_MEMBER_COUNT);
  n = self->summary_invited >= 0 ? (guint) self->summary_invited
                                 : om_room_state_count_members (self->state,
                                                                OM_MEMBERSHIP_INVITE);
  SET_SCALAR (self, invited_count, n, PROP_INVITED_MEMBER_COUNT);

  s = om_json_get_string (state_content (self, "m.room.topic"), "topic");
  om_room_set_string (self, &self->topic, s != NULL && *s != '\0' ? s : NULL, PROP_TOPIC);

  s = om_json_get_string (state_content (self, "m.room.canonical_alias"), "alias");
  om_room_set_string (self, &self->canonical_alias, s != NULL && *s != '\0' ? s : NULL,
              PROP_CANONICAL_ALIAS);

  s = om_json_get_string (state_content (self, "m.room.avatar"), "url");
  om_room_set_string (self, &self->avatar_url, s != NULL && *s != '\0' ? s : NULL, PROP_AVATAR_URL);

  content = state_content (self, "m.room.create");
  b = g_strcmp0 (om_json_get_string (content, "type"), "m.space") == 0;
  SET_SCALAR (self, is_space, b, PROP_IS_SPACE);

  b = om_room_get_state_event (self, "m.room.encryption", "") != NULL;
  SET_SCALAR (self, is_encrypted, b, PROP_IS_ENCRYPTED);

  b = self->direct_override >= 0 ? self->direct_override != 0 : self->invite_direct;
  SET_SCALAR (self, is_direct, b, PROP_IS_DIRECT);

  own = om_room_state_get_member (self->state, self->own_user_id);
  s = om_room_state_get_membership (self->state, self->own_user_id) == OM_MEMBERSHIP_INVITE
        ? om_event_get_sender (own) : NULL;
  om_room_set_string (self, &self->inviter, s, PROP_INVITER);

  display_name = om_room_state_compute_name (self->state, (const char * const *) self->heroes,
                                             self->joined_count, self->invited_count);
  om_room_set_string (self, &self->display_name, display_name, PROP_DISPLAY_NAME);

  on_timeline_items_changed (self);

  g_object_thaw_notify (G_OBJECT (self));
}

/* GObject. */

static void
om_room_dispose (GObject *object)
{
  OmRoom *self = OM_ROOM (object);

  if (self->timeline != NULL)
    g_signal_handlers_disconnect_by_data (self->timeline, self);
  g_clear_object (&self->timeline);
  g_clear_object (&self->store);
  g_clear_object (&self->http);
  g_clear_pointer (&self->state, om_room_state_free);
  g_clear_pointer (&self->receipts, g_hash_table_unref);
  g_clear_pointer (&self->account_data, g_hash_table_unref);

  G_OBJECT_CLASS (om_room_parent_class)->dispose (object);
}

static void
om_room_finalize (GObject *object)
{
  OmRoom *self = OM_ROOM (object);

  g_free (self->room_id);
  g_free (self->own_user_id);
  g_strfreev (self->heroes);
  g_free (self->fully_read);
  g_strfreev (self->typing);
  g_free (self->display_name);
  g_free (self->topic);
  g_free (self->canonical_alias);
  g_free (self->avatar_url);
  g_free (self->inviter);

  G_OBJECT_CLASS (om_room_parent_class)->finalize (object);
}

static void
om_room_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  OmRoom *self = OM_ROOM (object);

  switch (prop_id)
    {
    case PROP_ROOM_ID:
      g_value_set_string (value, self->room_id);
      break;
    case PROP_MEMBERSHIP:
      g_value_set_enum (value, self->membership);
      break;
    case PROP_DISPLAY_NAME:
      g_value_set_string (value, self->display_name);
      break;
    case PROP_TOPIC:
      g_value_set_string (value, self->topic);
      break;
    case PROP_CANONICAL_ALIAS:
      g_value_set_string (value, self->canonical_alias);
      break;
    case PROP_AVATAR_URL:
      g_value_set_string (value, self->avatar_url);
      break;
    case PROP_IS_DIRECT:
      g_value_set_boolean (value, self->is_direct);
      break;
    case PROP_IS_SPACE:
      g_value_set_boolean (value, self->is_space);
      break;
    case PROP_IS_ENCRYPTED:
      g_value_set_boolean (value, self->is_encrypted);
      break;
    case PROP_JOINED_MEMBER_COUNT:
      g_value_set_uint (value, self->joined_count);
      break;
    case PROP_INVITED_MEMBER_COUNT:
      g_value_set_uint (value, self->invited_count);
      break;
    case PROP_UNREAD_COUNT:
      g_value_set_uint (value, self->unread_count);
      break;
    case PROP_HIGHLIGHT_COUNT:
      g_value_set_uint (value, self->highlight_count);
      break;
    case PROP_LAST_ACTIVITY:
      g_value_set_int64 (value, self->last_activity);
      break;
    case PROP_TYPING_USER_IDS:
      g_value_set_boxed (value, self->typing);
      break;
    case PROP_INVITER:
      g_value_set_string (value, self->inviter);
      break;
    case PROP_FULLY_READ:
      g_value_set_string (value, self->fully_read);
      break;
    case PROP_TIMELINE:
      ensure_timeline (self);
      g_value_set_object (value, self->timeline);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

#define RO (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS)

static void
om_room_class_init (OmRoomClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = om_room_dispose;
  object_class->finalize = om_room_finalize;
  object_class->get_property = om_room_get_property;

  om_room_properties[PROP_ROOM_ID] = g_param_spec_string ("room-id", NULL, NULL, NULL, RO);
  om_room_properties[PROP_MEMBERSHIP] =
    g_param_spec_enum ("membership", NULL, NULL, OM_TYPE_MEMBERSHIP, OM_MEMBERSHIP_NONE, RO);
  om_room_properties[PROP_DISPLAY_NAME] = g_param_spec_string ("display-name", NULL, NULL, NULL, RO);
  om_room_properties[PROP_TOPIC] = g_param_spec_string ("topic", NULL, NULL, NULL, RO);
  om_room_properties[PROP_CANONICAL_ALIAS] = g_param_spec_string ("canonical-alias", NULL, NULL, NULL, RO);
  om_room_properties[PROP_AVATAR_URL] = g_param_spec_string ("avatar-url", NULL, NULL, NULL, RO);
  om_room_properties[PROP_IS_DIRECT] = g_param_spec_boolean ("is-direct", NULL, NULL, FALSE, RO);
  om_room_properties[PROP_IS_SPACE] = g_param_spec_boolean ("is-space", NULL, NULL, FALSE, RO);
  om_room_properties[PROP_IS_ENCRYPTED] = g_param_spec_boolean ("is-encrypted", NULL, NULL, FALSE, RO);
  om_room_properties[PROP_JOINED_MEMBER_COUNT] =
    g_param_spec_uint ("joined-member-count", NULL, NULL, 0, G_MAXUINT, 0, RO);
  om_room_properties[PROP_INVITED_MEMBER_COUNT] =
    g_param_spec_uint ("invited-member-count", NULL, NULL, 0, G_MAXUINT, 0, RO);
  om_room_properties[PROP_UNREAD_COUNT] =
    g_param_spec_uint ("unread-count", NULL, NULL, 0, G_MAXUINT, 0, RO);
  om_room_properties[PROP_HIGHLIGHT_COUNT] =
    g_param_spec_uint ("highlight-count", NULL, NULL, 0, G_MAXUINT, 0, RO);
  om_room_properties[PROP_LAST_ACTIVITY] =
    g_param_spec_int64 ("last-activity", NULL, NULL, G_MININT64, G_MAXINT64, 0, RO);
  om_room_properties[PROP_TYPING_USER_IDS] =
    g_param_spec_boxed ("typing-user-ids", NULL, NULL, G_TYPE_STRV, RO);
  om_room_properties[PROP_INVITER] = g_param_spec_string ("inviter", NULL, NULL, NULL, RO);
  om_room_properties[PROP_FULLY_READ] = g_param_spec_string ("fully-read", NULL, NULL, NULL, RO);
  om_room_properties[PROP_TIMELINE] = g_param_spec_object ("timeline", NULL, NULL, OM_TYPE_TIMELINE, RO);

  g_object_class_install_properties (object_class, N_PROPS, om_room_properties);

  signals[MEMBERS_CHANGED] =
    g_signal_new ("members-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[RECEIPTS_CHANGED] =
    g_signal_new ("receipts-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
om_room_init (OmRoom *self)
{
  self->receipts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) receipt_free);
  self->account_data = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify) json_object_unref);
  self->summary_joined = -1;
  self->summary_invited = -1;
  self->direct_override = -1;
  self->typing = g_new0 (char *, 1);
}

OmRoom *
om_room_new (OmSession  *session,
             const char *room_id,
             const char *own_user_id,
             OmStore    *store,
             OmHttp     *http)
{
  OmRoom *self;

  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (own_user_id != NULL, NULL);
  g_return_val_if_fail (store == NULL || OM_IS_STORE (store), NULL);
  g_return_val_if_fail (http == NULL || OM_IS_HTTP (http), NULL);

  self = g_object_new (OM_TYPE_ROOM, NULL);
  self->session = session;
  self->room_id = g_strdup (room_id);
  self->own_user_id = g_strdup (own_user_id);
  self->state = om_room_state_new (own_user_id);
  self->store = store != NULL ? g_object_ref (store) : NULL;
  self->http = http != NULL ? g_object_ref (http) : NULL;
  self->timeline = om_timeline_new (self);
  g_signal_connect_swapped (self->timeline, "items-changed",
                            G_CALLBACK (on_timeline_items_changed), self);
  om_room_refresh (self);

  return self;
}

/* Accessors. */

const char *
om_room_get_room_id (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->room_id;
}

OmMembership
om_room_get_membership (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), OM_MEMBERSHIP_NONE);
  return self->membership;
}

const char *
om_room_get_display_name (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->display_name;
}

const char *
om_room_get_topic (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->topic;
}

const char *
om_room_get_canonical_alias (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->canonical_alias;
}

const char *
om_room_get_avatar_url (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->avatar_url;
}

gboolean
om_room_get_is_direct (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), FALSE);
  return self->is_direct;
}

gboolean
om_room_get_is_space (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), FALSE);
  return self->is_space;
}

gboolean
om_room_get_is_encrypted (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), FALSE);
  return self->is_encrypted;
}

guint
om_room_get_joined_member_count (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), 0);
  return self->joined_count;
}

guint
om_room_get_invited_member_count (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), 0);
  return self->invited_count;
}

guint
om_room_get_unread_count (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), 0);
  return self->unread_count;
}

guint
om_room_get_highlight_count (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), 0);
  return self->highlight_count;
}

gint64
om_room_get_last_activity (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), 0);
  return self->last_activity;
}

const char * const *
om_room_get_typing_user_ids (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return (const char * const *) self->typing;
}

const char *
om_room_get_inviter (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->inviter;
}

const char *
om_room_get_fully_read (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->fully_read;
}

const char *
om_room_get_own_user_id (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->own_user_id;
}

OmTimeline *
om_room_get_timeline (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  ensure_timeline (self);
  return self->timeline;
}

OmSession *
om_room_get_session (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->session;
}

OmStore *
om_room_get_store (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->store;
}

OmHttp *
om_room_get_http (OmRoom *self)
{
  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  return self->http;
}

/* Applying /sync. */

/* Keeps the first store error; later ones are dropped. */
static void
keep_error (GError **first,
            GError  *error)
{
  if (*first == NULL)
    *first = error;
  else
    g_error_free (error);
}

/* Parses an events array; malformed elements are skipped with a warning. */
static GPtrArray *
parse_events (OmRoom     *self,
              JsonArray  *array,
              gboolean    allow_partial,
              const char *what)
{
  GPtrArray *events = g_ptr_array_new_with_free_func (g_object_unref);
  guint n = array != NULL ? json_array_get_length (array) : 0;

  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      g_autoptr(GError) error = NULL;
      OmEvent *event = NULL;

      if (JSON_NODE_HOLDS_OBJECT (node))
        event = om_event_new_from_json (json_node_get_object (node), allow_partial, &error);
      if (event == NULL)
        {
          g_warning ("Room %s: %s event %u skipped: %s", self->room_id, what, i,
                     error != NULL ? error->message : "not an object");
          continue;
        }
      g_ptr_array_add (events, event);
    }

  return events;
}

static JsonArray *
get_events (JsonObject *room_json,
            const char *section)
{
  return om_json_get_array (om_json_get_object (room_json, section), "events");
}

static void
apply_state_events (OmRoom    *self,
                    GPtrArray *events,
                    gboolean  *members_changed,
                    GError   **store_error)
{
  for (guint i = 0; i < events->len; i++)
    {
      OmEvent *event = g_ptr_array_index (events, i);
      GError *error = NULL;

      if (om_event_is_state (event) &&
          !apply_state_event (self, event, TRUE, members_changed, &error))
        keep_error (store_error, error);
    }
}

void
om_room_apply_summary (OmRoom     *self,
               JsonObject *summary)
{
  JsonArray *heroes = om_json_get_array (summary, "m.heroes");
  gint64 n;

  if (heroes != NULL)
    {
      GPtrArray *ids = g_ptr_array_new ();

      for (guint i = 0; i < json_array_get_length (heroes); i++)
        {
          JsonNode *node = json_array_get_element (heroes, i);

          if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
            g_ptr_array_add (ids, g_strdup (json_node_get_string (node)));
        }
      g_ptr_array_add (ids, NULL);
      g_strfreev (self->heroes);
      self->heroes = (GStrv) g_ptr_array_free (ids, FALSE);
    }
  if (om_json_get_int (summary, "m.joined_member_count", &n) && n >= 0)
    self->summary_joined = n;
  if (om_json_get_int (summary, "m.invited_member_count", &n) && n >= 0)
    self->summary_invited = n;
}

void
om_room_apply_unread (OmRoom     *self,
              JsonObject *unread)
{
  gint64 n;

  if (om_json_get_int (unread, "notification_count", &n) && n >= 0)
    SET_SCALAR (self, unread_count, (guint) MIN (n, G_MAXUINT), PROP_UNREAD_COUNT);
  if (om_json_get_int (unread, "highlight_count", &n) && n >= 0)
    SET_SCALAR (self, highlight_count, (guint) MIN (n, G_MAXUINT), PROP_HIGHLIGHT_COUNT);
}

static void
apply_account_data (OmRoom    *self,
                    JsonArray *events)
{
  guint n = events != NULL ? json_array_get_length (events) : 0;

  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (events, i);
      JsonObject *object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *type = om_json_get_string (object, "type");
      JsonObject *content = om_json_get_object (object, "content");

      if (type == NULL || content == NULL)
        {
          g_warning ("Room %s: account data event %u skipped", self->room_id, i);
          continue;
        }

      if (g_strcmp0 (type, "m.fully_read") == 0)
        {
          const char *event_id = om_json_get_string (content, "event_id");

          if (event_id != NULL)
            om_room_set_string (self, &self->fully_read, event_id, PROP_FULLY_READ);
        }
      else
        {
          g_hash_table_insert (self->account_data, g_strdup (type), json_object_ref (content));
        }
    }
}

static void
apply_typing (OmRoom     *self,
              JsonObject *content)
{
  JsonArray *user_ids = om_json_get_array (content, "user_ids");
  GPtrArray *ids;
  GStrv typing;

  if (user_ids == NULL)
    {
      g_warning ("Room %s: m.typing without user_ids skipped", self->room_id);
      return;
    }

  ids = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (user_ids); i++)
    {
      JsonNode *node = json_array_get_element (user_ids, i);
      const char *id;

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        continue;
      id = json_node_get_string (node);
      if (g_strcmp0 (id, self->own_user_id) != 0)
        g_ptr_array_add (ids, g_strdup (id));
    }
  g_ptr_array_add (ids, NULL);
  typing = (GStrv) g_ptr_array_free (ids, FALSE);

  if (g_strv_equal ((const char * const *) typing, (const char * const *) self->typing))
    {
      g_strfreev (typing);
      return;
    }

  g_strfreev (self->typing);
  self->typing = typing;
  g_object_notify_by_pspec (G_OBJECT (self), om_room_properties[PROP_TYPING_USER_IDS]);
}

/* m.receipt content: { event_id: { receipt_type: { user_id: { ts, thread_id } } } }. */
static void
apply_receipts (OmRoom     *self,
                JsonObject *content,
                gboolean   *changed,
                GError    **store_error)
{
  JsonObjectIter events_iter;
  const char *event_id;
  JsonNode *by_type_node;

  json_object_iter_init (&events_iter, content);
  while (json_object_iter_next (&events_iter, &event_id, &by_type_node))
    {
      JsonObjectIter types_iter;
      const char *receipt_type;
      JsonNode *users_node;

      if (!JSON_NODE_HOLDS_OBJECT (by_type_node))
        continue;

      json_object_iter_init (&types_iter, json_node_get_object (by_type_node));
      while (json_object_iter_next (&types_iter, &receipt_type, &users_node))
        {
          JsonObjectIter users_iter;
          const char *user_id;
          JsonNode *receipt_node;

          if (!JSON_NODE_HOLDS_OBJECT (users_node) ||
              (g_strcmp0 (receipt_type, "m.read") != 0 &&
               g_strcmp0 (receipt_type, "m.read.private") != 0))
            continue;

          json_object_iter_init (&users_iter, json_node_get_object (users_node));
          while (json_object_iter_next (&users_iter, &user_id, &receipt_node))
            {
              JsonObject *receipt = JSON_NODE_HOLDS_OBJECT (receipt_node)
                                      ? json_node_get_object (receipt_node) : NULL;
              const char *thread_id = om_json_get_string (receipt, "thread_id");
              gint64 ts = 0;
              GError *error = NULL;

              if (receipt == NULL)
                continue;
              om_json_get_int (receipt, "ts", &ts);

              /* "Seen by" is room-wide: thread receipts do not move it. */
              if (g_strcmp0 (receipt_type, "m.read") == 0 &&
                  (thread_id == NULL || g_strcmp0 (thread_id, "main") == 0) &&
                  set_receipt (self, user_id, event_id, ts))
                *changed = TRUE;

              if (self->store != NULL &&
                  !om_store_set_receipt (self->store, self->room_id, receipt_type, user_id,
                                         event_id, ts, thread_id, &error))
                keep_error (store_error, error);
            }
        }
    }
}

static void
apply_ephemeral (OmRoom    *self,
                 JsonArray *events,
                 gboolean  *receipts_changed,
                 GError   **store_error)
{
  guint n = events != NULL ? json_array_get_length (events) : 0;

  for (guint i = 0; i < n; i++)
    {
      JsonNode *node = json_array_get_element (events, i);
      JsonObject *object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      const char *type = om_json_get_string (object, "type");
      JsonObject *content = om_json_get_object (object, "content");

      if (type == NULL || content == NULL)
        {
          g_warning ("Room %s: ephemeral event %u skipped", self->room_id, i);
          continue;
        }

      if (g_strcmp0 (type, "m.typing") == 0)
        apply_typing (self, content);
      else if (g_strcmp0 (type, "m.receipt") == 0)
        apply_receipts (self, content, receipts_changed, store_error);
    }
}

static void
apply_timeline (OmRoom     *self,
                JsonObject *timeline,
                gboolean   *members_changed,
                GError    **store_error)
{
  g_autoptr(GPtrArray) events = NULL;
  const char *prev_batch = om_json_get_string (timeline, "prev_batch");
  JsonNode *limited_node = json_object_get_member (timeline, "limited");
  gboolean limited;

  limited = limited_node != NULL && JSON_NODE_HOLDS_VALUE (limited_node) &&
            json_node_get_value_type (limited_node) == G_TYPE_BOOLEAN &&
            json_node_get_boolean (limited_node);

  events = parse_events (self, om_json_get_array (timeline, "events"), FALSE, "timeline");

  /* State events in the timeline move current state, in order. */
  apply_state_events (self, events, members_changed, store_error);

  /* Stored events first, then the new ones after them; a gap (limited)
   * drops the stored ones anyway. */
  if (limited)
    self->timeline_pending = FALSE;
  else
    ensure_timeline (self);

  if (limited)
    {
      GError *error = NULL;

      if (self->store != NULL && !om_store_timeline_clear (self->store, self->room_id, &error))
        keep_error (store_error, error);
      om_timeline_reset (self->timeline, prev_batch);
    }
  else if (om_timeline_get_latest_remote (self->timeline) == NULL && prev_batch != NULL)
    {
      om_timeline_set_prev_batch (self->timeline, prev_batch);
    }

  if (self->store != NULL)
    {
      for (guint i = 0; i < events->len; i++)
        {
          OmEvent *event = g_ptr_array_index (events, i);
          g_autofree char *json = om_event_to_string (event);
          GError *error = NULL;

          if (!om_store_timeline_append (self->store, self->room_id,
                                         om_event_get_event_id (event), json, &error))
            keep_error (store_error, error);
        }
    }

  om_timeline_append_remote (self->timeline, events);
}

void
om_room_set_membership (OmRoom       *self,
                OmMembership  membership)
{
  if (self->membership == membership)
    return;

  /* A new invite starts over: an old summary describes another time. */
  if (membership == OM_MEMBERSHIP_INVITE)
    {
      g_clear_pointer (&self->heroes, g_strfreev);
      self->summary_joined = -1;
      self->summary_invited = -1;
    }

  self->membership = membership;
  g_object_notify_by_pspec (G_OBJECT (self), om_room_properties[PROP_MEMBERSHIP]);
}

gboolean
om_room_apply_sync (OmRoom        *self,
                    OmMembership   membership,
                    JsonObject    *room_json,
                    GError       **error)
{
  g_autoptr(GError) store_error = NULL;
  GError *save_error = NULL;
  gboolean members_changed = FALSE;
  gboolean receipts_changed = FALSE;
  JsonObject *timeline;

  g_return_val_if_fail (OM_IS_ROOM (self), FALSE);
  g_return_val_if_fail (room_json != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* New state goes on top of the stored state, so that has to be in. */
  ensure_state (self);
  g_object_freeze_notify (G_OBJECT (self));

  if (membership == OM_MEMBERSHIP_INVITE)
    {
      g_autoptr(GPtrArray) events = NULL;

      events = parse_events (self, get_events (room_json, "invite_state"), TRUE, "invite state");
      apply_state_events (self, events, &members_changed, &store_error);
    }
  else
    {
      g_autoptr(GPtrArray) state = NULL;

      om_room_apply_summary (self, om_json_get_object (room_json, "summary"));

      state = parse_events (self, get_events (room_json, "state"), FALSE, "state");
      apply_state_events (self, state, &members_changed, &store_error);

      timeline = om_json_get_object (room_json, "timeline");
      if (timeline != NULL)
        apply_timeline (self, timeline, &members_changed, &store_error);

      apply_ephemeral (self, get_events (room_json, "ephemeral"), &receipts_changed,
                       &store_error);
      apply_account_data (self, get_events (room_json, "account_data"));
      om_room_apply_unread (self, om_json_get_object (room_json, "unread_notifications"));
    }

  /* rooms.leave also holds rooms we were banned from. */
  if (membership == OM_MEMBERSHIP_LEAVE &&
      om_room_get_member_membership (self, self->own_user_id) == OM_MEMBERSHIP_BAN)
    membership = OM_MEMBERSHIP_BAN;
  om_room_set_membership (self, membership);

  if (membership != OM_MEMBERSHIP_JOIN && self->typing[0] != NULL)
    {
      g_strfreev (self->typing);
      self->typing = g_new0 (char *, 1);
      g_object_notify_by_pspec (G_OBJECT (self), om_room_properties[PROP_TYPING_USER_IDS]);
    }

  om_room_refresh (self);
  if (!om_room_save_record (self, &save_error))
    keep_error (&store_error, save_error);

  g_object_thaw_notify (G_OBJECT (self));

  if (members_changed)
    g_signal_emit (self, signals[MEMBERS_CHANGED], 0);
  if (receipts_changed)
    g_signal_emit (self, signals[RECEIPTS_CHANGED], 0);

  if (store_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&store_error));
      return FALSE;
    }

  return TRUE;
}

void
om_room_set_fully_read_local (OmRoom     *self,
                              const char *event_id)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (OM_IS_ROOM (self));

  if (!om_room_set_string (self, &self->fully_read, event_id, PROP_FULLY_READ))
    return;
  if (!om_room_save_record (self, &error))
    g_warning ("Room %s: could not store the read marker: %s", self->room_id, error->message);
}

void
om_room_set_is_direct (OmRoom   *self,
                       gboolean  is_direct)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (OM_IS_ROOM (self));

  if (self->direct_override == (is_direct ? 1 : 0))
    return;

  self->direct_override = is_direct ? 1 : 0;
  om_room_refresh (self);
  if (!om_room_save_record (self, &error))
    g_warning ("Room %s: could not store the room: %s", self->room_id, error->message);
}

void
om_room_add_lazy_members (OmRoom    *self,
                          GPtrArray *member_events)
{
  gboolean changed = FALSE;

  g_return_if_fail (OM_IS_ROOM (self));
  g_return_if_fail (member_events != NULL);

  ensure_state (self);
  for (guint i = 0; i < member_events->len; i++)
    {
      OmEvent *event = g_ptr_array_index (member_events, i);
      g_autoptr(GError) error = NULL;

      if (g_strcmp0 (om_event_get_event_type (event), "m.room.member") != 0 ||
          om_room_state_get_member (self->state, om_event_get_state_key (event)) != NULL)
        continue;
      if (!apply_state_event (self, event, TRUE, &changed, &error))
        g_warning ("Room %s: could not store a member: %s", self->room_id, error->message);
    }

  if (changed)
    {
      om_room_refresh (self);
      g_signal_emit (self, signals[MEMBERS_CHANGED], 0);
    }
}

