/* om-auth.h — signing in and out: password and token login, whoami, logout
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-http.h"

G_BEGIN_DECLS

/* What a successful POST /login returned.  Plain record: read the fields.
 * The tokens are secrets: om_login_result_free() wipes them. */
typedef struct
{
  char   *user_id;             /* "@alice:example.org" */
  char   *access_token;        /* secret */
  char   *device_id;
  char   *refresh_token;       /* secret, nullable */
  gint64  expires_in_ms;       /* lifetime of access_token, -1 when it does not expire */
  char   *well_known_base_url; /* nullable: the server's m.homeserver.base_url, if it sent one */
} OmLoginResult;

#define OM_TYPE_LOGIN_RESULT (om_login_result_get_type ())

GType          om_login_result_get_type        (void) G_GNUC_CONST;
OmLoginResult *om_login_result_copy            (const OmLoginResult  *result);
void           om_login_result_free            (OmLoginResult        *result);

/* POST /_matrix/client/v3/login with m.login.password.  @http needs a
 * base URL; its access token (if any) is not sent.  @user is a localpart
 * or a full user ID.  @device_id (nullable) reuses a device;
 * @device_display_name (nullable) names a new one.  The caller stores the
 * token where it belongs (om_http_set_access_token, the keyring). */
void           om_auth_login_password_async    (OmHttp               *http,
                                                const char           *user,
                                                const char           *password,
                                                const char           *device_id,
                                                const char           *device_display_name,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
/* POST /_matrix/client/v3/login with m.login.token: exchanges the
 * loginToken an SSO redirect brought back (om-sso).  @login_token is
 * copied into the request and that copy wiped once sent; it is never
 * logged.  An expired or spent token gives OM_ERROR_FORBIDDEN. */
void           om_auth_login_token_async       (OmHttp               *http,
                                                const char           *login_token,
                                                const char           *device_id,
                                                const char           *device_display_name,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
/* Finishes any om_auth_login_*_async call.  Wrong credentials give
 * OM_ERROR_FORBIDDEN; an answer without user_id/access_token/device_id
 * gives OM_ERROR_BAD_RESPONSE. */
OmLoginResult *om_auth_login_finish            (GAsyncResult         *result,
                                                GError              **error);

/* GET /_matrix/client/v3/account/whoami with @http's access token. */
void           om_auth_whoami_async            (OmHttp               *http,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
/* @out_user_id, @out_device_id: nullable, owned.  @out_device_id is NULL
 * for tokens without a device (application services). */
gboolean       om_auth_whoami_finish           (GAsyncResult         *result,
                                                char                **out_user_id,
                                                char                **out_device_id,
                                                GError              **error);

/* POST /_matrix/client/v3/logout: invalidates @http's access token on the
 * server.  @http keeps the token; the caller forgets it. */
void           om_auth_logout_async            (OmHttp               *http,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
gboolean       om_auth_logout_finish           (GAsyncResult         *result,
                                                GError              **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmLoginResult, om_login_result_free)

G_END_DECLS
