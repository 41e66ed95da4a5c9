/* om-room-state.c — a room's current state and the spec's naming rules
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-room"

#include <string.h>

#include "om-json.h"
#include "om-room-state.h"

/* The spec asks for at least 5 heroes in a computed name. */
#define MAX_HEROES 5

struct _OmRoomState
{
  char       *own_user_id;
  GHashTable *by_type;      /* type → (state_key → OmEvent), all owned */
  GHashTable *name_users;   /* display name → count of joined/invited members using it */
};

OmRoomState *
om_room_state_new (const char *own_user_id)
{
  OmRoomState *state = g_new0 (OmRoomState, 1);

  state->own_user_id = g_strdup (own_user_id);
  state->by_type = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) g_hash_table_unref);
  state->name_users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  return state;
}

void
om_room_state_free (OmRoomState *state)
{
  if (state == NULL)
    return;

  g_hash_table_unref (state->by_type);
  g_hash_table_unref (state->name_users);
  g_free (state->own_user_id);
  g_free (state);
}

/* Names shown to people: no control characters, no bidi overrides that
 * could reorder what follows them, no surrounding blanks.  NULL if
 * nothing is left. */
static char *
sanitize_name (const char *raw)
{
  g_autofree char *valid = NULL;
  GString *out;

  if (raw == NULL)
    return NULL;

  valid = g_utf8_make_valid (raw, -1);
  out = g_string_sized_new (strlen (valid));
  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_type (c) == G_UNICODE_CONTROL ||
          c == 0x061C || c == 0x200E || c == 0x200F ||
          (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) ||
          c == 0x2028 || c == 0x2029 || c == 0xFEFF)
        continue;
      g_string_append_unichar (out, c);
    }

  g_strstrip (out->str);
  if (out->str[0] == '\0')
    {
      g_string_free (out, TRUE);
      return NULL;
    }

  return g_string_free (out, FALSE);
}

static gboolean
looks_like_user_id (const char *s)
{
  const char *at = s != NULL ? strchr (s, '@') : NULL;

  return at != NULL && strchr (at, ':') != NULL;
}

/* Loose on purpose (historical user IDs break today's grammar), but never
 * anything that would show control characters. */
static gboolean
is_valid_user_id (const char *s)
{
  if (s == NULL || s[0] != '@' || strchr (s, ':') == NULL || !g_utf8_validate (s, -1, NULL))
    return FALSE;

  for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_type (g_utf8_get_char (p)) == G_UNICODE_CONTROL)
      return FALSE;

  return TRUE;
}

static OmMembership
member_event_membership (OmEvent *event)
{
  if (event == NULL)
    return OM_MEMBERSHIP_NONE;

  return om_membership_from_string (om_json_get_string (om_event_get_content (event),
                                                             "membership"));
}

static gboolean
member_is_counted (OmEvent *event)
{
  OmMembership m = member_event_membership (event);

  return m == OM_MEMBERSHIP_JOIN || m == OM_MEMBERSHIP_INVITE;
}

static char *
member_name (OmEvent *event)
{
  return sanitize_name (om_json_get_string (om_event_get_content (event), "displayname"));
}

static void
name_users_adjust (OmRoomState *state,
                   OmEvent     *member,
                   gint         delta)
{
  g_autofree char *name = NULL;
  guint count;

  if (member == NULL || !member_is_counted (member) || (name = member_name (member)) == NULL)
    return;

  count = GPOINTER_TO_UINT (g_hash_table_lookup (state->name_users, name));
  count = delta > 0 ? count + 1 : count - MIN (count, 1);
  if (count == 0)
    g_hash_table_remove (state->name_users, name);
  else
    g_hash_table_insert (state->name_users, g_steal_pointer (&name), GUINT_TO_POINTER (count));
}

const char *
om_room_state_check (OmEvent *event)
{
  if (!om_event_is_state (event))
    return "not a state event";

  if (g_strcmp0 (om_event_get_event_type (event), "m.room.member") == 0)
    {
      if (!is_valid_user_id (om_event_get_state_key (event)))
        return "member event whose state_key is not a user ID";
      if (member_event_membership (event) == OM_MEMBERSHIP_NONE)
        return "member event without a valid membership";
    }

  return NULL;
}

