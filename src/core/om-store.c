/* om-store.c — the local store: SQLite (WAL), schema versioned
 *
 * One connection, used on the main thread only (SQLITE_OPEN_NOMUTEX).  Every
 * query is prepared once, on first use, and reset after each use so that no
 * statement holds a read snapshot open between calls.
 *
 * Nested transactions: om_store_begin/om_store_commit keep a depth counter
 * and only the outermost pair issues BEGIN IMMEDIATE / COMMIT.  A rollback at
 * any depth rolls back the whole outermost transaction at once and marks it
 * "rolled back" until every level is closed: meanwhile every write and every
 * om_store_commit fails with OM_ERROR_STORE, so nothing slips into autocommit
 * mode behind the callers' backs and no caller believes its changes saved.
 * Like SQLite's COMMIT, a failed om_store_commit leaves its level open: the
 * caller closes it with om_store_rollback, i.e. the usual
 *   if (!om_store_begin (…) || … || !om_store_commit (…)) om_store_rollback (…);
 * A nested om_store_begin always succeeds (it issues no SQL), so only an
 * outermost begin can fail, and a rollback with no transaction open (after
 * such a failed begin) does nothing.  The levels therefore stay balanced
 * whatever fails.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-store"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "om-error.h"
#include "om-store.h"

#define BUSY_TIMEOUT_MS 5000

/* Schema migrations: migrations[n] takes a store from version n to n + 1 and
 * runs in its own transaction together with the user_version bump.  Never
 * edit a step that has shipped; append a new one and raise
 * OM_STORE_SCHEMA_VERSION.
 *
 * Indexes: every query filters on a prefix of a primary key or unique
 * constraint (room_id for state, timeline and receipts; (room_id, seq) for
 * timeline order and MAX/MIN(seq); (room_id, event_id) for duplicates and
 * replace; txn_id for outbox uniqueness), so the implicit indexes those
 * constraints create are all the store needs.  There is deliberately no
 * foreign key from room_state/timeline/receipts to rooms: a sync response
 * delivers a room's parts in any order, and om_store_delete_room deletes them
 * explicitly. */
static const char * const migrations[] = {
  /* 0 → 1: the initial schema */
  "CREATE TABLE kv ("
  "  key   TEXT PRIMARY KEY NOT NULL,"
  "  value TEXT NOT NULL"
  ");"
  "CREATE TABLE rooms ("
  "  room_id    TEXT PRIMARY KEY NOT NULL,"
  "  membership TEXT NOT NULL,"
  "  data       TEXT NOT NULL DEFAULT '{}'"
  ");"
  "CREATE TABLE room_state ("
  "  room_id    TEXT NOT NULL,"
  "  type       TEXT NOT NULL,"
  "  state_key  TEXT NOT NULL,"
  "  event_json TEXT NOT NULL,"
  "  PRIMARY KEY (room_id, type, state_key)"
  ");"
  "CREATE TABLE timeline ("
  "  room_id    TEXT NOT NULL,"
  "  seq        INTEGER NOT NULL,"
  "  event_id   TEXT NOT NULL,"
  "  event_json TEXT NOT NULL,"
  "  PRIMARY KEY (room_id, seq),"
  "  UNIQUE (room_id, event_id)"
  ");"
  /* Small rows: WITHOUT ROWID keeps them in the primary key's b-tree
   * instead of a table plus an index. */
  "CREATE TABLE receipts ("
  "  room_id      TEXT NOT NULL,"
  "  receipt_type TEXT NOT NULL,"
  "  user_id      TEXT NOT NULL,"
  "  thread_id    TEXT NOT NULL DEFAULT '',"
  "  event_id     TEXT NOT NULL,"
  "  ts           INTEGER NOT NULL,"
  "  PRIMARY KEY (room_id, receipt_type, user_id, thread_id)"
  ") WITHOUT ROWID;"
  "CREATE TABLE presence ("
  "  user_id TEXT PRIMARY KEY NOT NULL,"
  "  data    TEXT NOT NULL"
  ");"
  /* AUTOINCREMENT: an ID is never handed out twice, even after the newest
   * entry was removed, so an ID seen by a front end stays unambiguous. */
  "CREATE TABLE outbox ("
  "  id           INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  room_id      TEXT NOT NULL,"
  "  txn_id       TEXT NOT NULL UNIQUE,"
  "  event_type   TEXT NOT NULL,"
  "  content_json TEXT NOT NULL,"
  "  state        INTEGER NOT NULL DEFAULT 0,"
  "  event_id     TEXT,"
  "  error        TEXT,"
  "  created_ms   INTEGER NOT NULL"
  ");",
};

G_STATIC_ASSERT (G_N_ELEMENTS (migrations) == OM_STORE_SCHEMA_VERSION);

typedef enum {
  STMT_BEGIN,
  STMT_COMMIT,
  STMT_ROLLBACK,
  STMT_KV_GET,
  STMT_KV_SET,
  STMT_KV_DELETE,
  STMT_ROOM_SAVE,
  STMT_ROOM_LOAD,
  STMT_ROOM_DELETE,
  STMT_STATE_SET,
  STMT_STATE_LOAD,
  STMT_STATE_DELETE_ROOM,
  STMT_TIMELINE_APPEND,
  STMT_TIMELINE_PREPEND,
  STMT_TIMELINE_REPLACE,
  STMT_TIMELINE_CLEAR,
  STMT_TIMELINE_HAS,
  STMT_TIMELINE_LATEST,
  STMT_TIMELINE_COUNT,
  STMT_TIMELINE_LATEST_TS,
  STMT_RECEIPT_SET,
  STMT_RECEIPT_LOAD,
  STMT_RECEIPT_DELETE_ROOM,
  STMT_PRESENCE_SET,
  STMT_PRESENCE_LOAD,
  STMT_OUTBOX_ADD,
  STMT_OUTBOX_UPDATE,
  STMT_OUTBOX_REMOVE,
  STMT_OUTBOX_LOAD,
  N_STMTS
} StmtId;

