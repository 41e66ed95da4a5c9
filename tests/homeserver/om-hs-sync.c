/* om-hs-sync.c — /sync (with long-poll) and /messages
 *
 * Tokens: "s<N>" is a position in the global stream, meaning "everything up
 * to and including stream N".  /messages hands out "t<N>" for the same
 * thing (Synapse uses topological "t…" tokens there), and accepts both.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-sync"

#include "om-hs.h"
#include "om-hs-push-rules.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

typedef struct
{
  OmHs              *hs;
  SoupServerMessage *msg;        /* owned ref */
  char              *user_id;
  char              *device_id;
  char              *cache_key;  /* owned, NULL unless responses are cached */
  gint64             since;
  JsonObject        *filter;     /* owned */
  gboolean           full_state;
  guint              timeout_id;
  gulong             disconnected_id;
  GSource           *socket_source;  /* watches for the client hanging up */
} OmHsWaiter;

typedef struct
{
  guint    timeline_limit;
  gboolean lazy_load_members;
  gboolean include_leave;
} OmHsFilterParams;

static gboolean
parse_token (const char *token,
             gint64     *out)
{
  char *end = NULL;
  gint64 v;

  if (token == NULL || (token[0] != 's' && token[0] != 't') || !g_ascii_isdigit (token[1]))
    return FALSE;
  v = g_ascii_strtoll (token + 1, &end, 10);
  if (*end != '\0' || v < 0)
    return FALSE;
  *out = v;
  return TRUE;
}

