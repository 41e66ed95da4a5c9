/* om-tui-app.c — the full-screen terminal client
 *
 * A room list on the left, the open room's timeline (om-tui-app-timeline) on the right, a typing
 * line and the composer (om-tui-app-input) at the bottom, a status line at
 * the top.  It only displays the core's models and calls their intents:
 * model signals and SIGWINCH mark the screen dirty, and one redraw happens
 * from an idle, so a burst of events costs one redraw.  Keys come from stdin as a GLib fd
 * source on the same main loop as the session's HTTP.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <glib-unix.h>
#include <ncursesw/curses.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "om-event.h"
#include "om-outbox.h"
#include "om-room.h"
#include "om-room-list.h"
#include "om-session.h"
#include "om-timeline.h"
#include "om-tui-app.h"
#include "om-tui-app-commands.h"
#include "om-tui-app-input.h"
#include "om-tui-app-sign-in.h"
#include "om-tui-app-timeline.h"
#include "om-tui-cells.h"
#include "om-tui-text.h"

/* How long /quit waits for unsent messages. */
#define DRAIN_TIMEOUT_MS 15000
/* Below this the layout does not fit. */
#define MIN_COLUMNS 40
#define MIN_ROWS    12

/* Every key request; the help text and the dispatch come from this table. */
#define OM_TUI_APP_REQUESTS(X) \
  X (SEND,        "Enter",            "send the input, or run a /command") \
  X (PREV_ROOM,   "Alt-Up, Ctrl-P",   "previous room") \
  X (NEXT_ROOM,   "Alt-Down, Ctrl-N", "next room") \
  X (ROOM_N,      "Alt-1 … Alt-9",    "room N of the list") \
  X (SCROLL_UP,   "PageUp",           "scroll back (at the top: load older history)") \
  X (SCROLL_DOWN, "PageDown",         "scroll forward") \
  X (REDRAW,      "Ctrl-L",           "redraw the screen")

typedef enum {
#define REQUEST_ENUM(name, keys, help) REQUEST_##name,
  OM_TUI_APP_REQUESTS (REQUEST_ENUM)
#undef REQUEST_ENUM
  REQUEST_NONE,
} Request;

typedef struct {
  guint    key;
  gboolean function;   /* an ncurses KEY_* code */
  gboolean alt;        /* after ESC */
  Request  request;
} Binding;

/* kUP3/kDN3 (Alt-Up/Down) have no fixed KEY_* code: see alt_key_codes. */
static const Binding bindings[] = {
  { '\r',        FALSE, FALSE, REQUEST_SEND },
  { '\n',        FALSE, FALSE, REQUEST_SEND },
  { KEY_ENTER,   TRUE,  FALSE, REQUEST_SEND },
  { 0x10,        FALSE, FALSE, REQUEST_PREV_ROOM },    /* Ctrl-P */
  { 0x0E,        FALSE, FALSE, REQUEST_NEXT_ROOM },    /* Ctrl-N */
  { KEY_UP,      TRUE,  TRUE,  REQUEST_PREV_ROOM },    /* ESC [ 1 ; 3 A, or ESC Up */
  { KEY_DOWN,    TRUE,  TRUE,  REQUEST_NEXT_ROOM },
  { KEY_PPAGE,   TRUE,  FALSE, REQUEST_SCROLL_UP },
  { KEY_NPAGE,   TRUE,  FALSE, REQUEST_SCROLL_DOWN },
  { 0x0C,        FALSE, FALSE, REQUEST_REDRAW },       /* Ctrl-L */
};


