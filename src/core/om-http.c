/* om-http.c — HTTP to the homeserver: libcurl multi inside the GLib main loop
 *
 * One CURLM per OmHttp.  curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when it next needs a timeout
 * (CURLMOPT_TIMERFUNCTION); we turn those into one GSource per socket and a
 * single timeout source, and call curl_multi_socket_action when they fire.
 * Nothing polls and no thread is involved.  Each transfer is a GTask whose
 * task data is an OmHttpRequest; CURLOPT_PRIVATE points back at the task.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-http"

#include <curl/curl.h>
#include <string.h>
#include <time.h>

#include "om-error.h"
#include "om-http.h"

#ifndef OM_VERSION
# define OM_VERSION "0.1.0"
#endif

#define OM_HTTP_USER_AGENT          "OpenMeet-Chat/" OM_VERSION
#define DEFAULT_TIMEOUT_MS          60000
#define CONNECT_TIMEOUT_MS          10000
#define MAX_RESPONSE_SIZE           (256 * 1024 * 1024)
#define MAX_RESPONSE_SIZE_TEXT      "256 MiB"
#define MAX_HOST_CONNECTIONS        6
#define MAX_REDIRECTS               5
#define MAX_RETRIES                 5
#define DEFAULT_RETRY_DELAY_MS      1000
#define MAX_RETRY_DELAY_MS          60000

struct _OmHttp
{
  GObject       parent_instance;

  CURLM        *multi;          /* owned */
  GMainContext *context;        /* owned: where our sources are attached */
  GThread      *owner;          /* borrowed: the thread that drives curl */
  GHashTable   *sockets;        /* owned: fd → OmHttpSocket (owned) */
  GSource      *timer;          /* owned, nullable: curl's one timeout */
  char         *base_url;       /* owned, nullable, no trailing slash */
  char         *access_token;   /* owned, nullable, secret: wiped on change */
  guint         token_generation; /* bumped whenever the token changes */

  OmHttpRefreshFunc refresh_func;
  gpointer      refresh_data;
  GDestroyNotify refresh_destroy;
  gboolean      refreshing;     /* refresh_func was called, refresh_done not yet */
  GPtrArray    *parked;         /* owned: GTask refs waiting for a fresh token */

  guint         n_connections;
  guint         n_requests;
};

G_DEFINE_FINAL_TYPE (OmHttp, om_http, G_TYPE_OBJECT)

/* A GSource watching one socket for curl; its condition follows what curl
 * asks for (g_source_modify_unix_fd). */
typedef struct
{
  GSource        source;
  OmHttp        *http;          /* borrowed: sockets never outlive the multi */
  curl_socket_t  fd;
  gpointer       tag;           /* from g_source_add_unix_fd */
} OmHttpSocket;

/* Task data of one request. */
typedef struct
{
  CURL              *easy;                  /* owned */
  struct curl_slist *headers;               /* owned, holds the token: wiped */
  char              *method;                /* owned */
  char              *url;                   /* owned */
  char              *log_path;              /* owned: path without its query */
  char              *body;                  /* owned, nullable, may hold a password: wiped */
  gsize              body_len;
  const char        *content_type;          /* static, nullable: of @body */
  guint              token_generation;      /* of the token in @headers */
  gboolean           refresh_retried;       /* sent again after a token refresh */
  GError            *auth_error;            /* owned, nullable: the 401 while parked */
  GByteArray        *response;              /* owned */
  OmHttpFlags        flags;
  guint              status;
  gint64             retry_after_header_ms; /* Retry-After, -1 when absent */
  guint              n_retries;
  GSource           *retry_source;          /* owned, nullable: waiting after a 429 */
  GCancellable      *cancellable;           /* owned, nullable */
  gulong             cancel_id;
  gboolean           in_multi;              /* the multi then holds a ref on the task */
  gboolean           finished;              /* g_task_return_* was called */
  gboolean           too_large;
  char               error_buf[CURL_ERROR_SIZE];
} OmHttpRequest;

static void om_http_check_multi_info (OmHttp *self);

static void
wipe_string (char *s)
{
  if (s != NULL)
    explicit_bzero (s, strlen (s));
}

static void
free_headers (struct curl_slist *headers)
{
  for (struct curl_slist *l = headers; l != NULL; l = l->next)
    wipe_string (l->data);
  curl_slist_free_all (headers);
}

