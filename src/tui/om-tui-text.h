/* om-tui-text.h — making network text safe for a terminal
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* At most this many combining marks are kept after one base character. */
#define OM_TUI_MAX_COMBINING 4

/* Returns a copy of @text that cannot steer a terminal: invalid UTF-8
 * becomes U+FFFD; C0 and C1 control characters (ESC included, so no escape
 * sequence survives), DEL, bidirectional overrides and isolates are
 * dropped; runs of combining marks are cut to OM_TUI_MAX_COMBINING.
 * Newlines become @newline (NULL: dropped) and tabs a space. */
char   *om_tui_sanitize    (const char *text,
                            const char *newline);

G_END_DECLS
