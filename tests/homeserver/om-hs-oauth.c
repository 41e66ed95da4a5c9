/* om-hs-oauth.c — delegated authentication (Matrix's OAuth 2.0 API, MSC3861)
 *
 * With --oidc-delegated the OpenID provider (--oidc-issuer) is the
 * authorization server, as with Synapse's experimental_features.msc3861:
 *
 *   GET /_matrix/client/v1/auth_metadata (and the unstable
 *       /_matrix/client/unstable/org.matrix.msc2965/auth_metadata)
 *     → the provider's discovery document, with account_management_uri
 *       (<issuer>/account) and account_management_actions_supported added
 *       when missing; --no-stable-auth-metadata makes the stable one 404
 *   GET /_matrix/client/unstable/org.matrix.msc2965/auth_issuer
 *     → {"issuer": <issuer>}
 *   an access token the homeserver did not issue itself
 *     → RFC 7662 introspection at the provider (client_secret_basic with
 *       --oidc-client-id/--oidc-client-secret), as Synapse's
 *       MSC3861DelegatedAuth does: active, the API scope, exactly one
 *       device scope, the localpart from `username`; the user and device
 *       are created on first sight; urn:synapse:admin:* makes the request
 *       an admin one.  A result is cached for 2 s at most.
 *
 * Introspection is asynchronous: the request waits paused and is then
 * dispatched again from the start (om_hs_redispatch()), finding the answer
 * in the cache.  Concurrent requests with the same token share one
 * introspection.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-oauth"

#include "om-hs.h"

#include <string.h>

#define CACHE_LIFETIME_US   (2 * G_USEC_PER_SEC)

#define SCOPE_API           "urn:matrix:client:api:*"
#define SCOPE_API_UNSTABLE  "urn:matrix:org.matrix.msc2967.client:api:*"
#define SCOPE_DEVICE        "urn:matrix:client:device:"
#define SCOPE_DEVICE_UNSTABLE "urn:matrix:org.matrix.msc2967.client:device:"
#define SCOPE_ADMIN         "urn:synapse:admin:*"

/* What introspection said about a token. */
typedef struct
{
  gint64  fetched_us;   /* monotonic */
  guint   status;       /* 0 when the token is good, else the error reply */
  char   *errcode;      /* owned */
  char   *error;        /* owned */
  char   *user_id;      /* owned */
  char   *device_id;    /* owned */
  gboolean admin;
} Introspection;

/* A paused request waiting on the provider. */
typedef struct
{
  SoupServerMessage *msg;       /* owned ref */
  gulong             disconnected_id;
  gboolean           gone;      /* the client went away */
} Waiter;

/* One request to the provider and the requests waiting on it. */
typedef struct
{
  OmHs         *hs;
  SoupMessage  *client_msg;     /* owned */
  char         *token;          /* owned, NULL for the discovery request */
  GPtrArray    *waiters;        /* Waiter*, owned */
} Fetch;

struct _OmHsOAuth
{
  char         *issuer;           /* owned, no trailing slash */
  char         *client_id;        /* owned */
  char         *client_secret;    /* owned */
  gboolean      stable_metadata;  /* serve /_matrix/client/v1/auth_metadata */
  SoupSession  *session;          /* owned */
  GCancellable *cancellable;      /* owned */
  JsonObject   *metadata;         /* owned, once fetched */
  Fetch        *discovery;        /* in flight, or NULL */
  GHashTable   *cache;            /* token -> Introspection* */
  GHashTable   *pending;          /* token -> Fetch* (borrowed; owned by its callback) */
  guint         in_flight;
};

static void
introspection_free (Introspection *in)
{
  g_free (in->errcode);
  g_free (in->error);
  g_free (in->user_id);
  g_free (in->device_id);
  g_free (in);
}

static void
waiter_disconnected_cb (SoupServerMessage *msg,
                        gpointer           user_data)
{
  ((Waiter *) user_data)->gone = TRUE;
}

static void
waiter_free (Waiter *w)
{
  g_signal_handler_disconnect (w->msg, w->disconnected_id);
  g_object_unref (w->msg);
  g_free (w);
}

