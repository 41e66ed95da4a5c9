/* om-test-session.h — signed-in sessions and shared rooms for GLib tests
 *
 * Helpers the two-session tests and the benchmarks share: waiting for a
 * GAsyncResult, running the main loop for a while, signing an OmSession in
 * against the test homeserver, and putting two sessions in one room.  The
 * waits inside these helpers give up after OM_TEST_WAIT_MS and abort the
 * test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "om-room.h"
#include "om-session.h"
#include "om-test-hs.h"

G_BEGIN_DECLS

/* How long the helpers below wait for each step. */
#define OM_TEST_WAIT_MS 15000

/* A GAsyncReadyCallback keeping a reference to @result in @user_data
 * (a GAsyncResult **, NULL until then). */
void         om_test_store_result      (GObject            *source,
                                        GAsyncResult       *result,
                                        gpointer            user_data);
/* For om_test_wait_until(): TRUE once the GAsyncResult * at @data is set. */
gboolean     om_test_result_ready      (gpointer            data);

/* Iterates the default main context for @ms. */
void         om_test_spin              (guint               ms);

/* Logs @user in with @password (new session in @data_dir), asserts it is
 * ready, sets the sync long-poll to @sync_timeout_ms and starts it. */
OmSession   *om_test_sign_in           (OmTestHs           *hs,
                                        const char         *data_dir,
                                        const char         *user,
                                        const char         *password,
                                        guint               sync_timeout_ms);

/* Waits until @session knows @room_id with @membership; FALSE on timeout. */
gboolean     om_test_wait_membership   (OmSession          *session,
                                        const char         *room_id,
                                        OmMembership        membership,
                                        guint               timeout_ms);

/* @owner creates a private room (@topic may be NULL) inviting @guest, who
 * waits for the invite and joins; returns once both see themselves joined.
 * Returns the room ID (owned); aborts the test on failure. */
char        *om_test_shared_room       (OmSession          *owner,
                                        OmSession          *guest,
                                        const char         *name,
                                        const char         *topic);

G_END_DECLS
