/* om-tui-line.c — the line-mode client
 *
 * Prints a room's timeline as lines and sends each line read from stdin.
 * Everything runs on the GLib main loop: the session's HTTP, and stdin
 * read through a GUnixInputStream.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <string.h>
#include <unistd.h>

#include "om-discovery.h"
#include "om-error.h"
#include "om-oauth.h"
#include "om-event.h"
#include "om-http.h"
#include "om-outbox.h"
#include "om-room.h"
#include "om-room-list.h"
#include "om-session.h"
#include "om-sso.h"
#include "om-timeline.h"
#include "om-tui-line.h"
#include "om-tui-qr.h"
#include "om-tui-text.h"

/* How long to wait for unsent messages when input ends. */
#define DRAIN_TIMEOUT_MS 15000

typedef struct {
  OmTuiLineOptions *options;      /* borrowed */
  GMainLoop        *loop;         /* owned */
  OmSession        *session;      /* owned */
  OmRoom           *room;         /* owned ref, nullable */
  OmTimeline       *timeline;     /* borrowed from room */
  GDataInputStream *input;        /* owned */
  GCancellable     *cancellable;  /* owned */
  char             *last_day;     /* owned: the day of the last printed event */
  GHashTable       *printed;      /* OmEvent* already printed (owned refs, so no address reuse) */
  OmSsoListener    *sso_listener;     /* owned while an SSO sign-in waits */
  GCancellable     *sso_cancellable;  /* owned: cancels the loopback wait */
  int               status;
  gboolean          input_done;
  gboolean          reading;          /* a line read is pending */
  gboolean          awaiting_paste;   /* lines are pasted SSO URLs */
  guint             drain_id;
  gboolean          signed_in_once;   /* signals are connected, sync started once */
  guint             discover_failures;
} LineClient;

static void choose_sign_in (LineClient *client);
static void signed_out_cb (OmSession    *session,
                           const GError *error,
                           LineClient   *client);
static void print_qr (const char *text);
static void sign_in_with_sso (LineClient *client);
static void sign_in_with_password (LineClient *client);
static void sign_in_with_oidc (LineClient    *client,
                               OmOAuthServer *server);

static void read_next_line (LineClient *client);
static gboolean handle_pasted_url (LineClient *client,
                                   char       *line);

static void
say (const char *format,
     ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  vfprintf (stdout, format, args);
  va_end (args);
  fputc ('\n', stdout);
  fflush (stdout);
}

static void
quit (LineClient *client,
      int         status)
{
  client->status = status;
  g_main_loop_quit (client->loop);
}

/* "Alice joined", "Alice invited Bob" … from an m.room.member event. */
static char *
describe_membership (LineClient *client,
                     OmEvent    *event,
                     const char *who)
{
  const char *membership = om_event_get_content_string (event, "membership");
  const char *target_id = om_event_get_state_key (event);
  g_autofree char *target_name = NULL;
  g_autofree char *target = NULL;

  target_name = om_room_dup_member_display_name (client->room, target_id ? target_id : "");
  target = om_tui_sanitize (target_name, NULL);

  if (g_strcmp0 (target_id, om_event_get_sender (event)) == 0)
    {
      if (g_strcmp0 (membership, "join") == 0)
        return g_strdup_printf ("%s joined", who);
      if (g_strcmp0 (membership, "leave") == 0)
        return g_strdup_printf ("%s left", who);
      if (g_strcmp0 (membership, "knock") == 0)
        return g_strdup_printf ("%s asked to join", who);
    }
  if (g_strcmp0 (membership, "invite") == 0)
    return g_strdup_printf ("%s invited %s", who, target);
  if (g_strcmp0 (membership, "ban") == 0)
    return g_strdup_printf ("%s banned %s", who, target);
  if (g_strcmp0 (membership, "leave") == 0)
    return g_strdup_printf ("%s removed %s", who, target);
  return g_strdup_printf ("%s changed the membership of %s", who, target);
}

