/* test-timeline.c — OmTimeline: the model, local echoes, back-pagination
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include <json-glib/json-glib.h>

#include "om-room-private.h"
#include "om-test-hs.h"

#define ME "@me:x"

/* Records every items-changed emission. */
typedef struct {
  guint position;
  guint removed;
  guint added;
} Change;

typedef struct {
  GArray *changes;   /* Change */
} Recorder;

static void
on_items_changed (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  Recorder   *recorder)
{
  Change change = { position, removed, added };

  g_array_append_val (recorder->changes, change);
}

static void
recorder_init (Recorder   *recorder,
               OmTimeline *timeline)
{
  recorder->changes = g_array_new (FALSE, FALSE, sizeof (Change));
  g_signal_connect (timeline, "items-changed", G_CALLBACK (on_items_changed), recorder);
}

static void
recorder_clear (Recorder   *recorder,
                OmTimeline *timeline)
{
  g_signal_handlers_disconnect_by_data (timeline, recorder);
  g_clear_pointer (&recorder->changes, g_array_unref);
}

static void
assert_change (Recorder *recorder,
               guint     index,
               guint     position,
               guint     removed,
               guint     added)
{
  Change *c;

  g_assert_cmpuint (index, <, recorder->changes->len);
  c = &g_array_index (recorder->changes, Change, index);
  g_assert_cmpuint (c->position, ==, position);
  g_assert_cmpuint (c->removed, ==, removed);
  g_assert_cmpuint (c->added, ==, added);
}

static OmEvent *
make_event (const char *event_id,
            const char *body,
            const char *txn_id)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *content = json_object_new ();
  OmEvent *event;

  json_object_set_string_member (object, "type", "m.room.message");
  json_object_set_string_member (object, "sender", ME);
  json_object_set_string_member (object, "event_id", event_id);
  json_object_set_int_member (object, "origin_server_ts", 1000);
  json_object_set_string_member (content, "msgtype", "m.text");
  json_object_set_string_member (content, "body", body);
  json_object_set_object_member (object, "content", content);
  if (txn_id != NULL)
    {
      JsonObject *unsigned_obj = json_object_new ();

      json_object_set_string_member (unsigned_obj, "transaction_id", txn_id);
      json_object_set_object_member (object, "unsigned", unsigned_obj);
    }

  event = om_event_new_from_json (object, FALSE, &error);
  g_assert_no_error (error);
  return event;
}

static OmEvent *
make_echo (const char *txn_id,
           const char *body)
{
  g_autoptr(JsonObject) content = json_object_new ();

  json_object_set_string_member (content, "msgtype", "m.text");
  json_object_set_string_member (content, "body", body);
  return om_event_new_local ("!r:x", txn_id, ME, "m.room.message", content);
}

/* Events "$<prefix><i>" for i in [from, to). */
static GPtrArray *
make_batch (const char *prefix,
            guint       from,
            guint       to)
{
  GPtrArray *events = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = from; i < to; i++)
    {
      g_autofree char *id = g_strdup_printf ("$%s%u", prefix, i);
      g_autofree char *body = g_strdup_printf ("%s %u", prefix, i);

      g_ptr_array_add (events, make_event (id, body, NULL));
    }

  return events;
}

static const char *
id_at (OmTimeline *timeline,
       guint       position)
{
  g_autoptr(OmEvent) event = g_list_model_get_item (G_LIST_MODEL (timeline), position);

  g_assert_nonnull (event);
  /* The timeline still holds it: the pointer outlives this ref. */
  return om_event_get_event_id (event);
}

static const char *
body_at (OmTimeline *timeline,
         guint       position)
{
  g_autoptr(OmEvent) event = g_list_model_get_item (G_LIST_MODEL (timeline), position);

  return om_event_get_body (event);
}

static guint
n_items (OmTimeline *timeline)
{
  return g_list_model_get_n_items (G_LIST_MODEL (timeline));
}

