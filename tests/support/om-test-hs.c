/* om-test-hs.c — start and steer the test homeserver from a GLib test
 *
 * The server runs as a child process; control calls are blocking libcurl
 * requests, so they never iterate (or depend on) the client's main loop.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-test-hs"

#include "om-test-hs.h"

#include <curl/curl.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#ifndef OM_TEST_HOMESERVER_PATH
#define OM_TEST_HOMESERVER_PATH "om-test-homeserver"
#endif

#define LISTEN_PREFIX "OM_TEST_HOMESERVER_LISTENING "

struct _OmTestHs
{
  GPid    pid;           /* 0 when not running */
  int     stdout_fd;     /* kept open so the child never gets SIGPIPE */
  guint   port;
  char   *url;           /* owned */
  char   *server_name;   /* owned */
  char   *data_dir;      /* owned */
  char  **extra_args;    /* owned */
};

static const char *
homeserver_path (void)
{
  const char *env = g_getenv ("OM_TEST_HOMESERVER");

  return env && env[0] ? env : OM_TEST_HOMESERVER_PATH;
}

/* Reads the LISTENING line; FALSE on EOF (e.g. the port was still busy). */
static gboolean
read_listening_line (OmTestHs *hs,
                     char    **out_url)
{
  GString *line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (TRUE)
    {
      struct pollfd pfd = { hs->stdout_fd, POLLIN, 0 };
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      char c;
      ssize_t n;

      if (left_ms <= 0)
        g_error ("om-test-homeserver did not report listening within 10 s");
      if (poll (&pfd, 1, (int) left_ms) <= 0)
        continue;
      n = read (hs->stdout_fd, &c, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_string_free (line, TRUE);
          return FALSE;
        }
      if (c != '\n')
        {
          g_string_append_c (line, c);
          continue;
        }
      if (g_str_has_prefix (line->str, LISTEN_PREFIX))
        {
          *out_url = g_strdup (line->str + strlen (LISTEN_PREFIX));
          g_string_free (line, TRUE);
          return TRUE;
        }
      g_string_truncate (line, 0);
    }
}

static void
reap (OmTestHs *hs,
      guint     grace_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) grace_ms * 1000;
  int status;

  if (hs->pid == 0)
    return;
  while (waitpid (hs->pid, &status, WNOHANG) == 0)
    {
      if (g_get_monotonic_time () > deadline)
        {
          kill (hs->pid, SIGKILL);
          waitpid (hs->pid, &status, 0);
          break;
        }
      g_usleep (5000);
    }
  g_spawn_close_pid (hs->pid);
  hs->pid = 0;
  if (hs->stdout_fd >= 0)
    close (hs->stdout_fd);
  hs->stdout_fd = -1;
}

/* In the child: die with the test, so a failed test never leaves a server
 * behind (holding the test harness's stderr open). */
static void
child_setup (gpointer user_data)
{
#ifdef __linux__
  prctl (PR_SET_PDEATHSIG, SIGTERM);
#endif
}

