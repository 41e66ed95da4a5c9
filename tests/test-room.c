/* test-room.c — OmRoom: /sync application, names, members, persistence
 *
 * The sync tests replay the rooms of real Synapse /sync responses
 * (tests/data/transcripts/sync-initial-and-incremental.json) in order.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include <json-glib/json-glib.h>

#include "om-room-private.h"

#define ROOM_ID "!YiUsZeWKWJwJafACEU:matrix.openmeet.test"
#define ALICE   "@alice:matrix.openmeet.test"
#define BOB     "@bob:matrix.openmeet.test"

static JsonParser *sync_transcript;

static JsonNode *
load_json_file (const char *dir,
                const char *name,
                JsonParser **out_parser)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  const char *env = g_getenv ("OM_TEST_TRANSCRIPTS");

  if (dir == NULL && env != NULL)
    path = g_build_filename (env, name, NULL);
  else
    path = g_test_build_filename (G_TEST_DIST, "data", dir != NULL ? dir : "transcripts", name,
                                  NULL);

  *out_parser = json_parser_new ();
  json_parser_load_from_file (*out_parser, path, &error);
  g_assert_no_error (error);

  return json_parser_get_root (*out_parser);
}

/* rooms.<section>.<ROOM_ID> of the response of exchange @index. */
static JsonObject *
transcript_room (guint       index,
                 const char *section)
{
  JsonArray *exchanges = json_node_get_array (json_parser_get_root (sync_transcript));
  JsonObject *exchange = json_array_get_object_element (exchanges, index);
  JsonObject *body = json_object_get_object_member (exchange, "response_body");
  JsonObject *rooms = json_object_get_object_member (body, "rooms");

  return json_object_get_object_member (json_object_get_object_member (rooms, section), ROOM_ID);
}

static JsonObject *
parse_object (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);

  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
apply (OmRoom       *room,
       OmMembership  membership,
       JsonObject   *room_json)
{
  OmStore *store = om_room_get_store (room);
  g_autoptr(GError) error = NULL;

  if (store != NULL)
    g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_room_apply_sync (room, membership, room_json, &error));
  g_assert_no_error (error);
  if (store != NULL)
    g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);
}

static void
apply_string (OmRoom       *room,
              OmMembership  membership,
              const char   *json)
{
  g_autoptr(JsonObject) object = parse_object (json);

  apply (room, membership, object);
}

static OmStore *
new_store (void)
{
  g_autoptr(GError) error = NULL;
  OmStore *store = om_store_open (":memory:", &error);

  g_assert_no_error (error);
  return store;
}

static void
count_signal (gpointer  instance,
              guint    *counter)
{
  (*counter)++;
}

static void
assert_strv (const char * const *actual,
             const char         *first,
             ...)
{
  g_autoptr(GPtrArray) expected = g_ptr_array_new ();
  va_list args;

  va_start (args, first);
  for (const char *s = first; s != NULL; s = va_arg (args, const char *))
    g_ptr_array_add (expected, (gpointer) s);
  va_end (args);
  g_ptr_array_add (expected, NULL);

  g_assert_nonnull (actual);
  g_assert_cmpstrv (actual, (const char * const *) expected->pdata);
}

