/* om-discovery.c — from a user ID or server name to a homeserver
 *
 * Follows the client-server spec's "Server Discovery": .well-known first
 * (404 means the server name is the homeserver), then /versions to check
 * the candidate.  FAIL_PROMPT and FAIL_ERROR are OM_DISCOVERY_ERROR codes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-discovery"

#include <string.h>

#include "om-json.h"
#include "om-discovery.h"
#include "om-error.h"

#define WELL_KNOWN_PATH          "/.well-known/matrix/client"
#define VERSIONS_PATH            "/_matrix/client/versions"
#define LOGIN_PATH               "/_matrix/client/v3/login"
#define AUTH_METADATA_PATH       "/_matrix/client/v1/auth_metadata"
#define AUTH_ISSUER_UNSTABLE     "/_matrix/client/unstable/org.matrix.msc2965/auth_issuer"
#define DISCOVERY_TIMEOUT_MS     15000

G_DEFINE_QUARK (om-discovery-error-quark, om_discovery_error)

static JsonObject *
node_object (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/* ---- OmDiscoveryResult ------------------------------------------------- */

struct _OmDiscoveryResult
{
  gatomicrefcount   ref_count;
  char             *homeserver_url;    /* owned */
  char             *server_name;       /* owned */
  GStrv             versions;          /* owned */
  GStrv             unstable_features; /* owned: the enabled ones */
};

G_DEFINE_BOXED_TYPE (OmDiscoveryResult, om_discovery_result,
                     om_discovery_result_ref, om_discovery_result_unref)

OmDiscoveryResult *
om_discovery_result_ref (OmDiscoveryResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);

  g_atomic_ref_count_inc (&result->ref_count);
  return result;
}

void
om_discovery_result_unref (OmDiscoveryResult *result)
{
  g_return_if_fail (result != NULL);

  if (!g_atomic_ref_count_dec (&result->ref_count))
    return;
  g_free (result->homeserver_url);
  g_free (result->server_name);
  g_strfreev (result->versions);
  g_strfreev (result->unstable_features);
  g_free (result);
}

const char *
om_discovery_result_get_homeserver_url (OmDiscoveryResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return result->homeserver_url;
}

const char *
om_discovery_result_get_server_name (OmDiscoveryResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return result->server_name;
}

const char * const *
om_discovery_result_get_versions (OmDiscoveryResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return (const char * const *) result->versions;
}

gboolean
om_discovery_result_supports_version (OmDiscoveryResult *result,
                                      const char        *version)
{
  g_return_val_if_fail (result != NULL, FALSE);
  g_return_val_if_fail (version != NULL, FALSE);
  return g_strv_contains ((const char * const *) result->versions, version);
}

const char * const *
om_discovery_result_get_unstable_features (OmDiscoveryResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return (const char * const *) result->unstable_features;
}

gboolean
om_discovery_result_has_unstable_feature (OmDiscoveryResult *result,
                                          const char        *feature)
{
  g_return_val_if_fail (result != NULL, FALSE);
  g_return_val_if_fail (feature != NULL, FALSE);
  return g_strv_contains ((const char * const *) result->unstable_features, feature);
}

/* ---- resolving --------------------------------------------------------- */

typedef struct
{
  OmDiscoveryFlags  flags;
  char             *server_name;     /* owned */
  char             *server_url;      /* owned: where .well-known lives, or the typed URL */
  char             *homeserver_url;  /* owned, nullable: the candidate being checked */
} ResolveData;

static void
resolve_data_free (ResolveData *data)
{
  g_free (data->server_name);
  g_free (data->server_url);
  g_free (data->homeserver_url);
  g_free (data);
}

static char *
strip_trailing_slashes (const char *url)
{
  gsize len = strlen (url);

  while (len > 0 && url[len - 1] == '/')
    len--;
  return g_strndup (url, len);
}

/* Parses an http(s) URL; returns it without query, fragment and trailing
 * slash, and its host[:port] in @out_authority. */
