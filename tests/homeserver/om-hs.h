/* om-hs.h — private header shared by the test homeserver's files
 *
 * One OmHs holds the whole server: the SoupServer, the SQLite model, the
 * in-memory ephemeral state (typing, UIA sessions, fault rules, rate
 * limits) and the parked long-poll /sync requests.  Everything runs on the
 * default GLib main context.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sqlite3.h>

G_BEGIN_DECLS

typedef struct _OmHs OmHs;
typedef struct _OmHsSso OmHsSso;
typedef struct _OmHsOAuth OmHsOAuth;

typedef struct
{
  gint64  stream;          /* position in the single global stream */
  char   *event_id;        /* owned */
  char   *room_id;         /* owned */
  char   *type;            /* owned */
  char   *state_key;       /* owned, NULL for non-state events */
  char   *sender;          /* owned */
  char   *content;         /* owned, compact JSON object */
  gint64  origin_server_ts;
  char   *txn_id;          /* owned, NULL unless sent with a txnId */
  char   *device_id;       /* owned, the sending device, NULL if none */
  char   *prev_event_id;   /* owned, the state event this one replaces */
  char   *redacted_because;/* owned, JSON of the redaction event or NULL */
} OmHsEvent;

typedef enum
{
  OM_HS_FORMAT_SYNC,       /* no room_id (inside /sync) */
  OM_HS_FORMAT_CLIENT,     /* room_id plus Synapse's legacy user_id/age */
  OM_HS_FORMAT_STRIPPED,   /* type, state_key, content, sender */
} OmHsFormat;

/* The request being handled (valid for the handler's duration). */
typedef struct
{
  OmHs              *hs;           /* borrowed */
  SoupServerMessage *msg;          /* borrowed */
  const char        *method;
  char             **segs;         /* owned, unescaped path segments after the prefix */
  GHashTable        *query;        /* owned, may be NULL */
  char              *user_id;      /* owned, set once authenticated */
  char              *device_id;    /* owned */
  gboolean           oauth;        /* authenticated by token introspection */
  gboolean           oauth_admin;  /* ... with urn:synapse:admin:* */
} OmHsRequest;

typedef void (*OmHsHandler) (OmHsRequest *req);

typedef struct
{
  const char  *method;
  const char  *pattern;   /* path segments; "*" matches any one */
  OmHsHandler  handler;
  gboolean     auth;      /* needs an access token */
} OmHsRoute;

struct _OmHs
{
  SoupServer  *server;
  sqlite3     *db;
  char        *server_name;
  char        *base_url;
  guint        port;
  gboolean     demo;
  GMainLoop   *loop;

  gint64       stream;         /* current global stream position */
  gint64       seed_ts;        /* demo seeding: next origin_server_ts, 0 = now */
  gint64       token_lifetime_ms; /* refreshable access tokens (Synapse: 5 min) */
  gint64       sync_cache_ms;  /* Synapse-like /sync response cache; 0 = off */
  GHashTable  *sync_cache;     /* cache key -> cached response, or NULL */
  GHashTable  *typing;         /* room_id -> GHashTable (user_id -> OmHsTyping*) */
  GHashTable  *typing_pos;     /* room_id -> gint64* stream of last typing change */
  GHashTable  *uia_sessions;   /* session -> NULL (set) */
  GHashTable  *ll_cache;       /* "user|device|room" -> set of member event IDs sent */
  GList       *faults;         /* OmHsFault*, owned */
  guint        next_fault_id;
  GRand       *rand;           /* seeded RNG for fault probabilities */
  GHashTable  *ratelimits;     /* user_id -> OmHsRateLimit* */
  GList       *waiters;        /* parked /sync requests, OmHsWaiter* */
  GList       *delayed;        /* requests held by a "delay" fault */
  guint        notify_idle;
  guint64      n_requests;
  guint64      n_connections;
  guint64      n_sync_requests;
  GHashTable  *received_us;    /* event_id -> gint64*: monotonic µs its send request arrived */
  GHashTable  *delivered_us;   /* "user_id event_id" -> gint64*: first /sync answer to the user with it */
  GHashTable  *demo_rooms;     /* room_id set the concierge watches */
  GList       *demo_timers;    /* pending concierge replies */
  OmHsSso     *sso;            /* SSO config, sessions, login tokens (om-hs-sso.c) */
  OmHsOAuth   *oauth;          /* delegated auth (om-hs-oauth.c), NULL unless --oidc-delegated */
  guint64      n_introspections;
};