static void
fetch_add_waiter (Fetch             *f,
                  SoupServerMessage *msg)
{
  Waiter *w = g_new0 (Waiter, 1);

  w->msg = g_object_ref (msg);
  w->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (waiter_disconnected_cb), w);
  soup_server_message_pause (msg);
  g_ptr_array_add (f->waiters, w);
}

static void
fetch_free (Fetch *f)
{
  g_clear_object (&f->client_msg);
  g_free (f->token);
  g_ptr_array_unref (f->waiters);
  g_free (f);
}

/* Dispatches the waiting requests again, or answers them with an error
 * (@status != 0); none of that at shutdown (@cancelled). */
static void
fetch_finish_waiters (Fetch      *f,
                      gboolean    cancelled,
                      guint       status,
                      const char *errcode,
                      const char *error)
{
  for (guint i = 0; i < f->waiters->len; i++)
    {
      Waiter *w = f->waiters->pdata[i];

      if (cancelled || w->gone)
        continue;
      if (status)
        {
          om_hs_reply_error (w->msg, status, errcode, error);
          soup_server_message_unpause (w->msg);
        }
      else
        om_hs_redispatch (f->hs, w->msg);
    }
}

OmHsOAuth *
om_hs_oauth_new (const char *issuer,
                 const char *client_id,
                 const char *client_secret,
                 gboolean    stable_metadata)
{
  OmHsOAuth *oauth = g_new0 (OmHsOAuth, 1);

  oauth->issuer = g_strdup (issuer);
  while (g_str_has_suffix (oauth->issuer, "/"))
    oauth->issuer[strlen (oauth->issuer) - 1] = '\0';
  oauth->client_id = g_strdup (client_id);
  oauth->client_secret = g_strdup (client_secret ? client_secret : "");
  oauth->stable_metadata = stable_metadata;
  /* No proxy: the provider runs next to us. */
  oauth->session = soup_session_new_with_options ("proxy-resolver", NULL, "timeout", 30, NULL);
  oauth->cancellable = g_cancellable_new ();
  oauth->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) introspection_free);
  oauth->pending = g_hash_table_new (g_str_hash, g_str_equal);
  return oauth;
}

void
om_hs_oauth_free (OmHsOAuth *oauth)
{
  if (oauth == NULL)
    return;
  /* Let the cancelled provider requests finish (and free their fetches). */
  g_cancellable_cancel (oauth->cancellable);
  for (guint i = 0; oauth->in_flight > 0 && i < 1000; i++)
    g_main_context_iteration (NULL, FALSE);
  soup_session_abort (oauth->session);
  g_object_unref (oauth->session);
  g_object_unref (oauth->cancellable);
  g_clear_pointer (&oauth->metadata, json_object_unref);
  g_hash_table_unref (oauth->cache);
  g_hash_table_unref (oauth->pending);
  g_free (oauth->issuer);
  g_free (oauth->client_id);
  g_free (oauth->client_secret);
  g_free (oauth);
}

gboolean
om_hs_oauth_enabled (OmHs *hs)
{
  return hs->oauth != NULL;
}

/* Provider requests */

/* The JSON object of a 2xx answer, else NULL with a description. */
static JsonObject *
fetch_result (Fetch         *f,
              GAsyncResult  *res,
              gboolean      *out_cancelled,
              char         **out_problem)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = soup_session_send_and_read_finish (f->hs->oauth->session, res, &error);
  g_autofree char *text = NULL;
  JsonObject *obj;
  guint status;

  *out_cancelled = FALSE;
  if (bytes == NULL)
    {
      *out_cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      *out_problem = g_strdup (error->message);
      return NULL;
    }
  status = soup_message_get_status (f->client_msg);
  text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  obj = om_hs_parse_object (text);
  if (status >= 200 && status < 300 && obj != NULL)
    return obj;
  *out_problem = g_strdup_printf ("HTTP %u", status);
  g_clear_pointer (&obj, json_object_unref);
  return NULL;
}

