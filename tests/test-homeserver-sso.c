/* test-homeserver-sso.c — the test homeserver's SSO through a real OpenID
 * provider, as Synapse's oidc_providers does it
 *
 * tests/oidc/provider.mjs (the npm package oidc-provider) plays OpenMeet; a
 * scripted browser (libcurl with its cookie engine, following redirects by
 * hand) goes from /login/sso/redirect/oidc-openmeet through the provider's
 * login and consent forms and the homeserver's callback to
 * redirectUrl?loginToken=…, which POST /login m.login.token exchanges.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-test-browser.h"
#include "om-test-hs.h"

#include <curl/curl.h>
#include <string.h>

#define V3 "/_matrix/client/v3"
/* redirectUrls under this prefix skip the confirmation page. */
#define WHITELISTED "http://127.0.0.1:5555/"
#define CONFIRMED   "http://127.0.0.1:6666/"

static OmTestOidc *oidc;
static OmTestHs *hs;
static gboolean unavailable;

/* Starts the provider and the homeserver on first use; FALSE (test
 * skipped) without Node or tests/oidc/node_modules. */
static gboolean
ensure_servers (void)
{
  const char *args[] = { "--sso-client-whitelist", WHITELISTED, NULL };

  if (hs)
    return TRUE;
  if (unavailable)
    {
      g_test_skip ("no OpenID provider (see the first test)");
      return FALSE;
    }
  oidc = om_test_oidc_start ();
  if (oidc == NULL)
    {
      unavailable = TRUE;
      return FALSE;
    }
  hs = om_test_hs_start_with_oidc (oidc, args);
  return TRUE;
}

static char *
sso_start_url (const char *redirect_url)
{
  g_autofree char *escaped = g_uri_escape_string (redirect_url, NULL, FALSE);

  return g_strdup_printf ("%s" V3 "/login/sso/redirect/oidc-openmeet?redirectUrl=%s",
                          om_test_hs_get_url (hs), escaped);
}

/* Runs the whole chain and returns the login token from the final URL. */
static char *
sso_login (OmTestBrowser *b,
           const char    *login,
           const char    *password,
           const char    *redirect_url)
{
  g_autofree char *start = sso_start_url (redirect_url);
  g_autofree char *end = om_test_browser_walk (b, start, login, password, redirect_url);
  g_autofree char *prefix = g_strconcat (redirect_url, "?loginToken=", NULL);
  g_autofree char *escaped = NULL;

  g_assert_nonnull (end);
  g_assert_true (g_str_has_prefix (end, prefix));
  escaped = g_strdup (end + strlen (prefix));
  return g_uri_unescape_string (escaped, NULL);
}

static JsonNode *
token_login (const char *token,
             guint      *out_status)
{
  g_autoptr(JsonBuilder) jb = json_builder_new ();
  g_autoptr(JsonNode) body = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (jb);
  json_builder_set_member_name (jb, "type");
  json_builder_add_string_value (jb, "m.login.token");
  json_builder_set_member_name (jb, "token");
  json_builder_add_string_value (jb, token);
  json_builder_set_member_name (jb, "initial_device_display_name");
  json_builder_add_string_value (jb, "OpenMeet Web (SSO)");
  json_builder_end_object (jb);
  body = json_builder_get_root (jb);
  text = json_to_string (body, FALSE);
  return om_test_hs_request (hs, "POST", V3 "/login", NULL, text, out_status);
}

static void
assert_error (JsonNode   *node,
              const char *errcode,
              const char *error)
{
  JsonObject *obj;

  g_assert_nonnull (node);
  obj = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (obj, "errcode"), ==, errcode);
  if (error)
    g_assert_cmpstr (json_object_get_string_member (obj, "error"), ==, error);
}

/* Tests */

