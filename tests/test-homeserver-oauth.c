/* test-homeserver-oauth.c — Matrix's OAuth 2.0 API (MSC3861, "next-gen
 * auth") end to end: the real OpenID provider (tests/oidc/provider.mjs) as
 * authorization server and the test homeserver in --oidc-delegated mode
 *
 * The protocol is driven by hand: dynamic registration of a native client,
 * authorization code + PKCE S256 through the scripted browser, the device
 * authorization grant, refresh token rotation, revocation, then the
 * homeserver's answers to the access tokens (introspected at the
 * provider).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-test-browser.h"
#include "om-test-hs.h"

#include <curl/curl.h>
#include <string.h>

#define V3          "/_matrix/client/v3"
#define CALLBACK    "http://127.0.0.1/callback"
/* Where the browser stops: any port on the loopback callback. */
#define CALLBACK_AT "http://127.0.0.1:5555/callback"
#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"

#define API         "urn:matrix:client:api:*"
#define DEVICE      "urn:matrix:client:device:"
#define API_MSC     "urn:matrix:org.matrix.msc2967.client:api:*"
#define DEVICE_MSC  "urn:matrix:org.matrix.msc2967.client:device:"
#define ADMIN       "urn:synapse:admin:*"

/* The stable setup: default provider, delegated homeserver. */
static OmTestOidc *oidc;
static OmTestHs *hs;
/* The unstable one: msc2967 scopes only, not advertised, 4 s access
 * tokens; the homeserver without the stable auth_metadata. */
static OmTestOidc *oidc_u;
static OmTestHs *hs_u;
static gboolean unavailable;

static gboolean
ensure_servers (void)
{
  const char *unstable_args[] = { "--matrix-scopes", "unstable", "--advertise-matrix-scopes", "no",
                                  "--access-token-ttl", "4", NULL };
  const char *hs_u_args[] = { "--no-stable-auth-metadata", NULL };

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
  hs = om_test_hs_start_delegated (oidc, NULL);
  oidc_u = om_test_oidc_start_full (unstable_args);
  hs_u = om_test_hs_start_delegated (oidc_u, hs_u_args);
  return TRUE;
}

/* Helpers */

static JsonObject *
obj (JsonNode *node)
{
  g_assert_nonnull (node);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_node_get_object (node);
}

static const char *
str (JsonNode   *node,
     const char *key)
{
  JsonObject *o = obj (node);

  return json_object_has_member (o, key) ? json_object_get_string_member (o, key) : NULL;
}

static gint64
stat_of (JsonNode   *stats,
         const char *key)
{
  return json_object_get_int_member (obj (stats), key);
}

static gint64
grant_stat (OmTestOidc *o,
            const char *grant_type)
{
  g_autoptr(JsonNode) stats = om_test_oidc_stats (o);

  return json_object_get_int_member (json_object_get_object_member (obj (stats), "grants"), grant_type);
}

static gint64
hs_introspections (OmTestHs *h)
{
  guint status = 0;
  g_autoptr(JsonNode) stats = om_test_hs_request (h, "GET", "/_test/stats", NULL, NULL, &status);

  g_assert_cmpuint (status, ==, 200);
  return stat_of (stats, "introspections");
}

