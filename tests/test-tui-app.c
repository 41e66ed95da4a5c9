/* test-tui-app.c — the full-screen openmeet-tui inside tmux
 *
 * The client runs in a detached tmux session on a socket of its own; keys
 * go in with send-keys and the screen comes back with capture-pane.  Bob
 * is an OmSession in this process, in a room he shares with Alice, whom
 * the client signs in.  Every wait polls the screen (or Bob's timeline)
 * against a deadline while Bob's session keeps syncing on this loop.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "om-event.h"
#include "om-test-session.h"
#include "om-timeline.h"

#define PASSWORD "full-screen-pw"
#define WAIT_MS  15000

typedef struct {
  OmTestHs  *hs;
  char      *dir;
  char      *alice_id;
  char      *bob_id;
  OmSession *alice;       /* in-process, only to join the rooms */
  OmSession *bob;
  char      *room_id;     /* "Terminal talk", the newest room */
  char      *other_id;    /* "Second room" */
  char      *socket;      /* tmux -L */
  gboolean   started;
} Fixture;

static char *
tmux (Fixture    *f,
      const char *first,
      ...) G_GNUC_NULL_TERMINATED;

/* Runs tmux on the fixture's socket; returns its stdout (owned). */
static char *
tmux (Fixture    *f,
      const char *first,
      ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_auto(GStrv) env = g_get_environ ();
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;
  int status = 0;
  va_list args;

  g_ptr_array_add (argv, (gpointer) "tmux");
  g_ptr_array_add (argv, (gpointer) "-u");
  g_ptr_array_add (argv, (gpointer) "-L");
  g_ptr_array_add (argv, f->socket);
  g_ptr_array_add (argv, (gpointer) "-f");
  g_ptr_array_add (argv, (gpointer) "/dev/null");
  va_start (args, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  /* capture-pane writes '?' for what the client's locale cannot show. */
  env = g_environ_setenv (env, "LANG", "C.UTF-8", TRUE);
  env = g_environ_setenv (env, "LC_ALL", "C.UTF-8", TRUE);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL,
                     &out, &err, &status, &error))
    g_error ("tmux: %s", error->message);
  return out;
}

static char *
capture (Fixture *f)
{
  return tmux (f, "capture-pane", "-p", "-t", "S", NULL);
}

static void
dump (Fixture    *f,
      const char *why)
{
  g_autofree char *screen = capture (f);
  g_autofree char *err_path = g_build_filename (f->dir, "stderr.log", NULL);
  g_autofree char *err = NULL;

  g_file_get_contents (err_path, &err, NULL, NULL);
  g_printerr ("---- %s: the screen ----\n%s\n---- its stderr ----\n%s\n----\n", why, screen,
              err != NULL ? err : "");
}

typedef struct {
  Fixture    *f;
  const char *needle;
  gboolean    absent;     /* wait for it to go */
} ScreenWait;

static gboolean
screen_matches (gpointer data)
{
  ScreenWait *w = data;
  g_autofree char *screen = NULL;

  om_test_spin (50);
  screen = capture (w->f);
  return (strstr (screen, w->needle) != NULL) != w->absent;
}

/* Waits until @needle is on the screen; aborts the test otherwise. */
static void
wait_screen (Fixture    *f,
             const char *needle)
{
  ScreenWait w = { f, needle, FALSE };

  if (!om_test_wait_until (screen_matches, &w, WAIT_MS))
    {
      dump (f, needle);
      g_error ("\"%s\" never showed", needle);
    }
}

static void
wait_screen_gone (Fixture    *f,
                  const char *needle)
{
  ScreenWait w = { f, needle, TRUE };

  if (!om_test_wait_until (screen_matches, &w, WAIT_MS))
    {
      dump (f, needle);
      g_error ("\"%s\" never went away", needle);
    }
}

