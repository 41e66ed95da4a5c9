/* om-token-keeper.c — refresh ahead of expiry and on rejection, shared
 * safely between processes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-token-keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "om-error.h"
#include "om-json.h"
#include "om-oauth.h"

#define MAX_MARGIN_MS        60000   /* refresh at most this long before expiry */
#define MIN_MARGIN_MS        1000
#define LOCK_POLL_MS         20
#define LOCK_GIVE_UP_MS      15000
#define RETRY_MIN_MS         2000
#define RETRY_MAX_MS         60000
#define REFRESH_TIMEOUT_MS   30000

struct _OmTokenKeeper
{
  GObject            parent_instance;

  OmHttp            *http;         /* owned */
  OmCredentialStore *store;        /* owned, nullable */
  OmCredentials     *credentials;  /* owned */
  char              *lock_path;    /* owned, nullable */
  gboolean           started;

  /* one refresh at a time */
  gboolean           refreshing;
  GPtrArray         *waiters;      /* owned: GTasks of refresh_async */
  int                lock_fd;      /* -1 when not held */
  gint64             lock_deadline_us;
  GSource           *lock_source;  /* owned, nullable: retrying the lock */
  GCancellable      *cancellable;  /* owned: ends a refresh on stop/dispose */

  GSource           *timer;        /* owned, nullable: the next planned refresh */
  guint              retry_ms;

  guint              n_refreshes;
  guint              n_adopted;
};

enum {
  REFRESHED,
  REJECTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (OmTokenKeeper, om_token_keeper, G_TYPE_OBJECT)

static void plan_refresh (OmTokenKeeper *self,
                          gint64         delay_ms);
static void refresh_start (OmTokenKeeper *self);

static void
replace_secret (char       **field,
                const char  *value)
{
  if (*field != NULL)
    explicit_bzero (*field, strlen (*field));
  g_free (*field);
  *field = g_strdup (value);
}

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

/* ---- the lock between processes ------------------------------------------ */

static void
unlock (OmTokenKeeper *self)
{
  clear_source (&self->lock_source);
  if (self->lock_fd >= 0)
    {
      flock (self->lock_fd, LOCK_UN);
      close (self->lock_fd);
      self->lock_fd = -1;
    }
}

/* TRUE when the lock is held, or cannot be had at all (then we go on
 * without: a broken lock file must not stop refreshing). */
static gboolean
try_lock (OmTokenKeeper *self)
{
  if (self->lock_path == NULL)
    return TRUE;
  if (self->lock_fd < 0)
    {
      self->lock_fd = open (self->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (self->lock_fd < 0)
        {
          g_warning ("Could not open the token lock %s: %s", self->lock_path, g_strerror (errno));
          return TRUE;
        }
    }
  if (flock (self->lock_fd, LOCK_EX | LOCK_NB) == 0)
    return TRUE;
  if (errno != EWOULDBLOCK && errno != EINTR)
    {
      g_warning ("Could not lock %s: %s", self->lock_path, g_strerror (errno));
      close (self->lock_fd);
      self->lock_fd = -1;
      return TRUE;
    }
  return FALSE;
}

/* ---- finishing a refresh ------------------------------------------------- */

/* Ends the refresh in flight: with the new token (already in
 * self->credentials) or @error. */
static void
refresh_finish (OmTokenKeeper *self,
                const GError  *error)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->waiters);

  g_object_ref (self);
  unlock (self);
  self->refreshing = FALSE;
  self->waiters = g_ptr_array_new_with_free_func (g_object_unref);

