/* om-hs-state.c — the test homeserver's SQLite model
 *
 * Every change to what a client can see (event, typing change, receipt,
 * account data, presence, device list) takes the next position of one
 * global stream; /sync tokens are positions in it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-state"

#include "om-hs.h"

#include <stdlib.h>
#include <string.h>

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER);"
  "CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, password TEXT,"
  "  admin INTEGER, displayname TEXT, avatar_url TEXT, created_ts INTEGER,"
  "  deactivated INTEGER DEFAULT 0);"
  "CREATE TABLE IF NOT EXISTS devices (user_id TEXT, device_id TEXT,"
  "  display_name TEXT, PRIMARY KEY (user_id, device_id));"
  "CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, user_id TEXT,"
  "  device_id TEXT, expired INTEGER DEFAULT 0, expires_at INTEGER DEFAULT 0,"
  "  refresh_token TEXT, used INTEGER DEFAULT 0);"
  "CREATE TABLE IF NOT EXISTS refresh_tokens (token TEXT PRIMARY KEY, user_id TEXT,"
  "  device_id TEXT, next_token TEXT, expired INTEGER DEFAULT 0);"
  "CREATE TABLE IF NOT EXISTS filters (user_id TEXT, filter_id INTEGER,"
  "  json TEXT, PRIMARY KEY (user_id, filter_id));"
  "CREATE TABLE IF NOT EXISTS events (stream INTEGER PRIMARY KEY,"
  "  event_id TEXT UNIQUE, room_id TEXT, type TEXT, state_key TEXT,"
  "  sender TEXT, content TEXT, ts INTEGER, txn_id TEXT, device_id TEXT,"
  "  prev_event_id TEXT, redacted_because TEXT);"
  "CREATE INDEX IF NOT EXISTS events_room ON events (room_id, stream);"
  "CREATE INDEX IF NOT EXISTS events_state ON events (room_id, type, state_key, stream);"
  "CREATE TABLE IF NOT EXISTS current_state (room_id TEXT, type TEXT,"
  "  state_key TEXT, event_stream INTEGER, membership TEXT,"
  "  PRIMARY KEY (room_id, type, state_key));"
  /* Synapse de-duplicates on (room, user, device, txnId). */
  "CREATE TABLE IF NOT EXISTS transactions (user_id TEXT, device_id TEXT, room_id TEXT,"
  "  txn_id TEXT, event_id TEXT, PRIMARY KEY (user_id, device_id, room_id, txn_id));"
  "CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, room_id TEXT);"
  "CREATE TABLE IF NOT EXISTS receipts (room_id TEXT, user_id TEXT, type TEXT,"
  "  thread_id TEXT, event_id TEXT, ts INTEGER, stream INTEGER,"
  "  PRIMARY KEY (room_id, user_id, type, thread_id));"
  "CREATE TABLE IF NOT EXISTS account_data (user_id TEXT, room_id TEXT,"
  "  type TEXT, content TEXT, stream INTEGER, PRIMARY KEY (user_id, room_id, type));"
  "CREATE TABLE IF NOT EXISTS presence (user_id TEXT PRIMARY KEY, presence TEXT,"
  "  status_msg TEXT, last_active_ts INTEGER, stream INTEGER);"
  "CREATE TABLE IF NOT EXISTS device_lists (user_id TEXT PRIMARY KEY, stream INTEGER);"
  "CREATE TABLE IF NOT EXISTS device_keys (user_id TEXT, device_id TEXT, json TEXT,"
  "  PRIMARY KEY (user_id, device_id));"
  "CREATE TABLE IF NOT EXISTS one_time_keys (user_id TEXT, device_id TEXT, key_id TEXT,"
  "  algorithm TEXT, json TEXT, PRIMARY KEY (user_id, device_id, key_id));"
  "CREATE TABLE IF NOT EXISTS fallback_keys (user_id TEXT, device_id TEXT, algorithm TEXT,"
  "  key_id TEXT, json TEXT, used INTEGER DEFAULT 0, PRIMARY KEY (user_id, device_id, algorithm));"
  "CREATE TABLE IF NOT EXISTS to_device (stream INTEGER, user_id TEXT, device_id TEXT,"
  "  sender TEXT, type TEXT, content TEXT);"
  "CREATE TABLE IF NOT EXISTS to_device_txns (user_id TEXT, device_id TEXT, txn_id TEXT,"
  "  PRIMARY KEY (user_id, device_id, txn_id));";

/* Bumped on any schema change: an older database is emptied (it only ever
 * holds test data). */
#define SCHEMA_VERSION 4

static const char *const all_tables[] = {
  "meta", "users", "devices", "tokens", "refresh_tokens", "filters", "events", "current_state",
  "txns", "transactions", "aliases", "receipts", "account_data", "presence", "device_lists",
  "device_keys", "one_time_keys", "fallback_keys", "to_device", "to_device_txns",
};

#define EV_COLS "stream, event_id, room_id, type, state_key, sender, content, ts," \
                " txn_id, device_id, prev_event_id, redacted_because"

/* Prepared statements, keyed by their SQL text (a static string). */
static GHashTable *stmts;

static void
stmt_finalize (gpointer st)
{
  sqlite3_finalize (st);
}

sqlite3_stmt *
om_hs_stmt (OmHs       *hs,
            const char *sql)
{
  sqlite3_stmt *st = g_hash_table_lookup (stmts, sql);

  if (st == NULL)
    {
      if (sqlite3_prepare_v2 (hs->db, sql, -1, &st, NULL) != SQLITE_OK)
        g_error ("SQL prepare failed: %s (%s)", sqlite3_errmsg (hs->db), sql);
      g_hash_table_insert (stmts, (gpointer) sql, st);
    }
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
  return st;
}

void
om_hs_bind_text (sqlite3_stmt *st,
                 int           i,
                 const char   *s)
{
  if (s == NULL)
    sqlite3_bind_null (st, i);
  else
    sqlite3_bind_text (st, i, s, -1, SQLITE_TRANSIENT);
}

void
om_hs_step_done (OmHs         *hs,
                 sqlite3_stmt *st)
{
  int rc = sqlite3_step (st);

  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    g_error ("SQL step failed: %s", sqlite3_errmsg (hs->db));
  sqlite3_reset (st);
}

