/* om-timeline.c — a room's timeline as a GListModel of OmEvent
 *
 * Items live in a deque (a C array with free slots at both ends), so
 * get_item is O(1) and appending or prepending a batch costs the batch,
 * not the timeline: 100,000 events stay cheap.  Positions
 * [0, n_remote) hold remote events in server order, [n_remote, len) the
 * local echoes still on their way.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-timeline"

#include <string.h>

#include "om-error.h"
#include "om-room-private.h"

struct _OmTimeline
{
  GObject      parent_instance;

  OmRoom      *room;        /* borrowed: the room owns the timeline */

  OmEvent    **items;       /* owned refs in items[head, head + len) */
  guint        head;
  guint        len;
  guint        cap;
  guint        n_remote;

  GHashTable  *remote_ids;  /* event ID (owned) → OmEvent (borrowed) of the remote part */
  GHashTable  *remote_txns; /* transaction ID (owned) → OmEvent (borrowed) of the remote part */
  char        *prev_batch;  /* owned, nullable: where back-pagination goes on */
  guint        generation;  /* bumped by each reset: stale pages are dropped */
  gboolean     can_load_older;
  gboolean     loading;
  gboolean     merging;     /* ignore echo notifications we cause ourselves */
};

static void om_timeline_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (OmTimeline, om_timeline, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      om_timeline_list_model_init))

enum {
  PROP_0,
  PROP_ROOM,
  PROP_CAN_LOAD_OLDER,
  PROP_LOADING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

#define ITEM(self, i) ((self)->items[(self)->head + (i)])

static void on_echo_event_id (OmEvent    *echo,
                              GParamSpec *pspec,
                              OmTimeline *self);

/* Makes room for @front more items before the first and @back more after
 * the last. */
static void
reserve (OmTimeline *self,
         guint       front,
         guint       back)
{
  OmEvent **items;
  guint cap, head;

  if (self->head >= front && self->cap - self->head - self->len >= back)
    return;

  cap = MAX (64, (self->len + front + back) * 2);
  head = front + (cap - self->len - front - back) / 2;
  items = g_new (OmEvent *, cap);
  if (self->len > 0)
    memcpy (items + head, self->items + self->head, self->len * sizeof (OmEvent *));
  g_free (self->items);
  self->items = items;
  self->cap = cap;
  self->head = head;
}

/* Inserts @n items (refs taken) at @pos. */
static void
insert_items (OmTimeline  *self,
              guint        pos,
              OmEvent    **events,
              guint        n)
{
  g_assert (pos <= self->len);

  if (n == 0)
    return;

  if (pos == 0)
    {
      reserve (self, n, 0);
      self->head -= n;
    }
  else
    {
      reserve (self, 0, n);
      memmove (self->items + self->head + pos + n, self->items + self->head + pos,
               (self->len - pos) * sizeof (OmEvent *));
    }
  self->len += n;

  for (guint i = 0; i < n; i++)
    ITEM (self, pos + i) = g_object_ref (events[i]);
}

/* Removes @n items at @pos, dropping their refs. */
static void
remove_items (OmTimeline *self,
              guint       pos,
              guint       n)
{
  g_assert (pos + n <= self->len);

  for (guint i = 0; i < n; i++)
    g_object_unref (ITEM (self, pos + i));

  if (pos == 0)
    self->head += n;
  else
    memmove (self->items + self->head + pos, self->items + self->head + pos + n,
             (self->len - pos - n) * sizeof (OmEvent *));
  self->len -= n;
}

static guint
om_timeline_count_stored_older (OmTimeline *self)
{
  OmStore *store = self->room != NULL ? om_room_get_store (self->room) : NULL;
  guint n_stored;

  if (store == NULL)
    return 0;

  n_stored = om_store_timeline_count (store, om_room_get_room_id (self->room));
  return n_stored > self->n_remote ? n_stored - self->n_remote : 0;
}

static gboolean
om_timeline_at_room_start (OmTimeline *self)
{
  OmEvent *oldest;

  if (self->n_remote == 0)
    return FALSE;

  oldest = ITEM (self, 0);
  return g_strcmp0 (om_event_get_event_type (oldest), "m.room.create") == 0 &&
         g_strcmp0 (om_event_get_state_key (oldest), "") == 0;
}

static void
update_can_load_older (OmTimeline *self)
{
  gboolean can_load_older;

  can_load_older = (self->prev_batch != NULL && !om_timeline_at_room_start (self)) ||
                   om_timeline_count_stored_older (self) > 0;

  if (can_load_older != self->can_load_older)
    {
      self->can_load_older = can_load_older;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_LOAD_OLDER]);
    }
}

