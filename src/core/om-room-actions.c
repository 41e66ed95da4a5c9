/* om-room-actions.c — what a user does in a room, handed to the session's parts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-room"

#include "om-outbox.h"
#include "om-receipts.h"
#include "om-room-private.h"
#include "om-session.h"
#include "om-typing.h"

OmEvent *
om_room_send_message (OmRoom     *self,
                      const char *msgtype,
                      const char *body)
{
  g_autoptr(JsonObject) content = NULL;
  g_autoptr(GError) error = NULL;
  OmSession *session;
  OmEvent *echo;

  g_return_val_if_fail (OM_IS_ROOM (self), NULL);
  g_return_val_if_fail (msgtype != NULL, NULL);
  g_return_val_if_fail (body != NULL, NULL);

  session = om_room_get_session (self);
  g_return_val_if_fail (session != NULL, NULL);

  if (!g_utf8_validate (body, -1, NULL))
    {
      g_warning ("Refusing to send a message that is not valid UTF-8");
      return NULL;
    }

  content = json_object_new ();
  json_object_set_string_member (content, "msgtype", msgtype);
  json_object_set_string_member (content, "body", body);

  echo = om_outbox_queue (om_session_get_outbox (session), self, "m.room.message",
                          content, &error);
  if (echo == NULL)
    {
      g_warning ("Could not queue the message: %s", error->message);
      return NULL;
    }

  /* Sending ends composing. */
  om_typing_set (om_session_get_typing (session), self, FALSE);
  return echo;
}

void
om_room_set_typing (OmRoom   *self,
                    gboolean  typing)
{
  OmSession *session;

  g_return_if_fail (OM_IS_ROOM (self));

  session = om_room_get_session (self);
  g_return_if_fail (session != NULL);
  om_typing_set (om_session_get_typing (session), self, typing);
}

void
om_room_mark_read (OmRoom *self)
{
  OmSession *session;

  g_return_if_fail (OM_IS_ROOM (self));

  session = om_room_get_session (self);
  g_return_if_fail (session != NULL);
  om_receipts_mark_read (om_session_get_receipts (session), self);
}