char *
om_hs_col_dup (sqlite3_stmt *st,
               int           i)
{
  const unsigned char *s = sqlite3_column_text (st, i);

  return s ? g_strdup ((const char *) s) : NULL;
}

static void
exec (OmHs       *hs,
      const char *sql)
{
  char *err = NULL;

  if (sqlite3_exec (hs->db, sql, NULL, NULL, &err) != SQLITE_OK)
    {
      g_error ("SQL failed: %s", err);
      sqlite3_free (err);
    }
}

gboolean
om_hs_state_open (OmHs        *hs,
                  const char  *path,
                  GError     **error)
{
  sqlite3_stmt *st;
  int version;

  if (sqlite3_open (path ? path : ":memory:", &hs->db) != SQLITE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot open %s: %s",
                   path, sqlite3_errmsg (hs->db));
      return FALSE;
    }
  stmts = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                 stmt_finalize);
  sqlite3_busy_timeout (hs->db, 2000);
  if (path)
    exec (hs, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");

  st = om_hs_stmt (hs, "PRAGMA user_version");
  sqlite3_step (st);
  version = sqlite3_column_int (st, 0);
  sqlite3_reset (st);
  if (version != SCHEMA_VERSION)
    {
      for (guint i = 0; i < G_N_ELEMENTS (all_tables); i++)
        {
          g_autofree char *sql = g_strdup_printf ("DROP TABLE IF EXISTS %s", all_tables[i]);
          exec (hs, sql);
        }
      exec (hs, "PRAGMA user_version = " G_STRINGIFY (SCHEMA_VERSION));
    }
  exec (hs, schema);

  st = om_hs_stmt (hs, "SELECT value FROM meta WHERE key = 'stream'");
  if (sqlite3_step (st) == SQLITE_ROW)
    hs->stream = sqlite3_column_int64 (st, 0);
  sqlite3_reset (st);
  return TRUE;
}

void
om_hs_state_close (OmHs *hs)
{
  g_clear_pointer (&stmts, g_hash_table_unref);
  g_clear_pointer (&hs->db, sqlite3_close);
}

gint64
om_hs_stream_advance (OmHs *hs)
{
  sqlite3_stmt *st;

  hs->stream++;
  st = om_hs_stmt (hs, "INSERT OR REPLACE INTO meta (key, value) VALUES ('stream', ?)");
  sqlite3_bind_int64 (st, 1, hs->stream);
  om_hs_step_done (hs, st);
  om_hs_notify (hs);
  return hs->stream;
}

void
om_hs_event_free (OmHsEvent *ev)
{
  if (ev == NULL)
    return;
  g_free (ev->event_id);
  g_free (ev->room_id);
  g_free (ev->type);
  g_free (ev->state_key);
  g_free (ev->sender);
  g_free (ev->content);
  g_free (ev->txn_id);
  g_free (ev->device_id);
  g_free (ev->prev_event_id);
  g_free (ev->redacted_because);
  g_free (ev);
}

static OmHsEvent *
event_from_row (sqlite3_stmt *st)
{
  OmHsEvent *ev = g_new0 (OmHsEvent, 1);

  ev->stream = sqlite3_column_int64 (st, 0);
  ev->event_id = om_hs_col_dup (st, 1);
  ev->room_id = om_hs_col_dup (st, 2);
  ev->type = om_hs_col_dup (st, 3);
  ev->state_key = om_hs_col_dup (st, 4);
  ev->sender = om_hs_col_dup (st, 5);
  ev->content = om_hs_col_dup (st, 6);
  ev->origin_server_ts = sqlite3_column_int64 (st, 7);
  ev->txn_id = om_hs_col_dup (st, 8);
  ev->device_id = om_hs_col_dup (st, 9);
  ev->prev_event_id = om_hs_col_dup (st, 10);
  ev->redacted_because = om_hs_col_dup (st, 11);
  return ev;
}

static GPtrArray *
events_from_stmt (sqlite3_stmt *st)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) om_hs_event_free);

  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, event_from_row (st));
  sqlite3_reset (st);
  return out;
}

static OmHsEvent *
event_from_stmt (sqlite3_stmt *st)
{
  OmHsEvent *ev = NULL;

  if (sqlite3_step (st) == SQLITE_ROW)
    ev = event_from_row (st);
  sqlite3_reset (st);
  return ev;
}

/* Users, devices, tokens, filters */

char *
om_hs_user_id (OmHs       *hs,
               const char *localpart)
{
  if (localpart[0] == '@')
    return g_strdup (localpart);
  return g_strdup_printf ("@%s:%s", localpart, hs->server_name);
}

gboolean
om_hs_user_exists (OmHs       *hs,
                   const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT 1 FROM users WHERE user_id = ?");
  gboolean found;

  om_hs_bind_text (st, 1, user_id);
  found = sqlite3_step (st) == SQLITE_ROW;
  sqlite3_reset (st);
  return found;
}

gboolean
om_hs_user_create (OmHs       *hs,
                   const char *localpart,
                   const char *password,
                   gboolean    admin,
                   const char *displayname)
{
  g_autofree char *user_id = om_hs_user_id (hs, localpart);
  sqlite3_stmt *st;

  if (om_hs_user_exists (hs, user_id))
    return FALSE;
  st = om_hs_stmt (hs, "INSERT INTO users (user_id, password, admin, displayname, created_ts)"
                       " VALUES (?, ?, ?, ?, ?)");
  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, password);
  sqlite3_bind_int (st, 3, admin);
  /* Synapse's default display name is the localpart. */
  om_hs_bind_text (st, 4, displayname ? displayname : localpart);
  sqlite3_bind_int64 (st, 5, om_hs_now_ms ());
  om_hs_step_done (hs, st);
  return TRUE;
}

gboolean
om_hs_user_check_password (OmHs       *hs,
                           const char *user_id,
                           const char *password)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT password FROM users WHERE user_id = ? AND deactivated = 0");
  gboolean ok = FALSE;

  om_hs_bind_text (st, 1, user_id);
  if (sqlite3_step (st) == SQLITE_ROW && password != NULL)
    {
      const char *pw = (const char *) sqlite3_column_text (st, 0);
      ok = pw != NULL && g_str_equal (pw, password);
    }
  sqlite3_reset (st);
  return ok;
}