typedef struct {
  OmTuiLineOptions *options;       /* borrowed */
  GMainLoop        *loop;          /* owned */
  OmSession        *session;       /* owned */
  GCancellable     *cancellable;   /* owned */
  OmTuiInput       *input;         /* owned: the composer */
  GHashTable       *drafts;        /* room ID → unsent text (owned), of rooms not open */
  OmRoom           *room;          /* owned ref, nullable: the open room */
  OmTuiAppTimeline *timeline;      /* owned: the open room's timeline pane */
  OmTuiAppCommands *commands;      /* owned: /leave, /query, /create, /presence, /logout */
  GHashTable       *watched_rooms; /* OmRoom* (owned ref) whose notify we follow */
  char             *info;          /* owned, nullable: the last word to the user */
  char             *exit_message;  /* owned, nullable: printed after the screen is given back */
  char             *pending_join;  /* owned, nullable: room ID to open once it syncs */
  char             *left_room;     /* owned, nullable: room ID just left, not to reopen */
  char             *last_read;     /* owned, nullable: event ID last marked read */
  int               status;
  guint             stdin_id;
  guint             winch_id;
  guint             redraw_id;
  guint             drain_id;
  gboolean          curses;        /* the screen is ours */
  gboolean          quitting;      /* /quit: waiting for the outbox */
  gboolean          may_pick;      /* the room list is complete enough to choose from */
  int               alt_up;        /* ncurses codes of kUP3/kDN3, or -1 */
  int               alt_down;
} App;

static void queue_redraw (App *app);

static void
quit (App *app,
      int  status)
{
  app->status = status;
  g_main_loop_quit (app->loop);
}

static void
set_info (App        *app,
          const char *format,
          ...) G_GNUC_PRINTF (2, 3);

static void
set_info (App        *app,
          const char *format,
          ...)
{
  va_list args;

  g_free (app->info);
  va_start (args, format);
  app->info = g_strdup_vprintf (format, args);
  va_end (args);
  queue_redraw (app);
}

/* ---- drawing ---- */

static const char *
state_text (OmSessionState state)
{
  switch (state)
    {
    case OM_SESSION_STATE_SIGNED_OUT:
      return "signed out";
    case OM_SESSION_STATE_READY:
      return "not connected";
    case OM_SESSION_STATE_CONNECTING:
      return "connecting…";
    case OM_SESSION_STATE_ONLINE:
      return "online";
    case OM_SESSION_STATE_OFFLINE:
      return "offline, retrying";
    default:
      return "";
    }
}

static void
draw_status (App *app)
{
  g_autofree char *user = om_tui_sanitize (om_session_get_user_id (app->session), NULL);
  g_autofree char *left = NULL;
  int used;

  move (0, 0);
  attr_set (A_REVERSE, 0, NULL);
  left = g_strdup_printf (" [%s] %s ", state_text (om_session_get_state (app->session)), user);
  used = om_tui_cells_put (left, COLS);
  if (app->room != NULL && used < COLS)
    {
      g_autofree char *name = om_tui_sanitize (om_room_get_display_name (app->room), NULL);
      g_autofree char *topic = om_tui_sanitize (om_room_get_topic (app->room), " ");
      g_autofree char *right = g_strdup_printf ("│ %s%s%s ", name, *topic ? " — " : "", topic);

      used += om_tui_cells_put (right, COLS - used);
    }
  if (om_session_get_state (app->session) == OM_SESSION_STATE_OFFLINE &&
      om_session_get_sync_error (app->session) != NULL && used < COLS)
    {
      g_autofree char *error = om_tui_sanitize (om_session_get_sync_error (app->session), " ");
      g_autofree char *text = g_strdup_printf ("│ %s ", error);

      used += om_tui_cells_put (text, COLS - used);
    }
  for (; used < COLS; used++)
    addch (' ');
  attr_set (A_NORMAL, 0, NULL);
}