static void
print_event (LineClient *client,
             OmEvent    *event)
{
  g_autoptr(GDateTime) time = NULL;
  g_autofree char *day = NULL;
  g_autofree char *when = NULL;
  g_autofree char *name = NULL;
  g_autofree char *who = NULL;
  g_autofree char *body = NULL;
  const char *type = om_event_get_event_type (event);
  const char *msgtype = om_event_get_msgtype (event);

  if (g_hash_table_contains (client->printed, event))
    return;
  g_hash_table_add (client->printed, g_object_ref (event));

  time = g_date_time_new_from_unix_local (om_event_get_origin_server_ts (event) / 1000);
  if (time != NULL)
    {
      day = g_date_time_format (time, "%A %e %B %Y");
      if (g_strcmp0 (day, client->last_day) != 0)
        {
          say ("--- %s ---", day);
          g_free (client->last_day);
          client->last_day = g_strdup (day);
        }
    }
  when = time ? g_date_time_format (time, "%H:%M") : g_strdup ("--:--");
  name = om_room_dup_member_display_name (client->room, om_event_get_sender (event));
  who = om_tui_sanitize (name, NULL);

  if (g_strcmp0 (type, "m.room.message") == 0 && om_event_get_body (event) != NULL)
    {
      body = om_tui_sanitize (om_event_get_body (event), "\n        ");
      if (g_strcmp0 (msgtype, "m.emote") == 0)
        say ("[%s] * %s %s", when, who, body);
      else if (g_strcmp0 (msgtype, "m.notice") == 0)
        say ("[%s] -%s- %s", when, who, body);
      else
        say ("[%s] <%s> %s", when, who, body);
    }
  else if (g_strcmp0 (type, "m.room.member") == 0)
    {
      body = describe_membership (client, event, who);
      say ("[%s] -- %s", when, body);
    }
  else if (g_strcmp0 (type, "m.room.topic") == 0)
    {
      body = om_tui_sanitize (om_event_get_content_string (event, "topic"), " ");
      say ("[%s] -- %s set the topic: %s", when, who, body);
    }
  else if (g_strcmp0 (type, "m.room.name") == 0)
    {
      body = om_tui_sanitize (om_event_get_content_string (event, "name"), " ");
      say ("[%s] -- %s renamed the room: %s", when, who, body);
    }
}

static void
echo_state_cb (OmEvent    *echo,
               GParamSpec *pspec,
               LineClient *client)
{
  if (om_event_get_send_state (echo) == OM_SEND_STATE_FAILED)
    {
      g_autofree char *reason = om_tui_sanitize (om_event_get_send_error (echo), " ");
      say ("!! not sent: %s", reason);
    }
}

static void
timeline_items_changed_cb (GListModel *model,
                           guint       position,
                           guint       removed,
                           guint       added,
                           LineClient *client)
{
  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (model, i);

      print_event (client, event);
    }
}

static void
open_room (LineClient *client,
           OmRoom     *room)
{
  g_autofree char *name = NULL;
  g_autofree char *topic = NULL;
  guint n, first;

  if (client->timeline != NULL)
    g_signal_handlers_disconnect_by_data (client->timeline, client);
  g_set_object (&client->room, room);
  client->timeline = om_room_get_timeline (room);

  name = om_tui_sanitize (om_room_get_display_name (room), NULL);
  topic = om_tui_sanitize (om_room_get_topic (room), " ");
  say ("== %s%s%s", name, *topic ? " — " : "", topic);

  n = g_list_model_get_n_items (G_LIST_MODEL (client->timeline));
  first = n > client->options->history ? n - client->options->history : 0;
  for (guint i = first; i < n; i++)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (G_LIST_MODEL (client->timeline), i);
      print_event (client, event);
    }
  g_signal_connect (client->timeline, "items-changed",
                    G_CALLBACK (timeline_items_changed_cb), client);
  om_room_mark_read (room);
}

static OmRoom *
pick_room (LineClient *client,
           const char *wanted)
{
  GListModel *rooms = G_LIST_MODEL (om_session_get_room_list (client->session));

  if (wanted != NULL)
    return om_session_lookup_room (client->session, wanted);

  for (guint i = 0; i < g_list_model_get_n_items (rooms); i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, i);

      if (om_room_get_membership (room) == OM_MEMBERSHIP_JOIN && !om_room_get_is_space (room))
        return room;
    }
  return NULL;
}

