/* test-outbox.c — the persistent send queue
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-error.h"
#include "om-event.h"
#include "om-outbox.h"
#include "om-room.h"
#include "om-session.h"
#include "om-store.h"
#include "om-sync.h"
#include "om-test-hs.h"
#include "om-room-private.h"

typedef struct {
  OmTestHs  *hs;
  char      *dir;
  char      *user_id;
  char      *token;
  char      *device;
  char      *room_id;
  OmSession *session;
} Fixture;

static OmSession *
restore (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  OmSession *session = om_session_new (f->dir);

  g_assert_true (om_session_restore (session, om_test_hs_get_url (f->hs), f->user_id,
                                     f->device, f->token, &error));
  g_assert_no_error (error);
  om_sync_set_timeout_ms (om_session_get_sync (session), 1000);
  return session;
}

static gboolean
has_room (gpointer data)
{
  Fixture *f = data;

  return om_session_lookup_room (f->session, f->room_id) != NULL;
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(JsonNode) created = NULL;
  guint status;

  f->hs = om_test_hs_start (NULL);
  f->dir = om_test_mkdtemp ();
  f->user_id = om_test_hs_create_user (f->hs, "alice", "secret", FALSE);
  f->token = om_test_hs_login (f->hs, "alice", "secret", &f->device);
  created = om_test_hs_request (f->hs, "POST", "/_matrix/client/v3/createRoom", f->token,
                                "{\"name\":\"Outbox\",\"preset\":\"private_chat\"}", &status);
  g_assert_cmpuint (status, ==, 200);
  f->room_id = g_strdup (json_object_get_string_member (json_node_get_object (created), "room_id"));

  /* Sync once so the room exists locally, then stop: each test decides
   * when sending starts. */
  f->session = restore (f);
  om_session_start (f->session);
  g_assert_true (om_test_wait_until (has_room, f, 10000));
  om_session_stop (f->session);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->session);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_hs_free (f->hs);
  om_test_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->user_id);
  g_free (f->token);
  g_free (f->device);
  g_free (f->room_id);
}

static OmRoom *
room_of (Fixture *f)
{
  return om_session_lookup_room (f->session, f->room_id);
}

/* Bodies of the room's m.room.message events as the server stored them. */
static GPtrArray *
server_bodies (Fixture *f)
{
  g_autofree char *escaped = g_uri_escape_string (f->room_id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/_test/events?room_id=%s", escaped);
  g_autoptr(JsonNode) node = om_test_hs_request (f->hs, "GET", path, NULL, NULL, NULL);
  JsonArray *events = json_object_get_array_member (json_node_get_object (node), "events");
  GPtrArray *bodies = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      JsonObject *event = json_array_get_object_element (events, i);

      if (g_strcmp0 (json_object_get_string_member_with_default (event, "type", ""), "m.room.message") == 0)
        g_ptr_array_add (bodies, g_strdup (json_object_get_string_member_with_default (
                                   json_object_get_object_member (event, "content"), "body", "")));
    }
  return bodies;
}

static gboolean
drained (gpointer data)
{
  Fixture *f = data;

  return om_outbox_get_n_pending (om_session_get_outbox (f->session)) == 0;
}

static gboolean
outbox_store_empty (gpointer data)
{
  Fixture *f = data;
  g_autoptr(GPtrArray) entries = om_store_outbox_load (om_session_get_store (f->session), NULL);

  return entries != NULL && entries->len == 0;
}

static gboolean
send_state_is_failed (gpointer data)
{
  return om_event_get_send_state (data) == OM_SEND_STATE_FAILED;
}

static gboolean
send_state_is_sent (gpointer data)
{
  return om_event_get_send_state (data) == OM_SEND_STATE_SENT;
}

static void
test_durable_before_sending (Fixture       *f,
                             gconstpointer  data)
{
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) bodies = NULL;
  OmStoreOutboxEntry *entry;
  OmEvent *echo;
  g_autofree char *txn_id = NULL;

  /* Not started: nothing can be sent, but the message is safe already. */
  echo = om_room_send_message (room_of (f), "m.text", "kept safe");
  g_assert_nonnull (echo);
  g_assert_cmpint (om_event_get_send_state (echo), ==, OM_SEND_STATE_QUEUED);
  g_assert_null (om_event_get_event_id (echo));
  txn_id = g_strdup (om_event_get_txn_id (echo));
  g_assert_nonnull (txn_id);

  entries = om_store_outbox_load (om_session_get_store (f->session), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, 1);
  entry = g_ptr_array_index (entries, 0);
  g_assert_cmpstr (entry->txn_id, ==, txn_id);
  g_assert_cmpstr (entry->room_id, ==, f->room_id);
  g_assert_nonnull (strstr (entry->content_json, "kept safe"));

  /* A crash now: a new process restores the echo and sends it, once. */
  g_clear_object (&f->session);
  f->session = restore (f);
  g_assert_cmpuint (om_outbox_get_n_pending (om_session_get_outbox (f->session)), ==, 1);
  g_assert_nonnull (om_timeline_find_local_echo (om_room_get_timeline (room_of (f)), txn_id));

  om_session_start (f->session);
  g_assert_true (om_test_wait_until (drained, f, 10000));
  bodies = server_bodies (f);
  g_assert_cmpuint (bodies->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (bodies, 0), ==, "kept safe");

  /* Sent messages leave the store once their remote echo is in the timeline. */
  g_assert_true (om_test_wait_until (outbox_store_empty, f, 10000));
}

