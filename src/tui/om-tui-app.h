/* om-tui-app.h — the full-screen terminal client
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "om-tui-line.h"

G_BEGIN_DECLS

/* Signs in as line mode does (a saved sign-in, else the access token or
 * the password, asked before the screen is taken), then runs the
 * full-screen client until /quit (once the outbox has drained) or a
 * signal.  Returns the process exit status. */
int     om_tui_app_run     (OmTuiLineOptions *options);

G_END_DECLS
