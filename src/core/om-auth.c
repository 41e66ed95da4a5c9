/* om-auth.c — signing in and out: password login, whoami, logout
 *
 * Every kind of login (password; m.login.token after SSO, and OIDC
 * later) is one POST /login whose body differs: om_auth_login_async sends a
 * body and om_auth_login_finish decodes the common answer.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-auth"

#include <string.h>

#include "om-json.h"
#include "om-auth.h"
#include "om-error.h"

#define LOGIN_PATH  "/_matrix/client/v3/login"
#define WHOAMI_PATH "/_matrix/client/v3/account/whoami"
#define LOGOUT_PATH "/_matrix/client/v3/logout"

static void
wipe_string (char *s)
{
  if (s != NULL)
    explicit_bzero (s, strlen (s));
}

/* Overwrites a secret held in a JSON object we own before it is freed.
 * json-glib keeps strings in place, so the bytes really go. */
static void
wipe_member (JsonObject *object,
             const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_STRING)
    wipe_string ((char *) json_node_get_string (node));
}

/* ---- OmLoginResult ----------------------------------------------------- */

OmLoginResult *
om_login_result_copy (const OmLoginResult *result)
{
  OmLoginResult *copy;

  g_return_val_if_fail (result != NULL, NULL);

  copy = g_new0 (OmLoginResult, 1);
  copy->user_id = g_strdup (result->user_id);
  copy->access_token = g_strdup (result->access_token);
  copy->device_id = g_strdup (result->device_id);
  copy->refresh_token = g_strdup (result->refresh_token);
  copy->expires_in_ms = result->expires_in_ms;
  copy->well_known_base_url = g_strdup (result->well_known_base_url);
  return copy;
}

void
om_login_result_free (OmLoginResult *result)
{
  if (result == NULL)
    return;

  wipe_string (result->access_token);
  wipe_string (result->refresh_token);
  g_free (result->user_id);
  g_free (result->access_token);
  g_free (result->device_id);
  g_free (result->refresh_token);
  g_free (result->well_known_base_url);
  g_free (result);
}

G_DEFINE_BOXED_TYPE (OmLoginResult, om_login_result, om_login_result_copy, om_login_result_free)

/* ---- login ------------------------------------------------------------- */

static OmLoginResult *
login_result_from_json (JsonNode  *node,
                        GError   **error)
{
  JsonObject *object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  const char *user_id = om_json_get_string (object, "user_id");
  const char *access_token = om_json_get_string (object, "access_token");
  const char *device_id = om_json_get_string (object, "device_id");
  JsonObject *homeserver;
  JsonNode *expires;
  OmLoginResult *result;

  if (user_id == NULL || user_id[0] != '@' ||
      access_token == NULL || access_token[0] == '\0' ||
      device_id == NULL || device_id[0] == '\0')
    {
      g_set_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                   "The server accepted the login but did not send a user ID, "
                   "access token and device ID");
      return NULL;
    }

  result = g_new0 (OmLoginResult, 1);
  result->user_id = g_strdup (user_id);
  result->access_token = g_strdup (access_token);
  result->device_id = g_strdup (device_id);
  result->refresh_token = g_strdup (om_json_get_string (object, "refresh_token"));
  result->expires_in_ms = -1;

  expires = json_object_get_member (object, "expires_in_ms");
  if (expires != NULL && JSON_NODE_HOLDS_VALUE (expires) &&
      json_node_get_value_type (expires) == G_TYPE_INT64 &&
      json_node_get_int (expires) > 0)
    result->expires_in_ms = json_node_get_int (expires);

  homeserver = om_json_get_object (om_json_get_object (object, "well_known"), "m.homeserver");
  result->well_known_base_url = g_strdup (om_json_get_string (homeserver, "base_url"));

  return result;
}

static void
login_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  GError *error = NULL;
  OmLoginResult *login;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  login = login_result_from_json (node, &error);
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      wipe_member (json_node_get_object (node), "access_token");
      wipe_member (json_node_get_object (node), "refresh_token");
    }
  if (login == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, login, (GDestroyNotify) om_login_result_free);
}

/* Sends @body (a complete login request, consumed) to POST /login.  The
 * password or login token, if any, is wiped from @body once the request
 * holds its copy (which om-http wipes in turn). */
static void
om_auth_login_async (OmHttp              *http,
                     JsonObject          *body,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, body);
  /* Expiring tokens, refreshed by om-token-keeper: a leaked token dies. */
  json_object_set_boolean_member (body, "refresh_token", TRUE);

  task = g_task_new (http, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_auth_login_async);

  om_http_request_async (http, "POST", LOGIN_PATH, node, OM_HTTP_NO_AUTH, 0,
                         cancellable, login_cb, g_steal_pointer (&task));
  wipe_member (body, "password");
  wipe_member (body, "token");
  json_object_unref (body);
}

