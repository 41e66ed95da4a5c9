/* test-http.c — OmHttp against an in-process HTTP/1.1 server
 *
 * The server runs in its own threads with blocking sockets, so the main
 * context sees only the client: that lets the tests count main-loop
 * wake-ups, and lets a handler sleep or drop a connection mid-request
 * without stalling the client.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "test-http"

#include <gio/gio.h>
#include <string.h>

#include "om-error.h"
#include "om-http.h"

/* ---- in-process test server ------------------------------------------- */

typedef struct
{
  char        *method;
  char        *path;       /* without the query */
  char        *query;      /* nullable */
  GHashTable  *headers;    /* lower-case name → value */
  char        *body;
  gsize        body_len;
} TestRequest;

typedef struct
{
  guint        status;
  char        *body;             /* nullable: no body */
  char        *extra_headers;    /* nullable, "Name: value\r\n" lines */
  guint        delay_ms;
  gboolean     drop;             /* close the connection without answering */
  char        *raw;              /* nullable: sent as is, then the connection closes */
} TestResponse;

typedef struct _TestServer TestServer;
typedef void (*TestHandler) (TestServer   *server,
                             TestRequest  *request,
                             TestResponse *response);

struct _TestServer
{
  gatomicrefcount   ref_count;
  GSocketListener  *listener;
  GCancellable     *cancellable;
  GThread          *thread;
  TestHandler       handler;
  char             *url;
  GMutex            lock;
  guint             n_connections;   /* under lock */
  GHashTable       *counters;        /* under lock: name → count */
};

static TestServer *
test_server_ref (TestServer *server)
{
  g_atomic_ref_count_inc (&server->ref_count);
  return server;
}

static void
test_server_unref (TestServer *server)
{
  if (!g_atomic_ref_count_dec (&server->ref_count))
    return;
  g_object_unref (server->listener);
  g_object_unref (server->cancellable);
  g_hash_table_unref (server->counters);
  g_mutex_clear (&server->lock);
  g_free (server->url);
  g_free (server);
}

/* Counts calls per @name (1 for the first), across threads. */
static guint
test_server_count (TestServer *server,
                   const char *name)
{
  guint n;

  g_mutex_lock (&server->lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (server->counters, name)) + 1;
  g_hash_table_insert (server->counters, g_strdup (name), GUINT_TO_POINTER (n));
  g_mutex_unlock (&server->lock);
  return n;
}

static guint
test_server_get_count (TestServer *server,
                       const char *name)
{
  guint n;

  g_mutex_lock (&server->lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (server->counters, name));
  g_mutex_unlock (&server->lock);
  return n;
}

static guint
test_server_get_n_connections (TestServer *server)
{
  guint n;

  g_mutex_lock (&server->lock);
  n = server->n_connections;
  g_mutex_unlock (&server->lock);
  return n;
}

static void
test_request_free (TestRequest *request)
{
  g_free (request->method);
  g_free (request->path);
  g_free (request->query);
  g_hash_table_unref (request->headers);
  g_free (request->body);
  g_free (request);
}

static TestRequest *
read_request (GDataInputStream *in)
{
  g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, NULL);
  g_auto(GStrv) parts = NULL;
  TestRequest *request;
  const char *length;
  char *query;

  if (line == NULL)
    return NULL;
  parts = g_strsplit (line, " ", 3);
  if (g_strv_length (parts) != 3)
    return NULL;

  request = g_new0 (TestRequest, 1);
  request->method = g_strdup (parts[0]);
  query = strchr (parts[1], '?');
  request->query = query != NULL ? g_strdup (query + 1) : NULL;
  request->path = query != NULL ? g_strndup (parts[1], query - parts[1]) : g_strdup (parts[1]);
  request->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (;;)
    {
      g_autofree char *header = g_data_input_stream_read_line (in, NULL, NULL, NULL);
      char *colon;

      if (header == NULL)
        {
          test_request_free (request);
          return NULL;
        }
      if (header[0] == '\0')
        break;
      colon = strchr (header, ':');
      if (colon == NULL)
        continue;
      *colon = '\0';
      g_hash_table_insert (request->headers, g_ascii_strdown (header, -1),
                           g_strstrip (g_strdup (colon + 1)));
    }

  length = g_hash_table_lookup (request->headers, "content-length");
  request->body_len = length != NULL ? g_ascii_strtoull (length, NULL, 10) : 0;
  request->body = g_malloc0 (request->body_len + 1);
  if (request->body_len > 0 &&
      !g_input_stream_read_all (G_INPUT_STREAM (in), request->body, request->body_len,
                                NULL, NULL, NULL))
    {
      test_request_free (request);
      return NULL;
    }
  return request;
}

