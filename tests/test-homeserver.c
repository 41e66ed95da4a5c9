/* test-homeserver.c — tests of the test homeserver itself, over real HTTP
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-test-hs.h"

#include <string.h>

#define V3 "/_matrix/client/v3"

static OmTestHs *shared_hs;

/* Helpers */

static JsonNode *
call (OmTestHs   *hs,
      const char *method,
      const char *path,
      const char *token,
      const char *body,
      guint       expected_status)
{
  guint status = 0;
  JsonNode *node = om_test_hs_request (hs, method, path, token, body, &status);

  if (status != expected_status)
    {
      g_autofree char *text = node ? json_to_string (node, FALSE) : g_strdup ("(none)");
      g_error ("%s %s: expected HTTP %u, got %u: %s", method, path, expected_status, status, text);
    }
  return node;
}

/* call() for requests whose answer does not matter beyond its status. */
static void
call_void (OmTestHs   *hs,
           const char *method,
           const char *path,
           const char *token,
           const char *body,
           guint       expected_status)
{
  JsonNode *node = call (hs, method, path, token, body, expected_status);

  if (node)
    json_node_unref (node);
}

static JsonObject *
obj (JsonNode *node)
{
  g_assert_nonnull (node);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_node_get_object (node);
}

static void
assert_error (JsonNode   *node,
              const char *errcode)
{
  g_assert_cmpstr (json_object_get_string_member (obj (node), "errcode"), ==, errcode);
  g_assert_true (json_object_has_member (obj (node), "error"));
}

static char *
esc (const char *s)
{
  return g_uri_escape_string (s, NULL, FALSE);
}

static char *
unique_name (const char *prefix)
{
  static guint counter;

  return g_strdup_printf ("%s%u", prefix, ++counter);
}

/* Creates a user with password "pw" and logs them in. */
static char *
new_user (OmTestHs    *hs,
          char       **out_localpart,
          char       **out_user_id)
{
  g_autofree char *name = unique_name ("user");
  g_autofree char *user_id = om_test_hs_create_user (hs, name, "pw", FALSE);
  char *token = om_test_hs_login (hs, name, "pw", NULL);

  if (out_user_id)
    *out_user_id = g_steal_pointer (&user_id);
  if (out_localpart)
    *out_localpart = g_steal_pointer (&name);
  return token;
}

static char *
create_room (OmTestHs   *hs,
             const char *token,
             const char *body)
{
  g_autoptr(JsonNode) res = call (hs, "POST", V3 "/createRoom", token, body, 200);

  return g_strdup (json_object_get_string_member (obj (res), "room_id"));
}

static char *
send_text (OmTestHs   *hs,
           const char *token,
           const char *room_id,
           const char *txn_id,
           const char *text)
{
  g_autofree char *room = esc (room_id);
  g_autofree char *path = g_strdup_printf (V3 "/rooms/%s/send/m.room.message/%s", room, txn_id);
  g_autofree char *body = g_strdup_printf ("{\"msgtype\":\"m.text\",\"body\":\"%s\"}", text);
  g_autoptr(JsonNode) res = call (hs, "PUT", path, token, body, 200);

  return g_strdup (json_object_get_string_member (obj (res), "event_id"));
}

static void
join (OmTestHs   *hs,
      const char *token,
      const char *room_id)
{
  g_autofree char *room = esc (room_id);
  g_autofree char *path = g_strdup_printf (V3 "/join/%s", room);
  call_void (hs, "POST", path, token, "{}", 200);
}

static JsonNode *
do_sync (OmTestHs   *hs,
      const char *token,
      const char *since,
      guint       timeout_ms,
      const char *filter)
{
  g_autoptr(GString) path = g_string_new (V3 "/sync?timeout=");

  g_string_append_printf (path, "%u", timeout_ms);
  if (since)
    g_string_append_printf (path, "&since=%s", since);
  if (filter)
    {
      g_autofree char *f = esc (filter);
      g_string_append_printf (path, "&filter=%s", f);
    }
  return call (hs, "GET", path->str, token, NULL, 200);
}

static char *
next_batch (JsonNode *sync_res)
{
  return g_strdup (json_object_get_string_member (obj (sync_res), "next_batch"));
}

/* rooms.join.<room_id> or NULL */
static JsonObject *
joined_room (JsonNode   *sync_res,
             const char *room_id)
{
  JsonObject *o = obj (sync_res);

  if (!json_object_has_member (o, "rooms"))
    return NULL;
  o = json_object_get_object_member (o, "rooms");
  if (!json_object_has_member (o, "join"))
    return NULL;
  o = json_object_get_object_member (o, "join");
  return json_object_has_member (o, room_id) ? json_object_get_object_member (o, room_id) : NULL;
}

static JsonArray *
room_events (OmTestHs   *hs,
             const char *room_id,
             JsonNode  **out_node)
{
  g_autofree char *room = esc (room_id);
  g_autofree char *path = g_strdup_printf ("/_test/events?room_id=%s", room);

  *out_node = call (hs, "GET", path, NULL, NULL, 200);
  return json_object_get_array_member (obj (*out_node), "events");
}

static gint64
elapsed_ms (gint64 start_us)
{
  return (g_get_monotonic_time () - start_us) / 1000;
}

/* Tests */

static void
test_discovery_and_errors (void)
{
  OmTestHs *hs = shared_hs;
  g_autoptr(JsonNode) wk = call (hs, "GET", "/.well-known/matrix/client", NULL, NULL, 200);
  g_autoptr(JsonNode) versions = call (hs, "GET", "/_matrix/client/versions", NULL, NULL, 200);
  g_autoptr(JsonNode) flows = call (hs, "GET", V3 "/login", NULL, NULL, 200);
  g_autoptr(JsonNode) unknown = call (hs, "GET", V3 "/this/endpoint/does/not/exist", NULL, NULL, 404);
  g_autoptr(JsonNode) method = call (hs, "DELETE", V3 "/account/whoami", NULL, NULL, 405);
  g_autofree char *flows_text = json_to_string (flows, FALSE);

  g_assert_true (g_str_has_prefix (json_object_get_string_member (
    json_object_get_object_member (obj (wk), "m.homeserver"), "base_url"), om_test_hs_get_url (hs)));
  g_assert_true (json_array_get_length (json_object_get_array_member (obj (versions), "versions")) > 0);
  g_assert_nonnull (strstr (flows_text, "\"m.login.password\""));
  g_assert_nonnull (strstr (flows_text, "\"oidc-openmeet\""));
  assert_error (unknown, "M_UNRECOGNIZED");
  assert_error (method, "M_UNRECOGNIZED");
}

static void
test_login (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *user_id = om_test_hs_create_user (hs, "loginuser", "secret", FALSE);
  g_autofree char *device = NULL;
  g_autofree char *token = om_test_hs_login (hs, "loginuser", "secret", &device);
  g_autofree char *mxid_body = g_strdup_printf ("{\"type\":\"m.login.password\",\"identifier\":"
                                                "{\"type\":\"m.id.user\",\"user\":\"%s\"},"
                                                "\"password\":\"secret\",\"device_id\":\"MYDEVICE\"}",
                                                user_id);
  g_autofree char *query_path = g_strdup_printf (V3 "/account/whoami?access_token=%s", token);
  g_autoptr(JsonNode) bad = call (hs, "POST", V3 "/login", NULL,
                                  "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\","
                                  "\"user\":\"loginuser\"},\"password\":\"wrong\"}", 403);
  g_autoptr(JsonNode) nouser = call (hs, "POST", V3 "/login", NULL,
                                     "{\"type\":\"m.login.password\",\"user\":\"nosuch\",\"password\":\"x\"}", 403);
  g_autoptr(JsonNode) badtype = call (hs, "POST", V3 "/login", NULL, "{\"type\":\"m.login.foo\"}", 400);
  g_autoptr(JsonNode) mxid = call (hs, "POST", V3 "/login", NULL, mxid_body, 200);
  g_autoptr(JsonNode) whoami = call (hs, "GET", V3 "/account/whoami", token, NULL, 200);
  g_autoptr(JsonNode) whoami_q = call (hs, "GET", query_path, NULL, NULL, 200);
  g_autoptr(JsonNode) missing = call (hs, "GET", V3 "/account/whoami", NULL, NULL, 401);
  g_autoptr(JsonNode) unknown = call (hs, "GET", V3 "/account/whoami", "syt_nope", NULL, 401);
  g_autoptr(JsonNode) logout = NULL;
  g_autoptr(JsonNode) after = NULL;

  assert_error (bad, "M_FORBIDDEN");
  assert_error (nouser, "M_FORBIDDEN");
  assert_error (badtype, "M_UNKNOWN");
  g_assert_cmpstr (json_object_get_string_member (obj (mxid), "device_id"), ==, "MYDEVICE");
  g_assert_cmpstr (json_object_get_string_member (obj (mxid), "user_id"), ==, user_id);
  g_assert_true (json_object_has_member (obj (mxid), "well_known"));
  g_assert_cmpstr (json_object_get_string_member (obj (whoami), "user_id"), ==, user_id);
  g_assert_cmpstr (json_object_get_string_member (obj (whoami), "device_id"), ==, device);
  g_assert_false (json_object_get_boolean_member (obj (whoami), "is_guest"));
  g_assert_cmpstr (json_object_get_string_member (obj (whoami_q), "user_id"), ==, user_id);
  assert_error (missing, "M_MISSING_TOKEN");
  assert_error (unknown, "M_UNKNOWN_TOKEN");
  g_assert_false (json_object_get_boolean_member (obj (unknown), "soft_logout"));

  logout = call (hs, "POST", V3 "/logout", token, "{}", 200);
  after = call (hs, "GET", V3 "/account/whoami", token, NULL, 401);
  assert_error (after, "M_UNKNOWN_TOKEN");
}

