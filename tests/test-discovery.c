/* test-discovery.c — server discovery, login flows and auth metadata
 * against the test homeserver
 *
 * The homeserver's fault rules (an "error" rule with a raw body) stand in
 * for broken or unusual servers: a .well-known that is not JSON, a
 * /versions without versions, Synapse's login flows from the transcripts.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "test-discovery"

#include <string.h>

#include "om-discovery.h"
#include "om-error.h"
#include "om-test-hs.h"

#define WELL_KNOWN "/.well-known/matrix/client"
#define VERSIONS   "/_matrix/client/versions"

static OmTestHs *hs;

/* ---- helpers ----------------------------------------------------------- */

typedef struct
{
  gboolean            done;
  OmDiscoveryResult  *discovery;
  OmLoginFlows       *flows;
  gboolean            ok;
  char               *issuer;
  JsonObject         *metadata;
  GError             *error;
} Result;

static void
result_clear (Result *result)
{
  g_clear_pointer (&result->discovery, om_discovery_result_unref);
  g_clear_pointer (&result->flows, om_login_flows_unref);
  g_clear_pointer (&result->issuer, g_free);
  g_clear_pointer (&result->metadata, json_object_unref);
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
resolve_cb (GObject      *source,
            GAsyncResult *async_result,
            gpointer      user_data)
{
  Result *result = user_data;

  g_assert_false (result->done);
  result->discovery = om_discovery_resolve_finish (async_result, &result->error);
  g_assert_true ((result->discovery == NULL) != (result->error == NULL));
  result->done = TRUE;
}

static void
resolve (const char       *input,
         OmDiscoveryFlags  flags,
         Result           *result)
{
  g_autoptr(OmHttp) http = om_http_new (NULL);

  om_discovery_resolve_async (http, input, flags, NULL, resolve_cb, result);
  wait_result (result);
}

static void
flows_cb (GObject      *source,
          GAsyncResult *async_result,
          gpointer      user_data)
{
  Result *result = user_data;

  result->flows = om_discovery_get_login_flows_finish (async_result, &result->error);
  result->done = TRUE;
}

static void
metadata_cb (GObject      *source,
             GAsyncResult *async_result,
             gpointer      user_data)
{
  Result *result = user_data;

  result->ok = om_discovery_get_auth_metadata_finish (async_result, &result->issuer,
                                                      &result->metadata, &result->error);
  result->done = TRUE;
}

/* Adds a one-shot fault rule answering @path with @status and @raw_body
 * (or a Matrix error with @errcode when @raw_body is NULL). */
static void
add_fault (const char *path,
           guint       status,
           const char *raw_body,
           const char *errcode)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, path);
  json_builder_set_member_name (builder, "method");
  json_builder_add_string_value (builder, "GET");
  json_builder_set_member_name (builder, "action");
  json_builder_add_string_value (builder, "error");
  json_builder_set_member_name (builder, "status");
  json_builder_add_int_value (builder, status);
  if (raw_body != NULL)
    {
      json_builder_set_member_name (builder, "raw_body");
      json_builder_add_string_value (builder, raw_body);
    }
  if (errcode != NULL)
    {
      json_builder_set_member_name (builder, "errcode");
      json_builder_add_string_value (builder, errcode);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json = json_to_string (root, FALSE);
  om_test_hs_add_fault (hs, json);
}

/* The response body of the first transcript exchange whose step contains
 * @step, as JSON text. */
static char *
transcript_body (const char *file,
                 const char *step)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "transcripts", file, NULL);
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
  g_error ("no step “%s” in %s", step, file);
  return NULL;
}

static void
setup (void)
{
  om_test_hs_clear_faults (hs);
}

/* ---- resolving --------------------------------------------------------- */

static void
assert_resolved_to_hs (Result *result)
{
  g_assert_no_error (result->error);
  g_assert_cmpstr (om_discovery_result_get_homeserver_url (result->discovery), ==,
                   om_test_hs_get_url (hs));
  g_assert_true (om_discovery_result_supports_version (result->discovery, "v1.1"));
  g_assert_false (om_discovery_result_supports_version (result->discovery, "v99"));
  g_assert_nonnull (om_discovery_result_get_versions (result->discovery));
}

