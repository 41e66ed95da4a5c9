/* om-sso.c — SSO sign-in: redirect URL, one-shot loopback listener, pasted
 * URL, and the flow ending in POST /login m.login.token
 *
 * The listener is a bare HTTP/1.x responder on GIO sockets (libsoup is not
 * available to the core).  It serves connections concurrently because
 * browsers open speculative connections that never carry a request; the
 * first complete request decides the outcome, so a stray request cannot
 * make the listener wait on for a second, attacker-chosen one.
 *
 * The login token travels in the request line: the buffers that held it
 * are wiped, and nothing here logs a URL with its query.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-sso"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "om-error.h"
#include "om-sso.h"

#define REDIRECT_PATH     "/_matrix/client/v3/login/sso/redirect"
#define CALLBACK_PATH     "/sso-callback"
#define OAUTH_CALLBACK_PATH "/callback"
#define MAX_REQUEST_HEAD  8192
/* A connection that sends no complete request in this time is dropped. */
#define CONN_TIMEOUT_MS   10000
#define STATE_BYTES       16

/* ---- helpers ----------------------------------------------------------- */

static void
wipe_free (char *s)
{
  if (s != NULL)
    {
      explicit_bzero (s, strlen (s));
      g_free (s);
    }
}

/* Compares without an early exit, so the time taken does not tell how
 * much of a guessed state was right.  Lengths are public. */
static gboolean
const_time_equal (const char *a,
                  const char *b)
{
  gsize len = strlen (a);
  guchar diff = 0;

  if (len != strlen (b))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    diff |= (guchar) a[i] ^ (guchar) b[i];
  return diff == 0;
}

typedef enum {
  PARAM_ABSENT,
  PARAM_FOUND,
  PARAM_BAD,     /* repeated, or not decodable */
} ParamStatus;

/* Looks up @name in @query ("a=1&b=2": no '?', no fragment) and decodes
 * its value as a form value ('+' is a space).  *@out_value is owned and
 * may be a secret: the caller wipes it. */
static ParamStatus
query_get (const char  *query,
           const char  *name,
           char       **out_value)
{
  gsize name_len = strlen (name);
  const char *p = query;
  char *found = NULL;

  while (*p != '\0')
    {
      const char *end = strchr (p, '&');
      const char *eq;

      if (end == NULL)
        end = p + strlen (p);
      eq = memchr (p, '=', end - p);
      if ((gsize) ((eq != NULL ? eq : end) - p) == name_len && memcmp (p, name, name_len) == 0)
        {
          char *raw;
          char *decoded;

          if (found != NULL)
            {
              wipe_free (found);
              return PARAM_BAD;
            }
          raw = eq != NULL ? g_strndup (eq + 1, end - eq - 1) : g_strdup ("");
          for (char *c = raw; *c != '\0'; c++)
            if (*c == '+')
              *c = ' ';
          decoded = g_uri_unescape_string (raw, NULL);
          wipe_free (raw);
          if (decoded == NULL)
            return PARAM_BAD;
          found = decoded;
        }
      p = *end == '&' ? end + 1 : end;
    }

  *out_value = found;
  return found != NULL ? PARAM_FOUND : PARAM_ABSENT;
}

/* ---- public helpers ---------------------------------------------------- */

char *
om_sso_build_redirect_url (const char *homeserver_url,
                           const char *idp_id,
                           const char *redirect_url)
{
  g_autofree char *base = NULL;
  g_autofree char *escaped_redirect = NULL;
  g_autofree char *escaped_idp = NULL;
  gsize len;

  g_return_val_if_fail (homeserver_url != NULL && homeserver_url[0] != '\0', NULL);
  g_return_val_if_fail (redirect_url != NULL && redirect_url[0] != '\0', NULL);

  base = g_strdup (homeserver_url);
  len = strlen (base);
  while (len > 0 && base[len - 1] == '/')
    base[--len] = '\0';

  escaped_redirect = g_uri_escape_string (redirect_url, NULL, FALSE);
  if (idp_id != NULL && idp_id[0] != '\0')
    {
      escaped_idp = om_http_escape (idp_id);
      return g_strdup_printf ("%s" REDIRECT_PATH "/%s?redirectUrl=%s",
                              base, escaped_idp, escaped_redirect);
    }
  return g_strdup_printf ("%s" REDIRECT_PATH "?redirectUrl=%s", base, escaped_redirect);
}