static void
draw_room_list (App *app,
                int  top,
                int  rows,
                int  cells)
{
  GListModel *rooms = G_LIST_MODEL (om_session_get_room_list (app->session));
  guint n = g_list_model_get_n_items (rooms);
  guint selected = 0;
  guint first = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, i);

      if (room == app->room)
        selected = i;
    }
  if (selected >= (guint) rows)
    first = selected - rows + 1;

  for (guint i = first; i < n && (int) (i - first) < rows; i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, i);
      g_autofree char *name = om_tui_sanitize (om_room_get_display_name (room), NULL);
      g_autofree char *count = NULL;
      guint unread = om_room_get_unread_count (room);
      int row = top + (int) (i - first);
      int count_cells = 0;
      int used;

      if (unread > 0)
        {
          count = g_strdup_printf (" %u", unread);
          count_cells = (int) strlen (count);
        }
      move (row, 0);
      attr_set (room == app->room ? A_REVERSE : (unread > 0 ? A_BOLD : A_NORMAL), 0, NULL);
      if (om_room_get_membership (room) == OM_MEMBERSHIP_INVITE)
        addch ('+');
      else if (om_room_get_is_space (room))
        addch ('=');
      else
        addch (' ');
      used = 1 + om_tui_cells_put (name, cells - 1 - count_cells);
      for (; used < cells - count_cells; used++)
        addch (' ');
      if (count != NULL)
        {
          if (om_room_get_highlight_count (room) > 0 && room != app->room)
            attr_on (A_BOLD, NULL);
          om_tui_cells_put (count, count_cells);
        }
      attr_set (A_NORMAL, 0, NULL);
    }
  if (n == 0)
    {
      move (top, 1);
      attr_set (A_DIM, 0, NULL);
      om_tui_cells_put (om_session_get_state (app->session) == OM_SESSION_STATE_ONLINE ? "no rooms: /join" : "loading…",
                cells - 1);
      attr_set (A_NORMAL, 0, NULL);
    }
}

static void
mark_read_if_seen (App *app)
{
  OmEvent *latest;

  if (app->room == NULL || !om_tui_app_timeline_is_at_bottom (app->timeline) || om_room_get_membership (app->room) != OM_MEMBERSHIP_JOIN)
    return;
  latest = om_timeline_get_latest_remote (om_room_get_timeline (app->room));
  if (latest == NULL || om_event_get_event_id (latest) == NULL ||
      g_strcmp0 (om_event_get_event_id (latest), app->last_read) == 0)
    return;
  g_free (app->last_read);
  app->last_read = g_strdup (om_event_get_event_id (latest));
  om_room_mark_read (app->room);
}

static void
draw_timeline (App *app,
               int  top,
               int  rows,
               int  column,
               int  cells)
{
  om_tui_app_timeline_draw (app->timeline, top, rows, column, cells);
  mark_read_if_seen (app);
}

static char *
dup_typing_text (App *app)
{
  const char * const *ids;
  guint n;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;

  if (app->room == NULL)
    return NULL;
  ids = om_room_get_typing_user_ids (app->room);
  n = ids != NULL ? g_strv_length ((char **) ids) : 0;
  if (n == 0)
    return NULL;
  if (n > 3)
    return g_strdup ("several people are typing…");
  first = om_tui_app_dup_member_name (app->room, ids[0], 30);
  if (n == 1)
    return g_strdup_printf ("%s is typing…", first);
  second = om_tui_app_dup_member_name (app->room, ids[1], 30);
  if (n == 2)
    return g_strdup_printf ("%s and %s are typing…", first, second);
  {
    g_autofree char *third = om_tui_app_dup_member_name (app->room, ids[2], 30);

    return g_strdup_printf ("%s, %s and %s are typing…", first, second, third);
  }
}

/* The info line above an input area of @input_rows rows, at the bottom. */
static void
draw_bottom (App *app,
             int  input_rows)
{
  g_autofree char *typing = dup_typing_text (app);

  move (LINES - 1 - input_rows, 0);
  attr_set (A_DIM, 0, NULL);
  if (typing != NULL)
    om_tui_cells_put (typing, COLS);
  else if (app->info != NULL)
    {
      g_autofree char *clean = om_tui_sanitize (app->info, " ");

      om_tui_cells_put (clean, COLS);
    }
  attr_set (A_NORMAL, 0, NULL);

  om_tui_app_input_draw (app->input, LINES - input_rows, input_rows, COLS);
}

static void
draw (App *app)
{
  int list_cells;
  int input_rows;
  int pane_rows;

  erase ();
  if (COLS < MIN_COLUMNS || LINES < MIN_ROWS)
    {
      g_autofree char *size = g_strdup_printf ("%d×%d, needs %d×%d", COLS, LINES, MIN_COLUMNS, MIN_ROWS);
      const char *text[] = { "terminal too small", size };

      for (int i = 0; i < 2; i++)
        {
          move (MAX (0, LINES / 2 - 1 + i), MAX (0, (COLS - om_tui_cells_width (text[i])) / 2));
          om_tui_cells_put (text[i], COLS);
        }
      refresh ();
      return;
    }

  list_cells = CLAMP (COLS / 4, 10, 24);
  input_rows = om_tui_app_input_rows (app->input, COLS - OM_TUI_APP_INPUT_PROMPT);
  pane_rows = LINES - 2 - input_rows;
  draw_status (app);
  draw_room_list (app, 1, pane_rows, list_cells);
  for (int row = 1; row < 1 + pane_rows; row++)
    mvaddstr (row, list_cells, "│");
  draw_timeline (app, 1, pane_rows, list_cells + 1, COLS - list_cells - 1);
  draw_bottom (app, input_rows);
  refresh ();
}

