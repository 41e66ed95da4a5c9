/* test-store.c — the local store: persistence, schema versions, migrations,
 * timeline order, outbox, nested transactions, crash safety, speed
 *
 * Every store lives in a fresh directory under one g_dir_make_tmp directory,
 * removed when the tests end.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "test-store"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "om-error.h"
#include "om-store.h"

#define ROOM_A "!a:example.org"
#define ROOM_B "!b:example.org"

static char *tmp_root;  /* owned */

/* A path below tmp_root that does not exist yet. */
static char *
fresh_dir (void)
{
  static guint counter;

  return g_strdup_printf ("%s/%u", tmp_root, counter++);
}

static char *
fresh_store_path (void)
{
  g_autofree char *dir = fresh_dir ();

  g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
  return g_build_filename (dir, "store.db", NULL);
}

static void
rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          rm_rf (child);
        }
      g_rmdir (path);
    }
  else
    {
      g_unlink (path);
    }
}

static OmStore *
open_store (const char *path)
{
  g_autoptr(GError) error = NULL;
  OmStore *store = om_store_open (path, &error);

  g_assert_no_error (error);
  g_assert_true (OM_IS_STORE (store));
  return store;
}

static char *
event_json (const char *event_id)
{
  return g_strdup_printf ("{\"event_id\":\"%s\",\"type\":\"m.room.message\"}", event_id);
}

static void
append (OmStore    *store,
        const char *room_id,
        const char *event_id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *json = event_json (event_id);

  g_assert_true (om_store_timeline_append (store, room_id, event_id, json, &error));
  g_assert_no_error (error);
}

static void
prepend (OmStore    *store,
         const char *room_id,
         const char *event_id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *json = event_json (event_id);

  g_assert_true (om_store_timeline_prepend (store, room_id, event_id, json, &error));
  g_assert_no_error (error);
}

/* Asserts that the newest @limit events of @room_id are @expected (event
 * IDs, NULL-terminated), oldest first. */
static void
assert_timeline (OmStore            *store,
                 const char         *room_id,
                 guint               limit,
                 const char * const *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) events = om_store_timeline_load_latest (store, room_id, limit, &error);
  guint n = g_strv_length ((char **) expected);

  g_assert_no_error (error);
  g_assert_nonnull (events);
  g_assert_cmpuint (events->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *json = event_json (expected[i]);

      g_assert_cmpstr (g_ptr_array_index (events, i), ==, json);
    }
}

static gint64
outbox_add (OmStore    *store,
            const char *room_id,
            const char *txn_id)
{
  g_autoptr(GError) error = NULL;
  gint64 id = om_store_outbox_add (store, room_id, txn_id, "m.room.message",
                                   "{\"msgtype\":\"m.text\",\"body\":\"hi\"}", &error);

  g_assert_no_error (error);
  g_assert_cmpint (id, >, 0);
  return id;
}

static OmStoreReceipt *
find_receipt (GPtrArray  *receipts,
              const char *receipt_type,
              const char *user_id,
              const char *thread_id)
{
  for (guint i = 0; i < receipts->len; i++)
    {
      OmStoreReceipt *r = g_ptr_array_index (receipts, i);

      if (g_str_equal (r->receipt_type, receipt_type) && g_str_equal (r->user_id, user_id)
          && g_strcmp0 (r->thread_id, thread_id) == 0)
        return r;
    }
  return NULL;
}

static OmStoreRoom *
find_room (GPtrArray  *rooms,
           const char *room_id)
{
  for (guint i = 0; i < rooms->len; i++)
    {
      OmStoreRoom *room = g_ptr_array_index (rooms, i);

      if (g_str_equal (room->room_id, room_id))
        return room;
    }
  return NULL;
}

/* Direct SQLite access, to build and inspect files behind the store's back. */
static void
raw_exec (const char *path,
          const char *sql)
{
  sqlite3 *db = NULL;
  char *message = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", path, message);
  g_assert_cmpint (sqlite3_close (db), ==, SQLITE_OK);
}

static char *
raw_query (const char *path,
           const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *value;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  g_assert_cmpint (sqlite3_close (db), ==, SQLITE_OK);
  return value;
}

/* One of everything, for the persistence and migration tests. */
static void
fill_store (OmStore *store)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (om_store_set_value (store, "sync_token", "s1_2_3", &error));
  g_assert_true (om_store_set_value (store, "filter_id", "7", &error));
  g_assert_true (om_store_save_room (store, ROOM_A, "join", "{\"prev_batch\":\"p1\"}", &error));
  g_assert_true (om_store_save_room (store, ROOM_B, "invite", NULL, &error));
  g_assert_true (om_store_set_state_event (store, ROOM_A, "m.room.name", "",
                                           "{\"name\":\"Old\"}", &error));
  g_assert_true (om_store_set_state_event (store, ROOM_A, "m.room.name", "",
                                           "{\"name\":\"Lobby\"}", &error));
  g_assert_true (om_store_set_state_event (store, ROOM_A, "m.room.member", "@alice:example.org",
                                           "{\"membership\":\"join\"}", &error));
  g_assert_true (om_store_set_receipt (store, ROOM_A, "m.read", "@bob:example.org", "$2", 1000,
                                       NULL, &error));
  g_assert_true (om_store_set_receipt (store, ROOM_A, "m.read", "@bob:example.org", "$1", 900,
                                       "$thread", &error));
  g_assert_true (om_store_set_presence (store, "@bob:example.org", "{\"presence\":\"online\"}",
                                        &error));
  g_assert_no_error (error);
  append (store, ROOM_A, "$2");
  append (store, ROOM_A, "$3");
  prepend (store, ROOM_A, "$1");
  outbox_add (store, ROOM_A, "txn-1");
  outbox_add (store, ROOM_B, "txn-2");
}

