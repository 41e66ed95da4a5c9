/* test-tui-input.c — the composer's line editor
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-tui-input.h"

#include <string.h>

#define E_ACUTE_NFD "e\xcc\x81"          /* e + U+0301 COMBINING ACUTE ACCENT */
#define E_ACUTE     "\xc3\xa9"           /* é, precomposed */
#define NI          "\xe6\x97\xa5"       /* 日, two columns */
#define HON         "\xe6\x9c\xac"       /* 本 */
#define PARTY       "\xf0\x9f\x8e\x89"   /* 🎉, two columns */
#define REPLACEMENT "\xef\xbf\xbd"       /* U+FFFD */
/* 👩‍💻: woman, zero-width joiner, laptop: one cluster. */
#define TECHNOLOGIST "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb"

static OmTuiInput *
input_with (const char *text)
{
  OmTuiInput *input = om_tui_input_new (0);

  om_tui_input_insert (input, text, -1);
  return input;
}

static void
assert_state (OmTuiInput *input,
              const char *text,
              gsize       cursor)
{
  g_assert_cmpstr (om_tui_input_get_text (input), ==, text);
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, cursor);
}

/* Insertion and cleaning */

typedef struct {
  const char *name;
  const char *input;
  gssize      len;
  const char *expected;
} CleanCase;

static const CleanCase clean_cases[] = {
  { "plain", "hello", -1, "hello" },
  { "utf8", "gr\xc3\xbc\xc3\x9f" "e " NI HON " " PARTY, -1,
    "gr\xc3\xbc\xc3\x9f" "e " NI HON " " PARTY },
  { "newline-kept", "a\nb", -1, "a\nb" },
  { "crlf", "a\r\nb\rc", -1, "a\nb\nc" },
  { "line-separator", "a\xe2\x80\xa8" "b", -1, "a\nb" },
  { "tab", "a\tb", -1, "a    b" },
  { "escape", "a\x1b[2Jb", -1, "a[2Jb" },
  { "c1-and-del", "a\xc2\x9b" "b\x7f" "c", -1, "abc" },
  { "bell-backspace", "a\x07\x08" "b", -1, "ab" },
  { "nul", "a\0b", 3, "ab" },
  { "invalid", "a\xff" "b", -1, "a" REPLACEMENT "b" },
  { "truncated", "a\xe6\x97", -1, "a" REPLACEMENT REPLACEMENT },
  { "overlong", "\xc0\xaf", -1, REPLACEMENT REPLACEMENT },
  { "surrogate", "\xed\xa0\x80", -1, REPLACEMENT REPLACEMENT REPLACEMENT },
};

static void
test_clean (gconstpointer data)
{
  const CleanCase *c = data;
  g_autoptr(OmTuiInput) input = om_tui_input_new (0);

  om_tui_input_insert (input, c->input, c->len);
  assert_state (input, c->expected, strlen (c->expected));
  g_assert_true (g_utf8_validate (om_tui_input_get_text (input), -1, NULL));
}

static void
test_insert_middle (void)
{
  g_autoptr(OmTuiInput) input = input_with ("ad");

  om_tui_input_move_left (input);
  om_tui_input_insert (input, "bc", -1);
  assert_state (input, "abcd", 3);
  om_tui_input_newline (input);
  assert_state (input, "abc\nd", 4);
}

static void
test_insert_base_before_mark (void)
{
  /* A lone mark, then a base typed before it: the two make one cluster
   * and the cursor must not be left between them. */
  g_autoptr(OmTuiInput) input = input_with ("\xcc\x81");

  om_tui_input_set_cursor (input, 0);
  om_tui_input_insert (input, "e", -1);
  assert_state (input, E_ACUTE_NFD, 3);
}

static void
test_set_cursor_snaps (void)
{
  g_autoptr(OmTuiInput) input = input_with ("a" E_ACUTE_NFD "b");

  om_tui_input_set_cursor (input, 2);     /* between e and its accent */
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 1);
  om_tui_input_set_cursor (input, 3);     /* inside the accent's bytes */
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 1);
  om_tui_input_set_cursor (input, 1000);
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 5);
}

static void
test_set_text_and_empty (void)
{
  g_autoptr(OmTuiInput) input = om_tui_input_new (0);

  g_assert_true (om_tui_input_is_empty (input));
  om_tui_input_insert (input, " \n\t ", -1);
  g_assert_true (om_tui_input_is_empty (input));
  om_tui_input_insert (input, "x", -1);
  g_assert_false (om_tui_input_is_empty (input));

  om_tui_input_set_text (input, "draft\x1b");
  assert_state (input, "draft", 5);
  om_tui_input_clear (input);
  assert_state (input, "", 0);
  g_assert_true (om_tui_input_is_empty (input));
}

