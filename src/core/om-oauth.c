/* om-oauth.c — Matrix's OAuth 2.0 API: metadata, registration, PKCE,
 * code, device, refresh and revocation grants
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-oauth.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "om-discovery.h"
#include "om-error.h"
#include "om-json.h"

#define REQUEST_TIMEOUT_MS   30000
#define SLOW_DOWN_STEP_S     5
#define MIN_INTERVAL_S       1
#define MAX_INTERVAL_S       60

#define SCOPE_API_STABLE      "urn:matrix:client:api:*"
#define SCOPE_DEVICE_STABLE   "urn:matrix:client:device:"
#define SCOPE_API_UNSTABLE    "urn:matrix:org.matrix.msc2967.client:api:*"
#define SCOPE_DEVICE_UNSTABLE "urn:matrix:org.matrix.msc2967.client:device:"
#define SCOPE_ADMIN           "urn:synapse:admin:*"

static void
wipe_free (char *s)
{
  if (s != NULL)
    explicit_bzero (s, strlen (s));
  g_free (s);
}

static void
random_bytes (guchar *bytes,
              gsize   len)
{
  gsize got = 0;

  while (got < len)
    {
      gssize n = getrandom (bytes + got, len - got, 0);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        g_error ("No random bytes: %s", g_strerror (errno));
      got += n;
    }
}

/* base64url without padding (owned). */
static char *
base64url (const guchar *data,
           gsize         len)
{
  char *text = g_base64_encode (data, len);

  for (char *c = text; *c != '\0'; c++)
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
  return text;
}

/* ---- OmOAuthServer ----------------------------------------------------- */

struct _OmOAuthServer
{
  gatomicrefcount  ref_count;
  char            *issuer;
  char            *authorization_endpoint;
  char            *token_endpoint;
  char            *registration_endpoint;
  char            *device_authorization_endpoint;
  char            *revocation_endpoint;
  char            *account_management_uri;
  OmOAuthScopes    scopes;
  gboolean         lists_scopes;
};

G_DEFINE_BOXED_TYPE (OmOAuthServer, om_oauth_server, om_oauth_server_ref, om_oauth_server_unref)

