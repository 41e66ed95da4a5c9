/* om-receipts.h — our read receipts and fully-read marker
 *
 * When the user has seen a room's newest event, one POST /read_markers
 * moves both m.read and m.fully_read there.  Calls in quick succession are
 * coalesced; a receipt never moves backwards.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_RECEIPTS (om_receipts_get_type ())
G_DECLARE_FINAL_TYPE (OmReceipts, om_receipts, OM, RECEIPTS, GObject)

OmReceipts  *om_receipts_new              (OmSession   *session);
/* Marks @room read up to its newest remote event. */
void         om_receipts_mark_read        (OmReceipts  *self,
                                           OmRoom      *room);
guint        om_receipts_get_n_requests   (OmReceipts  *self);

G_END_DECLS