static void
check_store (OmStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  g_autoptr(GPtrArray) state = NULL;
  g_autoptr(GPtrArray) receipts = NULL;
  g_autoptr(GPtrArray) outbox = NULL;
  g_autoptr(GHashTable) presence = NULL;
  g_autofree char *token = om_store_dup_value (store, "sync_token");
  g_autofree char *filter = om_store_dup_value (store, "filter_id");
  OmStoreReceipt *receipt;
  OmStoreOutboxEntry *entry;
  OmStoreRoom *room;

  g_assert_cmpstr (token, ==, "s1_2_3");
  g_assert_cmpstr (filter, ==, "7");

  rooms = om_store_load_rooms (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rooms->len, ==, 2);
  room = find_room (rooms, ROOM_A);
  g_assert_nonnull (room);
  g_assert_cmpstr (room->membership, ==, "join");
  g_assert_cmpstr (room->data_json, ==, "{\"prev_batch\":\"p1\"}");
  room = find_room (rooms, ROOM_B);
  g_assert_nonnull (room);
  g_assert_cmpstr (room->membership, ==, "invite");
  g_assert_cmpstr (room->data_json, ==, "{}");

  state = om_store_load_state (store, ROOM_A, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (state->len, ==, 2);
  g_assert_true (g_ptr_array_find_with_equal_func (state, "{\"name\":\"Lobby\"}", g_str_equal,
                                                   NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (state, "{\"membership\":\"join\"}",
                                                   g_str_equal, NULL));

  assert_timeline (store, ROOM_A, 10, (const char *[]) { "$1", "$2", "$3", NULL });

  receipts = om_store_load_receipts (store, ROOM_A, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (receipts->len, ==, 2);
  receipt = find_receipt (receipts, "m.read", "@bob:example.org", NULL);
  g_assert_nonnull (receipt);
  g_assert_cmpstr (receipt->room_id, ==, ROOM_A);
  g_assert_cmpstr (receipt->event_id, ==, "$2");
  g_assert_cmpint (receipt->ts, ==, 1000);
  receipt = find_receipt (receipts, "m.read", "@bob:example.org", "$thread");
  g_assert_nonnull (receipt);
  g_assert_cmpstr (receipt->event_id, ==, "$1");

  presence = om_store_load_presence (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (presence), ==, 1);
  g_assert_cmpstr (g_hash_table_lookup (presence, "@bob:example.org"), ==,
                   "{\"presence\":\"online\"}");

  outbox = om_store_outbox_load (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (outbox->len, ==, 2);
  entry = g_ptr_array_index (outbox, 0);
  g_assert_cmpstr (entry->txn_id, ==, "txn-1");
  g_assert_cmpstr (entry->room_id, ==, ROOM_A);
  g_assert_cmpstr (entry->event_type, ==, "m.room.message");
  g_assert_cmpstr (entry->content_json, ==, "{\"msgtype\":\"m.text\",\"body\":\"hi\"}");
  g_assert_cmpint (entry->state, ==, OM_OUTBOX_STATE_QUEUED);
  entry = g_ptr_array_index (outbox, 1);
  g_assert_cmpstr (entry->txn_id, ==, "txn-2");
}

static void
test_reopen_keeps_data (void)
{
  g_autofree char *path = fresh_store_path ();
  OmStore *store = open_store (path);

  g_assert_cmpstr (om_store_get_path (store), ==, path);
  fill_store (store);
  check_store (store);
  g_assert_finalize_object (store);

  store = open_store (path);
  check_store (store);
  g_assert_finalize_object (store);
}

static void
test_schema_version (void)
{
  g_autofree char *path = fresh_store_path ();
  g_autofree char *version = NULL;
  g_autofree char *journal_mode = NULL;
  g_autofree char *expected = g_strdup_printf ("%d", OM_STORE_SCHEMA_VERSION);
  OmStore *store = open_store (path);

  g_assert_cmpint (om_store_get_schema_version (store), ==, OM_STORE_SCHEMA_VERSION);
  g_assert_finalize_object (store);

  version = raw_query (path, "PRAGMA user_version");
  g_assert_cmpstr (version, ==, expected);
  /* WAL is a property of the file: it stays after the store is closed. */
  journal_mode = raw_query (path, "PRAGMA journal_mode");
  g_assert_cmpstr (journal_mode, ==, "wal");
}

static void
test_memory_store (void)
{
  g_autoptr(OmStore) store = open_store (":memory:");

  g_assert_cmpstr (om_store_get_path (store), ==, ":memory:");
  g_assert_cmpint (om_store_get_schema_version (store), ==, OM_STORE_SCHEMA_VERSION);
  fill_store (store);
  check_store (store);
}

static void
test_newer_version_refused (void)
{
  g_autofree char *path = fresh_store_path ();
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *sql = g_strdup_printf ("CREATE TABLE future (x); INSERT INTO future VALUES (42);"
                                          "PRAGMA user_version = %d",
                                          OM_STORE_SCHEMA_VERSION + 1);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autoptr(GError) error = NULL;
  gsize before_len, after_len;
  OmStore *store;

  raw_exec (path, sql);
  g_assert_true (g_file_get_contents (path, &before, &before_len, NULL));

  store = om_store_open (path, &error);
  g_assert_null (store);
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, "created by a newer OpenMeet Chat"));
  g_test_message ("%s", error->message);

  g_assert_true (g_file_get_contents (path, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));
}

/* A version-0 file (what SQLite makes of an empty file) is migrated. */
static void
test_migrate_from_empty_file (void)
{
  g_autofree char *path = fresh_store_path ();
  g_autofree char *version = NULL;
  OmStore *store;

  g_assert_true (g_file_set_contents_full (path, "", 0, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  version = raw_query (path, "PRAGMA user_version");
  g_assert_cmpstr (version, ==, "0");

  store = open_store (path);
  g_assert_cmpint (om_store_get_schema_version (store), ==, OM_STORE_SCHEMA_VERSION);
  fill_store (store);
  check_store (store);
  g_assert_finalize_object (store);
}

/* A store written by schema version 1 stays readable after every later
 * migration. */
static void
test_migrate_from_v1 (void)
{
  g_autofree char *path = fresh_store_path ();
  g_autofree char *fixture = g_test_build_filename (G_TEST_DIST, "data", "store-v1.sql", NULL);
  g_autofree char *sql = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  g_autoptr(GPtrArray) state = NULL;
  g_autoptr(GPtrArray) receipts = NULL;
  g_autoptr(GPtrArray) outbox = NULL;
  g_autoptr(GPtrArray) timeline = NULL;
  g_autoptr(GHashTable) presence = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = NULL;
  OmStoreOutboxEntry *entry;

  g_assert_true (g_file_get_contents (fixture, &sql, NULL, &error));
  g_assert_no_error (error);
  raw_exec (path, sql);

  store = open_store (path);
  g_assert_cmpint (om_store_get_schema_version (store), ==, OM_STORE_SCHEMA_VERSION);

  token = om_store_dup_value (store, "sync_token");
  g_assert_cmpstr (token, ==, "s72594_4483_1934");
  rooms = om_store_load_rooms (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rooms->len, ==, 1);
  g_assert_cmpstr (((OmStoreRoom *) g_ptr_array_index (rooms, 0))->data_json, ==,
                   "{\"prev_batch\":\"t47-4\"}");
  state = om_store_load_state (store, "!room:example.org", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (state->len, ==, 1);
  timeline = om_store_timeline_load_latest (store, "!room:example.org", 10, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (timeline->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (timeline, 0), ==, "{\"event_id\":\"$older\"}");
  g_assert_cmpstr (g_ptr_array_index (timeline, 1), ==, "{\"event_id\":\"$newer\"}");
  g_assert_true (om_store_timeline_has_event (store, "!room:example.org", "$newer"));
  receipts = om_store_load_receipts (store, "!room:example.org", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (receipts->len, ==, 1);
  g_assert_null (((OmStoreReceipt *) g_ptr_array_index (receipts, 0))->thread_id);
  presence = om_store_load_presence (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (presence), ==, 1);

  outbox = om_store_outbox_load (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (outbox->len, ==, 1);
  entry = g_ptr_array_index (outbox, 0);
  g_assert_cmpint (entry->id, ==, 1);
  g_assert_cmpint (entry->state, ==, OM_OUTBOX_STATE_FAILED);
  g_assert_cmpstr (entry->error, ==, "M_FORBIDDEN");
  g_assert_null (entry->event_id);
  g_assert_cmpint (entry->created_ms, ==, G_GINT64_CONSTANT (1700000000000));
  /* IDs 1 and 2 were handed out before: the next one is 3. */
  g_assert_cmpint (outbox_add (store, "!room:example.org", "txn-new"), ==, 3);

  /* New events still go after the stored ones. */
  append (store, "!room:example.org", "$newest");
  assert_timeline (store, "!room:example.org", 1, (const char *[]) { "$newest", NULL });
}

typedef enum {
  BAD_NOT_A_DATABASE,
  BAD_PARENT_IS_A_FILE,
  BAD_PATH_IS_A_DIRECTORY,
} BadPathKind;

static const struct {
  const char  *name;
  BadPathKind  kind;
  const char  *message;  /* expected in the error message */
} bad_paths[] = {
  { "not-a-database", BAD_NOT_A_DATABASE, "not a database" },
  { "parent-is-a-file", BAD_PARENT_IS_A_FILE, "Could not create the folder" },
  { "path-is-a-directory", BAD_PATH_IS_A_DIRECTORY, "Could not open the local store" },
};

static void
test_bad_path (gconstpointer data)
{
  guint index = GPOINTER_TO_UINT (data);
  g_autofree char *dir = fresh_dir ();
  g_autofree char *path = NULL;
  g_autofree char *garbage = g_strnfill (4096, 'x');
  g_autoptr(GError) error = NULL;
  OmStore *store;

  g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
  switch (bad_paths[index].kind)
    {
    case BAD_NOT_A_DATABASE:
      path = g_build_filename (dir, "store.db", NULL);
      g_assert_true (g_file_set_contents (path, garbage, -1, NULL));
      break;
    case BAD_PARENT_IS_A_FILE:
      {
        g_autofree char *file = g_build_filename (dir, "file", NULL);

        g_assert_true (g_file_set_contents (file, "", 0, NULL));
        path = g_build_filename (file, "sub", "store.db", NULL);
      }
      break;
    case BAD_PATH_IS_A_DIRECTORY:
      path = g_build_filename (dir, "store.db", NULL);
      g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
      break;
    default:
      g_assert_not_reached ();
    }

  store = om_store_open (path, &error);
  g_assert_null (store);
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, bad_paths[index].message));
}

static guint
file_mode (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return st.st_mode & 0777;
}

static void
test_file_modes (void)
{
  g_autofree char *top = fresh_dir ();
  g_autofree char *account = g_build_filename (top, "account", NULL);
  g_autofree char *path = g_build_filename (account, "store.db", NULL);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (path, "-shm", NULL);
  g_autofree char *loose = NULL;
  OmStore *store;

  store = open_store (path);
  fill_store (store);
  g_assert_cmpuint (file_mode (top), ==, 0700);
  g_assert_cmpuint (file_mode (account), ==, 0700);
  g_assert_cmpuint (file_mode (path), ==, 0600);
  g_assert_cmpuint (file_mode (wal), ==, 0600);
  g_assert_cmpuint (file_mode (shm), ==, 0600);
  g_assert_finalize_object (store);

  /* A store file someone left readable is made private again. */
  loose = g_build_filename (account, "loose.db", NULL);
  g_assert_true (g_file_set_contents_full (loose, "", 0, G_FILE_SET_CONTENTS_NONE, 0644, NULL));
  g_assert_cmpint (g_chmod (loose, 0644), ==, 0);
  store = open_store (loose);
  g_assert_cmpuint (file_mode (loose), ==, 0600);
  g_assert_finalize_object (store);
}

static void
test_values (void)
{
  g_autoptr(OmStore) store = open_store (":memory:");
  g_autoptr(GError) error = NULL;
  g_autofree char *value = NULL;

  g_assert_null (om_store_dup_value (store, "sync_token"));
  g_assert_true (om_store_set_value (store, "sync_token", "s1", &error));
  g_assert_true (om_store_set_value (store, "sync_token", "s2", &error));
  g_assert_no_error (error);
  value = om_store_dup_value (store, "sync_token");
  g_assert_cmpstr (value, ==, "s2");

  g_assert_true (om_store_set_value (store, "sync_token", NULL, &error));
  g_assert_true (om_store_set_value (store, "never_set", NULL, &error));
  g_assert_no_error (error);
  g_assert_null (om_store_dup_value (store, "sync_token"));
}

static void
test_receipts_and_presence (void)
{
  g_autoptr(OmStore) store = open_store (":memory:");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) receipts = NULL;
  g_autoptr(GHashTable) presence = NULL;
  OmStoreReceipt *receipt;

  g_assert_true (om_store_set_receipt (store, ROOM_A, "m.read", "@bob:x", "$1", 1, NULL, &error));
  g_assert_true (om_store_set_receipt (store, ROOM_A, "m.read", "@bob:x", "$2", 2, NULL, &error));
  g_assert_true (om_store_set_receipt (store, ROOM_A, "m.read.private", "@bob:x", "$1", 1, NULL,
                                       &error));
  g_assert_true (om_store_set_receipt (store, ROOM_A, "m.read", "@bob:x", "$t1", 3, "$root",
                                       &error));
  g_assert_true (om_store_set_receipt (store, ROOM_B, "m.read", "@bob:x", "$9", 9, NULL, &error));
  g_assert_no_error (error);

  receipts = om_store_load_receipts (store, ROOM_A, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (receipts->len, ==, 3);
  receipt = find_receipt (receipts, "m.read", "@bob:x", NULL);
  g_assert_nonnull (receipt);
  g_assert_cmpstr (receipt->event_id, ==, "$2");
  g_assert_cmpint (receipt->ts, ==, 2);
  receipt = find_receipt (receipts, "m.read", "@bob:x", "$root");
  g_assert_nonnull (receipt);
  g_assert_cmpstr (receipt->event_id, ==, "$t1");
  g_assert_nonnull (find_receipt (receipts, "m.read.private", "@bob:x", NULL));

  g_assert_true (om_store_set_presence (store, "@bob:x", "{\"presence\":\"online\"}", &error));
  g_assert_true (om_store_set_presence (store, "@bob:x", "{\"presence\":\"offline\"}", &error));
  g_assert_true (om_store_set_presence (store, "@carol:x", "{\"presence\":\"online\"}", &error));
  g_assert_no_error (error);
  presence = om_store_load_presence (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (presence), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (presence, "@bob:x"), ==, "{\"presence\":\"offline\"}");
}

static void
test_delete_room (void)
{
  g_autoptr(OmStore) store = open_store (":memory:");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  g_autoptr(GPtrArray) state = NULL;
  g_autoptr(GPtrArray) receipts = NULL;
  g_autoptr(GPtrArray) outbox = NULL;

  fill_store (store);
  g_assert_true (om_store_set_state_event (store, ROOM_B, "m.room.name", "", "{}", &error));
  g_assert_no_error (error);
  append (store, ROOM_B, "$b1");

  g_assert_true (om_store_delete_room (store, ROOM_A, &error));
  g_assert_no_error (error);

  rooms = om_store_load_rooms (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rooms->len, ==, 1);
  g_assert_cmpstr (((OmStoreRoom *) g_ptr_array_index (rooms, 0))->room_id, ==, ROOM_B);
  state = om_store_load_state (store, ROOM_A, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (state->len, ==, 0);
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_A), ==, 0);
  receipts = om_store_load_receipts (store, ROOM_A, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (receipts->len, ==, 0);

  /* The outbox keeps the room's messages; other rooms are untouched. */
  outbox = om_store_outbox_load (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (outbox->len, ==, 2);
  g_assert_cmpstr (((OmStoreOutboxEntry *) g_ptr_array_index (outbox, 0))->room_id, ==, ROOM_A);
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_B), ==, 1);
  g_clear_pointer (&state, g_ptr_array_unref);
  state = om_store_load_state (store, ROOM_B, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (state->len, ==, 1);
}

static void
test_timeline (void)
{
  g_autoptr(OmStore) store = open_store (":memory:");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) events = NULL;

  /* Prepending into an empty timeline, then appending after it. */
  prepend (store, ROOM_A, "$2");
  append (store, ROOM_A, "$3");
  prepend (store, ROOM_A, "$1");
  prepend (store, ROOM_A, "$0");
  append (store, ROOM_A, "$4");
  append (store, ROOM_B, "$b");
  assert_timeline (store, ROOM_A, 100, (const char *[]) { "$0", "$1", "$2", "$3", "$4", NULL });

  /* Duplicates are a no-op in either direction and keep the stored JSON. */
  g_assert_true (om_store_timeline_append (store, ROOM_A, "$2", "{\"other\":1}", &error));
  g_assert_true (om_store_timeline_prepend (store, ROOM_A, "$4", "{\"other\":1}", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_A), ==, 5);
  assert_timeline (store, ROOM_A, 100, (const char *[]) { "$0", "$1", "$2", "$3", "$4", NULL });
  /* The same event ID in another room is another event. */
  append (store, ROOM_B, "$2");
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_B), ==, 2);

  assert_timeline (store, ROOM_A, 2, (const char *[]) { "$3", "$4", NULL });
  assert_timeline (store, ROOM_A, 1, (const char *[]) { "$4", NULL });
  assert_timeline (store, ROOM_A, 0, (const char *[]) { NULL });
  assert_timeline (store, "!empty:example.org", 10, (const char *[]) { NULL });

  g_assert_true (om_store_timeline_has_event (store, ROOM_A, "$3"));
  g_assert_false (om_store_timeline_has_event (store, ROOM_A, "$9"));
  g_assert_false (om_store_timeline_has_event (store, ROOM_B, "$3"));

  g_assert_true (om_store_timeline_replace (store, ROOM_A, "$3", "{\"redacted\":true}", &error));
  g_assert_no_error (error);
  events = om_store_timeline_load_latest (store, ROOM_A, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_ptr_array_index (events, 0), ==, "{\"redacted\":true}");
  /* Replacing an event that is not stored changes nothing. */
  g_assert_true (om_store_timeline_replace (store, ROOM_A, "$9", "{}", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_A), ==, 5);
  g_assert_false (om_store_timeline_has_event (store, ROOM_A, "$9"));

  g_assert_true (om_store_timeline_clear (store, ROOM_A, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_A), ==, 0);
  g_assert_false (om_store_timeline_has_event (store, ROOM_A, "$3"));
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_B), ==, 2);

  append (store, ROOM_A, "$5");
  prepend (store, ROOM_A, "$3");
  assert_timeline (store, ROOM_A, 10, (const char *[]) { "$3", "$5", NULL });
}

static OmStoreOutboxEntry *
outbox_entry (OmStore *store,
              guint    index)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = om_store_outbox_load (store, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (index, <, entries->len);
  return g_ptr_array_steal_index (entries, index);
}

static void
test_outbox (void)
{
  g_autofree char *path = fresh_store_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(OmStoreOutboxEntry) entry = NULL;
  gint64 before_ms = g_get_real_time () / 1000;
  gint64 ids[3], id;
  OmStore *store = open_store (path);

  ids[0] = outbox_add (store, ROOM_B, "txn-a");
  ids[1] = outbox_add (store, ROOM_A, "txn-b");
  ids[2] = outbox_add (store, ROOM_B, "txn-c");
  g_assert_cmpint (ids[0], <, ids[1]);
  g_assert_cmpint (ids[1], <, ids[2]);

  /* A txnId is used once, whatever the room. */
  id = om_store_outbox_add (store, ROOM_A, "txn-b", "m.room.message", "{}", &error);
  g_assert_cmpint (id, ==, -1);
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_assert_nonnull (strstr (error->message, "txn_id"));
  g_clear_error (&error);

  entries = om_store_outbox_load (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      OmStoreOutboxEntry *e = g_ptr_array_index (entries, i);

      g_assert_cmpint (e->id, ==, ids[i]);
      g_assert_cmpint (e->state, ==, OM_OUTBOX_STATE_QUEUED);
      g_assert_null (e->event_id);
      g_assert_null (e->error);
      g_assert_cmpint (e->created_ms, >=, before_ms);
      g_assert_cmpint (e->created_ms, <=, g_get_real_time () / 1000);
    }
  g_assert_cmpstr (((OmStoreOutboxEntry *) g_ptr_array_index (entries, 1))->txn_id, ==, "txn-b");

  g_assert_true (om_store_outbox_update (store, ids[1], OM_OUTBOX_STATE_SENDING, NULL, NULL,
                                         &error));
  g_assert_true (om_store_outbox_update (store, ids[1], OM_OUTBOX_STATE_FAILED, NULL,
                                         "M_LIMIT_EXCEEDED", &error));
  g_assert_no_error (error);
  entry = outbox_entry (store, 1);
  g_assert_cmpint (entry->state, ==, OM_OUTBOX_STATE_FAILED);
  g_assert_cmpstr (entry->error, ==, "M_LIMIT_EXCEEDED");
  g_clear_pointer (&entry, om_store_outbox_entry_free);

  g_assert_true (om_store_outbox_update (store, ids[1], OM_OUTBOX_STATE_SENT, "$sent", NULL,
                                         &error));
  g_assert_no_error (error);
  entry = outbox_entry (store, 1);
  g_assert_cmpint (entry->state, ==, OM_OUTBOX_STATE_SENT);
  g_assert_cmpstr (entry->event_id, ==, "$sent");
  g_assert_null (entry->error);
  g_clear_pointer (&entry, om_store_outbox_entry_free);

  g_assert_false (om_store_outbox_update (store, ids[2] + 100, OM_OUTBOX_STATE_SENT, NULL, NULL,
                                          &error));
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_clear_error (&error);

  /* Removing the newest entry does not free its ID, not even across a restart. */
  g_assert_true (om_store_outbox_remove (store, ids[1], &error));
  g_assert_true (om_store_outbox_remove (store, ids[2], &error));
  g_assert_true (om_store_outbox_remove (store, ids[2], &error));
  g_assert_no_error (error);
  id = outbox_add (store, ROOM_A, "txn-d");
  g_assert_cmpint (id, >, ids[2]);
  g_assert_true (om_store_outbox_remove (store, id, &error));
  g_assert_no_error (error);
  g_assert_finalize_object (store);

  store = open_store (path);
  g_assert_cmpint (outbox_add (store, ROOM_A, "txn-e"), >, id);
  g_clear_pointer (&entries, g_ptr_array_unref);
  entries = om_store_outbox_load (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, 2);
  g_assert_cmpstr (((OmStoreOutboxEntry *) g_ptr_array_index (entries, 0))->txn_id, ==, "txn-a");
  g_assert_cmpstr (((OmStoreOutboxEntry *) g_ptr_array_index (entries, 1))->txn_id, ==, "txn-e");
  g_assert_finalize_object (store);
}

/* Inner commits reach nothing: a second connection sees the writes only
 * after the outermost commit. */
static void
test_transaction_commit (void)
{
  g_autofree char *path = fresh_store_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = open_store (path);
  g_autoptr(OmStore) reader = open_store (path);
  g_autofree char *inner = NULL;
  g_autofree char *outer = NULL;
  g_autofree char *seen = NULL;

  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_set_value (store, "outer", "1", &error));
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_set_value (store, "inner", "2", &error));
  g_assert_true (om_store_commit (store, &error));
  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);

  /* Inside the transaction its own writes are visible, to others not yet. */
  inner = om_store_dup_value (store, "inner");
  g_assert_cmpstr (inner, ==, "2");
  g_assert_null (om_store_dup_value (reader, "inner"));

  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);
  seen = om_store_dup_value (reader, "inner");
  outer = om_store_dup_value (reader, "outer");
  g_assert_cmpstr (seen, ==, "2");
  g_assert_cmpstr (outer, ==, "1");
}

