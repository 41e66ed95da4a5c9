/* om-room.h — one room: its state, members, counts, typing users, receipts
 *
 * Rooms are created by the session (from the store at start-up and from
 * /sync); front ends bind to their properties and call the intents at the
 * bottom of this file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_ROOM (om_room_get_type ())
G_DECLARE_FINAL_TYPE (OmRoom, om_room, OM, ROOM, GObject)

typedef enum {
  OM_MEMBERSHIP_NONE,
  OM_MEMBERSHIP_JOIN,
  OM_MEMBERSHIP_INVITE,
  OM_MEMBERSHIP_LEAVE,
  OM_MEMBERSHIP_BAN,
  OM_MEMBERSHIP_KNOCK,
} OmMembership;

GType          om_membership_get_type            (void) G_GNUC_CONST;
#define OM_TYPE_MEMBERSHIP (om_membership_get_type ())

OmMembership   om_membership_from_string         (const char   *membership);
const char    *om_membership_to_string           (OmMembership  membership);

/* Properties (all notify on change):
 *   room-id            string
 *   membership         OmMembership (ours)
 *   display-name       string, the spec's room-name algorithm (name, alias, heroes, "Empty room")
 *   topic              string, nullable
 *   canonical-alias    string, nullable
 *   avatar-url         string, nullable (mxc://)
 *   is-direct          boolean (m.direct account data, or a two-person room with is_direct invite)
 *   is-space           boolean (m.room.create type m.space)
 *   is-encrypted       boolean (m.room.encryption present)
 *   joined-member-count, invited-member-count   uint
 *   unread-count       uint (notification_count)
 *   highlight-count    uint
 *   last-activity      int64, origin_server_ts of the newest timeline event (for sorting)
 *   typing-user-ids    GStrv, others typing now (never ourselves)
 *   inviter            string, nullable: who invited us
 *   fully-read         string, nullable: our m.fully_read marker
 * Signals:
 *   members-changed    ()  a member joined, left, or changed name or power
 *   receipts-changed   ()  someone's read receipt moved
 */

const char    *om_room_get_room_id               (OmRoom       *self);
OmMembership   om_room_get_membership            (OmRoom       *self);
const char    *om_room_get_display_name          (OmRoom       *self);
const char    *om_room_get_topic                 (OmRoom       *self);
const char    *om_room_get_canonical_alias       (OmRoom       *self);
const char    *om_room_get_avatar_url            (OmRoom       *self);
gboolean       om_room_get_is_direct             (OmRoom       *self);
gboolean       om_room_get_is_space              (OmRoom       *self);
gboolean       om_room_get_is_encrypted          (OmRoom       *self);
guint          om_room_get_joined_member_count   (OmRoom       *self);
guint          om_room_get_invited_member_count  (OmRoom       *self);
guint          om_room_get_unread_count          (OmRoom       *self);
guint          om_room_get_highlight_count       (OmRoom       *self);
gint64         om_room_get_last_activity         (OmRoom       *self);
const char * const *om_room_get_typing_user_ids  (OmRoom       *self);
const char    *om_room_get_inviter               (OmRoom       *self);
const char    *om_room_get_fully_read            (OmRoom       *self);
const char    *om_room_get_own_user_id           (OmRoom       *self);

/* The room's timeline (borrowed; lives as long as the room). */
OmTimeline    *om_room_get_timeline              (OmRoom       *self);

/* Current state event for (type, state_key), or NULL (borrowed). */
OmEvent       *om_room_get_state_event           (OmRoom       *self,
                                                  const char   *event_type,
                                                  const char   *state_key);

/* Members known from state (lazy loading means not necessarily all). */
GStrv          om_room_dup_member_ids            (OmRoom       *self,
                                                  OmMembership  membership);
OmMembership   om_room_get_member_membership     (OmRoom       *self,
                                                  const char   *user_id);
/* Display name per the spec's disambiguation rules; the user ID when the
 * member has none.  Owned. */
char          *om_room_dup_member_display_name   (OmRoom       *self,
                                                  const char   *user_id);
/* From m.room.power_levels (users, users_default; creator 100 without one). */
gint64         om_room_get_member_power_level    (OmRoom       *self,
                                                  const char   *user_id);

/* Read receipts (m.read) of others: the event a user has read up to, or NULL. */
const char    *om_room_get_receipt_event_id      (OmRoom       *self,
                                                  const char   *user_id);
/* Users whose latest m.read receipt is on @event_id ("seen by"), ourselves excluded. */
GStrv          om_room_dup_receipt_user_ids      (OmRoom       *self,
                                                  const char   *event_id);

/* Intents (om-room-actions.c). */

/* Queues a message in the session's outbox and shows its local echo at once.
 * @msgtype: "m.text", "m.emote" or "m.notice". */
OmEvent       *om_room_send_message              (OmRoom       *self,
                                                  const char   *msgtype,
                                                  const char   *body);
/* Tells the room the user is (or stopped) composing; debounced, see om-typing. */
void           om_room_set_typing                (OmRoom       *self,
                                                  gboolean      typing);
/* The user has seen everything up to the newest event: m.read + m.fully_read. */
void           om_room_mark_read                 (OmRoom       *self);

G_END_DECLS
