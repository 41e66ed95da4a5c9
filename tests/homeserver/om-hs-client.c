/* om-hs-client.c — client-server API handlers (accounts, rooms, events)
 *
 * Shapes and error texts follow Synapse 1.94 as recorded in
 * tests/data/transcripts/.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-client"

#include "om-hs.h"

#include <string.h>

#define MAX_EVENT_SIZE 65536

/* Handlers */

#define SEG(i) (req->segs[(i)])

static void
reply_not_in_room (OmHsRequest *req,
                   const char  *room_id,
                   gboolean     previews)
{
  g_autofree char *msg = g_strdup_printf ("User %s not in room %s%s", req->user_id, room_id,
                                          previews ? ", and room previews are disabled" : "");

  om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", msg);
}

static gboolean
require_joined (OmHsRequest *req,
                const char  *room_id,
                gboolean     previews)
{
  g_autofree char *m = om_hs_membership (req->hs, room_id, req->user_id);

  if (g_strcmp0 (m, "join") == 0)
    return TRUE;
  reply_not_in_room (req, room_id, previews);
  return FALSE;
}

static void
h_login_flows (OmHsRequest *req)
{
  g_autoptr(JsonObject) obj = json_object_new ();
  JsonArray *flows = json_array_new ();
  JsonObject *sso = json_object_new ();
  JsonArray *idps = json_array_new ();
  JsonObject *idp = json_object_new ();
  static const char *simple[] = { "m.login.token", "m.login.password", "m.login.application_service" };

  json_object_set_string_member (sso, "type", "m.login.sso");
  json_object_set_string_member (idp, "id", "oidc-openmeet");
  json_object_set_string_member (idp, "name", "OpenMeet");
  json_array_add_object_element (idps, idp);
  json_object_set_array_member (sso, "identity_providers", idps);
  if (om_hs_oauth_enabled (req->hs))
    {
      /* MSC3824: SSO stays for old clients, OAuth-aware ones use the
       * authorization server; no password login here. */
      json_object_set_boolean_member (sso, "oauth_aware_preferred", TRUE);
      json_object_set_boolean_member (sso, "org.matrix.msc3824.delegated_oidc_compatibility", TRUE);
    }
  json_array_add_object_element (flows, sso);
  /* Delegated: m.login.token only (simple[0]), for the SSO flow. */
  for (guint i = 0; i < (om_hs_oauth_enabled (req->hs) ? 1 : G_N_ELEMENTS (simple)); i++)
    {
      JsonObject *f = json_object_new ();
      json_object_set_string_member (f, "type", simple[i]);
      json_array_add_object_element (flows, f);
    }
  json_object_set_array_member (obj, "flows", flows);
  om_hs_reply_object (req->msg, 200, obj);
}

static void
add_well_known (OmHs       *hs,
                JsonObject *obj)
{
  JsonObject *wk = json_object_new ();
  JsonObject *home = json_object_new ();
  g_autofree char *base = g_strdup_printf ("%s/", hs->base_url);

  json_object_set_string_member (home, "base_url", base);
  json_object_set_object_member (wk, "m.homeserver", home);
  json_object_set_object_member (obj, "well_known", wk);
}

/* The user a password login names, NULL (after answering) if it fails. */
static char *
password_login_user (OmHsRequest *req,
                     JsonObject  *body)
{
  g_autofree char *user_id = NULL;
  const char *user = NULL;

  if (json_object_has_member (body, "identifier"))
    {
      JsonObject *ident = json_object_get_object_member (body, "identifier");
      if (g_strcmp0 (om_hs_json_str (ident, "type"), "m.id.user") == 0)
        user = om_hs_json_str (ident, "user");
    }
  if (user == NULL)
    user = om_hs_json_str (body, "user");
  if (user == NULL)
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM", "Missing param: user");
      return NULL;
    }
  user_id = om_hs_user_id (req->hs, user);
  if (!om_hs_user_check_password (req->hs, user_id, om_hs_json_str (body, "password")))
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "Invalid username or password");
      return NULL;
    }
  return g_steal_pointer (&user_id);
}

static void
h_login (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  g_autoptr(JsonObject) out = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *device_id = NULL;
  g_autofree char *token = NULL;
  g_autofree char *refresh = NULL;
  const char *type;
  gboolean refreshable;

  if (body == NULL)
    return;
  type = om_hs_json_str (body, "type");
  if (g_strcmp0 (type, "m.login.token") == 0)
    {
      /* A login token from SSO (om-hs-sso.c): single use, 2 minutes. */
      user_id = om_hs_login_token_consume (req->hs, om_hs_json_str (body, "token"));
      if (user_id == NULL)
        {
          om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "Invalid login token");
          return;
        }
    }
  else if (g_strcmp0 (type, "m.login.password") == 0 && om_hs_oauth_enabled (req->hs))
    {
      om_hs_reply_error (req->msg, 400, "M_UNRECOGNIZED",
                         "Password login is handled by the authorization server");
      return;
    }
  else if (g_strcmp0 (type, "m.login.password") != 0)
    {
      g_autofree char *msg = g_strdup_printf ("Unknown login type %s", type ? type : "");
      om_hs_reply_error (req->msg, 400, "M_UNKNOWN", msg);
      return;
    }
  else if ((user_id = password_login_user (req, body)) == NULL)
    return;
  device_id = g_strdup (om_hs_json_str (body, "device_id"));
  if (device_id == NULL)
    device_id = om_hs_random_string (10, TRUE);
  om_hs_device_ensure (req->hs, user_id, device_id, om_hs_json_str (body, "initial_device_display_name"));
  refreshable = json_object_has_member (body, "refresh_token") &&
                json_object_get_boolean_member (body, "refresh_token");
  if (refreshable)
    token = om_hs_token_create_refreshable (req->hs, user_id, device_id, req->hs->token_lifetime_ms,
                                            &refresh);
  else
    token = om_hs_token_create (req->hs, user_id, device_id);

  out = json_object_new ();
  json_object_set_string_member (out, "user_id", user_id);
  json_object_set_string_member (out, "access_token", token);
  json_object_set_string_member (out, "home_server", req->hs->server_name);
  json_object_set_string_member (out, "device_id", device_id);
  if (refreshable)
    {
      json_object_set_int_member (out, "expires_in_ms", req->hs->token_lifetime_ms);
      json_object_set_string_member (out, "refresh_token", refresh);
    }
  add_well_known (req->hs, out);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_logout (OmHsRequest *req)
{
  om_hs_device_logout (req->hs, req->user_id, req->device_id);
  om_hs_reply_empty (req->msg);
}