static char *
normalize_url (const char        *url,
               OmDiscoveryFlags   flags,
               char             **out_authority,
               GError           **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GUri) clean = NULL;
  g_autofree char *text = NULL;
  const char *scheme;
  const char *host;

  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  host = uri != NULL ? g_uri_get_host (uri) : NULL;
  if (uri == NULL || host == NULL || host[0] == '\0' ||
      (g_strcmp0 (scheme, "https") != 0 && g_strcmp0 (scheme, "http") != 0))
    {
      g_set_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT,
                   "“%s” is not an http(s) address", url);
      return NULL;
    }
  if (g_str_equal (scheme, "http") && !(flags & OM_DISCOVERY_ALLOW_HTTP))
    {
      g_set_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT,
                   "“%s” is not a secure address; use https://", url);
      return NULL;
    }

  clean = g_uri_build (G_URI_FLAGS_NONE, scheme, NULL, host, g_uri_get_port (uri),
                       g_uri_get_path (uri), NULL, NULL);
  text = g_uri_to_string (clean);
  if (out_authority != NULL)
    {
      g_autofree char *h = strchr (host, ':') != NULL
                           ? g_strdup_printf ("[%s]", host)
                           : g_strdup (host);

      *out_authority = g_uri_get_port (uri) > 0
                       ? g_strdup_printf ("%s:%d", h, g_uri_get_port (uri))
                       : g_steal_pointer (&h);
    }
  return strip_trailing_slashes (text);
}

static gboolean
is_http_url (const char *input)
{
  return g_ascii_strncasecmp (input, "http://", 7) == 0 ||
         g_ascii_strncasecmp (input, "https://", 8) == 0;
}

/* A server name is a host (DNS name, IPv4, or [IPv6]) with an optional
 * port; nothing else may hide in it. */
static gboolean
is_valid_server_name (const char *name)
{
  g_autofree char *url = NULL;
  g_autoptr(GUri) uri = NULL;

  if (name[0] == '\0' || strpbrk (name, "/?#@ \t\r\n") != NULL)
    return FALSE;
  url = g_strconcat ("https://", name, NULL);
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  return uri != NULL && g_uri_get_host (uri) != NULL && g_uri_get_host (uri)[0] != '\0' &&
         g_uri_get_path (uri)[0] == '\0';
}

static ResolveData *
resolve_data_new (const char        *input,
                  OmDiscoveryFlags   flags,
                  GError           **error)
{
  g_autofree char *text = g_strstrip (g_strdup (input));
  g_autofree char *server_name = NULL;
  ResolveData *data;

  if (is_http_url (text))
    {
      g_autofree char *authority = NULL;
      g_autofree char *url = normalize_url (text, flags, &authority, error);

      if (url == NULL)
        return NULL;
      data = g_new0 (ResolveData, 1);
      data->flags = flags;
      data->server_name = g_steal_pointer (&authority);
      data->server_url = g_steal_pointer (&url);
      return data;
    }

  if (text[0] == '@')
    {
      const char *colon = strchr (text, ':');

      server_name = g_strdup (colon != NULL ? colon + 1 : "");
    }
  else
    {
      server_name = g_strdup (text);
    }

  if (!is_valid_server_name (server_name))
    {
      g_set_error (error, OM_ERROR, OM_ERROR_INVALID_INPUT,
                   "“%s” is neither a user ID (@name:example.org) nor a server name",
                   input);
      return NULL;
    }

  data = g_new0 (ResolveData, 1);
  data->flags = flags;
  data->server_url = g_strconcat ((flags & OM_DISCOVERY_ALLOW_HTTP) ? "http://" : "https://",
                                  server_name, NULL);
  data->server_name = g_steal_pointer (&server_name);
  return data;
}

/* The .well-known document lives at the origin, whatever path a typed URL
 * carries. */
static char *
well_known_url (const char *server_url)
{
  g_autoptr(GUri) uri = g_uri_parse (server_url, G_URI_FLAGS_NONE, NULL);
  g_autoptr(GUri) origin = NULL;

  g_assert (uri != NULL);
  origin = g_uri_build (G_URI_FLAGS_NONE, g_uri_get_scheme (uri), NULL, g_uri_get_host (uri),
                        g_uri_get_port (uri), WELL_KNOWN_PATH, NULL, NULL);
  return g_uri_to_string (origin);
}