/* The screen's row @row (owned), or "" past the end. */
static char *
screen_row (const char *screen,
            guint       row)
{
  g_auto(GStrv) rows = g_strsplit (screen, "\n", -1);

  return g_strdup (row < g_strv_length (rows) ? rows[row] : "");
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *alice_dir = NULL;
  g_autofree char *bob_dir = NULL;
  static guint counter;

  f->hs = om_test_hs_start (NULL);
  f->dir = om_test_mkdtemp ();
  f->alice_id = om_test_hs_create_user (f->hs, "alice", PASSWORD, FALSE);
  f->bob_id = om_test_hs_create_user (f->hs, "bob", "bobs-password", FALSE);
  alice_dir = g_build_filename (f->dir, "alice-elsewhere", NULL);
  bob_dir = g_build_filename (f->dir, "bob", NULL);
  f->alice = om_test_sign_in (f->hs, alice_dir, "alice", PASSWORD, 1000);
  f->bob = om_test_sign_in (f->hs, bob_dir, "bob", "bobs-password", 1000);
  /* The newer room is listed first. */
  f->other_id = om_test_shared_room (f->bob, f->alice, "Second room", NULL);
  f->room_id = om_test_shared_room (f->bob, f->alice, "Terminal talk", "where we test");
  g_clear_object (&f->alice);
  f->socket = g_strdup_printf ("om-test-tui-app-%d-%u", (int) getpid (), ++counter);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  if (f->started)
    g_free (tmux (f, "kill-server", NULL));
  g_clear_object (&f->bob);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_hs_free (f->hs);
  om_test_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->alice_id);
  g_free (f->bob_id);
  g_free (f->room_id);
  g_free (f->other_id);
  g_free (f->socket);
}

/* Starts the full-screen client as Alice in a 100×30 tmux window and waits
 * for the open room.  When it exits, the pane says "EXIT=<status>". */
static void
spawn_client (Fixture    *f,
              const char *password)
{
  g_autofree char *binary = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "..", "src", "tui",
                                              "openmeet-tui", NULL);
  g_autofree char *home = g_build_filename (f->dir, "home", NULL);
  g_autofree char *data_dir = g_build_filename (f->dir, "alice-tui", NULL);
  g_autofree char *err = g_build_filename (f->dir, "stderr.log", NULL);
  g_autofree char *q_binary = g_shell_quote (binary);
  g_autofree char *q_home = g_shell_quote (home);
  g_autofree char *q_data = g_shell_quote (data_dir);
  g_autofree char *q_err = g_shell_quote (err);
  g_autofree char *q_url = g_shell_quote (om_test_hs_get_url (f->hs));
  g_autofree char *command = NULL;

  g_assert_cmpint (g_mkdir_with_parents (home, 0700), ==, 0);
  command = g_strdup_printf ("env -u G_MESSAGES_DEBUG HOME=%s XDG_DATA_HOME=%s XDG_STATE_HOME=%s "
                             "XDG_CONFIG_HOME=%s XDG_CACHE_HOME=%s "
                             "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/om-test-bus "
                             "LANG=C.UTF-8 LC_ALL=C.UTF-8 OPENMEET_PASSWORD=%s "
                             "%s --homeserver %s --user alice --data-dir %s --no-store-secrets 2>%s; "
                             "echo EXIT=$?; sleep 60",
                             q_home, q_home, q_home, q_home, q_home, password,
                             q_binary, q_url, q_data, q_err);
  g_free (tmux (f, "new-session", "-d", "-s", "S", "-x", "100", "-y", "30", command, NULL));
  f->started = TRUE;
}

static void
start_client (Fixture *f)
{
  spawn_client (f, PASSWORD);
  wait_screen (f, "Terminal talk — where we test");
  wait_screen (f, "[online]");
}

typedef struct {
  OmSession  *session;
  const char *room_id;
  const char *body;
} TimelineWait;

