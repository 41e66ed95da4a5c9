/* om-session.h — one signed-in account: the object front ends hold
 *
 * Owns the HTTP client, the store, the sync loop, the outbox, typing,
 * receipts and presence, and the room list.  Front ends sign in through it,
 * bind to its room list, and call intents on rooms.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-oauth.h"
#include "om-token-keeper.h"
#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_SESSION (om_session_get_type ())
G_DECLARE_FINAL_TYPE (OmSession, om_session, OM, SESSION, GObject)

typedef enum {
  OM_SESSION_STATE_SIGNED_OUT,   /* no account, or the server ended the session */
  OM_SESSION_STATE_READY,        /* signed in, restored from the store, not syncing */
  OM_SESSION_STATE_CONNECTING,   /* first sync of this run in flight */
  OM_SESSION_STATE_ONLINE,       /* the last sync succeeded */
  OM_SESSION_STATE_OFFLINE,      /* syncs fail; retrying with backoff (see sync-error) */
} OmSessionState;

GType            om_session_state_get_type       (void) G_GNUC_CONST;
#define OM_TYPE_SESSION_STATE (om_session_state_get_type ())

/* @data_dir holds one directory per account ($XDG_DATA_HOME/openmeet-chat
 * when NULL). */
OmSession       *om_session_new                  (const char          *data_dir);

/* Properties: state, user-id, device-id, homeserver, sync-error (string,
 * nullable: why syncing fails, for people), room-list.
 * Signals:
 *   synced (gboolean initial)   after each /sync response has been applied
 *   signed-out (GError *error)  the server rejected the token (soft logout
 *                               when om_error_is_soft_logout (error)) */

OmSessionState   om_session_get_state            (OmSession           *self);
const char      *om_session_get_user_id          (OmSession           *self);
const char      *om_session_get_device_id        (OmSession           *self);
const char      *om_session_get_homeserver       (OmSession           *self);
const char      *om_session_get_sync_error       (OmSession           *self);
const char      *om_session_get_data_dir         (OmSession           *self);
OmRoomList      *om_session_get_room_list        (OmSession           *self);
OmRoom          *om_session_lookup_room          (OmSession           *self,
                                                  const char          *room_id_or_alias);

OmHttp          *om_session_get_http             (OmSession           *self);
OmStore         *om_session_get_store            (OmSession           *self);
OmSync          *om_session_get_sync             (OmSession           *self);
OmOutbox        *om_session_get_outbox           (OmSession           *self);
OmTyping        *om_session_get_typing           (OmSession           *self);
OmReceipts      *om_session_get_receipts         (OmSession           *self);
OmPresence      *om_session_get_presence         (OmSession           *self);

/* Signs in with a password at @homeserver (a base URL) and opens this
 * account's store.  A device ID kept in the store from an earlier sign-in
 * of the same user is reused, so the stored sync token stays valid. */