static struct curl_slist *
om_http_build_headers (OmHttp      *self,
                       OmHttpFlags  flags,
                       const char  *content_type)
{
  struct curl_slist *headers = NULL;

  headers = curl_slist_append (headers, "Accept: application/json");
  /* curl would otherwise wait for "100 Continue" before large bodies. */
  headers = curl_slist_append (headers, "Expect:");
  if (content_type != NULL)
    {
      g_autofree char *line = g_strconcat ("Content-Type: ", content_type, NULL);

      headers = curl_slist_append (headers, line);
    }
  if (!(flags & OM_HTTP_NO_AUTH) && self->access_token != NULL)
    {
      g_autofree char *auth = g_strconcat ("Authorization: Bearer ", self->access_token, NULL);

      headers = curl_slist_append (headers, auth);
      wipe_string (auth);
    }
  return headers;
}

static void
om_http_request_free (gpointer data)
{
  OmHttpRequest *req = data;

  /* A request in the multi holds a ref on its task, so it cannot be freed
   * while curl still knows it. */
  g_assert (!req->in_multi);
  g_assert (req->retry_source == NULL);
  g_assert (req->cancel_id == 0);

  g_clear_pointer (&req->easy, curl_easy_cleanup);
  g_clear_pointer (&req->headers, free_headers);
  if (req->body != NULL)
    explicit_bzero (req->body, req->body_len);
  g_clear_pointer (&req->body, g_free);
  g_clear_pointer (&req->method, g_free);
  g_clear_pointer (&req->url, g_free);
  g_clear_pointer (&req->log_path, g_free);
  g_clear_error (&req->auth_error);
  g_clear_pointer (&req->response, g_byte_array_unref);
  g_clear_object (&req->cancellable);
  g_free (req);
}

/* ---- curl ↔ GLib ------------------------------------------------------ */

/* Runs curl for @fd (or its timeouts) and completes what finished.  The
 * caller is a GSource of ours, never a curl callback. */
static void
om_http_drive (OmHttp        *self,
               curl_socket_t  fd,
               int            action)
{
  int running = 0;

  /* Completing a task runs user code that may drop the last ref. */
  g_object_ref (self);
  curl_multi_socket_action (self->multi, fd, action, &running);
  om_http_check_multi_info (self);
  g_object_unref (self);
}

