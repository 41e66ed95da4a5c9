/* om-outbox.c — the persistent send queue
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-outbox"

#include "om-backoff.h"
#include "om-error.h"
#include "om-event.h"
#include "om-http.h"
#include "om-outbox.h"
#include "om-room-private.h"
#include "om-session-private.h"
#include "om-store.h"

#define SEND_TIMEOUT_MS   30000
#define RETRY_BASE_MS       250
#define RETRY_MAX_MS      30000

typedef struct _RoomQueue RoomQueue;

typedef struct {
  gint64      id;          /* store row */
  char       *room_id;     /* owned */
  char       *txn_id;      /* owned */
  char       *event_type;  /* owned */
  JsonObject *content;     /* owned ref */
  OmEvent    *echo;        /* owned ref; also held by the room's timeline */
  RoomQueue  *queue;       /* borrowed */
  guint       attempts;    /* consecutive transient failures */
  gboolean    failed;      /* permanent failure: waits for retry or discard */
  gboolean    sent;        /* accepted; kept until its remote echo is in the timeline */
} Item;

/* One queue per room: items in submission order, the head in flight. */
struct _RoomQueue {
  OmOutbox     *outbox;      /* borrowed */
  char         *room_id;     /* owned */
  GQueue        items;       /* Item*, owned */
  Item         *in_flight;   /* borrowed */
  GCancellable *cancellable; /* owned, the request in flight */
  guint         retry_id;    /* GSource of a back-off */
};

struct _OmOutbox
{
  GObject     parent_instance;

  OmSession  *session;   /* borrowed */
  GHashTable *queues;    /* room_id → RoomQueue* (owned) */
  guint       n_pending;
  gboolean    running;
};

enum {
  PROP_0,
  PROP_N_PENDING,
  PROP_RUNNING,
  N_PROPS
};

enum {
  SENT,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (OmOutbox, om_outbox, G_TYPE_OBJECT)

static void room_queue_kick (RoomQueue *queue);

static void
item_free (Item *item)
{
  g_free (item->room_id);
  g_free (item->txn_id);
  g_free (item->event_type);
  g_clear_pointer (&item->content, json_object_unref);
  g_clear_object (&item->echo);
  g_free (item);
}

static void
room_queue_cancel (RoomQueue *queue)
{
  g_clear_handle_id (&queue->retry_id, g_source_remove);
  if (queue->cancellable != NULL)
    {
      g_cancellable_cancel (queue->cancellable);
      g_clear_object (&queue->cancellable);
    }
  queue->in_flight = NULL;
}

static void
room_queue_free (RoomQueue *queue)
{
  room_queue_cancel (queue);
  g_queue_clear_full (&queue->items, (GDestroyNotify) item_free);
  g_free (queue->room_id);
  g_free (queue);
}

static RoomQueue *
get_queue (OmOutbox   *self,
           const char *room_id)
{
  RoomQueue *queue = g_hash_table_lookup (self->queues, room_id);

  if (queue == NULL)
    {
      queue = g_new0 (RoomQueue, 1);
      queue->outbox = self;
      queue->room_id = g_strdup (room_id);
      g_queue_init (&queue->items);
      g_hash_table_insert (self->queues, queue->room_id, queue);
    }
  return queue;
}

static void
set_n_pending (OmOutbox *self,
               guint     n_pending)
{
  if (self->n_pending == n_pending)
    return;
  self->n_pending = n_pending;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_PENDING]);
}

static void
om_outbox_dispose (GObject *object)
{
  OmOutbox *self = OM_OUTBOX (object);

  g_clear_pointer (&self->queues, g_hash_table_unref);

  G_OBJECT_CLASS (om_outbox_parent_class)->dispose (object);
}

