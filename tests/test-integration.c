/* test-integration.c — two sessions talking through the test homeserver
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-event.h"
#include "om-outbox.h"
#include "om-presence.h"
#include "om-room.h"
#include "om-room-list.h"
#include "om-session.h"
#include "om-sync.h"
#include "om-test-session.h"
#include "om-timeline.h"

typedef OmTestPair Fixture;

static const OmTestPairOptions pair_options = {
  .room_name = "Board games night",
  .room_topic = "Bring your own dice",
  .sync_timeout_ms = 5000,
  .bob_full_user_id = TRUE,
};

typedef struct {
  OmSession  *session;
  const char *room_id;
  const char *body;
} BodyWait;

static OmEvent *
find_body (OmSession  *session,
           const char *room_id,
           const char *body)
{
  OmRoom *room = om_session_lookup_room (session, room_id);
  GListModel *timeline;

  if (room == NULL)
    return NULL;
  timeline = G_LIST_MODEL (om_room_get_timeline (room));
  for (guint i = g_list_model_get_n_items (timeline); i > 0; i--)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (timeline, i - 1);

      if (g_strcmp0 (om_event_get_body (event), body) == 0)
        return event;
    }
  return NULL;
}

static gboolean
body_arrived (gpointer data)
{
  BodyWait *w = data;
  OmEvent *event = find_body (w->session, w->room_id, w->body);

  return event != NULL && om_event_get_event_id (event) != NULL;
}

static guint
count_body (OmSession  *session,
            const char *room_id,
            const char *body)
{
  OmRoom *room = om_session_lookup_room (session, room_id);
  GListModel *timeline = G_LIST_MODEL (om_room_get_timeline (room));
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (timeline); i++)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (timeline, i);

      if (g_strcmp0 (om_event_get_body (event), body) == 0)
        n++;
    }
  return n;
}

static gboolean
echo_sent (gpointer data)
{
  return om_event_get_send_state (data) == OM_SEND_STATE_SENT;
}

static OmTimeline *echo_timeline;

static gboolean
remote_echo_arrived (gpointer data)
{
  OmEvent *latest = om_timeline_get_latest_remote (echo_timeline);

  return latest != NULL &&
         g_strcmp0 (om_event_get_event_id (latest), om_event_get_event_id (data)) == 0;
}

static void
test_message (Fixture       *f,
              gconstpointer  data)
{
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  g_autoptr(OmEvent) echo = NULL;
  BodyWait wait = { f->bob, f->room_id, "Who brings Catan?" };
  OmEvent *received;

  echo_timeline = om_room_get_timeline (room);
  echo = g_object_ref (om_room_send_message (room, "m.text", "Who brings Catan?"));
  /* The local echo is there at once, before any request. */
  g_assert_nonnull (find_body (f->alice, f->room_id, "Who brings Catan?"));
  g_assert_cmpint (om_event_get_send_state (echo), !=, OM_SEND_STATE_NONE);

  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));
  g_assert_true (om_test_wait_until (echo_sent, echo, 10000));

  received = find_body (f->bob, f->room_id, "Who brings Catan?");
  g_assert_cmpstr (om_event_get_sender (received), ==, f->alice_id);
  g_assert_cmpstr (om_event_get_event_id (received), ==, om_event_get_event_id (echo));
  g_assert_cmpstr (om_event_get_msgtype (received), ==, "m.text");

  /* Alice's own sync brings the remote echo: still one item, not two. */
  g_assert_true (om_test_wait_until (remote_echo_arrived, echo, 10000));
  g_assert_cmpuint (count_body (f->alice, f->room_id, "Who brings Catan?"), ==, 1);
}

static void
test_emote_and_notice (Fixture       *f,
                       gconstpointer  data)
{
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  BodyWait wait = { f->bob, f->room_id, "rolls the dice" };

  om_room_send_message (room, "m.emote", "rolls the dice");
  om_room_send_message (room, "m.notice", "Game starts at 8");
  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));
  g_assert_cmpstr (om_event_get_msgtype (find_body (f->bob, f->room_id, "rolls the dice")), ==, "m.emote");
  wait.body = "Game starts at 8";
  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));
  g_assert_cmpstr (om_event_get_msgtype (find_body (f->bob, f->room_id, "Game starts at 8")), ==, "m.notice");
}

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

static void
test_typing (Fixture       *f,
             gconstpointer  data)
{
  OmRoom *bob_room = om_session_lookup_room (f->bob, f->room_id);
  TypingWait wait = { f->alice, f->room_id, f->bob_id, TRUE };

  om_room_set_typing (bob_room, TRUE);
  g_assert_true (om_test_wait_until (typing_is, &wait, 10000));

  /* Our own typing never shows as someone else typing. */
  {
    OmRoom *own = om_session_lookup_room (f->bob, f->room_id);
    const char * const *users = om_room_get_typing_user_ids (own);
    g_assert_true (users == NULL || !g_strv_contains (users, f->bob_id));
  }

  om_room_set_typing (bob_room, FALSE);
  wait.typing = FALSE;
  g_assert_true (om_test_wait_until (typing_is, &wait, 10000));

  /* Sending a message ends typing too. */
  om_room_set_typing (bob_room, TRUE);
  wait.typing = TRUE;
  g_assert_true (om_test_wait_until (typing_is, &wait, 10000));
  om_room_send_message (bob_room, "m.text", "done typing");
  wait.typing = FALSE;
  g_assert_true (om_test_wait_until (typing_is, &wait, 10000));
}