static gboolean
array_has_string (JsonArray  *array,
                  const char *value)
{
  if (array == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING &&
          g_strcmp0 (json_node_get_string (node), value) == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
is_http_url (const char *value)
{
  return value != NULL &&
         (g_str_has_prefix (value, "https://") || g_str_has_prefix (value, "http://"));
}

OmOAuthServer *
om_oauth_server_new (JsonObject  *metadata,
                     GError     **error)
{
  static const char *const required[] = {
    "issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint",
  };
  OmOAuthServer *server;
  JsonArray *array;

  g_return_val_if_fail (metadata != NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (required); i++)
    if (!is_http_url (om_json_get_string (metadata, required[i])))
      {
        g_set_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                     "The authorization server's metadata has no usable %s", required[i]);
        return NULL;
      }

  array = om_json_get_array (metadata, "response_types_supported");
  if (!array_has_string (array, "code"))
    {
      g_set_error_literal (error, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                           "The authorization server does not offer the authorization code flow");
      return NULL;
    }
  /* RFC 8414: grant_types_supported defaults to code and implicit. */
  array = om_json_get_array (metadata, "grant_types_supported");
  if (array != NULL && (!array_has_string (array, "authorization_code") ||
                        !array_has_string (array, "refresh_token")))
    {
      g_set_error_literal (error, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                           "The authorization server does not offer the authorization code "
                           "and refresh token grants");
      return NULL;
    }
  array = om_json_get_array (metadata, "code_challenge_methods_supported");
  if (!array_has_string (array, "S256"))
    {
      g_set_error_literal (error, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                           "The authorization server does not support PKCE with S256");
      return NULL;
    }

  server = g_new0 (OmOAuthServer, 1);
  g_atomic_ref_count_init (&server->ref_count);
  server->issuer = g_strdup (om_json_get_string (metadata, "issuer"));
  server->authorization_endpoint = g_strdup (om_json_get_string (metadata, "authorization_endpoint"));
  server->token_endpoint = g_strdup (om_json_get_string (metadata, "token_endpoint"));
  server->registration_endpoint = g_strdup (om_json_get_string (metadata, "registration_endpoint"));
  if (is_http_url (om_json_get_string (metadata, "revocation_endpoint")))
    server->revocation_endpoint = g_strdup (om_json_get_string (metadata, "revocation_endpoint"));
  if (is_http_url (om_json_get_string (metadata, "account_management_uri")))
    server->account_management_uri = g_strdup (om_json_get_string (metadata, "account_management_uri"));
  if (is_http_url (om_json_get_string (metadata, "device_authorization_endpoint")) &&
      (om_json_get_array (metadata, "grant_types_supported") == NULL ||
       array_has_string (om_json_get_array (metadata, "grant_types_supported"),
                         OM_OAUTH_GRANT_DEVICE_CODE)))
    server->device_authorization_endpoint =
      g_strdup (om_json_get_string (metadata, "device_authorization_endpoint"));

  array = om_json_get_array (metadata, "scopes_supported");
  server->scopes = OM_OAUTH_SCOPES_STABLE;
  if (array_has_string (array, SCOPE_API_STABLE))
    server->lists_scopes = TRUE;
  else if (array_has_string (array, SCOPE_API_UNSTABLE))
    {
      server->lists_scopes = TRUE;
      server->scopes = OM_OAUTH_SCOPES_UNSTABLE;
    }
  return server;
}

OmOAuthServer *
om_oauth_server_ref (OmOAuthServer *server)
{
  g_return_val_if_fail (server != NULL, NULL);
  g_atomic_ref_count_inc (&server->ref_count);
  return server;
}

void
om_oauth_server_unref (OmOAuthServer *server)
{
  g_return_if_fail (server != NULL);
  if (!g_atomic_ref_count_dec (&server->ref_count))
    return;
  g_free (server->issuer);
  g_free (server->authorization_endpoint);
  g_free (server->token_endpoint);
  g_free (server->registration_endpoint);
  g_free (server->device_authorization_endpoint);
  g_free (server->revocation_endpoint);
  g_free (server->account_management_uri);
  g_free (server);
}

const char *
om_oauth_server_get_issuer (OmOAuthServer *server)
{
  return server->issuer;
}

const char *
om_oauth_server_get_authorization_endpoint (OmOAuthServer *server)
{
  return server->authorization_endpoint;
}

const char *
om_oauth_server_get_token_endpoint (OmOAuthServer *server)
{
  return server->token_endpoint;
}

const char *
om_oauth_server_get_registration_endpoint (OmOAuthServer *server)
{
  return server->registration_endpoint;
}

const char *
om_oauth_server_get_device_authorization_endpoint (OmOAuthServer *server)
{
  return server->device_authorization_endpoint;
}

const char *
om_oauth_server_get_revocation_endpoint (OmOAuthServer *server)
{
  return server->revocation_endpoint;
}

const char *
om_oauth_server_get_account_management_uri (OmOAuthServer *server)
{
  return server->account_management_uri;
}

gboolean
om_oauth_server_supports_device_grant (OmOAuthServer *server)
{
  return server->device_authorization_endpoint != NULL;
}

OmOAuthScopes
om_oauth_server_get_scopes (OmOAuthServer *server)
{
  return server->scopes;
}

gboolean
om_oauth_server_lists_scopes (OmOAuthServer *server)
{
  return server->lists_scopes;
}

/* ---- discovery ----------------------------------------------------------- */

typedef struct {
  OmHttp *http;     /* owned */
  char   *issuer;   /* owned */
} DiscoverData;

static void
discover_data_free (DiscoverData *data)
{
  g_clear_object (&data->http);
  g_free (data->issuer);
  g_free (data);
}

static void
return_server (GTask      *task,
               JsonObject *metadata)
{
  GError *error = NULL;
  OmOAuthServer *server = om_oauth_server_new (metadata, &error);

  if (server == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, server, (GDestroyNotify) om_oauth_server_unref);
}

static void
openid_configuration_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  DiscoverData *data = g_task_get_task_data (task);
  g_autoptr(JsonNode) node = NULL;
  GError *error = NULL;
  JsonObject *metadata;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      g_prefix_error (&error, "Could not read the authorization server's metadata: ");
      g_task_return_error (task, error);
      return;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The authorization server's metadata is not a JSON object");
      return;
    }
  metadata = json_node_get_object (node);
  /* RFC 8414 §3.3: the document must be the issuer's own. */
  if (g_strcmp0 (om_json_get_string (metadata, "issuer"), data->issuer) != 0)
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The authorization server's metadata names another issuer");
      return;
    }
  return_server (task, metadata);
}