char *
om_sso_new_state (void)
{
  guchar bytes[STATE_BYTES];
  gsize got = 0;
  char *state;

  /* getrandom, not g_random: the state guards the token against forgery. */
  while (got < sizeof bytes)
    {
      gssize n = getrandom (bytes + got, sizeof bytes - got, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        g_error ("No random bytes for the SSO state: %s", g_strerror (errno));
      got += n;
    }

  state = g_base64_encode (bytes, sizeof bytes);
  explicit_bzero (bytes, sizeof bytes);
  for (char *c = state; *c != '\0'; c++)
    {
      if (*c == '+')
        *c = '-';
      else if (*c == '/')
        *c = '_';
      else if (*c == '=')
        {
          *c = '\0';
          break;
        }
    }
  return state;
}

gboolean
om_sso_address_is_loopback (GSocketAddress *address)
{
  g_return_val_if_fail (address == NULL || G_IS_SOCKET_ADDRESS (address), FALSE);

  if (address == NULL || !G_IS_INET_SOCKET_ADDRESS (address))
    return FALSE;
  return g_inet_address_get_is_loopback (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address)));
}

char *
om_sso_parse_pasted_url (const char  *url,
                         const char  *expected_state,
                         GError     **error)
{
  GString *compact;
  char *query;
  char *fragment;
  char *token = NULL;
  g_autofree char *state = NULL;
  ParamStatus status;

  g_return_val_if_fail (url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* Terminals may wrap a long URL over lines: whitespace is never part of one. */
  compact = g_string_sized_new (strlen (url));
  for (const char *c = url; *c != '\0'; c++)
    if (!g_ascii_isspace (*c))
      g_string_append_c (compact, *c);

  fragment = strchr (compact->str, '#');
  if (fragment != NULL)
    *fragment = '\0';
  query = strchr (compact->str, '?');

  if (compact->str[0] == '\0')
    {
      g_set_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT,
                   "Nothing was pasted: paste the address the browser ended on after signing in");
      goto out;
    }

  status = query != NULL ? query_get (query + 1, "loginToken", &token) : PARAM_ABSENT;
  if (status == PARAM_BAD || (status == PARAM_FOUND && token[0] == '\0'))
    {
      g_set_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT,
                   "The pasted address has a damaged login token: copy the whole address again");
      g_clear_pointer (&token, wipe_free);
      goto out;
    }
  if (status == PARAM_ABSENT)
    {
      g_set_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT,
                   "The pasted address has no login token: finish signing in in the browser, "
                   "then copy the address it ends on (it contains “loginToken=”)");
      goto out;
    }

  if (expected_state != NULL)
    {
      status = query_get (query + 1, "state", &state);
      if (status != PARAM_FOUND || !const_time_equal (state, expected_state))
        {
          g_set_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT,
                       "The pasted address belongs to another sign-in (its state does not match): "
                       "open the sign-in address shown here and paste the address that one ends on");
          g_clear_pointer (&token, wipe_free);
          goto out;
        }
    }

out:
  explicit_bzero (compact->str, compact->len);
  g_string_free (compact, TRUE);
  return token;
}

/* ---- OmSsoListener ----------------------------------------------------- */

struct _OmSsoListener
{
  GObject          parent_instance;

  GSocketListener *socket_listener;     /* owned; closed once the wait ends */
  guint16          port;
  char            *state;               /* owned */
  char            *redirect_url;        /* owned */
  guint            timeout_ms;
  const char      *callback_path;       /* static */
  const char      *token_param;         /* static: "loginToken", or "code" for OAuth */
  gboolean         oauth;               /* OAuth 2.0 redirect: error=… answers */
  char            *retry_error;         /* owned, nullable: an OAuth error that sends… */
  char            *retry_url;           /* owned, nullable: …the browser here, once */

