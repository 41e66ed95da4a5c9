/* om-tui-main.c — openmeet-tui: the terminal client
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "om-tui-app.h"
#include "om-tui-line.h"

#ifndef OM_VERSION
#define OM_VERSION "0.0.0"
#endif

/* Reads a password from the terminal without echo, or a line from a pipe. */
static char *
read_password (const char *prompt)
{
  struct termios saved, quiet;
  gboolean tty = isatty (STDIN_FILENO);
  char buffer[1024];
  char *result = NULL;

  if (tty)
    {
      fprintf (stderr, "%s", prompt);
      fflush (stderr);
      tcgetattr (STDIN_FILENO, &saved);
      quiet = saved;
      quiet.c_lflag &= ~(tcflag_t) ECHO;
      tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet);
    }

  if (fgets (buffer, sizeof buffer, stdin) != NULL)
    {
      buffer[strcspn (buffer, "\r\n")] = '\0';
      result = g_strdup (buffer);
    }
  memset (buffer, 0, sizeof buffer);

  if (tty)
    {
      tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);
      fputc ('\n', stderr);
    }
  return result;
}

static char *
read_password_file (const char  *path,
                    GError     **error)
{
  char *contents = NULL;
  gsize length;

  if (!g_file_get_contents (path, &contents, &length, error))
    return NULL;
  contents[strcspn (contents, "\r\n")] = '\0';
  return contents;
}

/* Where the password comes from when one is needed: the file, else
 * $OPENMEET_PASSWORD, else a prompt. */
static char *
ask_password (gpointer data)
{
  const char *password_file = data;
  const char *env_password = g_getenv ("OPENMEET_PASSWORD");
  g_autoptr(GError) error = NULL;
  char *password;

  if (password_file != NULL)
    {
      password = read_password_file (password_file, &error);
      if (password == NULL)
        fprintf (stderr, "openmeet-tui: %s\n", error->message);
      return password;
    }
  if (env_password != NULL)
    return g_strdup (env_password);
  return read_password ("Password: ");
}

static gboolean sso;
static char *sso_idp;
static gboolean oidc;
static char *oidc_mode;

/* --oidc, or --oidc=device|browser */
static gboolean
oidc_option_cb (const char  *option_name,
                const char  *value,
                gpointer     data,
                GError     **error)
{
  if (value != NULL && *value != '\0' && strcmp (value, "device") != 0 && strcmp (value, "browser") != 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--oidc takes “device” or “browser”, not “%s”", value);
      return FALSE;
    }
  oidc = TRUE;
  g_free (oidc_mode);
  oidc_mode = value != NULL && *value != '\0' ? g_strdup (value) : NULL;
  return TRUE;
}

