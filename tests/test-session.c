/* test-session.c — signing in and out, rooms, and what the session logs
 *
 * Every test talks HTTP to its own test homeserver process.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
/* memmem */
#define _GNU_SOURCE

#include <string.h>

#include <glib/gstdio.h>

#include "om-error.h"
#include "om-room.h"
#include "om-room-list.h"
#include "om-session.h"
#include "om-store.h"
#include "om-sync.h"
#include "om-test-session.h"

#define PASSWORD "correct-horse-7431"
#define WAIT_MS  10000

/* Every message logged by anything in this process, at every level. */
static GPtrArray *captured;

static GLogWriterOutput
capture_writer (GLogLevelFlags   log_level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  GString *line = g_string_new (NULL);

  for (gsize i = 0; i < n_fields; i++)
    {
      if (fields[i].length < 0)
        g_string_append_printf (line, "%s=%s ", fields[i].key, (const char *) fields[i].value);
      else if (g_str_equal (fields[i].key, "MESSAGE") || g_str_equal (fields[i].key, "GLIB_DOMAIN"))
        {
          g_string_append_printf (line, "%s=", fields[i].key);
          g_string_append_len (line, fields[i].value, fields[i].length);
          g_string_append_c (line, ' ');
        }
    }
  g_ptr_array_add (captured, g_string_free (line, FALSE));

  /* Debug output would only clutter the TAP stream. */
  if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return g_log_writer_default (log_level, fields, n_fields, user_data);
  return G_LOG_WRITER_HANDLED;
}

/* Alice and Bob exist on the server; each test signs in whom it needs.
 * room_id is unused. */
typedef OmTestPair Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  om_test_pair_init (f, PASSWORD);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  om_test_pair_teardown (f);
}

/* Signs in and returns the error (NULL on success). */
static GError *
try_login (OmSession  *session,
           const char *homeserver,
           const char *user,
           const char *password)
{
  g_autoptr(GAsyncResult) result = NULL;
  GError *error = NULL;
  gboolean ok;

  om_session_login_password_async (session, homeserver, user, password, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, 20000));
  ok = om_session_login_password_finish (session, result, &error);
  g_assert_true (ok == (error == NULL));
  return error;
}

static OmSession *
sign_in (Fixture    *f,
         const char *subdir,
         const char *user)
{
  g_autofree char *dir = g_build_filename (f->dir, subdir, NULL);
  OmSession *session = om_session_new (dir);
  g_autoptr(GError) error = try_login (session, om_test_hs_get_url (f->hs), user, PASSWORD);

  g_assert_no_error (error);
  g_assert_cmpint (om_session_get_state (session), ==, OM_SESSION_STATE_READY);
  return session;
}

static void
start (OmSession *session)
{
  /* Tests do not wait 30 s for a long-poll to end. */
  om_sync_set_timeout_ms (om_session_get_sync (session), 1000);
  om_session_start (session);
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  (*(guint *) user_data)++;
}

/* The server's view of a token: HTTP status of GET whoami, and its user/device. */
static guint
whoami (Fixture     *f,
        const char  *token,
        char       **out_user_id,
        char       **out_device_id)
{
  guint status = 0;
  g_autoptr(JsonNode) body = om_test_hs_request (f->hs, "GET", "/_matrix/client/v3/account/whoami",
                                                 token, NULL, &status);

  if (out_user_id)
    *out_user_id = NULL;
  if (out_device_id)
    *out_device_id = NULL;
  if (status == 200 && body != NULL && JSON_NODE_HOLDS_OBJECT (body))
    {
      JsonObject *object = json_node_get_object (body);

      if (out_user_id)
        *out_user_id = g_strdup (json_object_get_string_member_with_default (object, "user_id", NULL));
      if (out_device_id)
        *out_device_id = g_strdup (json_object_get_string_member_with_default (object, "device_id", NULL));
    }
  return status;
}

/* Signing in */

typedef struct {
  guint    n;
  gboolean first_initial;
} Synced;

static void
record_synced (OmSession *session,
               gboolean   initial,
               Synced    *synced)
{
  if (synced->n == 0)
    synced->first_initial = initial;
  synced->n++;
}

static gboolean
synced_once (gpointer data)
{
  return ((Synced *) data)->n > 0;
}