static void
test_append_prepend_reset (void)
{
  g_autoptr(OmRoom) room = om_room_new (NULL, "!r:x", ME, NULL, NULL);
  OmTimeline *timeline = om_room_get_timeline (room);
  g_autoptr(GPtrArray) a = make_batch ("a", 0, 3);
  g_autoptr(GPtrArray) b = make_batch ("b", 0, 2);
  g_autoptr(GPtrArray) replay = make_batch ("a", 1, 4);
  g_autoptr(OmEvent) echo = make_echo ("t1", "pending");
  Recorder rec;

  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (timeline)) == OM_TYPE_EVENT);
  recorder_init (&rec, timeline);

  om_timeline_append_remote (timeline, a);
  assert_change (&rec, 0, 0, 0, 3);
  om_timeline_add_local_echo (timeline, echo);
  assert_change (&rec, 1, 3, 0, 1);

  /* Remote events go before the echo; already known ones are skipped. */
  om_timeline_append_remote (timeline, replay);
  assert_change (&rec, 2, 3, 0, 1);
  g_assert_cmpuint (n_items (timeline), ==, 5);
  g_assert_cmpstr (id_at (timeline, 3), ==, "$a3");
  g_assert_true (om_timeline_get_latest_remote (timeline) ==
                 om_timeline_find_event (timeline, "$a3"));
  g_assert_cmpstr (body_at (timeline, 4), ==, "pending");

  om_timeline_prepend_remote (timeline, b);
  assert_change (&rec, 3, 0, 0, 2);
  g_assert_cmpstr (id_at (timeline, 0), ==, "$b0");
  g_assert_cmpstr (id_at (timeline, 1), ==, "$b1");
  g_assert_cmpstr (id_at (timeline, 2), ==, "$a0");
  g_assert_cmpint (om_timeline_find_position (timeline, "$a2"), ==, 4);
  g_assert_cmpint (om_timeline_find_position (timeline, "$nope"), ==, -1);
  g_assert_null (g_list_model_get_item (G_LIST_MODEL (timeline), 7));

  /* Nothing new: no signal. */
  om_timeline_append_remote (timeline, replay);
  om_timeline_prepend_remote (timeline, b);
  g_assert_cmpuint (rec.changes->len, ==, 4);

  /* A limited sync: remote events go, the echo stays. */
  om_timeline_reset (timeline, "p1");
  assert_change (&rec, 4, 0, 6, 0);
  g_assert_cmpuint (n_items (timeline), ==, 1);
  g_assert_cmpstr (om_timeline_get_prev_batch (timeline), ==, "p1");
  g_assert_true (om_timeline_get_can_load_older (timeline));
  g_assert_null (om_timeline_get_latest_remote (timeline));
  g_assert_true (om_timeline_find_local_echo (timeline, "t1") == echo);

  om_timeline_remove_local_echo (timeline, echo);
  assert_change (&rec, 5, 0, 1, 0);
  g_assert_cmpuint (n_items (timeline), ==, 0);

  recorder_clear (&rec, timeline);
}