typedef struct
{
  TestServer        *server;       /* owned ref */
  GSocketConnection *connection;   /* owned */
} ConnectionData;

static gpointer
connection_thread (gpointer user_data)
{
  ConnectionData *data = user_data;
  GIOStream *stream = G_IO_STREAM (data->connection);
  g_autoptr(GDataInputStream) in = g_data_input_stream_new (g_io_stream_get_input_stream (stream));
  GOutputStream *out = g_io_stream_get_output_stream (stream);

  g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);

  for (;;)
    {
      TestRequest *request = read_request (in);
      TestResponse response = { .status = 200 };
      g_autofree char *head = NULL;
      gsize body_len;

      if (request == NULL)
        break;
      data->server->handler (data->server, request, &response);
      test_request_free (request);

      if (response.delay_ms > 0)
        g_usleep (response.delay_ms * G_TIME_SPAN_MILLISECOND);
      if (response.drop || response.raw != NULL)
        {
          if (response.raw != NULL)
            g_output_stream_write_all (out, response.raw, strlen (response.raw), NULL, NULL, NULL);
          g_free (response.raw);
          g_free (response.body);
          g_free (response.extra_headers);
          break;
        }

      body_len = response.body != NULL ? strlen (response.body) : 0;
      head = g_strdup_printf ("HTTP/1.1 %u Whatever\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                              "%s\r\n",
                              response.status, body_len,
                              response.extra_headers ? response.extra_headers : "");
      g_output_stream_write_all (out, head, strlen (head), NULL, NULL, NULL);
      if (body_len > 0)
        g_output_stream_write_all (out, response.body, body_len, NULL, NULL, NULL);
      g_free (response.body);
      g_free (response.extra_headers);
    }

  g_io_stream_close (stream, NULL, NULL);
  g_object_unref (data->connection);
  test_server_unref (data->server);
  g_free (data);
  return NULL;
}

static gpointer
accept_thread (gpointer user_data)
{
  TestServer *server = user_data;

  for (;;)
    {
      GSocketConnection *connection;
      ConnectionData *data;

      connection = g_socket_listener_accept (server->listener, NULL, server->cancellable, NULL);
      if (connection == NULL)
        break;
      g_mutex_lock (&server->lock);
      server->n_connections++;
      g_mutex_unlock (&server->lock);

      data = g_new0 (ConnectionData, 1);
      data->server = test_server_ref (server);
      data->connection = connection;
      g_thread_unref (g_thread_new ("test-server-connection", connection_thread, data));
    }
  return NULL;
}

