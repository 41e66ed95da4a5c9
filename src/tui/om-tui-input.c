/* om-tui-input.c — the composer's line editor, independent of the screen
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-tui"

#include "om-tui-input.h"

#include <string.h>

#define ZWJ 0x200D

/* What the previous operation was, for the ones that behave differently
 * when repeated: kills accumulate, Up/Down keep a goal column, Tab cycles. */
typedef enum {
  LAST_OTHER,
  LAST_KILL,
  LAST_VERTICAL,
  LAST_COMPLETE,
} LastOp;

struct _OmTuiInput
{
  GString   *text;           /* owned; valid UTF-8, no controls but '\n' */
  gsize      cursor;         /* byte offset into text, on a cluster start */
  char      *kill;           /* owned, nullable: the kill ring's one entry */

  GPtrArray *history;        /* owned char *, oldest first */
  guint      history_max;
  guint      history_pos;    /* entry shown; history->len: the draft */
  char      *draft;          /* owned, nullable: put aside while browsing */
  gsize      draft_cursor;

  LastOp     last;
  guint      goal_column;    /* of a run of Up/Down */

  GPtrArray *matches;        /* owned char *, nullable: the Tab cycle */
  guint      match_index;
  gsize      match_start;    /* where the completed word starts */
  gboolean   match_line_start;
};

/* Returns the previous operation and records @op as the current one; any
 * operation that is not a Tab ends a completion cycle. */
static LastOp
begin (OmTuiInput *self,
       LastOp      op)
{
  LastOp last = self->last;

  self->last = op;
  if (op != LAST_COMPLETE)
    g_clear_pointer (&self->matches, g_ptr_array_unref);
  return last;
}

static gunichar
char_at (OmTuiInput *self,
         gsize       pos)
{
  return g_utf8_get_char (self->text->str + pos);
}

static gsize
next_char (OmTuiInput *self,
           gsize       pos)
{
  return g_utf8_next_char (self->text->str + pos) - self->text->str;
}

static gsize
prev_char (OmTuiInput *self,
           gsize       pos)
{
  return g_utf8_prev_char (self->text->str + pos) - self->text->str;
}

/* Characters that belong to the cluster of the character before them. */
static gboolean
is_extend (gunichar c)
{
  return g_unichar_ismark (c) ||              /* combining marks, VS1–16 */
         c == ZWJ ||
         (c >= 0x1F3FB && c <= 0x1F3FF) ||     /* emoji skin tones */
         (c >= 0xE0020 && c <= 0xE007F) ||     /* emoji tag sequences */
         (c >= 0xE0100 && c <= 0xE01EF);       /* VS17–256 */
}

static gsize
next_cluster (OmTuiInput *self,
              gsize       pos)
{
  gsize len = self->text->len;

  if (pos >= len)
    return len;
  if (char_at (self, pos) == '\n')
    return pos + 1;

  pos = next_char (self, pos);
  while (pos < len)
    {
      gunichar c = char_at (self, pos);

      if (c == ZWJ)
        {
          pos = next_char (self, pos);
          /* A joiner glues the next character on, but never a line. */
          if (pos < len && char_at (self, pos) != '\n')
            pos = next_char (self, pos);
        }
      else if (is_extend (c))
        pos = next_char (self, pos);
      else
        break;
    }
  return pos;
}

/* Clusters are only defined going forwards, so step back to a position
 * that surely starts one (a non-extending character not after a joiner, a
 * newline or the start) and walk forwards from there.  This costs the
 * length of the cluster, which is what a run of marks costs anyway. */
static gsize
prev_cluster (OmTuiInput *self,
              gsize       pos)
{
  gsize start;
  gsize end;

  if (pos == 0)
    return 0;

  start = prev_char (self, pos);
  while (start > 0)
    {
      gunichar c = char_at (self, start);
      gsize before;

      if (c == '\n')
        break;
      before = prev_char (self, start);
      if (!is_extend (c) && char_at (self, before) != ZWJ)
        break;
      start = before;
    }

  while ((end = next_cluster (self, start)) < pos)
    start = end;
  return start;
}

/* The start of the cluster holding @pos, or @pos when one starts there. */
static gsize
cluster_floor (OmTuiInput *self,
               gsize       pos)
{
  if (pos >= self->text->len)
    return self->text->len;
  return prev_cluster (self, next_char (self, pos));
}

static gboolean
is_word_cluster (OmTuiInput *self,
                 gsize       pos)
{
  return g_unichar_isalnum (char_at (self, pos));
}