static gboolean
array_has (JsonArray  *arr,
           const char *value)
{
  for (guint i = 0; arr && i < json_array_get_length (arr); i++)
    if (g_strcmp0 (json_array_get_string_element (arr, i), value) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
scope_has (const char *scope,
           const char *value)
{
  g_auto(GStrv) parts = g_strsplit (scope ? scope : "", " ", -1);

  return g_strv_contains ((const char * const *) parts, value);
}

static JsonNode *
discovery (OmTestOidc *o)
{
  g_autofree char *url = g_strconcat (om_test_oidc_get_issuer (o), "/.well-known/openid-configuration", NULL);
  guint status = 0;
  JsonNode *meta = om_test_http_request ("GET", url, NULL, NULL, NULL, &status, NULL);

  g_assert_cmpuint (status, ==, 200);
  return meta;
}

static char *
endpoint (OmTestOidc *o,
          const char *name)
{
  g_autoptr(JsonNode) meta = discovery (o);

  return g_strdup (str (meta, name));
}

/* Registers a native public client as a Matrix client does (MSC2966). */
static char *
register_client (OmTestOidc *o)
{
  g_autofree char *url = endpoint (o, "registration_endpoint");
  const char *body =
    "{\"application_type\":\"native\",\"token_endpoint_auth_method\":\"none\","
    "\"redirect_uris\":[\"" CALLBACK "\"],"
    "\"grant_types\":[\"authorization_code\",\"refresh_token\",\"" DEVICE_GRANT "\"],"
    "\"response_types\":[\"code\"],\"client_name\":\"OpenMeet Chat\","
    "\"client_uri\":\"https://openmeet.net/chat\",\"logo_uri\":\"https://openmeet.net/chat/logo.png\","
    "\"contacts\":[\"chat@openmeet.net\"]}";
  guint status = 0;
  g_autoptr(JsonNode) reg = om_test_http_request ("POST", url, "application/json", body, NULL, &status, NULL);

  g_assert_cmpuint (status, ==, 201);
  g_assert_cmpstr (str (reg, "token_endpoint_auth_method"), ==, "none");
  g_assert_cmpstr (str (reg, "application_type"), ==, "native");
  return g_strdup (str (reg, "client_id"));
}

static char *
b64url (const guchar *data,
        gsize         len)
{
  char *s = g_base64_encode (data, len);

  for (char *p = s; *p; p++)
    {
      if (*p == '+')
        *p = '-';
      else if (*p == '/')
        *p = '_';
      else if (*p == '=')
        {
          *p = '\0';
          break;
        }
    }
  return s;
}

/* A PKCE S256 pair: returns the verifier, @out_challenge its challenge. */
static char *
pkce_pair (char **out_challenge)
{
  guchar raw[32];
  guint8 digest[32];
  gsize digest_len = sizeof digest;
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  char *verifier;

  for (guint i = 0; i < sizeof raw; i++)
    raw[i] = (guchar) g_random_int_range (0, 256);
  verifier = b64url (raw, sizeof raw);
  g_checksum_update (sha, (const guchar *) verifier, (gssize) strlen (verifier));
  g_checksum_get_digest (sha, digest, &digest_len);
  *out_challenge = b64url (digest, digest_len);
  return verifier;
}

static char *
device_scope (const char *prefix,
              char      **out_device_id)
{
  g_autofree char *id = g_strdup_printf ("OMTEST%08X", g_random_int ());

  if (out_device_id)
    *out_device_id = g_strdup (id);
  return g_strconcat (prefix, id, NULL);
}

static char *
authorization_url (OmTestOidc *o,
                   const char *client_id,
                   const char *scope,
                   const char *challenge,
                   const char *redirect_uri)
{
  g_autofree char *auth = endpoint (o, "authorization_endpoint");
  g_autofree char *c = g_uri_escape_string (client_id, NULL, FALSE);
  g_autofree char *s = g_uri_escape_string (scope, NULL, FALSE);
  g_autofree char *r = g_uri_escape_string (redirect_uri, NULL, FALSE);

  return g_strdup_printf ("%s?response_type=code&response_mode=query&client_id=%s&redirect_uri=%s"
                          "&scope=%s&state=st4te&code_challenge=%s&code_challenge_method=S256",
                          auth, c, r, s, challenge);
}

/* The query parameters of the URL the provider sent the browser to. */
static GHashTable *
callback_params (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

  g_assert_nonnull (uri);
  g_assert_true (g_str_has_prefix (url, CALLBACK_AT "?"));
  return g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_WWW_FORM, NULL);
}

/* Authorization code + PKCE through the browser; returns the code and the
 * verifier. */
static char *
authorize (OmTestOidc  *o,
           const char  *client_id,
           const char  *scope,
           const char  *login,
           const char  *password,
           char       **out_verifier)
{
  g_autoptr(OmTestBrowser) b = om_test_browser_new ();
  g_autofree char *challenge = NULL;
  g_autofree char *verifier = pkce_pair (&challenge);
  g_autofree char *url = authorization_url (o, client_id, scope, challenge, CALLBACK_AT);
  g_autofree char *end = om_test_browser_walk (b, url, login, password, CALLBACK_AT);
  g_autoptr(GHashTable) params = NULL;

  g_assert_nonnull (end);
  g_assert_true (b->saw_login);
  g_assert_true (b->saw_consent);   /* always for native clients */
  params = callback_params (end);
  g_assert_cmpstr (g_hash_table_lookup (params, "state"), ==, "st4te");
  g_assert_cmpstr (g_hash_table_lookup (params, "iss"), ==, om_test_oidc_get_issuer (o));
  g_assert_nonnull (g_hash_table_lookup (params, "code"));
  *out_verifier = g_steal_pointer (&verifier);
  return g_strdup (g_hash_table_lookup (params, "code"));
}

/* POST to the token endpoint; @form is urlencoded. */
static JsonNode *
token_request (OmTestOidc *o,
               const char *form,
               guint      *out_status)
{
  g_autofree char *url = endpoint (o, "token_endpoint");

  return om_test_http_request ("POST", url, "application/x-www-form-urlencoded", form, NULL, out_status, NULL);
}

static JsonNode *
exchange_code (OmTestOidc *o,
               const char *client_id,
               const char *code,
               const char *verifier,
               const char *redirect_uri,
               guint      *out_status)
{
  g_autofree char *c = g_uri_escape_string (client_id, NULL, FALSE);
  g_autofree char *r = g_uri_escape_string (redirect_uri, NULL, FALSE);
  g_autofree char *form = g_strdup_printf ("grant_type=authorization_code&code=%s&redirect_uri=%s"
                                           "&client_id=%s&code_verifier=%s", code, r, c, verifier);

  return token_request (o, form, out_status);
}

static JsonNode *
refresh (OmTestOidc *o,
         const char *client_id,
         const char *refresh_token,
         guint      *out_status)
{
  g_autofree char *c = g_uri_escape_string (client_id, NULL, FALSE);
  g_autofree char *t = g_uri_escape_string (refresh_token, NULL, FALSE);
  g_autofree char *form = g_strdup_printf ("grant_type=refresh_token&refresh_token=%s&client_id=%s", t, c);

  return token_request (o, form, out_status);
}

/* A full sign-in: register, authorize, exchange; the token response.
 * @out_client_id, if given, is replaced (the old string freed). */
static JsonNode *
sign_in (OmTestOidc  *o,
         const char  *scope,
         const char  *login,
         const char  *password,
         char       **out_client_id)
{
  g_autofree char *client_id = register_client (o);
  g_autofree char *verifier = NULL;
  g_autofree char *code = authorize (o, client_id, scope, login, password, &verifier);
  guint status = 0;
  JsonNode *tokens = exchange_code (o, client_id, code, verifier, CALLBACK_AT, &status);

  g_assert_cmpuint (status, ==, 200);
  if (out_client_id)
    {
      g_free (*out_client_id);
      *out_client_id = g_steal_pointer (&client_id);
    }
  return tokens;
}

static void
assert_token_response (JsonNode   *tokens,
                       const char *api,
                       const char *device)
{
  JsonObject *o = obj (tokens);

  g_assert_nonnull (str (tokens, "access_token"));
  g_assert_nonnull (str (tokens, "refresh_token"));
  g_assert_cmpstr (str (tokens, "token_type"), ==, "Bearer");
  g_assert_cmpint (json_object_get_int_member (o, "expires_in"), >, 0);
  g_assert_true (scope_has (str (tokens, "scope"), api));
  g_assert_true (scope_has (str (tokens, "scope"), device));
}

static void
assert_whoami (OmTestHs   *h,
               const char *access_token,
               const char *localpart,
               const char *device_id)
{
  guint status = 0;
  g_autoptr(JsonNode) me = om_test_hs_request (h, "GET", V3 "/account/whoami", access_token, NULL, &status);
  g_autofree char *user_id = om_test_hs_user_id (h, localpart);

  if (status != 200)
    g_error ("whoami: %u %s", status, me ? json_to_string (me, FALSE) : "(no JSON)");
  g_assert_cmpstr (str (me, "user_id"), ==, user_id);
  g_assert_cmpstr (str (me, "device_id"), ==, device_id);
}

static void
assert_error (JsonNode   *node,
              const char *errcode)
{
  g_assert_cmpstr (str (node, "errcode"), ==, errcode);
}

/* Waits (up to @timeout_ms) until whoami with @token answers @status. */
static JsonNode *
whoami_until (OmTestHs   *h,
              const char *token,
              guint       want,
              guint       timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (TRUE)
    {
      guint status = 0;
      JsonNode *res = om_test_hs_request (h, "GET", V3 "/account/whoami", token, NULL, &status);

      if (status == want)
        return res;
      g_clear_pointer (&res, json_node_unref);
      if (g_get_monotonic_time () > deadline)
        g_error ("whoami did not answer %u within %u ms (last %u)", want, timeout_ms, status);
      g_usleep (100 * 1000);
    }
}

/* Tests */

/* auth_metadata / auth_issuer: the provider's metadata with account
 * management; a homeserver without delegation answers 404 as before. */
static void
test_metadata (void)
{
  guint status = 0;
  g_autoptr(JsonNode) meta = NULL;
  g_autoptr(JsonNode) issuer = NULL;
  g_autoptr(JsonNode) provider_meta = NULL;
  g_autofree char *account = NULL;
  g_autofree char *page = NULL;
  g_autoptr(JsonNode) page_json = NULL;
  JsonArray *scopes;

  if (!ensure_servers ())
    return;
  meta = om_test_hs_request (hs, "GET", "/_matrix/client/v1/auth_metadata", NULL, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  provider_meta = discovery (oidc);
  g_assert_cmpstr (str (meta, "issuer"), ==, om_test_oidc_get_issuer (oidc));
  g_assert_cmpstr (str (meta, "authorization_endpoint"), ==, str (provider_meta, "authorization_endpoint"));
  g_assert_cmpstr (str (meta, "token_endpoint"), ==, str (provider_meta, "token_endpoint"));
  g_assert_cmpstr (str (meta, "registration_endpoint"), ==, str (provider_meta, "registration_endpoint"));
  g_assert_cmpstr (str (meta, "device_authorization_endpoint"), ==,
                   str (provider_meta, "device_authorization_endpoint"));
  g_assert_nonnull (str (meta, "revocation_endpoint"));
  account = g_strconcat (om_test_oidc_get_issuer (oidc), "/account", NULL);
  g_assert_cmpstr (str (meta, "account_management_uri"), ==, account);
  g_assert_true (array_has (json_object_get_array_member (obj (meta), "account_management_actions_supported"),
                            "org.matrix.sessions_list"));
  scopes = json_object_get_array_member (obj (meta), "scopes_supported");
  g_assert_true (array_has (scopes, "openid"));
  g_assert_true (array_has (scopes, API));
  g_assert_true (array_has (scopes, API_MSC));
  g_assert_true (array_has (scopes, ADMIN));
  g_assert_true (array_has (json_object_get_array_member (obj (meta), "code_challenge_methods_supported"),
                            "S256"));
  g_assert_true (array_has (json_object_get_array_member (obj (meta), "grant_types_supported"), DEVICE_GRANT));
  g_assert_true (array_has (json_object_get_array_member (obj (meta), "response_modes_supported"), "query"));

  issuer = om_test_hs_request (hs, "GET", "/_matrix/client/unstable/org.matrix.msc2965/auth_issuer", NULL, NULL,
                               &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (str (issuer, "issuer"), ==, om_test_oidc_get_issuer (oidc));

  /* The account management page. */
  page_json = om_test_http_request ("GET", account, NULL, NULL, NULL, &status, &page);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (page, "OpenMeet account"));

  /* --no-stable-auth-metadata: only the unstable endpoints answer. */
  {
    g_autoptr(JsonNode) stable = om_test_hs_request (hs_u, "GET", "/_matrix/client/v1/auth_metadata", NULL,
                                                     NULL, &status);
    g_autoptr(JsonNode) unstable = NULL;

    g_assert_cmpuint (status, ==, 404);
    assert_error (stable, "M_UNRECOGNIZED");
    unstable = om_test_hs_request (hs_u, "GET", "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata",
                                   NULL, NULL, &status);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (str (unstable, "issuer"), ==, om_test_oidc_get_issuer (oidc_u));
    /* --advertise-matrix-scopes no */
    g_assert_false (array_has (json_object_get_array_member (obj (unstable), "scopes_supported"), API_MSC));
    g_assert_true (array_has (json_object_get_array_member (obj (unstable), "scopes_supported"), "openid"));
  }

  /* Without delegation: 404 M_UNRECOGNIZED, as Synapse without MSC3861. */
  {
    OmTestHs *plain = om_test_hs_start (NULL);
    g_autoptr(JsonNode) a = NULL;
    g_autoptr(JsonNode) b = NULL;

    a = om_test_hs_request (plain, "GET", "/_matrix/client/v1/auth_metadata", NULL, NULL, &status);
    g_assert_cmpuint (status, ==, 404);
    assert_error (a, "M_UNRECOGNIZED");
    b = om_test_hs_request (plain, "GET", "/_matrix/client/unstable/org.matrix.msc2965/auth_issuer", NULL,
                            NULL, &status);
    g_assert_cmpuint (status, ==, 404);
    assert_error (b, "M_UNRECOGNIZED");
    om_test_hs_free (plain);
  }
}

/* GET /login advertises OAuth (MSC3824); password login is refused; SSO
 * and its m.login.token (tokens the homeserver issues) keep working. */
static void
test_login_flows (void)
{
  guint status = 0;
  g_autoptr(JsonNode) flows = NULL;
  g_autoptr(JsonNode) password = NULL;
  g_autoptr(JsonNode) login = NULL;
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *start = NULL;
  g_autofree char *end = NULL;
  g_autofree char *token = NULL;
  g_autofree char *body = NULL;
  JsonArray *arr;
  JsonObject *sso;

  if (!ensure_servers ())
    return;
  flows = om_test_hs_request (hs, "GET", V3 "/login", NULL, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  arr = json_object_get_array_member (obj (flows), "flows");
  g_assert_cmpuint (json_array_get_length (arr), ==, 2);
  sso = json_array_get_object_element (arr, 0);
  g_assert_cmpstr (json_object_get_string_member (sso, "type"), ==, "m.login.sso");
  g_assert_true (json_object_get_boolean_member (sso, "oauth_aware_preferred"));
  g_assert_true (json_object_get_boolean_member (sso, "org.matrix.msc3824.delegated_oidc_compatibility"));
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (
                     json_object_get_array_member (sso, "identity_providers"), 0), "id"), ==, "oidc-openmeet");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (arr, 1), "type"), ==,
                   "m.login.token");

  password = om_test_hs_request (hs, "POST", V3 "/login", NULL,
                                 "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\","
                                 "\"user\":\"alice\"},\"password\":\"alice-pw\"}", &status);
  g_assert_cmpuint (status, ==, 400);
  assert_error (password, "M_UNRECOGNIZED");

  /* SSO → loginToken → m.login.token: the homeserver's own token. */
  b = om_test_browser_new ();
  start = g_strdup_printf ("%s" V3 "/login/sso/redirect/oidc-openmeet?redirectUrl=%s", om_test_hs_get_url (hs),
                           "http%3A%2F%2F127.0.0.1%3A6666%2Fcb");
  end = om_test_browser_walk (b, start, "erin", "erin-pw", "http://127.0.0.1:6666/cb");
  g_assert_nonnull (end);
  token = om_test_browser_match (end, "loginToken=([^&]+)");
  g_assert_nonnull (token);
  body = g_strdup_printf ("{\"type\":\"m.login.token\",\"token\":\"%s\"}", token);
  login = om_test_hs_request (hs, "POST", V3 "/login", NULL, body, &status);
  g_assert_cmpuint (status, ==, 200);
  assert_whoami (hs, str (login, "access_token"), "erin", str (login, "device_id"));
}

