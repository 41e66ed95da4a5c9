/* test-error.c — decoding Matrix error bodies into OM_ERROR
 *
 * The bodies come from the Synapse 1.94 transcripts (errors.json,
 * discovery-login.json) so that the decoder is checked against what a
 * real server sends.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "test-error"

#include <gio/gio.h>
#include <string.h>

#include "om-error.h"

static JsonArray *errors_transcript;
static JsonArray *discovery_transcript;

static JsonArray *
load_transcript (const char *name)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "transcripts", name, NULL);

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)));
  return json_array_ref (json_node_get_array (json_parser_get_root (parser)));
}

/* The first exchange of @transcript whose step contains @step. */
static JsonObject *
find_exchange (JsonArray  *transcript,
               const char *step)
{
  for (guint i = 0; i < json_array_get_length (transcript); i++)
    {
      JsonObject *exchange = json_array_get_object_element (transcript, i);

      if (strstr (json_object_get_string_member (exchange, "step"), step) != NULL)
        return exchange;
    }
  g_error ("no exchange “%s” in the transcript", step);
  return NULL;
}

typedef struct
{
  const char  *transcript;    /* "errors" or "discovery" */
  const char  *step;
  OmErrorCode  code;
  const char  *errcode;
  guint        status;
  gint64       retry_after_ms;
  gboolean     soft_logout;
  gboolean     transient;
} FixtureCase;

static const FixtureCase fixture_cases[] = {
  { "errors", "unknown endpoint", OM_ERROR_UNRECOGNIZED, "M_UNRECOGNIZED", 404, -1, FALSE, FALSE },
  { "errors", "missing access token", OM_ERROR_MISSING_TOKEN, "M_MISSING_TOKEN", 401, -1, FALSE, FALSE },
  { "errors", "unknown access token", OM_ERROR_UNKNOWN_TOKEN, "M_UNKNOWN_TOKEN", 401, -1, FALSE, FALSE },
  { "errors", "bad JSON body", OM_ERROR_NOT_JSON, "M_NOT_JSON", 400, -1, FALSE, FALSE },
  { "errors", "JSON body that is not an object", OM_ERROR_BAD_JSON, "M_BAD_JSON", 400, -1, FALSE, FALSE },
  { "errors", "[bob] send to a room he is not in", OM_ERROR_FORBIDDEN, "M_FORBIDDEN", 403, -1, FALSE, FALSE },
  { "errors", "join an unknown alias", OM_ERROR_NOT_FOUND, "M_NOT_FOUND", 404, -1, FALSE, FALSE },
  { "errors", "join an unknown room id", OM_ERROR_UNKNOWN, "M_UNKNOWN", 404, -1, FALSE, FALSE },
  { "errors", "sync with an unknown filter id", OM_ERROR_INVALID_PARAM, "M_INVALID_PARAM", 400, -1, FALSE, FALSE },
  { "errors", "larger than 65536", OM_ERROR_TOO_LARGE, "M_TOO_LARGE", 413, -1, FALSE, FALSE },
  /* HTTP 400 carrying M_FORBIDDEN: the errcode decides. */
  { "errors", "PUT typing for another user", OM_ERROR_FORBIDDEN, "M_FORBIDDEN", 400, -1, FALSE, FALSE },
  { "errors", "send message 2 as fast as possible", OM_ERROR_LIMIT_EXCEEDED, "M_LIMIT_EXCEEDED", 429, 1914, FALSE, TRUE },
  { "errors", "PUT a state event (m.room.topic) while still limited", OM_ERROR_LIMIT_EXCEEDED, "M_LIMIT_EXCEEDED", 429, 1896, FALSE, TRUE },
  { "discovery", "wrong password", OM_ERROR_FORBIDDEN, "M_FORBIDDEN", 403, -1, FALSE, FALSE },
  { "discovery", "GET whoami with the logged-out token", OM_ERROR_UNKNOWN_TOKEN, "M_UNKNOWN_TOKEN", 401, -1, FALSE, FALSE },
  { "discovery", "free name (registration disabled)", OM_ERROR_FORBIDDEN, "M_FORBIDDEN", 403, -1, FALSE, FALSE },
  { "discovery", "without_verification] GET register/available, taken name", OM_ERROR_USER_IN_USE, "M_USER_IN_USE", 400, -1, FALSE, FALSE },
  { "discovery", "without_verification] GET register/available, invalid name", OM_ERROR_INVALID_USERNAME, "M_INVALID_USERNAME", 400, -1, FALSE, FALSE },
  { "discovery", "with the ORIGINAL refresh token after", OM_ERROR_FORBIDDEN, "M_FORBIDDEN", 403, -1, FALSE, FALSE },
};