static void
fetch_send (Fetch               *f,
            const char          *url,
            const char          *form,
            GAsyncReadyCallback  cb)
{
  OmHsOAuth *oauth = f->hs->oauth;
  SoupMessageHeaders *h;

  f->client_msg = soup_message_new (form ? "POST" : "GET", url);
  if (f->client_msg == NULL)
    f->client_msg = soup_message_new ("GET", "http://invalid.invalid/");
  h = soup_message_get_request_headers (f->client_msg);
  soup_message_headers_replace (h, "Accept", "application/json");
  if (form)
    {
      g_autoptr(GBytes) body = g_bytes_new (form, strlen (form));
      g_autofree char *id = g_uri_escape_string (oauth->client_id, NULL, FALSE);
      g_autofree char *secret = g_uri_escape_string (oauth->client_secret, NULL, FALSE);
      g_autofree char *pair = g_strdup_printf ("%s:%s", id, secret);
      g_autofree char *b64 = g_base64_encode ((const guchar *) pair, strlen (pair));
      g_autofree char *auth = g_strdup_printf ("Basic %s", b64);

      soup_message_set_request_body_from_bytes (f->client_msg, "application/x-www-form-urlencoded", body);
      soup_message_headers_replace (h, "Authorization", auth);
    }
  oauth->in_flight++;
  soup_session_send_and_read_async (oauth->session, f->client_msg, G_PRIORITY_DEFAULT,
                                    oauth->cancellable, cb, f);
}

/* Discovery */

static void
discovery_cb (GObject      *source,
              GAsyncResult *res,
              gpointer      user_data)
{
  Fetch *f = user_data;
  OmHsOAuth *oauth = f->hs->oauth;
  g_autofree char *problem = NULL;
  gboolean cancelled;
  g_autoptr(JsonObject) meta = fetch_result (f, res, &cancelled, &problem);

  oauth->in_flight--;
  oauth->discovery = NULL;
  if (meta && om_hs_json_str (meta, "issuer") && om_hs_json_str (meta, "introspection_endpoint"))
    {
      if (!json_object_has_member (meta, "account_management_uri"))
        {
          g_autofree char *uri = g_strconcat (oauth->issuer, "/account", NULL);

          json_object_set_string_member (meta, "account_management_uri", uri);
        }
      if (!json_object_has_member (meta, "account_management_actions_supported"))
        {
          static const char *actions[] = {
            "org.matrix.profile", "org.matrix.sessions_list", "org.matrix.session_view",
            "org.matrix.session_end", "org.matrix.account_deactivate",
          };
          JsonArray *arr = json_array_new ();

          for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
            json_array_add_string_element (arr, actions[i]);
          json_object_set_array_member (meta, "account_management_actions_supported", arr);
        }
      oauth->metadata = g_steal_pointer (&meta);
      fetch_finish_waiters (f, FALSE, 0, NULL, NULL);
    }
  else
    {
      if (!cancelled)
        g_warning ("OpenID discovery at %s failed: %s", oauth->issuer,
                   problem ? problem : "no issuer/introspection_endpoint");
      fetch_finish_waiters (f, cancelled, 503, "M_UNKNOWN",
                            "The authorization server's metadata is not available");
    }
  fetch_free (f);
}

/* TRUE when the metadata is known; else @msg waits for it (paused) and is
 * dispatched again when it arrives. */
static gboolean
ensure_metadata (OmHs              *hs,
                 SoupServerMessage *msg)
{
  OmHsOAuth *oauth = hs->oauth;

  if (oauth->metadata)
    return TRUE;
  if (oauth->discovery == NULL)
    {
      g_autofree char *url = g_strconcat (oauth->issuer, "/.well-known/openid-configuration", NULL);
      Fetch *f = g_new0 (Fetch, 1);

      f->hs = hs;
      f->waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);
      oauth->discovery = f;
      fetch_add_waiter (f, msg);
      fetch_send (f, url, NULL, discovery_cb);
    }
  else
    fetch_add_waiter (oauth->discovery, msg);
  return FALSE;
}

static void
reply_unrecognized (OmHsRequest *req)
{
  om_hs_reply_error (req->msg, 404, "M_UNRECOGNIZED", "Unrecognized request");
}

/* GET /_matrix/client/v1/auth_metadata and the unstable MSC2965 one */
void
om_hs_handle_auth_metadata (OmHsRequest *req)
{
  OmHs *hs = req->hs;
  gboolean stable = req->segs && g_str_equal (req->segs[0], "@v1");

  if (!om_hs_oauth_enabled (hs) || (stable && !hs->oauth->stable_metadata))
    {
      reply_unrecognized (req);
      return;
    }
  if (ensure_metadata (hs, req->msg))
    om_hs_reply_object (req->msg, 200, hs->oauth->metadata);
}

