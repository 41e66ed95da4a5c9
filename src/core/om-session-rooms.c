/* om-session-rooms.c — the session's room intents (join, create, leave)
 * and m.direct, the account data that says which rooms are direct chats
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "om-error.h"
#include "om-json.h"
#include "om-room-list.h"
#include "om-room-private.h"
#include "om-session-private.h"
#include "om-sync.h"

/* m.direct: {user_id: [room_id, …]} is the whole truth about which rooms
 * are direct chats, so rooms missing from it are not. */
static void
apply_direct (OmSession  *self,
              JsonObject *content)
{
  g_autoptr(GHashTable) direct = g_hash_table_new (g_str_hash, g_str_equal);
  GListModel *rooms = G_LIST_MODEL (om_session_get_room_list (self));
  JsonObjectIter iter;
  const char *user_id;
  JsonNode *ids;

  g_clear_pointer (&self->direct, json_object_unref);
  self->direct = json_object_ref (content);

  json_object_iter_init (&iter, content);
  while (json_object_iter_next (&iter, &user_id, &ids))
    {
      JsonArray *array;

      if (!JSON_NODE_HOLDS_ARRAY (ids))
        {
          g_warning ("Ignoring a malformed m.direct entry");
          continue;
        }
      array = json_node_get_array (ids);
      for (guint j = 0; j < json_array_get_length (array); j++)
        {
          JsonNode *id = json_array_get_element (array, j);

          if (JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_STRING)
            g_hash_table_add (direct, (gpointer) json_node_get_string (id));
        }
    }

  for (guint i = 0; i < g_list_model_get_n_items (rooms); i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, i);

      om_room_set_is_direct (room, g_hash_table_contains (direct, om_room_get_room_id (room)));
    }
}

static void
account_data_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  JsonNode *body = om_http_request_finish (OM_HTTP (source), result, NULL, &error);

  g_clear_pointer (&body, json_node_unref);
  if (error != NULL)
    g_warning ("Could not record a direct chat: %s", error->message);
}

/* Adds @room_id to m.direct for each of @user_ids (the spec asks both
 * sides of a direct chat to do so) and marks the room direct at once. */
static gboolean
array_has_string (JsonArray  *array,
                  const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (JSON_NODE_HOLDS_VALUE (node) && g_strcmp0 (json_node_get_string (node), value) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
add_direct (OmSession          *self,
            const char * const *user_ids,
            const char         *room_id)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonNode) content = NULL;
  g_autofree char *user = NULL;
  g_autofree char *path = NULL;
  OmRoom *room;

  if (self->http == NULL)
    return;

  /* A fresh copy: the current content may be shared with a sync response. */
  if (self->direct != NULL)
    {
      JsonObjectIter iter;
      const char *key;
      JsonNode *value;

      json_object_iter_init (&iter, self->direct);
      while (json_object_iter_next (&iter, &key, &value))
        if (JSON_NODE_HOLDS_ARRAY (value))
          {
            JsonArray *copy = json_array_new ();
            JsonArray *array = json_node_get_array (value);

            for (guint i = 0; i < json_array_get_length (array); i++)
              json_array_add_element (copy, json_node_copy (json_array_get_element (array, i)));
            json_object_set_array_member (object, key, copy);
          }
    }

  for (guint i = 0; user_ids[i] != NULL; i++)
    {
      if (!json_object_has_member (object, user_ids[i]))
        json_object_set_array_member (object, user_ids[i], json_array_new ());
      if (!array_has_string (json_object_get_array_member (object, user_ids[i]), room_id))
        json_array_add_string_element (json_object_get_array_member (object, user_ids[i]), room_id);
    }

  g_clear_pointer (&self->direct, json_object_unref);
  self->direct = json_object_ref (object);

  room = om_session_lookup_room (self, room_id);
  if (room != NULL)
    om_room_set_is_direct (room, TRUE);

  content = json_node_init_object (json_node_alloc (), object);
  user = om_http_escape (self->user_id);
  path = g_strdup_printf ("/_matrix/client/v3/user/%s/account_data/m.direct", user);
  om_http_request_async (self->http, "PUT", path, content, OM_HTTP_FLAGS_NONE, 0,
                         NULL, account_data_cb, NULL);
}

void
om_session_apply_account_data (OmSession *self,
                               JsonArray *events)
{
  if (events == NULL)
    return;

  for (guint i = 0; i < json_array_get_length (events); i++)
    {
      JsonNode *node = json_array_get_element (events, i);
      JsonObject *event;
      JsonNode *content;
      JsonNode *type;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      event = json_node_get_object (node);
      content = json_object_get_member (event, "content");
      type = json_object_get_member (event, "type");
      if (type != NULL && JSON_NODE_HOLDS_VALUE (type) &&
          g_strcmp0 (json_node_get_string (type), "m.direct") == 0 &&
          content != NULL && JSON_NODE_HOLDS_OBJECT (content))
        apply_direct (self, json_node_get_object (content));
    }
}


/* Simple requests returning a member of the response */

static JsonNode *
empty_object_node (void)
{
  g_autoptr(JsonObject) object = json_object_new ();

  return json_node_init_object (json_node_alloc (), object);
}