static gboolean
spawn_once (OmTestHs *hs,
            guint     port)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  g_ptr_array_add (argv, g_strdup (homeserver_path ()));
  g_ptr_array_add (argv, g_strdup ("--port"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", port));
  g_ptr_array_add (argv, g_strdup ("--data-dir"));
  g_ptr_array_add (argv, g_strdup (hs->data_dir));
  for (guint i = 0; hs->extra_args && hs->extra_args[i]; i++)
    g_ptr_array_add (argv, g_strdup (hs->extra_args[i]));
  g_ptr_array_add (argv, NULL);

  if (!g_spawn_async_with_pipes (NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                 child_setup, NULL, &hs->pid, NULL, &hs->stdout_fd, NULL, &error))
    g_error ("cannot start %s: %s", homeserver_path (), error->message);

  if (!read_listening_line (hs, &url))
    {
      reap (hs, 2000);
      return FALSE;
    }
  g_free (hs->url);
  hs->url = g_steal_pointer (&url);
  hs->port = (guint) g_ascii_strtoull (strrchr (hs->url, ':') + 1, NULL, 10);
  return TRUE;
}

static void
spawn (OmTestHs *hs,
       guint     port)
{
  /* The old process's port can stay busy for a moment after it exits. */
  for (guint attempt = 0; attempt < 50; attempt++)
    {
      if (spawn_once (hs, port))
        return;
      g_usleep (100 * 1000);
    }
  g_error ("om-test-homeserver could not start on port %u", port);
}

OmTestHs *
om_test_hs_start (const char * const *extra_args)
{
  OmTestHs *hs = g_new0 (OmTestHs, 1);
  const char *name = NULL;

  hs->stdout_fd = -1;
  hs->data_dir = om_test_mkdtemp ();
  hs->extra_args = g_strdupv ((char **) extra_args);
  for (guint i = 0; extra_args && extra_args[i]; i++)
    if (g_str_equal (extra_args[i], "--server-name") && extra_args[i + 1])
      name = extra_args[i + 1];
  spawn (hs, 0);
  hs->server_name = name ? g_strdup (name) : g_strdup_printf ("127.0.0.1:%u", hs->port);
  return hs;
}

void
om_test_hs_free (OmTestHs *hs)
{
  if (hs == NULL)
    return;
  if (hs->pid)
    kill (hs->pid, SIGTERM);
  reap (hs, 5000);
  om_test_rmdir (hs->data_dir);
  g_free (hs->url);
  g_free (hs->server_name);
  g_free (hs->data_dir);
  g_strfreev (hs->extra_args);
  g_free (hs);
}

const char *
om_test_hs_get_url (OmTestHs *hs)
{
  return hs->url;
}

const char *
om_test_hs_get_server_name (OmTestHs *hs)
{
  return hs->server_name;
}

const char *
om_test_hs_get_data_dir (OmTestHs *hs)
{
  return hs->data_dir;
}

char *
om_test_hs_user_id (OmTestHs   *hs,
                    const char *localpart)
{
  return g_strdup_printf ("@%s:%s", localpart, hs->server_name);
}

/* Blocking HTTP */

static gsize
write_cb (char  *ptr,
          gsize  size,
          gsize  nmemb,
          void  *user_data)
{
  g_string_append_len (user_data, ptr, (gssize) (size * nmemb));
  return size * nmemb;
}

static gsize
header_cb (char  *ptr,
           gsize  size,
           gsize  nmemb,
           void  *user_data)
{
  if (user_data)
    g_string_append_len (user_data, ptr, (gssize) (size * nmemb));
  return size * nmemb;
}

JsonNode *
om_test_hs_request_full (OmTestHs    *hs,
                         const char  *method,
                         const char  *path,
                         const char  *access_token,
                         const char  *json_body,
                         guint       *out_status,
                         char       **out_raw_body,
                         char       **out_headers)
{
  static gsize curl_ready = 0;
  g_autofree char *url = g_strconcat (hs->url, path, NULL);
  g_autofree char *auth = NULL;
  g_autoptr(GString) body = g_string_new (NULL);
  g_autoptr(GString) headers = g_string_new (NULL);
  struct curl_slist *list = NULL;
  JsonNode *node = NULL;
  long status = 0;
  CURL *curl;
  CURLcode rc;

  if (g_once_init_enter (&curl_ready))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&curl_ready, 1);
    }
  curl = curl_easy_init ();
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt (curl, CURLOPT_HEADERDATA, headers);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  if (access_token)
    {
      auth = g_strdup_printf ("Authorization: Bearer %s", access_token);
      list = curl_slist_append (list, auth);
    }
  if (json_body)
    {
      list = curl_slist_append (list, "Content-Type: application/json");
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, json_body);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (json_body));
    }
  else if (g_str_equal (method, "POST") || g_str_equal (method, "PUT"))
    {
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, list);

  rc = curl_easy_perform (curl);
  if (rc == CURLE_OK)
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup (curl);
  curl_slist_free_all (list);

  if (out_status)
    *out_status = (guint) status;
  if (out_raw_body)
    *out_raw_body = rc == CURLE_OK ? g_strdup (body->str) : NULL;
  if (out_headers)
    *out_headers = g_strdup (headers->str);
  if (rc == CURLE_OK && body->len > 0)
    node = json_from_string (body->str, NULL);
  return node;
}

JsonNode *
om_test_hs_request (OmTestHs   *hs,
                    const char *method,
                    const char *path,
                    const char *access_token,
                    const char *json_body,
                    guint      *out_status)
{
  return om_test_hs_request_full (hs, method, path, access_token, json_body, out_status, NULL, NULL);
}

static JsonNode *
control (OmTestHs   *hs,
         const char *method,
         const char *path,
         const char *json_body)
{
  guint status = 0;
  JsonNode *node = om_test_hs_request (hs, method, path, NULL, json_body, &status);

  if (status != 200)
    g_error ("%s %s failed with HTTP %u", method, path, status);
  return node;
}

char *
om_test_hs_create_user (OmTestHs   *hs,
                        const char *localpart,
                        const char *password,
                        gboolean    admin)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) req = NULL;
  g_autoptr(JsonNode) res = NULL;
  g_autofree char *body = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "username");
  json_builder_add_string_value (b, localpart);
  json_builder_set_member_name (b, "password");
  json_builder_add_string_value (b, password);
  json_builder_set_member_name (b, "admin");
  json_builder_add_boolean_value (b, admin);
  json_builder_end_object (b);
  req = json_builder_get_root (b);
  body = json_to_string (req, FALSE);
  res = control (hs, "POST", "/_test/users", body);
  return g_strdup (json_object_get_string_member (json_node_get_object (res), "user_id"));
}

char *
om_test_hs_login (OmTestHs    *hs,
                  const char  *localpart,
                  const char  *password,
                  char       **out_device_id)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonNode) req = NULL;
  g_autoptr(JsonNode) res = NULL;
  g_autofree char *body = NULL;
  JsonObject *obj;
  guint status = 0;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "m.login.password");
  json_builder_set_member_name (b, "identifier");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "m.id.user");
  json_builder_set_member_name (b, "user");
  json_builder_add_string_value (b, localpart);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "password");
  json_builder_add_string_value (b, password);
  json_builder_end_object (b);
  req = json_builder_get_root (b);
  body = json_to_string (req, FALSE);
  res = om_test_hs_request (hs, "POST", "/_matrix/client/v3/login", NULL, body, &status);
  if (status != 200 || res == NULL)
    g_error ("login of %s failed with HTTP %u", localpart, status);
  obj = json_node_get_object (res);
  if (out_device_id)
    *out_device_id = g_strdup (json_object_get_string_member (obj, "device_id"));
  return g_strdup (json_object_get_string_member (obj, "access_token"));
}

