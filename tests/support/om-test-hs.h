/* om-test-hs.h — start and steer the test homeserver from a GLib test
 *
 * The homeserver is a separate process (tests/homeserver), started on
 * 127.0.0.1 with a free port and a temporary data directory.  Control calls
 * are blocking HTTP requests to its /_test/ endpoints; they never touch the
 * client's main loop.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _OmTestHs OmTestHs;

/* Starts a homeserver (aborts the test on failure).  @extra_args: NULL, or
 * a NULL-terminated argv tail such as { "--demo", NULL }. */
OmTestHs    *om_test_hs_start          (const char * const *extra_args);
/* Stops it (SIGTERM, then SIGKILL after 5 s) and removes its data dir. */
void         om_test_hs_free           (OmTestHs           *hs);

/* "http://127.0.0.1:<port>" */
const char  *om_test_hs_get_url        (OmTestHs           *hs);
/* The server_name in user IDs ("127.0.0.1:<port>" unless --server-name). */
const char  *om_test_hs_get_server_name (OmTestHs          *hs);
const char  *om_test_hs_get_data_dir   (OmTestHs           *hs);
/* "@<localpart>:<server_name>" (owned). */
char        *om_test_hs_user_id        (OmTestHs           *hs,
                                        const char         *localpart);

/* Creates a user through POST /_test/users; returns the user ID (owned). */
char        *om_test_hs_create_user    (OmTestHs           *hs,
                                        const char         *localpart,
                                        const char         *password,
                                        gboolean            admin);

/* A blocking request to the homeserver (any path; control endpoints need
 * no token).  @access_token and @json_body may be NULL.  Returns the
 * parsed body (NULL if empty) and the status in @out_status. */
JsonNode    *om_test_hs_request        (OmTestHs           *hs,
                                        const char         *method,
                                        const char         *path,
                                        const char         *access_token,
                                        const char         *json_body,
                                        guint              *out_status);

/* Like om_test_hs_request(), also giving the raw body (NULL when the
 * connection failed or was dropped, with status 0) and the raw response
 * headers.  Outputs may be NULL. */
JsonNode    *om_test_hs_request_full   (OmTestHs           *hs,
                                        const char         *method,
                                        const char         *path,
                                        const char         *access_token,
                                        const char         *json_body,
                                        guint              *out_status,
                                        char              **out_raw_body,
                                        char              **out_headers);

/* Logs @localpart in with a password and returns the access token (owned). */
char        *om_test_hs_login          (OmTestHs           *hs,
                                        const char         *localpart,
                                        const char         *password,
                                        char              **out_device_id);

/* Adds a fault rule: POST /_test/faults with @rule_json, e.g.
 * {"path":"/send/","action":"error","status":500,"count":3}. */
void         om_test_hs_add_fault      (OmTestHs           *hs,
                                        const char         *rule_json);
void         om_test_hs_clear_faults   (OmTestHs           *hs);

/* Stops the process and starts it again on the same port with the same
 * data directory (state kept, connections dropped). */
void         om_test_hs_restart        (OmTestHs           *hs);
/* SIGKILL without restart (om_test_hs_start_again brings it back). */
void         om_test_hs_kill           (OmTestHs           *hs);
void         om_test_hs_start_again    (OmTestHs           *hs);

/* Iterates the default main context until @done returns TRUE or
 * @timeout_ms passes; returns what @done last returned. */
gboolean     om_test_wait_until        (gboolean          (*done) (gpointer user_data),
                                        gpointer            user_data,
                                        guint               timeout_ms);

/* Aborts the test unless @actual has the structure of @expected (e.g. a
 * transcript's response): the same object keys (maps keyed by Matrix IDs,
 * i.e. keys starting with '!', '$' or '@', compared entry by entry in
 * order), the same array lengths and the same JSON value types. @where
 * names the place in messages. */
void         om_test_assert_same_shape (JsonNode           *expected,
                                        JsonNode           *actual,
                                        const char         *where);

/* Replays recorded exchanges (the JSON files in tests/data/transcripts/) against a
 * server, with the recording's base URL, server name, room IDs, tokens,
 * sessions and pagination tokens replaced by ours as they are learnt.  Each
 * step's status must match; for errors the errcode and error text too; for
 * /sync and /hierarchy the structure (om_test_assert_same_shape()),
 * otherwise the top-level keys.  The actor in "[alice] …" picks the token
 * (set with om_test_replay_set_token(); logins in the replay add theirs,
 * also as "alice/DEVICEID"). */
typedef struct _OmTestReplay OmTestReplay;

