/* om-tui-qr.c — a URL as a QR code in the terminal, for a phone to scan
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include "om-tui-qr.h"

#include <errno.h>
#include <qrencode.h>

/* Level L: a code on a screen is not smudged or torn, so the extra
 * redundancy of M would only make it bigger — a 200-byte URL needs version
 * 9 (53 modules) at L but version 10 (57) at M. */
#define QR_LEVEL QR_ECLEVEL_L

/* What the largest code, version 40 at level L, holds in 8-bit mode. */
#define QR_MAX_BYTES 2953

G_DEFINE_QUARK (om-tui-qr-error-quark, om_tui_qr_error)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (QRcode, QRcode_free)

static QRcode *
encode (const char  *text,
        GError     **error)
{
  QRcode *code;

  if (*text == '\0')
    {
      g_set_error_literal (error, OM_TUI_QR_ERROR, OM_TUI_QR_ERROR_EMPTY,
                           "There is nothing to show as a QR code: the text is empty.");
      return NULL;
    }

  code = QRcode_encodeString (text, 0, QR_LEVEL, QR_MODE_8, 1);
  if (code == NULL)
    {
      int saved_errno = errno;

      if (saved_errno == ERANGE)
        g_set_error (error, OM_TUI_QR_ERROR, OM_TUI_QR_ERROR_TOO_LONG,
                     "The text is too long for a QR code (%zu bytes; one holds at most %d). "
                     "Copy the link by hand instead.",
                     strlen (text), QR_MAX_BYTES);
      else
        g_set_error (error, OM_TUI_QR_ERROR, OM_TUI_QR_ERROR_FAILED,
                     "Could not make a QR code: %s. Copy the link by hand instead.",
                     g_strerror (saved_errno));
    }

  return code;
}

/* Side of the drawn square in modules: the code and its quiet zone. */
static int
drawn_modules (const QRcode *code)
{
  return code->width + 2 * OM_TUI_QR_QUIET_ZONE;
}

static void
measure (const QRcode *code,
         OmTuiQrStyle  style,
         int          *columns,
         int          *rows)
{
  int n = drawn_modules (code);

  switch (style)
    {
    case OM_TUI_QR_UTF8_HALF_BLOCKS:
      *columns = n;
      *rows = (n + 1) / 2;
      break;
    case OM_TUI_QR_ASCII:
      *columns = 2 * n;
      *rows = n;
      break;
    default:
      g_assert_not_reached ();
    }
}

/* Whether the terminal draws ink at module (@x, @y) of the drawn square:
 * the light modules and the quiet zone get ink (see om-tui-qr.h), and
 * below the square there is only terminal background. */
static gboolean
has_ink (const QRcode *code,
         int           x,
         int           y)
{
  int n = drawn_modules (code);
  int cx = x - OM_TUI_QR_QUIET_ZONE;
  int cy = y - OM_TUI_QR_QUIET_ZONE;

  if (y >= n)
    return FALSE;
  if (cx < 0 || cy < 0 || cx >= code->width || cy >= code->width)
    return TRUE;

  /* Bit 0 of each module is set for a dark module. */
  return (code->data[cy * code->width + cx] & 1) == 0;
}

static void
render_half_blocks (const QRcode *code,
                    GString      *out)
{
  int n = drawn_modules (code);

  for (int y = 0; y < n; y += 2)
    {
      for (int x = 0; x < n; x++)
        {
          gboolean top = has_ink (code, x, y);
          gboolean bottom = has_ink (code, x, y + 1);

          if (top && bottom)
            g_string_append (out, "█");
          else if (top)
            g_string_append (out, "▀");
          else if (bottom)
            g_string_append (out, "▄");
          else
            g_string_append_c (out, ' ');
        }
      g_string_append_c (out, '\n');
    }
}

static void
render_ascii (const QRcode *code,
              GString      *out)
{
  int n = drawn_modules (code);

  for (int y = 0; y < n; y++)
    {
      for (int x = 0; x < n; x++)
        g_string_append (out, has_ink (code, x, y) ? "##" : "  ");
      g_string_append_c (out, '\n');
    }
}

char *
om_tui_qr_render (const char    *text,
                  OmTuiQrStyle   style,
                  GError       **error)
{
  g_autoptr(QRcode) code = NULL;
  GString *out;
  int columns;
  int rows;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (style == OM_TUI_QR_UTF8_HALF_BLOCKS || style == OM_TUI_QR_ASCII, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  code = encode (text, error);
  if (code == NULL)
    return NULL;

  measure (code, style, &columns, &rows);
  /* Up to three bytes per column for the block characters. */
  out = g_string_sized_new ((gsize) rows * (3 * columns + 1) + 1);

  if (style == OM_TUI_QR_UTF8_HALF_BLOCKS)
    render_half_blocks (code, out);
  else
    render_ascii (code, out);

  return g_string_free (out, FALSE);
}

gboolean
om_tui_qr_size (const char    *text,
                OmTuiQrStyle   style,
                int           *columns,
                int           *rows,
                GError       **error)
{
  g_autoptr(QRcode) code = NULL;
  int c;
  int r;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (style == OM_TUI_QR_UTF8_HALF_BLOCKS || style == OM_TUI_QR_ASCII, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  code = encode (text, error);
  if (code == NULL)
    return FALSE;

  measure (code, style, &c, &r);
  if (columns != NULL)
    *columns = c;
  if (rows != NULL)
    *rows = r;
  return TRUE;
}

gboolean
om_tui_qr_fits (const char   *text,
                OmTuiQrStyle  style,
                int           columns,
                int           rows)
{
  int c;
  int r;

  g_return_val_if_fail (text != NULL, FALSE);

  if (!om_tui_qr_size (text, style, &c, &r, NULL))
    return FALSE;
  return c <= columns && r <= rows;
}