static TestServer *
test_server_new (TestHandler handler)
{
  TestServer *server = g_new0 (TestServer, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_atomic_ref_count_init (&server->ref_count);
  g_mutex_init (&server->lock);
  server->handler = handler;
  server->counters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  server->cancellable = g_cancellable_new ();
  server->listener = g_socket_listener_new ();
  g_socket_listener_add_address (server->listener, address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  server->url = g_strdup_printf ("http://127.0.0.1:%u",
                                 g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  server->thread = g_thread_new ("test-server", accept_thread, test_server_ref (server));
  return server;
}

static void
test_server_free (TestServer *server)
{
  g_cancellable_cancel (server->cancellable);
  g_thread_join (server->thread);
  test_server_unref (server);  /* the accept thread's */
  test_server_unref (server);
}

static const char *
query_param (TestRequest *request,
             const char  *name)
{
  g_autofree char *prefix = g_strconcat (name, "=", NULL);
  const char *p = request->query;

  while (p != NULL)
    {
      if (g_str_has_prefix (p, prefix))
        return p + strlen (prefix);
      p = strchr (p, '&');
      if (p != NULL)
        p++;
    }
  return NULL;
}

static guint
query_uint (TestRequest *request,
            const char  *name,
            guint        fallback)
{
  const char *value = query_param (request, name);

  return value != NULL ? (guint) g_ascii_strtoull (value, NULL, 10) : fallback;
}

/* ---- routes ------------------------------------------------------------ */

static void
handler (TestServer   *server,
         TestRequest  *request,
         TestResponse *response)
{
  test_server_count (server, request->path);

  if (g_str_equal (request->path, "/echo"))
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;
      g_autoptr(JsonNode) body = request->body_len > 0 ? json_from_string (request->body, NULL) : NULL;
      const char *names[] = { "authorization", "content-type", "accept", "user-agent" };

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "method");
      json_builder_add_string_value (builder, request->method);
      for (guint i = 0; i < G_N_ELEMENTS (names); i++)
        {
          json_builder_set_member_name (builder, names[i]);
          if (g_hash_table_contains (request->headers, names[i]))
            json_builder_add_string_value (builder, g_hash_table_lookup (request->headers, names[i]));
          else
            json_builder_add_null_value (builder);
        }
      json_builder_set_member_name (builder, "body");
      if (body != NULL)
        json_builder_add_value (builder, json_node_copy (body));
      else
        json_builder_add_null_value (builder);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      response->body = json_to_string (root, FALSE);
    }
  else if (g_str_equal (request->path, "/not-json"))
    {
      response->body = g_strdup ("<html>this is not json</html>");
    }
  else if (g_str_equal (request->path, "/empty"))
    {
      response->body = NULL;
    }
  else if (g_str_equal (request->path, "/500"))
    {
      response->status = 500;
    }
  else if (g_str_equal (request->path, "/forbidden"))
    {
      response->status = 403;
      response->body = g_strdup ("{\"errcode\":\"M_FORBIDDEN\",\"error\":\"Invalid username or password\"}");
    }
  else if (g_str_has_prefix (request->path, "/limited/"))
    {
      /* The first n calls are rate limited with retry_after_ms=ms. */
      guint n = test_server_get_count (server, request->path);

      if (n <= query_uint (request, "n", 1))
        {
          response->status = 429;
          response->body = g_strdup_printf ("{\"errcode\":\"M_LIMIT_EXCEEDED\",\"error\":\"Too Many Requests\","
                                            "\"retry_after_ms\":%u}", query_uint (request, "ms", 100));
        }
      else
        {
          response->body = g_strdup_printf ("{\"attempt\":%u}", n);
        }
    }
  else if (g_str_has_prefix (request->path, "/limited-header/"))
    {
      /* A proxy's 429: no Matrix body, a Retry-After header in seconds. */
      if (test_server_get_count (server, request->path) == 1)
        {
          response->status = 429;
          response->extra_headers = g_strdup ("Retry-After: 1\r\n");
        }
      else
        {
          response->body = g_strdup ("{}");
        }
    }
  else if (g_str_has_prefix (request->path, "/limited-date/"))
    {
      /* Retry-After as an HTTP-date, one second ahead. */
      if (test_server_get_count (server, request->path) == 1)
        {
          g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
          g_autoptr(GDateTime) when = g_date_time_add_seconds (now, 1);
          g_autofree char *date = g_date_time_format (when, "%a, %d %b %Y %H:%M:%S GMT");

          response->status = 429;
          response->extra_headers = g_strdup_printf ("Retry-After: %s\r\n", date);
        }
      else
        {
          response->body = g_strdup ("{}");
        }
    }
  else if (g_str_equal (request->path, "/delay"))
    {
      response->delay_ms = query_uint (request, "ms", 1000);
      response->body = g_strdup ("{}");
    }
  else if (g_str_equal (request->path, "/drop"))
    {
      response->drop = TRUE;
    }
  else if (g_str_equal (request->path, "/partial"))
    {
      /* Promises 1000 bytes, sends a few, hangs up. */
      response->raw = g_strdup ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 1000\r\n\r\n{\"rooms\": {");
    }
  else if (g_str_equal (request->path, "/huge"))
    {
      /* Announces a body over the 256 MiB cap. */
      response->raw = g_strdup ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 300000000\r\n\r\n{\"x\":");
    }
  else
    {
      response->status = 404;
      response->body = g_strdup ("{\"errcode\":\"M_UNRECOGNIZED\",\"error\":\"Unrecognized request\"}");
    }
}

/* ---- client helpers ---------------------------------------------------- */

static TestServer *server;

typedef struct
{
  guint      n_callbacks;
  JsonNode  *node;
  GError    *error;
  guint      status;
  gint64     finished_at;
} Result;

static void
result_clear (Result *result)
{
  g_clear_pointer (&result->node, json_node_unref);
  g_clear_error (&result->error);
}

static void
request_cb (GObject      *source,
            GAsyncResult *async_result,
            gpointer      user_data)
{
  Result *result = user_data;

  result->n_callbacks++;
  g_assert_cmpuint (result->n_callbacks, ==, 1);
  result->node = om_http_request_finish (OM_HTTP (source), async_result, &result->status,
                                         &result->error);
  result->finished_at = g_get_monotonic_time ();
}

static gboolean
result_done (gpointer user_data)
{
  return ((Result *) user_data)->n_callbacks > 0;
}

/* Iterates the default context until @result arrives; returns how many
 * iterations (wake-ups) that took. */
static guint
wait_result (Result *result)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_TIME_SPAN_SECOND;
  guint n = 0;

  while (!result_done (result))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
      n++;
    }
  return n;
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the default context for @ms. */
static void
spin (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_flag_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
do_request (OmHttp       *http,
            const char   *method,
            const char   *path,
            JsonNode     *body,
            OmHttpFlags   flags,
            guint         timeout_ms,
            Result       *result)
{
  om_http_request_async (http, method, path, body, flags, timeout_ms, NULL, request_cb, result);
  wait_result (result);
}

static const char *
member_string (JsonNode   *node,
               const char *name)
{
  JsonObject *object = json_node_get_object (node);

  if (json_object_get_null_member (object, name))
    return NULL;
  return json_object_get_string_member (object, name);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_json_round_trip (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  g_autoptr(JsonNode) body = json_from_string ("{\"msg\":\"héllo ✓\",\"n\":42,\"nested\":{\"a\":[1,2,null]}}", NULL);
  Result post = { 0 }, put = { 0 }, get = { 0 };

  do_request (http, "POST", "/echo", body, OM_HTTP_FLAGS_NONE, 0, &post);
  g_assert_no_error (post.error);
  g_assert_cmpuint (post.status, ==, 200);
  g_assert_cmpstr (member_string (post.node, "method"), ==, "POST");
  g_assert_cmpstr (member_string (post.node, "content-type"), ==, "application/json");
  g_assert_cmpstr (member_string (post.node, "accept"), ==, "application/json");
  g_assert_true (g_str_has_prefix (member_string (post.node, "user-agent"), "OpenMeet-Chat/"));
  g_assert_true (json_node_equal (json_object_get_member (json_node_get_object (post.node), "body"), body));

  do_request (http, "PUT", "/echo", body, OM_HTTP_FLAGS_NONE, 0, &put);
  g_assert_no_error (put.error);
  g_assert_cmpstr (member_string (put.node, "method"), ==, "PUT");
  g_assert_true (json_node_equal (json_object_get_member (json_node_get_object (put.node), "body"), body));

  /* No body, no Content-Type. */
  do_request (http, "GET", "/echo?since=s1_2&timeout=0", NULL, OM_HTTP_FLAGS_NONE, 0, &get);
  g_assert_no_error (get.error);
  g_assert_cmpstr (member_string (get.node, "method"), ==, "GET");
  g_assert_null (member_string (get.node, "content-type"));

  result_clear (&post);
  result_clear (&put);
  result_clear (&get);
}

static void
test_base_url (void)
{
  g_autofree char *slashed = g_strconcat (server->url, "//", NULL);
  g_autofree char *absolute = g_strconcat (server->url, "/echo", NULL);
  g_autoptr(OmHttp) http = om_http_new (slashed);
  g_autoptr(OmHttp) bare = om_http_new (NULL);
  Result relative = { 0 }, no_slash = { 0 }, abs = { 0 }, missing = { 0 };

  g_assert_cmpstr (om_http_get_base_url (http), ==, server->url);

  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &relative);
  g_assert_no_error (relative.error);
  do_request (http, "GET", "echo", NULL, OM_HTTP_FLAGS_NONE, 0, &no_slash);
  g_assert_no_error (no_slash.error);

  /* Absolute URLs need no base URL (discovery). */
  do_request (bare, "GET", absolute, NULL, OM_HTTP_FLAGS_NONE, 0, &abs);
  g_assert_no_error (abs.error);
  do_request (bare, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &missing);
  g_assert_error (missing.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);

  result_clear (&relative);
  result_clear (&no_slash);
  result_clear (&abs);
  result_clear (&missing);
}

static void
test_bearer (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  g_autoptr(JsonNode) body = json_from_string ("{}", NULL);
  Result none = { 0 }, with = { 0 }, no_auth = { 0 }, cleared = { 0 };
  g_autofree char *copy = NULL;

  g_assert_false (om_http_has_access_token (http));
  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &none);
  g_assert_null (member_string (none.node, "authorization"));

  om_http_set_access_token (http, "syt_c2VjcmV0_abcdef");
  g_assert_true (om_http_has_access_token (http));
  copy = om_http_dup_access_token (http);
  g_assert_cmpstr (copy, ==, "syt_c2VjcmV0_abcdef");

  do_request (http, "POST", "/echo", body, OM_HTTP_FLAGS_NONE, 0, &with);
  g_assert_cmpstr (member_string (with.node, "authorization"), ==, "Bearer syt_c2VjcmV0_abcdef");

  do_request (http, "POST", "/echo", body, OM_HTTP_NO_AUTH, 0, &no_auth);
  g_assert_null (member_string (no_auth.node, "authorization"));

  om_http_set_access_token (http, NULL);
  g_assert_false (om_http_has_access_token (http));
  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &cleared);
  g_assert_null (member_string (cleared.node, "authorization"));

  result_clear (&none);
  result_clear (&with);
  result_clear (&no_auth);
  result_clear (&cleared);
}