/* GET /_matrix/client/unstable/org.matrix.msc2965/auth_issuer */
void
om_hs_handle_auth_issuer (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = NULL;

  if (!om_hs_oauth_enabled (req->hs))
    {
      reply_unrecognized (req);
      return;
    }
  out = json_object_new ();
  json_object_set_string_member (out, "issuer", req->hs->oauth->issuer);
  om_hs_reply_object (req->msg, 200, out);
}

/* Introspection */

static Introspection *
introspection_error (guint       status,
                     const char *errcode,
                     const char *error)
{
  Introspection *in = g_new0 (Introspection, 1);

  in->status = status;
  in->errcode = g_strdup (errcode);
  in->error = g_strdup (error);
  return in;
}

/* Lowercases @handle and checks it is a valid localpart (as om-hs-sso.c). */
static char *
localpart_from_username (const char *username)
{
  g_autofree char *lp = username ? g_ascii_strdown (username, -1) : NULL;

  if (lp == NULL || lp[0] == '\0' || strlen (lp) > 200)
    return NULL;
  for (const char *p = lp; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'z') && strchr ("._=-/+", *p) == NULL)
      return NULL;
  return g_steal_pointer (&lp);
}

/* Synapse's checks of an introspection answer (MSC3861DelegatedAuth), with
 * the user and device created on first sight. */
static Introspection *
introspection_from_answer (OmHs       *hs,
                           JsonObject *answer)
{
  g_autoptr(GHashTable) devices = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto(GStrv) scopes = NULL;
  g_autofree char *localpart = NULL;
  const char *token_type = om_hs_json_str (answer, "token_type");
  gboolean api = FALSE, admin = FALSE;
  Introspection *in;
  JsonNode *active = json_object_get_member (answer, "active");

  if (active == NULL || !JSON_NODE_HOLDS_VALUE (active) ||
      json_node_get_value_type (active) != G_TYPE_BOOLEAN || !json_node_get_boolean (active))
    return introspection_error (401, "M_UNKNOWN_TOKEN", "Token is not active");
  /* A refresh token is active too, but no access token. */
  if (token_type && g_ascii_strcasecmp (token_type, "Bearer") != 0 &&
      g_ascii_strcasecmp (token_type, "access_token") != 0)
    return introspection_error (401, "M_UNKNOWN_TOKEN", "Invalid access token passed.");
  if (token_type == NULL)
    return introspection_error (401, "M_UNKNOWN_TOKEN", "Invalid access token passed.");

  scopes = g_strsplit (om_hs_json_str (answer, "scope") ? om_hs_json_str (answer, "scope") : "", " ", -1);
  for (guint i = 0; scopes[i]; i++)
    {
      const char *s = scopes[i];

      if (g_str_equal (s, SCOPE_API) || g_str_equal (s, SCOPE_API_UNSTABLE))
        api = TRUE;
      else if (g_str_equal (s, SCOPE_ADMIN))
        admin = TRUE;
      else if (g_str_has_prefix (s, SCOPE_DEVICE) && s[strlen (SCOPE_DEVICE)])
        g_hash_table_add (devices, g_strdup (s + strlen (SCOPE_DEVICE)));
      else if (g_str_has_prefix (s, SCOPE_DEVICE_UNSTABLE) && s[strlen (SCOPE_DEVICE_UNSTABLE)])
        g_hash_table_add (devices, g_strdup (s + strlen (SCOPE_DEVICE_UNSTABLE)));
    }
  if (!api)
    return introspection_error (401, "M_UNKNOWN_TOKEN", "Token doesn't grant access to the Matrix C-S API");
  if (om_hs_json_str (answer, "sub") == NULL)
    return introspection_error (401, "M_UNKNOWN_TOKEN", "Invalid sub claim in the introspection result");
  localpart = localpart_from_username (om_hs_json_str (answer, "username"));
  if (localpart == NULL)
    return introspection_error (401, "M_UNKNOWN_TOKEN", "Invalid username claim in the introspection result");
  if (g_hash_table_size (devices) > 1)
    return introspection_error (500, "M_UNKNOWN", "Multiple device IDs in scope");
  if (g_hash_table_size (devices) == 0)
    return introspection_error (401, "M_UNKNOWN_TOKEN", "Token has no device scope");

  in = g_new0 (Introspection, 1);
  in->user_id = om_hs_user_id (hs, localpart);
  in->admin = admin;
  {
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init (&iter, devices);
    g_hash_table_iter_next (&iter, &key, NULL);
    in->device_id = g_strdup (key);
  }
  if (!om_hs_user_exists (hs, in->user_id))
    om_hs_user_create (hs, localpart, NULL, FALSE, NULL);
  else
    {
      g_auto(GStrv) row = om_hs_user_row (hs, in->user_id);

      if (row && g_strcmp0 (row[2], "1") == 0)
        {
          introspection_free (in);
          return introspection_error (401, "M_UNKNOWN_TOKEN", "Invalid access token passed.");
        }
    }
  om_hs_device_ensure (hs, in->user_id, in->device_id, NULL);
  return in;
}

