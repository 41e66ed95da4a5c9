/* om-tui-input.h — the composer's line editor, independent of the screen
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Entries kept by om_tui_input_new (0). */
#define OM_TUI_INPUT_HISTORY_DEFAULT 500

/* A pasted tab becomes this many spaces. */
#define OM_TUI_INPUT_TAB_WIDTH 4

/* An editable UTF-8 text with a cursor, a kill ring of one entry and a
 * history, driven with readline/emacs operations; the caller maps keys to
 * them and draws om_tui_input_layout().
 *
 * The text is always valid UTF-8 without control characters other than
 * '\n' (it may hold several lines).  The cursor is a byte offset that sits
 * between "clusters": a base character with the combining marks, variation
 * selectors, skin-tone modifiers and zero-width-joined characters that
 * follow it, so that moving and deleting never splits "é" written as e +
 * U+0301, nor a joined emoji.  A newline is always a cluster of its own.
 *
 * Operations returning gboolean return whether anything changed (a
 * caller may ring the bell otherwise). */
typedef struct _OmTuiInput OmTuiInput;

/* One screen row of the text: bytes [start, end) drawn from column 0.
 * end excludes the newline that ends a line. */
typedef struct {
  gsize start;
  gsize end;
  guint columns;    /* display columns taken; > width only for one cluster
                     * wider than the whole row */
} OmTuiInputRow;

/* Returns the completion candidates for @word (the text between the last
 * whitespace and the cursor; never empty), most wanted first: e.g. commands
 * when @word starts with "/", user IDs for "@", else display names and
 * IDs of recent speakers.  They need not be filtered: the editor keeps the
 * ones that start with @word, ignoring case.  @at_line_start: the word
 * begins a line.  Returns an owned NULL-terminated array, or NULL. */
typedef char **(*OmTuiInputCandidatesFunc) (const char *word,
                                            gboolean    at_line_start,
                                            gpointer    user_data);

OmTuiInput   *om_tui_input_new              (guint                     history_max);
void          om_tui_input_free             (OmTuiInput               *self);

/* Borrowed, valid until the next change. */
const char   *om_tui_input_get_text         (OmTuiInput               *self);
gsize         om_tui_input_get_cursor       (OmTuiInput               *self);
/* Puts the cursor at @cursor (clamped), moved back to a cluster start. */
void          om_tui_input_set_cursor       (OmTuiInput               *self,
                                             gsize                     cursor);
/* Replaces the text (cleaned like om_tui_input_insert), cursor at the end;
 * for restoring a room's draft.  Leaves history browsing. */
void          om_tui_input_set_text         (OmTuiInput               *self,
                                             const char               *text);
/* TRUE while there is nothing to send: the text is empty or only
 * whitespace.  A typing notification is due while this is FALSE. */
gboolean      om_tui_input_is_empty         (OmTuiInput               *self);

/* Inserts typed or pasted @text (@len bytes, or -1: NUL-terminated) at the
 * cursor and moves past it.  Invalid UTF-8 bytes become U+FFFD each; "\r\n"
 * and a lone '\r' (what terminals paste) and U+2028/U+2029 become '\n'; a
 * tab becomes OM_TUI_INPUT_TAB_WIDTH spaces; other C0 and C1 controls and
 * DEL are dropped. */
void          om_tui_input_insert           (OmTuiInput               *self,
                                             const char               *text,
                                             gssize                    len);
/* Alt-Enter: a line break in the message. */
void          om_tui_input_newline          (OmTuiInput               *self);
/* Empties the text and leaves history browsing, dropping a draft put
 * aside; the kill ring stays, so nothing killed is lost. */
void          om_tui_input_clear            (OmTuiInput               *self);

/* Deleting and moving go by cluster. */
gboolean      om_tui_input_backspace        (OmTuiInput               *self);
gboolean      om_tui_input_delete           (OmTuiInput               *self);
gboolean      om_tui_input_move_left        (OmTuiInput               *self);
gboolean      om_tui_input_move_right       (OmTuiInput               *self);
/* M-b / M-f: to the start of this or the previous word, to the end of
 * this or the next one; words are runs of letters and digits. */
gboolean      om_tui_input_word_left        (OmTuiInput               *self);
gboolean      om_tui_input_word_right       (OmTuiInput               *self);
/* C-a / C-e: start and end of the current line ('\n'-separated). */
gboolean      om_tui_input_home             (OmTuiInput               *self);
gboolean      om_tui_input_end              (OmTuiInput               *self);