static void
test_register (void)
{
  OmTestHs *hs = shared_hs;
  g_autoptr(JsonNode) first = call (hs, "POST", V3 "/register", NULL,
                                    "{\"username\":\"erin\",\"password\":\"pw\"}", 401);
  g_autofree char *session = g_strdup (json_object_get_string_member (obj (first), "session"));
  g_autofree char *body = g_strdup_printf ("{\"username\":\"erin\",\"password\":\"pw\","
                                           "\"auth\":{\"type\":\"m.login.dummy\",\"session\":\"%s\"}}",
                                           session);
  g_autoptr(JsonNode) second = call (hs, "POST", V3 "/register", NULL, body, 200);
  g_autoptr(JsonNode) taken = call (hs, "GET", V3 "/register/available?username=erin", NULL, NULL, 400);
  g_autoptr(JsonNode) free_name = call (hs, "GET", V3 "/register/available?username=freshname", NULL, NULL, 200);
  g_autoptr(JsonNode) whoami = NULL;
  g_autofree char *stages = NULL;

  stages = json_to_string (json_object_get_member (obj (first), "flows"), FALSE);
  g_assert_cmpstr (stages, ==, "[{\"stages\":[\"m.login.dummy\"]}]");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (obj (second), "user_id"), "@erin:"));
  whoami = call (hs, "GET", V3 "/account/whoami",
                 json_object_get_string_member (obj (second), "access_token"), NULL, 200);
  assert_error (taken, "M_USER_IN_USE");
  g_assert_true (json_object_get_boolean_member (obj (free_name), "available"));
}

static void
test_create_room (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *alice_id = NULL, *bob_id = NULL;
  g_autofree char *alice = new_user (hs, NULL, &alice_id);
  g_autofree char *bob = new_user (hs, NULL, &bob_id);
  g_autofree char *body = g_strdup_printf ("{\"name\":\"Sync Test\",\"topic\":\"Topic\","
                                           "\"preset\":\"private_chat\",\"invite\":[\"%s\"],"
                                           "\"room_alias_name\":\"%s\"}", bob_id, "sync-test");
  g_autofree char *room_id = create_room (hs, alice, body);
  g_autofree char *room = esc (room_id);
  g_autofree char *pl_path = g_strdup_printf (V3 "/rooms/%s/state/m.room.power_levels/", room);
  g_autofree char *alias_path = g_strdup_printf (V3 "/directory/room/%%23sync-test%%3A%s",
                                                 om_test_hs_get_server_name (shared_hs));
  static const char *expected[][2] = {
    { "m.room.create", "" }, { "m.room.member", "alice" }, { "m.room.power_levels", "" },
    { "m.room.canonical_alias", "" }, { "m.room.join_rules", "" },
    { "m.room.history_visibility", "" }, { "m.room.guest_access", "" },
    { "m.room.name", "" }, { "m.room.topic", "" }, { "m.room.member", "bob" },
  };
  g_autoptr(JsonNode) events_node = NULL;
  JsonArray *events = room_events (hs, room_id, &events_node);
  g_autoptr(JsonNode) bad_preset = call (hs, "POST", V3 "/createRoom", alice, "{\"preset\":\"nope\"}", 400);
  g_autoptr(JsonNode) not_json = call (hs, "POST", V3 "/createRoom", alice, "{\"name\": \"broken\",", 400);
  g_autoptr(JsonNode) not_obj = call (hs, "POST", V3 "/createRoom", alice, "[\"not\"]", 400);
  g_autoptr(JsonNode) dup = call (hs, "POST", V3 "/createRoom", alice, "{\"room_alias_name\":\"sync-test\"}", 400);
  g_autoptr(JsonNode) pl = NULL;
  g_autoptr(JsonNode) forbidden = NULL;
  g_autoptr(JsonNode) invite_sync = NULL;
  g_autofree char *pl_text = NULL;
  g_autoptr(JsonNode) dir = call (hs, "GET", alias_path, bob, NULL, 200);

  g_assert_cmpuint (json_array_get_length (events), ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      JsonObject *ev = json_array_get_object_element (events, i);
      const char *sk = json_object_get_string_member (ev, "state_key");

      g_assert_cmpstr (json_object_get_string_member (ev, "type"), ==, expected[i][0]);
      if (expected[i][1][0])
        g_assert_true (g_str_has_prefix (sk, g_str_equal (expected[i][1], "alice") ? alice_id : bob_id));
      else
        g_assert_cmpstr (sk, ==, "");
    }
  g_assert_cmpstr (json_object_get_string_member (
    json_object_get_object_member (json_array_get_object_element (events, 0), "content"),
    "room_version"), ==, "10");
  assert_error (bad_preset, "M_BAD_JSON");
  assert_error (not_json, "M_NOT_JSON");
  assert_error (not_obj, "M_BAD_JSON");
  assert_error (dup, "M_ROOM_IN_USE");
  g_assert_cmpstr (json_object_get_string_member (obj (dir), "room_id"), ==, room_id);

  /* Bob sees the invite with stripped state, then joins. */
  invite_sync = do_sync (hs, bob, NULL, 0, NULL);
  {
    JsonObject *inv = json_object_get_object_member (json_object_get_object_member (
      json_object_get_object_member (obj (invite_sync), "rooms"), "invite"), room_id);
    JsonArray *st = json_object_get_array_member (json_object_get_object_member (inv, "invite_state"), "events");
    JsonObject *last = json_array_get_object_element (st, json_array_get_length (st) - 1);

    g_assert_cmpstr (json_object_get_string_member (last, "state_key"), ==, bob_id);
    g_assert_true (json_object_has_member (last, "event_id"));
  }
  join (hs, bob, room_id);

  /* Synapse's default power levels; bob (0) cannot change them. */
  pl = call (hs, "GET", pl_path, bob, NULL, 200);
  pl_text = json_to_string (pl, FALSE);
  g_assert_nonnull (strstr (pl_text, "\"state_default\":50"));
  g_assert_nonnull (strstr (pl_text, "\"m.room.power_levels\":100"));
  forbidden = call (hs, "PUT", pl_path, bob, "{\"users\":{}}", 403);
  assert_error (forbidden, "M_FORBIDDEN");
}