static gboolean
om_http_socket_dispatch (GSource     *source,
                         GSourceFunc  callback,
                         gpointer     user_data)
{
  OmHttpSocket *sock = (OmHttpSocket *) source;
  GIOCondition revents = g_source_query_unix_fd (source, sock->tag);
  int action = 0;

  /* A hang-up is reported as readable so that curl reads the EOF and
   * decides for itself whether the answer was complete. */
  if (revents & (G_IO_IN | G_IO_HUP))
    action |= CURL_CSELECT_IN;
  if (revents & G_IO_OUT)
    action |= CURL_CSELECT_OUT;
  if (revents & G_IO_ERR)
    action |= CURL_CSELECT_ERR;

  om_http_drive (sock->http, sock->fd, action);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs om_http_socket_funcs = {
  .dispatch = om_http_socket_dispatch,
};

static void
om_http_socket_destroy (gpointer data)
{
  GSource *source = data;

  g_source_destroy (source);
  g_source_unref (source);
}

static GIOCondition
condition_from_curl (int what)
{
  GIOCondition condition = 0;

  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
    condition |= G_IO_IN;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
    condition |= G_IO_OUT;
  return condition;
}

static int
om_http_socket_cb (CURL          *easy,
                   curl_socket_t  fd,
                   int            what,
                   void          *user_data,
                   void          *socket_data)
{
  OmHttp *self = user_data;
  OmHttpSocket *sock = socket_data;

  if (what == CURL_POLL_REMOVE)
    {
      if (sock != NULL)
        {
          curl_multi_assign (self->multi, fd, NULL);
          g_hash_table_remove (self->sockets, GINT_TO_POINTER (fd));
        }
      return 0;
    }

  if (sock == NULL)
    {
      GSource *source = g_source_new (&om_http_socket_funcs, sizeof (OmHttpSocket));

      g_source_set_static_name (source, "[om-http] socket");
      sock = (OmHttpSocket *) source;
      sock->http = self;
      sock->fd = fd;
      sock->tag = g_source_add_unix_fd (source, fd, condition_from_curl (what));
      g_source_attach (source, self->context);
      g_hash_table_replace (self->sockets, GINT_TO_POINTER (fd), source);
      curl_multi_assign (self->multi, fd, sock);
    }
  else
    {
      g_source_modify_unix_fd ((GSource *) sock, sock->tag, condition_from_curl (what));
    }

  return 0;
}

static gboolean
om_http_timer_dispatch (gpointer user_data)
{
  OmHttp *self = user_data;

  /* Forget the source before curl may install the next one. */
  g_clear_pointer (&self->timer, g_source_unref);
  om_http_drive (self, CURL_SOCKET_TIMEOUT, 0);
  return G_SOURCE_REMOVE;
}

static void
om_http_clear_timer (OmHttp *self)
{
  if (self->timer != NULL)
    {
      g_source_destroy (self->timer);
      g_clear_pointer (&self->timer, g_source_unref);
    }
}

/* Replaces the one timeout source.  A 0 ms timeout fires on the next
 * iteration instead of calling curl back from inside curl. */
static int
om_http_timer_cb (CURLM *multi,
                  long   timeout_ms,
                  void  *user_data)
{
  OmHttp *self = user_data;

  om_http_clear_timer (self);
  if (timeout_ms >= 0)
    {
      self->timer = g_timeout_source_new ((guint) MIN (timeout_ms, G_MAXUINT));
      g_source_set_static_name (self->timer, "[om-http] curl timeout");
      g_source_set_callback (self->timer, om_http_timer_dispatch, self, NULL);
      g_source_attach (self->timer, self->context);
    }
  return 0;
}

/* ---- one request ------------------------------------------------------- */

static size_t
om_http_write_cb (char   *data,
                  size_t  size,
                  size_t  nmemb,
                  void   *user_data)
{
  OmHttpRequest *req = user_data;
  size_t len = size * nmemb;

  if (len > MAX_RESPONSE_SIZE - req->response->len)
    {
      req->too_large = TRUE;
      return 0;
    }
  g_byte_array_append (req->response, (const guint8 *) data, len);
  return len;
}

static gint64
parse_retry_after (const char *value)
{
  char *end = NULL;
  guint64 seconds;
  time_t when;

  if (g_ascii_isdigit (value[0]))
    {
      seconds = g_ascii_strtoull (value, &end, 10);
      if (*end == '\0')
        return (gint64) MIN (seconds, (guint64) MAX_RETRY_DELAY_MS / 1000) * 1000;
      return -1;
    }

  when = curl_getdate (value, NULL);
  if (when == -1)
    return -1;
  return MAX (0, (gint64) (when - time (NULL))) * 1000;
}

static size_t
om_http_header_cb (char   *data,
                   size_t  size,
                   size_t  nmemb,
                   void   *user_data)
{
  OmHttpRequest *req = user_data;
  size_t len = size * nmemb;
  static const char retry_after[] = "Retry-After:";

  if (len >= 5 && g_ascii_strncasecmp (data, "HTTP/", 5) == 0)
    {
      /* A new response begins (after a redirect or 100 Continue). */
      req->retry_after_header_ms = -1;
    }
  else if (len > strlen (retry_after) &&
           g_ascii_strncasecmp (data, retry_after, strlen (retry_after)) == 0)
    {
      g_autofree char *value = g_strndup (data + strlen (retry_after),
                                          len - strlen (retry_after));

      req->retry_after_header_ms = parse_retry_after (g_strstrip (value));
    }
  return len;
}

static char *
describe_host (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

  if (uri == NULL || g_uri_get_host (uri) == NULL)
    return g_strdup ("the server");
  if (g_uri_get_port (uri) > 0)
    return g_strdup_printf ("%s:%d", g_uri_get_host (uri), g_uri_get_port (uri));
  return g_strdup (g_uri_get_host (uri));
}

static GError *
om_http_error_from_curl (OmHttpRequest *req,
                         CURLcode       code)
{
  g_autofree char *host = describe_host (req->url);
  const char *detail = req->error_buf[0] != '\0' ? req->error_buf : curl_easy_strerror (code);

  if (req->too_large || code == CURLE_FILESIZE_EXCEEDED)
    return g_error_new (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                        "The server sent a response larger than %s",
                        MAX_RESPONSE_SIZE_TEXT);

  switch (code)
    {
    case CURLE_COULDNT_CONNECT:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                          "Could not connect to %s (%s); check the server address and your network",
                          host, detail);
    case CURLE_OPERATION_TIMEDOUT:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                          "%s did not answer in time (%s)", host, detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND,
                          "Could not find the server %s (%s); check the server address",
                          host, detail);
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                          "The connection to %s closed before the answer was complete (%s)",
                          host, detail);
    case CURLE_SEND_ERROR:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                          "The connection to %s broke while sending the request (%s)",
                          host, detail);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                          "The server address is not a usable http(s) URL (%s)", detail);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                          "Could not set up a secure connection to %s (%s)", host, detail);
    default:
      return g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                          "The request to %s failed (%s)", host, detail);
    }
}

