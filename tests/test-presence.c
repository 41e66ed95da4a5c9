/* test-presence.c — presence strings, applying events, and presence between sessions
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-presence.h"
#include "om-session.h"
#include "om-test-session.h"

#define WAIT_MS 15000
#define CAROL "@carol:matrix.openmeet.test"

/* Strings */

typedef struct {
  const char      *string;
  OmPresenceState  state;
} StateString;

static const StateString from_strings[] = {
  { "online", OM_PRESENCE_ONLINE },
  { "unavailable", OM_PRESENCE_UNAVAILABLE },
  { "offline", OM_PRESENCE_OFFLINE },
  { NULL, OM_PRESENCE_UNKNOWN },
  { "", OM_PRESENCE_UNKNOWN },
  { "unknown", OM_PRESENCE_UNKNOWN },
  { "Online", OM_PRESENCE_UNKNOWN },
  { "ONLINE", OM_PRESENCE_UNKNOWN },
  { " online", OM_PRESENCE_UNKNOWN },
  { "online ", OM_PRESENCE_UNKNOWN },
  { "busy", OM_PRESENCE_UNKNOWN },
  { "idle", OM_PRESENCE_UNKNOWN },
  { "away", OM_PRESENCE_UNKNOWN },
};

static void
test_from_string (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (from_strings); i++)
    {
      g_test_message ("\"%s\"", from_strings[i].string ? from_strings[i].string : "(null)");
      g_assert_cmpint (om_presence_state_from_string (from_strings[i].string), ==, from_strings[i].state);
    }
}

static void
test_to_string (void)
{
  g_assert_cmpstr (om_presence_state_to_string (OM_PRESENCE_ONLINE), ==, "online");
  g_assert_cmpstr (om_presence_state_to_string (OM_PRESENCE_UNAVAILABLE), ==, "unavailable");
  g_assert_cmpstr (om_presence_state_to_string (OM_PRESENCE_OFFLINE), ==, "offline");
  /* Unknown is not something we can send. */
  g_assert_null (om_presence_state_to_string (OM_PRESENCE_UNKNOWN));
  g_assert_null (om_presence_state_to_string ((OmPresenceState) 42));

  /* Every known state survives the round trip. */
  for (OmPresenceState s = OM_PRESENCE_ONLINE; s <= OM_PRESENCE_OFFLINE; s++)
    g_assert_cmpint (om_presence_state_from_string (om_presence_state_to_string (s)), ==, s);

  /* The GEnum agrees on the nicks. */
  {
    g_autoptr(GEnumClass) klass = g_type_class_ref (OM_TYPE_PRESENCE_STATE);

    for (OmPresenceState s = OM_PRESENCE_ONLINE; s <= OM_PRESENCE_OFFLINE; s++)
      g_assert_cmpstr (g_enum_get_value (klass, s)->value_nick, ==, om_presence_state_to_string (s));
  }
}

/* Applying events, with no server at all */

static OmSession *
offline_session (const char *dir)
{
  g_autoptr(GError) error = NULL;
  OmSession *session = om_session_new (dir);

  /* Port 9 (discard): nothing answers, and nothing is started anyway. */
  g_assert_true (om_session_restore (session, "http://127.0.0.1:9", "@me:matrix.openmeet.test",
                                     "MYDEVICE", "not-a-real-token", &error));
  g_assert_no_error (error);
  return session;
}

static void
apply_json (OmPresence *presence,
            const char *json)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);

  g_assert_nonnull (node);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  om_presence_apply_event (presence, json_node_get_object (node));
}

static void
count_changed (OmPresence *presence,
               const char *user_id,
               gpointer    user_data)
{
  GPtrArray *changed = user_data;

  g_ptr_array_add (changed, g_strdup (user_id));
}

typedef struct {
  const char *name;
  const char *json;
  gboolean    warns;   /* om-presence.c warns "Skipping a malformed presence event" */
} Malformed;

