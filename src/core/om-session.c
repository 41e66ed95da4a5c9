/* om-session.c — one signed-in account
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-session"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <glib/gstdio.h>

#include "om-auth.h"
#include "om-credentials.h"
#include "om-error.h"
#include "om-http.h"
#include "om-oauth.h"
#include "om-outbox.h"
#include "om-presence.h"
#include "om-receipts.h"
#include "om-room-private.h"
#include "om-session-private.h"
#include "om-sso.h"
#include "om-store.h"
#include "om-sync.h"
#include "om-token-keeper.h"
#include "om-typing.h"

#define DEVICE_DISPLAY_NAME "OpenMeet Chat"


enum {
  PROP_0,
  PROP_STATE,
  PROP_USER_ID,
  PROP_DEVICE_ID,
  PROP_HOMESERVER,
  PROP_SYNC_ERROR,
  PROP_ROOM_LIST,
  N_PROPS
};

enum {
  SYNCED,
  SIGNED_OUT,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (OmSession, om_session, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (OmSessionState, om_session_state,
  G_DEFINE_ENUM_VALUE (OM_SESSION_STATE_SIGNED_OUT, "signed-out"),
  G_DEFINE_ENUM_VALUE (OM_SESSION_STATE_READY, "ready"),
  G_DEFINE_ENUM_VALUE (OM_SESSION_STATE_CONNECTING, "connecting"),
  G_DEFINE_ENUM_VALUE (OM_SESSION_STATE_ONLINE, "online"),
  G_DEFINE_ENUM_VALUE (OM_SESSION_STATE_OFFLINE, "offline"))

static void
set_state (OmSession      *self,
           OmSessionState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
teardown (OmSession *self)
{
  if (self->keeper != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->keeper, self);
      om_token_keeper_stop (self->keeper);
    }
  g_clear_object (&self->keeper);
  if (self->sync != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->sync, self);
      om_sync_stop (self->sync);
    }
  if (self->outbox != NULL)
    om_outbox_stop (self->outbox);
  self->started = FALSE;

  g_clear_object (&self->sync);
  g_clear_object (&self->outbox);
  g_clear_object (&self->typing);
  g_clear_object (&self->receipts);
  if (self->presence != NULL)
    g_signal_handlers_disconnect_by_data (self->presence, self);
  g_clear_object (&self->presence);
  /* Rooms hold the store and the HTTP client: drop them before those. */
  g_clear_object (&self->room_list);
  g_clear_object (&self->store);
  g_clear_object (&self->http);
}

static void
om_session_dispose (GObject *object)
{
  OmSession *self = OM_SESSION (object);

  teardown (self);

  G_OBJECT_CLASS (om_session_parent_class)->dispose (object);
}

static void
om_session_finalize (GObject *object)
{
  OmSession *self = OM_SESSION (object);

  g_free (self->data_dir);
  g_free (self->user_id);
  g_free (self->device_id);
  g_free (self->homeserver);
  g_clear_pointer (&self->direct, json_object_unref);
  g_clear_object (&self->credentials);
  if (self->store_key != NULL)
    explicit_bzero (self->store_key, strlen (self->store_key));
  g_free (self->store_key);
  g_free (self->account_management_uri);

  G_OBJECT_CLASS (om_session_parent_class)->finalize (object);
}

