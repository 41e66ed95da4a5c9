/* om-http.h — HTTP to the homeserver: libcurl multi inside the GLib main loop
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define OM_TYPE_HTTP (om_http_get_type ())
G_DECLARE_FINAL_TYPE (OmHttp, om_http, OM, HTTP, GObject)

typedef enum {
  OM_HTTP_FLAGS_NONE     = 0,
  /* Do not send the access token (login, discovery, /versions). */
  OM_HTTP_NO_AUTH        = 1 << 0,
  /* Return 429 to the caller instead of waiting retry_after_ms and retrying. */
  OM_HTTP_NO_RETRY       = 1 << 1,
  /* The body may legitimately be empty or non-JSON on success; the result is
   * then NULL with no error. */
  OM_HTTP_ALLOW_EMPTY    = 1 << 2,
} OmHttpFlags;

/* @base_url: "https://matrix.example.org" (no trailing slash needed). */
OmHttp      *om_http_new                 (const char          *base_url);

const char  *om_http_get_base_url        (OmHttp              *self);
void         om_http_set_base_url        (OmHttp              *self,
                                          const char          *base_url);
/* The token is sent as "Authorization: Bearer"; it is never logged. */
void         om_http_set_access_token    (OmHttp              *self,
                                          const char          *access_token);
gboolean     om_http_has_access_token    (OmHttp              *self);
/* A copy of the token for whoever stores credentials (owned). */
char        *om_http_dup_access_token    (OmHttp              *self);

/* Sends one request and parses the JSON response.
 *
 * @path is either a path below the base URL, already percent-encoded and
 * with its query ("/_matrix/client/v3/sync?since=…"), or an absolute
 * http(s) URL (discovery).  @body, if not NULL, is sent as JSON.
 * @timeout_ms bounds the whole exchange (0: a default of 60 s); a long-poll
 * passes its own timeout plus a margin.
 *
 * Non-2xx answers become OM_ERROR errors (om_error_new_from_response);
 * transport failures become G_IO_ERROR errors; a 2xx whose body is not
 * JSON becomes OM_ERROR_BAD_RESPONSE.  429 is retried after retry_after_ms
 * (a bounded number of times) unless OM_HTTP_NO_RETRY.  Cancelling
 * @cancellable removes the transfer from curl at once. */
void         om_http_request_async       (OmHttp              *self,
                                          const char          *method,
                                          const char          *path,
                                          JsonNode            *body,
                                          OmHttpFlags          flags,
                                          guint                timeout_ms,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
/* Returns the response body (owned), or NULL with @error set.  With
 * OM_HTTP_ALLOW_EMPTY, NULL and no error for an empty body.
 * @out_status (nullable) receives the final HTTP status (0 if none). */
JsonNode    *om_http_request_finish      (OmHttp              *self,
                                          GAsyncResult        *result,
                                          guint               *out_status,
                                          GError             **error);

/* POSTs @form (application/x-www-form-urlencoded, already encoded: see
 * om_http_form_add) to the absolute @url without the access token (OAuth
 * 2.0 endpoints), and parses the JSON answer as om_http_request_async()
 * does; finish with om_http_request_finish().  The body is wiped after. */
void         om_http_post_form_async     (OmHttp              *self,
                                          const char          *url,
                                          const char          *form,
                                          OmHttpFlags          flags,
                                          guint                timeout_ms,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
/* Appends "&name=value" (no "&" first) to @form, both percent-encoded. */
void         om_http_form_add            (GString             *form,
                                          const char          *name,
                                          const char          *value);

/* ---- access token refresh ----
 *
 * With a refresh function set, a request whose token the server rejects
 * (401 M_UNKNOWN_TOKEN) waits, and the function is called once for all
 * such requests; it must end with om_http_refresh_done().  With a new token
 * the waiting requests go again (each once); with an error they fail with
 * it (transient: retry later; M_UNKNOWN_TOKEN: signed out).  A request that went out with an older token than the current one
 * simply goes again. */
typedef void (*OmHttpRefreshFunc) (OmHttp   *http,
                                   gpointer  user_data);
void         om_http_set_refresh_func    (OmHttp              *self,
                                          OmHttpRefreshFunc    func,
                                          gpointer             user_data,
                                          GDestroyNotify       destroy);
/* @access_token (the new one) or @error.  Sets the token even when no
 * request waits (a refresh ahead of expiry). */
void         om_http_refresh_done        (OmHttp              *self,
                                          const char          *access_token,
                                          const GError        *error);
gboolean     om_http_is_refreshing       (OmHttp              *self);

/* Percent-encodes one path segment (room ID, user ID, event type, txnId). */
char        *om_http_escape              (const char          *segment);

/* Statistics for tests and benchmarks. */
guint        om_http_get_n_connections   (OmHttp              *self);  /* connections curl opened */
guint        om_http_get_n_requests      (OmHttp              *self);  /* transfers started */

G_END_DECLS