static void
test_bad_responses (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result not_json = { 0 }, empty = { 0 }, allowed = { 0 }, allowed_garbage = { 0 };
  Result e500 = { 0 }, e403 = { 0 }, e404 = { 0 };

  do_request (http, "GET", "/not-json", NULL, OM_HTTP_FLAGS_NONE, 0, &not_json);
  g_assert_error (not_json.error, OM_ERROR, OM_ERROR_BAD_RESPONSE);
  g_assert_nonnull (strstr (not_json.error->message, "not JSON"));
  g_assert_null (not_json.node);

  do_request (http, "GET", "/empty", NULL, OM_HTTP_FLAGS_NONE, 0, &empty);
  g_assert_error (empty.error, OM_ERROR, OM_ERROR_BAD_RESPONSE);

  do_request (http, "GET", "/empty", NULL, OM_HTTP_ALLOW_EMPTY, 0, &allowed);
  g_assert_no_error (allowed.error);
  g_assert_null (allowed.node);
  g_assert_cmpuint (allowed.status, ==, 200);

  do_request (http, "GET", "/not-json", NULL, OM_HTTP_ALLOW_EMPTY, 0, &allowed_garbage);
  g_assert_no_error (allowed_garbage.error);
  g_assert_null (allowed_garbage.node);

  do_request (http, "GET", "/500", NULL, OM_HTTP_FLAGS_NONE, 0, &e500);
  g_assert_error (e500.error, OM_ERROR, OM_ERROR_SERVER);
  g_assert_cmpuint (e500.status, ==, 500);
  g_assert_cmpuint (om_error_get_http_status (e500.error), ==, 500);

  do_request (http, "POST", "/forbidden", NULL, OM_HTTP_FLAGS_NONE, 0, &e403);
  g_assert_error (e403.error, OM_ERROR, OM_ERROR_FORBIDDEN);
  g_assert_cmpstr (om_error_get_errcode (e403.error), ==, "M_FORBIDDEN");
  g_assert_cmpuint (e403.status, ==, 403);

  do_request (http, "DELETE", "/nowhere", NULL, OM_HTTP_FLAGS_NONE, 0, &e404);
  g_assert_error (e404.error, OM_ERROR, OM_ERROR_UNRECOGNIZED);
  g_assert_cmpuint (e404.status, ==, 404);

  result_clear (&not_json);
  result_clear (&empty);
  result_clear (&allowed);
  result_clear (&allowed_garbage);
  result_clear (&e500);
  result_clear (&e403);
  result_clear (&e404);
}

