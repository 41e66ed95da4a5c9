/* om-tui-entry.h — the full-screen client's input line (minimal)
 *
 * A stand-in editor behind the few calls the app makes, so that the real
 * line editor (om-tui-input) can take its place without touching the app.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _OmTuiEntry OmTuiEntry;

/* What a key did to the entry. */
typedef enum {
  OM_TUI_ENTRY_IGNORED,   /* not an editing key: the app may use it */
  OM_TUI_ENTRY_MOVED,     /* the cursor moved, the text is the same */
  OM_TUI_ENTRY_EDITED,    /* the text changed */
} OmTuiEntryResult;

OmTuiEntry        *om_tui_entry_new         (void);
void               om_tui_entry_free        (OmTuiEntry  *self);

/* @key is a character (@is_function FALSE) or an ncurses KEY_* code. */
OmTuiEntryResult   om_tui_entry_handle_key  (OmTuiEntry  *self,
                                             guint        key,
                                             gboolean     is_function);
/* The text typed (borrowed, UTF-8). */
const char        *om_tui_entry_get_text    (OmTuiEntry  *self);
void               om_tui_entry_clear       (OmTuiEntry  *self);

/* The part to show in @cells cells, scrolled so the cursor is visible
 * (owned), and the cursor's cell in it. */
char              *om_tui_entry_dup_view    (OmTuiEntry  *self,
                                             int          cells,
                                             int         *out_cursor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmTuiEntry, om_tui_entry_free)

G_END_DECLS
