/* test-receipts.c — our read receipts and fully-read marker, as others see them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-event.h"
#include "om-receipts.h"
#include "om-room.h"
#include "om-session.h"
#include "om-test-session.h"
#include "om-timeline.h"

#define WAIT_MS 10000

typedef OmTestPair Fixture;

/* Alice is the reader, Bob the writer (and the room's owner). */
static const OmTestPairOptions pair_options = {
  .room_name = "Reading room",
  .sync_timeout_ms = 1000,
  .bob_owns_room = TRUE,
};

typedef struct {
  OmSession  *session;
  const char *room_id;
  const char *body;
} BodyWait;

static gboolean
latest_is (gpointer data)
{
  BodyWait *w = data;
  OmRoom *room = om_session_lookup_room (w->session, w->room_id);
  OmEvent *latest = room ? om_timeline_get_latest_remote (om_room_get_timeline (room)) : NULL;

  return latest != NULL && om_event_get_event_id (latest) != NULL &&
         g_strcmp0 (om_event_get_body (latest), w->body) == 0;
}

/* Bob says @body; returns its event ID once Alice has it as her newest event. */
static const char *
bob_says (Fixture    *f,
          const char *body)
{
  BodyWait wait = { f->alice, f->room_id, body };

  om_room_send_message (om_session_lookup_room (f->bob, f->room_id), "m.text", body);
  g_assert_true (om_test_wait_until (latest_is, &wait, WAIT_MS));
  return om_event_get_event_id (om_timeline_get_latest_remote (
           om_room_get_timeline (om_session_lookup_room (f->alice, f->room_id))));
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

typedef struct {
  OmReceipts *receipts;
  guint       n;
} CountWait;

static gboolean
n_requests_is (gpointer data)
{
  CountWait *w = data;

  return om_receipts_get_n_requests (w->receipts) == w->n;
}

static gboolean
seen_by (OmRoom     *room,
         const char *event_id,
         const char *user_id)
{
  g_auto(GStrv) users = om_room_dup_receipt_user_ids (room, event_id);

  return users != NULL && g_strv_contains ((const char * const *) users, user_id);
}

/* m.fully_read of Alice's in the server's account data. */
static char *
server_fully_read (Fixture *f)
{
  g_autofree char *token = om_session_dup_access_token (f->alice);
  g_autofree char *user = g_uri_escape_string (f->alice_id, NULL, FALSE);
  g_autofree char *room = g_uri_escape_string (f->room_id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/_matrix/client/v3/user/%s/rooms/%s/account_data/m.fully_read",
                                           user, room);
  guint status = 0;
  g_autoptr(JsonNode) body = om_test_hs_request (f->hs, "GET", path, token, NULL, &status);

  if (status != 200 || body == NULL || !JSON_NODE_HOLDS_OBJECT (body))
    return NULL;
  return g_strdup (json_object_get_string_member_with_default (json_node_get_object (body), "event_id", NULL));
}

/* Alice reads everything Bob said, marking read several times in a row.
 * Returns the newest event ID (owned). */
static char *
read_burst (Fixture *f)
{
  OmReceipts *receipts = om_session_get_receipts (f->alice);
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  ReceiptWait rwait;
  CountWait cwait;
  char *newest;

  bob_says (f, "one");
  bob_says (f, "two");
  newest = g_strdup (bob_says (f, "three"));

  cwait = (CountWait) { receipts, om_receipts_get_n_requests (receipts) + 1 };
  for (guint i = 0; i < 5; i++)
    {
      om_room_mark_read (room);
      om_test_spin (20);
    }
  g_assert_true (om_test_wait_until (n_requests_is, &cwait, WAIT_MS));

  rwait = (ReceiptWait) { f->bob, f->room_id, f->alice_id, newest };
  g_assert_true (om_test_wait_until (receipt_on, &rwait, WAIT_MS));
  /* Settled: the burst made one request, not one per call. */
  om_test_spin (800);
  g_assert_cmpuint (om_receipts_get_n_requests (receipts), ==, cwait.n);
  return newest;
}

static void
test_coalesce (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *newest = read_burst (f);
  g_autofree char *on_server = server_fully_read (f);
  OmRoom *alice_room = om_session_lookup_room (f->alice, f->room_id);
  OmRoom *bob_room = om_session_lookup_room (f->bob, f->room_id);

  /* Bob sees the receipt on the newest event, and who has read it. */
  g_assert_cmpstr (om_room_get_receipt_event_id (bob_room, f->alice_id), ==, newest);
  g_assert_true (seen_by (bob_room, newest, f->alice_id));
  g_assert_false (seen_by (bob_room, newest, f->bob_id));

  /* Our fully-read marker moved with it, here and on the server. */
  g_assert_cmpstr (om_room_get_fully_read (alice_room), ==, newest);
  g_assert_cmpstr (on_server, ==, newest);

  /* Our own receipt, once it syncs back, is not listed as someone else's. */
  om_test_spin (1500);
  g_assert_false (seen_by (alice_room, newest, f->alice_id));
  g_assert_cmpstr (om_room_get_fully_read (alice_room), ==, newest);
}

static void
test_nothing_new (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *newest = read_burst (f);
  OmReceipts *receipts = om_session_get_receipts (f->alice);
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  guint n = om_receipts_get_n_requests (receipts);

  /* Everything is read already: marking again sends nothing. */
  om_room_mark_read (room);
  om_room_mark_read (room);
  om_test_spin (800);
  om_room_mark_read (room);
  om_test_spin (800);
  g_assert_cmpuint (om_receipts_get_n_requests (receipts), ==, n);
  g_assert_cmpstr (om_room_get_fully_read (room), ==, newest);
}

static void
test_new_message (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *first = read_burst (f);
  g_autofree char *newest = NULL;
  g_autofree char *on_server = NULL;
  OmReceipts *receipts = om_session_get_receipts (f->alice);
  OmRoom *alice_room = om_session_lookup_room (f->alice, f->room_id);
  OmRoom *bob_room = om_session_lookup_room (f->bob, f->room_id);
  CountWait cwait = { receipts, om_receipts_get_n_requests (receipts) + 1 };
  ReceiptWait rwait;

  newest = g_strdup (bob_says (f, "four"));
  g_assert_cmpstr (newest, !=, first);
  /* Not read yet: the marker stays where it was. */
  g_assert_cmpstr (om_room_get_fully_read (alice_room), ==, first);

  om_room_mark_read (alice_room);
  om_room_mark_read (alice_room);
  g_assert_true (om_test_wait_until (n_requests_is, &cwait, WAIT_MS));
  rwait = (ReceiptWait) { f->bob, f->room_id, f->alice_id, newest };
  g_assert_true (om_test_wait_until (receipt_on, &rwait, WAIT_MS));
  om_test_spin (600);
  g_assert_cmpuint (om_receipts_get_n_requests (receipts), ==, cwait.n);

  /* Alice's receipt moved: she is listed on the new event only. */
  g_assert_true (seen_by (bob_room, newest, f->alice_id));
  g_assert_false (seen_by (bob_room, first, f->alice_id));
  g_assert_cmpstr (om_room_get_fully_read (alice_room), ==, newest);
  on_server = server_fully_read (f);
  g_assert_cmpstr (on_server, ==, newest);
}

static void
test_retry_after_failure (Fixture       *f,
                          gconstpointer  data)
{
  OmReceipts *receipts = om_session_get_receipts (f->alice);
  OmRoom *room = om_session_lookup_room (f->alice, f->room_id);
  g_autofree char *newest = NULL;
  ReceiptWait rwait;
  CountWait cwait;

  newest = g_strdup (bob_says (f, "did you get this?"));

  /* The server fails the first attempt. */
  om_test_hs_add_fault (f->hs, "{\"path\":\"/read_markers\",\"action\":\"error\","
                               "\"status\":500,\"count\":1}");
  cwait = (CountWait) { receipts, om_receipts_get_n_requests (receipts) + 1 };
  om_room_mark_read (room);
  g_assert_true (om_test_wait_until (n_requests_is, &cwait, WAIT_MS));
  om_test_spin (500);

  /* The user looks at the room again: the receipt must go out now, not
   * only once someone says something new. */
  cwait.n++;
  om_room_mark_read (room);
  g_assert_true (om_test_wait_until (n_requests_is, &cwait, 3000));
  rwait = (ReceiptWait) { f->bob, f->room_id, f->alice_id, newest };
  g_assert_true (om_test_wait_until (receipt_on, &rwait, WAIT_MS));
}

static gboolean
fully_read_is (gpointer data)
{
  ReceiptWait *w = data;
  OmRoom *room = om_session_lookup_room (w->session, w->room_id);

  return room != NULL && g_strcmp0 (om_room_get_fully_read (room), w->event_id) == 0;
}

static void
test_fully_read_synced (Fixture       *f,
                        gconstpointer  data)
{
  g_autofree char *newest = read_burst (f);
  g_autofree char *laptop_dir = g_build_filename (f->dir, "alice-laptop", NULL);
  g_autoptr(OmSession) again = NULL;
  ReceiptWait wait;

  /* Another device of Alice's learns the marker from /sync. */
  again = om_test_sign_in (f->hs, laptop_dir, f->alice_id, "secret", 1000);
  g_assert_true (om_test_wait_membership (again, f->room_id, OM_MEMBERSHIP_JOIN, WAIT_MS));
  wait = (ReceiptWait) { again, f->room_id, NULL, newest };
  g_assert_true (om_test_wait_until (fully_read_is, &wait, WAIT_MS));

  /* Marking read there with nothing new sends nothing either. */
  om_room_mark_read (om_session_lookup_room (again, f->room_id));
  om_test_spin (800);
  g_assert_cmpuint (om_receipts_get_n_requests (om_session_get_receipts (again)), ==, 0);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  om_test_add_pair ("/receipts/coalesce", &pair_options, test_coalesce);
  om_test_add_pair ("/receipts/nothing-new", &pair_options, test_nothing_new);
  om_test_add_pair ("/receipts/new-message", &pair_options, test_new_message);
  om_test_add_pair ("/receipts/fully-read-synced", &pair_options, test_fully_read_synced);
  om_test_add_pair ("/receipts/retry-after-failure", &pair_options, test_retry_after_failure);

  return g_test_run ();
}