static void
om_http_request_detach (GTask *task)
{
  OmHttp *self = g_task_get_source_object (task);
  OmHttpRequest *req = g_task_get_task_data (task);

  if (req->retry_source != NULL)
    {
      g_source_destroy (req->retry_source);
      g_clear_pointer (&req->retry_source, g_source_unref);
    }
  if (req->in_multi)
    {
      curl_multi_remove_handle (self->multi, req->easy);
      req->in_multi = FALSE;
      g_object_unref (task);  /* the multi's ref; the caller holds another */
    }
}

/* The only place a request finishes; takes @node or @error. */
static void
om_http_request_return (GTask    *task,
                        JsonNode *node,
                        GError   *error)
{
  OmHttpRequest *req = g_task_get_task_data (task);

  if (req->finished)
    {
      g_clear_pointer (&node, json_node_unref);
      g_clear_error (&error);
      return;
    }
  req->finished = TRUE;
  om_http_request_detach (task);

  /* Never reached from the cancelled handler itself (that would deadlock
   * in g_cancellable_disconnect): cancellation returns from an idle. */
  if (req->cancel_id != 0)
    g_cancellable_disconnect (req->cancellable, req->cancel_id);
  req->cancel_id = 0;

  if (error != NULL)
    {
      g_debug ("%s %s: %s", req->method, req->log_path, error->message);
      g_task_return_error (task, error);
    }
  else
    {
      g_task_return_pointer (task, node, (GDestroyNotify) json_node_unref);
    }
}

static void
om_http_request_start (GTask *task)
{
  OmHttp *self = g_task_get_source_object (task);
  OmHttpRequest *req = g_task_get_task_data (task);
  CURLMcode code;

  g_assert (!req->in_multi && !req->finished);

  g_byte_array_set_size (req->response, 0);
  req->status = 0;
  req->retry_after_header_ms = -1;
  req->too_large = FALSE;
  req->error_buf[0] = '\0';

  code = curl_multi_add_handle (self->multi, req->easy);
  if (code != CURLM_OK)
    {
      om_http_request_return (task, NULL,
                              g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                                           "Could not start the request (%s)",
                                           curl_multi_strerror (code)));
      return;
    }
  req->in_multi = TRUE;
  g_object_ref (task);
  self->n_requests++;
  g_debug ("%s %s", req->method, req->log_path);
}

static gboolean
om_http_request_retry_cb (gpointer user_data)
{
  GTask *task = user_data;
  OmHttpRequest *req = g_task_get_task_data (task);

  g_clear_pointer (&req->retry_source, g_source_unref);
  om_http_request_start (task);
  return G_SOURCE_REMOVE;
}

static JsonNode *
parse_json (GByteArray *bytes)
{
  g_autoptr(JsonParser) parser = NULL;

  if (bytes->len == 0)
    return NULL;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, (const char *) bytes->data, bytes->len, NULL))
    return NULL;
  return json_parser_steal_root (parser);
}

static gint64
om_http_retry_delay_ms (OmHttpRequest *req,
                        JsonNode      *body)
{
  g_autoptr(GError) error = om_error_new_from_response (429, body);
  gint64 delay = om_error_get_retry_after_ms (error);

  if (delay < 0)
    delay = req->retry_after_header_ms;
  if (delay < 0)
    delay = DEFAULT_RETRY_DELAY_MS;
  return MIN (delay, MAX_RETRY_DELAY_MS);
}

/* Sends @task again with the current token. */
static void
om_http_request_resend (OmHttp *self,
                        GTask  *task)
{
  OmHttpRequest *req = g_task_get_task_data (task);

  g_clear_pointer (&req->headers, free_headers);
  req->headers = om_http_build_headers (self, req->flags, req->content_type);
  req->token_generation = self->token_generation;
  curl_easy_setopt (req->easy, CURLOPT_HTTPHEADER, req->headers);
  om_http_request_start (task);
}