static void
test_resolve_user_id (void)
{
  g_autofree char *user_id = om_test_hs_user_id (hs, "alice");
  Result result = { 0 };

  setup ();
  resolve (user_id, OM_DISCOVERY_ALLOW_HTTP, &result);
  assert_resolved_to_hs (&result);
  g_assert_cmpstr (om_discovery_result_get_server_name (result.discovery), ==,
                   om_test_hs_get_server_name (hs));
  g_assert_true (om_discovery_result_has_unstable_feature (result.discovery,
                                                           "org.matrix.msc3827.stable"));
  g_assert_false (om_discovery_result_has_unstable_feature (result.discovery, "org.example.nope"));
  result_clear (&result);
}

static void
test_resolve_server_name (void)
{
  g_autofree char *padded = g_strdup_printf ("  %s \n", om_test_hs_get_server_name (hs));
  Result result = { 0 };

  setup ();
  resolve (padded, OM_DISCOVERY_ALLOW_HTTP, &result);
  assert_resolved_to_hs (&result);
  g_assert_cmpstr (om_discovery_result_get_server_name (result.discovery), ==,
                   om_test_hs_get_server_name (hs));
  result_clear (&result);
}

static void
test_resolve_url (void)
{
  g_autofree char *slashed = g_strconcat (om_test_hs_get_url (hs), "/", NULL);
  Result result = { 0 };

  setup ();
  resolve (slashed, OM_DISCOVERY_ALLOW_HTTP, &result);
  assert_resolved_to_hs (&result);
  result_clear (&result);
}

/* Synapse's answer when no .well-known is configured. */
static void
test_well_known_404 (void)
{
  g_autofree char *synapse_404 = transcript_body ("discovery-login.json", "GET server well-known");
  /* The transcript stores that text body as a JSON string. */
  g_autoptr(JsonNode) text = json_from_string (synapse_404, NULL);
  Result result = { 0 };

  setup ();
  add_fault (WELL_KNOWN, 404, json_node_get_string (text), NULL);
  resolve (om_test_hs_get_server_name (hs), OM_DISCOVERY_ALLOW_HTTP, &result);
  assert_resolved_to_hs (&result);
  result_clear (&result);
}

static void
test_well_known_transcript (void)
{
  g_autofree char *body = transcript_body ("discovery-login.json", "GET client well-known");
  g_autofree char *versions = transcript_body ("discovery-login.json", "GET versions");
  g_autofree char *user_id = om_test_hs_user_id (hs, "alice");
  g_autoptr(JsonNode) node = json_from_string (body, NULL);
  g_autofree char *rewritten = NULL;
  g_autofree char *base = g_strconcat (om_test_hs_get_url (hs), "/", NULL);
  Result result = { 0 };

  setup ();
  /* Synapse's exact shape, pointed at our port: "base_url": "http://…/". */
  json_object_set_string_member (json_object_get_object_member (json_node_get_object (node),
                                                                "m.homeserver"),
                                 "base_url", base);
  rewritten = json_to_string (node, FALSE);
  add_fault (WELL_KNOWN, 200, rewritten, NULL);
  add_fault (VERSIONS, 200, versions, NULL);

  resolve (user_id, OM_DISCOVERY_ALLOW_HTTP, &result);
  assert_resolved_to_hs (&result);
  g_assert_true (om_discovery_result_supports_version (result.discovery, "r0.6.1"));
  g_assert_true (om_discovery_result_has_unstable_feature (result.discovery,
                                                           "org.matrix.e2e_cross_signing"));
  /* false in the transcript: not enabled. */
  g_assert_false (om_discovery_result_has_unstable_feature (result.discovery,
                                                            "org.matrix.msc3026.busy_presence"));
  g_assert_true (g_strv_contains (om_discovery_result_get_unstable_features (result.discovery),
                                  "org.matrix.msc3771"));
  result_clear (&result);
}

typedef struct
{
  const char *name;
  const char *path;
  guint       status;
  const char *raw_body;    /* "%s" is replaced with the homeserver URL */
  GQuark    (*domain) (void);
  gint        code;
} FailureCase;