/* Authorization code + PKCE S256 for a dynamically registered native
 * client; the access token works at the homeserver (introspected once per
 * 2 s); the provider's errors for a wrong verifier or redirect URI. */
static void
test_code_flow (void)
{
  g_autofree char *client_id = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *dscope = NULL;
  g_autofree char *scope = NULL;
  g_autofree char *verifier = NULL;
  g_autofree char *code = NULL;
  g_autoptr(JsonNode) bad_verifier = NULL;
  g_autoptr(JsonNode) bad_redirect = NULL;
  g_autoptr(JsonNode) tokens = NULL;
  g_autoptr(JsonNode) sync = NULL;
  g_autoptr(JsonNode) reuse = NULL;
  g_autoptr(JsonNode) stats = NULL;
  gint64 before_codes, before_introspections;
  const char *access;
  guint status = 0;

  if (!ensure_servers ())
    return;
  client_id = register_client (oidc);
  before_codes = grant_stat (oidc, "authorization_code");
  dscope = device_scope (DEVICE, &device_id);
  scope = g_strjoin (" ", "openid", API, dscope, NULL);
  code = authorize (oidc, client_id, scope, "alice", "alice-pw", &verifier);

  /* A wrong verifier spends nothing: the right one still works. */
  bad_verifier = exchange_code (oidc, client_id, code, "not-the-verifier-not-the-verifier-0123456789", CALLBACK_AT,
                                &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (bad_verifier, "error"), ==, "invalid_grant");
  bad_redirect = exchange_code (oidc, client_id, code, verifier, "http://127.0.0.1:5555/elsewhere", &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (bad_redirect, "error"), ==, "invalid_grant");

  tokens = exchange_code (oidc, client_id, code, verifier, CALLBACK_AT, &status);
  g_assert_cmpuint (status, ==, 200);
  assert_token_response (tokens, API, dscope);
  g_assert_cmpint (json_object_get_int_member (obj (tokens), "expires_in"), ==, 300);
  g_assert_nonnull (str (tokens, "id_token"));
  g_assert_false (scope_has (str (tokens, "scope"), "openid"));
  access = str (tokens, "access_token");

  before_introspections = hs_introspections (hs);
  assert_whoami (hs, access, "alice", device_id);
  sync = om_test_hs_request (hs, "GET", V3 "/sync?timeout=0", access, NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_true (json_object_has_member (obj (sync), "next_batch"));
  /* whoami and sync within 2 s: one introspection. */
  g_assert_cmpint (hs_introspections (hs), ==, before_introspections + 1);

  stats = om_test_oidc_stats (oidc);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (obj (stats), "grants"),
                                               "authorization_code"), >=, before_codes + 1);
  g_assert_cmpint (stat_of (stats, "registrations"), >=, 1);
  g_assert_cmpint (stat_of (stats, "introspections"), >=, 1);

  /* A code works once; replaying it revokes what it gave (RFC 6749
   * 4.1.2), so the access token stops working. */
  reuse = exchange_code (oidc, client_id, code, verifier, CALLBACK_AT, &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (reuse, "error"), ==, "invalid_grant");
  json_node_unref (whoami_until (hs, access, 401, 3000));

  /* A redirect URI that was not registered: no redirect, an error page. */
  {
    g_autoptr(OmTestBrowser) b = om_test_browser_new ();
    g_autofree char *challenge = NULL;
    g_autofree char *v = pkce_pair (&challenge);
    g_autofree char *url = authorization_url (oidc, client_id, scope, challenge, "http://127.0.0.1:5555/other");

    om_test_browser_go (b, url, NULL);
    g_assert_cmpuint (b->status, ==, 400);
    g_assert_null (b->location);
    g_assert_nonnull (strstr (b->body->str, "invalid_redirect_uri"));
  }
  /* A public client without PKCE: error redirected to the client. */
  {
    g_autoptr(OmTestBrowser) b = om_test_browser_new ();
    g_autofree char *auth = endpoint (oidc, "authorization_endpoint");
    g_autofree char *url = g_strdup_printf ("%s?response_type=code&client_id=%s&redirect_uri=%s&scope=openid",
                                            auth, client_id, "http%3A%2F%2F127.0.0.1%3A5555%2Fcallback");

    om_test_browser_go (b, url, NULL);
    g_assert_cmpuint (b->status, ==, 303);
    g_assert_nonnull (strstr (b->location, CALLBACK_AT "?error=invalid_request"));
  }
}