static gboolean
timeline_has_body (gpointer data)
{
  TimelineWait *w = data;
  OmRoom *room = om_session_lookup_room (w->session, w->room_id);
  GListModel *model;

  if (room == NULL)
    return FALSE;
  model = G_LIST_MODEL (om_room_get_timeline (room));
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (model, i);

      if (g_strcmp0 (om_event_get_body (event), w->body) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
bob_says (Fixture    *f,
          const char *room_id,
          const char *body)
{
  OmRoom *room = om_session_lookup_room (f->bob, room_id);

  g_assert_nonnull (room);
  g_assert_nonnull (om_room_send_message (room, "m.text", body));
}

static void
test_chat (Fixture       *f,
           gconstpointer  data)
{
  g_autofree char *screen = NULL;
  g_autofree char *status = NULL;
  TimelineWait sent = { f->bob, NULL, NULL };

  start_client (f);

  /* Both rooms are listed, the newest open. */
  screen = capture (f);
  g_assert_nonnull (strstr (screen, "Terminal talk"));
  g_assert_nonnull (strstr (screen, "Second room"));
  status = screen_row (screen, 0);
  g_assert_nonnull (strstr (status, "@alice:"));

  /* Switching rooms: Ctrl-N to the next, Alt-1 back to the first. */
  g_free (tmux (f, "send-keys", "-t", "S", "C-n", NULL));
  wait_screen (f, "│ Second room");
  g_free (tmux (f, "send-keys", "-t", "S", "M-1", NULL));
  wait_screen (f, "│ Terminal talk");

  /* Typing, then Enter, reaches Bob. */
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "Hi Bob, from the full screen ✓ 日本", NULL));
  wait_screen (f, "> Hi Bob, from the full screen");
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
  sent.room_id = f->room_id;
  sent.body = "Hi Bob, from the full screen ✓ 日本";
  if (!om_test_wait_until (timeline_has_body, &sent, WAIT_MS))
    {
      dump (f, "send");
      g_error ("Bob never got Alice's message");
    }
  wait_screen_gone (f, "> Hi Bob");

  /* Bob's answer shows, with his name. */
  bob_says (f, f->room_id, "Hello Alice, I read you");
  wait_screen (f, "bob: Hello Alice, I read you");

  /* Bob types: a line says so, and goes when he stops. */
  om_room_set_typing (om_session_lookup_room (f->bob, f->room_id), TRUE);
  wait_screen (f, "bob is typing…");
  om_room_set_typing (om_session_lookup_room (f->bob, f->room_id), FALSE);
  wait_screen_gone (f, "bob is typing…");

  /* An emote. */
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "/me waves", NULL));
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
  sent.body = "waves";
  g_assert_true (om_test_wait_until (timeline_has_body, &sent, WAIT_MS));
  wait_screen (f, "* alice waves");

  /* The key bindings, from the same table as their dispatch. */
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "/help", NULL));
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
  wait_screen (f, "keys: Enter: send the input");

  g_free (tmux (f, "send-keys", "-t", "S", "-l", "/quit", NULL));
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
  wait_screen (f, "EXIT=0");
}

/* The first row of @screen holding @needle, or -1. */
static int
screen_row_of (const char *screen,
               const char *needle)
{
  g_auto(GStrv) rows = g_strsplit (screen, "\n", -1);

  for (guint i = 0; rows[i] != NULL; i++)
    if (strstr (rows[i], needle) != NULL)
      return (int) i;
  return -1;
}