void
om_test_hs_add_fault (OmTestHs   *hs,
                      const char *rule_json)
{
  JsonNode *res = control (hs, "POST", "/_test/faults", rule_json);

  if (res)
    json_node_unref (res);
}

void
om_test_hs_clear_faults (OmTestHs *hs)
{
  JsonNode *res = control (hs, "DELETE", "/_test/faults", NULL);

  if (res)
    json_node_unref (res);
}

void
om_test_hs_restart (OmTestHs *hs)
{
  if (hs->pid)
    kill (hs->pid, SIGTERM);
  reap (hs, 5000);
  spawn (hs, hs->port);
}

void
om_test_hs_kill (OmTestHs *hs)
{
  if (hs->pid)
    kill (hs->pid, SIGKILL);
  reap (hs, 5000);
}

void
om_test_hs_start_again (OmTestHs *hs)
{
  g_return_if_fail (hs->pid == 0);
  spawn (hs, hs->port);
}

static gboolean
is_id_key (const char *key)
{
  return key[0] == '!' || key[0] == '$' || key[0] == '@';
}

void
om_test_assert_same_shape (JsonNode   *e,
                           JsonNode   *a,
                           const char *where)
{
  if (JSON_NODE_TYPE (e) != JSON_NODE_TYPE (a))
    g_error ("%s: different JSON types", where);
  if (JSON_NODE_HOLDS_VALUE (e))
    {
      GType te = json_node_get_value_type (e), ta = json_node_get_value_type (a);

      if (te == G_TYPE_DOUBLE)
        te = G_TYPE_INT64;
      if (ta == G_TYPE_DOUBLE)
        ta = G_TYPE_INT64;
      if (te != ta)
        g_error ("%s: %s instead of %s", where, g_type_name (ta), g_type_name (te));
    }
  else if (JSON_NODE_HOLDS_ARRAY (e))
    {
      JsonArray *ea = json_node_get_array (e), *aa = json_node_get_array (a);

      if (json_array_get_length (ea) != json_array_get_length (aa))
        g_error ("%s: %u elements instead of %u", where, json_array_get_length (aa),
                 json_array_get_length (ea));
      for (guint i = 0; i < json_array_get_length (ea); i++)
        {
          g_autofree char *sub = g_strdup_printf ("%s[%u]", where, i);
          om_test_assert_same_shape (json_array_get_element (ea, i), json_array_get_element (aa, i), sub);
        }
    }
  else if (JSON_NODE_HOLDS_OBJECT (e))
    {
      JsonObject *eo = json_node_get_object (e), *ao = json_node_get_object (a);
      GList *ek = json_object_get_members (eo), *ak = json_object_get_members (ao);
      GList *eid = NULL, *aid = NULL;

      for (GList *l = ek; l; l = l->next)
        {
          g_autofree char *sub = g_strdup_printf ("%s.%s", where, (char *) l->data);

          if (is_id_key (l->data))
            eid = g_list_append (eid, l->data);
          else if (!json_object_has_member (ao, l->data))
            g_error ("%s: missing", sub);
          else
            om_test_assert_same_shape (json_object_get_member (eo, l->data), json_object_get_member (ao, l->data), sub);
        }
      for (GList *l = ak; l; l = l->next)
        {
          if (is_id_key (l->data))
            aid = g_list_append (aid, l->data);
          else if (!json_object_has_member (eo, l->data))
            g_error ("%s.%s: unexpected", where, (char *) l->data);
        }
      if (g_list_length (eid) != g_list_length (aid))
        g_error ("%s: %u ID-keyed entries instead of %u", where, g_list_length (aid), g_list_length (eid));
      for (GList *x = eid, *y = aid; x && y; x = x->next, y = y->next)
        {
          g_autofree char *sub = g_strdup_printf ("%s.<%s>", where, (char *) x->data);
          om_test_assert_same_shape (json_object_get_member (eo, x->data), json_object_get_member (ao, y->data), sub);
        }
      g_list_free (ek);
      g_list_free (ak);
      g_list_free (eid);
      g_list_free (aid);
    }
}

/* Transcript replay */

struct _OmTestReplay
{
  OmTestHs   *hs;
  GPtrArray  *from;            /* transcript strings, as in bodies */
  GPtrArray  *to;              /* ours */
  GPtrArray  *path_from;       /* the same, escaped as in paths */
  GPtrArray  *path_to;
  GHashTable *tokens;          /* actor -> access token */
  char       *default_actor;   /* for steps that name none */
  char       *loose;           /* steps containing this: status only */
  gint64      retry_after_ms;  /* last 429's */
};

static char *
esc_id (const char *s)
{
  /* As the transcript's client escaped IDs in paths: all but '!'. */
  return g_uri_escape_string (s, "!", FALSE);
}

void
om_test_replay_map (OmTestReplay *r,
                    const char   *from,
                    const char   *to)
{
  if (from == NULL || to == NULL || g_str_equal (from, to))
    return;
  g_ptr_array_add (r->path_from, esc_id (from));
  g_ptr_array_add (r->path_to, esc_id (to));
  g_ptr_array_add (r->from, g_strdup (from));
  g_ptr_array_add (r->to, g_strdup (to));
}