static void
om_outbox_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  OmOutbox *self = OM_OUTBOX (object);

  switch (prop_id)
    {
    case PROP_N_PENDING:
      g_value_set_uint (value, self->n_pending);
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
om_outbox_class_init (OmOutboxClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = om_outbox_dispose;
  object_class->get_property = om_outbox_get_property;

  properties[PROP_N_PENDING] =
    g_param_spec_uint ("n-pending", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SENT] =
    g_signal_new ("sent", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, OM_TYPE_EVENT);
}

static void
om_outbox_init (OmOutbox *self)
{
  self->queues = g_hash_table_new_full (g_str_hash, g_str_equal,
                                        NULL, (GDestroyNotify) room_queue_free);
}

OmOutbox *
om_outbox_new (OmSession *session)
{
  OmOutbox *self;

  g_return_val_if_fail (OM_IS_SESSION (session), NULL);

  self = g_object_new (OM_TYPE_OUTBOX, NULL);
  self->session = session;
  return self;
}

guint
om_outbox_get_n_pending (OmOutbox *self)
{
  g_return_val_if_fail (OM_IS_OUTBOX (self), 0);
  return self->n_pending;
}

/* A transaction ID must never repeat for this device, even if the store is
 * lost: time in µs plus 64 random bits. */
static char *
new_txn_id (void)
{
  return g_strdup_printf ("om%" G_GINT64_FORMAT ".%08x%08x",
                          g_get_real_time (), g_random_int (), g_random_int ());
}

static OmTimeline *
timeline_for (OmOutbox   *self,
              const char *room_id)
{
  OmRoom *room = om_room_list_lookup (om_session_get_room_list (self->session), room_id);

  return room ? om_room_get_timeline (room) : NULL;
}

static void
show_echo (OmOutbox *self,
           Item     *item)
{
  OmTimeline *timeline = timeline_for (self, item->room_id);

  if (timeline != NULL && om_timeline_find_local_echo (timeline, item->txn_id) == NULL)
    om_timeline_add_local_echo (timeline, item->echo);
}

static Item *
add_item (OmOutbox   *self,
          gint64      id,
          const char *room_id,
          const char *txn_id,
          const char *event_type,
          JsonObject *content,
          const char *sent_event_id)
{
  Item *item = g_new0 (Item, 1);

  item->id = id;
  item->room_id = g_strdup (room_id);
  item->txn_id = g_strdup (txn_id);
  item->event_type = g_strdup (event_type);
  item->content = json_object_ref (content);
  item->echo = om_event_new_local (room_id, txn_id,
                                   om_session_get_user_id (self->session),
                                   event_type, content);
  item->queue = get_queue (self, room_id);
  g_queue_push_tail (&item->queue->items, item);

  if (sent_event_id != NULL)
    {
      item->sent = TRUE;
      om_event_set_event_id (item->echo, sent_event_id);
      om_event_set_send_state (item->echo, OM_SEND_STATE_SENT, NULL);
    }
  else
    set_n_pending (self, self->n_pending + 1);
  show_echo (self, item);
  return item;
}

static void
remove_item (OmOutbox *self,
             Item     *item)
{
  RoomQueue *queue = item->queue;

  if (queue->in_flight == item)
    room_queue_cancel (queue);
  g_queue_remove (&queue->items, item);
  if (!item->sent)
    set_n_pending (self, self->n_pending - 1);
  item_free (item);
}

/* The sync delivered the message itself: the timeline holds it as a remote
 * event (stored with the rest), so the outbox can let go. */
static gboolean
echo_delivered (OmOutbox *self,
                Item     *item)
{
  OmTimeline *timeline = timeline_for (self, item->room_id);
  const char *event_id = om_event_get_event_id (item->echo);

  return timeline != NULL && event_id != NULL &&
         om_timeline_find_local_echo (timeline, item->txn_id) == NULL &&
         om_timeline_find_event (timeline, event_id) != NULL;
}

void
om_outbox_forget_delivered (OmOutbox *self)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (OM_IS_OUTBOX (self));

  g_hash_table_iter_init (&iter, self->queues);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      RoomQueue *queue = value;
      GList *l = queue->items.head;

      while (l != NULL)
        {
          Item *item = l->data;

          l = l->next;
          if (item->sent && echo_delivered (self, item))
            {
              om_store_outbox_remove (om_session_get_store (self->session), item->id, NULL);
              remove_item (self, item);
            }
        }
    }
}