  GTask           *task;                /* owned while waiting */
  GCancellable    *accept_cancellable;  /* owned while waiting */
  GSource         *timeout_source;      /* owned while waiting */
  GSource         *cancel_source;       /* owned while waiting */
  GList           *conns;               /* of Conn, borrowed: each is owned by its pending operation */
  gboolean         used;                /* a request was taken, or the wait ended */
};

G_DEFINE_FINAL_TYPE (OmSsoListener, om_sso_listener, G_TYPE_OBJECT)

typedef struct
{
  OmSsoListener     *listener;         /* borrowed; NULL once the listener is gone */
  GSocketConnection *connection;       /* owned */
  GCancellable      *cancellable;      /* owned */
  GSource           *timeout_source;   /* owned, nullable */
  char               head[MAX_REQUEST_HEAD + 1];  /* may hold the token: wiped */
  gsize              head_len;
  GBytes            *response;         /* owned, nullable */
  gboolean           decides;          /* carries the request that decides the wait */
  char              *token;            /* owned, secret: the outcome, once answered */
  GError            *error;            /* owned: the outcome, once answered */
} Conn;

static void listener_complete (OmSsoListener *self,
                               char          *token,
                               GError        *error);

static void
conn_free (Conn *conn)
{
  if (conn->listener != NULL)
    conn->listener->conns = g_list_remove (conn->listener->conns, conn);
  if (conn->timeout_source != NULL)
    {
      g_source_destroy (conn->timeout_source);
      g_source_unref (conn->timeout_source);
    }
  explicit_bzero (conn->head, sizeof conn->head);
  g_clear_pointer (&conn->token, wipe_free);
  g_clear_error (&conn->error);
  g_clear_pointer (&conn->response, g_bytes_unref);
  g_io_stream_close (G_IO_STREAM (conn->connection), NULL, NULL);
  g_object_unref (conn->connection);
  g_object_unref (conn->cancellable);
  g_free (conn);
}

static gboolean
conn_timeout_cb (gpointer user_data)
{
  Conn *conn = user_data;

  g_clear_pointer (&conn->timeout_source, g_source_unref);
  g_debug ("Dropping a connection that sent no request");
  g_cancellable_cancel (conn->cancellable);  /* the pending read frees it */
  return G_SOURCE_REMOVE;
}

static GBytes *
build_redirect (const char *url)
{
  char *text = g_strdup_printf ("HTTP/1.1 303 See Other\r\n"
                                "Location: %s\r\n"
                                "Content-Length: 0\r\n"
                                "Cache-Control: no-store\r\n"
                                "Referrer-Policy: no-referrer\r\n"
                                "Connection: close\r\n"
                                "\r\n", url);

  return g_bytes_new_take (text, strlen (text));
}

/* What an OAuth 2.0 error redirect (RFC 6749 §4.1.2.1) means for people. */
static GError *
oauth_redirect_error (const char *code,
                      const char *description)
{
  if (g_strcmp0 (code, "access_denied") == 0)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                        "The sign-in was refused or cancelled in the browser");
  if (description != NULL && description[0] != '\0')
    return g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "The authorization server refused the sign-in: %s (%s)", description, code);
  return g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                      "The authorization server refused the sign-in (%s)", code);
}

static GBytes *
build_response (guint       status,
                const char *reason,
                const char *title,
                const char *message)
{
  g_autofree char *escaped = g_markup_escape_text (message, -1);
  g_autofree char *body = NULL;
  char *text;

  body = g_strdup_printf ("<!DOCTYPE html>\n"
                          "<html><head><meta charset=\"utf-8\"><title>OpenMeet Chat</title></head>\n"
                          "<body><h1>%s</h1><p>%s</p></body></html>\n",
                          title, escaped);
  /* The page's own URL holds the token: no referrer, no caching, no
   * loading of anything else. */
  text = g_strdup_printf ("HTTP/1.1 %u %s\r\n"
                          "Content-Type: text/html; charset=utf-8\r\n"
                          "Content-Length: %zu\r\n"
                          "Cache-Control: no-store\r\n"
                          "Referrer-Policy: no-referrer\r\n"
                          "Content-Security-Policy: default-src 'none'\r\n"
                          "X-Content-Type-Options: nosniff\r\n"
                          "Connection: close\r\n"
                          "\r\n"
                          "%s",
                          status, reason, strlen (body), body);
  return g_bytes_new_take (text, strlen (text));
}