static gsize
line_start (OmTuiInput *self,
            gsize       pos)
{
  while (pos > 0 && self->text->str[pos - 1] != '\n')
    pos--;
  return pos;
}

static gsize
line_end (OmTuiInput *self,
          gsize       pos)
{
  const char *nl = memchr (self->text->str + pos, '\n', self->text->len - pos);

  return nl != NULL ? (gsize) (nl - self->text->str) : self->text->len;
}

/* Appends @text cleaned as om_tui_input_insert() documents. */
static void
append_clean (GString    *out,
              const char *text,
              gsize       len)
{
  const char *p = text;
  const char *end = text + len;

  while (p < end)
    {
      gunichar c;

      /* A NUL (possible with an explicit length) is a control like the
       * others, but g_utf8_get_char_validated() calls it invalid. */
      if (*p == '\0')
        {
          p++;
          continue;
        }

      c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          /* One replacement per invalid byte, then resynchronise. */
          g_string_append_unichar (out, 0xFFFD);
          p++;
          continue;
        }
      p = g_utf8_next_char (p);

      if (c == '\r')
        {
          if (p < end && *p == '\n')
            p++;
          g_string_append_c (out, '\n');
        }
      else if (c == '\n' || c == 0x2028 || c == 0x2029)
        g_string_append_c (out, '\n');
      else if (c == '\t')
        {
          for (guint i = 0; i < OM_TUI_INPUT_TAB_WIDTH; i++)
            g_string_append_c (out, ' ');
        }
      else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0))
        continue;
      else
        g_string_append_unichar (out, c);
    }
}

/* Text changes go through here so that the cursor lands on a cluster
 * start even when the edit glued clusters together (a base typed before a
 * lone mark, a newline deleted before one). */
static void
replace (OmTuiInput *self,
         gsize       start,
         gsize       end,
         const char *text,
         gsize       len)
{
  g_assert (start <= end && end <= self->text->len);

  g_string_erase (self->text, start, end - start);
  g_string_insert_len (self->text, start, text, len);
  self->cursor = start + len;
  if (self->cursor < self->text->len && cluster_floor (self, self->cursor) != self->cursor)
    self->cursor = next_cluster (self, cluster_floor (self, self->cursor));
}

static void
set_kill (OmTuiInput *self,
          LastOp      last,
          gsize       start,
          gsize       end,
          gboolean    forward)
{
  const char *killed = self->text->str + start;
  gsize len = end - start;

  if (last == LAST_KILL && self->kill != NULL)
    {
      GString *s = g_string_new (self->kill);

      if (forward)
        g_string_append_len (s, killed, len);
      else
        g_string_prepend_len (s, killed, len);
      g_free (self->kill);
      self->kill = g_string_free (s, FALSE);
    }
  else
    {
      g_free (self->kill);
      self->kill = g_strndup (killed, len);
    }
}

static gboolean
kill_range (OmTuiInput *self,
            gsize       start,
            gsize       end,
            gboolean    forward)
{
  LastOp last = begin (self, LAST_KILL);

  if (start == end)
    return FALSE;
  set_kill (self, last, start, end, forward);
  replace (self, start, end, "", 0);
  return TRUE;
}

OmTuiInput *
om_tui_input_new (guint history_max)
{
  OmTuiInput *self = g_new0 (OmTuiInput, 1);

  self->text = g_string_new ("");
  self->history = g_ptr_array_new_with_free_func (g_free);
  self->history_max = history_max > 0 ? history_max : OM_TUI_INPUT_HISTORY_DEFAULT;
  return self;
}

void
om_tui_input_free (OmTuiInput *self)
{
  if (self == NULL)
    return;

  g_string_free (self->text, TRUE);
  g_free (self->kill);
  g_ptr_array_unref (self->history);
  g_free (self->draft);
  g_clear_pointer (&self->matches, g_ptr_array_unref);
  g_free (self);
}

const char *
om_tui_input_get_text (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->text->str;
}

gsize
om_tui_input_get_cursor (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->cursor;
}

void
om_tui_input_set_cursor (OmTuiInput *self,
                         gsize       cursor)
{
  const char *p;

  g_return_if_fail (self != NULL);

  begin (self, LAST_OTHER);
  cursor = MIN (cursor, self->text->len);
  /* Back to a character boundary first: cluster_floor() wants one. */
  p = self->text->str + cursor;
  while (p > self->text->str && ((guchar) *p & 0xC0) == 0x80)
    p--;
  self->cursor = cluster_floor (self, p - self->text->str);
}