static const char * const stmt_sql[N_STMTS] = {
  [STMT_BEGIN] = "BEGIN IMMEDIATE",
  [STMT_COMMIT] = "COMMIT",
  [STMT_ROLLBACK] = "ROLLBACK",

  [STMT_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
  [STMT_KV_SET] =
    "INSERT INTO kv (key, value) VALUES (?1, ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  [STMT_KV_DELETE] = "DELETE FROM kv WHERE key = ?1",

  [STMT_ROOM_SAVE] =
    "INSERT INTO rooms (room_id, membership, data) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (room_id) DO UPDATE SET membership = excluded.membership, data = excluded.data",
  [STMT_ROOM_LOAD] = "SELECT room_id, membership, data FROM rooms ORDER BY room_id",
  [STMT_ROOM_DELETE] = "DELETE FROM rooms WHERE room_id = ?1",

  [STMT_STATE_SET] =
    "INSERT INTO room_state (room_id, type, state_key, event_json) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_json = excluded.event_json",
  [STMT_STATE_LOAD] = "SELECT event_json FROM room_state WHERE room_id = ?1",
  [STMT_STATE_DELETE_ROOM] = "DELETE FROM room_state WHERE room_id = ?1",

  /* The aggregate always yields one row, so the WHERE clause also settles
   * SQLite's parsing ambiguity between a join's ON and the upsert's. */
  [STMT_TIMELINE_APPEND] =
    "INSERT INTO timeline (room_id, seq, event_id, event_json) "
    "SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3 FROM timeline WHERE room_id = ?1 "
    "ON CONFLICT (room_id, event_id) DO NOTHING",
  [STMT_TIMELINE_PREPEND] =
    "INSERT INTO timeline (room_id, seq, event_id, event_json) "
    "SELECT ?1, COALESCE(MIN(seq), 0) - 1, ?2, ?3 FROM timeline WHERE room_id = ?1 "
    "ON CONFLICT (room_id, event_id) DO NOTHING",
  [STMT_TIMELINE_REPLACE] =
    "UPDATE timeline SET event_json = ?3 WHERE room_id = ?1 AND event_id = ?2",
  [STMT_TIMELINE_CLEAR] = "DELETE FROM timeline WHERE room_id = ?1",
  [STMT_TIMELINE_HAS] = "SELECT 1 FROM timeline WHERE room_id = ?1 AND event_id = ?2",
  [STMT_TIMELINE_LATEST] =
    "SELECT event_json FROM timeline WHERE room_id = ?1 ORDER BY seq DESC LIMIT ?2",
  [STMT_TIMELINE_COUNT] = "SELECT COUNT(*) FROM timeline WHERE room_id = ?1",
  [STMT_TIMELINE_LATEST_TS] =
    "SELECT json_extract(event_json, '$.origin_server_ts') FROM timeline"
    " WHERE room_id = ?1 ORDER BY seq DESC LIMIT 1",

  [STMT_RECEIPT_SET] =
    "INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, ts) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (room_id, receipt_type, user_id, thread_id) "
    "DO UPDATE SET event_id = excluded.event_id, ts = excluded.ts",
  [STMT_RECEIPT_LOAD] =
    "SELECT receipt_type, user_id, thread_id, event_id, ts FROM receipts WHERE room_id = ?1",
  [STMT_RECEIPT_DELETE_ROOM] = "DELETE FROM receipts WHERE room_id = ?1",

  [STMT_PRESENCE_SET] =
    "INSERT INTO presence (user_id, data) VALUES (?1, ?2) "
    "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data",
  [STMT_PRESENCE_LOAD] = "SELECT user_id, data FROM presence",

  [STMT_OUTBOX_ADD] =
    "INSERT INTO outbox (room_id, txn_id, event_type, content_json, state, created_ms) "
    "VALUES (?1, ?2, ?3, ?4, 0, ?5)",
  [STMT_OUTBOX_UPDATE] = "UPDATE outbox SET state = ?2, event_id = ?3, error = ?4 WHERE id = ?1",
  [STMT_OUTBOX_REMOVE] = "DELETE FROM outbox WHERE id = ?1",
  [STMT_OUTBOX_LOAD] =
    "SELECT id, room_id, txn_id, event_type, content_json, state, event_id, error, created_ms "
    "FROM outbox ORDER BY id",
};

struct _OmStore
{
  GObject        parent_instance;

  char          *path;            /* owned */
  sqlite3       *db;              /* owned */
  sqlite3_stmt  *stmts[N_STMTS];  /* owned, each prepared on first use */
  int            schema_version;
  guint          depth;           /* om_store_begin nesting */
  gboolean       rolled_back;     /* a rollback ended the outermost transaction early */
};

G_DEFINE_FINAL_TYPE (OmStore, om_store, G_TYPE_OBJECT)

/* A cached statement borrowed for one call: g_autoptr resets it (and drops
 * its bindings) when the borrower returns, so it never keeps a read
 * transaction open and is ready for the next caller. */
typedef sqlite3_stmt OmStmt;

static void
om_stmt_release (OmStmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmStmt, om_stmt_release)

static gboolean
set_sqlite_error (OmStore     *self,
                  GError     **error,
                  const char  *what)
{
  g_set_error (error, OM_ERROR, OM_ERROR_STORE, "%s: %s", what, sqlite3_errmsg (self->db));
  return FALSE;
}

static gboolean
set_rolled_back_error (GError **error)
{
  g_set_error_literal (error, OM_ERROR, OM_ERROR_STORE,
                       "The local store transaction was rolled back after an earlier failure; "
                       "none of its changes were saved");
  return FALSE;
}

static void
set_newer_error (const char  *path,
                 int          version,
                 GError     **error)
{
  g_set_error (error, OM_ERROR, OM_ERROR_STORE,
               "The local store %s was created by a newer OpenMeet Chat (schema version %d, this "
               "version knows up to %d). Update OpenMeet Chat to use it; it has not been changed.",
               path, version, OM_STORE_SCHEMA_VERSION);
}

/* SQLite rolls a transaction back by itself after some errors (disk full,
 * I/O errors).  Treat that like om_store_rollback so that later writes fail
 * instead of running in autocommit mode. */
static void
check_implicit_rollback (OmStore *self)
{
  if (self->depth > 0 && !self->rolled_back && sqlite3_get_autocommit (self->db))
    {
      g_warning ("SQLite rolled back a transaction of %s: %s", self->path,
                 sqlite3_errmsg (self->db));
      self->rolled_back = TRUE;
    }
}

static OmStmt *
get_stmt (OmStore  *self,
          StmtId    id,
          GError  **error)
{
  if (self->stmts[id] == NULL)
    {
      int rc = sqlite3_prepare_v3 (self->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                   &self->stmts[id], NULL);
      if (rc != SQLITE_OK)
        {
          set_sqlite_error (self, error, "Could not prepare a local store query");
          return NULL;
        }
    }

  return self->stmts[id];
}

static gboolean
bind_text (OmStore     *self,
           OmStmt      *stmt,
           int          index,
           const char  *value,
           GError     **error)
{
  /* SQLITE_STATIC: every statement is reset before the caller's strings go away. */
  if (sqlite3_bind_text (stmt, index, value, -1, SQLITE_STATIC) != SQLITE_OK)
    return set_sqlite_error (self, error, "Could not prepare a local store query");
  return TRUE;
}

static gboolean
bind_int64 (OmStore  *self,
            OmStmt   *stmt,
            int       index,
            gint64    value,
            GError  **error)
{
  if (sqlite3_bind_int64 (stmt, index, value) != SQLITE_OK)
    return set_sqlite_error (self, error, "Could not prepare a local store query");
  return TRUE;
}

/* Steps a statement that returns no rows: the path every write takes. */
static gboolean
run_write (OmStore     *self,
           OmStmt      *stmt,
           const char  *what,
           GError     **error)
{
  if (self->rolled_back)
    return set_rolled_back_error (error);

  if (sqlite3_step (stmt) != SQLITE_DONE)
    {
      set_sqlite_error (self, error, what);
      check_implicit_rollback (self);
      return FALSE;
    }

  return TRUE;
}

/* Runs a statement whose only parameter ?1 is a room ID. */
static gboolean
run_room_write (OmStore     *self,
                StmtId       id,
                const char  *room_id,
                const char  *what,
                GError     **error)
{
  g_autoptr(OmStmt) stmt = get_stmt (self, id, error);

  if (stmt == NULL || !bind_text (self, stmt, 1, room_id, error))
    return FALSE;

  return run_write (self, stmt, what, error);
}

static gboolean
run_control (OmStore     *self,
             StmtId       id,
             const char  *what,
             GError     **error)
{
  g_autoptr(OmStmt) stmt = get_stmt (self, id, error);

  if (stmt == NULL)
    return FALSE;
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, what);

  return TRUE;
}