OmEvent *
om_outbox_queue (OmOutbox    *self,
                 OmRoom      *room,
                 const char  *event_type,
                 JsonObject  *content,
                 GError     **error)
{
  g_autofree char *txn_id = NULL;
  g_autofree char *content_json = NULL;
  g_autoptr(JsonNode) node = NULL;
  OmStore *store;
  gint64 id;
  Item *item;

  g_return_val_if_fail (OM_IS_OUTBOX (self), NULL);
  g_return_val_if_fail (OM_IS_ROOM (room), NULL);
  g_return_val_if_fail (event_type != NULL, NULL);
  g_return_val_if_fail (content != NULL, NULL);

  store = om_session_get_store (self->session);
  txn_id = new_txn_id ();
  node = json_node_init_object (json_node_alloc (), content);
  content_json = json_to_string (node, FALSE);

  /* Durable before anything is sent: this is what makes a retry safe. */
  id = om_store_outbox_add (store, om_room_get_room_id (room), txn_id, event_type,
                            content_json, error);
  if (id < 0)
    return NULL;

  item = add_item (self, id, om_room_get_room_id (room), txn_id, event_type, content, NULL);
  room_queue_kick (item->queue);
  return item->echo;
}

gboolean
om_outbox_load (OmOutbox  *self,
                GError   **error)
{
  g_autoptr(GPtrArray) entries = NULL;
  OmStore *store;

  g_return_val_if_fail (OM_IS_OUTBOX (self), FALSE);

  store = om_session_get_store (self->session);
  entries = om_store_outbox_load (store, error);
  if (entries == NULL)
    return FALSE;

  for (guint i = 0; i < entries->len; i++)
    {
      OmStoreOutboxEntry *entry = g_ptr_array_index (entries, i);
      g_autoptr(JsonNode) content = NULL;
      g_autoptr(GError) parse_error = NULL;
      Item *item;

      content = json_from_string (entry->content_json, &parse_error);
      if (content == NULL || !JSON_NODE_HOLDS_OBJECT (content))
        {
          g_warning ("Dropping an unreadable outbox entry: %s",
                     parse_error ? parse_error->message : "not an object");
          om_store_outbox_remove (store, entry->id, NULL);
          continue;
        }

      if (entry->state == OM_OUTBOX_STATE_SENT)
        {
          OmTimeline *timeline = timeline_for (self, entry->room_id);

          /* Already in the stored timeline: nothing left to do. */
          if (entry->event_id == NULL ||
              (timeline != NULL && om_timeline_find_event (timeline, entry->event_id) != NULL))
            {
              om_store_outbox_remove (store, entry->id, NULL);
              continue;
            }
        }

      item = add_item (self, entry->id, entry->room_id, entry->txn_id, entry->event_type,
                       json_node_get_object (content),
                       entry->state == OM_OUTBOX_STATE_SENT ? entry->event_id : NULL);
      if (entry->state == OM_OUTBOX_STATE_FAILED)
        {
          item->failed = TRUE;
          om_event_set_send_state (item->echo, OM_SEND_STATE_FAILED, entry->error);
        }
    }

  return TRUE;
}

/* Sending */

static Item *
room_queue_next (RoomQueue *queue)
{
  for (GList *l = queue->items.head; l != NULL; l = l->next)
    {
      Item *item = l->data;

      if (!item->failed && !item->sent)
        return item;
    }
  return NULL;
}

static gboolean
retry_cb (gpointer user_data)
{
  RoomQueue *queue = user_data;

  queue->retry_id = 0;
  room_queue_kick (queue);
  return G_SOURCE_REMOVE;
}

typedef struct {
  OmOutbox *outbox;   /* owned ref */
  char     *room_id;  /* owned */
  gint64    item_id;
} SendData;

static void
send_data_free (SendData *data)
{
  g_object_unref (data->outbox);
  g_free (data->room_id);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SendData, send_data_free)

