/* om-outbox.h — the persistent send queue
 *
 * A message is written to the store with its transaction ID before the
 * first attempt, so a retry after a dropped connection, a server restart
 * or a client crash reuses the same txnId and the server keeps exactly one
 * event.  One message in flight per room keeps each room's order; rooms
 * send in parallel.  A sent message stays (as sent) until its remote echo
 * has arrived, so a restart in between still shows it.  Transient failures retry with back-off; permanent
 * ones (forbidden, too large) mark the message failed until the user
 * retries or discards it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_OUTBOX (om_outbox_get_type ())
G_DECLARE_FINAL_TYPE (OmOutbox, om_outbox, OM, OUTBOX, GObject)

/* Properties: n-pending (uint: queued, sending or failed), running (boolean).
 * Signals: sent (OmEvent *echo): the server accepted a message. */

OmOutbox    *om_outbox_new           (OmSession    *session);
/* Restores the stored queue as local echoes in their rooms' timelines. */
gboolean     om_outbox_load          (OmOutbox     *self,
                                      GError      **error);
void         om_outbox_start         (OmOutbox     *self);
void         om_outbox_stop          (OmOutbox     *self);
guint        om_outbox_get_n_pending (OmOutbox     *self);

/* Queues an event; returns its local echo (borrowed: the room's timeline
 * holds it), or NULL with @error if it could not be stored. */
OmEvent     *om_outbox_queue         (OmOutbox     *self,
                                      OmRoom       *room,
                                      const char   *event_type,
                                      JsonObject   *content,
                                      GError      **error);
/* Sends a failed message again (same txnId). */
void         om_outbox_retry         (OmOutbox     *self,
                                      OmEvent      *echo);
/* Skips pending back-offs: the connection is back. */
void         om_outbox_nudge         (OmOutbox     *self);
/* A sync was applied: sent messages whose remote echo is now in their
 * timeline (and so in the store) leave the outbox. */
void         om_outbox_forget_delivered (OmOutbox  *self);
/* Gives up on a failed or queued message: removed from store and timeline. */
void         om_outbox_discard       (OmOutbox     *self,
                                      OmEvent      *echo);

G_END_DECLS