static JsonObject *
obj_member (JsonObject *obj,
            const char *key)
{
  JsonNode *n;

  if (obj == NULL || !json_object_has_member (obj, key))
    return NULL;
  n = json_object_get_member (obj, key);
  return JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static gboolean
bool_member (JsonObject *obj,
             const char *key)
{
  JsonNode *n;

  if (obj == NULL || !json_object_has_member (obj, key))
    return FALSE;
  n = json_object_get_member (obj, key);
  return JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN &&
         json_node_get_boolean (n);
}

static void
filter_params (JsonObject       *filter,
               OmHsFilterParams *p)
{
  JsonObject *room = obj_member (filter, "room");
  JsonObject *timeline = obj_member (room, "timeline");
  JsonObject *state = obj_member (room, "state");

  p->timeline_limit = 10;
  if (timeline && json_object_has_member (timeline, "limit"))
    p->timeline_limit = CLAMP (json_object_get_int_member (timeline, "limit"), 1, 1000);
  p->lazy_load_members = bool_member (state, "lazy_load_members");
  p->include_leave = bool_member (room, "include_leave");
}

JsonObject *
om_hs_filter_resolve (OmHs        *hs,
                      const char  *user_id,
                      const char  *filter,
                      const char **out_errcode,
                      const char **out_error)
{
  g_autofree char *json = NULL;
  JsonObject *obj;

  if (filter == NULL || filter[0] == '\0')
    return json_object_new ();
  if (filter[0] == '{')
    {
      obj = om_hs_parse_object (filter);
      if (obj == NULL)
        {
          *out_errcode = "M_NOT_JSON";
          *out_error = "Invalid filter JSON";
        }
      return obj;
    }
  json = om_hs_filter_get (hs, user_id, filter);
  obj = om_hs_parse_object (json);
  if (obj == NULL)
    {
      *out_errcode = "M_INVALID_PARAM";
      *out_error = "No such filter";
    }
  return obj;
}

static char *
token_s (gint64 pos)
{
  return g_strdup_printf ("s%" G_GINT64_FORMAT, pos);
}

static const char *
content_str (JsonObject *c,
             const char *key)
{
  JsonNode *n;

  if (c == NULL || !json_object_has_member (c, key))
    return NULL;
  n = json_object_get_member (c, key);
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

static char *
event_membership (OmHsEvent *ev)
{
  g_autoptr(JsonObject) c = ev ? om_hs_parse_object (ev->content) : NULL;

  return g_strdup (content_str (c, "membership"));
}

/* Case-insensitive whole-word search, like Synapse's glob word matching. */
static gboolean
contains_word (const char *body,
               const char *word)
{
  g_autofree char *b = NULL;
  g_autofree char *w = NULL;
  const char *p;
  gsize wl;

  if (body == NULL || word == NULL || word[0] == '\0')
    return FALSE;
  b = g_utf8_casefold (body, -1);
  w = g_utf8_casefold (word, -1);
  wl = strlen (w);
  for (p = strstr (b, w); p != NULL; p = strstr (p + 1, w))
    {
      gboolean start_ok = p == b || !g_ascii_isalnum (p[-1]);
      gboolean end_ok = !g_ascii_isalnum (p[wl]);

      if (start_ok && end_ok)
        return TRUE;
    }
  return FALSE;
}

static void
unread_counts (OmHs       *hs,
               const char *room_id,
               const char *user_id,
               gint64      upto,
               gint64     *out_notify,
               gint64     *out_highlight)
{
  gint64 read_pos = om_hs_read_up_to (hs, room_id, user_id);
  g_autoptr(GPtrArray) evs = om_hs_room_events (hs, room_id, read_pos, upto, 0, FALSE);
  g_autofree char *name = om_hs_user_dup_displayname (hs, user_id);
  g_autofree char *localpart = g_strndup (user_id + 1, strcspn (user_id + 1, ":"));

  *out_notify = *out_highlight = 0;
  for (guint i = 0; i < evs->len; i++)
    {
      OmHsEvent *ev = evs->pdata[i];
      g_autoptr(JsonObject) c = NULL;
      const char *body;

      if (g_str_equal (ev->sender, user_id))
        continue;
      if (g_str_equal (ev->type, "m.room.encrypted"))
        {
          (*out_notify)++;
          continue;
        }
      if (!g_str_equal (ev->type, "m.room.message"))
        continue;
      c = om_hs_parse_object (ev->content);
      /* .m.rule.suppress_notices */
      if (g_strcmp0 (content_str (c, "msgtype"), "m.notice") == 0)
        continue;
      (*out_notify)++;
      body = content_str (c, "body");
      if (contains_word (body, localpart) || contains_word (body, name) ||
          (body && strstr (body, user_id)))
        (*out_highlight)++;
    }
}

static JsonObject *
room_summary (OmHs       *hs,
              const char *room_id,
              const char *user_id)
{
  JsonObject *summary = json_object_new ();
  g_autoptr(GPtrArray) joined = om_hs_room_members (hs, room_id, "join");
  g_autoptr(GPtrArray) invited = om_hs_room_members (hs, room_id, "invite");
  g_autoptr(OmHsEvent) name = om_hs_state_get (hs, room_id, "m.room.name", "");
  g_autoptr(OmHsEvent) alias = om_hs_state_get (hs, room_id, "m.room.canonical_alias", "");

  json_object_set_int_member (summary, "m.joined_member_count", joined->len);
  json_object_set_int_member (summary, "m.invited_member_count", invited->len);
  /* Synapse leaves heroes out when the room has a name or an alias. */
  if (name == NULL && alias == NULL)
    {
      JsonArray *heroes = json_array_new ();
      GPtrArray *lists[] = { joined, invited };

      for (guint l = 0; l < 2; l++)
        for (guint i = 0; i < lists[l]->len && json_array_get_length (heroes) < 5; i++)
          if (!g_str_equal (lists[l]->pdata[i], user_id))
            json_array_add_string_element (heroes, lists[l]->pdata[i]);
      json_object_set_array_member (summary, "m.heroes", heroes);
    }
  return summary;
}

static JsonObject *
events_object (JsonArray *arr)
{
  JsonObject *obj = json_object_new ();

  json_object_set_array_member (obj, "events", arr);
  return obj;
}

static JsonArray *
receipts_array (OmHs       *hs,
                const char *room_id,
                const char *user_id,
                gint64      after)
{
  g_autoptr(GPtrArray) rows = om_hs_receipts_since (hs, room_id, after);
  JsonArray *out = json_array_new ();
  JsonObject *content;
  gboolean any = FALSE;

  content = json_object_new ();
  for (guint i = 0; i < rows->len; i++)
    {
      char **r = rows->pdata[i];   /* user_id, type, thread_id, event_id, ts */
      JsonObject *by_event, *by_type, *entry;

      if (g_str_equal (r[1], "m.read.private") && !g_str_equal (r[0], user_id))
        continue;
      if (!json_object_has_member (content, r[3]))
        json_object_set_object_member (content, r[3], json_object_new ());
      by_event = json_object_get_object_member (content, r[3]);
      if (!json_object_has_member (by_event, r[1]))
        json_object_set_object_member (by_event, r[1], json_object_new ());
      by_type = json_object_get_object_member (by_event, r[1]);
      entry = json_object_new ();
      json_object_set_int_member (entry, "ts", g_ascii_strtoll (r[4], NULL, 10));
      if (r[2] && r[2][0])
        json_object_set_string_member (entry, "thread_id", r[2]);
      json_object_set_object_member (by_type, r[0], entry);
      any = TRUE;
    }
  if (any)
    {
      JsonObject *ev = json_object_new ();
      json_object_set_string_member (ev, "type", "m.receipt");
      json_object_set_object_member (ev, "content", content);
      json_array_add_object_element (out, ev);
    }
  else
    json_object_unref (content);
  return out;
}

static gboolean
has_event_id (GPtrArray  *evs,
              const char *event_id)
{
  for (guint i = 0; i < evs->len; i++)
    if (g_str_equal (((OmHsEvent *) evs->pdata[i])->event_id, event_id))
      return TRUE;
  return FALSE;
}

static gboolean
has_string (GPtrArray  *strs,
            const char *s)
{
  for (guint i = 0; i < strs->len; i++)
    if (g_str_equal (strs->pdata[i], s))
      return TRUE;
  return FALSE;
}

/* The member event IDs sent to a device for a room (for lazy loading);
 * an initial sync starts it afresh. */
static GHashTable *
ll_cache_for (OmHs       *hs,
              const char *user_id,
              const char *device_id,
              const char *room_id,
              gboolean    reset)
{
  g_autofree char *key = g_strdup_printf ("%s|%s|%s", user_id, device_id ? device_id : "", room_id);
  GHashTable *set = g_hash_table_lookup (hs->ll_cache, key);

  if (set == NULL || reset)
    {
      set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_replace (hs->ll_cache, g_steal_pointer (&key), set);
    }
  return set;
}

static gboolean
ll_cache_has (GHashTable *set,
              const char *event_id)
{
  return g_hash_table_contains (set, event_id);
}

/* One room's entry.  @since < 0: as in an initial sync (or the room is new
 * to the client).  @upto: the last stream position visible (the leave for
 * left rooms).  Returns NULL when an incremental entry would be empty. */
static JsonObject *
room_entry (OmHs             *hs,
            const char       *room_id,
            const char       *user_id,
            const char       *device_id,
            gint64            since,
            gint64            upto,
            gboolean          full_state,
            gboolean          joined,
            OmHsFilterParams *fp)
{
  g_autoptr(GPtrArray) newest = om_hs_room_events (hs, room_id, since < 0 ? 0 : since, upto,
                                                   fp->timeline_limit + 1, TRUE);
  g_autoptr(GPtrArray) ts_state = NULL;
  g_autoptr(GPtrArray) prev_state = NULL;
  g_autoptr(GPtrArray) senders = g_ptr_array_new ();
  g_autoptr(GPtrArray) timeline_evs = g_ptr_array_new ();
  g_autoptr(GPtrArray) account = NULL;
  JsonObject *entry, *timeline, *unread;
  JsonArray *tl_arr, *state_arr, *eph_arr, *ad_arr;
  gboolean limited = newest->len > fp->timeline_limit;
  gboolean members_in_timeline = FALSE;
  gint64 tl_start;
  g_autofree char *prev_batch = NULL;
  gint64 n_notify = 0, n_highlight = 0;
  GHashTable *ll_sent = ll_cache_for (hs, user_id, device_id, room_id, since < 0);

  /* newest is newest-first; the timeline is the oldest-first tail. */
  for (gint i = MIN (newest->len, fp->timeline_limit) - 1; i >= 0; i--)
    g_ptr_array_add (timeline_evs, newest->pdata[i]);

  tl_arr = json_array_new ();
  for (guint i = 0; i < timeline_evs->len; i++)
    {
      OmHsEvent *ev = timeline_evs->pdata[i];

      json_array_add_element (tl_arr, om_hs_event_to_json (hs, ev, OM_HS_FORMAT_SYNC, user_id, device_id));
      if (!has_string (senders, ev->sender))
        g_ptr_array_add (senders, ev->sender);
      if (g_str_equal (ev->type, "m.room.member"))
        members_in_timeline = TRUE;
    }
  tl_start = timeline_evs->len ? ((OmHsEvent *) timeline_evs->pdata[0])->stream - 1 : upto;
  if (since >= 0 && !limited)
    prev_batch = token_s (since);
  else
    prev_batch = token_s (tl_start);

  /* State at the start of the timeline, less what the client already has
   * (everything after the timeline start is in the timeline). */
  ts_state = tl_start > 0 ? om_hs_state_at (hs, room_id, tl_start)
                          : g_ptr_array_new_with_free_func ((GDestroyNotify) om_hs_event_free);
  if (since >= 0 && !full_state)
    prev_state = om_hs_state_at (hs, room_id, since);
  state_arr = json_array_new ();
  for (guint i = 0; i < ts_state->len; i++)
    {
      OmHsEvent *ev = ts_state->pdata[i];

      /* After a gap, lazy loading re-sends the senders' member events the
       * device has not been sent yet (Synapse's per-device cache). */
      if (prev_state && has_event_id (prev_state, ev->event_id) &&
          !(fp->lazy_load_members && limited && g_str_equal (ev->type, "m.room.member") &&
            has_string (senders, ev->state_key) && !ll_cache_has (ll_sent, ev->event_id)))
        continue;
      if (fp->lazy_load_members && g_str_equal (ev->type, "m.room.member") &&
          !has_string (senders, ev->state_key) &&
          !(g_str_equal (ev->state_key, user_id) && (since < 0 || full_state)))
        continue;
      json_array_add_element (state_arr, om_hs_event_to_json (hs, ev, OM_HS_FORMAT_SYNC, user_id, device_id));
      if (g_str_equal (ev->type, "m.room.member"))
        g_hash_table_add (ll_sent, g_strdup (ev->event_id));
    }
  for (guint i = 0; i < timeline_evs->len; i++)
    {
      OmHsEvent *ev = timeline_evs->pdata[i];

      if (g_str_equal (ev->type, "m.room.member"))
        g_hash_table_add (ll_sent, g_strdup (ev->event_id));
    }

  eph_arr = NULL;
  if (joined)
    {
      gint64 *tpos = g_hash_table_lookup (hs->typing_pos, room_id);
      g_autoptr(GPtrArray) typing = om_hs_typing_users (hs, room_id);
      g_autoptr(JsonArray) receipts = receipts_array (hs, room_id, user_id, since < 0 ? 0 : since);

      /* Synapse lists m.typing before m.receipt. */
      eph_arr = json_array_new ();
      if ((since < 0 && typing->len > 0) || (since >= 0 && tpos && *tpos > since))
        {
          JsonObject *ev = json_object_new ();
          JsonObject *c = json_object_new ();
          JsonArray *ids = json_array_new ();

          for (guint i = 0; i < typing->len; i++)
            json_array_add_string_element (ids, typing->pdata[i]);
          json_object_set_array_member (c, "user_ids", ids);
          json_object_set_string_member (ev, "type", "m.typing");
          json_object_set_object_member (ev, "content", c);
          json_array_add_object_element (eph_arr, ev);
        }
      for (guint i = 0; i < json_array_get_length (receipts); i++)
        json_array_add_element (eph_arr, json_node_copy (json_array_get_element (receipts, i)));
    }

  account = om_hs_account_data_since (hs, user_id, room_id, since < 0 ? 0 : since);
  ad_arr = json_array_new ();
  for (guint i = 0; i < account->len; i++)
    {
      char **row = account->pdata[i];
      JsonObject *ev = json_object_new ();
      JsonObject *c = om_hs_parse_object (row[1]);

      json_object_set_string_member (ev, "type", row[0]);
      json_object_set_object_member (ev, "content", c ? c : json_object_new ());
      json_array_add_object_element (ad_arr, ev);
    }

  if (since >= 0 && json_array_get_length (tl_arr) == 0 && json_array_get_length (state_arr) == 0 &&
      (eph_arr == NULL || json_array_get_length (eph_arr) == 0) && json_array_get_length (ad_arr) == 0)
    {
      json_array_unref (tl_arr);
      json_array_unref (state_arr);
      json_array_unref (ad_arr);
      if (eph_arr)
        json_array_unref (eph_arr);
      return NULL;
    }

  entry = json_object_new ();
  timeline = events_object (tl_arr);
  json_object_set_string_member (timeline, "prev_batch", prev_batch);
  json_object_set_boolean_member (timeline, "limited", limited);
  json_object_set_object_member (entry, "timeline", timeline);
  json_object_set_object_member (entry, "state", events_object (state_arr));
  json_object_set_object_member (entry, "account_data", events_object (ad_arr));
  if (joined)
    {
      json_object_set_object_member (entry, "ephemeral", events_object (eph_arr));
      unread_counts (hs, room_id, user_id, upto, &n_notify, &n_highlight);
      unread = json_object_new ();
      json_object_set_int_member (unread, "notification_count", n_notify);
      json_object_set_int_member (unread, "highlight_count", n_highlight);
      json_object_set_object_member (entry, "unread_notifications", unread);
      if (fp->lazy_load_members && (since < 0 || members_in_timeline || full_state))
        json_object_set_object_member (entry, "summary", room_summary (hs, room_id, user_id));
      else
        json_object_set_object_member (entry, "summary", json_object_new ());
    }
  return entry;
}

static JsonObject *
invite_entry (OmHs       *hs,
              OmHsEvent  *invite,
              const char *user_id,
              const char *device_id)
{
  static const char *types[] = {
    "m.room.join_rules", "m.room.canonical_alias", "m.room.avatar", "m.room.encryption",
    "m.room.create", "m.room.name", "m.room.topic",
  };
  JsonArray *arr = json_array_new ();
  JsonObject *entry = json_object_new ();
  g_autoptr(OmHsEvent) inviter = om_hs_state_get (hs, invite->room_id, "m.room.member", invite->sender);

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr(OmHsEvent) ev = om_hs_state_get (hs, invite->room_id, types[i], "");
      if (ev)
        json_array_add_element (arr, om_hs_event_to_json (hs, ev, OM_HS_FORMAT_STRIPPED, NULL, NULL));
    }
  if (inviter)
    json_array_add_element (arr, om_hs_event_to_json (hs, inviter, OM_HS_FORMAT_STRIPPED, NULL, NULL));
  json_array_add_element (arr, om_hs_event_to_json (hs, invite, OM_HS_FORMAT_SYNC, user_id, device_id));
  json_object_set_object_member (entry, "invite_state", events_object (arr));
  return entry;
}

static JsonObject *
presence_event (const char *user_id,
                JsonObject *content)
{
  JsonObject *ev = json_object_new ();

  json_object_set_string_member (ev, "type", "m.presence");
  json_object_set_string_member (ev, "sender", user_id);
  json_object_set_object_member (ev, "content", json_object_ref (content));
  return ev;
}

static JsonObject *
build_sync (OmHs       *hs,
            const char *user_id,
            const char *device_id,
            gint64      since,
            JsonObject *filter,
            gboolean    full_state,
            gboolean   *out_has_data)
{
  JsonObject *out = json_object_new ();
  JsonObject *join = json_object_new ();
  JsonObject *invite = json_object_new ();
  JsonObject *leave = json_object_new ();
  JsonArray *presence = json_array_new ();
  JsonArray *account = json_array_new ();
  JsonArray *changed = json_array_new ();
  g_autoptr(GPtrArray) rooms = om_hs_user_rooms (hs, user_id);
  g_autoptr(GPtrArray) pusers = om_hs_presence_since (hs, since < 0 ? 0 : since);
  g_autoptr(GPtrArray) gad = om_hs_account_data_since (hs, user_id, NULL, since < 0 ? 0 : since);
  g_autofree char *next = token_s (hs->stream);
  OmHsFilterParams fp;
  gboolean has_rooms;
  JsonObject *rooms_obj;
  gboolean has_to_device;

  filter_params (filter, &fp);
  for (guint i = 0; i < rooms->len; i++)
    {
      OmHsEvent *mev = rooms->pdata[i];
      g_autofree char *membership = event_membership (mev);
      JsonObject *entry = NULL;

      if (g_strcmp0 (membership, "join") == 0)
        {
          gint64 room_since = since;

          if (since >= 0 && mev->stream > since)
            {
              g_autoptr(OmHsEvent) prev = mev->prev_event_id ? om_hs_event_get (hs, mev->prev_event_id) : NULL;
              g_autofree char *prev_m = event_membership (prev);

              if (g_strcmp0 (prev_m, "join") != 0)
                room_since = -1;
            }
          entry = room_entry (hs, mev->room_id, user_id, device_id, room_since, hs->stream,
                              full_state, TRUE, &fp);
          if (entry)
            json_object_set_object_member (join, mev->room_id, entry);
        }
      else if (g_strcmp0 (membership, "invite") == 0)
        {
          if (since < 0 || mev->stream > since)
            json_object_set_object_member (invite, mev->room_id, invite_entry (hs, mev, user_id, device_id));
        }
      else if ((since >= 0 && mev->stream > since) || (since < 0 && fp.include_leave))
        {
          entry = room_entry (hs, mev->room_id, user_id, device_id, since, mev->stream,
                              full_state, FALSE, &fp);
          if (entry)
            json_object_set_object_member (leave, mev->room_id, entry);
        }
    }

  for (guint i = 0; i < pusers->len; i++)
    {
      const char *other = pusers->pdata[i];
      g_autoptr(JsonObject) content = NULL;

      if (!om_hs_users_share_room (hs, user_id, other))
        continue;
      content = om_hs_presence_get (hs, other, NULL);
      if (content)
        json_array_add_object_element (presence, presence_event (other, content));
    }

  if (since < 0)
    {
      g_autofree char *localpart = g_strndup (user_id + 1, strcspn (user_id + 1, ":"));
      g_auto(GStrv) parts = g_strsplit (om_hs_default_push_rules, "@@USER_ID@@", -1);
      g_autofree char *step = g_strjoinv (user_id, parts);
      g_auto(GStrv) parts2 = g_strsplit (step, "@@LOCALPART@@", -1);
      g_autofree char *rules = g_strjoinv (localpart, parts2);
      JsonObject *ev = json_object_new ();
      JsonObject *c = om_hs_parse_object (rules);

      json_object_set_string_member (ev, "type", "m.push_rules");
      json_object_set_object_member (ev, "content", c ? c : json_object_new ());
      json_array_add_object_element (account, ev);
    }
  for (guint i = 0; i < gad->len; i++)
    {
      char **row = gad->pdata[i];
      JsonObject *ev = json_object_new ();
      JsonObject *c = om_hs_parse_object (row[1]);

      json_object_set_string_member (ev, "type", row[0]);
      json_object_set_object_member (ev, "content", c ? c : json_object_new ());
      json_array_add_object_element (account, ev);
    }

  if (since >= 0)
    {
      g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

      for (guint i = 0; i < rooms->len; i++)
        {
          OmHsEvent *mev = rooms->pdata[i];
          g_autoptr(GPtrArray) members = om_hs_room_members (hs, mev->room_id, "join");

          for (guint j = 0; j < members->len; j++)
            {
              const char *m = members->pdata[j];

              if (g_hash_table_contains (seen, m))
                continue;
              g_hash_table_add (seen, g_strdup (m));
              if (om_hs_device_list_pos (hs, m) > since)
                json_array_add_string_element (changed, m);
            }
        }
    }

  json_object_set_string_member (out, "next_batch", next);
  if (json_array_get_length (account) > 0)
    json_object_set_object_member (out, "account_data", events_object (account));
  else
    json_array_unref (account);
  if (json_array_get_length (presence) > 0)
    json_object_set_object_member (out, "presence", events_object (presence));
  else
    json_array_unref (presence);
  if (json_array_get_length (changed) > 0)
    {
      JsonObject *dl = json_object_new ();
      json_object_set_array_member (dl, "changed", changed);
      json_object_set_object_member (out, "device_lists", dl);
    }
  else
    json_array_unref (changed);
  has_to_device = om_hs_sync_add_e2ee (hs, user_id, device_id, since, out);

  has_rooms = json_object_get_size (join) + json_object_get_size (invite) + json_object_get_size (leave) > 0;
  if (has_rooms)
    {
      rooms_obj = json_object_new ();
      if (json_object_get_size (join) > 0)
        json_object_set_object_member (rooms_obj, "join", json_object_ref (join));
      if (json_object_get_size (invite) > 0)
        json_object_set_object_member (rooms_obj, "invite", json_object_ref (invite));
      if (json_object_get_size (leave) > 0)
        json_object_set_object_member (rooms_obj, "leave", json_object_ref (leave));
      json_object_set_object_member (out, "rooms", rooms_obj);
    }
  json_object_unref (join);
  json_object_unref (invite);
  json_object_unref (leave);

  *out_has_data = has_rooms || has_to_device || json_object_has_member (out, "presence") ||
                  json_object_has_member (out, "account_data") ||
                  json_object_has_member (out, "device_lists");
  return out;
}

/* Synapse's sync response cache (off unless /_test/config sets
 * sync_cache_ms): an identical request within the window gets the same
 * answer, however the state moved since. */

typedef struct
{
  char   *body;
  gint64  expires_us;
} OmHsCachedSync;

static void
cached_sync_free (gpointer p)
{
  OmHsCachedSync *c = p;

  g_free (c->body);
  g_free (c);
}

static void
reply_sync (OmHs              *hs,
            SoupServerMessage *msg,
            const char        *user_id,
            const char        *cache_key,
            JsonObject        *out)
{
  om_hs_timing_delivered (hs, msg, user_id, out);

  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), out);

  if (cache_key && hs->sync_cache_ms > 0)
    {
      OmHsCachedSync *c = g_new0 (OmHsCachedSync, 1);

      if (hs->sync_cache == NULL)
        hs->sync_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cached_sync_free);
      c->body = om_hs_json_to_string (node);
      c->expires_us = g_get_monotonic_time () + hs->sync_cache_ms * 1000;
      g_hash_table_replace (hs->sync_cache, g_strdup (cache_key), c);
    }
  om_hs_reply_json (msg, 200, node);
}

