/* om-tui-app-commands.c — the full-screen client's room and account commands
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <string.h>

#include "om-presence.h"
#include "om-tui-app-commands.h"
#include "om-tui-text.h"

struct _OmTuiAppCommands {
  OmTuiAppCommandsHost host;
  gboolean             logging_out;
};

typedef void (*CommandFunc) (OmTuiAppCommands *self,
                             const char       *argument,
                             OmRoom           *room);

static void
info (OmTuiAppCommands *self,
      const char       *format,
      ...) G_GNUC_PRINTF (2, 3);

static void
info (OmTuiAppCommands *self,
      const char       *format,
      ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  self->host.set_info (self->host.data, text);
}

/* A network (or user) string, safe for the screen. */
static char *
clean (const char *text)
{
  return om_tui_sanitize (text != NULL ? text : "", " ");
}

static gboolean
is_cancelled (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static gboolean
is_user_id (const char *text)
{
  const char *colon = strchr (text, ':');

  return text[0] == '@' && colon != NULL && colon > text + 1 && colon[1] != '\0' &&
         strpbrk (text, " \t") == NULL;
}

/* ---- /leave ---- */

typedef struct {
  OmTuiAppCommands *self;
  char             *room_id;
  char             *name;
} LeaveData;

static void
leave_data_free (LeaveData *data)
{
  g_free (data->room_id);
  g_free (data->name);
  g_free (data);
}

static void
leave_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  LeaveData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!om_session_leave_room_finish (OM_SESSION (source), result, &error))
    {
      if (!is_cancelled (error))
        {
          g_autofree char *message = clean (error->message);

          info (data->self, "could not leave %s: %s", data->name, message);
        }
      leave_data_free (data);
      return;
    }
  info (data->self, "left %s", data->name);
  data->self->host.left (data->self->host.data, data->room_id);
  leave_data_free (data);
}

static void
cmd_leave (OmTuiAppCommands *self,
           const char       *argument,
           OmRoom           *room)
{
  LeaveData *data;

  if (room == NULL)
    {
      info (self, "no room open to leave");
      return;
    }
  data = g_new0 (LeaveData, 1);
  data->self = self;
  data->room_id = g_strdup (om_room_get_room_id (room));
  data->name = clean (om_room_get_display_name (room));
  info (self, "leaving %s…", data->name);
  om_session_leave_room_async (self->host.session, data->room_id, self->host.cancellable, leave_cb, data);
}

/* ---- /presence ---- */

static void
presence_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  OmTuiAppCommands *self = user_data;
  g_autoptr(GError) error = NULL;
  OmPresence *presence = OM_PRESENCE (source);

  if (!om_presence_set_finish (presence, result, &error))
    {
      g_autofree char *message = NULL;

      if (is_cancelled (error))
        return;
      message = clean (error->message);
      info (self, "could not set presence: %s", message);
      return;
    }
  {
    g_autofree char *status = clean (om_presence_get_status_message (presence));

    info (self, "presence: %s%s%s", om_presence_state_to_string (om_presence_get_state (presence)),
          *status ? " — " : "", status);
  }
}

static void
cmd_presence (OmTuiAppCommands *self,
              const char       *argument,
              OmRoom           *room)
{
  OmPresence *presence = om_session_get_presence (self->host.session);
  g_autofree char *word = NULL;
  const char *space = strchr (argument, ' ');
  const char *message = NULL;
  OmPresenceState state;

  word = space != NULL ? g_strndup (argument, (gsize) (space - argument)) : g_strdup (argument);
  if (space != NULL)
    {
      message = space + 1;
      while (*message == ' ')
        message++;
      if (*message == '\0')
        message = NULL;
    }
  if (g_str_equal (word, "online"))
    state = OM_PRESENCE_ONLINE;
  else if (g_str_equal (word, "unavailable"))
    state = OM_PRESENCE_UNAVAILABLE;
  else if (g_str_equal (word, "offline"))
    state = OM_PRESENCE_OFFLINE;
  else
    {
      info (self, "usage: /presence online|unavailable|offline [message]");
      return;
    }
  if (presence == NULL)
    {
      info (self, "presence is not available");
      return;
    }
  info (self, "setting presence to %s…", word);
  om_presence_set_async (presence, state, message, self->host.cancellable, presence_cb, self);
}

/* ---- /create and /query ---- */

typedef struct {
  OmTuiAppCommands *self;
  char             *what;   /* for the info line, already clean */
} CreateData;