static char *
subst_pairs (const char *text,
             GPtrArray  *from,
             GPtrArray  *to)
{
  char *out = g_strdup (text);
  g_autoptr(GArray) order = g_array_new (FALSE, FALSE, sizeof (guint));

  /* Longest first, so IDs are replaced before the bare server name. */
  for (guint i = 0; i < from->len; i++)
    g_array_append_val (order, i);
  for (guint i = 0; i < order->len; i++)
    for (guint j = i + 1; j < order->len; j++)
      if (strlen (from->pdata[g_array_index (order, guint, j)]) >
          strlen (from->pdata[g_array_index (order, guint, i)]))
        {
          guint t = g_array_index (order, guint, i);
          g_array_index (order, guint, i) = g_array_index (order, guint, j);
          g_array_index (order, guint, j) = t;
        }
  for (guint k = 0; k < order->len; k++)
    {
      guint i = g_array_index (order, guint, k);
      g_auto(GStrv) parts = g_strsplit (out, from->pdata[i], -1);

      g_free (out);
      out = g_strjoinv (to->pdata[i], parts);
    }
  return out;
}

static char *
replay_subst (OmTestReplay *r,
              const char   *text)
{
  return subst_pairs (text, r->from, r->to);
}

char *
om_test_replay_subst_path (OmTestReplay *r,
                           const char   *path)
{
  g_autofree char *escaped = subst_pairs (path, r->path_from, r->path_to);

  return subst_pairs (escaped, r->from, r->to);
}

static char *
step_actor (const char *step)
{
  gsize n;

  if (step[0] != '[')
    return NULL;
  n = strcspn (step + 1, "]");
  return g_strndup (step + 1, n);
}

static void
assert_same_keys (JsonObject *expected,
                  JsonObject *actual,
                  const char *step)
{
  GList *keys = json_object_get_members (expected);

  for (GList *l = keys; l; l = l->next)
    if (!json_object_has_member (actual, l->data))
      g_error ("%s: response lacks \"%s\"", step, (char *) l->data);
  g_list_free (keys);
  keys = json_object_get_members (actual);
  for (GList *l = keys; l; l = l->next)
    if (!json_object_has_member (expected, l->data))
      g_error ("%s: response has an extra \"%s\"", step, (char *) l->data);
  g_list_free (keys);
}

/* Learns our equivalents of the transcript's pagination tokens. */
static void
replay_map_tokens (OmTestReplay *r,
                   JsonObject   *e,
                   JsonObject   *a)
{
  static const char *keys[] = { "next_batch", "start", "end" };

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    if (json_object_has_member (e, keys[i]) && json_object_has_member (a, keys[i]))
      om_test_replay_map (r, json_object_get_string_member (e, keys[i]), json_object_get_string_member (a, keys[i]));
  if (json_object_has_member (e, "rooms") && json_object_has_member (a, "rooms") &&
      JSON_NODE_HOLDS_OBJECT (json_object_get_member (e, "rooms")) &&
      json_object_has_member (json_object_get_object_member (e, "rooms"), "join") &&
      json_object_has_member (json_object_get_object_member (a, "rooms"), "join"))
    {
      JsonObject *ej = json_object_get_object_member (json_object_get_object_member (e, "rooms"), "join");
      JsonObject *aj = json_object_get_object_member (json_object_get_object_member (a, "rooms"), "join");
      GList *ek = json_object_get_values (ej), *ak = json_object_get_values (aj);

      for (GList *x = ek, *y = ak; x && y; x = x->next, y = y->next)
        {
          JsonObject *et = json_object_get_object_member (json_node_get_object (x->data), "timeline");
          JsonObject *at = json_object_get_object_member (json_node_get_object (y->data), "timeline");

          om_test_replay_map (r, json_object_get_string_member (et, "prev_batch"),
                      json_object_get_string_member (at, "prev_batch"));
        }
      g_list_free (ek);
      g_list_free (ak);
    }
}