static void
h_refresh (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  g_autoptr(JsonObject) out = NULL;
  g_autofree char *access = NULL;
  g_autofree char *refresh = NULL;
  const char *token;
  guint status;

  if (body == NULL)
    return;
  token = om_hs_json_str (body, "refresh_token");
  if (token == NULL)
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM", "Missing property \"refresh_token\"");
      return;
    }
  status = om_hs_token_refresh (req->hs, token, req->hs->token_lifetime_ms, &access, &refresh);
  if (status == 401)
    {
      g_autoptr(JsonObject) err = json_object_new ();

      json_object_set_string_member (err, "errcode", "M_UNKNOWN_TOKEN");
      json_object_set_string_member (err, "error", "refresh token does not exist");
      json_object_set_boolean_member (err, "soft_logout", FALSE);
      om_hs_reply_object (req->msg, 401, err);
      return;
    }
  if (status == 403)
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "refresh token isn't valid anymore");
      return;
    }
  if (status == 419)
    {
      g_autoptr(JsonObject) err = json_object_new ();

      json_object_set_string_member (err, "errcode", "M_UNKNOWN_TOKEN");
      json_object_set_string_member (err, "error", "The refresh token has expired");
      json_object_set_boolean_member (err, "soft_logout", TRUE);
      om_hs_reply_object (req->msg, 401, err);
      return;
    }
  out = json_object_new ();
  json_object_set_string_member (out, "access_token", access);
  json_object_set_string_member (out, "refresh_token", refresh);
  json_object_set_int_member (out, "expires_in_ms", req->hs->token_lifetime_ms);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_logout_all (OmHsRequest *req)
{
  om_hs_token_delete_user (req->hs, req->user_id);
  om_hs_device_list_bump (req->hs, req->user_id);
  om_hs_reply_empty (req->msg);
}

static void
h_whoami (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = json_object_new ();

  json_object_set_string_member (out, "user_id", req->user_id);
  json_object_set_boolean_member (out, "is_guest", FALSE);
  json_object_set_string_member (out, "device_id", req->device_id);
  om_hs_reply_object (req->msg, 200, out);
}

static gboolean
check_username (OmHsRequest *req,
                const char  *name)
{
  g_autofree char *user_id = NULL;

  for (const char *p = name; *p; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || strchr ("=_-./+", *p)))
      {
        om_hs_reply_error (req->msg, 400, "M_INVALID_USERNAME",
                           "User ID can only contain characters a-z, 0-9, or '=_-./+'");
        return FALSE;
      }
  if (name[0] == '_')
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_USERNAME", "User ID may not begin with _");
      return FALSE;
    }
  user_id = om_hs_user_id (req->hs, name);
  if (om_hs_user_exists (req->hs, user_id))
    {
      om_hs_reply_error (req->msg, 400, "M_USER_IN_USE", "User ID already taken.");
      return FALSE;
    }
  return TRUE;
}

