/* test-room-list.c — OmRoomList: order, moves, invites, leaving
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <json-glib/json-glib.h>

#include "om-room-private.h"

#define ME "@me:x"

typedef struct {
  guint position;
  guint removed;
  guint added;
} Change;

static void
on_items_changed (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  GArray     *changes)
{
  Change change = { position, removed, added };

  g_array_append_val (changes, change);
}

static void
apply_string (OmRoom       *room,
              OmMembership  membership,
              const char   *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  OmStore *store = om_room_get_store (room);

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_room_apply_sync (room, membership,
                                     json_node_get_object (json_parser_get_root (parser)), &error));
  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);
}

/* A joined room whose newest message is at @ts. */
static OmRoom *
joined_room (OmStore    *store,
             const char *room_id,
             gint64      ts)
{
  OmRoom *room = om_room_new (NULL, room_id, ME, store, NULL);
  g_autofree char *json = g_strdup_printf (
    "{\"state\":{\"events\":[{\"type\":\"m.room.canonical_alias\",\"state_key\":\"\","
    "\"sender\":\"@a:x\",\"event_id\":\"$alias%s\",\"origin_server_ts\":1,"
    "\"content\":{\"alias\":\"#%s:x\"}}]},"
    "\"timeline\":{\"events\":[{\"type\":\"m.room.message\",\"sender\":\"@a:x\","
    "\"event_id\":\"$%s%" G_GINT64_FORMAT "\",\"origin_server_ts\":%" G_GINT64_FORMAT ","
    "\"content\":{\"msgtype\":\"m.text\",\"body\":\"hi\"}}],\"limited\":false}}",
    room_id + 1, room_id + 1, room_id + 1, ts, ts);

  apply_string (room, OM_MEMBERSHIP_JOIN, json);
  return room;
}

static void
new_message (OmRoom *room,
             gint64  ts)
{
  g_autofree char *json = g_strdup_printf (
    "{\"timeline\":{\"events\":[{\"type\":\"m.room.message\",\"sender\":\"@a:x\","
    "\"event_id\":\"$%s%" G_GINT64_FORMAT "\",\"origin_server_ts\":%" G_GINT64_FORMAT ","
    "\"content\":{\"msgtype\":\"m.text\",\"body\":\"new\"}}],\"limited\":false}}",
    om_room_get_room_id (room) + 1, ts, ts);

  apply_string (room, OM_MEMBERSHIP_JOIN, json);
}

/* The listed room IDs, comma-separated. */
static char *
order (OmRoomList *list)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (list)); i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (G_LIST_MODEL (list), i);

      g_string_append_printf (s, "%s%s", i > 0 ? "," : "", om_room_get_room_id (room));
    }

  return g_string_free (s, FALSE);
}

#define assert_order(list, expected)                 \
  G_STMT_START {                                     \
    g_autofree char *_o = order (list);              \
    g_assert_cmpstr (_o, ==, expected);              \
  } G_STMT_END

