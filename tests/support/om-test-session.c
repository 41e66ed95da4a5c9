/* om-test-session.c — signed-in sessions and shared rooms for GLib tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-test-session"

#include "om-test-session.h"

#include "om-sync.h"

void
om_test_store_result (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

gboolean
om_test_result_ready (gpointer data)
{
  return *(GAsyncResult **) data != NULL;
}

static gboolean
never (gpointer data)
{
  return FALSE;
}

void
om_test_spin (guint ms)
{
  om_test_wait_until (never, NULL, ms);
}

OmSession *
om_test_sign_in (OmTestHs   *hs,
                 const char *data_dir,
                 const char *user,
                 const char *password,
                 guint       sync_timeout_ms)
{
  OmSession *session = om_session_new (data_dir);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  om_session_login_password_async (session, om_test_hs_get_url (hs), user, password,
                                   NULL, om_test_store_result, &result);
  g_assert_true (om_test_wait_until (om_test_result_ready, &result, OM_TEST_WAIT_MS));
  g_assert_true (om_session_login_password_finish (session, result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (om_session_get_state (session), ==, OM_SESSION_STATE_READY);

  /* Tests do not wait 30 s for a long-poll to end. */
  om_sync_set_timeout_ms (om_session_get_sync (session), sync_timeout_ms);
  om_session_start (session);
  return session;
}

typedef struct {
  OmSession    *session;
  const char   *room_id;
  OmMembership  membership;
} RoomWait;

static gboolean
room_has_membership (gpointer data)
{
  RoomWait *w = data;
  OmRoom *room = om_session_lookup_room (w->session, w->room_id);

  return room != NULL && om_room_get_membership (room) == w->membership;
}

gboolean
om_test_wait_membership (OmSession    *session,
                         const char   *room_id,
                         OmMembership  membership,
                         guint         timeout_ms)
{
  RoomWait wait = { session, room_id, membership };

  return om_test_wait_until (room_has_membership, &wait, timeout_ms);
}

char *
om_test_shared_room (OmSession  *owner,
                     OmSession  *guest,
                     const char *name,
                     const char *topic)
{
  g_autoptr(GAsyncResult) created = NULL;
  g_autoptr(GAsyncResult) joined = NULL;
  g_autoptr(GError) error = NULL;
  const char *invite[2] = { om_session_get_user_id (guest), NULL };
  char *room_id;

  om_session_create_room_async (owner, name, topic, invite, FALSE, NULL, om_test_store_result, &created);
  g_assert_true (om_test_wait_until (om_test_result_ready, &created, OM_TEST_WAIT_MS));
  room_id = om_session_create_room_finish (owner, created, &error);
  g_assert_no_error (error);

  g_assert_true (om_test_wait_membership (guest, room_id, OM_MEMBERSHIP_INVITE, OM_TEST_WAIT_MS));
  om_session_join_room_async (guest, room_id, NULL, om_test_store_result, &joined);
  g_assert_true (om_test_wait_until (om_test_result_ready, &joined, OM_TEST_WAIT_MS));
  g_free (om_session_join_room_finish (guest, joined, &error));
  g_assert_no_error (error);

  g_assert_true (om_test_wait_membership (guest, room_id, OM_MEMBERSHIP_JOIN, OM_TEST_WAIT_MS));
  g_assert_true (om_test_wait_membership (owner, room_id, OM_MEMBERSHIP_JOIN, OM_TEST_WAIT_MS));
  return room_id;
}

void
om_test_pair_init (OmTestPair *pair,
                   const char *password)
{
  pair->hs = om_test_hs_start (NULL);
  pair->dir = om_test_mkdtemp ();
  pair->alice_id = om_test_hs_create_user (pair->hs, "alice", password, FALSE);
  pair->bob_id = om_test_hs_create_user (pair->hs, "bob", password, FALSE);
}

void
om_test_pair_setup (OmTestPair              *pair,
                    const OmTestPairOptions *options)
{
  g_autofree char *alice_dir = NULL;
  g_autofree char *bob_dir = NULL;
  OmSession *owner;
  OmSession *guest;

  om_test_pair_init (pair, "secret");
  alice_dir = g_build_filename (pair->dir, "alice", NULL);
  bob_dir = g_build_filename (pair->dir, "bob", NULL);
  pair->alice = om_test_sign_in (pair->hs, alice_dir, "alice", "secret", options->sync_timeout_ms);
  pair->bob = om_test_sign_in (pair->hs, bob_dir, options->bob_full_user_id ? pair->bob_id : "bob",
                               "secret", options->sync_timeout_ms);

  owner = options->bob_owns_room ? pair->bob : pair->alice;
  guest = options->bob_owns_room ? pair->alice : pair->bob;
  pair->room_id = om_test_shared_room (owner, guest, options->room_name, options->room_topic);
}

void
om_test_pair_teardown (OmTestPair *pair)
{
  g_clear_object (&pair->alice);
  g_clear_object (&pair->bob);
  /* Cancelled transfers finish on the loop. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_hs_free (pair->hs);
  om_test_rmdir (pair->dir);
  g_free (pair->dir);
  g_free (pair->alice_id);
  g_free (pair->bob_id);
  g_free (pair->room_id);
}

void
om_test_pair_fixture_setup (OmTestPair    *pair,
                            gconstpointer  options)
{
  om_test_pair_setup (pair, options);
}

void
om_test_pair_fixture_teardown (OmTestPair    *pair,
                               gconstpointer  data)
{
  om_test_pair_teardown (pair);
}