static void
auth_metadata_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  DiscoverData *data = g_task_get_task_data (task);
  g_autoptr(JsonObject) metadata = NULL;
  g_autofree char *url = NULL;
  GCancellable *cancellable;
  GError *error = NULL;

  if (!om_discovery_get_auth_metadata_finish (result, &data->issuer, &metadata, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (data->issuer == NULL)
    {
      g_task_return_pointer (task, NULL, NULL);
      return;
    }
  if (metadata != NULL)
    {
      return_server (task, metadata);
      return;
    }
  if (!is_http_url (data->issuer))
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The homeserver names an authorization server that is not a URL");
      return;
    }
  url = g_strconcat (data->issuer, g_str_has_suffix (data->issuer, "/") ? "" : "/",
                     ".well-known/openid-configuration", NULL);
  cancellable = g_task_get_cancellable (task);
  om_http_request_async (data->http, "GET", url, NULL, OM_HTTP_NO_AUTH, REQUEST_TIMEOUT_MS,
                         cancellable, openid_configuration_cb, g_steal_pointer (&task));
}

void
om_oauth_discover_async (OmHttp              *http,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  GTask *task;
  DiscoverData *data;

  g_return_if_fail (OM_IS_HTTP (http));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_oauth_discover_async);
  data = g_new0 (DiscoverData, 1);
  data->http = g_object_ref (http);
  g_task_set_task_data (task, data, (GDestroyNotify) discover_data_free);
  om_discovery_get_auth_metadata_async (http, cancellable, auth_metadata_cb, task);
}

OmOAuthServer *
om_oauth_discover_finish (GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- registration -------------------------------------------------------- */

static JsonArray *
string_array (const char *first,
              ...)
{
  JsonArray *array = json_array_new ();
  va_list args;

  va_start (args, first);
  for (const char *s = first; s != NULL; s = va_arg (args, const char *))
    json_array_add_string_element (array, s);
  va_end (args);
  return array;
}

static void
register_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  GError *error = NULL;
  const char *client_id;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      g_prefix_error (&error, "Could not register with the authorization server: ");
      g_task_return_error (task, error);
      return;
    }
  client_id = JSON_NODE_HOLDS_OBJECT (node)
              ? om_json_get_string (json_node_get_object (node), "client_id") : NULL;
  if (client_id == NULL || client_id[0] == '\0')
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The authorization server registered this client without a client_id");
      return;
    }
  g_task_return_pointer (task, g_strdup (client_id), g_free);
}