static void
test_redirect_errors (void)
{
  guint status = 0;
  g_autoptr(JsonNode) flows = NULL;
  g_autoptr(JsonNode) missing = NULL;
  g_autoptr(JsonNode) unknown = NULL;
  g_autofree char *flows_text = NULL;

  if (!ensure_servers ())
    return;
  flows = om_test_hs_request (hs, "GET", V3 "/login", NULL, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  flows_text = json_to_string (flows, FALSE);
  g_assert_nonnull (strstr (flows_text, "{\"id\":\"oidc-openmeet\",\"name\":\"OpenMeet\"}"));

  missing = om_test_hs_request (hs, "GET", V3 "/login/sso/redirect/oidc-openmeet", NULL, NULL, &status);
  g_assert_cmpuint (status, ==, 400);
  assert_error (missing, "M_MISSING_PARAM", "Missing string query parameter redirectUrl");
  unknown = om_test_hs_request (hs, "GET", V3 "/login/sso/redirect/oidc-nope?redirectUrl="
                                "http%3A%2F%2F127.0.0.1%3A5555%2Fcb", NULL, NULL, &status);
  g_assert_cmpuint (status, ==, 404);
  assert_error (unknown, "M_NOT_FOUND", "Unknown identity provider");
}

/* The first hop: 302 to the provider with PKCE, state, nonce and the
 * session cookies, as Synapse does. */
static void
test_redirect_shape (void)
{
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *start = NULL;
  g_autofree char *auth_prefix = NULL;
  g_autofree char *callback = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GHashTable) params = NULL;

  if (!ensure_servers ())
    return;
  b = om_test_browser_new ();
  start = sso_start_url (CONFIRMED "cb");
  om_test_browser_go (b, start, NULL);
  g_assert_cmpuint (b->status, ==, 302);
  auth_prefix = g_strconcat (om_test_oidc_get_issuer (oidc), "/auth?", NULL);
  g_assert_true (g_str_has_prefix (b->location, auth_prefix));
  g_assert_nonnull (strstr (b->headers->str, "oidc_session="));
  g_assert_nonnull (strstr (b->headers->str, "Path=/_synapse/client/oidc"));
  g_assert_nonnull (strstr (b->headers->str, "oidc_session_no_samesite="));
  uri = g_uri_parse (b->location, G_URI_FLAGS_NONE, NULL);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_WWW_FORM, NULL);
  callback = g_strconcat (om_test_hs_get_url (hs), "/_synapse/client/oidc/callback", NULL);
  g_assert_cmpstr (g_hash_table_lookup (params, "response_type"), ==, "code");
  g_assert_cmpstr (g_hash_table_lookup (params, "client_id"), ==, om_test_oidc_get_client_id (oidc));
  g_assert_cmpstr (g_hash_table_lookup (params, "redirect_uri"), ==, callback);
  g_assert_cmpstr (g_hash_table_lookup (params, "scope"), ==, "openid profile email");
  g_assert_cmpstr (g_hash_table_lookup (params, "code_challenge_method"), ==, "S256");
  g_assert_nonnull (g_hash_table_lookup (params, "state"));
  g_assert_nonnull (g_hash_table_lookup (params, "nonce"));
  g_assert_cmpuint (strlen (g_hash_table_lookup (params, "code_challenge")), ==, 43);
}

/* alice through the confirmation page; the login token works once. */
static void
test_login_alice (void)
{
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *token = NULL;
  g_autofree char *alice = NULL;
  g_autofree char *access = NULL;
  g_autoptr(JsonNode) login = NULL;
  g_autoptr(JsonNode) again = NULL;
  g_autoptr(JsonNode) whoami = NULL;
  guint status = 0;

  if (!ensure_servers ())
    return;
  b = om_test_browser_new ();
  token = sso_login (b, "alice", "alice-pw", CONFIRMED "cb");
  g_assert_true (b->saw_login);
  g_assert_true (b->saw_consent);
  g_assert_true (b->saw_confirmation);
  g_assert_true (b->saw_new_user);
  g_assert_true (g_str_has_prefix (token, "syl_"));

  login = token_login (token, &status);
  g_assert_cmpuint (status, ==, 200);
  alice = om_test_hs_user_id (hs, "alice");
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (login), "user_id"), ==, alice);
  access = g_strdup (json_object_get_string_member (json_node_get_object (login), "access_token"));
  whoami = om_test_hs_request (hs, "GET", V3 "/account/whoami", access, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (whoami), "user_id"), ==, alice);

  /* Single use, as Synapse. */
  again = token_login (token, &status);
  g_assert_cmpuint (status, ==, 403);
  assert_error (again, "M_FORBIDDEN", "Invalid login token");
}

/* dave (matrix_handle "dave.doe") is created; a whitelisted redirectUrl
 * skips the confirmation page (Synapse's sso.client_whitelist). */
