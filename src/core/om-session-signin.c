/* om-session-signin.c — the sign-ins through the OAuth 2.0 API (loopback
 * authorization code with PKCE, device authorization grant) and with an
 * access token in hand
 *
 * Each ends in om_session_complete_login(), as the password and SSO
 * sign-ins in om-session.c do.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "om-error.h"
#include "om-session-private.h"
#include "om-sso.h"

typedef struct {
  OmSessionSignInFlags     flags;
  OmSsoListener           *listener;       /* owned, nullable: loopback flow */
  OmSessionUriFunc         open_uri;
  gpointer                 open_uri_data;
  OmSessionDeviceCodeFunc  show_code;
  gpointer                 show_code_data;
  char                    *device_id;      /* owned: the one we ask for */
  char                    *code_verifier;  /* owned, secret */
  char                    *redirect_uri;   /* owned */
  OmOAuthScopes            scopes;
  gboolean                 retried_scopes; /* asked again with the unstable names */
  char                    *access_token;   /* owned, secret: before whoami */
  char                    *refresh_token;  /* owned, secret */
  gint64                   expires_in_ms;
} OAuthFlow;

static void
wipe_free (char *s)
{
  if (s != NULL)
    explicit_bzero (s, strlen (s));
  g_free (s);
}

static void
oauth_flow_free (OAuthFlow *flow)
{
  g_clear_object (&flow->listener);
  g_free (flow->device_id);
  wipe_free (flow->code_verifier);
  g_free (flow->redirect_uri);
  wipe_free (flow->access_token);
  wipe_free (flow->refresh_token);
  g_free (flow);
}

/* The flow rides on the login task's data. */
static GQuark
flow_quark (void)
{
  return g_quark_from_static_string ("om-session-oauth-flow");
}

static OAuthFlow *
get_flow (GTask *task)
{
  return g_object_get_qdata (G_OBJECT (task), flow_quark ());
}

/* Fails @task (owned) with @error (owned). */
static void
fail (GTask  *task,
      GError *error)
{
  om_session_complete_login (task, NULL, error);
}

/* ---- after the tokens: whoami, then the common ending ---- */

static void
whoami_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GTask *task = user_data;
  OAuthFlow *flow = get_flow (task);
  g_autoptr(OmLoginResult) login = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *device_id = NULL;
  GError *error = NULL;

  if (!om_auth_whoami_finish (result, &user_id, &device_id, &error))
    {
      g_prefix_error (&error, "The homeserver does not accept the new sign-in: ");
      fail (task, error);
      return;
    }
  if (device_id == NULL)
    {
      fail (task, g_error_new_literal (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                                       "The homeserver gave the new sign-in no device"));
      return;
    }
  if (flow != NULL && flow->device_id != NULL && g_strcmp0 (device_id, flow->device_id) != 0)
    {
      fail (task, g_error_new (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The homeserver gave the new sign-in device %s instead of %s",
                               device_id, flow->device_id));
      return;
    }

  login = g_new0 (OmLoginResult, 1);
  login->user_id = g_steal_pointer (&user_id);
  login->device_id = g_steal_pointer (&device_id);
  login->expires_in_ms = -1;
  if (flow != NULL)
    {
      login->access_token = g_steal_pointer (&flow->access_token);
      login->refresh_token = g_steal_pointer (&flow->refresh_token);
      login->expires_in_ms = flow->expires_in_ms;
    }
  else
    {
      OmSessionLogin *data = g_task_get_task_data (task);

      login->access_token = om_http_dup_access_token (data->http);
    }
  om_session_complete_login (task, login, NULL);
}