static void
om_session_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  OmSession *self = OM_SESSION (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_USER_ID:
      g_value_set_string (value, self->user_id);
      break;
    case PROP_DEVICE_ID:
      g_value_set_string (value, self->device_id);
      break;
    case PROP_HOMESERVER:
      g_value_set_string (value, self->homeserver);
      break;
    case PROP_SYNC_ERROR:
      g_value_set_string (value, om_session_get_sync_error (self));
      break;
    case PROP_ROOM_LIST:
      g_value_set_object (value, om_session_get_room_list (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
om_session_class_init (OmSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = om_session_dispose;
  object_class->finalize = om_session_finalize;
  object_class->get_property = om_session_get_property;

  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, OM_TYPE_SESSION_STATE, OM_SESSION_STATE_SIGNED_OUT,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_USER_ID] =
    g_param_spec_string ("user-id", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DEVICE_ID] =
    g_param_spec_string ("device-id", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_HOMESERVER] =
    g_param_spec_string ("homeserver", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SYNC_ERROR] =
    g_param_spec_string ("sync-error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ROOM_LIST] =
    g_param_spec_object ("room-list", NULL, NULL, OM_TYPE_ROOM_LIST,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SYNCED] =
    g_signal_new ("synced", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
  signals[SIGNED_OUT] =
    g_signal_new ("signed-out", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
om_session_init (OmSession *self)
{
  self->state = OM_SESSION_STATE_SIGNED_OUT;
}

OmSession *
om_session_new (const char *data_dir)
{
  OmSession *self = g_object_new (OM_TYPE_SESSION, NULL);

  self->data_dir = data_dir ? g_strdup (data_dir)
                            : g_build_filename (g_get_user_data_dir (), "openmeet-chat", NULL);
  return self;
}

/* Getters */

OmSessionState
om_session_get_state (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), OM_SESSION_STATE_SIGNED_OUT);
  return self->state;
}

const char *
om_session_get_user_id (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->user_id;
}

const char *
om_session_get_device_id (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->device_id;
}

const char *
om_session_get_homeserver (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->homeserver;
}

const char *
om_session_get_sync_error (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->sync ? om_sync_get_error (self->sync) : NULL;
}

const char *
om_session_get_data_dir (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->data_dir;
}

OmRoomList *
om_session_get_room_list (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);

  if (self->room_list == NULL)
    self->room_list = om_room_list_new ();
  return self->room_list;
}

OmRoom *
om_session_lookup_room (OmSession  *self,
                        const char *room_id_or_alias)
{
  OmRoomList *list;

  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  g_return_val_if_fail (room_id_or_alias != NULL, NULL);

  list = om_session_get_room_list (self);
  if (room_id_or_alias[0] == '#')
    return om_room_list_lookup_alias (list, room_id_or_alias);
  return om_room_list_lookup (list, room_id_or_alias);
}

OmHttp *
om_session_get_http (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->http;
}

OmStore *
om_session_get_store (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->store;
}

OmSync *
om_session_get_sync (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->sync;
}

OmOutbox *
om_session_get_outbox (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->outbox;
}

OmTyping *
om_session_get_typing (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->typing;
}

OmReceipts *
om_session_get_receipts (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->receipts;
}

OmPresence *
om_session_get_presence (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->presence;
}

/* Private API for the session's parts */

OmRoom *
om_session_create_room_object (OmSession  *self,
                               const char *room_id)
{
  return om_room_new (self, room_id, self->user_id, self->store, self->http);
}

void
om_session_sync_state_changed (OmSession *self)
{
  if (self->sync == NULL || !self->started)
    return;

  if (om_sync_get_failures (self->sync) > 0)
    set_state (self, OM_SESSION_STATE_OFFLINE);
  else if (om_sync_get_since (self->sync) != NULL && self->state != OM_SESSION_STATE_CONNECTING)
    set_state (self, OM_SESSION_STATE_ONLINE);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SYNC_ERROR]);
}

const char *
om_session_get_sync_set_presence (OmSession *self)
{
  if (self->presence == NULL)
    return NULL;

  switch (om_presence_get_state (self->presence))
    {
    case OM_PRESENCE_OFFLINE:
      return "offline";
    case OM_PRESENCE_UNAVAILABLE:
      return "unavailable";
    case OM_PRESENCE_ONLINE:
    case OM_PRESENCE_UNKNOWN:
    default:
      return NULL;
    }
}

void
om_session_network_ok (OmSession *self)
{
  if (self->sync != NULL)
    om_sync_nudge (self->sync);
}

/* Signing in */

static void
sync_synced_cb (OmSync    *sync,
                gboolean   initial,
                OmSession *self)
{
  gboolean was_offline = self->state == OM_SESSION_STATE_OFFLINE;

  set_state (self, OM_SESSION_STATE_ONLINE);
  if (self->outbox != NULL)
    {
      om_outbox_forget_delivered (self->outbox);
      if (was_offline)
        om_outbox_nudge (self->outbox);
    }
  g_signal_emit (self, signals[SYNCED], 0, initial);
}

static void forget_sign_in (OmSession *self,
                            GTask     *task);
static void signed_out_by_server (OmSession    *self,
                                  const GError *error);
static void discard_account_data (OmSession *self);
static void keep_store_key_only (OmSession *self);
static gboolean discard_account_data_idle (gpointer user_data);

static void
sync_token_rejected_cb (OmSync       *sync,
                        const GError *error,
                        OmSession    *self)
{
  signed_out_by_server (self, error);
}

/* The token was refused (and could not be refreshed).  A soft logout keeps
 * the store and the device for the next sign-in; a hard one ends the
 * device, so its data goes too. */
static void
signed_out_by_server (OmSession    *self,
                      const GError *error)
{
  g_autoptr(GError) copy = g_error_copy (error);

  if (self->state == OM_SESSION_STATE_SIGNED_OUT)
    return;
  g_warning ("The server ended this session: %s", error->message);
  if (self->keeper != NULL)
    om_token_keeper_stop (self->keeper);
  if (self->outbox != NULL)
    om_outbox_stop (self->outbox);
  self->started = FALSE;
  /* The saved token is dead: the next start must ask to sign in again
   * instead of failing the same way.  After a soft logout the store (and
   * with it the device) stays for that next sign-in. */
  if (om_error_is_soft_logout (copy) && self->store_secrets && self->store_key != NULL)
    keep_store_key_only (self);
  else
    forget_sign_in (self, g_task_new (self, NULL, NULL, NULL));
  /* Not from inside the sync's own signal: the sync goes with the data. */
  if (!om_error_is_soft_logout (copy))
    g_idle_add_full (G_PRIORITY_DEFAULT, discard_account_data_idle, g_object_ref (self), g_object_unref);
  set_state (self, OM_SESSION_STATE_SIGNED_OUT);
  g_signal_emit (self, signals[SIGNED_OUT], 0, copy);
}

/* A sync that left before our presence changed would tell the server the
 * old state: replace it with one that carries the new set_presence. */
static void
presence_state_cb (OmPresence *presence,
                   GParamSpec *pspec,
                   OmSession  *self)
{
  if (self->sync != NULL && self->started)
    om_sync_restart (self->sync);
}

static char *
account_dir (OmSession  *self,
             const char *user_id)
{
  g_autofree char *escaped = g_uri_escape_string (user_id, NULL, FALSE);

  return g_build_filename (self->data_dir, escaped, NULL);
}

char *
om_session_dup_stored_device_id (OmSession  *self,
                                 const char *user_id)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(OmStore) store = NULL;

  if (user_id == NULL)
    return NULL;
  if (self->store != NULL && g_strcmp0 (self->user_id, user_id) == 0)
    return om_store_dup_value (self->store, "device_id");
  dir = account_dir (self, user_id);
  path = g_build_filename (dir, "store.db", NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  store = om_store_open (path, NULL);
  return store != NULL ? om_store_dup_value (store, "device_id") : NULL;
}

/* After a hard logout: the device is gone, and with it what was kept for
 * it (rooms, timelines, unsent messages, later the crypto store). */
static void
discard_account_data (OmSession *self)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  if (self->user_id == NULL)
    return;
  dir = account_dir (self, self->user_id);
  path = g_build_filename (dir, "store.db", NULL);
  teardown (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ROOM_LIST]);
  for (const char *suffix = ""; suffix != NULL;
       suffix = g_str_equal (suffix, "") ? "-wal" : g_str_equal (suffix, "-wal") ? "-shm" : NULL)
    {
      g_autofree char *file = g_strconcat (path, suffix, NULL);

      if (g_unlink (file) != 0 && errno != ENOENT)
        g_warning ("Could not remove %s: %s", file, g_strerror (errno));
    }
  if (self->store_key != NULL)
    explicit_bzero (self->store_key, strlen (self->store_key));
  g_clear_pointer (&self->store_key, g_free);
}