void
om_oauth_register_async (OmHttp              *http,
                         OmOAuthServer       *server,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  GTask *task;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (server != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_oauth_register_async);

  json_object_set_string_member (body, "application_type", "native");
  json_object_set_string_member (body, "client_name", OM_OAUTH_CLIENT_NAME);
  json_object_set_string_member (body, "client_uri", OM_OAUTH_CLIENT_URI);
  json_object_set_string_member (body, "logo_uri", OM_OAUTH_LOGO_URI);
  json_object_set_string_member (body, "token_endpoint_auth_method", "none");
  json_object_set_array_member (body, "redirect_uris", string_array (OM_OAUTH_REDIRECT_URI, NULL));
  json_object_set_array_member (body, "response_types", string_array ("code", NULL));
  if (server->device_authorization_endpoint != NULL)
    json_object_set_array_member (body, "grant_types",
                                  string_array ("authorization_code", "refresh_token",
                                                OM_OAUTH_GRANT_DEVICE_CODE, NULL));
  else
    json_object_set_array_member (body, "grant_types",
                                  string_array ("authorization_code", "refresh_token", NULL));
  json_node_set_object (node, body);

  om_http_request_async (http, "POST", server->registration_endpoint, node, OM_HTTP_NO_AUTH,
                         REQUEST_TIMEOUT_MS, cancellable, register_cb, task);
}

char *
om_oauth_register_finish (GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- scopes and PKCE ----------------------------------------------------- */

char *
om_oauth_new_device_id (void)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  guchar bytes[12];
  char *id = g_malloc (sizeof bytes + 1);

  random_bytes (bytes, sizeof bytes);
  /* 252 = 7 × 36: reject above it so every character is equally likely. */
  for (gsize i = 0; i < sizeof bytes; i++)
    {
      while (bytes[i] >= 252)
        random_bytes (&bytes[i], 1);
      id[i] = alphabet[bytes[i] % 36];
    }
  id[sizeof bytes] = '\0';
  return id;
}

gboolean
om_oauth_device_id_is_valid (const char *device_id)
{
  return device_id != NULL && strlen (device_id) >= 10 &&
         strspn (device_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") ==
         strlen (device_id);
}

char *
om_oauth_build_scope (const char    *device_id,
                      OmOAuthScopes  scopes,
                      gboolean       admin)
{
  g_return_val_if_fail (om_oauth_device_id_is_valid (device_id), NULL);

  return g_strconcat (scopes == OM_OAUTH_SCOPES_UNSTABLE ? SCOPE_API_UNSTABLE : SCOPE_API_STABLE, " ",
                      scopes == OM_OAUTH_SCOPES_UNSTABLE ? SCOPE_DEVICE_UNSTABLE : SCOPE_DEVICE_STABLE,
                      device_id,
                      admin ? " " SCOPE_ADMIN : "", NULL);
}

char *
om_oauth_scope_get_device_id (const char *scope)
{
  g_auto(GStrv) parts = NULL;
  char *device_id = NULL;

  if (scope == NULL)
    return NULL;
  parts = g_strsplit (scope, " ", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      const char *id = NULL;

      if (g_str_has_prefix (parts[i], SCOPE_DEVICE_STABLE))
        id = parts[i] + strlen (SCOPE_DEVICE_STABLE);
      else if (g_str_has_prefix (parts[i], SCOPE_DEVICE_UNSTABLE))
        id = parts[i] + strlen (SCOPE_DEVICE_UNSTABLE);
      if (id == NULL)
        continue;
      if (device_id != NULL && strcmp (device_id, id) != 0)
        {
          g_free (device_id);
          return NULL;
        }
      if (device_id == NULL)
        device_id = g_strdup (id);
    }
  return device_id;
}

gboolean
om_oauth_scope_has_admin (const char *scope)
{
  g_auto(GStrv) parts = NULL;

  if (scope == NULL)
    return FALSE;
  parts = g_strsplit (scope, " ", -1);
  return g_strv_contains ((const char * const *) parts, SCOPE_ADMIN);
}

char *
om_oauth_new_code_verifier (void)
{
  guchar bytes[48];
  char *verifier;

  random_bytes (bytes, sizeof bytes);
  verifier = base64url (bytes, sizeof bytes);
  explicit_bzero (bytes, sizeof bytes);
  return verifier;
}

char *
om_oauth_code_challenge (const char *verifier)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof digest;

  g_return_val_if_fail (verifier != NULL, NULL);

  g_checksum_update (checksum, (const guchar *) verifier, strlen (verifier));
  g_checksum_get_digest (checksum, digest, &len);
  return base64url (digest, len);
}

