/* test-tui-qr.c — terminal QR codes, read back by a real decoder
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-tui-qr.h"

#include <glib/gstdio.h>

/* A terminal character cell in pixels: the usual 1:2 shape, so a half
 * block (and a pair of ASCII cells) is a square module of 4×4 (8×8) px. */
#define CELL_W 4
#define CELL_H 8
/* Terminal background around the drawn code, in pixels. */
#define MARGIN 32
/* The common light-on-dark terminal theme. */
#define INK 255
#define BACKGROUND 0

#define SSO_URL \
  "https://matrix.example.org/_matrix/client/v3/login/sso/redirect/oidc-openmeet" \
  "?redirectUrl=http%3A%2F%2F127.0.0.1%3A38411%2Fcallback%3Fstate%3DqZ7xK2mVb9" \
  "&org.matrix.msc3824.action=login&Nonce=AbCdEf"
#define DEVICE_URL "https://auth.example.org/oauth2/device?user_code=WDJB-MJHT"
#define UTF8_TEXT "Grüße aus Köln — 日本語 🎉"

typedef struct {
  const char   *name;
  const char   *text;
  OmTuiQrStyle  style;
} Case;

static const Case cases[] = {
  { "sso-url/half-blocks", SSO_URL, OM_TUI_QR_UTF8_HALF_BLOCKS },
  { "sso-url/ascii", SSO_URL, OM_TUI_QR_ASCII },
  { "device-url/half-blocks", DEVICE_URL, OM_TUI_QR_UTF8_HALF_BLOCKS },
  { "device-url/ascii", DEVICE_URL, OM_TUI_QR_ASCII },
  { "utf8/half-blocks", UTF8_TEXT, OM_TUI_QR_UTF8_HALF_BLOCKS },
  { "utf8/ascii", UTF8_TEXT, OM_TUI_QR_ASCII },
};

typedef struct {
  int     width;
  int     height;
  guchar *pixels;   /* owned, width × height grey levels */
} Bitmap;

static void
bitmap_free (Bitmap *bitmap)
{
  g_free (bitmap->pixels);
  g_free (bitmap);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Bitmap, bitmap_free)

/* Paints rows [@top, @bottom) of the cell at (@column, @line) with ink. */
static void
paint (Bitmap *bitmap,
       int     column,
       int     line,
       int     top,
       int     bottom)
{
  for (int y = top; y < bottom; y++)
    memset (bitmap->pixels + (MARGIN + line * CELL_H + y) * bitmap->width +
            MARGIN + column * CELL_W, INK, CELL_W);
}

/* The rendering as a terminal shows it: each character cell becomes its
 * pixels. A '#' is taken as a full cell, as it reads from a phone held at
 * a distance, where the glyph's strokes blur together. */
static Bitmap *
screen_shot (const char *rendering)
{
  g_auto(GStrv) lines = g_strsplit (rendering, "\n", -1);
  guint n_lines = g_strv_length (lines) - 1;   /* after the last '\n' */
  int columns = (int) g_utf8_strlen (lines[0], -1);
  Bitmap *bitmap = g_new0 (Bitmap, 1);

  g_assert_cmpstr (lines[n_lines], ==, "");

  bitmap->width = 2 * MARGIN + columns * CELL_W;
  bitmap->height = 2 * MARGIN + (int) n_lines * CELL_H;
  bitmap->pixels = g_malloc ((gsize) bitmap->width * bitmap->height);
  memset (bitmap->pixels, BACKGROUND, (gsize) bitmap->width * bitmap->height);

  for (guint line = 0; line < n_lines; line++)
    {
      int column = 0;

      for (const char *p = lines[line]; *p; p = g_utf8_next_char (p), column++)
        {
          switch (g_utf8_get_char (p))
            {
            case 0x2588:   /* █ */
            case '#':
              paint (bitmap, column, line, 0, CELL_H);
              break;
            case 0x2580:   /* ▀ */
              paint (bitmap, column, line, 0, CELL_H / 2);
              break;
            case 0x2584:   /* ▄ */
              paint (bitmap, column, line, CELL_H / 2, CELL_H);
              break;
            case ' ':
              break;
            default:
              g_assert_not_reached ();
            }
        }
    }

  return bitmap;
}