/* Refresh rotates: a new refresh token each time, the old one refused
 * (which revokes the whole grant, as oidc-provider detects reuse). */
static void
test_refresh_rotation (void)
{
  g_autofree char *client_id = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *dscope = NULL;
  g_autofree char *scope = NULL;
  g_autoptr(JsonNode) tokens = NULL;
  g_autoptr(JsonNode) second = NULL;
  g_autoptr(JsonNode) third = NULL;
  g_autoptr(JsonNode) old = NULL;
  g_autoptr(JsonNode) after_reuse = NULL;
  gint64 before;
  guint status = 0;

  if (!ensure_servers ())
    return;
  dscope = device_scope (DEVICE, &device_id);
  scope = g_strjoin (" ", API, dscope, NULL);   /* no openid: not needed */
  tokens = sign_in (oidc, scope, "bob", "bob-pw", &client_id);
  assert_token_response (tokens, API, dscope);
  g_assert_null (str (tokens, "id_token"));
  before = grant_stat (oidc, "refresh_token");

  second = refresh (oidc, client_id, str (tokens, "refresh_token"), &status);
  g_assert_cmpuint (status, ==, 200);
  assert_token_response (second, API, dscope);
  g_assert_cmpstr (str (second, "refresh_token"), !=, str (tokens, "refresh_token"));
  g_assert_cmpstr (str (second, "access_token"), !=, str (tokens, "access_token"));
  assert_whoami (hs, str (second, "access_token"), "bob", device_id);
  third = refresh (oidc, client_id, str (second, "refresh_token"), &status);
  g_assert_cmpuint (status, ==, 200);
  /* A refresh token is no access token (introspection gives no token_type
   * "Bearer" for it). */
  {
    g_autoptr(JsonNode) wrong = om_test_hs_request (hs, "GET", V3 "/account/whoami", str (third, "refresh_token"),
                                                    NULL, &status);

    g_assert_cmpuint (status, ==, 401);
    assert_error (wrong, "M_UNKNOWN_TOKEN");
  }
  g_assert_cmpint (grant_stat (oidc, "refresh_token"), ==, before + 2);

  old = refresh (oidc, client_id, str (tokens, "refresh_token"), &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (old, "error"), ==, "invalid_grant");
  /* Reuse detection: the grant is gone, with the latest refresh token. */
  after_reuse = refresh (oidc, client_id, str (third, "refresh_token"), &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (after_reuse, "error"), ==, "invalid_grant");
}