static const Malformed malformed[] = {
  { "no-sender", "{\"type\":\"m.presence\",\"content\":{\"presence\":\"offline\"}}", TRUE },
  { "sender-number", "{\"type\":\"m.presence\",\"sender\":7,\"content\":{\"presence\":\"offline\"}}", TRUE },
  { "sender-null", "{\"type\":\"m.presence\",\"sender\":null,\"content\":{\"presence\":\"offline\"}}", TRUE },
  { "no-content", "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\"}", TRUE },
  { "content-string", "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\",\"content\":\"offline\"}", TRUE },
  { "content-array", "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\",\"content\":[\"offline\"]}", TRUE },
  { "content-null", "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\",\"content\":null}", TRUE },
  { "wrong-type", "{\"type\":\"m.typing\",\"sender\":\"" CAROL "\",\"content\":{\"presence\":\"offline\"}}", TRUE },
  { "no-type", "{\"sender\":\"" CAROL "\",\"content\":{\"presence\":\"offline\"}}", TRUE },
  { "unknown-presence", "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\","
                        "\"content\":{\"presence\":\"busy\",\"status_msg\":\"gone fishing\"}}", FALSE },
  { "presence-number", "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\","
                       "\"content\":{\"presence\":3,\"status_msg\":\"gone fishing\"}}", FALSE },
  { "no-presence", "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\","
                   "\"content\":{\"status_msg\":\"gone fishing\"}}", FALSE },
};

static void
assert_carol_unchanged (OmPresence *presence)
{
  const char *status = NULL;
  gint64 ago = 0;
  gboolean active = FALSE;

  g_assert_cmpint (om_presence_lookup (presence, CAROL, &status, &ago, &active), ==, OM_PRESENCE_ONLINE);
  g_assert_cmpstr (status, ==, "knitting");
  g_assert_cmpint (ago, ==, 1200);
  g_assert_true (active);
}

static void
test_malformed (gconstpointer data)
{
  const Malformed *m = data;
  g_autofree char *dir = om_test_mkdtemp ();
  g_autoptr(GPtrArray) changed = g_ptr_array_new_with_free_func (g_free);
  OmSession *session = offline_session (dir);
  OmPresence *presence = om_session_get_presence (session);

  apply_json (presence, "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\","
                        "\"content\":{\"presence\":\"online\",\"status_msg\":\"knitting\","
                        "\"last_active_ago\":1200,\"currently_active\":true}}");
  assert_carol_unchanged (presence);

  g_signal_connect (presence, "changed", G_CALLBACK (count_changed), changed);
  if (m->warns)
    g_test_expect_message ("om-presence", G_LOG_LEVEL_WARNING, "*malformed presence event*");
  apply_json (presence, m->json);
  g_test_assert_expected_messages ();

  g_assert_cmpuint (changed->len, ==, 0);
  assert_carol_unchanged (presence);

  /* Nothing reached the store either. */
  g_clear_object (&session);
  session = offline_session (dir);
  assert_carol_unchanged (om_session_get_presence (session));

  /* A good event after the bad one still applies. */
  presence = om_session_get_presence (session);
  g_signal_connect (presence, "changed", G_CALLBACK (count_changed), changed);
  apply_json (presence, "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\","
                        "\"content\":{\"presence\":\"offline\"}}");
  g_assert_cmpint (om_presence_lookup (presence, CAROL, NULL, NULL, NULL), ==, OM_PRESENCE_OFFLINE);
  g_assert_cmpuint (changed->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (changed, 0), ==, CAROL);

  g_clear_object (&session);
  om_test_rmdir (dir);
}

static void
test_unknown_user (void)
{
  g_autofree char *dir = om_test_mkdtemp ();
  g_autoptr(OmSession) session = offline_session (dir);
  OmPresence *presence = om_session_get_presence (session);
  const char *status = "garbage";
  gint64 ago = 12345;
  gboolean active = TRUE;

  g_assert_cmpint (om_presence_lookup (presence, "@nobody:matrix.openmeet.test", &status, &ago, &active),
                   ==, OM_PRESENCE_UNKNOWN);
  g_assert_null (status);
  g_assert_cmpint (ago, ==, -1);
  g_assert_false (active);
  g_assert_cmpint (om_presence_lookup (presence, "@nobody:matrix.openmeet.test", NULL, NULL, NULL),
                   ==, OM_PRESENCE_UNKNOWN);

  /* Someone else's presence does not make an unknown user known. */
  apply_json (presence, "{\"type\":\"m.presence\",\"sender\":\"" CAROL "\","
                        "\"content\":{\"presence\":\"unavailable\"}}");
  g_assert_cmpint (om_presence_lookup (presence, "@nobody:matrix.openmeet.test", NULL, NULL, NULL),
                   ==, OM_PRESENCE_UNKNOWN);
  g_assert_cmpint (om_presence_lookup (presence, CAROL, NULL, NULL, NULL), ==, OM_PRESENCE_UNAVAILABLE);

  g_clear_object (&session);
  om_test_rmdir (dir);
}