static void
versions_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ResolveData *data = g_task_get_task_data (task);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GStrvBuilder) versions = g_strv_builder_new ();
  g_autoptr(GStrvBuilder) features = g_strv_builder_new ();
  JsonObject *object;
  JsonObject *unstable;
  JsonArray *array;
  OmDiscoveryResult *res;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_new_error (task, OM_DISCOVERY_ERROR, OM_DISCOVERY_ERROR_FAIL_ERROR,
                                 "No Matrix homeserver answers at %s: %s",
                                 data->homeserver_url, error->message);
      return;
    }

  object = node_object (node);
  array = om_json_get_array (object, "versions");
  if (array == NULL)
    {
      g_task_return_new_error (task, OM_DISCOVERY_ERROR, OM_DISCOVERY_ERROR_FAIL_ERROR,
                               "%s is not a Matrix homeserver: its /versions lists no versions",
                               data->homeserver_url);
      return;
    }

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *element = json_array_get_element (array, i);

      if (JSON_NODE_HOLDS_VALUE (element) && json_node_get_value_type (element) == G_TYPE_STRING)
        g_strv_builder_add (versions, json_node_get_string (element));
    }

  unstable = om_json_get_object (object, "unstable_features");
  if (unstable != NULL)
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;

      json_object_iter_init (&iter, unstable);
      while (json_object_iter_next (&iter, &name, &value))
        if (JSON_NODE_HOLDS_VALUE (value) &&
            json_node_get_value_type (value) == G_TYPE_BOOLEAN &&
            json_node_get_boolean (value))
          g_strv_builder_add (features, name);
    }

  res = g_new0 (OmDiscoveryResult, 1);
  g_atomic_ref_count_init (&res->ref_count);
  res->homeserver_url = g_strdup (data->homeserver_url);
  res->server_name = g_strdup (data->server_name);
  res->versions = g_strv_builder_end (versions);
  res->unstable_features = g_strv_builder_end (features);
  g_debug ("%s → %s", data->server_name, data->homeserver_url);
  g_task_return_pointer (task, res, (GDestroyNotify) om_discovery_result_unref);
}

static void
resolve_check_homeserver (GTask *task)
{
  ResolveData *data = g_task_get_task_data (task);
  g_autofree char *url = g_strconcat (data->homeserver_url, VERSIONS_PATH, NULL);

  om_http_request_async (g_task_get_source_object (task), "GET", url, NULL,
                         OM_HTTP_NO_AUTH, DISCOVERY_TIMEOUT_MS,
                         g_task_get_cancellable (task), versions_cb, g_object_ref (task));
}

static void
well_known_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  ResolveData *data = g_task_get_task_data (task);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  const char *base_url;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      if (error->domain == OM_ERROR && om_error_get_http_status (error) == 404)
        {
          /* IGNORE: the server itself is the homeserver. */
          data->homeserver_url = g_strdup (data->server_url);
          resolve_check_homeserver (task);
        }
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, g_steal_pointer (&error));
        }
      else
        {
          g_autofree char *url = well_known_url (data->server_url);

          g_task_return_new_error (task, OM_DISCOVERY_ERROR, OM_DISCOVERY_ERROR_FAIL_PROMPT,
                                   "Could not look up the homeserver of %s at %s: %s",
                                   data->server_name, url, error->message);
        }
      return;
    }

  base_url = om_json_get_string (om_json_get_object (node_object (node), "m.homeserver"), "base_url");
  if (base_url == NULL)
    {
      g_task_return_new_error (task, OM_DISCOVERY_ERROR, OM_DISCOVERY_ERROR_FAIL_PROMPT,
                               "%s publishes no homeserver address in its "
                               ".well-known/matrix/client; enter the homeserver address",
                               data->server_name);
      return;
    }

  data->homeserver_url = normalize_url (base_url, data->flags, NULL, &error);
  if (data->homeserver_url == NULL)
    {
      g_task_return_new_error (task, OM_DISCOVERY_ERROR, OM_DISCOVERY_ERROR_FAIL_ERROR,
                               "%s publishes an unusable homeserver address: %s",
                               data->server_name, error->message);
      return;
    }

  resolve_check_homeserver (task);
}