/* Takes @tokens: checks them with whoami and signs in. */
static void
got_tokens (GTask         *task,
            OmOAuthTokens *tokens)
{
  OmSessionLogin *data = g_task_get_task_data (task);
  OAuthFlow *flow = get_flow (task);
  g_autofree char *granted_device = om_oauth_scope_get_device_id (tokens->scope);

  if (tokens->scope != NULL && g_strcmp0 (granted_device, flow->device_id) != 0)
    {
      om_oauth_tokens_free (tokens);
      fail (task, g_error_new_literal (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                                       "The authorization server granted another device than "
                                       "the one asked for"));
      return;
    }
  if (tokens->refresh_token == NULL)
    g_debug ("The authorization server issued no refresh token: the sign-in ends when the token expires");

  flow->access_token = g_steal_pointer (&tokens->access_token);
  flow->refresh_token = g_steal_pointer (&tokens->refresh_token);
  flow->expires_in_ms = tokens->expires_in_ms;
  om_oauth_tokens_free (tokens);

  om_http_set_access_token (data->http, flow->access_token);
  om_auth_whoami_async (data->http, g_task_get_cancellable (task), whoami_cb, task);
}

/* ---- common start: discovery and registration ---- */

typedef void (*RegisteredFunc) (GTask *task);

static void
register_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  GTask *task = user_data;
  OmSessionLogin *data = g_task_get_task_data (task);
  RegisteredFunc next = g_object_get_data (G_OBJECT (task), "om-next");
  GError *error = NULL;

  data->oauth_client_id = om_oauth_register_finish (result, &error);
  if (data->oauth_client_id == NULL)
    {
      fail (task, error);
      return;
    }
  next (task);
}

static void
discover_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  GTask *task = user_data;
  OmSessionLogin *data = g_task_get_task_data (task);
  GError *error = NULL;

  data->oauth_server = om_oauth_discover_finish (result, &error);
  if (data->oauth_server == NULL)
    {
      if (error == NULL)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                     "This homeserver does not offer sign-in through an "
                                     "authorization server (OAuth 2.0)");
      fail (task, error);
      return;
    }
  om_oauth_register_async (data->http, data->oauth_server, g_task_get_cancellable (task),
                           register_cb, task);
}

/* Starts @task's OAuth flow: discovers the server unless given, registers,
 * then calls @next. */
static GTask *
start_flow (OmSession            *self,
            const char           *homeserver,
            OmOAuthServer        *server,
            OmSessionSignInFlags  flags,
            gpointer              source_tag,
            RegisteredFunc        next,
            GCancellable         *cancellable,
            GAsyncReadyCallback   callback,
            gpointer              user_data)
{
  GTask *task = om_session_new_login_task (self, homeserver, source_tag, cancellable,
                                           callback, user_data);
  OmSessionLogin *data = g_task_get_task_data (task);
  OAuthFlow *flow = g_new0 (OAuthFlow, 1);
  const char *user_id = om_session_get_user_id (self);
  g_autofree char *stored = NULL;

  flow->flags = flags;
  /* Signing in again after a soft logout keeps the device. */
  if (user_id != NULL && g_strcmp0 (om_session_get_homeserver (self), homeserver) == 0)
    stored = om_session_dup_stored_device_id (self, user_id);
  flow->device_id = om_oauth_device_id_is_valid (stored) ? g_steal_pointer (&stored)
                                                         : om_oauth_new_device_id ();
  g_object_set_qdata_full (G_OBJECT (task), flow_quark (), flow, (GDestroyNotify) oauth_flow_free);
  g_object_set_data (G_OBJECT (task), "om-next", (gpointer) next);

  if (server != NULL)
    {
      data->oauth_server = om_oauth_server_ref (server);
      om_oauth_register_async (data->http, server, cancellable, register_cb, task);
    }
  else
    om_oauth_discover_async (data->http, cancellable, discover_cb, task);
  return task;
}

/* ---- the authorization code grant over a loopback redirect ---- */

static void
code_exchanged_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;
  OmOAuthTokens *tokens;
  GError *error = NULL;

  tokens = om_oauth_tokens_finish (result, &error);
  if (tokens == NULL)
    {
      g_prefix_error (&error, "Could not finish signing in: ");
      fail (task, error);
      return;
    }
  got_tokens (task, tokens);
}

