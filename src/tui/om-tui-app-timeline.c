/* om-tui-app-timeline.c — the full-screen client's view of the open room
 *
 * The timeline is laid out from the newest event up, into screen lines
 * (runs of styled, sanitised text), only as far as the view needs: the
 * rows on screen plus how far it is scrolled back.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include <ncursesw/curses.h>
#include <string.h>

#include "om-event.h"
#include "om-timeline.h"
#include "om-tui-app-timeline.h"
#include "om-tui-cells.h"
#include "om-tui-text.h"

/* Events asked for when scrolling back past the oldest loaded one. */
#define LOAD_OLDER_LIMIT 50
/* Sender names are cut to this share of the timeline's width. */
#define SENDER_SHARE 3
/* "seen by" names this many readers, then counts the others. */
#define SEEN_BY_NAMES 2

typedef enum {
  STYLE_NORMAL,
  STYLE_DIM,
  STYLE_FAILED,
  STYLE_SENDER,        /* + the sender's colour index */
} Style;

#define N_SENDER_COLOURS 6
#define PAIR_FAILED      (N_SENDER_COLOURS + 1)

typedef struct {
  char *text;          /* owned, sanitised, fits its line */
  int   style;
} Segment;

/* One screen line of the timeline: a GArray of Segment. */
typedef GArray Line;

struct _OmTuiAppTimeline {
  OmSession               *session;        /* borrowed */
  GCancellable            *cancellable;    /* borrowed */
  OmTuiAppTimelineChanged  changed;
  gpointer                 user_data;
  OmRoom                  *room;           /* owned ref, nullable */
  GHashTable              *watched_events; /* OmEvent* (owned ref) whose send-state we follow */
  int                      scroll;         /* lines scrolled back from the bottom */
  int                      max_scroll;     /* -1: unknown (more lines than were laid out) */
  int                      page;           /* rows at the last draw */
  gboolean                 has_colours;
};

/* ---- lines ---- */

static void
segment_clear (gpointer data)
{
  Segment *segment = data;

  g_free (segment->text);
}

static Line *
line_new (void)
{
  Line *line = g_array_new (FALSE, TRUE, sizeof (Segment));

  g_array_set_clear_func (line, segment_clear);
  return line;
}

/* Appends sanitised @text; the line's drawing cuts it to the pane. */
static void
line_add (Line       *line,
          const char *text,
          int         style)
{
  Segment segment = { g_strdup (text), style };

  g_array_append_val (line, segment);
}

static int
sender_style (const char *user_id)
{
  return STYLE_SENDER + (int) (g_str_hash (user_id != NULL ? user_id : "") % N_SENDER_COLOURS);
}

static void
apply_style (OmTuiAppTimeline *self,
             int               style,
             gboolean          on)
{
  attr_t attrs = A_NORMAL;
  short pair = 0;

  if (style == STYLE_DIM)
    attrs = A_DIM;
  else if (style == STYLE_FAILED)
    {
      attrs = A_BOLD;
      pair = self->has_colours ? PAIR_FAILED : 0;
    }
  else if (style >= STYLE_SENDER)
    {
      attrs = A_BOLD;
      pair = self->has_colours ? (short) (style - STYLE_SENDER + 1) : 0;
    }
  if (on)
    attr_set (attrs, pair, NULL);
  else
    attr_set (A_NORMAL, 0, NULL);
}

static void
draw_line (OmTuiAppTimeline *self,
           Line             *line,
           int               row,
           int               column,
           int               cells)
{
  move (row, column);
  for (guint i = 0; i < line->len && cells > 0; i++)
    {
      Segment *segment = &g_array_index (line, Segment, i);

      apply_style (self, segment->style, TRUE);
      cells -= om_tui_cells_put (segment->text, cells);
      apply_style (self, segment->style, FALSE);
    }
}

/* ---- the timeline as lines ---- */

char *
om_tui_app_dup_member_name (OmRoom     *room,
                            const char *user_id,
                            int         cells)
{
  g_autofree char *name = om_room_dup_member_display_name (room, user_id != NULL ? user_id : "");
  g_autofree char *clean = om_tui_sanitize (name, NULL);

  return om_tui_cells_fit (clean, MAX (cells, 4), NULL);
}