/* The server rejected the token @task was sent with (@error, owned): with a
 * refresher, the request waits for a fresh token and goes again, once. */
static void
om_http_request_token_rejected (OmHttp *self,
                                GTask  *task,
                                GError *error)
{
  OmHttpRequest *req = g_task_get_task_data (task);

  if (self->refresh_func == NULL || req->refresh_retried ||
      (req->flags & OM_HTTP_NO_AUTH) || self->access_token == NULL)
    {
      om_http_request_return (task, NULL, error);
      return;
    }
  req->refresh_retried = TRUE;

  /* The token changed while this request was out: just use the new one. */
  if (req->token_generation != self->token_generation && !self->refreshing)
    {
      g_clear_error (&error);
      om_http_request_resend (self, task);
      return;
    }

  g_debug ("%s %s: token rejected, waiting for a refresh", req->method, req->log_path);
  req->auth_error = error;
  g_ptr_array_add (self->parked, g_object_ref (task));
  if (!self->refreshing)
    {
      self->refreshing = TRUE;
      self->refresh_func (self, self->refresh_data);
    }
}

/* Resends (with @error NULL) or fails the requests that wait for a token. */
static void
om_http_release_parked (OmHttp       *self,
                        const GError *error)
{
  g_autoptr(GPtrArray) parked = g_steal_pointer (&self->parked);

  self->parked = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < parked->len; i++)
    {
      GTask *task = g_ptr_array_index (parked, i);
      OmHttpRequest *req = g_task_get_task_data (task);
      GError *auth_error = g_steal_pointer (&req->auth_error);

      if (req->finished)
        {
          g_clear_error (&auth_error);
          continue;
        }
      if (error == NULL)
        {
          g_clear_error (&auth_error);
          om_http_request_resend (self, task);
        }
      else
        {
          /* The refresher says what the failure means: for now (a
           * transient error), or signed out (softly or not). */
          g_clear_error (&auth_error);
          om_http_request_return (task, NULL, g_error_copy (error));
        }
    }
}

/* CURLMSG_DONE for @task: retry a 429, or turn the answer into a result. */
static void
om_http_request_done (OmHttp   *self,
                      GTask    *task,
                      CURLcode  result)
{
  OmHttpRequest *req = g_task_get_task_data (task);
  g_autoptr(JsonNode) node = NULL;
  long status = 0;
  long n_connects = 0;

  curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo (req->easy, CURLINFO_NUM_CONNECTS, &n_connects);
  self->n_connections += (guint) MAX (n_connects, 0);
  om_http_request_detach (task);

  if (result != CURLE_OK)
    {
      req->status = 0;
      om_http_request_return (task, NULL, om_http_error_from_curl (req, result));
      return;
    }

  req->status = (guint) status;
  node = parse_json (req->response);

  if (req->status == 429 &&
      !(req->flags & OM_HTTP_NO_RETRY) &&
      req->n_retries < MAX_RETRIES)
    {
      gint64 delay = om_http_retry_delay_ms (req, node);

      req->n_retries++;
      g_debug ("%s %s: rate limited, retry %u in %" G_GINT64_FORMAT " ms",
               req->method, req->log_path, req->n_retries, delay);
      req->retry_source = g_timeout_source_new ((guint) delay);
      g_source_set_static_name (req->retry_source, "[om-http] retry after 429");
      g_source_set_callback (req->retry_source, om_http_request_retry_cb,
                             g_object_ref (task), g_object_unref);
      g_source_attach (req->retry_source, self->context);
      return;
    }

  if (req->status < 200 || req->status >= 300)
    {
      GError *error = om_error_new_from_response (req->status, node);

      if (req->status == 401 && g_error_matches (error, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN))
        om_http_request_token_rejected (self, task, error);
      else
        om_http_request_return (task, NULL, error);
      return;
    }

  if (node == NULL && !(req->flags & OM_HTTP_ALLOW_EMPTY))
    {
      om_http_request_return (task, NULL,
                              g_error_new (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                                           req->response->len == 0
                                           ? "The server sent an empty response (HTTP %u)"
                                           : "The server sent a response that is not JSON (HTTP %u)",
                                           req->status));
      return;
    }

  om_http_request_return (task, g_steal_pointer (&node), NULL);
}

