/* test-sso.c — SSO: redirect URL, loopback listener, pasted URL, and the
 * m.login.token exchange
 *
 * The browser is played by libcurl (easy interface) or blocking GIO
 * sockets in a worker thread while the main thread runs the loop the
 * listener lives on.  The test homeserver does not yet issue login tokens
 * (its SSO is being added), so the successful exchange runs against a
 * small in-test homeserver that answers like Synapse in sso.json; the test
 * homeserver is used for the refusal of a token it never issued.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "test-sso"

#include <curl/curl.h>
#include <gio/gunixsocketaddress.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

#include "om-auth.h"
#include "om-error.h"
#include "om-sso.h"
#include "om-test-hs.h"

#define WAIT_MS 20000

/* Every token a test hands out, and the log lines everything wrote. */
static GPtrArray *secrets;
static GPtrArray *captured;
static GMutex     captured_lock;

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
  g_mutex_lock (&captured_lock);
  g_ptr_array_add (captured, g_string_free (line, FALSE));
  g_mutex_unlock (&captured_lock);

  if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return g_log_writer_default (log_level, fields, n_fields, user_data);
  return G_LOG_WRITER_HANDLED;
}

/* A token for this test, remembered so that the logs can be searched for it. */
static const char *
secret (const char *token)
{
  g_ptr_array_add (secrets, g_strdup (token));
  return g_ptr_array_index (secrets, secrets->len - 1);
}

static void
assert_no_secret_logged (void)
{
  g_mutex_lock (&captured_lock);
  for (guint i = 0; i < captured->len; i++)
    for (guint j = 0; j < secrets->len; j++)
      if (strstr (g_ptr_array_index (captured, i), g_ptr_array_index (secrets, j)) != NULL)
        g_error ("a secret was logged: %s", (const char *) g_ptr_array_index (captured, i));
  g_mutex_unlock (&captured_lock);
}

static gboolean
captured_contains (const char *text)
{
  gboolean found = FALSE;

  g_mutex_lock (&captured_lock);
  for (guint i = 0; i < captured->len && !found; i++)
    found = strstr (g_ptr_array_index (captured, i), text) != NULL;
  g_mutex_unlock (&captured_lock);
  return found;
}

static gboolean
flag_set (gpointer user_data)
{
  return g_atomic_int_get ((gint *) user_data) != 0;
}

/* ---- the browser: libcurl in a thread ---------------------------------- */

typedef struct
{
  char     *url;        /* owned */
  char     *method;     /* owned, nullable: GET */
  gboolean  follow;     /* follow redirects */
  long      status;
  char     *body;       /* owned */
  char     *headers;    /* owned */
  char     *final_url;  /* owned */
  CURLcode  code;
  gint      done;
} Browser;

static size_t
append_cb (char   *data,
           size_t  size,
           size_t  n,
           void   *user_data)
{
  g_string_append_len (user_data, data, size * n);
  return size * n;
}

static gpointer
browser_thread (gpointer user_data)
{
  Browser *b = user_data;
  CURL *easy = curl_easy_init ();
  GString *body = g_string_new (NULL);
  GString *headers = g_string_new (NULL);
  char *final_url = NULL;

  curl_easy_setopt (easy, CURLOPT_URL, b->url);
  curl_easy_setopt (easy, CURLOPT_NOPROXY, "*");
  curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, 15000L);
  curl_easy_setopt (easy, CURLOPT_FOLLOWLOCATION, b->follow ? 1L : 0L);
  if (b->method != NULL)
    curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, b->method);
  curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, append_cb);
  curl_easy_setopt (easy, CURLOPT_WRITEDATA, body);
  curl_easy_setopt (easy, CURLOPT_HEADERFUNCTION, append_cb);
  curl_easy_setopt (easy, CURLOPT_HEADERDATA, headers);
  b->code = curl_easy_perform (easy);
  curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &b->status);
  curl_easy_getinfo (easy, CURLINFO_EFFECTIVE_URL, &final_url);
  b->final_url = g_strdup (final_url);
  curl_easy_cleanup (easy);

  b->body = g_string_free (body, FALSE);
  b->headers = g_string_free (headers, FALSE);
  g_atomic_int_set (&b->done, 1);
  return NULL;
}

static Browser *
browser_open (const char *url,
              const char *method,
              gboolean    follow)
{
  Browser *b = g_new0 (Browser, 1);

  b->url = g_strdup (url);
  b->method = g_strdup (method);
  b->follow = follow;
  g_thread_unref (g_thread_new ("browser", browser_thread, b));
  return b;
}

static void
browser_wait (Browser *b)
{
  g_assert_true (om_test_wait_until (flag_set, &b->done, WAIT_MS));
}

static void
browser_free (Browser *b)
{
  g_free (b->url);
  g_free (b->method);
  g_free (b->body);
  g_free (b->headers);
  g_free (b->final_url);
  g_free (b);
}

/* ---- waiting on a listener --------------------------------------------- */

typedef struct
{
  gint     done;
  char    *token;
  GError  *error;
  gint64   finished_at;
} Wait;

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Wait *w = user_data;

  g_assert_false (g_atomic_int_get (&w->done));
  w->token = om_sso_listener_wait_finish (OM_SSO_LISTENER (source), result, &w->error);
  g_assert_true ((w->token == NULL) != (w->error == NULL));
  w->finished_at = g_get_monotonic_time ();
  g_atomic_int_set (&w->done, 1);
}

static void
wait_finish (Wait *w)
{
  g_assert_true (om_test_wait_until (flag_set, &w->done, WAIT_MS));
}

static void
wait_clear (Wait *w)
{
  g_clear_pointer (&w->token, g_free);
  g_clear_error (&w->error);
}

/* The redirect URL with the homeserver's loginToken appended, as Synapse does. */
static char *
callback_url (OmSsoListener *listener,
              const char    *escaped_token)
{
  return g_strdup_printf ("%s&loginToken=%s", om_sso_listener_get_redirect_url (listener),
                          escaped_token);
}