void
om_discovery_resolve_async (OmHttp              *http,
                            const char          *input,
                            OmDiscoveryFlags     flags,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *url = NULL;
  GError *error = NULL;
  ResolveData *data;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (input != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (http, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_discovery_resolve_async);

  data = resolve_data_new (input, flags, &error);
  if (data == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_set_task_data (task, data, (GDestroyNotify) resolve_data_free);

  url = well_known_url (data->server_url);
  om_http_request_async (http, "GET", url, NULL, OM_HTTP_NO_AUTH, DISCOVERY_TIMEOUT_MS,
                         cancellable, well_known_cb, g_steal_pointer (&task));
}

OmDiscoveryResult *
om_discovery_resolve_finish (GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, om_discovery_resolve_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- login flows ------------------------------------------------------- */

struct _OmLoginFlows
{
  gatomicrefcount  ref_count;
  GStrv            types;               /* owned */
  GPtrArray       *identity_providers;  /* owned, of OmIdentityProvider (owned) */
  gboolean         oauth_aware_preferred;
};

G_DEFINE_BOXED_TYPE (OmLoginFlows, om_login_flows, om_login_flows_ref, om_login_flows_unref)

static void
identity_provider_free (OmIdentityProvider *idp)
{
  g_free (idp->id);
  g_free (idp->name);
  g_free (idp->icon);
  g_free (idp->brand);
  g_free (idp);
}

OmLoginFlows *
om_login_flows_ref (OmLoginFlows *flows)
{
  g_return_val_if_fail (flows != NULL, NULL);

  g_atomic_ref_count_inc (&flows->ref_count);
  return flows;
}

void
om_login_flows_unref (OmLoginFlows *flows)
{
  g_return_if_fail (flows != NULL);

  if (!g_atomic_ref_count_dec (&flows->ref_count))
    return;
  g_strfreev (flows->types);
  g_ptr_array_unref (flows->identity_providers);
  g_free (flows);
}

const char * const *
om_login_flows_get_types (OmLoginFlows *flows)
{
  g_return_val_if_fail (flows != NULL, NULL);
  return (const char * const *) flows->types;
}

gboolean
om_login_flows_has_type (OmLoginFlows *flows,
                         const char   *type)
{
  g_return_val_if_fail (flows != NULL, FALSE);
  g_return_val_if_fail (type != NULL, FALSE);
  return g_strv_contains ((const char * const *) flows->types, type);
}

GPtrArray *
om_login_flows_get_identity_providers (OmLoginFlows *flows)
{
  g_return_val_if_fail (flows != NULL, NULL);
  return flows->identity_providers;
}

gboolean
om_login_flows_get_oauth_aware_preferred (OmLoginFlows *flows)
{
  g_return_val_if_fail (flows != NULL, FALSE);
  return flows->oauth_aware_preferred;
}

static void
add_identity_providers (OmLoginFlows *flows,
                        JsonArray    *array)
{
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonObject *object = node_object (json_array_get_element (array, i));
      const char *id = om_json_get_string (object, "id");
      const char *name = om_json_get_string (object, "name");
      OmIdentityProvider *idp;

      if (id == NULL || id[0] == '\0')
        continue;
      idp = g_new0 (OmIdentityProvider, 1);
      idp->id = g_strdup (id);
      idp->name = g_strdup (name != NULL && name[0] != '\0' ? name : id);
      idp->icon = g_strdup (om_json_get_string (object, "icon"));
      idp->brand = g_strdup (om_json_get_string (object, "brand"));
      g_ptr_array_add (flows->identity_providers, idp);
    }
}

static void
login_flows_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GStrvBuilder) types = g_strv_builder_new ();
  GError *error = NULL;
  JsonArray *array;
  OmLoginFlows *flows;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  array = om_json_get_array (node_object (node), "flows");
  if (array == NULL)
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The server did not say how to sign in (no login flows)");
      return;
    }

  flows = g_new0 (OmLoginFlows, 1);
  g_atomic_ref_count_init (&flows->ref_count);
  flows->identity_providers = g_ptr_array_new_with_free_func ((GDestroyNotify) identity_provider_free);

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *flow = node_object (json_array_get_element (array, i));
      const char *type = om_json_get_string (flow, "type");

      if (type == NULL)
        continue;
      g_strv_builder_add (types, type);
      if (g_str_equal (type, "m.login.sso"))
        {
          gboolean preferred = FALSE;

          add_identity_providers (flows, om_json_get_array (flow, "identity_providers"));
          /* MSC3824: the stable name and the unstable one. */
          if ((om_json_get_boolean (flow, "oauth_aware_preferred", &preferred) && preferred) ||
              (om_json_get_boolean (flow, "org.matrix.msc3824.delegated_oidc_compatibility", &preferred) &&
               preferred))
            flows->oauth_aware_preferred = TRUE;
        }
    }
  flows->types = g_strv_builder_end (types);

  g_task_return_pointer (task, flows, (GDestroyNotify) om_login_flows_unref);
}

