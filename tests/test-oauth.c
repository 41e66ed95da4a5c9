/* test-oauth.c — native OIDC (Matrix's OAuth 2.0 API) in the core: om-oauth,
 * the session's sign-ins, and om-token-keeper's refreshes
 *
 * Against the real OpenID provider (tests/oidc/provider.mjs) and the test
 * homeserver in --oidc-delegated mode, with the scripted browser standing
 * in for a person.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include <glib/gstdio.h>

#include "om-discovery.h"
#include "om-error.h"
#include "om-oauth.h"
#include "om-session.h"
#include "om-sso.h"
#include "om-sync.h"
#include "om-token-keeper.h"
#include "om-test-browser.h"
#include "om-test-hs.h"
#include "om-test-session.h"

#define WAIT_MS OM_TEST_WAIT_MS

/* ---- everything logged, to look for secrets in -------------------------- */

static GMutex log_lock;
static GString *logged;

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  g_mutex_lock (&log_lock);
  for (gsize i = 0; i < n_fields; i++)
    if (fields[i].length < 0 && fields[i].value != NULL)
      g_string_append_printf (logged, "%s=%s\n", fields[i].key, (const char *) fields[i].value);
  g_mutex_unlock (&log_lock);
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
assert_not_logged (const char *secret)
{
  g_assert_nonnull (secret);
  g_assert_cmpuint (strlen (secret), >=, 8);
  g_mutex_lock (&log_lock);
  g_assert_null (strstr (logged->str, secret));
  g_mutex_unlock (&log_lock);
}

/* ---- units ---------------------------------------------------------------- */

static void
test_pkce_and_scopes (void)
{
  g_autofree char *challenge = NULL;
  g_autofree char *verifier = NULL;
  g_autofree char *device = NULL;
  g_autofree char *scope = NULL;
  g_autofree char *unstable = NULL;
  g_autofree char *got = NULL;

  /* RFC 7636, appendix B. */
  challenge = om_oauth_code_challenge ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  g_assert_cmpstr (challenge, ==, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");

  verifier = om_oauth_new_code_verifier ();
  g_assert_cmpuint (strlen (verifier), ==, 64);
  g_assert_cmpuint (strspn (verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                    ==, 64);

  device = om_oauth_new_device_id ();
  g_assert_true (om_oauth_device_id_is_valid (device));
  g_assert_false (om_oauth_device_id_is_valid ("SHORT"));
  g_assert_false (om_oauth_device_id_is_valid ("HAS SPACE 12"));
  g_assert_false (om_oauth_device_id_is_valid ("under_score_1"));

  scope = om_oauth_build_scope ("ABCDEFGHIJ", OM_OAUTH_SCOPES_STABLE, TRUE);
  g_assert_cmpstr (scope, ==, "urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHIJ "
                              "urn:synapse:admin:*");
  unstable = om_oauth_build_scope ("ABCDEFGHIJ", OM_OAUTH_SCOPES_UNSTABLE, FALSE);
  g_assert_cmpstr (unstable, ==, "urn:matrix:org.matrix.msc2967.client:api:* "
                                 "urn:matrix:org.matrix.msc2967.client:device:ABCDEFGHIJ");
  got = om_oauth_scope_get_device_id (unstable);
  g_assert_cmpstr (got, ==, "ABCDEFGHIJ");
  g_assert_true (om_oauth_scope_has_admin (scope));
  g_assert_false (om_oauth_scope_has_admin (unstable));
  g_assert_null (om_oauth_scope_get_device_id ("urn:matrix:client:device:AAAAAAAAAA "
                                               "urn:matrix:client:device:BBBBBBBBBB"));
}

static void
test_metadata_checked (void)
{
  const char *good = "{\"issuer\":\"https://id.example\","
                     "\"authorization_endpoint\":\"https://id.example/auth\","
                     "\"token_endpoint\":\"https://id.example/token\","
                     "\"registration_endpoint\":\"https://id.example/reg\","
                     "\"response_types_supported\":[\"code\"],"
                     "\"code_challenge_methods_supported\":[\"S256\"]}";
  g_autoptr(JsonNode) node = json_from_string (good, NULL);
  g_autoptr(OmOAuthServer) server = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *object = json_node_get_object (node);

  server = om_oauth_server_new (object, &error);
  g_assert_no_error (error);
  g_assert_false (om_oauth_server_supports_device_grant (server));
  g_assert_false (om_oauth_server_lists_scopes (server));
  g_assert_cmpint (om_oauth_server_get_scopes (server), ==, OM_OAUTH_SCOPES_STABLE);
  g_clear_pointer (&server, om_oauth_server_unref);

  /* No PKCE with S256: refused (the code would be stealable). */
  json_object_set_array_member (object, "code_challenge_methods_supported", json_array_new ());
  server = om_oauth_server_new (object, &error);
  g_assert_null (server);
  g_assert_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE);
  g_assert_nonnull (strstr (error->message, "S256"));
  g_clear_error (&error);

  /* A malformed endpoint. */
  json_object_set_string_member (object, "token_endpoint", "javascript:alert(1)");
  server = om_oauth_server_new (object, &error);
  g_assert_null (server);
  g_assert_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE);
  g_assert_nonnull (strstr (error->message, "token_endpoint"));
}

static void
test_oauth_errors (void)
{
  g_autoptr(JsonNode) oauth = json_from_string ("{\"error\":\"invalid_grant\","
                                                "\"error_description\":\"grant request is invalid\"}", NULL);
  g_autoptr(JsonNode) prose = json_from_string ("{\"error\":\"Something went wrong\"}", NULL);
  g_autoptr(GError) a = om_error_new_from_response (400, oauth);
  g_autoptr(GError) b = om_error_new_from_response (400, prose);

  g_assert_error (a, OM_ERROR, OM_ERROR_OAUTH);
  g_assert_cmpstr (om_error_get_errcode (a), ==, "invalid_grant");
  g_assert_nonnull (strstr (a->message, "grant request is invalid"));
  g_assert_false (om_error_is_transient (a));
  /* Prose in "error" without an errcode is not an OAuth code. */
  g_assert_error (b, OM_ERROR, OM_ERROR_HTTP);
  g_assert_null (om_error_get_errcode (b));
}