/* Decides the wait from the request in @conn->head (NUL-terminated, maybe
 * truncated at MAX_REQUEST_HEAD): sets the token or the error and the
 * page that says so. */
static void
conn_decide (Conn     *conn,
             gboolean  complete)
{
  OmSsoListener *self = conn->listener;
  g_autofree char *state = NULL;
  char *line_end;
  char *method;
  char *target;
  char *version;
  char *query;
  guint status = 400;
  const char *reason = "Bad Request";
  ParamStatus found;

  line_end = strpbrk (conn->head, "\r\n");
  if (!complete || line_end == NULL)
    {
      conn->error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 "The browser sent an oversized request to the sign-in listener");
      goto fail;
    }
  *line_end = '\0';

  method = conn->head;
  target = strchr (method, ' ');
  version = target != NULL ? strchr (target + 1, ' ') : NULL;
  if (target == NULL || version == NULL || !g_str_has_prefix (version + 1, "HTTP/1."))
    {
      conn->error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 "The sign-in listener received something that is not an HTTP request");
      goto fail;
    }
  *target++ = '\0';
  *version = '\0';

  if (strcmp (method, "GET") != 0)
    {
      status = 405;
      reason = "Method Not Allowed";
      conn->error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 "The sign-in listener received a %s request instead of the "
                                 "browser returning from the sign-in", method);
      goto fail;
    }

  query = strchr (target, '?');
  if (query != NULL)
    *query++ = '\0';
  if (strcmp (target, self->callback_path) != 0)
    {
      status = 404;
      reason = "Not Found";
      conn->error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 "The sign-in listener received a request for an unexpected address");
      goto fail;
    }

  found = query != NULL ? query_get (query, "state", &state) : PARAM_ABSENT;
  if (found != PARAM_FOUND || !const_time_equal (state, self->state))
    {
      conn->error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 "The browser came back from a sign-in that OpenMeet Chat did not "
                                 "start (the state does not match): start the sign-in again");
      goto fail;
    }

  if (self->oauth)
    {
      g_autofree char *code = NULL;
      g_autofree char *description = NULL;

      if (query_get (query, "error", &code) == PARAM_FOUND)
        {
          if (self->retry_error != NULL && strcmp (code, self->retry_error) == 0)
            {
              g_autofree char *url = g_steal_pointer (&self->retry_url);

              g_clear_pointer (&self->retry_error, g_free);
              g_debug ("The authorization server answered %s: trying again", code);
              conn->decides = FALSE;
              self->used = FALSE;
              conn->response = build_redirect (url);
              return;
            }
          query_get (query, "error_description", &description);
          conn->error = oauth_redirect_error (code, description);
          goto fail;
        }
    }

  found = query_get (query, self->token_param, &conn->token);
  if (found != PARAM_FOUND || conn->token[0] == '\0')
    {
      g_clear_pointer (&conn->token, wipe_free);
      conn->error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 "The homeserver sent the browser back without a login token: "
                                 "start the sign-in again");
      goto fail;
    }

  g_debug ("Received the login token");
  conn->response = build_response (200, "OK", "Signed in",
                                   "You are signed in to OpenMeet Chat; you can close this tab.");
  return;

fail:
  g_debug ("Bad sign-in request: %s", conn->error->message);
  conn->response = build_response (status, reason, "Sign-in failed", conn->error->message);
}

static void
conn_write_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    g_debug ("Could not answer the browser: %s", error->message);

  /* The browser's page failing to load does not make the token invalid. */
  if (conn->decides && conn->listener != NULL)
    listener_complete (conn->listener, g_steal_pointer (&conn->token),
                       g_steal_pointer (&conn->error));
  conn_free (conn);
}

