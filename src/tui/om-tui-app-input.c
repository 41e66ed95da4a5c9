/* om-tui-app-input.c — the full-screen client's composer: keys and drawing
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <ncursesw/curses.h>
#include <string.h>

#include "om-tui-app-input.h"
#include "om-tui-cells.h"
#include "om-tui-text.h"

const char * const om_tui_app_commands[] = {
  "/help", "/join", "/me", "/notice", "/quit", NULL,
};

/* Every editing action; the help text and the dispatch come from this table. */
#define EDIT_ACTIONS(X) \
  X (NEWLINE,     "Alt-Enter",          "line break in the message") \
  X (COMPLETE,    "Tab",                "complete a name or /command (again: the next one)") \
  X (UP,          "Up, Down",           "previous row, or sent messages at the edges") \
  X (LEFT,        "Left",               NULL) \
  X (RIGHT,       "Right",              NULL) \
  X (WORD_LEFT,   "Alt-B",              "word back") \
  X (WORD_RIGHT,  "Alt-F",              "word forward") \
  X (HOME,        "Ctrl-A, Home",       "start of line") \
  X (END,         "Ctrl-E, End",        "end of line") \
  X (BACKSPACE,   "Backspace",          NULL) \
  X (DELETE,      "Delete",             NULL) \
  X (KILL_END,    "Ctrl-K",             "cut to end of line") \
  X (KILL_START,  "Ctrl-U",             "cut to start of line") \
  X (KILL_WORD,   "Ctrl-W",             "cut the word before") \
  X (YANK,        "Ctrl-Y",             "paste what was cut") \
  X (TRANSPOSE,   "Ctrl-T",             "swap characters") \
  X (DOWN,        "",                   NULL)

typedef enum {
#define ACTION_ENUM(name, keys, help) ACTION_##name,
  EDIT_ACTIONS (ACTION_ENUM)
#undef ACTION_ENUM
  ACTION_NONE,
} Action;

typedef struct {
  guint    key;
  gboolean function;   /* an ncurses KEY_* code */
  gboolean alt;        /* after ESC */
  Action   action;
} Binding;

static const Binding bindings[] = {
  { '\r',          FALSE, TRUE,  ACTION_NEWLINE },
  { '\n',          FALSE, TRUE,  ACTION_NEWLINE },
  { KEY_ENTER,     TRUE,  TRUE,  ACTION_NEWLINE },
  { '\t',          FALSE, FALSE, ACTION_COMPLETE },
  { KEY_UP,        TRUE,  FALSE, ACTION_UP },
  { KEY_DOWN,      TRUE,  FALSE, ACTION_DOWN },
  { KEY_LEFT,      TRUE,  FALSE, ACTION_LEFT },
  { 0x02,          FALSE, FALSE, ACTION_LEFT },          /* Ctrl-B */
  { KEY_RIGHT,     TRUE,  FALSE, ACTION_RIGHT },
  { 0x06,          FALSE, FALSE, ACTION_RIGHT },         /* Ctrl-F */
  { 'b',           FALSE, TRUE,  ACTION_WORD_LEFT },
  { 'f',           FALSE, TRUE,  ACTION_WORD_RIGHT },
  { 0x01,          FALSE, FALSE, ACTION_HOME },          /* Ctrl-A */
  { KEY_HOME,      TRUE,  FALSE, ACTION_HOME },
  { 0x05,          FALSE, FALSE, ACTION_END },           /* Ctrl-E */
  { KEY_END,       TRUE,  FALSE, ACTION_END },
  { KEY_BACKSPACE, TRUE,  FALSE, ACTION_BACKSPACE },
  { 0x7F,          FALSE, FALSE, ACTION_BACKSPACE },     /* what most terminals send */
  { 0x08,          FALSE, FALSE, ACTION_BACKSPACE },     /* Ctrl-H */
  { KEY_DC,        TRUE,  FALSE, ACTION_DELETE },
  { 0x04,          FALSE, FALSE, ACTION_DELETE },        /* Ctrl-D */
  { 0x0B,          FALSE, FALSE, ACTION_KILL_END },      /* Ctrl-K */
  { 0x15,          FALSE, FALSE, ACTION_KILL_START },    /* Ctrl-U */
  { 0x17,          FALSE, FALSE, ACTION_KILL_WORD },     /* Ctrl-W */
  { 0x7F,          FALSE, TRUE,  ACTION_KILL_WORD },     /* Alt-Backspace */
  { 0x19,          FALSE, FALSE, ACTION_YANK },          /* Ctrl-Y */
  { 0x14,          FALSE, FALSE, ACTION_TRANSPOSE },     /* Ctrl-T */
};