static void
send_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(SendData) data = user_data;
  OmOutbox *self = data->outbox;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) body = NULL;
  RoomQueue *queue;
  Item *item;
  const char *event_id = NULL;

  body = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->queues == NULL)
    return;

  queue = g_hash_table_lookup (self->queues, data->room_id);
  if (queue == NULL || queue->in_flight == NULL || queue->in_flight->id != data->item_id)
    return;   /* discarded or stopped meanwhile */
  item = queue->in_flight;
  queue->in_flight = NULL;
  g_clear_object (&queue->cancellable);

  if (error == NULL)
    {
      JsonNode *id_node = JSON_NODE_HOLDS_OBJECT (body)
        ? json_object_get_member (json_node_get_object (body), "event_id") : NULL;

      if (id_node != NULL && JSON_NODE_HOLDS_VALUE (id_node) &&
          json_node_get_value_type (id_node) == G_TYPE_STRING)
        event_id = json_node_get_string (id_node);
      else
        error = g_error_new (OM_ERROR, OM_ERROR_BAD_RESPONSE,
                             "The server accepted the message but sent no event ID");
    }

  if (error == NULL)
    {
      g_autoptr(OmEvent) echo = g_object_ref (item->echo);

      om_event_set_event_id (echo, event_id);
      om_event_set_send_state (echo, OM_SEND_STATE_SENT, NULL);
      item->sent = TRUE;
      set_n_pending (self, self->n_pending - 1);
      if (echo_delivered (self, item))
        {
          om_store_outbox_remove (om_session_get_store (self->session), item->id, NULL);
          remove_item (self, item);
        }
      else
        om_store_outbox_update (om_session_get_store (self->session), item->id,
                                OM_OUTBOX_STATE_SENT, event_id, NULL, NULL);
      g_signal_emit (self, signals[SENT], 0, echo);
      om_session_network_ok (self->session);
      room_queue_kick (queue);
      return;
    }

  if (g_error_matches (error, OM_ERROR, OM_ERROR_UNKNOWN_TOKEN) ||
      g_error_matches (error, OM_ERROR, OM_ERROR_MISSING_TOKEN))
    {
      /* The session handles sign-out; the message waits for a new token. */
      om_event_set_send_state (item->echo, OM_SEND_STATE_QUEUED, error->message);
      return;
    }

  if (om_error_is_transient (error))
    {
      gint64 retry_after = om_error_get_retry_after_ms (error);
      guint delay;

      item->attempts++;
      delay = retry_after >= 0 ? (guint) MIN (retry_after, (gint64) RETRY_MAX_MS * 4)
                               : om_backoff_delay_ms (item->attempts, RETRY_BASE_MS, RETRY_MAX_MS);
      g_debug ("send failed (%s), retry %u in %u ms", error->message, item->attempts, delay);
      om_event_set_send_state (item->echo, OM_SEND_STATE_QUEUED, error->message);
      queue->retry_id = g_timeout_add (delay, retry_cb, queue);
      return;
    }

  item->failed = TRUE;
  om_event_set_send_state (item->echo, OM_SEND_STATE_FAILED, error->message);
  om_store_outbox_update (om_session_get_store (self->session), item->id,
                          OM_OUTBOX_STATE_FAILED, NULL, error->message, NULL);
  room_queue_kick (queue);
}