static void
test_login_ok (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *dir = g_build_filename (f->dir, "alice", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *server_user = NULL;
  g_autofree char *server_device = NULL;
  guint state_notifies = 0;

  f->alice = om_session_new (dir);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_SIGNED_OUT);
  g_assert_null (om_session_get_user_id (f->alice));
  g_signal_connect (f->alice, "notify::state", G_CALLBACK (count_notify), &state_notifies);

  /* A bare localpart: the server completes the user ID. */
  error = try_login (f->alice, om_test_hs_get_url (f->hs), "alice", PASSWORD);
  g_assert_no_error (error);

  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_READY);
  g_assert_cmpuint (state_notifies, >=, 1);
  g_assert_cmpstr (om_session_get_user_id (f->alice), ==, f->alice_id);
  g_assert_nonnull (om_session_get_device_id (f->alice));
  g_assert_cmpstr (om_session_get_device_id (f->alice), !=, "");
  g_assert_cmpstr (om_session_get_homeserver (f->alice), ==, om_test_hs_get_url (f->hs));
  g_assert_nonnull (om_session_get_store (f->alice));
  g_assert_nonnull (om_session_get_sync (f->alice));

  /* The token the session holds is one the server knows, for this device. */
  token = om_session_dup_access_token (f->alice);
  g_assert_nonnull (token);
  g_assert_cmpuint (whoami (f, token, &server_user, &server_device), ==, 200);
  g_assert_cmpstr (server_user, ==, f->alice_id);
  g_assert_cmpstr (server_device, ==, om_session_get_device_id (f->alice));

  /* The store remembers who it belongs to. */
  {
    g_autofree char *stored_user = om_store_dup_value (om_session_get_store (f->alice), "user_id");
    g_autofree char *stored_device = om_store_dup_value (om_session_get_store (f->alice), "device_id");

    g_assert_cmpstr (stored_user, ==, f->alice_id);
    g_assert_cmpstr (stored_device, ==, om_session_get_device_id (f->alice));
  }
}

static void
test_login_trailing_slash (Fixture       *f,
                           gconstpointer  data)
{
  g_autofree char *dir = g_build_filename (f->dir, "alice", NULL);
  /* As people type it, and as .well-known often gives it. */
  g_autofree char *url = g_strconcat (om_test_hs_get_url (f->hs), "/", NULL);
  g_autoptr(GError) error = NULL;
  Synced synced = { 0, FALSE };

  f->alice = om_session_new (dir);
  error = try_login (f->alice, url, "alice", PASSWORD);
  g_assert_no_error (error);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_READY);
  g_assert_cmpstr (om_session_get_user_id (f->alice), ==, f->alice_id);

  /* And the requests after sign-in work too. */
  g_signal_connect (f->alice, "synced", G_CALLBACK (record_synced), &synced);
  start (f->alice);
  g_assert_true (om_test_wait_until (synced_once, &synced, WAIT_MS));
}

static void
test_login_wrong_password (Fixture       *f,
                           gconstpointer  data)
{
  g_autofree char *dir = g_build_filename (f->dir, "alice", NULL);
  g_autoptr(GError) error = NULL;

  f->alice = om_session_new (dir);
  error = try_login (f->alice, om_test_hs_get_url (f->hs), "alice", "not-the-password");
  g_assert_error (error, OM_ERROR, OM_ERROR_FORBIDDEN);
  g_assert_cmpstr (om_error_get_errcode (error), ==, "M_FORBIDDEN");
  g_assert_cmpuint (om_error_get_http_status (error), ==, 403);

  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_SIGNED_OUT);
  g_assert_null (om_session_get_user_id (f->alice));
  g_assert_null (om_session_get_device_id (f->alice));
  g_assert_null (om_session_get_sync (f->alice));
  g_assert_null (om_session_dup_access_token (f->alice));

  /* An unknown user is refused the same way. */
  g_clear_error (&error);
  error = try_login (f->alice, om_test_hs_get_url (f->hs), "mallory", PASSWORD);
  g_assert_error (error, OM_ERROR, OM_ERROR_FORBIDDEN);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_SIGNED_OUT);

  /* And the session can still sign in afterwards. */
  g_clear_error (&error);
  error = try_login (f->alice, om_test_hs_get_url (f->hs), "alice", PASSWORD);
  g_assert_no_error (error);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_READY);
}

static void
test_login_unreachable (Fixture       *f,
                        gconstpointer  data)
{
  g_autofree char *dir = g_build_filename (f->dir, "alice", NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  gint64 started = g_get_monotonic_time ();

  f->alice = om_session_new (dir);
  /* Port 9 (discard): nothing listens, the connection is refused. */
  om_session_login_password_async (f->alice, "http://127.0.0.1:9", "alice", PASSWORD,
                                   NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, 15000));
  g_assert_false (om_session_login_password_finish (f->alice, result, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  /* A refused connection is known at once: no long retry loop behind it. */
  g_assert_cmpint (g_get_monotonic_time () - started, <, 10 * G_USEC_PER_SEC);

  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_SIGNED_OUT);
  g_assert_null (om_session_get_user_id (f->alice));
}

static void
test_device_reused (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *first_device = NULL;
  g_autofree char *token = NULL;
  g_autofree char *server_device = NULL;

  /* First sign-in with the localpart, the second with the full MXID. */
  f->alice = sign_in (f, "alice", "alice");
  first_device = g_strdup (om_session_get_device_id (f->alice));
  g_clear_object (&f->alice);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  f->alice = sign_in (f, "alice", f->alice_id);
  g_assert_cmpstr (om_session_get_device_id (f->alice), ==, first_device);
  token = om_session_dup_access_token (f->alice);
  g_assert_cmpuint (whoami (f, token, NULL, &server_device), ==, 200);
  g_assert_cmpstr (server_device, ==, first_device);
  g_clear_object (&f->alice);

  /* A third time, same again. */
  f->alice = sign_in (f, "alice", f->alice_id);
  g_assert_cmpstr (om_session_get_device_id (f->alice), ==, first_device);
  g_clear_object (&f->alice);

  /* Another data directory has no store to remember the device: a new one. */
  f->bob = sign_in (f, "elsewhere", f->alice_id);
  g_assert_cmpstr (om_session_get_device_id (f->bob), !=, first_device);
}

static void
copy_file (const char *from,
           const char *to)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize length;

  g_file_get_contents (from, &contents, &length, &error);
  g_assert_no_error (error);
  g_file_set_contents (to, contents, length, &error);
  g_assert_no_error (error);
}