static void
conn_answer (Conn     *conn,
             gboolean  complete)
{
  OmSsoListener *self = conn->listener;
  GOutputStream *output = g_io_stream_get_output_stream (G_IO_STREAM (conn->connection));

  if (self->used || self->task == NULL)
    {
      g_debug ("Refusing a request after the one the listener takes");
      conn->response = build_response (410, "Gone", "Sign-in failed",
                                       "This sign-in address has been used already. "
                                       "Go back to OpenMeet Chat and start the sign-in again if needed.");
    }
  else
    {
      self->used = TRUE;
      conn->decides = TRUE;
      conn_decide (conn, complete);
    }

  g_output_stream_write_all_async (output,
                                   g_bytes_get_data (conn->response, NULL),
                                   g_bytes_get_size (conn->response),
                                   G_PRIORITY_DEFAULT, conn->cancellable,
                                   conn_write_cb, conn);
}

static void conn_read (Conn *conn);

static void
conn_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  if (n <= 0 || conn->listener == NULL)
    {
      conn_free (conn);
      return;
    }

  conn->head_len += n;
  conn->head[conn->head_len] = '\0';
  if (strstr (conn->head, "\r\n\r\n") != NULL || strstr (conn->head, "\n\n") != NULL)
    conn_answer (conn, TRUE);
  else if (conn->head_len == MAX_REQUEST_HEAD)
    conn_answer (conn, FALSE);
  else
    conn_read (conn);
}

static void
conn_read (Conn *conn)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (conn->connection));

  g_input_stream_read_async (input, conn->head + conn->head_len,
                             MAX_REQUEST_HEAD - conn->head_len,
                             G_PRIORITY_DEFAULT, conn->cancellable,
                             conn_read_cb, conn);
}

static void
conn_start (OmSsoListener     *self,
            GSocketConnection *connection)
{
  g_autoptr(GSocketAddress) peer = g_socket_connection_get_remote_address (connection, NULL);
  Conn *conn;

  if (!om_sso_address_is_loopback (peer))
    {
      g_debug ("Refusing a connection from an address that is not loopback");
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      g_object_unref (connection);
      return;
    }

  conn = g_new0 (Conn, 1);
  conn->listener = self;
  conn->connection = connection;
  conn->cancellable = g_cancellable_new ();
  conn->timeout_source = g_timeout_source_new (CONN_TIMEOUT_MS);
  g_source_set_callback (conn->timeout_source, conn_timeout_cb, conn, NULL);
  g_source_attach (conn->timeout_source, g_main_context_get_thread_default ());
  self->conns = g_list_prepend (self->conns, conn);
  conn_read (conn);
}

static void accept_next (OmSsoListener *self);

static void
accept_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(OmSsoListener) self = user_data;  /* the ref accept_next took */
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  connection = g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), result, NULL, &error);
  if (connection != NULL)
    conn_start (self, connection);
  else if (self->task != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      listener_complete (self, NULL,
                         g_error_new (error->domain, error->code,
                                      "The sign-in listener stopped accepting connections: %s",
                                      error->message));
      return;
    }

  if (self->task != NULL)
    accept_next (self);
}

static void
accept_next (OmSsoListener *self)
{
  g_socket_listener_accept_async (self->socket_listener, self->accept_cancellable,
                                  accept_cb, g_object_ref (self));
}

/* Ends the wait with @token or @error (both taken; one is NULL).  Later
 * outcomes are dropped. */
static void
listener_complete (OmSsoListener *self,
                   char          *token,
                   GError        *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->task);

  g_assert ((token == NULL) != (error == NULL));

  if (task == NULL)
    {
      wipe_free (token);
      g_clear_error (&error);
      return;
    }

  self->used = TRUE;
  if (self->timeout_source != NULL)
    g_source_destroy (self->timeout_source);
  g_clear_pointer (&self->timeout_source, g_source_unref);
  if (self->cancel_source != NULL)
    g_source_destroy (self->cancel_source);
  g_clear_pointer (&self->cancel_source, g_source_unref);
  g_cancellable_cancel (self->accept_cancellable);
  g_clear_object (&self->accept_cancellable);
  g_socket_listener_close (self->socket_listener);

  if (token != NULL)
    g_task_return_pointer (task, token, (GDestroyNotify) wipe_free);
  else
    g_task_return_error (task, error);
}