static JsonNode *
device_authorization (OmTestOidc *o,
                      const char *client_id,
                      const char *scope,
                      guint      *out_status)
{
  g_autofree char *url = endpoint (o, "device_authorization_endpoint");
  g_autofree char *c = g_uri_escape_string (client_id, NULL, FALSE);
  g_autofree char *s = g_uri_escape_string (scope, NULL, FALSE);
  g_autofree char *form = g_strdup_printf ("client_id=%s&scope=%s", c, s);

  return om_test_http_request ("POST", url, "application/x-www-form-urlencoded", form, NULL, out_status, NULL);
}

static JsonNode *
device_poll (OmTestOidc *o,
             const char *client_id,
             const char *device_code,
             guint      *out_status)
{
  g_autofree char *c = g_uri_escape_string (client_id, NULL, FALSE);
  g_autofree char *d = g_uri_escape_string (device_code, NULL, FALSE);
  g_autofree char *form = g_strdup_printf ("grant_type=%s&device_code=%s&client_id=%s",
                                           DEVICE_GRANT, d, c);

  return token_request (o, form, out_status);
}

/* RFC 8628: approve on the provider's pages, the polling client gets
 * tokens; deny, it gets access_denied. */
static void
test_device_grant (void)
{
  g_autofree char *client_id = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *dscope = NULL;
  g_autofree char *scope = NULL;
  g_autoptr(JsonNode) auth = NULL;
  g_autoptr(JsonNode) pending = NULL;
  g_autoptr(JsonNode) tokens = NULL;
  g_autoptr(JsonNode) denied_auth = NULL;
  g_autoptr(JsonNode) denied = NULL;
  g_autoptr(OmTestBrowser) b = NULL;
  g_autoptr(OmTestBrowser) b2 = NULL;
  gint64 before;
  guint status = 0;

  if (!ensure_servers ())
    return;
  client_id = register_client (oidc);
  dscope = device_scope (DEVICE, &device_id);
  scope = g_strjoin (" ", "openid", API, dscope, NULL);
  auth = device_authorization (oidc, client_id, scope, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (str (auth, "device_code"));
  g_assert_nonnull (str (auth, "user_code"));
  g_assert_nonnull (str (auth, "verification_uri"));
  g_assert_true (g_str_has_prefix (str (auth, "verification_uri_complete"), str (auth, "verification_uri")));
  g_assert_cmpint (json_object_get_int_member (obj (auth), "expires_in"), >, 0);

  pending = device_poll (oidc, client_id, str (auth, "device_code"), &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (pending, "error"), ==, "authorization_pending");

  before = grant_stat (oidc, DEVICE_GRANT);
  b = om_test_browser_new ();
  g_assert_true (om_test_browser_device_approve (b, str (auth, "verification_uri_complete"), "bob", "bob-pw",
                                                 FALSE));
  g_assert_true (b->saw_confirmation);
  g_assert_true (b->saw_login);
  g_assert_true (b->saw_consent);
  tokens = device_poll (oidc, client_id, str (auth, "device_code"), &status);
  g_assert_cmpuint (status, ==, 200);
  assert_token_response (tokens, API, dscope);
  g_assert_cmpint (grant_stat (oidc, DEVICE_GRANT), ==, before + 1);
  assert_whoami (hs, str (tokens, "access_token"), "bob", device_id);

  denied_auth = device_authorization (oidc, client_id, scope, &status);
  g_assert_cmpuint (status, ==, 200);
  b2 = om_test_browser_new ();
  g_assert_true (om_test_browser_device_approve (b2, str (denied_auth, "verification_uri_complete"), "bob",
                                                 "bob-pw", TRUE));
  g_assert_false (b2->saw_login);
  denied = device_poll (oidc, client_id, str (denied_auth, "device_code"), &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (denied, "error"), ==, "access_denied");
}

/* Signed out elsewhere: every token of the account revoked at the
 * provider; the homeserver refuses the access token within ~2 s (its
 * introspection cache) and the refresh token is refused.  Also RFC 7009
 * revocation of one access token. */
static void
test_revoked (void)
{
  g_autofree char *client_id = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *dscope = NULL;
  g_autofree char *scope = NULL;
  g_autoptr(JsonNode) tokens = NULL;
  g_autoptr(JsonNode) refused = NULL;
  g_autoptr(JsonNode) refreshed = NULL;
  g_autoptr(JsonNode) tokens2 = NULL;
  g_autoptr(JsonNode) refused2 = NULL;
  g_autoptr(JsonNode) revoked = NULL;
  g_autoptr(JsonNode) stats = NULL;
  g_autofree char *revocation = NULL;
  g_autofree char *form = NULL;
  gint64 t0;
  guint status = 0;

  if (!ensure_servers ())
    return;
  dscope = device_scope (DEVICE, &device_id);
  scope = g_strjoin (" ", API, dscope, NULL);
  tokens = sign_in (oidc, scope, "dave", "dave-pw", &client_id);
  assert_whoami (hs, str (tokens, "access_token"), "dave.doe", device_id);

  om_test_oidc_revoke_all (oidc, "dave");
  t0 = g_get_monotonic_time ();
  refused = whoami_until (hs, str (tokens, "access_token"), 401, 3000);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 2500 * 1000);
  assert_error (refused, "M_UNKNOWN_TOKEN");
  g_assert_false (json_object_get_boolean_member (obj (refused), "soft_logout"));
  refreshed = refresh (oidc, client_id, str (tokens, "refresh_token"), &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (refreshed, "error"), ==, "invalid_grant");

  /* RFC 7009 by the client itself. */
  tokens2 = sign_in (oidc, scope, "dave", "dave-pw", &client_id);
  revocation = endpoint (oidc, "revocation_endpoint");
  form = g_strdup_printf ("token=%s&token_type_hint=access_token&client_id=%s",
                          str (tokens2, "access_token"), client_id);
  revoked = om_test_http_request ("POST", revocation, "application/x-www-form-urlencoded", form, NULL, &status,
                                  NULL);
  g_assert_cmpuint (status, ==, 200);
  stats = om_test_oidc_stats (oidc);
  g_assert_cmpint (stat_of (stats, "revocations"), >=, 1);
  refused2 = om_test_hs_request (hs, "GET", V3 "/account/whoami", str (tokens2, "access_token"), NULL, &status);
  g_assert_cmpuint (status, ==, 401);
  assert_error (refused2, "M_UNKNOWN_TOKEN");

  /* Garbage is introspected too and refused. */
  {
    g_autoptr(JsonNode) junk = om_test_hs_request (hs, "GET", V3 "/account/whoami", "not-a-token", NULL, &status);

    g_assert_cmpuint (status, ==, 401);
    assert_error (junk, "M_UNKNOWN_TOKEN");
  }
}