static gboolean
reply_cached_sync (OmHs              *hs,
                   SoupServerMessage *msg,
                   const char        *cache_key)
{
  OmHsCachedSync *c = hs->sync_cache ? g_hash_table_lookup (hs->sync_cache, cache_key) : NULL;

  if (c == NULL || c->expires_us < g_get_monotonic_time ())
    return FALSE;
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, c->body, strlen (c->body));
  return TRUE;
}

/* Long-poll */

static void
waiter_free (OmHsWaiter *w)
{
  if (w->timeout_id)
    g_source_remove (w->timeout_id);
  if (w->disconnected_id)
    g_signal_handler_disconnect (w->msg, w->disconnected_id);
  if (w->socket_source)
    {
      g_source_destroy (w->socket_source);
      g_source_unref (w->socket_source);
    }
  g_object_unref (w->msg);
  g_free (w->user_id);
  g_free (w->device_id);
  g_free (w->cache_key);
  json_object_unref (w->filter);
  g_free (w);
}

/* Answers with @out, or with a fresh response when NULL.  A response is
 * built once per answer: building records what lazy loading sent. */
static void
waiter_finish (OmHsWaiter *w,
               JsonObject *out)
{
  OmHs *hs = w->hs;
  g_autoptr(JsonObject) fresh = NULL;
  gboolean has_data;

  hs->waiters = g_list_remove (hs->waiters, w);
  if (out == NULL)
    out = fresh = build_sync (hs, w->user_id, w->device_id, w->since, w->filter, w->full_state, &has_data);
  reply_sync (hs, w->msg, w->user_id, w->cache_key, out);
  soup_server_message_unpause (w->msg);
  waiter_free (w);
}

