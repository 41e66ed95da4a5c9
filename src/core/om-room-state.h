/* om-room-state.h — a room's current state and the spec's naming rules
 *
 * Internal to om-room.c: one (type, state_key) → OmEvent map, an index of
 * member display names for disambiguation, and what the spec derives from
 * state (member names, power levels, the room's computed name).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "om-event.h"
#include "om-room.h"

G_BEGIN_DECLS

typedef struct _OmRoomState OmRoomState;

OmRoomState   *om_room_state_new                   (const char    *own_user_id);
void           om_room_state_free                  (OmRoomState   *state);

/* Why @event cannot be current state (not a state event, a member event
 * without a user ID or a membership), or NULL. */
const char    *om_room_state_check                 (OmEvent       *event);
/* Makes @event (checked) current state; TRUE if members or power levels
 * may have changed. */
gboolean       om_room_state_set                   (OmRoomState   *state,
                                                    OmEvent       *event);
OmEvent       *om_room_state_get                   (OmRoomState   *state,
                                                    const char    *event_type,
                                                    const char    *state_key);
/* Content of the (@event_type, "") event, or NULL. */
JsonObject    *om_room_state_get_content           (OmRoomState   *state,
                                                    const char    *event_type);

OmEvent       *om_room_state_get_member            (OmRoomState   *state,
                                                    const char    *user_id);
OmMembership   om_room_state_get_membership        (OmRoomState   *state,
                                                    const char    *user_id);
guint          om_room_state_count_members         (OmRoomState   *state,
                                                    OmMembership   membership);
GStrv          om_room_state_dup_member_ids        (OmRoomState   *state,
                                                    OmMembership   membership);
char          *om_room_state_dup_member_name       (OmRoomState   *state,
                                                    const char    *user_id);
gint64         om_room_state_get_power_level       (OmRoomState   *state,
                                                    const char    *user_id);
/* The room's name: m.room.name, the canonical alias, else from @heroes
 * (the summary's m.heroes, nullable) and the member counts. */
char          *om_room_state_compute_name          (OmRoomState   *state,
                                                    const char * const *heroes,
                                                    guint          joined,
                                                    guint          invited);

/* A string member, or NULL when absent or of another type. */

G_END_DECLS
