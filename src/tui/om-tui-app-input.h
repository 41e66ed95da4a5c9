/* om-tui-app-input.h — the full-screen client's composer: keys and drawing
 *
 * Maps keys to the line editor (om-tui-input), offers the open room's
 * members and the client's commands for Tab, and draws the editor's
 * wrapped rows at the bottom of the screen.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "om-room.h"
#include "om-tui-input.h"

G_BEGIN_DECLS

/* The input area grows up to this many rows. */
#define OM_TUI_APP_INPUT_MAX_ROWS 5
/* The cells before every row: "> " on the first, blanks after. */
#define OM_TUI_APP_INPUT_PROMPT   2

/* What a key did to the editor. */
typedef enum {
  OM_TUI_APP_INPUT_IGNORED,   /* not an editing key: the app may use it */
  OM_TUI_APP_INPUT_MOVED,     /* the cursor moved, or nothing happened */
  OM_TUI_APP_INPUT_EDITED,    /* the text changed */
} OmTuiAppInputResult;

/* What Tab completes against. */
typedef struct {
  OmRoom     *room;           /* nullable: the open room */
  const char *own_user_id;    /* nullable: left out of the candidates */
} OmTuiAppInputContext;

/* @key is a character (@function FALSE) or an ncurses KEY_* code; @alt:
 * it came after ESC.  @width: the cells the editor's rows take. */
OmTuiAppInputResult  om_tui_app_input_handle_key  (OmTuiInput                 *input,
                                                   guint                       key,
                                                   gboolean                    function,
                                                   gboolean                    alt,
                                                   int                         width,
                                                   const OmTuiAppInputContext *context);

/* After ESC: reads the key that follows, with Alt held: a character
 * (Alt-B, Alt-Enter, Alt-1…), a KEY_* code, or KEY_UP/KEY_DOWN for the
 * Alt-arrow sequences of terminals whose terminfo lacks kUP3/kDN3
 * (ESC [ 1 ; 3 A).  FALSE for a lone ESC or another sequence. */
gboolean             om_tui_app_input_read_alt_key (guint                     *out_key,
                                                    gboolean                  *out_function);

/* The rows the input area takes for @width (1 … OM_TUI_APP_INPUT_MAX_ROWS). */
int                  om_tui_app_input_rows        (OmTuiInput                 *input,
                                                   int                         width);
/* Draws the editor in rows @top … @top + @rows - 1 of the screen, across
 * @columns cells, and leaves the terminal cursor on the editor's. */
void                 om_tui_app_input_draw        (OmTuiInput                 *input,
                                                   int                         top,
                                                   int                         rows,
                                                   int                         columns);

/* Appends the editing keys' help (" keys: what ·" each) to @help. */
void                 om_tui_app_input_append_help (GString                    *help);

/* The slash commands, for /help and for Tab. */
extern const char * const om_tui_app_commands[];

G_END_DECLS