/* ---- servers --------------------------------------------------------------- */

/* One provider and delegated homeserver for most tests; others start their
 * own with other options. */
static OmTestOidc *oidc;
static OmTestHs *hs;
static gboolean unavailable;

static gboolean
ensure_servers (void)
{
  if (hs != NULL)
    return TRUE;
  if (unavailable)
    {
      g_test_skip ("no OpenID provider (see the first test that needed it)");
      return FALSE;
    }
  oidc = om_test_oidc_start ();
  if (oidc == NULL)
    {
      unavailable = TRUE;
      return FALSE;
    }
  hs = om_test_hs_start_delegated (oidc, NULL);
  return TRUE;
}

static gint64
stat_value (OmTestOidc *provider,
            const char *grant)
{
  g_autoptr(JsonNode) stats = om_test_oidc_stats (provider);
  JsonObject *object = json_node_get_object (stats);

  if (grant == NULL)
    return json_object_get_int_member (object, "revocations");
  return json_object_get_int_member_with_default (json_object_get_object_member (object, "grants"),
                                                  grant, 0);
}

/* ---- a person at a browser ------------------------------------------------ */

typedef struct {
  char     *url;       /* what the session asked to open */
  OmOAuthDeviceGrant *grant;
} Prompt;

static void
prompt_clear (Prompt *p)
{
  g_clear_pointer (&p->url, g_free);
  g_clear_pointer (&p->grant, om_oauth_device_grant_free);
}

static void
open_uri_cb (const char *uri,
             gpointer    user_data)
{
  Prompt *p = user_data;

  g_assert_null (p->url);
  p->url = g_strdup (uri);
}

static void
show_code_cb (const OmOAuthDeviceGrant *grant,
              gpointer                  user_data)
{
  Prompt *p = user_data;

  g_assert_null (p->grant);
  p->grant = g_new0 (OmOAuthDeviceGrant, 1);
  p->grant->user_code = g_strdup (grant->user_code);
  p->grant->verification_uri = g_strdup (grant->verification_uri);
  p->grant->verification_uri_complete = g_strdup (grant->verification_uri_complete);
}

static gboolean
url_or_done (gpointer data)
{
  gpointer *pair = data;

  return ((Prompt *) pair[0])->url != NULL || *(GAsyncResult **) pair[1] != NULL;
}

static gboolean
grant_or_done (gpointer data)
{
  gpointer *pair = data;

  return ((Prompt *) pair[0])->grant != NULL || *(GAsyncResult **) pair[1] != NULL;
}

/* The browser's last hop, to the loopback listener, on a thread so the
 * listener (on this thread's main loop) can answer. */
typedef struct {
  OmTestBrowser *browser;
  const char    *url;
  gint           done;
} Hop;

static gpointer
hop_thread (gpointer user_data)
{
  Hop *hop = user_data;

  om_test_browser_go (hop->browser, hop->url, NULL);
  g_atomic_int_set (&hop->done, 1);
  return NULL;
}

static gboolean
hop_done (gpointer data)
{
  return g_atomic_int_get (&((Hop *) data)->done);
}

/* @browser GETs @url from another thread while this one's main loop runs. */
static void
browser_hop (OmTestBrowser *browser,
             const char    *url)
{
  Hop hop = { .browser = browser, .url = url };

  g_thread_unref (g_thread_new ("browser-hop", hop_thread, &hop));
  g_assert_true (om_test_wait_until (hop_done, &hop, WAIT_MS));
}

/* What becomes of the callback URL before the browser goes there. */
typedef char *(*Tamper) (const char *callback_url);

/* Signs @session in through the loopback flow as @login; the browser's
 * callback URL goes through @tamper (nullable).  Returns the error, if any. */
static GError *
sign_in_code (OmSession            *session,
              OmTestHs             *server,
              OmSessionSignInFlags  flags,
              const char           *login,
              const char           *password,
              Tamper                tamper,
              char                **out_page)
{
  g_autoptr(OmSsoListener) listener = NULL;
  g_autoptr(OmTestBrowser) browser = om_test_browser_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *callback = NULL;
  g_autofree char *tampered = NULL;
  GError *error = NULL;
  Prompt prompt = { 0 };
  gpointer pair[2] = { &prompt, &result };

  listener = om_sso_listener_new_oauth (&error);
  g_assert_no_error (error);
  om_sso_listener_set_timeout_ms (listener, WAIT_MS);
  om_session_login_oauth_async (session, om_test_hs_get_url (server), NULL, listener, flags,
                                open_uri_cb, &prompt, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (url_or_done, pair, WAIT_MS));
  if (result == NULL)
    {
      g_assert_true (g_str_has_prefix (prompt.url, "http://127.0.0.1:"));
      g_assert_nonnull (strstr (prompt.url, "code_challenge_method=S256"));
      g_assert_nonnull (strstr (prompt.url, "response_mode=query"));
      g_assert_nonnull (strstr (prompt.url, "state="));
      prefix = g_strdup_printf ("http://127.0.0.1:%u/callback", om_sso_listener_get_port (listener));
      callback = om_test_browser_walk (browser, prompt.url, login, password, prefix);
      g_assert_nonnull (callback);
      tampered = tamper != NULL ? tamper (callback) : g_strdup (callback);
      browser_hop (browser, tampered);
      /* Sent on to ask again (other scopes): walk that too. */
      if (browser->status == 303 && browser->location != NULL &&
          !g_str_has_prefix (browser->location, prefix))
        {
          g_autofree char *again = g_strdup (browser->location);

          g_free (callback);
          callback = om_test_browser_walk (browser, again, login, password, prefix);
          g_assert_nonnull (callback);
          browser_hop (browser, callback);
        }
      if (out_page != NULL)
        *out_page = g_strdup (browser->body->str);
      g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
    }
  om_session_login_oauth_finish (session, result, &error);
  prompt_clear (&prompt);
  return error;
}

