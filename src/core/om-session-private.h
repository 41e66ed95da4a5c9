/* om-session-private.h — what the session's parts see of it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "om-session.h"

G_BEGIN_DECLS

/* A new room object for @room_id wired to this session (full ref). */
OmRoom      *om_session_create_room_object    (OmSession   *self,
                                               const char  *room_id);
/* Global account data from /sync (m.direct …); @events may be NULL. */
void         om_session_apply_account_data    (OmSession   *self,
                                               JsonArray   *events);
/* The sync loop's health changed (failures, error): recompute "state". */
void         om_session_sync_state_changed    (OmSession   *self);
/* The set_presence value /sync should send, or NULL for the default (online). */
const char  *om_session_get_sync_set_presence (OmSession   *self);
/* A message was accepted by the server: a good moment to retry a
 * backed-off sync. */
void         om_session_network_ok            (OmSession   *self);

G_END_DECLS