static void
set_loading (OmTimeline *self,
             gboolean    loading)
{
  if (self->loading == loading)
    return;

  self->loading = loading;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

static GType
om_timeline_get_item_type (GListModel *model)
{
  return OM_TYPE_EVENT;
}

static guint
om_timeline_get_n_items (GListModel *model)
{
  return OM_TIMELINE (model)->len;
}

static gpointer
om_timeline_get_item (GListModel *model,
                      guint       position)
{
  OmTimeline *self = OM_TIMELINE (model);

  if (position >= self->len)
    return NULL;

  return g_object_ref (ITEM (self, position));
}

static void
om_timeline_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = om_timeline_get_item_type;
  iface->get_n_items = om_timeline_get_n_items;
  iface->get_item = om_timeline_get_item;
}

static void
om_timeline_dispose (GObject *object)
{
  OmTimeline *self = OM_TIMELINE (object);

  for (guint i = self->n_remote; i < self->len; i++)
    g_signal_handlers_disconnect_by_func (ITEM (self, i), on_echo_event_id, self);
  if (self->len > 0)
    remove_items (self, 0, self->len);
  self->n_remote = 0;
  g_clear_pointer (&self->remote_ids, g_hash_table_unref);
  g_clear_pointer (&self->remote_txns, g_hash_table_unref);
  if (self->room != NULL)
    g_object_remove_weak_pointer (G_OBJECT (self->room), (gpointer *) &self->room);
  self->room = NULL;

  G_OBJECT_CLASS (om_timeline_parent_class)->dispose (object);
}

static void
om_timeline_finalize (GObject *object)
{
  OmTimeline *self = OM_TIMELINE (object);

  g_clear_pointer (&self->items, g_free);
  g_clear_pointer (&self->prev_batch, g_free);

  G_OBJECT_CLASS (om_timeline_parent_class)->finalize (object);
}

