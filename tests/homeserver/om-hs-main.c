/* om-hs-main.c — the test homeserver: command line, HTTP server, dispatch
 *
 * om-test-homeserver [--port N] [--data-dir DIR] [--server-name NAME] [--demo]
 *                    [--oidc-issuer URL --oidc-client-id ID --oidc-client-secret S]
 *                    [--sso-client-whitelist PREFIX]...
 *                    [--oidc-delegated [--no-stable-auth-metadata]]
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs"
#define PACKAGE_VERSION_STRING "0.1"

#include "om-hs.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static gboolean verbose;

/* Replies */

void
om_hs_reply_json (SoupServerMessage *msg,
                  guint              status,
                  JsonNode          *node)
{
  g_autofree char *body = om_hs_json_to_string (node);
  gsize len = strlen (body);

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                    g_steal_pointer (&body), len);
}

void
om_hs_reply_object (SoupServerMessage *msg,
                    guint              status,
                    JsonObject        *obj)
{
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), obj);

  om_hs_reply_json (msg, status, node);
}

void
om_hs_reply_error (SoupServerMessage *msg,
                   guint              status,
                   const char        *errcode,
                   const char        *error)
{
  g_autoptr(JsonObject) obj = json_object_new ();

  json_object_set_string_member (obj, "errcode", errcode);
  json_object_set_string_member (obj, "error", error);
  om_hs_reply_object (msg, status, obj);
}

void
om_hs_reply_empty (SoupServerMessage *msg)
{
  g_autoptr(JsonObject) obj = json_object_new ();

  om_hs_reply_object (msg, 200, obj);
}

/* Helpers */

gint64
om_hs_now_ms (void)
{
  return g_get_real_time () / 1000;
}

char *
om_hs_random_string (guint    len,
                     gboolean upper_only)
{
  static const char alnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  GString *s = g_string_sized_new (len);

  for (guint i = 0; i < len; i++)
    g_string_append_c (s, alnum[g_random_int_range (0, upper_only ? 26 : 64)]);
  return g_string_free (s, FALSE);
}

char *
om_hs_json_to_string (JsonNode *node)
{
  return json_to_string (node, FALSE);
}

JsonObject *
om_hs_parse_object (const char *json)
{
  g_autoptr(JsonNode) node = NULL;

  if (json == NULL)
    return NULL;
  node = json_from_string (json, NULL);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_object_ref (json_node_get_object (node));
}

const char *
om_hs_json_str (JsonObject *obj,
                const char *key)
{
  JsonNode *n;

  if (obj == NULL || !json_object_has_member (obj, key))
    return NULL;
  n = json_object_get_member (obj, key);
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

const char *
om_hs_query (OmHsRequest *req,
             const char  *key)
{
  return req->query ? g_hash_table_lookup (req->query, key) : NULL;
}

/* Parses the body as a JSON object, answering 400 (M_NOT_JSON / M_BAD_JSON
 * as Synapse does) and returning NULL when it is not one.  An empty body
 * counts as {}. */
JsonObject *
om_hs_request_body (OmHsRequest *req)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  SoupMessageBody *body = soup_server_message_get_request_body (req->msg);
  gsize len;

  bytes = soup_message_body_flatten (body);
  len = g_bytes_get_size (bytes);
  if (len == 0)
    return json_object_new ();
  text = g_strndup (g_bytes_get_data (bytes, NULL), len);
  node = json_from_string (text, &error);
  if (node == NULL)
    {
      om_hs_reply_error (req->msg, 400, "M_NOT_JSON", "Content not JSON.");
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      om_hs_reply_error (req->msg, 400, "M_BAD_JSON", "Content must be a JSON object.");
      return NULL;
    }
  return json_object_ref (json_node_get_object (node));
}