/* Bob's view of the transcript: invited, joins, reads, types, falls behind. */
static void
replay_bob (OmRoom *room)
{
  OmTimeline *timeline = om_room_get_timeline (room);
  guint n_members = 0, n_receipts = 0;
  g_autofree char *name = NULL;
  g_auto(GStrv) joined = NULL;

  g_signal_connect (room, "members-changed", G_CALLBACK (count_signal), &n_members);
  g_signal_connect (room, "receipts-changed", G_CALLBACK (count_signal), &n_receipts);

  /* 3: the invite, as stripped state. */
  apply (room, OM_MEMBERSHIP_INVITE, transcript_room (3, "invite"));
  g_assert_cmpint (om_room_get_membership (room), ==, OM_MEMBERSHIP_INVITE);
  g_assert_cmpstr (om_room_get_display_name (room), ==, "OpenMeet Sync Test");
  g_assert_cmpstr (om_room_get_topic (room), ==, "Transcript capture room");
  g_assert_cmpstr (om_room_get_inviter (room), ==, ALICE);
  g_assert_false (om_room_get_is_direct (room));
  g_assert_cmpuint (om_room_get_joined_member_count (room), ==, 1);
  g_assert_cmpuint (om_room_get_invited_member_count (room), ==, 1);
  g_assert_cmpint (om_room_get_member_membership (room, BOB), ==, OM_MEMBERSHIP_INVITE);
  g_assert_cmpint (om_room_get_last_activity (room), ==, 1795611811458);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 0);
  g_assert_cmpuint (n_members, ==, 1);

  /* 6: joined; the whole history is in the timeline. */
  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (6, "join"));
  g_assert_cmpint (om_room_get_membership (room), ==, OM_MEMBERSHIP_JOIN);
  g_assert_null (om_room_get_inviter (room));
  g_assert_cmpstr (om_room_get_display_name (room), ==, "OpenMeet Sync Test");
  g_assert_cmpuint (om_room_get_joined_member_count (room), ==, 2);
  g_assert_cmpuint (om_room_get_invited_member_count (room), ==, 0);
  g_assert_cmpint (om_room_get_member_power_level (room, ALICE), ==, 100);
  g_assert_cmpint (om_room_get_member_power_level (room, BOB), ==, 0);
  joined = om_room_dup_member_ids (room, OM_MEMBERSHIP_JOIN);
  assert_strv ((const char * const *) joined, ALICE, BOB, NULL);
  name = om_room_dup_member_display_name (room, ALICE);
  g_assert_cmpstr (name, ==, "Alice");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 10);
  g_assert_cmpint (om_room_get_last_activity (room), ==, 1795611811508);
  g_assert_cmpstr (om_timeline_get_prev_batch (timeline), ==, "s11_2_0_1_1_1_1_11_0_1");
  /* The timeline starts at m.room.create: nothing older to load. */
  g_assert_false (om_timeline_get_can_load_older (timeline));
  g_assert_false (om_room_get_is_space (room));
  g_assert_false (om_room_get_is_encrypted (room));

  /* 12: three messages; 18: a fourth (the retry from another device). */
  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (12, "join"));
  g_assert_cmpuint (om_room_get_unread_count (room), ==, 2);
  g_assert_cmpuint (om_room_get_highlight_count (room), ==, 1);
  g_assert_cmpint (om_room_get_last_activity (room), ==, 1795611811620);
  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (18, "join"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 14);
  g_assert_cmpuint (om_room_get_unread_count (room), ==, 3);
  g_assert_cmpuint (om_room_get_highlight_count (room), ==, 2);
  /* The summary was empty since: the counts stay. */
  g_assert_cmpuint (om_room_get_joined_member_count (room), ==, 2);

  /* 21/23: typing on and off. */
  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (21, "join"));
  assert_strv (om_room_get_typing_user_ids (room), ALICE, NULL);
  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (23, "join"));
  assert_strv (om_room_get_typing_user_ids (room), NULL);

  /* 27: our own receipt and read marker. */
  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (27, "join"));
  g_assert_cmpstr (om_room_get_fully_read (room), ==, "$-2pTPi5UbXNFcyOePlNF5gJWprYO0CxApoNwd3BRPqg");
  g_assert_cmpstr (om_room_get_receipt_event_id (room, BOB), ==,
                   "$-2pTPi5UbXNFcyOePlNF5gJWprYO0CxApoNwd3BRPqg");
  g_assert_cmpuint (n_receipts, ==, 1);
  g_assert_cmpuint (om_room_get_unread_count (room), ==, 1);

  /* 35: 30 messages, limited: the loaded timeline starts over. */
  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (35, "join"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 10);
  g_assert_cmpstr (om_timeline_get_prev_batch (timeline), ==, "s35_4_2_3_2_1_1_13_0_1");
  g_assert_true (om_timeline_get_can_load_older (timeline));
  g_assert_cmpint (om_room_get_last_activity (room), ==, 1795611822605);
  g_assert_cmpuint (om_room_get_unread_count (room), ==, 31);
  /* State from before the gap is still current. */
  g_assert_cmpstr (om_room_get_topic (room), ==, "Transcript capture room");
  g_assert_cmpint (om_room_get_member_power_level (room, ALICE), ==, 100);

  g_signal_handlers_disconnect_by_func (room, count_signal, &n_members);
  g_signal_handlers_disconnect_by_func (room, count_signal, &n_receipts);
}