/* om-hs-main.c: replies and helpers */
void         om_hs_reply_json        (SoupServerMessage *msg,
                                      guint              status,
                                      JsonNode          *node);
void         om_hs_reply_object      (SoupServerMessage *msg,
                                      guint              status,
                                      JsonObject        *obj);
void         om_hs_reply_error       (SoupServerMessage *msg,
                                      guint              status,
                                      const char        *errcode,
                                      const char        *error);
void         om_hs_reply_empty       (SoupServerMessage *msg);
gboolean     om_hs_request_auth      (OmHsRequest       *req);
/* Dispatches a paused request again from the start (after it waited for
 * something), unpausing it unless it waits again. */
void         om_hs_redispatch        (OmHs              *hs,
                                      SoupServerMessage *msg);
/* Whether the request may use the Synapse admin API: the user's admin flag,
 * or with delegated auth the urn:synapse:admin:* scope. */
gboolean     om_hs_request_is_admin  (OmHsRequest       *req);
JsonObject  *om_hs_request_body      (OmHsRequest       *req);
const char  *om_hs_query             (OmHsRequest       *req,
                                      const char        *key);
char        *om_hs_random_string     (guint              len,
                                      gboolean           upper_only);
gint64       om_hs_now_ms            (void);
char        *om_hs_json_to_string    (JsonNode          *node);
JsonObject  *om_hs_parse_object      (const char        *json);
/* The string member @key of @obj, NULL if absent or not a string. */
const char  *om_hs_json_str          (JsonObject        *obj,
                                      const char        *key);
gboolean     om_hs_ratelimit_check   (OmHsRequest       *req);
/* burst <= 0 removes the limit */
void         om_hs_ratelimit_set     (OmHs              *hs,
                                      const char        *user_id,
                                      gdouble            burst,
                                      gdouble            per_second);

/* om-hs-state.c: the SQLite model */
gboolean     om_hs_state_open        (OmHs              *hs,
                                      const char        *path,
                                      GError           **error);
void         om_hs_state_close       (OmHs              *hs);
/* A cached prepared statement, reset and unbound; @sql must be a literal. */
sqlite3_stmt *om_hs_stmt             (OmHs              *hs,
                                      const char        *sql);
void         om_hs_bind_text         (sqlite3_stmt      *st,
                                      int                i,
                                      const char        *s);
/* Steps to completion (g_error on failure) and resets. */
void         om_hs_step_done         (OmHs              *hs,
                                      sqlite3_stmt      *st);
char        *om_hs_col_dup           (sqlite3_stmt      *st,
                                      int                i);
gint64       om_hs_stream_advance    (OmHs              *hs);
void         om_hs_event_free        (OmHsEvent         *ev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmHsEvent, om_hs_event_free)

char        *om_hs_user_id           (OmHs              *hs,
                                      const char        *localpart);
gboolean     om_hs_user_exists       (OmHs              *hs,
                                      const char        *user_id);
gboolean     om_hs_user_create       (OmHs              *hs,
                                      const char        *localpart,
                                      const char        *password,
                                      gboolean           admin,
                                      const char        *displayname);
gboolean     om_hs_user_check_password (OmHs            *hs,
                                      const char        *user_id,
                                      const char        *password);
char        *om_hs_user_dup_displayname (OmHs           *hs,
                                      const char        *user_id);
void         om_hs_user_set_displayname (OmHs           *hs,
                                      const char        *user_id,
                                      const char        *displayname);
/* Admin API support */
gboolean     om_hs_user_is_admin     (OmHs              *hs,
                                      const char        *user_id);
/* Row for the admin API: (displayname, admin, deactivated, created_ts) as
 * strv, NULL if unknown. */
char       **om_hs_user_row          (OmHs              *hs,
                                      const char        *user_id);
void         om_hs_user_update       (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *password,
                                      gint               admin,
                                      gint               deactivated);
/* user IDs in creation order, filtered by a substring of ID or name */
GPtrArray   *om_hs_user_list         (OmHs              *hs,
                                      const char        *name);
/* room IDs in creation order */
GPtrArray   *om_hs_room_list         (OmHs              *hs);
void         om_hs_room_purge        (OmHs              *hs,
                                      const char        *room_id);