static guint
count_on_screen (const char *screen,
                 const char *needle)
{
  guint n = 0;

  for (const char *p = strstr (screen, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* Read receipts: "seen by bob" under the newest message Bob has read, once. */
static void
test_seen_by (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *screen = NULL;
  TimelineWait sent = { f->bob, NULL, NULL };
  OmRoom *bob_room;
  int message_row, seen_row;

  start_client (f);
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "Did you read this?", NULL));
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
  sent.room_id = f->room_id;
  sent.body = "Did you read this?";
  if (!om_test_wait_until (timeline_has_body, &sent, WAIT_MS))
    {
      dump (f, "send");
      g_error ("Bob never got Alice's message");
    }
  wait_screen (f, "alice: Did you read this? ✓");
  screen = capture (f);
  g_assert_null (strstr (screen, "seen by"));
  g_clear_pointer (&screen, g_free);

  /* Bob reads it: the line shows under the message, right-aligned. */
  bob_room = om_session_lookup_room (f->bob, f->room_id);
  g_assert_nonnull (bob_room);
  om_room_mark_read (bob_room);
  wait_screen (f, "seen by bob");
  screen = capture (f);
  message_row = screen_row_of (screen, "alice: Did you read this?");
  seen_row = screen_row_of (screen, "seen by bob");
  g_assert_cmpint (message_row, >=, 0);
  g_assert_cmpint (seen_row, ==, message_row + 1);
  {
    g_autofree char *row = screen_row (screen, (guint) seen_row);

    g_assert_true (g_str_has_suffix (g_strchomp (row), "seen by bob"));
  }

  /* Bob answers and reads on: his marker moves down, shown once. */
  bob_says (f, f->room_id, "Yes, every word");
  wait_screen (f, "bob: Yes, every word");
  om_room_mark_read (bob_room);
  {
    gint64 deadline = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;

    for (;;)
      {
        g_clear_pointer (&screen, g_free);
        om_test_spin (50);
        screen = capture (f);
        seen_row = screen_row_of (screen, "seen by bob");
        if (seen_row == screen_row_of (screen, "bob: Yes, every word") + 1)
          break;
        if (g_get_monotonic_time () > deadline)
          {
            dump (f, "seen by moving");
            g_error ("\"seen by bob\" never moved under Bob's answer");
          }
      }
  }
  g_assert_cmpuint (count_on_screen (screen, "seen by bob"), ==, 1);

  g_free (tmux (f, "send-keys", "-t", "S", "C-c", NULL));
  wait_screen (f, "EXIT=130");
}

/* No escape sequence in @screen (capture-pane -e) sets a background
 * colour or the foreground red: the hostile body's would. */
static void
assert_no_hostile_colours (const char *screen)
{
  for (const char *p = strstr (screen, "\x1b["); p != NULL; p = strstr (p + 1, "\x1b["))
    {
      const char *end = p + 2 + strspn (p + 2, "0123456789;");
      g_autofree char *params = g_strndup (p + 2, end - (p + 2));
      g_auto(GStrv) codes = g_strsplit (params, ";", -1);

      if (*end != 'm')
        continue;
      for (guint i = 0; codes[i] != NULL; i++)
        {
          int code = atoi (codes[i]);

          g_assert_false (code >= 40 && code <= 47);
          /* 38;5;N / 48;5;N: no 256-colour selections either. */
          g_assert_cmpint (code, !=, 48);
        }
    }
}

static void
test_hostile (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(GString) body = g_string_new (NULL);
  g_autofree char *screen = NULL;
  g_autofree char *coloured = NULL;
  guint separator_column = 0;

  start_client (f);
  bob_says (f, f->room_id, "a line before");
  wait_screen (f, "a line before");

  /* Clear the screen, paint red, paint a magenta background; a right-to-
   * left override; then 2,000 combining accents on one letter. */
  g_string_append (body, "start\x1b[2J\x1b[31mX\x1b[45mY \xe2\x80\xae" "desrever e");
  for (guint i = 0; i < 2000; i++)
    g_string_append (body, "\xcc\x81");
  g_string_append (body, " end-of-hostile");
  bob_says (f, f->room_id, body->str);
  wait_screen (f, "end-of-hostile");

  screen = capture (f);
  /* Nothing was cleared: the status line, the earlier line, the input. */
  g_assert_true (g_str_has_prefix (screen, " [online]"));
  g_assert_nonnull (strstr (screen, "a line before"));
  g_assert_nonnull (strstr (screen, "Second room"));
  /* The escapes' printable rest is shown as text, harmlessly. */
  g_assert_nonnull (strstr (screen, "start[2J[31mX[45mY desrever"));
  g_assert_null (strstr (screen, "\xe2\x80\xae"));
  {
    g_auto(GStrv) rows = g_strsplit (screen, "\n", -1);
    const char *first = strstr (rows[1], "│");

    /* The pane border stays in its column on every row. */
    g_assert_nonnull (first);
    separator_column = (guint) g_utf8_pointer_to_offset (rows[1], first);
    for (guint r = 1; r < 27; r++)
      {
        const char *bar = g_utf8_offset_to_pointer (rows[r], separator_column);

        if (g_utf8_strlen (rows[r], -1) <= separator_column || !g_str_has_prefix (bar, "│"))
          {
            dump (f, "border");
            g_error ("row %u lost its border", r);
          }
      }
    g_assert_true (g_str_has_prefix (rows[29], ">"));
  }
  coloured = tmux (f, "capture-pane", "-p", "-e", "-t", "S", NULL);
  assert_no_hostile_colours (coloured);

  g_free (tmux (f, "send-keys", "-t", "S", "C-c", NULL));
  wait_screen (f, "EXIT=130");
}

static void
test_resize (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *screen = NULL;
  g_autofree char *row = NULL;

  start_client (f);
  bob_says (f, f->room_id, "a message long enough to wrap when the window gets narrow, "
                           "which it is about to do");
  wait_screen (f, "about to do");

  g_free (tmux (f, "resize-window", "-t", "S", "-x", "60", "-y", "16", NULL));
  /* 60 columns: a 15-cell room list, the border at column 15; the long
   * message wraps. */
  wait_screen (f, "               │");
  screen = capture (f);
  row = screen_row (screen, 15);
  g_assert_true (g_str_has_prefix (row, ">"));
  {
    g_auto(GStrv) rows = g_strsplit (screen, "\n", -1);

    for (guint r = 0; rows[r] != NULL; r++)
      g_assert_cmpuint (g_utf8_strlen (rows[r], -1), <=, 60);
  }

  g_free (tmux (f, "resize-window", "-t", "S", "-x", "30", "-y", "10", NULL));
  wait_screen (f, "terminal too small");

  g_free (tmux (f, "resize-window", "-t", "S", "-x", "100", "-y", "30", NULL));
  wait_screen_gone (f, "terminal too small");
  wait_screen (f, "Terminal talk — where we test");

  g_free (tmux (f, "send-keys", "-t", "S", "-l", "/quit", NULL));
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
  wait_screen (f, "EXIT=0");
}

/* Presses @key (a tmux key name) every second until @needle shows (or,
 * @absent, goes); aborts the test after twice the usual wait. */
static void
press_until (Fixture    *f,
             const char *key,
             const char *needle,
             gboolean    absent)
{
  ScreenWait w = { f, needle, absent };
  gint64 deadline = g_get_monotonic_time () + 2 * (gint64) WAIT_MS * 1000;

  do
    {
      if (g_get_monotonic_time () > deadline)
        {
          dump (f, needle);
          g_error ("pressing %s, \"%s\" never %s", key, needle, absent ? "went away" : "showed");
        }
      g_free (tmux (f, "send-keys", "-t", "S", key, NULL));
    }
  while (!om_test_wait_until (screen_matches, &w, 1000));
}

static void
test_scroll_back (Fixture       *f,
                  gconstpointer  data)
{
  start_client (f);
  for (guint i = 0; i < 40; i++)
    {
      g_autofree char *body = g_strdup_printf ("numbered message %02u", i);

      bob_says (f, f->room_id, body);
    }
  wait_screen (f, "numbered message 39");
  /* Older ones are off the top; PageUp brings them back, PageDown returns.
   * (While only a short stretch is loaded, PageUp may just ask for older
   * events and leave the view: so press until it moves.) */
  press_until (f, "PPage", "numbered message 39", TRUE);
  /* Until the oldest shows, loading older history from the server when
   * the loaded events run out. */
  press_until (f, "PPage", "numbered message 00", FALSE);
  press_until (f, "NPage", "numbered message 39", FALSE);

  g_free (tmux (f, "send-keys", "-t", "S", "C-c", NULL));
  wait_screen (f, "EXIT=130");
}

/* The composer: Tab completion, history, Alt-Enter, per-room drafts. */
static void
test_composer (Fixture       *f,
               gconstpointer  data)
{
  TimelineWait sent = { f->bob, NULL, NULL };

  start_client (f);
  sent.room_id = f->room_id;
  /* Bob has spoken, so his name is known here. */
  bob_says (f, f->room_id, "ready when you are");
  wait_screen (f, "bob: ready when you are");

  /* A member's name at the start of the line completes IRC style. */
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "bo", NULL));
  wait_screen (f, "> bo");
  g_free (tmux (f, "send-keys", "-t", "S", "Tab", NULL));
  /* (capture-pane leaves the trailing space out) */
  wait_screen (f, "> bob:");
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "completed", NULL));
  wait_screen (f, "> bob: completed");
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
  sent.body = "bob: completed";
  if (!om_test_wait_until (timeline_has_body, &sent, WAIT_MS))
    {
      dump (f, "completion");
      g_error ("Bob never got the completed line");
    }
  wait_screen_gone (f, "> bob: completed");

  /* Up recalls what was sent; Ctrl-U empties the line again. */
  g_free (tmux (f, "send-keys", "-t", "S", "Up", NULL));
  wait_screen (f, "> bob: completed");
  g_free (tmux (f, "send-keys", "-t", "S", "C-u", NULL));
  wait_screen_gone (f, "> bob: completed");

  /* Alt-Enter breaks the line: two input rows, one message. */
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "first line", NULL));
  g_free (tmux (f, "send-keys", "-t", "S", "M-Enter", NULL));
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "second line", NULL));
  wait_screen (f, "> first line");
  wait_screen (f, "\n  second line");
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
  sent.body = "first line\nsecond line";
  if (!om_test_wait_until (timeline_has_body, &sent, WAIT_MS))
    {
      dump (f, "multi-line");
      g_error ("Bob never got the two-line message");
    }
  wait_screen_gone (f, "> first line");

  /* A draft stays with its room. */
  g_free (tmux (f, "send-keys", "-t", "S", "-l", "unsent draft", NULL));
  wait_screen (f, "> unsent draft");
  g_free (tmux (f, "send-keys", "-t", "S", "C-n", NULL));
  wait_screen (f, "│ Second room");
  wait_screen_gone (f, "> unsent draft");
  g_free (tmux (f, "send-keys", "-t", "S", "M-Up", NULL));
  wait_screen (f, "│ Terminal talk");
  wait_screen (f, "> unsent draft");

  g_free (tmux (f, "send-keys", "-t", "S", "C-c", NULL));
  wait_screen (f, "EXIT=130");
}

