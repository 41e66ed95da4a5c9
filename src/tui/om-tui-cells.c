/* om-tui-cells.c — measuring, cutting and putting sanitised text in terminal cells
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <ncursesw/curses.h>
#include <string.h>
#include <wchar.h>

#include "om-tui-cells.h"

int
om_tui_cells_char_width (gunichar c)
{
  int width = wcwidth ((wchar_t) c);

  if (width < 0)
    return 1;  /* shown as U+FFFD */
  return MIN (width, 2);
}

int
om_tui_cells_width (const char *text)
{
  int cells = 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    cells += om_tui_cells_char_width (g_utf8_get_char (p));
  return cells;
}

char *
om_tui_cells_fit (const char *text,
                  int         max_cells,
                  int        *out_cells)
{
  GString *out = g_string_sized_new (strlen (text));
  gboolean have_base = FALSE;
  int cells = 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      int width = wcwidth ((wchar_t) c);

      if (width < 0)
        {
          c = 0xFFFD;
          width = 1;
        }
      if (width == 0)
        {
          /* A mark with nothing to sit on would land in a cell of its own
           * choosing, or on the pane's border. */
          if (have_base)
            g_string_append_unichar (out, c);
          continue;
        }
      width = MIN (width, 2);
      if (cells + width > max_cells)
        break;
      g_string_append_unichar (out, c);
      cells += width;
      have_base = TRUE;
    }

  if (out_cells != NULL)
    *out_cells = cells;
  return g_string_free (out, FALSE);
}

GPtrArray *
om_tui_cells_wrap (const char *text,
                   int         cells,
                   int         first_indent)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  const char *p = text;

  cells = MAX (cells, 2);
  first_indent = CLAMP (first_indent, 0, cells - 2);

  while (*p != '\0')
    {
      int room = cells - (lines->len == 0 ? first_indent : 0);
      const char *q = p;
      const char *last_space = NULL;
      int used = 0;

      while (*q != '\0')
        {
          gunichar c = g_utf8_get_char (q);
          int width = om_tui_cells_char_width (c);

          if (used + width > room)
            break;
          if (c == ' ')
            last_space = q;
          used += width;
          q = g_utf8_next_char (q);
        }

      if (*q != '\0' && last_space != NULL && last_space > p)
        {
          g_ptr_array_add (lines, g_strndup (p, last_space - p));
          p = last_space + 1;
          continue;
        }
      if (q == p)
        {
          /* Not even one character fits (a wide one in one cell): skip it
           * rather than loop for ever. */
          q = g_utf8_next_char (q);
        }
      /* Marks go with their base character onto its line. */
      while (*q != '\0' && wcwidth ((wchar_t) g_utf8_get_char (q)) == 0)
        q = g_utf8_next_char (q);
      g_ptr_array_add (lines, g_strndup (p, q - p));
      p = q;
    }

  if (lines->len == 0)
    g_ptr_array_add (lines, g_strdup (""));
  return lines;
}

int
om_tui_cells_put (const char *text,
                  int         cells)
{
  g_autofree char *fit = NULL;
  int used = 0;

  if (cells <= 0)
    return 0;
  fit = om_tui_cells_fit (text, cells, &used);
  addstr (fit);
  return used;
}