void         om_hs_device_ensure     (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *device_id,
                                      const char        *display_name);
char        *om_hs_token_create      (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *device_id);
/* Returns TRUE if the token exists; @out_expired tells a soft-logged-out one. */
gboolean     om_hs_token_lookup      (OmHs              *hs,
                                      const char        *token,
                                      char             **out_user_id,
                                      char             **out_device_id,
                                      gboolean          *out_expired);
char        *om_hs_token_create_refreshable (OmHs       *hs,
                                      const char        *user_id,
                                      const char        *device_id,
                                      gint64             lifetime_ms,
                                      char             **out_refresh_token);
/* Returns 200 (new pair in the outputs), 401 (unknown) or 403 (spent). */
guint        om_hs_token_refresh     (OmHs              *hs,
                                      const char        *refresh_token,
                                      gint64             lifetime_ms,
                                      char             **out_access_token,
                                      char             **out_refresh_token);
/* Deletes the device with its access and refresh tokens (like Synapse). */
void         om_hs_device_logout     (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *device_id);
/* rows of (device_id, display_name) strv */
GPtrArray   *om_hs_devices           (OmHs              *hs,
                                      const char        *user_id);
void         om_hs_token_delete_user (OmHs              *hs,
                                      const char        *user_id);
guint        om_hs_token_expire      (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *token,
                                      gboolean           also_refresh);
char        *om_hs_filter_create     (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *json);
char        *om_hs_filter_get        (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *filter_id);

/* Events.  @content is borrowed.  @ts 0 = now. */
OmHsEvent   *om_hs_event_create      (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *sender,
                                      const char        *type,
                                      const char        *state_key,
                                      JsonObject        *content,
                                      const char        *txn_id,
                                      const char        *device_id,
                                      gint64             ts);
OmHsEvent   *om_hs_event_get         (OmHs              *hs,
                                      const char        *event_id);
char        *om_hs_txn_lookup        (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *device_id,
                                      const char        *room_id,
                                      const char        *txn_id);
void         om_hs_event_redact      (OmHs              *hs,
                                      const char        *event_id,
                                      OmHsEvent         *redaction);
/* Events of @room_id with @after < stream <= @upto, ascending; limit 0 = all. */
GPtrArray   *om_hs_room_events       (OmHs              *hs,
                                      const char        *room_id,
                                      gint64             after,
                                      gint64             upto,
                                      guint              limit,
                                      gboolean           newest_first);
GPtrArray   *om_hs_all_room_events   (OmHs              *hs,
                                      const char        *room_id);
gint64       om_hs_room_count_events (OmHs              *hs,
                                      const char        *room_id,
                                      gint64             after,
                                      gint64             upto);
gboolean     om_hs_room_exists       (OmHs              *hs,
                                      const char        *room_id);
/* Current state; NULL if absent. */
OmHsEvent   *om_hs_state_get         (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *type,
                                      const char        *state_key);
/* State at @pos (0 = current): GPtrArray of OmHsEvent*, in stream order. */
GPtrArray   *om_hs_state_at          (OmHs              *hs,
                                      const char        *room_id,
                                      gint64             pos);
char        *om_hs_membership        (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *user_id);
/* Rooms where @user_id has a membership: room_id -> membership event stream */
GPtrArray   *om_hs_user_rooms        (OmHs              *hs,
                                      const char        *user_id);
GPtrArray   *om_hs_room_members      (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *membership);
gboolean     om_hs_users_share_room  (OmHs              *hs,
                                      const char        *a,
                                      const char        *b);
gint         om_hs_user_power        (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *user_id);
gint         om_hs_required_power    (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *type,
                                      gboolean           is_state,
                                      const char        *action);
gboolean     om_hs_alias_create      (OmHs              *hs,
                                      const char        *alias,
                                      const char        *room_id);
char        *om_hs_alias_lookup      (OmHs              *hs,
                                      const char        *alias);
GPtrArray   *om_hs_room_aliases      (OmHs              *hs,
                                      const char        *room_id);

void         om_hs_receipt_set       (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *user_id,
                                      const char        *type,
                                      const char        *thread_id,
                                      const char        *event_id);
/* Receipts of @room_id with stream > @after: rows of
 * (user_id, type, thread_id, event_id, ts) as a GPtrArray of char** strv. */
GPtrArray   *om_hs_receipts_since    (OmHs              *hs,
                                      const char        *room_id,
                                      gint64             after);
