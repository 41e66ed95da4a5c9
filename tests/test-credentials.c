/* test-credentials.c — the sign-in kept between runs (om-credentials)
 *
 * Runs under tests/run-with-keyring.sh: a private session bus with an
 * unlocked gnome-keyring (elsewhere it skips).  HOME and the XDG
 * directories point at a temporary directory.  The fallback test takes that bus away from a
 * child process, as SSH without D-Bus would.  Every log message of every
 * test (debug ones too) is captured, and no token may appear in any.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <libsecret/secret.h>

#include "om-credentials.h"
#include "om-sync.h"
#include "om-test-session.h"

#define PASSWORD     "keyring-test-pw"
#define ACCESS_TOKEN "syt_secret_access_AbCdEf123"
#define REFRESH      "syt_secret_refresh_XyZ987"

/* Logs */

static GString  *logged;          /* every message, one per line */
static gboolean  allow_warnings;

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && fields[i].value != NULL)
      {
        gssize length = fields[i].length < 0 ? (gssize) strlen (fields[i].value) : fields[i].length;

        g_string_append_len (logged, fields[i].value, length);
        g_string_append_c (logged, '\n');
      }

  if (!g_log_writer_default_would_drop (level, NULL))
    g_log_writer_standard_streams (level, fields, n_fields, user_data);
  if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) ||
      ((level & G_LOG_LEVEL_WARNING) && !allow_warnings))
    g_error ("unexpected log message (see above)");
  return G_LOG_WRITER_HANDLED;
}

static void
assert_not_logged (const char *secret)
{
  g_assert_nonnull (secret);
  g_assert_cmpuint (strlen (secret), >, 8);
  if (strstr (logged->str, secret) != NULL)
    g_error ("a token was logged:\n%s", logged->str);
}