/* Signs in through the device grant; @deny refuses in the browser. */
static GError *
sign_in_device (OmSession  *session,
                OmTestHs   *server,
                const char *login,
                const char *password,
                gboolean    deny)
{
  g_autoptr(OmTestBrowser) browser = om_test_browser_new ();
  g_autoptr(GAsyncResult) result = NULL;
  GError *error = NULL;
  Prompt prompt = { 0 };
  gpointer pair[2] = { &prompt, &result };

  om_session_login_device_async (session, om_test_hs_get_url (server), NULL, OM_SESSION_SIGN_IN_NONE,
                                 show_code_cb, &prompt, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (grant_or_done, pair, WAIT_MS));
  if (result == NULL)
    {
      g_assert_nonnull (prompt.grant->user_code);
      g_assert_nonnull (prompt.grant->verification_uri_complete);
      g_assert_nonnull (strstr (prompt.grant->verification_uri_complete, prompt.grant->user_code));
      g_assert_true (om_test_browser_device_approve (browser, prompt.grant->verification_uri_complete,
                                                     login, password, deny));
      g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
    }
  om_session_login_device_finish (session, result, &error);
  prompt_clear (&prompt);
  return error;
}

static gboolean
is_online (gpointer data)
{
  return om_session_get_state (data) == OM_SESSION_STATE_ONLINE;
}

static guint
whoami_status (OmTestHs   *server,
               const char *token)
{
  g_autoptr(JsonNode) reply = NULL;
  guint status = 0;

  reply = om_test_hs_request (server, "GET", "/_matrix/client/v3/account/whoami", token, NULL, &status);
  return status;
}

typedef struct {
  char       *dir;
  OmSession  *session;
} Env;

static void
env_setup (Env           *env,
           gconstpointer  data)
{
  env->dir = om_test_mkdtemp ();
}

static void
env_teardown (Env           *env,
              gconstpointer  data)
{
  g_clear_object (&env->session);
  om_test_spin (50);
  om_test_rmdir (env->dir);
  g_free (env->dir);
}

/* ---- discovery ------------------------------------------------------------- */

static void
discover (OmTestHs       *server,
          OmOAuthServer **out,
          GError        **error)
{
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (server));
  g_autoptr(GAsyncResult) result = NULL;

  om_oauth_discover_async (http, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  *out = om_oauth_discover_finish (result, error);
}

/* MSC3824's oauth_aware_preferred on the server's m.login.sso flow. */
static gboolean
flows_prefer_oauth (OmTestHs *server)
{
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (server));
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(OmLoginFlows) flows = NULL;
  g_autoptr(GError) error = NULL;

  om_discovery_get_login_flows_async (http, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  flows = om_discovery_get_login_flows_finish (result, &error);
  g_assert_no_error (error);
  return om_login_flows_get_oauth_aware_preferred (flows);
}

static void
test_discover (void)
{
  g_autoptr(OmOAuthServer) server = NULL;
  g_autoptr(OmOAuthServer) none = NULL;
  g_autoptr(GError) error = NULL;
  OmTestHs *plain;

  if (!ensure_servers ())
    return;

  discover (hs, &server, &error);
  g_assert_no_error (error);
  g_assert_nonnull (server);
  g_assert_cmpstr (om_oauth_server_get_issuer (server), ==, om_test_oidc_get_issuer (oidc));
  g_assert_true (om_oauth_server_supports_device_grant (server));
  g_assert_true (om_oauth_server_lists_scopes (server));
  g_assert_nonnull (om_oauth_server_get_revocation_endpoint (server));
  g_assert_true (g_str_has_prefix (om_oauth_server_get_account_management_uri (server),
                                   om_test_oidc_get_issuer (oidc)));

  g_assert_true (flows_prefer_oauth (hs));

  /* A homeserver that does not delegate: no server, no error. */
  plain = om_test_hs_start (NULL);
  discover (plain, &none, &error);
  g_assert_no_error (error);
  g_assert_null (none);
  g_assert_false (flows_prefer_oauth (plain));
  om_test_hs_free (plain);
}

/* ---- the authorization code grant ----------------------------------------- */