static char *
column_dup (OmStmt *stmt,
            int     column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

/* Opening and migrating */

static gboolean
exec_sql (OmStore     *self,
          const char  *sql,
          const char  *what,
          GError     **error)
{
  if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    {
      g_set_error (error, OM_ERROR, OM_ERROR_STORE, "%s %s: %s", what, self->path,
                   sqlite3_errmsg (self->db));
      return FALSE;
    }

  return TRUE;
}

/* Runs a one-off query returning one text value (pragmas at open time,
 * which are not worth caching). */
static gboolean
query_text (OmStore     *self,
            const char  *sql,
            char       **out_value,
            GError     **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  rc = sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      g_set_error (error, OM_ERROR, OM_ERROR_STORE, "Could not read the local store %s: %s",
                   self->path, sqlite3_errmsg (self->db));
      sqlite3_finalize (stmt);
      return FALSE;
    }

  *out_value = column_dup (stmt, 0);
  sqlite3_finalize (stmt);
  return TRUE;
}

static gboolean
read_user_version (OmStore  *self,
                   int      *out_version,
                   GError  **error)
{
  g_autofree char *value = NULL;

  if (!query_text (self, "PRAGMA user_version", &value, error))
    return FALSE;

  *out_version = value != NULL ? (int) g_ascii_strtoll (value, NULL, 10) : 0;
  return TRUE;
}

