/* test-typing.c — our typing notices, as the other side sees them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-room.h"
#include "om-session.h"
#include "om-test-session.h"
#include "om-typing.h"

#define WAIT_MS 10000

typedef OmTestPair Fixture;

static const OmTestPairOptions pair_options = {
  .room_name = "Typing practice",
  .sync_timeout_ms = 1000,
};

typedef struct {
  OmSession  *session;
  const char *room_id;
  const char *user_id;
  gboolean    typing;
} TypingWait;

static gboolean
typing_is (gpointer data)
{
  TypingWait *w = data;
  OmRoom *room = om_session_lookup_room (w->session, w->room_id);
  const char * const *users = om_room_get_typing_user_ids (room);
  gboolean found = users != NULL && g_strv_contains (users, w->user_id);

  return found == w->typing;
}

static gboolean
nobody_typing (OmSession  *session,
               const char *room_id)
{
  const char * const *users = om_room_get_typing_user_ids (om_session_lookup_room (session, room_id));

  return users == NULL || users[0] == NULL;
}

static gboolean
nobody_typing_cb (gpointer data)
{
  TypingWait *w = data;

  return nobody_typing (w->session, w->room_id);
}

/* Bob's room as the server sees it: who types now. */
static gboolean
server_says_typing (Fixture    *f,
                    const char *room_id,
                    const char *user_id)
{
  /* The server has no read API for typing; a fresh /sync with a token of
   * Bob's shows the ephemeral m.typing of each room. */
  g_autofree char *token = om_session_dup_access_token (f->bob);
  g_autoptr(JsonNode) body = om_test_hs_request (f->hs, "GET", "/_matrix/client/v3/sync?timeout=0",
                                                 token, NULL, NULL);
  JsonObject *rooms, *join, *room, *ephemeral;
  JsonArray *events;

  g_assert_nonnull (body);
  rooms = json_object_get_object_member (json_node_get_object (body), "rooms");
  join = rooms ? json_object_get_object_member (rooms, "join") : NULL;
  room = join && json_object_has_member (join, room_id) ? json_object_get_object_member (join, room_id) : NULL;
  ephemeral = room && json_object_has_member (room, "ephemeral")
              ? json_object_get_object_member (room, "ephemeral") : NULL;
  events = ephemeral ? json_object_get_array_member (ephemeral, "events") : NULL;
  for (guint i = 0; events != NULL && i < json_array_get_length (events); i++)
    {
      JsonObject *event = json_array_get_object_element (events, i);
      JsonArray *ids;

      if (g_strcmp0 (json_object_get_string_member_with_default (event, "type", ""), "m.typing") != 0)
        continue;
      ids = json_object_get_array_member (json_object_get_object_member (event, "content"), "user_ids");
      for (guint j = 0; j < json_array_get_length (ids); j++)
        if (g_strcmp0 (json_array_get_string_element (ids, j), user_id) == 0)
          return TRUE;
    }
  return FALSE;
}

static void
test_debounce (Fixture       *f,
               gconstpointer  data)
{
  OmTyping *typing = om_session_get_typing (f->alice);
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  TypingWait wait = { f->bob, f->room_id, f->alice_id, TRUE };
  guint n0 = om_typing_get_n_requests (typing);

  /* A burst of keystrokes over most of a second. */
  for (guint i = 0; i < 40; i++)
    {
      om_room_set_typing (room, TRUE);
      om_test_spin (20);
    }
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 1);

  g_assert_true (om_test_wait_until (typing_is, &wait, WAIT_MS));
  g_assert_true (server_says_typing (f, f->room_id, f->alice_id));
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 1);

  /* Typing on after the notice arrived still sends nothing new. */
  for (guint i = 0; i < 10; i++)
    om_room_set_typing (room, TRUE);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 1);

  /* Our own typing never shows as someone else's. */
  {
    const char * const *own = om_room_get_typing_user_ids (room);
    g_assert_true (own == NULL || !g_strv_contains (own, f->alice_id));
  }
}

static void
test_idle_stop (Fixture       *f,
                gconstpointer  data)
{
  OmTyping *typing = om_session_get_typing (f->alice);
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  TypingWait wait = { f->bob, f->room_id, f->alice_id, TRUE };
  gint64 typed_at;
  guint n0;

  om_typing_set_idle_ms (typing, 300);
  n0 = om_typing_get_n_requests (typing);

  om_room_set_typing (room, TRUE);
  typed_at = g_get_monotonic_time ();
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 1);
  g_assert_true (om_test_wait_until (typing_is, &wait, WAIT_MS));

  /* No input: "typing: false" goes out after the idle delay, not before. */
  wait.typing = FALSE;
  g_assert_true (om_test_wait_until (typing_is, &wait, WAIT_MS));
  g_assert_cmpint (g_get_monotonic_time () - typed_at, >=, 300 * 1000);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 2);
  g_assert_true (nobody_typing (f->bob, f->room_id));
  /* Well before the server's 30 s timeout: it was our notice that ended it. */
  g_assert_cmpint (g_get_monotonic_time () - typed_at, <, OM_TYPING_SERVER_TIMEOUT_MS * 1000 / 2);
  g_assert_false (server_says_typing (f, f->room_id, f->alice_id));

  /* Stopping once is enough: nothing more goes out. */
  om_test_spin (700);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 2);

  /* Keystrokes keep postponing the idle stop. */
  om_room_set_typing (room, TRUE);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 3);
  for (guint i = 0; i < 10; i++)
    {
      om_test_spin (100);
      om_room_set_typing (room, TRUE);
    }
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 3);
  wait.typing = FALSE;
  {
    TypingWait on = { f->bob, f->room_id, f->alice_id, TRUE };
    g_assert_true (om_test_wait_until (typing_is, &on, WAIT_MS));
  }
  g_assert_true (om_test_wait_until (nobody_typing_cb, &wait, WAIT_MS));
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 4);
}

