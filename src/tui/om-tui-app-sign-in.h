/* om-tui-app-sign-in.h — signing in before the full-screen client starts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-session.h"
#include "om-tui-line.h"

G_BEGIN_DECLS

/* Restores the saved sign-in fitting the options' homeserver and user when
 * secrets are kept, else signs in with the access token or the password
 * (asked through options->ask_password, on the terminal, before curses
 * owns it).  Says what it does on stderr.  SSO and OIDC are line-mode
 * only for now: G_IO_ERROR_NOT_SUPPORTED. */
void       om_tui_app_sign_in_async   (OmSession           *session,
                                       OmTuiLineOptions    *options,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data);
gboolean   om_tui_app_sign_in_finish  (OmSession           *session,
                                       GAsyncResult        *result,
                                       GError             **error);

G_END_DECLS