static void
list_rooms (LineClient *client)
{
  GListModel *rooms = G_LIST_MODEL (om_session_get_room_list (client->session));

  for (guint i = 0; i < g_list_model_get_n_items (rooms); i++)
    {
      g_autoptr(OmRoom) room = g_list_model_get_item (rooms, i);
      g_autofree char *name = om_tui_sanitize (om_room_get_display_name (room), NULL);
      const char *alias = om_room_get_canonical_alias (room);

      say ("   %s%s  %s%s%s", om_room_get_membership (room) == OM_MEMBERSHIP_INVITE ? "(invite) " : "",
           name, alias ? alias : om_room_get_room_id (room),
           om_room_get_unread_count (room) ? "  *" : "",
           om_room_get_is_space (room) ? "  [space]" : "");
    }
}

static gboolean
drain_timeout_cb (gpointer user_data)
{
  LineClient *client = user_data;

  client->drain_id = 0;
  say ("!! %u message(s) still queued; they will be sent next time",
       om_outbox_get_n_pending (om_session_get_outbox (client->session)));
  quit (client, 0);
  return G_SOURCE_REMOVE;
}

static void
maybe_finish (LineClient *client)
{
  OmOutbox *outbox = om_session_get_outbox (client->session);

  if (!client->input_done)
    return;
  if (om_outbox_get_n_pending (outbox) == 0)
    {
      quit (client, 0);
      return;
    }
  if (client->drain_id == 0)
    client->drain_id = g_timeout_add (DRAIN_TIMEOUT_MS, drain_timeout_cb, client);
}

static void
pending_changed_cb (GObject    *outbox,
                    GParamSpec *pspec,
                    LineClient *client)
{
  maybe_finish (client);
}

static void
join_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = om_session_join_room_finish (OM_SESSION (source), result, &error);

  if (room_id == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        say ("!! could not join: %s", error->message);
      return;
    }
  say ("-- joined %s; /room %s to open it once it has synced", room_id, room_id);
}

static void
logout_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(GError) error = NULL;

  if (!om_session_logout_finish (OM_SESSION (source), result, &error))
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");

      say ("!! could not log out: %s", clean);
      quit (client, 1);
      return;
    }
  say ("-- logged out; this device and its saved sign-in are gone");
  quit (client, 0);
}

static void
handle_line (LineClient *client,
             const char *line)
{
  if (line[0] == '\0')
    return;

  if (g_str_equal (line, "/logout"))
    {
      g_signal_handlers_disconnect_by_func (client->session, signed_out_cb, client);
      om_session_logout_async (client->session, client->cancellable, logout_cb, client);
      return;
    }
  if (g_str_has_prefix (line, "/quit"))
    {
      client->input_done = TRUE;
      maybe_finish (client);
      return;
    }
  if (g_str_equal (line, "/rooms"))
    {
      list_rooms (client);
      return;
    }
  if (g_str_has_prefix (line, "/room "))
    {
      OmRoom *room = om_session_lookup_room (client->session, line + 6);

      if (room == NULL)
        say ("!! no such room here: %s", line + 6);
      else
        open_room (client, room);
      return;
    }
  if (g_str_has_prefix (line, "/join "))
    {
      om_session_join_room_async (client->session, line + 6, client->cancellable, join_cb, client);
      return;
    }
  if (client->room == NULL)
    {
      say ("!! no room open: /rooms lists them, /room <id or alias> opens one");
      return;
    }
  if (g_str_has_prefix (line, "/me "))
    {
      om_room_send_message (client->room, "m.emote", line + 4);
      return;
    }
  if (g_str_has_prefix (line, "/notice "))
    {
      om_room_send_message (client->room, "m.notice", line + 8);
      return;
    }
  if (line[0] == '/' && line[1] != '/')
    {
      say ("!! unknown command; commands: /rooms /room /join /me /notice /logout /quit (// sends a literal /)");
      return;
    }

  {
    OmEvent *echo = om_room_send_message (client->room, "m.text", line[0] == '/' ? line + 1 : line);

    if (echo != NULL)
      g_signal_connect (echo, "notify::send-state", G_CALLBACK (echo_state_cb), client);
  }
}

