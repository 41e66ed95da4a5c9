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