static void
leave_history (OmTuiInput *self)
{
  self->history_pos = self->history->len;
  g_clear_pointer (&self->draft, g_free);
}

void
om_tui_input_set_text (OmTuiInput *self,
                       const char *text)
{
  g_return_if_fail (self != NULL);

  begin (self, LAST_OTHER);
  leave_history (self);
  g_string_truncate (self->text, 0);
  if (text != NULL)
    append_clean (self->text, text, strlen (text));
  self->cursor = self->text->len;
}

gboolean
om_tui_input_is_empty (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, TRUE);

  for (const char *p = self->text->str; *p; p = g_utf8_next_char (p))
    if (!g_unichar_isspace (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

void
om_tui_input_insert (OmTuiInput *self,
                     const char *text,
                     gssize      len)
{
  g_autoptr(GString) clean = NULL;

  g_return_if_fail (self != NULL);
  g_return_if_fail (text != NULL || len == 0);

  begin (self, LAST_OTHER);
  if (len < 0)
    len = strlen (text);
  clean = g_string_sized_new (len);
  append_clean (clean, text, len);
  replace (self, self->cursor, self->cursor, clean->str, clean->len);
}

void
om_tui_input_newline (OmTuiInput *self)
{
  g_return_if_fail (self != NULL);

  begin (self, LAST_OTHER);
  replace (self, self->cursor, self->cursor, "\n", 1);
}

void
om_tui_input_clear (OmTuiInput *self)
{
  g_return_if_fail (self != NULL);

  om_tui_input_set_text (self, NULL);
}

gboolean
om_tui_input_backspace (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  if (self->cursor == 0)
    return FALSE;
  replace (self, prev_cluster (self, self->cursor), self->cursor, "", 0);
  return TRUE;
}

gboolean
om_tui_input_delete (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  if (self->cursor == self->text->len)
    return FALSE;
  replace (self, self->cursor, next_cluster (self, self->cursor), "", 0);
  return TRUE;
}

static gboolean
move_to (OmTuiInput *self,
         gsize       pos)
{
  gboolean moved = pos != self->cursor;

  self->cursor = pos;
  return moved;
}

gboolean
om_tui_input_move_left (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  return move_to (self, prev_cluster (self, self->cursor));
}

gboolean
om_tui_input_move_right (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  return move_to (self, next_cluster (self, self->cursor));
}

gboolean
om_tui_input_word_left (OmTuiInput *self)
{
  gsize pos;
  gsize prev;

  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  pos = self->cursor;
  while (pos > 0 && !is_word_cluster (self, prev = prev_cluster (self, pos)))
    pos = prev;
  while (pos > 0 && is_word_cluster (self, prev = prev_cluster (self, pos)))
    pos = prev;
  return move_to (self, pos);
}

gboolean
om_tui_input_word_right (OmTuiInput *self)
{
  gsize pos;

  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  pos = self->cursor;
  while (pos < self->text->len && !is_word_cluster (self, pos))
    pos = next_cluster (self, pos);
  while (pos < self->text->len && is_word_cluster (self, pos))
    pos = next_cluster (self, pos);
  return move_to (self, pos);
}

gboolean
om_tui_input_home (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  return move_to (self, line_start (self, self->cursor));
}

gboolean
om_tui_input_end (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  return move_to (self, line_end (self, self->cursor));
}

gboolean
om_tui_input_kill_to_end (OmTuiInput *self)
{
  gsize end;

  g_return_val_if_fail (self != NULL, FALSE);

  end = line_end (self, self->cursor);
  if (end == self->cursor && end < self->text->len)
    end++;
  return kill_range (self, self->cursor, end, TRUE);
}

gboolean
om_tui_input_kill_to_start (OmTuiInput *self)
{
  gsize start;

  g_return_val_if_fail (self != NULL, FALSE);

  start = line_start (self, self->cursor);
  if (start == self->cursor && start > 0)
    start--;
  return kill_range (self, start, self->cursor, FALSE);
}

gboolean
om_tui_input_kill_word_back (OmTuiInput *self)
{
  gsize pos;

  g_return_val_if_fail (self != NULL, FALSE);

  pos = self->cursor;
  while (pos > 0 && g_unichar_isspace (char_at (self, prev_char (self, pos))))
    pos = prev_char (self, pos);
  while (pos > 0 && !g_unichar_isspace (char_at (self, prev_char (self, pos))))
    pos = prev_char (self, pos);
  return kill_range (self, pos, self->cursor, FALSE);
}

gboolean
om_tui_input_yank (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  if (self->kill == NULL || *self->kill == '\0')
    return FALSE;
  replace (self, self->cursor, self->cursor, self->kill, strlen (self->kill));
  return TRUE;
}

gboolean
om_tui_input_transpose (OmTuiInput *self)
{
  gsize a, b, c;
  g_autoptr(GString) swapped = NULL;

  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  if (self->cursor == line_start (self, self->cursor))
    return FALSE;

  if (self->cursor == line_end (self, self->cursor))
    {
      /* At the end of a line, the two clusters before the cursor. */
      c = self->cursor;
      b = prev_cluster (self, c);
      if (b == line_start (self, c))
        return FALSE;
      a = prev_cluster (self, b);
    }
  else
    {
      b = self->cursor;
      a = prev_cluster (self, b);
      c = next_cluster (self, b);
    }

  swapped = g_string_new_len (self->text->str + b, c - b);
  g_string_append_len (swapped, self->text->str + a, b - a);
  replace (self, a, c, swapped->str, swapped->len);
  return TRUE;
}

void
om_tui_input_add_history (OmTuiInput *self,
                          const char *text)
{
  guint n;

  g_return_if_fail (self != NULL);
  g_return_if_fail (text != NULL);

  n = self->history->len;
  if (n > 0 && g_str_equal (g_ptr_array_index (self->history, n - 1), text))
    return;

  g_ptr_array_add (self->history, g_strdup (text));
  /* While editing the draft, stay on it; while browsing, on the entry. */
  if (self->history_pos == n)
    self->history_pos = self->history->len;
  if (self->history->len > self->history_max)
    {
      g_ptr_array_remove_index (self->history, 0);
      if (self->history_pos > 0)
        self->history_pos--;
    }
}

guint
om_tui_input_get_history_len (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->history->len;
}

const char *
om_tui_input_get_history (OmTuiInput *self,
                          guint       index)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->history->len, NULL);

  return g_ptr_array_index (self->history, index);
}