static void
h_register_available (OmHsRequest *req)
{
  const char *name = om_hs_query (req, "username");
  g_autoptr(JsonObject) out = NULL;

  if (name == NULL || name[0] == '\0')
    {
      om_hs_reply_error (req->msg, 400, "M_MISSING_PARAM", "Missing string query param: username");
      return;
    }
  if (!check_username (req, name))
    return;
  out = json_object_new ();
  json_object_set_boolean_member (out, "available", TRUE);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_register (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  g_autoptr(JsonObject) out = NULL;
  g_autofree char *localpart = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *device_id = NULL;
  JsonObject *auth = NULL;
  const char *session = NULL;

  if (body == NULL)
    return;
  localpart = g_strdup (om_hs_json_str (body, "username"));
  if (localpart && !check_username (req, localpart))
    return;
  if (json_object_has_member (body, "auth"))
    auth = json_object_get_object_member (body, "auth");
  session = om_hs_json_str (auth, "session");
  if (auth == NULL || g_strcmp0 (om_hs_json_str (auth, "type"), "m.login.dummy") != 0 ||
      (session && !g_hash_table_contains (req->hs->uia_sessions, session)))
    {
      g_autofree char *new_session = om_hs_random_string (24, FALSE);
      JsonArray *flows = json_array_new ();
      JsonObject *flow = json_object_new ();
      JsonArray *stages = json_array_new ();

      g_hash_table_add (req->hs->uia_sessions, g_strdup (new_session));
      out = json_object_new ();
      json_object_set_string_member (out, "session", new_session);
      json_array_add_string_element (stages, "m.login.dummy");
      json_object_set_array_member (flow, "stages", stages);
      json_array_add_object_element (flows, flow);
      json_object_set_array_member (out, "flows", flows);
      json_object_set_object_member (out, "params", json_object_new ());
      om_hs_reply_object (req->msg, 401, out);
      return;
    }
  if (session)
    g_hash_table_remove (req->hs->uia_sessions, session);
  if (localpart == NULL)
    {
      localpart = om_hs_random_string (12, TRUE);
      for (char *p = localpart; *p; p++)
        *p = g_ascii_tolower (*p);
    }
  om_hs_user_create (req->hs, localpart, om_hs_json_str (body, "password"), FALSE, NULL);
  user_id = om_hs_user_id (req->hs, localpart);

  out = json_object_new ();
  json_object_set_string_member (out, "user_id", user_id);
  json_object_set_string_member (out, "home_server", req->hs->server_name);
  if (!(json_object_has_member (body, "inhibit_login") &&
        json_object_get_boolean_member (body, "inhibit_login")))
    {
      g_autofree char *token = NULL;

      device_id = g_strdup (om_hs_json_str (body, "device_id"));
      if (device_id == NULL)
        device_id = om_hs_random_string (10, TRUE);
      om_hs_device_ensure (req->hs, user_id, device_id, om_hs_json_str (body, "initial_device_display_name"));
      token = om_hs_token_create (req->hs, user_id, device_id);
      json_object_set_string_member (out, "access_token", token);
      json_object_set_string_member (out, "device_id", device_id);
    }
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_capabilities (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = om_hs_parse_object (
    "{\"capabilities\":{\"m.room_versions\":{\"default\":\"10\",\"available\":{\"9\":\"stable\","
    "\"10\":\"stable\",\"11\":\"stable\"}},\"m.change_password\":{\"enabled\":true},"
    "\"m.set_displayname\":{\"enabled\":true},\"m.set_avatar_url\":{\"enabled\":true},"
    "\"m.3pid_changes\":{\"enabled\":true},\"m.get_login_token\":{\"enabled\":false}}}");

  om_hs_reply_object (req->msg, 200, out);
}

static void
h_filter_create (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonObject) out = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *json = NULL;
  g_autofree char *id = NULL;

  if (!g_str_equal (SEG (1), req->user_id))
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "Cannot create filters for other users");
      return;
    }
  body = om_hs_request_body (req);
  if (body == NULL)
    return;
  node = json_node_init_object (json_node_alloc (), body);
  json = om_hs_json_to_string (node);
  id = om_hs_filter_create (req->hs, req->user_id, json);
  out = json_object_new ();
  json_object_set_string_member (out, "filter_id", id);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_filter_get (OmHsRequest *req)
{
  g_autofree char *json = NULL;
  g_autoptr(JsonObject) obj = NULL;

  if (!g_str_equal (SEG (1), req->user_id))
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "Cannot get filters for other users");
      return;
    }
  json = om_hs_filter_get (req->hs, req->user_id, SEG (3));
  obj = om_hs_parse_object (json);
  if (obj == NULL)
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "No such filter");
      return;
    }
  om_hs_reply_object (req->msg, 200, obj);
}

static void
h_create_room (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  g_autoptr(JsonObject) out = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *error = NULL;
  const char *errcode = NULL;
  guint status = 0;

  if (body == NULL)
    return;
  if (!om_hs_ratelimit_check (req))
    return;
  room_id = om_hs_create_room (req->hs, req->user_id, body, &errcode, &error, &status);
  if (room_id == NULL)
    {
      om_hs_reply_error (req->msg, status, errcode, error);
      return;
    }
  out = json_object_new ();
  json_object_set_string_member (out, "room_id", room_id);
  om_hs_reply_object (req->msg, 200, out);
}

static void
join_room (OmHsRequest *req,
           const char  *id_or_alias)
{
  g_autofree char *room_id = NULL;
  g_autofree char *membership = NULL;
  g_autoptr(OmHsEvent) rules = NULL;
  g_autoptr(JsonObject) out = NULL;
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  gboolean is_public = FALSE;

  if (body == NULL)
    return;
  if (id_or_alias[0] == '#')
    {
      room_id = om_hs_alias_lookup (req->hs, id_or_alias);
      if (room_id == NULL)
        {
          g_autofree char *msg = g_strdup_printf ("Room alias %s not found", id_or_alias);
          om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", msg);
          return;
        }
    }
  else
    room_id = g_strdup (id_or_alias);
  if (!om_hs_room_exists (req->hs, room_id))
    {
      om_hs_reply_error (req->msg, 404, "M_UNKNOWN",
                         "Can't join remote room because no servers that are in the room have been provided.");
      return;
    }
  membership = om_hs_membership (req->hs, room_id, req->user_id);
  rules = om_hs_state_get (req->hs, room_id, "m.room.join_rules", "");
  if (rules)
    {
      g_autoptr(JsonObject) c = om_hs_parse_object (rules->content);
      is_public = g_strcmp0 (om_hs_json_str (c, "join_rule"), "public") == 0;
    }
  if (g_strcmp0 (membership, "ban") == 0)
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "You are banned from this room");
      return;
    }
  if (!is_public && g_strcmp0 (membership, "invite") != 0 && g_strcmp0 (membership, "join") != 0)
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "You are not invited to this room.");
      return;
    }
  if (g_strcmp0 (membership, "join") != 0)
    om_hs_set_membership (req->hs, room_id, req->user_id, req->user_id, "join", NULL);
  out = json_object_new ();
  json_object_set_string_member (out, "room_id", room_id);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_join (OmHsRequest *req)
{
  join_room (req, SEG (1));
}

static void
h_room_join (OmHsRequest *req)
{
  join_room (req, SEG (1));
}

static void
h_leave (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  g_autofree char *m = NULL;

  if (body == NULL)
    return;
  m = om_hs_membership (req->hs, SEG (1), req->user_id);
  if (g_strcmp0 (m, "join") != 0 && g_strcmp0 (m, "invite") != 0)
    {
      reply_not_in_room (req, SEG (1), FALSE);
      return;
    }
  om_hs_set_membership (req->hs, SEG (1), req->user_id, req->user_id, "leave", om_hs_json_str (body, "reason"));
  om_hs_typing_set (req->hs, SEG (1), req->user_id, FALSE, 0);
  om_hs_reply_empty (req->msg);
}

