/* om-tui-line.h — the line-mode client: timeline as lines, stdin as input
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char     *homeserver;     /* base URL, nullable: the saved account's */
  char     *user;           /* localpart or MXID, nullable: the saved account's */
  char     *password;       /* owned, nullable until needed; wiped after use */
  /* Reads the password when it is needed and not given (owned result,
   * NULL when there is none); nullable. */
  char   *(*ask_password) (gpointer data);
  gpointer  ask_password_data;
  char     *room;           /* room ID or alias, nullable: the newest room */
  char     *data_dir;       /* nullable: the default */
  guint     history;        /* events printed when a room opens */
  gboolean  store_secrets;  /* restore a saved sign-in, keep a new one */
  gboolean  sso;            /* sign in anew through SSO (in a browser) */
  char     *sso_idp;        /* nullable: the identity provider, else the server's first */
  /* Sign in anew through the homeserver's authorization server (native
   * OIDC): "device" (a code to enter in any browser), "browser" (this
   * machine's browser, loopback redirect) or NULL to choose: the device
   * grant without a display (SSH) when the server offers it. */
  gboolean  oidc;
  char     *oidc_mode;
  gboolean  admin;          /* also ask for the admin API (OIDC) */
  /* owned, secret, nullable: sign in with this access token (admins) */
  char     *access_token;
} OmTuiLineOptions;

/* Restores the saved sign-in fitting homeserver and user when there is
 * one, else signs in: through the authorization server when the homeserver
 * delegates sign-in (or with oidc), else with the password (or with sso,
 * through a browser: the redirect URL is printed, and the URL the browser
 * ended on may be pasted back on stdin).  A soft logout signs in again the
 * same way.  Then runs until stdin closes (and the outbox has drained) or
 * /quit.  Returns the process exit status. */
int     om_tui_line_run    (OmTuiLineOptions *options);

G_END_DECLS