static void
test_code_flow (Env           *env,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *token = NULL;
  g_autofree char *page = NULL;
  g_autofree char *expected = NULL;
  gint64 codes, revocations;

  if (!ensure_servers ())
    return;

  codes = stat_value (oidc, "authorization_code");
  env->session = om_session_new (env->dir);
  error = sign_in_code (env->session, hs, OM_SESSION_SIGN_IN_NONE, "dave", "dave-pw", NULL, &page);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (page, "close this tab"));
  expected = om_test_hs_user_id (hs, "dave.doe");
  g_assert_cmpstr (om_session_get_user_id (env->session), ==, expected);
  g_assert_true (om_oauth_device_id_is_valid (om_session_get_device_id (env->session)));
  g_assert_cmpint (stat_value (oidc, "authorization_code"), ==, codes + 1);
  g_assert_nonnull (om_session_get_token_keeper (env->session));
  g_assert_nonnull (om_session_get_account_management_uri (env->session));
  {
    g_autofree char *key = om_session_dup_store_key (env->session);

    g_assert_nonnull (key);
    g_assert_cmpuint (strlen (key), ==, 44);
  }

  om_session_start (env->session);
  g_assert_true (om_test_wait_until (is_online, env->session, WAIT_MS));

  /* Signing in logged neither token, nor the key. */
  token = om_session_dup_access_token (env->session);
  assert_not_logged (token);
  assert_not_logged (om_token_keeper_get_credentials (om_session_get_token_keeper (env->session))->refresh_token);
  {
    g_autofree char *key = om_session_dup_store_key (env->session);

    assert_not_logged (key);
  }

  /* Logging out revokes the tokens at the authorization server. */
  revocations = stat_value (oidc, NULL);
  om_session_logout_async (env->session, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_true (om_session_logout_finish (env->session, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat_value (oidc, NULL), >=, revocations + 2);
  om_test_spin (2200);  /* the homeserver caches introspection for 2 s */
  g_assert_cmpuint (whoami_status (hs, token), ==, 401);
}

static char *
tamper_state (const char *url)
{
  g_autoptr(GString) s = g_string_new (url);
  char *state = strstr (s->str, "state=");

  g_assert_nonnull (state);
  /* Flip one character of the state. */
  state[6] = state[6] == 'A' ? 'B' : 'A';
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
test_wrong_state (Env           *env,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *page = NULL;

  if (!ensure_servers ())
    return;

  env->session = om_session_new (env->dir);
  error = sign_in_code (env->session, hs, OM_SESSION_SIGN_IN_NONE, "alice", "alice-pw",
                        tamper_state, &page);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "state"));
  g_assert_nonnull (strstr (page, "Sign-in failed"));
  g_assert_cmpint (om_session_get_state (env->session), ==, OM_SESSION_STATE_SIGNED_OUT);
}

/* The code is useless without the verifier the client kept: checked at the
 * protocol level, with the flow taken apart. */
static void
test_wrong_verifier (void)
{
  g_autoptr(OmHttp) http = NULL;
  g_autoptr(OmOAuthServer) server = NULL;
  g_autoptr(OmTestBrowser) browser = om_test_browser_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(OmOAuthTokens) tokens = NULL;
  g_autofree char *client_id = NULL;
  g_autofree char *verifier = om_oauth_new_code_verifier ();
  g_autofree char *other = om_oauth_new_code_verifier ();
  g_autofree char *challenge = om_oauth_code_challenge (verifier);
  g_autofree char *device = om_oauth_new_device_id ();
  g_autofree char *scope = NULL;
  g_autofree char *url = NULL;
  g_autofree char *callback = NULL;
  g_autofree char *code = NULL;
  const char *redirect = "http://127.0.0.1:5555/callback";

  if (!ensure_servers ())
    return;

  http = om_http_new (om_test_hs_get_url (hs));
  discover (hs, &server, &error);
  g_assert_no_error (error);
  om_oauth_register_async (http, server, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  client_id = om_oauth_register_finish (result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);

  scope = om_oauth_build_scope (device, OM_OAUTH_SCOPES_STABLE, FALSE);
  url = om_oauth_build_authorization_url (server, client_id, redirect, scope, "s1", challenge);
  callback = om_test_browser_walk (browser, url, "bob", "bob-pw", redirect);
  g_assert_nonnull (callback);
  code = om_test_browser_match (callback, "[?&]code=([^&]+)");
  g_assert_nonnull (code);

  om_oauth_exchange_code_async (http, server, client_id, code, redirect, other,
                                NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  tokens = om_oauth_tokens_finish (result, &error);
  g_assert_null (tokens);
  g_assert_error (error, OM_ERROR, OM_ERROR_OAUTH);
  g_assert_cmpstr (om_error_get_errcode (error), ==, "invalid_grant");
  g_clear_error (&error);
  g_clear_object (&result);

  /* The right verifier still works (the provider did not spend the code). */
  om_oauth_exchange_code_async (http, server, client_id, code, redirect, verifier,
                                NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  tokens = om_oauth_tokens_finish (result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tokens->refresh_token);
  g_assert_cmpint (tokens->expires_in_ms, >, 0);
  {
    g_autofree char *granted = om_oauth_scope_get_device_id (tokens->scope);

    g_assert_cmpstr (granted, ==, device);
  }
}

/* ---- the device grant ------------------------------------------------------ */

static void
test_device_flow (Env           *env,
                  gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;

  if (!ensure_servers ())
    return;

  /* Refused in the browser. */
  env->session = om_session_new (env->dir);
  error = sign_in_device (env->session, hs, "erin", "erin-pw", TRUE);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);

  /* Approved. */
  error = sign_in_device (env->session, hs, "erin", "erin-pw", FALSE);
  g_assert_no_error (error);
  expected = om_test_hs_user_id (hs, "erin");
  g_assert_cmpstr (om_session_get_user_id (env->session), ==, expected);
  om_session_start (env->session);
  g_assert_true (om_test_wait_until (is_online, env->session, WAIT_MS));
}

/* The device grant's polling rules (RFC 8628 §3.5), against a provider
 * that enforces its interval: a client that polls too fast is told
 * slow_down and adds 5 s; a code nobody approves ends in expired_token. */
typedef struct {
  OmTestBrowser *browser;
  const char    *url;
  gint           done;
} Approval;

static gpointer
approve_thread (gpointer data)
{
  Approval *a = data;

  g_assert_true (om_test_browser_device_approve (a->browser, a->url, "alice", "alice-pw", FALSE));
  g_atomic_int_set (&a->done, 1);
  return NULL;
}

static gboolean
slowed_down (gpointer data)
{
  g_autoptr(JsonNode) stats = om_test_oidc_stats (data);

  return json_object_get_int_member_with_default (json_node_get_object (stats), "slow_downs", 0) > 0;
}

static gboolean
approved (gpointer data)
{
  return g_atomic_int_get (&((Approval *) data)->done);
}

static OmOAuthDeviceGrant *
authorize_device (OmHttp         *http,
                  OmOAuthServer  *server,
                  char          **out_client_id)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *device = om_oauth_new_device_id ();
  g_autofree char *scope = om_oauth_build_scope (device, OM_OAUTH_SCOPES_STABLE, FALSE);
  OmOAuthDeviceGrant *grant;

  om_oauth_register_async (http, server, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  *out_client_id = om_oauth_register_finish (result, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  om_oauth_device_authorize_async (http, server, *out_client_id, scope, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  grant = om_oauth_device_authorize_finish (result, &error);
  g_assert_no_error (error);
  return grant;
}

static void
test_device_polling (void)
{
  const char *args[] = { "--device-poll-interval", "3", "--device-code-ttl", "30", NULL };
  const char *short_args[] = { "--device-code-ttl", "2", NULL };
  g_autoptr(OmOAuthServer) server = NULL;
  g_autoptr(OmOAuthDeviceGrant) grant = NULL;
  g_autoptr(OmOAuthTokens) tokens = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(OmHttp) http = NULL;
  g_autoptr(OmTestBrowser) browser = om_test_browser_new ();
  g_autofree char *client_id = NULL;
  g_autoptr(JsonNode) stats = NULL;
  Approval approval = { 0 };
  OmTestOidc *provider;
  OmTestHs *server_hs;
  gint64 start;

  provider = om_test_oidc_start_full (args);
  if (provider == NULL)
    return;
  server_hs = om_test_hs_start_delegated (provider, NULL);
  http = om_http_new (om_test_hs_get_url (server_hs));
  discover (server_hs, &server, &error);
  g_assert_no_error (error);

  grant = authorize_device (http, server, &client_id);
  g_assert_cmpuint (grant->interval_s, ==, 3);
  /* A client that ignores the interval: polls every second. */
  grant->interval_s = 1;
  om_oauth_device_poll_async (http, server, client_id, grant, NULL, om_test_store_result, &result);
  /* Told to slow down at its second poll, 1 s after the first… */
  g_assert_true (om_test_wait_until (slowed_down, provider, WAIT_MS));
  start = g_get_monotonic_time ();
  approval.browser = browser;
  approval.url = grant->verification_uri_complete;
  g_thread_unref (g_thread_new ("approve", approve_thread, &approval));
  g_assert_true (om_test_wait_until (approved, &approval, WAIT_MS));
  g_assert_null (result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, 30000));
  tokens = om_oauth_tokens_finish (result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tokens->access_token);
  /* …it waited 1 + 5 s before the next one. */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 5 * G_USEC_PER_SEC);
  stats = om_test_oidc_stats (provider);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (stats), "slow_downs"), ==, 1);
  om_test_hs_free (server_hs);
  om_test_oidc_free (provider);
  g_clear_pointer (&grant, om_oauth_device_grant_free);
  g_clear_pointer (&server, om_oauth_server_unref);
  g_clear_object (&result);
  g_clear_object (&http);
  g_clear_pointer (&client_id, g_free);

  /* Nobody approves within the code's 2 s: expired_token from the server
   * (the client is made to believe the code lives longer). */
  provider = om_test_oidc_start_full (short_args);
  server_hs = om_test_hs_start_delegated (provider, NULL);
  http = om_http_new (om_test_hs_get_url (server_hs));
  discover (server_hs, &server, &error);
  g_assert_no_error (error);
  grant = authorize_device (http, server, &client_id);
  grant->interval_s = 1;
  grant->expires_at_us = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  om_oauth_device_poll_async (http, server, client_id, grant, NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, 30000));
  g_clear_pointer (&tokens, om_oauth_tokens_free);
  tokens = om_oauth_tokens_finish (result, &error);
  g_assert_null (tokens);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_nonnull (strstr (error->message, "expired"));
  om_test_hs_free (server_hs);
  om_test_oidc_free (provider);
}