static gboolean
redraw_cb (gpointer user_data)
{
  App *app = user_data;

  app->redraw_id = 0;
  if (app->curses)
    draw (app);
  return G_SOURCE_REMOVE;
}

static void
queue_redraw (App *app)
{
  if (app->redraw_id == 0)
    app->redraw_id = g_idle_add (redraw_cb, app);
}

/* ---- rooms ---- */

static void
timeline_changed_cb (gpointer user_data)
{
  queue_redraw (user_data);
}

/* A typing notification is due: a message (not a /command) is being written. */
static gboolean
is_composing (App *app)
{
  return !om_tui_input_is_empty (app->input) && om_tui_input_get_text (app->input)[0] != '/';
}

static void
open_room (App    *app,
           OmRoom *room)
{
  if (room == app->room)
    return;
  if (app->room != NULL)
    {
      const char *room_id = om_room_get_room_id (app->room);

      if (is_composing (app))
        om_room_set_typing (app->room, FALSE);
      /* Each room keeps its unsent draft. */
      if (om_tui_input_get_text (app->input)[0] != '\0')
        g_hash_table_insert (app->drafts, g_strdup (room_id), g_strdup (om_tui_input_get_text (app->input)));
      else
        g_hash_table_remove (app->drafts, room_id);
    }
  if (app->room != NULL || room != NULL)
    {
      const char *draft = room != NULL ? g_hash_table_lookup (app->drafts, om_room_get_room_id (room)) : NULL;

      om_tui_input_set_text (app->input, draft != NULL ? draft : "");
      if (draft != NULL)
        g_hash_table_remove (app->drafts, om_room_get_room_id (room));
    }
  g_set_object (&app->room, room);
  om_tui_app_timeline_set_room (app->timeline, room);
  g_clear_pointer (&app->last_read, g_free);
  queue_redraw (app);
}

static gboolean
is_openable (OmRoom *room)
{
  return om_room_get_membership (room) == OM_MEMBERSHIP_JOIN && !om_room_get_is_space (room);
}

/* The room to open when none is: the one asked for, else the newest. */
static void
pick_room (App *app)
{
  GListModel *rooms = G_LIST_MODEL (om_session_get_room_list (app->session));

  if (app->pending_join != NULL)
    {
      OmRoom *room = om_room_list_lookup (om_session_get_room_list (app->session), app->pending_join);

      if (room != NULL && om_room_get_membership (room) == OM_MEMBERSHIP_JOIN)
        {
          g_clear_pointer (&app->pending_join, g_free);
          open_room (app, room);
          return;
        }
    }
  if (app->room != NULL || !app->may_pick)
    return;
  if (app->options->room != NULL)
    {
      OmRoom *room = om_session_lookup_room (app->session, app->options->room);

      if (room != NULL)
        {
          open_room (app, room);
          return;
        }
    }
  for (guint i = 0; i < g_list_model_get_n_items (rooms); i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, i);

      if (is_openable (room) && g_strcmp0 (om_room_get_room_id (room), app->left_room) != 0)
        {
          open_room (app, room);
          return;
        }
    }
}

static void
room_notify_cb (OmRoom     *room,
                GParamSpec *pspec,
                App        *app)
{
  if (g_strcmp0 (pspec->name, "membership") == 0)
    pick_room (app);
  queue_redraw (app);
}