char *
om_oauth_build_authorization_url (OmOAuthServer *server,
                                  const char    *client_id,
                                  const char    *redirect_uri,
                                  const char    *scope,
                                  const char    *state,
                                  const char    *code_challenge)
{
  g_autoptr(GString) query = g_string_new (NULL);

  g_return_val_if_fail (server != NULL, NULL);

  om_http_form_add (query, "response_type", "code");
  om_http_form_add (query, "response_mode", "query");
  om_http_form_add (query, "client_id", client_id);
  om_http_form_add (query, "redirect_uri", redirect_uri);
  om_http_form_add (query, "scope", scope);
  om_http_form_add (query, "state", state);
  om_http_form_add (query, "code_challenge", code_challenge);
  om_http_form_add (query, "code_challenge_method", "S256");
  return g_strconcat (server->authorization_endpoint,
                      strchr (server->authorization_endpoint, '?') != NULL ? "&" : "?",
                      query->str, NULL);
}

/* ---- the token endpoint -------------------------------------------------- */

void
om_oauth_tokens_free (OmOAuthTokens *tokens)
{
  if (tokens == NULL)
    return;
  wipe_free (tokens->access_token);
  wipe_free (tokens->refresh_token);
  g_free (tokens->scope);
  g_free (tokens);
}

/* The token response (RFC 6749 §5.1), or NULL with @error. */
static OmOAuthTokens *
parse_tokens (JsonNode  *node,
              GError   **error)
{
  JsonObject *object;
  OmOAuthTokens *tokens;
  const char *access_token;
  const char *token_type;
  gint64 expires_in;

  object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  access_token = object != NULL ? om_json_get_string (object, "access_token") : NULL;
  token_type = object != NULL ? om_json_get_string (object, "token_type") : NULL;
  if (access_token == NULL || access_token[0] == '\0')
    {
      g_set_error_literal (error, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                           "The authorization server answered without an access token");
      return NULL;
    }
  if (token_type != NULL && g_ascii_strcasecmp (token_type, "Bearer") != 0)
    {
      g_set_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                   "The authorization server issued a %s token, not a bearer token", token_type);
      return NULL;
    }

  tokens = g_new0 (OmOAuthTokens, 1);
  tokens->access_token = g_strdup (access_token);
  tokens->refresh_token = g_strdup (om_json_get_string (object, "refresh_token"));
  tokens->scope = g_strdup (om_json_get_string (object, "scope"));
  tokens->expires_in_ms = -1;
  if (om_json_get_int (object, "expires_in", &expires_in) && expires_in > 0)
    tokens->expires_in_ms = expires_in * 1000;
  return tokens;
}

static void
token_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  OmOAuthTokens *tokens;
  GError *error = NULL;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL || (tokens = parse_tokens (node, &error)) == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, tokens, (GDestroyNotify) om_oauth_tokens_free);
}

/* POSTs @form (taken, wiped) to @token_endpoint for @task. */
static void
token_request (OmHttp     *http,
               const char *token_endpoint,
               GString    *form,
               GTask      *task)
{
  om_http_post_form_async (http, token_endpoint, form->str, OM_HTTP_NO_RETRY, REQUEST_TIMEOUT_MS,
                           g_task_get_cancellable (task), token_cb, task);
  explicit_bzero (form->str, form->len);
  g_string_free (form, TRUE);
}