/* A provider that knows only the MSC2967 scope names and does not list
 * them, behind a homeserver with only the unstable auth_issuer: discovery
 * reads the issuer's own metadata, and both flows find out from
 * invalid_scope and ask again. */
static void
test_unstable_scopes (Env           *env,
                      gconstpointer  data)
{
  const char *args[] = { "--matrix-scopes", "unstable", "--advertise-matrix-scopes", "no", NULL };
  const char *hs_args[] = { "--no-stable-auth-metadata", NULL };
  g_autoptr(OmOAuthServer) found = NULL;
  g_autoptr(GError) error = NULL;
  OmTestOidc *provider;
  OmTestHs *server;

  provider = om_test_oidc_start_full (args);
  if (provider == NULL)
    return;
  server = om_test_hs_start_delegated (provider, hs_args);

  discover (server, &found, &error);
  g_assert_no_error (error);
  g_assert_nonnull (found);
  g_assert_cmpstr (om_oauth_server_get_issuer (found), ==, om_test_oidc_get_issuer (provider));
  g_assert_false (om_oauth_server_lists_scopes (found));

  env->session = om_session_new (env->dir);
  error = sign_in_code (env->session, server, OM_SESSION_SIGN_IN_NONE, "alice", "alice-pw", NULL, NULL);
  g_assert_no_error (error);
  g_assert_nonnull (om_session_get_user_id (env->session));
  g_clear_object (&env->session);

  env->session = om_session_new (env->dir);
  error = sign_in_device (env->session, server, "bob", "bob-pw", FALSE);
  g_assert_no_error (error);
  om_session_start (env->session);
  g_assert_true (om_test_wait_until (is_online, env->session, WAIT_MS));
  g_clear_object (&env->session);
  om_test_spin (50);

  om_test_hs_free (server);
  om_test_oidc_free (provider);
}

/* ---- refresh ------------------------------------------------------------- */