static void
test_send_idempotent (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *name = NULL, *user_id = NULL;
  g_autofree char *tok1 = new_user (hs, &name, &user_id);
  g_autofree char *dev2 = NULL;
  g_autofree char *tok2 = om_test_hs_login (hs, name, "pw", &dev2);
  g_autofree char *outsider = new_user (hs, NULL, NULL);
  g_autofree char *room_id = create_room (hs, tok1, "{\"preset\":\"private_chat\"}");
  g_autofree char *room = esc (room_id);
  g_autofree char *a = send_text (hs, tok1, room_id, "txn1", "hello");
  g_autofree char *b = send_text (hs, tok1, room_id, "txn1", "a different body");
  g_autofree char *c = send_text (hs, tok2, room_id, "txn1", "hello");
  g_autofree char *reaction_path = g_strdup_printf (V3 "/rooms/%s/send/m.reaction/txn1", room);
  g_autoptr(JsonNode) reaction = call (hs, "PUT", reaction_path, tok1, "{}", 200);
  g_autofree char *out_path = g_strdup_printf (V3 "/rooms/%s/send/m.room.message/x1", room);
  g_autoptr(JsonNode) not_joined = call (hs, "PUT", out_path, outsider, "{\"body\":\"x\"}", 403);
  g_autoptr(GString) big = g_string_new ("{\"msgtype\":\"m.text\",\"body\":\"");
  g_autoptr(JsonNode) too_large = NULL;
  g_autoptr(JsonNode) events_node = NULL;
  g_autoptr(JsonNode) s1 = NULL, s2 = NULL;
  g_autofree char *s1_text = NULL, *s2_text = NULL;
  JsonArray *events;
  guint n_messages = 0;

  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (a, !=, c);
  g_assert_cmpstr (json_object_get_string_member (obj (reaction), "event_id"), ==, a);
  assert_error (not_joined, "M_FORBIDDEN");

  for (guint i = 0; i < 70000; i++)
    g_string_append_c (big, 'x');
  g_string_append (big, "\"}");
  too_large = call (hs, "PUT", out_path, tok1, big->str, 413);
  assert_error (too_large, "M_TOO_LARGE");

  events = room_events (hs, room_id, &events_node);
  for (guint i = 0; i < json_array_get_length (events); i++)
    if (g_str_equal (json_object_get_string_member (json_array_get_object_element (events, i), "type"),
                     "m.room.message"))
      n_messages++;
  g_assert_cmpuint (n_messages, ==, 2);

  /* unsigned.transaction_id only reaches the device that sent the event. */
  s1 = do_sync (hs, tok1, NULL, 0, NULL);
  s2 = do_sync (hs, tok2, NULL, 0, NULL);
  s1_text = json_to_string (json_object_get_member (joined_room (s1, room_id), "timeline"), FALSE);
  s2_text = json_to_string (json_object_get_member (joined_room (s2, room_id), "timeline"), FALSE);
  g_assert_nonnull (strstr (s1_text, "\"transaction_id\":\"txn1\""));
  g_assert_nonnull (strstr (s2_text, "\"transaction_id\":\"txn1\""));
  {
    /* Device 1 sees its txnId on a, device 2 on c, never the other's. */
    JsonArray *tl1 = json_object_get_array_member (json_object_get_object_member (joined_room (s1, room_id), "timeline"), "events");
    for (guint i = 0; i < json_array_get_length (tl1); i++)
      {
        JsonObject *ev = json_array_get_object_element (tl1, i);
        JsonObject *u = json_object_get_object_member (ev, "unsigned");
        gboolean has = json_object_has_member (u, "transaction_id");

        if (g_str_equal (json_object_get_string_member (ev, "event_id"), a))
          g_assert_true (has);
        else
          g_assert_false (has);
      }
  }
}

typedef struct
{
  OmTestHs *hs;
  char     *token;
  char     *since;
  guint     timeout;
  JsonNode *result;
  gint64    elapsed_ms;
} SyncJob;

static gpointer
sync_thread (gpointer data)
{
  SyncJob *job = data;
  gint64 start = g_get_monotonic_time ();

  job->result = do_sync (job->hs, job->token, job->since, job->timeout, NULL);
  job->elapsed_ms = elapsed_ms (start);
  return NULL;
}

static void
test_long_poll (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *bob_id = NULL;
  g_autofree char *alice = new_user (hs, NULL, NULL);
  g_autofree char *bob = new_user (hs, NULL, &bob_id);
  g_autofree char *body = g_strdup_printf ("{\"preset\":\"private_chat\",\"invite\":[\"%s\"]}", bob_id);
  g_autofree char *room_id = create_room (hs, alice, body);
  g_autoptr(JsonNode) first = NULL;
  g_autoptr(JsonNode) empty = NULL;
  g_autofree char *since = NULL;
  g_autofree char *event_id = NULL;
  g_autofree char *text = NULL;
  SyncJob job = { 0 };
  GThread *thread;
  gint64 start;

  join (hs, bob, room_id);
  first = do_sync (hs, bob, NULL, 0, NULL);
  since = next_batch (first);

  /* Nothing happens: the long-poll lasts its timeout. */
  start = g_get_monotonic_time ();
  empty = do_sync (hs, bob, since, 1000, NULL);
  g_assert_cmpint (elapsed_ms (start), >=, 950);
  g_assert_cmpint (elapsed_ms (start), <, 3000);
  g_assert_null (joined_room (empty, room_id));
  g_assert_true (json_object_has_member (obj (empty), "device_one_time_keys_count"));

  /* Alice sends while Bob waits: it returns at once. */
  job.hs = hs;
  job.token = bob;
  job.since = since;
  job.timeout = 10000;
  thread = g_thread_new ("sync", sync_thread, &job);
  g_usleep (300 * 1000);
  event_id = send_text (hs, alice, room_id, "lp1", "wake up");
  g_thread_join (thread);
  g_assert_cmpint (job.elapsed_ms, <, 1000);
  text = json_to_string (job.result, FALSE);
  g_assert_nonnull (strstr (text, event_id));
  json_node_unref (job.result);
}

static JsonArray *
ephemeral_of (JsonNode   *res,
              const char *room_id)
{
  JsonObject *room = joined_room (res, room_id);

  g_assert_nonnull (room);
  return json_object_get_array_member (json_object_get_object_member (room, "ephemeral"), "events");
}