char *
om_hs_user_dup_displayname (OmHs       *hs,
                            const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT displayname FROM users WHERE user_id = ?");
  char *name = NULL;

  om_hs_bind_text (st, 1, user_id);
  if (sqlite3_step (st) == SQLITE_ROW)
    name = om_hs_col_dup (st, 0);
  sqlite3_reset (st);
  return name;
}

void
om_hs_user_set_displayname (OmHs       *hs,
                            const char *user_id,
                            const char *displayname)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "UPDATE users SET displayname = ? WHERE user_id = ?");

  om_hs_bind_text (st, 1, displayname);
  om_hs_bind_text (st, 2, user_id);
  om_hs_step_done (hs, st);
}

gboolean
om_hs_user_is_admin (OmHs       *hs,
                     const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT 1 FROM users WHERE user_id = ? AND admin != 0");
  gboolean admin;

  om_hs_bind_text (st, 1, user_id);
  admin = sqlite3_step (st) == SQLITE_ROW;
  sqlite3_reset (st);
  return admin;
}

char **
om_hs_user_row (OmHs       *hs,
                const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT displayname, admin, deactivated, created_ts FROM users WHERE user_id = ?");
  char **row = NULL;

  om_hs_bind_text (st, 1, user_id);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      row = g_new0 (char *, 5);
      for (int i = 0; i < 4; i++)
        row[i] = om_hs_col_dup (st, i);
    }
  sqlite3_reset (st);
  return row;
}

void
om_hs_user_update (OmHs       *hs,
                   const char *user_id,
                   const char *password,
                   gint        admin,
                   gint        deactivated)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "UPDATE users SET password = COALESCE (?, password),"
                                     " admin = CASE WHEN ? < 0 THEN admin ELSE ? END,"
                                     " deactivated = CASE WHEN ? < 0 THEN deactivated ELSE ? END WHERE user_id = ?");

  om_hs_bind_text (st, 1, password);
  sqlite3_bind_int (st, 2, admin);
  sqlite3_bind_int (st, 3, admin);
  sqlite3_bind_int (st, 4, deactivated);
  sqlite3_bind_int (st, 5, deactivated);
  om_hs_bind_text (st, 6, user_id);
  om_hs_step_done (hs, st);
}

GPtrArray *
om_hs_user_list (OmHs       *hs,
                 const char *name)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT user_id FROM users WHERE ?1 IS NULL OR instr (user_id, ?1) > 0"
                                     " OR instr (COALESCE (displayname, ''), ?1) > 0 ORDER BY user_id");
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  om_hs_bind_text (st, 1, name);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, om_hs_col_dup (st, 0));
  sqlite3_reset (st);
  return out;
}

GPtrArray *
om_hs_room_list (OmHs *hs)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT room_id FROM current_state WHERE type = 'm.room.create'"
                                     " ORDER BY event_stream");
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, om_hs_col_dup (st, 0));
  sqlite3_reset (st);
  return out;
}

void
om_hs_room_purge (OmHs       *hs,
                  const char *room_id)
{
  static const char *const sql[] = {
    "DELETE FROM events WHERE room_id = ?",
    "DELETE FROM current_state WHERE room_id = ?",
    "DELETE FROM aliases WHERE room_id = ?",
    "DELETE FROM receipts WHERE room_id = ?",
    "DELETE FROM account_data WHERE room_id = ?",
  };

  for (guint i = 0; i < G_N_ELEMENTS (sql); i++)
    {
      sqlite3_stmt *st = om_hs_stmt (hs, sql[i]);

      om_hs_bind_text (st, 1, room_id);
      om_hs_step_done (hs, st);
    }
  om_hs_stream_advance (hs);
}

void
om_hs_device_ensure (OmHs       *hs,
                     const char *user_id,
                     const char *device_id,
                     const char *display_name)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "INSERT OR IGNORE INTO devices (user_id, device_id, display_name)"
                                     " VALUES (?, ?, ?)");

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  om_hs_bind_text (st, 3, display_name);
  om_hs_step_done (hs, st);
  if (sqlite3_changes (hs->db) > 0)
    om_hs_device_list_bump (hs, user_id);
}

char *
om_hs_token_create (OmHs       *hs,
                    const char *user_id,
                    const char *device_id)
{
  /* Synapse-like "syt_" tokens; only their opacity matters. */
  g_autofree char *rnd = om_hs_random_string (32, FALSE);
  char *token = g_strdup_printf ("syt_%s", rnd);
  sqlite3_stmt *st = om_hs_stmt (hs, "INSERT INTO tokens (token, user_id, device_id) VALUES (?, ?, ?)");

  om_hs_bind_text (st, 1, token);
  om_hs_bind_text (st, 2, user_id);
  om_hs_bind_text (st, 3, device_id);
  om_hs_step_done (hs, st);
  return token;
}

gboolean
om_hs_token_lookup (OmHs        *hs,
                    const char  *token,
                    char       **out_user_id,
                    char       **out_device_id,
                    gboolean    *out_expired)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT user_id, device_id, expired, expires_at, used FROM tokens WHERE token = ?");
  gboolean found = FALSE, used = TRUE;

  om_hs_bind_text (st, 1, token);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      gint64 expires_at = sqlite3_column_int64 (st, 3);

      found = TRUE;
      *out_user_id = om_hs_col_dup (st, 0);
      *out_device_id = om_hs_col_dup (st, 1);
      *out_expired = sqlite3_column_int (st, 2) != 0 || (expires_at > 0 && expires_at <= om_hs_now_ms ());
      used = sqlite3_column_int (st, 4) != 0;
    }
  sqlite3_reset (st);
  if (found && !used && !*out_expired)
    {
      /* Using a refreshed access token retires the refresh token before it. */
      st = om_hs_stmt (hs, "UPDATE tokens SET used = 1 WHERE token = ?");
      om_hs_bind_text (st, 1, token);
      om_hs_step_done (hs, st);
    }
  return found;
}