static void
test_restore_other_users_store (Fixture       *f,
                                gconstpointer  data)
{
  g_autofree char *alice_store = NULL;
  g_autofree char *store_name = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *bob_dir = NULL;
  g_autofree char *bob_store = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *bob_device = NULL;
  g_autofree char *data_dir = NULL;
  g_autoptr(GError) error = NULL;

  f->alice = sign_in (f, "data", "alice");
  alice_store = g_strdup (om_store_get_path (om_session_get_store (f->alice)));
  data_dir = g_strdup (om_session_get_data_dir (f->alice));
  g_clear_object (&f->alice);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  /* Put Alice's store where Bob's belongs: <data dir>/<escaped MXID>/store.db. */
  escaped = g_uri_escape_string (f->bob_id, NULL, FALSE);
  bob_dir = g_build_filename (data_dir, escaped, NULL);
  g_assert_cmpint (g_mkdir_with_parents (bob_dir, 0700), ==, 0);
  store_name = g_path_get_basename (alice_store);
  bob_store = g_build_filename (bob_dir, store_name, NULL);
  copy_file (alice_store, bob_store);
  {
    g_autofree char *wal = g_strconcat (alice_store, "-wal", NULL);
    g_autofree char *bob_wal = g_strconcat (bob_store, "-wal", NULL);

    if (g_file_test (wal, G_FILE_TEST_EXISTS))
      copy_file (wal, bob_wal);
  }

  bob_token = om_test_hs_login (f->hs, "bob", PASSWORD, &bob_device);
  f->bob = om_session_new (data_dir);
  g_assert_false (om_session_restore (f->bob, om_test_hs_get_url (f->hs), f->bob_id, bob_device,
                                      bob_token, &error));
  g_assert_error (error, OM_ERROR, OM_ERROR_STORE);
  g_assert_cmpint (om_session_get_state (f->bob), ==, OM_SESSION_STATE_SIGNED_OUT);
  g_assert_null (om_session_get_user_id (f->bob));
  g_assert_null (om_session_get_sync (f->bob));

  /* The refused store was not rewritten to Bob's name. */
  g_clear_error (&error);
  {
    g_autoptr(OmStore) store = om_store_open (bob_store, &error);
    g_autofree char *owner = NULL;

    g_assert_no_error (error);
    owner = om_store_dup_value (store, "user_id");
    g_assert_cmpstr (owner, ==, f->alice_id);
  }

  /* Alice's own store restores fine. */
  {
    g_autoptr(OmSession) alice = om_session_new (data_dir);
    g_autofree char *alice_device = NULL;
    g_autofree char *alice_token = om_test_hs_login (f->hs, "alice", PASSWORD, &alice_device);

    g_assert_true (om_session_restore (alice, om_test_hs_get_url (f->hs), f->alice_id, alice_device,
                                       alice_token, &error));
    g_assert_no_error (error);
    g_assert_cmpint (om_session_get_state (alice), ==, OM_SESSION_STATE_READY);
    g_assert_cmpstr (om_session_get_user_id (alice), ==, f->alice_id);
  }
}

/* Rooms */

static gboolean
room_listed (OmSession  *session,
             const char *room_id)
{
  GListModel *list = G_LIST_MODEL (om_session_get_room_list (session));

  for (guint i = 0; i < g_list_model_get_n_items (list); i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (list, i);

      if (g_strcmp0 (om_room_get_room_id (room), room_id) == 0)
        return TRUE;
    }
  return FALSE;
}

typedef struct {
  OmSession  *session;
  const char *room_id;
  gboolean    listed;
} ListedWait;

static gboolean
listed_is (gpointer data)
{
  ListedWait *w = data;

  return room_listed (w->session, w->room_id) == w->listed;
}

typedef struct {
  guint n_added;
  guint n_removed;
} ItemsChanged;

static void
items_changed_cb (GListModel   *model,
                  guint         position,
                  guint         removed,
                  guint         added,
                  ItemsChanged *counts)
{
  g_assert_cmpuint (position + added, <=, g_list_model_get_n_items (model));
  counts->n_added += added;
  counts->n_removed += removed;
}

