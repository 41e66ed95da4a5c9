/* om-store.h — the local store: SQLite (WAL), schema versioned
 *
 * One file per account.  Everything a restart needs to resume without an
 * initial sync: the sync token and filter, rooms and their state, recent
 * timelines, receipts, presence, and the outbox.  Calls are synchronous and
 * cheap (prepared statements, WAL, synchronous=NORMAL); a sync response is
 * written inside one transaction (om_store_begin/om_store_commit).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define OM_TYPE_STORE (om_store_get_type ())
G_DECLARE_FINAL_TYPE (OmStore, om_store, OM, STORE, GObject)

#define OM_STORE_SCHEMA_VERSION 1

typedef struct {
  char   *room_id;
  char   *membership;   /* "join", "invite", "leave" */
  char   *data_json;    /* the room's own record (counts, prev_batch, summary …), a JSON object */
} OmStoreRoom;

typedef struct {
  char   *room_id;
  char   *receipt_type; /* "m.read", "m.read.private" */
  char   *user_id;
  char   *event_id;
  gint64  ts;
  char   *thread_id;    /* nullable */
} OmStoreReceipt;

typedef enum {
  OM_OUTBOX_STATE_QUEUED,
  OM_OUTBOX_STATE_SENDING,
  OM_OUTBOX_STATE_SENT,
  OM_OUTBOX_STATE_FAILED,
} OmOutboxState;

typedef struct {
  gint64         id;           /* order of submission, global */
  char          *room_id;
  char          *txn_id;
  char          *event_type;
  char          *content_json;
  OmOutboxState  state;
  char          *event_id;     /* nullable, set once the server answered */
  char          *error;        /* nullable, why it failed */
  gint64         created_ms;
} OmStoreOutboxEntry;

void            om_store_room_free            (OmStoreRoom        *room);
void            om_store_receipt_free         (OmStoreReceipt     *receipt);
void            om_store_outbox_entry_free    (OmStoreOutboxEntry *entry);

/* Opens (creating, migrating) the store at @path; ":memory:" for a
 * throw-away store.  Parent directories are created with mode 0700. */
OmStore        *om_store_open                 (const char         *path,
                                               GError            **error);
const char     *om_store_get_path             (OmStore            *self);
int             om_store_get_schema_version   (OmStore            *self);

/* Transactions nest: only the outermost begin/commit reaches SQLite.  A
 * rollback at any depth rolls back the whole outermost transaction; until
 * every level is closed, writes and commits fail with OM_ERROR_STORE, so
 * nothing autocommits behind a caller's back.  A failed commit leaves its
 * level open: close it with om_store_rollback. */
gboolean        om_store_begin                (OmStore            *self,
                                               GError            **error);
gboolean        om_store_commit               (OmStore            *self,
                                               GError            **error);
void            om_store_rollback             (OmStore            *self);

/* Small values: "sync_token", "filter_id", "user_id", "device_id", … */
char           *om_store_dup_value            (OmStore            *self,
                                               const char         *key);
/* @value NULL deletes the key. */
gboolean        om_store_set_value            (OmStore            *self,
                                               const char         *key,
                                               const char         *value,
                                               GError            **error);

/* Rooms. */
gboolean        om_store_save_room            (OmStore            *self,
                                               const char         *room_id,
                                               const char         *membership,
                                               const char         *data_json,
                                               GError            **error);
/* Element type OmStoreRoom. */
GPtrArray      *om_store_load_rooms           (OmStore            *self,
                                               GError            **error);
/* Removes the room with its state, timeline and receipts (not its outbox). */
gboolean        om_store_delete_room          (OmStore            *self,
                                               const char         *room_id,
                                               GError            **error);

/* Current room state, one event per (type, state_key). */
gboolean        om_store_set_state_event      (OmStore            *self,
                                               const char         *room_id,
                                               const char         *event_type,
                                               const char         *state_key,
                                               const char         *event_json,
                                               GError            **error);
