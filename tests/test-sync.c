/* test-sync.c — applying /sync responses, and the long-poll loop
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-error.h"
#include "om-event.h"
#include "om-presence.h"
#include "om-room.h"
#include "om-room-list.h"
#include "om-session.h"
#include "om-store.h"
#include "om-sync.h"
#include "om-test-hs.h"
#include "om-timeline.h"

#define BOB "@bob:matrix.openmeet.test"
#define ALICE "@alice:matrix.openmeet.test"
#define ROOM "!YiUsZeWKWJwJafACEU:matrix.openmeet.test"

/* Transcript replay: Bob's side of sync-initial-and-incremental.json */

static JsonArray *
load_transcript (const char *name)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "transcripts", name, NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_array_ref (json_node_get_array (json_parser_get_root (parser)));
}

static JsonObject *
response_of (JsonArray *transcript,
             guint      index)
{
  JsonObject *exchange = json_array_get_object_element (transcript, index);

  g_assert_true (g_str_has_prefix (json_object_get_string_member (exchange, "path"),
                                   "/_matrix/client/v3/sync"));
  return json_object_get_object_member (exchange, "response_body");
}

static OmSession *
offline_session (const char *dir,
                 const char *user_id)
{
  g_autoptr(GError) error = NULL;
  OmSession *session = om_session_new (dir);

  /* Port 9 (discard): nothing answers, and nothing is started anyway. */
  g_assert_true (om_session_restore (session, "http://127.0.0.1:9", user_id, "BOBDEVICE",
                                     "not-a-real-token", &error));
  g_assert_no_error (error);
  return session;
}

static void
apply (OmSession *session,
       JsonArray *transcript,
       guint      index)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (om_sync_apply_response (om_session_get_sync (session),
                                         response_of (transcript, index), FALSE, &error));
  g_assert_no_error (error);
}

static void
test_replay_transcript (void)
{
  g_autoptr(JsonArray) transcript = load_transcript ("sync-initial-and-incremental.json");
  g_autofree char *dir = om_test_mkdtemp ();
  g_autoptr(OmSession) session = offline_session (dir, BOB);
  OmRoom *room;
  const char * const *typing;
  const char *status = NULL;
  OmTimeline *timeline;

  /* Invited. */
  apply (session, transcript, 3);
  room = om_session_lookup_room (session, ROOM);
  g_assert_nonnull (room);
  g_assert_cmpint (om_room_get_membership (room), ==, OM_MEMBERSHIP_INVITE);
  g_assert_cmpstr (om_room_get_inviter (room), ==, ALICE);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (session))), ==, 1);

  /* Joined: the same object moves on. */
  apply (session, transcript, 6);
  g_assert_true (om_session_lookup_room (session, ROOM) == room);
  g_assert_cmpint (om_room_get_membership (room), ==, OM_MEMBERSHIP_JOIN);
  g_assert_cmpint (om_room_get_member_membership (room, BOB), ==, OM_MEMBERSHIP_JOIN);

  /* Messages, then typing on and off. */
  apply (session, transcript, 12);
  timeline = om_room_get_timeline (room);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), >, 0);
  apply (session, transcript, 18);
  apply (session, transcript, 21);
  typing = om_room_get_typing_user_ids (room);
  g_assert_nonnull (typing);
  g_assert_true (g_strv_contains (typing, ALICE));
  g_assert_cmpuint (om_room_get_unread_count (room), ==, 3);
  g_assert_cmpuint (om_room_get_highlight_count (room), ==, 2);
  apply (session, transcript, 23);
  typing = om_room_get_typing_user_ids (room);
  g_assert_true (typing == NULL || typing[0] == NULL);

  /* Our own receipt and the fully-read marker. */
  apply (session, transcript, 27);
  g_assert_cmpstr (om_room_get_fully_read (room), ==, "$-2pTPi5UbXNFcyOePlNF5gJWprYO0CxApoNwd3BRPqg");

  /* Presence. */
  apply (session, transcript, 30);
  g_assert_cmpint (om_presence_lookup (om_session_get_presence (session), ALICE, &status, NULL, NULL),
                   ==, OM_PRESENCE_ONLINE);
  g_assert_cmpstr (status, ==, "At the OpenMeet meetup");

  /* A limited timeline: the gap is reachable by back-pagination. */
  apply (session, transcript, 35);
  g_assert_true (om_timeline_get_can_load_older (timeline));
  {
    g_autoptr(OmEvent) last = g_list_model_get_item (G_LIST_MODEL (timeline),
                                                     g_list_model_get_n_items (G_LIST_MODEL (timeline)) - 1);
    g_assert_cmpstr (om_event_get_body (last), ==, "Bulk message 30");
  }

  /* The token moved with each response and is in the store. */
  g_assert_cmpstr (om_sync_get_since (om_session_get_sync (session)), ==, "s45_4_2_3_2_1_1_13_0_1");
  {
    g_autofree char *stored = om_store_dup_value (om_session_get_store (session), "sync_token");
    g_assert_cmpstr (stored, ==, "s45_4_2_3_2_1_1_13_0_1");
  }

  g_clear_object (&session);
  om_test_rmdir (dir);
}