void
om_test_replay_step (OmTestReplay *r,
                     JsonObject   *ex)
{
  const char *step = json_object_get_string_member (ex, "step");
  const char *method = json_object_get_string_member (ex, "method");
  guint expected_status = (guint) json_object_get_int_member (ex, "status");
  JsonNode *req_body = json_object_get_member (ex, "request_body");
  JsonNode *res_body = json_object_get_member (ex, "response_body");
  g_autofree char *actor = step_actor (step);
  g_autofree char *path = om_test_replay_subst_path (r, json_object_get_string_member (ex, "path"));
  g_autofree char *body = NULL;
  const char *token = g_hash_table_lookup (r->tokens, actor && !g_str_equal (actor, "setup") ? actor
                                                                                            : r->default_actor);
  g_autofree char *who = actor ? g_strndup (actor, strcspn (actor, ",/")) : NULL;

  /* "[bob, non-admin]" and "[bob/BOBLAPTOP]" are bob. */
  if (token == NULL && who != NULL)
    token = g_hash_table_lookup (r->tokens, who);
  g_autoptr(JsonNode) res = NULL;
  guint status = 0;

  if (strstr (path, "access_token=<redacted>"))
    {
      g_autofree char *t = g_uri_escape_string (g_hash_table_lookup (r->tokens, "alice"), NULL, FALSE);
      g_auto(GStrv) parts = g_strsplit (path, "<redacted>", -1);

      g_free (path);
      path = g_strjoinv (t, parts);
    }
  else if (g_str_equal (step, "unknown access token"))
    token = "syt_unknown";
  else if (g_str_equal (step, "missing access token"))
    token = NULL;

  if (req_body && !JSON_NODE_HOLDS_NULL (req_body))
    {
      g_autofree char *raw = JSON_NODE_HOLDS_VALUE (req_body) ? g_strdup (json_node_get_string (req_body))
                                                              : json_to_string (req_body, FALSE);
      g_autofree char *big = g_strnfill (70000, 'x');
      g_auto(GStrv) parts = g_strsplit (raw, "<70000 x \\\"x\\\" (omitted)>", -1);
      g_autofree char *expanded = g_strjoinv (big, parts);

      body = replay_subst (r, expanded);
      if (strstr (step, "wrong password"))
        {
          g_auto(GStrv) pw = g_strsplit (body, "<redacted>", -1);

          g_free (body);
          body = g_strjoinv ("not-the-password", pw);
        }
    }
  if (strstr (step, "after waiting"))
    g_usleep ((r->retry_after_ms + 50) * 1000);
  if (strstr (step, "(poll 2)"))
    g_usleep (400 * 1000);   /* the room deletion completes meanwhile */
  if (g_str_has_prefix (step, "[no token]"))
    token = NULL;

  res = om_test_hs_request (r->hs, method, path, token, body, &status);
  if (status != expected_status)
    {
      g_autofree char *text = res ? json_to_string (res, FALSE) : g_strdup ("(no JSON)");
      g_error ("%s: %s %s: expected %u, got %u %s", step, method, path, expected_status, status, text);
    }
  if (res_body == NULL || !JSON_NODE_HOLDS_OBJECT (res_body))
    return;
  g_assert_nonnull (res);
  if (json_object_has_member (json_node_get_object (res_body), "errcode"))
    {
      JsonObject *e = json_node_get_object (res_body);
      g_autofree char *error = replay_subst (r, json_object_get_string_member (e, "error"));

      g_assert_cmpstr (json_object_get_string_member (json_node_get_object (res), "errcode"), ==,
                       json_object_get_string_member (e, "errcode"));
      g_assert_cmpstr (json_object_get_string_member (json_node_get_object (res), "error"), ==, error);
      if (json_object_has_member (e, "soft_logout"))
        g_assert_cmpint (json_object_get_boolean_member (json_node_get_object (res), "soft_logout"), ==,
                         json_object_get_boolean_member (e, "soft_logout"));
      if (json_object_has_member (e, "retry_after_ms"))
        r->retry_after_ms = json_object_get_int_member (json_node_get_object (res), "retry_after_ms");
      return;
    }
  if (r->loose && strstr (step, r->loose))
    ;
  else if (strstr (path, "/sync") || strstr (path, "/hierarchy"))
    om_test_assert_same_shape (res_body, res, step);
  else
    assert_same_keys (json_node_get_object (res_body), json_node_get_object (res), step);
  replay_map_tokens (r, json_node_get_object (res_body), json_node_get_object (res));
  if (json_object_has_member (json_node_get_object (res), "room_id"))
    om_test_replay_map (r, json_object_get_string_member (json_node_get_object (res_body), "room_id"),
                json_object_get_string_member (json_node_get_object (res), "room_id"));
  if (json_object_has_member (json_node_get_object (res), "delete_id"))
    om_test_replay_map (r, json_object_get_string_member (json_node_get_object (res_body), "delete_id"),
                json_object_get_string_member (json_node_get_object (res), "delete_id"));
  if (json_object_has_member (json_node_get_object (res), "session"))
    om_test_replay_map (r, json_object_get_string_member (json_node_get_object (res_body), "session"),
                json_object_get_string_member (json_node_get_object (res), "session"));
  if (actor && json_object_has_member (json_node_get_object (res), "access_token"))
    {
      /* "[alice] POST login (a second device …)" serves "[alice, second device]". */
      g_autofree char *key = strstr (step, "second device") ? g_strdup_printf ("%s, second device", actor)
                                                             : g_strdup (actor);

      if (!g_hash_table_contains (r->tokens, key))
        g_hash_table_insert (r->tokens, g_steal_pointer (&key),
                             g_strdup (json_object_get_string_member (json_node_get_object (res), "access_token")));
      /* "[alice/ALICEPHONE]" is the session that logged in with that device. */
      g_hash_table_replace (r->tokens,
                            g_strdup_printf ("%s/%s", actor, json_object_get_string_member (json_node_get_object (res), "device_id")),
                            g_strdup (json_object_get_string_member (json_node_get_object (res), "access_token")));
    }
}

OmTestReplay *
om_test_replay_new (OmTestHs   *hs,
                    const char *default_actor)
{
  OmTestReplay *r = g_new0 (OmTestReplay, 1);

  r->hs = hs;
  r->default_actor = g_strdup (default_actor);
  r->from = g_ptr_array_new_with_free_func (g_free);
  r->to = g_ptr_array_new_with_free_func (g_free);
  r->path_from = g_ptr_array_new_with_free_func (g_free);
  r->path_to = g_ptr_array_new_with_free_func (g_free);
  r->tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* The recording's base URL and server_name. */
  om_test_replay_map (r, "http://127.0.0.1:8018", om_test_hs_get_url (hs));
  om_test_replay_map (r, "matrix.openmeet.test", om_test_hs_get_server_name (hs));
  /* Shorter long-polls than the recording's 5 s. */
  om_test_replay_map (r, "timeout=5000", "timeout=300");
  return r;
}