static void
om_http_check_multi_info (OmHttp *self)
{
  CURLMsg *msg;
  int n_left;

  while ((msg = curl_multi_info_read (self->multi, &n_left)) != NULL)
    {
      g_autoptr(GTask) task = NULL;
      char *private = NULL;
      CURLcode result = msg->data.result;

      if (msg->msg != CURLMSG_DONE)
        continue;

      /* @msg dies with the handle's removal: copy what we need first.  A
       * cancellation from a callback removes the other handles at once,
       * and curl drops their pending messages with them. */
      curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, &private);
      task = g_object_ref ((GTask *) private);
      om_http_request_done (self, task, result);
    }
}

/* ---- cancellation ------------------------------------------------------ */

static gboolean
om_http_request_cancel_idle (gpointer user_data)
{
  GTask *task = user_data;
  OmHttpRequest *req = g_task_get_task_data (task);

  if (!req->finished)
    {
      req->status = 0;
      om_http_request_return (task, NULL,
                              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                   "The request was cancelled"));
    }
  return G_SOURCE_REMOVE;
}

static void
om_http_request_cancelled_cb (GCancellable *cancellable,
                              gpointer      user_data)
{
  GTask *task = user_data;
  OmHttp *self = g_task_get_source_object (task);
  GSource *idle;

  /* Leave curl at once when we are on its thread (curl is never running
   * here: we do not call out of our curl callbacks).  The GTask returns
   * from an idle so that the handler never disconnects itself. */
  if (g_thread_self () == self->owner)
    om_http_request_detach (task);

  idle = g_idle_source_new ();
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_static_name (idle, "[om-http] cancel");
  g_source_set_callback (idle, om_http_request_cancel_idle, g_object_ref (task), g_object_unref);
  g_source_attach (idle, self->context);
  g_source_unref (idle);
}

/* ---- public API -------------------------------------------------------- */

static void
om_http_finalize (GObject *object)
{
  OmHttp *self = (OmHttp *) object;

  /* No request can be pending: each holds a ref on us. */
  curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, NULL);
  curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, NULL);
  g_clear_pointer (&self->multi, curl_multi_cleanup);
  g_clear_pointer (&self->sockets, g_hash_table_unref);
  om_http_clear_timer (self);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->base_url, g_free);
  wipe_string (self->access_token);
  g_clear_pointer (&self->access_token, g_free);
  g_clear_pointer (&self->parked, g_ptr_array_unref);
  if (self->refresh_destroy != NULL)
    self->refresh_destroy (self->refresh_data);

  G_OBJECT_CLASS (om_http_parent_class)->finalize (object);
}

static void
om_http_class_init (OmHttpClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = om_http_finalize;

  curl_global_init (CURL_GLOBAL_DEFAULT);
}

static void
om_http_init (OmHttp *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->owner = g_thread_self ();
  self->sockets = g_hash_table_new_full (NULL, NULL, NULL, om_http_socket_destroy);
  self->parked = g_ptr_array_new_with_free_func (g_object_unref);

  self->multi = curl_multi_init ();
  g_assert (self->multi != NULL);
  curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, om_http_socket_cb);
  curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
  curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, om_http_timer_cb);
  curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
  curl_multi_setopt (self->multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);
  curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) MAX_HOST_CONNECTIONS);
}

/* @base_url may be NULL until discovery knows it; absolute URLs work
 * without one. */
OmHttp *
om_http_new (const char *base_url)
{
  OmHttp *self = g_object_new (OM_TYPE_HTTP, NULL);

  om_http_set_base_url (self, base_url);
  return self;
}

const char *
om_http_get_base_url (OmHttp *self)
{
  g_return_val_if_fail (OM_IS_HTTP (self), NULL);

  return self->base_url;
}

void
om_http_set_base_url (OmHttp     *self,
                      const char *base_url)
{
  g_return_if_fail (OM_IS_HTTP (self));

  g_clear_pointer (&self->base_url, g_free);
  if (base_url != NULL && base_url[0] != '\0')
    {
      gsize len = strlen (base_url);

      while (len > 0 && base_url[len - 1] == '/')
        len--;
      self->base_url = g_strndup (base_url, len);
    }
}

void
om_http_set_access_token (OmHttp     *self,
                          const char *access_token)
{
  g_return_if_fail (OM_IS_HTTP (self));

  if (g_strcmp0 (self->access_token, access_token) == 0)
    return;
  wipe_string (self->access_token);
  g_clear_pointer (&self->access_token, g_free);
  if (access_token != NULL && access_token[0] != '\0')
    self->access_token = g_strdup (access_token);
  self->token_generation++;
}