static void
test_rate_limit_retry (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };
  gint64 start = g_get_monotonic_time ();

  /* Two 429s of 300 ms each, then success. */
  do_request (http, "PUT", "/limited/retry?n=2&ms=300", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  g_assert_no_error (result.error);
  g_assert_cmpuint (result.status, ==, 200);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (result.node), "attempt"), ==, 3);
  g_assert_cmpint (result.finished_at - start, >=, 600 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (test_server_get_count (server, "/limited/retry"), ==, 3);
  g_assert_cmpuint (om_http_get_n_requests (http), ==, 3);
  result_clear (&result);
}

static void
test_rate_limit_header (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };
  gint64 start = g_get_monotonic_time ();

  do_request (http, "GET", "/limited-header/a", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  g_assert_no_error (result.error);
  g_assert_cmpint (result.finished_at - start, >=, 1000 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (test_server_get_count (server, "/limited-header/a"), ==, 2);
  result_clear (&result);
}

static void
test_rate_limit_header_date (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };

  do_request (http, "GET", "/limited-date/a", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  g_assert_no_error (result.error);
  g_assert_cmpuint (test_server_get_count (server, "/limited-date/a"), ==, 2);
  result_clear (&result);
}

static void
test_rate_limit_no_retry (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };
  gint64 start = g_get_monotonic_time ();

  do_request (http, "PUT", "/limited/no-retry?n=1&ms=5000", NULL, OM_HTTP_NO_RETRY, 0, &result);
  g_assert_error (result.error, OM_ERROR, OM_ERROR_LIMIT_EXCEEDED);
  g_assert_cmpint (om_error_get_retry_after_ms (result.error), ==, 5000);
  g_assert_cmpuint (result.status, ==, 429);
  g_assert_cmpint (result.finished_at - start, <, 2000 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (test_server_get_count (server, "/limited/no-retry"), ==, 1);
  result_clear (&result);
}

static void
test_rate_limit_gives_up (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };

  do_request (http, "PUT", "/limited/always?n=1000&ms=10", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  g_assert_error (result.error, OM_ERROR, OM_ERROR_LIMIT_EXCEEDED);
  g_assert_cmpuint (result.status, ==, 429);
  /* The first attempt and five retries. */
  g_assert_cmpuint (test_server_get_count (server, "/limited/always"), ==, 6);
  result_clear (&result);
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
test_connection_refused (void)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u", unused_port ());
  g_autoptr(OmHttp) http = om_http_new (url);
  Result result = { 0 };

  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_nonnull (strstr (result.error->message, "127.0.0.1"));
  g_assert_cmpuint (result.status, ==, 0);
  result_clear (&result);
}

static void
test_host_not_found (void)
{
  g_autoptr(OmHttp) http = om_http_new ("http://no-such-host.invalid");
  Result result = { 0 };

  /* .invalid never resolves (RFC 6761). */
  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 5000, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND);
  g_assert_nonnull (strstr (result.error->message, "no-such-host.invalid"));
  result_clear (&result);
}