static char *
create_room (OmSession          *session,
             const char         *name,
             const char         *topic,
             const char * const *invite)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  char *room_id;

  om_session_create_room_async (session, name, topic, invite, FALSE, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  room_id = om_session_create_room_finish (session, result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (room_id);
  g_assert_true (room_id[0] == '!');
  return room_id;
}

static void
test_create_room (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *room_id = NULL;
  ItemsChanged counts = { 0, 0 };
  ListedWait wait;
  OmRoom *room;
  guint before;

  f->alice = sign_in (f, "alice", "alice");
  g_signal_connect (om_session_get_room_list (f->alice), "items-changed",
                    G_CALLBACK (items_changed_cb), &counts);
  start (f->alice);
  before = g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (f->alice)));

  room_id = create_room (f->alice, "Project Phoenix", "Rising from the ashes", NULL);

  wait = (ListedWait) { f->alice, room_id, TRUE };
  g_assert_true (om_test_wait_until (listed_is, &wait, WAIT_MS));
  g_assert_cmpuint (counts.n_added, >=, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (f->alice))), ==,
                    before + 1);

  room = om_session_lookup_room (f->alice, room_id);
  g_assert_nonnull (room);
  g_assert_cmpstr (om_room_get_room_id (room), ==, room_id);
  g_assert_cmpstr (om_room_get_display_name (room), ==, "Project Phoenix");
  g_assert_cmpstr (om_room_get_topic (room), ==, "Rising from the ashes");
  g_assert_cmpint (om_room_get_membership (room), ==, OM_MEMBERSHIP_JOIN);
  g_assert_cmpint (om_room_get_member_membership (room, f->alice_id), ==, OM_MEMBERSHIP_JOIN);
  g_assert_true (om_room_list_lookup (om_session_get_room_list (f->alice), room_id) == room);

  /* An unnamed room with nobody else in it: the spec's "Empty Room". */
  {
    g_autofree char *unnamed = create_room (f->alice, NULL, NULL, NULL);

    wait = (ListedWait) { f->alice, unnamed, TRUE };
    g_assert_true (om_test_wait_until (listed_is, &wait, WAIT_MS));
    g_assert_cmpint (g_ascii_strcasecmp (om_room_get_display_name (om_session_lookup_room (f->alice, unnamed)),
                                         "Empty Room"), ==, 0);
  }
}