void
om_oauth_exchange_code_async (OmHttp              *http,
                              OmOAuthServer       *server,
                              const char          *client_id,
                              const char          *code,
                              const char          *redirect_uri,
                              const char          *code_verifier,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  GString *form = g_string_new (NULL);
  GTask *task;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (server != NULL && client_id != NULL && code != NULL);
  g_return_if_fail (redirect_uri != NULL && code_verifier != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_oauth_tokens_finish);
  om_http_form_add (form, "grant_type", "authorization_code");
  om_http_form_add (form, "code", code);
  om_http_form_add (form, "redirect_uri", redirect_uri);
  om_http_form_add (form, "client_id", client_id);
  om_http_form_add (form, "code_verifier", code_verifier);
  token_request (http, server->token_endpoint, form, task);
}

void
om_oauth_refresh_async (OmHttp              *http,
                        const char          *token_endpoint,
                        const char          *client_id,
                        const char          *refresh_token,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  GString *form = g_string_new (NULL);
  GTask *task;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (token_endpoint != NULL && client_id != NULL && refresh_token != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_oauth_tokens_finish);
  om_http_form_add (form, "grant_type", "refresh_token");
  om_http_form_add (form, "refresh_token", refresh_token);
  om_http_form_add (form, "client_id", client_id);
  token_request (http, token_endpoint, form, task);
}

OmOAuthTokens *
om_oauth_tokens_finish (GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- device authorization grant ------------------------------------------ */

void
om_oauth_device_grant_free (OmOAuthDeviceGrant *grant)
{
  if (grant == NULL)
    return;
  wipe_free (grant->device_code);
  g_free (grant->user_code);
  g_free (grant->verification_uri);
  g_free (grant->verification_uri_complete);
  g_free (grant->scope);
  g_free (grant);
}

static OmOAuthDeviceGrant *
device_grant_copy (const OmOAuthDeviceGrant *grant)
{
  OmOAuthDeviceGrant *copy = g_new0 (OmOAuthDeviceGrant, 1);

  copy->device_code = g_strdup (grant->device_code);
  copy->user_code = g_strdup (grant->user_code);
  copy->verification_uri = g_strdup (grant->verification_uri);
  copy->verification_uri_complete = g_strdup (grant->verification_uri_complete);
  copy->expires_at_us = grant->expires_at_us;
  copy->interval_s = grant->interval_s;
  copy->scope = g_strdup (grant->scope);
  return copy;
}

static void
device_authorize_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(OmOAuthDeviceGrant) grant = NULL;
  GError *error = NULL;
  JsonObject *object;
  gint64 expires_in = 0;
  gint64 interval = 5;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (object == NULL ||
      om_json_get_string (object, "device_code") == NULL ||
      om_json_get_string (object, "user_code") == NULL ||
      !is_http_url (om_json_get_string (object, "verification_uri")) ||
      !om_json_get_int (object, "expires_in", &expires_in) || expires_in <= 0)
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The authorization server's device authorization answer is incomplete");
      return;
    }
  om_json_get_int (object, "interval", &interval);

  grant = g_new0 (OmOAuthDeviceGrant, 1);
  grant->device_code = g_strdup (om_json_get_string (object, "device_code"));
  grant->user_code = g_strdup (om_json_get_string (object, "user_code"));
  grant->verification_uri = g_strdup (om_json_get_string (object, "verification_uri"));
  if (is_http_url (om_json_get_string (object, "verification_uri_complete")))
    grant->verification_uri_complete = g_strdup (om_json_get_string (object, "verification_uri_complete"));
  grant->expires_at_us = g_get_monotonic_time () + expires_in * G_USEC_PER_SEC;
  grant->interval_s = (guint) CLAMP (interval, MIN_INTERVAL_S, MAX_INTERVAL_S);
  grant->scope = g_strdup (g_task_get_task_data (task));
  g_task_return_pointer (task, g_steal_pointer (&grant), (GDestroyNotify) om_oauth_device_grant_free);
}