typedef struct {
  OmSession  *session;
  const char *room_id;
  const char *user_id;
  const char *event_id;
} ReceiptWait;

static gboolean
receipt_on (gpointer data)
{
  ReceiptWait *w = data;
  OmRoom *room = om_session_lookup_room (w->session, w->room_id);

  return g_strcmp0 (om_room_get_receipt_event_id (room, w->user_id), w->event_id) == 0;
}

static void
test_receipts (Fixture       *f,
               gconstpointer  data)
{
  OmRoom *alice_room = om_session_lookup_room (f->alice, f->room_id);
  OmRoom *bob_room = om_session_lookup_room (f->bob, f->room_id);
  BodyWait wait = { f->bob, f->room_id, "first" };
  ReceiptWait rwait;
  g_auto(GStrv) seen_by = NULL;
  const char *first_id;

  om_room_send_message (alice_room, "m.text", "first");
  om_room_send_message (alice_room, "m.text", "second");
  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));
  wait.body = "second";
  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));
  first_id = om_event_get_event_id (find_body (f->bob, f->room_id, "first"));

  /* Bob has read everything: the receipt lands on "second", not "first". */
  om_room_mark_read (bob_room);
  rwait = (ReceiptWait) { f->alice, f->room_id, f->bob_id,
                          om_event_get_event_id (find_body (f->bob, f->room_id, "second")) };
  g_assert_true (om_test_wait_until (receipt_on, &rwait, 10000));
  g_assert_cmpstr (om_room_get_receipt_event_id (alice_room, f->bob_id), !=, first_id);

  seen_by = om_room_dup_receipt_user_ids (alice_room, rwait.event_id);
  g_assert_true (g_strv_contains ((const char * const *) seen_by, f->bob_id));

  /* Bob's fully-read marker moved too. */
  g_assert_cmpstr (om_room_get_fully_read (bob_room), ==, rwait.event_id);
}

typedef struct {
  OmSession       *session;
  const char      *user_id;
  OmPresenceState  state;
  const char      *status;
} PresenceWait;

static gboolean
presence_is (gpointer data)
{
  PresenceWait *w = data;
  const char *status = NULL;
  OmPresenceState state = om_presence_lookup (om_session_get_presence (w->session),
                                              w->user_id, &status, NULL, NULL);

  return state == w->state && g_strcmp0 (status, w->status) == 0;
}

static void
test_presence (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  PresenceWait wait = { f->alice, f->bob_id, OM_PRESENCE_UNAVAILABLE, "at the game store" };

  om_presence_set_async (om_session_get_presence (f->bob), OM_PRESENCE_UNAVAILABLE,
                         "at the game store", NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, 10000));
  g_assert_true (om_presence_set_finish (om_session_get_presence (f->bob), result, &error));
  g_assert_no_error (error);

  g_assert_true (om_test_wait_until (presence_is, &wait, 15000));

  g_clear_object (&result);
  om_presence_set_async (om_session_get_presence (f->bob), OM_PRESENCE_ONLINE, NULL,
                         NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, 10000));
  wait = (PresenceWait) { f->alice, f->bob_id, OM_PRESENCE_ONLINE, NULL };
  g_assert_true (om_test_wait_until (presence_is, &wait, 15000));
}

static void
record_initial (OmSession *session,
                gboolean   initial,
                gpointer   user_data)
{
  int *first = user_data;

  if (*first < 0)
    *first = initial ? 1 : 0;
}

static gboolean
int_set (gpointer data)
{
  return *(int *) data >= 0;
}

static void
test_restart_from_store (Fixture       *f,
                         gconstpointer  data)
{
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  BodyWait wait = { f->alice, f->room_id, "before the restart" };
  g_autofree char *token = NULL;
  g_autofree char *device = NULL;
  g_autofree char *homeserver = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *name = NULL;
  g_autoptr(GError) error = NULL;
  OmSession *again;
  OmRoom *restored;
  int first = -1;

  om_room_send_message (room, "m.text", "before the restart");
  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));
  name = g_strdup (om_room_get_display_name (room));

  token = om_session_dup_access_token (f->alice);
  device = g_strdup (om_session_get_device_id (f->alice));
  homeserver = g_strdup (om_session_get_homeserver (f->alice));
  dir = g_strdup (om_session_get_data_dir (f->alice));
  g_clear_object (&f->alice);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  /* Bob speaks while Alice is away. */
  om_room_send_message (om_session_lookup_room (f->bob, f->room_id), "m.text", "while you were out");

  again = om_session_new (dir);
  g_assert_true (om_session_restore (again, homeserver, f->alice_id, device, token, &error));
  g_assert_no_error (error);
  f->alice = again;

  /* Everything is back before any request. */
  restored = om_session_lookup_room (again, f->room_id);
  g_assert_nonnull (restored);
  g_assert_cmpstr (om_room_get_display_name (restored), ==, name);
  g_assert_nonnull (find_body (again, f->room_id, "before the restart"));
  g_assert_nonnull (om_sync_get_since (om_session_get_sync (again)));

  /* And the first sync is incremental, bringing what was missed. */
  g_signal_connect (again, "synced", G_CALLBACK (record_initial), &first);
  om_sync_set_timeout_ms (om_session_get_sync (again), 5000);
  om_session_start (again);
  g_assert_true (om_test_wait_until (int_set, &first, 10000));
  g_assert_cmpint (first, ==, 0);

  wait.session = again;
  wait.body = "while you were out";
  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));
  g_assert_cmpuint (count_body (again, f->room_id, "before the restart"), ==, 1);
}