OmTestReplay *om_test_replay_new       (OmTestHs           *hs,
                                        const char         *default_actor);
void         om_test_replay_free       (OmTestReplay       *replay);
/* Replaces @from (and its escaped form in paths) by @to from now on. */
void         om_test_replay_map        (OmTestReplay       *replay,
                                        const char         *from,
                                        const char         *to);
void         om_test_replay_set_token  (OmTestReplay       *replay,
                                        const char         *actor,
                                        const char         *token);
const char  *om_test_replay_get_token  (OmTestReplay       *replay,
                                        const char         *actor);
/* Steps whose text contains @substring are checked for their status only. */
void         om_test_replay_set_loose  (OmTestReplay       *replay,
                                        const char         *substring);
/* A transcript path with our IDs (owned). */
char        *om_test_replay_subst_path (OmTestReplay       *replay,
                                        const char         *path);
void         om_test_replay_step       (OmTestReplay       *replay,
                                        JsonObject         *exchange);

/* A fresh temporary directory for a test (removed by om_test_rmdir). */
char        *om_test_mkdtemp           (void);
void         om_test_rmdir             (const char         *path);

/* A real OpenID provider, "OpenMeet" (tests/oidc/provider.mjs: the npm
 * package oidc-provider on Node, users alice/alice-pw, bob/bob-pw,
 * dave/dave-pw with matrix_handle "dave.doe", erin/erin-pw), with a static
 * confidential client for one homeserver whose port it reserves, so the
 * callback URL can be registered before that homeserver starts.  Found
 * through $OM_TEST_NODE (else node on PATH) and $OM_TEST_OIDC_DIR (else
 * $G_TEST_SRCDIR/oidc). */
typedef struct _OmTestOidc OmTestOidc;

/* Starts the provider; NULL after g_test_skip() when node or
 * tests/oidc/node_modules is missing (run `npm ci --prefix tests/oidc`). */
OmTestOidc  *om_test_oidc_start        (void);
/* The same with @extra_args (NULL-terminated, may be NULL) passed on to
 * provider.mjs, e.g. { "--access-token-ttl", "4", NULL } or
 * { "--matrix-scopes", "unstable", NULL }. */
OmTestOidc  *om_test_oidc_start_full   (const char * const *extra_args);
void         om_test_oidc_free         (OmTestOidc         *oidc);
/* "http://127.0.0.1:<port>" */
const char  *om_test_oidc_get_issuer   (OmTestOidc         *oidc);
const char  *om_test_oidc_get_client_id (OmTestOidc        *oidc);
const char  *om_test_oidc_get_client_secret (OmTestOidc    *oidc);
/* The homeserver's callback URL registered at the provider. */
const char  *om_test_oidc_get_redirect_uri (OmTestOidc     *oidc);

/* Starts a homeserver with SSO through @oidc (--oidc-issuer, client ID and
 * secret, on the reserved port), plus @extra_args (e.g.
 * { "--sso-client-whitelist", "http://127.0.0.1:", NULL }).  One
 * homeserver per provider. */
OmTestHs    *om_test_hs_start_with_oidc (OmTestOidc        *oidc,
                                        const char * const *extra_args);

/* Starts a homeserver whose authorization server is @oidc (Matrix's OAuth
 * 2.0 API: --oidc-delegated, introspecting with the static client), plus
 * @extra_args (e.g. { "--no-stable-auth-metadata", NULL }). */
OmTestHs    *om_test_hs_start_delegated (OmTestOidc        *oidc,
                                        const char * const *extra_args);

/* The provider's counters (GET /_test/stats, owned):
 * {"grants":{"authorization_code":N,"refresh_token":N,
 *  "urn:ietf:params:oauth:grant-type:device_code":N},"revocations":N,
 *  "registrations":N,"introspections":N}. */
JsonNode    *om_test_oidc_stats        (OmTestOidc         *oidc);
/* Revokes every access and refresh token of the account @sub ("alice"). */
void         om_test_oidc_revoke_all   (OmTestOidc         *oidc,
                                        const char         *sub);

/* A blocking request to any URL (no proxy).  @body (may be NULL) is sent
 * as @content_type (NULL = application/json); @headers is NULL or a
 * NULL-terminated list of extra "Name: value" lines.  Returns the parsed
 * JSON body (NULL if empty or not JSON), the status (0 when the connection
 * failed) and, if @out_raw_body, the raw body. */
JsonNode    *om_test_http_request      (const char         *method,
                                        const char         *url,
                                        const char         *content_type,
                                        const char         *body,
                                        const char * const *headers,
                                        guint              *out_status,
                                        char              **out_raw_body);

G_END_DECLS