void
om_auth_login_password_async (OmHttp              *http,
                              const char          *user,
                              const char          *password,
                              const char          *device_id,
                              const char          *device_display_name,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  JsonObject *body;
  JsonObject *identifier;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (user != NULL && user[0] != '\0');
  g_return_if_fail (password != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  identifier = json_object_new ();
  json_object_set_string_member (identifier, "type", "m.id.user");
  json_object_set_string_member (identifier, "user", user);

  body = json_object_new ();
  json_object_set_string_member (body, "type", "m.login.password");
  json_object_set_object_member (body, "identifier", identifier);
  json_object_set_string_member (body, "password", password);
  if (device_id != NULL && device_id[0] != '\0')
    json_object_set_string_member (body, "device_id", device_id);
  if (device_display_name != NULL && device_display_name[0] != '\0')
    json_object_set_string_member (body, "initial_device_display_name", device_display_name);

  om_auth_login_async (http, body, cancellable, callback, user_data);
}

void
om_auth_login_token_async (OmHttp              *http,
                           const char          *login_token,
                           const char          *device_id,
                           const char          *device_display_name,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  JsonObject *body;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (login_token != NULL && login_token[0] != '\0');
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  body = json_object_new ();
  json_object_set_string_member (body, "type", "m.login.token");
  json_object_set_string_member (body, "token", login_token);
  if (device_id != NULL && device_id[0] != '\0')
    json_object_set_string_member (body, "device_id", device_id);
  if (device_display_name != NULL && device_display_name[0] != '\0')
    json_object_set_string_member (body, "initial_device_display_name", device_display_name);

  om_auth_login_async (http, body, cancellable, callback, user_data);
}

OmLoginResult *
om_auth_login_finish (GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, om_auth_login_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- whoami ------------------------------------------------------------ */

typedef struct
{
  char *user_id;    /* owned */
  char *device_id;  /* owned, nullable */
} Whoami;

static void
whoami_free (Whoami *whoami)
{
  g_free (whoami->user_id);
  g_free (whoami->device_id);
  g_free (whoami);
}

static void
whoami_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(JsonNode) node = NULL;
  GError *error = NULL;
  JsonObject *object;
  const char *user_id;
  Whoami *whoami;

  node = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (node == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  user_id = om_json_get_string (object, "user_id");
  if (user_id == NULL || user_id[0] != '@')
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The server did not say who this access token belongs to");
      return;
    }

  whoami = g_new0 (Whoami, 1);
  whoami->user_id = g_strdup (user_id);
  whoami->device_id = g_strdup (om_json_get_string (object, "device_id"));
  g_task_return_pointer (task, whoami, (GDestroyNotify) whoami_free);
}

void
om_auth_whoami_async (OmHttp              *http,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (http, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_auth_whoami_async);

  om_http_request_async (http, "GET", WHOAMI_PATH, NULL, OM_HTTP_FLAGS_NONE, 0,
                         cancellable, whoami_cb, g_steal_pointer (&task));
}

gboolean
om_auth_whoami_finish (GAsyncResult  *result,
                       char         **out_user_id,
                       char         **out_device_id,
                       GError       **error)
{
  Whoami *whoami;

  g_return_val_if_fail (G_IS_TASK (result), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, om_auth_whoami_async), FALSE);

  whoami = g_task_propagate_pointer (G_TASK (result), error);
  if (whoami == NULL)
    return FALSE;

  if (out_user_id != NULL)
    *out_user_id = g_steal_pointer (&whoami->user_id);
  if (out_device_id != NULL)
    *out_device_id = g_steal_pointer (&whoami->device_id);
  whoami_free (whoami);
  return TRUE;
}

/* ---- logout ------------------------------------------------------------ */

static void
logout_cb (GObject      *source,
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
om_auth_logout_async (OmHttp              *http,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonNode) body = json_node_new (JSON_NODE_OBJECT);

  g_return_if_fail (OM_IS_HTTP (http));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  json_node_take_object (body, json_object_new ());
  task = g_task_new (http, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_auth_logout_async);

  /* Servers answer {} ; an empty body is as good. */
  om_http_request_async (http, "POST", LOGOUT_PATH, body, OM_HTTP_ALLOW_EMPTY, 0,
                         cancellable, logout_cb, g_steal_pointer (&task));
}

gboolean
om_auth_logout_finish (GAsyncResult  *result,
                       GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, om_auth_logout_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