static void
test_restore_after_replay (void)
{
  g_autoptr(JsonArray) transcript = load_transcript ("sync-initial-and-incremental.json");
  g_autofree char *dir = om_test_mkdtemp ();
  OmSession *session = offline_session (dir, BOB);
  g_autofree char *name = NULL;
  guint n_events;
  OmRoom *room;

  apply (session, transcript, 3);
  apply (session, transcript, 6);
  apply (session, transcript, 12);
  room = om_session_lookup_room (session, ROOM);
  name = g_strdup (om_room_get_display_name (room));
  n_events = g_list_model_get_n_items (G_LIST_MODEL (om_room_get_timeline (room)));
  g_clear_object (&session);

  session = offline_session (dir, BOB);
  room = om_session_lookup_room (session, ROOM);
  g_assert_nonnull (room);
  g_assert_cmpstr (om_room_get_display_name (room), ==, name);
  g_assert_cmpint (om_room_get_membership (room), ==, OM_MEMBERSHIP_JOIN);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (om_room_get_timeline (room))), ==, n_events);
  g_assert_cmpstr (om_sync_get_since (om_session_get_sync (session)), ==,
                   json_object_get_string_member (response_of (transcript, 12), "next_batch"));
  g_clear_object (&session);
  om_test_rmdir (dir);
}

/* Malformed responses */

typedef struct {
  const char *name;
  const char *json;
  gboolean    ok;
} Malformed;

static const Malformed malformed[] = {
  { "no-next-batch", "{\"rooms\":{}}", FALSE },
  { "empty-next-batch", "{\"next_batch\":\"\"}", FALSE },
  { "next-batch-number", "{\"next_batch\":12}", FALSE },
  { "rooms-not-object", "{\"next_batch\":\"s2\",\"rooms\":[1,2]}", TRUE },
  { "join-not-object", "{\"next_batch\":\"s2\",\"rooms\":{\"join\":\"x\"}}", TRUE },
  { "room-not-object", "{\"next_batch\":\"s2\",\"rooms\":{\"join\":{\"!a:x\":5}}}", TRUE },
  { "bad-room-id", "{\"next_batch\":\"s2\",\"rooms\":{\"join\":{\"nope\":{}}}}", TRUE },
  { "timeline-garbage", "{\"next_batch\":\"s2\",\"rooms\":{\"join\":{\"!a:x\":{\"timeline\":{\"events\":[1,\"x\",{\"type\":5},{}]}}}}}", TRUE },
  { "presence-garbage", "{\"next_batch\":\"s2\",\"presence\":{\"events\":[{\"type\":\"m.presence\"},7]}}", TRUE },
  { "account-data-type-number", "{\"next_batch\":\"s2\",\"account_data\":{\"events\":[{\"type\":5,\"content\":{}},{\"type\":{},\"content\":[]}]}}", TRUE },
  { "account-data-garbage", "{\"next_batch\":\"s2\",\"account_data\":{\"events\":[{\"type\":\"m.direct\",\"content\":{\"@a:x\":\"no\"}}]}}", TRUE },
};

static void
test_malformed (gconstpointer data)
{
  const Malformed *m = data;
  g_autofree char *dir = om_test_mkdtemp ();
  g_autoptr(OmSession) session = offline_session (dir, BOB);
  g_autoptr(JsonNode) node = json_from_string (m->json, NULL);
  g_autoptr(GError) error = NULL;
  OmSync *sync = om_session_get_sync (session);
  gboolean ok;

  /* Malformed parts are reported as warnings (not fatal here) and skipped. */
  g_assert_nonnull (node);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  ok = om_sync_apply_response (sync, json_node_get_object (node), FALSE, &error);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  if (m->ok)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpstr (om_sync_get_since (sync), ==, "s2");
    }
  else
    {
      g_assert_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE);
      g_assert_false (ok);
      g_assert_null (om_sync_get_since (sync));
    }
  g_clear_object (&session);
  om_test_rmdir (dir);
}