static gboolean
port_accepts (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  if (connection == NULL)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  return connection != NULL;
}

/* ---- redirect URL ------------------------------------------------------ */

typedef struct
{
  const char *homeserver;
  const char *idp_id;
  const char *redirect;
  const char *expected;
} RedirectCase;

static const RedirectCase redirect_cases[] = {
  /* The exact request Synapse 1.94 answered with 302 in sso.json. */
  { "http://127.0.0.1:8018", "oidc-openmeet", "http://127.0.0.1:5555/cb",
    "http://127.0.0.1:8018/_matrix/client/v3/login/sso/redirect/oidc-openmeet"
    "?redirectUrl=http%3A%2F%2F127.0.0.1%3A5555%2Fcb" },
  { "https://matrix.example.org/", NULL, "http://127.0.0.1:5555/cb",
    "https://matrix.example.org/_matrix/client/v3/login/sso/redirect"
    "?redirectUrl=http%3A%2F%2F127.0.0.1%3A5555%2Fcb" },
  { "https://matrix.example.org//", "", "http://127.0.0.1:5555/cb",
    "https://matrix.example.org/_matrix/client/v3/login/sso/redirect"
    "?redirectUrl=http%3A%2F%2F127.0.0.1%3A5555%2Fcb" },
  { "https://matrix.example.org", "oidc/open meet?&", "http://127.0.0.1:4242/sso-callback?state=a-b_c~d.e&x=1",
    "https://matrix.example.org/_matrix/client/v3/login/sso/redirect/oidc%2Fopen%20meet%3F%26"
    "?redirectUrl=http%3A%2F%2F127.0.0.1%3A4242%2Fsso-callback%3Fstate%3Da-b_c~d.e%26x%3D1" },
  { "https://matrix.example.org", "saml", "http://127.0.0.1:1/é#f+g",
    "https://matrix.example.org/_matrix/client/v3/login/sso/redirect/saml"
    "?redirectUrl=http%3A%2F%2F127.0.0.1%3A1%2F%C3%A9%23f%2Bg" },
};

static void
test_redirect_url (gconstpointer data)
{
  const RedirectCase *c = data;
  g_autofree char *url = om_sso_build_redirect_url (c->homeserver, c->idp_id, c->redirect);

  g_assert_cmpstr (url, ==, c->expected);
}

static void
test_state (void)
{
  g_autoptr(GRegex) shape = g_regex_new ("^[A-Za-z0-9_-]{22}$", 0, 0, NULL);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 64; i++)
    {
      char *state = om_sso_new_state ();

      g_assert_true (g_regex_match (shape, state, 0, NULL));
      g_assert_true (g_hash_table_add (seen, state));
    }
}

/* ---- the listener ------------------------------------------------------ */