void
om_test_replay_free (OmTestReplay *r)
{
  if (r == NULL)
    return;
  g_ptr_array_unref (r->from);
  g_ptr_array_unref (r->to);
  g_ptr_array_unref (r->path_from);
  g_ptr_array_unref (r->path_to);
  g_hash_table_unref (r->tokens);
  g_free (r->default_actor);
  g_free (r->loose);
  g_free (r);
}

void
om_test_replay_set_token (OmTestReplay *r,
                          const char   *actor,
                          const char   *token)
{
  g_hash_table_replace (r->tokens, g_strdup (actor), g_strdup (token));
}

const char *
om_test_replay_get_token (OmTestReplay *r,
                          const char   *actor)
{
  return g_hash_table_lookup (r->tokens, actor);
}

void
om_test_replay_set_loose (OmTestReplay *r,
                          const char   *substring)
{
  g_free (r->loose);
  r->loose = g_strdup (substring);
}

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

gboolean
om_test_wait_until (gboolean (*done) (gpointer user_data),
                    gpointer   user_data,
                    guint      timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint wake = g_timeout_add (10, wake_cb, NULL);
  gboolean result;

  while (!(result = done (user_data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);
  return result;
}

char *
om_test_mkdtemp (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("om-test-XXXXXX", &error);

  if (dir == NULL)
    g_error ("cannot create a temporary directory: %s", error->message);
  return dir;
}

void
om_test_rmdir (const char *path)
{
  GDir *dir;
  const char *name;

  if (path == NULL)
    return;
  dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    {
      g_unlink (path);
      return;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        om_test_rmdir (child);
      else
        g_unlink (child);
    }
  g_dir_close (dir);
  g_rmdir (path);
}

/* The OpenID provider */

#define OIDC_LISTEN_PREFIX "OM_TEST_OIDC_LISTENING "

/* How long one start may take (about 0.5 s alone, 10 s with 8 at once on
 * 2 CPUs), and how many starts are tried when one wedges. */
#define OIDC_START_TIMEOUT_S 20
#define OIDC_START_ATTEMPTS  2

struct _OmTestOidc
{
  GPid     pid;
  int      stdout_fd;
  GThread *stderr_thread;  /* copies the provider's stderr to ours */
  guint    hs_port;        /* reserved for the homeserver */
  char    *issuer;         /* owned */
  char    *client_id;      /* owned */
  char    *client_secret;  /* owned */
  char    *redirect_uri;   /* owned */
};

/* A port on 127.0.0.1 free right now (the kernel does not hand it out
 * again at once). */
static guint
reserve_port (void)
{
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                          G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) addr = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (addr, 0);
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GError) error = NULL;

  if (sock == NULL || !g_socket_bind (sock, any, FALSE, &error) ||
      (local = g_socket_get_local_address (sock, &error)) == NULL)
    g_error ("cannot reserve a port: %s", error ? error->message : "no socket");
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
}

/* In the provider: killed outright when the test dies, even when it is
 * stuck and deaf to SIGTERM, so it never holds the harness's pipes open. */
static void
oidc_child_setup (gpointer user_data)
{
#ifdef __linux__
  prctl (PR_SET_PDEATHSIG, SIGKILL);
#endif
}

static void
write_all (int         fd,
           const char *data,
           gsize       len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      data += n;
      len -= (gsize) n;
    }
}

/* Thread: copies the provider's stderr (@data, a file descriptor, owned)
 * to ours until it exits. */