static void
test_ephemeral (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *alice_id = NULL, *bob_id = NULL;
  g_autofree char *alice = new_user (hs, NULL, &alice_id);
  g_autofree char *bob = new_user (hs, NULL, &bob_id);
  g_autofree char *body = g_strdup_printf ("{\"preset\":\"private_chat\",\"invite\":[\"%s\"]}", bob_id);
  g_autofree char *room_id = create_room (hs, alice, body);
  g_autofree char *room = esc (room_id);
  g_autofree char *alice_esc = esc (alice_id);
  g_autofree char *bob_esc = esc (bob_id);
  g_autofree char *typing_path = g_strdup_printf (V3 "/rooms/%s/typing/%s", room, alice_esc);
  g_autofree char *typing_other = g_strdup_printf (V3 "/rooms/%s/typing/%s", room, bob_esc);
  g_autofree char *presence_path = g_strdup_printf (V3 "/presence/%s/status", alice_esc);
  g_autofree char *event_id = NULL;
  g_autofree char *event_esc = NULL;
  g_autofree char *receipt_path = NULL;
  g_autofree char *since = NULL;
  g_autofree char *text = NULL;
  g_autofree char *ad_path = g_strdup_printf (V3 "/user/%s/account_data/net.openmeet.test", bob_esc);
  g_autoptr(JsonNode) res = NULL;
  g_autoptr(JsonNode) r = NULL;
  JsonArray *eph;

  join (hs, bob, room_id);
  event_id = send_text (hs, alice, room_id, "e1", "hi bob");
  res = do_sync (hs, bob, NULL, 0, NULL);
  since = next_batch (res);
  g_clear_pointer (&res, json_node_unref);

  /* Typing */
  r = call (hs, "PUT", typing_other, alice, "{\"typing\":true,\"timeout\":30000}", 400);
  assert_error (r, "M_FORBIDDEN");
  g_clear_pointer (&r, json_node_unref);
  r = call (hs, "PUT", typing_path, alice, "{\"typing\":true,\"timeout\":30000}", 200);
  g_clear_pointer (&r, json_node_unref);
  res = do_sync (hs, bob, since, 5000, NULL);
  eph = ephemeral_of (res, room_id);
  text = json_to_string (json_array_get_element (eph, 0), FALSE);
  g_assert_true (strstr (text, "\"m.typing\"") && strstr (text, alice_id));
  g_clear_pointer (&text, g_free);
  g_free (since);
  since = next_batch (res);
  g_clear_pointer (&res, json_node_unref);

  /* Typing expires server-side, which wakes the long-poll. */
  r = call (hs, "PUT", typing_path, alice, "{\"typing\":true,\"timeout\":300}", 200);
  g_clear_pointer (&r, json_node_unref);
  {
    gint64 start = g_get_monotonic_time ();

    res = do_sync (hs, bob, since, 5000, NULL);
    g_free (since);
    since = next_batch (res);
    /* The refresh changed nothing; the expiry is what returns. */
    g_assert_cmpint (elapsed_ms (start), <, 2000);
    text = json_to_string (json_array_get_element (ephemeral_of (res, room_id), 0), FALSE);
    g_assert_cmpstr (text, ==, "{\"type\":\"m.typing\",\"content\":{\"user_ids\":[]}}");
    g_clear_pointer (&text, g_free);
    g_clear_pointer (&res, json_node_unref);
  }

  /* Receipt: {"$ev":{"m.read":{"@bob":{"ts":…}}}} */
  event_esc = esc (event_id);
  receipt_path = g_strdup_printf (V3 "/rooms/%s/receipt/m.read/%s", room, event_esc);
  r = call (hs, "POST", receipt_path, bob, "{}", 200);
  g_clear_pointer (&r, json_node_unref);
  res = do_sync (hs, alice, NULL, 0, NULL);
  eph = ephemeral_of (res, room_id);
  {
    JsonObject *receipt = NULL;

    for (guint i = 0; i < json_array_get_length (eph); i++)
      if (g_str_equal (json_object_get_string_member (json_array_get_object_element (eph, i), "type"),
                       "m.receipt"))
        receipt = json_object_get_object_member (json_array_get_object_element (eph, i), "content");
    g_assert_nonnull (receipt);
    g_assert_true (json_object_has_member (json_object_get_object_member (json_object_get_object_member (
      json_object_get_object_member (receipt, event_id), "m.read"), bob_id), "ts"));
  }
  g_clear_pointer (&res, json_node_unref);

  /* Bob's unread count dropped to 0 with his receipt. */
  res = do_sync (hs, bob, NULL, 0, NULL);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (
    joined_room (res, room_id), "unread_notifications"), "notification_count"), ==, 0);
  g_clear_pointer (&res, json_node_unref);

  /* Presence */
  r = call (hs, "PUT", presence_path, alice, "{\"presence\":\"online\",\"status_msg\":\"At the meetup\"}", 200);
  g_clear_pointer (&r, json_node_unref);
  res = do_sync (hs, bob, since, 5000, NULL);
  text = json_to_string (json_object_get_member (obj (res), "presence"), FALSE);
  g_assert_nonnull (strstr (text, "At the meetup"));
  g_clear_pointer (&text, g_free);
  g_free (since);
  since = next_batch (res);
  g_clear_pointer (&res, json_node_unref);
  r = call (hs, "GET", presence_path, bob, NULL, 200);
  g_assert_cmpstr (json_object_get_string_member (obj (r), "status_msg"), ==, "At the meetup");
  g_clear_pointer (&r, json_node_unref);

  /* Account data */
  r = call (hs, "PUT", ad_path, bob, "{\"x\":1}", 200);
  g_clear_pointer (&r, json_node_unref);
  res = do_sync (hs, bob, since, 5000, NULL);
  text = json_to_string (json_object_get_member (obj (res), "account_data"), FALSE);
  g_assert_nonnull (strstr (text, "net.openmeet.test"));
  g_clear_pointer (&res, json_node_unref);
}

static void
test_sync_shapes (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *alice_id = NULL, *bob_id = NULL;
  g_autofree char *alice = new_user (hs, NULL, &alice_id);
  g_autofree char *bob = new_user (hs, NULL, &bob_id);
  g_autofree char *body = g_strdup_printf ("{\"preset\":\"private_chat\",\"invite\":[\"%s\"]}", bob_id);
  g_autofree char *room_id = create_room (hs, alice, body);
  g_autofree char *other_room = create_room (hs, alice, "{}");
  g_autofree char *room = esc (room_id);
  g_autofree char *leave_path = g_strdup_printf (V3 "/rooms/%s/leave", room);
  g_autofree char *since = NULL;
  g_autofree char *fwd_path = NULL;
  g_autofree char *e1 = NULL, *e2 = NULL, *after_leave = NULL;
  g_autofree char *text = NULL;
  g_autoptr(JsonNode) res = NULL;
  g_autoptr(JsonNode) r = NULL;
  JsonObject *jr, *summary;
  JsonArray *state;
  gboolean saw_alice = FALSE, saw_bob = FALSE;

  join (hs, bob, room_id);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *txn = g_strdup_printf ("s%u", i);
      g_free (send_text (hs, alice, room_id, txn, "lazy"));
    }

  /* Lazy loading: members of the timeline's senders plus our own, and a
   * summary with heroes because the room has no name. */
  res = do_sync (hs, bob, NULL, 0, "{\"room\":{\"state\":{\"lazy_load_members\":true},\"timeline\":{\"limit\":2}}}");
  jr = joined_room (res, room_id);
  g_assert_true (json_object_get_boolean_member (json_object_get_object_member (jr, "timeline"), "limited"));
  state = json_object_get_array_member (json_object_get_object_member (jr, "state"), "events");
  for (guint i = 0; i < json_array_get_length (state); i++)
    {
      JsonObject *ev = json_array_get_object_element (state, i);

      g_assert_false (json_object_has_member (ev, "room_id"));
      if (!g_str_equal (json_object_get_string_member (ev, "type"), "m.room.member"))
        continue;
      if (g_str_equal (json_object_get_string_member (ev, "state_key"), alice_id))
        saw_alice = TRUE;
      else if (g_str_equal (json_object_get_string_member (ev, "state_key"), bob_id))
        saw_bob = TRUE;
      else
        g_assert_not_reached ();
    }
  g_assert_true (saw_alice && saw_bob);
  summary = json_object_get_object_member (jr, "summary");
  g_assert_cmpint (json_object_get_int_member (summary, "m.joined_member_count"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (summary, "m.invited_member_count"), ==, 0);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (summary, "m.heroes"), 0), ==, alice_id);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (jr, "unread_notifications"),
                                               "notification_count"), ==, 3);
  since = next_batch (res);
  g_clear_pointer (&res, json_node_unref);

  /* Nothing newer going forwards: an empty chunk and no end. */
  fwd_path = g_strdup_printf (V3 "/rooms/%s/messages?dir=f&from=%s", room, since);
  r = call (hs, "GET", fwd_path, bob, NULL, 200);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj (r), "chunk")), ==, 0);
  g_assert_false (json_object_has_member (obj (r), "end"));
  g_clear_pointer (&r, json_node_unref);

  /* The same txnId in another room is another event. */
  e1 = send_text (hs, alice, room_id, "same-txn", "one");
  e2 = send_text (hs, alice, other_room, "same-txn", "two");
  g_assert_cmpstr (e1, !=, e2);

  /* Leaving puts the room under rooms.leave, up to the leave only. */
  r = call (hs, "POST", leave_path, bob, "{}", 200);
  g_clear_pointer (&r, json_node_unref);
  after_leave = send_text (hs, alice, room_id, "after", "after bob left");
  res = do_sync (hs, bob, since, 0, NULL);
  g_assert_null (joined_room (res, room_id));
  text = json_to_string (json_object_get_member (json_object_get_object_member (
    json_object_get_object_member (obj (res), "rooms"), "leave"), room_id), FALSE);
  g_assert_nonnull (strstr (text, "\"membership\":\"leave\""));
  g_assert_nonnull (strstr (text, e1));
  g_assert_null (strstr (text, after_leave));
}