  if (error == NULL)
    {
      self->retry_ms = 0;
      om_http_refresh_done (self->http, self->credentials->access_token, NULL);
      if (self->started)
        plan_refresh (self, -1);
      g_signal_emit (self, signals[REFRESHED], 0);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      om_http_refresh_done (self->http, NULL, error);
    }
  else if (om_error_is_transient (error))
    {
      g_debug ("Token refresh failed for now: %s", error->message);
      om_http_refresh_done (self->http, NULL, error);
      self->retry_ms = self->retry_ms == 0 ? RETRY_MIN_MS : MIN (self->retry_ms * 2, RETRY_MAX_MS);
      if (self->started)
        plan_refresh (self, self->retry_ms);
    }
  else
    {
      g_autoptr(JsonNode) body = json_from_string ("{\"errcode\":\"M_UNKNOWN_TOKEN\","
                                                   "\"error\":\"The sign-in expired: sign in again\","
                                                   "\"soft_logout\":true}", NULL);
      /* The homeserver's own verdict on its refresh token says whether the
       * device is gone (soft_logout false); anything else (an OAuth
       * invalid_grant, Synapse's M_FORBIDDEN for a spent token) is a soft
       * logout: the device may live on, so its data stays. */
      g_autoptr(GError) rejected = g_error_matches (error, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN)
                                   ? g_error_copy (error)
                                   : om_error_new_from_response (401, body);

      g_debug ("The refresh token was refused: %s", error->message);
      om_http_refresh_done (self->http, NULL, rejected);
      clear_source (&self->timer);
      g_signal_emit (self, signals[REJECTED], 0, rejected);
    }

  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = g_ptr_array_index (waiters, i);

      if (error == NULL)
        g_task_return_boolean (task, TRUE);
      else
        g_task_return_error (task, g_error_copy (error));
    }
  g_object_unref (self);
}

static void
save_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(OmTokenKeeper) self = user_data;
  g_autoptr(GError) error = NULL;

  /* The new tokens work all the same; the next run may have to sign in. */
  if (!om_credential_store_save_finish (OM_CREDENTIAL_STORE (source), result, &error))
    g_warning ("Could not keep the refreshed sign-in: %s", error->message);
  refresh_finish (self, NULL);
}

/* Takes the new tokens, saves them, then ends the refresh (so the lock is
 * held until the store has them). */
static void
take_tokens (OmTokenKeeper *self,
             const char    *access_token,
             const char    *refresh_token,
             gint64         expires_in_ms)
{
  replace_secret (&self->credentials->access_token, access_token);
  /* No new refresh token: the old one stays valid (RFC 6749 §6). */
  if (refresh_token != NULL)
    replace_secret (&self->credentials->refresh_token, refresh_token);
  self->credentials->expires_at_ms = expires_in_ms >= 0
                                     ? g_get_real_time () / 1000 + expires_in_ms : -1;
  /* Requests go on with the new token before the store is written. */
  om_http_refresh_done (self->http, access_token, NULL);

  if (self->store == NULL || om_credential_store_get_mode (self->store) == OM_CREDENTIALS_MODE_NO_STORE)
    {
      refresh_finish (self, NULL);
      return;
    }
  om_credential_store_save_async (self->store, self->credentials, NULL, save_cb, g_object_ref (self));
}

static void
oauth_refresh_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(OmTokenKeeper) self = user_data;
  g_autoptr(OmOAuthTokens) tokens = NULL;
  g_autoptr(GError) error = NULL;

  tokens = om_oauth_tokens_finish (result, &error);
  if (tokens == NULL)
    {
      refresh_finish (self, error);
      return;
    }
  take_tokens (self, tokens->access_token, tokens->refresh_token, tokens->expires_in_ms);
}

static void
matrix_refresh_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(OmTokenKeeper) self = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *object;
  const char *access_token;
  gint64 expires_in_ms = -1;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      refresh_finish (self, error);
      return;
    }
  object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  access_token = object != NULL ? om_json_get_string (object, "access_token") : NULL;
  if (access_token == NULL || access_token[0] == '\0')
    {
      error = g_error_new_literal (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                                   "The homeserver's refresh answer has no access token");
      refresh_finish (self, error);
      return;
    }
  om_json_get_int (object, "expires_in_ms", &expires_in_ms);
  take_tokens (self, access_token, om_json_get_string (object, "refresh_token"), expires_in_ms);
}