static void
test_wrong_password (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *err_path = g_build_filename (f->dir, "stderr.log", NULL);
  g_autofree char *err = NULL;
  g_autofree char *screen = NULL;

  spawn_client (f, "not-alices-password");
  wait_screen (f, "EXIT=1");
  g_assert_true (g_file_get_contents (err_path, &err, NULL, NULL));
  g_assert_nonnull (strstr (err, "sign-in failed"));
  g_assert_null (strstr (err, "not-alices-password"));
  screen = capture (f);
  g_assert_null (strstr (screen, "not-alices-password"));
}

/* Whether the room list (left of the "│") names @name. */
typedef struct {
  Fixture    *f;
  const char *name;
  gboolean    absent;
} ListWait;

static gboolean
room_list_matches (gpointer data)
{
  ListWait *w = data;
  g_autofree char *screen = NULL;
  g_auto(GStrv) rows = NULL;
  gboolean found = FALSE;

  om_test_spin (50);
  screen = capture (w->f);
  rows = g_strsplit (screen, "\n", -1);
  /* Row 0 is the status line; the last two the info line and the input. */
  for (guint i = 1; rows[i] != NULL; i++)
    {
      const char *bar = strstr (rows[i], "│");
      g_autofree char *list = bar != NULL ? g_strndup (rows[i], (gsize) (bar - rows[i])) : NULL;

      if (list != NULL && strstr (list, w->name) != NULL)
        found = TRUE;
    }
  return found != w->absent;
}