/* The remote echo carries our transaction ID. */
static void
test_echo_by_txn_id (void)
{
  g_autoptr(OmRoom) room = om_room_new (NULL, "!r:x", ME, NULL, NULL);
  OmTimeline *timeline = om_room_get_timeline (room);
  g_autoptr(GPtrArray) first = make_batch ("a", 0, 2);
  g_autoptr(GPtrArray) second = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(OmEvent) e1 = make_echo ("t1", "one");
  g_autoptr(OmEvent) e2 = make_echo ("t2", "two");
  g_autoptr(OmEvent) e3 = make_echo ("t3", "three");
  Recorder rec;

  om_timeline_append_remote (timeline, first);
  om_timeline_add_local_echo (timeline, e1);
  om_timeline_add_local_echo (timeline, e2);
  om_timeline_add_local_echo (timeline, e3);
  recorder_init (&rec, timeline);

  /* The server put someone else's message first, then our second message:
   * the echo of "two" moves ahead of "one", which is still on its way. */
  g_ptr_array_add (second, make_event ("$other", "other", NULL));
  g_ptr_array_add (second, make_event ("$two", "two", "t2"));
  om_timeline_append_remote (timeline, second);

  g_assert_cmpuint (rec.changes->len, ==, 1);
  assert_change (&rec, 0, 2, 2, 3);   /* [e1 e2] → [other e2 e1] */
  g_assert_cmpuint (n_items (timeline), ==, 6);
  g_assert_cmpstr (id_at (timeline, 2), ==, "$other");
  g_assert_cmpstr (id_at (timeline, 3), ==, "$two");
  g_assert_cmpstr (body_at (timeline, 4), ==, "one");
  g_assert_cmpstr (body_at (timeline, 5), ==, "three");
  g_assert_true (om_timeline_find_event (timeline, "$two") == e2);
  g_assert_cmpint (om_event_get_send_state (e2), ==, OM_SEND_STATE_SENT);
  g_assert_null (om_timeline_find_local_echo (timeline, "t2"));
  g_assert_true (om_timeline_find_local_echo (timeline, "t1") == e1);

  /* Replayed after a restart: still one item. */
  om_timeline_append_remote (timeline, second);
  g_assert_cmpuint (n_items (timeline), ==, 6);

  recorder_clear (&rec, timeline);
}

/* The send response (event ID) comes first, then the remote echo without
 * a transaction ID (e.g. from another sync filter). */
static void
test_echo_by_event_id (void)
{
  g_autoptr(OmRoom) room = om_room_new (NULL, "!r:x", ME, NULL, NULL);
  OmTimeline *timeline = om_room_get_timeline (room);
  g_autoptr(GPtrArray) remote = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(OmEvent) echo = make_echo ("t1", "hello");
  Recorder rec;

  om_timeline_add_local_echo (timeline, echo);
  om_event_set_send_state (echo, OM_SEND_STATE_SENDING, NULL);
  om_event_set_event_id (echo, "$hello");
  g_assert_true (om_timeline_find_event (timeline, "$hello") == echo);

  recorder_init (&rec, timeline);
  g_ptr_array_add (remote, make_event ("$hello", "hello", NULL));
  om_timeline_append_remote (timeline, remote);

  g_assert_cmpuint (n_items (timeline), ==, 1);
  assert_change (&rec, 0, 0, 1, 1);
  g_assert_true (om_timeline_get_latest_remote (timeline) == echo);
  g_assert_cmpint (om_event_get_send_state (echo), ==, OM_SEND_STATE_SENT);

  recorder_clear (&rec, timeline);
}

/* The other order: the remote echo arrives first, without a transaction
 * ID, and only then the send response names it. */
static void
test_echo_remote_first (void)
{
  g_autoptr(OmRoom) room = om_room_new (NULL, "!r:x", ME, NULL, NULL);
  OmTimeline *timeline = om_room_get_timeline (room);
  g_autoptr(GPtrArray) remote = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) later = make_batch ("later", 0, 1);
  g_autoptr(OmEvent) echo = make_echo ("t1", "hello");
  g_autoptr(OmEvent) other_echo = make_echo ("t2", "second");
  Recorder rec;

  om_timeline_add_local_echo (timeline, echo);
  om_timeline_add_local_echo (timeline, other_echo);
  g_ptr_array_add (remote, make_event ("$hello", "hello", NULL));
  om_timeline_append_remote (timeline, remote);
  om_timeline_append_remote (timeline, later);
  g_assert_cmpuint (n_items (timeline), ==, 4);   /* $hello $later0 echo other_echo */

  recorder_init (&rec, timeline);
  om_event_set_event_id (echo, "$hello");

  g_assert_cmpuint (n_items (timeline), ==, 3);
  g_assert_cmpuint (rec.changes->len, ==, 1);
  assert_change (&rec, 0, 0, 3, 2);
  g_assert_true (om_timeline_find_event (timeline, "$hello") == echo);
  g_assert_cmpint (om_timeline_find_position (timeline, "$hello"), ==, 0);
  g_assert_cmpstr (id_at (timeline, 1), ==, "$later0");
  g_assert_cmpstr (body_at (timeline, 2), ==, "second");
  g_assert_cmpint (om_event_get_send_state (echo), ==, OM_SEND_STATE_SENT);

  /* Another echo named after a remote event already loaded merges at once. */
  om_event_set_event_id (other_echo, "$later0");
  g_assert_cmpuint (n_items (timeline), ==, 2);
  g_assert_true (om_timeline_find_event (timeline, "$later0") == other_echo);

  recorder_clear (&rec, timeline);
}