/* The loop against the test homeserver */

typedef struct {
  OmTestHs  *hs;
  char      *dir;
  char      *user_id;
  char      *token;
  char      *device;
  OmSession *session;
} Live;

static void
live_setup (Live *l)
{
  g_autoptr(GError) error = NULL;

  l->hs = om_test_hs_start (NULL);
  l->dir = om_test_mkdtemp ();
  l->user_id = om_test_hs_create_user (l->hs, "carol", "secret", FALSE);
  l->token = om_test_hs_login (l->hs, "carol", "secret", &l->device);
  l->session = om_session_new (l->dir);
  g_assert_true (om_session_restore (l->session, om_test_hs_get_url (l->hs), l->user_id,
                                     l->device, l->token, &error));
  g_assert_no_error (error);
  om_sync_set_timeout_ms (om_session_get_sync (l->session), 1000);
}

static void
live_teardown (Live *l)
{
  g_clear_object (&l->session);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_hs_free (l->hs);
  om_test_rmdir (l->dir);
  g_free (l->dir);
  g_free (l->user_id);
  g_free (l->token);
  g_free (l->device);
}

static gboolean
state_is (gpointer data)
{
  gpointer *pair = data;

  return (int) om_session_get_state (pair[0]) == GPOINTER_TO_INT (pair[1]);
}

static void
test_backoff_and_recovery (void)
{
  Live l = { 0 };
  gpointer online[2], offline[2];
  OmSync *sync;

  live_setup (&l);
  sync = om_session_get_sync (l.session);
  online[0] = offline[0] = l.session;
  online[1] = GINT_TO_POINTER (OM_SESSION_STATE_ONLINE);
  offline[1] = GINT_TO_POINTER (OM_SESSION_STATE_OFFLINE);

  om_session_start (l.session);
  g_assert_true (om_test_wait_until (state_is, online, 10000));

  /* Three failures in a row: offline, with a reason for people. */
  om_test_hs_add_fault (l.hs, "{\"path\":\"/sync\",\"action\":\"error\",\"status\":502,\"count\":3}");
  g_assert_true (om_test_wait_until (state_is, offline, 10000));
  g_assert_nonnull (om_session_get_sync_error (l.session));
  g_assert_cmpuint (om_sync_get_failures (sync), >=, 1);

  /* It comes back by itself. */
  g_assert_true (om_test_wait_until (state_is, online, 20000));
  g_assert_cmpuint (om_sync_get_failures (sync), ==, 0);
  g_assert_null (om_session_get_sync_error (l.session));

  /* A dropped connection is just another failure.  (curl silently retries
   * once when a reused connection dies, so the second drop is the one seen.) */
  om_test_hs_add_fault (l.hs, "{\"path\":\"/sync\",\"action\":\"drop\",\"count\":2}");
  g_assert_true (om_test_wait_until (state_is, offline, 10000));
  g_assert_true (om_test_wait_until (state_is, online, 20000));

  live_teardown (&l);
}

static void
record_error (OmSession    *session,
              const GError *error,
              GError      **out)
{
  *out = g_error_copy (error);
}

static gboolean
error_set (gpointer data)
{
  return *(GError **) data != NULL;
}

static void
test_token_rejected (void)
{
  Live l = { 0 };
  g_autoptr(GError) signed_out = NULL;
  g_autofree char *body = NULL;
  gpointer online[2];

  live_setup (&l);
  online[0] = l.session;
  online[1] = GINT_TO_POINTER (OM_SESSION_STATE_ONLINE);
  g_signal_connect (l.session, "signed-out", G_CALLBACK (record_error), &signed_out);
  om_session_start (l.session);
  g_assert_true (om_test_wait_until (state_is, online, 10000));

  body = g_strdup_printf ("{\"user_id\":\"%s\",\"refresh_tokens\":true}", l.user_id);
  json_node_unref (om_test_hs_request (l.hs, "POST", "/_test/expire_token", NULL, body, NULL));

  g_test_expect_message ("om-session", G_LOG_LEVEL_WARNING, "*");
  g_assert_true (om_test_wait_until (error_set, &signed_out, 10000));
  g_test_assert_expected_messages ();
  g_assert_error (signed_out, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN);
  g_assert_true (om_error_is_soft_logout (signed_out));
  g_assert_cmpint (om_session_get_state (l.session), ==, OM_SESSION_STATE_SIGNED_OUT);
  g_assert_false (om_sync_get_running (om_session_get_sync (l.session)));

  live_teardown (&l);
}

