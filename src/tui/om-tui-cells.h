/* om-tui-cells.h — measuring, cutting and putting sanitised text in terminal cells
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The cells @c takes: 0 for combining and other zero-width characters, 2
 * for wide ones (CJK, most emoji), 1 otherwise.  A character wcwidth()
 * does not know counts as the U+FFFD it is shown as. */
int        om_tui_cells_char_width  (gunichar    c);

/* The cells @text (valid UTF-8, sanitised) takes on one line. */
int        om_tui_cells_width       (const char *text);

/* A copy of @text (sanitised with om_tui_sanitize) ready to be put on the
 * screen in at most @max_cells cells: characters wcwidth() does not know
 * become U+FFFD, zero-width characters with no character to sit on are
 * dropped, and a wide character that would straddle the end is left out.
 * The cells used go to @out_cells (nullable). */
char      *om_tui_cells_fit         (const char *text,
                                     int         max_cells,
                                     int        *out_cells);

/* Breaks @text (sanitised, one paragraph) into lines of at most @cells
 * cells, at spaces where it can and anywhere where it must.  The first line
 * may be shorter by @first_indent cells.  Never returns an empty array. */
GPtrArray *om_tui_cells_wrap        (const char *text,
                                     int         cells,
                                     int         first_indent);

/* Puts @text (sanitised) at the ncurses cursor in at most @cells cells,
 * cut with om_tui_cells_fit.  Returns the cells used. */
int        om_tui_cells_put         (const char *text,
                                     int         cells);

G_END_DECLS