static guint
count_logged (const char *needle)
{
  guint n = 0;

  for (const char *p = strstr (logged->str, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* Helpers */

typedef struct {
  GAsyncResult *result;
} Wait;

static GAsyncResult *
wait_result (Wait *w)
{
  g_assert_true (om_test_wait_until (om_test_result_ready, &w->result, OM_TEST_WAIT_MS));
  return w->result;
}

static OmCredentials *
sample (const char *user_id)
{
  OmCredentials *credentials = om_credentials_new ("http://127.0.0.1:1", user_id, "DEVICEABC", ACCESS_TOKEN);

  credentials->refresh_token = g_strdup (REFRESH);
  credentials->expires_at_ms = 1767225600000;
  return credentials;
}

static void
save (OmCredentialStore   *store,
      const OmCredentials *credentials)
{
  Wait w = { 0 };
  g_autoptr(GError) error = NULL;

  om_credential_store_save_async (store, credentials, NULL, om_test_store_result, &w.result);
  g_assert_true (om_credential_store_save_finish (store, wait_result (&w), &error));
  g_assert_no_error (error);
  g_object_unref (w.result);
}

static OmCredentials *
lookup (OmCredentialStore *store,
        const char        *user_id)
{
  Wait w = { 0 };
  g_autoptr(GError) error = NULL;
  OmCredentials *credentials;

  om_credential_store_lookup_async (store, user_id, NULL, om_test_store_result, &w.result);
  credentials = om_credential_store_lookup_finish (store, wait_result (&w), &error);
  g_assert_no_error (error);
  g_object_unref (w.result);
  return credentials;
}

static void
clear (OmCredentialStore *store,
       const char        *user_id)
{
  Wait w = { 0 };
  g_autoptr(GError) error = NULL;

  om_credential_store_clear_async (store, user_id, NULL, om_test_store_result, &w.result);
  g_assert_true (om_credential_store_clear_finish (store, wait_result (&w), &error));
  g_assert_no_error (error);
  g_object_unref (w.result);
}

static void
assert_same (const OmCredentials *a,
             const OmCredentials *b)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpstr (a->homeserver, ==, b->homeserver);
  g_assert_cmpstr (a->user_id, ==, b->user_id);
  g_assert_cmpstr (a->device_id, ==, b->device_id);
  g_assert_cmpstr (a->access_token, ==, b->access_token);
  g_assert_cmpstr (a->refresh_token, ==, b->refresh_token);
  g_assert_cmpint (a->expires_at_ms, ==, b->expires_at_ms);
}

/* The index must never hold a secret. */
static void
assert_index_clean (void)
{
  g_autofree char *path = g_build_filename (g_get_user_config_dir (), "openmeet-chat", "accounts", NULL);
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return;
  g_assert_null (strstr (contents, ACCESS_TOKEN));
  g_assert_null (strstr (contents, REFRESH));
  g_assert_null (strstr (contents, "access_token"));
}

/* Tests */

static void
test_keyring_round_trip (void)
{
  g_autofree char *dir = om_test_mkdtemp ();
  g_autoptr(OmCredentialStore) store = om_credential_store_new (dir, OM_CREDENTIALS_MODE_KEEP);
  g_autoptr(OmCredentials) alice = sample ("@alice:example.org");
  g_autoptr(OmCredentials) bob = sample ("@bob:example.org");
  g_autoptr(OmCredentials) found = NULL;
  g_autofree char *fallback = om_credential_store_dup_fallback_path (store, alice->user_id);
  g_autofree char *user_id = NULL;

  g_assert_null (lookup (store, alice->user_id));
  g_assert_null (lookup (store, NULL));

  save (store, alice);
  g_free (bob->access_token);
  bob->access_token = g_strdup (ACCESS_TOKEN "-bob");
  g_clear_pointer (&bob->refresh_token, g_free);
  bob->expires_at_ms = -1;
  save (store, bob);

  /* In the keyring, not in a file. */
  g_assert_false (g_file_test (fallback, G_FILE_TEST_EXISTS));
  found = lookup (store, alice->user_id);
  assert_same (found, alice);
  g_clear_pointer (&found, om_credentials_free);
  /* Bob signed in last. */
  found = lookup (store, NULL);
  assert_same (found, bob);
  g_clear_pointer (&found, om_credentials_free);

  /* Saving again replaces, even with another homeserver URL. */
  g_free (alice->homeserver);
  alice->homeserver = g_strdup ("https://matrix.example.org");
  save (store, alice);
  found = lookup (store, alice->user_id);
  assert_same (found, alice);
  g_clear_pointer (&found, om_credentials_free);

  /* The index finds accounts by localpart and homeserver, no secret needed. */
  user_id = om_credential_store_find_account (store, NULL, NULL);
  g_assert_cmpstr (user_id, ==, "@alice:example.org");
  g_free (user_id);
  user_id = om_credential_store_find_account (store, "https://matrix.example.org/", "alice");
  g_assert_cmpstr (user_id, ==, "@alice:example.org");
  g_free (user_id);
  user_id = om_credential_store_find_account (store, NULL, "bob");
  g_assert_cmpstr (user_id, ==, "@bob:example.org");
  g_free (user_id);
  user_id = om_credential_store_find_account (store, "https://matrix.example.org", "bob");
  g_assert_null (user_id);
  user_id = om_credential_store_find_account (store, NULL, "ali");
  g_assert_null (user_id);
  assert_index_clean ();

  clear (store, alice->user_id);
  g_assert_null (lookup (store, alice->user_id));
  found = lookup (store, bob->user_id);
  assert_same (found, bob);
  g_clear_pointer (&found, om_credentials_free);
  clear (store, bob->user_id);
  g_assert_null (lookup (store, NULL));
  g_assert_null (om_credential_store_find_account (store, NULL, NULL));

  assert_not_logged (ACCESS_TOKEN);
  assert_not_logged (REFRESH);
  om_test_rmdir (dir);
}

static void
test_no_store (void)
{
  g_autofree char *dir = om_test_mkdtemp ();
  g_autoptr(OmCredentialStore) keep = om_credential_store_new (dir, OM_CREDENTIALS_MODE_KEEP);
  g_autoptr(OmCredentialStore) store = om_credential_store_new (dir, OM_CREDENTIALS_MODE_NO_STORE);
  g_autoptr(OmCredentials) alice = sample ("@alice:example.org");
  g_autoptr(OmCredentials) found = NULL;

  save (store, alice);
  g_assert_null (lookup (keep, alice->user_id));
  g_assert_null (om_credential_store_find_account (keep, NULL, NULL));

  /* Nor does it use what an earlier run kept; but it still forgets it. */
  save (keep, alice);
  g_assert_null (lookup (store, alice->user_id));
  g_assert_null (lookup (store, NULL));
  clear (store, alice->user_id);
  g_assert_null (lookup (keep, alice->user_id));
  g_assert_null (om_credential_store_find_account (keep, NULL, NULL));
  om_test_rmdir (dir);
}

static void
test_fallback_file (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = om_test_mkdtemp ();
      g_autofree char *no_bus = g_strdup_printf ("unix:path=%s/no-bus", dir);
      g_autoptr(OmCredentialStore) store = NULL;
      g_autoptr(OmCredentials) alice = sample ("@alice:example.org");
      g_autoptr(OmCredentials) bob = sample ("@bob:example.org");
      g_autoptr(OmCredentials) found = NULL;
      g_autofree char *path = NULL;
      g_autofree char *parent = NULL;
      g_autofree char *contents = NULL;
      g_autofree char *warning = NULL;
      GStatBuf st;

      /* As over SSH: no session bus to reach. */
      g_setenv ("DBUS_SESSION_BUS_ADDRESS", no_bus, TRUE);
      g_unsetenv ("DISPLAY");
      allow_warnings = TRUE;

      store = om_credential_store_new (dir, OM_CREDENTIALS_MODE_KEEP);
      path = om_credential_store_dup_fallback_path (store, alice->user_id);
      save (store, alice);

      g_assert_cmpint (g_stat (path, &st), ==, 0);
      g_assert_cmpint (st.st_mode & 0777, ==, 0600);
      parent = g_path_get_dirname (path);
      g_assert_cmpint (g_stat (parent, &st), ==, 0);
      g_assert_cmpint (st.st_mode & 0077, ==, 0);
      /* Nothing but the file, no temporary left behind. */
      {
        g_autoptr(GDir) d = g_dir_open (parent, 0, NULL);
        g_assert_cmpstr (g_dir_read_name (d), ==, "credentials.json");
        g_assert_null (g_dir_read_name (d));
      }
      g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
      g_assert_nonnull (strstr (contents, ACCESS_TOKEN));

      /* Said once, with the path, and never the token. */
      warning = g_strdup_printf ("no keyring reachable; keeping the sign-in in %s, readable only by you", path);
      g_assert_cmpuint (count_logged (warning), ==, 1);
      save (store, bob);
      g_assert_cmpuint (count_logged ("no keyring reachable"), ==, 1);

      found = lookup (store, NULL);
      assert_same (found, bob);
      g_clear_pointer (&found, om_credentials_free);
      found = lookup (store, alice->user_id);
      assert_same (found, alice);

      clear (store, alice->user_id);
      g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
      g_assert_null (lookup (store, alice->user_id));
      clear (store, bob->user_id);
      g_assert_null (lookup (store, NULL));

      assert_not_logged (ACCESS_TOKEN);
      assert_not_logged (REFRESH);
      om_test_rmdir (dir);
      return;
    }

  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* Drops every method call: a Secret Service that never answers, like
 * gnome-keyring waiting on a prompt nobody can see. */
static GDBusMessage *
swallow_calls (GDBusConnection *connection,
               GDBusMessage    *message,
               gboolean         incoming,
               gpointer         user_data)
{
  if (incoming && g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_METHOD_CALL)
    {
      g_object_unref (message);
      return NULL;
    }
  return message;
}

static void
name_acquired_cb (GDBusConnection *connection,
                  const char      *name,
                  gpointer         user_data)
{
  *(gboolean *) user_data = TRUE;
}

static gboolean
is_true (gpointer data)
{
  return *(gboolean *) data;
}

static void
test_keyring_hangs (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
      g_autoptr(GDBusConnection) silent = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *dir = om_test_mkdtemp ();
      g_autofree char *path = NULL;
      g_autoptr(OmCredentialStore) store = NULL;
      g_autoptr(OmCredentials) alice = sample ("@alice:example.org");
      gboolean owned = FALSE;
      gint64 started;
      guint owner_id;

      /* A bus of our own, where the Secret Service is a mute. */
      g_test_dbus_up (bus);
      silent = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus),
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
      g_assert_no_error (error);
      g_dbus_connection_add_filter (silent, swallow_calls, NULL, NULL);
      owner_id = g_bus_own_name_on_connection (silent, "org.freedesktop.secrets", G_BUS_NAME_OWNER_FLAGS_NONE,
                                               name_acquired_cb, NULL, &owned, NULL);
      g_assert_true (om_test_wait_until (is_true, &owned, OM_TEST_WAIT_MS));
      allow_warnings = TRUE;

      store = om_credential_store_new (dir, OM_CREDENTIALS_MODE_KEEP);
      path = om_credential_store_dup_fallback_path (store, alice->user_id);
      started = g_get_monotonic_time ();
      save (store, alice);
      /* Given up on after 10 s, and kept in the file instead. */
      g_assert_cmpint (g_get_monotonic_time () - started, >=, 9 * G_USEC_PER_SEC);
      g_assert_cmpint (g_get_monotonic_time () - started, <, 14 * G_USEC_PER_SEC);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
      g_assert_cmpuint (count_logged ("no keyring reachable"), ==, 1);
      assert_not_logged (ACCESS_TOKEN);

      /* Let the abandoned call come back cancelled, then close the bus. */
      om_test_spin (200);
      g_bus_unown_name (owner_id);
      g_dbus_connection_close_sync (silent, NULL, NULL);
      g_clear_object (&silent);
      g_clear_object (&store);
      secret_service_disconnect ();
      g_test_dbus_down (bus);
      om_test_rmdir (dir);
      return;
    }

  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* A file saved over SSH is found again where the keyring is reachable, and
 * the keyring copy takes its place at the next save. */
static void
test_fallback_then_keyring (void)
{
  g_autofree char *dir = om_test_mkdtemp ();
  g_autoptr(OmCredentialStore) store = om_credential_store_new (dir, OM_CREDENTIALS_MODE_KEEP);
  g_autoptr(OmCredentials) alice = sample ("@alice:example.org");
  g_autoptr(OmCredentials) found = NULL;
  g_autofree char *path = om_credential_store_dup_fallback_path (store, alice->user_id);
  g_autofree char *parent = g_path_get_dirname (path);
  g_autofree char *json = NULL;

  json = g_strdup_printf ("{\"homeserver\":\"%s\",\"user_id\":\"%s\",\"device_id\":\"%s\","
                          "\"access_token\":\"%s\",\"refresh_token\":\"%s\",\"expires_at\":%" G_GINT64_FORMAT "}",
                          alice->homeserver, alice->user_id, alice->device_id, alice->access_token,
                          alice->refresh_token, alice->expires_at_ms);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0700), ==, 0);
  g_assert_true (g_file_set_contents_full (path, json, -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));

  found = lookup (store, alice->user_id);
  assert_same (found, alice);
  g_clear_pointer (&found, om_credentials_free);

  save (store, alice);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  found = lookup (store, alice->user_id);
  assert_same (found, alice);
  clear (store, alice->user_id);

  /* A damaged file is an error that names the file, not its contents. */
  g_assert_true (g_file_set_contents_full (path, "{\"access_token\":\"" ACCESS_TOKEN "\"", -1,
                                           G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  {
    Wait w = { 0 };
    g_autoptr(GError) error = NULL;

    om_credential_store_lookup_async (store, alice->user_id, NULL, om_test_store_result, &w.result);
    g_assert_null (om_credential_store_lookup_finish (store, wait_result (&w), &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    g_assert_nonnull (strstr (error->message, path));
    g_assert_null (strstr (error->message, ACCESS_TOKEN));
    g_object_unref (w.result);
  }
  clear (store, alice->user_id);

  assert_not_logged (ACCESS_TOKEN);
  om_test_rmdir (dir);
}

typedef struct {
  OmTestHs *hs;
  char     *dir;
  char     *alice_id;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->hs = om_test_hs_start (NULL);
  f->dir = om_test_mkdtemp ();
  f->alice_id = om_test_hs_create_user (f->hs, "alice", PASSWORD, FALSE);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_hs_free (f->hs);
  om_test_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->alice_id);
}

static gboolean
restore_saved (OmSession *session)
{
  Wait w = { 0 };
  g_autoptr(GError) error = NULL;
  gboolean restored;

  om_session_restore_saved_async (session, NULL, NULL, NULL, om_test_store_result, &w.result);
  restored = om_session_restore_saved_finish (session, wait_result (&w), &error);
  g_assert_no_error (error);
  g_object_unref (w.result);
  return restored;
}

static void
test_session_restore (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(OmSession) session = om_session_new (f->dir);
  g_autoptr(GError) error = NULL;
  g_autofree char *token = NULL;
  g_autofree char *room_id = NULL;
  Wait w = { 0 };
  OmRoom *room;

  /* Off by default: a plain sign-in keeps nothing. */
  om_session_login_password_async (session, om_test_hs_get_url (f->hs), "alice", PASSWORD,
                                   NULL, om_test_store_result, &w.result);
  g_assert_true (om_session_login_password_finish (session, wait_result (&w), &error));
  g_assert_no_error (error);
  g_clear_object (&w.result);
  g_clear_object (&session);
  session = om_session_new (f->dir);
  om_session_set_store_secrets (session, TRUE);
  g_assert_false (restore_saved (session));

  om_session_login_password_async (session, om_test_hs_get_url (f->hs), "alice", PASSWORD,
                                   NULL, om_test_store_result, &w.result);
  g_assert_true (om_session_login_password_finish (session, wait_result (&w), &error));
  g_assert_no_error (error);
  g_clear_object (&w.result);
  token = om_session_dup_access_token (session);

  om_session_start (session);
  om_session_create_room_async (session, "Kept room", "a topic", NULL, FALSE,
                                NULL, om_test_store_result, &w.result);
  room_id = om_session_create_room_finish (session, wait_result (&w), &error);
  g_assert_no_error (error);
  g_clear_object (&w.result);
  g_assert_true (om_test_wait_membership (session, room_id, OM_MEMBERSHIP_JOIN, OM_TEST_WAIT_MS));
  g_clear_object (&session);
  while (g_main_context_iteration (NULL, FALSE))
    ;

  /* The server is gone: whatever comes back, comes with no request. */
  om_test_hs_kill (f->hs);
  session = om_session_new (f->dir);
  om_session_set_store_secrets (session, TRUE);
  g_assert_true (restore_saved (session));
  g_assert_cmpint (om_session_get_state (session), ==, OM_SESSION_STATE_READY);
  g_assert_cmpstr (om_session_get_user_id (session), ==, f->alice_id);
  g_assert_cmpstr (om_session_get_homeserver (session), ==, om_test_hs_get_url (f->hs));
  room = om_session_lookup_room (session, room_id);
  g_assert_nonnull (room);
  g_assert_cmpstr (om_room_get_display_name (room), ==, "Kept room");
  {
    g_autofree char *restored_token = om_session_dup_access_token (session);
    g_assert_cmpstr (restored_token, ==, token);
  }
  /* Under the keyring: no file. */
  {
    g_autoptr(OmCredentialStore) store = om_credential_store_new (f->dir, OM_CREDENTIALS_MODE_KEEP);
    g_autofree char *path = om_credential_store_dup_fallback_path (store, f->alice_id);
    g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  }

  /* Logging out forgets the sign-in, even from a run told not to keep
   * secrets (--no-store-secrets after an earlier run kept them). */
  om_test_hs_start_again (f->hs);
  om_session_set_store_secrets (session, FALSE);
  om_session_logout_async (session, NULL, om_test_store_result, &w.result);
  g_assert_true (om_session_logout_finish (session, wait_result (&w), &error));
  g_assert_no_error (error);
  g_clear_object (&w.result);
  g_clear_object (&session);
  session = om_session_new (f->dir);
  om_session_set_store_secrets (session, TRUE);
  g_assert_false (restore_saved (session));

  assert_not_logged (token);
}

static void
record_signed_out (OmSession    *session,
                   const GError *error,
                   gboolean     *signed_out)
{
  *signed_out = TRUE;
}

static gboolean
flag_set (gpointer data)
{
  return *(gboolean *) data;
}

/* A token the server rejects is not kept for the next start. */
static void
test_rejected_token_forgotten (Fixture       *f,
                               gconstpointer  data)
{
  g_autoptr(OmSession) session = om_session_new (f->dir);
  g_autoptr(GError) error = NULL;
  g_autofree char *body = NULL;
  gboolean signed_out = FALSE;
  g_autofree char *key = NULL;
  g_autofree char *again = NULL;
  Wait w = { 0 };

  om_session_set_store_secrets (session, TRUE);
  om_session_login_password_async (session, om_test_hs_get_url (f->hs), "alice", PASSWORD,
                                   NULL, om_test_store_result, &w.result);
  g_assert_true (om_session_login_password_finish (session, wait_result (&w), &error));
  g_assert_no_error (error);
  g_clear_object (&w.result);
  om_sync_set_timeout_ms (om_session_get_sync (session), 1000);
  g_signal_connect (session, "signed-out", G_CALLBACK (record_signed_out), &signed_out);
  om_session_start (session);
  key = om_session_dup_store_key (session);
  g_assert_nonnull (key);

  body = g_strdup_printf ("{\"user_id\":\"%s\",\"refresh_tokens\":true}", f->alice_id);
  json_node_unref (om_test_hs_request (f->hs, "POST", "/_test/expire_token", NULL, body, NULL));
  allow_warnings = TRUE;   /* "The server ended this session" */
  g_assert_true (om_test_wait_until (flag_set, &signed_out, OM_TEST_WAIT_MS));
  g_assert_nonnull (strstr (logged->str, "The server ended this session"));
  g_assert_cmpint (om_session_get_state (session), ==, OM_SESSION_STATE_SIGNED_OUT);
  /* Let the keyring removal finish. */
  om_test_spin (500);
  g_clear_object (&session);

  allow_warnings = FALSE;

  session = om_session_new (f->dir);
  om_session_set_store_secrets (session, TRUE);
  g_assert_false (restore_saved (session));

  /* That was a soft logout: signing in again (a new run) keeps the key of
   * the account's local secrets. */
  om_session_login_password_async (session, om_test_hs_get_url (f->hs), "alice", PASSWORD,
                                   NULL, om_test_store_result, &w.result);
  g_assert_true (om_session_login_password_finish (session, wait_result (&w), &error));
  g_assert_no_error (error);
  g_clear_object (&w.result);
  again = om_session_dup_store_key (session);
  g_assert_cmpstr (again, ==, key);
}

/* openmeet-tui --line, once with a password and once with none. */
static char *
run_tui (Fixture     *f,
         const char  *password,
         const char **extra_args,
         int         *out_status)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = g_build_filename (f->dir, "tui", NULL);
  char *output = NULL;

  g_ptr_array_add (argv, g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "..", "src", "tui",
                                           "openmeet-tui", NULL));
  g_ptr_array_add (argv, g_strdup ("--line"));
  g_ptr_array_add (argv, g_strdup ("--data-dir"));
  g_ptr_array_add (argv, g_strdup (data_dir));
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra_args[i]));
  g_ptr_array_add (argv, NULL);

  /* The test's temporary HOME and XDG directories (see main) are inherited:
   * the runs share them. */
  g_subprocess_launcher_unsetenv (launcher, "OPENMEET_HOMESERVER");
  g_subprocess_launcher_unsetenv (launcher, "OPENMEET_USER");
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");
  if (password != NULL)
    g_subprocess_launcher_setenv (launcher, "OPENMEET_PASSWORD", password, TRUE);
  else
    g_subprocess_launcher_unsetenv (launcher, "OPENMEET_PASSWORD");

  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  /* /quit is read once the first sync is in. */
  g_assert_true (g_subprocess_communicate_utf8 (process, "/quit\n", NULL, &output, NULL, &error));
  g_assert_no_error (error);
  *out_status = g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
  return output;
}