static void
h_forget (OmHsRequest *req)
{
  om_hs_reply_empty (req->msg);
}

/* invite, kick, ban, unban: the target's membership set by someone else */
static void
h_membership_action (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  const char *room_id = SEG (1);
  const char *action = SEG (2);
  const char *target;
  const char *membership;
  g_autofree char *tm = NULL;
  gint level, need;
  gboolean over_target;

  if (body == NULL)
    return;
  target = om_hs_json_str (body, "user_id");
  if (target == NULL || target[0] != '@')
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM", "Expected UserID string to start with '@'");
      return;
    }
  if (!require_joined (req, room_id, FALSE))
    return;
  level = om_hs_user_power (req->hs, room_id, req->user_id);
  need = om_hs_required_power (req->hs, room_id, NULL, FALSE,
                               g_str_equal (action, "unban") ? "ban" : action);
  over_target = level > om_hs_user_power (req->hs, room_id, target);
  tm = om_hs_membership (req->hs, room_id, target);
  if (level < need || (!g_str_equal (action, "invite") && !over_target))
    {
      g_autofree char *msg = g_strdup_printf ("You don't have permission to %s users", action);
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", msg);
      return;
    }
  if (g_str_equal (action, "invite"))
    {
      if (g_strcmp0 (tm, "join") == 0 || g_strcmp0 (tm, "ban") == 0)
        {
          g_autofree char *msg = g_strdup_printf (g_strcmp0 (tm, "ban") == 0 ? "%s is banned from the room"
                                                                             : "%s is already in the room.",
                                                  target);
          om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", msg);
          return;
        }
      membership = "invite";
    }
  else if (g_str_equal (action, "kick"))
    {
      if (g_strcmp0 (tm, "join") != 0 && g_strcmp0 (tm, "invite") != 0)
        {
          om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "The target user is not in the room");
          return;
        }
      membership = "leave";
    }
  else if (g_str_equal (action, "ban"))
    membership = "ban";
  else
    {
      if (g_strcmp0 (tm, "ban") != 0)
        {
          om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "The target user is not banned");
          return;
        }
      membership = "leave";
    }
  om_hs_set_membership (req->hs, room_id, req->user_id, target, membership,
                        om_hs_json_str (body, "reason"));
  om_hs_reply_empty (req->msg);
}