/* A rollback at any depth discards the whole outermost transaction; until
 * every level is closed, writes and commits fail, and a failed commit leaves
 * its level for the caller's rollback to close. */
static void
test_transaction_inner_rollback (void)
{
  g_autoptr(OmStore) store = open_store (":memory:");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) outbox = NULL;
  g_autofree char *after = NULL;

  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_set_value (store, "a", "1", &error));
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_begin (store, &error));
  g_assert_no_error (error);
  append (store, ROOM_A, "$1");
  g_assert_cmpint (om_store_outbox_add (store, ROOM_A, "txn", "m.room.message", "{}", &error), >,
                   0);
  g_assert_no_error (error);
  om_store_rollback (store);

  g_assert_false (om_store_set_value (store, "b", "2", &error));
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_clear_error (&error);

  /* A nested begin still opens a level, whose commit fails. */
  g_assert_true (om_store_begin (store, &error));
  g_assert_no_error (error);
  for (guint level = 0; level < 3; level++)
    {
      g_assert_false (om_store_commit (store, &error));
      g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
      if (level == 2)
        g_test_message ("%s", error->message);
      g_clear_error (&error);
      om_store_rollback (store);
    }

  g_assert_null (om_store_dup_value (store, "a"));
  g_assert_null (om_store_dup_value (store, "b"));
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_A), ==, 0);
  outbox = om_store_outbox_load (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (outbox->len, ==, 0);

  /* Every level is closed: an extra rollback does nothing, and the store
   * works as before. */
  om_store_rollback (store);
  g_assert_true (om_store_set_value (store, "c", "3", &error));
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_set_value (store, "d", "4", &error));
  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);
  after = om_store_dup_value (store, "d");
  g_assert_cmpstr (after, ==, "4");
}