/* Alice makes a public room with an alias straight on the server. */
static char *
create_public_room (Fixture    *f,
                    const char *alias_name,
                    const char *name)
{
  g_autofree char *token = om_test_hs_login (f->hs, "alice", PASSWORD, NULL);
  g_autofree char *body = NULL;
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  if (alias_name != NULL)
    body = g_strdup_printf ("{\"preset\":\"public_chat\",\"name\":\"%s\",\"room_alias_name\":\"%s\"}",
                            name, alias_name);
  else
    body = g_strdup_printf ("{\"preset\":\"public_chat\",\"name\":\"%s\"}", name);
  reply = om_test_hs_request (f->hs, "POST", "/_matrix/client/v3/createRoom", token, body, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (reply);
  return g_strdup (json_object_get_string_member (json_node_get_object (reply), "room_id"));
}

static char *
join (OmSession   *session,
      const char  *id_or_alias,
      GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  om_session_join_room_async (session, id_or_alias, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  return om_session_join_room_finish (session, result, error);
}

typedef struct {
  OmSession    *session;
  const char   *room_id;
  OmMembership  membership;
} MembershipWait;

static gboolean
membership_is (gpointer data)
{
  MembershipWait *w = data;
  OmRoom *room = om_room_list_lookup (om_session_get_room_list (w->session), w->room_id);

  return room != NULL && om_room_get_membership (room) == w->membership;
}

static gboolean
room_is_direct (gpointer data)
{
  MembershipWait *w = data;
  OmRoom *room = om_room_list_lookup (om_session_get_room_list (w->session), w->room_id);

  return room != NULL && om_room_get_membership (room) == w->membership && om_room_get_is_direct (room);
}

static void
test_create_direct (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = NULL;
  const char *invite[2] = { NULL, NULL };
  MembershipWait wait;

  f->alice = sign_in (f, "alice", "alice");
  f->bob = sign_in (f, "bob", "bob");
  start (f->alice);
  start (f->bob);

  invite[0] = f->bob_id;
  om_session_create_room_async (f->alice, NULL, NULL, invite, TRUE, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  room_id = om_session_create_room_finish (f->alice, result, &error);
  g_assert_no_error (error);

  /* A direct chat on both sides: Bob's invite, and Alice's room. */
  wait = (MembershipWait) { f->bob, room_id, OM_MEMBERSHIP_INVITE };
  g_assert_true (om_test_wait_until (room_is_direct, &wait, WAIT_MS));
  g_assert_cmpstr (om_room_get_inviter (om_session_lookup_room (f->bob, room_id)), ==, f->alice_id);
  wait = (MembershipWait) { f->alice, room_id, OM_MEMBERSHIP_JOIN };
  g_assert_true (om_test_wait_until (room_is_direct, &wait, WAIT_MS));
}

static void
test_join (Fixture       *f,
           gconstpointer  data)
{
  g_autofree char *by_alias = create_public_room (f, "phoenix", "Phoenix Public");
  g_autofree char *by_id = create_public_room (f, NULL, "Second Room");
  g_autofree char *alias = g_strdup_printf ("#phoenix:%s", om_test_hs_get_server_name (f->hs));
  g_autofree char *joined = NULL;
  g_autoptr(GError) error = NULL;
  MembershipWait mwait;
  ListedWait lwait;
  OmRoom *room;

  f->bob = sign_in (f, "bob", "bob");
  start (f->bob);

  /* By alias: the answer is the room ID. */
  joined = join (f->bob, alias, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (joined, ==, by_alias);

  lwait = (ListedWait) { f->bob, by_alias, TRUE };
  g_assert_true (om_test_wait_until (listed_is, &lwait, WAIT_MS));
  mwait = (MembershipWait) { f->bob, by_alias, OM_MEMBERSHIP_JOIN };
  g_assert_true (om_test_wait_until (membership_is, &mwait, WAIT_MS));
  room = om_session_lookup_room (f->bob, by_alias);
  g_assert_cmpstr (om_room_get_display_name (room), ==, "Phoenix Public");
  g_assert_cmpstr (om_room_get_canonical_alias (room), ==, alias);
  g_assert_true (om_session_lookup_room (f->bob, alias) == room);

  /* By ID. */
  g_clear_pointer (&joined, g_free);
  joined = join (f->bob, by_id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (joined, ==, by_id);
  lwait = (ListedWait) { f->bob, by_id, TRUE };
  g_assert_true (om_test_wait_until (listed_is, &lwait, WAIT_MS));
  mwait = (MembershipWait) { f->bob, by_id, OM_MEMBERSHIP_JOIN };
  g_assert_true (om_test_wait_until (membership_is, &mwait, WAIT_MS));
  g_assert_cmpstr (om_room_get_display_name (om_session_lookup_room (f->bob, by_id)), ==, "Second Room");
  g_assert_true (room_listed (f->bob, by_alias));
}

static void
test_join_unknown_alias (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *alias = g_strdup_printf ("#no-such-room:%s", om_test_hs_get_server_name (f->hs));
  g_autofree char *joined = NULL;
  g_autoptr(GError) error = NULL;

  f->bob = sign_in (f, "bob", "bob");
  start (f->bob);

  joined = join (f->bob, alias, &error);
  g_assert_null (joined);
  g_assert_error (error, OM_ERROR, OM_ERROR_NOT_FOUND);
  g_assert_cmpuint (om_error_get_http_status (error), ==, 404);
  g_assert_null (om_session_lookup_room (f->bob, alias));

  /* A private room Bob was not invited to: refused, not found. */
  {
    g_autofree char *room_id = NULL;

    f->alice = sign_in (f, "alice", "alice");
    room_id = create_room (f->alice, "Private", NULL, NULL);
    g_clear_error (&error);
    g_free (join (f->bob, room_id, &error));
    g_assert_error (error, OM_ERROR, OM_ERROR_FORBIDDEN);
  }
}

static void
test_leave (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *room_id = create_public_room (f, "leaving", "Leave me");
  g_autofree char *joined = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  ItemsChanged counts = { 0, 0 };
  MembershipWait mwait;
  ListedWait lwait;
  guint before;

  f->bob = sign_in (f, "bob", "bob");
  start (f->bob);
  joined = join (f->bob, room_id, &error);
  g_assert_no_error (error);
  lwait = (ListedWait) { f->bob, room_id, TRUE };
  g_assert_true (om_test_wait_until (listed_is, &lwait, WAIT_MS));
  before = g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (f->bob)));

  g_signal_connect (om_session_get_room_list (f->bob), "items-changed",
                    G_CALLBACK (items_changed_cb), &counts);
  om_session_leave_room_async (f->bob, room_id, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_true (om_session_leave_room_finish (f->bob, result, &error));
  g_assert_no_error (error);

  lwait.listed = FALSE;
  g_assert_true (om_test_wait_until (listed_is, &lwait, WAIT_MS));
  g_assert_cmpuint (counts.n_removed, >=, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (f->bob))), ==,
                    before - 1);
  /* Still known, as left. */
  mwait = (MembershipWait) { f->bob, room_id, OM_MEMBERSHIP_LEAVE };
  g_assert_true (om_test_wait_until (membership_is, &mwait, WAIT_MS));

  /* The server agrees. */
  {
    g_autofree char *token = om_session_dup_access_token (f->bob);
    g_autoptr(JsonNode) rooms = om_test_hs_request (f->hs, "GET", "/_matrix/client/v3/joined_rooms",
                                                    token, NULL, NULL);
    JsonArray *ids = json_object_get_array_member (json_node_get_object (rooms), "joined_rooms");

    for (guint i = 0; i < json_array_get_length (ids); i++)
      g_assert_cmpstr (json_array_get_string_element (ids, i), !=, room_id);
  }

  /* Leaving a room we are not in fails. */
  g_clear_object (&result);
  om_session_leave_room_async (f->bob, room_id, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_false (om_session_leave_room_finish (f->bob, result, &error));
  g_assert_error (error, OM_ERROR, OM_ERROR_FORBIDDEN);
  g_clear_error (&error);

  /* Restored from the store, the room stays out of the list. */
  {
    g_autofree char *token = om_session_dup_access_token (f->bob);
    g_autofree char *device = g_strdup (om_session_get_device_id (f->bob));
    g_autofree char *data_dir = g_strdup (om_session_get_data_dir (f->bob));

    g_clear_object (&f->bob);
    while (g_main_context_iteration (NULL, FALSE))
      ;
    f->bob = om_session_new (data_dir);
    g_assert_true (om_session_restore (f->bob, om_test_hs_get_url (f->hs), f->bob_id, device, token, &error));
    g_assert_no_error (error);
    g_assert_false (room_listed (f->bob, room_id));
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (f->bob))), ==,
                      before - 1);
  }
}