void             om_session_login_password_async (OmSession           *self,
                                                  const char          *homeserver,
                                                  const char          *user,
                                                  const char          *password,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_login_password_finish (OmSession          *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

/* Signs in through SSO: once the browser was sent to the redirect URL
 * built with @listener's redirect URL (om_sso_build_redirect_url), waits
 * on @listener for the login token, exchanges it, and goes on as
 * om_session_login_password_async does.  The listener's errors, or
 * OM_ERROR_FORBIDDEN for a spent token. */
void             om_session_login_sso_async      (OmSession           *self,
                                                  const char          *homeserver,
                                                  OmSsoListener       *listener,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_login_sso_finish     (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);
/* The same with a login token already in hand, such as the one in a URL
 * pasted back over SSH (om_sso_parse_pasted_url).  @login_token is not
 * kept; the caller wipes it. */
void             om_session_login_token_async    (OmSession           *self,
                                                  const char          *homeserver,
                                                  const char          *login_token,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_login_token_finish   (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

/* Finishes any of the om_session_login_*_async sign-ins (each also has its
 * own _finish, which does the same). */
gboolean         om_session_login_finish         (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

/* ---- the OAuth 2.0 API (native OIDC) ---- */

typedef enum {
  OM_SESSION_SIGN_IN_NONE  = 0,
  /* Ask for the homeserver's admin API too (urn:synapse:admin:*). */
  OM_SESSION_SIGN_IN_ADMIN = 1 << 0,
} OmSessionSignInFlags;

/* Hands the front end the URL to open in the browser. */
typedef void (*OmSessionUriFunc)        (const char               *uri,
                                         gpointer                  user_data);
/* Hands the front end the code to show (user code, verification URI, and
 * the complete one for a QR code). */
typedef void (*OmSessionDeviceCodeFunc) (const OmOAuthDeviceGrant *grant,
                                         gpointer                  user_data);

/* Signs in through the homeserver's authorization server (@server from
 * om_oauth_discover_finish, or NULL to discover it): registers this
 * client, calls @open_uri with the authorization request (code + PKCE
 * S256, the Matrix API and device scopes, state), waits on @listener
 * (om_sso_listener_new_oauth) for the browser, exchanges the code, checks
 * the token with whoami, and goes on as a password sign-in does; the token
 * is then refreshed ahead of expiry and when refused.  Scopes go by their
 * unstable MSC2967 names where the server lists only those, or answers
 * invalid_scope to the stable ones. */
void             om_session_login_oauth_async    (OmSession           *self,
                                                  const char          *homeserver,
                                                  OmOAuthServer       *server,
                                                  OmSsoListener       *listener,
                                                  OmSessionSignInFlags flags,
                                                  OmSessionUriFunc     open_uri,
                                                  gpointer             open_uri_data,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_login_oauth_finish   (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);
/* The same through the device authorization grant (RFC 8628), for
 * terminals without a browser: @show_code gets the code to show; the
 * sign-in finishes once the person approved it in a browser anywhere,
 * with G_IO_ERROR_PERMISSION_DENIED when refused there and
 * G_IO_ERROR_TIMED_OUT when the code expired.  G_IO_ERROR_NOT_SUPPORTED
 * when the server has no device grant. */
void             om_session_login_device_async   (OmSession           *self,
                                                  const char          *homeserver,
                                                  OmOAuthServer       *server,
                                                  OmSessionSignInFlags flags,
                                                  OmSessionDeviceCodeFunc show_code,
                                                  gpointer             show_code_data,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_login_device_finish  (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);
/* Signs in with an access token someone already has (admins paste one):
 * whoami tells whose it is and which device.  No refresh. */
void             om_session_login_access_token_async (OmSession       *self,
                                                  const char          *homeserver,
                                                  const char          *access_token,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_login_access_token_finish (OmSession      *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);
/* The authorization server's account page (nullable): link it in the UI. */
const char      *om_session_get_account_management_uri (OmSession     *self);
/* The key that encrypts this account's local secrets (owned, secret,
 * base64 of 32 bytes), kept with the tokens; NULL before sign-in. */
char            *om_session_dup_store_key        (OmSession           *self);
/* The token keeper (nullable: the sign-in has no refresh token). */
OmTokenKeeper   *om_session_get_token_keeper     (OmSession           *self);

/* Restores a signed-in account from its store with a token held elsewhere
 * (the keyring, later): rooms, timelines and the outbox come back without
 * any request; om_session_start resumes from the stored sync token. */
gboolean         om_session_restore              (OmSession           *self,
                                                  const char          *homeserver,
                                                  const char          *user_id,
                                                  const char          *device_id,
                                                  const char          *access_token,
                                                  GError             **error);
/* Whether signing in keeps the account's tokens for the next run (the
 * keyring, else a file only the user can read): off by default, front ends
 * turn it on unless told not to (--no-store-secrets).  Logging out removes
 * what was kept either way. */
void             om_session_set_store_secrets    (OmSession           *self,
                                                  gboolean             store_secrets);
/* Restores the saved account fitting @homeserver and @user (each nullable;
 * @user a localpart or a user ID; the last account used first) with no
 * prompt and no request, as om_session_restore does.  Finishes FALSE with
 * no error when nothing fitting is saved (or secrets are not stored). */
void             om_session_restore_saved_async  (OmSession           *self,
                                                  const char          *homeserver,
                                                  const char          *user,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_restore_saved_finish (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);
/* The token for whoever keeps credentials (owned; never log it). */
char            *om_session_dup_access_token     (OmSession           *self);

/* Starts (or resumes) syncing and sending. */
void             om_session_start                (OmSession           *self);
/* Stops syncing and sending; unsent messages stay in the store. */
void             om_session_stop                 (OmSession           *self);

void             om_session_logout_async         (OmSession           *self,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_logout_finish        (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

/* Joins a room by ID or alias; finishes with the room ID (owned) once the
 * join was accepted (the room itself arrives with the next sync). */
void             om_session_join_room_async      (OmSession           *self,
                                                  const char          *room_id_or_alias,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
char            *om_session_join_room_finish     (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

/* Creates a private room (or a direct chat when @is_direct) inviting
 * @invite (nullable); finishes with the room ID (owned). */
void             om_session_create_room_async    (OmSession           *self,
                                                  const char          *name,
                                                  const char          *topic,
                                                  const char * const  *invite,
                                                  gboolean             is_direct,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
char            *om_session_create_room_finish   (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

/* Leaves a room. */
void             om_session_leave_room_async     (OmSession           *self,
                                                  const char          *room_id,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
gboolean         om_session_leave_room_finish    (OmSession           *self,
                                                  GAsyncResult        *result,
                                                  GError             **error);

G_END_DECLS