/* After a restart the outbox shows its echo again, but the server already
 * has the message and the sync delivered it with our transaction ID. */
static void
test_echo_after_restart (void)
{
  g_autoptr(OmRoom) room = om_room_new (NULL, "!r:x", ME, NULL, NULL);
  OmTimeline *timeline = om_room_get_timeline (room);
  g_autoptr(GPtrArray) remote = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) later = make_batch ("later", 0, 2);
  g_autoptr(OmEvent) echo = make_echo ("t9", "sent before the crash");
  Recorder rec;

  g_ptr_array_add (remote, make_event ("$sent", "sent before the crash", "t9"));
  om_timeline_append_remote (timeline, remote);
  om_timeline_append_remote (timeline, later);

  recorder_init (&rec, timeline);
  om_timeline_add_local_echo (timeline, echo);
  g_assert_cmpuint (n_items (timeline), ==, 3);
  g_assert_cmpint (om_timeline_find_position (timeline, "$sent"), ==, 0);
  g_assert_true (om_timeline_find_event (timeline, "$sent") == echo);
  g_assert_null (om_timeline_find_local_echo (timeline, "t9"));
  g_assert_cmpint (om_event_get_send_state (echo), ==, OM_SEND_STATE_SENT);
  assert_change (&rec, 0, 3, 0, 1);
  assert_change (&rec, 1, 0, 4, 3);

  recorder_clear (&rec, timeline);
}

static void
test_large (void)
{
  g_autoptr(OmRoom) room = om_room_new (NULL, "!r:x", ME, NULL, NULL);
  OmTimeline *timeline = om_room_get_timeline (room);
  const guint n_batches = 1000, batch = 100;
  g_autoptr(GPtrArray) batches = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  g_autoptr(OmEvent) echo = make_echo ("t", "echo");
  gint64 start, elapsed;
  Recorder rec;

  for (guint i = 0; i < n_batches; i++)
    g_ptr_array_add (batches, make_batch ("n", i * batch, (i + 1) * batch));

  om_timeline_add_local_echo (timeline, echo);
  recorder_init (&rec, timeline);
  start = g_get_monotonic_time ();
  /* Half appended (newer), half prepended (older, back-pagination order). */
  for (guint i = n_batches / 2; i < n_batches; i++)
    om_timeline_append_remote (timeline, g_ptr_array_index (batches, i));
  for (guint i = n_batches / 2; i > 0; i--)
    om_timeline_prepend_remote (timeline, g_ptr_array_index (batches, i - 1));
  elapsed = g_get_monotonic_time () - start;

  g_test_message ("100,000 events in %u batches: %" G_GINT64_FORMAT " ms", n_batches,
                  elapsed / 1000);
  g_assert_cmpuint (rec.changes->len, ==, n_batches);
  g_assert_cmpuint (n_items (timeline), ==, n_batches * batch + 1);
  g_assert_cmpint (elapsed, <, 5 * G_USEC_PER_SEC);

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n_batches * batch; i += 997)
    {
      g_autofree char *id = g_strdup_printf ("$n%u", i);

      g_assert_cmpstr (id_at (timeline, i), ==, id);
    }
  g_assert_cmpstr (body_at (timeline, n_batches * batch), ==, "echo");
  g_assert_true (om_timeline_find_event (timeline, "$n54321") != NULL);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);

  recorder_clear (&rec, timeline);
}