/* Deleting and moving by cluster */

static void
test_backspace_delete (void)
{
  g_autoptr(OmTuiInput) input = input_with ("a" E_ACUTE E_ACUTE_NFD NI PARTY);
  gsize len = strlen (om_tui_input_get_text (input));

  g_assert_true (om_tui_input_backspace (input));
  assert_state (input, "a" E_ACUTE E_ACUTE_NFD NI, len - 4);
  g_assert_true (om_tui_input_backspace (input));
  assert_state (input, "a" E_ACUTE E_ACUTE_NFD, len - 7);
  g_assert_true (om_tui_input_backspace (input));   /* e and its accent at once */
  assert_state (input, "a" E_ACUTE, 3);
  g_assert_true (om_tui_input_backspace (input));
  assert_state (input, "a", 1);

  om_tui_input_set_text (input, "x" E_ACUTE_NFD TECHNOLOGIST "y");
  om_tui_input_set_cursor (input, 1);
  g_assert_true (om_tui_input_delete (input));
  assert_state (input, "x" TECHNOLOGIST "y", 1);
  g_assert_true (om_tui_input_delete (input));      /* the joined emoji at once */
  assert_state (input, "xy", 1);
  g_assert_true (om_tui_input_delete (input));
  g_assert_false (om_tui_input_delete (input));
  assert_state (input, "x", 1);

  om_tui_input_set_cursor (input, 0);
  g_assert_false (om_tui_input_backspace (input));
}

static void
test_move (void)
{
  const char *text = "a" E_ACUTE_NFD NI "\n" PARTY TECHNOLOGIST;
  static const gsize stops[] = { 0, 1, 4, 7, 8, 12, 23 };
  g_autoptr(OmTuiInput) input = input_with (text);

  g_assert_cmpuint (strlen (text), ==, 23);
  for (guint i = G_N_ELEMENTS (stops) - 1; i > 0; i--)
    {
      g_assert_cmpuint (om_tui_input_get_cursor (input), ==, stops[i]);
      g_assert_true (om_tui_input_move_left (input));
    }
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 0);
  g_assert_false (om_tui_input_move_left (input));

  for (guint i = 1; i < G_N_ELEMENTS (stops); i++)
    {
      g_assert_true (om_tui_input_move_right (input));
      g_assert_cmpuint (om_tui_input_get_cursor (input), ==, stops[i]);
    }
  g_assert_false (om_tui_input_move_right (input));
}