/* The callers' idiom, `if (!begin || … || !commit) rollback`, stays
 * balanced when an inner transaction fails inside an outer one. */
static gboolean
inner_unit (OmStore  *store,
            gboolean  fail,
            GError  **error)
{
  if (!om_store_begin (store, error)
      || !om_store_set_value (store, "inner", "1", error)
      || (fail && om_store_outbox_add (store, ROOM_A, "dup", "m.room.message", "{}", error) < 0)
      || !om_store_commit (store, error))
    {
      om_store_rollback (store);
      return FALSE;
    }
  return TRUE;
}

static void
test_transaction_idiom (void)
{
  g_autoptr(OmStore) store = open_store (":memory:");
  g_autoptr(GError) error = NULL;
  g_autofree char *inner = NULL;

  outbox_add (store, ROOM_A, "dup");

  g_assert_true (om_store_begin (store, &error));
  g_assert_true (inner_unit (store, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (inner_unit (store, TRUE, &error));
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_clear_error (&error);
  /* The outer unit carries on unaware: its writes must not autocommit. */
  g_assert_false (om_store_set_value (store, "sync_token", "s2", &error));
  g_clear_error (&error);
  g_assert_false (inner_unit (store, FALSE, &error));
  g_clear_error (&error);
  g_assert_false (om_store_commit (store, &error));
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_clear_error (&error);
  om_store_rollback (store);

  g_assert_null (om_store_dup_value (store, "sync_token"));
  g_assert_null (om_store_dup_value (store, "inner"));
  g_assert_true (inner_unit (store, FALSE, &error));
  g_assert_no_error (error);
  inner = om_store_dup_value (store, "inner");
  g_assert_cmpstr (inner, ==, "1");
}

/* Another connection holding the write lock makes begin wait for the busy
 * timeout (5 s) and then fail; the rollback of the failed begin is a no-op
 * and the store works once the lock is gone. */
static void
test_transaction_busy (void)
{
  g_autofree char *path = fresh_store_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = open_store (path);
  g_autoptr(OmStore) other = open_store (path);
  g_autofree char *value = NULL;
  double seconds;

  g_assert_true (om_store_begin (other, &error));
  g_assert_true (om_store_set_value (other, "owner", "other", &error));
  g_assert_no_error (error);

  g_test_timer_start ();
  g_assert_false (om_store_begin (store, &error));
  seconds = g_test_timer_elapsed ();
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_test_message ("after %.1f s: %s", seconds, error->message);
  g_assert_cmpfloat (seconds, >=, 4.5);
  g_clear_error (&error);
  om_store_rollback (store);

  g_assert_true (om_store_commit (other, &error));
  g_assert_no_error (error);
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_set_value (store, "owner", "store", &error));
  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);
  value = om_store_dup_value (other, "owner");
  g_assert_cmpstr (value, ==, "store");
}