static Action
lookup (guint    key,
        gboolean function,
        gboolean alt)
{
  for (guint i = 0; i < G_N_ELEMENTS (bindings); i++)
    if (bindings[i].key == key && bindings[i].function == function && bindings[i].alt == alt)
      return bindings[i].action;
  return ACTION_NONE;
}

static void
add_unique (GPtrArray  *candidates,
            GHashTable *seen,
            const char *text)
{
  if (text == NULL || *text == '\0' || g_hash_table_contains (seen, text))
    return;
  g_hash_table_add (seen, g_strdup (text));
  g_ptr_array_add (candidates, g_strdup (text));
}

/* Commands for "/", user IDs for "@", else display names then user IDs. */
static char **
candidates_cb (const char *word,
               gboolean    at_line_start,
               gpointer    user_data)
{
  const OmTuiAppInputContext *context = user_data;
  g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto(GStrv) ids = NULL;

  if (word[0] == '/')
    {
      if (at_line_start)
        for (guint i = 0; om_tui_app_commands[i] != NULL; i++)
          add_unique (candidates, seen, om_tui_app_commands[i]);
    }
  else if (context->room != NULL)
    {
      ids = om_room_dup_member_ids (context->room, OM_MEMBERSHIP_JOIN);
      if (word[0] != '@')
        for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
          {
            g_autofree char *name = NULL;

            if (g_strcmp0 (ids[i], context->own_user_id) == 0)
              continue;
            name = om_room_dup_member_display_name (context->room, ids[i]);
            add_unique (candidates, seen, name);
          }
      for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
        if (g_strcmp0 (ids[i], context->own_user_id) != 0)
          add_unique (candidates, seen, ids[i]);
    }
  if (candidates->len == 0)
    return NULL;
  g_ptr_array_add (candidates, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&candidates), FALSE);
}

static gboolean
is_text (guint key)
{
  return key >= 0x20 && !(key >= 0x7F && key < 0xA0) && g_unichar_validate (key);
}

OmTuiAppInputResult
om_tui_app_input_handle_key (OmTuiInput                 *input,
                             guint                       key,
                             gboolean                    function,
                             gboolean                    alt,
                             int                         width,
                             const OmTuiAppInputContext *context)
{
  g_autofree char *before = NULL;
  gboolean changed = FALSE;
  Action action = lookup (key, function, alt);

  if (action == ACTION_NONE)
    {
      char buffer[8];
      int length;

      if (function || alt || !is_text (key))
        return OM_TUI_APP_INPUT_IGNORED;
      length = g_unichar_to_utf8 (key, buffer);
      om_tui_input_insert (input, buffer, length);
      return OM_TUI_APP_INPUT_EDITED;
    }

  before = g_strdup (om_tui_input_get_text (input));
  width = MAX (width, 1);
  switch (action)
    {
    case ACTION_NEWLINE:
      om_tui_input_newline (input);
      break;
    case ACTION_COMPLETE:
      om_tui_input_complete (input, candidates_cb, (gpointer) context);
      break;
    case ACTION_UP:
      om_tui_input_up (input, width);
      break;
    case ACTION_DOWN:
      om_tui_input_down (input, width);
      break;
    case ACTION_LEFT:
      om_tui_input_move_left (input);
      break;
    case ACTION_RIGHT:
      om_tui_input_move_right (input);
      break;
    case ACTION_WORD_LEFT:
      om_tui_input_word_left (input);
      break;
    case ACTION_WORD_RIGHT:
      om_tui_input_word_right (input);
      break;
    case ACTION_HOME:
      om_tui_input_home (input);
      break;
    case ACTION_END:
      om_tui_input_end (input);
      break;
    case ACTION_BACKSPACE:
      om_tui_input_backspace (input);
      break;
    case ACTION_DELETE:
      om_tui_input_delete (input);
      break;
    case ACTION_KILL_END:
      om_tui_input_kill_to_end (input);
      break;
    case ACTION_KILL_START:
      om_tui_input_kill_to_start (input);
      break;
    case ACTION_KILL_WORD:
      om_tui_input_kill_word_back (input);
      break;
    case ACTION_YANK:
      om_tui_input_yank (input);
      break;
    case ACTION_TRANSPOSE:
      om_tui_input_transpose (input);
      break;
    case ACTION_NONE:
    default:
      break;
    }
  changed = g_strcmp0 (before, om_tui_input_get_text (input)) != 0;
  return changed ? OM_TUI_APP_INPUT_EDITED : OM_TUI_APP_INPUT_MOVED;
}