static void
test_tui_twice (Fixture       *f,
                gconstpointer  data)
{
  const char *first_args[] = { "--homeserver", om_test_hs_get_url (f->hs), "--user", "alice", NULL };
  const char *no_store[] = { "--no-store-secrets", NULL };
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *third = NULL;
  g_autofree char *signed_in = g_strdup_printf ("-- signed in as %s", f->alice_id);
  g_autoptr(OmCredentialStore) store = om_credential_store_new (NULL, OM_CREDENTIALS_MODE_KEEP);
  g_autoptr(OmCredentials) saved = NULL;
  int status;

  /* A room to come back to. */
  {
    g_autofree char *token = om_test_hs_login (f->hs, "alice", PASSWORD, NULL);
    g_autoptr(JsonNode) reply = NULL;
    guint http_status = 0;

    reply = om_test_hs_request (f->hs, "POST", "/_matrix/client/v3/createRoom", token,
                                "{\"preset\":\"private_chat\",\"name\":\"Terminal room\"}", &http_status);
    g_assert_cmpuint (http_status, ==, 200);
  }

  first = run_tui (f, PASSWORD, first_args, &status);
  if (status != 0 || strstr (first, signed_in) == NULL)
    g_error ("first run (status %d):\n%s", status, first);

  /* No password, no user, no homeserver: the saved sign-in. */
  second = run_tui (f, NULL, NULL, &status);
  if (status != 0 || strstr (second, "(saved sign-in)") == NULL || strstr (second, signed_in) == NULL)
    g_error ("second run (status %d):\n%s", status, second);
  g_assert_null (strstr (second, "signing in to"));
  /* Its rooms at once, from the store. */
  g_assert_nonnull (strstr (second, "== Terminal room"));

  /* --no-store-secrets does not use it. */
  third = run_tui (f, NULL, no_store, &status);
  g_assert_cmpint (status, ==, 2);
  g_assert_null (strstr (third, "saved sign-in"));

  saved = lookup (store, f->alice_id);
  g_assert_nonnull (saved);
  g_assert_null (strstr (first, saved->access_token));
  g_assert_null (strstr (second, saved->access_token));
  g_assert_null (strstr (third, saved->access_token));
  g_assert_null (strstr (first, PASSWORD));
  clear (store, f->alice_id);
  assert_not_logged (saved->access_token);
}