static void
code_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  GTask *task = user_data;
  OmSessionLogin *data = g_task_get_task_data (task);
  OAuthFlow *flow = get_flow (task);
  char *code;
  GError *error = NULL;

  code = om_sso_listener_wait_finish (OM_SSO_LISTENER (source), result, &error);
  if (code == NULL)
    {
      fail (task, error);
      return;
    }
  om_oauth_exchange_code_async (data->http, data->oauth_server, data->oauth_client_id, code,
                                flow->redirect_uri, flow->code_verifier,
                                g_task_get_cancellable (task), code_exchanged_cb, task);
  wipe_free (code);
}

static char *
authorization_url (GTask         *task,
                   OmOAuthScopes  scopes)
{
  OmSessionLogin *data = g_task_get_task_data (task);
  OAuthFlow *flow = get_flow (task);
  g_autofree char *scope = om_oauth_build_scope (flow->device_id, scopes,
                                                 flow->flags & OM_SESSION_SIGN_IN_ADMIN);
  g_autofree char *challenge = om_oauth_code_challenge (flow->code_verifier);

  return om_oauth_build_authorization_url (data->oauth_server, data->oauth_client_id,
                                           flow->redirect_uri, scope,
                                           om_sso_listener_get_state (flow->listener), challenge);
}

static void
loopback_registered (GTask *task)
{
  OmSessionLogin *data = g_task_get_task_data (task);
  OAuthFlow *flow = get_flow (task);
  g_autofree char *url = NULL;

  flow->code_verifier = om_oauth_new_code_verifier ();
  flow->redirect_uri = g_strdup (om_sso_listener_get_redirect_url (flow->listener));
  url = authorization_url (task, om_oauth_server_get_scopes (data->oauth_server));
  /* A server that does not list its scopes may know only the unstable
   * names: on invalid_scope the browser is sent on to ask with those. */
  if (!om_oauth_server_lists_scopes (data->oauth_server))
    {
      g_autofree char *retry = authorization_url (task, OM_OAUTH_SCOPES_UNSTABLE);

      om_sso_listener_set_retry (flow->listener, "invalid_scope", retry);
    }
  om_sso_listener_wait_async (flow->listener, g_task_get_cancellable (task), code_cb, task);
  flow->open_uri (url, flow->open_uri_data);
}

void
om_session_login_oauth_async (OmSession            *self,
                              const char           *homeserver,
                              OmOAuthServer        *server,
                              OmSsoListener        *listener,
                              OmSessionSignInFlags  flags,
                              OmSessionUriFunc      open_uri,
                              gpointer              open_uri_data,
                              GCancellable         *cancellable,
                              GAsyncReadyCallback   callback,
                              gpointer              user_data)
{
  GTask *task;
  OAuthFlow *flow;

  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (homeserver != NULL);
  g_return_if_fail (OM_IS_SSO_LISTENER (listener));
  g_return_if_fail (open_uri != NULL);

  task = start_flow (self, homeserver, server, flags, om_session_login_oauth_async,
                     loopback_registered, cancellable, callback, user_data);
  flow = get_flow (task);
  flow->listener = g_object_ref (listener);
  flow->open_uri = open_uri;
  flow->open_uri_data = open_uri_data;
}

gboolean
om_session_login_oauth_finish (OmSession     *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- the device authorization grant ---- */

static void
device_tokens_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  OmOAuthTokens *tokens;
  GError *error = NULL;

  tokens = om_oauth_tokens_finish (result, &error);
  if (tokens == NULL)
    {
      fail (task, error);
      return;
    }
  got_tokens (task, tokens);
}

static void device_registered (GTask *task);