static void
read_line_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gsize length;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                    &length, &error);
  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  client->reading = FALSE;
  if (client->awaiting_paste)
    {
      /* Until signed in, lines are URLs pasted back; at the end of the
       * input (or a failed read), the browser may still come back to the
       * listener. */
      if (error != NULL)
        say ("!! could not read that line: %s", error->message);
      else if (line != NULL && !handle_pasted_url (client, line))
        read_next_line (client);
      return;
    }
  if (error != NULL)
    {
      /* A line that is not UTF-8 is skipped, with a word; any other read
       * failure ends the input. */
      gboolean bad_line = error->domain == G_CONVERT_ERROR ||
                          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);

      say ("!! could not read that line: %s", error->message);
      if (!bad_line)
        {
          client->input_done = TRUE;
          maybe_finish (client);
          return;
        }
      read_next_line (client);
      return;
    }
  if (line == NULL)
    {
      client->input_done = TRUE;
      maybe_finish (client);
      return;
    }

  g_strchomp (line);
  handle_line (client, line);
  if (!client->input_done)
    read_next_line (client);
}

static void
read_next_line (LineClient *client)
{
  client->reading = TRUE;
  g_data_input_stream_read_line_async (client->input, G_PRIORITY_DEFAULT,
                                       client->cancellable, read_line_cb, client);
}

static void
first_sync_cb (OmSession  *session,
               gboolean    initial,
               LineClient *client)
{
  OmRoom *room;

  g_signal_handlers_disconnect_by_func (session, first_sync_cb, client);

  room = pick_room (client, client->options->room);
  if (room != NULL)
    open_room (client, room);
  else if (client->options->room != NULL)
    say ("!! %s is not one of your rooms; /rooms lists them, /join joins", client->options->room);
  else
    say ("-- no rooms yet; /join <#alias:server> joins one");

  /* Reading may have gone on during an SSO sign-in. */
  if (!client->reading)
    read_next_line (client);
}

static void
signed_out_cb (OmSession    *session,
               const GError *error,
               LineClient   *client)
{
  g_autofree char *clean = om_tui_sanitize (error->message, " ");

  /* A soft logout keeps this device and what it stored: sign in again,
   * the way this run signed in. */
  if (om_error_is_soft_logout (error))
    {
      say ("!! the sign-in expired (%s); signing in again", clean);
      if (client->options->user == NULL)
        client->options->user = g_strdup (om_session_get_user_id (session));
      if (client->options->homeserver == NULL)
        client->options->homeserver = g_strdup (om_session_get_homeserver (session));
      if (client->options->sso)
        sign_in_with_sso (client);
      else
        choose_sign_in (client);
      return;
    }
  say ("!! signed out by the server: %s", clean);
  quit (client, 1);
}

static void
state_cb (OmSession  *session,
          GParamSpec *pspec,
          LineClient *client)
{
  const char *error = om_session_get_sync_error (session);

  if (om_session_get_state (session) == OM_SESSION_STATE_OFFLINE && error != NULL)
    {
      g_autofree char *clean = om_tui_sanitize (error, " ");
      say ("-- connection problem, retrying: %s", clean);
    }
  else if (om_session_get_state (session) == OM_SESSION_STATE_ONLINE)
    say ("-- connected");
}

static void
signed_in (LineClient *client)
{
  if (client->signed_in_once)
    {
      /* Signed in again after a soft logout: the rest is wired up. */
      om_session_start (client->session);
      return;
    }
  client->signed_in_once = TRUE;
  /* Rooms restored from the store can be shown at once: the first sync
   * from a stored position may be a long-poll that only ends with news. */
  if (g_list_model_get_n_items (G_LIST_MODEL (om_session_get_room_list (client->session))) > 0)
    first_sync_cb (client->session, FALSE, client);
  else
    g_signal_connect (client->session, "synced", G_CALLBACK (first_sync_cb), client);
  g_signal_connect (client->session, "signed-out", G_CALLBACK (signed_out_cb), client);
  g_signal_connect (client->session, "notify::state", G_CALLBACK (state_cb), client);
  g_signal_connect (om_session_get_outbox (client->session), "notify::n-pending",
                    G_CALLBACK (pending_changed_cb), client);
  om_session_start (client->session);
}

