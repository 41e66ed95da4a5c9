/* om-typing.c — our typing notifications
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-typing"

#include "om-http.h"
#include "om-room.h"
#include "om-session.h"
#include "om-typing.h"

typedef struct {
  OmTyping *typing;     /* borrowed */
  char     *room_id;    /* owned */
  gint64    sent_at;    /* monotonic µs of the last "typing: true", 0 if none stands */
  guint     idle_id;    /* GSource: stop after OM_TYPING_IDLE_MS without input */
} RoomTyping;

struct _OmTyping
{
  GObject     parent_instance;

  OmSession  *session;   /* borrowed */
  GHashTable *rooms;     /* room_id → RoomTyping* (owned) */
  guint       idle_ms;
  guint       n_requests;
};

G_DEFINE_FINAL_TYPE (OmTyping, om_typing, G_TYPE_OBJECT)

static void
room_typing_free (RoomTyping *rt)
{
  g_clear_handle_id (&rt->idle_id, g_source_remove);
  g_free (rt->room_id);
  g_free (rt);
}

static void
om_typing_dispose (GObject *object)
{
  OmTyping *self = OM_TYPING (object);

  g_clear_pointer (&self->rooms, g_hash_table_unref);

  G_OBJECT_CLASS (om_typing_parent_class)->dispose (object);
}

static void
om_typing_class_init (OmTypingClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = om_typing_dispose;
}

static void
om_typing_init (OmTyping *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal,
                                       NULL, (GDestroyNotify) room_typing_free);
  self->idle_ms = OM_TYPING_IDLE_MS;
}

OmTyping *
om_typing_new (OmSession *session)
{
  OmTyping *self = g_object_new (OM_TYPE_TYPING, NULL);

  self->session = session;
  return self;
}

guint
om_typing_get_n_requests (OmTyping *self)
{
  g_return_val_if_fail (OM_IS_TYPING (self), 0);
  return self->n_requests;
}

void
om_typing_set_idle_ms (OmTyping *self,
                       guint     idle_ms)
{
  g_return_if_fail (OM_IS_TYPING (self));
  self->idle_ms = idle_ms;
}

static void
typing_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  JsonNode *body = om_http_request_finish (OM_HTTP (source), result, NULL, &error);

  g_clear_pointer (&body, json_node_unref);

  /* Typing is best effort: a lost notice only shows late or not at all. */
  if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("typing notice failed: %s", error->message);
}

static void
send_typing (OmTyping   *self,
             const char *room_id,
             gboolean    typing)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) body = NULL;
  g_autofree char *room = om_http_escape (room_id);
  g_autofree char *user = om_http_escape (om_session_get_user_id (self->session));
  g_autofree char *path = g_strdup_printf ("/_matrix/client/v3/rooms/%s/typing/%s", room, user);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "typing");
  json_builder_add_boolean_value (builder, typing);
  if (typing)
    {
      json_builder_set_member_name (builder, "timeout");
      json_builder_add_int_value (builder, OM_TYPING_SERVER_TIMEOUT_MS);
    }
  json_builder_end_object (builder);
  body = json_builder_get_root (builder);

  self->n_requests++;
  om_http_request_async (om_session_get_http (self->session), "PUT", path, body,
                         OM_HTTP_NO_RETRY, 0, NULL, typing_cb, NULL);
}

static gboolean
idle_cb (gpointer user_data)
{
  RoomTyping *rt = user_data;

  rt->idle_id = 0;
  rt->sent_at = 0;
  send_typing (rt->typing, rt->room_id, FALSE);
  return G_SOURCE_REMOVE;
}

void
om_typing_set (OmTyping *self,
               OmRoom   *room,
               gboolean  typing)
{
  const char *room_id;
  RoomTyping *rt;
  gint64 now = g_get_monotonic_time ();

  g_return_if_fail (OM_IS_TYPING (self));
  g_return_if_fail (OM_IS_ROOM (room));

  room_id = om_room_get_room_id (room);
  rt = g_hash_table_lookup (self->rooms, room_id);

  if (!typing)
    {
      if (rt == NULL)
        return;
      if (rt->sent_at != 0)
        send_typing (self, room_id, FALSE);
      g_hash_table_remove (self->rooms, room_id);
      return;
    }

  if (rt == NULL)
    {
      rt = g_new0 (RoomTyping, 1);
      rt->typing = self;
      rt->room_id = g_strdup (room_id);
      g_hash_table_insert (self->rooms, rt->room_id, rt);
    }

  if (rt->sent_at == 0 || now - rt->sent_at >= (gint64) OM_TYPING_RESEND_MS * 1000)
    {
      rt->sent_at = now;
      send_typing (self, room_id, TRUE);
    }

  g_clear_handle_id (&rt->idle_id, g_source_remove);
  rt->idle_id = g_timeout_add (self->idle_ms, idle_cb, rt);
}
