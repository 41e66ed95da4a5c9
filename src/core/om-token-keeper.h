/* om-token-keeper.h — keeps a signed-in account's access token fresh
 *
 * For a sign-in that came with a refresh token (the OAuth 2.0 API, or
 * Matrix's own refresh tokens): refreshes ahead of expiry and whenever the
 * server rejects the token (it is the OmHttp's refresher), keeps the new
 * tokens in the credential store, and — with a lock file in the account's
 * directory — makes sure two clients of one account (the desktop and the
 * terminal client) never spend the same refresh token: whoever comes second
 * finds the first one's new tokens in the store and adopts them.
 *
 * A refresh that fails for now (network, 5xx) is retried with back-off; a
 * refresh token the server refuses (4xx) emits "rejected".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-credentials.h"
#include "om-http.h"

G_BEGIN_DECLS

#define OM_TYPE_TOKEN_KEEPER (om_token_keeper_get_type ())
G_DECLARE_FINAL_TYPE (OmTokenKeeper, om_token_keeper, OM, TOKEN_KEEPER, GObject)

/* @credentials must have a refresh token (copied).  @store (nullable)
 * keeps the refreshed tokens; @lock_path (nullable) is the file whose lock
 * serialises refreshes between processes.
 * Signals:
 *   refreshed ()              the token changed (a refresh, or adopted)
 *   rejected (GError *error)  the refresh token was refused: signed out */
OmTokenKeeper       *om_token_keeper_new             (OmHttp              *http,
                                                      OmCredentialStore   *store,
                                                      const OmCredentials *credentials,
                                                      const char          *lock_path);
/* Becomes @http's refresher and plans the refresh ahead of expiry. */
void                 om_token_keeper_start           (OmTokenKeeper       *self);
/* Stops refreshing; requests waiting for a token fail. */
void                 om_token_keeper_stop            (OmTokenKeeper       *self);
/* The current tokens (borrowed; secrets). */
const OmCredentials *om_token_keeper_get_credentials (OmTokenKeeper       *self);
/* Refreshes now (or adopts what another client stored). */
void                 om_token_keeper_refresh_async   (OmTokenKeeper       *self,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
gboolean             om_token_keeper_refresh_finish  (OmTokenKeeper       *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);
/* For tests: refresh requests sent, and tokens adopted from the store. */
guint                om_token_keeper_get_n_refreshes (OmTokenKeeper       *self);
guint                om_token_keeper_get_n_adopted   (OmTokenKeeper       *self);

G_END_DECLS
