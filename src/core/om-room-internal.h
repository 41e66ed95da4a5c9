/* om-room-internal.h — OmRoom's fields and helpers, for its own files only
 * (om-room.c, om-room-record.c); other modules use om-room-private.h.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "om-room-private.h"
#include "om-room-state.h"
#include "om-timeline.h"

G_BEGIN_DECLS

struct _OmRoom
{
  GObject       parent_instance;

  OmSession    *session;          /* borrowed: owns the room list that owns us */
  OmStore      *store;            /* owned, nullable (no persistence) */
  OmHttp       *http;             /* owned, nullable */
  OmTimeline   *timeline;         /* owned; its stored events load on first use */
  gboolean      timeline_pending; /* restored: the stored events are not loaded yet */
  gint64        stored_latest_ts; /* while pending: the newest stored event's time, -1 none */

  char         *room_id;
  char         *own_user_id;
  OmMembership  membership;

  OmRoomState  *state;            /* owned: current state, members */
  gboolean      state_pending;    /* restored from a summary: state loads on first use */
  GHashTable   *receipts;         /* user ID → Receipt (m.read, unthreaded), owned */
  gboolean      receipts_pending; /* restored: the stored receipts load on first use */
  GHashTable   *account_data;     /* type → JsonObject content, owned */

  /* From the sync summary; kept as the summary only reports changes. */
  GStrv         heroes;           /* nullable */
  gint64        summary_joined;   /* -1: unknown */
  gint64        summary_invited;  /* -1: unknown */

  guint         unread_count;
  guint         highlight_count;
  char         *fully_read;
  GStrv         typing;           /* never NULL */
  gboolean      invite_direct;    /* our invite said is_direct */
  gint          direct_override;  /* -1 unset, else what m.direct says */

  /* Derived by om_room_refresh. */
  char         *display_name;
  char         *topic;
  char         *canonical_alias;
  char         *avatar_url;
  char         *inviter;
  gboolean      is_direct;
  gboolean      is_space;
  gboolean      is_encrypted;
  guint         joined_count;
  guint         invited_count;
  gint64        last_activity;
};

enum {
  PROP_0,
  PROP_ROOM_ID,
  PROP_MEMBERSHIP,
  PROP_DISPLAY_NAME,
  PROP_TOPIC,
  PROP_CANONICAL_ALIAS,
  PROP_AVATAR_URL,
  PROP_IS_DIRECT,
  PROP_IS_SPACE,
  PROP_IS_ENCRYPTED,
  PROP_JOINED_MEMBER_COUNT,
  PROP_INVITED_MEMBER_COUNT,
  PROP_UNREAD_COUNT,
  PROP_HIGHLIGHT_COUNT,
  PROP_LAST_ACTIVITY,
  PROP_TYPING_USER_IDS,
  PROP_INVITER,
  PROP_FULLY_READ,
  PROP_TIMELINE,
  N_PROPS
};

#define SET_SCALAR(self, field, value, prop)                                 \
  G_STMT_START {                                                             \
    if ((self)->field != (value))                                            \
      {                                                                      \
        (self)->field = (value);                                             \
        g_object_notify_by_pspec (G_OBJECT (self), om_room_properties[prop]);        \
      }                                                                      \
  } G_STMT_END

extern GParamSpec *om_room_properties[N_PROPS];

/* Sets a string field and notifies @prop when it changed; TRUE if it did. */
gboolean     om_room_set_string          (OmRoom       *self,
                                          char        **field,
                                          const char   *value,
                                          guint         prop);
void         om_room_set_membership      (OmRoom       *self,
                                          OmMembership  membership);
/* Recomputes the derived values (name, counts, …) from state. */
void         om_room_refresh             (OmRoom       *self);
void         om_room_apply_summary       (OmRoom       *self,
                                          JsonObject   *summary);
void         om_room_apply_unread        (OmRoom       *self,
                                          JsonObject   *unread);
/* Loads the stored state of a restored room (state_pending). */
gboolean     om_room_load_state          (OmRoom       *self,
                                          GError      **error);
/* Parses stored event JSON strings; unreadable ones are skipped. */
GPtrArray   *om_room_parse_stored_events (OmRoom       *self,
                                          GPtrArray    *rows,
                                          gboolean      allow_partial);

G_END_DECLS