/* After a restart only the newest events are loaded; older stored ones
 * come back from the store before anything is asked of the server. */
static void
stored_done (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  gssize *out = user_data;
  g_autoptr(GError) error = NULL;

  *out = om_timeline_load_older_finish (OM_TIMELINE (source), result, &error);
  g_assert_no_error (error);
}

static gboolean
is_set (gpointer user_data)
{
  return *(gssize *) user_data != G_MINSSIZE;
}

static void
test_load_older_from_store (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = om_store_open (":memory:", &error);
  g_autoptr(OmRoom) room = NULL;
  g_autoptr(OmRoom) restored = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  OmTimeline *timeline;
  gssize n;

  g_assert_no_error (error);
  room = om_room_new (NULL, "!r:x", ME, store, NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "timeline");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "events");
  json_builder_begin_array (builder);
  for (guint i = 0; i < 150; i++)
    {
      g_autofree char *id = g_strdup_printf ("$s%u", i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "type");
      json_builder_add_string_value (builder, "m.room.message");
      json_builder_set_member_name (builder, "sender");
      json_builder_add_string_value (builder, "@a:x");
      json_builder_set_member_name (builder, "event_id");
      json_builder_add_string_value (builder, id);
      json_builder_set_member_name (builder, "origin_server_ts");
      json_builder_add_int_value (builder, 1000 + i);
      json_builder_set_member_name (builder, "content");
      json_builder_begin_object (builder);
      json_builder_end_object (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "limited");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "prev_batch");
  json_builder_add_string_value (builder, "older");
  json_builder_end_object (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);

  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_room_apply_sync (room, OM_MEMBERSHIP_JOIN, json_node_get_object (root), &error));
  g_assert_true (om_store_commit (store, &error));
  g_assert_cmpint (om_room_get_last_activity (room), ==, 1149);

  records = om_store_load_rooms (store, &error);
  g_assert_no_error (error);
  restored = om_room_new_from_store (NULL, g_ptr_array_index (records, 0), ME, store, NULL, &error);
  g_assert_no_error (error);
  timeline = om_room_get_timeline (restored);
  g_assert_cmpuint (n_items (timeline), ==, OM_ROOM_TIMELINE_CACHE);
  g_assert_cmpstr (id_at (timeline, 0), ==, "$s50");
  g_assert_true (om_timeline_get_can_load_older (timeline));
  g_assert_cmpint (om_room_get_last_activity (restored), ==, 1149);

  n = G_MINSSIZE;
  om_timeline_load_older_async (timeline, 30, NULL, stored_done, &n);
  g_assert_true (om_test_wait_until (is_set, &n, 5000));
  g_assert_cmpint (n, ==, 30);
  g_assert_cmpstr (id_at (timeline, 0), ==, "$s20");
  g_assert_cmpstr (id_at (timeline, 30), ==, "$s50");

  n = G_MINSSIZE;
  om_timeline_load_older_async (timeline, 30, NULL, stored_done, &n);
  g_assert_true (om_test_wait_until (is_set, &n, 5000));
  g_assert_cmpint (n, ==, 20);
  g_assert_cmpstr (id_at (timeline, 0), ==, "$s0");
  g_assert_cmpuint (n_items (timeline), ==, 150);
  /* The store is exhausted; the server still has history before it. */
  g_assert_true (om_timeline_get_can_load_older (timeline));
  g_assert_cmpstr (om_timeline_get_prev_batch (timeline), ==, "older");
}

/* Back-pagination against the test homeserver. */

typedef struct {
  gboolean done;
  gssize   n_added;
  GError  *error;
} LoadResult;