static void
test_false_without_true (Fixture       *f,
                         gconstpointer  data)
{
  OmTyping *typing = om_session_get_typing (f->alice);
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  TypingWait wait = { f->bob, f->room_id, f->alice_id, TRUE };
  guint n0 = om_typing_get_n_requests (typing);

  /* Never typed here: stopping sends nothing, now or later. */
  om_room_set_typing (room, FALSE);
  om_room_set_typing (room, FALSE);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0);
  om_test_spin (500);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0);

  /* Typed, stopped: one each; a second stop sends nothing. */
  om_room_set_typing (room, TRUE);
  g_assert_true (om_test_wait_until (typing_is, &wait, WAIT_MS));
  om_room_set_typing (room, FALSE);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 2);
  wait.typing = FALSE;
  g_assert_true (om_test_wait_until (typing_is, &wait, WAIT_MS));
  om_room_set_typing (room, FALSE);
  om_test_spin (300);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 2);

  /* After a stop, typing again is announced at once (no 20 s resend wait). */
  om_room_set_typing (room, TRUE);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 3);
  wait.typing = TRUE;
  g_assert_true (om_test_wait_until (typing_is, &wait, WAIT_MS));

  /* Sending a message ends typing with one notice. */
  om_room_send_message (room, "m.text", "done");
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 4);
  wait.typing = FALSE;
  g_assert_true (om_test_wait_until (typing_is, &wait, WAIT_MS));
  om_test_spin (300);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 4);
}

static void
test_two_rooms (Fixture       *f,
                gconstpointer  data)
{
  g_autofree char *second_id = om_test_shared_room (f->alice, f->bob, "Second room", NULL);
  OmTyping *typing = om_session_get_typing (f->alice);
  OmRoom *first = om_session_lookup_room (f->alice, f->room_id);
  OmRoom *second = om_session_lookup_room (f->alice, second_id);
  TypingWait in_first = { f->bob, f->room_id, f->alice_id, TRUE };
  TypingWait in_second = { f->bob, second_id, f->alice_id, TRUE };
  guint n0 = om_typing_get_n_requests (typing);

  g_assert_nonnull (second);
  om_typing_set_idle_ms (typing, 3000);

  /* Typing in one room does not hold back the notice for the other. */
  om_room_set_typing (first, TRUE);
  om_room_set_typing (second, TRUE);
  om_room_set_typing (first, TRUE);
  om_room_set_typing (second, TRUE);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 2);
  g_assert_true (om_test_wait_until (typing_is, &in_first, WAIT_MS));
  g_assert_true (om_test_wait_until (typing_is, &in_second, WAIT_MS));

  /* Stopping in the first room leaves the second alone (a keystroke there
   * first, so its idle stop cannot race the checks below). */
  om_room_set_typing (second, TRUE);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 2);
  om_room_set_typing (first, FALSE);
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 3);
  in_first.typing = FALSE;
  g_assert_true (om_test_wait_until (typing_is, &in_first, WAIT_MS));
  g_assert_true (server_says_typing (f, second_id, f->alice_id));
  g_assert_false (server_says_typing (f, f->room_id, f->alice_id));
  {
    const char * const *users = om_room_get_typing_user_ids (om_session_lookup_room (f->bob, second_id));
    g_assert_true (users != NULL && g_strv_contains (users, f->alice_id));
  }

  /* The second room's own idle stop then ends it. */
  in_second.typing = FALSE;
  g_assert_true (om_test_wait_until (typing_is, &in_second, WAIT_MS));
  g_assert_cmpuint (om_typing_get_n_requests (typing), ==, n0 + 4);
  g_assert_true (nobody_typing (f->bob, f->room_id));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  om_test_add_pair ("/typing/debounce", &pair_options, test_debounce);
  om_test_add_pair ("/typing/idle-stop", &pair_options, test_idle_stop);
  om_test_add_pair ("/typing/false-without-true", &pair_options, test_false_without_true);
  om_test_add_pair ("/typing/two-rooms", &pair_options, test_two_rooms);

  return g_test_run ();
}
