/* om-oauth.h — Matrix's OAuth 2.0 API (native OIDC, formerly MSC3861):
 * the authorization server's metadata, dynamic client registration, the
 * authorization code grant with PKCE, the device authorization grant
 * (RFC 8628), refresh and revocation
 *
 * Protocol only: the sign-in flows that use it are in om-session, token
 * refresh in om-token-keeper.  Every secret (code verifier, device code,
 * tokens) is wiped when freed and never logged.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "om-http.h"

G_BEGIN_DECLS

/* What the client says of itself when it registers (the spec wants
 * https client_uri, and the other URIs on the same origin). */
#define OM_OAUTH_CLIENT_NAME "OpenMeet Chat"
#define OM_OAUTH_CLIENT_URI  "https://openmeet.net/chat"
#define OM_OAUTH_LOGO_URI    "https://openmeet.net/chat/icon.png"
/* Registered for the loopback redirect (RFC 8252 §7.3: any port). */
#define OM_OAUTH_REDIRECT_URI "http://127.0.0.1/callback"

#define OM_OAUTH_GRANT_DEVICE_CODE "urn:ietf:params:oauth:grant-type:device_code"

/* Which names of the Matrix scopes the server takes. */
typedef enum {
  OM_OAUTH_SCOPES_STABLE,    /* urn:matrix:client:api:* (Matrix 1.15) */
  OM_OAUTH_SCOPES_UNSTABLE,  /* urn:matrix:org.matrix.msc2967.client:api:* */
} OmOAuthScopes;

/* ---- the authorization server ---- */

typedef struct _OmOAuthServer OmOAuthServer;

#define OM_TYPE_OAUTH_SERVER (om_oauth_server_get_type ())

GType           om_oauth_server_get_type        (void) G_GNUC_CONST;
/* Checks @metadata (RFC 8414) for what a Matrix client needs: issuer,
 * authorization, token and registration endpoints, the code response type,
 * the authorization_code and refresh_token grants, S256 PKCE.
 * OM_ERROR_BAD_RESPONSE says what is missing. */
OmOAuthServer  *om_oauth_server_new             (JsonObject     *metadata,
                                                 GError        **error);
OmOAuthServer  *om_oauth_server_ref             (OmOAuthServer  *server);
void            om_oauth_server_unref           (OmOAuthServer  *server);
const char     *om_oauth_server_get_issuer      (OmOAuthServer  *server);
const char     *om_oauth_server_get_authorization_endpoint (OmOAuthServer *server);
const char     *om_oauth_server_get_token_endpoint (OmOAuthServer *server);
const char     *om_oauth_server_get_registration_endpoint (OmOAuthServer *server);
/* nullable: no device authorization grant */
const char     *om_oauth_server_get_device_authorization_endpoint (OmOAuthServer *server);
/* nullable */
const char     *om_oauth_server_get_revocation_endpoint (OmOAuthServer *server);
/* nullable: where people manage their account (link it in the UI) */
const char     *om_oauth_server_get_account_management_uri (OmOAuthServer *server);
gboolean        om_oauth_server_supports_device_grant (OmOAuthServer *server);
/* The scope names scopes_supported lists, STABLE when it lists neither. */
OmOAuthScopes   om_oauth_server_get_scopes      (OmOAuthServer  *server);
/* TRUE when scopes_supported names the Matrix scopes at all. */
gboolean        om_oauth_server_lists_scopes    (OmOAuthServer  *server);

/* Asks @http's homeserver whether it delegates sign-in (auth_metadata,
 * else the unstable auth_issuer and the issuer's own
 * /.well-known/openid-configuration, whose issuer must match). */