gboolean
om_tui_app_input_read_alt_key (guint    *out_key,
                               gboolean *out_function)
{
  char sequence[8] = { 0 };
  guint length = 0;
  wint_t c;
  int kind;

  while (length < sizeof sequence - 1 && (kind = get_wch (&c)) != ERR)
    {
      if (kind == KEY_CODE_YES || (length == 0 && c != '[' && c != 'O'))
        {
          if (length > 0)
            return FALSE;
          *out_key = (guint) c;
          *out_function = kind == KEY_CODE_YES;
          return TRUE;
        }
      if (c > 0x7F)
        return FALSE;
      sequence[length++] = (char) c;
      if (length > 1 && g_ascii_isalpha ((char) c))
        break;
    }
  *out_function = TRUE;
  if (g_str_equal (sequence, "[1;3A"))
    *out_key = KEY_UP;
  else if (g_str_equal (sequence, "[1;3B"))
    *out_key = KEY_DOWN;
  else
    return FALSE;
  return TRUE;
}

int
om_tui_app_input_rows (OmTuiInput *input,
                       int         width)
{
  g_autoptr(GArray) rows = NULL;
  guint row, column;

  rows = om_tui_input_layout (input, MAX (width, 1), &row, &column);
  return CLAMP ((int) rows->len, 1, OM_TUI_APP_INPUT_MAX_ROWS);
}

/* @text's bytes [start, end), made safe and cut to @cells; the cells it
 * takes go to @out_cells. */
static char *
dup_fitted (const char *text,
            gsize       start,
            gsize       end,
            int         cells,
            int        *out_cells)
{
  g_autofree char *part = g_strndup (text + start, end - start);
  g_autofree char *clean = om_tui_sanitize (part, NULL);

  *out_cells = 0;
  if (cells <= 0)
    return g_strdup ("");
  return om_tui_cells_fit (clean, cells, out_cells);
}

void
om_tui_app_input_draw (OmTuiInput *input,
                       int         top,
                       int         rows,
                       int         columns)
{
  int width = MAX (columns - OM_TUI_APP_INPUT_PROMPT, 1);
  const char *text = om_tui_input_get_text (input);
  gsize cursor = om_tui_input_get_cursor (input);
  g_autoptr(GArray) layout = NULL;
  guint cursor_row = 0;
  guint cursor_column = 0;
  guint first;
  int cursor_y = top;
  int cursor_x = OM_TUI_APP_INPUT_PROMPT;

  layout = om_tui_input_layout (input, width, &cursor_row, &cursor_column);
  rows = MAX (rows, 1);
  first = cursor_row >= (guint) rows ? cursor_row - (guint) rows + 1 : 0;
  for (int r = 0; r < rows && first + (guint) r < layout->len; r++)
    {
      const OmTuiInputRow *row = &g_array_index (layout, OmTuiInputRow, first + (guint) r);
      g_autofree char *fit = NULL;
      int used;

      move (top + r, 0);
      addstr (first + (guint) r == 0 ? "> " : "  ");
      fit = dup_fitted (text, row->start, row->end, width, &used);
      addstr (fit);
      if (first + (guint) r == cursor_row)
        {
          /* Measured as drawn, so the cursor sits where the text is. */
          g_autofree char *left = dup_fitted (text, row->start, CLAMP (cursor, row->start, row->end),
                                              width, &used);

          cursor_y = top + r;
          cursor_x = OM_TUI_APP_INPUT_PROMPT + MIN (used, width - 1);
        }
    }
  move (cursor_y, MIN (cursor_x, columns - 1));
}

void
om_tui_app_input_append_help (GString *help)
{
  static const char * const keys[] = {
#define ACTION_KEYS(name, k, text) k,
    EDIT_ACTIONS (ACTION_KEYS)
#undef ACTION_KEYS
  };
  static const char * const texts[] = {
#define ACTION_TEXT(name, k, text) text,
    EDIT_ACTIONS (ACTION_TEXT)
#undef ACTION_TEXT
  };

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    if (texts[i] != NULL)
      g_string_append_printf (help, " %s: %s ·", keys[i], texts[i]);
}