static void
introspect_cb (GObject      *source,
               GAsyncResult *res,
               gpointer      user_data)
{
  Fetch *f = user_data;
  OmHs *hs = f->hs;
  OmHsOAuth *oauth = hs->oauth;
  g_autofree char *problem = NULL;
  gboolean cancelled;
  g_autoptr(JsonObject) answer = fetch_result (f, res, &cancelled, &problem);

  oauth->in_flight--;
  g_hash_table_remove (oauth->pending, f->token);
  if (answer)
    {
      Introspection *in = introspection_from_answer (hs, answer);

      in->fetched_us = g_get_monotonic_time ();
      g_hash_table_replace (oauth->cache, g_strdup (f->token), in);
      fetch_finish_waiters (f, FALSE, 0, NULL, NULL);
    }
  else
    {
      if (!cancelled)
        g_warning ("token introspection at %s failed: %s", oauth->issuer, problem);
      fetch_finish_waiters (f, cancelled, 503, "M_UNKNOWN", "Could not check the access token");
    }
  fetch_free (f);
}

static gboolean
cache_entry_stale (gpointer key,
                   gpointer value,
                   gpointer user_data)
{
  return ((Introspection *) value)->fetched_us + CACHE_LIFETIME_US <= *(gint64 *) user_data;
}

OmHsOAuthResult
om_hs_oauth_authenticate (OmHsRequest *req,
                          const char  *token)
{
  OmHs *hs = req->hs;
  OmHsOAuth *oauth = hs->oauth;
  gint64 now = g_get_monotonic_time ();
  Introspection *in;
  Fetch *f;

  g_hash_table_foreach_remove (oauth->cache, cache_entry_stale, &now);
  in = g_hash_table_lookup (oauth->cache, token);
  if (in && in->status)
    {
      g_autoptr(JsonObject) obj = json_object_new ();

      json_object_set_string_member (obj, "errcode", in->errcode);
      json_object_set_string_member (obj, "error", in->error);
      if (in->status == 401)
        json_object_set_boolean_member (obj, "soft_logout", FALSE);
      om_hs_reply_object (req->msg, in->status, obj);
      return OM_HS_OAUTH_REFUSED;
    }
  if (in)
    {
      req->user_id = g_strdup (in->user_id);
      req->device_id = g_strdup (in->device_id);
      req->oauth = TRUE;
      req->oauth_admin = in->admin;
      return OM_HS_OAUTH_OK;
    }
  if (!ensure_metadata (hs, req->msg))
    return OM_HS_OAUTH_PENDING;
  f = g_hash_table_lookup (oauth->pending, token);
  if (f == NULL)
    {
      g_autofree char *escaped = g_uri_escape_string (token, NULL, FALSE);
      g_autofree char *form = g_strdup_printf ("token=%s&token_type_hint=access_token", escaped);

      f = g_new0 (Fetch, 1);
      f->hs = hs;
      f->token = g_strdup (token);
      f->waiters = g_ptr_array_new_with_free_func ((GDestroyNotify) waiter_free);
      g_hash_table_insert (oauth->pending, f->token, f);
      hs->n_introspections++;
      fetch_send (f, om_hs_json_str (oauth->metadata, "introspection_endpoint"), form, introspect_cb);
    }
  fetch_add_waiter (f, req->msg);
  return OM_HS_OAUTH_PENDING;
}