gboolean
om_hs_request_auth (OmHsRequest *req)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (req->msg);
  const char *auth = soup_message_headers_get_one (headers, "Authorization");
  const char *token = NULL;
  gboolean expired = FALSE;

  if (auth && g_ascii_strncasecmp (auth, "Bearer ", 7) == 0)
    token = auth + 7;
  else
    token = om_hs_query (req, "access_token");

  if (token == NULL || token[0] == '\0')
    {
      om_hs_reply_error (req->msg, 401, "M_MISSING_TOKEN", "Missing access token");
      return FALSE;
    }
  if (!om_hs_token_lookup (req->hs, token, &req->user_id, &req->device_id, &expired) &&
      om_hs_oauth_enabled (req->hs))
    {
      /* Not one of ours: the authorization server's (om-hs-oauth.c). */
      g_clear_pointer (&req->user_id, g_free);
      g_clear_pointer (&req->device_id, g_free);
      return om_hs_oauth_authenticate (req, token) == OM_HS_OAUTH_OK;
    }
  if (req->user_id == NULL || expired)
    {
      g_autoptr(JsonObject) obj = json_object_new ();

      json_object_set_string_member (obj, "errcode", "M_UNKNOWN_TOKEN");
      json_object_set_string_member (obj, "error", "Invalid access token passed.");
      json_object_set_boolean_member (obj, "soft_logout", expired);
      om_hs_reply_object (req->msg, 401, obj);
      g_clear_pointer (&req->user_id, g_free);
      g_clear_pointer (&req->device_id, g_free);
      return FALSE;
    }
  return TRUE;
}

gboolean
om_hs_request_is_admin (OmHsRequest *req)
{
  if (req->oauth)
    return req->oauth_admin;
  return om_hs_user_is_admin (req->hs, req->user_id);
}

/* A token bucket per user, like Synapse's rc_message; off unless a test
 * enables it through /_test/ratelimit. */
typedef struct
{
  gdouble burst;
  gdouble per_second;
  gdouble tokens;
  gint64  last_us;
} OmHsRateLimit;

gboolean
om_hs_ratelimit_check (OmHsRequest *req)
{
  OmHsRateLimit *rl = g_hash_table_lookup (req->hs->ratelimits, req->user_id);
  gint64 now = g_get_monotonic_time ();
  g_autoptr(JsonObject) obj = NULL;

  if (rl == NULL)
    return TRUE;
  rl->tokens = MIN (rl->burst, rl->tokens + (now - rl->last_us) / 1e6 * rl->per_second);
  rl->last_us = now;
  if (rl->tokens >= 1.0)
    {
      rl->tokens -= 1.0;
      return TRUE;
    }
  obj = json_object_new ();
  json_object_set_string_member (obj, "errcode", "M_LIMIT_EXCEEDED");
  json_object_set_string_member (obj, "error", "Too Many Requests");
  json_object_set_int_member (obj, "retry_after_ms",
                              (gint64) ((1.0 - rl->tokens) / rl->per_second * 1000.0) + 1);
  om_hs_reply_object (req->msg, 429, obj);
  return FALSE;
}

void
om_hs_ratelimit_set (OmHs       *hs,
                     const char *user_id,
                     gdouble     burst,
                     gdouble     per_second)
{
  OmHsRateLimit *rl;

  if (burst <= 0 || per_second <= 0)
    {
      g_hash_table_remove (hs->ratelimits, user_id);
      return;
    }
  rl = g_new0 (OmHsRateLimit, 1);
  rl->burst = burst;
  rl->per_second = per_second;
  rl->tokens = burst;
  rl->last_us = g_get_monotonic_time ();
  g_hash_table_replace (hs->ratelimits, g_strdup (user_id), rl);
}

/* Dispatch */

static void
request_free (OmHsRequest *req)
{
  g_strfreev (req->segs);
  g_clear_pointer (&req->query, g_hash_table_unref);
  g_free (req->user_id);
  g_free (req->device_id);
  g_free (req);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmHsRequest, request_free)