char *
om_hs_token_create_refreshable (OmHs        *hs,
                                const char  *user_id,
                                const char  *device_id,
                                gint64       lifetime_ms,
                                char       **out_refresh_token)
{
  g_autofree char *rnd = om_hs_random_string (32, FALSE);
  g_autofree char *rnd2 = om_hs_random_string (32, FALSE);
  char *token = g_strdup_printf ("syt_%s", rnd);
  char *refresh = g_strdup_printf ("syr_%s", rnd2);
  sqlite3_stmt *st;

  st = om_hs_stmt (hs, "INSERT INTO refresh_tokens (token, user_id, device_id) VALUES (?, ?, ?)");
  om_hs_bind_text (st, 1, refresh);
  om_hs_bind_text (st, 2, user_id);
  om_hs_bind_text (st, 3, device_id);
  om_hs_step_done (hs, st);
  st = om_hs_stmt (hs, "INSERT INTO tokens (token, user_id, device_id, expires_at, refresh_token)"
                       " VALUES (?, ?, ?, ?, ?)");
  om_hs_bind_text (st, 1, token);
  om_hs_bind_text (st, 2, user_id);
  om_hs_bind_text (st, 3, device_id);
  sqlite3_bind_int64 (st, 4, om_hs_now_ms () + lifetime_ms);
  om_hs_bind_text (st, 5, refresh);
  om_hs_step_done (hs, st);
  *out_refresh_token = refresh;
  return token;
}

/* Synapse's rotation: a refresh token may be used again as long as the pair
 * it produced has not been used; then it is spent (403). */
guint
om_hs_token_refresh (OmHs        *hs,
                     const char  *refresh_token,
                     gint64       lifetime_ms,
                     char       **out_access_token,
                     char       **out_refresh_token)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT user_id, device_id, next_token, expired FROM refresh_tokens WHERE token = ?");
  g_autofree char *user_id = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *next = NULL;
  gboolean found = FALSE;
  gboolean expired = FALSE;

  om_hs_bind_text (st, 1, refresh_token);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      found = TRUE;
      user_id = om_hs_col_dup (st, 0);
      device_id = om_hs_col_dup (st, 1);
      next = om_hs_col_dup (st, 2);
      expired = sqlite3_column_int (st, 3) != 0;
    }
  sqlite3_reset (st);
  if (!found)
    return 401;
  if (expired)
    return 419;
  if (next)
    {
      gboolean spent = FALSE;

      st = om_hs_stmt (hs, "SELECT 1 FROM tokens WHERE refresh_token = ?1 AND used = 1"
                           " UNION SELECT 1 FROM refresh_tokens WHERE token = ?1 AND next_token IS NOT NULL");
      om_hs_bind_text (st, 1, next);
      spent = sqlite3_step (st) == SQLITE_ROW;
      sqlite3_reset (st);
      if (spent)
        return 403;
      st = om_hs_stmt (hs, "DELETE FROM tokens WHERE refresh_token = ?");
      om_hs_bind_text (st, 1, next);
      om_hs_step_done (hs, st);
      st = om_hs_stmt (hs, "DELETE FROM refresh_tokens WHERE token = ?");
      om_hs_bind_text (st, 1, next);
      om_hs_step_done (hs, st);
    }
  *out_access_token = om_hs_token_create_refreshable (hs, user_id, device_id, lifetime_ms, out_refresh_token);
  st = om_hs_stmt (hs, "UPDATE refresh_tokens SET next_token = ? WHERE token = ?");
  om_hs_bind_text (st, 1, *out_refresh_token);
  om_hs_bind_text (st, 2, refresh_token);
  om_hs_step_done (hs, st);
  return 200;
}

void
om_hs_device_logout (OmHs       *hs,
                     const char *user_id,
                     const char *device_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "DELETE FROM tokens WHERE user_id = ? AND device_id = ?");

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  om_hs_step_done (hs, st);
  st = om_hs_stmt (hs, "DELETE FROM refresh_tokens WHERE user_id = ? AND device_id = ?");
  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  om_hs_step_done (hs, st);
  st = om_hs_stmt (hs, "DELETE FROM devices WHERE user_id = ? AND device_id = ?");
  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  om_hs_step_done (hs, st);
  om_hs_device_list_bump (hs, user_id);
}

GPtrArray *
om_hs_devices (OmHs       *hs,
               const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT device_id, display_name FROM devices WHERE user_id = ? ORDER BY device_id");
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

  om_hs_bind_text (st, 1, user_id);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      char **row = g_new0 (char *, 3);
      row[0] = om_hs_col_dup (st, 0);
      row[1] = om_hs_col_dup (st, 1);
      g_ptr_array_add (out, row);
    }
  sqlite3_reset (st);
  return out;
}

void
om_hs_token_delete_user (OmHs       *hs,
                         const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "DELETE FROM tokens WHERE user_id = ?");

  om_hs_bind_text (st, 1, user_id);
  om_hs_step_done (hs, st);
  st = om_hs_stmt (hs, "DELETE FROM refresh_tokens WHERE user_id = ?");
  om_hs_bind_text (st, 1, user_id);
  om_hs_step_done (hs, st);
  st = om_hs_stmt (hs, "DELETE FROM devices WHERE user_id = ?");
  om_hs_bind_text (st, 1, user_id);
  om_hs_step_done (hs, st);
}

guint
om_hs_token_expire (OmHs       *hs,
                    const char *user_id,
                    const char *token,
                    gboolean    also_refresh)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "UPDATE tokens SET expired = 1 WHERE user_id = ? OR token = ?");
  guint n;

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, token);
  om_hs_step_done (hs, st);
  n = sqlite3_changes (hs->db);
  if (also_refresh)
    {
      st = om_hs_stmt (hs, "UPDATE refresh_tokens SET expired = 1 WHERE user_id = ?");
      om_hs_bind_text (st, 1, user_id);
      om_hs_step_done (hs, st);
    }
  return n;
}

char *
om_hs_filter_create (OmHs       *hs,
                     const char *user_id,
                     const char *json)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT COALESCE (MAX (filter_id) + 1, 0) FROM filters WHERE user_id = ?");
  gint64 id;

  om_hs_bind_text (st, 1, user_id);
  sqlite3_step (st);
  id = sqlite3_column_int64 (st, 0);
  sqlite3_reset (st);

  st = om_hs_stmt (hs, "INSERT INTO filters (user_id, filter_id, json) VALUES (?, ?, ?)");
  om_hs_bind_text (st, 1, user_id);
  sqlite3_bind_int64 (st, 2, id);
  om_hs_bind_text (st, 3, json);
  om_hs_step_done (hs, st);
  return g_strdup_printf ("%" G_GINT64_FORMAT, id);
}