static void
test_listener_shape (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(OmSsoListener) listener = om_sso_listener_new (&error);
  g_autoptr(GRegex) shape = g_regex_new ("^http://127\\.0\\.0\\.1:([0-9]+)/sso-callback\\?state=([A-Za-z0-9_-]{22})$",
                                         0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree char *port = NULL;
  g_autofree char *state = NULL;
  g_autoptr(OmSsoListener) other = om_sso_listener_new (NULL);

  g_assert_no_error (error);
  g_assert_true (g_regex_match (shape, om_sso_listener_get_redirect_url (listener), 0, &match));
  port = g_match_info_fetch (match, 1);
  state = g_match_info_fetch (match, 2);
  g_assert_cmpuint (om_sso_listener_get_port (listener), ==, g_ascii_strtoull (port, NULL, 10));
  g_assert_cmpuint (om_sso_listener_get_port (listener), !=, 0);
  g_assert_cmpstr (om_sso_listener_get_state (listener), ==, state);
  g_assert_cmpuint (om_sso_listener_get_timeout_ms (listener), ==, 5 * 60 * 1000);

  /* Each listener its own port and state. */
  g_assert_cmpuint (om_sso_listener_get_port (other), !=, om_sso_listener_get_port (listener));
  g_assert_cmpstr (om_sso_listener_get_state (other), !=, state);
}

typedef struct
{
  const char *name;
  const char *escaped;    /* as the homeserver puts it in the URL */
  const char *token;      /* what the listener must return */
} TokenCase;

static const TokenCase token_cases[] = {
  { "plain", "syl_SsoHappyPathToken_aaaaaaaa", "syl_SsoHappyPathToken_aaaaaaaa" },
  { "escaped", "syl_SsoEscaped%2Bplus%2Fslash%3D%3D", "syl_SsoEscaped+plus/slash==" },
};

static void
test_listener_ok (gconstpointer data)
{
  const TokenCase *c = data;
  g_autoptr(GError) error = NULL;
  OmSsoListener *listener = om_sso_listener_new (&error);
  g_autofree char *url = NULL;
  Wait w = { 0 };
  Browser *b;

  g_assert_no_error (error);
  secret (c->token);
  secret (c->escaped);
  om_sso_listener_wait_async (listener, NULL, wait_cb, &w);
  url = callback_url (listener, c->escaped);
  b = browser_open (url, NULL, FALSE);
  browser_wait (b);
  wait_finish (&w);

  g_assert_cmpint (b->code, ==, CURLE_OK);
  g_assert_cmpint (b->status, ==, 200);
  g_assert_nonnull (strstr (b->body, "You are signed in to OpenMeet Chat; you can close this tab."));
  g_assert_nonnull (strstr (b->headers, "Cache-Control: no-store"));
  g_assert_nonnull (strstr (b->headers, "Referrer-Policy: no-referrer"));
  g_assert_no_error (w.error);
  g_assert_cmpstr (w.token, ==, c->token);

  /* One use: the port is closed, and waiting again says so. */
  g_assert_false (port_accepts (om_sso_listener_get_port (listener)));
  wait_clear (&w);
  w.done = 0;
  om_sso_listener_wait_async (listener, NULL, wait_cb, &w);
  wait_finish (&w);
  g_assert_error (w.error, G_IO_ERROR, G_IO_ERROR_CLOSED);

  wait_clear (&w);
  browser_free (b);
  /* The cancelled accept still holds the listener until its callback runs. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_finalize_object (listener);
  assert_no_secret_logged ();
}

typedef struct
{
  const char *name;
  const char *method;
  const char *path;      /* after http://127.0.0.1:<port>; %s is the right state */
  long        status;
} BadCase;

static const BadCase bad_cases[] = {
  { "wrong-state", "GET", "/sso-callback?state=AAAAAAAAAAAAAAAAAAAAAA&loginToken=syl_BadCaseToken1", 400 },
  { "state-prefix", "GET", "/sso-callback?state=%.10s&loginToken=syl_BadCaseToken2", 400 },
  { "no-state", "GET", "/sso-callback?loginToken=syl_BadCaseToken3", 400 },
  { "two-states", "GET", "/sso-callback?state=%1$s&state=%1$s&loginToken=syl_BadCaseToken4", 400 },
  { "no-token", "GET", "/sso-callback?state=%s", 400 },
  { "empty-token", "GET", "/sso-callback?state=%s&loginToken=", 400 },
  { "two-tokens", "GET", "/sso-callback?state=%s&loginToken=syl_BadCaseToken5&loginToken=syl_BadCaseToken6", 400 },
  { "wrong-path", "GET", "/favicon.ico?state=%s&loginToken=syl_BadCaseToken7", 404 },
  { "post", "POST", "/sso-callback?state=%s&loginToken=syl_BadCaseToken8", 405 },
};

static void
test_listener_bad_request (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr(OmSsoListener) listener = om_sso_listener_new (NULL);
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;
  Wait w = { 0 };
  Browser *b;

  secret ("syl_BadCaseToken");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  path = g_strdup_printf (c->path, om_sso_listener_get_state (listener));
#pragma GCC diagnostic pop
  url = g_strdup_printf ("http://127.0.0.1:%u%s", om_sso_listener_get_port (listener), path);

  om_sso_listener_wait_async (listener, NULL, wait_cb, &w);
  b = browser_open (url, c->method, FALSE);
  browser_wait (b);
  wait_finish (&w);

  g_assert_cmpint (b->code, ==, CURLE_OK);
  g_assert_cmpint (b->status, ==, c->status);
  g_assert_nonnull (strstr (b->body, "Sign-in failed"));
  g_assert_null (strstr (b->body, "close this tab"));
  g_assert_null (w.token);
  g_assert_error (w.error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_false (port_accepts (om_sso_listener_get_port (listener)));

  wait_clear (&w);
  browser_free (b);
  assert_no_secret_logged ();
}

/* Raw connections: two opened at once, requests sent one after the other. */
typedef struct
{
  guint16  port;
  char    *first;           /* owned: the first request */
  char    *second;          /* owned: the second, on the other connection */
  char    *first_answer;    /* owned */
  char    *second_answer;   /* owned, NULL if the connection was dropped */
  gboolean third_refused;
  gint     done;
} Pair;

static char *
read_all (GSocketConnection *connection)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GString *answer = g_string_new (NULL);
  char buf[1024];
  gssize n;

  while ((n = g_input_stream_read (input, buf, sizeof buf, NULL, NULL)) > 0)
    g_string_append_len (answer, buf, n);
  return g_string_free (answer, answer->len == 0);
}

static gpointer
pair_thread (gpointer user_data)
{
  Pair *p = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) a = NULL;
  g_autoptr(GSocketConnection) b = NULL;
  g_autoptr(GSocketConnection) c = NULL;
  GOutputStream *output;

  a = g_socket_client_connect_to_host (client, "127.0.0.1", p->port, NULL, NULL);
  b = g_socket_client_connect_to_host (client, "127.0.0.1", p->port, NULL, NULL);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  /* Time for the main loop to accept both, as a browser's spare connection would be. */
  g_usleep (300 * 1000);

  output = g_io_stream_get_output_stream (G_IO_STREAM (a));
  g_assert_true (g_output_stream_write_all (output, p->first, strlen (p->first), NULL, NULL, NULL));
  p->first_answer = read_all (a);

  output = g_io_stream_get_output_stream (G_IO_STREAM (b));
  g_output_stream_write_all (output, p->second, strlen (p->second), NULL, NULL, NULL);
  p->second_answer = read_all (b);

  c = g_socket_client_connect_to_host (client, "127.0.0.1", p->port, NULL, NULL);
  p->third_refused = c == NULL;

  g_atomic_int_set (&p->done, 1);
  return NULL;
}

static void
test_listener_second_request (void)
{
  g_autoptr(OmSsoListener) listener = om_sso_listener_new (NULL);
  const char *state = om_sso_listener_get_state (listener);
  Pair p = { 0 };
  Wait w = { 0 };

  secret ("syl_FirstRequestToken");
  secret ("syl_SecondRequestToken");
  p.port = om_sso_listener_get_port (listener);
  p.first = g_strdup_printf ("GET /sso-callback?state=%s&loginToken=syl_FirstRequestToken HTTP/1.1\r\n"
                             "Host: 127.0.0.1:%u\r\n\r\n", state, p.port);
  p.second = g_strdup_printf ("GET /sso-callback?state=%s&loginToken=syl_SecondRequestToken HTTP/1.1\r\n"
                              "Host: 127.0.0.1:%u\r\n\r\n", state, p.port);

  om_sso_listener_wait_async (listener, NULL, wait_cb, &w);
  g_thread_unref (g_thread_new ("pair", pair_thread, &p));
  g_assert_true (om_test_wait_until (flag_set, &p.done, WAIT_MS));
  wait_finish (&w);

  g_assert_cmpstr (w.token, ==, "syl_FirstRequestToken");
  g_assert_true (g_str_has_prefix (p.first_answer, "HTTP/1.1 200 "));
  /* The second request is answered with an error and changes nothing. */
  g_assert_nonnull (p.second_answer);
  g_assert_true (g_str_has_prefix (p.second_answer, "HTTP/1.1 410 "));
  g_assert_nonnull (strstr (p.second_answer, "used already"));
  /* A later connection finds the port closed. */
  g_assert_true (p.third_refused);

  g_free (p.first);
  g_free (p.second);
  g_free (p.first_answer);
  g_free (p.second_answer);
  wait_clear (&w);
  assert_no_secret_logged ();
}