static void
om_timeline_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  OmTimeline *self = OM_TIMELINE (object);

  switch (prop_id)
    {
    case PROP_ROOM:
      g_value_set_object (value, self->room);
      break;
    case PROP_CAN_LOAD_OLDER:
      g_value_set_boolean (value, self->can_load_older);
      break;
    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
om_timeline_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  OmTimeline *self = OM_TIMELINE (object);

  switch (prop_id)
    {
    case PROP_ROOM:
      /* Weak: GTK may keep the timeline after the room is gone. */
      self->room = g_value_get_object (value);
      if (self->room != NULL)
        g_object_add_weak_pointer (G_OBJECT (self->room), (gpointer *) &self->room);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
om_timeline_class_init (OmTimelineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = om_timeline_dispose;
  object_class->finalize = om_timeline_finalize;
  object_class->get_property = om_timeline_get_property;
  object_class->set_property = om_timeline_set_property;

  properties[PROP_ROOM] =
    g_param_spec_object ("room", NULL, NULL, OM_TYPE_ROOM,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_LOAD_OLDER] =
    g_param_spec_boolean ("can-load-older", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOADING] =
    g_param_spec_boolean ("loading", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
om_timeline_init (OmTimeline *self)
{
  self->remote_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->remote_txns = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

OmTimeline *
om_timeline_new (OmRoom *room)
{
  return g_object_new (OM_TYPE_TIMELINE, "room", room, NULL);
}

OmRoom *
om_timeline_get_room (OmTimeline *self)
{
  g_return_val_if_fail (OM_IS_TIMELINE (self), NULL);

  return self->room;
}

gboolean
om_timeline_get_can_load_older (OmTimeline *self)
{
  g_return_val_if_fail (OM_IS_TIMELINE (self), FALSE);

  return self->can_load_older;
}

gboolean
om_timeline_get_loading (OmTimeline *self)
{
  g_return_val_if_fail (OM_IS_TIMELINE (self), FALSE);

  return self->loading;
}

const char *
om_timeline_get_prev_batch (OmTimeline *self)
{
  g_return_val_if_fail (OM_IS_TIMELINE (self), NULL);

  return self->prev_batch;
}

void
om_timeline_set_prev_batch (OmTimeline *self,
                            const char *prev_batch)
{
  g_return_if_fail (OM_IS_TIMELINE (self));

  if (g_strcmp0 (self->prev_batch, prev_batch) != 0)
    {
      g_free (self->prev_batch);
      self->prev_batch = g_strdup (prev_batch);
    }
  update_can_load_older (self);
}

OmEvent *
om_timeline_find_event (OmTimeline *self,
                        const char *event_id)
{
  OmEvent *event;

  g_return_val_if_fail (OM_IS_TIMELINE (self), NULL);

  if (event_id == NULL)
    return NULL;

  event = g_hash_table_lookup (self->remote_ids, event_id);
  if (event != NULL)
    return event;

  for (guint i = self->n_remote; i < self->len; i++)
    if (g_strcmp0 (om_event_get_event_id (ITEM (self, i)), event_id) == 0)
      return ITEM (self, i);

  return NULL;
}

/* Indexes an event of the remote part. */
static void
index_remote (OmTimeline *self,
              OmEvent    *event)
{
  const char *txn_id = om_event_get_txn_id (event);

  g_hash_table_insert (self->remote_ids, g_strdup (om_event_get_event_id (event)), event);
  if (txn_id != NULL)
    g_hash_table_insert (self->remote_txns, g_strdup (txn_id), event);
}

/* Position of @event, searching from the newest (the likely place). */
static gint
position_of (OmTimeline *self,
             OmEvent    *event)
{
  for (guint i = self->len; i > 0; i--)
    if (ITEM (self, i - 1) == event)
      return (gint) i - 1;

  return -1;
}

gint
om_timeline_find_position (OmTimeline *self,
                           const char *event_id)
{
  OmEvent *event;

  g_return_val_if_fail (OM_IS_TIMELINE (self), -1);

  event = om_timeline_find_event (self, event_id);
  return event != NULL ? position_of (self, event) : -1;
}

OmEvent *
om_timeline_get_latest_remote (OmTimeline *self)
{
  g_return_val_if_fail (OM_IS_TIMELINE (self), NULL);

  return self->n_remote > 0 ? ITEM (self, self->n_remote - 1) : NULL;
}

/* The index (in the echo part) of the echo @remote is the remote echo of,
 * or -1. */
static gint
find_echo_for (OmTimeline *self,
               OmEvent    *remote,
               gboolean   *merged)
{
  const char *txn_id = om_event_get_txn_id (remote);
  const char *event_id = om_event_get_event_id (remote);

  for (guint i = self->n_remote; i < self->len; i++)
    {
      OmEvent *echo = ITEM (self, i);
      guint k = i - self->n_remote;

      if (merged[k])
        continue;
      if ((txn_id != NULL && g_strcmp0 (om_event_get_txn_id (echo), txn_id) == 0) ||
          g_strcmp0 (om_event_get_event_id (echo), event_id) == 0)
        return (gint) k;
    }

  return -1;
}

void
om_timeline_append_remote (OmTimeline *self,
                           GPtrArray  *events)
{
  g_autoptr(GPtrArray) added = NULL;
  g_autoptr(GPtrArray) tail = NULL;
  g_autofree gboolean *merged = NULL;
  guint n_echoes, merged_end = 0, pos;
  gboolean was_empty;

  g_return_if_fail (OM_IS_TIMELINE (self));
  g_return_if_fail (events != NULL);

  n_echoes = self->len - self->n_remote;
  merged = g_new0 (gboolean, n_echoes + 1);
  added = g_ptr_array_new_full (events->len, g_object_unref);
  was_empty = self->n_remote == 0;

  for (guint i = 0; i < events->len; i++)
    {
      OmEvent *event = g_ptr_array_index (events, i);
      const char *event_id = om_event_get_event_id (event);
      OmEvent *target = event;
      gint k;

      if (event_id == NULL)
        {
          g_warning ("Timeline event without an event ID skipped");
          continue;
        }
      if (g_hash_table_contains (self->remote_ids, event_id))
        continue;

      k = find_echo_for (self, event, merged);
      if (k >= 0)
        {
          target = ITEM (self, self->n_remote + k);
          g_signal_handlers_disconnect_by_func (target, on_echo_event_id, self);
          self->merging = TRUE;
          om_event_merge_remote (target, event);
          self->merging = FALSE;
          merged[k] = TRUE;
          merged_end = MAX (merged_end, (guint) k + 1);
        }

      index_remote (self, target);
      g_ptr_array_add (added, g_object_ref (target));
    }

  if (added->len == 0)
    return;

  pos = self->n_remote;

  /* Merged echoes move into the remote part, in server order; the echoes
   * queued before the last merged one are re-inserted behind them. */
  tail = g_ptr_array_new_full (added->len + merged_end, g_object_unref);
  for (guint i = 0; i < added->len; i++)
    g_ptr_array_add (tail, g_object_ref (g_ptr_array_index (added, i)));
  for (guint k = 0; k < merged_end; k++)
    if (!merged[k])
      g_ptr_array_add (tail, g_object_ref (ITEM (self, pos + k)));

  remove_items (self, pos, merged_end);
  insert_items (self, pos, (OmEvent **) tail->pdata, tail->len);
  self->n_remote += added->len;

  g_list_model_items_changed (G_LIST_MODEL (self), pos, merged_end, tail->len);

  if (was_empty)
    update_can_load_older (self);
}

void
om_timeline_prepend_remote (OmTimeline *self,
                            GPtrArray  *events)
{
  g_autoptr(GPtrArray) added = NULL;

  g_return_if_fail (OM_IS_TIMELINE (self));
  g_return_if_fail (events != NULL);

  added = g_ptr_array_new_full (events->len, NULL);
  for (guint i = 0; i < events->len; i++)
    {
      OmEvent *event = g_ptr_array_index (events, i);
      const char *event_id = om_event_get_event_id (event);

      if (event_id == NULL || g_hash_table_contains (self->remote_ids, event_id))
        continue;

      index_remote (self, event);
      g_ptr_array_add (added, event);
    }

  if (added->len == 0)
    return;

  insert_items (self, 0, (OmEvent **) added->pdata, added->len);
  self->n_remote += added->len;

  g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, added->len);
  update_can_load_older (self);
}

void
om_timeline_reset (OmTimeline *self,
                   const char *prev_batch)
{
  guint n_removed;

  g_return_if_fail (OM_IS_TIMELINE (self));

  self->generation++;
  n_removed = self->n_remote;
  g_hash_table_remove_all (self->remote_ids);
  g_hash_table_remove_all (self->remote_txns);
  if (n_removed > 0)
    {
      remove_items (self, 0, n_removed);
      self->n_remote = 0;
      g_list_model_items_changed (G_LIST_MODEL (self), 0, n_removed, 0);
    }

  om_timeline_set_prev_batch (self, prev_batch);
}

/* The remote event an echo is the remote echo of, by event ID or by
 * transaction ID, or NULL. */
static OmEvent *
find_remote_for_echo (OmTimeline *self,
                      OmEvent    *echo)
{
  const char *event_id = om_event_get_event_id (echo);
  const char *txn_id = om_event_get_txn_id (echo);
  OmEvent *remote = NULL;

  if (event_id != NULL)
    remote = g_hash_table_lookup (self->remote_ids, event_id);
  if (remote == NULL && txn_id != NULL)
    remote = g_hash_table_lookup (self->remote_txns, txn_id);

  return remote != echo ? remote : NULL;
}

/* The remote echo came first (without a transaction ID, or before the
 * echo was added, as after a restart): the echo object takes the remote
 * event's place, so the message is never shown twice. */
static void
on_echo_event_id (OmEvent    *echo,
                  GParamSpec *pspec,
                  OmTimeline *self)
{
  OmEvent *remote;
  gint pos, echo_pos;

  if (self->merging || (remote = find_remote_for_echo (self, echo)) == NULL)
    return;

  pos = position_of (self, remote);
  echo_pos = position_of (self, echo);
  g_assert (pos >= 0 && (guint) pos < self->n_remote);
  g_assert (echo_pos >= (gint) self->n_remote);

  g_signal_handlers_disconnect_by_func (echo, on_echo_event_id, self);
  self->merging = TRUE;
  om_event_merge_remote (echo, remote);
  self->merging = FALSE;

  g_object_ref (echo);
  remove_items (self, echo_pos, 1);
  index_remote (self, echo);
  g_object_unref (ITEM (self, pos));
  ITEM (self, pos) = echo;

  g_list_model_items_changed (G_LIST_MODEL (self), pos, echo_pos - pos + 1, echo_pos - pos);
}

void
om_timeline_add_local_echo (OmTimeline *self,
                            OmEvent    *echo)
{
  g_return_if_fail (OM_IS_TIMELINE (self));
  g_return_if_fail (OM_IS_EVENT (echo));

  if (position_of (self, echo) >= 0)
    return;

  insert_items (self, self->len, &echo, 1);
  g_signal_connect_object (echo, "notify::event-id", G_CALLBACK (on_echo_event_id), self, 0);
  g_list_model_items_changed (G_LIST_MODEL (self), self->len - 1, 0, 1);

  /* Its remote echo may be here already. */
  on_echo_event_id (echo, NULL, self);
}

void
om_timeline_remove_local_echo (OmTimeline *self,
                               OmEvent    *echo)
{
  gint pos;

  g_return_if_fail (OM_IS_TIMELINE (self));
  g_return_if_fail (OM_IS_EVENT (echo));

  pos = position_of (self, echo);
  if (pos < (gint) self->n_remote)
    return;

  g_signal_handlers_disconnect_by_func (echo, on_echo_event_id, self);
  remove_items (self, pos, 1);
  g_list_model_items_changed (G_LIST_MODEL (self), pos, 1, 0);
}

OmEvent *
om_timeline_find_local_echo (OmTimeline *self,
                             const char *txn_id)
{
  g_return_val_if_fail (OM_IS_TIMELINE (self), NULL);

  if (txn_id == NULL)
    return NULL;

  for (guint i = self->n_remote; i < self->len; i++)
    if (g_strcmp0 (om_event_get_txn_id (ITEM (self, i)), txn_id) == 0)
      return ITEM (self, i);

  return NULL;
}

/* Back-pagination. */

typedef struct {
  guint generation;   /* of the timeline when the page was asked for */
} LoadOlderData;

/* Prepends @events (newest first, as /messages returns them) to the store
 * and the model.  Returns how many were new. */
static gssize
prepend_page (OmTimeline *self,
              GPtrArray  *newest_first,
              gboolean    persist,
              GError    **error)
{
  g_autoptr(GPtrArray) oldest_first = g_ptr_array_new_full (newest_first->len, NULL);
  OmStore *store = om_room_get_store (self->room);
  const char *room_id = om_room_get_room_id (self->room);
  guint before = self->n_remote;

  for (guint i = newest_first->len; i > 0; i--)
    g_ptr_array_add (oldest_first, g_ptr_array_index (newest_first, i - 1));

  if (persist && store != NULL)
    {
      for (guint i = 0; i < newest_first->len; i++)
        {
          OmEvent *event = g_ptr_array_index (newest_first, i);
          g_autofree char *json = NULL;

          if (g_hash_table_contains (self->remote_ids, om_event_get_event_id (event)))
            continue;
          json = om_event_to_string (event);
          if (!om_store_timeline_prepend (store, room_id, om_event_get_event_id (event),
                                          json, error))
            return -1;
        }
    }

  om_timeline_prepend_remote (self, oldest_first);
  return self->n_remote - before;
}

/* The stored events older than the loaded ones (after a restart only the
 * newest OM_ROOM_TIMELINE_CACHE are loaded). */
static gssize
load_older_from_store (OmTimeline *self,
                       guint       limit,
                       GError    **error)
{
  OmStore *store = om_room_get_store (self->room);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) newest_first = g_ptr_array_new_with_free_func (g_object_unref);
  guint n_older;

  rows = om_store_timeline_load_latest (store, om_room_get_room_id (self->room),
                                        self->n_remote + limit, error);
  if (rows == NULL)
    return -1;

  n_older = rows->len > self->n_remote ? rows->len - self->n_remote : 0;
  for (guint i = n_older; i > 0; i--)
    {
      const char *json = g_ptr_array_index (rows, i - 1);
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) local_error = NULL;
      OmEvent *event;

      if (!json_parser_load_from_data (parser, json, -1, &local_error) ||
          !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        {
          g_warning ("Stored event skipped: %s",
                     local_error != NULL ? local_error->message : "not an object");
          continue;
        }
      event = om_event_new_from_json (json_node_get_object (json_parser_get_root (parser)),
                                      FALSE, &local_error);
      if (event == NULL)
        {
          g_warning ("Stored event skipped: %s", local_error->message);
          continue;
        }
      g_ptr_array_add (newest_first, event);
    }

  return prepend_page (self, newest_first, FALSE, error);
}

static void
load_older_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  OmTimeline *self = g_task_get_source_object (task);
  LoadOlderData *data = g_task_get_task_data (task);
  OmStore *store;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) newest_first = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) members = g_ptr_array_new_with_free_func (g_object_unref);
  JsonObject *response;
  JsonNode *node;
  JsonArray *chunk;
  const char *end = NULL;
  gssize n_added;

  root = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  set_loading (self, FALSE);

  if (root == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (self->room == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The room was closed");
      return;
    }
  store = om_room_get_store (self->room);

  /* A limited sync reset the timeline meanwhile: this page no longer
   * joins on to what is loaded. */
  if (data->generation != self->generation)
    {
      g_task_return_int (task, 0);
      return;
    }

  node = JSON_NODE_HOLDS_OBJECT (root) ? json_object_get_member (json_node_get_object (root),
                                                                 "chunk") : NULL;
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_BAD_RESPONSE,
                               "The server's history page has no event list");
      return;
    }
  response = json_node_get_object (root);
  chunk = json_node_get_array (node);

  for (guint i = 0; i < json_array_get_length (chunk); i++)
    {
      JsonNode *element = json_array_get_element (chunk, i);
      g_autoptr(GError) local_error = NULL;
      OmEvent *event;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        {
          g_warning ("History event skipped: not an object");
          continue;
        }
      event = om_event_new_from_json (json_node_get_object (element), FALSE, &local_error);
      if (event == NULL)
        {
          g_warning ("History event skipped: %s", local_error->message);
          continue;
        }
      g_ptr_array_add (newest_first, event);
    }

  node = json_object_get_member (response, "state");
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *state = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (state); i++)
        {
          JsonNode *element = json_array_get_element (state, i);
          OmEvent *event;

          if (!JSON_NODE_HOLDS_OBJECT (element))
            continue;
          event = om_event_new_from_json (json_node_get_object (element), TRUE, NULL);
          if (event != NULL &&
              g_strcmp0 (om_event_get_event_type (event), "m.room.member") == 0)
            g_ptr_array_add (members, event);
          else
            g_clear_object (&event);
        }
    }

  node = json_object_get_member (response, "end");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_STRING)
    end = json_node_get_string (node);

  if (store != NULL && !om_store_begin (store, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (members->len > 0)
    om_room_add_lazy_members (self->room, members);

  n_added = prepend_page (self, newest_first, TRUE, &error);
  if (n_added >= 0)
    {
      g_free (self->prev_batch);
      self->prev_batch = g_strdup (end);
      if (!om_room_save_record (self->room, &error))
        n_added = -1;
    }

  if (store != NULL && n_added >= 0 && !om_store_commit (store, &error))
    n_added = -1;
  if (store != NULL && n_added < 0)
    om_store_rollback (store);

  update_can_load_older (self);

  if (n_added < 0)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_int (task, n_added);
}

void
om_timeline_load_older_async (OmTimeline          *self,
                              guint                limit,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *room_id = NULL;
  g_autofree char *from = NULL;
  g_autofree char *filter = NULL;
  g_autofree char *path = NULL;
  LoadOlderData *data;
  OmHttp *http;
  gssize n_added;

  g_return_if_fail (OM_IS_TIMELINE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, om_timeline_load_older_async);

  if (self->loading)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               "Older messages are already being loaded");
      return;
    }

  if (self->room == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The room was closed");
      return;
    }

  if (limit == 0)
    limit = 20;

  if (om_timeline_count_stored_older (self) > 0)
    {
      n_added = load_older_from_store (self, limit, &error);
      update_can_load_older (self);
      if (n_added < 0)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        g_task_return_int (task, n_added);
      return;
    }

  if (!self->can_load_older || self->prev_batch == NULL)
    {
      g_task_return_int (task, 0);
      return;
    }

  http = om_room_get_http (self->room);
  if (http == NULL)
    {
      g_task_return_new_error (task, OM_ERROR, OM_ERROR_NOT_SIGNED_IN,
                               "Older messages need a connection to the server");
      return;
    }

  data = g_new0 (LoadOlderData, 1);
  data->generation = self->generation;
  g_task_set_task_data (task, data, g_free);

  room_id = om_http_escape (om_room_get_room_id (self->room));
  from = g_uri_escape_string (self->prev_batch, NULL, FALSE);
  filter = g_uri_escape_string ("{\"lazy_load_members\":true}", NULL, FALSE);
  path = g_strdup_printf ("/_matrix/client/v3/rooms/%s/messages?dir=b&from=%s&limit=%u&filter=%s",
                          room_id, from, limit, filter);

  set_loading (self, TRUE);
  om_http_request_async (http, "GET", path, NULL, OM_HTTP_FLAGS_NONE, 0, cancellable,
                         load_older_cb, g_steal_pointer (&task));
}

gssize
om_timeline_load_older_finish (OmTimeline    *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (OM_IS_TIMELINE (self), -1);
  g_return_val_if_fail (g_task_is_valid (result, self), -1);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == om_timeline_load_older_async,
                        -1);

  return g_task_propagate_int (G_TASK (result), error);
}