char *
om_hs_filter_get (OmHs       *hs,
                  const char *user_id,
                  const char *filter_id)
{
  sqlite3_stmt *st;
  char *end = NULL;
  gint64 id;
  char *json = NULL;

  id = g_ascii_strtoll (filter_id, &end, 10);
  if (filter_id[0] == '\0' || *end != '\0' || id < 0)
    return NULL;
  st = om_hs_stmt (hs, "SELECT json FROM filters WHERE user_id = ? AND filter_id = ?");
  om_hs_bind_text (st, 1, user_id);
  sqlite3_bind_int64 (st, 2, id);
  if (sqlite3_step (st) == SQLITE_ROW)
    json = om_hs_col_dup (st, 0);
  sqlite3_reset (st);
  return json;
}

/* Events and state */

OmHsEvent *
om_hs_event_create (OmHs       *hs,
                    const char *room_id,
                    const char *sender,
                    const char *type,
                    const char *state_key,
                    JsonObject *content,
                    const char *txn_id,
                    const char *device_id,
                    gint64      ts)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), content);
  g_autofree char *rnd = om_hs_random_string (43, FALSE);
  g_autoptr(OmHsEvent) prev = NULL;
  OmHsEvent *ev = g_new0 (OmHsEvent, 1);
  sqlite3_stmt *st;

  if (state_key != NULL)
    prev = om_hs_state_get (hs, room_id, type, state_key);

  ev->event_id = g_strdup_printf ("$%s", rnd);
  ev->room_id = g_strdup (room_id);
  ev->type = g_strdup (type);
  ev->state_key = g_strdup (state_key);
  ev->sender = g_strdup (sender);
  ev->content = om_hs_json_to_string (node);
  if (ts > 0)
    ev->origin_server_ts = ts;
  else if (hs->seed_ts > 0)
    ev->origin_server_ts = hs->seed_ts++;
  else
    ev->origin_server_ts = om_hs_now_ms ();
  ev->txn_id = g_strdup (txn_id);
  ev->device_id = g_strdup (device_id);
  ev->prev_event_id = prev ? g_strdup (prev->event_id) : NULL;

  exec (hs, "BEGIN");
  /* Not om_hs_stream_advance(): the notification must follow the insert. */
  hs->stream++;
  ev->stream = hs->stream;
  st = om_hs_stmt (hs, "INSERT OR REPLACE INTO meta (key, value) VALUES ('stream', ?)");
  sqlite3_bind_int64 (st, 1, hs->stream);
  om_hs_step_done (hs, st);

  st = om_hs_stmt (hs, "INSERT INTO events (" EV_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)");
  sqlite3_bind_int64 (st, 1, ev->stream);
  om_hs_bind_text (st, 2, ev->event_id);
  om_hs_bind_text (st, 3, ev->room_id);
  om_hs_bind_text (st, 4, ev->type);
  om_hs_bind_text (st, 5, ev->state_key);
  om_hs_bind_text (st, 6, ev->sender);
  om_hs_bind_text (st, 7, ev->content);
  sqlite3_bind_int64 (st, 8, ev->origin_server_ts);
  om_hs_bind_text (st, 9, ev->txn_id);
  om_hs_bind_text (st, 10, ev->device_id);
  om_hs_bind_text (st, 11, ev->prev_event_id);
  om_hs_step_done (hs, st);

  if (state_key != NULL)
    {
      const char *membership = NULL;

      if (g_str_equal (type, "m.room.member") && json_object_has_member (content, "membership"))
        membership = json_object_get_string_member (content, "membership");
      st = om_hs_stmt (hs, "INSERT OR REPLACE INTO current_state (room_id, type, state_key, event_stream, membership)"
                           " VALUES (?, ?, ?, ?, ?)");
      om_hs_bind_text (st, 1, room_id);
      om_hs_bind_text (st, 2, type);
      om_hs_bind_text (st, 3, state_key);
      sqlite3_bind_int64 (st, 4, ev->stream);
      om_hs_bind_text (st, 5, membership);
      om_hs_step_done (hs, st);
    }
  if (txn_id != NULL && device_id != NULL)
    {
      st = om_hs_stmt (hs, "INSERT OR IGNORE INTO transactions (user_id, device_id, room_id, txn_id, event_id)"
                           " VALUES (?, ?, ?, ?, ?)");
      om_hs_bind_text (st, 1, sender);
      om_hs_bind_text (st, 2, device_id);
      om_hs_bind_text (st, 3, room_id);
      om_hs_bind_text (st, 4, txn_id);
      om_hs_bind_text (st, 5, ev->event_id);
      om_hs_step_done (hs, st);
    }
  exec (hs, "COMMIT");

  om_hs_notify (hs);
  om_hs_demo_on_event (hs, ev);
  return ev;
}

OmHsEvent *
om_hs_event_get (OmHs       *hs,
                 const char *event_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT " EV_COLS " FROM events WHERE event_id = ?");

  om_hs_bind_text (st, 1, event_id);
  return event_from_stmt (st);
}

char *
om_hs_txn_lookup (OmHs       *hs,
                  const char *user_id,
                  const char *device_id,
                  const char *room_id,
                  const char *txn_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT event_id FROM transactions WHERE user_id = ? AND device_id = ?"
                                     " AND room_id = ? AND txn_id = ?");
  char *event_id = NULL;

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, device_id);
  om_hs_bind_text (st, 3, room_id);
  om_hs_bind_text (st, 4, txn_id);
  if (sqlite3_step (st) == SQLITE_ROW)
    event_id = om_hs_col_dup (st, 0);
  sqlite3_reset (st);
  return event_id;
}

/* Keeps the keys the spec's redaction algorithm (room v10) preserves. */
static const char *
const_redaction_keys (const char *type)
{
  if (g_str_equal (type, "m.room.member"))
    return "membership join_authorised_via_users_server";
  if (g_str_equal (type, "m.room.create"))
    return "creator";
  if (g_str_equal (type, "m.room.join_rules"))
    return "join_rule allow";
  if (g_str_equal (type, "m.room.power_levels"))
    return "ban events events_default kick redact state_default users users_default";
  if (g_str_equal (type, "m.room.history_visibility"))
    return "history_visibility";
  return "";
}