/* A spare connection that never sends anything must not block the real one. */
typedef struct
{
  guint16 port;
  gint    done;
  GSocketConnection *idle;  /* owned */
} Idle;

static gpointer
idle_thread (gpointer user_data)
{
  Idle *i = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  i->idle = g_socket_client_connect_to_host (client, "127.0.0.1", i->port, NULL, NULL);
  g_atomic_int_set (&i->done, 1);
  return NULL;
}

static void
test_listener_idle_connection (void)
{
  g_autoptr(OmSsoListener) listener = om_sso_listener_new (NULL);
  g_autofree char *url = NULL;
  Idle idle = { 0 };
  Wait w = { 0 };
  Browser *b;

  secret ("syl_AfterIdleToken");
  idle.port = om_sso_listener_get_port (listener);
  g_thread_unref (g_thread_new ("idle", idle_thread, &idle));
  g_assert_true (om_test_wait_until (flag_set, &idle.done, WAIT_MS));
  g_assert_nonnull (idle.idle);

  om_sso_listener_wait_async (listener, NULL, wait_cb, &w);
  url = callback_url (listener, "syl_AfterIdleToken");
  b = browser_open (url, NULL, FALSE);
  browser_wait (b);
  wait_finish (&w);
  g_assert_cmpint (b->status, ==, 200);
  g_assert_cmpstr (w.token, ==, "syl_AfterIdleToken");

  g_clear_object (&idle.idle);
  wait_clear (&w);
  browser_free (b);
}

static void
test_listener_timeout (void)
{
  g_autoptr(OmSsoListener) listener = om_sso_listener_new (NULL);
  gint64 started;
  Wait w = { 0 };

  om_sso_listener_set_timeout_ms (listener, 300);
  started = g_get_monotonic_time ();
  om_sso_listener_wait_async (listener, NULL, wait_cb, &w);
  wait_finish (&w);

  g_assert_error (w.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_null (w.token);
  g_assert_cmpint (w.finished_at - started, >=, 290 * 1000);
  g_assert_cmpint (w.finished_at - started, <, 5 * G_USEC_PER_SEC);
  g_assert_false (port_accepts (om_sso_listener_get_port (listener)));
  wait_clear (&w);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_listener_cancel (void)
{
  g_autoptr(OmSsoListener) listener = om_sso_listener_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GCancellable) cancelled = g_cancellable_new ();
  g_autoptr(OmSsoListener) other = om_sso_listener_new (NULL);
  gint64 started;
  Wait w = { 0 };

  started = g_get_monotonic_time ();
  om_sso_listener_wait_async (listener, cancellable, wait_cb, &w);
  g_timeout_add (50, cancel_cb, cancellable);
  wait_finish (&w);
  g_assert_error (w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (w.finished_at - started, <, 5 * G_USEC_PER_SEC);
  g_assert_false (port_accepts (om_sso_listener_get_port (listener)));
  wait_clear (&w);

  /* Cancelled before it starts. */
  g_cancellable_cancel (cancelled);
  w.done = 0;
  om_sso_listener_wait_async (other, cancelled, wait_cb, &w);
  wait_finish (&w);
  g_assert_error (w.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  wait_clear (&w);
}

/* ---- peers that are not loopback --------------------------------------- */

typedef struct
{
  const char *address;
  gboolean    loopback;
} PeerCase;

static const PeerCase peer_cases[] = {
  { "127.0.0.1", TRUE },
  { "127.0.0.2", TRUE },
  { "127.255.255.254", TRUE },
  { "::1", TRUE },
  { "192.0.2.2", FALSE },
  { "10.0.0.1", FALSE },
  { "0.0.0.0", FALSE },
  { "128.0.0.1", FALSE },
  { "::", FALSE },
  { "fe80::1", FALSE },
  { "::ffff:192.168.1.1", FALSE },
};

static void
test_peer_check (void)
{
  g_autoptr(GSocketAddress) unix_address = g_unix_socket_address_new ("/tmp/om-sso-test");

  for (gsize i = 0; i < G_N_ELEMENTS (peer_cases); i++)
    {
      g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string (peer_cases[i].address, 4242);

      g_assert_nonnull (address);
      if (om_sso_address_is_loopback (address) != peer_cases[i].loopback)
        g_error ("%s: expected loopback=%d", peer_cases[i].address, peer_cases[i].loopback);
    }
  g_assert_false (om_sso_address_is_loopback (unix_address));
  g_assert_false (om_sso_address_is_loopback (NULL));
}

/* A local IPv4 address that is not loopback (eth0's), or NULL. */
static char *
find_non_loopback_address (void)
{
  struct ifaddrs *list = NULL;
  char *found = NULL;

  if (getifaddrs (&list) != 0)
    return NULL;
  for (struct ifaddrs *ifa = list; ifa != NULL && found == NULL; ifa = ifa->ifa_next)
    {
      g_autoptr(GInetAddress) address = NULL;

      if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET)
        continue;
      address = g_inet_address_new_from_bytes ((guint8 *) &((struct sockaddr_in *) ifa->ifa_addr)->sin_addr,
                                               G_SOCKET_FAMILY_IPV4);
      if (!g_inet_address_get_is_loopback (address))
        found = g_inet_address_to_string (address);
    }
  freeifaddrs (list);
  return found;
}

typedef struct
{
  const char *source;   /* local address to connect from */
  guint16     port;
  char       *request;  /* owned */
  char       *answer;   /* owned, NULL: dropped */
  gboolean    connected;
  gint        done;
} Foreign;

static gpointer
foreign_thread (gpointer user_data)
{
  Foreign *f = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GInetAddress) source = g_inet_address_new_from_string (f->source);
  g_autoptr(GSocketAddress) local = g_inet_socket_address_new (source, 0);
  g_autoptr(GSocketConnection) connection = NULL;

  g_socket_client_set_local_address (client, local);
  connection = g_socket_client_connect_to_host (client, "127.0.0.1", f->port, NULL, NULL);
  f->connected = connection != NULL;
  if (connection != NULL)
    {
      GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (connection));

      g_output_stream_write_all (output, f->request, strlen (f->request), NULL, NULL, NULL);
      f->answer = read_all (connection);
    }
  g_atomic_int_set (&f->done, 1);
  return NULL;
}