static void
test_mark_after_newline (void)
{
  /* A mark never attaches to a newline: both directions agree. */
  g_autoptr(OmTuiInput) input = input_with ("a\n\xcc\x81");

  g_assert_true (om_tui_input_move_left (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 2);
  g_assert_true (om_tui_input_move_left (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 1);
}

static void
test_word_motion (void)
{
  g_autoptr(OmTuiInput) input = input_with ("hello, caf" E_ACUTE_NFD " w0rld!");
  /* "hello, café w0rld!": café's accent is a mark, still inside the word */
  gsize cafe_end = strlen ("hello, caf" E_ACUTE_NFD);

  g_assert_true (om_tui_input_word_left (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, cafe_end + 1);
  g_assert_true (om_tui_input_word_left (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 7);
  g_assert_true (om_tui_input_word_left (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 0);
  g_assert_false (om_tui_input_word_left (input));

  g_assert_true (om_tui_input_word_right (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 5);
  g_assert_true (om_tui_input_word_right (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, cafe_end);
  g_assert_true (om_tui_input_word_right (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, cafe_end + 6);
  g_assert_true (om_tui_input_word_right (input));      /* past the "!" to the end */
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, cafe_end + 7);
  g_assert_false (om_tui_input_word_right (input));
}

static void
test_home_end (void)
{
  g_autoptr(OmTuiInput) input = input_with ("one\ntwo\nthree");

  om_tui_input_set_cursor (input, 5);
  g_assert_true (om_tui_input_home (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 4);
  g_assert_false (om_tui_input_home (input));
  g_assert_true (om_tui_input_end (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 7);
  g_assert_false (om_tui_input_end (input));
}

/* Kill and yank */

static void
test_kill_yank (void)
{
  g_autoptr(OmTuiInput) input = input_with ("hello brave new world");

  om_tui_input_set_cursor (input, 11);
  g_assert_true (om_tui_input_kill_to_end (input));
  assert_state (input, "hello brave", 11);
  om_tui_input_home (input);
  g_assert_true (om_tui_input_yank (input));
  assert_state (input, " new worldhello brave", 10);

  g_assert_true (om_tui_input_kill_to_start (input));
  assert_state (input, "hello brave", 0);
  om_tui_input_end (input);
  g_assert_true (om_tui_input_yank (input));
  assert_state (input, "hello brave new world", 21);

  g_assert_false (om_tui_input_kill_to_end (input));
  om_tui_input_clear (input);
  g_assert_true (om_tui_input_yank (input));          /* the kill ring survives clear */
  assert_state (input, " new world", 10);
}

static void
test_kill_word (void)
{
  g_autoptr(OmTuiInput) input = input_with ("hi @alice:example.org  ");

  g_assert_true (om_tui_input_kill_word_back (input));
  assert_state (input, "hi ", 3);
  g_assert_true (om_tui_input_kill_word_back (input));
  assert_state (input, "", 0);
  g_assert_false (om_tui_input_kill_word_back (input));
  /* Consecutive kills accumulated in order. */
  g_assert_true (om_tui_input_yank (input));
  assert_state (input, "hi @alice:example.org  ", 23);

  /* Something else in between starts a new entry. */
  om_tui_input_kill_word_back (input);
  om_tui_input_move_left (input);
  om_tui_input_kill_word_back (input);
  om_tui_input_end (input);
  om_tui_input_yank (input);
  assert_state (input, " hi", 3);
}

static void
test_kill_lines (void)
{
  g_autoptr(OmTuiInput) input = input_with ("ab\ncd\nef");

  om_tui_input_set_cursor (input, 2);
  g_assert_true (om_tui_input_kill_to_end (input));   /* at the end: the newline */
  assert_state (input, "abcd\nef", 2);
  g_assert_true (om_tui_input_kill_to_end (input));
  assert_state (input, "ab\nef", 2);
  om_tui_input_move_left (input);
  om_tui_input_yank (input);
  assert_state (input, "a\ncdb\nef", 4);

  om_tui_input_set_text (input, "ab\ncd");
  om_tui_input_set_cursor (input, 3);
  g_assert_true (om_tui_input_kill_to_start (input)); /* at the start: the newline */
  assert_state (input, "abcd", 2);
  g_assert_true (om_tui_input_kill_to_start (input));
  assert_state (input, "cd", 0);
  om_tui_input_end (input);
  om_tui_input_yank (input);
  assert_state (input, "cdab\n", 5);
}

static void
test_kill_utf8 (void)
{
  g_autoptr(OmTuiInput) input = input_with (NI HON " " E_ACUTE_NFD PARTY);

  g_assert_true (om_tui_input_kill_word_back (input));
  assert_state (input, NI HON " ", 7);
  om_tui_input_home (input);
  om_tui_input_yank (input);
  assert_state (input, E_ACUTE_NFD PARTY NI HON " ", 7);
}

/* Transpose */

typedef struct {
  const char *name;
  const char *text;
  gsize       cursor;
  gboolean    changed;
  const char *expected;
  gsize       expected_cursor;
} TransposeCase;

static const TransposeCase transpose_cases[] = {
  { "middle", "abcd", 2, TRUE, "acbd", 3 },
  { "end", "abcd", 4, TRUE, "abdc", 4 },
  { "start", "abcd", 0, FALSE, "abcd", 0 },
  { "one-char-line", "a\nb", 3, FALSE, "a\nb", 3 },
  { "line-start", "ab\ncd", 3, FALSE, "ab\ncd", 3 },
  { "line-end", "ab\ncd", 2, TRUE, "ba\ncd", 2 },
  { "clusters", "x" E_ACUTE_NFD NI, 4, TRUE, "x" NI E_ACUTE_NFD, 7 },
  { "emoji", PARTY TECHNOLOGIST, 15, TRUE, TECHNOLOGIST PARTY, 15 },
};

static void
test_transpose (gconstpointer data)
{
  const TransposeCase *c = data;
  g_autoptr(OmTuiInput) input = input_with (c->text);

  om_tui_input_set_cursor (input, c->cursor);
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, c->cursor);
  g_assert_cmpint (om_tui_input_transpose (input), ==, c->changed);
  assert_state (input, c->expected, c->expected_cursor);
}

/* History */

static void
test_take (void)
{
  g_autoptr(OmTuiInput) input = input_with ("   ");
  g_autofree char *sent = NULL;

  g_assert_null (om_tui_input_take (input));
  assert_state (input, "   ", 3);
  g_assert_cmpuint (om_tui_input_get_history_len (input), ==, 0);

  om_tui_input_set_text (input, " \n\n  indented\nsecond\n \n");
  sent = om_tui_input_take (input);
  g_assert_cmpstr (sent, ==, "  indented\nsecond");
  assert_state (input, "", 0);
  g_assert_true (om_tui_input_is_empty (input));
  g_assert_cmpuint (om_tui_input_get_history_len (input), ==, 1);
  g_assert_cmpstr (om_tui_input_get_history (input, 0), ==, "  indented\nsecond");
}

static void
send (OmTuiInput *input,
      const char *text)
{
  g_autofree char *sent = NULL;

  om_tui_input_set_text (input, text);
  sent = om_tui_input_take (input);
  g_assert_cmpstr (sent, ==, text);
}

static void
test_history_draft (void)
{
  g_autoptr(OmTuiInput) input = om_tui_input_new (0);

  g_assert_false (om_tui_input_history_prev (input));
  send (input, "first");
  send (input, "second");
  send (input, "second");       /* a repeat is not kept twice */
  send (input, "third");
  g_assert_cmpuint (om_tui_input_get_history_len (input), ==, 3);

  om_tui_input_insert (input, "my draft", -1);
  om_tui_input_set_cursor (input, 2);
  g_assert_false (om_tui_input_history_next (input));

  g_assert_true (om_tui_input_history_prev (input));
  assert_state (input, "third", 5);
  g_assert_true (om_tui_input_history_prev (input));
  assert_state (input, "second", 6);
  om_tui_input_insert (input, " edited", -1);   /* dropped on moving on */
  g_assert_true (om_tui_input_history_prev (input));
  assert_state (input, "first", 5);
  g_assert_false (om_tui_input_history_prev (input));
  assert_state (input, "first", 5);

  g_assert_true (om_tui_input_history_next (input));
  assert_state (input, "second", 6);
  g_assert_true (om_tui_input_history_next (input));
  g_assert_true (om_tui_input_history_next (input));
  assert_state (input, "my draft", 2);          /* back, with its cursor */
  g_assert_false (om_tui_input_history_next (input));

  /* Sending a recalled entry moves it to the newest. */
  om_tui_input_history_prev (input);
  om_tui_input_history_prev (input);
  g_autofree char *sent = om_tui_input_take (input);
  g_assert_cmpstr (sent, ==, "second");
  g_assert_cmpuint (om_tui_input_get_history_len (input), ==, 4);
  g_assert_cmpstr (om_tui_input_get_history (input, 3), ==, "second");
  assert_state (input, "", 0);
  g_assert_false (om_tui_input_history_next (input));
}

static void
test_history_bounded (void)
{
  g_autoptr(OmTuiInput) input = om_tui_input_new (3);

  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *text = g_strdup_printf ("line %u", i);

      om_tui_input_add_history (input, text);
    }
  g_assert_cmpuint (om_tui_input_get_history_len (input), ==, 3);
  g_assert_cmpstr (om_tui_input_get_history (input, 0), ==, "line 7");

  /* Browsing then adding keeps the position valid. */
  g_assert_true (om_tui_input_history_prev (input));
  om_tui_input_add_history (input, "line 10");
  g_assert_true (om_tui_input_history_prev (input));
  assert_state (input, "line 8", 6);

  g_autoptr(OmTuiInput) large = om_tui_input_new (0);
  for (guint i = 0; i < OM_TUI_INPUT_HISTORY_DEFAULT + 20; i++)
    {
      g_autofree char *text = g_strdup_printf ("%u", i);

      om_tui_input_add_history (large, text);
    }
  g_assert_cmpuint (om_tui_input_get_history_len (large), ==, OM_TUI_INPUT_HISTORY_DEFAULT);
  g_assert_cmpstr (om_tui_input_get_history (large, 0), ==, "20");
}

static void
test_up_down (void)
{
  g_autoptr(OmTuiInput) input = om_tui_input_new (0);

  send (input, "old");
  om_tui_input_insert (input, "abcdef\nxy\nlonger line", -1);
  om_tui_input_set_cursor (input, 5);      /* column 5 of "abcdef" */

  g_assert_true (om_tui_input_down (input, 40));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 9);    /* end of "xy" */
  g_assert_true (om_tui_input_down (input, 40));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 15);   /* column 5 again */
  g_assert_false (om_tui_input_down (input, 40));              /* last row, no newer entry */
  g_assert_true (om_tui_input_up (input, 40));
  g_assert_true (om_tui_input_up (input, 40));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 5);
  g_assert_true (om_tui_input_up (input, 40));                 /* first row: history */
  assert_state (input, "old", 3);
  g_assert_true (om_tui_input_down (input, 40));
  assert_state (input, "abcdef\nxy\nlonger line", 5);

  /* Wrapped rows count as rows: at width 4 the rows are "abcd", "ef",
   * "xy", "long", "er l", "ine", the cursor in "e|f". */
  g_assert_true (om_tui_input_up (input, 4));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 1);
  g_assert_true (om_tui_input_down (input, 4));
  g_assert_true (om_tui_input_down (input, 4));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 8);
  g_assert_true (om_tui_input_down (input, 4));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 11);
}

/* Completion */

static char **
candidates_cb (const char *word,
               gboolean    at_line_start,
               gpointer    user_data)
{
  static const char * const commands[] = { "/join", "/part", "/me", "/members", NULL };
  static const char * const names[] = {
    "Alice", "alfred", "Bob", "@alice:example.org", "Alice", "\xc3\x89mile", NULL,
  };
  guint *calls = user_data;

  (*calls)++;
  if (word[0] == '/' && at_line_start)
    return g_strdupv ((char **) commands);
  return g_strdupv ((char **) names);
}

static void
test_complete_unique (void)
{
  g_autoptr(OmTuiInput) input = input_with ("bo");
  guint calls = 0;

  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "Bob: ", 5);

  om_tui_input_insert (input, "ask @ALI", -1);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "Bob: ask @alice:example.org ", 28);

  /* Not at the start of a line: no ":", and no second space. */
  om_tui_input_set_text (input, "hi bo there");
  om_tui_input_set_cursor (input, 5);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "hi Bob there", 6);

  /* Case-insensitive beyond ASCII. */
  om_tui_input_set_text (input, "\xc3\xa9" "m");
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "\xc3\x89mile: ", 8);

  om_tui_input_set_text (input, "/jo");
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "/join ", 6);

  om_tui_input_set_text (input, "zed");
  g_assert_false (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "zed", 3);
  om_tui_input_set_text (input, "x ");
  calls = 0;
  g_assert_false (om_tui_input_complete (input, candidates_cb, &calls));
  g_assert_cmpuint (calls, ==, 0);     /* no word, no question */
}