/* The stream of the event the user's latest m.read/m.read.private points at. */
gint64       om_hs_read_up_to        (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *user_id);
void         om_hs_account_data_set  (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *room_id,
                                      const char        *type,
                                      const char        *content);
char        *om_hs_account_data_get  (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *room_id,
                                      const char        *type);
/* rows of (type, content) strv */
GPtrArray   *om_hs_account_data_since (OmHs             *hs,
                                      const char        *user_id,
                                      const char        *room_id,
                                      gint64             after);
/* Sets presence; returns TRUE when it changed (a new stream position). */
gboolean     om_hs_presence_set      (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *presence,
                                      const char        *status_msg,
                                      gboolean           set_status);
/* JSON content of a user's m.presence, NULL if unknown; @out_stream. */
JsonObject  *om_hs_presence_get      (OmHs              *hs,
                                      const char        *user_id,
                                      gint64            *out_stream);
/* user_ids whose presence stream > @after */
GPtrArray   *om_hs_presence_since    (OmHs              *hs,
                                      gint64             after);
gint64       om_hs_device_list_pos   (OmHs              *hs,
                                      const char        *user_id);
void         om_hs_device_list_bump  (OmHs              *hs,
                                      const char        *user_id);

/* om-hs-client.c */
JsonNode    *om_hs_event_to_json     (OmHs              *hs,
                                      OmHsEvent         *ev,
                                      OmHsFormat         format,
                                      const char        *user_id,
                                      const char        *device_id);
OmHsEvent   *om_hs_send_state        (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *sender,
                                      const char        *type,
                                      const char        *state_key,
                                      JsonObject        *content);
char        *om_hs_create_room       (OmHs              *hs,
                                      const char        *creator,
                                      JsonObject        *body,
                                      const char       **out_errcode,
                                      char             **out_error,
                                      guint             *out_status);
gboolean     om_hs_set_membership    (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *sender,
                                      const char        *target,
                                      const char        *membership,
                                      const char        *reason);
void         om_hs_typing_set        (OmHs              *hs,
                                      const char        *room_id,
                                      const char        *user_id,
                                      gboolean           typing,
                                      guint              timeout_ms);
GPtrArray   *om_hs_typing_users      (OmHs              *hs,
                                      const char        *room_id);
void         om_hs_typing_clear_all  (OmHs              *hs);
gboolean     om_hs_route_client      (OmHsRequest       *req,
                                      const char        *rest,
                                      gboolean          *out_method_ok);
/* Dispatches @rest (the path after a prefix) through @table; FALSE if no
 * route matched (@out_method_ok FALSE if only the method did not). */
gboolean     om_hs_route_table       (OmHsRequest       *req,
                                      const char        *rest,
                                      const OmHsRoute   *table,
                                      guint              n_routes,
                                      gboolean          *out_method_ok);


void         om_hs_handle_hierarchy  (OmHsRequest       *req);

/* om-hs-sync.c */
void         om_hs_handle_sync       (OmHsRequest       *req);
void         om_hs_handle_messages   (OmHsRequest       *req);
/* Wakes parked /sync requests (coalesced in an idle). */
void         om_hs_notify            (OmHs              *hs);
void         om_hs_waiters_cancel_all (OmHs             *hs);
/* Forgets the parked /sync of @msg, if any, without answering it. */
void         om_hs_waiter_forget     (OmHs              *hs,
                                      SoupServerMessage *msg);
JsonObject  *om_hs_filter_resolve    (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *filter,
                                      const char       **out_errcode,
                                      const char       **out_error);

/* om-hs-keys.c: E2EE key distribution and to-device messages */
void         om_hs_handle_keys_upload  (OmHsRequest     *req);
void         om_hs_handle_keys_query   (OmHsRequest     *req);
void         om_hs_handle_keys_claim   (OmHsRequest     *req);
void         om_hs_handle_keys_changes (OmHsRequest     *req);
void         om_hs_handle_send_to_device (OmHsRequest   *req);
/* Adds to_device, device_one_time_keys_count and the unused fallback key
 * types to a sync response; acknowledges messages up to @since.  Returns
 * TRUE when there are to-device messages. */
gboolean     om_hs_sync_add_e2ee     (OmHs              *hs,
                                      const char        *user_id,
                                      const char        *device_id,
                                      gint64             since,
                                      JsonObject        *out);