static gboolean
discard_account_data_idle (gpointer user_data)
{
  OmSession *self = user_data;

  if (self->state == OM_SESSION_STATE_SIGNED_OUT)
    discard_account_data (self);
  return G_SOURCE_REMOVE;
}

static OmStore *
open_account_store (OmSession   *self,
                    const char  *user_id,
                    GError     **error)
{
  g_autofree char *dir = account_dir (self, user_id);
  g_autofree char *path = g_build_filename (dir, "store.db", NULL);

  return om_store_open (path, error);
}

/* Wires everything up around an open store and an authenticated client. */
static gboolean
setup_account (OmSession   *self,
               OmStore     *store,
               OmHttp      *http,
               const char  *homeserver,
               const char  *user_id,
               const char  *device_id,
               GError     **error)
{
  g_autoptr(GPtrArray) rooms = NULL;
  g_autofree char *stored_user = om_store_dup_value (store, "user_id");

  if (stored_user != NULL && g_strcmp0 (stored_user, user_id) != 0)
    {
      g_set_error (error, OM_ERROR, OM_ERROR_STORE,
                   "The store at %s belongs to %s, not %s",
                   om_store_get_path (store), stored_user, user_id);
      return FALSE;
    }

  if (!om_store_begin (store, error) ||
      !om_store_set_value (store, "user_id", user_id, error) ||
      !om_store_set_value (store, "device_id", device_id, error) ||
      !om_store_set_value (store, "homeserver", homeserver, error) ||
      !om_store_commit (store, error))
    {
      om_store_rollback (store);
      return FALSE;
    }

  teardown (self);

  g_free (self->user_id);
  self->user_id = g_strdup (user_id);
  g_free (self->device_id);
  self->device_id = g_strdup (device_id);
  g_free (self->homeserver);
  self->homeserver = g_strdup (homeserver);
  self->store = g_object_ref (store);
  self->http = g_object_ref (http);

  self->sync = om_sync_new (self);
  g_signal_connect (self->sync, "synced", G_CALLBACK (sync_synced_cb), self);
  g_signal_connect (self->sync, "token-rejected", G_CALLBACK (sync_token_rejected_cb), self);
  self->outbox = om_outbox_new (self);
  self->typing = om_typing_new (self);
  self->receipts = om_receipts_new (self);
  self->presence = om_presence_new (self);
  g_signal_connect (self->presence, "notify::state", G_CALLBACK (presence_state_cb), self);
  om_presence_load (self->presence);

  rooms = om_store_load_rooms (store, error);
  if (rooms == NULL)
    return FALSE;
  for (guint i = 0; i < rooms->len; i++)
    {
      g_autoptr(GError) room_error = NULL;
      g_autoptr(OmRoom) room = om_room_new_from_store (self, g_ptr_array_index (rooms, i),
                                                       self->user_id, self->store, self->http,
                                                       &room_error);

      if (room == NULL)
        {
          g_warning ("Could not restore a room: %s", room_error->message);
          continue;
        }
      om_room_list_add (om_session_get_room_list (self), room);
    }

  if (!om_outbox_load (self->outbox, error))
    return FALSE;

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_USER_ID]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEVICE_ID]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HOMESERVER]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ROOM_LIST]);
  set_state (self, OM_SESSION_STATE_READY);
  return TRUE;
}