static gboolean
run_migration (OmStore  *self,
               int       version,
               GError  **error)
{
  g_autofree char *bump = g_strdup_printf ("PRAGMA user_version = %d", version + 1);

  g_debug ("Migrating %s from schema version %d to %d", self->path, version, version + 1);

  return exec_sql (self, migrations[version], "Could not upgrade the local store", error)
         && exec_sql (self, bump, "Could not upgrade the local store", error);
}

static gboolean
migrate (OmStore  *self,
         int       version,
         GError  **error)
{
  while (version < OM_STORE_SCHEMA_VERSION)
    {
      /* Re-read the version under the write lock: another process may have
       * migrated the file since we looked. */
      if (!exec_sql (self, "BEGIN IMMEDIATE", "Could not lock the local store", error))
        return FALSE;
      if (!read_user_version (self, &version, error))
        goto fail;
      if (version > OM_STORE_SCHEMA_VERSION)
        {
          set_newer_error (self->path, version, error);
          goto fail;
        }
      if (version < OM_STORE_SCHEMA_VERSION)
        {
          if (!run_migration (self, version, error))
            goto fail;
          version++;
        }
      if (!exec_sql (self, "COMMIT", "Could not upgrade the local store", error))
        goto fail;
    }

  self->schema_version = version;
  return TRUE;

fail:
  if (!sqlite3_get_autocommit (self->db))
    sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}

static gboolean
configure (OmStore  *self,
           GError  **error)
{
  g_autofree char *journal_mode = NULL;

  if (!query_text (self, "PRAGMA journal_mode = WAL", &journal_mode, error))
    return FALSE;
  /* An in-memory store answers "memory"; a file on a filesystem without
   * shared-memory support would keep a rollback journal. */
  if (g_strcmp0 (journal_mode, "wal") != 0 && g_strcmp0 (journal_mode, "memory") != 0)
    g_warning ("The local store %s cannot use write-ahead logging (journal mode %s)",
               self->path, journal_mode);

  return exec_sql (self, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                   "Could not configure the local store", error);
}

/* Creates the parent directories (0700) and the file (0600) ourselves:
 * SQLite would create the file with 0644 minus the umask, and messages are
 * private.  SQLite gives the -wal and -shm files the database file's mode. */
static gboolean
prepare_file (const char  *path,
              GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  struct stat st;
  int fd;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, OM_ERROR, OM_ERROR_STORE,
                   "Could not create the folder %s for the local store: %s. "
                   "Check that the path is a folder you can write to.",
                   dir, g_strerror (saved_errno));
      return FALSE;
    }

  fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, OM_ERROR, OM_ERROR_STORE, "Could not open the local store %s: %s",
                   path, g_strerror (saved_errno));
      return FALSE;
    }

  if (fstat (fd, &st) == 0 && (st.st_mode & 0077) != 0 && fchmod (fd, 0600) != 0)
    g_warning ("Could not make the local store %s private: %s", path, g_strerror (errno));

  close (fd);
  return TRUE;
}

