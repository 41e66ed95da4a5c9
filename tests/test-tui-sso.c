/* test-tui-sso.c — openmeet-tui --line --sso under a pseudo-terminal
 *
 * The test homeserver signs in through a real OpenID provider
 * (tests/oidc, as in test-homeserver-sso.c).  The client prints the
 * redirect URL; a scripted browser (libcurl) walks it through the
 * provider's forms as alice, then either follows the last redirect to the
 * client's loopback listener or pastes the URL it ended on into the
 * client's terminal, as over SSH.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include "om-test-browser.h"
#include "om-test-pty.h"
#include "om-test-session.h"

#define WAIT_MS 15000

static OmTestOidc *oidc;
static OmTestHs *hs;
static gboolean unavailable;

/* Starts the provider and the homeserver on first use; FALSE (test
 * skipped) without Node or tests/oidc/node_modules. */
static gboolean
ensure_servers (void)
{
  /* Loopback redirect URLs skip the confirmation page. */
  const char *args[] = { "--sso-client-whitelist", "http://127.0.0.1:", NULL };

  if (hs)
    return TRUE;
  if (unavailable)
    {
      g_test_skip ("no OpenID provider (see the first test)");
      return FALSE;
    }
  oidc = om_test_oidc_start ();
  if (oidc == NULL)
    {
      unavailable = TRUE;
      return FALSE;
    }
  hs = om_test_hs_start_with_oidc (oidc, args);
  return TRUE;
}

/* The client: openmeet-tui --line --sso with its own home */

typedef struct {
  char      *dir;
  OmTestPty *pty;
} Client;

/* Starts openmeet-tui --line --sso with its own home. */
static Client *
client_spawn (void)
{
  Client *c = g_new0 (Client, 1);
  g_autofree char *home = NULL;
  const char *args[] = { "--line", "--sso", "--homeserver", om_test_hs_get_url (hs), NULL };

  c->dir = om_test_mkdtemp ();
  home = g_build_filename (c->dir, "home", NULL);
  c->pty = om_test_pty_spawn (args, home, NULL);
  return c;
}

static void
client_free (Client *c)
{
  om_test_pty_free (c->pty);
  om_test_rmdir (c->dir);
  g_free (c->dir);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

/* Starts the client, walks the browser from the URL it printed as alice
 * up to its loopback listener, and returns the URL the browser would end
 * on (not fetched). */
static char *
browse_to_listener (Client        *c,
                    OmTestBrowser *b)
{
  g_autofree char *url = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GHashTable) params = NULL;
  const char *redirect_url;
  char *end;

  om_test_pty_wait_output (c->pty, "-- waiting for the browser", WAIT_MS);
  url = om_test_pty_line_with (c->pty, "/login/sso/redirect/");
  g_assert_nonnull (url);
  g_strchug (url);
  g_assert_true (g_str_has_prefix (url, om_test_hs_get_url (hs)));
  /* The server's only identity provider. */
  g_assert_nonnull (strstr (url, "/login/sso/redirect/oidc-openmeet?redirectUrl="));

  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED_QUERY, NULL);
  g_assert_nonnull (uri);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, NULL);
  redirect_url = g_hash_table_lookup (params, "redirectUrl");
  g_assert_nonnull (redirect_url);
  g_assert_true (g_str_has_prefix (redirect_url, "http://127.0.0.1:"));

  end = om_test_browser_walk (b, url, "alice", "alice-pw", redirect_url);
  g_assert_nonnull (end);
  g_assert_nonnull (strstr (end, "loginToken="));
  return end;
}

static void
finish (Client *c)
{
  om_test_pty_wait_output (c->pty, "-- signed in as @alice:", WAIT_MS);
  om_test_pty_wait_output (c->pty, "-- no rooms yet", WAIT_MS);
  om_test_pty_type (c->pty, "/quit\n");
  g_assert_cmpint (om_test_pty_wait_exit (c->pty, WAIT_MS), ==, 0);
}

/* The browser comes back to the loopback listener. */
static void
test_loopback (void)
{
  g_autoptr(Client) c = NULL;
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *end = NULL;

  if (!ensure_servers ())
    return;
  c = client_spawn ();
  b = om_test_browser_new ();
  end = browse_to_listener (c, b);
  om_test_browser_go (b, end, NULL);
  g_assert_cmpuint (b->status, ==, 200);
  finish (c);
}

/* Over SSH: the URL the browser ended on is pasted into the terminal; a
 * line that is not one is refused first. */
static void
test_pasted (void)
{
  g_autoptr(Client) c = NULL;
  g_autoptr(OmTestBrowser) b = NULL;
  g_autofree char *end = NULL;
  g_autofree char *line = NULL;

  if (!ensure_servers ())
    return;
  c = client_spawn ();
  b = om_test_browser_new ();
  end = browse_to_listener (c, b);
  om_test_pty_type (c->pty, "http://127.0.0.1:1/nothing-here\n");
  om_test_pty_wait_output (c->pty, "!! not a sign-in URL", WAIT_MS);
  line = g_strconcat (end, "\n", NULL);
  om_test_pty_type (c->pty, line);
  finish (c);
}

int
main (int    argc,
      char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  g_test_add_func ("/tui-sso/loopback", test_loopback);
  g_test_add_func ("/tui-sso/pasted", test_pasted);
  rc = g_test_run ();
  om_test_hs_free (hs);
  om_test_oidc_free (oidc);
  curl_global_cleanup ();
  return rc;
}