static void
handle_versions (SoupServerMessage *msg)
{
  static const char *versions[] = {
    "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0",
    "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6",
  };
  g_autoptr(JsonObject) obj = json_object_new ();
  JsonArray *arr = json_array_new ();
  JsonObject *unstable = json_object_new ();

  for (guint i = 0; i < G_N_ELEMENTS (versions); i++)
    json_array_add_string_element (arr, versions[i]);
  json_object_set_array_member (obj, "versions", arr);
  json_object_set_boolean_member (unstable, "org.matrix.msc2285.stable", TRUE);
  json_object_set_boolean_member (unstable, "org.matrix.msc3827.stable", TRUE);
  json_object_set_boolean_member (unstable, "org.matrix.msc3440.stable", TRUE);
  json_object_set_object_member (obj, "unstable_features", unstable);
  om_hs_reply_object (msg, 200, obj);
}

static void
handle_well_known (OmHs              *hs,
                   SoupServerMessage *msg)
{
  g_autoptr(JsonObject) obj = json_object_new ();
  JsonObject *home = json_object_new ();
  g_autofree char *base = g_strdup_printf ("%s/", hs->base_url);

  json_object_set_string_member (home, "base_url", base);
  json_object_set_object_member (obj, "m.homeserver", home);
  om_hs_reply_object (msg, 200, obj);
}

/* Handles one request; returns TRUE when the handler parked it (long-poll). */
static gboolean
process (OmHs              *hs,
         SoupServerMessage *msg,
         const char        *path,
         GHashTable        *query)
{
  g_autoptr(OmHsRequest) req = g_new0 (OmHsRequest, 1);
  const char *method = soup_server_message_get_method (msg);
  gboolean method_ok = TRUE;
  gboolean routed = FALSE;

  req->hs = hs;
  req->msg = msg;
  req->method = method;
  req->query = query ? g_hash_table_ref (query) : NULL;

  if (g_str_equal (path, "/.well-known/matrix/client"))
    {
      if (g_str_equal (method, "GET"))
        handle_well_known (hs, msg);
      else
        om_hs_reply_error (msg, 405, "M_UNRECOGNIZED", "Unrecognized request");
      return FALSE;
    }
  if (g_str_equal (path, "/_matrix/client/versions"))
    {
      if (g_str_equal (method, "GET"))
        handle_versions (msg);
      else
        om_hs_reply_error (msg, 405, "M_UNRECOGNIZED", "Unrecognized request");
      return FALSE;
    }
  /* libsoup 3 decodes the path (also in the message's GUri), so an escaped
   * '/' inside a segment looks like a separator; Matrix IDs never hold one. */
  if (g_str_has_prefix (path, "/_matrix/client/v1/"))
    {
      /* The few v1 endpoints share the v3 routing table, marked "@v1". */
      g_autofree char *rest = g_strconcat ("@v1/", path + strlen ("/_matrix/client/v1/"), NULL);

      routed = om_hs_route_client (req, rest, &method_ok);
    }
  else if (g_str_has_prefix (path, "/_synapse/admin/"))
    routed = om_hs_route_admin (req, path + strlen ("/_synapse/admin/"), &method_ok);
  else if (g_str_has_prefix (path, "/_matrix/client/v3/"))
    routed = om_hs_route_client (req, path + strlen ("/_matrix/client/v3/"), &method_ok);
  else if (g_str_equal (path, "/_matrix/client/unstable/org.matrix.msc2965/auth_issuer") ||
           g_str_equal (path, "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"))
    {
      if (!g_str_equal (method, "GET"))
        {
          om_hs_reply_error (msg, 405, "M_UNRECOGNIZED", "Unrecognized request");
          return FALSE;
        }
      if (g_str_has_suffix (path, "/auth_issuer"))
        om_hs_handle_auth_issuer (req);
      else
        om_hs_handle_auth_metadata (req);
      return soup_server_message_get_status (msg) == 0;
    }
  else if (g_str_equal (path, "/_synapse/client/oidc/callback"))
    {
      om_hs_handle_oidc_callback (req);
      return soup_server_message_get_status (msg) == 0;
    }

  if (routed)
    return soup_server_message_get_status (msg) == 0;
  om_hs_reply_error (msg, method_ok ? 404 : 405, "M_UNRECOGNIZED", "Unrecognized request");
  return FALSE;
}