/* Goes on after any kind of sign-in finished. */
static void
login_done (LineClient *client,
            gboolean    ok,
            GError     *error)
{
  if (!ok)
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");
      say ("!! sign-in failed: %s", clean);
      quit (client, 1);
      return;
    }

  say ("-- signed in as %s", om_session_get_user_id (client->session));
  signed_in (client);
}

static void
login_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  /* The password has done its work; do not keep it around (signing in
   * again after a soft logout asks anew). */
  explicit_bzero (client->options->password, strlen (client->options->password));
  g_clear_pointer (&client->options->password, g_free);

  ok = om_session_login_password_finish (OM_SESSION (source), result, &error);
  login_done (client, ok, error);
}

static void
sso_done (LineClient *client)
{
  client->awaiting_paste = FALSE;
  g_clear_object (&client->sso_listener);
}

static void
sso_login_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  ok = om_session_login_sso_finish (OM_SESSION (source), result, &error);
  /* Cancelled: a pasted URL won, or the client is quitting. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  sso_done (client);
  login_done (client, ok, error);
}

/* The end of a sign-in with nothing of its own to clean up. */
static void
signed_in_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  ok = om_session_login_finish (OM_SESSION (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  login_done (client, ok, error);
}

/* A line typed while waiting for the browser: the URL it ended on, pasted
 * over SSH.  TRUE when it carried a login token, which then signs in in
 * place of the listener. */
static gboolean
handle_pasted_url (LineClient *client,
                   char       *line)
{
  g_autoptr(GError) error = NULL;
  char *token;

  if (g_strstrip (line)[0] == '\0')
    return FALSE;
  token = om_sso_parse_pasted_url (line, om_sso_listener_get_state (client->sso_listener), &error);
  explicit_bzero (line, strlen (line));
  if (token == NULL)
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");
      say ("!! not a sign-in URL: %s; paste the whole URL the browser ended on", clean);
      return FALSE;
    }

  g_cancellable_cancel (client->sso_cancellable);
  sso_done (client);
  om_session_login_token_async (client->session, client->options->homeserver, token,
                                client->cancellable, signed_in_cb, client);
  explicit_bzero (token, strlen (token));
  g_free (token);
  return TRUE;
}

/* Prints where to sign in, then waits for the browser on the loopback
 * listener and for a pasted URL on stdin, whichever comes first. */
static void
start_sso (LineClient *client,
           const char *idp_id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  client->sso_listener = om_sso_listener_new (&error);
  if (client->sso_listener == NULL)
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");
      say ("!! cannot wait for the browser: %s", clean);
      quit (client, 1);
      return;
    }
  url = om_sso_build_redirect_url (client->options->homeserver, idp_id,
                                   om_sso_listener_get_redirect_url (client->sso_listener));
  say ("-- to sign in, open this URL in a browser:");
  say ("%s", url);
  print_qr (url);
  say ("-- waiting for the browser; if it runs on another machine, paste here the URL it ended on");

  client->sso_cancellable = g_cancellable_new ();
  om_session_login_sso_async (client->session, client->options->homeserver,
                              client->sso_listener, client->sso_cancellable,
                              sso_login_cb, client);
  client->awaiting_paste = TRUE;
  read_next_line (client);
}