static gpointer
forward_stderr (gpointer data)
{
  int fd = GPOINTER_TO_INT (data);
  char buf[4096];
  ssize_t n;

  while ((n = read (fd, buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      write_all (STDERR_FILENO, buf, (gsize) n);
    }
  close (fd);
  return NULL;
}

/* Reads the provider's stdout up to its "listening" line, copying what it
 * writes on stderr meanwhile to ours: the issuer; NULL when it closes its
 * stdout or @timeout_s pass.  Everything it printed is added to @output. */
static char *
read_oidc_listening (int      out_fd,
                     int      err_fd,
                     guint    timeout_s,
                     GString *output)
{
  g_autoptr(GString) line = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  while (TRUE)
    {
      struct pollfd pfd[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      char buf[4096];
      ssize_t n;

      if (left_ms <= 0)
        return NULL;
      if (poll (pfd, err_fd >= 0 ? 2 : 1, (int) left_ms) <= 0)
        continue;
      if (err_fd >= 0 && pfd[1].revents != 0)
        {
          n = read (err_fd, buf, sizeof buf);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            err_fd = -1;  /* closed: wait for the end of stdout */
          else
            {
              write_all (STDERR_FILENO, buf, (gsize) n);
              g_string_append_len (output, buf, n);
            }
        }
      if (pfd[0].revents == 0)
        continue;
      n = read (out_fd, buf, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return NULL;
      if (buf[0] != '\n')
        {
          g_string_append_c (line, buf[0]);
          continue;
        }
      if (g_str_has_prefix (line->str, OIDC_LISTEN_PREFIX))
        return g_strdup (line->str + strlen (OIDC_LISTEN_PREFIX));
      g_string_append_printf (output, "%s\n", line->str);
      g_string_truncate (line, 0);
    }
}

/* Ends a provider that did not start, and says how it ended. */
static char *
kill_failed_oidc (OmTestOidc *oidc,
                  guint       timeout_s)
{
  int status = 0;
  pid_t got = waitpid (oidc->pid, &status, WNOHANG);
  char *what;

  if (got == 0)
    {
      /* Still running, so wedged: SIGTERM would not get through. */
      kill (oidc->pid, SIGKILL);
      waitpid (oidc->pid, &status, 0);
      what = g_strdup_printf ("did not report listening within %u s (killed)", timeout_s);
    }
  else if (got > 0 && WIFEXITED (status))
    what = g_strdup_printf ("exited with status %d before listening", WEXITSTATUS (status));
  else if (got > 0 && WIFSIGNALED (status))
    what = g_strdup_printf ("was killed by signal %d before listening", WTERMSIG (status));
  else
    what = g_strdup ("ended before listening");
  g_spawn_close_pid (oidc->pid);
  oidc->pid = 0;
  close (oidc->stdout_fd);
  oidc->stdout_fd = -1;
  return what;
}

OmTestOidc *
om_test_oidc_start_full (const char * const *extra_args)
{
  const char *env_node = g_getenv ("OM_TEST_NODE");
  const char *env_dir = g_getenv ("OM_TEST_OIDC_DIR");
  g_autofree char *node = env_node && env_node[0] ? g_strdup (env_node) : g_find_program_in_path ("node");
  g_autofree char *dir = env_dir && env_dir[0] ? g_strdup (env_dir)
                                               : g_build_filename (g_getenv ("G_TEST_SRCDIR") ?
                                                                   g_getenv ("G_TEST_SRCDIR") : ".",
                                                                   "oidc", NULL);
  g_autofree char *module = g_build_filename (dir, "node_modules", "oidc-provider", "package.json", NULL);
  g_autofree char *script = g_build_filename (dir, "provider.mjs", NULL);
  g_autoptr(GPtrArray) argv = NULL;
  OmTestOidc *oidc;

  if (node == NULL)
    {
      g_test_skip ("node not found (set OM_TEST_NODE)");
      return NULL;
    }
  if (!g_file_test (module, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("tests/oidc/node_modules missing: run `npm ci --prefix tests/oidc`");
      return NULL;
    }
  oidc = g_new0 (OmTestOidc, 1);
  oidc->stdout_fd = -1;
  oidc->hs_port = reserve_port ();
  oidc->client_id = g_strdup ("matrix_synapse");
  oidc->client_secret = g_strdup_printf ("secret-%08x%08x", g_random_int (), g_random_int ());
  oidc->redirect_uri = g_strdup_printf ("http://127.0.0.1:%u/_synapse/client/oidc/callback",
                                        oidc->hs_port);
  {
    const char *base[] = { node, script, "--port", "0", "--client-id", oidc->client_id,
                           "--client-secret", oidc->client_secret, "--redirect-uri",
                           oidc->redirect_uri };

    argv = g_ptr_array_new ();
    for (guint i = 0; i < G_N_ELEMENTS (base); i++)
      g_ptr_array_add (argv, (gpointer) base[i]);
    for (guint i = 0; extra_args && extra_args[i]; i++)
      g_ptr_array_add (argv, (gpointer) extra_args[i]);
    g_ptr_array_add (argv, NULL);
  }

  /* A start that wedges (it should not: see the signing key in
   * provider.mjs) is reported, with what Node printed, and tried again. */
  for (guint attempt = 1; ; attempt++)
    {
      g_autoptr(GString) output = g_string_new (NULL);
      g_autoptr(GError) error = NULL;
      g_autofree char *what = NULL;
      gboolean timed_out;
      int stderr_fd = -1;
      GPid pid;

      if (!g_spawn_async_with_pipes (dir, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                     oidc_child_setup, NULL, &oidc->pid, NULL, &oidc->stdout_fd,
                                     &stderr_fd, &error))
        g_error ("cannot start %s: %s", script, error->message);
      oidc->issuer = read_oidc_listening (oidc->stdout_fd, stderr_fd, OIDC_START_TIMEOUT_S, output);
      if (oidc->issuer != NULL)
        {
          oidc->stderr_thread = g_thread_new ("oidc-stderr", forward_stderr,
                                              GINT_TO_POINTER (stderr_fd));
          return oidc;
        }
      close (stderr_fd);
      pid = oidc->pid;
      what = kill_failed_oidc (oidc, OIDC_START_TIMEOUT_S);
      timed_out = g_str_has_prefix (what, "did not");
      if (!timed_out || attempt == OIDC_START_ATTEMPTS)
        g_error ("the OpenID provider (%s, pid %d) %s; it printed:\n%s", script, (int) pid,
                 what, output->len > 0 ? output->str : "(nothing)\n");
      g_printerr ("the OpenID provider (%s, pid %d) %s, attempt %u of %u; it printed:\n%s"
                  "starting it again\n", script, (int) pid, what, attempt, OIDC_START_ATTEMPTS,
                  output->len > 0 ? output->str : "(nothing)\n");
    }
}

OmTestOidc *
om_test_oidc_start (void)
{
  return om_test_oidc_start_full (NULL);
}

void
om_test_oidc_free (OmTestOidc *oidc)
{
  gint64 deadline;
  int status;

  if (oidc == NULL)
    return;
  kill (oidc->pid, SIGTERM);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (waitpid (oidc->pid, &status, WNOHANG) == 0)
    {
      if (g_get_monotonic_time () > deadline)
        {
          kill (oidc->pid, SIGKILL);
          waitpid (oidc->pid, &status, 0);
          break;
        }
      g_usleep (5000);
    }
  g_spawn_close_pid (oidc->pid);
  if (oidc->stdout_fd >= 0)
    close (oidc->stdout_fd);
  if (oidc->stderr_thread != NULL)
    g_thread_join (oidc->stderr_thread);  /* ends with the provider's stderr */
  g_free (oidc->issuer);
  g_free (oidc->client_id);
  g_free (oidc->client_secret);
  g_free (oidc->redirect_uri);
  g_free (oidc);
}

const char *
om_test_oidc_get_issuer (OmTestOidc *oidc)
{
  return oidc->issuer;
}

const char *
om_test_oidc_get_client_id (OmTestOidc *oidc)
{
  return oidc->client_id;
}

const char *
om_test_oidc_get_client_secret (OmTestOidc *oidc)
{
  return oidc->client_secret;
}

const char *
om_test_oidc_get_redirect_uri (OmTestOidc *oidc)
{
  return oidc->redirect_uri;
}

OmTestHs *
om_test_hs_start_with_oidc (OmTestOidc         *oidc,
                            const char * const *extra_args)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

  /* After spawn()'s own --port: the last one wins. */
  g_ptr_array_add (args, g_strdup ("--port"));
  g_ptr_array_add (args, g_strdup_printf ("%u", oidc->hs_port));
  g_ptr_array_add (args, g_strdup ("--oidc-issuer"));
  g_ptr_array_add (args, g_strdup (oidc->issuer));
  g_ptr_array_add (args, g_strdup ("--oidc-client-id"));
  g_ptr_array_add (args, g_strdup (oidc->client_id));
  g_ptr_array_add (args, g_strdup ("--oidc-client-secret"));
  g_ptr_array_add (args, g_strdup (oidc->client_secret));
  for (guint i = 0; extra_args && extra_args[i]; i++)
    g_ptr_array_add (args, g_strdup (extra_args[i]));
  g_ptr_array_add (args, NULL);
  return om_test_hs_start ((const char * const *) args->pdata);
}

OmTestHs *
om_test_hs_start_delegated (OmTestOidc         *oidc,
                            const char * const *extra_args)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();

  g_ptr_array_add (args, (gpointer) "--oidc-delegated");
  for (guint i = 0; extra_args && extra_args[i]; i++)
    g_ptr_array_add (args, (gpointer) extra_args[i]);
  g_ptr_array_add (args, NULL);
  return om_test_hs_start_with_oidc (oidc, (const char * const *) args->pdata);
}

JsonNode *
om_test_http_request (const char         *method,
                      const char         *url,
                      const char         *content_type,
                      const char         *body,
                      const char * const *headers,
                      guint              *out_status,
                      char              **out_raw_body)
{
  static gsize curl_ready = 0;
  g_autoptr(GString) answer = g_string_new (NULL);
  g_autofree char *type_header = NULL;
  struct curl_slist *list = NULL;
  JsonNode *node = NULL;
  long status = 0;
  CURL *curl;
  CURLcode rc;

  if (g_once_init_enter (&curl_ready))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&curl_ready, 1);
    }
  curl = curl_easy_init ();
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, answer);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
  for (guint i = 0; headers && headers[i]; i++)
    list = curl_slist_append (list, headers[i]);
  if (body)
    {
      type_header = g_strdup_printf ("Content-Type: %s", content_type ? content_type : "application/json");
      list = curl_slist_append (list, type_header);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (body));
    }
  else if (g_str_equal (method, "POST") || g_str_equal (method, "PUT"))
    {
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, list);
  rc = curl_easy_perform (curl);
  if (rc == CURLE_OK)
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup (curl);
  curl_slist_free_all (list);
  if (out_status)
    *out_status = (guint) status;
  if (out_raw_body)
    *out_raw_body = rc == CURLE_OK ? g_strdup (answer->str) : NULL;
  if (rc == CURLE_OK && answer->len > 0)
    node = json_from_string (answer->str, NULL);
  return node;
}

JsonNode *
om_test_oidc_stats (OmTestOidc *oidc)
{
  g_autofree char *url = g_strconcat (oidc->issuer, "/_test/stats", NULL);
  guint status = 0;
  JsonNode *node = om_test_http_request ("GET", url, NULL, NULL, NULL, &status, NULL);

  if (status != 200 || node == NULL)
    g_error ("GET %s failed with HTTP %u", url, status);
  return node;
}

void
om_test_oidc_revoke_all (OmTestOidc *oidc,
                         const char *sub)
{
  g_autofree char *escaped = g_uri_escape_string (sub, NULL, FALSE);
  g_autofree char *url = g_strdup_printf ("%s/_test/revoke_all?sub=%s", oidc->issuer, escaped);
  guint status = 0;
  g_autoptr(JsonNode) node = om_test_http_request ("POST", url, NULL, NULL, NULL, &status, NULL);

  if (status != 200)
    g_error ("POST %s failed with HTTP %u", url, status);
}
