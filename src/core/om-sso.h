/* om-sso.h — SSO sign-in: the redirect URL, the one-shot loopback listener
 * that receives the login token, the pasted-back URL over SSH, and the
 * whole flow ending in POST /login m.login.token
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-auth.h"
#include "om-http.h"

G_BEGIN_DECLS

/* How long a listener waits for the browser unless told otherwise. */
#define OM_SSO_DEFAULT_TIMEOUT_MS (5 * 60 * 1000)

/* "{homeserver}/_matrix/client/v3/login/sso/redirect/{idp_id}?redirectUrl=…"
 * (owned).  @homeserver_url: the base URL (a trailing slash is fine);
 * @idp_id (nullable): an identity provider from the m.login.sso flow, or
 * NULL for the server's only provider; @redirect_url: where the server
 * sends the browser with ?loginToken=… (escaped here). */
char          *om_sso_build_redirect_url        (const char           *homeserver_url,
                                                 const char           *idp_id,
                                                 const char           *redirect_url);

/* A fresh state value: 128 random bits, base64url without padding (owned). */
char          *om_sso_new_state                 (void);

/* TRUE if a connection from @address may talk to the listener: an IPv4 or
 * IPv6 loopback address.  The listener applies it to every peer. */
gboolean       om_sso_address_is_loopback       (GSocketAddress       *address);

/* Extracts the loginToken from the URL the browser ended on, pasted back by
 * the user (SSO over SSH).  Whitespace anywhere (line wraps) and a fragment
 * are ignored, other parameters too.  With @expected_state, the URL must
 * carry that state.  Returns the token (owned; the caller wipes it) or NULL
 * with OM_ERROR_INVALID_INPUT. */
char          *om_sso_parse_pasted_url          (const char           *url,
                                                 const char           *expected_state,
                                                 GError              **error);

#define OM_TYPE_SSO_LISTENER (om_sso_listener_get_type ())
G_DECLARE_FINAL_TYPE (OmSsoListener, om_sso_listener, OM, SSO_LISTENER, GObject)

/* Listens on 127.0.0.1 (only) on a port the system picks.  Connections are
 * accepted once om_sso_listener_wait_async() runs; until then the kernel
 * queues them. */
OmSsoListener *om_sso_listener_new              (GError              **error);

/* A listener for an OAuth 2.0 authorization code redirect (native OIDC):
 * its redirect URL is "http://127.0.0.1:<port>/callback" (register
 * "http://127.0.0.1/callback", RFC 8252 §7.3), the state goes in the
 * authorization request, and the wait gives the code.  An error redirect
 * ends the wait with its meaning (access_denied: G_IO_ERROR_PERMISSION_DENIED,
 * else G_IO_ERROR_INVALID_DATA with the server's description). */
OmSsoListener *om_sso_listener_new_oauth        (GError              **error);
/* OAuth listeners: when the browser comes back with error=@oauth_error (and
 * the right state), send it on to @url instead and keep waiting, once (a
 * second authorization request, e.g. with other scopes). */
void           om_sso_listener_set_retry        (OmSsoListener        *self,
                                                 const char           *oauth_error,
                                                 const char           *url);
/* "http://127.0.0.1:<port>/sso-callback?state=<state>": give it to
 * om_sso_build_redirect_url(). */
const char    *om_sso_listener_get_redirect_url (OmSsoListener        *self);
/* The state in the redirect URL, for om_sso_parse_pasted_url(). */
const char    *om_sso_listener_get_state        (OmSsoListener        *self);
guint16        om_sso_listener_get_port         (OmSsoListener        *self);

/* How long om_sso_listener_wait_async() waits (default
 * OM_SSO_DEFAULT_TIMEOUT_MS).  Set it before waiting. */
void           om_sso_listener_set_timeout_ms   (OmSsoListener        *self,
                                                 guint                 timeout_ms);
guint          om_sso_listener_get_timeout_ms   (OmSsoListener        *self);

/* Waits for the browser.  The first complete request decides: a GET of the
 * callback path with the right state and a loginToken gives the token and a
 * page saying the tab can be closed; anything else gives an error page and
 * G_IO_ERROR_INVALID_DATA.  Either way the listener then stops listening;
 * requests on connections opened meanwhile get an error page.  Peers that
 * are not loopback are disconnected unanswered.  No request in time gives
 * G_IO_ERROR_TIMED_OUT; @cancellable gives G_IO_ERROR_CANCELLED.  A
 * listener waits once: waiting again gives G_IO_ERROR_CLOSED. */
void           om_sso_listener_wait_async       (OmSsoListener        *self,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
/* Returns the login token (owned, secret: wipe it with explicit_bzero
 * before freeing) or NULL with @error set. */
char          *om_sso_listener_wait_finish      (OmSsoListener        *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);

/* The whole loopback flow after the browser has been sent to the redirect
 * URL: waits on @listener, then exchanges the token with POST /login
 * m.login.token (om_auth_login_token_async).  @device_id and
 * @device_display_name as for om_auth_login_password_async(). */
void           om_sso_login_async               (OmHttp               *http,
                                                 OmSsoListener        *listener,
                                                 const char           *device_id,
                                                 const char           *device_display_name,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
/* The listener's errors, or om_auth_login_finish()'s. */
OmLoginResult *om_sso_login_finish              (GAsyncResult         *result,
                                                 GError              **error);

G_END_DECLS