static void
test_transcript_bob (void)
{
  g_autoptr(OmStore) store = new_store ();
  g_autoptr(OmRoom) room = om_room_new (NULL, ROOM_ID, BOB, store, NULL);

  replay_bob (room);
}

/* Alice's view: her own messages come back with their transaction IDs and
 * replace the local echoes; Bob's receipt shows as "seen by". */
static void
test_transcript_alice (void)
{
  g_autoptr(OmStore) store = new_store ();
  g_autoptr(OmRoom) room = om_room_new (NULL, ROOM_ID, ALICE, store, NULL);
  OmTimeline *timeline = om_room_get_timeline (room);
  g_autoptr(JsonObject) content = json_object_new ();
  g_autoptr(OmEvent) echo = NULL;
  g_auto(GStrv) seen = NULL;
  guint n_receipts = 0;

  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (8, "join"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 10);
  g_assert_cmpint (om_room_get_member_power_level (room, ALICE), ==, 100);

  json_object_set_string_member (content, "msgtype", "m.text");
  json_object_set_string_member (content, "body", "Hello Bob");
  echo = om_event_new_local (ROOM_ID, "m1795611811573.0", ALICE, "m.room.message", content);
  om_timeline_add_local_echo (timeline, echo);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 11);

  g_signal_connect (room, "receipts-changed", G_CALLBACK (count_signal), &n_receipts);
  apply (room, OM_MEMBERSHIP_JOIN, transcript_room (26, "join"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 14);
  g_assert_cmpint (om_timeline_find_position (timeline, "$ed8aefA1wZ2KV-WR8CHKG2ISDgprA60u_kA1tzy-O3w"),
                   ==, 10);
  g_assert_true (om_timeline_find_event (timeline, "$ed8aefA1wZ2KV-WR8CHKG2ISDgprA60u_kA1tzy-O3w")
                 == echo);
  g_assert_cmpint (om_event_get_send_state (echo), ==, OM_SEND_STATE_SENT);
  g_assert_null (om_timeline_find_local_echo (timeline, "m1795611811573.0"));

  g_assert_cmpuint (n_receipts, ==, 1);
  seen = om_room_dup_receipt_user_ids (room, "$-2pTPi5UbXNFcyOePlNF5gJWprYO0CxApoNwd3BRPqg");
  assert_strv ((const char * const *) seen, BOB, NULL);
  assert_strv (om_room_get_typing_user_ids (room), NULL);
}