/* Element type char* (event JSON), in no particular order. */
GPtrArray      *om_store_load_state           (OmStore            *self,
                                               const char         *room_id,
                                               GError            **error);

/* Timeline: events in display order.  Appending puts an event after the
 * newest, prepending (back-pagination) before the oldest.  An event ID
 * already stored for the room is not stored twice (returns TRUE, no-op). */
gboolean        om_store_timeline_append      (OmStore            *self,
                                               const char         *room_id,
                                               const char         *event_id,
                                               const char         *event_json,
                                               GError            **error);
gboolean        om_store_timeline_prepend     (OmStore            *self,
                                               const char         *room_id,
                                               const char         *event_id,
                                               const char         *event_json,
                                               GError            **error);
/* Replaces a stored event's JSON (redaction, late decryption). */
gboolean        om_store_timeline_replace     (OmStore            *self,
                                               const char         *room_id,
                                               const char         *event_id,
                                               const char         *event_json,
                                               GError            **error);
/* Forgets a room's stored timeline (a limited sync left a gap). */
gboolean        om_store_timeline_clear       (OmStore            *self,
                                               const char         *room_id,
                                               GError            **error);
gboolean        om_store_timeline_has_event   (OmStore            *self,
                                               const char         *room_id,
                                               const char         *event_id);
/* The newest @limit events, oldest first.  Element type char* (event JSON). */
GPtrArray      *om_store_timeline_load_latest (OmStore            *self,
                                               const char         *room_id,
                                               guint               limit,
                                               GError            **error);
/* The origin_server_ts of @room_id's newest stored event, -1 if none:
 * what orders the room list before its timeline is loaded. */
gint64          om_store_timeline_latest_ts   (OmStore            *self,
                                               const char         *room_id);
guint           om_store_timeline_count       (OmStore            *self,
                                               const char         *room_id);

/* Receipts: the latest per (room, type, user, thread). */
gboolean        om_store_set_receipt          (OmStore            *self,
                                               const char         *room_id,
                                               const char         *receipt_type,
                                               const char         *user_id,
                                               const char         *event_id,
                                               gint64              ts,
                                               const char         *thread_id,
                                               GError            **error);
/* Element type OmStoreReceipt. */
GPtrArray      *om_store_load_receipts        (OmStore            *self,
                                               const char         *room_id,
                                               GError            **error);

/* Presence, one JSON object per user ({presence, status_msg, last_active_ago, currently_active}). */
gboolean        om_store_set_presence         (OmStore            *self,
                                               const char         *user_id,
                                               const char         *presence_json,
                                               GError            **error);
/* Keys: user ID, values: JSON (both owned by the table). */
GHashTable     *om_store_load_presence        (OmStore            *self,
                                               GError            **error);

/* Outbox.  Entries are durable once om_store_outbox_add returns (outside a
 * transaction it commits with synchronous=FULL).  Returns the new ID, or -1
 * with @error (a txn_id already queued is an error).  Updating an unknown
 * ID is an error; removing one is not. */
gint64          om_store_outbox_add           (OmStore            *self,
                                               const char         *room_id,
                                               const char         *txn_id,
                                               const char         *event_type,
                                               const char         *content_json,
                                               GError            **error);
gboolean        om_store_outbox_update        (OmStore            *self,
                                               gint64              id,
                                               OmOutboxState       state,
                                               const char         *event_id,
                                               const char         *error_message,
                                               GError            **error);
gboolean        om_store_outbox_remove        (OmStore            *self,
                                               gint64              id,
                                               GError            **error);
/* All entries, in submission order.  Element type OmStoreOutboxEntry. */
GPtrArray      *om_store_outbox_load          (OmStore            *self,
                                               GError            **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmStoreRoom, om_store_room_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmStoreReceipt, om_store_receipt_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmStoreOutboxEntry, om_store_outbox_entry_free)

G_END_DECLS