static void
h_directory (OmHsRequest *req)
{
  g_autofree char *room_id = om_hs_alias_lookup (req->hs, SEG (2));
  g_autoptr(JsonObject) out = NULL;
  JsonArray *servers;

  if (room_id == NULL)
    {
      g_autofree char *msg = g_strdup_printf ("Room alias %s not found", SEG (2));
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", msg);
      return;
    }
  out = json_object_new ();
  servers = json_array_new ();
  json_array_add_string_element (servers, req->hs->server_name);
  json_object_set_string_member (out, "room_id", room_id);
  json_object_set_array_member (out, "servers", servers);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_aliases (OmHsRequest *req)
{
  g_autoptr(GPtrArray) aliases = NULL;
  g_autoptr(JsonObject) out = json_object_new ();
  JsonArray *arr = json_array_new ();

  if (!require_joined (req, SEG (1), FALSE))
    {
      json_array_unref (arr);
      return;
    }
  aliases = om_hs_room_aliases (req->hs, SEG (1));
  for (guint i = 0; i < aliases->len; i++)
    json_array_add_string_element (arr, aliases->pdata[i]);
  json_object_set_array_member (out, "aliases", arr);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_joined_rooms (OmHsRequest *req)
{
  g_autoptr(GPtrArray) rooms = om_hs_user_rooms (req->hs, req->user_id);
  g_autoptr(JsonObject) out = json_object_new ();
  JsonArray *arr = json_array_new ();

  for (guint i = 0; i < rooms->len; i++)
    {
      OmHsEvent *ev = rooms->pdata[i];
      g_autoptr(JsonObject) c = om_hs_parse_object (ev->content);

      if (g_strcmp0 (om_hs_json_str (c, "membership"), "join") == 0)
        json_array_add_string_element (arr, ev->room_id);
    }
  json_object_set_array_member (out, "joined_rooms", arr);
  om_hs_reply_object (req->msg, 200, out);
}

static gboolean
body_too_large (OmHsRequest *req)
{
  SoupMessageBody *body = soup_server_message_get_request_body (req->msg);

  if (body->length <= MAX_EVENT_SIZE)
    return FALSE;
  om_hs_reply_error (req->msg, 413, "M_TOO_LARGE", "event too large");
  return TRUE;
}

static void
reply_event_id (OmHsRequest *req,
                const char  *event_id)
{
  g_autoptr(JsonObject) out = json_object_new ();

  json_object_set_string_member (out, "event_id", event_id);
  om_hs_reply_object (req->msg, 200, out);
}

static gboolean
check_send_power (OmHsRequest *req,
                  const char  *room_id,
                  const char  *type,
                  gboolean     is_state)
{
  gint level = om_hs_user_power (req->hs, room_id, req->user_id);
  gint need = om_hs_required_power (req->hs, room_id, type, is_state, NULL);
  g_autofree char *msg = NULL;

  if (level >= need)
    return TRUE;
  msg = g_strdup_printf ("You don't have permission to post that to the room. "
                         "user_level (%d) < send_level (%d)", level, need);
  om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", msg);
  return FALSE;
}

static void
h_send (OmHsRequest *req)
{
  const char *room_id = SEG (1), *type = SEG (3), *txn_id = SEG (4);
  gint64 received_us = g_get_monotonic_time ();
  g_autofree char *existing = NULL;
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(OmHsEvent) ev = NULL;

  /* A retried txnId answers the original event, whatever the body or type. */
  existing = om_hs_txn_lookup (req->hs, req->user_id, req->device_id, room_id, txn_id);
  if (existing)
    {
      reply_event_id (req, existing);
      return;
    }
  if (body_too_large (req))
    return;
  body = om_hs_request_body (req);
  if (body == NULL)
    return;
  if (!require_joined (req, room_id, FALSE) || !check_send_power (req, room_id, type, FALSE))
    return;
  if (!om_hs_ratelimit_check (req))
    return;
  ev = om_hs_event_create (req->hs, room_id, req->user_id, type, NULL, body,
                           txn_id, req->device_id, 0);
  om_hs_timing_received (req->hs, ev->event_id, received_us);
  reply_event_id (req, ev->event_id);
}

static gboolean
validate_power_levels (OmHsRequest *req,
                       JsonObject  *body)
{
  JsonObject *users;
  GList *members;
  gboolean ok = TRUE;

  if (!json_object_has_member (body, "users"))
    return TRUE;
  users = json_object_get_object_member (body, "users");
  members = users ? json_object_get_members (users) : NULL;
  for (GList *l = members; l && ok; l = l->next)
    {
      JsonNode *n = json_object_get_member (users, l->data);

      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
        {
          g_autofree char *v = om_hs_json_to_string (n);
          g_autofree char *msg = NULL;

          if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
            msg = g_strdup_printf ("\"%s\": '%s' is not of type 'integer'", (char *) l->data,
                                   json_node_get_string (n));
          else
            msg = g_strdup_printf ("\"%s\": %s is not of type 'integer'", (char *) l->data, v);
          om_hs_reply_error (req->msg, 400, "M_BAD_JSON", msg);
          ok = FALSE;
        }
    }
  g_list_free (members);
  return ok;
}

static void
h_state_put (OmHsRequest *req)
{
  const char *room_id = SEG (1), *type = SEG (3);
  const char *state_key = SEG (4) ? SEG (4) : "";
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(OmHsEvent) ev = NULL;
  g_autoptr(OmHsEvent) current = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;

  if (body_too_large (req))
    return;
  body = om_hs_request_body (req);
  if (body == NULL)
    return;
  if (!require_joined (req, room_id, FALSE))
    return;
  if (g_str_equal (type, "m.room.power_levels") && !validate_power_levels (req, body))
    return;
  if (g_str_equal (type, "m.room.member") && !g_str_equal (state_key, req->user_id))
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "Use the membership endpoints for other users");
      return;
    }
  if (!check_send_power (req, room_id, type, TRUE))
    return;
  if (!om_hs_ratelimit_check (req))
    return;
  /* Synapse de-duplicates a state event identical to the current one. */
  node = json_node_init_object (json_node_alloc (), body);
  text = om_hs_json_to_string (node);
  current = om_hs_state_get (req->hs, room_id, type, state_key);
  if (current && g_str_equal (current->sender, req->user_id) && g_str_equal (current->content, text))
    {
      reply_event_id (req, current->event_id);
      return;
    }
  ev = om_hs_event_create (req->hs, room_id, req->user_id, type, state_key, body,
                           NULL, req->device_id, 0);
  reply_event_id (req, ev->event_id);
}

static void
h_state_get_all (OmHsRequest *req)
{
  g_autoptr(GPtrArray) state = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *m = om_hs_membership (req->hs, SEG (1), req->user_id);
  JsonArray *arr;

  if (g_strcmp0 (m, "join") != 0 && g_strcmp0 (m, "leave") != 0)
    {
      reply_not_in_room (req, SEG (1), TRUE);
      return;
    }
  state = om_hs_state_at (req->hs, SEG (1), 0);
  arr = json_array_new ();
  for (guint i = 0; i < state->len; i++)
    json_array_add_element (arr, om_hs_event_to_json (req->hs, state->pdata[i], OM_HS_FORMAT_CLIENT,
                                                      req->user_id, req->device_id));
  node = json_node_init_array (json_node_alloc (), arr);
  json_array_unref (arr);
  om_hs_reply_json (req->msg, 200, node);
}

static void
h_state_get (OmHsRequest *req)
{
  g_autoptr(OmHsEvent) ev = NULL;
  g_autoptr(JsonObject) obj = NULL;
  g_autofree char *m = om_hs_membership (req->hs, SEG (1), req->user_id);

  if (g_strcmp0 (m, "join") != 0 && g_strcmp0 (m, "leave") != 0)
    {
      reply_not_in_room (req, SEG (1), TRUE);
      return;
    }
  ev = om_hs_state_get (req->hs, SEG (1), SEG (3), SEG (4) ? SEG (4) : "");
  obj = ev ? om_hs_parse_object (ev->content) : NULL;
  if (obj == NULL)
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "Event not found.");
      return;
    }
  om_hs_reply_object (req->msg, 200, obj);
}

static void
h_event_get (OmHsRequest *req)
{
  g_autoptr(OmHsEvent) ev = NULL;
  g_autoptr(JsonNode) node = NULL;

  if (!require_joined (req, SEG (1), TRUE))
    return;
  ev = om_hs_event_get (req->hs, SEG (3));
  if (ev == NULL || !g_str_equal (ev->room_id, SEG (1)))
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "Event not found.");
      return;
    }
  node = om_hs_event_to_json (req->hs, ev, OM_HS_FORMAT_CLIENT, req->user_id, req->device_id);
  om_hs_reply_json (req->msg, 200, node);
}