static void
test_fixture (gconstpointer data)
{
  const FixtureCase *c = data;
  JsonArray *transcript = g_str_equal (c->transcript, "errors") ? errors_transcript : discovery_transcript;
  JsonObject *exchange = find_exchange (transcript, c->step);
  JsonNode *body = json_object_get_member (exchange, "response_body");
  guint status = (guint) json_object_get_int_member (exchange, "status");
  g_autoptr(GError) error = om_error_new_from_response (status, body);

  g_assert_cmpuint (status, ==, c->status);
  g_assert_error (error, OM_ERROR, (gint) c->code);
  g_assert_cmpstr (om_error_get_errcode (error), ==, c->errcode);
  g_assert_cmpuint (om_error_get_http_status (error), ==, c->status);
  g_assert_cmpint (om_error_get_retry_after_ms (error), ==, c->retry_after_ms);
  g_assert_cmpint (om_error_is_soft_logout (error), ==, c->soft_logout);
  g_assert_cmpint (om_error_is_transient (error), ==, c->transient);
  /* The server's own words reach the person. */
  g_assert_nonnull (strstr (error->message,
                            json_object_get_string_member (json_node_get_object (body), "error")));
}

static JsonNode *
parse (const char *json)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (json, &error);

  g_assert_no_error (error);
  return node;
}

static void
test_soft_logout (void)
{
  g_autoptr(JsonNode) soft = parse ("{\"errcode\":\"M_UNKNOWN_TOKEN\",\"error\":\"Token expired\",\"soft_logout\":true}");
  g_autoptr(JsonNode) hard = parse ("{\"errcode\":\"M_UNKNOWN_TOKEN\",\"error\":\"Invalid access token passed.\",\"soft_logout\":false}");
  g_autoptr(JsonNode) other = parse ("{\"errcode\":\"M_FORBIDDEN\",\"soft_logout\":true}");
  g_autoptr(GError) soft_error = om_error_new_from_response (401, soft);
  g_autoptr(GError) hard_error = om_error_new_from_response (401, hard);
  g_autoptr(GError) other_error = om_error_new_from_response (403, other);
  g_autoptr(GError) copy = NULL;

  g_assert_error (soft_error, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN);
  g_assert_true (om_error_is_soft_logout (soft_error));
  g_assert_false (om_error_is_soft_logout (hard_error));
  /* soft_logout only means something on M_UNKNOWN_TOKEN. */
  g_assert_false (om_error_is_soft_logout (other_error));

  /* The extended data survives a copy (GTask copies nothing, but callers do). */
  copy = g_error_copy (soft_error);
  g_assert_true (om_error_is_soft_logout (copy));
  g_assert_cmpstr (om_error_get_errcode (copy), ==, "M_UNKNOWN_TOKEN");
  g_assert_cmpuint (om_error_get_http_status (copy), ==, 401);
}

static void
test_no_body (void)
{
  g_autoptr(GError) e500 = om_error_new_from_response (500, NULL);
  g_autoptr(GError) e502 = om_error_new_from_response (502, NULL);
  g_autoptr(GError) e429 = om_error_new_from_response (429, NULL);
  g_autoptr(GError) e404 = om_error_new_from_response (404, NULL);

  g_assert_error (e500, OM_ERROR, OM_ERROR_SERVER);
  g_assert_null (om_error_get_errcode (e500));
  g_assert_cmpuint (om_error_get_http_status (e500), ==, 500);
  g_assert_true (om_error_is_transient (e500));
  g_assert_nonnull (strstr (e500->message, "500"));

  g_assert_error (e502, OM_ERROR, OM_ERROR_SERVER);
  g_assert_true (om_error_is_transient (e502));

  /* A plain 429 (a proxy, no Matrix body) is still rate limiting. */
  g_assert_error (e429, OM_ERROR, OM_ERROR_LIMIT_EXCEEDED);
  g_assert_cmpint (om_error_get_retry_after_ms (e429), ==, -1);
  g_assert_true (om_error_is_transient (e429));

  g_assert_error (e404, OM_ERROR, OM_ERROR_HTTP);
  g_assert_false (om_error_is_transient (e404));
}

