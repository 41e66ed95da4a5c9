/* test-auth.c — password login, whoami and logout against the test
 * homeserver, plus Synapse's login answers from the transcripts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "test-auth"

#include <string.h>

#include "om-auth.h"
#include "om-error.h"
#include "om-test-hs.h"

#define PASSWORD "correct horse battery staple"

static OmTestHs *hs;

/* ---- helpers ----------------------------------------------------------- */

typedef struct
{
  gboolean       done;
  OmLoginResult *login;
  gboolean       ok;
  char          *user_id;
  char          *device_id;
  GError        *error;
  gint64         finished_at;
} Result;

static void
result_clear (Result *result)
{
  g_clear_pointer (&result->login, om_login_result_free);
  g_clear_pointer (&result->user_id, g_free);
  g_clear_pointer (&result->device_id, g_free);
  g_clear_error (&result->error);
  result->done = FALSE;
}

static gboolean
result_done (gpointer user_data)
{
  return ((Result *) user_data)->done;
}

static void
wait_result (Result *result)
{
  g_assert_true (om_test_wait_until (result_done, result, 20000));
}

static void
login_cb (GObject      *source,
          GAsyncResult *async_result,
          gpointer      user_data)
{
  Result *result = user_data;

  g_assert_false (result->done);
  g_assert_true (OM_IS_HTTP (source));
  result->login = om_auth_login_finish (async_result, &result->error);
  g_assert_true ((result->login == NULL) != (result->error == NULL));
  result->finished_at = g_get_monotonic_time ();
  result->done = TRUE;
}

static void
whoami_cb (GObject      *source,
           GAsyncResult *async_result,
           gpointer      user_data)
{
  Result *result = user_data;

  result->ok = om_auth_whoami_finish (async_result, &result->user_id, &result->device_id,
                                      &result->error);
  result->done = TRUE;
}

static void
logout_cb (GObject      *source,
           GAsyncResult *async_result,
           gpointer      user_data)
{
  Result *result = user_data;

  result->ok = om_auth_logout_finish (async_result, &result->error);
  result->done = TRUE;
}

static void
login (OmHttp     *http,
       const char *user,
       const char *password,
       const char *device_id,
       Result     *result)
{
  om_auth_login_password_async (http, user, password, device_id, "OpenMeet Test",
                                NULL, login_cb, result);
  wait_result (result);
}

static void
whoami (OmHttp *http,
        Result *result)
{
  om_auth_whoami_async (http, NULL, whoami_cb, result);
  wait_result (result);
}

static void
logout (OmHttp *http,
        Result *result)
{
  om_auth_logout_async (http, NULL, logout_cb, result);
  wait_result (result);
}

/* A fresh user per test keeps the tests independent. */
static char *
create_user (const char *prefix)
{
  static guint counter;
  g_autofree char *localpart = g_strdup_printf ("%s%u", prefix, ++counter);

  return om_test_hs_create_user (hs, localpart, PASSWORD, FALSE);
}

static char *
localpart_of (const char *user_id)
{
  return g_strndup (user_id + 1, strcspn (user_id + 1, ":"));
}

/* The response body of the first transcript exchange whose step contains
 * @step, as JSON text. */
static char *
transcript_body (const char *step)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "transcripts",
                                                 "discovery-login.json", NULL);
  JsonArray *exchanges;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  exchanges = json_node_get_array (json_parser_get_root (parser));
  for (guint i = 0; i < json_array_get_length (exchanges); i++)
    {
      JsonObject *exchange = json_array_get_object_element (exchanges, i);

      if (strstr (json_object_get_string_member (exchange, "step"), step) != NULL)
        return json_to_string (json_object_get_member (exchange, "response_body"), FALSE);
    }
  g_error ("no step “%s” in discovery-login.json", step);
  return NULL;
}