static char *
decode (const Bitmap *bitmap)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("om-tui-qr-XXXXXX", &error);
  g_autofree char *path = NULL;
  g_autofree char *header = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  GString *pgm;
  int status;
  const char *argv[] = { "zbarimg", "--raw", "-q", NULL, NULL };

  g_assert_no_error (error);
  path = g_build_filename (dir, "code.pgm", NULL);
  header = g_strdup_printf ("P5\n%d %d\n255\n", bitmap->width, bitmap->height);
  pgm = g_string_new (header);
  g_string_append_len (pgm, (const char *) bitmap->pixels,
                       (gssize) bitmap->width * bitmap->height);
  g_file_set_contents (path, pgm->str, (gssize) pgm->len, &error);
  g_assert_no_error (error);
  g_string_free (pgm, TRUE);

  argv[3] = path;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                &out, &err, &status, &error);
  g_assert_no_error (error);
  g_unlink (path);
  g_rmdir (dir);

  /* It exits with 4 when it finds no code. */
  if (!g_spawn_check_wait_status (status, &error))
    g_test_message ("zbarimg read no QR code: %s", err);
  g_assert_no_error (error);

  /* zbarimg ends each decoded symbol with a newline. */
  g_assert_true (g_str_has_suffix (out, "\n"));
  out[strlen (out) - 1] = '\0';
  return g_steal_pointer (&out);
}

static void
test_round_trip (gconstpointer data)
{
  const Case *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *rendering = NULL;
  g_autofree char *decoded = NULL;
  g_autoptr(Bitmap) bitmap = NULL;
  g_autofree char *zbarimg = g_find_program_in_path ("zbarimg");

  if (zbarimg == NULL)
    {
      g_test_skip ("zbarimg is not installed (Debian: zbar-tools; scripts/install-deps.sh)");
      return;
    }

  rendering = om_tui_qr_render (c->text, c->style, &error);
  g_assert_no_error (error);
  bitmap = screen_shot (rendering);
  decoded = decode (bitmap);
  g_assert_cmpstr (decoded, ==, c->text);
}

static void
test_lines (gconstpointer data)
{
  const Case *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *rendering = om_tui_qr_render (c->text, c->style, &error);
  g_auto(GStrv) lines = NULL;
  guint n_lines;
  int columns;
  int rows;

  g_assert_no_error (error);
  g_assert_true (g_utf8_validate (rendering, -1, NULL));
  g_assert_true (g_str_has_suffix (rendering, "\n"));
  om_tui_qr_size (c->text, c->style, &columns, &rows, &error);
  g_assert_no_error (error);

  lines = g_strsplit (rendering, "\n", -1);
  n_lines = g_strv_length (lines) - 1;
  g_assert_cmpint ((int) n_lines, ==, rows);
  for (guint i = 0; i < n_lines; i++)
    {
      /* No wide or control characters, so characters are columns. */
      for (const char *p = lines[i]; *p; p = g_utf8_next_char (p))
        {
          gunichar ch = g_utf8_get_char (p);

          g_assert_true (g_unichar_isprint (ch));
          g_assert_false (g_unichar_iswide (ch));
        }
      g_assert_cmpint (g_utf8_strlen (lines[i], -1), ==, columns);
    }
}

