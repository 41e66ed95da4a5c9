/* om-tui-qr.h — a URL as a QR code in the terminal, for a phone to scan
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define OM_TUI_QR_ERROR (om_tui_qr_error_quark ())

typedef enum {
  OM_TUI_QR_ERROR_EMPTY,      /* nothing to encode */
  OM_TUI_QR_ERROR_TOO_LONG,   /* more than the largest QR code (version 40) holds */
  OM_TUI_QR_ERROR_FAILED,     /* libqrencode failed for another reason */
} OmTuiQrError;

typedef enum {
  /* One text column per module, two module rows per text line, drawn with
   * '▀', '▄', '█' and ' '; square modules in a usual 1:2 terminal cell. */
  OM_TUI_QR_UTF8_HALF_BLOCKS,
  /* Two text columns ("##" or "  ") per module, one module row per line,
   * for terminals without UTF-8. Twice as wide as the half blocks. */
  OM_TUI_QR_ASCII,
} OmTuiQrStyle;

/* Modules of light margin drawn around the code: the full quiet zone that
 * the QR specification asks for. */
#define OM_TUI_QR_QUIET_ZONE 4

GQuark    om_tui_qr_error_quark   (void);

/* Renders @text (UTF-8, encoded byte for byte, error correction level L) as
 * lines of plain printable text, each ending in '\n' and all of the same
 * display width.
 *
 * The glyphs draw the LIGHT modules, quiet zone included, and leave the
 * dark modules to the terminal background: on the usual light-on-dark
 * terminal the code shows dark on light, as scanners expect, and the drawn
 * quiet zone sets it off from the dark screen. On a dark-on-light terminal
 * it shows inverted, which some scanners cannot read, so callers always
 * print the URL as well.
 *
 * Fails with OM_TUI_QR_ERROR_EMPTY or OM_TUI_QR_ERROR_TOO_LONG. */
char     *om_tui_qr_render        (const char    *text,
                                   OmTuiQrStyle   style,
                                   GError       **error);

/* The size om_tui_qr_render() would produce for @text, in terminal
 * columns and lines; fails as om_tui_qr_render() does. */
gboolean  om_tui_qr_size          (const char    *text,
                                   OmTuiQrStyle   style,
                                   int           *columns,
                                   int           *rows,
                                   GError       **error);

/* Whether the rendering of @text fits in @columns × @rows, so a caller on a
 * small terminal can print only the URL. FALSE as well when @text cannot
 * be encoded at all. */
gboolean  om_tui_qr_fits          (const char    *text,
                                   OmTuiQrStyle   style,
                                   int            columns,
                                   int            rows);

G_END_DECLS