void
om_oauth_device_authorize_async (OmHttp              *http,
                                 OmOAuthServer       *server,
                                 const char          *client_id,
                                 const char          *scope,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GString) form = g_string_new (NULL);
  GTask *task;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (server != NULL && client_id != NULL && scope != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_oauth_device_authorize_async);
  g_task_set_task_data (task, g_strdup (scope), g_free);
  if (server->device_authorization_endpoint == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "The authorization server does not offer sign-in with a code");
      g_object_unref (task);
      return;
    }
  om_http_form_add (form, "client_id", client_id);
  om_http_form_add (form, "scope", scope);
  om_http_post_form_async (http, server->device_authorization_endpoint, form->str, OM_HTTP_NO_RETRY,
                           REQUEST_TIMEOUT_MS, cancellable, device_authorize_cb, task);
}

OmOAuthDeviceGrant *
om_oauth_device_authorize_finish (GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  OmHttp             *http;       /* owned */
  char               *token_endpoint;
  char               *client_id;
  OmOAuthDeviceGrant *grant;      /* owned */
  guint               interval_s;
  GSource            *timer;      /* owned, nullable: holds a ref on the task */
  GSource            *cancel;     /* owned, nullable: ends the wait when cancelled */
} PollData;

static void
poll_data_free (PollData *data)
{
  if (data->timer != NULL)
    g_source_destroy (data->timer);
  g_clear_pointer (&data->timer, g_source_unref);
  if (data->cancel != NULL)
    g_source_destroy (data->cancel);
  g_clear_pointer (&data->cancel, g_source_unref);
  g_clear_object (&data->http);
  g_free (data->token_endpoint);
  g_free (data->client_id);
  om_oauth_device_grant_free (data->grant);
  g_free (data);
}

static void poll_schedule (GTask *task);

static void
poll_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PollData *data = g_task_get_task_data (task);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  OmOAuthTokens *tokens;
  const char *code;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node != NULL)
    {
      tokens = parse_tokens (node, &error);
      if (tokens != NULL)
        g_task_return_pointer (task, tokens, (GDestroyNotify) om_oauth_tokens_free);
      else
        g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  code = g_error_matches (error, OM_ERROR, OM_ERROR_OAUTH) ? om_error_get_errcode (error) : NULL;
  if (g_strcmp0 (code, "authorization_pending") == 0)
    {
      poll_schedule (g_steal_pointer (&task));
      return;
    }
  if (g_strcmp0 (code, "slow_down") == 0)
    {
      data->interval_s = MIN (data->interval_s + SLOW_DOWN_STEP_S, MAX_INTERVAL_S);
      g_debug ("Device grant: slowing down to every %u s", data->interval_s);
      poll_schedule (g_steal_pointer (&task));
      return;
    }
  if (g_strcmp0 (code, "access_denied") == 0)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                               "The sign-in was refused in the browser");
      return;
    }
  if (g_strcmp0 (code, "expired_token") == 0)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                               "The sign-in code expired before it was used: start again");
      return;
    }
  if (om_error_is_transient (error))
    {
      g_debug ("Device grant: %s; polling on", error->message);
      poll_schedule (g_steal_pointer (&task));
      return;
    }
  g_task_return_error (task, g_steal_pointer (&error));
}

static gboolean
poll_timer_cb (gpointer user_data)
{
  GTask *task = user_data;
  PollData *data = g_task_get_task_data (task);
  GString *form = g_string_new (NULL);

  g_clear_pointer (&data->timer, g_source_unref);
  if (data->cancel != NULL)
    g_source_destroy (data->cancel);
  g_clear_pointer (&data->cancel, g_source_unref);
  om_http_form_add (form, "grant_type", OM_OAUTH_GRANT_DEVICE_CODE);
  om_http_form_add (form, "device_code", data->grant->device_code);
  om_http_form_add (form, "client_id", data->client_id);
  om_http_post_form_async (data->http, data->token_endpoint, form->str, OM_HTTP_NO_RETRY,
                           REQUEST_TIMEOUT_MS, g_task_get_cancellable (task), poll_cb,
                           g_object_ref (task));
  explicit_bzero (form->str, form->len);
  g_string_free (form, TRUE);
  return G_SOURCE_REMOVE;
}