static void
test_transaction_outer_rollback (void)
{
  g_autoptr(OmStore) store = open_store (":memory:");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rooms = NULL;

  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_begin (store, &error));
  g_assert_true (om_store_save_room (store, ROOM_A, "join", NULL, &error));
  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);
  append (store, ROOM_A, "$1");
  om_store_rollback (store);

  rooms = om_store_load_rooms (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rooms->len, ==, 0);
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_A), ==, 0);

  /* A failed write inside a transaction fails alone; the rest commits. */
  g_assert_true (om_store_begin (store, &error));
  outbox_add (store, ROOM_A, "txn");
  g_assert_cmpint (om_store_outbox_add (store, ROOM_A, "txn", "m.room.message", "{}", &error), ==,
                   -1);
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_clear_error (&error);
  append (store, ROOM_A, "$2");
  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_A), ==, 1);
}

/* A child process writes and dies without closing the store; what it
 * committed must be there, what it had not committed must not. */
static void
test_crash (gconstpointer data)
{
  gboolean kill_child = GPOINTER_TO_INT (data);
  g_autofree char *path = fresh_store_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) outbox = NULL;
  OmStore *store;
  int status;
  pid_t pid;

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      OmStore *child = om_store_open (path, NULL);

      if (child == NULL
          || om_store_outbox_add (child, ROOM_A, "committed", "m.room.message", "{}", NULL) <= 0
          || !om_store_timeline_append (child, ROOM_A, "$1", "{}", NULL)
          || !om_store_begin (child, NULL)
          || om_store_outbox_add (child, ROOM_A, "uncommitted", "m.room.message", "{}", NULL) <= 0)
        _exit (1);
      if (kill_child)
        raise (SIGKILL);
      _exit (0);
    }

  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (kill_child)
    {
      g_assert_true (WIFSIGNALED (status));
      g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
    }
  else
    {
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    }

  store = open_store (path);
  outbox = om_store_outbox_load (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (outbox->len, ==, 1);
  g_assert_cmpstr (((OmStoreOutboxEntry *) g_ptr_array_index (outbox, 0))->txn_id, ==,
                   "committed");
  g_assert_true (om_store_timeline_has_event (store, ROOM_A, "$1"));
  g_assert_finalize_object (store);
}

