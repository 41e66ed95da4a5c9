/* test-tui-line.c — openmeet-tui --line under a pseudo-terminal
 *
 * The client runs as a child process with its stdin and stdout on a pty
 * (as in a real terminal) and its stderr on a pipe (so GLib's coloured log
 * output cannot be mistaken for something the client printed from the
 * network).  Bob is driven straight through the test homeserver.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <sys/wait.h>

#include "om-test-pty.h"
#include "om-test-session.h"
/* For OM_TUI_MAX_COMBINING only. */
#include "../src/tui/om-tui-text.h"

#define PASSWORD "line-mode-pw"
#define WAIT_MS  15000

typedef struct {
  OmTestHs *hs;
  char     *dir;
  char     *alice_id;
  char     *bob_id;
  char     *bob_token;
  char     *room_id;
  guint     txn;

  OmTestPty *pty;         /* the client */
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *body = NULL;
  g_autofree char *alice_token = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  f->hs = om_test_hs_start (NULL);
  f->dir = om_test_mkdtemp ();
  f->alice_id = om_test_hs_create_user (f->hs, "alice", PASSWORD, FALSE);
  f->bob_id = om_test_hs_create_user (f->hs, "bob", "bobs-password", FALSE);
  f->bob_token = om_test_hs_login (f->hs, "bob", "bobs-password", NULL);

  /* Bob's room, which Alice has joined (from another device) before the client starts. */
  body = g_strdup_printf ("{\"preset\":\"private_chat\",\"name\":\"Terminal talk\",\"invite\":[\"%s\"]}",
                          f->alice_id);
  reply = om_test_hs_request (f->hs, "POST", "/_matrix/client/v3/createRoom", f->bob_token, body, &status);
  g_assert_cmpuint (status, ==, 200);
  f->room_id = g_strdup (json_object_get_string_member (json_node_get_object (reply), "room_id"));
  g_clear_pointer (&reply, json_node_unref);

  alice_token = om_test_hs_login (f->hs, "alice", PASSWORD, NULL);
  escaped = g_uri_escape_string (f->room_id, NULL, FALSE);
  path = g_strdup_printf ("/_matrix/client/v3/join/%s", escaped);
  reply = om_test_hs_request (f->hs, "POST", path, alice_token, "{}", &status);
  g_assert_cmpuint (status, ==, 200);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_pointer (&f->pty, om_test_pty_free);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_hs_free (f->hs);
  om_test_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->alice_id);
  g_free (f->bob_id);
  g_free (f->bob_token);
  g_free (f->room_id);
}

/* Starts openmeet-tui --line as Alice with @password. */
static void
spawn_client (Fixture    *f,
              const char *password)
{
  g_autofree char *home = g_build_filename (f->dir, "home", NULL);
  const char *args[] = { "--line", "--homeserver", om_test_hs_get_url (f->hs),
                         "--user", "alice", "--room", f->room_id, NULL };

  f->pty = om_test_pty_spawn (args, home, password);
}

/* Waits until the client signed in and opened the room. */
static void
wait_room_open (Fixture *f)
{
  om_test_pty_wait_output (f->pty, "== Terminal talk", WAIT_MS);
}

static void
bob_says (Fixture    *f,
          const char *body)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) content = NULL;
  g_autoptr(JsonNode) reply = NULL;
  g_autofree char *json = NULL;
  g_autofree char *room = g_uri_escape_string (f->room_id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/_matrix/client/v3/rooms/%s/send/m.room.message/t%u",
                                           room, ++f->txn);
  guint status = 0;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "msgtype");
  json_builder_add_string_value (builder, "m.text");
  json_builder_set_member_name (builder, "body");
  json_builder_add_string_value (builder, body);
  json_builder_end_object (builder);
  content = json_builder_get_root (builder);
  json = json_to_string (content, FALSE);
  reply = om_test_hs_request (f->hs, "PUT", path, f->bob_token, json, &status);
  g_assert_cmpuint (status, ==, 200);
}