static const FailureCase failure_cases[] = {
  { "well-known-not-json", WELL_KNOWN, 200, "{\"m.homeserver\": {\"base_url\": ", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_PROMPT },
  { "well-known-empty", WELL_KNOWN, 200, "", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_PROMPT },
  { "well-known-no-homeserver", WELL_KNOWN, 200, "{\"m.identity_server\":{\"base_url\":\"https://vector.im\"}}", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_PROMPT },
  { "well-known-base-url-not-string", WELL_KNOWN, 200, "{\"m.homeserver\":{\"base_url\":42}}", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_PROMPT },
  { "well-known-array", WELL_KNOWN, 200, "[\"m.homeserver\"]", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_PROMPT },
  { "well-known-500", WELL_KNOWN, 500, "oops", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_PROMPT },
  { "well-known-base-url-not-url", WELL_KNOWN, 200, "{\"m.homeserver\":{\"base_url\":\"not a url\"}}", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_ERROR },
  { "well-known-base-url-ftp", WELL_KNOWN, 200, "{\"m.homeserver\":{\"base_url\":\"ftp://example.org\"}}", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_ERROR },
  { "well-known-base-url-not-homeserver", WELL_KNOWN, 200, "{\"m.homeserver\":{\"base_url\":\"%s/not/a/homeserver\"}}", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_ERROR },
  { "versions-404", VERSIONS, 404, "{\"errcode\":\"M_UNRECOGNIZED\",\"error\":\"Unrecognized request\"}", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_ERROR },
  { "versions-missing", VERSIONS, 200, "{\"unstable_features\":{}}", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_ERROR },
  { "versions-not-array", VERSIONS, 200, "{\"versions\":\"v1.1\"}", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_ERROR },
  { "versions-html", VERSIONS, 200, "<html>It works!</html>", om_discovery_error_quark, OM_DISCOVERY_ERROR_FAIL_ERROR },
};

static void
test_failure (gconstpointer data)
{
  const FailureCase *c = data;
  g_autoptr(GString) body = g_string_new (c->raw_body);
  Result result = { 0 };

  setup ();
  g_string_replace (body, "%s", om_test_hs_get_url (hs), 0);
  add_fault (c->path, c->status, body->str, NULL);
  resolve (om_test_hs_get_server_name (hs), OM_DISCOVERY_ALLOW_HTTP, &result);
  g_assert_error (result.error, c->domain (), c->code);
  g_test_message ("%s: %s", c->name, result.error->message);
  result_clear (&result);
}

static void
test_invalid_input (void)
{
  const char *inputs[] = {
    "", "   ", "@alice", "@alice:", "exa mple.org", "example.org/path", "user@example.org",
    "ftp://example.org", "http://", "https:///nohost", "example.org?x=1",
  };

  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      Result result = { 0 };

      resolve (inputs[i], OM_DISCOVERY_ALLOW_HTTP, &result);
      g_assert_error (result.error, OM_ERROR, OM_ERROR_INVALID_INPUT);
      result_clear (&result);
    }
}

static guint16
unused_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (socket, address, TRUE, NULL));
  bound = g_socket_get_local_address (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_https_by_default (void)
{
  g_autofree char *server_name = g_strdup_printf ("127.0.0.1:%u", unused_port ());
  g_autofree char *expected = g_strdup_printf ("https://%s/.well-known/matrix/client", server_name);
  Result url = { 0 }, name = { 0 };

  setup ();
  /* A typed http:// address needs the flag. */
  resolve (om_test_hs_get_url (hs), OM_DISCOVERY_FLAGS_NONE, &url);
  g_assert_error (url.error, OM_ERROR, OM_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (url.error->message, "https"));

  /* A bare server name is looked up over https://; nobody listens there,
   * and that is a FAIL_PROMPT. */
  resolve (server_name, OM_DISCOVERY_FLAGS_NONE, &name);
  g_assert_error (name.error, OM_DISCOVERY_ERROR, OM_DISCOVERY_ERROR_FAIL_PROMPT);
  g_assert_nonnull (strstr (name.error->message, expected));

  result_clear (&url);
  result_clear (&name);
}

static void
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

static void
test_resolve_cancel (void)
{
  g_autoptr(OmHttp) http = om_http_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Result result = { 0 };
  gint64 start;

  setup ();
  om_test_hs_add_fault (hs, "{\"path\":\"" WELL_KNOWN "\",\"action\":\"delay\",\"delay_ms\":3000}");
  start = g_get_monotonic_time ();
  om_discovery_resolve_async (http, om_test_hs_get_server_name (hs), OM_DISCOVERY_ALLOW_HTTP,
                              cancellable, resolve_cb, &result);
  g_timeout_add_once (100, cancel_cb, cancellable);
  wait_result (&result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 1000 * G_TIME_SPAN_MILLISECOND);
  result_clear (&result);
}

/* ---- login flows ------------------------------------------------------- */

static void
get_login_flows (Result *result)
{
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));

  om_discovery_get_login_flows_async (http, NULL, flows_cb, result);
  wait_result (result);
}