void
om_http_set_refresh_func (OmHttp            *self,
                          OmHttpRefreshFunc  func,
                          gpointer           user_data,
                          GDestroyNotify     destroy)
{
  GDestroyNotify old_destroy;
  gpointer old_data;

  g_return_if_fail (OM_IS_HTTP (self));

  old_destroy = self->refresh_destroy;
  old_data = self->refresh_data;
  self->refresh_func = func;
  self->refresh_data = user_data;
  self->refresh_destroy = destroy;
  if (old_destroy != NULL)
    old_destroy (old_data);

  if (func == NULL && self->refreshing)
    {
      g_autoptr(GError) error = g_error_new_literal (OM_ERROR, OM_ERROR_NOT_SIGNED_IN,
                                                     "The session ended");

      self->refreshing = FALSE;
      om_http_release_parked (self, error);
    }
}

void
om_http_refresh_done (OmHttp       *self,
                      const char   *access_token,
                      const GError *error)
{
  g_return_if_fail (OM_IS_HTTP (self));
  g_return_if_fail ((access_token != NULL) != (error != NULL));

  if (access_token != NULL)
    om_http_set_access_token (self, access_token);
  if (!self->refreshing)
    return;
  self->refreshing = FALSE;
  om_http_release_parked (self, error);
}

gboolean
om_http_is_refreshing (OmHttp *self)
{
  g_return_val_if_fail (OM_IS_HTTP (self), FALSE);
  return self->refreshing;
}

gboolean
om_http_has_access_token (OmHttp *self)
{
  g_return_val_if_fail (OM_IS_HTTP (self), FALSE);

  return self->access_token != NULL;
}

char *
om_http_dup_access_token (OmHttp *self)
{
  g_return_val_if_fail (OM_IS_HTTP (self), NULL);

  return g_strdup (self->access_token);
}

static gboolean
is_absolute_url (const char *path)
{
  return g_ascii_strncasecmp (path, "http://", 7) == 0 ||
         g_ascii_strncasecmp (path, "https://", 8) == 0;
}