void
om_hs_redispatch (OmHs              *hs,
                  SoupServerMessage *msg)
{
  GUri *uri = soup_server_message_get_uri (msg);
  const char *q = g_uri_get_query (uri);
  g_autoptr(GHashTable) query = q ? soup_form_decode (q) : NULL;

  if (!process (hs, msg, g_uri_get_path (uri), query))
    soup_server_message_unpause (msg);
}

/* Closes the connection under a request without answering it. */
static void
drop_connection (SoupServerMessage *msg)
{
  GSocket *sock = soup_server_message_get_socket (msg);

  if (sock)
    g_socket_shutdown (sock, TRUE, TRUE, NULL);
  /* libsoup needs a status; the write fails on the shut-down socket. */
  soup_server_message_set_status (msg, 500, NULL);
}

typedef struct
{
  OmHs              *hs;
  SoupServerMessage *msg;     /* owned ref */
  char              *path;
  GHashTable        *query;
  guint              source_id;
} OmHsDelayed;

static void
delayed_free (OmHsDelayed *d)
{
  if (d->source_id)
    g_source_remove (d->source_id);
  g_object_unref (d->msg);
  g_free (d->path);
  g_clear_pointer (&d->query, g_hash_table_unref);
  g_free (d);
}

static gboolean
delayed_cb (gpointer user_data)
{
  OmHsDelayed *d = user_data;

  d->source_id = 0;
  d->hs->delayed = g_list_remove (d->hs->delayed, d);
  if (!process (d->hs, d->msg, d->path, d->query))
    soup_server_message_unpause (d->msg);
  delayed_free (d);
  return G_SOURCE_REMOVE;
}

static void
server_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  OmHs *hs = user_data;
  const char *method = soup_server_message_get_method (msg);
  GSocket *sock = soup_server_message_get_socket (msg);
  OmHsFault *fault;

  hs->n_requests++;
  if (sock && g_object_get_data (G_OBJECT (sock), "om-hs-seen") == NULL)
    {
      g_object_set_data (G_OBJECT (sock), "om-hs-seen", GINT_TO_POINTER (1));
      hs->n_connections++;
    }
  if (verbose)
    g_printerr ("om-test-homeserver: %s %s\n", method, path);

  if (g_str_has_prefix (path, "/_test/"))
    {
      om_hs_handle_control (hs, msg, path);
      return;
    }

  fault = om_hs_fault_match (hs, method, path);
  if (fault == NULL)
    {
      process (hs, msg, path, query);
      return;
    }
  switch (fault->action)
    {
    case OM_HS_FAULT_ERROR:
      if (fault->raw_body)
        {
          soup_server_message_set_status (msg, fault->status, NULL);
          soup_server_message_set_response (msg, fault->content_type, SOUP_MEMORY_COPY,
                                            fault->raw_body, strlen (fault->raw_body));
        }
      else
        om_hs_reply_error (msg, fault->status, fault->errcode ? fault->errcode : "M_UNKNOWN",
                           fault->error);
      break;
    case OM_HS_FAULT_RATELIMIT:
      {
        g_autoptr(JsonObject) obj = json_object_new ();

        json_object_set_string_member (obj, "errcode", "M_LIMIT_EXCEEDED");
        json_object_set_string_member (obj, "error", "Too Many Requests");
        json_object_set_int_member (obj, "retry_after_ms", fault->retry_after_ms);
        om_hs_reply_object (msg, 429, obj);
      }
      break;
    case OM_HS_FAULT_DROP:
      drop_connection (msg);
      break;
    case OM_HS_FAULT_DROP_AFTER:
      process (hs, msg, path, query);
      /* A parked /sync would answer later: forget it. */
      om_hs_waiter_forget (hs, msg);
      drop_connection (msg);
      break;
    case OM_HS_FAULT_DELAY:
      {
        OmHsDelayed *d = g_new0 (OmHsDelayed, 1);

        d->hs = hs;
        d->msg = g_object_ref (msg);
        d->path = g_strdup (path);
        d->query = query ? g_hash_table_ref (query) : NULL;
        soup_server_message_pause (msg);
        d->source_id = g_timeout_add (fault->delay_ms, delayed_cb, d);
        hs->delayed = g_list_prepend (hs->delayed, d);
      }
      break;
    case OM_HS_FAULT_NONE:
    default:
      process (hs, msg, path, query);
      break;
    }
  om_hs_fault_free (fault);
}