/* Makes the next POST /login answer @status with @raw_body. */
static void
fake_login_answer (guint       status,
                   const char *raw_body)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, "/_matrix/client/v3/login");
  json_builder_set_member_name (builder, "method");
  json_builder_add_string_value (builder, "POST");
  json_builder_set_member_name (builder, "action");
  json_builder_add_string_value (builder, "error");
  json_builder_set_member_name (builder, "status");
  json_builder_add_int_value (builder, status);
  json_builder_set_member_name (builder, "raw_body");
  json_builder_add_string_value (builder, raw_body);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json = json_to_string (root, FALSE);
  om_test_hs_add_fault (hs, json);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_login (void)
{
  g_autofree char *user_id = create_user ("alice");
  g_autofree char *localpart = localpart_of (user_id);
  g_autofree char *base = g_strconcat (om_test_hs_get_url (hs), "/", NULL);
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  Result result = { 0 }, me = { 0 };

  om_test_hs_clear_faults (hs);
  login (http, localpart, PASSWORD, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpstr (result.login->user_id, ==, user_id);
  g_assert_nonnull (result.login->access_token);
  g_assert_cmpuint (strlen (result.login->access_token), >, 0);
  g_assert_nonnull (result.login->device_id);
  /* Expiring tokens with a refresh token (om-token-keeper refreshes). */
  g_assert_nonnull (result.login->refresh_token);
  g_assert_cmpint (result.login->expires_in_ms, >, 0);
  g_assert_cmpstr (result.login->well_known_base_url, ==, base);
  /* Logging in sets no token by itself. */
  g_assert_false (om_http_has_access_token (http));

  om_http_set_access_token (http, result.login->access_token);
  whoami (http, &me);
  g_assert_no_error (me.error);
  g_assert_true (me.ok);
  g_assert_cmpstr (me.user_id, ==, user_id);
  g_assert_cmpstr (me.device_id, ==, result.login->device_id);

  result_clear (&result);
  result_clear (&me);
}

static void
test_login_full_user_id_and_device (void)
{
  g_autofree char *user_id = create_user ("bob");
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  g_autoptr(JsonNode) devices = NULL;
  Result first = { 0 }, again = { 0 };
  JsonArray *array;
  gboolean found = FALSE;
  guint status = 0;

  om_test_hs_clear_faults (hs);
  login (http, user_id, PASSWORD, "BOBLAPTOP", &first);
  g_assert_no_error (first.error);
  g_assert_cmpstr (first.login->user_id, ==, user_id);
  g_assert_cmpstr (first.login->device_id, ==, "BOBLAPTOP");

  /* The device exists, with the display name we asked for where the
   * server lists one (Synapse does; the test homeserver does not yet). */
  devices = om_test_hs_request (hs, "GET", "/_matrix/client/v3/devices",
                                first.login->access_token, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  array = json_object_get_array_member (json_node_get_object (devices), "devices");
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *device = json_array_get_object_element (array, i);

      if (g_str_equal (json_object_get_string_member (device, "device_id"), "BOBLAPTOP"))
        {
          if (json_object_has_member (device, "display_name"))
            g_assert_cmpstr (json_object_get_string_member (device, "display_name"), ==,
                             "OpenMeet Test");
          found = TRUE;
        }
    }
  g_assert_true (found);

  /* Signing in again with the same device keeps it. */
  login (http, user_id, PASSWORD, "BOBLAPTOP", &again);
  g_assert_no_error (again.error);
  g_assert_cmpstr (again.login->device_id, ==, "BOBLAPTOP");
  g_assert_cmpstr (again.login->access_token, !=, first.login->access_token);

  result_clear (&first);
  result_clear (&again);
}

static void
test_login_wrong_password (void)
{
  g_autofree char *user_id = create_user ("carol");
  g_autofree char *localpart = localpart_of (user_id);
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  Result wrong = { 0 }, unknown = { 0 };

  om_test_hs_clear_faults (hs);
  login (http, localpart, "not the password", NULL, &wrong);
  g_assert_error (wrong.error, OM_ERROR, OM_ERROR_FORBIDDEN);
  g_assert_cmpuint (om_error_get_http_status (wrong.error), ==, 403);
  g_assert_false (om_error_is_transient (wrong.error));

  login (http, "nosuchuser", PASSWORD, NULL, &unknown);
  g_assert_error (unknown.error, OM_ERROR, OM_ERROR_FORBIDDEN);

  result_clear (&wrong);
  result_clear (&unknown);
}

static void
test_logout (void)
{
  g_autofree char *user_id = create_user ("dave");
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  g_autoptr(OmHttp) other = om_http_new (om_test_hs_get_url (hs));
  Result first = { 0 }, second = { 0 }, out = { 0 }, me = { 0 }, still = { 0 };

  om_test_hs_clear_faults (hs);
  login (http, user_id, PASSWORD, NULL, &first);
  login (other, user_id, PASSWORD, NULL, &second);
  g_assert_no_error (first.error);
  g_assert_no_error (second.error);
  om_http_set_access_token (http, first.login->access_token);
  om_http_set_access_token (other, second.login->access_token);

  logout (http, &out);
  g_assert_no_error (out.error);
  g_assert_true (out.ok);

  whoami (http, &me);
  g_assert_error (me.error, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN);
  g_assert_cmpuint (om_error_get_http_status (me.error), ==, 401);
  g_assert_false (om_error_is_soft_logout (me.error));
  g_assert_false (me.ok);
  g_assert_null (me.user_id);

  /* Only that device signed out. */
  whoami (other, &still);
  g_assert_no_error (still.error);
  g_assert_cmpstr (still.device_id, ==, second.login->device_id);

  result_clear (&first);
  result_clear (&second);
  result_clear (&out);
  result_clear (&me);
  result_clear (&still);
}

static void
test_whoami_without_token (void)
{
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  Result me = { 0 };

  om_test_hs_clear_faults (hs);
  whoami (http, &me);
  g_assert_error (me.error, OM_ERROR, OM_ERROR_MISSING_TOKEN);
  result_clear (&me);
}

/* Synapse's answer with refresh_token: true (the transcript). */
static void
test_login_synapse_refreshable (void)
{
  g_autofree char *body = transcript_body ("POST login with refresh_token: true");
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  g_autoptr(OmLoginResult) copy = NULL;
  Result result = { 0 };

  om_test_hs_clear_faults (hs);
  fake_login_answer (200, body);
  login (http, "alice", PASSWORD, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpstr (result.login->user_id, ==, "@alice:matrix.openmeet.test");
  g_assert_cmpstr (result.login->access_token, ==, "<redacted>");
  g_assert_cmpstr (result.login->device_id, ==, "YGQGQELPTW");
  g_assert_cmpstr (result.login->refresh_token, ==, "<redacted>");
  g_assert_cmpint (result.login->expires_in_ms, ==, 299994);
  g_assert_cmpstr (result.login->well_known_base_url, ==, "http://127.0.0.1:8018/");

  copy = om_login_result_copy (result.login);
  g_assert_cmpstr (copy->refresh_token, ==, result.login->refresh_token);
  g_assert_cmpint (copy->expires_in_ms, ==, 299994);
  g_assert_true (G_TYPE_IS_BOXED (OM_TYPE_LOGIN_RESULT));

  result_clear (&result);
}

static void
test_login_bad_answers (void)
{
  const char *bodies[] = {
    "{\"user_id\":\"@alice:example.org\",\"device_id\":\"ABC\"}",
    "{\"access_token\":\"secret\",\"device_id\":\"ABC\"}",
    "{\"user_id\":\"alice\",\"access_token\":\"secret\",\"device_id\":\"ABC\"}",
    "{\"user_id\":\"@alice:example.org\",\"access_token\":\"secret\"}",
    "[1,2,3]",
  };
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));

  om_test_hs_clear_faults (hs);
  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      Result result = { 0 };

      fake_login_answer (200, bodies[i]);
      login (http, "alice", PASSWORD, NULL, &result);
      g_assert_error (result.error, OM_ERROR, OM_ERROR_BAD_RESPONSE);
      result_clear (&result);
    }
}

