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
/* posix_openpt, grantpt, unlockpt, ptsname */
#define _GNU_SOURCE

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

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

/* The scripted browser */

typedef struct
{
  CURL    *curl;
  guint    status;
  char    *location;   /* absolute, or NULL */
  GString *body;
} Browser;

static gsize
append_cb (char  *ptr,
           gsize  size,
           gsize  nmemb,
           void  *user_data)
{
  g_string_append_len (user_data, ptr, (gssize) (size * nmemb));
  return size * nmemb;
}

static Browser *
browser_new (void)
{
  Browser *b = g_new0 (Browser, 1);

  b->curl = curl_easy_init ();
  b->body = g_string_new (NULL);
  curl_easy_setopt (b->curl, CURLOPT_COOKIEFILE, "");   /* cookie engine, in memory */
  curl_easy_setopt (b->curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (b->curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt (b->curl, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt (b->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (b->curl, CURLOPT_WRITEFUNCTION, append_cb);
  curl_easy_setopt (b->curl, CURLOPT_WRITEDATA, b->body);
  curl_easy_setopt (b->curl, CURLOPT_USERAGENT, "om-test-browser/1");
  return b;
}

static void
browser_free (Browser *b)
{
  curl_easy_cleanup (b->curl);
  g_string_free (b->body, TRUE);
  g_free (b->location);
  g_free (b);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Browser, browser_free)

/* GET @url, or POST @form (urlencoded) to it. */
static void
browser_go (Browser    *b,
            const char *url,
            const char *form)
{
  char *redirect = NULL;
  long status = 0;
  CURLcode rc;

  g_string_truncate (b->body, 0);
  g_clear_pointer (&b->location, g_free);
  curl_easy_setopt (b->curl, CURLOPT_URL, url);
  if (form)
    {
      curl_easy_setopt (b->curl, CURLOPT_POSTFIELDS, form);
      curl_easy_setopt (b->curl, CURLOPT_POSTFIELDSIZE, (long) strlen (form));
    }
  else
    curl_easy_setopt (b->curl, CURLOPT_HTTPGET, 1L);
  rc = curl_easy_perform (b->curl);
  g_assert_cmpint (rc, ==, CURLE_OK);
  curl_easy_getinfo (b->curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo (b->curl, CURLINFO_REDIRECT_URL, &redirect);
  b->status = (guint) status;
  b->location = g_strdup (redirect);
}

/* The first match of @pattern's group 1 in @text, with &amp; undone. */
static char *
match (const char *text,
       const char *pattern)
{
  g_autoptr(GRegex) re = g_regex_new (pattern, 0, 0, NULL);
  g_autoptr(GMatchInfo) info = NULL;
  g_autofree char *raw = NULL;
  g_auto(GStrv) parts = NULL;

  if (!g_regex_match (re, text, 0, &info))
    return NULL;
  raw = g_match_info_fetch (info, 1);
  parts = g_strsplit (raw, "&amp;", -1);
  return g_strjoinv ("&", parts);
}

/* Walks from @url like a browser with alice at it until a URL starting
 * with @stop_prefix (not fetched), which it returns. */
static char *
browser_walk (Browser    *b,
              const char *url,
              const char *stop_prefix)
{
  g_autofree char *current = g_strdup (url);

  for (guint hop = 0; hop < 20; hop++)
    {
      g_autofree char *action = NULL;
      g_autofree char *next = NULL;

      if (g_str_has_prefix (current, stop_prefix))
        return g_steal_pointer (&current);
      browser_go (b, current, NULL);
      if (b->status >= 300 && b->status < 400)
        {
          g_assert_nonnull (b->location);
          g_free (current);
          current = g_strdup (b->location);
          continue;
        }
      g_assert_cmpuint (b->status, ==, 200);
      action = match (b->body->str, "<form method=\"post\" action=\"([^\"]+)\"");
      if (strstr (b->body->str, "name=\"prompt\" value=\"login\""))
        {
          g_assert_nonnull (action);
          next = g_uri_resolve_relative (current, action, G_URI_FLAGS_NONE, NULL);
          browser_go (b, next, "prompt=login&login=alice&password=alice-pw");
        }
      else if (strstr (b->body->str, "name=\"prompt\" value=\"consent\""))
        {
          g_assert_nonnull (action);
          next = g_uri_resolve_relative (current, action, G_URI_FLAGS_NONE, NULL);
          browser_go (b, next, "prompt=consent");
        }
      else if (strstr (b->body->str, "<title>SSO redirect confirmation</title>"))
        {
          next = match (b->body->str, "<a href=\"([^\"]+)\" class=\"primary-button\">");
          g_assert_nonnull (next);
          g_free (current);
          current = g_steal_pointer (&next);
          continue;
        }
      else
        g_error ("unexpected page at %s: %s", current, b->body->str);
      g_assert_cmpuint (b->status, ==, 303);
      g_assert_nonnull (b->location);
      g_free (current);
      current = g_strdup (b->location);
    }
  g_error ("too many hops from %s", url);
  return NULL;
}

/* The client */

typedef struct {
  char     *dir;
  GPid      pid;
  int       master;       /* pty master, -1 when closed */
  guint     master_id;
  int       err_fd;       /* read end of the child's stderr, -1 when closed */
  guint     err_id;
  GString  *out;          /* everything the client wrote to the terminal */
  GString  *err;          /* everything it wrote to stderr */
  gboolean  exited;
  int       wait_status;
} Client;

static void
dump_client (Client     *c,
             const char *why)
{
  g_autofree char *out = g_strescape (c->out->str, "\n");
  g_autofree char *err = g_strescape (c->err->str, "\n");

  g_printerr ("# %s\n--- terminal output ---\n%s\n--- stderr ---\n%s\n--- end ---\n", why, out, err);
}

static gboolean
read_into (int      fd,
           GString *into)
{
  char buffer[4096];
  ssize_t n;

  n = read (fd, buffer, sizeof buffer);
  if (n > 0)
    {
      g_string_append_len (into, buffer, n);
      return G_SOURCE_CONTINUE;
    }
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  /* EOF, or EIO once the child closed the terminal. */
  return G_SOURCE_REMOVE;
}

static gboolean
master_cb (int          fd,
           GIOCondition condition,
           gpointer     user_data)
{
  Client *c = user_data;

  if (read_into (fd, c->out) == G_SOURCE_REMOVE)
    {
      c->master_id = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
err_cb (int          fd,
        GIOCondition condition,
        gpointer     user_data)
{
  Client *c = user_data;

  if (read_into (fd, c->err) == G_SOURCE_REMOVE)
    {
      c->err_id = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* Starts openmeet-tui --line --sso with its own home. */
static Client *
client_spawn (void)
{
  Client *c = g_new0 (Client, 1);
  g_autofree char *binary = NULL;
  g_autofree char *home = NULL;
  g_auto(GStrv) env = g_get_environ ();
  g_autoptr(GError) error = NULL;
  const char *builddir = g_getenv ("G_TEST_BUILDDIR");
  const char *argv[] = { NULL, "--line", "--sso", "--homeserver", om_test_hs_get_url (hs), NULL };
  struct winsize size = { .ws_row = 24, .ws_col = 80 };
  char *slave_name;
  int err_pipe[2];
  pid_t pid;

  c->master = -1;
  c->err_fd = -1;
  c->out = g_string_new (NULL);
  c->err = g_string_new (NULL);
  c->dir = om_test_mkdtemp ();
  home = g_build_filename (c->dir, "home", NULL);

  g_assert_nonnull (builddir);
  binary = g_build_filename (builddir, "..", "src", "tui", "openmeet-tui", NULL);
  if (!g_file_test (binary, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("%s is not built", binary);
  argv[0] = binary;

  g_assert_cmpint (g_mkdir_with_parents (home, 0700), ==, 0);
  env = g_environ_setenv (env, "HOME", home, TRUE);
  env = g_environ_setenv (env, "XDG_DATA_HOME", home, TRUE);
  env = g_environ_setenv (env, "XDG_STATE_HOME", home, TRUE);
  env = g_environ_setenv (env, "XDG_CONFIG_HOME", home, TRUE);
  env = g_environ_setenv (env, "XDG_CACHE_HOME", home, TRUE);
  /* Never the developer's own keyring: no bus, so sign-ins go to a file in @home. */
  env = g_environ_setenv (env, "DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/om-test-bus", TRUE);
  env = g_environ_setenv (env, "LANG", "C.UTF-8", TRUE);
  env = g_environ_setenv (env, "LC_ALL", "C.UTF-8", TRUE);
  env = g_environ_setenv (env, "TERM", "xterm-256color", TRUE);
  env = g_environ_unsetenv (env, "G_MESSAGES_DEBUG");
  env = g_environ_unsetenv (env, "OPENMEET_HOMESERVER");
  env = g_environ_unsetenv (env, "OPENMEET_USER");
  env = g_environ_unsetenv (env, "OPENMEET_PASSWORD");

  c->master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (c->master, >=, 0);
  g_assert_cmpint (grantpt (c->master), ==, 0);
  g_assert_cmpint (unlockpt (c->master), ==, 0);
  slave_name = g_strdup (ptsname (c->master));
  g_assert_nonnull (slave_name);
  ioctl (c->master, TIOCSWINSZ, &size);
  g_assert_true (g_unix_open_pipe (err_pipe, FD_CLOEXEC, &error));
  g_assert_no_error (error);

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* Only async-signal-safe calls from here on. */
      int slave;

      setsid ();
      slave = open (slave_name, O_RDWR);
      if (slave < 0)
        _exit (126);
      ioctl (slave, TIOCSCTTY, 0);
      dup2 (slave, STDIN_FILENO);
      dup2 (slave, STDOUT_FILENO);
      dup2 (err_pipe[1], STDERR_FILENO);
      if (slave > STDERR_FILENO)
        close (slave);
      execve (argv[0], (char **) argv, env);
      _exit (127);
    }
  g_free (slave_name);
  close (err_pipe[1]);
  c->pid = pid;
  c->err_fd = err_pipe[0];
  g_unix_set_fd_nonblocking (c->master, TRUE, NULL);
  g_unix_set_fd_nonblocking (c->err_fd, TRUE, NULL);
  c->master_id = g_unix_fd_add (c->master, G_IO_IN | G_IO_HUP | G_IO_ERR, master_cb, c);
  c->err_id = g_unix_fd_add (c->err_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, err_cb, c);
  return c;
}

static void
client_free (Client *c)
{
  if (c->pid > 0 && !c->exited)
    {
      kill (c->pid, SIGKILL);
      waitpid (c->pid, NULL, 0);
    }
  g_clear_handle_id (&c->master_id, g_source_remove);
  g_clear_handle_id (&c->err_id, g_source_remove);
  if (c->master >= 0)
    close (c->master);
  if (c->err_fd >= 0)
    close (c->err_fd);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_rmdir (c->dir);
  g_free (c->dir);
  g_string_free (c->out, TRUE);
  g_string_free (c->err, TRUE);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Client, client_free)

static gboolean
exited (gpointer data)
{
  Client *c = data;

  if (!c->exited && waitpid (c->pid, &c->wait_status, WNOHANG) == c->pid)
    c->exited = TRUE;
  return c->exited;
}

/* Waits for the client to exit and returns its exit status (-1 if killed). */
static int
wait_exit (Client *c)
{
  if (!om_test_wait_until (exited, c, WAIT_MS))
    {
      dump_client (c, "no exit");
      g_error ("openmeet-tui did not exit within %u ms", WAIT_MS);
    }
  om_test_spin (100);
  if (strstr (c->err->str, "CRITICAL") != NULL)
    {
      dump_client (c, "critical");
      g_assert_null (strstr (c->err->str, "CRITICAL"));
    }
  return WIFEXITED (c->wait_status) ? WEXITSTATUS (c->wait_status) : -1;
}

static void
type (Client     *c,
      const char *text)
{
  gsize len = strlen (text);
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = write (c->master, text + done, len - done);

      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        {
          om_test_spin (10);
          continue;
        }
      g_assert_cmpint (n, >, 0);
      done += (gsize) n;
    }
}

typedef struct {
  Client     *c;
  const char *needle;
} OutputWait;

static gboolean
output_has (gpointer data)
{
  OutputWait *w = data;

  return strstr (w->c->out->str, w->needle) != NULL;
}

static void
wait_output (Client     *c,
             const char *needle)
{
  OutputWait wait = { c, needle };

  if (!om_test_wait_until (output_has, &wait, WAIT_MS))
    {
      dump_client (c, "missing output");
      g_error ("\"%s\" never appeared on the terminal", needle);
    }
}

/* The line of the output holding @needle (owned), without its line end. */
static char *
line_with (Client     *c,
           const char *needle)
{
  g_auto(GStrv) lines = g_strsplit (c->out->str, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], needle) != NULL)
      return g_strdup (g_strstrip (lines[i]));
  return NULL;
}

/* Starts the client, walks the browser from the URL it printed as alice
 * up to its loopback listener, and returns the URL the browser would end
 * on (not fetched). */
static char *
browse_to_listener (Client  *c,
                    Browser *b)
{
  g_autofree char *url = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GHashTable) params = NULL;
  const char *redirect_url;
  char *end;

  wait_output (c, "-- waiting for the browser");
  url = line_with (c, "/login/sso/redirect/");
  g_assert_nonnull (url);
  g_assert_true (g_str_has_prefix (url, om_test_hs_get_url (hs)));
  /* The server's only identity provider. */
  g_assert_nonnull (strstr (url, "/login/sso/redirect/oidc-openmeet?redirectUrl="));

  uri = g_uri_parse (url, G_URI_FLAGS_ENCODED_QUERY, NULL);
  g_assert_nonnull (uri);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, NULL);
  redirect_url = g_hash_table_lookup (params, "redirectUrl");
  g_assert_nonnull (redirect_url);
  g_assert_true (g_str_has_prefix (redirect_url, "http://127.0.0.1:"));

  end = browser_walk (b, url, redirect_url);
  g_assert_nonnull (strstr (end, "loginToken="));
  return end;
}

static void
finish (Client *c)
{
  wait_output (c, "-- signed in as @alice:");
  wait_output (c, "-- no rooms yet");
  type (c, "/quit\n");
  g_assert_cmpint (wait_exit (c), ==, 0);
}

/* The browser comes back to the loopback listener. */
static void
test_loopback (void)
{
  g_autoptr(Client) c = NULL;
  g_autoptr(Browser) b = NULL;
  g_autofree char *end = NULL;

  if (!ensure_servers ())
    return;
  c = client_spawn ();
  b = browser_new ();
  end = browse_to_listener (c, b);
  browser_go (b, end, NULL);
  g_assert_cmpuint (b->status, ==, 200);
  finish (c);
}

/* Over SSH: the URL the browser ended on is pasted into the terminal; a
 * line that is not one is refused first. */
static void
test_pasted (void)
{
  g_autoptr(Client) c = NULL;
  g_autoptr(Browser) b = NULL;
  g_autofree char *end = NULL;
  g_autofree char *line = NULL;

  if (!ensure_servers ())
    return;
  c = client_spawn ();
  b = browser_new ();
  end = browse_to_listener (c, b);
  type (c, "http://127.0.0.1:1/nothing-here\n");
  wait_output (c, "!! not a sign-in URL");
  line = g_strconcat (end, "\n", NULL);
  type (c, line);
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