typedef struct {
  OmSession *session;
  guint      n;
} Synced;

static void
count_synced (OmSession *session,
              gboolean   initial,
              Synced    *synced)
{
  synced->n++;
}

static guint n_refreshed;

static void
count_refreshed (OmTokenKeeper *keeper)
{
  n_refreshed++;
}

static gboolean
refreshed_n (gpointer data)
{
  return n_refreshed >= GPOINTER_TO_UINT (data);
}

static void
record_signed_out (OmSession    *session,
                   const GError *error,
                   GError      **out)
{
  if (*out == NULL)
    *out = g_error_copy (error);
}

static gboolean
error_set (gpointer data)
{
  return *(GError **) data != NULL;
}

/* No keyring in these tests: the 0600 file keeps the tokens. */
static void
use_file_secrets (Env *env)
{
  g_autofree char *no_bus = g_strdup_printf ("unix:path=%s/no-bus", env->dir);

  g_setenv ("DBUS_SESSION_BUS_ADDRESS", no_bus, TRUE);
  g_setenv ("XDG_CONFIG_HOME", env->dir, TRUE);
}

/* The credential store says once per run that it uses the file. */
static void
expect_no_keyring (void)
{
  static gboolean said;

  if (!said)
    g_test_expect_message ("om-credentials", G_LOG_LEVEL_WARNING, "*no keyring reachable*");
  said = TRUE;
}

/* Short-lived tokens (4 s): refreshed ahead of expiry with nothing failing,
 * refreshed after a 401, and a refused refresh signs out (softly). */
static void
test_refresh (Env           *env,
              gconstpointer  data)
{
  const char *args[] = { "--access-token-ttl", "4", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) signed_out = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  OmTestOidc *provider;
  OmTestHs *server;
  OmTokenKeeper *keeper;
  Synced synced = { 0 };
  guint before;

  provider = om_test_oidc_start_full (args);
  if (provider == NULL)
    return;
  server = om_test_hs_start_delegated (provider, NULL);
  use_file_secrets (env);

  env->session = om_session_new (env->dir);
  om_session_set_store_secrets (env->session, TRUE);
  expect_no_keyring ();
  error = sign_in_device (env->session, server, "alice", "alice-pw", FALSE);
  g_assert_no_error (error);
  g_test_assert_expected_messages ();
  keeper = om_session_get_token_keeper (env->session);
  g_assert_nonnull (keeper);
  g_signal_connect (env->session, "synced", G_CALLBACK (count_synced), &synced);
  n_refreshed = 0;
  g_signal_connect (keeper, "refreshed", G_CALLBACK (count_refreshed), NULL);
  g_signal_connect (env->session, "signed-out", G_CALLBACK (record_signed_out), &signed_out);
  om_sync_set_timeout_ms (om_session_get_sync (env->session), 1000);
  om_session_start (env->session);
  g_assert_true (om_test_wait_until (is_online, env->session, WAIT_MS));
  first = om_session_dup_access_token (env->session);

  /* Ahead of expiry: two refreshes in ~8 s, and syncing never stops. */
  g_assert_true (om_test_wait_until (refreshed_n, GUINT_TO_POINTER (2), WAIT_MS));
  second = om_session_dup_access_token (env->session);
  g_assert_cmpstr (first, !=, second);
  g_assert_cmpint (stat_value (provider, "refresh_token"), ==, 2);
  before = synced.n;
  om_test_spin (1500);
  g_assert_cmpuint (synced.n, >, before);
  g_assert_null (signed_out);
  g_assert_cmpint (om_session_get_state (env->session), ==, OM_SESSION_STATE_ONLINE);

  /* When the token dies early (here: the saved expiry says an hour, like a
   * clock that is off, and the client restarts after the real expiry), the
   * homeserver's 401 makes the client refresh, and syncing goes on. */
  {
    g_autoptr(OmCredentialStore) store = om_credential_store_new (env->dir, OM_CREDENTIALS_MODE_KEEP);
    g_autoptr(OmCredentials) saved = NULL;
    g_autofree char *user_id = g_strdup (om_session_get_user_id (env->session));

    g_clear_object (&env->session);
    om_test_spin (50);
    om_credential_store_lookup_async (store, user_id, NULL, om_test_store_result, &result);
    g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
    saved = om_credential_store_lookup_finish (store, result, &error);
    g_assert_no_error (error);
    g_assert_nonnull (saved);
    g_assert_nonnull (saved->oauth_token_endpoint);
    g_clear_object (&result);
    saved->expires_at_ms = g_get_real_time () / 1000 + 3600 * 1000;
    om_credential_store_save_async (store, saved, NULL, om_test_store_result, &result);
    g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
    g_assert_true (om_credential_store_save_finish (store, result, &error));
    g_clear_object (&result);
    om_test_spin (4500);

    env->session = om_session_new (env->dir);
    om_session_set_store_secrets (env->session, TRUE);
    om_session_restore_saved_async (env->session, NULL, user_id, NULL, om_test_store_result, &result);
    g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
    g_assert_true (om_session_restore_saved_finish (env->session, result, &error));
    g_assert_no_error (error);
    keeper = om_session_get_token_keeper (env->session);
    g_assert_nonnull (keeper);
    n_refreshed = 0;
    g_signal_connect (keeper, "refreshed", G_CALLBACK (count_refreshed), NULL);
    synced.n = 0;
    g_signal_connect (env->session, "synced", G_CALLBACK (count_synced), &synced);
    g_signal_connect (env->session, "signed-out", G_CALLBACK (record_signed_out), &signed_out);
    om_sync_set_timeout_ms (om_session_get_sync (env->session), 1000);
    om_session_start (env->session);
    g_assert_true (om_test_wait_until (refreshed_n, GUINT_TO_POINTER (1), WAIT_MS));
    g_assert_true (om_test_wait_until (is_online, env->session, WAIT_MS));
    before = synced.n;
    om_test_spin (1500);
    g_assert_cmpuint (synced.n, >, before);
    g_assert_null (signed_out);
  }

  /* No token of the whole rotation shows in the log. */
  assert_not_logged (first);
  assert_not_logged (second);
  assert_not_logged (om_token_keeper_get_credentials (keeper)->access_token);
  assert_not_logged (om_token_keeper_get_credentials (keeper)->refresh_token);

  /* Signed out elsewhere: every token of the account revoked, so the
   * refresh is refused: a soft logout that keeps the store. */
  g_test_expect_message ("om-session", G_LOG_LEVEL_WARNING, "*ended this session*");
  om_test_oidc_revoke_all (provider, "alice");
  g_assert_true (om_test_wait_until (error_set, &signed_out, WAIT_MS));
  g_test_assert_expected_messages ();
  g_assert_true (om_error_is_soft_logout (signed_out));
  g_assert_cmpint (om_session_get_state (env->session), ==, OM_SESSION_STATE_SIGNED_OUT);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (env->session))), ==,
                    g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (env->session))));

  /* Signing in again keeps the device. */
  {
    g_autofree char *device = g_strdup (om_session_get_device_id (env->session));

    g_clear_error (&error);
    error = sign_in_device (env->session, server, "alice", "alice-pw", FALSE);
    g_assert_no_error (error);
    g_assert_cmpstr (om_session_get_device_id (env->session), ==, device);
  }

  g_clear_object (&env->session);
  om_test_spin (50);
  om_test_hs_free (server);
  om_test_oidc_free (provider);
}