gboolean
om_session_restore (OmSession   *self,
                    const char  *homeserver,
                    const char  *user_id,
                    const char  *device_id,
                    const char  *access_token,
                    GError     **error)
{
  g_autoptr(OmStore) store = NULL;
  g_autoptr(OmHttp) http = NULL;

  g_return_val_if_fail (OM_IS_SESSION (self), FALSE);
  g_return_val_if_fail (homeserver != NULL, FALSE);
  g_return_val_if_fail (user_id != NULL, FALSE);
  g_return_val_if_fail (device_id != NULL, FALSE);
  g_return_val_if_fail (access_token != NULL, FALSE);

  store = open_account_store (self, user_id, error);
  if (store == NULL)
    return FALSE;

  http = om_http_new (homeserver);
  om_http_set_access_token (http, access_token);

  return setup_account (self, store, http, homeserver, user_id, device_id, error);
}

char *
om_session_dup_access_token (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->http ? om_http_dup_access_token (self->http) : NULL;
}

/* Saved sign-in: the account's tokens kept between runs (om-credentials) */

void
om_session_set_store_secrets (OmSession *self,
                              gboolean   store_secrets)
{
  g_return_if_fail (OM_IS_SESSION (self));

  store_secrets = !!store_secrets;
  if (self->store_secrets == store_secrets)
    return;
  self->store_secrets = store_secrets;
  g_clear_object (&self->credentials);
}