static void
h_members (OmHsRequest *req)
{
  g_autoptr(GPtrArray) state = NULL;
  g_autoptr(JsonObject) out = NULL;
  const char *membership = om_hs_query (req, "membership");
  const char *not_membership = om_hs_query (req, "not_membership");
  JsonArray *chunk;

  if (!require_joined (req, SEG (1), TRUE))
    return;
  state = om_hs_state_at (req->hs, SEG (1), 0);
  chunk = json_array_new ();
  for (guint i = 0; i < state->len; i++)
    {
      OmHsEvent *ev = state->pdata[i];
      g_autoptr(JsonObject) c = NULL;
      const char *m;

      if (!g_str_equal (ev->type, "m.room.member"))
        continue;
      c = om_hs_parse_object (ev->content);
      m = om_hs_json_str (c, "membership");
      if ((membership && g_strcmp0 (m, membership) != 0) ||
          (not_membership && g_strcmp0 (m, not_membership) == 0))
        continue;
      json_array_add_element (chunk, om_hs_event_to_json (req->hs, ev, OM_HS_FORMAT_CLIENT,
                                                          req->user_id, req->device_id));
    }
  out = json_object_new ();
  json_object_set_array_member (out, "chunk", chunk);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_joined_members (OmHsRequest *req)
{
  g_autoptr(GPtrArray) members = NULL;
  g_autoptr(JsonObject) out = NULL;
  JsonObject *joined;

  if (!require_joined (req, SEG (1), TRUE))
    return;
  members = om_hs_room_members (req->hs, SEG (1), "join");
  joined = json_object_new ();
  for (guint i = 0; i < members->len; i++)
    {
      g_autoptr(OmHsEvent) ev = om_hs_state_get (req->hs, SEG (1), "m.room.member", members->pdata[i]);
      g_autoptr(JsonObject) c = om_hs_parse_object (ev ? ev->content : NULL);
      JsonObject *m = json_object_new ();
      const char *avatar = om_hs_json_str (c, "avatar_url");
      const char *name = om_hs_json_str (c, "displayname");

      if (avatar)
        json_object_set_string_member (m, "avatar_url", avatar);
      else
        json_object_set_null_member (m, "avatar_url");
      if (name)
        json_object_set_string_member (m, "display_name", name);
      else
        json_object_set_null_member (m, "display_name");
      json_object_set_object_member (joined, members->pdata[i], m);
    }
  out = json_object_new ();
  json_object_set_object_member (out, "joined", joined);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_redact (OmHsRequest *req)
{
  const char *room_id = SEG (1), *target = SEG (3), *txn_id = SEG (4);
  g_autofree char *existing = NULL;
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(OmHsEvent) orig = NULL;
  g_autoptr(OmHsEvent) ev = NULL;

  existing = om_hs_txn_lookup (req->hs, req->user_id, req->device_id, room_id, txn_id);
  if (existing)
    {
      reply_event_id (req, existing);
      return;
    }
  body = om_hs_request_body (req);
  if (body == NULL || !require_joined (req, room_id, FALSE))
    return;
  orig = om_hs_event_get (req->hs, target);
  if (orig && !g_str_equal (orig->sender, req->user_id) &&
      om_hs_user_power (req->hs, room_id, req->user_id) <
      om_hs_required_power (req->hs, room_id, NULL, FALSE, "redact"))
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "You don't have permission to redact events");
      return;
    }
  if (!om_hs_ratelimit_check (req))
    return;
  json_object_set_string_member (body, "redacts", target);
  ev = om_hs_event_create (req->hs, room_id, req->user_id, "m.room.redaction", NULL, body,
                           txn_id, req->device_id, 0);
  if (orig && g_str_equal (orig->room_id, room_id))
    om_hs_event_redact (req->hs, target, ev);
  reply_event_id (req, ev->event_id);
}

static void
h_typing (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = NULL;
  gboolean typing;
  gint64 timeout = 30000;

  if (!g_str_equal (SEG (3), req->user_id))
    {
      om_hs_reply_error (req->msg, 400, "M_FORBIDDEN", "Cannot set another user's typing state");
      return;
    }
  body = om_hs_request_body (req);
  if (body == NULL || !require_joined (req, SEG (1), FALSE))
    return;
  if (!json_object_has_member (body, "typing"))
    {
      om_hs_reply_error (req->msg, 400, "M_BAD_JSON", "Missing typing");
      return;
    }
  typing = json_object_get_boolean_member (body, "typing");
  if (json_object_has_member (body, "timeout"))
    timeout = CLAMP (json_object_get_int_member (body, "timeout"), 1, 120000);
  om_hs_typing_set (req->hs, SEG (1), req->user_id, typing, (guint) timeout);
  om_hs_reply_empty (req->msg);
}

static void
set_fully_read (OmHsRequest *req,
                const char  *room_id,
                const char  *event_id)
{
  g_autoptr(JsonObject) c = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;

  json_object_set_string_member (c, "event_id", event_id);
  node = json_node_init_object (json_node_alloc (), c);
  text = om_hs_json_to_string (node);
  om_hs_account_data_set (req->hs, req->user_id, room_id, "m.fully_read", text);
}

static void
h_receipt (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  const char *type = SEG (3);

  if (body == NULL || !require_joined (req, SEG (1), FALSE))
    return;
  if (g_str_equal (type, "m.fully_read"))
    set_fully_read (req, SEG (1), SEG (4));
  else if (g_str_equal (type, "m.read") || g_str_equal (type, "m.read.private"))
    om_hs_receipt_set (req->hs, SEG (1), req->user_id, type, om_hs_json_str (body, "thread_id"), SEG (4));
  else
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM",
                         "Receipt type must be 'm.read', 'm.read.private' or 'm.fully_read'");
      return;
    }
  om_hs_reply_empty (req->msg);
}