static void
test_membership_and_redaction (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *bob_id = NULL, *carol_id = NULL;
  g_autofree char *alice = new_user (hs, NULL, NULL);
  g_autofree char *bob = new_user (hs, NULL, &bob_id);
  g_autofree char *carol = new_user (hs, NULL, &carol_id);
  g_autofree char *room_id = create_room (hs, alice, "{\"preset\":\"public_chat\",\"name\":\"Open\"}");
  g_autofree char *room = esc (room_id);
  g_autofree char *bob_json = g_strdup_printf ("{\"user_id\":\"%s\",\"reason\":\"test\"}", bob_id);
  g_autofree char *carol_json = g_strdup_printf ("{\"user_id\":\"%s\"}", carol_id);
  g_autofree char *kick = g_strdup_printf (V3 "/rooms/%s/kick", room);
  g_autofree char *ban = g_strdup_printf (V3 "/rooms/%s/ban", room);
  g_autofree char *unban = g_strdup_printf (V3 "/rooms/%s/unban", room);
  g_autofree char *invite = g_strdup_printf (V3 "/rooms/%s/invite", room);
  g_autofree char *join_path = g_strdup_printf (V3 "/join/%s", room);
  g_autofree char *bob_esc = esc (bob_id);
  g_autofree char *name_path = g_strdup_printf (V3 "/profile/%s/displayname", bob_esc);
  g_autofree char *event_id = NULL, *event_esc = NULL, *redact = NULL, *event_path = NULL;
  g_autofree char *since = NULL, *text = NULL;
  g_autoptr(JsonNode) r = NULL;
  g_autoptr(JsonNode) first = NULL;
  SyncJob job = { 0 };
  GThread *thread;

  join (hs, bob, room_id);
  r = call (hs, "POST", kick, bob, carol_json, 403);   /* power 0 */
  g_clear_pointer (&r, json_node_unref);
  r = call (hs, "POST", kick, alice, bob_json, 200);
  g_clear_pointer (&r, json_node_unref);
  join (hs, bob, room_id);                              /* public: may rejoin */
  r = call (hs, "POST", ban, alice, bob_json, 200);
  g_clear_pointer (&r, json_node_unref);
  r = call (hs, "POST", join_path, bob, "{}", 403);
  assert_error (r, "M_FORBIDDEN");
  g_clear_pointer (&r, json_node_unref);
  r = call (hs, "POST", unban, alice, bob_json, 200);
  g_clear_pointer (&r, json_node_unref);
  join (hs, bob, room_id);

  /* Redaction strips the content and says why. */
  event_id = send_text (hs, bob, room_id, "r1", "oops");
  event_esc = esc (event_id);
  redact = g_strdup_printf (V3 "/rooms/%s/redact/%s/red1", room, event_esc);
  r = call (hs, "PUT", redact, alice, "{\"reason\":\"spam\"}", 200);
  g_clear_pointer (&r, json_node_unref);
  event_path = g_strdup_printf (V3 "/rooms/%s/event/%s", room, event_esc);
  r = call (hs, "GET", event_path, bob, NULL, 200);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (obj (r), "content")), ==, 0);
  g_assert_true (json_object_has_member (json_object_get_object_member (obj (r), "unsigned"), "redacted_because"));
  g_clear_pointer (&r, json_node_unref);

  /* A display name change reaches the room as a member event. */
  first = do_sync (hs, alice, NULL, 0, NULL);
  since = next_batch (first);
  r = call (hs, "PUT", name_path, bob, "{\"displayname\":\"Robert\"}", 200);
  g_clear_pointer (&r, json_node_unref);
  r = do_sync (hs, alice, since, 0, NULL);
  text = json_to_string (json_object_get_member (joined_room (r, room_id), "timeline"), FALSE);
  g_assert_nonnull (strstr (text, "\"displayname\":\"Robert\""));
  g_clear_pointer (&r, json_node_unref);

  /* An invite wakes the invitee's long-poll. */
  g_clear_pointer (&first, json_node_unref);
  first = do_sync (hs, carol, NULL, 0, NULL);
  job.hs = hs;
  job.token = carol;
  job.since = next_batch (first);
  job.timeout = 10000;
  thread = g_thread_new ("sync", sync_thread, &job);
  g_usleep (200 * 1000);
  r = call (hs, "POST", invite, alice, carol_json, 200);
  g_thread_join (thread);
  g_assert_cmpint (job.elapsed_ms, <, 1000);
  g_assert_true (json_object_has_member (json_object_get_object_member (
    json_object_get_object_member (obj (job.result), "rooms"), "invite"), room_id));
  json_node_unref (job.result);
  g_free (job.since);
}

static void
test_pagination (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *alice = new_user (hs, NULL, NULL);
  g_autofree char *room_id = create_room (hs, alice, "{\"preset\":\"private_chat\",\"name\":\"Paging\"}");
  g_autofree char *room = esc (room_id);
  g_autoptr(JsonNode) first = do_sync (hs, alice, NULL, 0, NULL);
  g_autofree char *since = next_batch (first);
  g_autoptr(JsonNode) res = NULL;
  g_autoptr(JsonNode) events_node = NULL;
  g_autofree char *token = NULL;
  JsonObject *timeline;
  guint total = 0, pages = 0;
  gboolean saw_create = FALSE;

  for (guint i = 0; i < 25; i++)
    {
      g_autofree char *txn = g_strdup_printf ("p%u", i);
      g_autofree char *text = g_strdup_printf ("Bulk message %u", i + 1);
      g_free (send_text (hs, alice, room_id, txn, text));
    }
  res = do_sync (hs, alice, since, 0, "{\"room\":{\"timeline\":{\"limit\":10}}}");
  timeline = json_object_get_object_member (joined_room (res, room_id), "timeline");
  g_assert_true (json_object_get_boolean_member (timeline, "limited"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (timeline, "events")), ==, 10);
  token = g_strdup (json_object_get_string_member (timeline, "prev_batch"));
  total = 10;

  while (token != NULL)
    {
      g_autofree char *path = g_strdup_printf (V3 "/rooms/%s/messages?dir=b&limit=10&from=%s", room, token);
      g_autoptr(JsonNode) page = call (hs, "GET", path, alice, NULL, 200);
      JsonArray *chunk = json_object_get_array_member (obj (page), "chunk");

      g_assert_cmpstr (json_object_get_string_member (obj (page), "start"), ==, token);
      total += json_array_get_length (chunk);
      for (guint i = 0; i < json_array_get_length (chunk); i++)
        {
          JsonObject *ev = json_array_get_object_element (chunk, i);

          g_assert_cmpstr (json_object_get_string_member (ev, "room_id"), ==, room_id);
          if (g_str_equal (json_object_get_string_member (ev, "type"), "m.room.create"))
            saw_create = TRUE;
        }
      g_free (token);
      token = json_object_has_member (obj (page), "end")
              ? g_strdup (json_object_get_string_member (obj (page), "end")) : NULL;
      g_assert_cmpuint (++pages, <, 10);
    }
  g_assert_true (saw_create);
  g_assert_cmpuint (total, ==, json_array_get_length (room_events (hs, room_id, &events_node)));
}