static void
test_complete_cycle (void)
{
  g_autoptr(OmTuiInput) input = input_with ("al");
  guint calls = 0;

  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "Alice: ", 7);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "alfred: ", 8);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "Alice: ", 7);  /* the duplicate "Alice" was dropped */
  g_assert_cmpuint (calls, ==, 1);

  /* Anything else in between starts afresh from the word now there. */
  om_tui_input_backspace (input);
  om_tui_input_backspace (input);
  om_tui_input_backspace (input);
  om_tui_input_backspace (input);
  assert_state (input, "Ali", 3);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "Alice: ", 7);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "Alice: ", 7);
  g_assert_cmpuint (calls, ==, 2);

  om_tui_input_set_text (input, "say /m");
  g_assert_false (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "say /m", 6);   /* commands only at line start */

  /* Cycling in the middle of a line keeps what follows. */
  om_tui_input_set_text (input, "/m tail");
  om_tui_input_set_cursor (input, 2);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "/me tail", 3);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "/members tail", 8);
  g_assert_true (om_tui_input_complete (input, candidates_cb, &calls));
  assert_state (input, "/me tail", 3);
}

static void
test_complete_common (void)
{
  g_autoptr(OmTuiInput) input = input_with ("/m");
  g_auto(GStrv) matches = NULL;
  guint calls = 0;

  g_assert_cmpuint (om_tui_input_complete_common (input, candidates_cb, &calls, &matches), ==, 2);
  assert_state (input, "/me", 3);
  g_assert_cmpstrv (matches, ((const char * const[]) { "/me", "/members", NULL }));
  g_clear_pointer (&matches, g_strfreev);

  /* Nothing longer in common: unchanged. */
  g_assert_cmpuint (om_tui_input_complete_common (input, candidates_cb, &calls, NULL), ==, 2);
  assert_state (input, "/me", 3);

  om_tui_input_set_text (input, "/p");
  g_assert_cmpuint (om_tui_input_complete_common (input, candidates_cb, &calls, &matches), ==, 1);
  assert_state (input, "/part ", 6);
  g_clear_pointer (&matches, g_strfreev);

  /* "Alice" and "alfred" share "al" whatever the case: spelt as the first. */
  om_tui_input_set_text (input, "a");
  g_assert_cmpuint (om_tui_input_complete_common (input, candidates_cb, &calls, NULL), ==, 2);
  assert_state (input, "Al", 2);

  om_tui_input_set_text (input, "q");
  g_assert_cmpuint (om_tui_input_complete_common (input, candidates_cb, &calls, &matches), ==, 0);
  g_assert_null (matches);
}