static void
show_entry (OmTuiInput *self,
            const char *text,
            gsize       cursor)
{
  g_string_assign (self->text, text);
  self->cursor = MIN (cursor, self->text->len);
}

gboolean
om_tui_input_history_prev (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  if (self->history_pos == 0)
    return FALSE;

  if (self->history_pos == self->history->len)
    {
      g_free (self->draft);
      self->draft = g_strdup (self->text->str);
      self->draft_cursor = self->cursor;
    }
  self->history_pos--;
  show_entry (self, g_ptr_array_index (self->history, self->history_pos), G_MAXSIZE);
  return TRUE;
}

gboolean
om_tui_input_history_next (OmTuiInput *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  begin (self, LAST_OTHER);
  if (self->history_pos >= self->history->len)
    return FALSE;

  self->history_pos++;
  if (self->history_pos == self->history->len)
    {
      show_entry (self, self->draft != NULL ? self->draft : "", self->draft_cursor);
      g_clear_pointer (&self->draft, g_free);
    }
  else
    show_entry (self, g_ptr_array_index (self->history, self->history_pos), G_MAXSIZE);
  return TRUE;
}

char *
om_tui_input_take (OmTuiInput *self)
{
  const char *start;
  const char *p;
  g_autofree char *text = NULL;

  g_return_val_if_fail (self != NULL, NULL);

  begin (self, LAST_OTHER);
  if (om_tui_input_is_empty (self))
    return NULL;

  /* Drop whole blank lines in front but keep the first line's indent. */
  start = self->text->str;
  for (p = start; *p == ' ' || *p == '\n'; p++)
    if (*p == '\n')
      start = p + 1;
  text = g_strchomp (g_strdup (start));

  om_tui_input_add_history (self, text);
  om_tui_input_clear (self);
  return g_steal_pointer (&text);
}

/* om_tui_input_up() and _down(): where the column @goal falls in @row,
 * never inside a cluster nor past the row's end. */
static gsize
offset_at_column (OmTuiInput          *self,
                  const OmTuiInputRow *row,
                  guint                goal)
{
  gsize pos = row->start;
  guint column = 0;

  while (pos < row->end)
    {
      gsize next = next_cluster (self, pos);
      guint width = 0;

      for (gsize q = pos; q < next; q = next_char (self, q))
        width += om_tui_char_width (char_at (self, q));
      if (column + width > goal)
        break;
      column += width;
      pos = next;
    }
  return pos;
}