/* With the lock held: the refresh request itself. */
static void
send_refresh (OmTokenKeeper *self)
{
  self->n_refreshes++;
  g_debug ("Refreshing the access token of %s", self->credentials->user_id);
  if (self->credentials->oauth_token_endpoint != NULL)
    {
      om_oauth_refresh_async (self->http, self->credentials->oauth_token_endpoint,
                              self->credentials->oauth_client_id,
                              self->credentials->refresh_token, self->cancellable,
                              oauth_refresh_cb, g_object_ref (self));
    }
  else
    {
      g_autoptr(JsonObject) body = json_object_new ();
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

      json_object_set_string_member (body, "refresh_token", self->credentials->refresh_token);
      json_node_set_object (node, body);
      om_http_request_async (self->http, "POST", "/_matrix/client/v3/refresh", node,
                             OM_HTTP_NO_AUTH, REFRESH_TIMEOUT_MS, self->cancellable,
                             matrix_refresh_cb, g_object_ref (self));
      /* json-glib's copy of the token cannot be wiped; the body is. */
    }
}

static void
lookup_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(OmTokenKeeper) self = user_data;
  g_autoptr(OmCredentials) saved = NULL;
  g_autoptr(GError) error = NULL;

  saved = om_credential_store_lookup_finish (OM_CREDENTIAL_STORE (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      refresh_finish (self, error);
      return;
    }
  if (error != NULL)
    g_debug ("Could not read the saved sign-in before refreshing: %s", error->message);

  /* Another client of this account refreshed first: our refresh token is
   * spent, theirs is the one to use. */
  if (saved != NULL && saved->refresh_token != NULL &&
      g_strcmp0 (saved->device_id, self->credentials->device_id) == 0 &&
      g_strcmp0 (saved->refresh_token, self->credentials->refresh_token) != 0 &&
      g_strcmp0 (saved->access_token, self->credentials->access_token) != 0)
    {
      g_debug ("Adopting the tokens another client refreshed");
      self->n_adopted++;
      replace_secret (&self->credentials->access_token, saved->access_token);
      replace_secret (&self->credentials->refresh_token, saved->refresh_token);
      self->credentials->expires_at_ms = saved->expires_at_ms;
      refresh_finish (self, NULL);
      return;
    }
  send_refresh (self);
}

/* With the lock held: see what the store has, then refresh. */
static void
locked (OmTokenKeeper *self)
{
  if (self->store == NULL || om_credential_store_get_mode (self->store) == OM_CREDENTIALS_MODE_NO_STORE)
    {
      send_refresh (self);
      return;
    }
  om_credential_store_lookup_async (self->store, self->credentials->user_id, self->cancellable,
                                    lookup_cb, g_object_ref (self));
}