static void
test_common_prefix (void)
{
  static const char * const none[] = { NULL };
  static const char * const one[] = { "solo", NULL };
  static const char * const mixed[] = { "Alice", "ALIBI", "alien", NULL };
  static const char * const disjoint[] = { "abc", "xyz", NULL };
  /* "e" alone must not be offered as the prefix of "é" written e + U+0301. */
  static const char * const marks[] = {
    "caf" E_ACUTE_NFD "s", "caf" E_ACUTE_NFD "t", "cafe", NULL,
  };
  static const char * const marks2[] = { "caf" E_ACUTE_NFD "s", "caf" E_ACUTE_NFD "t", NULL };
  g_autofree char *a = om_tui_common_prefix (none);
  g_autofree char *b = om_tui_common_prefix (one);
  g_autofree char *c = om_tui_common_prefix (mixed);
  g_autofree char *d = om_tui_common_prefix (disjoint);
  g_autofree char *e = om_tui_common_prefix (marks);
  g_autofree char *f = om_tui_common_prefix (marks2);

  g_assert_cmpstr (a, ==, "");
  g_assert_cmpstr (b, ==, "solo");
  g_assert_cmpstr (c, ==, "Ali");
  g_assert_cmpstr (d, ==, "");
  g_assert_cmpstr (e, ==, "caf");
  g_assert_cmpstr (f, ==, "caf" E_ACUTE_NFD);
}

