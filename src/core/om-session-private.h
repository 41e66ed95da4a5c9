/* om-session-private.h — what the session's parts see of it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "om-auth.h"
#include "om-oauth.h"
#include "om-session.h"

G_BEGIN_DECLS

/* The session's parts (om-session.c, om-session-signin.c,
 * om-session-rooms.c) share its fields. */
struct _OmSession
{
  GObject         parent_instance;

  char           *data_dir;     /* owned */
  char           *user_id;      /* owned, nullable until signed in */
  char           *device_id;    /* owned, nullable */
  char           *homeserver;   /* owned, nullable */

  OmHttp         *http;         /* owned, nullable until signed in */
  OmStore        *store;        /* owned, nullable until signed in */
  OmRoomList     *room_list;    /* owned */
  OmSync         *sync;         /* owned, nullable until signed in */
  OmOutbox       *outbox;       /* owned, nullable until signed in */
  OmTyping       *typing;       /* owned, nullable until signed in */
  OmReceipts     *receipts;     /* owned, nullable until signed in */
  OmPresence     *presence;     /* owned, nullable until signed in */

  JsonObject     *direct;       /* owned, nullable: our m.direct account data */

  OmCredentialStore *credentials; /* owned, nullable: where the sign-in is kept */
  gboolean        store_secrets;
  OmTokenKeeper  *keeper;       /* owned, nullable: refreshes the token when it can */
  char           *store_key;    /* owned, nullable, secret (om_session_dup_store_key) */
  char           *account_management_uri; /* owned, nullable */

  OmSessionState  state;
  gboolean        started;
};

/* ---- sign-in (om-session.c and om-session-signin.c) ---- */

/* The task data of a sign-in. */
typedef struct {
  OmHttp        *http;             /* owned: a client of its own */
  char          *homeserver;       /* owned */
  OmOAuthServer *oauth_server;     /* owned, nullable: signed in through the OAuth 2.0 API */
  char          *oauth_client_id;  /* owned, nullable */
} OmSessionLogin;

/* A sign-in task for @homeserver with its own client, OmSessionLogin as
 * task data; finished with a boolean. */
GTask       *om_session_new_login_task        (OmSession           *self,
                                               const char          *homeserver,
                                               gpointer             source_tag,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
/* What every sign-in does with the server's answer: opens the account's
 * store, wires the account up, keeps the token fresh and keeps the
 * credentials; then finishes @task (owned).  @login NULL means @error
 * (owned) ends the sign-in. */
void         om_session_complete_login        (GTask               *task,
                                               OmLoginResult       *login,
                                               GError              *error);
/* The device ID the account's store remembers (owned), or NULL. */
char        *om_session_dup_stored_device_id  (OmSession           *self,
                                               const char          *user_id);

/* A new room object for @room_id wired to this session (full ref). */
OmRoom      *om_session_create_room_object    (OmSession   *self,
                                               const char  *room_id);
/* Global account data from /sync (m.direct …); @events may be NULL. */
void         om_session_apply_account_data    (OmSession   *self,
                                               JsonArray   *events);
/* The sync loop's health changed (failures, error): recompute "state". */
void         om_session_sync_state_changed    (OmSession   *self);
/* The set_presence value /sync should send, or NULL for the default (online). */
const char  *om_session_get_sync_set_presence (OmSession   *self);
/* A message was accepted by the server: a good moment to retry a
 * backed-off sync. */
void         om_session_network_ok            (OmSession   *self);

G_END_DECLS
