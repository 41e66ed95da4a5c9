/* om-timeline.h — a room's timeline as a GListModel of OmEvent
 *
 * Oldest first.  Remote events come first in server order; local echoes of
 * messages still being sent follow them, in the order they were queued,
 * and take their server place when their remote echo arrives (matched by
 * transaction ID or event ID, never shown twice).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_TIMELINE (om_timeline_get_type ())
G_DECLARE_FINAL_TYPE (OmTimeline, om_timeline, OM, TIMELINE, GObject)

/* Properties:
 *   room            OmRoom (borrowed)
 *   can-load-older  boolean: history exists before the oldest loaded event
 *   loading         boolean: a back-pagination is running
 */
OmRoom      *om_timeline_get_room             (OmTimeline          *self);
gboolean     om_timeline_get_can_load_older   (OmTimeline          *self);
gboolean     om_timeline_get_loading          (OmTimeline          *self);

/* The loaded event with @event_id, or NULL (borrowed). */
OmEvent     *om_timeline_find_event           (OmTimeline          *self,
                                               const char          *event_id);
/* Position of @event_id in the model, or -1. */
gint         om_timeline_find_position        (OmTimeline          *self,
                                               const char          *event_id);
/* The newest remote event (not a local echo), or NULL (borrowed). */
OmEvent     *om_timeline_get_latest_remote    (OmTimeline          *self);

/* Back-pagination: GET /rooms/{id}/messages?dir=b from the oldest point
 * loaded, up to @limit events, prepended to the model (state events in the
 * chunk are not applied to current state).  This is how the gap left by a
 * limited sync is filled as the user scrolls back.  Finishes with FALSE
 * and an error on failure (the timeline is unchanged). */
void         om_timeline_load_older_async     (OmTimeline          *self,
                                               guint                limit,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
/* Returns the number of events added (0 with can-load-older FALSE at the start of the room). */
gssize       om_timeline_load_older_finish    (OmTimeline          *self,
                                               GAsyncResult        *result,
                                               GError             **error);

G_END_DECLS
