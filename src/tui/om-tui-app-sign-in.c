/* om-tui-app-sign-in.c — signing in before the full-screen client starts
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <stdio.h>
#include <string.h>

#include "om-tui-app-sign-in.h"
#include "om-tui-text.h"

typedef struct {
  OmTuiLineOptions *options;   /* borrowed: outlives the task */
} SignIn;

static void
say (const char *format,
     ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
  fflush (stderr);
}

static void
finish (GTask    *task,
        gboolean  ok,
        GError   *error)
{
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
  g_object_unref (task);
}

static void
password_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  GTask *task = user_data;
  SignIn *data = g_task_get_task_data (task);
  GError *error = NULL;
  gboolean ok;

  /* The password has done its work: it does not stay in memory. */
  explicit_bzero (data->options->password, strlen (data->options->password));
  g_clear_pointer (&data->options->password, g_free);
  ok = om_session_login_password_finish (OM_SESSION (source), result, &error);
  finish (task, ok, error);
}

static void
access_token_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GError *error = NULL;
  gboolean ok = om_session_login_access_token_finish (OM_SESSION (source), result, &error);

  finish (user_data, ok, error);
}

static void
sign_in_anew (GTask *task)
{
  SignIn *data = g_task_get_task_data (task);
  OmTuiLineOptions *options = data->options;
  OmSession *session = g_task_get_source_object (task);

  if (options->sso || options->oidc)
    {
      finish (task, FALSE,
              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                   "signing in through a browser works in line mode only for now: "
                                   "run openmeet-tui --line once, then without --line"));
      return;
    }
  if (options->homeserver == NULL)
    {
      finish (task, FALSE,
              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                   "a homeserver is needed (--homeserver URL, or OPENMEET_HOMESERVER)"));
      return;
    }
  if (options->access_token != NULL)
    {
      say ("-- signing in to %s with an access token", options->homeserver);
      om_session_login_access_token_async (session, options->homeserver, options->access_token,
                                           g_task_get_cancellable (task), access_token_cb, task);
      /* The session has it now; this copy goes. */
      explicit_bzero (options->access_token, strlen (options->access_token));
      return;
    }
  if (options->user == NULL)
    {
      finish (task, FALSE,
              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                   "a user is needed (--user NAME, or OPENMEET_USER)"));
      return;
    }
  if (options->password == NULL && options->ask_password != NULL)
    options->password = options->ask_password (options->ask_password_data);
  if (options->password == NULL)
    {
      finish (task, FALSE,
              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "no password given"));
      return;
    }
  say ("-- signing in to %s", options->homeserver);
  om_session_login_password_async (session, options->homeserver, options->user, options->password,
                                   g_task_get_cancellable (task), password_cb, task);
}

static void
restore_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;

  if (om_session_restore_saved_finish (OM_SESSION (source), result, &error))
    {
      say ("-- signed in as %s (saved sign-in)", om_session_get_user_id (OM_SESSION (source)));
      finish (task, TRUE, NULL);
      return;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      finish (task, FALSE, g_steal_pointer (&error));
      return;
    }
  if (error != NULL)
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");

      say ("!! could not use the saved sign-in: %s", clean);
    }
  sign_in_anew (task);
}

void
om_tui_app_sign_in_async (OmSession           *session,
                          OmTuiLineOptions    *options,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  GTask *task;
  SignIn *data;

  g_return_if_fail (OM_IS_SESSION (session));
  g_return_if_fail (options != NULL);

  task = g_task_new (session, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_tui_app_sign_in_async);
  data = g_new0 (SignIn, 1);
  data->options = options;
  g_task_set_task_data (task, data, g_free);

  /* Asking for a way to sign in asks for a new sign-in. */
  if (options->store_secrets && options->access_token == NULL && !options->sso && !options->oidc)
    om_session_restore_saved_async (session, options->homeserver, options->user,
                                    cancellable, restore_cb, task);
  else
    sign_in_anew (task);
}

gboolean
om_tui_app_sign_in_finish (OmSession     *session,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, session), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
