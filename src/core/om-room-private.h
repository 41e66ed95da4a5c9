/* om-room-private.h — what the session and sync see of rooms and timelines
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "om-event.h"
#include "om-http.h"
#include "om-room.h"
#include "om-room-list.h"
#include "om-store.h"
#include "om-timeline.h"

G_BEGIN_DECLS

/* How many timeline events a room keeps loaded (and stored) after a restart. */
#define OM_ROOM_TIMELINE_CACHE 100

/* @session is borrowed (it owns the room list that owns the room). */
OmRoom      *om_room_new                    (OmSession    *session,
                                             const char   *room_id,
                                             const char   *own_user_id,
                                             OmStore      *store,
                                             OmHttp       *http);
/* Restores a room from the store: its record, state, receipts and the
 * newest OM_ROOM_TIMELINE_CACHE events. */
OmRoom      *om_room_new_from_store         (OmSession    *session,
                                             OmStoreRoom  *record,
                                             const char   *own_user_id,
                                             OmStore      *store,
                                             OmHttp       *http,
                                             GError      **error);
OmSession   *om_room_get_session            (OmRoom       *self);
OmStore     *om_room_get_store              (OmRoom       *self);
OmHttp      *om_room_get_http               (OmRoom       *self);

/* Applies one room of a /sync response (rooms.join.<id>, rooms.invite.<id>
 * or rooms.leave.<id>) and writes it to the store; the caller holds a
 * store transaction.  Malformed parts are skipped with a warning, never
 * fatal; FALSE only if the store failed. */
gboolean     om_room_apply_sync             (OmRoom       *self,
                                             OmMembership  membership,
                                             JsonObject   *room_json,
                                             GError      **error);

/* Room-level account data outside a sync (m.fully_read after mark_read). */
void         om_room_set_fully_read_local   (OmRoom       *self,
                                             const char   *event_id);

/* Timeline internals used by the room and the outbox. */
OmTimeline  *om_timeline_new                (OmRoom       *room);
/* Appends remote events (after any already loaded; before local echoes).
 * An event whose transaction ID or event ID matches a local echo replaces
 * that echo in place of showing twice. */
void         om_timeline_append_remote      (OmTimeline   *self,
                                             GPtrArray    *events);
/* Prepends events from the store or back-pagination (oldest first in @events). */
void         om_timeline_prepend_remote     (OmTimeline   *self,
                                             GPtrArray    *events);
/* A limited sync: forget loaded remote events (keep local echoes); older
 * history is reached from @prev_batch. */
void         om_timeline_reset              (OmTimeline   *self,
                                             const char   *prev_batch);
void         om_timeline_set_prev_batch     (OmTimeline   *self,
                                             const char   *prev_batch);
const char  *om_timeline_get_prev_batch     (OmTimeline   *self);
void         om_timeline_add_local_echo     (OmTimeline   *self,
                                             OmEvent      *echo);
void         om_timeline_remove_local_echo  (OmTimeline   *self,
                                             OmEvent      *echo);
/* The local echo with @txn_id, or NULL (borrowed). */
OmEvent     *om_timeline_find_local_echo    (OmTimeline   *self,
                                             const char   *txn_id);

/* Room list internals. */
OmRoomList  *om_room_list_new               (void);
/* Adds a room (the list takes a reference); it is listed while it is
 * joined or invited and re-sorted as its last-activity/membership change. */
void         om_room_list_add               (OmRoomList   *self,
                                             OmRoom       *room);
void         om_room_list_remove            (OmRoomList   *self,
                                             const char   *room_id);

/* m.direct says whether the room is a direct chat (the session calls this;
 * it overrides the is_direct of the invite). */
void         om_room_set_is_direct          (OmRoom       *self,
                                             gboolean      is_direct);
/* Member events from back-pagination (OmEvent): historical, so each is
 * used (and stored) only for a user the room has no member event for. */
void         om_room_add_lazy_members       (OmRoom       *self,
                                             GPtrArray    *member_events);
/* Writes the room's record (counts, summary, prev_batch …) to the store. */
gboolean     om_room_save_record            (OmRoom       *self,
                                             GError      **error);

G_END_DECLS