static void
room_list_changed_cb (GListModel *rooms,
                      guint       position,
                      guint       removed,
                      guint       added,
                      App        *app)
{
  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, i);

      if (g_hash_table_contains (app->watched_rooms, room))
        continue;
      g_hash_table_add (app->watched_rooms, g_object_ref (room));
      g_signal_connect (room, "notify", G_CALLBACK (room_notify_cb), app);
    }
  pick_room (app);
  queue_redraw (app);
}

/* Opens the room @delta places from the open one, or room @index (0-based)
 * when @delta is 0. */
static void
move_selection (App *app,
                int  delta,
                int  index)
{
  GListModel *rooms = G_LIST_MODEL (om_session_get_room_list (app->session));
  int n = (int) g_list_model_get_n_items (rooms);
  int current = -1;

  if (n == 0)
    return;
  for (int i = 0; i < n; i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, (guint) i);

      if (room == app->room)
        current = i;
    }
  if (delta == 0)
    {
      if (index >= n)
        return;
      current = index;
    }
  else if (current < 0)
    current = 0;
  else
    current = ((current + delta) % n + n) % n;
  {
    g_autoptr(OmRoom) room = g_list_model_get_item (rooms, (guint) current);

    open_room (app, room);
  }
}

/* ---- commands ---- */

static void
drain_timeout_cb (gpointer user_data)
{
  App *app = user_data;

  app->drain_id = 0;
  app->exit_message = g_strdup_printf ("openmeet-tui: %u message(s) still queued; they will be sent next time",
                                       om_outbox_get_n_pending (om_session_get_outbox (app->session)));
  quit (app, 0);
}

static void
maybe_finish (App *app)
{
  OmOutbox *outbox = om_session_get_outbox (app->session);

  if (!app->quitting)
    return;
  if (outbox == NULL || om_outbox_get_n_pending (outbox) == 0)
    {
      quit (app, 0);
      return;
    }
  set_info (app, "sending %u queued message(s) before quitting…", om_outbox_get_n_pending (outbox));
  if (app->drain_id == 0)
    app->drain_id = g_timeout_add_once (DRAIN_TIMEOUT_MS, drain_timeout_cb, app);
}

static void
pending_changed_cb (GObject    *outbox,
                    GParamSpec *pspec,
                    App        *app)
{
  maybe_finish (app);
}

