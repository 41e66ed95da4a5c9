/* test-tui-text.c — the terminal sanitiser
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-tui-text.h"

typedef struct {
  const char *name;
  const char *input;
  const char *expected;
} Case;

static const Case cases[] = {
  { "plain", "hello, world", "hello, world" },
  { "utf8", "grüße 日本語 🎉", "grüße 日本語 🎉" },
  { "csi-clear", "a\x1b[2Jb", "a[2Jb" },
  { "osc-title", "x\x1b]0;pwned\x07y", "x]0;pwnedy" },
  { "c1-csi", "a\xc2\x9b" "31mb", "a31mb" },
  { "bell-backspace", "a\x07\x08\x7f" "b", "ab" },
  { "carriage-return", "safe\rEVIL", "safeEVIL" },
  { "bidi-override", "abc\xe2\x80\xae" "def\xe2\x81\xa6" "g", "abcdefg" },
  { "line-separator", "a\xe2\x80\xa8" "b", "ab" },
  { "newline", "one\ntwo", "one / two" },
  { "tab", "a\tb", "a b" },
  { "invalid-utf8", "a\xff" "b", "a\xef\xbf\xbd" "b" },
  { "truncated-utf8", "a\xe6\x97", "a\xef\xbf\xbd\xef\xbf\xbd" },
  { "empty", "", "" },
};

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *out = om_tui_sanitize (c->input, " / ");

  g_assert_cmpstr (out, ==, c->expected);
}

static void
test_combining_flood (void)
{
  GString *input = g_string_new ("e");
  g_autofree char *out = NULL;
  glong n_chars;

  for (guint i = 0; i < 10000; i++)
    g_string_append (input, "\xcc\x81");   /* U+0301 COMBINING ACUTE ACCENT */
  g_string_append (input, "x");

  out = om_tui_sanitize (input->str, NULL);
  n_chars = g_utf8_strlen (out, -1);
  g_assert_cmpint (n_chars, ==, 1 + OM_TUI_MAX_COMBINING + 1);
  g_assert_true (g_str_has_suffix (out, "x"));
  g_string_free (input, TRUE);
}

static void
test_no_escape_survives (void)
{
  /* Every byte value, in every position: nothing below 0x20 may come out. */
  char input[256 * 2 + 1];
  g_autofree char *out = NULL;

  for (guint i = 0; i < 256; i++)
    {
      input[2 * i] = (char) (i == 0 ? 1 : i);
      input[2 * i + 1] = 'z';
    }
  input[512] = '\0';

  out = om_tui_sanitize (input, NULL);
  g_assert_true (g_utf8_validate (out, -1, NULL));
  for (const char *p = out; *p; p++)
    g_assert_cmpint ((guchar) *p, >=, 0x20);
  g_assert_null (strchr (out, 0x7f));
}

static void
test_null (void)
{
  g_autofree char *out = om_tui_sanitize (NULL, NULL);

  g_assert_cmpstr (out, ==, "");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tui-text/%s", cases[i].name);
      g_test_add_data_func (path, &cases[i], test_case);
    }
  g_test_add_func ("/tui-text/combining-flood", test_combining_flood);
  g_test_add_func ("/tui-text/no-escape-survives", test_no_escape_survives);
  g_test_add_func ("/tui-text/null", test_null);

  return g_test_run ();
}