static void
test_login_flows_hs (void)
{
  Result result = { 0 };

  setup ();
  get_login_flows (&result);
  g_assert_no_error (result.error);
  g_assert_true (om_login_flows_has_type (result.flows, "m.login.password"));
  result_clear (&result);
}

static void
test_login_flows_synapse (void)
{
  g_autofree char *body = transcript_body ("discovery-login.json", "GET login flows");
  Result result = { 0 };
  const char *expected[] = { "m.login.sso", "m.login.token", "m.login.password",
                             "m.login.application_service", NULL };
  OmIdentityProvider *idp;

  setup ();
  add_fault ("/_matrix/client/v3/login", 200, body, NULL);
  get_login_flows (&result);
  g_assert_no_error (result.error);
  g_assert_cmpstrv (om_login_flows_get_types (result.flows), expected);
  g_assert_true (om_login_flows_has_type (result.flows, "m.login.sso"));
  g_assert_false (om_login_flows_has_type (result.flows, "m.login.dummy"));
  g_assert_cmpuint (om_login_flows_get_identity_providers (result.flows)->len, ==, 1);
  idp = g_ptr_array_index (om_login_flows_get_identity_providers (result.flows), 0);
  g_assert_cmpstr (idp->id, ==, "oidc-openmeet");
  g_assert_cmpstr (idp->name, ==, "OpenMeet (lab)");
  g_assert_null (idp->icon);
  g_assert_null (idp->brand);
  result_clear (&result);
}

static void
test_login_flows_providers (void)
{
  Result result = { 0 }, broken = { 0 };
  OmIdentityProvider *idp;

  setup ();
  add_fault ("/_matrix/client/v3/login", 200,
             "{\"flows\":[{\"type\":\"m.login.sso\",\"identity_providers\":["
             "{\"id\":\"oidc-github\",\"name\":\"GitHub\",\"icon\":\"mxc://example.org/abc\",\"brand\":\"github\"},"
             "{\"name\":\"no id: skipped\"},"
             "{\"id\":\"saml\"}]},"
             "{\"type\":\"m.login.password\"},{\"no\":\"type\"},\"junk\"]}", NULL);
  get_login_flows (&result);
  g_assert_no_error (result.error);
  g_assert_cmpuint (g_strv_length ((GStrv) om_login_flows_get_types (result.flows)), ==, 2);
  g_assert_cmpuint (om_login_flows_get_identity_providers (result.flows)->len, ==, 2);
  idp = g_ptr_array_index (om_login_flows_get_identity_providers (result.flows), 0);
  g_assert_cmpstr (idp->icon, ==, "mxc://example.org/abc");
  g_assert_cmpstr (idp->brand, ==, "github");
  idp = g_ptr_array_index (om_login_flows_get_identity_providers (result.flows), 1);
  g_assert_cmpstr (idp->id, ==, "saml");
  g_assert_cmpstr (idp->name, ==, "saml");

  add_fault ("/_matrix/client/v3/login", 200, "{\"nothing\":[]}", NULL);
  get_login_flows (&broken);
  g_assert_error (broken.error, OM_ERROR, OM_ERROR_BAD_RESPONSE);

  result_clear (&result);
  result_clear (&broken);
}

/* ---- auth metadata ----------------------------------------------------- */