static void
login_flows_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(OmLoginFlows) flows = NULL;
  GPtrArray *idps;
  const OmIdentityProvider *first;

  flows = om_discovery_get_login_flows_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (flows == NULL)
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");
      say ("!! cannot ask %s how to sign in: %s", client->options->homeserver, clean);
      quit (client, 1);
      return;
    }
  /* MSC3824: SSO here is a compatibility layer; go to the source. */
  if (om_login_flows_get_oauth_aware_preferred (flows))
    {
      say ("-- the server prefers signing in through its authorization server");
      sign_in_with_oidc (client, NULL);
      return;
    }
  if (!om_login_flows_has_type (flows, "m.login.sso"))
    {
      say ("!! %s does not offer single sign-on", client->options->homeserver);
      quit (client, 1);
      return;
    }

  if (client->options->sso_idp != NULL)
    {
      start_sso (client, client->options->sso_idp);
      return;
    }
  idps = om_login_flows_get_identity_providers (flows);
  if (idps->len == 0)
    {
      start_sso (client, NULL);
      return;
    }
  first = g_ptr_array_index (idps, 0);
  if (idps->len > 1)
    {
      say ("-- identity providers (choose one with --sso=ID):");
      for (guint i = 0; i < idps->len; i++)
        {
          const OmIdentityProvider *idp = g_ptr_array_index (idps, i);
          g_autofree char *id = om_tui_sanitize (idp->id, " ");
          g_autofree char *name = om_tui_sanitize (idp->name, " ");

          say ("   %s  %s", id, name);
        }
      {
        g_autofree char *id = om_tui_sanitize (first->id, " ");

        say ("-- using %s", id);
      }
    }
  start_sso (client, first->id);
}

static void
sign_in_with_sso (LineClient *client)
{
  OmTuiLineOptions *options = client->options;
  g_autoptr(OmHttp) http = NULL;

  if (options->homeserver == NULL)
    {
      fprintf (stderr, "openmeet-tui: a homeserver is needed "
                       "(--homeserver URL, or OPENMEET_HOMESERVER)\n");
      quit (client, 2);
      return;
    }
  say ("-- signing in to %s with single sign-on", options->homeserver);
  /* With a chosen provider too, the flows tell whether SSO is the way
   * (oauth_aware_preferred), so they are always asked for. */
  http = om_http_new (options->homeserver);
  om_discovery_get_login_flows_async (http, client->cancellable, login_flows_cb, client);
}

/* ---- native OIDC ---- */

/* Prints @text as a QR code when the terminal is big enough. */
static void
print_qr (const char *text)
{
  struct winsize ws = { 0 };
  int columns = 80, rows = 24;
  g_autofree char *qr = NULL;
  OmTuiQrStyle style = OM_TUI_QR_UTF8_HALF_BLOCKS;

  if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
    {
      columns = ws.ws_col;
      rows = ws.ws_row;
    }
  if (!g_get_charset (NULL))
    style = OM_TUI_QR_ASCII;
  /* Leave room for the lines around it. */
  if (!om_tui_qr_fits (text, style, columns, rows - 4))
    return;
  qr = om_tui_qr_render (text, style, NULL);
  if (qr != NULL)
    {
      fputs (qr, stdout);
      fflush (stdout);
    }
}

/* No browser here: an SSH session, or no display at all. */
static gboolean
is_remote (void)
{
  return g_getenv ("SSH_CONNECTION") != NULL || g_getenv ("SSH_TTY") != NULL ||
         (g_getenv ("DISPLAY") == NULL && g_getenv ("WAYLAND_DISPLAY") == NULL);
}

static void
oidc_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  ok = om_session_login_finish (OM_SESSION (source), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&client->sso_listener);
  login_done (client, ok, error);
  if (ok && om_session_get_account_management_uri (client->session) != NULL)
    {
      g_autofree char *clean = om_tui_sanitize (om_session_get_account_management_uri (client->session), " ");

      say ("-- your account: %s", clean);
    }
}

static void
show_code_cb (const OmOAuthDeviceGrant *grant,
              gpointer                  user_data)
{
  g_autofree char *uri = om_tui_sanitize (grant->verification_uri, " ");
  g_autofree char *code = om_tui_sanitize (grant->user_code, " ");

  say ("-- to sign in, open %s in a browser on any device and enter the code", uri);
  say ("   %s", code);
  if (grant->verification_uri_complete != NULL)
    {
      g_autofree char *complete = om_tui_sanitize (grant->verification_uri_complete, " ");

      say ("-- or scan this code with a phone (it opens %s):", complete);
      print_qr (grant->verification_uri_complete);
    }
  say ("-- waiting for the sign-in to be approved…");
}