void
om_discovery_get_login_flows_async (OmHttp              *http,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (http, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_discovery_get_login_flows_async);

  om_http_request_async (http, "GET", LOGIN_PATH, NULL, OM_HTTP_NO_AUTH, DISCOVERY_TIMEOUT_MS,
                         cancellable, login_flows_cb, g_steal_pointer (&task));
}

OmLoginFlows *
om_discovery_get_login_flows_finish (GAsyncResult  *result,
                                     GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, om_discovery_get_login_flows_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- auth metadata ----------------------------------------------------- */

typedef struct
{
  char       *issuer;    /* owned, nullable */
  JsonObject *metadata;  /* owned, nullable */
} AuthMetadata;

static void
auth_metadata_free (AuthMetadata *meta)
{
  g_free (meta->issuer);
  g_clear_pointer (&meta->metadata, json_object_unref);
  g_free (meta);
}

/* The endpoint does not exist on this server (Synapse answers 404
 * M_UNRECOGNIZED; others 400 or 405 M_UNRECOGNIZED). */
static gboolean
is_unsupported_endpoint (const GError *error)
{
  return error->domain == OM_ERROR &&
         (om_error_get_http_status (error) == 404 ||
          om_error_get_http_status (error) == 405 ||
          error->code == OM_ERROR_UNRECOGNIZED);
}

static void
return_auth_metadata (GTask      *task,
                      const char *issuer,
                      JsonObject *metadata)
{
  AuthMetadata *meta = g_new0 (AuthMetadata, 1);

  meta->issuer = g_strdup (issuer);
  meta->metadata = metadata != NULL ? json_object_ref (metadata) : NULL;
  g_task_return_pointer (task, meta, (GDestroyNotify) auth_metadata_free);
}

static void
auth_issuer_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  GError *error = NULL;
  const char *issuer;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      if (is_unsupported_endpoint (error))
        {
          g_clear_error (&error);
          return_auth_metadata (task, NULL, NULL);
        }
      else
        {
          g_task_return_error (task, error);
        }
      return;
    }

  issuer = om_json_get_string (node_object (node), "issuer");
  if (issuer == NULL || issuer[0] == '\0')
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The server's auth_issuer answer names no issuer");
      return;
    }
  return_auth_metadata (task, issuer, NULL);
}

static void
auth_metadata_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  GError *error = NULL;
  JsonObject *object;
  const char *issuer;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      if (is_unsupported_endpoint (error))
        {
          GCancellable *cancellable = g_task_get_cancellable (task);

          g_clear_error (&error);
          om_http_request_async (OM_HTTP (source), "GET", AUTH_ISSUER_UNSTABLE, NULL,
                                 OM_HTTP_NO_AUTH, DISCOVERY_TIMEOUT_MS,
                                 cancellable, auth_issuer_cb, g_steal_pointer (&task));
        }
      else
        {
          g_task_return_error (task, error);
        }
      return;
    }

  object = node_object (node);
  issuer = om_json_get_string (object, "issuer");
  if (issuer == NULL || issuer[0] == '\0')
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The server's auth_metadata names no issuer");
      return;
    }
  return_auth_metadata (task, issuer, object);
}

void
om_discovery_get_auth_metadata_async (OmHttp              *http,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (http, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_discovery_get_auth_metadata_async);

  om_http_request_async (http, "GET", AUTH_METADATA_PATH, NULL, OM_HTTP_NO_AUTH,
                         DISCOVERY_TIMEOUT_MS, cancellable, auth_metadata_cb,
                         g_steal_pointer (&task));
}

gboolean
om_discovery_get_auth_metadata_finish (GAsyncResult  *result,
                                       char         **out_issuer,
                                       JsonObject   **out_metadata,
                                       GError       **error)
{
  AuthMetadata *meta;

  g_return_val_if_fail (G_IS_TASK (result), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, om_discovery_get_auth_metadata_async),
                        FALSE);

  meta = g_task_propagate_pointer (G_TASK (result), error);
  if (meta == NULL)
    return FALSE;

  if (out_issuer != NULL)
    *out_issuer = g_steal_pointer (&meta->issuer);
  if (out_metadata != NULL)
    *out_metadata = g_steal_pointer (&meta->metadata);
  auth_metadata_free (meta);
  return TRUE;
}