OmStore *
om_store_open (const char  *path,
               GError     **error)
{
  g_autoptr(OmStore) self = NULL;
  int version = 0;
  int rc;

  g_return_val_if_fail (path != NULL && *path != '\0', NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (OM_TYPE_STORE, NULL);
  self->path = g_strdup (path);

  if (!g_str_equal (path, ":memory:") && !prepare_file (path, error))
    return NULL;

  rc = sqlite3_open_v2 (path, &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      g_set_error (error, OM_ERROR, OM_ERROR_STORE, "Could not open the local store %s: %s",
                   path, self->db != NULL ? sqlite3_errmsg (self->db) : sqlite3_errstr (rc));
      return NULL;
    }

  sqlite3_busy_timeout (self->db, BUSY_TIMEOUT_MS);

  /* Refuse a newer schema before anything writes to the file (switching to
   * WAL rewrites its header). */
  if (!read_user_version (self, &version, error))
    return NULL;
  if (version > OM_STORE_SCHEMA_VERSION)
    {
      set_newer_error (path, version, error);
      return NULL;
    }

  if (!configure (self, error) || !migrate (self, version, error))
    return NULL;

  return g_steal_pointer (&self);
}

static void
om_store_finalize (GObject *object)
{
  OmStore *self = OM_STORE (object);

  if (self->depth > 0)
    g_warning ("The local store %s was closed inside a transaction; its changes are discarded",
               self->path);

  for (guint i = 0; i < N_STMTS; i++)
    g_clear_pointer (&self->stmts[i], sqlite3_finalize);

  /* Closing rolls back an open transaction and checkpoints the WAL. */
  if (self->db != NULL && sqlite3_close (self->db) != SQLITE_OK)
    g_warning ("Could not close the local store %s: %s", self->path, sqlite3_errmsg (self->db));
  g_free (self->path);

  G_OBJECT_CLASS (om_store_parent_class)->finalize (object);
}

static void
om_store_class_init (OmStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = om_store_finalize;
}

static void
om_store_init (OmStore *self)
{
}

const char *
om_store_get_path (OmStore *self)
{
  g_return_val_if_fail (OM_IS_STORE (self), NULL);

  return self->path;
}

int
om_store_get_schema_version (OmStore *self)
{
  g_return_val_if_fail (OM_IS_STORE (self), 0);

  return self->schema_version;
}

/* Transactions */

gboolean
om_store_begin (OmStore  *self,
                GError  **error)
{
  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Even inside a rolled-back transaction: its writes and commit will
   * fail, and the caller's rollback must find its level to close. */
  if (self->depth > 0)
    {
      self->depth++;
      return TRUE;
    }

  if (!run_control (self, STMT_BEGIN, "Could not start a local store transaction", error))
    return FALSE;

  self->depth = 1;
  return TRUE;
}

/* On failure the level stays open: call om_store_rollback. */
gboolean
om_store_commit (OmStore  *self,
                 GError  **error)
{
  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (self->depth > 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->rolled_back)
    return set_rolled_back_error (error);

  if (self->depth > 1)
    {
      self->depth--;
      return TRUE;
    }

  if (sqlite3_get_autocommit (self->db))
    {
      /* SQLite ended the transaction itself after an error. */
      self->rolled_back = TRUE;
      return set_rolled_back_error (error);
    }

  if (!run_control (self, STMT_COMMIT, "Could not save changes to the local store", error))
    {
      /* Roll back now rather than leave a transaction that writes made
       * before the caller's rollback would silently join. */
      if (!sqlite3_get_autocommit (self->db))
        run_control (self, STMT_ROLLBACK, "Could not roll back", NULL);
      self->rolled_back = TRUE;
      return FALSE;
    }

  self->depth = 0;
  return TRUE;
}

void
om_store_rollback (OmStore *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (OM_IS_STORE (self));

  /* Nothing open: the matching om_store_begin failed. */
  if (self->depth == 0)
    return;

  if (!self->rolled_back)
    {
      if (!sqlite3_get_autocommit (self->db)
          && !run_control (self, STMT_ROLLBACK, "Could not roll back", &error))
        g_warning ("%s", error->message);
      self->rolled_back = TRUE;
    }

  self->depth--;
  if (self->depth == 0)
    self->rolled_back = FALSE;
}

/* Small values */

char *
om_store_dup_value (OmStore    *self,
                    const char *key)
{
  g_autoptr(OmStmt) stmt = NULL;
  g_autoptr(GError) error = NULL;
  int rc;

  g_return_val_if_fail (OM_IS_STORE (self), NULL);
  g_return_val_if_fail (key != NULL, NULL);

  stmt = get_stmt (self, STMT_KV_GET, &error);
  if (stmt == NULL || !bind_text (self, stmt, 1, key, &error))
    {
      g_warning ("%s", error->message);
      return NULL;
    }

  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return column_dup (stmt, 0);
  if (rc != SQLITE_DONE)
    g_warning ("Could not read the setting %s: %s", key, sqlite3_errmsg (self->db));

  return NULL;
}

gboolean
om_store_set_value (OmStore     *self,
                    const char  *key,
                    const char  *value,
                    GError     **error)
{
  g_autoptr(OmStmt) stmt = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  stmt = get_stmt (self, value != NULL ? STMT_KV_SET : STMT_KV_DELETE, error);
  if (stmt == NULL
      || !bind_text (self, stmt, 1, key, error)
      || (value != NULL && !bind_text (self, stmt, 2, value, error)))
    return FALSE;

  return run_write (self, stmt, "Could not save a setting", error);
}

/* Rooms */

void
om_store_room_free (OmStoreRoom *room)
{
  if (room == NULL)
    return;

  g_free (room->room_id);
  g_free (room->membership);
  g_free (room->data_json);
  g_free (room);
}

gboolean
om_store_save_room (OmStore     *self,
                    const char  *room_id,
                    const char  *membership,
                    const char  *data_json,
                    GError     **error)
{
  g_autoptr(OmStmt) stmt = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (membership != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  stmt = get_stmt (self, STMT_ROOM_SAVE, error);
  if (stmt == NULL
      || !bind_text (self, stmt, 1, room_id, error)
      || !bind_text (self, stmt, 2, membership, error)
      || !bind_text (self, stmt, 3, data_json != NULL ? data_json : "{}", error))
    return FALSE;

  return run_write (self, stmt, "Could not save a room", error);
}

GPtrArray *
om_store_load_rooms (OmStore  *self,
                     GError  **error)
{
  g_autoptr(GPtrArray) rooms = NULL;
  g_autoptr(OmStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (OM_IS_STORE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = get_stmt (self, STMT_ROOM_LOAD, error);
  if (stmt == NULL)
    return NULL;

  rooms = g_ptr_array_new_with_free_func ((GDestroyNotify) om_store_room_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      OmStoreRoom *room = g_new0 (OmStoreRoom, 1);

      room->room_id = column_dup (stmt, 0);
      room->membership = column_dup (stmt, 1);
      room->data_json = column_dup (stmt, 2);
      g_ptr_array_add (rooms, room);
    }
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "Could not load rooms");
      return NULL;
    }

  return g_steal_pointer (&rooms);
}

gboolean
om_store_delete_room (OmStore     *self,
                      const char  *room_id,
                      GError     **error)
{
  static const StmtId deletes[] = {
    STMT_ROOM_DELETE, STMT_STATE_DELETE_ROOM, STMT_TIMELINE_CLEAR, STMT_RECEIPT_DELETE_ROOM,
  };

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!om_store_begin (self, error))
    return FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (deletes); i++)
    {
      if (!run_room_write (self, deletes[i], room_id, "Could not delete a room", error))
        {
          om_store_rollback (self);
          return FALSE;
        }
    }

  if (!om_store_commit (self, error))
    {
      om_store_rollback (self);
      return FALSE;
    }

  return TRUE;
}