void
om_hs_event_redact (OmHs       *hs,
                    const char *event_id,
                    OmHsEvent  *redaction)
{
  g_autoptr(OmHsEvent) ev = om_hs_event_get (hs, event_id);
  g_autoptr(JsonObject) content = NULL;
  g_autoptr(JsonObject) kept = json_object_new ();
  g_autoptr(JsonNode) kept_node = NULL;
  g_autoptr(JsonNode) because = NULL;
  g_autofree char *kept_str = NULL;
  g_autofree char *because_str = NULL;
  g_auto(GStrv) keys = NULL;
  sqlite3_stmt *st;

  if (ev == NULL)
    return;
  content = om_hs_parse_object (ev->content);
  keys = g_strsplit (const_redaction_keys (ev->type), " ", -1);
  for (guint i = 0; keys[i] != NULL && content != NULL; i++)
    if (keys[i][0] && json_object_has_member (content, keys[i]))
      json_object_set_member (kept, keys[i],
                              json_node_copy (json_object_get_member (content, keys[i])));
  kept_node = json_node_init_object (json_node_alloc (), kept);
  kept_str = om_hs_json_to_string (kept_node);
  because = om_hs_event_to_json (hs, redaction, OM_HS_FORMAT_CLIENT, NULL, NULL);
  because_str = om_hs_json_to_string (because);

  st = om_hs_stmt (hs, "UPDATE events SET content = ?, redacted_because = ? WHERE event_id = ?");
  om_hs_bind_text (st, 1, kept_str);
  om_hs_bind_text (st, 2, because_str);
  om_hs_bind_text (st, 3, event_id);
  om_hs_step_done (hs, st);
}

GPtrArray *
om_hs_room_events (OmHs       *hs,
                   const char *room_id,
                   gint64      after,
                   gint64      upto,
                   guint       limit,
                   gboolean    newest_first)
{
  sqlite3_stmt *st;

  if (newest_first)
    st = om_hs_stmt (hs, "SELECT " EV_COLS " FROM events WHERE room_id = ? AND stream > ? AND stream <= ?"
                         " ORDER BY stream DESC LIMIT ?");
  else
    st = om_hs_stmt (hs, "SELECT " EV_COLS " FROM events WHERE room_id = ? AND stream > ? AND stream <= ?"
                         " ORDER BY stream ASC LIMIT ?");
  om_hs_bind_text (st, 1, room_id);
  sqlite3_bind_int64 (st, 2, after);
  sqlite3_bind_int64 (st, 3, upto);
  sqlite3_bind_int64 (st, 4, limit ? (gint64) limit : G_MAXINT64);
  return events_from_stmt (st);
}

GPtrArray *
om_hs_all_room_events (OmHs       *hs,
                       const char *room_id)
{
  return om_hs_room_events (hs, room_id, 0, G_MAXINT64, 0, FALSE);
}

gint64
om_hs_room_count_events (OmHs       *hs,
                         const char *room_id,
                         gint64      after,
                         gint64      upto)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT COUNT (*) FROM events WHERE room_id = ? AND stream > ? AND stream <= ?");
  gint64 n;

  om_hs_bind_text (st, 1, room_id);
  sqlite3_bind_int64 (st, 2, after);
  sqlite3_bind_int64 (st, 3, upto);
  sqlite3_step (st);
  n = sqlite3_column_int64 (st, 0);
  sqlite3_reset (st);
  return n;
}

gboolean
om_hs_room_exists (OmHs       *hs,
                   const char *room_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT 1 FROM current_state WHERE room_id = ? AND type = 'm.room.create'");
  gboolean found;

  om_hs_bind_text (st, 1, room_id);
  found = sqlite3_step (st) == SQLITE_ROW;
  sqlite3_reset (st);
  return found;
}

OmHsEvent *
om_hs_state_get (OmHs       *hs,
                 const char *room_id,
                 const char *type,
                 const char *state_key)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT " EV_COLS " FROM events WHERE stream ="
                                     " (SELECT event_stream FROM current_state"
                                     "  WHERE room_id = ? AND type = ? AND state_key = ?)");

  om_hs_bind_text (st, 1, room_id);
  om_hs_bind_text (st, 2, type);
  om_hs_bind_text (st, 3, state_key);
  return event_from_stmt (st);
}

GPtrArray *
om_hs_state_at (OmHs       *hs,
                const char *room_id,
                gint64      pos)
{
  sqlite3_stmt *st;

  if (pos <= 0)
    {
      st = om_hs_stmt (hs, "SELECT " EV_COLS " FROM events WHERE stream IN"
                           " (SELECT event_stream FROM current_state WHERE room_id = ?)"
                           " ORDER BY type, state_key");
      om_hs_bind_text (st, 1, room_id);
      return events_from_stmt (st);
    }
  st = om_hs_stmt (hs, "SELECT " EV_COLS " FROM events e WHERE room_id = ?1 AND state_key IS NOT NULL"
                       " AND stream = (SELECT MAX (stream) FROM events e2 WHERE e2.room_id = ?1"
                       "  AND e2.type = e.type AND e2.state_key = e.state_key AND e2.stream <= ?2)"
                       " ORDER BY type, state_key");
  om_hs_bind_text (st, 1, room_id);
  sqlite3_bind_int64 (st, 2, pos);
  return events_from_stmt (st);
}

char *
om_hs_membership (OmHs       *hs,
                  const char *room_id,
                  const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT membership FROM current_state WHERE room_id = ?"
                                     " AND type = 'm.room.member' AND state_key = ?");
  char *membership = NULL;

  om_hs_bind_text (st, 1, room_id);
  om_hs_bind_text (st, 2, user_id);
  if (sqlite3_step (st) == SQLITE_ROW)
    membership = om_hs_col_dup (st, 0);
  sqlite3_reset (st);
  return membership;
}

GPtrArray *
om_hs_user_rooms (OmHs       *hs,
                  const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT " EV_COLS " FROM events WHERE stream IN"
                                     " (SELECT event_stream FROM current_state"
                                     "  WHERE type = 'm.room.member' AND state_key = ?)"
                                     " ORDER BY stream");

  om_hs_bind_text (st, 1, user_id);
  return events_from_stmt (st);
}