typedef struct {
  const char *member;        /* static: the response member to return, or NULL */
  GStrv       direct_with;   /* owned, nullable: record the room in m.direct for these users */
} RequestData;

static void
request_data_free (RequestData *data)
{
  g_strfreev (data->direct_with);
  g_free (data);
}

static void add_direct (OmSession          *self,
                        const char * const *user_ids,
                        const char         *room_id);

static void
request_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  RequestData *data = g_task_get_task_data (task);
  const char *member = data->member;
  g_autoptr(JsonNode) body = NULL;
  GError *error = NULL;
  JsonNode *value;

  body = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (body == NULL && error != NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  if (member == NULL)
    {
      g_task_return_pointer (task, NULL, NULL);
      return;
    }

  value = JSON_NODE_HOLDS_OBJECT (body) ? json_object_get_member (json_node_get_object (body), member)
                                        : NULL;
  if (value == NULL || !JSON_NODE_HOLDS_VALUE (value) ||
      json_node_get_value_type (value) != G_TYPE_STRING)
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The server's answer has no %s", member);
      return;
    }

  if (data->direct_with != NULL)
    add_direct (g_task_get_source_object (task), (const char * const *) data->direct_with,
                json_node_get_string (value));
  g_task_return_pointer (task, g_strdup (json_node_get_string (value)), g_free);
}

static void
request (OmSession           *self,
         gpointer             source_tag,
         const char          *path,
         JsonNode            *body,
         const char          *member,
         GStrv                direct_with,
         GCancellable        *cancellable,
         GAsyncReadyCallback  callback,
         gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  RequestData *data = g_new0 (RequestData, 1);

  data->member = member;
  data->direct_with = direct_with;
  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, data, (GDestroyNotify) request_data_free);

  if (self->http == NULL)
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_NOT_SIGNED_IN, "Not signed in");
      g_object_unref (task);
      return;
    }

  om_http_request_async (self->http, "POST", path, body, OM_HTTP_FLAGS_NONE, 0,
                         cancellable, request_cb, task);
}

void
om_session_join_room_async (OmSession           *self,
                            const char          *room_id_or_alias,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr(JsonNode) body = NULL;
  GStrv direct_with = NULL;
  OmRoom *room;

  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (room_id_or_alias != NULL);

  /* Accepting a direct-chat invite makes it one of our direct chats too. */
  room = om_session_lookup_room (self, room_id_or_alias);
  if (room != NULL && om_room_get_membership (room) == OM_MEMBERSHIP_INVITE &&
      om_room_get_is_direct (room) && om_room_get_inviter (room) != NULL)
    {
      const char *with[2] = { om_room_get_inviter (room), NULL };
      direct_with = g_strdupv ((char **) with);
    }

  escaped = om_http_escape (room_id_or_alias);
  path = g_strdup_printf ("/_matrix/client/v3/join/%s", escaped);
  body = empty_object_node ();
  request (self, om_session_join_room_async, path, body, "room_id", direct_with,
           cancellable, callback, user_data);
}

char *
om_session_join_room_finish (OmSession     *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
om_session_create_room_async (OmSession           *self,
                              const char          *name,
                              const char          *topic,
                              const char * const  *invite,
                              gboolean             is_direct,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) body = NULL;

  g_return_if_fail (OM_IS_SESSION (self));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "preset");
  json_builder_add_string_value (builder, is_direct ? "trusted_private_chat" : "private_chat");
  if (name != NULL)
    {
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
    }
  if (topic != NULL)
    {
      json_builder_set_member_name (builder, "topic");
      json_builder_add_string_value (builder, topic);
    }
  if (invite != NULL && invite[0] != NULL)
    {
      json_builder_set_member_name (builder, "invite");
      json_builder_begin_array (builder);
      for (guint i = 0; invite[i] != NULL; i++)
        json_builder_add_string_value (builder, invite[i]);
      json_builder_end_array (builder);
    }
  if (is_direct)
    {
      json_builder_set_member_name (builder, "is_direct");
      json_builder_add_boolean_value (builder, TRUE);
    }
  json_builder_end_object (builder);
  body = json_builder_get_root (builder);

  request (self, om_session_create_room_async, "/_matrix/client/v3/createRoom", body, "room_id",
           is_direct && invite != NULL && invite[0] != NULL ? g_strdupv ((char **) invite) : NULL,
           cancellable, callback, user_data);
}

char *
om_session_create_room_finish (OmSession     *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
om_session_leave_room_async (OmSession           *self,
                             const char          *room_id,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autoptr(JsonNode) body = NULL;

  g_return_if_fail (OM_IS_SESSION (self));
  g_return_if_fail (room_id != NULL);

  escaped = om_http_escape (room_id);
  path = g_strdup_printf ("/_matrix/client/v3/rooms/%s/leave", escaped);
  body = empty_object_node ();
  request (self, om_session_leave_room_async, path, body, NULL, NULL,
           cancellable, callback, user_data);
}

gboolean
om_session_leave_room_finish (OmSession     *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_task_propagate_pointer (G_TASK (result), &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return TRUE;
}