static OmCredentialStore *
get_credential_store (OmSession *self)
{
  if (self->credentials == NULL)
    self->credentials = om_credential_store_new (self->data_dir,
                                                 self->store_secrets ? OM_CREDENTIALS_MODE_KEEP
                                                                     : OM_CREDENTIALS_MODE_NO_STORE);
  return self->credentials;
}

static void
save_sign_in_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  /* Signed in all the same: only the next run will ask again. */
  if (!om_credential_store_save_finish (OM_CREDENTIAL_STORE (source), result, &error))
    g_warning ("Could not keep the sign-in for next time: %s", error->message);
  g_task_return_boolean (task, TRUE);
}

/* Finishes the sign-in @task (owned) once @credentials are kept (or not). */
static void
save_sign_in (OmSession           *self,
              const OmCredentials *credentials,
              GTask               *task)
{
  if (!self->store_secrets)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  om_credential_store_save_async (get_credential_store (self), credentials,
                                  NULL, save_sign_in_cb, task);
}

/* A new store key: base64 of 32 random bytes (owned, secret). */
static char *
new_store_key (void)
{
  guint8 bytes[32];
  char *key;

  /* getrandom: the kernel's CSPRNG; 32 bytes never come back short. */
  if (getrandom (bytes, sizeof bytes, 0) != (gssize) sizeof bytes)
    g_error ("No random bytes for the store key: %s", g_strerror (errno));
  key = g_base64_encode (bytes, sizeof bytes);
  explicit_bzero (bytes, sizeof bytes);
  return key;
}

static void
keeper_rejected_cb (OmTokenKeeper *keeper,
                    const GError  *error,
                    OmSession     *self)
{
  signed_out_by_server (self, error);
}

/* Keeps the token of @credentials fresh when it can be refreshed. */
static void
start_keeper (OmSession           *self,
              const OmCredentials *credentials)
{
  g_autofree char *dir = NULL;
  g_autofree char *lock_path = NULL;

  if (self->keeper != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->keeper, self);
      om_token_keeper_stop (self->keeper);
      g_clear_object (&self->keeper);
    }
  g_clear_pointer (&self->account_management_uri, g_free);
  self->account_management_uri = g_strdup (credentials->account_management_uri);
  if (credentials->refresh_token == NULL)
    return;

  dir = account_dir (self, credentials->user_id);
  lock_path = g_build_filename (dir, "tokens.lock", NULL);
  self->keeper = om_token_keeper_new (self->http,
                                      self->store_secrets ? get_credential_store (self) : NULL,
                                      credentials, lock_path);
  g_signal_connect (self->keeper, "rejected", G_CALLBACK (keeper_rejected_cb), self);
  om_token_keeper_start (self->keeper);
}

/* The credentials of the sign-in just made (owned). */
static OmCredentials *
credentials_from_login (OmSession            *self,
                        const OmSessionLogin *data,
                        const OmLoginResult  *login)
{
  OmCredentials *credentials;

  credentials = om_credentials_new (data->homeserver, login->user_id, login->device_id,
                                    login->access_token);
  credentials->refresh_token = g_strdup (login->refresh_token);
  if (login->expires_in_ms >= 0)
    credentials->expires_at_ms = g_get_real_time () / 1000 + login->expires_in_ms;
  if (data->oauth_server != NULL)
    {
      credentials->oauth_issuer = g_strdup (om_oauth_server_get_issuer (data->oauth_server));
      credentials->oauth_client_id = g_strdup (data->oauth_client_id);
      credentials->oauth_token_endpoint = g_strdup (om_oauth_server_get_token_endpoint (data->oauth_server));
      credentials->oauth_revocation_endpoint =
        g_strdup (om_oauth_server_get_revocation_endpoint (data->oauth_server));
      credentials->account_management_uri =
        g_strdup (om_oauth_server_get_account_management_uri (data->oauth_server));
    }
  if (self->store_key == NULL)
    self->store_key = new_store_key ();
  credentials->store_key = g_strdup (self->store_key);
  return credentials;
}