static gboolean
quit_cb (gpointer user_data)
{
  OmHs *hs = user_data;

  g_main_loop_quit (hs->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
listen_on (OmHs     *hs,
           guint     port,
           GError  **error)
{
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(GInetAddress) addr = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) saddr = g_inet_socket_address_new (addr, port);
  g_autoptr(GSocketAddress) local = NULL;

  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
  if (sock == NULL)
    return FALSE;
  /* g_socket_bind (allow_reuse = TRUE) sets SO_REUSEADDR, so a restart can
   * take the same port while old connections sit in TIME_WAIT. */
  if (!g_socket_bind (sock, saddr, TRUE, error) || !g_socket_listen (sock, error))
    return FALSE;
  if (!soup_server_listen_socket (hs->server, sock, 0, error))
    return FALSE;
  local = g_socket_get_local_address (sock, error);
  if (local == NULL)
    return FALSE;
  hs->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  return TRUE;
}

static void
ratelimit_free (gpointer p)
{
  g_free (p);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) ctx = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *server_name = NULL;
  g_autofree char *db_path = NULL;
  gint port = 0;
  gboolean demo = FALSE;
  g_autofree char *oidc_issuer = NULL;
  g_autofree char *oidc_client_id = NULL;
  g_autofree char *oidc_client_secret = NULL;
  g_auto(GStrv) sso_whitelist = NULL;
  gboolean oidc_delegated = FALSE;
  gboolean no_stable_auth_metadata = FALSE;
  OmHs hs_storage = { 0 };
  OmHs *hs = &hs_storage;
  GOptionEntry entries[] = {
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "Port on 127.0.0.1 (0 = any free port)", "N" },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Persist state in DIR/homeserver.db", "DIR" },
    { "server-name", 0, 0, G_OPTION_ARG_STRING, &server_name, "server_name in IDs", "NAME" },
    { "demo", 0, 0, G_OPTION_ARG_NONE, &demo, "Seed a demo tenant and run the concierge bot", NULL },
    { "oidc-issuer", 0, 0, G_OPTION_ARG_STRING, &oidc_issuer,
      "SSO through this OpenID provider (idp id oidc-openmeet)", "URL" },
    { "oidc-client-id", 0, 0, G_OPTION_ARG_STRING, &oidc_client_id, "Our client ID there", "ID" },
    { "oidc-client-secret", 0, 0, G_OPTION_ARG_STRING, &oidc_client_secret,
      "Our client secret there", "SECRET" },
    { "sso-client-whitelist", 0, 0, G_OPTION_ARG_STRING_ARRAY, &sso_whitelist,
      "redirectUrl prefix that skips the SSO confirmation page (repeatable)", "PREFIX" },
    { "oidc-delegated", 0, 0, G_OPTION_ARG_NONE, &oidc_delegated,
      "The OpenID provider is the authorization server (Matrix's OAuth 2.0 API, MSC3861)", NULL },
    { "no-stable-auth-metadata", 0, 0, G_OPTION_ARG_NONE, &no_stable_auth_metadata,
      "Serve auth metadata only at the unstable MSC2965 endpoints", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  guint sigterm, sigint;

  ctx = g_option_context_new ("- OpenMeet Chat test homeserver");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("om-test-homeserver: %s\n", error->message);
      return 2;
    }
  verbose = g_strcmp0 (g_getenv ("OM_HS_VERBOSE"), "1") == 0;
  if (oidc_issuer && oidc_client_id == NULL)
    {
      g_printerr ("om-test-homeserver: --oidc-issuer needs --oidc-client-id\n");
      return 2;
    }
  if (oidc_delegated && oidc_issuer == NULL)
    {
      g_printerr ("om-test-homeserver: --oidc-delegated needs --oidc-issuer\n");
      return 2;
    }

  hs->typing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) g_hash_table_unref);
  hs->typing_pos = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  hs->uia_sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  hs->ll_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_hash_table_unref);
  hs->ratelimits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, ratelimit_free);
  hs->received_us = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  hs->delivered_us = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  hs->rand = g_rand_new_with_seed (42);
  hs->next_fault_id = 1;
  hs->token_lifetime_ms = 300000;
  hs->demo = demo;
  hs->sso = om_hs_sso_new (oidc_issuer, oidc_client_id, oidc_client_secret,
                           (const char * const *) sso_whitelist);
  if (oidc_delegated)
    hs->oauth = om_hs_oauth_new (oidc_issuer, oidc_client_id, oidc_client_secret,
                                 !no_stable_auth_metadata);

  hs->server = soup_server_new ("server-header", "om-test-homeserver/" PACKAGE_VERSION_STRING, NULL);
  soup_server_add_handler (hs->server, NULL, server_cb, hs, NULL);
  if (!listen_on (hs, (guint) port, &error))
    {
      g_printerr ("om-test-homeserver: cannot listen on port %d: %s\n", port, error->message);
      g_object_unref (hs->server);
      return 1;
    }
  hs->base_url = g_strdup_printf ("http://127.0.0.1:%u", hs->port);
  hs->server_name = server_name ? g_strdup (server_name)
                                : g_strdup_printf ("127.0.0.1:%u", hs->port);

  if (data_dir)
    {
      g_mkdir_with_parents (data_dir, 0700);
      db_path = g_build_filename (data_dir, "homeserver.db", NULL);
    }
  if (!om_hs_state_open (hs, db_path, &error))
    {
      g_printerr ("om-test-homeserver: %s\n", error->message);
      return 1;
    }
  if (demo)
    om_hs_demo_seed (hs);

  hs->loop = g_main_loop_new (NULL, FALSE);
  sigterm = g_unix_signal_add (SIGTERM, quit_cb, hs);
  sigint = g_unix_signal_add (SIGINT, quit_cb, hs);

  printf ("OM_TEST_HOMESERVER_LISTENING %s\n", hs->base_url);
  fflush (stdout);

  g_main_loop_run (hs->loop);

  g_source_remove (sigterm);
  g_source_remove (sigint);
  om_hs_demo_shutdown (hs);
  om_hs_waiters_cancel_all (hs);
  g_list_free_full (g_steal_pointer (&hs->delayed), (GDestroyNotify) delayed_free);
  om_hs_typing_clear_all (hs);
  soup_server_disconnect (hs->server);
  g_clear_pointer (&hs->sso, om_hs_sso_free);
  g_clear_pointer (&hs->oauth, om_hs_oauth_free);
  g_clear_object (&hs->server);
  if (hs->notify_idle)
    g_source_remove (hs->notify_idle);
  om_hs_faults_clear (hs);
  om_hs_admin_shutdown ();
  om_hs_state_close (hs);
  g_hash_table_unref (hs->typing);
  g_hash_table_unref (hs->typing_pos);
  g_hash_table_unref (hs->uia_sessions);
  g_hash_table_unref (hs->ll_cache);
  g_clear_pointer (&hs->sync_cache, g_hash_table_unref);
  g_hash_table_unref (hs->ratelimits);
  g_hash_table_unref (hs->received_us);
  g_hash_table_unref (hs->delivered_us);
  g_rand_free (hs->rand);
  g_main_loop_unref (hs->loop);
  g_free (hs->base_url);
  g_free (hs->server_name);
  return 0;
}