static void
test_dropped_connection (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };
  gint64 start = g_get_monotonic_time ();

  do_request (http, "POST", "/drop", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  g_assert_nonnull (result.error);
  g_assert_true (result.error->domain == G_IO_ERROR);
  g_assert_true (g_error_matches (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
                 g_error_matches (result.error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE));
  g_assert_cmpint (result.finished_at - start, <, 5 * G_TIME_SPAN_SECOND);
  result_clear (&result);
}

static void
test_partial_body (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };

  do_request (http, "GET", "/partial", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_null (result.node);
  result_clear (&result);
}

static void
test_too_large (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };

  do_request (http, "GET", "/huge", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  g_assert_error (result.error, OM_ERROR, OM_ERROR_BAD_RESPONSE);
  g_assert_nonnull (strstr (result.error->message, "256 MiB"));
  result_clear (&result);
}

static void
test_timeout (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result result = { 0 };
  gint64 start = g_get_monotonic_time ();

  do_request (http, "GET", "/delay?ms=3000", NULL, OM_HTTP_FLAGS_NONE, 300, &result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (result.finished_at - start, >=, 300 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpint (result.finished_at - start, <, 2500 * G_TIME_SPAN_MILLISECOND);
  result_clear (&result);
}

typedef struct
{
  GCancellable *cancellable;
  gint64        cancelled_at;
} CancelLater;

static gboolean
cancel_later_cb (gpointer user_data)
{
  CancelLater *later = user_data;

  later->cancelled_at = g_get_monotonic_time ();
  g_cancellable_cancel (later->cancellable);
  return G_SOURCE_REMOVE;
}

static void
test_cancel_mid_flight (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  CancelLater later = { cancellable, 0 };
  Result result = { 0 }, after = { 0 };

  om_http_request_async (http, "GET", "/delay?ms=5000", NULL, OM_HTTP_FLAGS_NONE, 0,
                         cancellable, request_cb, &result);
  g_timeout_add (200, cancel_later_cb, &later);
  wait_result (&result);

  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (result.finished_at - later.cancelled_at, <, 500 * G_TIME_SPAN_MILLISECOND);

  /* Nothing arrives twice, and the OmHttp is still usable. */
  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &after);
  g_assert_no_error (after.error);
  spin (100);
  g_assert_cmpuint (result.n_callbacks, ==, 1);

  result_clear (&result);
  result_clear (&after);
}

static void
test_cancel_before_start (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Result result = { 0 };

  g_cancellable_cancel (cancellable);
  om_http_request_async (http, "GET", "/delay?ms=10", NULL, OM_HTTP_FLAGS_NONE, 0,
                         cancellable, request_cb, &result);
  /* Never synchronously. */
  g_assert_cmpuint (result.n_callbacks, ==, 0);
  wait_result (&result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (om_http_get_n_requests (http), ==, 0);
  result_clear (&result);
}

typedef struct
{
  Result        result;
  GCancellable *to_cancel;  /* cancelled from this request's callback */
} CancelOther;

static void
cancel_other_cb (GObject      *source,
                 GAsyncResult *async_result,
                 gpointer      user_data)
{
  CancelOther *data = user_data;

  request_cb (source, async_result, &data->result);
  g_cancellable_cancel (data->to_cancel);
}

static void
test_cancel_from_callback (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  g_autoptr(GCancellable) slow_cancellable = g_cancellable_new ();
  g_autoptr(GCancellable) own_cancellable = g_cancellable_new ();
  CancelOther fast = { { 0 }, slow_cancellable };
  CancelOther own = { { 0 }, own_cancellable };
  Result slow = { 0 };

  om_http_request_async (http, "GET", "/delay?ms=5000", NULL, OM_HTTP_FLAGS_NONE, 0,
                         slow_cancellable, request_cb, &slow);
  om_http_request_async (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0,
                         NULL, cancel_other_cb, &fast);
  wait_result (&slow);
  g_assert_no_error (fast.result.error);
  g_assert_error (slow.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* Cancelling a request from its own callback is too late and harmless. */
  om_http_request_async (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0,
                         own_cancellable, cancel_other_cb, &own);
  wait_result (&own.result);
  g_assert_no_error (own.result.error);
  spin (50);
  g_assert_cmpuint (own.result.n_callbacks, ==, 1);
  g_assert_cmpuint (slow.n_callbacks, ==, 1);

  result_clear (&fast.result);
  result_clear (&own.result);
  result_clear (&slow);
}

static void
test_cancel_during_retry (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  CancelLater later = { cancellable, 0 };
  Result result = { 0 };

  om_http_request_async (http, "PUT", "/limited/cancel?n=10&ms=5000", NULL, OM_HTTP_FLAGS_NONE, 0,
                         cancellable, request_cb, &result);
  g_timeout_add (300, cancel_later_cb, &later);
  wait_result (&result);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (result.finished_at - later.cancelled_at, <, 500 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (test_server_get_count (server, "/limited/cancel"), ==, 1);
  result_clear (&result);
}

static gpointer
cancel_thread (gpointer user_data)
{
  g_usleep (200 * G_TIME_SPAN_MILLISECOND);
  g_cancellable_cancel (user_data);
  return NULL;
}

static void
test_cancel_from_other_thread (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Result result = { 0 }, after = { 0 };
  GThread *thread;

  om_http_request_async (http, "GET", "/delay?ms=5000", NULL, OM_HTTP_FLAGS_NONE, 0,
                         cancellable, request_cb, &result);
  thread = g_thread_new ("canceller", cancel_thread, cancellable);
  wait_result (&result);
  g_thread_join (thread);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &after);
  g_assert_no_error (after.error);
  result_clear (&result);
  result_clear (&after);
}

/* Cancellations racing completions: every request still finishes exactly
 * once, either with its answer or with CANCELLED. */
static void
test_cancel_stress (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result results[60] = { { 0 } };
  GCancellable *cancellables[G_N_ELEMENTS (results)];
  CancelLater laters[G_N_ELEMENTS (results)];
  Result after = { 0 };
  guint n_done = 0;

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_autofree char *path = g_strdup_printf ("/delay?ms=%u", (i * 7) % 40);

      cancellables[i] = g_cancellable_new ();
      laters[i] = (CancelLater) { cancellables[i], 0 };
      om_http_request_async (http, "GET", path, NULL, OM_HTTP_FLAGS_NONE, 0,
                             cancellables[i], request_cb, &results[i]);
      g_timeout_add ((i * 13) % 50, cancel_later_cb, &laters[i]);
    }

  while (n_done < G_N_ELEMENTS (results))
    {
      g_main_context_iteration (NULL, TRUE);
      n_done = 0;
      for (guint i = 0; i < G_N_ELEMENTS (results); i++)
        n_done += results[i].n_callbacks;
    }
  spin (100);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_assert_cmpuint (results[i].n_callbacks, ==, 1);
      if (results[i].error != NULL)
        g_assert_error (results[i].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      else
        g_assert_nonnull (results[i].node);
      result_clear (&results[i]);
      g_object_unref (cancellables[i]);
    }

  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &after);
  g_assert_no_error (after.error);
  result_clear (&after);
}

static void
test_concurrent (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result results[50] = { { 0 } };
  guint n_done = 0;
  gint64 deadline = g_get_monotonic_time () + 20 * G_TIME_SPAN_SECOND;

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    om_http_request_async (http, "GET", "/delay?ms=20", NULL, OM_HTTP_FLAGS_NONE, 0,
                           NULL, request_cb, &results[i]);

  while (n_done < G_N_ELEMENTS (results))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
      n_done = 0;
      for (guint i = 0; i < G_N_ELEMENTS (results); i++)
        n_done += results[i].n_callbacks;
    }

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_assert_no_error (results[i].error);
      g_assert_cmpuint (results[i].status, ==, 200);
      result_clear (&results[i]);
    }
  g_assert_cmpuint (om_http_get_n_requests (http), ==, 50);
  /* curl keeps to its per-host limit. */
  g_assert_cmpuint (om_http_get_n_connections (http), <=, 6);
}