static void
forget_sign_in_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!om_credential_store_clear_finish (OM_CREDENTIAL_STORE (source), result, &error))
    g_warning ("Signed out, but the saved sign-in could not be removed: %s", error->message);
  g_task_return_boolean (task, TRUE);
}

/* Finishes the sign-out @task once the saved credentials are gone; done
 * even when this run keeps no secrets, so that nothing outlives a logout.
 * The keyring is not bothered for an account that was never saved. */
static void
forget_sign_in (OmSession *self,
                GTask     *task)
{
  g_autofree char *saved = NULL;
  g_autofree char *fallback = NULL;

  if (self->user_id != NULL)
    {
      saved = om_credential_store_find_account (get_credential_store (self), NULL, self->user_id);
      fallback = om_credential_store_dup_fallback_path (get_credential_store (self), self->user_id);
    }
  if (self->user_id == NULL ||
      (!self->store_secrets && saved == NULL && !g_file_test (fallback, G_FILE_TEST_EXISTS)))
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  om_credential_store_clear_async (get_credential_store (self), self->user_id,
                                   NULL, forget_sign_in_cb, task);
}

/* After a soft logout: the tokens are dead, but the device, its store and
 * the key of its local secrets live on, so the saved sign-in keeps only
 * the key (an empty access token: nothing to restore). */
static void
keep_store_key_only (OmSession *self)
{
  g_autoptr(OmCredentials) credentials = om_credentials_new (self->homeserver, self->user_id,
                                                             self->device_id, "");

  credentials->store_key = g_strdup (self->store_key);
  om_credential_store_save_async (get_credential_store (self), credentials, NULL,
                                  save_sign_in_cb, g_task_new (self, NULL, NULL, NULL));
}