static gboolean
poll_cancelled_cb (GCancellable *cancellable,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = g_object_ref (user_data);
  PollData *data = g_task_get_task_data (task);

  g_clear_pointer (&data->cancel, g_source_unref);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The sign-in was cancelled");
  /* Drops the timer's ref on the task. */
  if (data->timer != NULL)
    g_source_destroy (data->timer);
  g_clear_pointer (&data->timer, g_source_unref);
  return G_SOURCE_REMOVE;
}

/* Takes @task: polls again after the interval, unless the code expires first. */
static void
poll_schedule (GTask *task)
{
  PollData *data = g_task_get_task_data (task);
  gint64 now = g_get_monotonic_time ();
  GCancellable *cancellable = g_task_get_cancellable (task);

  if (now + (gint64) data->interval_s * G_USEC_PER_SEC > data->grant->expires_at_us)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                               "The sign-in code expired before it was used: start again");
      g_object_unref (task);
      return;
    }
  data->timer = g_timeout_source_new_seconds (data->interval_s);
  g_source_set_static_name (data->timer, "[om-oauth] device grant poll");
  g_source_set_callback (data->timer, poll_timer_cb, task, g_object_unref);
  g_source_attach (data->timer, g_main_context_get_thread_default ());
  if (cancellable != NULL)
    {
      /* The wait ends at once when the flow is cancelled. */
      data->cancel = g_cancellable_source_new (cancellable);
      g_source_set_static_name (data->cancel, "[om-oauth] device grant cancelled");
      g_source_set_callback (data->cancel, (GSourceFunc) (void (*) (void)) poll_cancelled_cb, task, NULL);
      g_source_attach (data->cancel, g_main_context_get_thread_default ());
    }
}

void
om_oauth_device_poll_async (OmHttp                   *http,
                            OmOAuthServer            *server,
                            const char               *client_id,
                            const OmOAuthDeviceGrant *grant,
                            GCancellable             *cancellable,
                            GAsyncReadyCallback       callback,
                            gpointer                  user_data)
{
  GTask *task;
  PollData *data;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (server != NULL && client_id != NULL && grant != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_oauth_tokens_finish);
  data = g_new0 (PollData, 1);
  data->http = g_object_ref (http);
  data->token_endpoint = g_strdup (server->token_endpoint);
  data->client_id = g_strdup (client_id);
  data->grant = device_grant_copy (grant);
  data->interval_s = grant->interval_s;
  g_task_set_task_data (task, data, (GDestroyNotify) poll_data_free);
  poll_schedule (task);
}

/* ---- revocation ---------------------------------------------------------- */

static void
revoke_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  GError *error = NULL;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
om_oauth_revoke_async (OmHttp              *http,
                       const char          *revocation_endpoint,
                       const char          *client_id,
                       const char          *token,
                       const char          *token_type_hint,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  GString *form = g_string_new (NULL);
  GTask *task;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (revocation_endpoint != NULL && client_id != NULL && token != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_oauth_revoke_async);
  om_http_form_add (form, "token", token);
  if (token_type_hint != NULL)
    om_http_form_add (form, "token_type_hint", token_type_hint);
  om_http_form_add (form, "client_id", client_id);
  om_http_post_form_async (http, revocation_endpoint, form->str, OM_HTTP_ALLOW_EMPTY,
                           REQUEST_TIMEOUT_MS, cancellable, revoke_cb, task);
  explicit_bzero (form->str, form->len);
  g_string_free (form, TRUE);
}

gboolean
om_oauth_revoke_finish (GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