/* Two clients of one account (the desktop and the terminal client) refresh
 * at once: the lock lets one refresh and the other adopt its tokens, so the
 * provider never sees a refresh token twice (which would revoke them all). */
static void
test_two_clients_refresh (Env           *env,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(OmSession) other = NULL;
  g_autoptr(GAsyncResult) restored = NULL;
  g_autoptr(GAsyncResult) r1 = NULL;
  g_autoptr(GAsyncResult) r2 = NULL;
  g_autofree char *t1 = NULL;
  g_autofree char *t2 = NULL;
  OmTokenKeeper *k1, *k2;
  gint64 refreshes;

  if (!ensure_servers ())
    return;

  use_file_secrets (env);

  env->session = om_session_new (env->dir);
  om_session_set_store_secrets (env->session, TRUE);
  expect_no_keyring ();
  error = sign_in_device (env->session, hs, "bob", "bob-pw", FALSE);
  g_assert_no_error (error);
  g_test_assert_expected_messages ();

  other = om_session_new (env->dir);
  om_session_set_store_secrets (other, TRUE);
  om_session_restore_saved_async (other, NULL, om_session_get_user_id (env->session), NULL,
                                  om_test_store_result, &restored);
  g_assert_true (om_test_wait_until (om_test_result_ready, &restored, WAIT_MS));
  g_assert_true (om_session_restore_saved_finish (other, restored, &error));
  g_assert_no_error (error);

  /* The store key came back from the saved sign-in too. */
  {
    g_autofree char *key1 = om_session_dup_store_key (env->session);
    g_autofree char *key2 = om_session_dup_store_key (other);

    g_assert_nonnull (key1);
    g_assert_cmpstr (key1, ==, key2);
  }

  k1 = om_session_get_token_keeper (env->session);
  k2 = om_session_get_token_keeper (other);
  g_assert_nonnull (k2);
  refreshes = stat_value (oidc, "refresh_token");

  om_token_keeper_refresh_async (k1, NULL, om_test_store_result, &r1);
  om_token_keeper_refresh_async (k2, NULL, om_test_store_result, &r2);
  g_assert_true (om_test_wait_until (om_test_result_ready, &r1, WAIT_MS));
  g_assert_true (om_test_wait_until (om_test_result_ready, &r2, WAIT_MS));
  g_assert_true (om_token_keeper_refresh_finish (k1, r1, &error));
  g_assert_no_error (error);
  g_assert_true (om_token_keeper_refresh_finish (k2, r2, &error));
  g_assert_no_error (error);

  g_assert_cmpint (stat_value (oidc, "refresh_token"), ==, refreshes + 1);
  g_assert_cmpuint (om_token_keeper_get_n_refreshes (k1) + om_token_keeper_get_n_refreshes (k2), ==, 1);
  g_assert_cmpuint (om_token_keeper_get_n_adopted (k1) + om_token_keeper_get_n_adopted (k2), ==, 1);
  t1 = om_session_dup_access_token (env->session);
  t2 = om_session_dup_access_token (other);
  g_assert_cmpstr (t1, ==, t2);
  g_assert_cmpuint (whoami_status (hs, t1), ==, 200);
}

/* Matrix's own refresh tokens (a password sign-in asks for them): the
 * same keeper refreshes them at POST /refresh ahead of expiry. */