static void
create_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  CreateData *data = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = om_session_create_room_finish (OM_SESSION (source), result, &error);

  if (room_id == NULL)
    {
      if (!is_cancelled (error))
        {
          g_autofree char *message = clean (error->message);

          info (data->self, "could not create %s: %s", data->what, message);
        }
    }
  else
    {
      g_autofree char *id = clean (room_id);

      info (data->self, "created %s (%s)", data->what, id);
      data->self->host.open_when_synced (data->self->host.data, room_id);
    }
  g_free (data->what);
  g_free (data);
}

static void
create (OmTuiAppCommands   *self,
        const char         *name,
        const char * const *invite,
        gboolean            is_direct,
        const char         *what)
{
  CreateData *data = g_new0 (CreateData, 1);

  data->self = self;
  data->what = clean (what);
  info (self, "creating %s…", data->what);
  om_session_create_room_async (self->host.session, name, NULL, invite, is_direct,
                                self->host.cancellable, create_cb, data);
}

static void
cmd_create (OmTuiAppCommands *self,
            const char       *argument,
            OmRoom           *room)
{
  g_autofree char *what = NULL;

  if (*argument == '\0')
    {
      info (self, "usage: /create NAME");
      return;
    }
  what = g_strdup_printf ("room %s", argument);
  create (self, argument, NULL, FALSE, what);
}

static void
cmd_query (OmTuiAppCommands *self,
           const char       *argument,
           OmRoom           *room)
{
  const char *invite[] = { argument, NULL };
  g_autofree char *what = NULL;

  if (!is_user_id (argument))
    {
      info (self, "usage: /query @user:server");
      return;
    }
  if (g_strcmp0 (argument, om_session_get_user_id (self->host.session)) == 0)
    {
      info (self, "that is you");
      return;
    }
  what = g_strdup_printf ("a direct chat with %s", argument);
  create (self, NULL, invite, TRUE, what);
}

/* ---- /logout ---- */

static void
logout_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  OmTuiAppCommands *self = user_data;
  g_autoptr(GError) error = NULL;

  self->logging_out = FALSE;
  if (!om_session_logout_finish (OM_SESSION (source), result, &error))
    {
      g_autofree char *message = NULL;

      if (is_cancelled (error))
        return;
      message = clean (error->message);
      info (self, "could not sign out: %s", message);
      /* Signing out stopped the sync: carry on as before. */
      om_session_start (OM_SESSION (source));
      return;
    }
  self->host.finish (self->host.data, 0, "openmeet-tui: signed out; run openmeet-tui again to sign in");
}

static void
cmd_logout (OmTuiAppCommands *self,
            const char       *argument,
            OmRoom           *room)
{
  if (self->logging_out)
    return;
  self->logging_out = TRUE;
  info (self, "signing out…");
  om_session_logout_async (self->host.session, self->host.cancellable, logout_cb, self);
}

/* ---- dispatch ---- */

typedef struct {
  const char  *name;
  gboolean     takes_argument;
  CommandFunc  func;
  const char  *usage;
} Command;

static const Command commands[] = {
  { "leave",    FALSE, cmd_leave,    "/leave" },
  { "query",    TRUE,  cmd_query,    "/query @USER" },
  { "create",   TRUE,  cmd_create,   "/create NAME" },
  { "presence", TRUE,  cmd_presence, "/presence online|unavailable|offline [MESSAGE]" },
  { "logout",   FALSE, cmd_logout,   "/logout" },
};

OmTuiAppCommands *
om_tui_app_commands_new (const OmTuiAppCommandsHost *host)
{
  OmTuiAppCommands *self = g_new0 (OmTuiAppCommands, 1);

  g_return_val_if_fail (host != NULL, NULL);
  self->host = *host;
  return self;
}

void
om_tui_app_commands_free (OmTuiAppCommands *self)
{
  g_free (self);
}

gboolean
om_tui_app_commands_run (OmTuiAppCommands *self,
                         const char       *line,
                         OmRoom           *room)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (line != NULL, FALSE);

  if (line[0] != '/')
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      gsize length = strlen (commands[i].name);
      g_autofree char *argument = NULL;

      if (strncmp (line + 1, commands[i].name, length) != 0 ||
          (line[1 + length] != '\0' && line[1 + length] != ' '))
        continue;
      argument = g_strstrip (g_strdup (line + 1 + length));
      if (commands[i].takes_argument && *argument == '\0')
        {
          info (self, "usage: %s", commands[i].usage);
          return TRUE;
        }
      commands[i].func (self, argument, room);
      return TRUE;
    }
  return FALSE;
}

const char *
om_tui_app_commands_help (void)
{
  static char *help;

  if (help == NULL)
    {
      GString *text = g_string_new ("");

      for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
        g_string_append_printf (text, ", %s", commands[i].usage);
      help = g_string_free (text, FALSE);
    }
  return help;
}