static void
test_faults (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *user_id = NULL;
  g_autofree char *alice = new_user (hs, NULL, &user_id);
  g_autofree char *room_id = create_room (hs, alice, "{\"preset\":\"private_chat\"}");
  g_autofree char *room = esc (room_id);
  g_autofree char *send1 = g_strdup_printf (V3 "/rooms/%s/send/m.room.message/f1", room);
  g_autofree char *send2 = g_strdup_printf (V3 "/rooms/%s/send/m.room.message/f2", room);
  g_autofree char *send3 = g_strdup_printf (V3 "/rooms/%s/send/m.room.message/f3", room);
  g_autofree char *raw = NULL, *headers = NULL;
  g_autofree char *rl_body = NULL;
  g_autoptr(JsonNode) r = NULL;
  g_autoptr(JsonNode) events_node = NULL;
  guint status = 0;
  gint64 start;
  const char *msg = "{\"msgtype\":\"m.text\",\"body\":\"fault\"}";
  JsonArray *events;
  guint before;

  /* error, once */
  om_test_hs_add_fault (hs, "{\"path\":\"/send/\",\"action\":\"error\",\"status\":500,\"errcode\":\"M_UNKNOWN\"}");
  r = call (hs, "PUT", send1, alice, msg, 500);
  assert_error (r, "M_UNKNOWN");
  g_clear_pointer (&r, json_node_unref);
  r = call (hs, "PUT", send1, alice, msg, 200);
  g_clear_pointer (&r, json_node_unref);

  /* raw non-JSON body */
  om_test_hs_add_fault (hs, "{\"path\":\"/account/whoami\",\"action\":\"error\",\"status\":502,"
                            "\"raw_body\":\"<html>Bad gateway</html>\"}");
  r = om_test_hs_request_full (hs, "GET", V3 "/account/whoami", alice, NULL, &status, &raw, NULL);
  g_assert_cmpuint (status, ==, 502);
  g_assert_null (r);
  g_assert_cmpstr (raw, ==, "<html>Bad gateway</html>");
  g_clear_pointer (&raw, g_free);

  /* ratelimit: retry_after_ms in the body, no Retry-After header */
  om_test_hs_add_fault (hs, "{\"path\":\"/send/\",\"method\":\"PUT\",\"action\":\"ratelimit\",\"retry_after_ms\":200}");
  r = om_test_hs_request_full (hs, "PUT", send2, alice, msg, &status, NULL, &headers);
  g_assert_cmpuint (status, ==, 429);
  assert_error (r, "M_LIMIT_EXCEEDED");
  g_assert_cmpint (json_object_get_int_member (obj (r), "retry_after_ms"), ==, 200);
  {
    g_autofree char *lower = g_ascii_strdown (headers, -1);
    g_assert_null (strstr (lower, "retry-after"));
  }
  g_clear_pointer (&r, json_node_unref);
  g_clear_pointer (&headers, g_free);

  /* drop: nothing answered, nothing stored */
  events = room_events (hs, room_id, &events_node);
  before = json_array_get_length (events);
  g_clear_pointer (&events_node, json_node_unref);
  om_test_hs_add_fault (hs, "{\"path\":\"/send/\",\"action\":\"drop\"}");
  r = om_test_hs_request_full (hs, "PUT", send2, alice, msg, &status, &raw, NULL);
  g_assert_cmpuint (status, ==, 0);
  g_assert_null (raw);
  events = room_events (hs, room_id, &events_node);
  g_assert_cmpuint (json_array_get_length (events), ==, before);
  g_clear_pointer (&events_node, json_node_unref);

  /* drop_after: no answer, but the event is stored; the retry gets it */
  om_test_hs_add_fault (hs, "{\"path\":\"/send/\",\"action\":\"drop_after\"}");
  r = om_test_hs_request_full (hs, "PUT", send3, alice, msg, &status, &raw, NULL);
  g_assert_cmpuint (status, ==, 0);
  g_assert_null (raw);
  events = room_events (hs, room_id, &events_node);
  g_assert_cmpuint (json_array_get_length (events), ==, before + 1);
  {
    JsonObject *last = json_array_get_object_element (events, before);
    g_autoptr(JsonNode) retry = call (hs, "PUT", send3, alice, msg, 200);

    g_assert_cmpstr (json_object_get_string_member (obj (retry), "event_id"), ==,
                     json_object_get_string_member (last, "event_id"));
  }
  g_clear_pointer (&events_node, json_node_unref);

  /* delay */
  om_test_hs_add_fault (hs, "{\"path\":\"/account/whoami\",\"action\":\"delay\",\"delay_ms\":300}");
  start = g_get_monotonic_time ();
  r = call (hs, "GET", V3 "/account/whoami", alice, NULL, 200);
  g_assert_cmpint (elapsed_ms (start), >=, 290);
  g_clear_pointer (&r, json_node_unref);

  /* count -1 until cleared */
  om_test_hs_add_fault (hs, "{\"path\":\"/joined_rooms\",\"action\":\"error\",\"status\":503,\"count\":-1}");
  for (guint i = 0; i < 3; i++)
    {
      r = call (hs, "GET", V3 "/joined_rooms", alice, NULL, 503);
      g_clear_pointer (&r, json_node_unref);
    }
  om_test_hs_clear_faults (hs);
  r = call (hs, "GET", V3 "/joined_rooms", alice, NULL, 200);
  g_clear_pointer (&r, json_node_unref);

  /* The rc_message model: burst 2, 0.5/s; typing is not limited. */
  rl_body = g_strdup_printf ("{\"user_id\":\"%s\",\"burst\":2,\"per_second\":0.5}", user_id);
  r = call (hs, "POST", "/_test/ratelimit", NULL, rl_body, 200);
  g_clear_pointer (&r, json_node_unref);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *path = g_strdup_printf (V3 "/rooms/%s/send/m.room.message/rl%u", room, i);

      r = om_test_hs_request (hs, "PUT", path, alice, msg, &status);
      g_assert_cmpuint (status, ==, i < 2 ? 200 : 429);
      if (i == 2)
        {
          assert_error (r, "M_LIMIT_EXCEEDED");
          g_assert_cmpint (json_object_get_int_member (obj (r), "retry_after_ms"), >, 0);
        }
      g_clear_pointer (&r, json_node_unref);
    }
  {
    g_autofree char *u = esc (user_id);
    g_autofree char *typing = g_strdup_printf (V3 "/rooms/%s/typing/%s", room, u);

    r = call (hs, "PUT", typing, alice, "{\"typing\":true,\"timeout\":1000}", 200);
    g_clear_pointer (&r, json_node_unref);
  }
  g_free (rl_body);
  rl_body = g_strdup_printf ("{\"user_id\":\"%s\",\"burst\":0,\"per_second\":0}", user_id);
  r = call (hs, "POST", "/_test/ratelimit", NULL, rl_body, 200);
}

static void
test_expire_token (void)
{
  OmTestHs *hs = shared_hs;
  g_autofree char *user_id = NULL;
  g_autofree char *token = new_user (hs, NULL, &user_id);
  g_autofree char *body = g_strdup_printf ("{\"user_id\":\"%s\"}", user_id);
  g_autoptr(JsonNode) expired = NULL;

  call_void (hs, "GET", V3 "/account/whoami", token, NULL, 200);
  call_void (hs, "POST", "/_test/expire_token", NULL, body, 200);
  expired = call (hs, "GET", V3 "/account/whoami", token, NULL, 401);

  assert_error (expired, "M_UNKNOWN_TOKEN");
  g_assert_true (json_object_get_boolean_member (obj (expired), "soft_logout"));
}

static JsonNode *
refresh (OmTestHs   *hs,
         const char *refresh_token,
         guint       expected_status)
{
  g_autofree char *body = g_strdup_printf ("{\"refresh_token\":\"%s\"}", refresh_token);

  return call (hs, "POST", V3 "/refresh", NULL, body, expected_status);
}

static void
test_refresh_tokens (void)
{
  OmTestHs *hs = shared_hs;
  g_autoptr(JsonNode) login = NULL;
  const char *at0;
  const char *rt0;
  g_autoptr(JsonNode) first = NULL, second = NULL, spent = NULL, current = NULL, r = NULL;

  g_free (om_test_hs_create_user (hs, "refresher", "pw", FALSE));
  login = call (hs, "POST", V3 "/login", NULL,
                "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\","
                "\"user\":\"refresher\"},\"password\":\"pw\",\"refresh_token\":true}", 200);
  at0 = json_object_get_string_member (obj (login), "access_token");
  rt0 = json_object_get_string_member (obj (login), "refresh_token");
  g_assert_cmpint (json_object_get_int_member (obj (login), "expires_in_ms"), >, 0);
  first = refresh (hs, rt0, 200);
  g_assert_true (json_object_has_member (obj (first), "expires_in_ms"));
  /* Again with the same refresh token before the first pair was used: a
   * new pair, and the first pair is gone. */
  second = refresh (hs, rt0, 200);
  r = call (hs, "GET", V3 "/account/whoami",
            json_object_get_string_member (obj (first), "access_token"), NULL, 401);
  assert_error (r, "M_UNKNOWN_TOKEN");
  g_clear_pointer (&r, json_node_unref);
  r = call (hs, "GET", V3 "/account/whoami", at0, NULL, 200);
  g_clear_pointer (&r, json_node_unref);
  r = call (hs, "GET", V3 "/account/whoami",
            json_object_get_string_member (obj (second), "access_token"), NULL, 200);
  g_clear_pointer (&r, json_node_unref);
  /* The original access token keeps working; its refresh token is spent. */
  r = call (hs, "GET", V3 "/account/whoami", at0, NULL, 200);
  g_clear_pointer (&r, json_node_unref);
  spent = refresh (hs, rt0, 403);
  assert_error (spent, "M_FORBIDDEN");
  current = refresh (hs, json_object_get_string_member (obj (second), "refresh_token"), 200);

  /* Expiry: a short lifetime, then 401 with soft_logout true. */
  r = call (hs, "POST", "/_test/config", NULL, "{\"access_token_lifetime_ms\":200}", 200);
  g_clear_pointer (&r, json_node_unref);
  g_clear_pointer (&first, json_node_unref);
  first = refresh (hs, json_object_get_string_member (obj (current), "refresh_token"), 200);
  g_assert_cmpint (json_object_get_int_member (obj (first), "expires_in_ms"), ==, 200);
  g_usleep (300 * 1000);
  r = call (hs, "GET", V3 "/account/whoami",
            json_object_get_string_member (obj (first), "access_token"), NULL, 401);
  assert_error (r, "M_UNKNOWN_TOKEN");
  g_assert_true (json_object_get_boolean_member (obj (r), "soft_logout"));
  g_clear_pointer (&r, json_node_unref);
  r = call (hs, "POST", "/_test/config", NULL, "{\"access_token_lifetime_ms\":300000}", 200);
}