/* PUT @json to @path as Bob. */
static void
put_json (Fixture    *f,
          const char *path,
          const char *json)
{
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  reply = om_test_hs_request (f->hs, "PUT", path, f->bob_token, json, &status);
  g_assert_cmpuint (status, ==, 200);
}

/* Bodies of Alice's messages in the room, oldest first, as Bob's /messages shows them. */
static GPtrArray *
alice_bodies (Fixture *f)
{
  g_autofree char *room = g_uri_escape_string (f->room_id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/_matrix/client/v3/rooms/%s/messages?dir=b&limit=100", room);
  g_autoptr(JsonNode) reply = NULL;
  GPtrArray *bodies = g_ptr_array_new_with_free_func (g_free);
  JsonArray *chunk;
  guint status = 0;

  reply = om_test_hs_request (f->hs, "GET", path, f->bob_token, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  chunk = json_object_get_array_member (json_node_get_object (reply), "chunk");
  /* dir=b: newest first. */
  for (guint i = json_array_get_length (chunk); i > 0; i--)
    {
      JsonObject *event = json_array_get_object_element (chunk, i - 1);
      JsonObject *content;

      if (g_strcmp0 (json_object_get_string_member_with_default (event, "type", ""), "m.room.message") != 0 ||
          g_strcmp0 (json_object_get_string_member_with_default (event, "sender", ""), f->alice_id) != 0)
        continue;
      content = json_object_get_object_member (event, "content");
      g_ptr_array_add (bodies, g_strdup (json_object_get_string_member_with_default (content, "body", "")));
    }
  return bodies;
}

typedef struct {
  Fixture    *f;
  const char *body;
} SentWait;

static gboolean
bob_sees (gpointer data)
{
  SentWait *w = data;
  g_autoptr(GPtrArray) bodies = alice_bodies (w->f);

  return g_ptr_array_find_with_equal_func (bodies, w->body, g_str_equal, NULL);
}

static gboolean
bob_sees_or_exited (gpointer data)
{
  SentWait *w = data;

  /* Polls the server at most every 100 ms. */
  om_test_spin (100);
  return bob_sees (data) || om_test_pty_exited (w->f->pty);
}

/* Waits until Bob can read @body from Alice; fails at once if the client died. */
static void
wait_sent (Fixture    *f,
           const char *body)
{
  SentWait wait = { f, body };

  if (!om_test_wait_until (bob_sees_or_exited, &wait, WAIT_MS))
    {
      om_test_pty_dump (f->pty, "not sent");
      g_error ("\"%s\" never reached the server", body);
    }
  if (!bob_sees (&wait))
    {
      om_test_spin (100);
      om_test_pty_dump (f->pty, "exited early");
      g_error ("openmeet-tui exited (wait status 0x%x) before \"%s\" reached the server",
               f->pty->wait_status, body);
    }
}

static void
test_receive (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *line = NULL;
  g_autofree char *expected = NULL;

  spawn_client (f, PASSWORD);
  wait_room_open (f);

  bob_says (f, "Hello Alice, are you there?");
  om_test_pty_wait_output (f->pty, "Hello Alice, are you there?", WAIT_MS);
  line = om_test_pty_line_with (f->pty, "Hello Alice, are you there?");
  g_assert_nonnull (strstr (line, "<bob"));
  expected = g_strdup ("> Hello Alice, are you there?");
  g_assert_true (g_str_has_suffix (line, expected));
  g_assert_true (strstr (line, "<bob") < strstr (line, expected));

  om_test_pty_type (f->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (f->pty, WAIT_MS), ==, 0);
}

static void
test_send (Fixture       *f,
           gconstpointer  data)
{
  spawn_client (f, PASSWORD);
  wait_room_open (f);

  om_test_pty_type (f->pty, "Hi Bob, typed in a terminal\n");
  wait_sent (f, "Hi Bob, typed in a terminal");

  /* A leading "//" sends a literal "/". */
  om_test_pty_type (f->pty, "//not a command\n");
  wait_sent (f, "/not a command");

  om_test_pty_type (f->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (f->pty, WAIT_MS), ==, 0);

  /* Sent once each, in order. */
  {
    g_autoptr(GPtrArray) bodies = alice_bodies (f);

    g_assert_cmpuint (bodies->len, ==, 2);
    g_assert_cmpstr (g_ptr_array_index (bodies, 0), ==, "Hi Bob, typed in a terminal");
    g_assert_cmpstr (g_ptr_array_index (bodies, 1), ==, "/not a command");
  }
}

/* Fails if @what holds anything that steers a terminal: ESC, BEL or any other
 * C0 control but line ends and tab, DEL, C1 controls (as UTF-8 or as raw
 * bytes), bidi overrides/isolates, or a run of more than
 * OM_TUI_MAX_COMBINING combining marks. */
static void
assert_terminal_safe (const char *name,
                      GString    *what)
{
  const char *p = what->str;
  const char *end = what->str + what->len;
  guint run = 0;
  guint longest = 0;

  g_assert_null (memchr (what->str, 0x1b, what->len));
  g_assert_null (memchr (what->str, 0x07, what->len));
  for (gsize i = 0; i < what->len; i++)
    {
      guchar c = (guchar) what->str[i];

      if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f)
        g_error ("%s: control byte 0x%02x at %" G_GSIZE_FORMAT, name, c, i);
    }

  /* Anything not UTF-8 could be a raw C1 byte to the terminal. */
  if (!g_utf8_validate_len (what->str, what->len, NULL))
    g_error ("%s: not valid UTF-8", name);

  for (; p < end; p = g_utf8_next_char (p))
    {
      gunichar ch = g_utf8_get_char (p);

      if (ch >= 0x80 && ch <= 0x9f)
        g_error ("%s: C1 control U+%04X", name, ch);
      if ((ch >= 0x202a && ch <= 0x202e) || (ch >= 0x2066 && ch <= 0x2069) || ch == 0x200e || ch == 0x200f)
        g_error ("%s: bidi control U+%04X", name, ch);
      if (g_unichar_ismark (ch))
        {
          run++;
          longest = MAX (longest, run);
        }
      else
        run = 0;
    }
  g_assert_cmpuint (longest, <=, OM_TUI_MAX_COMBINING);
}

static void
test_hostile_body (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GString) body = g_string_new (NULL);
  g_autofree char *line = NULL;

  spawn_client (f, PASSWORD);
  wait_room_open (f);

  /* Clear the screen and retitle the window; right-to-left override; a C1
   * CSI (U+009B) that 8-bit terminals obey; DEL; then 10,000 combining acute
   * accents on one letter, and a marker to wait for. */
  g_string_append (body, "start\x1b[2J\x1b]0;pwned\x07 mid \xe2\x80\xae" "desrever" "\xc2\x9b" "31m red\x7f e");
  for (guint i = 0; i < 10000; i++)
    g_string_append (body, "\xcc\x81");
  g_string_append (body, " end-of-hostile");
  g_assert_true (g_utf8_validate (body->str, body->len, NULL));
  bob_says (f, body->str);

  om_test_pty_wait_output (f->pty, "end-of-hostile", WAIT_MS);
  /* And something after it, so the whole line is surely out. */
  bob_says (f, "all clear");
  om_test_pty_wait_output (f->pty, "all clear", WAIT_MS);

  line = om_test_pty_line_with (f->pty, "end-of-hostile");
  g_assert_nonnull (strstr (line, "<bob"));
  /* The harmless text survives. */
  g_assert_nonnull (strstr (line, "start"));
  g_assert_nonnull (strstr (line, "pwned"));
  g_assert_nonnull (strstr (line, "desrever"));
  /* The combining run is cut short: the line is short. */
  g_assert_cmpuint (strlen (line), <, 200);

  /* Names and topics come from the network too. */
  {
    g_autofree char *user = g_uri_escape_string (f->bob_id, NULL, FALSE);
    g_autofree char *room = g_uri_escape_string (f->room_id, NULL, FALSE);
    g_autofree char *profile = g_strdup_printf ("/_matrix/client/v3/profile/%s/displayname", user);
    g_autofree char *topic = g_strdup_printf ("/_matrix/client/v3/rooms/%s/state/m.room.topic", room);

    put_json (f, profile, "{\"displayname\":\"\\u001b[2Jevil\\u0007 bob\\u202e\\u0085\"}");
    put_json (f, topic, "{\"topic\":\"\\u001b]0;topic-pwned\\u0007 calm topic\\u009b2J\"}");
  }
  bob_says (f, "after the rename");
  om_test_pty_wait_output (f->pty, "after the rename", WAIT_MS);
  om_test_pty_wait_output (f->pty, "calm topic", WAIT_MS);
  g_free (line);
  line = om_test_pty_line_with (f->pty, "after the rename");
  g_assert_nonnull (strstr (line, "evil"));
  g_assert_nonnull (strstr (line, " bob"));

  assert_terminal_safe ("terminal output", f->pty->out);

  om_test_pty_type (f->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (f->pty, WAIT_MS), ==, 0);
  assert_terminal_safe ("terminal output", f->pty->out);
  assert_terminal_safe ("stderr", f->pty->err);
}

