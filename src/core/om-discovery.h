/* om-discovery.h — from a user ID or server name to a homeserver: the
 * .well-known lookup, /versions, login flows and auth metadata
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "om-http.h"

G_BEGIN_DECLS

#define OM_DISCOVERY_ERROR (om_discovery_error_quark ())

/* The two failures of the spec's client discovery.  Cancellation stays
 * G_IO_ERROR_CANCELLED; malformed input is OM_ERROR_INVALID_INPUT. */
typedef enum {
  /* The server name's .well-known/matrix/client could not be used: ask
   * the person for the homeserver address. */
  OM_DISCOVERY_ERROR_FAIL_PROMPT,
  /* The homeserver address (typed, or from .well-known) does not lead to
   * a usable Matrix homeserver. */
  OM_DISCOVERY_ERROR_FAIL_ERROR,
} OmDiscoveryError;

typedef enum {
  OM_DISCOVERY_FLAGS_NONE = 0,
  /* Accept http:// addresses (input and .well-known) and contact bare
   * server names over plain http://: tests and loopback only. */
  OM_DISCOVERY_ALLOW_HTTP = 1 << 0,
} OmDiscoveryFlags;

GQuark               om_discovery_error_quark                 (void);

/* ---- server discovery ---- */

typedef struct _OmDiscoveryResult OmDiscoveryResult;

#define OM_TYPE_DISCOVERY_RESULT (om_discovery_result_get_type ())

GType                om_discovery_result_get_type             (void) G_GNUC_CONST;
OmDiscoveryResult   *om_discovery_result_ref                  (OmDiscoveryResult   *result);
void                 om_discovery_result_unref                (OmDiscoveryResult   *result);
/* The base URL to give om_http_new(), without a trailing slash. */
const char          *om_discovery_result_get_homeserver_url   (OmDiscoveryResult   *result);
/* The server name user IDs carry ("example.org"), or the host[:port] of
 * a URL that was given directly. */
const char          *om_discovery_result_get_server_name      (OmDiscoveryResult   *result);
/* The spec versions the server advertises ("v1.1", …), NULL-terminated. */
const char * const  *om_discovery_result_get_versions         (OmDiscoveryResult   *result);
gboolean             om_discovery_result_supports_version     (OmDiscoveryResult   *result,
                                                               const char          *version);
/* The unstable features the server marks as enabled, NULL-terminated. */
const char * const  *om_discovery_result_get_unstable_features (OmDiscoveryResult  *result);
gboolean             om_discovery_result_has_unstable_feature (OmDiscoveryResult   *result,
                                                               const char          *feature);

/* Resolves @input — "@user:example.org", "example.org[:port]" or an
 * http(s) URL (used as the server address as is) — following the spec:
 * GET <server>/.well-known/matrix/client (404: the server itself is the
 * homeserver), then GET <homeserver>/_matrix/client/versions to check it.
 * Only absolute URLs are requested: @http's base URL and token are not
 * used. */
void                 om_discovery_resolve_async               (OmHttp              *http,
                                                               const char          *input,
                                                               OmDiscoveryFlags     flags,
                                                               GCancellable        *cancellable,
                                                               GAsyncReadyCallback  callback,
                                                               gpointer             user_data);
OmDiscoveryResult   *om_discovery_resolve_finish              (GAsyncResult        *result,
                                                               GError             **error);

/* ---- login flows (GET /_matrix/client/v3/login) ---- */

/* One identity provider of an m.login.sso flow. */
typedef struct
{
  char *id;     /* for /login/sso/redirect/{idpId} */
  char *name;   /* shown to people */
  char *icon;   /* nullable: an mxc:// URI */
  char *brand;  /* nullable: "google", "github", … */
} OmIdentityProvider;

typedef struct _OmLoginFlows OmLoginFlows;

#define OM_TYPE_LOGIN_FLOWS (om_login_flows_get_type ())

GType                om_login_flows_get_type                  (void) G_GNUC_CONST;
OmLoginFlows        *om_login_flows_ref                       (OmLoginFlows        *flows);
void                 om_login_flows_unref                     (OmLoginFlows        *flows);
/* The flow types in the server's order ("m.login.password", …). */
const char * const  *om_login_flows_get_types                 (OmLoginFlows        *flows);
gboolean             om_login_flows_has_type                  (OmLoginFlows        *flows,
                                                               const char          *type);
/* The identity providers of the m.login.sso flows (borrowed array of
 * borrowed OmIdentityProvider *), possibly empty. */
GPtrArray           *om_login_flows_get_identity_providers    (OmLoginFlows        *flows);

/* MSC3824: the server's SSO is a compatibility layer over its
 * authorization server, and clients that speak the OAuth 2.0 API should
 * use that instead (om_oauth_discover). */
gboolean             om_login_flows_get_oauth_aware_preferred (OmLoginFlows       *flows);

/* Asks @http's homeserver (its base URL) how one may sign in. */
void                 om_discovery_get_login_flows_async       (OmHttp              *http,
                                                               GCancellable        *cancellable,
                                                               GAsyncReadyCallback  callback,
                                                               gpointer             user_data);
OmLoginFlows        *om_discovery_get_login_flows_finish      (GAsyncResult        *result,
                                                               GError             **error);

/* ---- OAuth 2.0 / OIDC authorization server (MSC2965) ---- */

/* GET /_matrix/client/v1/auth_metadata, falling back to the unstable
 * /_matrix/client/unstable/org.matrix.msc2965/auth_issuer.  A server with
 * neither (404 or M_UNRECOGNIZED, as Synapse 1.94) is not an error. */
void                 om_discovery_get_auth_metadata_async     (OmHttp              *http,
                                                               GCancellable        *cancellable,
                                                               GAsyncReadyCallback  callback,
                                                               gpointer             user_data);
/* TRUE on success.  @out_issuer (owned, nullable) is NULL when the server
 * delegates to no authorization server.  @out_metadata (owned, nullable)
 * is the full metadata document when the stable endpoint answered. */
gboolean             om_discovery_get_auth_metadata_finish    (GAsyncResult        *result,
                                                               char               **out_issuer,
                                                               JsonObject         **out_metadata,
                                                               GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmDiscoveryResult, om_discovery_result_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmLoginFlows, om_login_flows_unref)

G_END_DECLS