static void
get_auth_metadata (Result *result)
{
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));

  om_discovery_get_auth_metadata_async (http, NULL, metadata_cb, result);
  wait_result (result);
}

static void
test_auth_metadata_none (void)
{
  g_autofree char *v1 = transcript_body ("discovery-login.json", "GET auth_metadata");
  g_autofree char *unstable = transcript_body ("discovery-login.json", "GET unstable auth_issuer");
  Result hs_default = { 0 }, synapse = { 0 };

  setup ();
  get_auth_metadata (&hs_default);
  g_assert_no_error (hs_default.error);
  g_assert_true (hs_default.ok);
  g_assert_null (hs_default.issuer);

  /* Synapse 1.94: both 404 M_UNRECOGNIZED. */
  add_fault ("/_matrix/client/v1/auth_metadata", 404, v1, NULL);
  add_fault ("/auth_issuer", 404, unstable, NULL);
  get_auth_metadata (&synapse);
  g_assert_no_error (synapse.error);
  g_assert_true (synapse.ok);
  g_assert_null (synapse.issuer);
  g_assert_null (synapse.metadata);

  result_clear (&hs_default);
  result_clear (&synapse);
}

static void
test_auth_metadata_found (void)
{
  Result stable = { 0 }, unstable = { 0 }, failed = { 0 };

  setup ();
  add_fault ("/_matrix/client/v1/auth_metadata", 200,
             "{\"issuer\":\"https://auth.example.org/\","
             "\"authorization_endpoint\":\"https://auth.example.org/authorize\","
             "\"code_challenge_methods_supported\":[\"S256\"]}", NULL);
  get_auth_metadata (&stable);
  g_assert_no_error (stable.error);
  g_assert_cmpstr (stable.issuer, ==, "https://auth.example.org/");
  g_assert_nonnull (stable.metadata);
  g_assert_cmpstr (json_object_get_string_member (stable.metadata, "authorization_endpoint"), ==,
                   "https://auth.example.org/authorize");

  add_fault ("/_matrix/client/v1/auth_metadata", 404, NULL, "M_UNRECOGNIZED");
  add_fault ("/auth_issuer", 200, "{\"issuer\":\"https://id.example.org/\"}", NULL);
  get_auth_metadata (&unstable);
  g_assert_no_error (unstable.error);
  g_assert_cmpstr (unstable.issuer, ==, "https://id.example.org/");
  g_assert_null (unstable.metadata);

  add_fault ("/_matrix/client/v1/auth_metadata", 500, "", NULL);
  get_auth_metadata (&failed);
  g_assert_error (failed.error, OM_ERROR, OM_ERROR_SERVER);
  g_assert_false (failed.ok);

  result_clear (&stable);
  result_clear (&unstable);
  result_clear (&failed);
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  hs = om_test_hs_start (NULL);

  g_test_add_func ("/discovery/resolve/user-id", test_resolve_user_id);
  g_test_add_func ("/discovery/resolve/server-name", test_resolve_server_name);
  g_test_add_func ("/discovery/resolve/url", test_resolve_url);
  g_test_add_func ("/discovery/resolve/well-known-404", test_well_known_404);
  g_test_add_func ("/discovery/resolve/well-known-transcript", test_well_known_transcript);
  for (guint i = 0; i < G_N_ELEMENTS (failure_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/discovery/resolve/fail/", failure_cases[i].name, NULL);

      g_test_add_data_func (path, &failure_cases[i], test_failure);
    }
  g_test_add_func ("/discovery/resolve/invalid-input", test_invalid_input);
  g_test_add_func ("/discovery/resolve/https-by-default", test_https_by_default);
  g_test_add_func ("/discovery/resolve/cancel", test_resolve_cancel);
  g_test_add_func ("/discovery/login-flows/homeserver", test_login_flows_hs);
  g_test_add_func ("/discovery/login-flows/synapse", test_login_flows_synapse);
  g_test_add_func ("/discovery/login-flows/providers", test_login_flows_providers);
  g_test_add_func ("/discovery/auth-metadata/none", test_auth_metadata_none);
  g_test_add_func ("/discovery/auth-metadata/found", test_auth_metadata_found);

  ret = g_test_run ();

  om_test_hs_free (hs);
  return ret;
}