static void
test_quit (Fixture       *f,
           gconstpointer  data)
{
  gint64 started;

  spawn_client (f, PASSWORD);
  wait_room_open (f);
  started = g_get_monotonic_time ();
  om_test_pty_type (f->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (f->pty, WAIT_MS), ==, 0);
  /* Promptly: nothing was queued. */
  g_assert_cmpint (g_get_monotonic_time () - started, <, 5 * G_USEC_PER_SEC);
  g_assert_null (strstr (f->pty->out->str, "sign-in failed"));
}

static void
test_wrong_password (Fixture       *f,
                     gconstpointer  data)
{
  int status;

  spawn_client (f, "not-alices-password");
  status = om_test_pty_wait_exit (f->pty, WAIT_MS);
  if (status == 0 || strstr (f->pty->out->str, "sign-in failed") == NULL)
    om_test_pty_dump (f->pty, "wrong password");
  g_assert_cmpint (status, !=, 0);
  g_assert_true (WIFEXITED (f->pty->wait_status));
  g_assert_nonnull (strstr (f->pty->out->str, "sign-in failed"));
  /* Neither password is echoed back. */
  g_assert_null (strstr (f->pty->out->str, "not-alices-password"));
  g_assert_null (strstr (f->pty->err->str, "not-alices-password"));
  g_assert_null (strstr (f->pty->out->str, "== Terminal talk"));
}