/* A restored room's stored timeline loads on first use: here a sync brings
 * news before anyone looked, and the timeline still has the stored events
 * first, the new one after, each once; the room list order (last activity)
 * was right before any loading. */
static void
test_restart_lazy_timeline (Fixture       *f,
                            gconstpointer  data)
{
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  BodyWait wait = { f->alice, f->room_id, "stored before" };
  g_autofree char *token = NULL;
  g_autofree char *device = NULL;
  g_autofree char *homeserver = NULL;
  g_autofree char *dir = NULL;
  g_autoptr(GError) error = NULL;
  OmSession *again;
  OmRoom *restored;
  OmEvent *stored;
  gint64 stored_ts;
  int first = -1;
  int before_index = -1, after_index = -1;
  GListModel *timeline;

  om_room_send_message (room, "m.text", "stored before");
  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));
  stored = find_body (f->alice, f->room_id, "stored before");
  stored_ts = om_event_get_origin_server_ts (stored);

  token = om_session_dup_access_token (f->alice);
  device = g_strdup (om_session_get_device_id (f->alice));
  homeserver = g_strdup (om_session_get_homeserver (f->alice));
  dir = g_strdup (om_session_get_data_dir (f->alice));
  g_clear_object (&f->alice);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  om_room_send_message (om_session_lookup_room (f->bob, f->room_id), "m.text", "new after");

  again = om_session_new (dir);
  g_assert_true (om_session_restore (again, homeserver, f->alice_id, device, token, &error));
  g_assert_no_error (error);
  f->alice = again;
  restored = om_session_lookup_room (again, f->room_id);
  g_assert_nonnull (restored);
  /* Ordered by the stored timeline without loading it (the server's time
   * of the message, which may differ from our echo's by a few ms). */
  g_assert_cmpint (ABS (om_room_get_last_activity (restored) - stored_ts), <, 5000);
  /* Members come from the stored state, loaded on first use. */
  {
    g_autofree char *bob_name = om_room_dup_member_display_name (restored, f->bob_id);

    g_assert_nonnull (bob_name);
    g_assert_cmpint (om_room_get_member_membership (restored, f->bob_id), ==, OM_MEMBERSHIP_JOIN);
    g_assert_cmpuint (om_room_get_joined_member_count (restored), ==, 2);
  }

  g_signal_connect (again, "synced", G_CALLBACK (record_initial), &first);
  om_sync_set_timeout_ms (om_session_get_sync (again), 5000);
  om_session_start (again);
  g_assert_true (om_test_wait_until (int_set, &first, 10000));
  wait.session = again;
  wait.body = "new after";
  g_assert_true (om_test_wait_until (body_arrived, &wait, 10000));

  timeline = G_LIST_MODEL (om_room_get_timeline (restored));
  for (guint i = 0; i < g_list_model_get_n_items (timeline); i++)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (timeline, i);

      if (g_strcmp0 (om_event_get_body (event), "stored before") == 0)
        before_index = (int) i;
      else if (g_strcmp0 (om_event_get_body (event), "new after") == 0)
        after_index = (int) i;
    }
  g_assert_cmpint (before_index, >=, 0);
  g_assert_cmpint (after_index, >, before_index);
  g_assert_cmpuint (count_body (again, f->room_id, "stored before"), ==, 1);
  g_assert_cmpuint (count_body (again, f->room_id, "new after"), ==, 1);
  g_assert_cmpint (om_room_get_last_activity (restored), >, stored_ts - 5000);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  om_test_add_pair ("/integration/message", &pair_options, test_message);
  om_test_add_pair ("/integration/emote-notice", &pair_options, test_emote_and_notice);
  om_test_add_pair ("/integration/typing", &pair_options, test_typing);
  om_test_add_pair ("/integration/receipts", &pair_options, test_receipts);
  om_test_add_pair ("/integration/presence", &pair_options, test_presence);
  om_test_add_pair ("/integration/restart-from-store", &pair_options, test_restart_from_store);
  om_test_add_pair ("/integration/restart-lazy-timeline", &pair_options, test_restart_lazy_timeline);

  return g_test_run ();
}