/* Layout */

static GArray *
layout (OmTuiInput *input,
        int         width,
        guint      *row,
        guint      *column)
{
  GArray *rows = om_tui_input_layout (input, width, row, column);
  const char *text = om_tui_input_get_text (input);

  /* Invariants: rows in order, within the width unless one cluster is
   * wider, widths as counted, every byte but newlines in exactly one row. */
  for (guint i = 0; i < rows->len; i++)
    {
      const OmTuiInputRow *r = &g_array_index (rows, OmTuiInputRow, i);
      guint columns = 0;

      g_assert_cmpuint (r->start, <=, r->end);
      g_assert_true (g_utf8_validate (text + r->start, r->end - r->start, NULL));
      for (const char *p = text + r->start; p < text + r->end; p = g_utf8_next_char (p))
        {
          g_assert_cmpint (*p, !=, '\n');
          columns += om_tui_char_width (g_utf8_get_char (p));
        }
      g_assert_cmpuint (columns, ==, r->columns);
      if (i > 0)
        {
          const OmTuiInputRow *prev = &g_array_index (rows, OmTuiInputRow, i - 1);

          g_assert_true (r->start == prev->end ||
                         (r->start == prev->end + 1 && text[prev->end] == '\n'));
        }
    }
  g_assert_cmpuint (g_array_index (rows, OmTuiInputRow, rows->len - 1).end, ==, strlen (text));
  return rows;
}

static void
assert_rows (GArray             *rows,
             const char         *text,
             const char * const *expected)
{
  guint n = g_strv_length ((char **) expected);

  g_assert_cmpuint (rows->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      const OmTuiInputRow *r = &g_array_index (rows, OmTuiInputRow, i);
      g_autofree char *got = g_strndup (text + r->start, r->end - r->start);

      g_assert_cmpstr (got, ==, expected[i]);
    }
}

static void
test_layout_empty (void)
{
  g_autoptr(OmTuiInput) input = om_tui_input_new (0);
  g_autoptr(GArray) rows = NULL;
  guint row = 99, column = 99;

  rows = layout (input, 10, &row, &column);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpuint (row, ==, 0);
  g_assert_cmpuint (column, ==, 0);
}

static void
test_layout_ascii (void)
{
  g_autoptr(OmTuiInput) input = input_with ("0123456789abcdefghij" "klm\nshort\n");
  g_autoptr(GArray) rows = NULL;
  guint row, column;

  rows = layout (input, 10, &row, &column);
  assert_rows (rows, om_tui_input_get_text (input),
               (const char * const[]) { "0123456789", "abcdefghij", "klm", "short", "", NULL });
  g_assert_cmpuint (row, ==, 4);
  g_assert_cmpuint (column, ==, 0);
  g_clear_pointer (&rows, g_array_unref);

  om_tui_input_set_cursor (input, 10);  /* after a full row: next row's start */
  rows = layout (input, 10, &row, &column);
  g_assert_cmpuint (row, ==, 1);
  g_assert_cmpuint (column, ==, 0);
  g_clear_pointer (&rows, g_array_unref);

  om_tui_input_set_cursor (input, 26);  /* "sh|ort" */
  rows = layout (input, 40, &row, &column);
  assert_rows (rows, om_tui_input_get_text (input),
               (const char * const[]) { "0123456789abcdefghijklm", "short", "", NULL });
  g_assert_cmpuint (row, ==, 1);
  g_assert_cmpuint (column, ==, 2);
}