static void
test_eof_drains (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GPtrArray) bodies = NULL;
  int status;

  spawn_client (f, PASSWORD);
  wait_room_open (f);

  /* The server turns the first sends away (transiently): the messages stay
   * queued and are retried.  Quitting before they went out would lose them. */
  om_test_hs_add_fault (f->hs, "{\"path\":\"/send/\",\"method\":\"PUT\",\"action\":\"error\","
                               "\"status\":503,\"count\":2}");
  om_test_pty_type (f->pty, "first queued line\nsecond queued line\n");
  om_test_spin (200);
  /* Ctrl-D at the start of a line: end of input. */
  om_test_pty_type (f->pty, "\x04");

  status = om_test_pty_wait_exit (f->pty, 30000);
  if (status != 0 || strstr (f->pty->out->str, "still queued") != NULL)
    om_test_pty_dump (f->pty, "drain");
  g_assert_cmpint (status, ==, 0);
  g_assert_null (strstr (f->pty->out->str, "still queued"));

  bodies = alice_bodies (f);
  g_assert_cmpuint (bodies->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (bodies, 0), ==, "first queued line");
  g_assert_cmpstr (g_ptr_array_index (bodies, 1), ==, "second queued line");
}

static void
test_membership_lines (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *carol_id = om_test_hs_create_user (f->hs, "carol", "carols-password", FALSE);
  g_autofree char *room = g_uri_escape_string (f->room_id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/_matrix/client/v3/rooms/%s/invite", room);
  g_autofree char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", carol_id);
  g_autofree char *alice_line = NULL;
  g_autofree char *carol_line = NULL;
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  spawn_client (f, PASSWORD);
  wait_room_open (f);

  /* From history: Bob invited Alice.  The line is about Alice, not Bob. */
  om_test_pty_wait_output (f->pty, "invite", WAIT_MS);
  om_test_spin (100);
  alice_line = om_test_pty_line_with (f->pty, "invite");
  g_assert_nonnull (alice_line);
  if (strstr (alice_line, "alice") == NULL)
    om_test_pty_dump (f->pty, "invite line");
  g_assert_nonnull (strstr (alice_line, "alice"));

  /* Live: Bob invites Carol. */
  reply = om_test_hs_request (f->hs, "POST", path, f->bob_token, body, &status);
  g_assert_cmpuint (status, ==, 200);
  om_test_pty_wait_output (f->pty, "carol", WAIT_MS);
  carol_line = om_test_pty_line_with (f->pty, "carol");
  g_assert_nonnull (strstr (carol_line, "invite"));

  om_test_pty_type (f->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (f->pty, WAIT_MS), ==, 0);
}

static void
test_invalid_utf8_line (Fixture       *f,
                        gconstpointer  data)
{
  spawn_client (f, PASSWORD);
  wait_room_open (f);

  /* A line that is not UTF-8 (a Latin-1 terminal) is refused, and the
   * client carries on with the next one. */
  om_test_pty_type (f->pty, "caf\xe9 au lait\n");
  om_test_pty_type (f->pty, "plain ascii after it\n");
  wait_sent (f, "plain ascii after it");

  om_test_pty_type (f->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (f->pty, WAIT_MS), ==, 0);
  {
    g_autoptr(GPtrArray) bodies = alice_bodies (f);

    g_assert_cmpuint (bodies->len, ==, 1);
    g_assert_cmpstr (g_ptr_array_index (bodies, 0), ==, "plain ascii after it");
  }
}

/* Each test runs in a child process of its own, so that one client bug
 * does not hide the results of the tests after it. */
typedef struct {
  const char *path;
  void      (*func) (Fixture *f, gconstpointer data);
} TuiTest;

static const TuiTest tui_tests[] = {
  { "/tui-line/receive", test_receive },
  { "/tui-line/quit", test_quit },
  { "/tui-line/wrong-password", test_wrong_password },
  { "/tui-line/hostile-body", test_hostile_body },
  { "/tui-line/send", test_send },
  { "/tui-line/eof-drains", test_eof_drains },
  { "/tui-line/membership-lines", test_membership_lines },
  { "/tui-line/invalid-utf8-line", test_invalid_utf8_line },
};

static void
run_isolated (gconstpointer data)
{
  const TuiTest *test = data;

  if (g_test_subprocess ())
    {
      Fixture f = { 0 };

      fixture_setup (&f, NULL);
      test->func (&f, NULL);
      fixture_teardown (&f, NULL);
      return;
    }
  /* A failed child fails this test only; the next ones still run. */
  g_test_set_nonfatal_assertions ();
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (tui_tests); i++)
    g_test_add_data_func (tui_tests[i].path, &tui_tests[i], run_isolated);

  return g_test_run ();
}