/* Between two sessions */

typedef OmTestPair Fixture;

/* Presence is shared with people we share a room with. */
static const OmTestPairOptions pair_options = {
  .room_name = "Lobby",
  .sync_timeout_ms = 1000,
};

static void
set_presence (OmSession       *session,
              OmPresenceState  state,
              const char      *status)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  OmPresence *presence = om_session_get_presence (session);

  om_presence_set_async (presence, state, status, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_true (om_presence_set_finish (presence, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (om_presence_get_state (presence), ==, state);
  g_assert_cmpstr (om_presence_get_status_message (presence), ==, status);
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

/* What the server holds as @user_id's presence (asked with @session's token). */
static char *
server_presence (Fixture    *f,
                 OmSession  *session,
                 const char *user_id,
                 char      **out_status)
{
  g_autofree char *token = om_session_dup_access_token (session);
  g_autofree char *user = g_uri_escape_string (user_id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/_matrix/client/v3/presence/%s/status", user);
  guint status = 0;
  g_autoptr(JsonNode) body = om_test_hs_request (f->hs, "GET", path, token, NULL, &status);
  JsonObject *object;

  g_assert_cmpuint (status, ==, 200);
  object = json_node_get_object (body);
  if (out_status)
    *out_status = g_strdup (json_object_get_string_member_with_default (object, "status_msg", NULL));
  return g_strdup (json_object_get_string_member (object, "presence"));
}

typedef struct {
  Fixture    *f;
  const char *presence;
  const char *status;
} ServerWait;

static gboolean
server_presence_is (gpointer data)
{
  ServerWait *w = data;
  g_autofree char *status = NULL;
  g_autofree char *presence = server_presence (w->f, w->f->alice, w->f->bob_id, &status);

  /* At most every 50 ms. */
  if (g_strcmp0 (presence, w->presence) == 0 && g_strcmp0 (status, w->status) == 0)
    return TRUE;
  om_test_spin (50);
  return FALSE;
}

static gboolean
state_is (gpointer data)
{
  PresenceWait *w = data;

  return om_presence_lookup (om_session_get_presence (w->session), w->user_id, NULL, NULL, NULL) == w->state;
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  (*(guint *) user_data)++;
}

static void
test_set_reaches_other (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(GPtrArray) changed = g_ptr_array_new_with_free_func (g_free);
  PresenceWait wait = { f->alice, f->bob_id, OM_PRESENCE_UNAVAILABLE, "Lunch \360\237\215\234 back at 2" };
  ServerWait swait;
  guint notifies = 0;
  const char *status = NULL;

  g_signal_connect (om_session_get_presence (f->alice), "changed", G_CALLBACK (count_changed), changed);
  g_signal_connect (om_session_get_presence (f->bob), "notify::state", G_CALLBACK (count_notify), &notifies);

  set_presence (f->bob, OM_PRESENCE_UNAVAILABLE, wait.status);
  /* Our own object said so at once. */
  g_assert_cmpuint (notifies, ==, 1);

  /* A /sync of Bob's that left before the update may still set him online
   * once more; his next one carries set_presence and settles it. */
  swait = (ServerWait) { f, "unavailable", wait.status };
  g_assert_true (om_test_wait_until (server_presence_is, &swait, WAIT_MS));

  g_assert_true (om_test_wait_until (presence_is, &wait, WAIT_MS));
  g_assert_true (g_ptr_array_find_with_equal_func (changed, f->bob_id, g_str_equal, NULL));

  g_assert_cmpint (om_presence_lookup (om_session_get_presence (f->alice), f->bob_id, &status, NULL, NULL),
                   ==, OM_PRESENCE_UNAVAILABLE);
  g_assert_cmpstr (status, ==, wait.status);

  /* Back online, status cleared. */
  g_ptr_array_set_size (changed, 0);
  set_presence (f->bob, OM_PRESENCE_ONLINE, NULL);
  /* Synapse clears the message when a status update has none. */
  swait = (ServerWait) { f, "online", NULL };
  g_assert_true (om_test_wait_until (server_presence_is, &swait, WAIT_MS));
  wait = (PresenceWait) { f->alice, f->bob_id, OM_PRESENCE_ONLINE, NULL };
  g_assert_true (om_test_wait_until (presence_is, &wait, WAIT_MS));
  g_assert_true (g_ptr_array_find_with_equal_func (changed, f->bob_id, g_str_equal, NULL));
}

static void
count_synced (OmSession *session,
              gboolean   initial,
              gpointer   user_data)
{
  (*(guint *) user_data)++;
}

typedef struct {
  guint *counter;
  guint  target;
} CountWait;

static gboolean
counter_reached (gpointer data)
{
  CountWait *w = data;

  return *w->counter >= w->target;
}

static void
test_sync_follows_state (Fixture       *f,
                         gconstpointer  data)
{
  PresenceWait wait = { f->alice, f->bob_id, OM_PRESENCE_OFFLINE, NULL };
  g_autofree char *on_server = NULL;
  guint bob_synced = 0;
  CountWait cwait;

  /* Bob is online while he syncs. */
  wait.state = OM_PRESENCE_ONLINE;
  g_assert_true (om_test_wait_until (presence_is, &wait, WAIT_MS));

  /* Bob goes invisible; his syncs from now on must not bring him back. */
  set_presence (f->bob, OM_PRESENCE_OFFLINE, NULL);
  wait.state = OM_PRESENCE_OFFLINE;
  if (!om_test_wait_until (presence_is, &wait, WAIT_MS))
    {
      g_autofree char *now = server_presence (f, f->alice, f->bob_id, NULL);

      /* "online" here: a /sync of Bob's without set_presence reached the
       * server after the PUT, and set_presence=offline never undoes that. */
      g_error ("Alice never saw Bob offline; the server has him %s", now);
    }

  g_signal_connect (f->bob, "synced", G_CALLBACK (count_synced), &bob_synced);
  cwait = (CountWait) { &bob_synced, 3 };
  g_assert_true (om_test_wait_until (counter_reached, &cwait, WAIT_MS));
  om_test_spin (300);

  on_server = server_presence (f, f->alice, f->bob_id, NULL);
  g_assert_cmpstr (on_server, ==, "offline");
  g_assert_cmpint (om_presence_lookup (om_session_get_presence (f->alice), f->bob_id, NULL, NULL, NULL),
                   ==, OM_PRESENCE_OFFLINE);

  /* Unavailable holds through syncs too. */
  set_presence (f->bob, OM_PRESENCE_UNAVAILABLE, "in a meeting");
  wait = (PresenceWait) { f->alice, f->bob_id, OM_PRESENCE_UNAVAILABLE, "in a meeting" };
  g_assert_true (om_test_wait_until (presence_is, &wait, WAIT_MS));
  cwait = (CountWait) { &bob_synced, bob_synced + 3 };
  g_assert_true (om_test_wait_until (counter_reached, &cwait, WAIT_MS));
  om_test_spin (300);
  g_clear_pointer (&on_server, g_free);
  on_server = server_presence (f, f->alice, f->bob_id, NULL);
  g_assert_cmpstr (on_server, ==, "unavailable");

  /* And online again once he says so. */
  set_presence (f->bob, OM_PRESENCE_ONLINE, NULL);
  wait = (PresenceWait) { f->alice, f->bob_id, OM_PRESENCE_ONLINE, NULL };
  g_assert_true (om_test_wait_until (state_is, &wait, WAIT_MS));
}

static void
test_restored_from_store (Fixture       *f,
                          gconstpointer  data)
{
  PresenceWait wait = { f->alice, f->bob_id, OM_PRESENCE_UNAVAILABLE, "on a train" };
  g_autofree char *token = NULL;
  g_autofree char *device = NULL;
  g_autofree char *dir = NULL;
  g_autoptr(GError) error = NULL;
  const char *status = NULL;
  gint64 ago = 0;

  set_presence (f->bob, OM_PRESENCE_UNAVAILABLE, "on a train");
  g_assert_true (om_test_wait_until (presence_is, &wait, WAIT_MS));

  /* Alice's next run knows it before any request. */
  token = om_session_dup_access_token (f->alice);
  device = g_strdup (om_session_get_device_id (f->alice));
  dir = g_strdup (om_session_get_data_dir (f->alice));
  g_clear_object (&f->alice);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  f->alice = om_session_new (dir);
  g_assert_true (om_session_restore (f->alice, om_test_hs_get_url (f->hs), f->alice_id, device, token, &error));
  g_assert_no_error (error);
  g_assert_cmpint (om_presence_lookup (om_session_get_presence (f->alice), f->bob_id, &status, &ago, NULL),
                   ==, OM_PRESENCE_UNAVAILABLE);
  g_assert_cmpstr (status, ==, "on a train");
  g_assert_cmpint (om_presence_lookup (om_session_get_presence (f->alice), "@nobody:example.org",
                                       NULL, NULL, NULL), ==, OM_PRESENCE_UNKNOWN);
}

/* The race behind sync-follows-state's occasional failure, made certain:
 * a /sync that left while Bob was online reaches the server after his
 * PUT offline. */
static void
test_offline_survives_inflight_sync (Fixture       *f,
                                     gconstpointer  data)
{
  PresenceWait wait = { f->alice, f->bob_id, OM_PRESENCE_ONLINE, NULL };
  g_autofree char *on_server = NULL;
  guint bob_synced = 0;
  CountWait cwait;

  g_assert_true (om_test_wait_until (presence_is, &wait, WAIT_MS));
  g_signal_connect (f->bob, "synced", G_CALLBACK (count_synced), &bob_synced);

  /* The server holds each /sync for a second before handling it. */
  om_test_hs_add_fault (f->hs, "{\"path\":\"/sync\",\"action\":\"delay\",\"delay_ms\":1000,\"count\":-1}");
  cwait = (CountWait) { &bob_synced, 1 };
  g_assert_true (om_test_wait_until (counter_reached, &cwait, WAIT_MS));
  /* Bob's next /sync has left (without set_presence: he is online). */
  om_test_spin (100);
  set_presence (f->bob, OM_PRESENCE_OFFLINE, NULL);
  om_test_hs_clear_faults (f->hs);

  /* Once that /sync and a few more have been handled, Bob is still offline. */
  cwait = (CountWait) { &bob_synced, bob_synced + 3 };
  g_assert_true (om_test_wait_until (counter_reached, &cwait, WAIT_MS));
  om_test_spin (300);
  on_server = server_presence (f, f->alice, f->bob_id, NULL);
  g_assert_cmpstr (on_server, ==, "offline");
  wait.state = OM_PRESENCE_OFFLINE;
  g_assert_true (om_test_wait_until (presence_is, &wait, WAIT_MS));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/presence/state/from-string", test_from_string);
  g_test_add_func ("/presence/state/to-string", test_to_string);
  for (guint i = 0; i < G_N_ELEMENTS (malformed); i++)
    {
      g_autofree char *path = g_strdup_printf ("/presence/malformed/%s", malformed[i].name);
      g_test_add_data_func (path, &malformed[i], test_malformed);
    }
  g_test_add_func ("/presence/lookup/unknown-user", test_unknown_user);
  om_test_add_pair ("/presence/sessions/sync-follows-state", &pair_options, test_sync_follows_state);
  om_test_add_pair ("/presence/sessions/set-reaches-other", &pair_options, test_set_reaches_other);
  om_test_add_pair ("/presence/sessions/restored-from-store", &pair_options, test_restored_from_store);
  om_test_add_pair ("/presence/sessions/offline-survives-inflight-sync", &pair_options, test_offline_survives_inflight_sync);

  return g_test_run ();
}