static void
test_order_and_moves (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = om_store_open (":memory:", &error);
  g_autoptr(OmRoomList) list = om_room_list_new ();
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (Change));
  g_autoptr(OmRoom) a = NULL;
  g_autoptr(OmRoom) b = NULL;
  g_autoptr(OmRoom) c = NULL;
  g_autoptr(OmRoom) d = NULL;
  g_autoptr(OmRoom) invite = NULL;
  Change *ch;

  g_assert_no_error (error);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (list)) == OM_TYPE_ROOM);

  a = joined_room (store, "!a", 100);
  b = joined_room (store, "!b", 300);
  c = joined_room (store, "!c", 200);
  d = joined_room (store, "!d", 200);   /* same activity as !c: by room ID */
  om_room_list_add (list, a);
  om_room_list_add (list, b);
  om_room_list_add (list, c);
  om_room_list_add (list, d);
  om_room_list_add (list, d);           /* twice is once */
  assert_order (list, "!b,!c,!d,!a");

  g_signal_connect (list, "items-changed", G_CALLBACK (on_items_changed), changes);

  /* New activity in !a: to the top, one items-changed. */
  new_message (a, 400);
  assert_order (list, "!a,!b,!c,!d");
  g_assert_cmpuint (changes->len, ==, 1);
  ch = &g_array_index (changes, Change, 0);
  g_assert_cmpuint (ch->position, ==, 0);
  g_assert_cmpuint (ch->removed, ==, 4);
  g_assert_cmpuint (ch->added, ==, 4);

  /* New activity in the top room: no move, no signal. */
  new_message (a, 500);
  g_assert_cmpuint (changes->len, ==, 1);

  /* !d overtakes !c only. */
  new_message (d, 250);
  assert_order (list, "!a,!b,!d,!c");
  g_assert_cmpuint (changes->len, ==, 2);
  ch = &g_array_index (changes, Change, 1);
  g_assert_cmpuint (ch->position, ==, 2);
  g_assert_cmpuint (ch->removed, ==, 2);
  g_assert_cmpuint (ch->added, ==, 2);

  /* An invite goes first, even though it is older. */
  invite = om_room_new (NULL, "!inv", ME, store, NULL);
  apply_string (invite, OM_MEMBERSHIP_INVITE,
                "{\"invite_state\":{\"events\":[{\"type\":\"m.room.member\","
                "\"state_key\":\"@me:x\",\"sender\":\"@a:x\",\"event_id\":\"$i\","
                "\"origin_server_ts\":50,\"content\":{\"membership\":\"invite\"}}]}}");
  om_room_list_add (list, invite);
  assert_order (list, "!inv,!a,!b,!d,!c");
  ch = &g_array_index (changes, Change, 2);
  g_assert_cmpuint (ch->position, ==, 0);
  g_assert_cmpuint (ch->removed, ==, 0);
  g_assert_cmpuint (ch->added, ==, 1);

  /* Accepting the invite: it moves among the joined rooms by activity. */
  apply_string (invite, OM_MEMBERSHIP_JOIN,
                "{\"timeline\":{\"events\":[{\"type\":\"m.room.member\",\"state_key\":\"@me:x\","
                "\"sender\":\"@me:x\",\"event_id\":\"$j\",\"origin_server_ts\":260,"
                "\"content\":{\"membership\":\"join\"}}],\"limited\":false}}");
  assert_order (list, "!a,!b,!inv,!d,!c");

  /* Leaving: not listed, still found by lookup. */
  g_array_set_size (changes, 0);
  apply_string (b, OM_MEMBERSHIP_LEAVE,
                "{\"timeline\":{\"events\":[{\"type\":\"m.room.member\",\"state_key\":\"@me:x\","
                "\"sender\":\"@me:x\",\"event_id\":\"$l\",\"origin_server_ts\":600,"
                "\"content\":{\"membership\":\"leave\"}}],\"limited\":false}}");
  assert_order (list, "!a,!inv,!d,!c");
  g_assert_cmpuint (changes->len, ==, 1);
  ch = &g_array_index (changes, Change, 0);
  g_assert_cmpuint (ch->position, ==, 1);
  g_assert_cmpuint (ch->removed, ==, 1);
  g_assert_cmpuint (ch->added, ==, 0);
  g_assert_true (om_room_list_lookup (list, "!b") == b);
  g_assert_null (om_room_list_lookup_alias (list, "#b:x"));
  g_assert_true (om_room_list_lookup_alias (list, "#c:x") == c);
  g_assert_null (om_room_list_lookup (list, "!nope"));

  /* Rejoining lists it again. */
  apply_string (b, OM_MEMBERSHIP_JOIN, "{}");
  assert_order (list, "!b,!a,!inv,!d,!c");

  om_room_list_remove (list, "!d");
  assert_order (list, "!b,!a,!inv,!c");
  g_assert_null (om_room_list_lookup (list, "!d"));
  /* A removed room no longer moves the list. */
  g_array_set_size (changes, 0);
  new_message (d, 900);
  g_assert_cmpuint (changes->len, ==, 0);

  g_signal_handlers_disconnect_by_data (list, changes);
  g_assert_finalize_object (g_steal_pointer (&list));
}

static void
test_many_rooms (void)
{
  g_autoptr(OmRoomList) list = om_room_list_new ();
  g_autoptr(GPtrArray) rooms = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = om_store_open (":memory:", &error);
  gint64 previous = G_MAXINT64;

  g_assert_no_error (error);
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *id = g_strdup_printf ("!r%03u", i);
      OmRoom *room = joined_room (store, id, (i * 7919) % 1000);

      g_ptr_array_add (rooms, room);
      om_room_list_add (list, room);
    }
  for (guint i = 0; i < 200; i += 3)
    new_message (g_ptr_array_index (rooms, i), 1000 + (i * 31) % 500);

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 200);
  for (guint i = 0; i < 200; i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (G_LIST_MODEL (list), i);
      gint64 activity = om_room_get_last_activity (room);

      g_assert_cmpint (activity, <=, previous);
      previous = activity;
      g_assert_true (om_room_list_lookup (list, om_room_get_room_id (room)) == room);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/room-list/order-and-moves", test_order_and_moves);
  g_test_add_func ("/room-list/many-rooms", test_many_rooms);

  return g_test_run ();
}