static void
room_queue_kick (RoomQueue *queue)
{
  OmOutbox *self = queue->outbox;
  g_autofree char *room = NULL;
  g_autofree char *type = NULL;
  g_autofree char *txn = NULL;
  g_autofree char *path = NULL;
  g_autoptr(JsonNode) body = NULL;
  SendData *data;
  Item *item;

  if (!self->running || queue->in_flight != NULL || queue->retry_id != 0)
    return;

  item = room_queue_next (queue);
  if (item == NULL)
    return;

  room = om_http_escape (item->room_id);
  type = om_http_escape (item->event_type);
  txn = om_http_escape (item->txn_id);
  path = g_strdup_printf ("/_matrix/client/v3/rooms/%s/send/%s/%s", room, type, txn);
  body = json_node_init_object (json_node_alloc (), item->content);

  data = g_new0 (SendData, 1);
  data->outbox = g_object_ref (self);
  data->room_id = g_strdup (item->room_id);
  data->item_id = item->id;

  queue->in_flight = item;
  queue->cancellable = g_cancellable_new ();
  om_event_set_send_state (item->echo, OM_SEND_STATE_SENDING, NULL);
  om_http_request_async (om_session_get_http (self->session), "PUT", path, body,
                         OM_HTTP_NO_RETRY, SEND_TIMEOUT_MS, queue->cancellable,
                         send_cb, data);
}

void
om_outbox_start (OmOutbox *self)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (OM_IS_OUTBOX (self));

  if (self->running)
    return;
  self->running = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);

  g_hash_table_iter_init (&iter, self->queues);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      RoomQueue *queue = value;

      /* Echoes restored before their room existed get their place now. */
      for (GList *l = queue->items.head; l != NULL; l = l->next)
        show_echo (self, l->data);
      room_queue_kick (queue);
    }
}

void
om_outbox_stop (OmOutbox *self)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (OM_IS_OUTBOX (self));

  if (!self->running)
    return;
  self->running = FALSE;

  g_hash_table_iter_init (&iter, self->queues);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      RoomQueue *queue = value;

      if (queue->in_flight != NULL)
        om_event_set_send_state (queue->in_flight->echo, OM_SEND_STATE_QUEUED, NULL);
      room_queue_cancel (queue);
    }

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

void
om_outbox_nudge (OmOutbox *self)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (OM_IS_OUTBOX (self));

  g_hash_table_iter_init (&iter, self->queues);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      RoomQueue *queue = value;

      if (queue->retry_id != 0)
        {
          g_clear_handle_id (&queue->retry_id, g_source_remove);
          room_queue_kick (queue);
        }
    }
}

static Item *
find_item (OmOutbox *self,
           OmEvent  *echo)
{
  RoomQueue *queue;
  const char *room_id = om_event_get_room_id (echo);

  if (room_id == NULL)
    return NULL;
  queue = g_hash_table_lookup (self->queues, room_id);
  if (queue == NULL)
    return NULL;
  for (GList *l = queue->items.head; l != NULL; l = l->next)
    {
      Item *item = l->data;

      if (item->echo == echo)
        return item;
    }
  return NULL;
}

void
om_outbox_retry (OmOutbox *self,
                 OmEvent  *echo)
{
  Item *item;

  g_return_if_fail (OM_IS_OUTBOX (self));
  g_return_if_fail (OM_IS_EVENT (echo));

  item = find_item (self, echo);
  if (item == NULL || !item->failed)
    return;

  item->failed = FALSE;
  item->attempts = 0;
  om_event_set_send_state (item->echo, OM_SEND_STATE_QUEUED, NULL);
  om_store_outbox_update (om_session_get_store (self->session), item->id,
                          OM_OUTBOX_STATE_QUEUED, NULL, NULL, NULL);
  room_queue_kick (item->queue);
}

void
om_outbox_discard (OmOutbox *self,
                   OmEvent  *echo)
{
  OmTimeline *timeline;
  RoomQueue *queue;
  Item *item;

  g_return_if_fail (OM_IS_OUTBOX (self));
  g_return_if_fail (OM_IS_EVENT (echo));

  /* An in-flight message may already be stored by the server: it cannot
   * be taken back, so only waiting or failed ones are discarded. */
  item = find_item (self, echo);
  if (item == NULL || item->queue->in_flight == item || item->sent)
    return;

  queue = item->queue;
  om_store_outbox_remove (om_session_get_store (self->session), item->id, NULL);
  timeline = timeline_for (self, item->room_id);
  if (timeline != NULL)
    om_timeline_remove_local_echo (timeline, item->echo);
  remove_item (self, item);
  room_queue_kick (queue);
}