static gboolean
lock_retry_cb (gpointer user_data)
{
  OmTokenKeeper *self = user_data;

  if (try_lock (self))
    {
      clear_source (&self->lock_source);
      locked (self);
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () > self->lock_deadline_us)
    {
      g_warning ("Another client holds the token lock %s for too long; refreshing anyway",
                 self->lock_path);
      clear_source (&self->lock_source);
      close (self->lock_fd);
      self->lock_fd = -1;
      locked (self);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
refresh_start (OmTokenKeeper *self)
{
  if (self->refreshing)
    return;
  self->refreshing = TRUE;
  clear_source (&self->timer);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();

  if (try_lock (self))
    {
      locked (self);
      return;
    }
  self->lock_deadline_us = g_get_monotonic_time () + LOCK_GIVE_UP_MS * 1000;
  self->lock_source = g_timeout_source_new (LOCK_POLL_MS);
  g_source_set_static_name (self->lock_source, "[om-token-keeper] lock");
  g_source_set_callback (self->lock_source, lock_retry_cb, self, NULL);
  g_source_attach (self->lock_source, NULL);
}

/* ---- planning ------------------------------------------------------------ */

static gboolean
timer_cb (gpointer user_data)
{
  OmTokenKeeper *self = user_data;

  g_clear_pointer (&self->timer, g_source_unref);
  refresh_start (self);
  return G_SOURCE_REMOVE;
}

/* Plans the next refresh in @delay_ms, or (-1) ahead of expiry. */
static void
plan_refresh (OmTokenKeeper *self,
              gint64         delay_ms)
{
  clear_source (&self->timer);
  if (delay_ms < 0)
    {
      gint64 left;

      if (self->credentials->expires_at_ms < 0)
        return;
      left = self->credentials->expires_at_ms - g_get_real_time () / 1000;
      delay_ms = MAX (0, left - CLAMP (left / 4, MIN_MARGIN_MS, MAX_MARGIN_MS));
    }
  g_debug ("Next token refresh in %" G_GINT64_FORMAT " ms", delay_ms);
  self->timer = g_timeout_source_new ((guint) MIN (delay_ms, G_MAXUINT));
  g_source_set_static_name (self->timer, "[om-token-keeper] refresh");
  g_source_set_callback (self->timer, timer_cb, self, NULL);
  g_source_attach (self->timer, NULL);
}

static void
http_refresh_cb (OmHttp   *http,
                 gpointer  user_data)
{
  refresh_start (OM_TOKEN_KEEPER (user_data));
}

/* ---- GObject --------------------------------------------------------------- */

static void
om_token_keeper_dispose (GObject *object)
{
  OmTokenKeeper *self = OM_TOKEN_KEEPER (object);

  om_token_keeper_stop (self);
  G_OBJECT_CLASS (om_token_keeper_parent_class)->dispose (object);
}

static void
om_token_keeper_finalize (GObject *object)
{
  OmTokenKeeper *self = OM_TOKEN_KEEPER (object);

  unlock (self);
  clear_source (&self->timer);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->waiters, g_ptr_array_unref);
  g_clear_object (&self->http);
  g_clear_object (&self->store);
  g_clear_pointer (&self->credentials, om_credentials_free);
  g_free (self->lock_path);

  G_OBJECT_CLASS (om_token_keeper_parent_class)->finalize (object);
}

static void
om_token_keeper_class_init (OmTokenKeeperClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = om_token_keeper_dispose;
  object_class->finalize = om_token_keeper_finalize;

  signals[REFRESHED] = g_signal_new ("refreshed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                     0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[REJECTED] = g_signal_new ("rejected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                    0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
om_token_keeper_init (OmTokenKeeper *self)
{
  self->lock_fd = -1;
  self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
}

OmTokenKeeper *
om_token_keeper_new (OmHttp              *http,
                     OmCredentialStore   *store,
                     const OmCredentials *credentials,
                     const char          *lock_path)
{
  OmTokenKeeper *self;

  g_return_val_if_fail (OM_IS_HTTP (http), NULL);
  g_return_val_if_fail (credentials != NULL && credentials->refresh_token != NULL, NULL);

  self = g_object_new (OM_TYPE_TOKEN_KEEPER, NULL);
  self->http = g_object_ref (http);
  self->store = store != NULL ? g_object_ref (store) : NULL;
  self->credentials = om_credentials_copy (credentials);
  self->lock_path = g_strdup (lock_path);
  return self;
}

void
om_token_keeper_start (OmTokenKeeper *self)
{
  g_return_if_fail (OM_IS_TOKEN_KEEPER (self));

  if (self->started)
    return;
  self->started = TRUE;
  /* The http client holds only a weak pointer: the session owns us. */
  om_http_set_refresh_func (self->http, http_refresh_cb, self, NULL);
  if (!self->refreshing)
    plan_refresh (self, -1);
}

void
om_token_keeper_stop (OmTokenKeeper *self)
{
  g_return_if_fail (OM_IS_TOKEN_KEEPER (self));

  if (self->started)
    om_http_set_refresh_func (self->http, NULL, NULL, NULL);
  self->started = FALSE;
  clear_source (&self->timer);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  if (self->refreshing && self->lock_source != NULL)
    {
      g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                     "The token refresh was stopped");

      refresh_finish (self, error);
    }
}

const OmCredentials *
om_token_keeper_get_credentials (OmTokenKeeper *self)
{
  g_return_val_if_fail (OM_IS_TOKEN_KEEPER (self), NULL);
  return self->credentials;
}

void
om_token_keeper_refresh_async (OmTokenKeeper       *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (OM_IS_TOKEN_KEEPER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_token_keeper_refresh_async);
  g_ptr_array_add (self->waiters, task);
  refresh_start (self);
}

gboolean
om_token_keeper_refresh_finish (OmTokenKeeper  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

guint
om_token_keeper_get_n_refreshes (OmTokenKeeper *self)
{
  return self->n_refreshes;
}

guint
om_token_keeper_get_n_adopted (OmTokenKeeper *self)
{
  return self->n_adopted;
}