static gboolean
move_vertically (OmTuiInput *self,
                 int         width,
                 int         direction)
{
  g_autoptr(GArray) rows = NULL;
  guint row, column;
  LastOp last;

  last = begin (self, LAST_VERTICAL);
  rows = om_tui_input_layout (self, width, &row, &column);
  if (last != LAST_VERTICAL)
    self->goal_column = column;

  if (direction < 0 && row == 0)
    return om_tui_input_history_prev (self);
  if (direction > 0 && row + 1 >= rows->len)
    return om_tui_input_history_next (self);

  row += direction;
  self->cursor = offset_at_column (self, &g_array_index (rows, OmTuiInputRow, row),
                                   self->goal_column);
  return TRUE;
}

gboolean
om_tui_input_up (OmTuiInput *self,
                 int         width)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (width > 0, FALSE);

  return move_vertically (self, width, -1);
}

gboolean
om_tui_input_down (OmTuiInput *self,
                   int         width)
{
  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (width > 0, FALSE);

  return move_vertically (self, width, +1);
}

/* Completion */

static gboolean
has_prefix_nocase (const char *candidate,
                   const char *folded_prefix)
{
  g_autofree char *folded = g_utf8_casefold (candidate, -1);

  return g_str_has_prefix (folded, folded_prefix);
}

/* The word before the cursor: back to whitespace. */
static gsize
word_start (OmTuiInput *self)
{
  gsize pos = self->cursor;

  while (pos > 0 && !g_unichar_isspace (char_at (self, prev_char (self, pos))))
    pos = prev_char (self, pos);
  return pos;
}

/* Asks @func for candidates of the word before the cursor and keeps the
 * ones matching it, without repeats.  NULL when there are none. */
static GPtrArray *
find_matches (OmTuiInput               *self,
              OmTuiInputCandidatesFunc  func,
              gpointer                  user_data,
              gsize                    *start,
              gboolean                 *at_line_start)
{
  g_autofree char *word = NULL;
  g_autofree char *folded = NULL;
  g_auto(GStrv) candidates = NULL;
  g_autoptr(GPtrArray) matches = NULL;

  *start = word_start (self);
  if (*start == self->cursor)
    return NULL;
  *at_line_start = *start == line_start (self, *start);

  word = g_strndup (self->text->str + *start, self->cursor - *start);
  folded = g_utf8_casefold (word, -1);
  candidates = func (word, *at_line_start, user_data);
  if (candidates == NULL)
    return NULL;

  matches = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; candidates[i] != NULL; i++)
    {
      const char *c = candidates[i];

      if (!g_utf8_validate (c, -1, NULL) || *c == '\0' || !has_prefix_nocase (c, folded))
        continue;
      if (g_ptr_array_find_with_equal_func (matches, c, g_str_equal, NULL))
        continue;
      g_ptr_array_add (matches, g_strdup (c));
    }
  if (matches->len == 0)
    return NULL;
  return g_steal_pointer (&matches);
}

/* Puts @completion (whole) in place of [start, cursor) with its suffix. */
static void
put_completion (OmTuiInput *self,
                gsize       start,
                gboolean    at_line_start,
                const char *completion)
{
  g_autoptr(GString) s = g_string_new (completion);
  gboolean space_follows = self->cursor < self->text->len &&
                           g_unichar_isspace (char_at (self, self->cursor));

  if (at_line_start && completion[0] != '/')
    g_string_append_c (s, ':');
  if (!space_follows)
    g_string_append_c (s, ' ');
  replace (self, start, self->cursor, s->str, s->len);
}

gboolean
om_tui_input_complete (OmTuiInput               *self,
                       OmTuiInputCandidatesFunc  func,
                       gpointer                  user_data)
{
  LastOp last;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  last = begin (self, LAST_COMPLETE);
  if (last == LAST_COMPLETE && self->matches != NULL)
    {
      self->match_index = (self->match_index + 1) % self->matches->len;
    }
  else
    {
      g_clear_pointer (&self->matches, g_ptr_array_unref);
      self->matches = find_matches (self, func, user_data,
                                    &self->match_start, &self->match_line_start);
      if (self->matches == NULL)
        return FALSE;
      self->match_index = 0;
    }

  put_completion (self, self->match_start, self->match_line_start,
                  g_ptr_array_index (self->matches, self->match_index));
  return TRUE;
}

