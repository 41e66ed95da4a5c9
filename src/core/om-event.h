/* om-event.h — one Matrix event (remote, or the local echo of one we send)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define OM_TYPE_EVENT (om_event_get_type ())
G_DECLARE_FINAL_TYPE (OmEvent, om_event, OM, EVENT, GObject)

/* Where an event we send stands.  Remote events are OM_SEND_STATE_NONE. */
typedef enum {
  OM_SEND_STATE_NONE,
  OM_SEND_STATE_QUEUED,
  OM_SEND_STATE_SENDING,
  OM_SEND_STATE_SENT,
  OM_SEND_STATE_FAILED,
} OmSendState;

GType         om_send_state_get_type      (void) G_GNUC_CONST;
#define OM_TYPE_SEND_STATE (om_send_state_get_type ())

/* Parses a client-format event.  Requires a string `type`, a string
 * `sender`, an object `content` (missing → empty), and, unless
 * @allow_partial (stripped invite state), `event_id` and
 * `origin_server_ts`.  Anything else is an OM_ERROR_BAD_RESPONSE. */
OmEvent      *om_event_new_from_json      (JsonObject   *object,
                                           gboolean      allow_partial,
                                           GError      **error);
/* A local echo: no event ID yet, origin_server_ts = now, state QUEUED. */
OmEvent      *om_event_new_local          (const char   *room_id,
                                           const char   *txn_id,
                                           const char   *sender,
                                           const char   *event_type,
                                           JsonObject   *content);

const char   *om_event_get_event_id       (OmEvent      *self);   /* NULL for an unsent echo */
const char   *om_event_get_room_id        (OmEvent      *self);   /* nullable */
const char   *om_event_get_sender         (OmEvent      *self);
const char   *om_event_get_event_type     (OmEvent      *self);
const char   *om_event_get_state_key      (OmEvent      *self);   /* NULL unless a state event */
gboolean      om_event_is_state           (OmEvent      *self);
gint64        om_event_get_origin_server_ts (OmEvent    *self);
JsonObject   *om_event_get_content        (OmEvent      *self);   /* borrowed, never NULL */
/* The whole event as received (borrowed). */
JsonObject   *om_event_get_json           (OmEvent      *self);
/* Serialised JSON of the whole event (owned). */
char         *om_event_to_string          (OmEvent      *self);

/* content.msgtype / content.body when they are strings, else NULL. */
const char   *om_event_get_msgtype        (OmEvent      *self);
const char   *om_event_get_body           (OmEvent      *self);
/* content[@key] when it is a string, else NULL (hostile content is safe). */
const char   *om_event_get_content_string (OmEvent    *self,
                                           const char *key);
/* unsigned.transaction_id (only for our own device's events), or the local
 * echo's txnId. */
const char   *om_event_get_txn_id         (OmEvent      *self);
/* `redacts` of an m.room.redaction (top level or content), else NULL. */
const char   *om_event_get_redacts        (OmEvent      *self);

/* Local echo state.  Setting notifies "send-state". */
OmSendState   om_event_get_send_state     (OmEvent      *self);
const char   *om_event_get_send_error     (OmEvent      *self);  /* nullable */
void          om_event_set_send_state     (OmEvent      *self,
                                           OmSendState   state,
                                           const char   *error_message);
/* Called when the server assigned an ID to a local echo. */
void          om_event_set_event_id       (OmEvent      *self,
                                           const char   *event_id);
/* The remote echo arrived: take its JSON (event_id, origin_server_ts,
 * unsigned) and become SENT. */
void          om_event_merge_remote       (OmEvent      *self,
                                           OmEvent      *remote);

G_END_DECLS