GPtrArray *
om_hs_room_members (OmHs       *hs,
                    const char *room_id,
                    const char *membership)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT state_key FROM current_state WHERE room_id = ?"
                                     " AND type = 'm.room.member' AND (?2 IS NULL OR membership = ?2)"
                                     " ORDER BY state_key");
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  om_hs_bind_text (st, 1, room_id);
  om_hs_bind_text (st, 2, membership);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, om_hs_col_dup (st, 0));
  sqlite3_reset (st);
  return out;
}

gboolean
om_hs_users_share_room (OmHs       *hs,
                        const char *a,
                        const char *b)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT 1 FROM current_state x JOIN current_state y"
                                     " ON x.room_id = y.room_id"
                                     " WHERE x.type = 'm.room.member' AND y.type = 'm.room.member'"
                                     " AND x.state_key = ? AND y.state_key = ?"
                                     " AND x.membership = 'join' AND y.membership IN ('join', 'invite')");
  gboolean found;

  if (g_str_equal (a, b))
    return TRUE;
  om_hs_bind_text (st, 1, a);
  om_hs_bind_text (st, 2, b);
  found = sqlite3_step (st) == SQLITE_ROW;
  sqlite3_reset (st);
  return found;
}

static JsonObject *
power_levels (OmHs       *hs,
              const char *room_id)
{
  g_autoptr(OmHsEvent) pl = om_hs_state_get (hs, room_id, "m.room.power_levels", "");

  return pl ? om_hs_parse_object (pl->content) : NULL;
}

static gint
int_member (JsonObject *obj,
            const char *key,
            gint        fallback)
{
  JsonNode *n;

  if (obj == NULL || !json_object_has_member (obj, key))
    return fallback;
  n = json_object_get_member (obj, key);
  if (!JSON_NODE_HOLDS_VALUE (n))
    return fallback;
  if (json_node_get_value_type (n) == G_TYPE_STRING)
    return atoi (json_node_get_string (n));
  return (gint) json_node_get_int (n);
}

gint
om_hs_user_power (OmHs       *hs,
                  const char *room_id,
                  const char *user_id)
{
  g_autoptr(JsonObject) pl = power_levels (hs, room_id);
  JsonObject *users;

  if (pl == NULL)
    {
      g_autoptr(OmHsEvent) create = om_hs_state_get (hs, room_id, "m.room.create", "");
      return create && g_str_equal (create->sender, user_id) ? 100 : 0;
    }
  users = json_object_has_member (pl, "users") ? json_object_get_object_member (pl, "users") : NULL;
  if (users && json_object_has_member (users, user_id))
    return int_member (users, user_id, 0);
  return int_member (pl, "users_default", 0);
}

gint
om_hs_required_power (OmHs       *hs,
                      const char *room_id,
                      const char *type,
                      gboolean    is_state,
                      const char *action)
{
  g_autoptr(JsonObject) pl = power_levels (hs, room_id);
  JsonObject *events;

  if (action != NULL)
    {
      if (g_str_equal (action, "invite"))
        return int_member (pl, action, 0);
      return int_member (pl, action, 50);
    }
  if (pl == NULL)
    return 0;
  events = json_object_has_member (pl, "events") ? json_object_get_object_member (pl, "events") : NULL;
  if (events && json_object_has_member (events, type))
    return int_member (events, type, 0);
  return is_state ? int_member (pl, "state_default", 50) : int_member (pl, "events_default", 0);
}

gboolean
om_hs_alias_create (OmHs       *hs,
                    const char *alias,
                    const char *room_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "INSERT OR IGNORE INTO aliases (alias, room_id) VALUES (?, ?)");

  om_hs_bind_text (st, 1, alias);
  om_hs_bind_text (st, 2, room_id);
  om_hs_step_done (hs, st);
  return sqlite3_changes (hs->db) > 0;
}

char *
om_hs_alias_lookup (OmHs       *hs,
                    const char *alias)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT room_id FROM aliases WHERE alias = ?");
  char *room_id = NULL;

  om_hs_bind_text (st, 1, alias);
  if (sqlite3_step (st) == SQLITE_ROW)
    room_id = om_hs_col_dup (st, 0);
  sqlite3_reset (st);
  return room_id;
}

GPtrArray *
om_hs_room_aliases (OmHs       *hs,
                    const char *room_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT alias FROM aliases WHERE room_id = ? ORDER BY alias");
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  om_hs_bind_text (st, 1, room_id);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, om_hs_col_dup (st, 0));
  sqlite3_reset (st);
  return out;
}

/* Receipts, account data, presence, device lists */

void
om_hs_receipt_set (OmHs       *hs,
                   const char *room_id,
                   const char *user_id,
                   const char *type,
                   const char *thread_id,
                   const char *event_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "INSERT OR REPLACE INTO receipts"
                                     " (room_id, user_id, type, thread_id, event_id, ts, stream)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?)");

  om_hs_bind_text (st, 1, room_id);
  om_hs_bind_text (st, 2, user_id);
  om_hs_bind_text (st, 3, type);
  om_hs_bind_text (st, 4, thread_id ? thread_id : "");
  om_hs_bind_text (st, 5, event_id);
  sqlite3_bind_int64 (st, 6, om_hs_now_ms ());
  sqlite3_bind_int64 (st, 7, hs->stream + 1);
  om_hs_step_done (hs, st);
  om_hs_stream_advance (hs);
}

GPtrArray *
om_hs_receipts_since (OmHs       *hs,
                      const char *room_id,
                      gint64      after)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT user_id, type, thread_id, event_id, ts FROM receipts"
                                     " WHERE room_id = ? AND stream > ? ORDER BY stream");
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

  om_hs_bind_text (st, 1, room_id);
  sqlite3_bind_int64 (st, 2, after);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      char **row = g_new0 (char *, 6);
      for (int i = 0; i < 5; i++)
        row[i] = om_hs_col_dup (st, i);
      g_ptr_array_add (out, row);
    }
  sqlite3_reset (st);
  return out;
}