/* /_test/seed makes a big account in one call (benchmarks). */
static void
test_seed (void)
{
  OmTestHs *hs = om_test_hs_start (NULL);
  g_autofree char *user_id = om_test_hs_create_user (hs, "big", "pw", FALSE);
  g_autofree char *token = om_test_hs_login (hs, "big", "pw", NULL);
  g_autofree char *body = g_strdup_printf ("{\"user_id\":\"%s\",\"rooms\":25,\"messages\":4,"
                                           "\"name\":\"Seeded\"}", user_id);
  g_autoptr(JsonNode) seeded = call (hs, "POST", "/_test/seed", NULL, body, 200);
  g_autoptr(JsonNode) joined = call (hs, "GET", V3 "/joined_rooms", token, NULL, 200);
  g_autoptr(JsonNode) messages = NULL;
  JsonArray *ids = json_object_get_array_member (obj (seeded), "room_ids");
  g_autofree char *path = NULL;
  g_autofree char *escaped = NULL;
  JsonArray *chunk;

  g_assert_cmpuint (json_array_get_length (ids), ==, 25);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj (joined), "joined_rooms")), ==, 25);
  escaped = g_uri_escape_string (json_array_get_string_element (ids, 24), NULL, FALSE);
  path = g_strdup_printf (V3 "/rooms/%s/messages?dir=b&limit=10", escaped);
  messages = call (hs, "GET", path, token, NULL, 200);
  chunk = json_object_get_array_member (obj (messages), "chunk");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (
                     json_array_get_object_element (chunk, 0), "content"), "body"), ==,
                   "Message 4 in Seeded 25");
  json_node_unref (call (hs, "POST", "/_test/seed", NULL, "{\"user_id\":\"@nobody:x\"}", 400));
  om_test_hs_free (hs);
}

static void
test_restart (void)
{
  OmTestHs *hs = om_test_hs_start (NULL);
  g_autofree char *user_id = om_test_hs_create_user (hs, "keeper", "pw", FALSE);
  g_autofree char *token = om_test_hs_login (hs, "keeper", "pw", NULL);
  g_autofree char *room_id = create_room (hs, token, "{\"name\":\"Persistent\"}");
  g_autofree char *event_id = send_text (hs, token, room_id, "keep1", "before restart");
  g_autoptr(JsonNode) first = do_sync (hs, token, NULL, 0, "{\"room\":{\"timeline\":{\"limit\":5}}}");
  g_autofree char *since = next_batch (first);
  g_autofree char *url_before = g_strdup (om_test_hs_get_url (hs));
  g_autofree char *again = NULL;
  g_autofree char *after_id = NULL;
  g_autoptr(JsonNode) whoami = NULL;
  g_autoptr(JsonNode) events_node = NULL;
  g_autoptr(JsonNode) inc = NULL;
  g_autoptr(JsonNode) filter = NULL;
  g_autoptr(JsonNode) filter_back = NULL;
  g_autofree char *uid = esc (user_id);
  g_autofree char *filter_path = g_strdup_printf (V3 "/user/%s/filter", uid);
  g_autofree char *filter_get = NULL;

  filter = call (hs, "POST", filter_path, token, "{\"room\":{\"timeline\":{\"limit\":3}}}", 200);
  g_assert_cmpstr (json_object_get_string_member (obj (filter), "filter_id"), ==, "0");

  om_test_hs_restart (hs);
  g_assert_cmpstr (om_test_hs_get_url (hs), ==, url_before);

  whoami = call (hs, "GET", V3 "/account/whoami", token, NULL, 200);
  g_assert_cmpstr (json_object_get_string_member (obj (whoami), "user_id"), ==, user_id);
  again = send_text (hs, token, room_id, "keep1", "retry after restart");
  g_assert_cmpstr (again, ==, event_id);
  g_assert_cmpuint (json_array_get_length (room_events (hs, room_id, &events_node)), >=, 8);
  filter_get = g_strdup_printf ("%s/0", filter_path);
  filter_back = call (hs, "GET", filter_get, token, NULL, 200);

  after_id = send_text (hs, token, room_id, "keep2", "after restart");
  inc = do_sync (hs, token, since, 0, NULL);
  {
    g_autofree char *text = json_to_string (inc, FALSE);
    g_assert_nonnull (strstr (text, after_id));
    g_assert_null (strstr (text, event_id));
  }

  /* Killed hard, then started again: still there. */
  om_test_hs_kill (hs);
  om_test_hs_start_again (hs);
  g_clear_pointer (&whoami, json_node_unref);
  whoami = call (hs, "GET", V3 "/account/whoami", token, NULL, 200);
  om_test_hs_free (hs);
}

static JsonNode *demo_events;

static gboolean
concierge_replied (gpointer data)
{
  OmTestHs *hs = ((gpointer *) data)[0];
  const char *room_id = ((gpointer *) data)[1];
  JsonArray *events;

  g_clear_pointer (&demo_events, json_node_unref);
  events = room_events (hs, room_id, &demo_events);
  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      JsonObject *ev = json_array_get_object_element (events, i);

      if (g_str_has_prefix (json_object_get_string_member (ev, "sender"), "@concierge:") &&
          g_str_equal (json_object_get_string_member (ev, "type"), "m.room.message") &&
          i == json_array_get_length (events) - 1)
        return TRUE;
    }
  g_usleep (50 * 1000);
  return FALSE;
}

static void
test_demo (void)
{
  const char *args[] = { "--demo", NULL };
  OmTestHs *hs = om_test_hs_start (args);
  g_autofree char *demo = om_test_hs_login (hs, "demo", "demo", NULL);
  g_autofree char *alias_path = g_strdup_printf (V3 "/directory/room/%%23event-board-games-night-demo%%3A%s",
                                                 om_test_hs_get_server_name (hs));
  g_autofree char *room_id = NULL;
  g_autofree char *since = NULL;
  g_autofree char *sent = NULL;
  g_autoptr(JsonNode) rooms = call (hs, "GET", V3 "/joined_rooms", demo, NULL, 200);
  g_autoptr(JsonNode) dir = NULL;
  g_autoptr(JsonNode) first = NULL;
  g_autoptr(JsonNode) inc = NULL;
  g_autofree char *text = NULL;
  gpointer data[2];

  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj (rooms), "joined_rooms")), ==, 4);
  dir = call (hs, "GET", alias_path, demo, NULL, 200);
  room_id = g_strdup (json_object_get_string_member (obj (dir), "room_id"));
  first = do_sync (hs, demo, NULL, 0, NULL);
  text = json_to_string (json_object_get_member (joined_room (first, room_id), "state"), FALSE);
  g_assert_nonnull (strstr (text, "net.openmeet.entity"));
  since = next_batch (first);

  sent = send_text (hs, demo, room_id, "demo1", "A test question for the concierge");
  data[0] = hs;
  data[1] = room_id;
  g_assert_true (om_test_wait_until (concierge_replied, data, 5000));
  g_clear_pointer (&demo_events, json_node_unref);

  /* The concierge typed and read the message. */
  inc = do_sync (hs, demo, since, 0, NULL);
  g_clear_pointer (&text, g_free);
  text = json_to_string (inc, FALSE);
  g_assert_nonnull (strstr (text, "m.receipt"));
  g_assert_nonnull (strstr (text, "m.typing"));

  /* Restarting keeps the seed idempotent (still 4 rooms). */
  om_test_hs_restart (hs);
  g_clear_pointer (&rooms, json_node_unref);
  rooms = call (hs, "GET", V3 "/joined_rooms", demo, NULL, 200);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (obj (rooms), "joined_rooms")), ==, 4);
  om_test_hs_free (hs);
}

/* Transcript replay: the recorded Synapse exchanges, re-played against the
 * test homeserver (see om_test_replay_step()).
 *
 * Replays the steps of @file whose index is in [first, last] and whose step
 * text contains none of @skip. */
