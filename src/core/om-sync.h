/* om-sync.h — the /sync long-poll loop
 *
 * Uploads a filter (lazy-loaded members) once, then long-polls /sync with
 * the stored since token: each response is applied in one store
 * transaction, the next request leaves at once; failures back off
 * exponentially with jitter (or as long as a 429 asks).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_SYNC (om_sync_get_type ())
G_DECLARE_FINAL_TYPE (OmSync, om_sync, OM, SYNC, GObject)

/* Long-poll timeout sent to the server. */
#define OM_SYNC_TIMEOUT_MS 30000
/* Timeline events per room in a sync response. */
#define OM_SYNC_TIMELINE_LIMIT 20

/* Properties: running (boolean), since (string, nullable), failures (uint:
 * consecutive failed requests), error (string, nullable: the last failure,
 * for people), timeout-ms (uint, OM_SYNC_TIMEOUT_MS by default).
 * Signals:
 *   synced (gboolean initial)   a response was applied
 *   token-rejected (GError *)   401 M_UNKNOWN_TOKEN: the loop has stopped */

OmSync      *om_sync_new             (OmSession   *session);
void         om_sync_start           (OmSync      *self);
void         om_sync_stop            (OmSync      *self);
gboolean     om_sync_get_running     (OmSync      *self);
const char  *om_sync_get_since       (OmSync      *self);
guint        om_sync_get_failures    (OmSync      *self);
const char  *om_sync_get_error       (OmSync      *self);
void         om_sync_set_timeout_ms  (OmSync      *self,
                                      guint        timeout_ms);
/* Skips a pending back-off and syncs now (the network came back). */
void         om_sync_nudge           (OmSync      *self);

/* Abandons the request in flight and sends a new one at once (what the
 * request says changed, e.g. our presence). */
void         om_sync_restart         (OmSync      *self);

/* Applies one /sync response body (also used by tests and benchmarks on
 * recorded responses).  FALSE with @error when the body is not a sync
 * response or the store failed; malformed parts inside are skipped. */
gboolean     om_sync_apply_response  (OmSync      *self,
                                      JsonObject  *response,
                                      gboolean     initial,
                                      GError     **error);

G_END_DECLS