static char *
describe_membership (OmRoom     *room,
                     OmEvent    *event,
                     const char *who)
{
  const char *membership = om_event_get_content_string (event, "membership");
  const char *target_id = om_event_get_state_key (event);
  g_autofree char *target = om_tui_app_dup_member_name (room, target_id, 40);

  if (g_strcmp0 (target_id, om_event_get_sender (event)) == 0)
    {
      if (g_strcmp0 (membership, "join") == 0)
        return g_strdup_printf ("%s joined", who);
      if (g_strcmp0 (membership, "leave") == 0)
        return g_strdup_printf ("%s left", who);
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
send_state_cb (OmEvent          *event,
               GParamSpec       *pspec,
               OmTuiAppTimeline *self)
{
  self->changed (self->user_data);
}

/* Our own messages say where they stand. */
static void
add_marker (OmTuiAppTimeline *self,
            OmEvent          *event,
            GPtrArray        *lines,
            int               cells)
{
  OmSendState state = om_event_get_send_state (event);
  g_autofree char *marker = NULL;
  Line *last = g_ptr_array_index (lines, lines->len - 1);
  int used = 0;

  if (state == OM_SEND_STATE_NONE)
    return;
  if (!g_hash_table_contains (self->watched_events, event))
    {
      g_hash_table_add (self->watched_events, g_object_ref (event));
      g_signal_connect (event, "notify::send-state", G_CALLBACK (send_state_cb), self);
    }

  switch (state)
    {
    case OM_SEND_STATE_QUEUED:
      marker = g_strdup (" (queued)");
      break;
    case OM_SEND_STATE_SENDING:
      marker = g_strdup (" (sending)");
      break;
    case OM_SEND_STATE_SENT:
      marker = g_strdup (" ✓");
      break;
    case OM_SEND_STATE_FAILED:
      {
        g_autofree char *reason = om_tui_sanitize (om_event_get_send_error (event), " ");

        marker = g_strdup_printf (" ✗ not sent: %s", reason);
      }
      break;
    case OM_SEND_STATE_NONE:
    default:
      g_assert_not_reached ();
    }

  for (guint i = 0; i < last->len; i++)
    used += om_tui_cells_width (g_array_index (last, Segment, i).text);
  if (used + om_tui_cells_width (marker) > cells)
    {
      last = line_new ();
      line_add (last, "      ", STYLE_NORMAL);
      g_ptr_array_add (lines, last);
    }
  line_add (last, marker, state == OM_SEND_STATE_FAILED ? STYLE_FAILED : STYLE_DIM);
}

/* The screen lines of @event in @cells cells, top first, or NULL when
 * it is not shown. */
static GPtrArray *
event_lines (OmTuiAppTimeline *self,
             OmRoom           *room,
             OmEvent          *event,
             int               cells)
{
  const char *type = om_event_get_event_type (event);
  const char *msgtype = om_event_get_msgtype (event);
  const char *sender = om_event_get_sender (event);
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_local (om_event_get_origin_server_ts (event) / 1000);
  g_autofree char *when = time != NULL ? g_date_time_format (time, "%H:%M") : g_strdup ("--:--");
  g_autofree char *who = om_tui_app_dup_member_name (room, sender, cells / SENDER_SHARE);
  g_autofree char *body = NULL;
  g_autoptr(GPtrArray) wrapped = NULL;
  GPtrArray *lines;
  const char *before = "";
  const char *after = ": ";
  int style = STYLE_NORMAL;
  int indent;
  Line *first;

  if (g_strcmp0 (type, "m.room.message") == 0 && om_event_get_body (event) != NULL)
    {
      body = om_tui_sanitize (om_event_get_body (event), " ");
      if (g_strcmp0 (msgtype, "m.emote") == 0)
        {
          before = "* ";
          after = " ";
        }
      else if (g_strcmp0 (msgtype, "m.notice") == 0)
        {
          before = "-";
          after = "- ";
          style = STYLE_DIM;
        }
    }
  else if (g_strcmp0 (type, "m.room.member") == 0)
    {
      body = describe_membership (room, event, who);
      g_clear_pointer (&who, g_free);
      style = STYLE_DIM;
    }
  else if (g_strcmp0 (type, "m.room.topic") == 0 || g_strcmp0 (type, "m.room.name") == 0)
    {
      gboolean topic = g_strcmp0 (type, "m.room.topic") == 0;
      g_autofree char *value = om_tui_sanitize (om_event_get_content_string (event, topic ? "topic" : "name"), " ");

      body = g_strdup_printf ("%s %s: %s", who, topic ? "set the topic" : "renamed the room", value);
      g_clear_pointer (&who, g_free);
      style = STYLE_DIM;
    }
  else
    return NULL;

  lines = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  first = line_new ();
  line_add (first, when, STYLE_DIM);
  line_add (first, " ", STYLE_NORMAL);
  /* Continuation lines start under the body, after the time. */
  indent = om_tui_cells_width (when) + 1;
  if (who != NULL)
    {
      line_add (first, before, STYLE_NORMAL);
      line_add (first, who, sender_style (sender));
      line_add (first, after, STYLE_NORMAL);
    }
  else
    line_add (first, "-- ", STYLE_DIM);

  {
    int header = 0;

    for (guint i = 0; i < first->len; i++)
      header += om_tui_cells_width (g_array_index (first, Segment, i).text);
    wrapped = om_tui_cells_wrap (body, cells - indent, header - indent);
  }
  line_add (first, g_ptr_array_index (wrapped, 0), style);
  g_ptr_array_add (lines, first);
  for (guint i = 1; i < wrapped->len; i++)
    {
      Line *line = line_new ();
      g_autofree char *pad = g_strnfill (indent, ' ');

      line_add (line, pad, STYLE_NORMAL);
      line_add (line, g_ptr_array_index (wrapped, i), style);
      g_ptr_array_add (lines, line);
    }

  if (g_strcmp0 (sender, om_session_get_user_id (self->session)) == 0)
    add_marker (self, event, lines, cells);
  return lines;
}

static char *
dup_day (OmEvent *event)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_local (om_event_get_origin_server_ts (event) / 1000);

  return time != NULL ? g_date_time_format (time, "%A %e %B %Y") : g_strdup ("");
}

static Line *
separator_line (const char *day,
                int         cells)
{
  Line *line = line_new ();
  g_autofree char *squeezed = g_strdup (day);
  g_autofree char *text = NULL;

  /* "%e" pads with a space: "Monday  2 March". */
  while (strstr (squeezed, "  ") != NULL)
    memmove (strstr (squeezed, "  "), strstr (squeezed, "  ") + 1, strlen (strstr (squeezed, "  ")));
  text = g_strdup_printf ("── %s ──", squeezed);
  {
    int width = om_tui_cells_width (text);
    g_autofree char *pad = g_strnfill (MAX (0, (cells - width) / 2), ' ');

    line_add (line, pad, STYLE_NORMAL);
  }
  line_add (line, text, STYLE_DIM);
  return line;
}

/* The dim, right-aligned "seen by Bob, Carol and 3 others" line for
 * @readers (user IDs, not empty). */
static Line *
seen_by_line (OmRoom    *room,
              GPtrArray *readers,
              int        cells)
{
  Line *line = line_new ();
  g_autoptr(GString) text = g_string_new ("seen by ");
  guint named = readers->len <= SEEN_BY_NAMES + 1 ? readers->len : SEEN_BY_NAMES;
  g_autofree char *fit = NULL;
  int used = 0;

  for (guint i = 0; i < named; i++)
    {
      g_autofree char *name = om_tui_app_dup_member_name (room, g_ptr_array_index (readers, i),
                                                          cells / SENDER_SHARE);

      if (i > 0)
        g_string_append (text, i + 1 == readers->len ? " and " : ", ");
      g_string_append (text, name);
    }
  if (named < readers->len)
    g_string_append_printf (text, " and %u others", readers->len - named);

  fit = om_tui_cells_fit (text->str, cells, &used);
  {
    g_autofree char *pad = g_strnfill (MAX (0, cells - used), ' ');

    line_add (line, pad, STYLE_NORMAL);
  }
  line_add (line, fit, STYLE_DIM);
  return line;
}

static int
compare_ids (gconstpointer a,
             gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Adds to @readers those whose read receipt is on @event.  Each user has
 * one receipt, so each reader shows once: at the newest event read. */
static void
add_readers (OmRoom    *room,
             OmEvent   *event,
             GPtrArray *readers)
{
  const char *event_id = om_event_get_event_id (event);
  g_auto(GStrv) ids = NULL;

  if (event_id == NULL)
    return;
  ids = om_room_dup_receipt_user_ids (room, event_id);
  for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
    g_ptr_array_add (readers, g_strdup (ids[i]));
}

/* The timeline's last screen lines, bottom first: at least @needed of them
 * when the loaded events have that many.  *out_complete tells whether all
 * loaded events were laid out. */
static GPtrArray *
timeline_lines (OmTuiAppTimeline *self,
                int               cells,
                int               needed,
                gboolean         *out_complete)
{
  GListModel *model = G_LIST_MODEL (om_room_get_timeline (self->room));
  GPtrArray *bottom_up = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  /* Readers of events not shown yet: they show under the next one up. */
  g_autoptr(GPtrArray) readers = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *day = NULL;    /* of the last event laid out */
  guint i = g_list_model_get_n_items (model);

  *out_complete = TRUE;
  while (i > 0)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (model, --i);
      g_autoptr(GPtrArray) lines = event_lines (self, self->room, event, cells);
      g_autofree char *event_day = NULL;

      add_readers (self->room, event, readers);
      if (lines == NULL)
        continue;
      event_day = dup_day (event);
      if (day != NULL && g_strcmp0 (day, event_day) != 0)
        g_ptr_array_add (bottom_up, separator_line (day, cells));
      g_free (day);
      day = g_steal_pointer (&event_day);

      if (readers->len > 0)
        {
          g_ptr_array_sort (readers, compare_ids);
          g_ptr_array_add (bottom_up, seen_by_line (self->room, readers, cells));
          g_ptr_array_set_size (readers, 0);
        }
      for (guint j = lines->len; j > 0; j--)
        g_ptr_array_add (bottom_up, g_array_ref (g_ptr_array_index (lines, j - 1)));
      if ((int) bottom_up->len >= needed && i > 0)
        {
          *out_complete = FALSE;
          break;
        }
    }
  if (day != NULL && *out_complete)
    g_ptr_array_add (bottom_up, separator_line (day, cells));
  return bottom_up;
}

/* ---- the view ---- */

static void
changed_cb (OmTuiAppTimeline *self)
{
  self->changed (self->user_data);
}

static void
timeline_changed_cb (GListModel       *model,
                     guint             position,
                     guint             removed,
                     guint             added,
                     OmTuiAppTimeline *self)
{
  changed_cb (self);
}

static void
timeline_notify_cb (GObject          *timeline,
                    GParamSpec       *pspec,
                    OmTuiAppTimeline *self)
{
  changed_cb (self);
}

static void
receipts_changed_cb (OmRoom           *room,
                     OmTuiAppTimeline *self)
{
  changed_cb (self);
}

OmTuiAppTimeline *
om_tui_app_timeline_new (OmSession               *session,
                         GCancellable            *cancellable,
                         OmTuiAppTimelineChanged  changed,
                         gpointer                 user_data)
{
  OmTuiAppTimeline *self;

  g_return_val_if_fail (changed != NULL, NULL);

  self = g_new0 (OmTuiAppTimeline, 1);
  self->session = session;
  self->cancellable = cancellable;
  self->changed = changed;
  self->user_data = user_data;
  self->watched_events = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  self->max_scroll = -1;
  return self;
}

static void
unwatch (gpointer key,
         gpointer value,
         gpointer user_data)
{
  g_signal_handlers_disconnect_by_data (key, user_data);
}

void
om_tui_app_timeline_free (OmTuiAppTimeline *self)
{
  if (self == NULL)
    return;
  om_tui_app_timeline_set_room (self, NULL);
  g_hash_table_foreach (self->watched_events, unwatch, self);
  g_hash_table_unref (self->watched_events);
  g_free (self);
}

void
om_tui_app_timeline_init_colours (OmTuiAppTimeline *self)
{
  static const short colours[N_SENDER_COLOURS] = {
    COLOR_RED, COLOR_GREEN, COLOR_YELLOW, COLOR_BLUE, COLOR_MAGENTA, COLOR_CYAN,
  };

  self->has_colours = has_colors ();
  if (!self->has_colours)
    return;
  start_color ();
  use_default_colors ();
  for (short i = 0; i < N_SENDER_COLOURS; i++)
    init_pair (i + 1, colours[i], -1);
  init_pair (PAIR_FAILED, COLOR_RED, -1);
}

void
om_tui_app_timeline_set_room (OmTuiAppTimeline *self,
                              OmRoom           *room)
{
  if (self->room != NULL)
    {
      g_signal_handlers_disconnect_by_data (om_room_get_timeline (self->room), self);
      g_signal_handlers_disconnect_by_data (self->room, self);
    }
  g_set_object (&self->room, room);
  self->scroll = 0;
  self->max_scroll = -1;
  if (room != NULL)
    {
      OmTimeline *timeline = om_room_get_timeline (room);

      g_signal_connect (timeline, "items-changed", G_CALLBACK (timeline_changed_cb), self);
      g_signal_connect (timeline, "notify::loading", G_CALLBACK (timeline_notify_cb), self);
      g_signal_connect (room, "receipts-changed", G_CALLBACK (receipts_changed_cb), self);
    }
}

void
om_tui_app_timeline_draw (OmTuiAppTimeline *self,
                          int               top,
                          int               rows,
                          int               column,
                          int               cells)
{
  g_autoptr(GPtrArray) lines = NULL;
  gboolean complete;

  self->page = rows;
  if (self->room == NULL)
    return;
  lines = timeline_lines (self, cells, rows + self->scroll, &complete);
  self->max_scroll = complete ? MAX (0, (int) lines->len - rows) : -1;
  if (self->max_scroll >= 0 && self->scroll > self->max_scroll)
    self->scroll = self->max_scroll;

  for (int r = 0; r < rows; r++)
    {
      guint index = (guint) (self->scroll + r);

      if (index >= lines->len)
        break;
      draw_line (self, g_ptr_array_index (lines, index), top + rows - 1 - r, column, cells);
    }
  if (om_timeline_get_loading (om_room_get_timeline (self->room)))
    {
      move (top, column);
      attr_set (A_DIM, 0, NULL);
      om_tui_cells_put ("loading older messages…", cells);
      attr_set (A_NORMAL, 0, NULL);
    }
}

void
om_tui_app_timeline_scroll (OmTuiAppTimeline *self,
                            int               pages)
{
  OmTimeline *timeline;
  int delta = pages * MAX (1, self->page - 1);

  if (self->room == NULL)
    return;
  timeline = om_room_get_timeline (self->room);
  self->scroll = MAX (0, self->scroll + delta);
  if (delta > 0 && self->max_scroll >= 0 && self->scroll >= self->max_scroll)
    {
      self->scroll = self->max_scroll;
      /* At the top of what is loaded: ask for more.  The bottom stays where
       * it is, since the scroll counts from there. */
      if (om_timeline_get_can_load_older (timeline) && !om_timeline_get_loading (timeline))
        om_timeline_load_older_async (timeline, LOAD_OLDER_LIMIT, self->cancellable, NULL, NULL);
    }
  changed_cb (self);
}

void
om_tui_app_timeline_scroll_to_bottom (OmTuiAppTimeline *self)
{
  self->scroll = 0;
}

gboolean
om_tui_app_timeline_is_at_bottom (OmTuiAppTimeline *self)
{
  return self->scroll == 0;
}