/* om-hs-admin.c: the Synapse admin API subset */
gboolean     om_hs_route_admin       (OmHsRequest       *req,
                                      const char        *rest,
                                      gboolean          *out_method_ok);
void         om_hs_admin_whois       (OmHsRequest       *req);
void         om_hs_admin_shutdown    (void);

/* om-hs-control.c */
typedef enum
{
  OM_HS_FAULT_NONE,
  OM_HS_FAULT_ERROR,
  OM_HS_FAULT_RATELIMIT,
  OM_HS_FAULT_DROP,
  OM_HS_FAULT_DROP_AFTER,
  OM_HS_FAULT_DELAY,
} OmHsFaultAction;

typedef struct
{
  guint            id;
  char            *path;       /* owned */
  char            *method;     /* owned, NULL = any */
  OmHsFaultAction  action;
  guint            status;
  char            *errcode;    /* owned */
  char            *raw_body;   /* owned */
  char            *content_type; /* owned, for raw_body */
  char            *error;      /* owned, the error text */
  gint64           retry_after_ms;
  guint            delay_ms;
  gint             count;      /* remaining; -1 = until cleared */
  gdouble          probability;
} OmHsFault;

void         om_hs_handle_control    (OmHs              *hs,
                                      SoupServerMessage *msg,
                                      const char        *path);
/* Takes the first matching rule (consuming one count); NULL if none. */
OmHsFault   *om_hs_fault_match       (OmHs              *hs,
                                      const char        *method,
                                      const char        *path);
void         om_hs_fault_free        (OmHsFault         *fault);
void         om_hs_faults_clear      (OmHs              *hs);

/* om-hs-demo.c */
void         om_hs_demo_seed         (OmHs              *hs);
void         om_hs_demo_on_event     (OmHs              *hs,
                                      OmHsEvent         *ev);
void         om_hs_demo_shutdown     (OmHs              *hs);

/* om-hs-sso.c: SSO through an OpenID provider (Synapse's oidc_providers) */
/* @issuer NULL: SSO not configured (login tokens still work). */
OmHsSso     *om_hs_sso_new           (const char        *issuer,
                                      const char        *client_id,
                                      const char        *client_secret,
                                      const char * const *client_whitelist);
void         om_hs_sso_free          (OmHsSso           *sso);
gboolean     om_hs_sso_enabled       (OmHs              *hs);
void         om_hs_handle_sso_redirect (OmHsRequest     *req);
void         om_hs_handle_oidc_callback (OmHsRequest    *req);
/* A single-use m.login.token for @user_id, valid 2 minutes (owned). */
char        *om_hs_login_token_create (OmHs             *hs,
                                      const char        *user_id);
/* The user the token logs in (owned), NULL if unknown, used or expired;
 * the token is spent either way. */
char        *om_hs_login_token_consume (OmHs            *hs,
                                      const char        *token);

/* om-hs-oauth.c: delegated authentication (MSC3861) */
typedef enum
{
  OM_HS_OAUTH_OK,        /* req->user_id, device_id, oauth, oauth_admin set */
  OM_HS_OAUTH_REFUSED,   /* answered with the error */
  OM_HS_OAUTH_PENDING,   /* paused; dispatched again once introspected */
} OmHsOAuthResult;

OmHsOAuth   *om_hs_oauth_new         (const char        *issuer,
                                      const char        *client_id,
                                      const char        *client_secret,
                                      gboolean           stable_metadata);
void         om_hs_oauth_free        (OmHsOAuth         *oauth);
gboolean     om_hs_oauth_enabled     (OmHs              *hs);
/* Checks @token (not one of ours) by introspection at the provider. */
OmHsOAuthResult om_hs_oauth_authenticate (OmHsRequest   *req,
                                      const char        *token);
void         om_hs_handle_auth_metadata (OmHsRequest    *req);
void         om_hs_handle_auth_issuer (OmHsRequest      *req);

/* Timings for the delivery benchmark (GET /_test/timings), on the
 * monotonic clock, so a client process on this machine can compare. */
void          om_hs_timing_received   (OmHs        *hs,
                                       const char  *event_id,
                                       gint64       received_us);
void          om_hs_timing_delivered  (OmHs              *hs,
                                       SoupServerMessage *msg,
                                       const char        *user_id,
                                       JsonObject        *sync_response);

G_END_DECLS
