/* om-receipts.c — our read receipts and fully-read marker
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-receipts"

#include "om-backoff.h"
#include "om-error.h"
#include "om-event.h"
#include "om-http.h"
#include "om-receipts.h"
#include "om-room-private.h"
#include "om-session.h"

/* Marks sent within this window are coalesced into one request. */
#define COALESCE_MS 300
/* A failed request is retried after 1 s doubling up to a minute. */
#define RETRY_BASE_MS 1000
#define RETRY_MAX_MS 60000

typedef struct {
  OmReceipts *receipts;   /* borrowed */
  OmRoom     *room;       /* owned ref */
  char       *sent;       /* owned: the event the server has as our receipt */
  char       *wanted;     /* owned: the event to mark next, nullable */
  guint       timeout_id;
  guint       failures;   /* consecutive failed requests */
  gboolean    in_flight;
} RoomReceipt;

struct _OmReceipts
{
  GObject     parent_instance;

  OmSession  *session;   /* borrowed */
  GHashTable *rooms;     /* room_id → RoomReceipt* (owned) */
  guint       n_requests;
};

G_DEFINE_FINAL_TYPE (OmReceipts, om_receipts, G_TYPE_OBJECT)

static void
room_receipt_free (RoomReceipt *rr)
{
  g_clear_handle_id (&rr->timeout_id, g_source_remove);
  g_clear_object (&rr->room);
  g_free (rr->sent);
  g_free (rr->wanted);
  g_free (rr);
}

static void
om_receipts_dispose (GObject *object)
{
  OmReceipts *self = OM_RECEIPTS (object);

  g_clear_pointer (&self->rooms, g_hash_table_unref);

  G_OBJECT_CLASS (om_receipts_parent_class)->dispose (object);
}

static void
om_receipts_class_init (OmReceiptsClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = om_receipts_dispose;
}

static void
om_receipts_init (OmReceipts *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal,
                                       g_free, (GDestroyNotify) room_receipt_free);
}

OmReceipts *
om_receipts_new (OmSession *session)
{
  OmReceipts *self = g_object_new (OM_TYPE_RECEIPTS, NULL);

  self->session = session;
  return self;
}

guint
om_receipts_get_n_requests (OmReceipts *self)
{
  g_return_val_if_fail (OM_IS_RECEIPTS (self), 0);
  return self->n_requests;
}

static void flush (RoomReceipt *rr);
static gboolean coalesce_cb (gpointer user_data);

typedef struct {
  OmReceipts *receipts;  /* owned ref */
  char       *room_id;   /* owned */
  char       *event_id;  /* owned */
} MarkData;

static void
mark_data_free (MarkData *data)
{
  g_object_unref (data->receipts);
  g_free (data->room_id);
  g_free (data->event_id);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (MarkData, mark_data_free)

static void
read_markers_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(MarkData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) body = NULL;
  RoomReceipt *rr;

  body = om_http_request_finish (OM_HTTP (source), result, NULL, &error);
  if (data->receipts->rooms == NULL)
    return;
  rr = g_hash_table_lookup (data->receipts->rooms, data->room_id);
  if (rr == NULL)
    return;
  rr->in_flight = FALSE;

  if (error != NULL)
    {
      /* Keep the newest wish and try again after a back-off, so a lost
       * request never leaves the server behind what we show locally. */
      g_debug ("read marker failed: %s", error->message);
      if (!om_error_is_transient (error))
        return;   /* e.g. we left the room: nothing to catch up */
      if (rr->wanted == NULL)
        rr->wanted = g_strdup (data->event_id);
      rr->failures++;
      if (rr->timeout_id == 0)
        rr->timeout_id = g_timeout_add (om_backoff_delay_ms (rr->failures, RETRY_BASE_MS, RETRY_MAX_MS),
                                        coalesce_cb, rr);
      return;
    }

  rr->failures = 0;
  g_free (rr->sent);
  rr->sent = g_strdup (data->event_id);
  flush (rr);
}

static void
flush (RoomReceipt *rr)
{
  OmReceipts *self = rr->receipts;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) body = NULL;
  g_autofree char *room = NULL;
  g_autofree char *path = NULL;
  MarkData *data;

  if (rr->in_flight || rr->wanted == NULL)
    return;
  if (g_strcmp0 (rr->wanted, rr->sent) == 0)
    {
      g_clear_pointer (&rr->wanted, g_free);
      return;
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "m.fully_read");
  json_builder_add_string_value (builder, rr->wanted);
  json_builder_set_member_name (builder, "m.read");
  json_builder_add_string_value (builder, rr->wanted);
  json_builder_end_object (builder);
  body = json_builder_get_root (builder);

  room = om_http_escape (om_room_get_room_id (rr->room));
  path = g_strdup_printf ("/_matrix/client/v3/rooms/%s/read_markers", room);

  data = g_new0 (MarkData, 1);
  data->receipts = g_object_ref (self);
  data->room_id = g_strdup (om_room_get_room_id (rr->room));
  data->event_id = g_steal_pointer (&rr->wanted);

  rr->in_flight = TRUE;
  self->n_requests++;
  om_http_request_async (om_session_get_http (self->session), "POST", path, body,
                         OM_HTTP_FLAGS_NONE, 0, NULL, read_markers_cb, data);
}

static gboolean
coalesce_cb (gpointer user_data)
{
  RoomReceipt *rr = user_data;

  rr->timeout_id = 0;
  flush (rr);
  return G_SOURCE_REMOVE;
}

void
om_receipts_mark_read (OmReceipts *self,
                       OmRoom     *room)
{
  OmTimeline *timeline;
  OmEvent *latest;
  const char *event_id;
  const char *room_id;
  RoomReceipt *rr;

  g_return_if_fail (OM_IS_RECEIPTS (self));
  g_return_if_fail (OM_IS_ROOM (room));

  timeline = om_room_get_timeline (room);
  latest = om_timeline_get_latest_remote (timeline);
  if (latest == NULL || (event_id = om_event_get_event_id (latest)) == NULL)
    return;

  room_id = om_room_get_room_id (room);
  rr = g_hash_table_lookup (self->rooms, room_id);
  if (rr == NULL)
    {
      rr = g_new0 (RoomReceipt, 1);
      rr->receipts = self;
      rr->room = g_object_ref (room);
      rr->sent = g_strdup (om_room_get_fully_read (room));
      g_hash_table_insert (self->rooms, g_strdup (room_id), rr);
    }

  if (g_strcmp0 (event_id, rr->sent) == 0 || g_strcmp0 (event_id, rr->wanted) == 0)
    return;

  g_free (rr->wanted);
  rr->wanted = g_strdup (event_id);
  om_room_set_fully_read_local (room, event_id);

  if (rr->timeout_id == 0)
    rr->timeout_id = g_timeout_add (COALESCE_MS, coalesce_cb, rr);
}