/* urn:synapse:admin:* opens the Synapse admin API; without it, 403. */
static void
test_admin_scope (void)
{
  g_autofree char *dscope = NULL;
  g_autofree char *admin_scope = NULL;
  g_autofree char *plain_scope = NULL;
  g_autoptr(JsonNode) admin = NULL;
  g_autoptr(JsonNode) plain = NULL;
  g_autoptr(JsonNode) users = NULL;
  g_autoptr(JsonNode) refused = NULL;
  guint status = 0;

  if (!ensure_servers ())
    return;
  dscope = device_scope (DEVICE, NULL);
  admin_scope = g_strjoin (" ", "openid", API, ADMIN, dscope, NULL);
  admin = sign_in (oidc, admin_scope, "alice", "alice-pw", NULL);
  g_assert_true (scope_has (str (admin, "scope"), ADMIN));
  users = om_test_hs_request (hs, "GET", "/_synapse/admin/v2/users", str (admin, "access_token"), NULL, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_true (json_object_has_member (obj (users), "users"));

  g_free (dscope);
  dscope = device_scope (DEVICE, NULL);
  plain_scope = g_strjoin (" ", "openid", API, dscope, NULL);
  plain = sign_in (oidc, plain_scope, "alice", "alice-pw", NULL);
  refused = om_test_hs_request (hs, "GET", "/_synapse/admin/v2/users", str (plain, "access_token"), NULL, &status);
  g_assert_cmpuint (status, ==, 403);
  assert_error (refused, "M_FORBIDDEN");
}

/* A token without the API scope (only openid) is refused. */
static void
test_missing_api_scope (void)
{
  g_autofree char *dscope = device_scope (DEVICE, NULL);
  g_autofree char *scope = NULL;
  g_autoptr(JsonNode) tokens = NULL;
  g_autoptr(JsonNode) refused = NULL;
  guint status = 0;

  if (!ensure_servers ())
    return;
  scope = g_strjoin (" ", "openid", dscope, NULL);
  tokens = sign_in (oidc, scope, "alice", "alice-pw", NULL);
  refused = om_test_hs_request (hs, "GET", V3 "/account/whoami", str (tokens, "access_token"), NULL, &status);
  g_assert_cmpuint (status, ==, 401);
  assert_error (refused, "M_UNKNOWN_TOKEN");
}

/* --matrix-scopes unstable: the stable names are invalid_scope (redirected
 * to the client, or JSON from the device endpoint); the msc2967 names work
 * end to end; the 4 s access token then stops working. */
static void
test_unstable_scopes (void)
{
  g_autofree char *client_id = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *stable_dscope = NULL;
  g_autofree char *stable_scope = NULL;
  g_autofree char *dscope = NULL;
  g_autofree char *scope = NULL;
  g_autoptr(JsonNode) device_refused = NULL;
  g_autoptr(JsonNode) tokens = NULL;
  g_autoptr(JsonNode) expired = NULL;
  g_autoptr(JsonNode) refreshed = NULL;
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *challenge = NULL;
  g_autofree char *verifier = NULL;
  g_autofree char *url = NULL;
  g_autoptr(GHashTable) params = NULL;
  guint status = 0;

  if (!ensure_servers ())
    return;
  client_id = register_client (oidc_u);
  stable_dscope = device_scope (DEVICE, NULL);
  stable_scope = g_strjoin (" ", "openid", API, stable_dscope, NULL);
  b = om_test_browser_new ();
  verifier = pkce_pair (&challenge);
  url = authorization_url (oidc_u, client_id, stable_scope, challenge, CALLBACK_AT);
  om_test_browser_go (b, url, NULL);
  g_assert_cmpuint (b->status, ==, 303);
  params = callback_params (b->location);
  g_assert_cmpstr (g_hash_table_lookup (params, "error"), ==, "invalid_scope");
  g_assert_cmpstr (g_hash_table_lookup (params, "state"), ==, "st4te");

  device_refused = device_authorization (oidc_u, client_id, stable_scope, &status);
  g_assert_cmpuint (status, ==, 400);
  g_assert_cmpstr (str (device_refused, "error"), ==, "invalid_scope");

  dscope = device_scope (DEVICE_MSC, &device_id);
  scope = g_strjoin (" ", "openid", API_MSC, dscope, NULL);
  tokens = sign_in (oidc_u, scope, "alice", "alice-pw", &client_id);
  assert_token_response (tokens, API_MSC, dscope);
  g_assert_cmpint (json_object_get_int_member (obj (tokens), "expires_in"), ==, 4);
  assert_whoami (hs_u, str (tokens, "access_token"), "alice", device_id);

  /* Expired after 4 s (+ up to 2 s of cache); a refresh gives a new one. */
  expired = whoami_until (hs_u, str (tokens, "access_token"), 401, 8000);
  assert_error (expired, "M_UNKNOWN_TOKEN");
  refreshed = refresh (oidc_u, client_id, str (tokens, "refresh_token"), &status);
  g_assert_cmpuint (status, ==, 200);
  assert_token_response (refreshed, API_MSC, dscope);
  assert_whoami (hs_u, str (refreshed, "access_token"), "alice", device_id);
}

int
main (int    argc,
      char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  g_test_add_func ("/homeserver-oauth/metadata", test_metadata);
  g_test_add_func ("/homeserver-oauth/login-flows", test_login_flows);
  g_test_add_func ("/homeserver-oauth/code-flow", test_code_flow);
  g_test_add_func ("/homeserver-oauth/refresh-rotation", test_refresh_rotation);
  g_test_add_func ("/homeserver-oauth/device-grant", test_device_grant);
  g_test_add_func ("/homeserver-oauth/revoked", test_revoked);
  g_test_add_func ("/homeserver-oauth/admin-scope", test_admin_scope);
  g_test_add_func ("/homeserver-oauth/missing-api-scope", test_missing_api_scope);
  g_test_add_func ("/homeserver-oauth/unstable-scopes", test_unstable_scopes);
  rc = g_test_run ();
  om_test_hs_free (hs);
  om_test_hs_free (hs_u);
  om_test_oidc_free (oidc);
  om_test_oidc_free (oidc_u);
  curl_global_cleanup ();
  return rc;
}
