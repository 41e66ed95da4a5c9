/* om-tui-app-timeline.h — the full-screen client's view of the open room
 *
 * Lays out and draws the open room's timeline in the right-hand pane: day
 * separators, senders in their colours, wrapped bodies, where our own
 * messages stand, who has seen what ("seen by Bob"), and how far the view
 * is scrolled back.  It follows the room's timeline, its receipts and our
 * messages' send states, and says when a redraw is due.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-room.h"
#include "om-session.h"

G_BEGIN_DECLS

typedef struct _OmTuiAppTimeline OmTuiAppTimeline;

/* Something shown changed: the screen should be redrawn (coalesced). */
typedef void (*OmTuiAppTimelineChanged) (gpointer user_data);

/* @session and @cancellable (for loading older history) are borrowed and
 * must outlive the view. */
OmTuiAppTimeline *om_tui_app_timeline_new             (OmSession               *session,
                                                       GCancellable            *cancellable,
                                                       OmTuiAppTimelineChanged  changed,
                                                       gpointer                 user_data);
void              om_tui_app_timeline_free            (OmTuiAppTimeline        *self);

/* Once the screen is ours (after initscr): sets up the senders' colours. */
void              om_tui_app_timeline_init_colours    (OmTuiAppTimeline        *self);

/* Shows @room (nullable), from the bottom. */
void              om_tui_app_timeline_set_room        (OmTuiAppTimeline        *self,
                                                       OmRoom                  *room);

/* Draws rows @top … @top + @rows - 1, from @column across @cells cells. */
void              om_tui_app_timeline_draw            (OmTuiAppTimeline        *self,
                                                       int                      top,
                                                       int                      rows,
                                                       int                      column,
                                                       int                      cells);

/* Scrolls back (@pages > 0) or forward by pages of the last draw; past
 * the oldest loaded event, asks the server for older ones. */
void              om_tui_app_timeline_scroll          (OmTuiAppTimeline        *self,
                                                       int                      pages);
void              om_tui_app_timeline_scroll_to_bottom (OmTuiAppTimeline       *self);
/* The newest events are in view. */
gboolean          om_tui_app_timeline_is_at_bottom    (OmTuiAppTimeline        *self);

/* @user_id's name in @room, sanitised, in at most MAX (@cells, 4) cells.
 * Owned. */
char             *om_tui_app_dup_member_name          (OmRoom                  *room,
                                                       const char              *user_id,
                                                       int                      cells);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmTuiAppTimeline, om_tui_app_timeline_free)

G_END_DECLS