static void
load_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  LoadResult *r = user_data;

  r->n_added = om_timeline_load_older_finish (OM_TIMELINE (source), result, &r->error);
  r->done = TRUE;
}

static gboolean
load_finished (gpointer user_data)
{
  return ((LoadResult *) user_data)->done;
}

static void
test_load_older_homeserver (void)
{
  OmTestHs *hs = om_test_hs_start (NULL);
  g_autofree char *token = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *escaped_room = NULL;
  g_autofree char *filter = NULL;
  g_autofree char *path = NULL;
  g_autofree char *prev_batch = NULL;
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) sync = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = om_store_open (":memory:", &error);
  g_autoptr(OmHttp) http = NULL;
  g_autoptr(OmRoom) room = NULL;
  JsonObject *room_json;
  OmTimeline *timeline;
  guint status = 0, n_messages = 0, next_body = 1, rounds = 0;

  g_assert_no_error (error);
  user_id = om_test_hs_create_user (hs, "alice", "secret-password", FALSE);
  token = om_test_hs_login (hs, "alice", "secret-password", NULL);

  created = om_test_hs_request (hs, "POST", "/_matrix/client/v3/createRoom", token,
                                "{\"name\":\"History\",\"preset\":\"private_chat\"}", &status);
  g_assert_cmpuint (status, ==, 200);
  room_id = g_strdup (json_object_get_string_member (json_node_get_object (created), "room_id"));
  escaped_room = g_uri_escape_string (room_id, NULL, FALSE);

  for (guint i = 1; i <= 50; i++)
    {
      g_autofree char *send = g_strdup_printf ("/_matrix/client/v3/rooms/%s/send/m.room.message/txn%u",
                                               escaped_room, i);
      g_autofree char *body = g_strdup_printf ("{\"msgtype\":\"m.text\",\"body\":\"Message %u\"}", i);
      g_autoptr(JsonNode) sent = om_test_hs_request (hs, "PUT", send, token, body, &status);

      g_assert_cmpuint (status, ==, 200);
    }

  filter = g_uri_escape_string ("{\"room\":{\"timeline\":{\"limit\":10}}}", NULL, FALSE);
  path = g_strdup_printf ("/_matrix/client/v3/sync?filter=%s", filter);
  sync = om_test_hs_request (hs, "GET", path, token, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  room_json = json_object_get_object_member (
    json_object_get_object_member (
      json_object_get_object_member (json_node_get_object (sync), "rooms"), "join"), room_id);
  g_assert_nonnull (room_json);

  http = om_http_new (om_test_hs_get_url (hs));
  om_http_set_access_token (http, token);
  room = om_room_new (NULL, room_id, user_id, store, http);
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_room_apply_sync (room, OM_MEMBERSHIP_JOIN, room_json, &error));
  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);

  timeline = om_room_get_timeline (room);
  prev_batch = g_strdup (om_timeline_get_prev_batch (timeline));
  g_assert_cmpuint (n_items (timeline), ==, 10);
  g_assert_cmpstr (body_at (timeline, 9), ==, "Message 50");
  g_assert_true (om_timeline_get_can_load_older (timeline));

  while (om_timeline_get_can_load_older (timeline))
    {
      LoadResult r = { FALSE, 0, NULL };
      LoadResult again = { FALSE, 0, NULL };

      g_assert_cmpuint (++rounds, <, 20);
      om_timeline_load_older_async (timeline, 15, NULL, load_done, &r);
      g_assert_true (om_timeline_get_loading (timeline));
      om_timeline_load_older_async (timeline, 15, NULL, load_done, &again);
      g_assert_true (om_test_wait_until (load_finished, &r, 10000));
      g_assert_true (om_test_wait_until (load_finished, &again, 10000));
      g_assert_error (again.error, G_IO_ERROR, G_IO_ERROR_PENDING);
      g_clear_error (&again.error);
      g_assert_no_error (r.error);
      g_assert_false (om_timeline_get_loading (timeline));
      g_assert_cmpint (r.n_added, >=, 0);
    }

  /* Every message once, in order, with the room's creation before them. */
  for (guint i = 0; i < n_items (timeline); i++)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (G_LIST_MODEL (timeline), i);
      g_autofree char *expected = g_strdup_printf ("Message %u", next_body);

      if (g_strcmp0 (om_event_get_event_type (event), "m.room.message") != 0)
        {
          g_assert_cmpuint (n_messages, ==, 0);
          continue;
        }
      g_assert_cmpstr (om_event_get_body (event), ==, expected);
      next_body++;
      n_messages++;
    }
  g_assert_cmpuint (n_messages, ==, 50);
  {
    g_autoptr(OmEvent) first = g_list_model_get_item (G_LIST_MODEL (timeline), 0);

    g_assert_cmpstr (om_event_get_event_type (first), ==, "m.room.create");
  }
  g_assert_cmpuint (om_store_timeline_count (store, room_id), ==, n_items (timeline));
  g_assert_cmpstr (om_room_get_display_name (room), ==, "History");

  /* A limited sync resets the timeline while a page is on its way: the
   * page no longer joins on and is dropped. */
  {
    g_autoptr(OmRoom) other = om_room_new (NULL, room_id, user_id, NULL, http);
    OmTimeline *other_timeline = om_room_get_timeline (other);
    LoadResult r = { FALSE, 0, NULL };

    om_timeline_set_prev_batch (other_timeline, prev_batch);
    om_timeline_load_older_async (other_timeline, 15, NULL, load_done, &r);
    om_timeline_reset (other_timeline, "after-the-gap");
    g_assert_true (om_test_wait_until (load_finished, &r, 10000));
    g_assert_no_error (r.error);
    g_assert_cmpint (r.n_added, ==, 0);
    g_assert_cmpuint (n_items (other_timeline), ==, 0);
    g_assert_cmpstr (om_timeline_get_prev_batch (other_timeline), ==, "after-the-gap");
  }

  g_clear_object (&room);
  g_clear_object (&http);
  om_test_hs_free (hs);
}

