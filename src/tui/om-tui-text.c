/* om-tui-text.c — making network text safe for a terminal
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include "om-tui-text.h"

static gboolean
is_bidi_control (gunichar c)
{
  return c == 0x061C ||                    /* ARABIC LETTER MARK */
         c == 0x200E || c == 0x200F ||     /* LRM, RLM */
         (c >= 0x202A && c <= 0x202E) ||   /* LRE, RLE, PDF, LRO, RLO */
         (c >= 0x2066 && c <= 0x2069);     /* LRI, RLI, FSI, PDI */
}

static gboolean
is_combining (gunichar c)
{
  GUnicodeType type = g_unichar_type (c);

  return type == G_UNICODE_NON_SPACING_MARK ||
         type == G_UNICODE_SPACING_MARK ||
         type == G_UNICODE_ENCLOSING_MARK;
}

char *
om_tui_sanitize (const char *text,
                 const char *newline)
{
  GString *out;
  const char *p;
  const char *end;
  guint combining = 0;

  if (text == NULL)
    return g_strdup ("");

  out = g_string_sized_new (strlen (text));
  p = text;
  end = text + strlen (text);

  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          /* One replacement per invalid byte, then resynchronise. */
          g_string_append_unichar (out, 0xFFFD);
          combining = 0;
          p++;
          continue;
        }
      p = g_utf8_next_char (p);

      if (c == '\n')
        {
          if (newline != NULL)
            g_string_append (out, newline);
          combining = 0;
          continue;
        }
      if (c == '\t')
        {
          g_string_append_c (out, ' ');
          combining = 0;
          continue;
        }
      if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0) || is_bidi_control (c) ||
          c == 0x2028 || c == 0x2029)
        continue;

      if (is_combining (c))
        {
          if (combining >= OM_TUI_MAX_COMBINING)
            continue;
          combining++;
        }
      else
        combining = 0;

      g_string_append_unichar (out, c);
    }

  return g_string_free (out, FALSE);
}