/* Room state */

gboolean
om_store_set_state_event (OmStore     *self,
                          const char  *room_id,
                          const char  *event_type,
                          const char  *state_key,
                          const char  *event_json,
                          GError     **error)
{
  g_autoptr(OmStmt) stmt = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (event_type != NULL, FALSE);
  g_return_val_if_fail (state_key != NULL, FALSE);
  g_return_val_if_fail (event_json != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  stmt = get_stmt (self, STMT_STATE_SET, error);
  if (stmt == NULL
      || !bind_text (self, stmt, 1, room_id, error)
      || !bind_text (self, stmt, 2, event_type, error)
      || !bind_text (self, stmt, 3, state_key, error)
      || !bind_text (self, stmt, 4, event_json, error))
    return FALSE;

  return run_write (self, stmt, "Could not save room state", error);
}

/* Collects column 0 of every row as strings. */
static GPtrArray *
load_strings (OmStore     *self,
              OmStmt      *stmt,
              const char  *what,
              GError     **error)
{
  g_autoptr(GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (strings, column_dup (stmt, 0));
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, what);
      return NULL;
    }

  return g_steal_pointer (&strings);
}

GPtrArray *
om_store_load_state (OmStore     *self,
                     const char  *room_id,
                     GError     **error)
{
  g_autoptr(OmStmt) stmt = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = get_stmt (self, STMT_STATE_LOAD, error);
  if (stmt == NULL || !bind_text (self, stmt, 1, room_id, error))
    return NULL;

  return load_strings (self, stmt, "Could not load room state", error);
}

/* Timeline */

static gboolean
timeline_write (OmStore     *self,
                 StmtId       id,
                 const char  *room_id,
                 const char  *event_id,
                 const char  *event_json,
                 GError     **error)
{
  g_autoptr(OmStmt) stmt = get_stmt (self, id, error);

  if (stmt == NULL
      || !bind_text (self, stmt, 1, room_id, error)
      || !bind_text (self, stmt, 2, event_id, error)
      || !bind_text (self, stmt, 3, event_json, error))
    return FALSE;

  return run_write (self, stmt, "Could not save a timeline event", error);
}

gboolean
om_store_timeline_append (OmStore     *self,
                          const char  *room_id,
                          const char  *event_id,
                          const char  *event_json,
                          GError     **error)
{
  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (event_id != NULL, FALSE);
  g_return_val_if_fail (event_json != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return timeline_write (self, STMT_TIMELINE_APPEND, room_id, event_id, event_json, error);
}

gboolean
om_store_timeline_prepend (OmStore     *self,
                           const char  *room_id,
                           const char  *event_id,
                           const char  *event_json,
                           GError     **error)
{
  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (event_id != NULL, FALSE);
  g_return_val_if_fail (event_json != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return timeline_write (self, STMT_TIMELINE_PREPEND, room_id, event_id, event_json, error);
}

/* Replacing an event that is not stored is a no-op (returns TRUE). */
gboolean
om_store_timeline_replace (OmStore     *self,
                           const char  *room_id,
                           const char  *event_id,
                           const char  *event_json,
                           GError     **error)
{
  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (event_id != NULL, FALSE);
  g_return_val_if_fail (event_json != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return timeline_write (self, STMT_TIMELINE_REPLACE, room_id, event_id, event_json, error);
}

gboolean
om_store_timeline_clear (OmStore     *self,
                         const char  *room_id,
                         GError     **error)
{
  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return run_room_write (self, STMT_TIMELINE_CLEAR, room_id, "Could not clear a timeline", error);
}

/* Failures are logged and read as "no". */
gboolean
om_store_timeline_has_event (OmStore    *self,
                             const char *room_id,
                             const char *event_id)
{
  g_autoptr(OmStmt) stmt = NULL;
  g_autoptr(GError) error = NULL;
  int rc;

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (event_id != NULL, FALSE);

  stmt = get_stmt (self, STMT_TIMELINE_HAS, &error);
  if (stmt == NULL
      || !bind_text (self, stmt, 1, room_id, &error)
      || !bind_text (self, stmt, 2, event_id, &error))
    {
      g_warning ("%s", error->message);
      return FALSE;
    }

  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    g_warning ("Could not look up a timeline event: %s", sqlite3_errmsg (self->db));

  return rc == SQLITE_ROW;
}

GPtrArray *
om_store_timeline_load_latest (OmStore     *self,
                               const char  *room_id,
                               guint        limit,
                               GError     **error)
{
  g_autoptr(OmStmt) stmt = NULL;
  GPtrArray *events;

  g_return_val_if_fail (OM_IS_STORE (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = get_stmt (self, STMT_TIMELINE_LATEST, error);
  if (stmt == NULL
      || !bind_text (self, stmt, 1, room_id, error)
      || !bind_int64 (self, stmt, 2, limit, error))
    return NULL;

  /* Read newest first (the primary key index walks backwards, no sort),
   * then reverse into display order. */
  events = load_strings (self, stmt, "Could not load a timeline", error);
  if (events == NULL)
    return NULL;

  for (guint i = 0, j = events->len; i + 1 < j; i++, j--)
    {
      gpointer tmp = events->pdata[i];

      events->pdata[i] = events->pdata[j - 1];
      events->pdata[j - 1] = tmp;
    }

  return events;
}

gint64
om_store_timeline_latest_ts (OmStore    *self,
                             const char *room_id)
{
  g_autoptr(OmStmt) stmt = NULL;
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), -1);
  g_return_val_if_fail (room_id != NULL, -1);

  stmt = get_stmt (self, STMT_TIMELINE_LATEST_TS, &error);
  if (stmt == NULL || !bind_text (self, stmt, 1, room_id, &error))
    {
      g_warning ("%s", error->message);
      return -1;
    }
  if (sqlite3_step (stmt) != SQLITE_ROW || sqlite3_column_type (stmt, 0) != SQLITE_INTEGER)
    return -1;
  return sqlite3_column_int64 (stmt, 0);
}

/* Failures are logged and read as 0. */
guint
om_store_timeline_count (OmStore    *self,
                         const char *room_id)
{
  g_autoptr(OmStmt) stmt = NULL;
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), 0);
  g_return_val_if_fail (room_id != NULL, 0);

  stmt = get_stmt (self, STMT_TIMELINE_COUNT, &error);
  if (stmt == NULL || !bind_text (self, stmt, 1, room_id, &error))
    {
      g_warning ("%s", error->message);
      return 0;
    }

  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      g_warning ("Could not count timeline events: %s", sqlite3_errmsg (self->db));
      return 0;
    }

  return (guint) sqlite3_column_int64 (stmt, 0);
}