gboolean
om_room_state_set (OmRoomState *state,
                   OmEvent     *event)
{
  const char *event_type = om_event_get_event_type (event);
  const char *state_key = om_event_get_state_key (event);
  GHashTable *by_key;

  g_assert (om_room_state_check (event) == NULL);

  by_key = g_hash_table_lookup (state->by_type, event_type);
  if (by_key == NULL)
    {
      by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
      g_hash_table_insert (state->by_type, g_strdup (event_type), by_key);
    }

  if (g_strcmp0 (event_type, "m.room.member") == 0)
    {
      name_users_adjust (state, g_hash_table_lookup (by_key, state_key), -1);
      name_users_adjust (state, event, +1);
    }

  g_hash_table_insert (by_key, g_strdup (state_key), g_object_ref (event));

  return g_strcmp0 (event_type, "m.room.member") == 0 ||
         g_strcmp0 (event_type, "m.room.power_levels") == 0 ||
         g_strcmp0 (event_type, "m.room.create") == 0;
}

OmEvent *
om_room_state_get (OmRoomState *state,
                   const char  *event_type,
                   const char  *state_key)
{
  GHashTable *by_key = g_hash_table_lookup (state->by_type, event_type);

  return by_key != NULL ? g_hash_table_lookup (by_key, state_key != NULL ? state_key : "") : NULL;
}

JsonObject *
om_room_state_get_content (OmRoomState *state,
                           const char  *event_type)
{
  OmEvent *event = om_room_state_get (state, event_type, "");

  return event != NULL ? om_event_get_content (event) : NULL;
}

/* Members. */

static GHashTable *
members (OmRoomState *state)
{
  return g_hash_table_lookup (state->by_type, "m.room.member");
}

OmEvent *
om_room_state_get_member (OmRoomState *state,
                          const char  *user_id)
{
  GHashTable *by_key = members (state);

  return by_key != NULL && user_id != NULL ? g_hash_table_lookup (by_key, user_id) : NULL;
}

OmMembership
om_room_state_get_membership (OmRoomState *state,
                              const char  *user_id)
{
  return member_event_membership (om_room_state_get_member (state, user_id));
}

guint
om_room_state_count_members (OmRoomState  *state,
                             OmMembership  membership)
{
  GHashTable *by_key = members (state);
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  if (by_key == NULL)
    return 0;

  g_hash_table_iter_init (&iter, by_key);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (member_event_membership (value) == membership)
      n++;

  return n;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

GStrv
om_room_state_dup_member_ids (OmRoomState  *state,
                              OmMembership  membership)
{
  GPtrArray *ids = g_ptr_array_new ();
  GHashTable *by_key = members (state);

  if (by_key != NULL)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, by_key);
      while (g_hash_table_iter_next (&iter, &key, &value))
        if (member_event_membership (value) == membership)
          g_ptr_array_add (ids, g_strdup (key));
    }

  g_ptr_array_sort (ids, compare_strings);
  g_ptr_array_add (ids, NULL);
  return (GStrv) g_ptr_array_free (ids, FALSE);
}

char *
om_room_state_dup_member_name (OmRoomState *state,
                               const char  *user_id)
{
  g_autofree char *name = NULL;
  OmEvent *event = om_room_state_get_member (state, user_id);
  guint same;

  if (event == NULL || (name = member_name (event)) == NULL)
    return g_strdup (user_id);

  /* Shared with another joined/invited member, or made to look like a
   * user ID: the user ID shows who this really is. */
  same = GPOINTER_TO_UINT (g_hash_table_lookup (state->name_users, name));
  if (same > (member_is_counted (event) ? 1u : 0u) || looks_like_user_id (name))
    return g_strdup_printf ("%s (%s)", name, user_id);

  return g_steal_pointer (&name);
}

static gboolean
parse_power (JsonNode *node,
             gint64   *out)
{
  const char *s;
  char *end;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    {
      *out = json_node_get_int (node);
      return TRUE;
    }
  /* Room versions before 10 allowed power levels as strings. */
  if (json_node_get_value_type (node) != G_TYPE_STRING)
    return FALSE;
  s = json_node_get_string (node);
  *out = g_ascii_strtoll (s, &end, 10);
  return end != s && *end == '\0';
}