static void
test_layout_full_row (void)
{
  /* A line exactly as wide as the row gets an empty row for the cursor. */
  g_autoptr(OmTuiInput) input = input_with ("0123456789");
  g_autoptr(GArray) rows = NULL;
  guint row, column;

  rows = layout (input, 10, &row, &column);
  assert_rows (rows, om_tui_input_get_text (input),
               (const char * const[]) { "0123456789", "", NULL });
  g_assert_cmpuint (row, ==, 1);
  g_assert_cmpuint (column, ==, 0);
  g_clear_pointer (&rows, g_array_unref);

  om_tui_input_set_cursor (input, 9);
  rows = layout (input, 10, &row, &column);
  g_assert_cmpuint (row, ==, 0);
  g_assert_cmpuint (column, ==, 9);
}

static void
test_layout_wide (void)
{
  /* "ab" then nine CJK characters: at width 10 the fifth one would straddle
   * the edge, so it starts the next row and the first row has 9 columns. */
  g_autoptr(OmTuiInput) input = om_tui_input_new (0);
  g_autoptr(GArray) rows = NULL;
  const OmTuiInputRow *r;
  guint row, column;

  om_tui_input_insert (input, "a", -1);
  for (guint i = 0; i < 9; i++)
    om_tui_input_insert (input, NI, -1);
  rows = layout (input, 10, &row, &column);
  assert_rows (rows, om_tui_input_get_text (input),
               (const char * const[]) { "a" NI NI NI NI, NI NI NI NI NI, "", NULL });
  r = &g_array_index (rows, OmTuiInputRow, 0);
  g_assert_cmpuint (r->columns, ==, 9);
  g_assert_cmpuint (row, ==, 2);
  g_assert_cmpuint (column, ==, 0);
  g_clear_pointer (&rows, g_array_unref);

  /* Cursor before the fifth CJK character: start of row 1, not column 9. */
  om_tui_input_set_cursor (input, 1 + 4 * 3);
  rows = layout (input, 10, &row, &column);
  g_assert_cmpuint (row, ==, 1);
  g_assert_cmpuint (column, ==, 0);
  g_clear_pointer (&rows, g_array_unref);

  om_tui_input_set_cursor (input, 1 + 6 * 3);
  rows = layout (input, 10, &row, &column);
  g_assert_cmpuint (row, ==, 1);
  g_assert_cmpuint (column, ==, 4);
  g_clear_pointer (&rows, g_array_unref);

  rows = layout (input, 40, &row, &column);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpuint (g_array_index (rows, OmTuiInputRow, 0).columns, ==, 19);
  g_assert_cmpuint (row, ==, 0);
  g_assert_cmpuint (column, ==, 13);
}

static void
test_layout_mixed (void)
{
  /* é (precomposed and combining), an emoji and a joined emoji. */
  g_autoptr(OmTuiInput) input = input_with ("caf" E_ACUTE " caf" E_ACUTE_NFD " " PARTY PARTY
                                            TECHNOLOGIST "!");
  g_autoptr(GArray) rows = NULL;
  guint row, column;

  /* c a f é ␠ c a f é ␠ = 10 columns; 🎉 🎉 👩‍💻 = 2 + 2 + 4 (the two joined
   * pictographs counted separately); ! = 1 */
  rows = layout (input, 10, &row, &column);
  assert_rows (rows, om_tui_input_get_text (input),
               (const char * const[]) { "caf" E_ACUTE " caf" E_ACUTE_NFD " ",
                                        PARTY PARTY TECHNOLOGIST "!", NULL });
  g_assert_cmpuint (g_array_index (rows, OmTuiInputRow, 1).columns, ==, 9);
  g_assert_cmpuint (row, ==, 1);
  g_assert_cmpuint (column, ==, 9);
  g_clear_pointer (&rows, g_array_unref);

  om_tui_input_set_cursor (input, strlen ("caf" E_ACUTE " caf" E_ACUTE_NFD));
  rows = layout (input, 40, &row, &column);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpuint (row, ==, 0);
  g_assert_cmpuint (column, ==, 9);
}

static void
test_layout_narrow (void)
{
  /* A cluster wider than the row still gets a row, and nothing loops. */
  g_autoptr(OmTuiInput) input = input_with (NI "a" NI);
  g_autoptr(GArray) rows = NULL;
  guint row, column;

  rows = layout (input, 1, &row, &column);
  assert_rows (rows, om_tui_input_get_text (input),
               (const char * const[]) { NI, "a", NI, "", NULL });
  g_assert_cmpuint (row, ==, 3);
  g_assert_cmpuint (column, ==, 0);
}