/* Everything a restart needs comes back from the store. */
static void
test_persist_restore (void)
{
  g_autoptr(OmStore) store = new_store ();
  g_autoptr(OmRoom) room = om_room_new (NULL, ROOM_ID, BOB, store, NULL);
  g_autoptr(OmRoom) restored = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GError) error = NULL;
  OmTimeline *a, *b;
  const char *props[] = {
    "room-id", "membership", "display-name", "topic", "canonical-alias", "avatar-url",
    "is-direct", "is-space", "is-encrypted", "joined-member-count", "invited-member-count",
    "unread-count", "highlight-count", "last-activity", "inviter", "fully-read",
  };

  replay_bob (room);
  om_room_set_is_direct (room, TRUE);

  records = om_store_load_rooms (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);

  restored = om_room_new_from_store (NULL, g_ptr_array_index (records, 0), BOB, store, NULL,
                                     &error);
  g_assert_no_error (error);
  g_assert_nonnull (restored);

  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    {
      g_auto(GValue) va = G_VALUE_INIT;
      g_auto(GValue) vb = G_VALUE_INIT;

      g_object_get_property (G_OBJECT (room), props[i], &va);
      g_object_get_property (G_OBJECT (restored), props[i], &vb);
      if (g_test_verbose ())
        g_test_message ("%s", props[i]);
      g_assert_cmpint (g_param_values_cmp (g_object_class_find_property (
                                             G_OBJECT_GET_CLASS (room), props[i]), &va, &vb),
                       ==, 0);
    }
  g_assert_true (om_room_get_is_direct (restored));
  g_assert_cmpint (om_room_get_member_power_level (restored, ALICE), ==, 100);
  g_assert_cmpstr (om_room_get_receipt_event_id (restored, BOB), ==,
                   "$-2pTPi5UbXNFcyOePlNF5gJWprYO0CxApoNwd3BRPqg");
  assert_strv (om_room_get_typing_user_ids (restored), NULL);

  a = om_room_get_timeline (room);
  b = om_room_get_timeline (restored);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (a)), ==,
                    g_list_model_get_n_items (G_LIST_MODEL (b)));
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (a)); i++)
    {
      g_autoptr(OmEvent) ea = g_list_model_get_item (G_LIST_MODEL (a), i);
      g_autoptr(OmEvent) eb = g_list_model_get_item (G_LIST_MODEL (b), i);

      g_assert_cmpstr (om_event_get_event_id (ea), ==, om_event_get_event_id (eb));
    }
  g_assert_cmpstr (om_timeline_get_prev_batch (b), ==, "s35_4_2_3_2_1_1_13_0_1");
  g_assert_true (om_timeline_get_can_load_older (b));

  g_assert_finalize_object (g_steal_pointer (&restored));

  /* A record kept before rooms kept their summary: the state is read at
   * once and the room shows the same. */
  {
    OmStoreRoom *record = g_ptr_array_index (records, 0);
    g_autoptr(JsonNode) data = json_from_string (record->data_json, NULL);

    g_assert_true (json_object_has_member (json_node_get_object (data), "derived"));
    json_object_remove_member (json_node_get_object (data), "derived");
    g_free (record->data_json);
    record->data_json = json_to_string (data, FALSE);
    restored = om_room_new_from_store (NULL, record, BOB, store, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (om_room_get_display_name (restored), ==, om_room_get_display_name (room));
    g_assert_cmpint (om_room_get_last_activity (restored), ==, om_room_get_last_activity (room));
    g_assert_cmpuint (om_room_get_joined_member_count (restored), ==,
                      om_room_get_joined_member_count (room));
    g_assert_finalize_object (g_steal_pointer (&restored));
  }
}

/* A restored invite shows the same as before the restart. */
static void
test_persist_invite (void)
{
  g_autoptr(OmStore) store = new_store ();
  g_autoptr(OmRoom) room = om_room_new (NULL, ROOM_ID, BOB, store, NULL);
  g_autoptr(OmRoom) restored = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GError) error = NULL;

  apply (room, OM_MEMBERSHIP_INVITE, transcript_room (3, "invite"));
  records = om_store_load_rooms (store, &error);
  g_assert_no_error (error);
  restored = om_room_new_from_store (NULL, g_ptr_array_index (records, 0), BOB, store, NULL,
                                     &error);
  g_assert_no_error (error);
  g_assert_cmpint (om_room_get_membership (restored), ==, OM_MEMBERSHIP_INVITE);
  g_assert_cmpstr (om_room_get_inviter (restored), ==, ALICE);
  g_assert_cmpstr (om_room_get_display_name (restored), ==, "OpenMeet Sync Test");
  g_assert_cmpint (om_room_get_last_activity (restored), ==, om_room_get_last_activity (room));
}

static void
test_space (void)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root = load_json_file (NULL, "rooms-spaces.json", &parser);
  JsonObject *exchange = json_array_get_object_element (json_node_get_array (root), 4);
  g_autoptr(JsonObject) room_json = json_object_new ();
  JsonObject *state = json_object_new ();
  g_autoptr(OmRoom) room = om_room_new (NULL, "!VLpOSxWFIODpySTFyz:matrix.openmeet.test",
                                        "@bob:matrix.openmeet.test", NULL, NULL);

  json_object_set_member (state, "events",
                          json_node_copy (json_object_get_member (exchange, "response_body")));
  json_object_set_object_member (room_json, "state", state);
  apply (room, OM_MEMBERSHIP_JOIN, room_json);

  g_assert_true (om_room_get_is_space (room));
  g_assert_cmpstr (om_room_get_display_name (room), ==, "Acme Tenant");
  g_assert_cmpstr (om_room_get_canonical_alias (room), ==, "#acme-tenant:matrix.openmeet.test");
  g_assert_nonnull (om_room_get_state_event (room, "net.openmeet.tenant", ""));
}

/* Room names: the spec's algorithm, case by case. */