static gboolean
wait_timeout_cb (gpointer user_data)
{
  OmSsoListener *self = user_data;
  guint timeout_ms = self->timeout_ms;
  GError *error;

  if (timeout_ms >= 60000 && timeout_ms % 60000 == 0)
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         "Nobody finished signing in within %u minutes: start the sign-in again",
                         timeout_ms / 60000);
  else
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         "Nobody finished signing in within %u seconds: start the sign-in again",
                         MAX (timeout_ms / 1000, 1));
  listener_complete (self, NULL, error);
  return G_SOURCE_REMOVE;
}

static gboolean
wait_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  OmSsoListener *self = user_data;

  listener_complete (self, NULL,
                     g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                          "The sign-in was cancelled"));
  return G_SOURCE_REMOVE;
}

static void
om_sso_listener_dispose (GObject *object)
{
  OmSsoListener *self = OM_SSO_LISTENER (object);

  g_assert (self->task == NULL);  /* a waiting task holds a reference */

  for (GList *l = self->conns; l != NULL; l = l->next)
    {
      Conn *conn = l->data;

      conn->listener = NULL;
      g_cancellable_cancel (conn->cancellable);
    }
  g_clear_pointer (&self->conns, g_list_free);

  if (self->socket_listener != NULL)
    g_socket_listener_close (self->socket_listener);
  g_clear_object (&self->socket_listener);

  G_OBJECT_CLASS (om_sso_listener_parent_class)->dispose (object);
}

static void
om_sso_listener_finalize (GObject *object)
{
  OmSsoListener *self = OM_SSO_LISTENER (object);

  g_free (self->state);
  g_free (self->redirect_url);
  g_free (self->retry_error);
  g_free (self->retry_url);

  G_OBJECT_CLASS (om_sso_listener_parent_class)->finalize (object);
}

static void
om_sso_listener_class_init (OmSsoListenerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = om_sso_listener_dispose;
  object_class->finalize = om_sso_listener_finalize;
}

static void
om_sso_listener_init (OmSsoListener *self)
{
  self->timeout_ms = OM_SSO_DEFAULT_TIMEOUT_MS;
  self->callback_path = CALLBACK_PATH;
  self->token_param = "loginToken";
}

static OmSsoListener *listener_new (gboolean   oauth,
                                    GError   **error);

OmSsoListener *
om_sso_listener_new (GError **error)
{
  return listener_new (FALSE, error);
}

OmSsoListener *
om_sso_listener_new_oauth (GError **error)
{
  return listener_new (TRUE, error);
}

void
om_sso_listener_set_retry (OmSsoListener *self,
                           const char    *oauth_error,
                           const char    *url)
{
  g_return_if_fail (OM_IS_SSO_LISTENER (self));
  g_return_if_fail (self->oauth);

  g_free (self->retry_error);
  g_free (self->retry_url);
  self->retry_error = g_strdup (url != NULL ? oauth_error : NULL);
  self->retry_url = g_strdup (oauth_error != NULL ? url : NULL);
}

static OmSsoListener *
listener_new (gboolean   oauth,
              GError   **error)
{
  g_autoptr(OmSsoListener) self = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) effective = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (OM_TYPE_SSO_LISTENER, NULL);
  self->socket_listener = g_socket_listener_new ();

  /* 127.0.0.1 only: never the wildcard address, never another interface. */
  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, 0);
  if (!g_socket_listener_add_address (self->socket_listener, address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &effective, error))
    {
      g_prefix_error (error, "Could not listen on 127.0.0.1 for the sign-in: ");
      return NULL;
    }

  self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  self->state = om_sso_new_state ();
  if (oauth)
    {
      /* RFC 8252 §7.3: the client registered the URI without a port. */
      self->oauth = TRUE;
      self->callback_path = OAUTH_CALLBACK_PATH;
      self->token_param = "code";
      self->redirect_url = g_strdup_printf ("http://127.0.0.1:%u" OAUTH_CALLBACK_PATH, self->port);
    }
  else
    self->redirect_url = g_strdup_printf ("http://127.0.0.1:%u" CALLBACK_PATH "?state=%s",
                                          self->port, self->state);
  g_debug ("Listening for the sign-in on 127.0.0.1:%u", self->port);

  return g_steal_pointer (&self);
}