static void
test_matrix_refresh (Env           *env,
                     gconstpointer  data)
{
  OmTestHs *plain = om_test_hs_start (NULL);
  g_autoptr(JsonNode) reply = NULL;
  g_autofree char *user_id = om_test_hs_create_user (plain, "frank", "frank-pw", FALSE);
  g_autofree char *first = NULL;
  g_autofree char *now = NULL;
  OmTokenKeeper *keeper;
  Synced synced = { 0 };
  guint before;

  reply = om_test_hs_request (plain, "POST", "/_test/config", NULL, "{\"access_token_lifetime_ms\":3000}", NULL);
  env->session = om_test_sign_in (plain, env->dir, "frank", "frank-pw", 1000);
  keeper = om_session_get_token_keeper (env->session);
  g_assert_nonnull (keeper);
  g_assert_null (om_token_keeper_get_credentials (keeper)->oauth_token_endpoint);
  n_refreshed = 0;
  g_signal_connect (keeper, "refreshed", G_CALLBACK (count_refreshed), NULL);
  g_signal_connect (env->session, "synced", G_CALLBACK (count_synced), &synced);
  first = om_session_dup_access_token (env->session);
  g_assert_true (om_test_wait_until (refreshed_n, GUINT_TO_POINTER (2), WAIT_MS));
  now = om_session_dup_access_token (env->session);
  g_assert_cmpstr (first, !=, now);
  g_assert_cmpuint (whoami_status (plain, now), ==, 200);
  before = synced.n;
  om_test_spin (1500);
  g_assert_cmpuint (synced.n, >, before);
  g_assert_cmpint (om_session_get_state (env->session), ==, OM_SESSION_STATE_ONLINE);

  g_clear_object (&env->session);
  om_test_spin (50);
  om_test_hs_free (plain);
}

/* The authorization server is down when the token expires: not a reason to
 * sign out.  The client keeps its sign-in and retries. */
static void
test_refresh_server_down (Env           *env,
                          gconstpointer  data)
{
  const char *args[] = { "--access-token-ttl", "3", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) signed_out = NULL;
  OmTestOidc *provider;
  OmTestHs *server;

  provider = om_test_oidc_start_full (args);
  if (provider == NULL)
    return;
  server = om_test_hs_start_delegated (provider, NULL);

  env->session = om_session_new (env->dir);
  error = sign_in_device (env->session, server, "bob", "bob-pw", FALSE);
  g_assert_no_error (error);
  g_signal_connect (env->session, "signed-out", G_CALLBACK (record_signed_out), &signed_out);
  om_sync_set_timeout_ms (om_session_get_sync (env->session), 1000);
  om_session_start (env->session);
  g_assert_true (om_test_wait_until (is_online, env->session, WAIT_MS));

  om_test_oidc_free (provider);
  /* Past expiry, the refreshes fail and the homeserver cannot introspect:
   * offline, retrying, still signed in. */
  om_test_spin (6000);
  g_assert_null (signed_out);
  g_assert_cmpint (om_session_get_state (env->session), !=, OM_SESSION_STATE_SIGNED_OUT);
  g_assert_cmpint (om_session_get_state (env->session), !=, OM_SESSION_STATE_ONLINE);
  g_assert_nonnull (om_session_get_token_keeper (env->session));

  g_clear_object (&env->session);
  om_test_spin (50);
  om_test_hs_free (server);
}

static void
test_access_token_sign_in (Env           *env,
                           gconstpointer  data)
{
  OmTestHs *plain = om_test_hs_start (NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *user_id = om_test_hs_create_user (plain, "carol", "carol-pw", TRUE);
  g_autofree char *token = om_test_hs_login (plain, "carol", "carol-pw", NULL);

  env->session = om_session_new (env->dir);
  om_session_login_access_token_async (env->session, om_test_hs_get_url (plain), "not a token",
                                       NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_false (om_session_login_access_token_finish (env->session, result, &error));
  g_assert_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  g_clear_object (&result);

  om_session_login_access_token_async (env->session, om_test_hs_get_url (plain), "syt_bogus_token",
                                       NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_false (om_session_login_access_token_finish (env->session, result, &error));
  g_assert_error (error, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN);
  g_clear_error (&error);
  g_clear_object (&result);

  om_session_login_access_token_async (env->session, om_test_hs_get_url (plain), token,
                                       NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, WAIT_MS));
  g_assert_true (om_session_login_access_token_finish (env->session, result, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (om_session_get_user_id (env->session), ==, user_id);
  om_session_start (env->session);
  g_assert_true (om_test_wait_until (is_online, env->session, WAIT_MS));
  g_clear_object (&env->session);
  om_test_spin (50);
  om_test_hs_free (plain);
}

int
main (int    argc,
      char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  /* Log everything (debug too), and keep it to look for secrets in. */
  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  logged = g_string_new (NULL);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  /* On stdout, debug lines would break the TAP stream. */
  g_log_writer_default_set_use_stderr (TRUE);

  g_test_add_func ("/oauth/pkce-and-scopes", test_pkce_and_scopes);
  g_test_add_func ("/oauth/metadata-checked", test_metadata_checked);
  g_test_add_func ("/oauth/error-answers", test_oauth_errors);
  g_test_add_func ("/oauth/discover", test_discover);
  g_test_add_func ("/oauth/wrong-verifier", test_wrong_verifier);
  g_test_add ("/oauth/code-flow", Env, NULL, env_setup, test_code_flow, env_teardown);
  g_test_add ("/oauth/wrong-state", Env, NULL, env_setup, test_wrong_state, env_teardown);
  g_test_add_func ("/oauth/device-polling", test_device_polling);
  g_test_add ("/oauth/device-flow", Env, NULL, env_setup, test_device_flow, env_teardown);
  g_test_add ("/oauth/unstable-scopes", Env, NULL, env_setup, test_unstable_scopes, env_teardown);
  g_test_add ("/oauth/refresh", Env, NULL, env_setup, test_refresh, env_teardown);
  g_test_add ("/oauth/two-clients-refresh", Env, NULL, env_setup, test_two_clients_refresh, env_teardown);
  g_test_add ("/oauth/matrix-refresh", Env, NULL, env_setup, test_matrix_refresh, env_teardown);
  g_test_add ("/oauth/refresh-server-down", Env, NULL, env_setup, test_refresh_server_down, env_teardown);
  g_test_add ("/oauth/access-token-sign-in", Env, NULL, env_setup, test_access_token_sign_in, env_teardown);

  ret = g_test_run ();

  if (hs != NULL)
    om_test_hs_free (hs);
  if (oidc != NULL)
    om_test_oidc_free (oidc);
  return ret;
}