static void
count_members_changed (OmRoom *room,
                       guint  *counter)
{
  (*counter)++;
}

/* With lazy-loaded members the sync leaves out those who only spoke in
 * older history; back-pagination brings their member events along. */
static void
test_load_older_lazy_members (void)
{
  OmTestHs *hs = om_test_hs_start (NULL);
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *alice = NULL;
  g_autofree char *bob = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *escaped_room = NULL;
  g_autofree char *create_body = NULL;
  g_autofree char *join_path = NULL;
  g_autofree char *filter = NULL;
  g_autofree char *sync_path = NULL;
  g_autoptr(JsonNode) created = NULL;
  g_autoptr(JsonNode) joined = NULL;
  g_autoptr(JsonNode) sync = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = om_store_open (":memory:", &error);
  g_autoptr(OmHttp) http = NULL;
  g_autoptr(OmRoom) room = NULL;
  JsonObject *room_json;
  OmTimeline *timeline;
  guint status = 0, n_bob = 0, n_changed = 0;

  g_assert_no_error (error);
  alice = om_test_hs_create_user (hs, "alice", "secret-password", FALSE);
  bob = om_test_hs_create_user (hs, "bob", "secret-password", FALSE);
  alice_token = om_test_hs_login (hs, "alice", "secret-password", NULL);
  bob_token = om_test_hs_login (hs, "bob", "secret-password", NULL);

  create_body = g_strdup_printf ("{\"preset\":\"private_chat\",\"invite\":[\"%s\"]}", bob);
  created = om_test_hs_request (hs, "POST", "/_matrix/client/v3/createRoom", alice_token,
                                create_body, &status);
  g_assert_cmpuint (status, ==, 200);
  room_id = g_strdup (json_object_get_string_member (json_node_get_object (created), "room_id"));
  escaped_room = g_uri_escape_string (room_id, NULL, FALSE);
  join_path = g_strdup_printf ("/_matrix/client/v3/join/%s", escaped_room);
  joined = om_test_hs_request (hs, "POST", join_path, bob_token, "{}", &status);
  g_assert_cmpuint (status, ==, 200);

  for (guint i = 1; i <= 33; i++)
    {
      g_autofree char *send = g_strdup_printf ("/_matrix/client/v3/rooms/%s/send/m.room.message/l%u",
                                               escaped_room, i);
      g_autofree char *body = g_strdup_printf ("{\"msgtype\":\"m.text\",\"body\":\"%u\"}", i);
      g_autoptr(JsonNode) sent = om_test_hs_request (hs, "PUT", send, i <= 3 ? bob_token : alice_token,
                                                     body, &status);

      g_assert_cmpuint (status, ==, 200);
    }

  filter = g_uri_escape_string ("{\"room\":{\"timeline\":{\"limit\":10},"
                                "\"state\":{\"lazy_load_members\":true}}}", NULL, FALSE);
  sync_path = g_strdup_printf ("/_matrix/client/v3/sync?filter=%s", filter);
  sync = om_test_hs_request (hs, "GET", sync_path, alice_token, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  room_json = json_object_get_object_member (
    json_object_get_object_member (
      json_object_get_object_member (json_node_get_object (sync), "rooms"), "join"), room_id);

  http = om_http_new (om_test_hs_get_url (hs));
  om_http_set_access_token (http, alice_token);
  room = om_room_new (NULL, room_id, alice, store, http);
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_room_apply_sync (room, OM_MEMBERSHIP_JOIN, room_json, &error));
  g_assert_true (om_store_commit (store, &error));
  /* The summary counts Bob, whose member event is not loaded yet. */
  g_assert_cmpuint (om_room_get_joined_member_count (room), ==, 2);
  g_assert_cmpint (om_room_get_member_membership (room, bob), ==, OM_MEMBERSHIP_NONE);
  g_signal_connect (room, "members-changed", G_CALLBACK (count_members_changed), &n_changed);

  timeline = om_room_get_timeline (room);
  while (om_timeline_get_can_load_older (timeline))
    {
      LoadResult r = { FALSE, 0, NULL };

      om_timeline_load_older_async (timeline, 10, NULL, load_done, &r);
      g_assert_true (om_test_wait_until (load_finished, &r, 10000));
      g_assert_no_error (r.error);
    }

  g_assert_cmpint (om_room_get_member_membership (room, bob), ==, OM_MEMBERSHIP_JOIN);
  g_assert_cmpuint (n_changed, ==, 1);
  for (guint i = 0; i < n_items (timeline); i++)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (G_LIST_MODEL (timeline), i);

      if (g_strcmp0 (om_event_get_event_type (event), "m.room.message") == 0 &&
          g_strcmp0 (om_event_get_sender (event), bob) == 0)
        n_bob++;
    }
  g_assert_cmpuint (n_bob, ==, 3);

  g_clear_object (&room);
  g_clear_object (&http);
  om_test_hs_free (hs);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/timeline/append-prepend-reset", test_append_prepend_reset);
  g_test_add_func ("/timeline/echo/txn-id", test_echo_by_txn_id);
  g_test_add_func ("/timeline/echo/event-id", test_echo_by_event_id);
  g_test_add_func ("/timeline/echo/remote-first", test_echo_remote_first);
  g_test_add_func ("/timeline/echo/after-restart", test_echo_after_restart);
  g_test_add_func ("/timeline/large", test_large);
  g_test_add_func ("/timeline/load-older/store", test_load_older_from_store);
  g_test_add_func ("/timeline/load-older/homeserver", test_load_older_homeserver);
  g_test_add_func ("/timeline/load-older/lazy-members", test_load_older_lazy_members);

  return g_test_run ();
}
