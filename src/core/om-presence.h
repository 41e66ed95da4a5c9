/* om-presence.h — our presence and what we know of others'
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_PRESENCE (om_presence_get_type ())
G_DECLARE_FINAL_TYPE (OmPresence, om_presence, OM, PRESENCE, GObject)

typedef enum {
  OM_PRESENCE_UNKNOWN,
  OM_PRESENCE_ONLINE,
  OM_PRESENCE_UNAVAILABLE,
  OM_PRESENCE_OFFLINE,
} OmPresenceState;

GType            om_presence_state_get_type   (void) G_GNUC_CONST;
#define OM_TYPE_PRESENCE_STATE (om_presence_state_get_type ())

OmPresenceState  om_presence_state_from_string (const char      *presence);
const char      *om_presence_state_to_string   (OmPresenceState  state);

/* Properties: state (ours), status-message (ours, nullable).
 * Signals: changed (const char *user_id): someone's presence changed. */

OmPresence      *om_presence_new               (OmSession       *session);

/* Sets our presence (PUT /presence/{me}/status) and keeps /sync's
 * set_presence in line with it. */
void             om_presence_set_async         (OmPresence      *self,
                                                OmPresenceState  state,
                                                const char      *status_message,
                                                GCancellable    *cancellable,
                                                GAsyncReadyCallback callback,
                                                gpointer         user_data);
gboolean         om_presence_set_finish        (OmPresence      *self,
                                                GAsyncResult    *result,
                                                GError         **error);
OmPresenceState  om_presence_get_state         (OmPresence      *self);
const char      *om_presence_get_status_message (OmPresence     *self);

/* What /sync told us of @user_id. */
OmPresenceState  om_presence_lookup            (OmPresence      *self,
                                                const char      *user_id,
                                                const char     **out_status_message,
                                                gint64          *out_last_active_ago,
                                                gboolean        *out_currently_active);

/* Applies one m.presence event from /sync (private to om-sync). */
void             om_presence_apply_event       (OmPresence      *self,
                                                JsonObject      *event);
/* Restores what the store remembers. */
void             om_presence_load              (OmPresence      *self);

G_END_DECLS