static void
test_listener_foreign_peer (void)
{
  g_autofree char *source = find_non_loopback_address ();
  g_autoptr(OmSsoListener) listener = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *url = NULL;
  Foreign f = { 0 };
  Wait w = { 0 };
  Browser *b;

  if (source == NULL)
    {
      g_test_skip ("this machine has no IPv4 address besides loopback to connect from");
      return;
    }

  listener = om_sso_listener_new (NULL);
  secret ("syl_ForeignPeerToken");
  secret ("syl_LoopbackAfterForeign");

  /* Bound to 127.0.0.1 only: the port is closed on the other address. */
  {
    g_autoptr(GSocketClient) client = g_socket_client_new ();
    g_autoptr(GSocketConnection) connection = NULL;
    g_autoptr(GError) error = NULL;

    connection = g_socket_client_connect_to_host (client, source, om_sso_listener_get_port (listener),
                                                  NULL, &error);
    g_assert_null (connection);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  }

  /* A connection to 127.0.0.1 whose source is eth0's address: the kernel
   * routes it over lo, and the peer check must drop it unanswered. */
  om_sso_listener_wait_async (listener, cancellable, wait_cb, &w);
  f.source = source;
  f.port = om_sso_listener_get_port (listener);
  f.request = g_strdup_printf ("GET /sso-callback?state=%s&loginToken=syl_ForeignPeerToken HTTP/1.1\r\n"
                               "Host: 127.0.0.1:%u\r\n\r\n", om_sso_listener_get_state (listener), f.port);
  g_thread_unref (g_thread_new ("foreign", foreign_thread, &f));
  g_assert_true (om_test_wait_until (flag_set, &f.done, WAIT_MS));
  if (!f.connected)
    {
      g_free (f.request);
      g_cancellable_cancel (cancellable);
      wait_finish (&w);
      wait_clear (&w);
      g_test_skip ("the kernel refused a connection from a non-loopback source to 127.0.0.1");
      return;
    }
  g_assert_null (f.answer);
  g_assert_false (g_atomic_int_get (&w.done));

  /* The listener is still waiting for the real browser. */
  url = callback_url (listener, "syl_LoopbackAfterForeign");
  b = browser_open (url, NULL, FALSE);
  browser_wait (b);
  wait_finish (&w);
  g_assert_cmpint (b->status, ==, 200);
  g_assert_cmpstr (w.token, ==, "syl_LoopbackAfterForeign");

  g_free (f.request);
  wait_clear (&w);
  browser_free (b);
  assert_no_secret_logged ();
}

/* ---- pasted URL -------------------------------------------------------- */

#define STATE "Zm9vYmFyYmF6cXV4cXV1eA"

typedef struct
{
  const char *name;
  const char *url;
  const char *expected_state;
  const char *token;          /* NULL: an error is expected */
  const char *message;        /* part of the error message */
} PasteCase;

static const PasteCase paste_cases[] = {
  { "listener-url", "http://127.0.0.1:5555/sso-callback?state=" STATE "&loginToken=syl_PasteTok1",
    STATE, "syl_PasteTok1", NULL },
  { "whitespace", "  \thttp://127.0.0.1:5555/sso-callback?state=" STATE "&loginToken=syl_PasteTok1 \r\n",
    STATE, "syl_PasteTok1", NULL },
  { "wrapped", "http://127.0.0.1:5555/sso-callback?sta\nte=" STATE "&login\r\nToken=syl_Paste\nTok1",
    STATE, "syl_PasteTok1", NULL },
  { "fragment", "http://127.0.0.1:5555/sso-callback?loginToken=syl_PasteTok1&state=" STATE "#/home?loginToken=x",
    STATE, "syl_PasteTok1", NULL },
  { "other-params", "http://127.0.0.1:5555/sso-callback?foo=bar&x&loginToken=syl_PasteTok1&state=" STATE "&y=",
    STATE, "syl_PasteTok1", NULL },
  { "escaped", "http://127.0.0.1:5555/sso-callback?state=" STATE "&loginToken=syl_a%2Bb%2Fc%3D",
    STATE, "syl_a+b/c=", NULL },
  /* Synapse's own shape (sso.json), with no state to check. */
  { "synapse-no-state", "http://127.0.0.1:5555/cb?loginToken=syl_PasteTok2", NULL, "syl_PasteTok2", NULL },
  { "no-scheme", "127.0.0.1:5555/cb?loginToken=syl_PasteTok3", NULL, "syl_PasteTok3", NULL },
  { "no-token", "http://127.0.0.1:5555/sso-callback?state=" STATE, STATE, NULL, "no login token" },
  { "no-query", "http://127.0.0.1:5555/sso-callback", NULL, NULL, "no login token" },
  { "token-in-fragment", "http://127.0.0.1:5555/cb#loginToken=syl_PasteTok4", NULL, NULL, "no login token" },
  { "token-lookalike", "http://127.0.0.1:5555/cb?xloginToken=syl_PasteTok4", NULL, NULL, "no login token" },
  { "empty-token", "http://127.0.0.1:5555/cb?loginToken=&state=" STATE, STATE, NULL, "damaged" },
  { "two-tokens", "http://127.0.0.1:5555/cb?loginToken=syl_PasteTok5&loginToken=syl_PasteTok6", NULL, NULL, "damaged" },
  { "bad-escape", "http://127.0.0.1:5555/cb?loginToken=syl_PasteTok7%zz", NULL, NULL, "damaged" },
  { "wrong-state", "http://127.0.0.1:5555/sso-callback?state=AAAAAAAAAAAAAAAAAAAAAA&loginToken=syl_PasteTok8",
    STATE, NULL, "another sign-in" },
  { "missing-state", "http://127.0.0.1:5555/sso-callback?loginToken=syl_PasteTok9", STATE, NULL, "another sign-in" },
  { "state-prefix", "http://127.0.0.1:5555/sso-callback?state=Zm9vYmFy&loginToken=syl_PasteTok9", STATE, NULL,
    "another sign-in" },
  { "empty", "", NULL, NULL, "Nothing was pasted" },
  { "blank", " \n\t ", NULL, NULL, "Nothing was pasted" },
};