static void
join_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = om_session_join_room_finish (OM_SESSION (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (room_id == NULL)
    {
      set_info (app, "could not join: %s", error->message);
      return;
    }
  set_info (app, "joined %s", room_id);
  g_free (app->pending_join);
  app->pending_join = g_steal_pointer (&room_id);
  pick_room (app);
}

/* Hooks for om-tui-app-commands. */
static void
commands_set_info (gpointer    data,
                   const char *text)
{
  set_info (data, "%s", text);
}

static void
commands_open_when_synced (gpointer    data,
                           const char *room_id)
{
  App *app = data;

  g_free (app->pending_join);
  app->pending_join = g_strdup (room_id);
  pick_room (app);
}

static void
commands_left (gpointer    data,
               const char *room_id)
{
  App *app = data;

  g_free (app->left_room);
  app->left_room = g_strdup (room_id);
  if (app->room != NULL && g_strcmp0 (om_room_get_room_id (app->room), room_id) == 0)
    {
      open_room (app, NULL);
      pick_room (app);
    }
}

static void
commands_finish (gpointer    data,
                 int         status,
                 const char *message)
{
  App *app = data;

  g_free (app->exit_message);
  app->exit_message = g_strdup (message);
  quit (app, status);
}

static void
send_input (App *app)
{
  g_autofree char *line = om_tui_input_take (app->input);

  if (line == NULL)
    return;
  g_clear_pointer (&app->info, g_free);
  queue_redraw (app);

  if (g_str_equal (line, "/quit") || g_str_has_prefix (line, "/quit "))
    {
      app->quitting = TRUE;
      maybe_finish (app);
      return;
    }
  if (g_str_equal (line, "/help"))
    {
      g_autoptr(GString) help = g_string_new ("keys:");

#define REQUEST_HELP(name, keys, text) g_string_append_printf (help, " %s: %s ·", keys, text);
      OM_TUI_APP_REQUESTS (REQUEST_HELP)
#undef REQUEST_HELP
      om_tui_app_input_append_help (help);
      g_string_append_printf (help, " commands: /join ROOM, /me TEXT, /notice TEXT%s, /quit",
                              om_tui_app_commands_help ());
      set_info (app, "%s", help->str);
      return;
    }
  if (g_str_has_prefix (line, "/join "))
    {
      const char *target = g_strstrip (line + 6);

      set_info (app, "joining %s…", target);
      om_session_join_room_async (app->session, target, app->cancellable, join_cb, app);
      return;
    }
  if (om_tui_app_commands_run (app->commands, line, app->room))
    return;
  if (app->room == NULL || om_room_get_membership (app->room) != OM_MEMBERSHIP_JOIN)
    {
      set_info (app, "no room open: choose one with Ctrl-N/Ctrl-P, or /join ROOM");
      return;
    }
  om_tui_app_timeline_scroll_to_bottom (app->timeline);
  if (g_str_has_prefix (line, "/me "))
    om_room_send_message (app->room, "m.emote", line + 4);
  else if (g_str_has_prefix (line, "/notice "))
    om_room_send_message (app->room, "m.notice", line + 8);
  else if (line[0] == '/' && line[1] != '/')
    set_info (app, "unknown command; commands: /help, /join ROOM, /me TEXT, /notice TEXT%s, /quit (// sends a literal /)",
              om_tui_app_commands_help ());
  else
    om_room_send_message (app->room, "m.text", line[0] == '/' ? line + 1 : line);
}

/* ---- keys ---- */

static void
run_request (App     *app,
             Request  request,
             int      argument)
{
  switch (request)
    {
    case REQUEST_SEND:
      send_input (app);
      break;
    case REQUEST_PREV_ROOM:
      move_selection (app, -1, 0);
      break;
    case REQUEST_NEXT_ROOM:
      move_selection (app, 1, 0);
      break;
    case REQUEST_ROOM_N:
      move_selection (app, 0, argument);
      break;
    case REQUEST_SCROLL_UP:
      om_tui_app_timeline_scroll (app->timeline, 1);
      break;
    case REQUEST_SCROLL_DOWN:
      om_tui_app_timeline_scroll (app->timeline, -1);
      break;
    case REQUEST_REDRAW:
      clearok (curscr, TRUE);
      queue_redraw (app);
      break;
    case REQUEST_NONE:
    default:
      break;
    }
}

static Request
lookup_binding (guint    key,
                gboolean function,
                gboolean alt)
{
  for (guint i = 0; i < G_N_ELEMENTS (bindings); i++)
    if (bindings[i].key == key && bindings[i].function == function && bindings[i].alt == alt)
      return bindings[i].request;
  return REQUEST_NONE;
}

static void
edited (App *app)
{
  if (app->room != NULL && om_room_get_membership (app->room) == OM_MEMBERSHIP_JOIN)
    om_room_set_typing (app->room, is_composing (app));
}

static void
edit_key (App      *app,
          guint     key,
          gboolean  function,
          gboolean  alt)
{
  OmTuiAppInputContext context = { app->room, om_session_get_user_id (app->session) };

  switch (om_tui_app_input_handle_key (app->input, key, function, alt, COLS - OM_TUI_APP_INPUT_PROMPT, &context))
    {
    case OM_TUI_APP_INPUT_EDITED:
      edited (app);
      queue_redraw (app);
      break;
    case OM_TUI_APP_INPUT_MOVED:
      queue_redraw (app);
      break;
    case OM_TUI_APP_INPUT_IGNORED:
    default:
      break;
    }
}

static void
handle_key (App      *app,
            wint_t    key,
            gboolean  function)
{
  Request request;
  gboolean alt = FALSE;

  if (function && key == KEY_RESIZE)
    {
      queue_redraw (app);
      return;
    }
  if (function && (int) key == app->alt_up)
    {
      run_request (app, REQUEST_PREV_ROOM, 0);
      return;
    }
  if (function && (int) key == app->alt_down)
    {
      run_request (app, REQUEST_NEXT_ROOM, 0);
      return;
    }
  if (!function && key == 0x1B)
    {
      guint alt_key;

      if (!om_tui_app_input_read_alt_key (&alt_key, &function))
        return;
      key = (wint_t) alt_key;
      alt = TRUE;
    }
  if (alt && !function && key >= '1' && key <= '9')
    {
      run_request (app, REQUEST_ROOM_N, (int) (key - '1'));
      return;
    }

  request = lookup_binding ((guint) key, function, alt);
  if (request != REQUEST_NONE)
    {
      run_request (app, request, 0);
      return;
    }

  edit_key (app, (guint) key, function, alt);
}

static gboolean
stdin_cb (int           fd,
          GIOCondition  condition,
          gpointer      user_data)
{
  App *app = user_data;
  wint_t key;
  int kind;

  /* ncurses may have buffered more than one key: take them all. */
  while ((kind = get_wch (&key)) != ERR)
    handle_key (app, key, kind == KEY_CODE_YES);

  if (condition & (G_IO_HUP | G_IO_ERR))
    {
      app->stdin_id = 0;
      app->quitting = TRUE;
      maybe_finish (app);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
winch_cb (gpointer user_data)
{
  App *app = user_data;
  struct winsize size = { 0 };

  if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0)
    resizeterm (size.ws_row, size.ws_col);
  clearok (curscr, TRUE);
  queue_redraw (app);
  return G_SOURCE_CONTINUE;
}

/* ncurses gives extended keys such as kUP3 codes of their own. */
static int
extended_key_code (const char *capability)
{
  char *sequence = tigetstr ((char *) capability);

  if (sequence == NULL || sequence == (char *) -1)
    return -1;
  {
    int code = key_defined (sequence);

    return code > 0 ? code : -1;
  }
}

/* ---- session ---- */

static void
session_notify_cb (OmSession  *session,
                   GParamSpec *pspec,
                   App        *app)
{
  queue_redraw (app);
}

static void
signed_out_cb (OmSession    *session,
               const GError *error,
               App          *app)
{
  g_autofree char *clean = om_tui_sanitize (error->message, " ");

  app->exit_message = g_strdup_printf ("openmeet-tui: signed out by the server (%s); "
                                       "run openmeet-tui again to sign in", clean);
  quit (app, 1);
}

static void
start_curses (App *app)
{
  /* Before initscr, so that ncurses leaves SIGWINCH to the main loop. */
  app->winch_id = g_unix_signal_add (SIGWINCH, winch_cb, app);
  set_escdelay (25);
  initscr ();
  cbreak ();
  noecho ();
  nonl ();
  keypad (stdscr, TRUE);
  nodelay (stdscr, TRUE);
  intrflush (stdscr, FALSE);
  app->curses = TRUE;
  om_tui_app_timeline_init_colours (app->timeline);
  app->alt_up = extended_key_code ("kUP3");
  app->alt_down = extended_key_code ("kDN3");
  app->stdin_id = g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_cb, app);
}

/* Rooms arrive one by one during a sync: the newest is known after it. */
static void
synced_cb (OmSession *session,
           gboolean   initial,
           App       *app)
{
  g_signal_handlers_disconnect_by_func (session, synced_cb, app);
  app->may_pick = TRUE;
  pick_room (app);
}

static void
signed_in (App *app)
{
  OmRoomList *rooms = om_session_get_room_list (app->session);

  start_curses (app);
  /* Rooms restored from the store can be shown at once: the first sync
   * from a stored position may be a long-poll that only ends with news. */
  app->may_pick = g_list_model_get_n_items (G_LIST_MODEL (rooms)) > 0;
  g_signal_connect (app->session, "synced", G_CALLBACK (synced_cb), app);
  g_signal_connect (app->session, "signed-out", G_CALLBACK (signed_out_cb), app);
  g_signal_connect (app->session, "notify::state", G_CALLBACK (session_notify_cb), app);
  g_signal_connect (app->session, "notify::sync-error", G_CALLBACK (session_notify_cb), app);
  g_signal_connect (om_session_get_outbox (app->session), "notify::n-pending",
                    G_CALLBACK (pending_changed_cb), app);
  g_signal_connect (rooms, "items-changed", G_CALLBACK (room_list_changed_cb), app);
  room_list_changed_cb (G_LIST_MODEL (rooms), 0, 0, g_list_model_get_n_items (G_LIST_MODEL (rooms)), app);
  om_session_start (app->session);
  queue_redraw (app);
}

static void
sign_in_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  if (!om_tui_app_sign_in_finish (OM_SESSION (source), result, &error))
    {
      g_autofree char *clean = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      clean = om_tui_sanitize (error->message, " ");
      app->exit_message = g_strdup_printf ("openmeet-tui: sign-in failed: %s", clean);
      quit (app, g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT) ||
                 g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED) ? 2 : 1);
      return;
    }
  signed_in (app);
}