/* Receipts */

void
om_store_receipt_free (OmStoreReceipt *receipt)
{
  if (receipt == NULL)
    return;

  g_free (receipt->room_id);
  g_free (receipt->receipt_type);
  g_free (receipt->user_id);
  g_free (receipt->event_id);
  g_free (receipt->thread_id);
  g_free (receipt);
}

/* The last receipt set for a (room, type, user, thread) wins; a NULL
 * @thread_id (unthreaded) is stored as "". */
gboolean
om_store_set_receipt (OmStore     *self,
                      const char  *room_id,
                      const char  *receipt_type,
                      const char  *user_id,
                      const char  *event_id,
                      gint64       ts,
                      const char  *thread_id,
                      GError     **error)
{
  g_autoptr(OmStmt) stmt = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (receipt_type != NULL, FALSE);
  g_return_val_if_fail (user_id != NULL, FALSE);
  g_return_val_if_fail (event_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  stmt = get_stmt (self, STMT_RECEIPT_SET, error);
  if (stmt == NULL
      || !bind_text (self, stmt, 1, room_id, error)
      || !bind_text (self, stmt, 2, receipt_type, error)
      || !bind_text (self, stmt, 3, user_id, error)
      || !bind_text (self, stmt, 4, thread_id != NULL ? thread_id : "", error)
      || !bind_text (self, stmt, 5, event_id, error)
      || !bind_int64 (self, stmt, 6, ts, error))
    return FALSE;

  return run_write (self, stmt, "Could not save a receipt", error);
}

GPtrArray *
om_store_load_receipts (OmStore     *self,
                        const char  *room_id,
                        GError     **error)
{
  g_autoptr(GPtrArray) receipts = NULL;
  g_autoptr(OmStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (OM_IS_STORE (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = get_stmt (self, STMT_RECEIPT_LOAD, error);
  if (stmt == NULL || !bind_text (self, stmt, 1, room_id, error))
    return NULL;

  receipts = g_ptr_array_new_with_free_func ((GDestroyNotify) om_store_receipt_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      OmStoreReceipt *receipt = g_new0 (OmStoreReceipt, 1);
      const char *thread_id = (const char *) sqlite3_column_text (stmt, 2);

      receipt->room_id = g_strdup (room_id);
      receipt->receipt_type = column_dup (stmt, 0);
      receipt->user_id = column_dup (stmt, 1);
      receipt->thread_id = thread_id != NULL && *thread_id != '\0' ? g_strdup (thread_id) : NULL;
      receipt->event_id = column_dup (stmt, 3);
      receipt->ts = sqlite3_column_int64 (stmt, 4);
      g_ptr_array_add (receipts, receipt);
    }
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "Could not load receipts");
      return NULL;
    }

  return g_steal_pointer (&receipts);
}

/* Presence */

gboolean
om_store_set_presence (OmStore     *self,
                       const char  *user_id,
                       const char  *presence_json,
                       GError     **error)
{
  g_autoptr(OmStmt) stmt = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (user_id != NULL, FALSE);
  g_return_val_if_fail (presence_json != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  stmt = get_stmt (self, STMT_PRESENCE_SET, error);
  if (stmt == NULL
      || !bind_text (self, stmt, 1, user_id, error)
      || !bind_text (self, stmt, 2, presence_json, error))
    return FALSE;

  return run_write (self, stmt, "Could not save presence", error);
}

GHashTable *
om_store_load_presence (OmStore  *self,
                        GError  **error)
{
  g_autoptr(GHashTable) presence = NULL;
  g_autoptr(OmStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (OM_IS_STORE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = get_stmt (self, STMT_PRESENCE_LOAD, error);
  if (stmt == NULL)
    return NULL;

  presence = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_hash_table_insert (presence, column_dup (stmt, 0), column_dup (stmt, 1));
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "Could not load presence");
      return NULL;
    }

  return g_steal_pointer (&presence);
}

/* Outbox */

void
om_store_outbox_entry_free (OmStoreOutboxEntry *entry)
{
  if (entry == NULL)
    return;

  g_free (entry->room_id);
  g_free (entry->txn_id);
  g_free (entry->event_type);
  g_free (entry->content_json);
  g_free (entry->event_id);
  g_free (entry->error);
  g_free (entry);
}

static gint64
outbox_insert (OmStore     *self,
               const char  *room_id,
               const char  *txn_id,
               const char  *event_type,
               const char  *content_json,
               GError     **error)
{
  g_autoptr(OmStmt) stmt = get_stmt (self, STMT_OUTBOX_ADD, error);

  if (stmt == NULL
      || !bind_text (self, stmt, 1, room_id, error)
      || !bind_text (self, stmt, 2, txn_id, error)
      || !bind_text (self, stmt, 3, event_type, error)
      || !bind_text (self, stmt, 4, content_json, error)
      || !bind_int64 (self, stmt, 5, g_get_real_time () / 1000, error)
      || !run_write (self, stmt, "Could not queue a message", error))
    return -1;

  return sqlite3_last_insert_rowid (self->db);
}

/* Returns the new entry's ID (> 0), or -1 with @error set; a @txn_id already
 * in the outbox is an error.  Outside a transaction the insert is committed
 * with synchronous=FULL, so the entry survives a power cut as well as a
 * crash before the message is sent; inside one it is as durable as the
 * outermost commit. */
gint64
om_store_outbox_add (OmStore     *self,
                     const char  *room_id,
                     const char  *txn_id,
                     const char  *event_type,
                     const char  *content_json,
                     GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  gint64 id;

  g_return_val_if_fail (OM_IS_STORE (self), -1);
  g_return_val_if_fail (room_id != NULL, -1);
  g_return_val_if_fail (txn_id != NULL, -1);
  g_return_val_if_fail (event_type != NULL, -1);
  g_return_val_if_fail (content_json != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (self->depth > 0)
    return outbox_insert (self, room_id, txn_id, event_type, content_json, error);

  /* The safety level cannot change inside a transaction, so this only
   * applies to the autocommit insert. */
  if (!exec_sql (self, "PRAGMA synchronous = FULL", "Could not configure the local store", error))
    return -1;
  id = outbox_insert (self, room_id, txn_id, event_type, content_json, error);
  if (!exec_sql (self, "PRAGMA synchronous = NORMAL", "Could not configure the local store",
                 &local_error))
    g_warning ("%s", local_error->message);

  return id;
}

/* Sets the state, event ID and error of entry @id (NULL clears the latter
 * two).  An unknown @id is an error. */
gboolean
om_store_outbox_update (OmStore        *self,
                        gint64          id,
                        OmOutboxState   state,
                        const char     *event_id,
                        const char     *error_message,
                        GError        **error)
{
  g_autoptr(OmStmt) stmt = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail ((guint) state <= OM_OUTBOX_STATE_FAILED, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  stmt = get_stmt (self, STMT_OUTBOX_UPDATE, error);
  if (stmt == NULL
      || !bind_int64 (self, stmt, 1, id, error)
      || !bind_int64 (self, stmt, 2, state, error)
      || !bind_text (self, stmt, 3, event_id, error)
      || !bind_text (self, stmt, 4, error_message, error)
      || !run_write (self, stmt, "Could not update a queued message", error))
    return FALSE;

  if (sqlite3_changes (self->db) == 0)
    {
      g_set_error (error, OM_ERROR, OM_ERROR_STORE,
                   "Could not update a queued message: no outbox entry %" G_GINT64_FORMAT, id);
      return FALSE;
    }

  return TRUE;
}

/* Removing an entry that is not there is a no-op (returns TRUE). */
gboolean
om_store_outbox_remove (OmStore  *self,
                        gint64    id,
                        GError  **error)
{
  g_autoptr(OmStmt) stmt = NULL;

  g_return_val_if_fail (OM_IS_STORE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  stmt = get_stmt (self, STMT_OUTBOX_REMOVE, error);
  if (stmt == NULL || !bind_int64 (self, stmt, 1, id, error))
    return FALSE;

  return run_write (self, stmt, "Could not remove a queued message", error);
}

GPtrArray *
om_store_outbox_load (OmStore  *self,
                      GError  **error)
{
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(OmStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (OM_IS_STORE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  stmt = get_stmt (self, STMT_OUTBOX_LOAD, error);
  if (stmt == NULL)
    return NULL;

  entries = g_ptr_array_new_with_free_func ((GDestroyNotify) om_store_outbox_entry_free);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      OmStoreOutboxEntry *entry = g_new0 (OmStoreOutboxEntry, 1);

      entry->id = sqlite3_column_int64 (stmt, 0);
      entry->room_id = column_dup (stmt, 1);
      entry->txn_id = column_dup (stmt, 2);
      entry->event_type = column_dup (stmt, 3);
      entry->content_json = column_dup (stmt, 4);
      entry->state = (OmOutboxState) sqlite3_column_int (stmt, 5);
      entry->event_id = column_dup (stmt, 6);
      entry->error = column_dup (stmt, 7);
      entry->created_ms = sqlite3_column_int64 (stmt, 8);
      g_ptr_array_add (entries, entry);
    }
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "Could not load queued messages");
      return NULL;
    }

  return g_steal_pointer (&entries);
}
