/* om-room-list.c — the account's rooms as a sorted GListModel of OmRoom
 *
 * Every room is in a hash table by ID (left rooms too); the listed ones
 * (invited or joined) are in an array sorted by (invites first, newest
 * activity first, room ID).  Each entry caches the key it was sorted by,
 * so a room whose activity changed is found by binary search on its old
 * key and moved with a single items-changed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-room-list"

#include "om-room-private.h"

typedef struct {
  OmRoom     *room;           /* borrowed: the hash table holds the ref */
  const char *room_id;        /* borrowed from room */
  guint       rank;           /* 0 invite, 1 join */
  gint64      last_activity;
} Entry;

struct _OmRoomList
{
  GObject     parent_instance;

  GHashTable *rooms;          /* room ID (borrowed from the room) → OmRoom (owned) */
  GArray     *listed;         /* Entry, sorted */
  GHashTable *keys;           /* room ID (borrowed) → Entry (owned): the key each
                               * listed room is sorted by */
};

static void om_room_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (OmRoomList, om_room_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      om_room_list_model_init))

static gboolean
room_is_listed (OmRoom *room)
{
  OmMembership membership = om_room_get_membership (room);

  return membership == OM_MEMBERSHIP_JOIN || membership == OM_MEMBERSHIP_INVITE;
}

static Entry
entry_for (OmRoom *room)
{
  Entry entry;

  entry.room = room;
  entry.room_id = om_room_get_room_id (room);
  entry.rank = om_room_get_membership (room) == OM_MEMBERSHIP_INVITE ? 0 : 1;
  entry.last_activity = om_room_get_last_activity (room);

  return entry;
}

static int
entry_compare (const Entry *a,
               const Entry *b)
{
  if (a->rank != b->rank)
    return a->rank < b->rank ? -1 : 1;
  if (a->last_activity != b->last_activity)
    return a->last_activity > b->last_activity ? -1 : 1;

  return g_strcmp0 (a->room_id, b->room_id);
}

/* The first position whose entry sorts after @key. */
static guint
insertion_point (OmRoomList  *self,
                 const Entry *key)
{
  guint lo = 0, hi = self->listed->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;

      if (entry_compare (&g_array_index (self->listed, Entry, mid), key) < 0)
        lo = mid + 1;
      else
        hi = mid;
    }

  return lo;
}

/* Where @room is listed, or -1: a binary search on the key it was sorted
 * by, which its entry caches (the room may already carry a new one). */
static gint
find_listed (OmRoomList *self,
             OmRoom     *room)
{
  const Entry *key = g_hash_table_lookup (self->keys, om_room_get_room_id (room));
  guint lo = 0, hi = self->listed->len;

  if (key == NULL)
    return -1;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      int cmp = entry_compare (&g_array_index (self->listed, Entry, mid), key);

      if (cmp == 0)
        return (gint) mid;
      if (cmp < 0)
        lo = mid + 1;
      else
        hi = mid;
    }

  g_assert_not_reached ();
  return -1;
}

static void
remember_key (OmRoomList  *self,
              const Entry *entry)
{
  g_hash_table_insert (self->keys, (gpointer) entry->room_id, g_memdup2 (entry, sizeof *entry));
}

static void
update_room (OmRoomList *self,
             OmRoom     *room)
{
  gint old = find_listed (self, room);
  Entry entry;
  guint pos;

  if (!room_is_listed (room))
    {
      if (old >= 0)
        {
          g_array_remove_index (self->listed, old);
          g_hash_table_remove (self->keys, om_room_get_room_id (room));
          g_list_model_items_changed (G_LIST_MODEL (self), old, 1, 0);
        }
      return;
    }

  entry = entry_for (room);
  remember_key (self, &entry);

  if (old < 0)
    {
      pos = insertion_point (self, &entry);
      g_array_insert_val (self->listed, pos, entry);
      g_list_model_items_changed (G_LIST_MODEL (self), pos, 0, 1);
      return;
    }

  g_array_remove_index (self->listed, old);
  pos = insertion_point (self, &entry);
  g_array_insert_val (self->listed, pos, entry);
  if (pos != (guint) old)
    g_list_model_items_changed (G_LIST_MODEL (self), MIN (pos, (guint) old),
                                ABS ((gint) pos - old) + 1, ABS ((gint) pos - old) + 1);
}

static void
on_room_changed (OmRoom     *room,
                 GParamSpec *pspec,
                 OmRoomList *self)
{
  update_room (self, room);
}