const char *
om_sso_listener_get_redirect_url (OmSsoListener *self)
{
  g_return_val_if_fail (OM_IS_SSO_LISTENER (self), NULL);

  return self->redirect_url;
}

const char *
om_sso_listener_get_state (OmSsoListener *self)
{
  g_return_val_if_fail (OM_IS_SSO_LISTENER (self), NULL);

  return self->state;
}

guint16
om_sso_listener_get_port (OmSsoListener *self)
{
  g_return_val_if_fail (OM_IS_SSO_LISTENER (self), 0);

  return self->port;
}

void
om_sso_listener_set_timeout_ms (OmSsoListener *self,
                                guint          timeout_ms)
{
  g_return_if_fail (OM_IS_SSO_LISTENER (self));
  g_return_if_fail (timeout_ms > 0);

  self->timeout_ms = timeout_ms;
}

guint
om_sso_listener_get_timeout_ms (OmSsoListener *self)
{
  g_return_val_if_fail (OM_IS_SSO_LISTENER (self), 0);

  return self->timeout_ms;
}

void
om_sso_listener_wait_async (OmSsoListener       *self,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (OM_IS_SSO_LISTENER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  g_return_if_fail (self->task == NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_sso_listener_wait_async);

  if (self->used)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               "This sign-in listener has been used already: start a new sign-in");
      return;
    }

  self->task = g_steal_pointer (&task);
  self->accept_cancellable = g_cancellable_new ();

  self->timeout_source = g_timeout_source_new (self->timeout_ms);
  g_source_set_callback (self->timeout_source, wait_timeout_cb, self, NULL);
  g_source_attach (self->timeout_source, g_main_context_get_thread_default ());

  if (cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (wait_cancelled_cb), self, NULL);
      g_source_attach (self->cancel_source, g_main_context_get_thread_default ());
    }

  accept_next (self);
}

char *
om_sso_listener_wait_finish (OmSsoListener  *self,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (OM_IS_SSO_LISTENER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, om_sso_listener_wait_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- the whole flow ---------------------------------------------------- */

typedef struct
{
  OmHttp *http;                /* owned */
  char   *device_id;           /* owned, nullable */
  char   *device_display_name; /* owned, nullable */
} LoginData;

static void
login_data_free (LoginData *data)
{
  g_clear_object (&data->http);
  g_free (data->device_id);
  g_free (data->device_display_name);
  g_free (data);
}

static void
login_token_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  OmLoginResult *login;

  login = om_auth_login_finish (result, &error);
  if (login == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, login, (GDestroyNotify) om_login_result_free);
}

static void
login_wait_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  LoginData *data = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  GError *error = NULL;
  char *token;

  token = om_sso_listener_wait_finish (OM_SSO_LISTENER (source), result, &error);
  if (token == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  om_auth_login_token_async (data->http, token, data->device_id, data->device_display_name,
                             cancellable, login_token_cb,
                             g_steal_pointer (&task));
  wipe_free (token);
}

void
om_sso_login_async (OmHttp              *http,
                    OmSsoListener       *listener,
                    const char          *device_id,
                    const char          *device_display_name,
                    GCancellable        *cancellable,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  LoginData *data;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (OM_IS_SSO_LISTENER (listener));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  data = g_new0 (LoginData, 1);
  data->http = g_object_ref (http);
  data->device_id = g_strdup (device_id);
  data->device_display_name = g_strdup (device_display_name);

  task = g_task_new (http, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_sso_login_async);
  g_task_set_task_data (task, data, (GDestroyNotify) login_data_free);

  om_sso_listener_wait_async (listener, cancellable, login_wait_cb, g_steal_pointer (&task));
}

OmLoginResult *
om_sso_login_finish (GAsyncResult  *result,
                     GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, om_sso_login_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