static void
test_paste (gconstpointer data)
{
  const PasteCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = om_sso_parse_pasted_url (c->url, c->expected_state, &error);

  if (c->token != NULL)
    {
      g_assert_no_error (error);
      g_assert_cmpstr (token, ==, c->token);
      return;
    }

  g_assert_null (token);
  g_assert_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, c->message));
  g_assert_null (strstr (error->message, "syl_"));
}

/* ---- a homeserver that issues login tokens, as Synapse does ------------ */

typedef struct
{
  GSocketListener *listener;      /* owned */
  GCancellable    *cancellable;   /* owned */
  GThread         *thread;        /* owned */
  char            *url;           /* owned */
  char            *login_token;   /* owned: the one valid token, until used */
  JsonNode        *login_answer;  /* owned: sso.json's answer to POST /login */
  GMutex           lock;
  GPtrArray       *login_bodies;  /* owned, of char*: the bodies of POST /login */
} FakeHs;

static JsonNode *
transcript_answer (const char *file,
                   const char *step)
{
  g_autofree char *path = g_build_filename (g_getenv ("OM_TEST_TRANSCRIPTS"), file, NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonArray *steps;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  steps = json_node_get_array (json_parser_get_root (parser));
  for (guint i = 0; i < json_array_get_length (steps); i++)
    {
      JsonObject *exchange = json_array_get_object_element (steps, i);

      if (g_str_equal (json_object_get_string_member (exchange, "step"), step))
        return json_node_copy (json_object_get_member (exchange, "response_body"));
    }
  g_error ("%s has no step “%s”", file, step);
}

static void
fake_reply (GOutputStream *output,
            guint          status,
            const char    *extra_headers,
            const char    *json)
{
  g_autofree char *text = g_strdup_printf ("HTTP/1.1 %u X\r\nContent-Type: application/json\r\n"
                                           "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
                                           status, strlen (json), extra_headers, json);

  g_output_stream_write_all (output, text, strlen (text), NULL, NULL, NULL);
}

static void
fake_serve (FakeHs            *hs,
            GSocketConnection *connection)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_autoptr(GString) request = g_string_new (NULL);
  g_auto(GStrv) line = NULL;
  const char *head_end;
  const char *length_header;
  gsize body_len = 0;
  char buf[4096];
  gssize n;

  while ((head_end = strstr (request->str, "\r\n\r\n")) == NULL)
    {
      n = g_input_stream_read (input, buf, sizeof buf, NULL, NULL);
      if (n <= 0)
        return;
      g_string_append_len (request, buf, n);
    }
  length_header = g_strstr_len (request->str, head_end - request->str, "ontent-Length: ");
  if (length_header != NULL)
    body_len = g_ascii_strtoull (length_header + strlen ("ontent-Length: "), NULL, 10);
  while (request->len < (gsize) (head_end + 4 - request->str) + body_len)
    {
      gsize head_offset = head_end - request->str;

      n = g_input_stream_read (input, buf, sizeof buf, NULL, NULL);
      if (n <= 0)
        return;
      g_string_append_len (request, buf, n);
      head_end = request->str + head_offset;
    }

  line = g_strsplit (request->str, " ", 3);

  if (g_str_equal (line[0], "POST") && g_str_equal (line[1], "/_matrix/client/v3/login"))
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *body;
      const char *token;
      gboolean valid;

      json_parser_load_from_data (parser, head_end + 4, body_len, NULL);
      body = json_node_get_object (json_parser_get_root (parser));
      token = json_object_get_string_member_with_default (body, "token", "");

      g_mutex_lock (&hs->lock);
      g_ptr_array_add (hs->login_bodies, g_strndup (head_end + 4, body_len));
      valid = g_str_equal (json_object_get_string_member_with_default (body, "type", ""), "m.login.token") &&
              hs->login_token != NULL && g_str_equal (token, hs->login_token);
      if (valid)
        g_clear_pointer (&hs->login_token, g_free);  /* single use, as in Synapse */
      g_mutex_unlock (&hs->lock);

      if (valid)
        {
          g_autofree char *json = json_to_string (hs->login_answer, FALSE);
          fake_reply (output, 200, "", json);
        }
      else
        fake_reply (output, 403, "", "{\"errcode\":\"M_FORBIDDEN\",\"error\":\"Invalid login token\"}");
    }
  else if (g_str_equal (line[0], "GET") &&
           g_str_has_prefix (line[1], "/_matrix/client/v3/login/sso/redirect/oidc-openmeet?redirectUrl="))
    {
      /* Synapse sends the browser through the provider and back to
       * redirectUrl with the token; the provider hop is left out here. */
      const char *escaped = line[1] + strlen ("/_matrix/client/v3/login/sso/redirect/oidc-openmeet?redirectUrl=");
      g_autofree char *redirect = g_uri_unescape_string (escaped, NULL);
      g_autofree char *location = NULL;

      g_mutex_lock (&hs->lock);
      location = g_strdup_printf ("Location: %s%cloginToken=%s\r\n", redirect,
                                  strchr (redirect, '?') != NULL ? '&' : '?', hs->login_token);
      g_mutex_unlock (&hs->lock);
      fake_reply (output, 302, location, "{}");
    }
  else
    fake_reply (output, 404, "", "{\"errcode\":\"M_UNRECOGNIZED\",\"error\":\"Unrecognized request\"}");
}