static void
test_login_rate_limited (void)
{
  g_autofree char *user_id = create_user ("erin");
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  Result result = { 0 };
  gint64 start;

  om_test_hs_clear_faults (hs);
  om_test_hs_add_fault (hs, "{\"path\":\"/_matrix/client/v3/login\",\"method\":\"POST\","
                            "\"action\":\"ratelimit\",\"retry_after_ms\":300}");
  start = g_get_monotonic_time ();
  login (http, user_id, PASSWORD, NULL, &result);
  g_assert_no_error (result.error);
  g_assert_cmpstr (result.login->user_id, ==, user_id);
  g_assert_cmpint (result.finished_at - start, >=, 300 * G_TIME_SPAN_MILLISECOND);
  result_clear (&result);
}

static void
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

static void
test_login_cancel (void)
{
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Result result = { 0 };

  om_test_hs_clear_faults (hs);
  om_test_hs_add_fault (hs, "{\"path\":\"/_matrix/client/v3/login\",\"method\":\"POST\","
                            "\"action\":\"delay\",\"delay_ms\":3000}");
  om_auth_login_password_async (http, "alice", PASSWORD, NULL, NULL, cancellable, login_cb, &result);
  g_timeout_add_once (100, cancel_cb, cancellable);
  wait_result (&result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  result_clear (&result);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  hs = om_test_hs_start (NULL);

  g_test_add_func ("/auth/login", test_login);
  g_test_add_func ("/auth/login/full-user-id-and-device", test_login_full_user_id_and_device);
  g_test_add_func ("/auth/login/wrong-password", test_login_wrong_password);
  g_test_add_func ("/auth/login/synapse-refreshable", test_login_synapse_refreshable);
  g_test_add_func ("/auth/login/bad-answers", test_login_bad_answers);
  g_test_add_func ("/auth/login/rate-limited", test_login_rate_limited);
  g_test_add_func ("/auth/login/cancel", test_login_cancel);
  g_test_add_func ("/auth/logout", test_logout);
  g_test_add_func ("/auth/whoami/without-token", test_whoami_without_token);

  ret = g_test_run ();

  om_test_hs_free (hs);
  return ret;
}