gint64
om_room_state_get_power_level (OmRoomState *state,
                               const char  *user_id)
{
  JsonObject *power = om_room_state_get_content (state, "m.room.power_levels");
  OmEvent *create;
  gint64 level = 0;

  if (power != NULL)
    {
      JsonNode *users = json_object_get_member (power, "users");

      if (users != NULL && JSON_NODE_HOLDS_OBJECT (users) &&
          parse_power (json_object_get_member (json_node_get_object (users), user_id), &level))
        return level;
      if (parse_power (json_object_get_member (power, "users_default"), &level))
        return level;
      return 0;
    }

  /* No power levels yet: the creator has 100 (`creator` before room
   * version 11, the sender of the create event from then on). */
  create = om_room_state_get (state, "m.room.create", "");
  if (create != NULL)
    {
      const char *creator = om_json_get_string (om_event_get_content (create), "creator");

      if (creator == NULL)
        creator = om_event_get_sender (create);
      if (g_strcmp0 (creator, user_id) == 0)
        return 100;
    }

  return 0;
}

/* Room name. */

/* Heroes: the summary's m.heroes, else the other joined/invited members
 * sorted by user ID, else (an empty room) those who left or were banned. */
static GPtrArray *
dup_heroes (OmRoomState        *state,
            const char * const *summary_heroes)
{
  GPtrArray *heroes = g_ptr_array_new_with_free_func (g_free);
  GHashTable *by_key = members (state);

  for (guint i = 0; summary_heroes != NULL && summary_heroes[i] != NULL; i++)
    if (g_strcmp0 (summary_heroes[i], state->own_user_id) != 0 &&
        is_valid_user_id (summary_heroes[i]))
      g_ptr_array_add (heroes, g_strdup (summary_heroes[i]));

  for (guint pass = 0; heroes->len == 0 && by_key != NULL && pass < 2; pass++)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, by_key);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          OmMembership m = member_event_membership (value);
          gboolean wanted = pass == 0 ? (m == OM_MEMBERSHIP_JOIN || m == OM_MEMBERSHIP_INVITE)
                                      : (m == OM_MEMBERSHIP_LEAVE || m == OM_MEMBERSHIP_BAN);

          if (wanted && g_strcmp0 (key, state->own_user_id) != 0)
            g_ptr_array_add (heroes, g_strdup (key));
        }
      g_ptr_array_sort (heroes, compare_strings);
    }

  return heroes;
}

/* "A", "A and B", "A, B, and C", "A and 1 other", "A, B, and 3 others". */
static char *
format_people (GPtrArray *names,
               guint      others)
{
  GString *s = g_string_new (NULL);
  guint n = names->len;

  for (guint i = 0; i < n; i++)
    {
      if (i > 0 && others == 0 && i == n - 1)
        g_string_append (s, n == 2 ? " and " : ", and ");
      else if (i > 0)
        g_string_append (s, ", ");
      g_string_append (s, g_ptr_array_index (names, i));
    }

  if (others > 0)
    g_string_append_printf (s, "%s%u %s", n >= 2 ? ", and " : " and ", others,
                            others == 1 ? "other" : "others");

  return g_string_free (s, FALSE);
}

/* The spec's "calculating the display name for a room". */
char *
om_room_state_compute_name (OmRoomState        *state,
                            const char * const *summary_heroes,
                            guint               joined,
                            guint               invited)
{
  g_autoptr(GPtrArray) heroes = NULL;
  g_autoptr(GPtrArray) names = NULL;
  g_autofree char *people = NULL;
  const char *alias;
  char *name;
  guint total, shown, others;

  name = sanitize_name (om_json_get_string (om_room_state_get_content (state, "m.room.name"),
                                                 "name"));
  if (name != NULL)
    return name;

  alias = om_json_get_string (om_room_state_get_content (state, "m.room.canonical_alias"),
                                   "alias");
  if (alias != NULL && alias[0] == '#' && strchr (alias, ':') != NULL &&
      (name = sanitize_name (alias)) != NULL)
    return name;

  heroes = dup_heroes (state, summary_heroes);
  total = joined + invited;

  if (heroes->len == 0)
    return total <= 1 ? g_strdup ("Empty Room") : g_strdup_printf ("%u people", total - 1);

  shown = MIN (heroes->len, MAX_HEROES);
  names = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < shown; i++)
    g_ptr_array_add (names, om_room_state_dup_member_name (state, g_ptr_array_index (heroes, i)));

  if (total <= 1)
    {
      people = format_people (names, heroes->len - shown);
      return g_strdup_printf ("Empty Room (was %s)", people);
    }

  others = total - 1 > shown ? total - 1 - shown : 0;
  return format_people (names, others);
}