static void
count_synced (OmSession *session,
              gboolean   initial,
              gpointer   user_data)
{
  (*(guint *) user_data)++;
}

static gboolean
uint_positive (gpointer data)
{
  return *(guint *) data > 0;
}

static void
test_logout (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *other_token = NULL;
  guint synced = 0;
  guint status;

  f->alice = sign_in (f, "alice", "alice");
  g_signal_connect (f->alice, "synced", G_CALLBACK (count_synced), &synced);
  start (f->alice);
  g_assert_true (om_test_wait_until (uint_positive, &synced, WAIT_MS));
  token = om_session_dup_access_token (f->alice);
  g_assert_cmpuint (whoami (f, token, NULL, NULL), ==, 200);
  /* Another device of Alice's is not affected by this one signing out. */
  other_token = om_test_hs_login (f->hs, "alice", PASSWORD, NULL);

  om_session_logout_async (f->alice, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_true (om_session_logout_finish (f->alice, result, &error));
  g_assert_no_error (error);

  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_SIGNED_OUT);
  g_assert_null (om_session_dup_access_token (f->alice));

  status = whoami (f, token, NULL, NULL);
  g_assert_cmpuint (status, ==, 401);
  {
    g_autoptr(JsonNode) body = om_test_hs_request (f->hs, "GET", "/_matrix/client/v3/account/whoami",
                                                   token, NULL, &status);
    g_assert_cmpuint (status, ==, 401);
    g_assert_nonnull (body);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (body), "errcode"), ==,
                     "M_UNKNOWN_TOKEN");
  }
  g_assert_cmpuint (whoami (f, other_token, NULL, NULL), ==, 200);

  /* Nothing keeps running: no more syncs after a while. */
  synced = 0;
  om_test_spin (1500);
  g_assert_cmpuint (synced, ==, 0);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_SIGNED_OUT);

  /* Signing in again works. */
  g_clear_error (&error);
  error = try_login (f->alice, om_test_hs_get_url (f->hs), f->alice_id, PASSWORD);
  g_assert_no_error (error);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_READY);
}

static gboolean
state_online (gpointer data)
{
  return om_session_get_state (data) == OM_SESSION_STATE_ONLINE;
}

static void
test_start_stop (Fixture       *f,
                 gconstpointer  data)
{
  Synced synced = { 0, FALSE };
  guint before;

  f->alice = sign_in (f, "alice", "alice");
  g_signal_connect (f->alice, "synced", G_CALLBACK (record_synced), &synced);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_READY);

  start (f->alice);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_CONNECTING);
  g_assert_true (om_test_wait_until (state_online, f->alice, WAIT_MS));
  g_assert_true (om_test_wait_until (synced_once, &synced, WAIT_MS));
  /* A new device's first sync is an initial one. */
  g_assert_true (synced.first_initial);
  g_assert_nonnull (om_sync_get_since (om_session_get_sync (f->alice)));
  g_assert_null (om_session_get_sync_error (f->alice));

  /* Long-polls keep coming while started… */
  before = synced.n;
  om_test_spin (2500);
  g_assert_cmpuint (synced.n, >, before);

  /* …and stop with om_session_stop. */
  om_session_stop (f->alice);
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_READY);
  g_assert_false (om_sync_get_running (om_session_get_sync (f->alice)));
  before = synced.n;
  om_test_spin (2500);
  g_assert_cmpuint (synced.n, ==, before);
}

static void
record_signed_out (OmSession    *session,
                   const GError *error,
                   GError      **out)
{
  g_assert_null (*out);
  *out = g_error_copy (error);
}

static gboolean
error_set (gpointer data)
{
  return *(GError **) data != NULL;
}

static gboolean
sync_gone (gpointer data)
{
  return om_session_get_sync (data) == NULL;
}

