/* om-tui-app-commands.h — the full-screen client's room and account commands
 *
 * /leave, /presence, /query, /create and /logout: each calls one core intent
 * and reports through the host's info line.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "om-room.h"
#include "om-session.h"

G_BEGIN_DECLS

typedef struct {
  OmSession    *session;       /* borrowed */
  GCancellable *cancellable;   /* borrowed: cancelled when the app ends */
  gpointer      data;
  /* Shows @text (already readable) on the info line. */
  void        (*set_info)      (gpointer data, const char *text);
  /* Opens @room_id once the sync brings it, as /join does. */
  void        (*open_when_synced) (gpointer data, const char *room_id);
  /* We left @room_id: open another one. */
  void        (*left)          (gpointer data, const char *room_id);
  /* Ends the app with @status, printing @message after the screen is back. */
  void        (*finish)        (gpointer data, int status, const char *message);
} OmTuiAppCommandsHost;

typedef struct _OmTuiAppCommands OmTuiAppCommands;

OmTuiAppCommands *om_tui_app_commands_new  (const OmTuiAppCommandsHost *host);
void              om_tui_app_commands_free (OmTuiAppCommands           *self);

/* Runs @line if it is one of these commands; @room is the open room
 * (nullable).  FALSE: not one of ours. */
gboolean          om_tui_app_commands_run  (OmTuiAppCommands           *self,
                                            const char                 *line,
                                            OmRoom                     *room);

/* " /leave, /query @USER, …" for /help. */
const char       *om_tui_app_commands_help (void);

G_END_DECLS