static void
h_read_markers (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = om_hs_request_body (req);
  const char *v;

  if (body == NULL || !require_joined (req, SEG (1), FALSE))
    return;
  if ((v = om_hs_json_str (body, "m.fully_read")))
    set_fully_read (req, SEG (1), v);
  if ((v = om_hs_json_str (body, "m.read")))
    om_hs_receipt_set (req->hs, SEG (1), req->user_id, "m.read", NULL, v);
  if ((v = om_hs_json_str (body, "m.read.private")))
    om_hs_receipt_set (req->hs, SEG (1), req->user_id, "m.read.private", NULL, v);
  om_hs_reply_empty (req->msg);
}

static void
h_account_data (OmHsRequest *req)
{
  gboolean room = g_str_equal (SEG (2), "rooms");
  const char *room_id = room ? SEG (3) : NULL;
  const char *type = room ? SEG (5) : SEG (3);

  if (!g_str_equal (SEG (1), req->user_id))
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN",
                         g_str_equal (req->method, "PUT") ? "Cannot add account data for other users."
                                                          : "Cannot get account data for other users.");
      return;
    }
  if (g_str_equal (req->method, "PUT"))
    {
      g_autoptr(JsonObject) body = om_hs_request_body (req);
      g_autoptr(JsonNode) node = NULL;
      g_autofree char *text = NULL;

      if (body == NULL)
        return;
      node = json_node_init_object (json_node_alloc (), body);
      text = om_hs_json_to_string (node);
      om_hs_account_data_set (req->hs, req->user_id, room_id, type, text);
      om_hs_reply_empty (req->msg);
    }
  else
    {
      g_autofree char *content = om_hs_account_data_get (req->hs, req->user_id, room_id, type);
      g_autoptr(JsonObject) obj = om_hs_parse_object (content);

      if (obj == NULL)
        om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "Account data not found");
      else
        om_hs_reply_object (req->msg, 200, obj);
    }
}

static void
h_presence (OmHsRequest *req)
{
  if (g_str_equal (req->method, "PUT"))
    {
      g_autoptr(JsonObject) body = NULL;
      const char *presence;

      if (!g_str_equal (SEG (1), req->user_id))
        {
          om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "Can only set your own presence state");
          return;
        }
      body = om_hs_request_body (req);
      if (body == NULL)
        return;
      presence = om_hs_json_str (body, "presence");
      if (g_strcmp0 (presence, "online") != 0 && g_strcmp0 (presence, "offline") != 0 &&
          g_strcmp0 (presence, "unavailable") != 0)
        {
          om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM", "Invalid presence state");
          return;
        }
      /* Like Synapse, an update without status_msg clears it. */
      om_hs_presence_set (req->hs, req->user_id, presence, om_hs_json_str (body, "status_msg"), TRUE);
      om_hs_reply_empty (req->msg);
    }
  else
    {
      g_autoptr(JsonObject) obj = om_hs_presence_get (req->hs, SEG (1), NULL);

      if (obj == NULL)
        {
          if (!om_hs_user_exists (req->hs, SEG (1)))
            {
              om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "Unknown user");
              return;
            }
          obj = json_object_new ();
          json_object_set_string_member (obj, "presence", "offline");
        }
      om_hs_reply_object (req->msg, 200, obj);
    }
}

static void
h_profile (OmHsRequest *req)
{
  g_autofree char *name = NULL;
  g_autoptr(JsonObject) out = NULL;

  if (!om_hs_user_exists (req->hs, SEG (1)))
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "Profile was not found");
      return;
    }
  name = om_hs_user_dup_displayname (req->hs, SEG (1));
  out = json_object_new ();
  if (name)
    json_object_set_string_member (out, "displayname", name);
  om_hs_reply_object (req->msg, 200, out);
}

static void
h_displayname_put (OmHsRequest *req)
{
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(GPtrArray) rooms = NULL;
  const char *name;

  if (!g_str_equal (SEG (1), req->user_id))
    {
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", "Cannot set another user's displayname");
      return;
    }
  body = om_hs_request_body (req);
  if (body == NULL)
    return;
  name = om_hs_json_str (body, "displayname");
  om_hs_user_set_displayname (req->hs, req->user_id, name);
  /* Like Synapse: a new member event in every joined room. */
  rooms = om_hs_user_rooms (req->hs, req->user_id);
  for (guint i = 0; i < rooms->len; i++)
    {
      OmHsEvent *ev = rooms->pdata[i];
      g_autoptr(JsonObject) c = om_hs_parse_object (ev->content);

      if (g_strcmp0 (om_hs_json_str (c, "membership"), "join") == 0)
        om_hs_set_membership (req->hs, ev->room_id, req->user_id, req->user_id, "join", NULL);
    }
  om_hs_reply_empty (req->msg);
}

static void
h_devices (OmHsRequest *req)
{
  g_autoptr(JsonObject) out = json_object_new ();
  g_autoptr(GPtrArray) devices = om_hs_devices (req->hs, req->user_id);
  JsonArray *arr = json_array_new ();

  for (guint i = 0; i < devices->len; i++)
    {
      char **row = devices->pdata[i];
      JsonObject *d = json_object_new ();

      json_object_set_string_member (d, "user_id", req->user_id);
      json_object_set_string_member (d, "device_id", row[0]);
      if (row[1])
        json_object_set_string_member (d, "display_name", row[1]);
      else
        json_object_set_null_member (d, "display_name");
      json_object_set_null_member (d, "last_seen_ts");
      json_object_set_null_member (d, "last_seen_ip");
      json_array_add_object_element (arr, d);
    }
  json_object_set_array_member (out, "devices", arr);
  om_hs_reply_object (req->msg, 200, out);
}