static void
test_signed_out_by_server (Fixture       *f,
                           gconstpointer  data)
{
  g_autofree char *store_path = NULL;
  g_autofree char *escaped_id = NULL;
  g_autoptr(GError) signed_out = NULL;
  g_autoptr(JsonNode) reply = NULL;
  g_autofree char *token = NULL;
  Synced synced = { 0, FALSE };
  guint status = 0;

  f->alice = sign_in (f, "alice", "alice");
  g_signal_connect (f->alice, "synced", G_CALLBACK (record_synced), &synced);
  g_signal_connect (f->alice, "signed-out", G_CALLBACK (record_signed_out), &signed_out);
  start (f->alice);
  g_assert_true (om_test_wait_until (synced_once, &synced, WAIT_MS));

  /* The device is signed out elsewhere (another client, an admin). */
  token = om_session_dup_access_token (f->alice);
  g_assert_nonnull (token);
  g_test_expect_message ("om-session", G_LOG_LEVEL_WARNING, "*ended this session*");
  g_clear_pointer (&reply, json_node_unref);
  reply = om_test_hs_request (f->hs, "POST", "/_matrix/client/v3/logout", token, "{}", &status);
  g_assert_cmpuint (status, ==, 200);

  g_assert_true (om_test_wait_until (error_set, &signed_out, WAIT_MS));
  g_test_assert_expected_messages ();
  g_assert_error (signed_out, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN);
  g_assert_false (om_error_is_soft_logout (signed_out));
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_SIGNED_OUT);

  /* A hard logout ends the device: what was kept for it goes too. */
  g_assert_true (om_test_wait_until (sync_gone, f->alice, WAIT_MS));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (f->alice))), ==, 0);
  store_path = g_build_filename (om_session_get_data_dir (f->alice), escaped_id = g_uri_escape_string (f->alice_id, NULL, FALSE),
                                 "store.db", NULL);
  g_assert_false (g_file_test (store_path, G_FILE_TEST_EXISTS));
}

static void
test_soft_logout (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GError) signed_out = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) reply = NULL;
  g_autofree char *body = NULL;
  g_autofree char *device = NULL;
  g_autofree char *room_id = NULL;
  Synced synced = { 0, FALSE };
  ListedWait lwait;

  f->alice = sign_in (f, "alice", "alice");
  g_signal_connect (f->alice, "synced", G_CALLBACK (record_synced), &synced);
  g_signal_connect (f->alice, "signed-out", G_CALLBACK (record_signed_out), &signed_out);
  start (f->alice);
  room_id = create_room (f->alice, "Kept through a soft logout", NULL, NULL);
  lwait = (ListedWait) { f->alice, room_id, TRUE };
  g_assert_true (om_test_wait_until (listed_is, &lwait, WAIT_MS));
  device = g_strdup (om_session_get_device_id (f->alice));

  /* The server lets the token expire: 401 M_UNKNOWN_TOKEN, soft_logout. */
  g_test_expect_message ("om-session", G_LOG_LEVEL_WARNING, "*ended this session*");
  body = g_strdup_printf ("{\"user_id\":\"%s\",\"refresh_tokens\":true}", f->alice_id);
  reply = om_test_hs_request (f->hs, "POST", "/_test/expire_token", NULL, body, NULL);
  g_assert_true (om_test_wait_until (error_set, &signed_out, WAIT_MS));
  g_test_assert_expected_messages ();
  g_assert_error (signed_out, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN);
  g_assert_true (om_error_is_soft_logout (signed_out));
  g_assert_cmpint (om_session_get_state (f->alice), ==, OM_SESSION_STATE_SIGNED_OUT);

  /* Signing in again keeps the device and what the store holds. */
  error = try_login (f->alice, om_test_hs_get_url (f->hs), f->alice_id, PASSWORD);
  g_assert_no_error (error);
  g_assert_cmpstr (om_session_get_device_id (f->alice), ==, device);
  g_assert_true (room_listed (f->alice, room_id));
  start (f->alice);
  g_assert_true (om_test_wait_until (state_online, f->alice, WAIT_MS));
}

/* Secrets */

static gboolean
captured_contains (const char *needle)
{
  for (guint i = 0; i < captured->len; i++)
    if (strstr (g_ptr_array_index (captured, i), needle) != NULL)
      return TRUE;
  return FALSE;
}

static gboolean
file_contains (const char *path,
               const char *needle)
{
  g_autofree char *contents = NULL;
  gsize length;

  if (!g_file_get_contents (path, &contents, &length, NULL))
    return FALSE;
  return memmem (contents, length, needle, strlen (needle)) != NULL;
}

