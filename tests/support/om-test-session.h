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

/* Two people on one test homeserver: the fixture of the two-session tests.
 * Every member is owned; om_test_pair_teardown() frees them all. */
typedef struct {
  OmTestHs   *hs;
  char       *dir;        /* temporary; sessions live in dir/alice, dir/bob */
  char       *alice_id;
  char       *bob_id;
  OmSession  *alice;
  OmSession  *bob;
  char       *room_id;    /* the room the two share, if any */
} OmTestPair;

/* What differs between the two-session tests. */
typedef struct {
  const char *room_name;
  const char *room_topic;        /* may be NULL */
  guint       sync_timeout_ms;   /* for both sessions */
  gboolean    bob_owns_room;     /* Bob creates the room and invites Alice */
  gboolean    bob_full_user_id;  /* Bob signs in as @bob:server, not "bob" */
} OmTestPairOptions;

/* Starts a homeserver, makes a temporary directory and creates the users
 * "alice" and "bob" with @password; signs nobody in. */
void         om_test_pair_init         (OmTestPair         *pair,
                                        const char         *password);

/* om_test_pair_init() with password "secret", then signs Alice and Bob in
 * (Alice first) and puts them in one room as @options say. */
void         om_test_pair_setup        (OmTestPair         *pair,
                                        const OmTestPairOptions *options);

/* Frees the sessions, lets cancelled transfers finish on the default main
 * context, stops the homeserver and removes the directory. */
void         om_test_pair_teardown     (OmTestPair         *pair);

/* om_test_pair_setup() and om_test_pair_teardown() as GTest fixture
 * functions: the test data is the const OmTestPairOptions *. */
void         om_test_pair_fixture_setup    (OmTestPair     *pair,
                                            gconstpointer   options);
void         om_test_pair_fixture_teardown (OmTestPair     *pair,
                                            gconstpointer   data);

/* Adds @test, a void (*) (OmTestPair *, gconstpointer), at @path on a fresh
 * pair set up as @options (a const OmTestPairOptions *) say. */
#define om_test_add_pair(path, options, test) \
  g_test_add ((path), OmTestPair, (options), om_test_pair_fixture_setup, (test), \
              om_test_pair_fixture_teardown)

G_END_DECLS
