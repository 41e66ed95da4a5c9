/* test-outbox-faults.c — 1,000 messages through a hostile network
 *
 * The homeserver drops connections (before and after handling a request),
 * answers 500 and 429, and is restarted several times; the sending client
 * is torn down and restored from its store half-way.  Every message must
 * be stored by the server exactly once, in the order it was queued.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-event.h"
#include "om-outbox.h"
#include "om-room.h"
#include "om-session.h"
#include "om-sync.h"
#include "om-test-hs.h"

#define N_MESSAGES 1000
#define N_RESTARTS 4

typedef struct {
  OmTestHs  *hs;
  char      *dir;
  char      *user_id;
  char      *token;
  char      *device_id;
  char      *room_id;
  OmSession *session;
  guint      sent;           /* "sent" signals seen, across sessions */
  guint      restarts;
  gboolean   torn_down;
  guint      fault_tick;
} Test;

static const char *faults[] = {
  "{\"path\":\"/send/\",\"action\":\"drop_after\",\"count\":1}",
  "{\"path\":\"/send/\",\"action\":\"error\",\"status\":500,\"count\":2}",
  "{\"path\":\"/send/\",\"action\":\"ratelimit\",\"retry_after_ms\":40,\"count\":1}",
  "{\"path\":\"/send/\",\"action\":\"drop\",\"count\":1}",
  "{\"path\":\"/send/\",\"action\":\"error\",\"status\":502,\"raw_body\":\"<html>Bad gateway</html>\",\"count\":1}",
  "{\"path\":\"/sync\",\"action\":\"error\",\"status\":503,\"count\":1}",
  "{\"path\":\"/send/\",\"action\":\"delay\",\"delay_ms\":150,\"count\":1}",
};

/* One fault every FAULT_EVERY delivered messages: tied to progress, so
 * faults never pile up while the client is backing off. */
#define FAULT_EVERY 7

static void
add_fault (Test *t)
{
  om_test_hs_add_fault (t->hs, faults[t->fault_tick++ % G_N_ELEMENTS (faults)]);
}

static void sent_cb (OmOutbox *outbox, OmEvent *echo, Test *t);

static OmSession *
restore (Test *t)
{
  g_autoptr(GError) error = NULL;
  OmSession *session = om_session_new (t->dir);

  g_assert_true (om_session_restore (session, om_test_hs_get_url (t->hs), t->user_id,
                                     t->device_id, t->token, &error));
  g_assert_no_error (error);
  om_sync_set_timeout_ms (om_session_get_sync (session), 2000);
  g_signal_connect (om_session_get_outbox (session), "sent", G_CALLBACK (sent_cb), t);
  return session;
}

static gboolean
teardown_and_restore_cb (gpointer user_data)
{
  Test *t = user_data;
  guint pending;

  /* Whatever is in flight is abandoned mid-request, as in a crash. */
  pending = om_outbox_get_n_pending (om_session_get_outbox (t->session));
  g_test_message ("tearing the client down with %u messages pending", pending);
  g_assert_cmpuint (pending, >, 0);
  g_clear_object (&t->session);

  t->session = restore (t);
  g_assert_cmpuint (om_outbox_get_n_pending (om_session_get_outbox (t->session)), ==, pending);
  om_session_start (t->session);
  return G_SOURCE_REMOVE;
}

static void
sent_cb (OmOutbox *outbox,
         OmEvent  *echo,
         Test     *t)
{
  t->sent++;

  if (t->sent % FAULT_EVERY == 0)
    add_fault (t);

  if (t->restarts < N_RESTARTS && t->sent >= (t->restarts + 1) * N_MESSAGES / (N_RESTARTS + 1))
    {
      t->restarts++;
      g_test_message ("restarting the homeserver after %u messages", t->sent);
      om_test_hs_restart (t->hs);
    }

  if (!t->torn_down && t->sent >= N_MESSAGES / 2)
    {
      t->torn_down = TRUE;
      g_idle_add (teardown_and_restore_cb, t);
    }
}

static gboolean
all_sent (gpointer user_data)
{
  Test *t = user_data;

  return t->torn_down && om_outbox_get_n_pending (om_session_get_outbox (t->session)) == 0;
}

static void
test_exactly_once_in_order (void)
{
  Test t = { 0 };
  g_autofree char *body = NULL;
  g_autofree char *path = NULL;
  g_autofree char *escaped = NULL;
  g_autoptr(JsonNode) events = NULL;
  g_autoptr(JsonNode) created = NULL;
  JsonArray *array;
  OmRoom *room;
  guint status;
  guint next = 0;

  t.hs = om_test_hs_start (NULL);
  t.dir = om_test_mkdtemp ();
  t.user_id = om_test_hs_create_user (t.hs, "alice", "secret", FALSE);
  t.token = om_test_hs_login (t.hs, "alice", "secret", &t.device_id);

  created = om_test_hs_request (t.hs, "POST", "/_matrix/client/v3/createRoom", t.token,
                                "{\"name\":\"Outbox torture\",\"preset\":\"private_chat\"}", &status);
  g_assert_cmpuint (status, ==, 200);
  t.room_id = g_strdup (json_object_get_string_member (json_node_get_object (created), "room_id"));

  t.session = restore (&t);
  om_session_start (t.session);
  while (om_session_lookup_room (t.session, t.room_id) == NULL)
    g_main_context_iteration (NULL, TRUE);
  room = om_session_lookup_room (t.session, t.room_id);

  for (guint i = 0; i < N_MESSAGES; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %04u", i);
      g_assert_nonnull (om_room_send_message (room, "m.text", text));
    }

  add_fault (&t);
  g_assert_true (om_test_wait_until (all_sent, &t, 400000));
  om_test_hs_clear_faults (t.hs);

  g_test_message ("%u sent signals, %u homeserver restarts, %u faults injected",
                  t.sent, t.restarts, t.fault_tick);
  g_assert_cmpuint (t.restarts, ==, N_RESTARTS);

  escaped = g_uri_escape_string (t.room_id, NULL, FALSE);
  path = g_strdup_printf ("/_test/events?room_id=%s", escaped);
  events = om_test_hs_request (t.hs, "GET", path, NULL, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  array = json_object_get_array_member (json_node_get_object (events), "events");

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *event = json_array_get_object_element (array, i);
      JsonObject *content;
      g_autofree char *expected = NULL;

      if (g_strcmp0 (json_object_get_string_member_with_default (event, "type", ""), "m.room.message") != 0)
        continue;
      content = json_object_get_object_member (event, "content");
      expected = g_strdup_printf ("message %04u", next);
      g_assert_cmpstr (json_object_get_string_member (content, "body"), ==, expected);
      next++;
    }
  g_assert_cmpuint (next, ==, N_MESSAGES);

  g_clear_object (&t.session);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_hs_free (t.hs);
  om_test_rmdir (t.dir);
  g_free (t.dir);
  g_free (t.user_id);
  g_free (t.token);
  g_free (t.device_id);
  g_free (t.room_id);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/outbox-faults/exactly-once-in-order", test_exactly_once_in_order);

  return g_test_run ();
}