static void
om_http_request_setup (OmHttp        *self,
                       OmHttpRequest *req,
                       GTask         *task,
                       guint          timeout_ms)
{
  CURL *easy = req->easy;

  curl_easy_setopt (easy, CURLOPT_URL, req->url);
  curl_easy_setopt (easy, CURLOPT_PRIVATE, task);
  curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (easy, CURLOPT_ERRORBUFFER, req->error_buf);
  curl_easy_setopt (easy, CURLOPT_USERAGENT, OM_HTTP_USER_AGENT);
  curl_easy_setopt (easy, CURLOPT_HTTPHEADER, req->headers);
  curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, om_http_write_cb);
  curl_easy_setopt (easy, CURLOPT_WRITEDATA, req);
  curl_easy_setopt (easy, CURLOPT_HEADERFUNCTION, om_http_header_cb);
  curl_easy_setopt (easy, CURLOPT_HEADERDATA, req);
  curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
  curl_easy_setopt (easy, CURLOPT_CONNECTTIMEOUT_MS, (long) MIN (timeout_ms, CONNECT_TIMEOUT_MS));
  curl_easy_setopt (easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
  /* No CURLOPT_PIPEWAIT: on an HTTP/1.1 server it queues every request
   * behind a pending long-poll /sync. */
  curl_easy_setopt (easy, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt (easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt (easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) MAX_RESPONSE_SIZE);
  curl_easy_setopt (easy, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (easy, CURLOPT_MAXREDIRS, (long) MAX_REDIRECTS);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt (easy, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt (easy, CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif

  if (g_str_equal (req->method, "GET"))
    {
      curl_easy_setopt (easy, CURLOPT_HTTPGET, 1L);
    }
  else if (g_str_equal (req->method, "HEAD"))
    {
      curl_easy_setopt (easy, CURLOPT_NOBODY, 1L);
    }
  else
    {
      if (req->body != NULL || g_str_equal (req->method, "POST") || g_str_equal (req->method, "PUT"))
        {
          curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
          curl_easy_setopt (easy, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        }
      if (!g_str_equal (req->method, "POST"))
        curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, req->method);
    }
}

/* Takes @body (nullable, wiped when done). */
static void
om_http_send (OmHttp              *self,
              const char          *method,
              const char          *path,
              char                *body,
              const char          *content_type,
              OmHttpFlags          flags,
              guint                timeout_ms,
              GCancellable        *cancellable,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  OmHttpRequest *req;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_http_request_async);

  req = g_new0 (OmHttpRequest, 1);
  req->method = g_ascii_strup (method, -1);
  req->log_path = g_strndup (path, strcspn (path, "?#"));
  req->flags = flags;
  req->retry_after_header_ms = -1;
  req->response = g_byte_array_new ();
  req->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  g_task_set_task_data (task, req, om_http_request_free);

  req->body = body;
  req->body_len = body != NULL ? strlen (body) : 0;
  req->content_type = body != NULL ? content_type : NULL;

  if (is_absolute_url (path))
    req->url = g_strdup (path);
  else if (self->base_url != NULL)
    req->url = g_strconcat (self->base_url, path[0] == '/' ? "" : "/", path, NULL);
  else
    {
      req->finished = TRUE;
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "No homeserver address is set for %s", req->log_path);
      return;
    }

  req->headers = om_http_build_headers (self, flags, req->content_type);
  req->token_generation = self->token_generation;
  req->easy = curl_easy_init ();
  om_http_request_setup (self, req, task, timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);

  if (g_task_return_error_if_cancelled (task))
    {
      req->finished = TRUE;
      return;
    }
  if (cancellable != NULL)
    {
      req->cancel_id = g_cancellable_connect (cancellable,
                                              G_CALLBACK (om_http_request_cancelled_cb),
                                              g_object_ref (task), g_object_unref);
      /* Cancelled from another thread in between: the handler has run. */
      if (req->cancel_id == 0)
        return;
    }

  om_http_request_start (task);
}

void
om_http_request_async (OmHttp              *self,
                       const char          *method,
                       const char          *path,
                       JsonNode            *body,
                       OmHttpFlags          flags,
                       guint                timeout_ms,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_return_if_fail (OM_IS_HTTP (self));
  g_return_if_fail (method != NULL && method[0] != '\0');
  g_return_if_fail (path != NULL);
  g_return_if_fail (body == NULL || !g_str_equal (method, "GET"));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  /* curl is driven from the thread (and context) that created @self. */
  g_return_if_fail (g_thread_self () == self->owner);

  om_http_send (self, method, path, body != NULL ? json_to_string (body, FALSE) : NULL,
                "application/json", flags, timeout_ms, cancellable, callback, user_data);
}

void
om_http_post_form_async (OmHttp              *self,
                         const char          *url,
                         const char          *form,
                         OmHttpFlags          flags,
                         guint                timeout_ms,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (OM_IS_HTTP (self));
  g_return_if_fail (url != NULL);
  g_return_if_fail (form != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  g_return_if_fail (g_thread_self () == self->owner);

  om_http_send (self, "POST", url, g_strdup (form), "application/x-www-form-urlencoded",
                flags | OM_HTTP_NO_AUTH, timeout_ms, cancellable, callback, user_data);
}

JsonNode *
om_http_request_finish (OmHttp        *self,
                        GAsyncResult  *result,
                        guint         *out_status,
                        GError       **error)
{
  OmHttpRequest *req;

  g_return_val_if_fail (OM_IS_HTTP (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == om_http_request_async, NULL);

  req = g_task_get_task_data (G_TASK (result));
  if (out_status != NULL)
    *out_status = req->status;
  return g_task_propagate_pointer (G_TASK (result), error);
}

char *
om_http_escape (const char *segment)
{
  g_return_val_if_fail (segment != NULL, NULL);

  return g_uri_escape_string (segment, NULL, FALSE);
}

void
om_http_form_add (GString    *form,
                  const char *name,
                  const char *value)
{
  g_autofree char *n = NULL;
  g_autofree char *v = NULL;

  g_return_if_fail (form != NULL && name != NULL && value != NULL);

  n = g_uri_escape_string (name, NULL, FALSE);
  v = g_uri_escape_string (value, NULL, FALSE);
  if (form->len > 0)
    g_string_append_c (form, '&');
  g_string_append_printf (form, "%s=%s", n, v);
  explicit_bzero (v, strlen (v));
}

guint
om_http_get_n_connections (OmHttp *self)
{
  g_return_val_if_fail (OM_IS_HTTP (self), 0);

  return self->n_connections;
}

guint
om_http_get_n_requests (OmHttp *self)
{
  g_return_val_if_fail (OM_IS_HTTP (self), 0);

  return self->n_requests;
}