static void
test_order_kept (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(GPtrArray) bodies = NULL;

  om_session_start (f->session);
  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *text = g_strdup_printf ("in order %02u", i);
      om_room_send_message (room_of (f), "m.text", text);
    }
  g_assert_true (om_test_wait_until (drained, f, 20000));

  bodies = server_bodies (f);
  g_assert_cmpuint (bodies->len, ==, 50);
  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *text = g_strdup_printf ("in order %02u", i);
      g_assert_cmpstr (g_ptr_array_index (bodies, i), ==, text);
    }
}

static void
test_lost_answer_not_duplicated (Fixture       *f,
                                 gconstpointer  data)
{
  g_autoptr(GPtrArray) bodies = NULL;
  g_autoptr(OmEvent) echo = NULL;

  /* The server stores the message but the answer never arrives: the retry
   * reuses the txnId and the server answers with the same event. */
  om_test_hs_add_fault (f->hs, "{\"path\":\"/send/\",\"action\":\"drop_after\",\"count\":2}");
  om_session_start (f->session);
  echo = g_object_ref (om_room_send_message (room_of (f), "m.text", "exactly once"));
  g_assert_true (om_test_wait_until (send_state_is_sent, echo, 20000));

  bodies = server_bodies (f);
  g_assert_cmpuint (bodies->len, ==, 1);
  g_assert_nonnull (om_event_get_event_id (echo));
}

static void
test_rate_limit_honoured (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(OmEvent) echo = NULL;
  gint64 start;

  om_test_hs_add_fault (f->hs, "{\"path\":\"/send/\",\"action\":\"ratelimit\",\"retry_after_ms\":400,\"count\":1}");
  om_session_start (f->session);
  start = g_get_monotonic_time ();
  echo = g_object_ref (om_room_send_message (room_of (f), "m.text", "patience"));
  g_assert_true (om_test_wait_until (send_state_is_sent, echo, 10000));
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 400 * 1000);
}

static void
test_permanent_failure_retry_discard (Fixture       *f,
                                      gconstpointer  data)
{
  g_autoptr(OmEvent) refused = NULL;
  g_autoptr(OmEvent) huge = NULL;
  g_autoptr(OmEvent) after = NULL;
  g_autoptr(GPtrArray) bodies = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  GString *big = g_string_new (NULL);
  OmTimeline *timeline = om_room_get_timeline (room_of (f));
  OmOutbox *outbox = om_session_get_outbox (f->session);

  om_test_hs_add_fault (f->hs, "{\"path\":\"/send/\",\"action\":\"error\",\"status\":403,"
                               "\"errcode\":\"M_FORBIDDEN\",\"count\":1}");
  om_session_start (f->session);

  refused = g_object_ref (om_room_send_message (room_of (f), "m.text", "refused once"));
  while (big->len < 70000)
    g_string_append (big, "too large ");
  huge = g_object_ref (om_room_send_message (room_of (f), "m.text", big->str));
  after = g_object_ref (om_room_send_message (room_of (f), "m.text", "not blocked"));
  g_string_free (big, TRUE);

  g_assert_true (om_test_wait_until (send_state_is_failed, refused, 10000));
  g_assert_nonnull (om_event_get_send_error (refused));
  g_assert_true (om_test_wait_until (send_state_is_failed, huge, 10000));
  g_assert_nonnull (strstr (om_event_get_send_error (huge), "M_TOO_LARGE"));
  /* A failed message does not hold up the ones after it. */
  g_assert_true (om_test_wait_until (send_state_is_sent, after, 10000));

  /* Failures survive a restart as failures, with their reason. */
  entries = om_store_outbox_load (om_session_get_store (f->session), &error);
  g_assert_cmpuint (entries->len, >=, 2);
  g_assert_cmpint (((OmStoreOutboxEntry *) g_ptr_array_index (entries, 0))->state, ==, OM_OUTBOX_STATE_FAILED);
  g_assert_cmpint (((OmStoreOutboxEntry *) g_ptr_array_index (entries, 1))->state, ==, OM_OUTBOX_STATE_FAILED);
  g_assert_nonnull (((OmStoreOutboxEntry *) g_ptr_array_index (entries, 1))->error);

  om_outbox_retry (outbox, refused);
  g_assert_true (om_test_wait_until (send_state_is_sent, refused, 10000));

  om_outbox_discard (outbox, huge);
  g_assert_cmpuint (om_outbox_get_n_pending (outbox), ==, 0);
  g_assert_null (om_timeline_find_local_echo (timeline, om_event_get_txn_id (huge)));

  bodies = server_bodies (f);
  g_assert_cmpuint (bodies->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (bodies, 0), ==, "not blocked");
  g_assert_cmpstr (g_ptr_array_index (bodies, 1), ==, "refused once");
}

static void
test_txn_ids_unique (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 500; i++)
    {
      OmEvent *echo = om_room_send_message (room_of (f), "m.text", "x");
      g_assert_true (g_hash_table_add (seen, g_strdup (om_event_get_txn_id (echo))));
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/outbox/durable-before-sending", Fixture, NULL, fixture_setup, test_durable_before_sending, fixture_teardown);
  g_test_add ("/outbox/order-kept", Fixture, NULL, fixture_setup, test_order_kept, fixture_teardown);
  g_test_add ("/outbox/lost-answer-not-duplicated", Fixture, NULL, fixture_setup, test_lost_answer_not_duplicated, fixture_teardown);
  g_test_add ("/outbox/rate-limit-honoured", Fixture, NULL, fixture_setup, test_rate_limit_honoured, fixture_teardown);
  g_test_add ("/outbox/permanent-failure-retry-discard", Fixture, NULL, fixture_setup, test_permanent_failure_retry_discard, fixture_teardown);
  g_test_add ("/outbox/txn-ids-unique", Fixture, NULL, fixture_setup, test_txn_ids_unique, fixture_teardown);

  return g_test_run ();
}