static gpointer
fake_thread (gpointer user_data)
{
  FakeHs *hs = user_data;

  while (TRUE)
    {
      g_autoptr(GSocketConnection) connection = NULL;

      connection = g_socket_listener_accept (hs->listener, NULL, hs->cancellable, NULL);
      if (connection == NULL)
        return NULL;
      fake_serve (hs, connection);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    }
}

static FakeHs *
fake_hs_start (const char *login_token)
{
  FakeHs *hs = g_new0 (FakeHs, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  hs->listener = g_socket_listener_new ();
  g_socket_listener_add_address (hs->listener, address, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  hs->url = g_strdup_printf ("http://127.0.0.1:%u",
                             g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective)));
  hs->cancellable = g_cancellable_new ();
  hs->login_token = g_strdup (login_token);
  hs->login_answer = transcript_answer ("sso.json", "POST login m.login.token");
  json_object_set_string_member (json_node_get_object (hs->login_answer), "access_token",
                                 secret ("syt_ZmFrZQ_SsoAccessTokenSecret_0000"));
  hs->login_bodies = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&hs->lock);
  hs->thread = g_thread_new ("fake-hs", fake_thread, hs);
  return hs;
}

static void
fake_hs_free (FakeHs *hs)
{
  g_cancellable_cancel (hs->cancellable);
  g_thread_join (hs->thread);
  g_socket_listener_close (hs->listener);
  g_object_unref (hs->listener);
  g_object_unref (hs->cancellable);
  g_free (hs->url);
  g_free (hs->login_token);
  json_node_unref (hs->login_answer);
  g_ptr_array_unref (hs->login_bodies);
  g_mutex_clear (&hs->lock);
  g_free (hs);
}

static JsonObject *
fake_hs_login_body (FakeHs *hs,
                    guint   index)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object;

  g_mutex_lock (&hs->lock);
  g_assert_cmpuint (index, <, hs->login_bodies->len);
  json_parser_load_from_data (parser, g_ptr_array_index (hs->login_bodies, index), -1, NULL);
  g_mutex_unlock (&hs->lock);
  object = json_node_get_object (json_parser_get_root (parser));
  return json_object_ref (object);
}

typedef struct
{
  gint           done;
  OmLoginResult *login;
  GError        *error;
} Login;

static void
sso_login_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Login *l = user_data;

  l->login = om_sso_login_finish (result, &l->error);
  g_assert_true ((l->login == NULL) != (l->error == NULL));
  g_atomic_int_set (&l->done, 1);
}

static void
token_login_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Login *l = user_data;

  l->login = om_auth_login_finish (result, &l->error);
  g_assert_true ((l->login == NULL) != (l->error == NULL));
  g_atomic_int_set (&l->done, 1);
}

static void
login_clear (Login *l)
{
  g_clear_pointer (&l->login, om_login_result_free);
  g_clear_error (&l->error);
  l->done = 0;
}

/* Browser → homeserver's SSO redirect → loopback listener → POST /login. */
static void
test_flow_loopback (void)
{
  const char *login_token = secret ("syl_ZGF2ZQ_SsoLoginTokenSecret_1111");
  FakeHs *hs = fake_hs_start (login_token);
  g_autoptr(OmHttp) http = om_http_new (hs->url);
  g_autoptr(OmSsoListener) listener = om_sso_listener_new (NULL);
  g_autofree char *url = om_sso_build_redirect_url (hs->url, "oidc-openmeet",
                                                    om_sso_listener_get_redirect_url (listener));
  g_autoptr(JsonObject) body = NULL;
  Login l = { 0 };
  Browser *b;

  om_sso_login_async (http, listener, NULL, "OpenMeet Chat (test)", NULL, sso_login_cb, &l);
  b = browser_open (url, NULL, TRUE);
  browser_wait (b);
  g_assert_true (om_test_wait_until (flag_set, &l.done, WAIT_MS));

  g_assert_cmpint (b->code, ==, CURLE_OK);
  g_assert_cmpint (b->status, ==, 200);
  g_assert_true (g_str_has_prefix (b->final_url, om_sso_listener_get_redirect_url (listener)));
  g_assert_nonnull (strstr (b->body, "you can close this tab"));

  g_assert_no_error (l.error);
  g_assert_cmpstr (l.login->user_id, ==, "@dave:matrix.openmeet.test");
  g_assert_cmpstr (l.login->device_id, ==, "ZMGGGNVYXW");
  g_assert_cmpstr (l.login->access_token, ==, "syt_ZmFrZQ_SsoAccessTokenSecret_0000");
  g_assert_cmpstr (l.login->well_known_base_url, ==, "http://127.0.0.1:8018/");

  body = fake_hs_login_body (hs, 0);
  g_assert_cmpstr (json_object_get_string_member (body, "type"), ==, "m.login.token");
  g_assert_cmpstr (json_object_get_string_member (body, "token"), ==, login_token);
  g_assert_cmpstr (json_object_get_string_member (body, "initial_device_display_name"), ==,
                   "OpenMeet Chat (test)");
  g_assert_false (json_object_has_member (body, "device_id"));
  g_assert_true (json_object_get_boolean_member (body, "refresh_token"));

  /* The token is single-use: the same exchange again is refused. */
  login_clear (&l);
  om_auth_login_token_async (http, login_token, "ZMGGGNVYXW", NULL, NULL, token_login_cb, &l);
  g_assert_true (om_test_wait_until (flag_set, &l.done, WAIT_MS));
  g_assert_error (l.error, OM_ERROR, OM_ERROR_FORBIDDEN);
  g_clear_pointer (&body, json_object_unref);
  body = fake_hs_login_body (hs, 1);
  g_assert_cmpstr (json_object_get_string_member (body, "device_id"), ==, "ZMGGGNVYXW");
  g_assert_false (json_object_has_member (body, "initial_device_display_name"));

  /* The capture sees what the modules log, so its silence about tokens means something. */
  g_assert_true (captured_contains ("Received the login token"));
  g_assert_true (captured_contains ("POST /_matrix/client/v3/login"));

  login_clear (&l);
  browser_free (b);
  fake_hs_free (hs);
  assert_no_secret_logged ();
}