static void
test_token_not_logged (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *room_id = NULL;
  g_autofree char *token = NULL;
  g_autofree char *store_path = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  const char *invite[2] = { NULL, NULL };
  MembershipWait mwait;
  guint first_capture;

  g_ptr_array_set_size (captured, 0);
  g_debug ("capture check");
  g_assert_true (captured_contains ("capture check"));
  first_capture = captured->len;

  /* A failed attempt first: the password must not show either. */
  f->alice = om_session_new (f->dir);
  error = try_login (f->alice, om_test_hs_get_url (f->hs), "alice", "wrong-" PASSWORD);
  g_assert_error (error, OM_ERROR, OM_ERROR_FORBIDDEN);
  g_clear_error (&error);

  g_clear_object (&f->alice);
  f->alice = sign_in (f, "alice", "alice");
  f->bob = sign_in (f, "bob", "bob");
  token = om_session_dup_access_token (f->alice);
  g_assert_nonnull (token);
  g_assert_cmpuint (strlen (token), >=, 8);
  store_path = g_strdup (om_store_get_path (om_session_get_store (f->alice)));
  start (f->alice);
  start (f->bob);

  /* Work that logs: create, invite, join, send, typing, read, and a failing request. */
  invite[0] = f->bob_id;
  room_id = create_room (f->alice, "Secrets", NULL, invite);
  mwait = (MembershipWait) { f->bob, room_id, OM_MEMBERSHIP_INVITE };
  g_assert_true (om_test_wait_until (membership_is, &mwait, WAIT_MS));
  g_free (join (f->bob, room_id, &error));
  g_assert_no_error (error);
  mwait = (MembershipWait) { f->alice, room_id, OM_MEMBERSHIP_JOIN };
  g_assert_true (om_test_wait_until (membership_is, &mwait, WAIT_MS));
  om_room_send_message (om_session_lookup_room (f->alice, room_id), "m.text", "hello");
  om_room_set_typing (om_session_lookup_room (f->alice, room_id), TRUE);
  {
    g_autofree char *alias = g_strdup_printf ("#missing:%s", om_test_hs_get_server_name (f->hs));
    g_free (join (f->alice, alias, &error));
    g_assert_error (error, OM_ERROR, OM_ERROR_NOT_FOUND);
    g_clear_error (&error);
  }
  om_test_spin (1500);
  om_room_mark_read (om_session_lookup_room (f->bob, room_id));

  om_session_logout_async (f->alice, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_true (om_session_logout_finish (f->alice, result, &error));
  g_assert_no_error (error);
  g_clear_object (&f->alice);
  g_clear_object (&f->bob);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  /* The session did log (so the check below means something)… */
  g_test_message ("%u messages captured", captured->len - first_capture);
  g_assert_cmpuint (captured->len, >, first_capture);
  /* …but never the token or the password. */
  for (guint i = 0; i < captured->len; i++)
    {
      const char *line = g_ptr_array_index (captured, i);

      if (strstr (line, token) != NULL || strstr (line, PASSWORD) != NULL)
        g_error ("A secret was logged: %s", line);
    }

  /* Nor is the token written to the store (the keyring keeps it). */
  g_assert_false (file_contains (store_path, token));
  {
    g_autofree char *wal = g_strconcat (store_path, "-wal", NULL);
    g_assert_false (file_contains (wal, token));
  }
}

int
main (int    argc,
      char **argv)
{
  /* Before anything can log: every level, every domain, captured. */
  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  captured = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);

  g_test_init (&argc, &argv, NULL);

  g_test_add ("/session/login/ok", Fixture, NULL, fixture_setup, test_login_ok, fixture_teardown);
  g_test_add ("/session/login/trailing-slash", Fixture, NULL, fixture_setup, test_login_trailing_slash, fixture_teardown);
  g_test_add ("/session/login/wrong-password", Fixture, NULL, fixture_setup, test_login_wrong_password, fixture_teardown);
  g_test_add ("/session/login/unreachable", Fixture, NULL, fixture_setup, test_login_unreachable, fixture_teardown);
  g_test_add ("/session/login/device-reused", Fixture, NULL, fixture_setup, test_device_reused, fixture_teardown);
  g_test_add ("/session/restore/other-users-store", Fixture, NULL, fixture_setup, test_restore_other_users_store, fixture_teardown);
  g_test_add ("/session/rooms/create", Fixture, NULL, fixture_setup, test_create_room, fixture_teardown);
  g_test_add ("/session/rooms/join", Fixture, NULL, fixture_setup, test_join, fixture_teardown);
  g_test_add ("/session/rooms/join-unknown-alias", Fixture, NULL, fixture_setup, test_join_unknown_alias, fixture_teardown);
  g_test_add ("/session/rooms/leave", Fixture, NULL, fixture_setup, test_leave, fixture_teardown);
  g_test_add ("/session/rooms/create-direct", Fixture, NULL, fixture_setup, test_create_direct, fixture_teardown);
  g_test_add ("/session/start-stop", Fixture, NULL, fixture_setup, test_start_stop, fixture_teardown);
  g_test_add ("/session/signed-out-by-server", Fixture, NULL, fixture_setup, test_signed_out_by_server, fixture_teardown);
  g_test_add ("/session/soft-logout", Fixture, NULL, fixture_setup, test_soft_logout, fixture_teardown);
  g_test_add ("/session/logout", Fixture, NULL, fixture_setup, test_logout, fixture_teardown);
  g_test_add ("/session/token-not-logged", Fixture, NULL, fixture_setup, test_token_not_logged, fixture_teardown);

  return g_test_run ();
}