static void
open_uri_cb (const char *uri,
             gpointer    user_data)
{
  g_autofree char *clean = om_tui_sanitize (uri, " ");
  g_autoptr(GError) error = NULL;

  say ("-- to sign in, open this URL in a browser:");
  say ("%s", clean);
  print_qr (uri);
  if (!is_remote () && !g_app_info_launch_default_for_uri (uri, NULL, &error))
    g_debug ("Could not open a browser: %s", error->message);
  say ("-- waiting for the browser…");
}

static void
sign_in_with_oidc (LineClient    *client,
                   OmOAuthServer *server)
{
  OmTuiLineOptions *options = client->options;
  OmSessionSignInFlags flags = options->admin ? OM_SESSION_SIGN_IN_ADMIN : OM_SESSION_SIGN_IN_NONE;
  gboolean device;

  if (g_strcmp0 (options->oidc_mode, "device") == 0)
    device = TRUE;
  else if (g_strcmp0 (options->oidc_mode, "browser") == 0)
    device = FALSE;
  else
    device = is_remote () && (server == NULL || om_oauth_server_supports_device_grant (server));

  say ("-- signing in to %s through its authorization server", options->homeserver);
  if (device)
    {
      om_session_login_device_async (client->session, options->homeserver, server, flags,
                                     show_code_cb, client, client->cancellable, oidc_done_cb, client);
      return;
    }

  {
    g_autoptr(GError) error = NULL;

    g_clear_object (&client->sso_listener);
    client->sso_listener = om_sso_listener_new_oauth (&error);
    if (client->sso_listener == NULL)
      {
        g_autofree char *clean = om_tui_sanitize (error->message, " ");

        say ("!! cannot wait for the browser: %s", clean);
        quit (client, 1);
        return;
      }
  }
  om_session_login_oauth_async (client->session, options->homeserver, server, client->sso_listener,
                                flags, open_uri_cb, client, client->cancellable, oidc_done_cb, client);
}

static void
discover_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(OmOAuthServer) server = NULL;
  g_autoptr(GError) error = NULL;

  server = om_oauth_discover_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (server != NULL)
    {
      sign_in_with_oidc (client, server);
      return;
    }
  if (error != NULL && om_error_is_transient (error) && client->discover_failures < 5)
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");

      client->discover_failures++;
      say ("-- cannot ask how to sign in yet (%s); trying again", clean);
      g_timeout_add_once (2000 * client->discover_failures, (GSourceOnceFunc) choose_sign_in, client);
      return;
    }
  if (error != NULL)
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");

      say ("!! cannot ask how to sign in: %s", clean);
      quit (client, 1);
      return;
    }
  client->discover_failures = 0;
  if (client->options->oidc)
    {
      say ("!! %s does not offer sign-in through an authorization server", client->options->homeserver);
      quit (client, 1);
      return;
    }
  sign_in_with_password (client);
}

/* Without a saved sign-in: the authorization server when the homeserver
 * delegates sign-in to one (native OIDC is preferred then), else the
 * password. */
static void
choose_sign_in (LineClient *client)
{
  g_autoptr(OmHttp) http = NULL;

  if (client->options->homeserver == NULL)
    {
      sign_in_with_password (client);  /* says what is missing */
      return;
    }
  http = om_http_new (client->options->homeserver);
  om_oauth_discover_async (http, client->cancellable, discover_cb, client);
}

/* ---- an access token in hand (admins) ---- */

static void
sign_in_with_access_token (LineClient *client)
{
  OmTuiLineOptions *options = client->options;

  if (options->homeserver == NULL)
    {
      fprintf (stderr, "openmeet-tui: a homeserver is needed "
                       "(--homeserver URL, or OPENMEET_HOMESERVER)\n");
      quit (client, 2);
      return;
    }
  say ("-- signing in to %s with an access token", options->homeserver);
  om_session_login_access_token_async (client->session, options->homeserver, options->access_token,
                                       client->cancellable, signed_in_cb, client);
  /* The session has it now; this copy goes. */
  explicit_bzero (options->access_token, strlen (options->access_token));
}

