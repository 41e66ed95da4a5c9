/* test-tui-oauth.c — openmeet-tui --line signing in the other ways, under a
 * pseudo-terminal: through a delegating homeserver's authorization server
 * with the device grant (the default without a display, as over SSH), with
 * a pasted access token, and again after a soft logout
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include <glib/gstdio.h>

#include "om-test-browser.h"
#include "om-test-pty.h"
#include "om-test-session.h"

#define WAIT_MS 15000

typedef struct {
  char      *dir;
  char      *home;
  OmTestPty *pty;
} Client;

static Client *
client_new (void)
{
  Client *c = g_new0 (Client, 1);

  c->dir = om_test_mkdtemp ();
  c->home = g_build_filename (c->dir, "home", NULL);
  return c;
}

static void
client_free (Client *c)
{
  if (c->pty != NULL)
    om_test_pty_free (c->pty);
  om_test_rmdir (c->dir);
  g_free (c->home);
  g_free (c->dir);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

static guint
count (const char *haystack,
       const char *needle)
{
  guint n = 0;

  for (const char *p = strstr (haystack, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* Over SSH (here: no display), a delegating homeserver means the device
 * grant: a code and its address, with a QR code, approved in a browser
 * anywhere. */
static void
test_device_grant (gconstpointer data)
{
  gboolean with_sso = GPOINTER_TO_INT (data);
  g_autoptr(Client) c = client_new ();
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *line = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *dave = NULL;
  OmTestOidc *oidc;
  OmTestHs *hs;
  const char *url;

  oidc = om_test_oidc_start ();
  if (oidc == NULL)
    return;
  hs = om_test_hs_start_delegated (oidc, NULL);

  {
    /* With --sso too: the server marks its SSO oauth_aware_preferred
     * (MSC3824), so the client goes to the authorization server anyway. */
    const char *args[] = { "--line", "--homeserver", om_test_hs_get_url (hs), "--no-store-secrets",
                           with_sso ? "--sso" : NULL, NULL };

    c->pty = om_test_pty_spawn (args, c->home, NULL);
  }
  om_test_pty_wait_output (c->pty, "-- waiting for the sign-in to be approved", WAIT_MS);
  g_assert_true (with_sso == (strstr (c->pty->out->str, "prefers signing in through its authorization server") != NULL));
  g_assert_nonnull (strstr (c->pty->out->str, "through its authorization server"));
  g_assert_nonnull (strstr (c->pty->out->str, "enter the code"));
  /* The QR code: half blocks, in whole lines. */
  g_assert_true (strstr (c->pty->out->str, "\u2580") != NULL || strstr (c->pty->out->str, "\u2584") != NULL);
  line = om_test_pty_line_with (c->pty, "(it opens ");
  g_assert_nonnull (line);
  url = strstr (line, "(it opens ") + strlen ("(it opens ");
  *strrchr (line, ')') = '\0';
  g_assert_true (g_str_has_prefix (url, om_test_oidc_get_issuer (oidc)));

  b = om_test_browser_new ();
  g_assert_true (om_test_browser_device_approve (b, url, "dave", "dave-pw", FALSE));
  dave = om_test_hs_user_id (hs, "dave.doe");
  expected = g_strdup_printf ("-- signed in as %s", dave);
  om_test_pty_wait_output (c->pty, expected, WAIT_MS);
  om_test_pty_wait_output (c->pty, "-- your account: ", WAIT_MS);
  om_test_pty_wait_output (c->pty, "-- no rooms yet", WAIT_MS);

  /* Logging out revokes the tokens at the authorization server. */
  {
    g_autoptr(JsonNode) before = om_test_oidc_stats (oidc);
    g_autoptr(JsonNode) after = NULL;
    gint64 revoked = json_object_get_int_member (json_node_get_object (before), "revocations");

    om_test_pty_type (c->pty, "/logout\n");
    om_test_pty_wait_output (c->pty, "-- logged out", WAIT_MS);
    g_assert_cmpint (om_test_pty_wait_exit (c->pty, WAIT_MS), ==, 0);
    after = om_test_oidc_stats (oidc);
    g_assert_cmpint (json_object_get_int_member (json_node_get_object (after), "revocations"), ==, revoked + 2);
  }

  om_test_hs_free (hs);
  om_test_oidc_free (oidc);
}