static GType
om_room_list_get_item_type (GListModel *model)
{
  return OM_TYPE_ROOM;
}

static guint
om_room_list_get_n_items (GListModel *model)
{
  return OM_ROOM_LIST (model)->listed->len;
}

static gpointer
om_room_list_get_item (GListModel *model,
                       guint       position)
{
  OmRoomList *self = OM_ROOM_LIST (model);

  if (position >= self->listed->len)
    return NULL;

  return g_object_ref (g_array_index (self->listed, Entry, position).room);
}

static void
om_room_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = om_room_list_get_item_type;
  iface->get_n_items = om_room_list_get_n_items;
  iface->get_item = om_room_list_get_item;
}

static void
om_room_list_dispose (GObject *object)
{
  OmRoomList *self = OM_ROOM_LIST (object);

  if (self->rooms != NULL)
    {
      GHashTableIter iter;
      gpointer room;

      g_hash_table_iter_init (&iter, self->rooms);
      while (g_hash_table_iter_next (&iter, NULL, &room))
        g_signal_handlers_disconnect_by_func (room, on_room_changed, self);
    }
  if (self->listed != NULL)
    g_array_set_size (self->listed, 0);
  g_clear_pointer (&self->keys, g_hash_table_unref);
  g_clear_pointer (&self->rooms, g_hash_table_unref);

  G_OBJECT_CLASS (om_room_list_parent_class)->dispose (object);
}

static void
om_room_list_finalize (GObject *object)
{
  OmRoomList *self = OM_ROOM_LIST (object);

  g_clear_pointer (&self->listed, g_array_unref);

  G_OBJECT_CLASS (om_room_list_parent_class)->finalize (object);
}

static void
om_room_list_class_init (OmRoomListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = om_room_list_dispose;
  object_class->finalize = om_room_list_finalize;
}

static void
om_room_list_init (OmRoomList *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  self->listed = g_array_new (FALSE, FALSE, sizeof (Entry));
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
}

OmRoomList *
om_room_list_new (void)
{
  return g_object_new (OM_TYPE_ROOM_LIST, NULL);
}

void
om_room_list_add (OmRoomList *self,
                  OmRoom     *room)
{
  OmRoom *old;

  g_return_if_fail (OM_IS_ROOM_LIST (self));
  g_return_if_fail (OM_IS_ROOM (room));

  old = g_hash_table_lookup (self->rooms, om_room_get_room_id (room));
  if (old == room)
    return;
  if (old != NULL)
    om_room_list_remove (self, om_room_get_room_id (room));

  g_hash_table_insert (self->rooms, (gpointer) om_room_get_room_id (room), g_object_ref (room));
  g_signal_connect_object (room, "notify::last-activity", G_CALLBACK (on_room_changed), self, 0);
  g_signal_connect_object (room, "notify::membership", G_CALLBACK (on_room_changed), self, 0);
  update_room (self, room);
}

void
om_room_list_remove (OmRoomList *self,
                     const char *room_id)
{
  OmRoom *room;
  gint pos;

  g_return_if_fail (OM_IS_ROOM_LIST (self));
  g_return_if_fail (room_id != NULL);

  room = g_hash_table_lookup (self->rooms, room_id);
  if (room == NULL)
    return;

  g_signal_handlers_disconnect_by_func (room, on_room_changed, self);
  pos = find_listed (self, room);
  if (pos >= 0)
    {
      g_array_remove_index (self->listed, pos);
      g_hash_table_remove (self->keys, room_id);
      g_list_model_items_changed (G_LIST_MODEL (self), pos, 1, 0);
    }
  g_hash_table_remove (self->rooms, room_id);
}

OmRoom *
om_room_list_lookup (OmRoomList *self,
                     const char *room_id)
{
  g_return_val_if_fail (OM_IS_ROOM_LIST (self), NULL);

  return room_id != NULL ? g_hash_table_lookup (self->rooms, room_id) : NULL;
}

OmRoom *
om_room_list_lookup_alias (OmRoomList *self,
                           const char *alias)
{
  g_return_val_if_fail (OM_IS_ROOM_LIST (self), NULL);

  if (alias == NULL)
    return NULL;

  for (guint i = 0; i < self->listed->len; i++)
    {
      OmRoom *room = g_array_index (self->listed, Entry, i).room;

      if (g_strcmp0 (om_room_get_canonical_alias (room), alias) == 0)
        return room;
    }

  return NULL;
}