static void
sign_in_with_password (LineClient *client)
{
  OmTuiLineOptions *options = client->options;

  if (options->homeserver == NULL || options->user == NULL)
    {
      fprintf (stderr, "openmeet-tui: a homeserver and a user are needed "
                       "(--homeserver URL --user NAME, or OPENMEET_HOMESERVER and OPENMEET_USER)\n");
      quit (client, 2);
      return;
    }
  if (options->password == NULL && options->ask_password != NULL)
    options->password = options->ask_password (options->ask_password_data);
  if (options->password == NULL)
    {
      fprintf (stderr, "openmeet-tui: no password given\n");
      quit (client, 2);
      return;
    }

  say ("-- signing in to %s", options->homeserver);
  om_session_login_password_async (client->session, options->homeserver, options->user,
                                   options->password, client->cancellable, login_cb, client);
}

static void
restore_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  LineClient *client = user_data;
  g_autoptr(GError) error = NULL;

  if (om_session_restore_saved_finish (OM_SESSION (source), result, &error))
    {
      say ("-- signed in as %s (saved sign-in)", om_session_get_user_id (client->session));
      signed_in (client);
      return;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (error != NULL)
    {
      g_autofree char *clean = om_tui_sanitize (error->message, " ");
      say ("!! could not use the saved sign-in: %s", clean);
    }
  choose_sign_in (client);
}

/* From the loop, so that a failure can quit it. */
static void
start_cb (gpointer user_data)
{
  LineClient *client = user_data;
  OmTuiLineOptions *options = client->options;

  /* Asking for a way to sign in asks for a new sign-in. */
  if (options->access_token != NULL)
    sign_in_with_access_token (client);
  else if (options->sso)
    sign_in_with_sso (client);
  else if (options->oidc && options->homeserver != NULL)
    sign_in_with_oidc (client, NULL);
  else if (options->store_secrets)
    om_session_restore_saved_async (client->session, options->homeserver, options->user,
                                    client->cancellable, restore_cb, client);
  else
    choose_sign_in (client);
}

static gboolean
signal_cb (gpointer user_data)
{
  LineClient *client = user_data;

  quit (client, 130);
  return G_SOURCE_CONTINUE;
}

int
om_tui_line_run (OmTuiLineOptions *options)
{
  LineClient client = { 0 };
  g_autoptr(GInputStream) stdin_stream = NULL;
  guint sigint_id, sigterm_id;

  client.options = options;
  client.loop = g_main_loop_new (NULL, FALSE);
  client.session = om_session_new (options->data_dir);
  client.cancellable = g_cancellable_new ();
  client.printed = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  stdin_stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  client.input = g_data_input_stream_new (stdin_stream);

  sigint_id = g_unix_signal_add (SIGINT, signal_cb, &client);
  sigterm_id = g_unix_signal_add (SIGTERM, signal_cb, &client);

  om_session_set_store_secrets (client.session, options->store_secrets);
  g_idle_add_once (start_cb, &client);
  g_main_loop_run (client.loop);

  g_cancellable_cancel (client.cancellable);
  if (client.sso_cancellable != NULL)
    g_cancellable_cancel (client.sso_cancellable);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_clear_handle_id (&client.drain_id, g_source_remove);
  if (client.timeline != NULL)
    g_signal_handlers_disconnect_by_data (client.timeline, &client);
  if (om_session_get_outbox (client.session) != NULL)
    g_signal_handlers_disconnect_by_data (om_session_get_outbox (client.session), &client);
  g_signal_handlers_disconnect_by_data (client.session, &client);
  om_session_stop (client.session);

  /* Let cancelled transfers finish their callbacks before tearing down. */
  while (g_main_context_iteration (NULL, FALSE))
    ;

  g_clear_object (&client.room);
  g_clear_object (&client.input);
  g_clear_object (&client.session);
  g_clear_object (&client.cancellable);
  g_clear_object (&client.sso_cancellable);
  g_clear_object (&client.sso_listener);
  g_clear_pointer (&client.printed, g_hash_table_unref);
  g_free (client.last_day);
  g_main_loop_unref (client.loop);

  return client.status;
}