/* Over SSH: the URL the browser ended on is pasted back. */
static void
test_flow_pasted (void)
{
  const char *login_token = secret ("syl_ZGF2ZQ_SsoPastedTokenSecret_2222");
  FakeHs *hs = fake_hs_start (login_token);
  g_autoptr(OmHttp) http = om_http_new (hs->url);
  g_autofree char *state = om_sso_new_state ();
  g_autofree char *redirect = g_strdup_printf ("http://127.0.0.1:1/sso-callback?state=%s", state);
  g_autofree char *url = om_sso_build_redirect_url (hs->url, "oidc-openmeet", redirect);
  g_autofree char *pasted = NULL;
  g_autofree char *token = NULL;
  g_autoptr(GError) error = NULL;
  Login l = { 0 };
  Browser *b;

  /* The browser cannot reach the loopback address it is sent to. */
  b = browser_open (url, NULL, TRUE);
  browser_wait (b);
  g_assert_cmpint (b->code, ==, CURLE_COULDNT_CONNECT);
  g_assert_true (g_str_has_prefix (b->final_url, redirect));

  pasted = g_strdup_printf ("  %s\n", b->final_url);
  token = om_sso_parse_pasted_url (pasted, state, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (token, ==, login_token);

  om_auth_login_token_async (http, token, NULL, "OpenMeet Chat (ssh)", NULL, token_login_cb, &l);
  g_assert_true (om_test_wait_until (flag_set, &l.done, WAIT_MS));
  g_assert_no_error (l.error);
  g_assert_cmpstr (l.login->user_id, ==, "@dave:matrix.openmeet.test");

  login_clear (&l);
  browser_free (b);
  fake_hs_free (hs);
  assert_no_secret_logged ();
}

/* A waiting flow that is cancelled never reaches POST /login. */
static void
test_flow_cancel (void)
{
  FakeHs *hs = fake_hs_start ("syl_NeverUsedToken");
  g_autoptr(OmHttp) http = om_http_new (hs->url);
  g_autoptr(OmSsoListener) listener = om_sso_listener_new (NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Login l = { 0 };

  om_sso_login_async (http, listener, NULL, NULL, cancellable, sso_login_cb, &l);
  g_timeout_add (50, cancel_cb, cancellable);
  g_assert_true (om_test_wait_until (flag_set, &l.done, WAIT_MS));
  g_assert_error (l.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (hs->login_bodies->len, ==, 0);

  login_clear (&l);
  fake_hs_free (hs);
}

/* The project's test homeserver does not issue login tokens yet; it
 * refuses an unknown one the way Synapse refuses a spent one. */
static void
test_token_refused_by_test_homeserver (void)
{
  OmTestHs *hs = om_test_hs_start (NULL);
  g_autoptr(OmHttp) http = om_http_new (om_test_hs_get_url (hs));
  Login l = { 0 };

  om_auth_login_token_async (http, secret ("syl_UnknownToTheTestHomeserver"), NULL, "OpenMeet Chat",
                             NULL, token_login_cb, &l);
  g_assert_true (om_test_wait_until (flag_set, &l.done, WAIT_MS));
  g_assert_error (l.error, OM_ERROR, OM_ERROR_FORBIDDEN);
  g_assert_null (strstr (l.error->message, "syl_"));

  login_clear (&l);
  om_test_hs_free (hs);
  assert_no_secret_logged ();
}

int
main (int    argc,
      char **argv)
{
  int status;

  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  captured = g_ptr_array_new_with_free_func (g_free);
  secrets = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);

  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (redirect_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/sso/redirect-url/%" G_GSIZE_FORMAT, i);
      g_test_add_data_func (path, &redirect_cases[i], test_redirect_url);
    }
  g_test_add_func ("/sso/state", test_state);
  g_test_add_func ("/sso/listener/shape", test_listener_shape);
  for (gsize i = 0; i < G_N_ELEMENTS (token_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/sso/listener/ok/%s", token_cases[i].name);
      g_test_add_data_func (path, &token_cases[i], test_listener_ok);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/sso/listener/bad/%s", bad_cases[i].name);
      g_test_add_data_func (path, &bad_cases[i], test_listener_bad_request);
    }
  g_test_add_func ("/sso/listener/second-request", test_listener_second_request);
  g_test_add_func ("/sso/listener/idle-connection", test_listener_idle_connection);
  g_test_add_func ("/sso/listener/timeout", test_listener_timeout);
  g_test_add_func ("/sso/listener/cancel", test_listener_cancel);
  g_test_add_func ("/sso/listener/peer-check", test_peer_check);
  g_test_add_func ("/sso/listener/foreign-peer", test_listener_foreign_peer);
  for (gsize i = 0; i < G_N_ELEMENTS (paste_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/sso/paste/%s", paste_cases[i].name);
      g_test_add_data_func (path, &paste_cases[i], test_paste);
    }
  g_test_add_func ("/sso/flow/loopback", test_flow_loopback);
  g_test_add_func ("/sso/flow/pasted", test_flow_pasted);
  g_test_add_func ("/sso/flow/cancel", test_flow_cancel);
  g_test_add_func ("/sso/token/refused-by-test-homeserver", test_token_refused_by_test_homeserver);

  status = g_test_run ();

  assert_no_secret_logged ();
  curl_global_cleanup ();
  g_ptr_array_unref (secrets);
  g_ptr_array_unref (captured);
  return status;
}