static void
wait_room_list (Fixture    *f,
                const char *name,
                gboolean    absent)
{
  ListWait w = { f, name, absent };

  if (!om_test_wait_until (room_list_matches, &w, WAIT_MS))
    {
      dump (f, name);
      g_error ("\"%s\" never %s the room list", name, absent ? "left" : "reached");
    }
}

static void
type_line (Fixture    *f,
           const char *line)
{
  g_free (tmux (f, "send-keys", "-t", "S", "-l", line, NULL));
  g_free (tmux (f, "send-keys", "-t", "S", "Enter", NULL));
}

typedef struct {
  OmSession  *session;
  const char *inviter;
} InviteWait;

/* Bob holds an invite from @inviter. */
static gboolean
has_invite (gpointer data)
{
  InviteWait *w = data;
  GListModel *rooms = G_LIST_MODEL (om_session_get_room_list (w->session));

  for (guint i = 0; i < g_list_model_get_n_items (rooms); i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, i);

      if (om_room_get_membership (room) == OM_MEMBERSHIP_INVITE &&
          g_strcmp0 (om_room_get_inviter (room), w->inviter) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
test_commands (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *query = g_strdup_printf ("/query %s", f->bob_id);
  g_autofree char *err_path = g_build_filename (f->dir, "stderr.log", NULL);
  g_autofree char *err = NULL;
  InviteWait invite = { f->bob, f->alice_id };

  start_client (f);

  /* /create: the new room is listed and opened. */
  type_line (f, "/create Fresh room");
  wait_room_list (f, "Fresh room", FALSE);
  wait_screen (f, "│ Fresh room");

  /* /leave: the open room goes from the list, and another opens. */
  type_line (f, "/leave");
  wait_screen (f, "left Fresh room");
  wait_room_list (f, "Fresh room", TRUE);
  wait_room_list (f, "Terminal talk", FALSE);
  wait_screen_gone (f, "│ Fresh room");

  /* A bad argument is refused on the info line. */
  type_line (f, "/query bob");
  wait_screen (f, "usage: /query @user:server");

  /* /query: a direct chat Bob is invited to, opened once it syncs. */
  type_line (f, query);
  wait_screen (f, "created a direct chat with");
  if (!om_test_wait_until (has_invite, &invite, WAIT_MS))
    {
      dump (f, "query");
      g_error ("Bob was never invited");
    }

  /* /presence, with a status message. */
  type_line (f, "/presence unavailable out to lunch");
  wait_screen (f, "presence: unavailable — out to lunch");
  type_line (f, "/presence away");
  wait_screen (f, "usage: /presence online|unavailable|offline");

  /* /logout: the app ends, and says so once the screen is back. */
  type_line (f, "/logout");
  wait_screen (f, "EXIT=0");
  g_assert_true (g_file_get_contents (err_path, &err, NULL, NULL));
  g_assert_nonnull (strstr (err, "signed out"));
}

static void
skip_without_tmux (void)
{
  g_test_skip ("tmux is not installed");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  {
    g_autofree char *path = g_find_program_in_path ("tmux");

    if (path == NULL)
      {
        g_test_add_func ("/tui-app/needs-tmux", skip_without_tmux);
        return g_test_run ();
      }
  }
  g_test_add ("/tui-app/chat", Fixture, NULL, fixture_setup, test_chat, fixture_teardown);
  g_test_add ("/tui-app/hostile", Fixture, NULL, fixture_setup, test_hostile, fixture_teardown);
  g_test_add ("/tui-app/resize", Fixture, NULL, fixture_setup, test_resize, fixture_teardown);
  g_test_add ("/tui-app/wrong-password", Fixture, NULL, fixture_setup, test_wrong_password, fixture_teardown);
  g_test_add ("/tui-app/composer", Fixture, NULL, fixture_setup, test_composer, fixture_teardown);
  g_test_add ("/tui-app/seen-by", Fixture, NULL, fixture_setup, test_seen_by, fixture_teardown);
  g_test_add ("/tui-app/commands", Fixture, NULL, fixture_setup, test_commands, fixture_teardown);
  g_test_add ("/tui-app/scroll-back", Fixture, NULL, fixture_setup, test_scroll_back, fixture_teardown);

  return g_test_run ();
}