static void
test_forgotten_since_token (void)
{
  Live l = { 0 };
  gpointer online[2];
  g_autoptr(GError) error = NULL;

  live_setup (&l);
  /* A token from some other server (or a wiped one): 400 M_UNKNOWN. */
  g_clear_object (&l.session);
  {
    g_autoptr(OmSession) probe = om_session_new (l.dir);
    g_assert_true (om_session_restore (probe, om_test_hs_get_url (l.hs), l.user_id,
                                       l.device, l.token, &error));
    om_store_set_value (om_session_get_store (probe), "sync_token", "not_a_token", &error);
    g_assert_no_error (error);
  }
  l.session = om_session_new (l.dir);
  g_assert_true (om_session_restore (l.session, om_test_hs_get_url (l.hs), l.user_id,
                                     l.device, l.token, &error));
  g_assert_cmpstr (om_sync_get_since (om_session_get_sync (l.session)), ==, "not_a_token");
  om_sync_set_timeout_ms (om_session_get_sync (l.session), 1000);

  online[0] = l.session;
  online[1] = GINT_TO_POINTER (OM_SESSION_STATE_ONLINE);
  g_test_expect_message ("om-sync", G_LOG_LEVEL_WARNING, "*sync token*");
  om_session_start (l.session);
  g_assert_true (om_test_wait_until (state_is, online, 15000));
  g_test_assert_expected_messages ();
  g_assert_cmpstr (om_sync_get_since (om_session_get_sync (l.session)), !=, "not_a_token");

  live_teardown (&l);
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_idle_wakeups (void)
{
  Live l = { 0 };
  gpointer online[2];
  gboolean done = FALSE;
  guint iterations = 0;
  gint64 start;

  live_setup (&l);
  om_sync_set_timeout_ms (om_session_get_sync (l.session), 30000);
  online[0] = l.session;
  online[1] = GINT_TO_POINTER (OM_SESSION_STATE_ONLINE);
  om_session_start (l.session);
  g_assert_true (om_test_wait_until (state_is, online, 10000));

  /* Idle in a long-poll: the loop should barely wake in 2 s. */
  g_timeout_add (2000, set_flag, &done);
  start = g_get_monotonic_time ();
  while (!done)
    {
      g_main_context_iteration (NULL, TRUE);
      iterations++;
    }
  g_test_message ("%u main-loop wake-ups in %.1f s of idle long-poll", iterations,
                  (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpuint (iterations, <, 20);

  live_teardown (&l);
}

/* A restarted run answers at once, not after a 30 s long-poll: the first
 * request of each run asks for timeout=0 even with a stored token. */
static void
test_resume_is_quick (void)
{
  Live l = { 0 };
  gpointer online[2];
  gint64 start;

  live_setup (&l);
  om_sync_set_timeout_ms (om_session_get_sync (l.session), OM_SYNC_TIMEOUT_MS);
  online[0] = l.session;
  online[1] = GINT_TO_POINTER (OM_SESSION_STATE_ONLINE);
  om_session_start (l.session);
  g_assert_true (om_test_wait_until (state_is, online, 10000));
  om_session_stop (l.session);
  g_assert_nonnull (om_sync_get_since (om_session_get_sync (l.session)));

  start = g_get_monotonic_time ();
  om_session_start (l.session);
  g_assert_true (om_test_wait_until (state_is, online, 10000));
  g_test_message ("online again after %.0f ms", (g_get_monotonic_time () - start) / 1e3);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);

  live_teardown (&l);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/sync/replay-transcript", test_replay_transcript);
  g_test_add_func ("/sync/restore-after-replay", test_restore_after_replay);
  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    {
      g_autofree char *path = g_strdup_printf ("/sync/malformed/%s", malformed[i].name);
      g_test_add_data_func (path, &malformed[i], test_malformed);
    }
  g_test_add_func ("/sync/backoff-and-recovery", test_backoff_and_recovery);
  g_test_add_func ("/sync/token-rejected", test_token_rejected);
  g_test_add_func ("/sync/forgotten-since-token", test_forgotten_since_token);
  g_test_add_func ("/sync/idle-wakeups", test_idle_wakeups);
  g_test_add_func ("/sync/resume-is-quick", test_resume_is_quick);

  return g_test_run ();
}