typedef struct {
  const char *name;
  const char *state;     /* comma-separated state events (JSON) */
  const char *summary;   /* JSON object or NULL */
  const char *expected;
} NameCase;

#define EV(type, key, content) \
  "{\"type\":\"" type "\",\"state_key\":\"" key "\",\"sender\":\"@a:x\"," \
  "\"event_id\":\"$" type key "\",\"origin_server_ts\":1,\"content\":" content "}"
#define MEMBER(id, name, m) \
  EV ("m.room.member", id, "{\"membership\":\"" m "\",\"displayname\":\"" name "\"}")
#define ME MEMBER ("@me:x", "Me", "join")

static const NameCase name_cases[] = {
  { "name", ME "," EV ("m.room.name", "", "{\"name\":\"Lobby\"}") ","
            EV ("m.room.canonical_alias", "", "{\"alias\":\"#lobby:x\"}"), NULL, "Lobby" },
  { "name-control-chars", ME "," EV ("m.room.name", "", "{\"name\":\"Lo\\u0007b\\nby\\u202e\"}"),
    NULL, "Lobby" },
  { "empty-name-alias", ME "," EV ("m.room.name", "", "{\"name\":\"\"}") ","
                        EV ("m.room.canonical_alias", "", "{\"alias\":\"#lobby:x\"}"),
    NULL, "#lobby:x" },
  { "alias", ME "," EV ("m.room.canonical_alias", "", "{\"alias\":\"#lobby:x\"}"), NULL,
    "#lobby:x" },
  { "invalid-alias", ME "," EV ("m.room.canonical_alias", "", "{\"alias\":\"lobby\"}") ","
                     MEMBER ("@a:x", "Alice", "join"), NULL, "Alice" },
  { "one-hero", ME "," MEMBER ("@a:x", "Alice", "join"),
    "{\"m.heroes\":[\"@a:x\"],\"m.joined_member_count\":2}", "Alice" },
  { "two-heroes", ME "," MEMBER ("@a:x", "Alice", "join") "," MEMBER ("@b:x", "Bob", "invite"),
    "{\"m.heroes\":[\"@a:x\",\"@b:x\"],\"m.joined_member_count\":2,"
    "\"m.invited_member_count\":1}", "Alice and Bob" },
  { "three-heroes", ME "," MEMBER ("@a:x", "Alice", "join") "," MEMBER ("@b:x", "Bob", "join") ","
                    MEMBER ("@c:x", "Carol", "join"),
    "{\"m.heroes\":[\"@a:x\",\"@b:x\",\"@c:x\"],\"m.joined_member_count\":4}",
    "Alice, Bob, and Carol" },
  { "hero-order-kept", ME "," MEMBER ("@a:x", "Alice", "join") "," MEMBER ("@b:x", "Bob", "join"),
    "{\"m.heroes\":[\"@b:x\",\"@a:x\"],\"m.joined_member_count\":3}", "Bob and Alice" },
  { "one-other", ME "," MEMBER ("@a:x", "Alice", "join"),
    "{\"m.heroes\":[\"@a:x\"],\"m.joined_member_count\":3}", "Alice and 1 other" },
  { "many-others", ME "," MEMBER ("@a:x", "Alice", "join") "," MEMBER ("@b:x", "Bob", "join"),
    "{\"m.heroes\":[\"@a:x\",\"@b:x\"],\"m.joined_member_count\":1000,"
    "\"m.invited_member_count\":237}", "Alice, Bob, and 1234 others" },
  { "hero-without-member", ME, "{\"m.heroes\":[\"@z:x\"],\"m.joined_member_count\":2}", "@z:x" },
  { "heroes-exclude-me", ME "," MEMBER ("@a:x", "Alice", "join"),
    "{\"m.heroes\":[\"@me:x\",\"@a:x\"],\"m.joined_member_count\":2}", "Alice" },
  { "heroes-disambiguated", ME "," MEMBER ("@a1:x", "Alice", "join") ","
                            MEMBER ("@a2:x", "Alice", "join"),
    "{\"m.heroes\":[\"@a1:x\",\"@a2:x\"],\"m.joined_member_count\":3}",
    "Alice (@a1:x) and Alice (@a2:x)" },
  { "five-heroes-max", ME "," MEMBER ("@a:x", "A", "join") "," MEMBER ("@b:x", "B", "join") ","
                       MEMBER ("@c:x", "C", "join") "," MEMBER ("@d:x", "D", "join") ","
                       MEMBER ("@e:x", "E", "join") "," MEMBER ("@f:x", "F", "join"),
    "{\"m.heroes\":[\"@a:x\",\"@b:x\",\"@c:x\",\"@d:x\",\"@e:x\",\"@f:x\"],"
    "\"m.joined_member_count\":7}", "A, B, C, D, E, and 1 other" },
  { "members-without-summary", ME "," MEMBER ("@b:x", "Bob", "join") ","
                               MEMBER ("@a:x", "Alice", "invite") ","
                               MEMBER ("@c:x", "Carol", "leave"),
    NULL, "Alice and Bob" },
  { "empty", ME, NULL, "Empty Room" },
  { "empty-summary", ME, "{\"m.heroes\":[],\"m.joined_member_count\":1}", "Empty Room" },
  { "empty-was", ME "," MEMBER ("@a:x", "Alice", "leave"),
    "{\"m.heroes\":[\"@a:x\"],\"m.joined_member_count\":1,\"m.invited_member_count\":0}",
    "Empty Room (was Alice)" },
  { "empty-was-left-members", ME "," MEMBER ("@a:x", "Alice", "leave") ","
                              MEMBER ("@b:x", "Bob", "ban"),
    NULL, "Empty Room (was Alice and Bob)" },
  { "empty-was-others", ME "," MEMBER ("@a:x", "A", "leave"),
    "{\"m.heroes\":[\"@a:x\",\"@b:x\",\"@c:x\",\"@d:x\",\"@e:x\",\"@f:x\",\"@g:x\"],"
    "\"m.joined_member_count\":1}", "Empty Room (was A, @b:x, @c:x, @d:x, @e:x, and 2 others)" },
  { "no-heroes-known", ME, "{\"m.joined_member_count\":3}", "2 people" },
  { "invalid-heroes-ignored", ME "," MEMBER ("@a:x", "Alice", "join"),
    "{\"m.heroes\":[\"@evil\\n:x\",\"nobody\",\"@a:x\"],\"m.joined_member_count\":2}",
    "Alice" },
};