/* --sso, or --sso=IDP */
static gboolean
sso_option_cb (const char  *option_name,
               const char  *value,
               gpointer     data,
               GError     **error)
{
  sso = TRUE;
  g_free (sso_idp);
  sso_idp = value != NULL && *value != '\0' ? g_strdup (value) : NULL;
  return TRUE;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *homeserver = NULL;
  g_autofree char *user = NULL;
  g_autofree char *password_file = NULL;
  g_autofree char *room = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *access_token_file = NULL;
  gboolean admin = FALSE;
  gboolean line = FALSE;
  gboolean version = FALSE;
  gboolean no_store_secrets = FALSE;
  int history = 20;
  OmTuiLineOptions options = { 0 };
  int status;

  GOptionEntry entries[] = {
    { "homeserver", 's', 0, G_OPTION_ARG_STRING, &homeserver,
      "Homeserver base URL (default: $OPENMEET_HOMESERVER)", "URL" },
    { "user", 'u', 0, G_OPTION_ARG_STRING, &user,
      "User name or Matrix ID (default: $OPENMEET_USER)", "USER" },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
      "Read the password from FILE (else $OPENMEET_PASSWORD, else a prompt)", "FILE" },
    { "room", 'r', 0, G_OPTION_ARG_STRING, &room,
      "Room ID or alias to open (default: the most recently active)", "ROOM" },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir,
      "Where account stores live (default: $XDG_DATA_HOME/openmeet-chat)", "DIR" },
    { "history", 0, 0, G_OPTION_ARG_INT, &history,
      "Events shown when a room opens (default: 20)", "N" },
    { "sso", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, sso_option_cb,
      "Sign in through single sign-on in a browser, with the identity provider IDP "
      "(default: the server's first)", "IDP" },
    { "oidc", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, oidc_option_cb,
      "Sign in through the homeserver's authorization server: with a code entered in any "
      "browser (device), or this machine's browser (default: the code without a display)",
      "device|browser" },
    { "admin", 0, 0, G_OPTION_ARG_NONE, &admin,
      "With --oidc: also ask for the homeserver's admin API", NULL },
    { "access-token-file", 0, 0, G_OPTION_ARG_FILENAME, &access_token_file,
      "Sign in with the access token in FILE (\"-\": ask for it)", "FILE" },
    { "no-store-secrets", 0, 0, G_OPTION_ARG_NONE, &no_store_secrets,
      "Neither use nor keep a saved sign-in: ask for the password every time", NULL },
    { "line", 'l', 0, G_OPTION_ARG_NONE, &line,
      "Line mode: print the timeline as lines, send each line read from stdin", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");

  context = g_option_context_new ("— OpenMeet Chat in the terminal");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "In line mode, type a message and press Enter to send it.  Commands:\n"
    "  /rooms            list your rooms\n"
    "  /room ROOM        open a room by ID or alias\n"
    "  /join ROOM        join a room by ID or alias\n"
    "  /me TEXT          send an emote\n"
    "  /notice TEXT      send a notice\n"
    "  /logout           sign out: end this device and forget the saved sign-in\n"
    "  /quit             leave (after unsent messages went out)\n"
    "\n"
    "With --sso, open the URL it prints in a browser.  If the browser runs on\n"
    "another machine, paste back the URL it ended on (an error page is fine).\n"
    "\n"
    "When the homeserver delegates sign-in to an authorization server (OAuth 2.0),\n"
    "that is how a new sign-in goes: over SSH it prints a code to enter in any\n"
    "browser, with a QR code of the address.  Tokens are kept in the keyring (or a\n"
    "file only you can read when there is none) and refreshed as they expire.\n");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "openmeet-tui: %s\nTry --help.\n", error->message);
      return 2;
    }

  if (version)
    {
      printf ("openmeet-tui %s\n", OM_VERSION);
      return 0;
    }

  if (homeserver == NULL)
    homeserver = g_strdup (g_getenv ("OPENMEET_HOMESERVER"));
  if (user == NULL)
    user = g_strdup (g_getenv ("OPENMEET_USER"));
  /* Without them, the saved sign-in says who and where. */
  if (no_store_secrets && homeserver == NULL)
    {
      fprintf (stderr, "openmeet-tui: a homeserver is needed "
                       "(--homeserver URL, or OPENMEET_HOMESERVER)\n");
      return 2;
    }

  /* A password file that cannot be read is an error now, not after a
   * saved sign-in turned out to be missing. */
  if (password_file != NULL && !g_file_test (password_file, G_FILE_TEST_IS_REGULAR))
    {
      fprintf (stderr, "openmeet-tui: cannot read the password file %s\n", password_file);
      return 2;
    }

  if (access_token_file != NULL)
    {
      if (homeserver == NULL)
        {
          fprintf (stderr, "openmeet-tui: --access-token-file needs a homeserver "
                           "(--homeserver URL, or OPENMEET_HOMESERVER)\n");
          return 2;
        }
      if (strcmp (access_token_file, "-") == 0)
        options.access_token = read_password ("Access token: ");
      else if (g_file_get_contents (access_token_file, &options.access_token, NULL, &error))
        g_strstrip (options.access_token);
      if (options.access_token == NULL || options.access_token[0] == '\0')
        {
          fprintf (stderr, "openmeet-tui: no access token%s%s\n",
                   error != NULL ? ": " : "", error != NULL ? error->message : "");
          return 2;
        }
    }

  options.ask_password = ask_password;
  options.ask_password_data = password_file;
  options.store_secrets = !no_store_secrets;
  options.sso = sso;
  options.sso_idp = sso_idp;
  options.oidc = oidc;
  options.oidc_mode = oidc_mode;
  options.admin = admin;
  options.homeserver = homeserver;
  options.user = user;
  options.room = room;
  options.data_dir = data_dir;
  options.history = (guint) CLAMP (history, 0, 1000);

  status = line ? om_tui_line_run (&options) : om_tui_app_run (&options);
  if (options.password != NULL)
    memset (options.password, 0, strlen (options.password));
  g_free (options.password);
  if (options.access_token != NULL)
    explicit_bzero (options.access_token, strlen (options.access_token));
  g_free (options.access_token);
  g_free (sso_idp);
  g_free (oidc_mode);
  return status;
}