static void
test_combining_flood (void)
{
  g_autoptr(GString) paste = g_string_new ("ab");
  g_autoptr(OmTuiInput) input = om_tui_input_new (0);
  g_autoptr(GArray) rows = NULL;
  guint row, column;
  gint64 started = g_get_monotonic_time ();
  gsize len;

  for (guint i = 0; i < 10000; i++)
    g_string_append (paste, "\xcc\x81");
  g_string_append (paste, "cd");

  om_tui_input_insert (input, paste->str, paste->len);
  len = strlen (om_tui_input_get_text (input));
  g_assert_cmpuint (len, ==, 20004);

  /* The whole run of marks is one column, with b. */
  rows = layout (input, 10, &row, &column);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpuint (g_array_index (rows, OmTuiInputRow, 0).columns, ==, 4);
  g_assert_cmpuint (column, ==, 4);
  g_clear_pointer (&rows, g_array_unref);

  om_tui_input_move_left (input);
  om_tui_input_move_left (input);
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 20002);
  /* At width 3: "ab́́…c" fills the first row, "d" and the cursor row follow. */
  rows = layout (input, 3, &row, &column);
  g_assert_cmpuint (rows->len, ==, 2);
  g_assert_cmpuint (g_array_index (rows, OmTuiInputRow, 0).end, ==, 20003);
  g_assert_cmpuint (row, ==, 0);
  g_assert_cmpuint (column, ==, 2);
  g_clear_pointer (&rows, g_array_unref);

  g_assert_true (om_tui_input_move_left (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 1);
  g_assert_true (om_tui_input_word_right (input));
  g_assert_cmpuint (om_tui_input_get_cursor (input), ==, 20004);
  om_tui_input_set_cursor (input, 20002);
  g_assert_true (om_tui_input_backspace (input));  /* b and every mark at once */
  assert_state (input, "acd", 1);

  /* Marks alone (no base) do not make anything quadratic either. */
  om_tui_input_set_text (input, paste->str + 2);
  g_assert_true (om_tui_input_kill_word_back (input));
  g_assert_true (om_tui_input_is_empty (input));

  g_assert_cmpint (g_get_monotonic_time () - started, <, 2 * G_USEC_PER_SEC);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (clean_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tui-input/clean/%s", clean_cases[i].name);
      g_test_add_data_func (path, &clean_cases[i], test_clean);
    }
  g_test_add_func ("/tui-input/insert-middle", test_insert_middle);
  g_test_add_func ("/tui-input/insert-base-before-mark", test_insert_base_before_mark);
  g_test_add_func ("/tui-input/set-cursor-snaps", test_set_cursor_snaps);
  g_test_add_func ("/tui-input/set-text-and-empty", test_set_text_and_empty);
  g_test_add_func ("/tui-input/backspace-delete", test_backspace_delete);
  g_test_add_func ("/tui-input/move", test_move);
  g_test_add_func ("/tui-input/mark-after-newline", test_mark_after_newline);
  g_test_add_func ("/tui-input/word-motion", test_word_motion);
  g_test_add_func ("/tui-input/home-end", test_home_end);
  g_test_add_func ("/tui-input/kill-yank", test_kill_yank);
  g_test_add_func ("/tui-input/kill-word", test_kill_word);
  g_test_add_func ("/tui-input/kill-lines", test_kill_lines);
  g_test_add_func ("/tui-input/kill-utf8", test_kill_utf8);
  for (guint i = 0; i < G_N_ELEMENTS (transpose_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tui-input/transpose/%s", transpose_cases[i].name);
      g_test_add_data_func (path, &transpose_cases[i], test_transpose);
    }
  g_test_add_func ("/tui-input/take", test_take);
  g_test_add_func ("/tui-input/history-draft", test_history_draft);
  g_test_add_func ("/tui-input/history-bounded", test_history_bounded);
  g_test_add_func ("/tui-input/up-down", test_up_down);
  g_test_add_func ("/tui-input/complete-unique", test_complete_unique);
  g_test_add_func ("/tui-input/complete-cycle", test_complete_cycle);
  g_test_add_func ("/tui-input/complete-common", test_complete_common);
  g_test_add_func ("/tui-input/common-prefix", test_common_prefix);
  g_test_add_func ("/tui-input/layout/empty", test_layout_empty);
  g_test_add_func ("/tui-input/layout/ascii", test_layout_ascii);
  g_test_add_func ("/tui-input/layout/full-row", test_layout_full_row);
  g_test_add_func ("/tui-input/layout/wide", test_layout_wide);
  g_test_add_func ("/tui-input/layout/mixed", test_layout_mixed);
  g_test_add_func ("/tui-input/layout/narrow", test_layout_narrow);
  g_test_add_func ("/tui-input/combining-flood", test_combining_flood);

  return g_test_run ();
}