/* Up / Down: one screen row of om_tui_input_layout (@width) up or down,
 * keeping the column (across consecutive moves, as Emacs does); from the
 * first row Up recalls the previous history entry, from the last row Down
 * the next one (or, past the newest, the draft put aside). */
gboolean      om_tui_input_up               (OmTuiInput               *self,
                                             int                       width);
gboolean      om_tui_input_down             (OmTuiInput               *self,
                                             int                       width);

/* Kills put the text killed in the kill ring, replacing it, except right
 * after another kill, which they extend (as in Emacs, so C-w C-w yanks
 * back both words).
 * C-k: to the end of the line; at the end, the newline (joins lines).
 * C-u: to the start of the line; at the start, the newline before.
 * C-w: the whitespace-delimited word before the cursor, as readline's
 * unix-word-rubout does, so "@alice:example.org" or a URL goes at once. */
gboolean      om_tui_input_kill_to_end      (OmTuiInput               *self);
gboolean      om_tui_input_kill_to_start    (OmTuiInput               *self);
gboolean      om_tui_input_kill_word_back   (OmTuiInput               *self);
/* C-y: inserts the kill ring's entry at the cursor. */
gboolean      om_tui_input_yank             (OmTuiInput               *self);
/* C-t: swaps the clusters before and at the cursor and moves past both;
 * at the end of a line, the two before the cursor.  Never moves a
 * newline. */
gboolean      om_tui_input_transpose        (OmTuiInput               *self);

/* Browsing: the first step back puts the text being composed aside (with
 * its cursor) and the step forward past the newest entry restores it.
 * Edits to a recalled entry are dropped when moving on.  Cursor at the
 * end of a recalled entry. */
gboolean      om_tui_input_history_prev     (OmTuiInput               *self);
gboolean      om_tui_input_history_next     (OmTuiInput               *self);
/* Appends @text unless it repeats the newest entry; forgets the oldest
 * beyond the size given to om_tui_input_new(); e.g. to load saved ones. */
void          om_tui_input_add_history      (OmTuiInput               *self,
                                             const char               *text);
guint         om_tui_input_get_history_len  (OmTuiInput               *self);
/* Borrowed; 0 is the oldest. */
const char   *om_tui_input_get_history      (OmTuiInput               *self,
                                             guint                     index);

/* Enter: returns the text to send (owned) without blank leading lines
 * nor trailing whitespace, adds it to the history and empties the editor,
 * dropping a draft put aside.  When om_tui_input_is_empty(), returns NULL
 * and changes nothing. */
char         *om_tui_input_take             (OmTuiInput               *self);

/* Tab, WeeChat style: replaces the word before the cursor with its first
 * match and each following call (with nothing else in between) with the
 * next one, round and round.  A completed name at the start of a line
 * gets ": " appended (IRC style), anything else (a command, a name
 * further on) " "; the space is left out when whitespace follows already.
 * Returns FALSE when nothing matches. */
gboolean      om_tui_input_complete         (OmTuiInput               *self,
                                             OmTuiInputCandidatesFunc  func,
                                             gpointer                  user_data);
/* Tab, readline style: a unique match is completed as above; several
 * extend the word to their longest common prefix (compared ignoring case,
 * spelt as the first match) and stop there so that the caller can list
 * them.  Returns the number of matches and, when @matches is not NULL,
 * sets it to them (owned; NULL when there are none). */
guint         om_tui_input_complete_common  (OmTuiInput               *self,
                                             OmTuiInputCandidatesFunc  func,
                                             gpointer                  user_data,
                                             char                   ***matches);
/* The longest prefix of @strings[0] that every one of @strings starts
 * with, ignoring case; never splits a cluster.  Owned; "" for none. */
char         *om_tui_common_prefix          (const char * const       *strings);

/* Wraps the text into rows of @width (> 0) display columns: a wide (CJK,
 * emoji) character takes two, a combining or zero-width one none, and a
 * cluster is never split across rows.  A line that fills its last row
 * exactly gets one more, empty, row for the cursor to stand in.  Returns
 * the rows (owned GArray of OmTuiInputRow, at least one) and the cursor's
 * row and column. */
GArray       *om_tui_input_layout           (OmTuiInput               *self,
                                             int                       width,
                                             guint                    *cursor_row,
                                             guint                    *cursor_column);

/* The display width of one character, as om_tui_input_layout counts it. */
guint         om_tui_char_width             (gunichar                  c);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmTuiInput, om_tui_input_free)

G_END_DECLS
