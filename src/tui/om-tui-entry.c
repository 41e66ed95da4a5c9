/* om-tui-entry.c — the full-screen client's input line (minimal)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <ncursesw/curses.h>

#include "om-tui-cells.h"
#include "om-tui-entry.h"

struct _OmTuiEntry {
  GArray  *chars;    /* gunichar, the text */
  guint    cursor;   /* index into chars */
  char    *text;     /* owned cache of chars as UTF-8, NULL when stale */
};

OmTuiEntry *
om_tui_entry_new (void)
{
  OmTuiEntry *self = g_new0 (OmTuiEntry, 1);

  self->chars = g_array_new (FALSE, FALSE, sizeof (gunichar));
  return self;
}

void
om_tui_entry_free (OmTuiEntry *self)
{
  if (self == NULL)
    return;
  g_array_unref (self->chars);
  g_free (self->text);
  g_free (self);
}

static void
changed (OmTuiEntry *self)
{
  g_clear_pointer (&self->text, g_free);
}

OmTuiEntryResult
om_tui_entry_handle_key (OmTuiEntry *self,
                         guint       key,
                         gboolean    is_function)
{
  if (is_function)
    {
      switch (key)
        {
        case KEY_LEFT:
          if (self->cursor > 0)
            self->cursor--;
          return OM_TUI_ENTRY_MOVED;
        case KEY_RIGHT:
          if (self->cursor < self->chars->len)
            self->cursor++;
          return OM_TUI_ENTRY_MOVED;
        case KEY_HOME:
          self->cursor = 0;
          return OM_TUI_ENTRY_MOVED;
        case KEY_END:
          self->cursor = self->chars->len;
          return OM_TUI_ENTRY_MOVED;
        case KEY_BACKSPACE:
          break;
        case KEY_DC:
          if (self->cursor == self->chars->len)
            return OM_TUI_ENTRY_MOVED;
          g_array_remove_index (self->chars, self->cursor);
          changed (self);
          return OM_TUI_ENTRY_EDITED;
        default:
          return OM_TUI_ENTRY_IGNORED;
        }
    }

  switch (key)
    {
    case KEY_BACKSPACE:
    case 0x08:  /* Ctrl-H */
    case 0x7F:  /* DEL, what most terminals send for Backspace */
      if (self->cursor == 0)
        return OM_TUI_ENTRY_MOVED;
      self->cursor--;
      g_array_remove_index (self->chars, self->cursor);
      changed (self);
      return OM_TUI_ENTRY_EDITED;
    case 0x01:  /* Ctrl-A */
      self->cursor = 0;
      return OM_TUI_ENTRY_MOVED;
    case 0x05:  /* Ctrl-E */
      self->cursor = self->chars->len;
      return OM_TUI_ENTRY_MOVED;
    case 0x15:  /* Ctrl-U: kill to the start */
      g_array_remove_range (self->chars, 0, self->cursor);
      self->cursor = 0;
      changed (self);
      return OM_TUI_ENTRY_EDITED;
    default:
      break;
    }

  if (key < 0x20 || (key >= 0x7F && key < 0xA0) || !g_unichar_validate (key))
    return OM_TUI_ENTRY_IGNORED;

  {
    gunichar c = key;

    g_array_insert_val (self->chars, self->cursor, c);
    self->cursor++;
    changed (self);
  }
  return OM_TUI_ENTRY_EDITED;
}

const char *
om_tui_entry_get_text (OmTuiEntry *self)
{
  if (self->text == NULL)
    self->text = g_ucs4_to_utf8 ((gunichar *) self->chars->data, self->chars->len, NULL, NULL, NULL);
  if (self->text == NULL)
    self->text = g_strdup ("");
  return self->text;
}

void
om_tui_entry_clear (OmTuiEntry *self)
{
  g_array_set_size (self->chars, 0);
  self->cursor = 0;
  changed (self);
}

char *
om_tui_entry_dup_view (OmTuiEntry *self,
                       int         cells,
                       int        *out_cursor)
{
  const gunichar *chars = (const gunichar *) self->chars->data;
  GString *view = g_string_new (NULL);
  guint start = self->cursor;
  int before = 0;
  int used = 0;

  cells = MAX (cells, 2);
  /* Walk back from the cursor while the text before it fits, keeping one
   * cell for the cursor itself. */
  while (start > 0 && before + om_tui_cells_char_width (chars[start - 1]) <= cells - 1)
    {
      start--;
      before += om_tui_cells_char_width (chars[start]);
    }
  /* Leave marks out of the first cell: they would have no base. */
  while (start < self->cursor && om_tui_cells_char_width (chars[start]) == 0)
    start++;

  for (guint i = start; i < self->chars->len; i++)
    {
      int width = om_tui_cells_char_width (chars[i]);

      if (used + width > cells)
        break;
      if (i == self->cursor)
        *out_cursor = used;
      g_string_append_unichar (view, chars[i]);
      used += width;
    }
  if (self->cursor == self->chars->len || self->cursor < start)
    *out_cursor = MIN (used, cells - 1);
  return g_string_free (view, FALSE);
}