static const OmHsRoute routes[] = {
  { "GET",  "login", h_login_flows, FALSE },
  { "POST", "login", h_login, FALSE },
  { "GET",  "login/sso/redirect", om_hs_handle_sso_redirect, FALSE },
  { "GET",  "login/sso/redirect/*", om_hs_handle_sso_redirect, FALSE },
  { "POST", "logout", h_logout, TRUE },
  { "POST", "logout/all", h_logout_all, TRUE },
  { "POST", "refresh", h_refresh, FALSE },
  { "GET",  "account/whoami", h_whoami, TRUE },
  { "POST", "register", h_register, FALSE },
  { "GET",  "register/available", h_register_available, FALSE },
  { "GET",  "capabilities", h_capabilities, TRUE },
  { "GET",  "devices", h_devices, TRUE },
  { "POST", "user/*/filter", h_filter_create, TRUE },
  { "GET",  "user/*/filter/*", h_filter_get, TRUE },
  { "PUT",  "user/*/account_data/*", h_account_data, TRUE },
  { "GET",  "user/*/account_data/*", h_account_data, TRUE },
  { "PUT",  "user/*/rooms/*/account_data/*", h_account_data, TRUE },
  { "GET",  "user/*/rooms/*/account_data/*", h_account_data, TRUE },
  { "GET",  "sync", om_hs_handle_sync, TRUE },
  { "POST", "createRoom", h_create_room, TRUE },
  { "POST", "join/*", h_join, TRUE },
  { "POST", "rooms/*/join", h_room_join, TRUE },
  { "POST", "rooms/*/leave", h_leave, TRUE },
  { "POST", "rooms/*/forget", h_forget, TRUE },
  { "POST", "rooms/*/invite", h_membership_action, TRUE },
  { "POST", "rooms/*/kick", h_membership_action, TRUE },
  { "POST", "rooms/*/ban", h_membership_action, TRUE },
  { "POST", "rooms/*/unban", h_membership_action, TRUE },
  { "GET",  "directory/room/*", h_directory, TRUE },
  { "GET",  "joined_rooms", h_joined_rooms, TRUE },
  { "GET",  "rooms/*/aliases", h_aliases, TRUE },
  { "PUT",  "rooms/*/send/*/*", h_send, TRUE },
  { "PUT",  "rooms/*/state/*", h_state_put, TRUE },
  { "PUT",  "rooms/*/state/*/*", h_state_put, TRUE },
  { "GET",  "rooms/*/state", h_state_get_all, TRUE },
  { "GET",  "rooms/*/state/*", h_state_get, TRUE },
  { "GET",  "rooms/*/state/*/*", h_state_get, TRUE },
  { "GET",  "rooms/*/event/*", h_event_get, TRUE },
  { "GET",  "rooms/*/members", h_members, TRUE },
  { "GET",  "rooms/*/joined_members", h_joined_members, TRUE },
  { "PUT",  "rooms/*/redact/*/*", h_redact, TRUE },
  { "GET",  "rooms/*/messages", om_hs_handle_messages, TRUE },
  { "PUT",  "rooms/*/typing/*", h_typing, TRUE },
  { "POST", "rooms/*/receipt/*/*", h_receipt, TRUE },
  { "POST", "rooms/*/read_markers", h_read_markers, TRUE },
  { "PUT",  "presence/*/status", h_presence, TRUE },
  { "GET",  "presence/*/status", h_presence, TRUE },
  { "GET",  "profile/*", h_profile, FALSE },
  { "GET",  "profile/*/displayname", h_profile, FALSE },
  { "PUT",  "profile/*/displayname", h_displayname_put, TRUE },
  { "GET",  "admin/whois/*", om_hs_admin_whois, TRUE },
  { "POST", "keys/upload", om_hs_handle_keys_upload, TRUE },
  { "POST", "keys/query", om_hs_handle_keys_query, TRUE },
  { "POST", "keys/claim", om_hs_handle_keys_claim, TRUE },
  { "GET",  "keys/changes", om_hs_handle_keys_changes, TRUE },
  { "PUT",  "sendToDevice/*/*", om_hs_handle_send_to_device, TRUE },
  /* /_matrix/client/v1/ endpoints, see process() */
  { "GET",  "@v1/rooms/*/hierarchy", om_hs_handle_hierarchy, TRUE },
  { "GET",  "@v1/auth_metadata", om_hs_handle_auth_metadata, FALSE },
};

static gboolean
pattern_matches (const char  *pattern,
                 char       **segs)
{
  g_auto(GStrv) parts = g_strsplit (pattern, "/", -1);
  guint i;

  for (i = 0; parts[i] != NULL; i++)
    {
      if (segs[i] == NULL)
        return FALSE;
      if (!g_str_equal (parts[i], "*") && !g_str_equal (parts[i], segs[i]))
        return FALSE;
    }
  return segs[i] == NULL;
}

gboolean
om_hs_route_table (OmHsRequest     *req,
                   const char      *rest,
                   const OmHsRoute *table,
                   guint            n_routes,
                   gboolean        *out_method_ok)
{
  g_auto(GStrv) raw = g_strsplit (rest, "/", -1);

  /* The path is already decoded (see process()). */
  g_strfreev (req->segs);
  req->segs = g_steal_pointer (&raw);
  *out_method_ok = TRUE;
  for (guint i = 0; i < n_routes; i++)
    {
      if (!pattern_matches (table[i].pattern, req->segs))
        continue;
      if (!g_str_equal (table[i].method, req->method))
        {
          *out_method_ok = FALSE;
          continue;
        }
      if (table[i].auth && !om_hs_request_auth (req))
        return TRUE;
      table[i].handler (req);
      return TRUE;
    }
  return FALSE;
}

gboolean
om_hs_route_client (OmHsRequest *req,
                    const char  *rest,
                    gboolean    *out_method_ok)
{
  return om_hs_route_table (req, rest, routes, G_N_ELEMENTS (routes), out_method_ok);
}