gint64
om_hs_read_up_to (OmHs       *hs,
                  const char *room_id,
                  const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT MAX (e.stream) FROM receipts r JOIN events e"
                                     " ON e.event_id = r.event_id WHERE r.room_id = ? AND r.user_id = ?"
                                     " AND r.type IN ('m.read', 'm.read.private')");
  gint64 pos;

  om_hs_bind_text (st, 1, room_id);
  om_hs_bind_text (st, 2, user_id);
  sqlite3_step (st);
  pos = sqlite3_column_int64 (st, 0);
  sqlite3_reset (st);
  return pos;
}

void
om_hs_account_data_set (OmHs       *hs,
                        const char *user_id,
                        const char *room_id,
                        const char *type,
                        const char *content)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "INSERT OR REPLACE INTO account_data (user_id, room_id, type, content, stream)"
                                     " VALUES (?, ?, ?, ?, ?)");

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, room_id ? room_id : "");
  om_hs_bind_text (st, 3, type);
  om_hs_bind_text (st, 4, content);
  sqlite3_bind_int64 (st, 5, hs->stream + 1);
  om_hs_step_done (hs, st);
  om_hs_stream_advance (hs);
}

char *
om_hs_account_data_get (OmHs       *hs,
                        const char *user_id,
                        const char *room_id,
                        const char *type)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?");
  char *content = NULL;

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, room_id ? room_id : "");
  om_hs_bind_text (st, 3, type);
  if (sqlite3_step (st) == SQLITE_ROW)
    content = om_hs_col_dup (st, 0);
  sqlite3_reset (st);
  return content;
}

GPtrArray *
om_hs_account_data_since (OmHs       *hs,
                          const char *user_id,
                          const char *room_id,
                          gint64      after)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT type, content FROM account_data WHERE user_id = ?"
                                     " AND room_id = ? AND stream > ? ORDER BY stream");
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

  om_hs_bind_text (st, 1, user_id);
  om_hs_bind_text (st, 2, room_id ? room_id : "");
  sqlite3_bind_int64 (st, 3, after);
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      char **row = g_new0 (char *, 3);
      row[0] = om_hs_col_dup (st, 0);
      row[1] = om_hs_col_dup (st, 1);
      g_ptr_array_add (out, row);
    }
  sqlite3_reset (st);
  return out;
}

gboolean
om_hs_presence_set (OmHs       *hs,
                    const char *user_id,
                    const char *presence,
                    const char *status_msg,
                    gboolean    set_status)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT presence, status_msg FROM presence WHERE user_id = ?");
  g_autofree char *old_presence = NULL;
  g_autofree char *old_status = NULL;
  gboolean known = FALSE, changed;

  om_hs_bind_text (st, 1, user_id);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      known = TRUE;
      old_presence = om_hs_col_dup (st, 0);
      old_status = om_hs_col_dup (st, 1);
    }
  sqlite3_reset (st);
  if (!set_status)
    status_msg = old_status;
  changed = !known || g_strcmp0 (old_presence, presence) != 0 || g_strcmp0 (old_status, status_msg) != 0;

  if (changed)
    {
      st = om_hs_stmt (hs, "INSERT OR REPLACE INTO presence (user_id, presence, status_msg, last_active_ts, stream)"
                           " VALUES (?, ?, ?, ?, ?)");
      om_hs_bind_text (st, 1, user_id);
      om_hs_bind_text (st, 2, presence);
      om_hs_bind_text (st, 3, status_msg);
      sqlite3_bind_int64 (st, 4, om_hs_now_ms ());
      sqlite3_bind_int64 (st, 5, hs->stream + 1);
      om_hs_step_done (hs, st);
      om_hs_stream_advance (hs);
    }
  else if (g_strcmp0 (presence, "offline") != 0)
    {
      st = om_hs_stmt (hs, "UPDATE presence SET last_active_ts = ? WHERE user_id = ?");
      sqlite3_bind_int64 (st, 1, om_hs_now_ms ());
      om_hs_bind_text (st, 2, user_id);
      om_hs_step_done (hs, st);
    }
  return changed;
}

JsonObject *
om_hs_presence_get (OmHs       *hs,
                    const char *user_id,
                    gint64     *out_stream)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT presence, status_msg, last_active_ts, stream FROM presence WHERE user_id = ?");
  JsonObject *obj = NULL;

  om_hs_bind_text (st, 1, user_id);
  if (sqlite3_step (st) == SQLITE_ROW)
    {
      const char *presence = (const char *) sqlite3_column_text (st, 0);
      const char *status = (const char *) sqlite3_column_text (st, 1);
      gint64 ago = MAX (0, om_hs_now_ms () - sqlite3_column_int64 (st, 2));

      obj = json_object_new ();
      json_object_set_string_member (obj, "presence", presence);
      json_object_set_int_member (obj, "last_active_ago", ago);
      if (status)
        json_object_set_string_member (obj, "status_msg", status);
      /* Synapse: online and active within the last minute. */
      json_object_set_boolean_member (obj, "currently_active",
                                      g_strcmp0 (presence, "online") == 0 && ago < 60000);
      if (out_stream)
        *out_stream = sqlite3_column_int64 (st, 3);
    }
  sqlite3_reset (st);
  return obj;
}

GPtrArray *
om_hs_presence_since (OmHs   *hs,
                      gint64  after)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT user_id FROM presence WHERE stream > ? ORDER BY stream");
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  sqlite3_bind_int64 (st, 1, after);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_ptr_array_add (out, om_hs_col_dup (st, 0));
  sqlite3_reset (st);
  return out;
}

gint64
om_hs_device_list_pos (OmHs       *hs,
                       const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "SELECT stream FROM device_lists WHERE user_id = ?");
  gint64 pos = 0;

  om_hs_bind_text (st, 1, user_id);
  if (sqlite3_step (st) == SQLITE_ROW)
    pos = sqlite3_column_int64 (st, 0);
  sqlite3_reset (st);
  return pos;
}

void
om_hs_device_list_bump (OmHs       *hs,
                        const char *user_id)
{
  sqlite3_stmt *st = om_hs_stmt (hs, "INSERT OR REPLACE INTO device_lists (user_id, stream) VALUES (?, ?)");

  om_hs_bind_text (st, 1, user_id);
  sqlite3_bind_int64 (st, 2, hs->stream + 1);
  om_hs_step_done (hs, st);
  om_hs_stream_advance (hs);
}