static void
restore_saved_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  OmSession *self = g_task_get_source_object (task);
  g_autoptr(OmCredentials) credentials = NULL;
  GError *error = NULL;

  credentials = om_credential_store_lookup_finish (OM_CREDENTIAL_STORE (source), result, &error);
  if (error != NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (credentials == NULL)
    {
      g_task_return_boolean (task, FALSE);
      return;
    }
  /* Soft-logged-out: only the store key is left, for the next sign-in. */
  if (credentials->access_token[0] == '\0')
    {
      if (credentials->store_key != NULL && self->store_key == NULL)
        self->store_key = g_strdup (credentials->store_key);
      g_task_return_boolean (task, FALSE);
      return;
    }
  if (!om_session_restore (self, credentials->homeserver, credentials->user_id,
                           credentials->device_id, credentials->access_token, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (credentials->store_key != NULL)
    {
      g_free (self->store_key);
      self->store_key = g_strdup (credentials->store_key);
    }
  start_keeper (self, credentials);
  g_task_return_boolean (task, TRUE);
}

void
om_session_restore_saved_async (OmSession           *self,
                                const char          *homeserver,
                                const char          *user,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autofree char *user_id = NULL;
  GTask *task;

  g_return_if_fail (OM_IS_SESSION (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_session_restore_saved_async);

  if (self->store_secrets)
    user_id = om_credential_store_find_account (get_credential_store (self), homeserver, user);
  if (user_id == NULL)
    {
      g_task_return_boolean (task, FALSE);
      g_object_unref (task);
      return;
    }
  om_credential_store_lookup_async (get_credential_store (self), user_id, cancellable,
                                    restore_saved_cb, task);
}

gboolean
om_session_restore_saved_finish (OmSession     *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
login_data_free (OmSessionLogin *data)
{
  g_clear_object (&data->http);
  g_free (data->homeserver);
  g_clear_pointer (&data->oauth_server, om_oauth_server_unref);
  g_free (data->oauth_client_id);
  g_free (data);
}

/* What every sign-in does with the server's answer: opens the account's
 * store, wires the account up and keeps the credentials; then finishes
 * @task (owned).  @login NULL means @error (owned) ends the sign-in. */
/* The last step of every sign-in: keep the token fresh and the
 * credentials for next time; finishes @task (owned). */
static void
finish_login (GTask               *task,
              const OmLoginResult *login)
{
  OmSession *self = g_task_get_source_object (task);
  OmSessionLogin *data = g_task_get_task_data (task);
  g_autoptr(OmCredentials) credentials = credentials_from_login (self, data, login);

  start_keeper (self, credentials);
  save_sign_in (self, credentials, task);
}

static void
saved_key_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  GTask *task = user_data;
  OmSession *self = g_task_get_source_object (task);
  const OmLoginResult *login = g_object_get_data (G_OBJECT (task), "om-login");
  g_autoptr(OmCredentials) saved = NULL;
  g_autoptr(GError) error = NULL;

  saved = om_credential_store_lookup_finish (OM_CREDENTIAL_STORE (source), result, &error);
  if (error != NULL)
    g_debug ("No saved store key: %s", error->message);
  if (saved != NULL && saved->store_key != NULL && self->store_key == NULL)
    self->store_key = g_strdup (saved->store_key);
  finish_login (task, login);
}

void
om_session_complete_login (GTask         *task,
                           OmLoginResult *login,
                           GError        *error)
{
  OmSession *self = g_task_get_source_object (task);
  OmSessionLogin *data = g_task_get_task_data (task);
  g_autoptr(OmStore) store = NULL;
  g_autoptr(OmCredentials) credentials = NULL;

  if (login == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  store = open_account_store (self, login->user_id, &error);
  if (store == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  om_http_set_access_token (data->http, login->access_token);
  if (!setup_account (self, store, data->http, data->homeserver,
                      login->user_id, login->device_id, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  /* Signing in again (after a soft logout, in a new run): the account's
   * store key is still saved, and the local secrets need that one. */
  if (self->store_secrets && self->store_key == NULL)
    {
      g_object_set_data_full (G_OBJECT (task), "om-login", om_login_result_copy (login),
                              (GDestroyNotify) om_login_result_free);
      om_credential_store_lookup_async (get_credential_store (self), login->user_id, NULL,
                                        saved_key_cb, task);
      return;
    }
  finish_login (task, login);
}

static void
login_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(OmLoginResult) login = NULL;
  GError *error = NULL;

  login = om_auth_login_finish (result, &error);
  om_session_complete_login (user_data, login, error);
}

static void
sso_login_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(OmLoginResult) login = NULL;
  GError *error = NULL;

  login = om_sso_login_finish (result, &error);
  om_session_complete_login (user_data, login, error);
}

GTask *
om_session_new_login_task (OmSession           *self,
                const char          *homeserver,
                gpointer             source_tag,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  OmSessionLogin *data = g_new0 (OmSessionLogin, 1);

  g_task_set_source_tag (task, source_tag);
  data->http = om_http_new (homeserver);
  data->homeserver = g_strdup (homeserver);
  g_task_set_task_data (task, data, (GDestroyNotify) login_data_free);
  return task;
}

void
om_session_login_password_async (OmSession           *self,
                                 const char          *homeserver,
                                 const char          *user,
                                 const char          *password,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *device_id = NULL;
  OmSessionLogin *data;

  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (homeserver != NULL);
  g_return_if_fail (user != NULL);
  g_return_if_fail (password != NULL);

  task = om_session_new_login_task (self, homeserver, om_session_login_password_async,
                         cancellable, callback, user_data);
  data = g_task_get_task_data (task);

  /* Signing in again as the same user keeps the device (and with it the
   * stored sync position) when we know it. */
  if (user[0] == '@')
    device_id = om_session_dup_stored_device_id (self, user);

  om_auth_login_password_async (data->http, user, password, device_id, DEVICE_DISPLAY_NAME,
                                cancellable, login_cb, g_steal_pointer (&task));
}

gboolean
om_session_login_finish (OmSession     *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
om_session_login_password_finish (OmSession     *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
om_session_login_sso_async (OmSession           *self,
                            const char          *homeserver,
                            OmSsoListener       *listener,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task;
  OmSessionLogin *data;

  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (homeserver != NULL);
  g_return_if_fail (OM_IS_SSO_LISTENER (listener));

  task = om_session_new_login_task (self, homeserver, om_session_login_sso_async,
                         cancellable, callback, user_data);
  data = g_task_get_task_data (task);
  om_sso_login_async (data->http, listener, NULL, DEVICE_DISPLAY_NAME,
                      cancellable, sso_login_cb, task);
}

gboolean
om_session_login_sso_finish (OmSession     *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
om_session_login_token_async (OmSession           *self,
                              const char          *homeserver,
                              const char          *login_token,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  GTask *task;
  OmSessionLogin *data;

  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (homeserver != NULL);
  g_return_if_fail (login_token != NULL);

  task = om_session_new_login_task (self, homeserver, om_session_login_token_async,
                         cancellable, callback, user_data);
  data = g_task_get_task_data (task);
  om_auth_login_token_async (data->http, login_token, NULL, DEVICE_DISPLAY_NAME,
                             cancellable, login_cb, task);
}

gboolean
om_session_login_token_finish (OmSession     *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Running */

void
om_session_start (OmSession *self)
{
  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (self->sync != NULL);

  if (self->started)
    return;
  self->started = TRUE;
  set_state (self, OM_SESSION_STATE_CONNECTING);
  om_outbox_start (self->outbox);
  om_sync_start (self->sync);
}

void
om_session_stop (OmSession *self)
{
  g_return_if_fail (OM_IS_SESSION (self));

  if (!self->started)
    return;
  self->started = FALSE;
  om_sync_stop (self->sync);
  om_outbox_stop (self->outbox);
  set_state (self, OM_SESSION_STATE_READY);
}

static void logged_out (OmSession *self,
                        GTask     *task);

static void
logout_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  OmSession *self = g_task_get_source_object (task);
  GError *error = NULL;

  /* A token the server no longer knows is as signed out as it gets. */
  if (!om_auth_logout_finish (result, &error) &&
      !g_error_matches (error, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN))
    {
      g_task_return_error (task, error);
      return;
    }
  g_clear_error (&error);
  logged_out (self, g_steal_pointer (&task));
}

static void
revoke_access_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  OmSession *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;

  if (!om_oauth_revoke_finish (result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  logged_out (self, g_steal_pointer (&task));
}

/* RFC 7009 §2.1: revoking the refresh token may revoke the access token
 * too; revoke that as well, for servers that keep them apart. */
static void
revoke_refresh_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  OmSession *self = g_task_get_source_object (task);
  const OmCredentials *credentials = om_token_keeper_get_credentials (self->keeper);
  g_autoptr(GError) error = NULL;

  if (!om_oauth_revoke_finish (result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  GCancellable *cancellable = g_task_get_cancellable (task);

  om_oauth_revoke_async (self->http, credentials->oauth_revocation_endpoint,
                         credentials->oauth_client_id, credentials->access_token, "access_token",
                         cancellable, revoke_access_cb, g_steal_pointer (&task));
}

/* The server forgot the device: so do we.  Finishes @task (owned). */
static void
logged_out (OmSession *self,
            GTask     *task)
{
  /* The device is gone: the next sign-in makes a new one. */
  if (self->store != NULL)
    om_store_set_value (self->store, "device_id", NULL, NULL);
  teardown (self);
  set_state (self, OM_SESSION_STATE_SIGNED_OUT);
  forget_sign_in (self, task);
}

void
om_session_logout_async (OmSession           *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (OM_IS_SESSION (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_session_logout_async);

  if (self->http == NULL)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }

  om_session_stop (self);
  if (self->keeper != NULL &&
      om_token_keeper_get_credentials (self->keeper)->oauth_revocation_endpoint != NULL)
    {
      const OmCredentials *credentials = om_token_keeper_get_credentials (self->keeper);

      /* Signed in through the authorization server: it ends the session. */
      om_token_keeper_stop (self->keeper);
      om_oauth_revoke_async (self->http, credentials->oauth_revocation_endpoint,
                             credentials->oauth_client_id, credentials->refresh_token,
                             "refresh_token", cancellable, revoke_refresh_cb, task);
      return;
    }
  om_auth_logout_async (self->http, cancellable, logout_cb, task);
}

gboolean
om_session_logout_finish (OmSession     *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

const char *
om_session_get_account_management_uri (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->account_management_uri;
}

char *
om_session_dup_store_key (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return g_strdup (self->store_key);
}

OmTokenKeeper *
om_session_get_token_keeper (OmSession *self)
{
  g_return_val_if_fail (OM_IS_SESSION (self), NULL);
  return self->keeper;
}
