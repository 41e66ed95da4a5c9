/* om-test-pty.h — openmeet-tui under a pseudo-terminal for GLib tests
 *
 * The client runs as a child process with its stdin and stdout on a pty
 * (as in a real terminal) and its stderr on a pipe (so GLib's coloured log
 * output cannot be mistaken for something the client printed from the
 * network), in a controlled environment: its own home, no session bus, a
 * UTF-8 locale and an xterm.  What it writes is collected on the default
 * main context.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A running (or exited) openmeet-tui; om_test_pty_free() kills and frees it. */
typedef struct {
  GPid      pid;
  int       master;       /* pty master, -1 when closed */
  guint     master_id;
  int       err_fd;       /* read end of the child's stderr, -1 when closed */
  guint     err_id;
  GString  *out;          /* everything the client wrote to the terminal */
  GString  *err;          /* everything it wrote to stderr */
  gboolean  exited;
  int       wait_status;
} OmTestPty;

/* Starts openmeet-tui with @args (NULL-terminated, after the program name)
 * with its home in @home (created), and OPENMEET_PASSWORD set to @password
 * (unset when NULL). */
OmTestPty   *om_test_pty_spawn         (const char * const *args,
                                        const char         *home,
                                        const char         *password);

/* Kills the client if it still runs, closes its descriptors and frees @pty. */
void         om_test_pty_free          (OmTestPty          *pty);

/* Shows what the client printed, escaped, on stderr, headed by @why. */
void         om_test_pty_dump          (OmTestPty          *pty,
                                        const char         *why);

/* TRUE once the client exited (reaps it; sets exited and wait_status). */
gboolean     om_test_pty_exited        (OmTestPty          *pty);

/* Waits for the client to exit and returns its exit status (-1 if killed). */
int          om_test_pty_wait_exit     (OmTestPty          *pty,
                                        guint               timeout_ms);

/* Writes @text to the terminal, as if typed. */
void         om_test_pty_type          (OmTestPty          *pty,
                                        const char         *text);

/* Waits until @needle appears on the terminal; aborts the test otherwise. */
void         om_test_pty_wait_output   (OmTestPty          *pty,
                                        const char         *needle,
                                        guint               timeout_ms);

/* The line of the output holding @needle (owned), without its line end. */
char        *om_test_pty_line_with     (OmTestPty          *pty,
                                        const char         *needle);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmTestPty, om_test_pty_free)

G_END_DECLS