static void
device_authorized_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  GTask *task = user_data;
  OmSessionLogin *data = g_task_get_task_data (task);
  OAuthFlow *flow = get_flow (task);
  g_autoptr(OmOAuthDeviceGrant) grant = NULL;
  GError *error = NULL;

  grant = om_oauth_device_authorize_finish (result, &error);
  if (grant == NULL)
    {
      /* A server that does not list its scopes may know only the
       * unstable names. */
      if (g_error_matches (error, OM_ERROR, OM_ERROR_OAUTH) &&
          g_strcmp0 (om_error_get_errcode (error), "invalid_scope") == 0 &&
          !flow->retried_scopes && flow->scopes == OM_OAUTH_SCOPES_STABLE &&
          !om_oauth_server_lists_scopes (data->oauth_server))
        {
          g_debug ("invalid_scope: asking again with the unstable scope names");
          g_clear_error (&error);
          flow->retried_scopes = TRUE;
          flow->scopes = OM_OAUTH_SCOPES_UNSTABLE;
          device_registered (task);
          return;
        }
      fail (task, error);
      return;
    }
  flow->show_code (grant, flow->show_code_data);
  om_oauth_device_poll_async (data->http, data->oauth_server, data->oauth_client_id, grant,
                              g_task_get_cancellable (task), device_tokens_cb, task);
}

static void
device_registered (GTask *task)
{
  OmSessionLogin *data = g_task_get_task_data (task);
  OAuthFlow *flow = get_flow (task);
  g_autofree char *scope = NULL;

  if (!flow->retried_scopes)
    flow->scopes = om_oauth_server_get_scopes (data->oauth_server);
  scope = om_oauth_build_scope (flow->device_id, flow->scopes, flow->flags & OM_SESSION_SIGN_IN_ADMIN);
  om_oauth_device_authorize_async (data->http, data->oauth_server, data->oauth_client_id, scope,
                                   g_task_get_cancellable (task), device_authorized_cb, task);
}

void
om_session_login_device_async (OmSession               *self,
                               const char              *homeserver,
                               OmOAuthServer           *server,
                               OmSessionSignInFlags     flags,
                               OmSessionDeviceCodeFunc  show_code,
                               gpointer                 show_code_data,
                               GCancellable            *cancellable,
                               GAsyncReadyCallback      callback,
                               gpointer                 user_data)
{
  GTask *task;
  OAuthFlow *flow;

  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (homeserver != NULL);
  g_return_if_fail (show_code != NULL);

  if (server != NULL && !om_oauth_server_supports_device_grant (server))
    {
      g_task_report_new_error (self, callback, user_data, om_session_login_device_async,
                               G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "The authorization server does not offer sign-in with a code");
      return;
    }
  task = start_flow (self, homeserver, server, flags, om_session_login_device_async,
                     device_registered, cancellable, callback, user_data);
  flow = get_flow (task);
  flow->show_code = show_code;
  flow->show_code_data = show_code_data;
}

gboolean
om_session_login_device_finish (OmSession     *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- an access token in hand ---- */

void
om_session_login_access_token_async (OmSession           *self,
                                     const char          *homeserver,
                                     const char          *access_token,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  GTask *task;
  OmSessionLogin *data;

  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (homeserver != NULL);
  g_return_if_fail (access_token != NULL);

  task = om_session_new_login_task (self, homeserver, om_session_login_access_token_async,
                                    cancellable, callback, user_data);
  data = g_task_get_task_data (task);
  if (access_token[0] == '\0' || strpbrk (access_token, " \t\r\n") != NULL)
    {
      fail (task, g_error_new_literal (OM_ERROR, OM_ERROR_INVALID_INPUT,
                                       "That is not an access token (it is empty or has spaces)"));
      return;
    }
  om_http_set_access_token (data->http, access_token);
  om_auth_whoami_async (data->http, cancellable, whoami_cb, task);
}

gboolean
om_session_login_access_token_finish (OmSession     *self,
                                      GAsyncResult  *result,
                                      GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