static OmRoom *
room_from_state (const char *state,
                 const char *summary)
{
  OmRoom *room = om_room_new (NULL, "!n:x", "@me:x", NULL, NULL);
  g_autofree char *json = g_strdup_printf ("{\"state\":{\"events\":[%s]},\"summary\":%s}",
                                           state, summary != NULL ? summary : "{}");

  apply_string (room, OM_MEMBERSHIP_JOIN, json);
  return room;
}

static void
test_name (gconstpointer data)
{
  const NameCase *c = data;
  g_autoptr(OmRoom) room = room_from_state (c->state, c->summary);

  g_assert_cmpstr (om_room_get_display_name (room), ==, c->expected);
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              guint      *counter)
{
  (*counter)++;
}

static void
test_disambiguation (void)
{
  g_autoptr(OmRoom) room = NULL;
  guint n_name = 0;
  const struct {
    const char *user_id;
    const char *expected;
  } cases[] = {
    { "@a:x", "Alice (@a:x)" },
    { "@b:x", "Alice (@b:x)" },
    { "@c:x", "Carol" },
    { "@d:x", "Alice (@d:x)" },          /* left, named like joined members */
    { "@e:x", "@bob:x (@e:x)" },         /* looks like a user ID */
    { "@f:x", "Eve" },                   /* bidi override and newline stripped */
    { "@g:x", "@g:x" },                  /* no display name */
    { "@h:x", "@h:x" },                  /* only control characters */
    { "@nobody:x", "@nobody:x" },        /* no member event */
  };

  room = room_from_state (ME "," MEMBER ("@a:x", "Alice", "join") ","
                          MEMBER ("@b:x", "Alice", "invite") ","
                          MEMBER ("@c:x", "Carol", "join") ","
                          MEMBER ("@d:x", "Alice", "leave") ","
                          MEMBER ("@e:x", "@bob:x", "join") ","
                          MEMBER ("@f:x", "\\u202eEve\\n", "join") ","
                          EV ("m.room.member", "@g:x", "{\"membership\":\"join\"}") ","
                          MEMBER ("@h:x", "\\u0001\\u0002", "join"),
                          "{\"m.joined_member_count\":7,\"m.invited_member_count\":1,"
                          "\"m.heroes\":[\"@a:x\"]}");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = om_room_dup_member_display_name (room, cases[i].user_id);

      g_assert_cmpstr (name, ==, cases[i].expected);
    }

  /* One Alice renames herself: the other is unique again, and the room
   * name (built from the hero @a:x) follows. */
  g_signal_connect (room, "notify::display-name", G_CALLBACK (count_notify), &n_name);
  g_assert_cmpstr (om_room_get_display_name (room), ==, "Alice (@a:x) and 6 others");
  apply_string (room, OM_MEMBERSHIP_JOIN,
                "{\"state\":{\"events\":[" MEMBER ("@b:x", "Bobby", "invite") "]}}");
  {
    g_autofree char *a = om_room_dup_member_display_name (room, "@a:x");
    g_autofree char *d = om_room_dup_member_display_name (room, "@d:x");

    g_assert_cmpstr (a, ==, "Alice");
    g_assert_cmpstr (d, ==, "Alice (@d:x)");
  }
  g_assert_cmpstr (om_room_get_display_name (room), ==, "Alice and 6 others");
  g_assert_cmpuint (n_name, ==, 1);
}

