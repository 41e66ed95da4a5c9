/* om-tui-line.h — the line-mode client: timeline as lines, stdin as input
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char     *homeserver;     /* base URL */
  char     *user;           /* localpart or MXID */
  char     *password;       /* owned; wiped after use */
  char     *room;           /* room ID or alias, nullable: the newest room */
  char     *data_dir;       /* nullable: the default */
  guint     history;        /* events printed when a room opens */
} OmTuiLineOptions;

/* Runs until stdin closes (and the outbox has drained) or /quit.
 * Returns the process exit status. */
int     om_tui_line_run    (OmTuiLineOptions *options);

G_END_DECLS
