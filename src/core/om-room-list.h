/* om-room-list.h — the account's rooms as a sorted GListModel of OmRoom
 *
 * Order: invites first, then joined rooms by last activity, newest first.
 * Left rooms are not listed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_ROOM_LIST (om_room_list_get_type ())
G_DECLARE_FINAL_TYPE (OmRoomList, om_room_list, OM, ROOM_LIST, GObject)

/* The room with @room_id, listed or not (left rooms too), or NULL (borrowed). */
OmRoom      *om_room_list_lookup         (OmRoomList  *self,
                                          const char  *room_id);
/* A listed room by canonical alias, or NULL (borrowed). */
OmRoom      *om_room_list_lookup_alias   (OmRoomList  *self,
                                          const char  *alias);

G_END_DECLS