static void
replay_file (const char          *file,
             guint                first,
             guint                last,
             const char * const  *skip,
             const char * const  *prelogin)
{
  const char *dir = g_getenv ("OM_TEST_TRANSCRIPTS");
  g_autofree char *path = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  OmTestReplay *r;
  OmTestHs *hs;
  JsonArray *steps;

  if (dir == NULL)
    {
      g_test_skip ("OM_TEST_TRANSCRIPTS is not set");
      return;
    }
  path = g_build_filename (dir, file, NULL);
  if (!json_parser_load_from_file (parser, path, &error))
    g_error ("%s: %s", path, error->message);
  steps = json_node_get_array (json_parser_get_root (parser));

  hs = om_test_hs_start (NULL);
  /* Steps without an actor were made by alice's first session, or by the
   * server admin in the admin API transcript. */
  r = om_test_replay_new (hs, g_str_equal (file, "admin-api.json") ? "admin" : "alice");
  /* Initial syncs there carry rooms and state of the earlier transcripts. */
  if (g_str_equal (file, "e2ee-keys.json"))
    om_test_replay_set_loose (r, "GET initial sync");

  /* Transcript users, with the transcript's (redacted) password. */
  for (guint i = 0; prelogin && prelogin[i]; i++)
    {
      g_autofree char *display = g_strdup (prelogin[i]);
      g_autofree char *body = NULL;
      g_autoptr(JsonNode) created = NULL;

      display[0] = g_ascii_toupper (display[0]);
      body = g_strdup_printf ("{\"username\":\"%s\",\"password\":\"<redacted>\",\"displayname\":\"%s\","
                              "\"admin\":%s}", prelogin[i], display,
                              g_str_equal (prelogin[i], "admin") ? "true" : "false");
      created = call (hs, "POST", "/_test/users", NULL, body, 200);
      if (!g_str_equal (prelogin[i], "alice") || !g_str_equal (file, "discovery-login.json"))
        {
          g_autofree char *token = om_test_hs_login (hs, prelogin[i], "<redacted>", NULL);
          om_test_replay_set_token (r, prelogin[i], token);
        }
    }
  if (g_str_equal (file, "sync-initial-and-incremental.json"))
    call_void (hs, "POST", "/_test/config", NULL, "{\"sync_cache_ms\":120000}", 200);
  if (g_str_equal (file, "admin-api.json"))
    {
      /* What the earlier transcripts left on the recorded server. */
      const char *alice = om_test_replay_get_token (r, "alice");
      const char *bob = om_test_replay_get_token (r, "bob");

      g_free (create_room (hs, alice, "{\"name\":\"Acme Tenant\",\"preset\":\"public_chat\","
                                        "\"room_alias_name\":\"acme-tenant\",\"creation_content\":{\"type\":\"m.space\"}}"));
      g_free (create_room (hs, alice, "{\"name\":\"Acme Hiking Group\"}"));
      g_free (create_room (hs, bob, "{\"name\":\"Bob's room\"}"));
    }
  if (g_str_equal (file, "e2ee-keys.json"))
    {
      /* Alice and Bob share a room, so key changes concern each other. */
      g_autofree char *bob_id = om_test_hs_user_id (hs, "bob");
      g_autofree char *body = g_strdup_printf ("{\"invite\":[\"%s\"]}", bob_id);
      g_autofree char *room_id = create_room (hs, om_test_replay_get_token (r, "alice"), body);

      join (hs, om_test_replay_get_token (r, "bob"), room_id);
      /* Both were online already when this was recorded. */
      json_node_unref (do_sync (hs, om_test_replay_get_token (r, "alice"), NULL, 0, NULL));
      json_node_unref (do_sync (hs, om_test_replay_get_token (r, "bob"), NULL, 0, NULL));
    }
  if (g_str_equal (file, "errors.json"))
    {
      g_autofree char *mallory = om_test_hs_user_id (hs, "mallory");
      g_autofree char *rl = g_strdup_printf ("{\"user_id\":\"%s\",\"burst\":2,\"per_second\":0.5}", mallory);

      call_void (hs, "POST", "/_test/ratelimit", NULL, rl, 200);
    }

  for (guint i = first; i <= last && i < json_array_get_length (steps); i++)
    {
      JsonObject *ex = json_array_get_object_element (steps, i);
      const char *step = json_object_get_string_member (ex, "step");
      gboolean skipped = FALSE;

      for (guint k = 0; skip && skip[k]; k++)
        if (strstr (step, skip[k]))
          skipped = TRUE;
      if (skipped)
        continue;
      om_test_replay_step (r, ex);
      if (strstr (step, "message 1 of 30"))
        {
          /* The transcript left out messages 2..29: send them. */
          g_autofree char *p = om_test_replay_subst_path (r, json_object_get_string_member (ex, "path"));
          g_auto(GStrv) segs = g_strsplit (p, "/", -1);
          g_autofree char *room_id = g_uri_unescape_string (segs[5], NULL);

          for (guint m = 2; m <= 29; m++)
            {
              g_autofree char *txn = g_strdup_printf ("bulk%u", m);
              g_autofree char *text = g_strdup_printf ("Bulk message %u", m);
              g_free (send_text (hs, om_test_replay_get_token (r, "alice"), room_id, txn, text));
            }
        }
    }

  om_test_replay_free (r);
  om_test_hs_free (hs);
}

static void
test_transcript_discovery (void)
{
  const char *users[] = { "alice", NULL };
  const char *skip[] = { "GET devices", "registration disabled", NULL };

  replay_file ("discovery-login.json", 0, 16, skip, users);
  replay_file ("discovery-login.json", 33, 40, skip, users);
}

static void
test_transcript_errors (void)
{
  const char *users[] = { "alice", "bob", "mallory", NULL };

  replay_file ("errors.json", 0, G_MAXUINT, NULL, users);
}

static void
test_transcript_sync (void)
{
  const char *users[] = { "alice", "bob", NULL };

  /* With Synapse's response cache on, as when it was recorded. */
  replay_file ("sync-initial-and-incremental.json", 0, G_MAXUINT, NULL, users);
}

static void
test_transcript_admin (void)
{
  const char *users[] = { "admin", "alice", "bob", "dave", "mallory", NULL };
  /* Shared-secret registration is not modelled (admins come from /_test/users). */
  const char *skip[] = { "shared-secret", "[setup] POST override_ratelimit for admin", NULL };

  replay_file ("admin-api.json", 0, G_MAXUINT, skip, users);
}

static void
test_transcript_e2ee (void)
{
  const char *users[] = { "alice", "bob", NULL };

  replay_file ("e2ee-keys.json", 0, G_MAXUINT, NULL, users);
}

static void
test_transcript_rooms (void)
{
  const char *users[] = { "alice", "bob", NULL };
  replay_file ("rooms-spaces.json", 0, G_MAXUINT, NULL, users);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  shared_hs = om_test_hs_start (NULL);

  g_test_add_func ("/homeserver/discovery-and-errors", test_discovery_and_errors);
  g_test_add_func ("/homeserver/login", test_login);
  g_test_add_func ("/homeserver/seed", test_seed);
  g_test_add_func ("/homeserver/register", test_register);
  g_test_add_func ("/homeserver/create-room", test_create_room);
  g_test_add_func ("/homeserver/send-idempotent", test_send_idempotent);
  g_test_add_func ("/homeserver/long-poll", test_long_poll);
  g_test_add_func ("/homeserver/ephemeral", test_ephemeral);
  g_test_add_func ("/homeserver/sync-shapes", test_sync_shapes);
  g_test_add_func ("/homeserver/membership-and-redaction", test_membership_and_redaction);
  g_test_add_func ("/homeserver/pagination", test_pagination);
  g_test_add_func ("/homeserver/faults", test_faults);
  g_test_add_func ("/homeserver/expire-token", test_expire_token);
  g_test_add_func ("/homeserver/refresh-tokens", test_refresh_tokens);
  g_test_add_func ("/homeserver/restart", test_restart);
  g_test_add_func ("/homeserver/demo", test_demo);
  g_test_add_func ("/homeserver/transcript/discovery-login", test_transcript_discovery);
  g_test_add_func ("/homeserver/transcript/errors", test_transcript_errors);
  g_test_add_func ("/homeserver/transcript/rooms-spaces", test_transcript_rooms);
  g_test_add_func ("/homeserver/transcript/sync", test_transcript_sync);
  g_test_add_func ("/homeserver/transcript/admin-api", test_transcript_admin);
  g_test_add_func ("/homeserver/transcript/e2ee-keys", test_transcript_e2ee);

  ret = g_test_run ();
  om_test_hs_free (shared_hs);
  return ret;
}