char *
om_tui_common_prefix (const char * const *strings)
{
  const char *first;
  gsize best = 0;

  g_return_val_if_fail (strings != NULL, NULL);

  first = strings[0];
  if (first == NULL)
    return g_strdup ("");

  /* Grow by whole characters, keeping the last length that both matches
   * everywhere and does not end before a mark (which would split a
   * cluster).  Strings are short (names), so refolding is cheap enough. */
  for (const char *p = first; *p; )
    {
      g_autofree char *folded = NULL;
      gboolean all = TRUE;

      p = g_utf8_next_char (p);
      if (*p != '\0' && is_extend (g_utf8_get_char (p)))
        continue;

      folded = g_utf8_casefold (first, p - first);
      for (guint i = 1; strings[i] != NULL && all; i++)
        all = has_prefix_nocase (strings[i], folded);
      if (!all)
        break;
      best = p - first;
    }
  return g_strndup (first, best);
}

guint
om_tui_input_complete_common (OmTuiInput                *self,
                              OmTuiInputCandidatesFunc   func,
                              gpointer                   user_data,
                              char                    ***matches_out)
{
  g_autoptr(GPtrArray) matches = NULL;
  g_autofree char *prefix = NULL;
  gsize start;
  gboolean at_line_start;
  guint n;

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (func != NULL, 0);

  if (matches_out != NULL)
    *matches_out = NULL;
  begin (self, LAST_OTHER);
  matches = find_matches (self, func, user_data, &start, &at_line_start);
  if (matches == NULL)
    return 0;

  n = matches->len;
  if (n == 1)
    put_completion (self, start, at_line_start, g_ptr_array_index (matches, 0));
  else
    {
      g_ptr_array_add (matches, NULL);
      prefix = om_tui_common_prefix ((const char * const *) matches->pdata);
      g_ptr_array_remove_index (matches, n);
      /* Only ever lengthen what was typed. */
      if (strlen (prefix) > self->cursor - start)
        replace (self, start, self->cursor, prefix, strlen (prefix));
    }

  if (matches_out != NULL)
    {
      g_ptr_array_set_free_func (matches, NULL);
      g_ptr_array_add (matches, NULL);
      *matches_out = (char **) g_ptr_array_free (g_steal_pointer (&matches), FALSE);
    }
  return n;
}

/* Layout */

guint
om_tui_char_width (gunichar c)
{
  if (g_unichar_iszerowidth (c))
    return 0;
  if (g_unichar_iswide (c))
    return 2;
  return 1;
}

GArray *
om_tui_input_layout (OmTuiInput *self,
                     int         width,
                     guint      *cursor_row,
                     guint      *cursor_column)
{
  GArray *rows;
  OmTuiInputRow row = { 0, 0, 0 };
  gsize len;
  gsize pos = 0;
  guint crow = 0, ccol = 0;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (width > 0, NULL);

  rows = g_array_new (FALSE, FALSE, sizeof (OmTuiInputRow));
  len = self->text->len;

  for (;;)
    {
      gsize next;
      guint w = 0;

      if (pos == len || self->text->str[pos] == '\n')
        {
          /* A full row leaves no room for the cursor after it. */
          if (row.columns >= (guint) width)
            {
              g_array_append_val (rows, row);
              row = (OmTuiInputRow) { pos, pos, 0 };
            }
          if (self->cursor == pos)
            {
              crow = rows->len;
              ccol = row.columns;
            }
          g_array_append_val (rows, row);
          if (pos == len)
            break;
          pos++;
          row = (OmTuiInputRow) { pos, pos, 0 };
          continue;
        }

      next = next_cluster (self, pos);
      for (gsize q = pos; q < next; q = next_char (self, q))
        w += om_tui_char_width (char_at (self, q));

      /* Wrap before a cluster that does not fit whole; one wider than the
       * row gets a row of its own rather than looping forever. */
      if (row.end > row.start &&
          (row.columns >= (guint) width || row.columns + w > (guint) width))
        {
          g_array_append_val (rows, row);
          row = (OmTuiInputRow) { pos, pos, 0 };
        }
      if (self->cursor >= pos && self->cursor < next)
        {
          crow = rows->len;
          ccol = row.columns;
        }
      row.end = next;
      row.columns += w;
      pos = next;
    }

  if (cursor_row != NULL)
    *cursor_row = crow;
  if (cursor_column != NULL)
    *cursor_column = ccol;
  return rows;
}