static void
start_cb (gpointer user_data)
{
  App *app = user_data;

  om_tui_app_sign_in_async (app->session, app->options, app->cancellable, sign_in_cb, app);
}

static gboolean
signal_cb (gpointer user_data)
{
  quit (user_data, 130);
  return G_SOURCE_CONTINUE;
}

static void
unwatch (gpointer key,
         gpointer value,
         gpointer user_data)
{
  g_signal_handlers_disconnect_by_data (key, user_data);
}

int
om_tui_app_run (OmTuiLineOptions *options)
{
  App app = { 0 };
  guint sigint_id, sigterm_id;

  g_return_val_if_fail (options != NULL, 2);

  if (!isatty (STDIN_FILENO) || !isatty (STDOUT_FILENO))
    {
      fprintf (stderr, "openmeet-tui: the full-screen client needs a terminal; use --line otherwise\n");
      return 2;
    }

  app.options = options;
  app.loop = g_main_loop_new (NULL, FALSE);
  app.session = om_session_new (options->data_dir);
  app.cancellable = g_cancellable_new ();
  app.input = om_tui_input_new (0);
  app.drafts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  app.watched_rooms = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  app.timeline = om_tui_app_timeline_new (app.session, app.cancellable, timeline_changed_cb, &app);
  app.alt_up = app.alt_down = -1;
  {
    OmTuiAppCommandsHost host = {
      app.session, app.cancellable, &app,
      commands_set_info, commands_open_when_synced, commands_left, commands_finish,
    };

    app.commands = om_tui_app_commands_new (&host);
  }

  sigint_id = g_unix_signal_add (SIGINT, signal_cb, &app);
  sigterm_id = g_unix_signal_add (SIGTERM, signal_cb, &app);

  om_session_set_store_secrets (app.session, options->store_secrets);
  g_idle_add_once (start_cb, &app);
  g_main_loop_run (app.loop);

  if (app.curses)
    endwin ();
  app.curses = FALSE;
  if (app.exit_message != NULL)
    fprintf (stderr, "%s\n", app.exit_message);

  g_cancellable_cancel (app.cancellable);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_clear_handle_id (&app.winch_id, g_source_remove);
  g_clear_handle_id (&app.stdin_id, g_source_remove);
  g_clear_handle_id (&app.redraw_id, g_source_remove);
  g_clear_handle_id (&app.drain_id, g_source_remove);
  g_clear_pointer (&app.timeline, om_tui_app_timeline_free);
  g_hash_table_foreach (app.watched_rooms, unwatch, &app);
  if (om_session_get_room_list (app.session) != NULL)
    g_signal_handlers_disconnect_by_data (om_session_get_room_list (app.session), &app);
  if (om_session_get_outbox (app.session) != NULL)
    g_signal_handlers_disconnect_by_data (om_session_get_outbox (app.session), &app);
  g_signal_handlers_disconnect_by_data (app.session, &app);
  om_session_stop (app.session);

  /* Let cancelled transfers finish their callbacks before tearing down. */
  while (g_main_context_iteration (NULL, FALSE))
    ;

  g_clear_pointer (&app.commands, om_tui_app_commands_free);
  g_clear_object (&app.room);
  g_clear_pointer (&app.watched_rooms, g_hash_table_unref);
  g_clear_object (&app.session);
  g_clear_object (&app.cancellable);
  g_clear_pointer (&app.input, om_tui_input_free);
  g_clear_pointer (&app.drafts, g_hash_table_unref);
  g_free (app.info);
  g_free (app.exit_message);
  g_free (app.pending_join);
  g_free (app.left_room);
  g_free (app.last_read);
  g_main_loop_unref (app.loop);

  return app.status;
}