#define N_BULK_EVENTS 10000

static void
test_bulk_append_speed (void)
{
  g_autofree char *path = fresh_store_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(OmStore) store = open_store (path);
  double seconds;

  g_test_timer_start ();
  g_assert_true (om_store_begin (store, &error));
  for (guint i = 0; i < N_BULK_EVENTS; i++)
    {
      char event_id[32];
      g_autofree char *json = NULL;

      g_snprintf (event_id, sizeof event_id, "$event%u", i);
      json = event_json (event_id);
      if (!om_store_timeline_append (store, ROOM_A, event_id, json, &error))
        break;
    }
  g_assert_no_error (error);
  g_assert_true (om_store_commit (store, &error));
  g_assert_no_error (error);
  seconds = g_test_timer_elapsed ();

  g_test_message ("%d timeline appends in one transaction: %.3f s", N_BULK_EVENTS, seconds);
  g_assert_cmpfloat (seconds, <, 5.0);
  g_assert_cmpuint (om_store_timeline_count (store, ROOM_A), ==, N_BULK_EVENTS);
  assert_timeline (store, ROOM_A, 2, (const char *[]) { "$event9998", "$event9999", NULL });
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);

  tmp_root = g_dir_make_tmp ("om-test-store-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/store/reopen-keeps-data", test_reopen_keeps_data);
  g_test_add_func ("/store/schema-version", test_schema_version);
  g_test_add_func ("/store/memory", test_memory_store);
  g_test_add_func ("/store/newer-version-refused", test_newer_version_refused);
  g_test_add_func ("/store/migrate/from-empty-file", test_migrate_from_empty_file);
  g_test_add_func ("/store/migrate/from-v1", test_migrate_from_v1);
  for (guint i = 0; i < G_N_ELEMENTS (bad_paths); i++)
    {
      g_autofree char *name = g_strdup_printf ("/store/bad-path/%s", bad_paths[i].name);

      g_test_add_data_func (name, GUINT_TO_POINTER (i), test_bad_path);
    }
  g_test_add_func ("/store/file-modes", test_file_modes);
  g_test_add_func ("/store/values", test_values);
  g_test_add_func ("/store/receipts-and-presence", test_receipts_and_presence);
  g_test_add_func ("/store/delete-room", test_delete_room);
  g_test_add_func ("/store/timeline", test_timeline);
  g_test_add_func ("/store/outbox", test_outbox);
  g_test_add_func ("/store/transaction/commit", test_transaction_commit);
  g_test_add_func ("/store/transaction/inner-rollback", test_transaction_inner_rollback);
  g_test_add_func ("/store/transaction/outer-rollback", test_transaction_outer_rollback);
  g_test_add_func ("/store/transaction/idiom", test_transaction_idiom);
  g_test_add_func ("/store/transaction/busy", test_transaction_busy);
  g_test_add_data_func ("/store/crash/exit", GINT_TO_POINTER (FALSE), test_crash);
  g_test_add_data_func ("/store/crash/sigkill", GINT_TO_POINTER (TRUE), test_crash);
  g_test_add_func ("/store/bulk-append-speed", test_bulk_append_speed);

  ret = g_test_run ();

  rm_rf (tmp_root);
  g_free (tmp_root);
  return ret;
}