static void
test_connection_reuse (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  guint server_connections = test_server_get_n_connections (server);
  g_autoptr(JsonNode) body = json_from_string ("{\"x\":1}", NULL);

  for (guint i = 0; i < 20; i++)
    {
      Result result = { 0 };

      do_request (http, i % 2 ? "POST" : "GET", "/echo", i % 2 ? body : NULL,
                  OM_HTTP_FLAGS_NONE, 0, &result);
      g_assert_no_error (result.error);
      result_clear (&result);
    }

  g_assert_cmpuint (om_http_get_n_requests (http), ==, 20);
  g_assert_cmpuint (om_http_get_n_connections (http), ==, 1);
  g_assert_cmpuint (test_server_get_n_connections (server) - server_connections, ==, 1);
}

static void
test_no_busy_polling (void)
{
  g_autoptr(OmHttp) http = om_http_new (server->url);
  Result warm = { 0 }, result = { 0 };
  guint n_wakeups;

  /* Connect first, so that only the waiting is measured. */
  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &warm);

  om_http_request_async (http, "GET", "/delay?ms=1000", NULL, OM_HTTP_FLAGS_NONE, 0,
                         NULL, request_cb, &result);
  n_wakeups = wait_result (&result);
  g_assert_no_error (result.error);
  g_test_message ("%u main-loop iterations for a 1 s wait", n_wakeups);
  g_assert_cmpuint (n_wakeups, <, 20);

  result_clear (&warm);
  result_clear (&result);
}