static void
test_garbage_body (void)
{
  const char *bodies[] = {
    "[\"not\", \"an\", \"object\"]",
    "\"just a string\"",
    "42",
    "{\"errcode\": 17, \"error\": [\"x\"], \"retry_after_ms\": \"soon\", \"soft_logout\": \"yes\"}",
    "{\"unrelated\": true}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr(JsonNode) body = parse (bodies[i]);
      g_autoptr(GError) e503 = om_error_new_from_response (503, body);
      g_autoptr(GError) e400 = om_error_new_from_response (400, body);
      g_autoptr(GError) e429 = om_error_new_from_response (429, body);

      g_assert_error (e503, OM_ERROR, OM_ERROR_SERVER);
      g_assert_null (om_error_get_errcode (e503));
      g_assert_error (e400, OM_ERROR, OM_ERROR_HTTP);
      g_assert_cmpuint (om_error_get_http_status (e400), ==, 400);
      g_assert_false (om_error_is_soft_logout (e400));
      g_assert_error (e429, OM_ERROR, OM_ERROR_LIMIT_EXCEEDED);
      g_assert_cmpint (om_error_get_retry_after_ms (e429), ==, -1);
    }
}

static void
test_unknown_errcode (void)
{
  g_autoptr(JsonNode) body = parse ("{\"errcode\":\"ORG_EXAMPLE_NEW_THING\",\"error\":\"Something new\"}");
  g_autoptr(GError) error = om_error_new_from_response (400, body);

  g_assert_error (error, OM_ERROR, OM_ERROR_UNKNOWN);
  g_assert_cmpstr (om_error_get_errcode (error), ==, "ORG_EXAMPLE_NEW_THING");
  g_assert_nonnull (strstr (error->message, "Something new"));
  g_assert_cmpint (om_error_code_from_errcode ("M_LIMIT_EXCEEDED"), ==, OM_ERROR_LIMIT_EXCEEDED);
  g_assert_cmpint (om_error_code_from_errcode (NULL), ==, OM_ERROR_UNKNOWN);
}

static void
test_retry_after_double (void)
{
  /* JSON has one number type; a server may write 1500.0. */
  g_autoptr(JsonNode) body = parse ("{\"errcode\":\"M_LIMIT_EXCEEDED\",\"retry_after_ms\":1500.0}");
  g_autoptr(GError) error = om_error_new_from_response (429, body);

  g_assert_cmpint (om_error_get_retry_after_ms (error), ==, 1500);
}

static void
test_transient (void)
{
  g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "x");
  g_autoptr(GError) refused = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED, "x");
  g_autoptr(GError) timed_out = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "x");
  g_autoptr(GError) resolver = g_error_new_literal (G_RESOLVER_ERROR, G_RESOLVER_ERROR_TEMPORARY_FAILURE, "x");
  g_autoptr(GError) invalid = g_error_new_literal (OM_ERROR, OM_ERROR_INVALID_INPUT, "x");
  g_autoptr(GError) other = g_error_new_literal (G_FILE_ERROR, G_FILE_ERROR_NOENT, "x");

  g_assert_false (om_error_is_transient (NULL));
  g_assert_false (om_error_is_transient (cancelled));
  g_assert_true (om_error_is_transient (refused));
  g_assert_true (om_error_is_transient (timed_out));
  g_assert_true (om_error_is_transient (resolver));
  g_assert_false (om_error_is_transient (invalid));
  g_assert_false (om_error_is_transient (other));

  /* Accessors on foreign errors. */
  g_assert_null (om_error_get_errcode (refused));
  g_assert_cmpuint (om_error_get_http_status (refused), ==, 0);
  g_assert_cmpint (om_error_get_retry_after_ms (refused), ==, -1);
  g_assert_false (om_error_is_soft_logout (NULL));
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  errors_transcript = load_transcript ("errors.json");
  discovery_transcript = load_transcript ("discovery-login.json");

  for (guint i = 0; i < G_N_ELEMENTS (fixture_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/error/fixture/%s/%u", fixture_cases[i].errcode, i);

      g_test_add_data_func (path, &fixture_cases[i], test_fixture);
    }
  g_test_add_func ("/error/soft-logout", test_soft_logout);
  g_test_add_func ("/error/no-body", test_no_body);
  g_test_add_func ("/error/garbage-body", test_garbage_body);
  g_test_add_func ("/error/unknown-errcode", test_unknown_errcode);
  g_test_add_func ("/error/retry-after-double", test_retry_after_double);
  g_test_add_func ("/error/transient", test_transient);

  ret = g_test_run ();

  json_array_unref (errors_transcript);
  json_array_unref (discovery_transcript);
  return ret;
}