static gboolean
waiter_timeout_cb (gpointer user_data)
{
  OmHsWaiter *w = user_data;

  w->timeout_id = 0;
  waiter_finish (w, NULL);
  return G_SOURCE_REMOVE;
}

static void
waiter_disconnected_cb (SoupServerMessage *msg,
                        gpointer           user_data)
{
  OmHsWaiter *w = user_data;

  w->hs->waiters = g_list_remove (w->hs->waiters, w);
  waiter_free (w);
}

/* libsoup does not read a paused connection, so it would only notice a
 * client that gave up when the long-poll ends: peek at the socket instead. */
static gboolean
waiter_socket_cb (GSocket      *socket,
                  GIOCondition  condition,
                  gpointer      user_data)
{
  OmHsWaiter *w = user_data;
  char c;
  gssize n = recv (g_socket_get_fd (socket), &c, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return G_SOURCE_CONTINUE;
  g_source_unref (w->socket_source);
  w->socket_source = NULL;
  if (n > 0)
    return G_SOURCE_REMOVE;   /* a pipelined request: stop watching */

  w->hs->waiters = g_list_remove (w->hs->waiters, w);
  soup_server_message_set_status (w->msg, 500, NULL);
  soup_server_message_unpause (w->msg);
  waiter_free (w);
  return G_SOURCE_REMOVE;
}

static gboolean
notify_cb (gpointer user_data)
{
  OmHs *hs = user_data;
  GList *copy = g_list_copy (hs->waiters);

  hs->notify_idle = 0;
  for (GList *l = copy; l; l = l->next)
    {
      OmHsWaiter *w = l->data;
      g_autoptr(JsonObject) out = NULL;
      gboolean has_data = FALSE;

      if (g_list_find (hs->waiters, w) == NULL)
        continue;
      out = build_sync (hs, w->user_id, w->device_id, w->since, w->filter, w->full_state, &has_data);
      if (has_data)
        waiter_finish (w, out);
    }
  g_list_free (copy);
  return G_SOURCE_REMOVE;
}

void
om_hs_notify (OmHs *hs)
{
  if (hs->notify_idle == 0 && hs->waiters != NULL)
    hs->notify_idle = g_idle_add (notify_cb, hs);
}

void
om_hs_waiters_cancel_all (OmHs *hs)
{
  while (hs->waiters)
    {
      OmHsWaiter *w = hs->waiters->data;

      hs->waiters = g_list_remove (hs->waiters, w);
      soup_server_message_set_status (w->msg, 503, NULL);
      soup_server_message_unpause (w->msg);
      waiter_free (w);
    }
}

void
om_hs_waiter_forget (OmHs              *hs,
                     SoupServerMessage *msg)
{
  for (GList *l = hs->waiters; l; l = l->next)
    {
      OmHsWaiter *w = l->data;

      if (w->msg == msg)
        {
          hs->waiters = g_list_delete_link (hs->waiters, l);
          soup_server_message_unpause (msg);
          waiter_free (w);
          return;
        }
    }
}

void
om_hs_handle_sync (OmHsRequest *req)
{
  OmHs *hs = req->hs;
  const char *since_str = om_hs_query (req, "since");
  const char *timeout_str = om_hs_query (req, "timeout");
  const char *set_presence = om_hs_query (req, "set_presence");
  const char *full_state_str = om_hs_query (req, "full_state");
  const char *errcode = NULL, *error = NULL;
  g_autoptr(JsonObject) filter = NULL;
  g_autoptr(JsonObject) out = NULL;
  gint64 since = -1, timeout = 0;
  gboolean full_state = g_strcmp0 (full_state_str, "true") == 0;
  gboolean has_data = FALSE;
  g_autofree char *cache_key = NULL;
  OmHsWaiter *w;

  hs->n_sync_requests++;
  if (hs->sync_cache_ms > 0)
    {
      const char *filter_str = om_hs_query (req, "filter");

      cache_key = g_strdup_printf ("%s|%s|%s|%s|%s|%s|%s", req->user_id, req->device_id,
                                   since_str ? since_str : "", filter_str ? filter_str : "",
                                   timeout_str ? timeout_str : "", full_state_str ? full_state_str : "",
                                   set_presence ? set_presence : "");
      if (reply_cached_sync (hs, req->msg, cache_key))
        return;
    }
  filter = om_hs_filter_resolve (hs, req->user_id, om_hs_query (req, "filter"), &errcode, &error);
  if (filter == NULL)
    {
      om_hs_reply_error (req->msg, 400, errcode, error);
      return;
    }
  if (since_str && (!parse_token (since_str, &since) || since_str[0] != 's'))
    {
      om_hs_reply_error (req->msg, 400, "M_UNKNOWN", "Invalid stream token");
      return;
    }
  if (timeout_str)
    timeout = CLAMP (g_ascii_strtoll (timeout_str, NULL, 10), 0, 600000);

  if (set_presence == NULL || g_str_equal (set_presence, "online"))
    om_hs_presence_set (hs, req->user_id, "online", NULL, FALSE);
  else if (g_str_equal (set_presence, "unavailable"))
    om_hs_presence_set (hs, req->user_id, "unavailable", NULL, FALSE);

  out = build_sync (hs, req->user_id, req->device_id, since, filter, full_state, &has_data);
  /* An initial sync returns at once whatever the timeout (Synapse). */
  if (has_data || since < 0 || timeout == 0 || full_state)
    {
      reply_sync (hs, req->msg, req->user_id, cache_key, out);
      return;
    }

  w = g_new0 (OmHsWaiter, 1);
  w->hs = hs;
  w->msg = g_object_ref (req->msg);
  w->user_id = g_strdup (req->user_id);
  w->device_id = g_strdup (req->device_id);
  w->since = since;
  w->cache_key = g_steal_pointer (&cache_key);
  w->filter = g_steal_pointer (&filter);
  w->timeout_id = g_timeout_add ((guint) timeout, waiter_timeout_cb, w);
  w->disconnected_id = g_signal_connect (req->msg, "disconnected",
                                         G_CALLBACK (waiter_disconnected_cb), w);
  if (soup_server_message_get_socket (req->msg))
    {
      w->socket_source = g_socket_create_source (soup_server_message_get_socket (req->msg),
                                                 G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
      g_source_set_callback (w->socket_source, G_SOURCE_FUNC (waiter_socket_cb), w, NULL);
      g_source_attach (w->socket_source, NULL);
    }
  hs->waiters = g_list_prepend (hs->waiters, w);
  soup_server_message_pause (req->msg);
}

/* /messages */

void
om_hs_handle_messages (OmHsRequest *req)
{
  OmHs *hs = req->hs;
  const char *room_id = req->segs[1];
  const char *dir = om_hs_query (req, "dir");
  const char *from_str = om_hs_query (req, "from");
  const char *to_str = om_hs_query (req, "to");
  const char *limit_str = om_hs_query (req, "limit");
  const char *errcode = NULL, *error = NULL;
  g_autofree char *membership = om_hs_membership (hs, room_id, req->user_id);
  g_autoptr(JsonObject) filter = NULL;
  g_autoptr(JsonObject) out = NULL;
  g_autoptr(GPtrArray) evs = NULL;
  g_autoptr(GPtrArray) senders = g_ptr_array_new ();
  gboolean backwards = dir == NULL || g_str_equal (dir, "b");
  gint64 from, to = -1, limit = 10;
  JsonArray *chunk;
  gboolean more;

  if (g_strcmp0 (membership, "join") != 0)
    {
      g_autofree char *msg = g_strdup_printf ("User %s not in room %s, and room previews are disabled",
                                              req->user_id, room_id);
      om_hs_reply_error (req->msg, 403, "M_FORBIDDEN", msg);
      return;
    }
  if (dir && !g_str_equal (dir, "b") && !g_str_equal (dir, "f"))
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM", "Unknown value for dir");
      return;
    }
  if (from_str == NULL)
    from = backwards ? hs->stream : 0;
  else if (!parse_token (from_str, &from))
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM", "Invalid token");
      return;
    }
  if (to_str && !parse_token (to_str, &to))
    {
      om_hs_reply_error (req->msg, 400, "M_INVALID_PARAM", "Invalid token");
      return;
    }
  if (limit_str)
    limit = CLAMP (g_ascii_strtoll (limit_str, NULL, 10), 1, 1000);
  filter = om_hs_parse_object (om_hs_query (req, "filter"));
  if (om_hs_query (req, "filter") && filter == NULL)
    {
      errcode = "M_NOT_JSON";
      error = "Invalid filter JSON";
      om_hs_reply_error (req->msg, 400, errcode, error);
      return;
    }

  if (backwards)
    evs = om_hs_room_events (hs, room_id, to >= 0 ? to : 0, from, (guint) limit + 1, TRUE);
  else
    evs = om_hs_room_events (hs, room_id, from, to >= 0 ? to : G_MAXINT64, (guint) limit + 1, FALSE);
  more = evs->len > (guint) limit;
  if (more)
    g_ptr_array_set_size (evs, (guint) limit);

  chunk = json_array_new ();
  for (guint i = 0; i < evs->len; i++)
    {
      OmHsEvent *ev = evs->pdata[i];

      json_array_add_element (chunk, om_hs_event_to_json (hs, ev, OM_HS_FORMAT_CLIENT,
                                                          req->user_id, req->device_id));
      if (!has_string (senders, ev->sender))
        g_ptr_array_add (senders, ev->sender);
    }
  out = json_object_new ();
  json_object_set_array_member (out, "chunk", chunk);
  if (from_str)
    json_object_set_string_member (out, "start", from_str);
  else
    {
      g_autofree char *start = token_s (from);
      json_object_set_string_member (out, "start", start);
    }
  if (more)
    {
      OmHsEvent *last = evs->pdata[evs->len - 1];
      g_autofree char *end = g_strdup_printf ("t%" G_GINT64_FORMAT,
                                              backwards ? last->stream - 1 : last->stream);
      json_object_set_string_member (out, "end", end);
    }
  if (bool_member (filter, "lazy_load_members") && evs->len > 0)
    {
      g_autoptr(GPtrArray) state = om_hs_state_at (hs, room_id, from > 0 ? from : hs->stream);
      JsonArray *arr = json_array_new ();

      for (guint i = 0; i < state->len; i++)
        {
          OmHsEvent *ev = state->pdata[i];

          if (g_str_equal (ev->type, "m.room.member") && has_string (senders, ev->state_key))
            json_array_add_element (arr, om_hs_event_to_json (hs, ev, OM_HS_FORMAT_CLIENT,
                                                              req->user_id, req->device_id));
        }
      json_object_set_array_member (out, "state", arr);
    }
  om_hs_reply_object (req->msg, 200, out);
}