static void
test_power_levels (void)
{
  g_autoptr(OmRoom) plain = NULL;
  g_autoptr(OmRoom) v11 = NULL;
  g_autoptr(OmRoom) levels = NULL;

  /* No m.room.power_levels: the creator has 100. */
  plain = room_from_state (ME "," EV ("m.room.create", "", "{\"creator\":\"@c:x\"}"), NULL);
  g_assert_cmpint (om_room_get_member_power_level (plain, "@c:x"), ==, 100);
  g_assert_cmpint (om_room_get_member_power_level (plain, "@me:x"), ==, 0);

  /* Room version 11: no `creator`, the sender created the room. */
  v11 = room_from_state (ME "," EV ("m.room.create", "", "{\"room_version\":\"11\"}"), NULL);
  g_assert_cmpint (om_room_get_member_power_level (v11, "@a:x"), ==, 100);

  levels = room_from_state (ME "," EV ("m.room.create", "", "{\"creator\":\"@c:x\"}") ","
                            EV ("m.room.power_levels", "",
                                "{\"users\":{\"@a:x\":50,\"@s:x\":\"75\",\"@bad:x\":[1]},"
                                "\"users_default\":10}"), NULL);
  g_assert_cmpint (om_room_get_member_power_level (levels, "@a:x"), ==, 50);
  g_assert_cmpint (om_room_get_member_power_level (levels, "@s:x"), ==, 75);
  g_assert_cmpint (om_room_get_member_power_level (levels, "@bad:x"), ==, 10);
  g_assert_cmpint (om_room_get_member_power_level (levels, "@c:x"), ==, 10);
  g_assert_cmpint (om_room_get_member_power_level (levels, "@other:x"), ==, 10);
}

static void
test_invite_direct (void)
{
  g_autoptr(OmRoom) room = om_room_new (NULL, "!dm:x", "@me:x", NULL, NULL);

  apply_string (room, OM_MEMBERSHIP_INVITE,
                "{\"invite_state\":{\"events\":["
                "{\"type\":\"m.room.member\",\"state_key\":\"@a:x\",\"sender\":\"@a:x\","
                " \"content\":{\"membership\":\"join\",\"displayname\":\"Alice\"}},"
                "{\"type\":\"m.room.member\",\"state_key\":\"@me:x\",\"sender\":\"@a:x\","
                " \"content\":{\"membership\":\"invite\",\"is_direct\":true}}]}}");
  g_assert_true (om_room_get_is_direct (room));
  g_assert_cmpstr (om_room_get_inviter (room), ==, "@a:x");
  g_assert_cmpstr (om_room_get_display_name (room), ==, "Alice");
  g_assert_cmpint (om_room_get_last_activity (room), ==, 0);

  /* m.direct has the last word. */
  om_room_set_is_direct (room, FALSE);
  g_assert_false (om_room_get_is_direct (room));

  /* Leaving: no longer invited, listed as left. */
  apply_string (room, OM_MEMBERSHIP_LEAVE,
                "{\"timeline\":{\"events\":["
                "{\"type\":\"m.room.member\",\"state_key\":\"@me:x\",\"sender\":\"@me:x\","
                " \"event_id\":\"$l\",\"origin_server_ts\":5,\"content\":{\"membership\":\"leave\"}}"
                "],\"limited\":false}}");
  g_assert_cmpint (om_room_get_membership (room), ==, OM_MEMBERSHIP_LEAVE);
  g_assert_null (om_room_get_inviter (room));
  g_assert_cmpint (om_room_get_last_activity (room), ==, 5);
}