static void
test_needs_keyring (void)
{
  g_test_skip ("needs a session bus with an unlocked keyring: run it through tests/run-with-keyring.sh");
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *home = NULL;
  int status;

  /* Every file this test and the clients it runs write goes in here (set
   * before anything reads the user directories, which GLib caches). */
  home = g_dir_make_tmp ("om-test-credentials-XXXXXX", NULL);
  g_assert_nonnull (home);
  g_setenv ("HOME", home, TRUE);
  g_setenv ("XDG_CONFIG_HOME", home, TRUE);
  g_setenv ("XDG_DATA_HOME", home, TRUE);
  g_setenv ("XDG_STATE_HOME", home, TRUE);
  g_setenv ("XDG_CACHE_HOME", home, TRUE);

  g_test_init (&argc, &argv, NULL);
  logged = g_string_new (NULL);
  /* capture_writer decides what is fatal: the fallback warning is expected. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_log_set_writer_func (capture_writer, NULL, NULL);

  if (g_strcmp0 (g_getenv ("OM_IN_KEYRING_SESSION"), "1") != 0)
    g_test_add_func ("/credentials/needs-keyring", test_needs_keyring);
  else
    {
      g_test_add_func ("/credentials/keyring/round-trip", test_keyring_round_trip);
      g_test_add_func ("/credentials/no-store", test_no_store);
      g_test_add_func ("/credentials/fallback/file", test_fallback_file);
      g_test_add_func ("/credentials/fallback/then-keyring", test_fallback_then_keyring);
      g_test_add_func ("/credentials/fallback/keyring-hangs", test_keyring_hangs);
      g_test_add ("/credentials/session/restore", Fixture, NULL, fixture_setup, test_session_restore,
                  fixture_teardown);
      g_test_add ("/credentials/session/rejected-token-forgotten", Fixture, NULL, fixture_setup,
                  test_rejected_token_forgotten, fixture_teardown);
      g_test_add ("/credentials/tui/twice", Fixture, NULL, fixture_setup, test_tui_twice, fixture_teardown);
    }

  status = g_test_run ();
  om_test_rmdir (home);
  g_string_free (logged, TRUE);
  return status;
}