/* An admin pastes an access token (here from a file); it never shows. */
static void
test_access_token (void)
{
  g_autoptr(Client) c = client_new ();
  OmTestHs *hs = om_test_hs_start (NULL);
  g_autofree char *user_id = om_test_hs_create_user (hs, "root", "root-pw", TRUE);
  g_autofree char *token = om_test_hs_login (hs, "root", "root-pw", NULL);
  g_autofree char *file = g_build_filename (c->dir, "token", NULL);
  g_autofree char *expected = g_strdup_printf ("-- signed in as %s", user_id);
  g_autofree char *with_newline = g_strconcat (token, "\n", NULL);

  g_assert_true (g_file_set_contents_full (file, with_newline, -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  {
    const char *args[] = { "--line", "--homeserver", om_test_hs_get_url (hs), "--access-token-file", file,
                           "--no-store-secrets", NULL };

    c->pty = om_test_pty_spawn (args, c->home, NULL);
  }
  om_test_pty_wait_output (c->pty, expected, WAIT_MS);
  om_test_pty_wait_output (c->pty, "-- no rooms yet", WAIT_MS);
  om_test_pty_type (c->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (c->pty, WAIT_MS), ==, 0);
  g_assert_null (strstr (c->pty->out->str, token));
  g_assert_null (strstr (c->pty->err->str, token));
  om_test_pty_free (g_steal_pointer (&c->pty));

  /* A token the server does not know: a clear error, exit status 1. */
  g_assert_true (g_file_set_contents (file, "syt_not_a_real_token", -1, NULL));
  {
    const char *args[] = { "--line", "--homeserver", om_test_hs_get_url (hs), "--access-token-file", file,
                           "--no-store-secrets", NULL };

    c->pty = om_test_pty_spawn (args, c->home, NULL);
  }
  om_test_pty_wait_output (c->pty, "!! sign-in failed", WAIT_MS);
  g_assert_cmpint (om_test_pty_wait_exit (c->pty, WAIT_MS), ==, 1);

  om_test_hs_free (hs);
}

typedef struct {
  OmTestPty  *pty;
  const char *text;
} Twice;

static gboolean
twice (gpointer data)
{
  Twice *t = data;

  return count (t->pty->out->str, t->text) >= 2;
}

/* A soft logout (the server let the token expire) signs in again, on the
 * same device, and the client goes on. */
static void
test_soft_logout (void)
{
  g_autoptr(Client) c = client_new ();
  OmTestHs *hs = om_test_hs_start (NULL);
  g_autofree char *user_id = om_test_hs_create_user (hs, "alice", "alice-pw", FALSE);
  g_autofree char *expected = g_strdup_printf ("-- signed in as %s", user_id);
  g_autofree char *body = g_strdup_printf ("{\"user_id\":\"%s\",\"refresh_tokens\":true}", user_id);
  g_autoptr(JsonNode) reply = NULL;
  Twice signed_in_twice;
  const char *args[] = { "--line", "--homeserver", om_test_hs_get_url (hs), "--user", "alice",
                         "--no-store-secrets", NULL };

  c->pty = om_test_pty_spawn (args, c->home, "alice-pw");
  om_test_pty_wait_output (c->pty, expected, WAIT_MS);
  om_test_pty_wait_output (c->pty, "-- connected", WAIT_MS);

  reply = om_test_hs_request (hs, "POST", "/_test/expire_token", NULL, body, NULL);
  /* Ends the long-poll in flight, so the next one meets the expiry. */
  om_test_hs_restart (hs);
  om_test_pty_wait_output (c->pty, "!! the sign-in expired", WAIT_MS);
  signed_in_twice.pty = c->pty;
  signed_in_twice.text = expected;
  if (!om_test_wait_until (twice, &signed_in_twice, WAIT_MS))
    om_test_pty_dump (c->pty, "not signed in again");
  g_assert_cmpuint (count (c->pty->out->str, expected), ==, 2);
  om_test_pty_type (c->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (c->pty, WAIT_MS), ==, 0);
  g_assert_null (strstr (c->pty->out->str, "signed out by the server"));

  om_test_hs_free (hs);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  g_test_add_data_func ("/tui-oauth/device-grant", GINT_TO_POINTER (FALSE), test_device_grant);
  g_test_add_data_func ("/tui-oauth/sso-oauth-aware", GINT_TO_POINTER (TRUE), test_device_grant);
  g_test_add_func ("/tui-oauth/access-token", test_access_token);
  g_test_add_func ("/tui-oauth/soft-logout", test_soft_logout);
  return g_test_run ();
}