static void
count_warning (const char     *log_domain,
               GLogLevelFlags  log_level,
               const char     *message,
               gpointer        user_data)
{
  (*(guint *) user_data)++;
}

/* The expected warnings are counted, not fatal. */
static gboolean
warning_not_fatal (const char     *log_domain,
                   GLogLevelFlags  log_level,
                   const char     *message,
                   gpointer        user_data)
{
  return !((log_level & G_LOG_LEVEL_WARNING) && g_strcmp0 (log_domain, "om-room") == 0);
}

/* Bad input loses nothing: the malformed parts are skipped, the rest applied. */
static void
test_malformed (void)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *root = load_json_file ("sync", "malformed-room.json", &parser);
  g_autoptr(OmStore) store = new_store ();
  g_autoptr(OmRoom) room = om_room_new (NULL, "!bad:x", "@me:x", store, NULL);
  OmTimeline *timeline = om_room_get_timeline (room);
  guint n_warnings = 0;

  guint handler;

  handler = g_log_set_handler ("om-room", G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL,
                               count_warning, &n_warnings);
  g_test_log_set_fatal_handler (warning_not_fatal, NULL);
  apply (room, OM_MEMBERSHIP_JOIN, json_node_get_object (root));
  g_test_log_set_fatal_handler (NULL, NULL);
  g_log_remove_handler ("om-room", handler);

  g_assert_cmpuint (n_warnings, ==, 14);
  g_assert_cmpstr (om_room_get_display_name (room), ==, "Still named");
  g_assert_cmpstr (om_room_get_topic (room), ==, "Still has a topic");
  g_assert_cmpint (om_room_get_member_membership (room, "@a:x"), ==, OM_MEMBERSHIP_JOIN);
  g_assert_cmpint (om_room_get_member_membership (room, "not-a-user"), ==, OM_MEMBERSHIP_NONE);
  g_assert_cmpint (om_room_get_member_membership (room, "@weird:x"), ==, OM_MEMBERSHIP_NONE);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 2);
  assert_strv (om_room_get_typing_user_ids (room), "@a:x", NULL);
  g_assert_cmpstr (om_room_get_receipt_event_id (room, "@a:x"), ==, "$good1");
  g_assert_cmpstr (om_room_get_receipt_event_id (room, "@unknown-event:x"), ==, "$not-loaded");
  g_assert_cmpstr (om_room_get_fully_read (room), ==, "$good1");
  g_assert_cmpuint (om_room_get_unread_count (room), ==, 0);
  g_assert_cmpuint (om_room_get_highlight_count (room), ==, 4);
  g_assert_cmpuint (om_room_get_joined_member_count (room), ==, 2);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(JsonParser) parser = NULL;

  g_test_init (&argc, &argv, NULL);

  load_json_file (NULL, "sync-initial-and-incremental.json", &parser);
  sync_transcript = parser;

  g_test_add_func ("/room/transcript/bob", test_transcript_bob);
  g_test_add_func ("/room/transcript/alice", test_transcript_alice);
  g_test_add_func ("/room/persist/restore", test_persist_restore);
  g_test_add_func ("/room/persist/invite", test_persist_invite);
  g_test_add_func ("/room/space", test_space);
  for (guint i = 0; i < G_N_ELEMENTS (name_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/room/name/%s", name_cases[i].name);
      g_test_add_data_func (path, &name_cases[i], test_name);
    }
  g_test_add_func ("/room/disambiguation", test_disambiguation);
  g_test_add_func ("/room/power-levels", test_power_levels);
  g_test_add_func ("/room/invite-direct", test_invite_direct);
  g_test_add_func ("/room/malformed", test_malformed);

  return g_test_run ();
}