static void
test_finalize_when_idle (void)
{
  OmHttp *http = om_http_new (server->url);
  Result result = { 0 };

  do_request (http, "GET", "/echo", NULL, OM_HTTP_FLAGS_NONE, 0, &result);
  result_clear (&result);
  /* The tasks are gone, so nothing holds the object any more. */
  spin (20);
  g_assert_finalize_object (http);
}

static void
test_escape (void)
{
  static const struct { const char *in, *out; } cases[] = {
    { "@alice:matrix.openmeet.test", "%40alice%3Amatrix.openmeet.test" },
    { "!pSkRCpNNKqbaOuoHtY:matrix.openmeet.test", "%21pSkRCpNNKqbaOuoHtY%3Amatrix.openmeet.test" },
    { "#nosuchroom:matrix.openmeet.test", "%23nosuchroom%3Amatrix.openmeet.test" },
    { "$event/with?odd&chars=+ ", "%24event%2Fwith%3Fodd%26chars%3D%2B%20" },
    { "m.room.message", "m.room.message" },
    { "m1795611823318.33", "m1795611823318.33" },
    { "ünï", "%C3%BCn%C3%AF" },
    { "", "" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *escaped = om_http_escape (cases[i].in);

      g_assert_cmpstr (escaped, ==, cases[i].out);
    }
}

int
main (int   argc,
      char *argv[])
{
  int ret;

  g_test_init (&argc, &argv, NULL);

  server = test_server_new (handler);

  g_test_add_func ("/http/json-round-trip", test_json_round_trip);
  g_test_add_func ("/http/base-url", test_base_url);
  g_test_add_func ("/http/bearer", test_bearer);
  g_test_add_func ("/http/bad-responses", test_bad_responses);
  g_test_add_func ("/http/rate-limit/retry", test_rate_limit_retry);
  g_test_add_func ("/http/rate-limit/retry-after-header", test_rate_limit_header);
  g_test_add_func ("/http/rate-limit/retry-after-date", test_rate_limit_header_date);
  g_test_add_func ("/http/rate-limit/no-retry", test_rate_limit_no_retry);
  g_test_add_func ("/http/rate-limit/gives-up", test_rate_limit_gives_up);
  g_test_add_func ("/http/connection-refused", test_connection_refused);
  g_test_add_func ("/http/host-not-found", test_host_not_found);
  g_test_add_func ("/http/dropped-connection", test_dropped_connection);
  g_test_add_func ("/http/partial-body", test_partial_body);
  g_test_add_func ("/http/too-large", test_too_large);
  g_test_add_func ("/http/timeout", test_timeout);
  g_test_add_func ("/http/cancel/mid-flight", test_cancel_mid_flight);
  g_test_add_func ("/http/cancel/before-start", test_cancel_before_start);
  g_test_add_func ("/http/cancel/from-callback", test_cancel_from_callback);
  g_test_add_func ("/http/cancel/during-retry", test_cancel_during_retry);
  g_test_add_func ("/http/cancel/other-thread", test_cancel_from_other_thread);
  g_test_add_func ("/http/cancel/stress", test_cancel_stress);
  g_test_add_func ("/http/concurrent", test_concurrent);
  g_test_add_func ("/http/connection-reuse", test_connection_reuse);
  g_test_add_func ("/http/no-busy-polling", test_no_busy_polling);
  g_test_add_func ("/http/finalize", test_finalize_when_idle);
  g_test_add_func ("/http/escape", test_escape);

  ret = g_test_run ();

  test_server_free (server);
  return ret;
}