void            om_oauth_discover_async         (OmHttp              *http,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
/* NULL with no error when the server does not delegate. */
OmOAuthServer  *om_oauth_discover_finish        (GAsyncResult        *result,
                                                 GError             **error);

/* ---- registration, scopes, PKCE ---- */

/* Registers this client (native, public, loopback redirect, code +
 * refresh + device grants) and finishes with its client_id (owned). */
void            om_oauth_register_async         (OmHttp              *http,
                                                 OmOAuthServer       *server,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
char           *om_oauth_register_finish        (GAsyncResult        *result,
                                                 GError             **error);

/* A new device ID: 12 characters of [A-Z0-9] (owned). */
char           *om_oauth_new_device_id          (void);
/* TRUE for a device ID the scope can carry: 10+ of [A-Za-z0-9-]. */
gboolean        om_oauth_device_id_is_valid     (const char          *device_id);
/* "urn:matrix:client:api:* urn:matrix:client:device:<id>[ urn:synapse:admin:*]"
 * or the unstable names (owned). */
char           *om_oauth_build_scope            (const char          *device_id,
                                                 OmOAuthScopes        scopes,
                                                 gboolean             admin);
/* The device ID a granted scope names (owned), NULL if none or several. */
char           *om_oauth_scope_get_device_id    (const char          *scope);
gboolean        om_oauth_scope_has_admin        (const char          *scope);

/* 64 characters of base64url (owned, secret). */
char           *om_oauth_new_code_verifier      (void);
/* BASE64URL(SHA-256(verifier)) without padding (owned). */
char           *om_oauth_code_challenge         (const char          *verifier);
/* The authorization request (owned): response_type=code,
 * response_mode=query, S256. */
char           *om_oauth_build_authorization_url (OmOAuthServer      *server,
                                                 const char          *client_id,
                                                 const char          *redirect_uri,
                                                 const char          *scope,
                                                 const char          *state,
                                                 const char          *code_challenge);

/* ---- tokens ---- */

typedef struct {
  char   *access_token;   /* secret */
  char   *refresh_token;  /* secret, nullable */
  gint64  expires_in_ms;  /* -1: not said */
  char   *scope;          /* nullable: what was granted */
} OmOAuthTokens;

void            om_oauth_tokens_free            (OmOAuthTokens       *tokens);

/* The authorization code grant. */
void            om_oauth_exchange_code_async    (OmHttp              *http,
                                                 OmOAuthServer       *server,
                                                 const char          *client_id,
                                                 const char          *code,
                                                 const char          *redirect_uri,
                                                 const char          *code_verifier,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
/* The refresh token grant at @token_endpoint. */
void            om_oauth_refresh_async          (OmHttp              *http,
                                                 const char          *token_endpoint,
                                                 const char          *client_id,
                                                 const char          *refresh_token,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
/* For both.  OAuth errors are OM_ERROR_OAUTH (om_error_get_errcode:
 * "invalid_grant", …). */
OmOAuthTokens  *om_oauth_tokens_finish          (GAsyncResult        *result,
                                                 GError             **error);

/* ---- the device authorization grant (RFC 8628) ---- */

typedef struct {
  char   *device_code;                /* secret */
  char   *user_code;
  char   *verification_uri;
  char   *verification_uri_complete;  /* nullable */
  gint64  expires_at_us;              /* monotonic time */
  guint   interval_s;
  char   *scope;                      /* what was asked */
} OmOAuthDeviceGrant;

void            om_oauth_device_grant_free      (OmOAuthDeviceGrant  *grant);

void            om_oauth_device_authorize_async (OmHttp              *http,
                                                 OmOAuthServer       *server,
                                                 const char          *client_id,
                                                 const char          *scope,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
OmOAuthDeviceGrant *om_oauth_device_authorize_finish (GAsyncResult   *result,
                                                 GError             **error);
/* Polls the token endpoint every interval (slow_down adds 5 s) until the
 * user approved (tokens), refused (G_IO_ERROR_PERMISSION_DENIED) or the
 * code expired (G_IO_ERROR_TIMED_OUT).  Transient failures are retried
 * until the code expires.  Finish with om_oauth_tokens_finish(). */
void            om_oauth_device_poll_async      (OmHttp              *http,
                                                 OmOAuthServer       *server,
                                                 const char          *client_id,
                                                 const OmOAuthDeviceGrant *grant,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);

/* ---- revocation (RFC 7009) ---- */

/* @token_type_hint: "access_token", "refresh_token" or NULL. */
void            om_oauth_revoke_async           (OmHttp              *http,
                                                 const char          *revocation_endpoint,
                                                 const char          *client_id,
                                                 const char          *token,
                                                 const char          *token_type_hint,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
gboolean        om_oauth_revoke_finish          (GAsyncResult        *result,
                                                 GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmOAuthServer, om_oauth_server_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmOAuthTokens, om_oauth_tokens_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmOAuthDeviceGrant, om_oauth_device_grant_free)

G_END_DECLS
