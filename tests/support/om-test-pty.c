/* om-test-pty.c — openmeet-tui under a pseudo-terminal for GLib tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
/* posix_openpt, grantpt, unlockpt, ptsname */
#define _GNU_SOURCE
#define G_LOG_DOMAIN "om-test-pty"

#include "om-test-pty.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "om-test-session.h"

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
  OmTestPty *pty = user_data;

  if (read_into (fd, pty->out) == G_SOURCE_REMOVE)
    {
      pty->master_id = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
err_cb (int          fd,
        GIOCondition condition,
        gpointer     user_data)
{
  OmTestPty *pty = user_data;

  if (read_into (fd, pty->err) == G_SOURCE_REMOVE)
    {
      pty->err_id = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

OmTestPty *
om_test_pty_spawn (const char * const *args,
                   const char         *home,
                   const char         *password)
{
  OmTestPty *pty = g_new0 (OmTestPty, 1);
  g_autofree char *binary = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_auto(GStrv) env = g_get_environ ();
  g_autoptr(GError) error = NULL;
  const char *builddir = g_getenv ("G_TEST_BUILDDIR");
  struct winsize size = { .ws_row = 24, .ws_col = 80 };
  char *slave_name;
  int err_pipe[2];
  pid_t pid;

  pty->master = -1;
  pty->err_fd = -1;
  pty->out = g_string_new (NULL);
  pty->err = g_string_new (NULL);

  g_assert_nonnull (builddir);
  binary = g_build_filename (builddir, "..", "src", "tui", "openmeet-tui", NULL);
  if (!g_file_test (binary, G_FILE_TEST_IS_EXECUTABLE))
    g_error ("%s is not built", binary);
  g_ptr_array_add (argv, binary);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  g_assert_cmpint (g_mkdir_with_parents (home, 0700), ==, 0);
  if (password)
    env = g_environ_setenv (env, "OPENMEET_PASSWORD", password, TRUE);
  else
    env = g_environ_unsetenv (env, "OPENMEET_PASSWORD");
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

  pty->master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (pty->master, >=, 0);
  g_assert_cmpint (grantpt (pty->master), ==, 0);
  g_assert_cmpint (unlockpt (pty->master), ==, 0);
  slave_name = g_strdup (ptsname (pty->master));
  g_assert_nonnull (slave_name);
  ioctl (pty->master, TIOCSWINSZ, &size);
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
      execve (binary, (char **) argv->pdata, env);
      _exit (127);
    }
  g_free (slave_name);
  close (err_pipe[1]);
  pty->pid = pid;
  pty->err_fd = err_pipe[0];
  g_unix_set_fd_nonblocking (pty->master, TRUE, NULL);
  g_unix_set_fd_nonblocking (pty->err_fd, TRUE, NULL);
  pty->master_id = g_unix_fd_add (pty->master, G_IO_IN | G_IO_HUP | G_IO_ERR, master_cb, pty);
  pty->err_id = g_unix_fd_add (pty->err_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, err_cb, pty);
  return pty;
}

void
om_test_pty_free (OmTestPty *pty)
{
  if (pty->pid > 0 && !pty->exited)
    {
      kill (pty->pid, SIGKILL);
      waitpid (pty->pid, NULL, 0);
    }
  g_clear_handle_id (&pty->master_id, g_source_remove);
  g_clear_handle_id (&pty->err_id, g_source_remove);
  if (pty->master >= 0)
    close (pty->master);
  pty->master = -1;
  if (pty->err_fd >= 0)
    close (pty->err_fd);
  pty->err_fd = -1;
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_string_free (pty->out, TRUE);
  g_string_free (pty->err, TRUE);
  g_free (pty);
}

void
om_test_pty_dump (OmTestPty  *pty,
                  const char *why)
{
  g_autofree char *out = g_strescape (pty->out->str, "\n");
  g_autofree char *err = g_strescape (pty->err->str, "\n");

  g_printerr ("# %s\n--- terminal output ---\n%s\n--- stderr ---\n%s\n--- end ---\n", why, out, err);
}

gboolean
om_test_pty_exited (OmTestPty *pty)
{
  if (!pty->exited && waitpid (pty->pid, &pty->wait_status, WNOHANG) == pty->pid)
    pty->exited = TRUE;
  return pty->exited;
}

static gboolean
exited_cb (gpointer data)
{
  return om_test_pty_exited (data);
}

int
om_test_pty_wait_exit (OmTestPty *pty,
                       guint      timeout_ms)
{
  if (!om_test_wait_until (exited_cb, pty, timeout_ms))
    {
      om_test_pty_dump (pty, "no exit");
      g_error ("openmeet-tui did not exit within %u ms", timeout_ms);
    }
  /* Collect what was still in flight. */
  om_test_spin (100);
  /* A critical is a bug in the client (and fatal under G_DEBUG=fatal-criticals). */
  if (strstr (pty->err->str, "CRITICAL") != NULL)
    {
      om_test_pty_dump (pty, "critical");
      g_assert_null (strstr (pty->err->str, "CRITICAL"));
    }
  return WIFEXITED (pty->wait_status) ? WEXITSTATUS (pty->wait_status) : -1;
}

void
om_test_pty_type (OmTestPty  *pty,
                  const char *text)
{
  gsize len = strlen (text);
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = write (pty->master, text + done, len - done);

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
  OmTestPty  *pty;
  const char *needle;
} OutputWait;

static gboolean
output_has (gpointer data)
{
  OutputWait *w = data;

  return strstr (w->pty->out->str, w->needle) != NULL;
}

void
om_test_pty_wait_output (OmTestPty  *pty,
                         const char *needle,
                         guint       timeout_ms)
{
  OutputWait wait = { pty, needle };

  if (!om_test_wait_until (output_has, &wait, timeout_ms))
    {
      om_test_pty_dump (pty, "missing output");
      g_error ("\"%s\" never appeared on the terminal", needle);
    }
}

char *
om_test_pty_line_with (OmTestPty  *pty,
                       const char *needle)
{
  g_auto(GStrv) lines = g_strsplit (pty->out->str, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], needle) != NULL)
      return g_strdup (g_strchomp (lines[i]));
  return NULL;
}