static void
test_sizes (void)
{
  g_autoptr(GError) error = NULL;
  GString *url = g_string_new ("https://matrix.example.org/_matrix/client/v3/login/sso/redirect?");
  int columns;
  int rows;

  /* Lower case throughout, so no run packs tighter than 8 bits a byte. */
  while (url->len < 200)
    g_string_append (url, "redirect_url=https://client.example.org/callback&");
  g_string_truncate (url, 200);

  /* Version 9 at level L: 53 modules, plus 2 × 4 of quiet zone. */
  om_tui_qr_size (url->str, OM_TUI_QR_UTF8_HALF_BLOCKS, &columns, &rows, &error);
  g_assert_no_error (error);
  g_assert_cmpint (columns, ==, 61);
  g_assert_cmpint (rows, ==, 31);
  g_assert_true (om_tui_qr_fits (url->str, OM_TUI_QR_UTF8_HALF_BLOCKS, 80, 40));

  om_tui_qr_size (url->str, OM_TUI_QR_ASCII, &columns, &rows, &error);
  g_assert_no_error (error);
  g_assert_cmpint (columns, ==, 122);
  g_assert_cmpint (rows, ==, 61);

  g_string_free (url, TRUE);
}

static void
test_fits (void)
{
  int columns;
  int rows;

  g_assert_true (om_tui_qr_size (SSO_URL, OM_TUI_QR_UTF8_HALF_BLOCKS, &columns, &rows, NULL));

  g_assert_false (om_tui_qr_fits (SSO_URL, OM_TUI_QR_UTF8_HALF_BLOCKS, 40, 12));
  g_assert_false (om_tui_qr_fits (SSO_URL, OM_TUI_QR_ASCII, 40, 12));
  g_assert_true (om_tui_qr_fits (SSO_URL, OM_TUI_QR_UTF8_HALF_BLOCKS, 200, 100));
  g_assert_true (om_tui_qr_fits (SSO_URL, OM_TUI_QR_ASCII, 200, 100));

  g_assert_true (om_tui_qr_fits (SSO_URL, OM_TUI_QR_UTF8_HALF_BLOCKS, columns, rows));
  g_assert_false (om_tui_qr_fits (SSO_URL, OM_TUI_QR_UTF8_HALF_BLOCKS, columns - 1, rows));
  g_assert_false (om_tui_qr_fits (SSO_URL, OM_TUI_QR_UTF8_HALF_BLOCKS, columns, rows - 1));

  g_assert_false (om_tui_qr_fits ("", OM_TUI_QR_UTF8_HALF_BLOCKS, 200, 100));
}

static void
test_empty (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rendering = om_tui_qr_render ("", OM_TUI_QR_UTF8_HALF_BLOCKS, &error);

  g_assert_error (error, OM_TUI_QR_ERROR, OM_TUI_QR_ERROR_EMPTY);
  g_assert_null (rendering);
}

static void
test_too_long (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *rendering = NULL;
  GString *long_url = g_string_new ("https://example.org/?q=");

  while (long_url->len < 5000)
    g_string_append (long_url, "abcdefghij");
  g_string_truncate (long_url, 5000);
  text = g_string_free (long_url, FALSE);

  rendering = om_tui_qr_render (text, OM_TUI_QR_ASCII, &error);
  g_assert_error (error, OM_TUI_QR_ERROR, OM_TUI_QR_ERROR_TOO_LONG);
  g_assert_nonnull (strstr (error->message, "5000 bytes"));
  g_assert_null (rendering);
  g_assert_false (om_tui_qr_fits (text, OM_TUI_QR_ASCII, 10000, 10000));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *round_trip = g_strdup_printf ("/tui-qr/round-trip/%s", cases[i].name);
      g_autofree char *lines = g_strdup_printf ("/tui-qr/lines/%s", cases[i].name);

      g_test_add_data_func (round_trip, &cases[i], test_round_trip);
      g_test_add_data_func (lines, &cases[i], test_lines);
    }
  g_test_add_func ("/tui-qr/sizes", test_sizes);
  g_test_add_func ("/tui-qr/fits", test_fits);
  g_test_add_func ("/tui-qr/empty", test_empty);
  g_test_add_func ("/tui-qr/too-long", test_too_long);

  return g_test_run ();
}