static void
test_new_user_dave (void)
{
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *token = NULL;
  g_autofree char *dave = NULL;
  g_autofree char *profile_path = NULL;
  g_autoptr(JsonNode) before = NULL;
  g_autoptr(JsonNode) login = NULL;
  g_autoptr(JsonNode) profile = NULL;
  guint status = 0;

  if (!ensure_servers ())
    return;
  dave = om_test_hs_user_id (hs, "dave.doe");
  profile_path = g_strdup_printf (V3 "/profile/%s", dave);
  before = om_test_hs_request (hs, "GET", profile_path, NULL, NULL, &status);
  g_assert_cmpuint (status, ==, 404);

  b = om_test_browser_new ();
  token = sso_login (b, "dave", "dave-pw", WHITELISTED "cb");
  g_assert_true (b->saw_login);
  g_assert_false (b->saw_confirmation);
  /* The callback's own answer: 302 straight to the app, cookies cleared. */
  g_assert_cmpuint (b->status, ==, 302);
  g_assert_nonnull (strstr (b->headers->str, "oidc_session=; Expires=Thu, Jan 01 1970"));

  login = token_login (token, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (login), "user_id"), ==, dave);
  profile = om_test_hs_request (hs, "GET", profile_path, NULL, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (profile), "displayname"), ==,
                   "Dave Doe");
}

/* A wrong password stays on the provider's login form. */
static void
test_wrong_password (void)
{
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *start = NULL;
  g_autofree char *end = NULL;

  if (!ensure_servers ())
    return;
  b = om_test_browser_new ();
  start = sso_start_url (CONFIRMED "cb");
  end = om_test_browser_walk (b, start, "alice", "not-her-password", CONFIRMED "cb");
  g_assert_null (end);
  g_assert_cmpuint (b->status, ==, 401);
  g_assert_nonnull (strstr (b->body->str, "name=\"prompt\" value=\"login\""));
}

/* The callback refuses a state that is not the session's, and a request
 * without the session cookie; the right one still goes through. */
static void
test_wrong_state (void)
{
  g_autoptr(OmTestBrowser) b = NULL;
  g_autoptr(OmTestBrowser) stranger = NULL;
  g_autofree char *start = NULL;
  g_autofree char *callback_prefix = NULL;
  g_autofree char *callback = NULL;
  g_autofree char *state = NULL;
  g_autofree char *forged = NULL;
  g_autofree char *state_param = NULL;
  g_autofree char *end = NULL;
  g_auto(GStrv) halves = NULL;

  if (!ensure_servers ())
    return;
  b = om_test_browser_new ();
  start = sso_start_url (CONFIRMED "cb");
  callback_prefix = g_strconcat (om_test_hs_get_url (hs), "/_synapse/client/oidc/callback?", NULL);
  callback = om_test_browser_walk (b, start, "bob", "bob-pw", callback_prefix);
  g_assert_nonnull (callback);
  state = om_test_browser_match (callback, "[?&]state=([^&]+)");
  g_assert_nonnull (state);
  state_param = g_strconcat ("state=", state, NULL);
  halves = g_strsplit (callback, state_param, 2);
  forged = g_strjoinv ("state=forged0123456789", halves);

  om_test_browser_go (b, forged, NULL);
  g_assert_cmpuint (b->status, ==, 400);
  g_assert_nonnull (strstr (b->body->str, "mismatching_session"));
  g_assert_null (b->location);

  stranger = om_test_browser_new ();
  om_test_browser_go (stranger, callback, NULL);
  g_assert_cmpuint (stranger->status, ==, 400);
  g_assert_nonnull (strstr (stranger->body->str, "missing_session"));

  end = om_test_browser_walk (b, callback, "bob", "bob-pw", CONFIRMED "cb");
  g_assert_nonnull (end);
  g_assert_true (b->saw_confirmation);
  g_assert_nonnull (strstr (end, "?loginToken="));

  /* The code and the session are spent: replaying the callback fails. */
  om_test_browser_go (b, callback, NULL);
  g_assert_cmpuint (b->status, ==, 400);
}

static void
test_bad_login_token (void)
{
  g_autoptr(JsonNode) bad = NULL;
  guint status = 0;

  if (!ensure_servers ())
    return;
  bad = token_login ("syl_not_a_token", &status);
  g_assert_cmpuint (status, ==, 403);
  assert_error (bad, "M_FORBIDDEN", "Invalid login token");
}

int
main (int    argc,
      char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  g_test_add_func ("/homeserver-sso/redirect-errors", test_redirect_errors);
  g_test_add_func ("/homeserver-sso/redirect-shape", test_redirect_shape);
  g_test_add_func ("/homeserver-sso/login-alice", test_login_alice);
  g_test_add_func ("/homeserver-sso/new-user-dave", test_new_user_dave);
  g_test_add_func ("/homeserver-sso/wrong-password", test_wrong_password);
  g_test_add_func ("/homeserver-sso/wrong-state", test_wrong_state);
  g_test_add_func ("/homeserver-sso/bad-login-token", test_bad_login_token);
  rc = g_test_run ();
  om_test_hs_free (hs);
  om_test_oidc_free (oidc);
  curl_global_cleanup ();
  return rc;
}
