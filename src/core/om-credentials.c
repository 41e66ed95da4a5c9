/* om-credentials.c — an account's sign-in kept between runs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-credentials"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>

#include "om-credentials.h"

/* How long a keyring call may take before the keyring counts as unreachable. */
#define KEYRING_TIMEOUT_S 10

#define INDEX_GROUP     "accounts"
#define ACCOUNT_PREFIX  "account "

static const SecretSchema credentials_schema = {
  "net.openmeet.Chat",
  SECRET_SCHEMA_NONE,
  {
    { "user_id", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { "homeserver", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { NULL, 0 },
  },
  0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

static void
wipe_string (char *secret)
{
  if (secret != NULL)
    memset (secret, 0, strlen (secret));
}

static void
free_secret (char *secret)
{
  wipe_string (secret);
  g_free (secret);
}

/* OmCredentials */

G_DEFINE_BOXED_TYPE (OmCredentials, om_credentials, om_credentials_copy, om_credentials_free)

OmCredentials *
om_credentials_new (const char *homeserver,
                    const char *user_id,
                    const char *device_id,
                    const char *access_token)
{
  OmCredentials *credentials = g_new0 (OmCredentials, 1);

  credentials->homeserver = g_strdup (homeserver);
  credentials->user_id = g_strdup (user_id);
  credentials->device_id = g_strdup (device_id);
  credentials->access_token = g_strdup (access_token);
  credentials->expires_at_ms = -1;
  return credentials;
}

OmCredentials *
om_credentials_copy (const OmCredentials *credentials)
{
  OmCredentials *copy;

  g_return_val_if_fail (credentials != NULL, NULL);

  copy = om_credentials_new (credentials->homeserver, credentials->user_id,
                             credentials->device_id, credentials->access_token);
  copy->refresh_token = g_strdup (credentials->refresh_token);
  copy->expires_at_ms = credentials->expires_at_ms;
  copy->oauth_issuer = g_strdup (credentials->oauth_issuer);
  copy->oauth_client_id = g_strdup (credentials->oauth_client_id);
  copy->oauth_token_endpoint = g_strdup (credentials->oauth_token_endpoint);
  copy->oauth_revocation_endpoint = g_strdup (credentials->oauth_revocation_endpoint);
  copy->account_management_uri = g_strdup (credentials->account_management_uri);
  copy->store_key = g_strdup (credentials->store_key);
  return copy;
}

void
om_credentials_free (OmCredentials *credentials)
{
  if (credentials == NULL)
    return;

  g_free (credentials->homeserver);
  g_free (credentials->user_id);
  g_free (credentials->device_id);
  free_secret (credentials->access_token);
  free_secret (credentials->refresh_token);
  g_free (credentials->oauth_issuer);
  g_free (credentials->oauth_client_id);
  g_free (credentials->oauth_token_endpoint);
  g_free (credentials->oauth_revocation_endpoint);
  g_free (credentials->account_management_uri);
  free_secret (credentials->store_key);
  g_free (credentials);
}

static void
add_optional (JsonBuilder *builder,
              const char  *name,
              const char  *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

/* The secret: a JSON object (owned, wipe it with free_secret). */
static char *
credentials_to_json (const OmCredentials *credentials)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "homeserver");
  json_builder_add_string_value (builder, credentials->homeserver);
  json_builder_set_member_name (builder, "user_id");
  json_builder_add_string_value (builder, credentials->user_id);
  json_builder_set_member_name (builder, "device_id");
  json_builder_add_string_value (builder, credentials->device_id);
  json_builder_set_member_name (builder, "access_token");
  json_builder_add_string_value (builder, credentials->access_token);
  json_builder_set_member_name (builder, "refresh_token");
  if (credentials->refresh_token != NULL)
    json_builder_add_string_value (builder, credentials->refresh_token);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "expires_at");
  if (credentials->expires_at_ms >= 0)
    json_builder_add_int_value (builder, credentials->expires_at_ms);
  else
    json_builder_add_null_value (builder);
  add_optional (builder, "oauth_issuer", credentials->oauth_issuer);
  add_optional (builder, "oauth_client_id", credentials->oauth_client_id);
  add_optional (builder, "oauth_token_endpoint", credentials->oauth_token_endpoint);
  add_optional (builder, "oauth_revocation_endpoint", credentials->oauth_revocation_endpoint);
  add_optional (builder, "account_management_uri", credentials->account_management_uri);
  add_optional (builder, "store_key", credentials->store_key);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

static const char *
member_string (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* Never quotes @json in an error: it holds tokens.  json-glib's own copies
 * of the strings cannot be wiped; they live only as long as the parser. */
static OmCredentials *
credentials_from_json (const char  *json,
                       const char  *where,
                       GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  OmCredentials *credentials;
  JsonObject *object;
  JsonNode *expires;
  const char *homeserver, *user_id, *device_id, *access_token;

  if (!json_parser_load_from_data (parser, json, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    goto damaged;

  object = json_node_get_object (json_parser_get_root (parser));
  homeserver = member_string (object, "homeserver");
  user_id = member_string (object, "user_id");
  device_id = member_string (object, "device_id");
  access_token = member_string (object, "access_token");
  if (homeserver == NULL || user_id == NULL || device_id == NULL || access_token == NULL)
    goto damaged;

  credentials = om_credentials_new (homeserver, user_id, device_id, access_token);
  credentials->refresh_token = g_strdup (member_string (object, "refresh_token"));
  expires = json_object_get_member (object, "expires_at");
  if (expires != NULL && JSON_NODE_HOLDS_VALUE (expires) && json_node_get_value_type (expires) == G_TYPE_INT64)
    credentials->expires_at_ms = json_node_get_int (expires);
  credentials->oauth_issuer = g_strdup (member_string (object, "oauth_issuer"));
  credentials->oauth_client_id = g_strdup (member_string (object, "oauth_client_id"));
  credentials->oauth_token_endpoint = g_strdup (member_string (object, "oauth_token_endpoint"));
  credentials->oauth_revocation_endpoint = g_strdup (member_string (object, "oauth_revocation_endpoint"));
  credentials->account_management_uri = g_strdup (member_string (object, "account_management_uri"));
  credentials->store_key = g_strdup (member_string (object, "store_key"));
  return credentials;

damaged:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "The saved sign-in in %s is damaged; sign in again", where);
  return NULL;
}

/* The index: which accounts are saved, and the last one used.  No secret. */

static char *
index_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "openmeet-chat", "accounts", NULL);
}

static GKeyFile *
load_index (void)
{
  g_autofree char *path = index_path ();
  g_autoptr(GError) error = NULL;
  GKeyFile *index = g_key_file_new ();

  if (!g_key_file_load_from_file (index, path, G_KEY_FILE_KEEP_COMMENTS, &error) &&
      !g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    g_warning ("Ignoring the account list %s: %s", path, error->message);
  return index;
}

static void
save_index (GKeyFile *index)
{
  g_autofree char *path = index_path ();
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *data = NULL;
  g_autoptr(GError) error = NULL;
  gsize length;

  data = g_key_file_to_data (index, &length, NULL);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    g_warning ("Could not create %s: %s", dir, g_strerror (errno));
  else if (!g_file_set_contents_full (path, data, (gssize) length,
                                      G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_warning ("Could not update the account list: %s", error->message);
}

static char *
account_group (const char *user_id)
{
  return g_strconcat (ACCOUNT_PREFIX, user_id, NULL);
}

static void
index_add (const OmCredentials *credentials)
{
  g_autoptr(GKeyFile) index = load_index ();
  g_autofree char *group = account_group (credentials->user_id);

  g_key_file_set_string (index, INDEX_GROUP, "last", credentials->user_id);
  g_key_file_set_string (index, group, "homeserver", credentials->homeserver);
  save_index (index);
}

static void
index_remove (const char *user_id)
{
  g_autoptr(GKeyFile) index = load_index ();
  g_autofree char *group = account_group (user_id);
  g_autofree char *last = g_key_file_get_string (index, INDEX_GROUP, "last", NULL);
  gboolean changed = FALSE;

  if (g_key_file_remove_group (index, group, NULL))
    changed = TRUE;
  if (g_strcmp0 (last, user_id) == 0)
    {
      g_key_file_remove_key (index, INDEX_GROUP, "last", NULL);
      changed = TRUE;
    }
  if (changed)
    save_index (index);
}

/* "http://host:8008/" and "http://host:8008" are one server. */
static gboolean
same_homeserver (const char *a,
                 const char *b)
{
  gsize la = strlen (a), lb = strlen (b);

  while (la > 0 && a[la - 1] == '/')
    la--;
  while (lb > 0 && b[lb - 1] == '/')
    lb--;
  return la == lb && g_ascii_strncasecmp (a, b, la) == 0;
}

static gboolean
account_fits (GKeyFile   *index,
              const char *user_id,
              const char *homeserver,
              const char *user)
{
  g_autofree char *group = account_group (user_id);
  g_autofree char *saved_homeserver = g_key_file_get_string (index, group, "homeserver", NULL);

  if (saved_homeserver == NULL)
    return FALSE;
  if (homeserver != NULL && !same_homeserver (homeserver, saved_homeserver))
    return FALSE;
  if (user == NULL)
    return TRUE;
  if (user[0] == '@')
    return g_str_equal (user, user_id);

  /* A localpart: "@<user>:<server>". */
  {
    gsize len = strlen (user);

    return user_id[0] == '@' && strncmp (user_id + 1, user, len) == 0 && user_id[len + 1] == ':';
  }
}

/* The store */

struct _OmCredentialStore
{
  GObject            parent_instance;

  char              *data_dir;  /* owned */
  OmCredentialsMode  mode;
};

G_DEFINE_FINAL_TYPE (OmCredentialStore, om_credential_store, G_TYPE_OBJECT)

static void
om_credential_store_finalize (GObject *object)
{
  OmCredentialStore *self = OM_CREDENTIAL_STORE (object);

  g_free (self->data_dir);

  G_OBJECT_CLASS (om_credential_store_parent_class)->finalize (object);
}

static void
om_credential_store_class_init (OmCredentialStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = om_credential_store_finalize;
}

static void
om_credential_store_init (OmCredentialStore *self)
{
}

OmCredentialStore *
om_credential_store_new (const char        *data_dir,
                         OmCredentialsMode  mode)
{
  OmCredentialStore *self = g_object_new (OM_TYPE_CREDENTIAL_STORE, NULL);

  self->data_dir = data_dir ? g_strdup (data_dir)
                            : g_build_filename (g_get_user_data_dir (), "openmeet-chat", NULL);
  self->mode = mode;
  return self;
}

OmCredentialsMode
om_credential_store_get_mode (OmCredentialStore *self)
{
  g_return_val_if_fail (OM_IS_CREDENTIAL_STORE (self), OM_CREDENTIALS_MODE_NO_STORE);
  return self->mode;
}

char *
om_credential_store_dup_fallback_path (OmCredentialStore *self,
                                       const char        *user_id)
{
  g_autofree char *escaped = NULL;

  g_return_val_if_fail (OM_IS_CREDENTIAL_STORE (self), NULL);
  g_return_val_if_fail (user_id != NULL, NULL);

  /* Escaped as the session escapes its store directory: the same place. */
  escaped = g_uri_escape_string (user_id, NULL, FALSE);
  return g_build_filename (self->data_dir, escaped, "credentials.json", NULL);
}

char *
om_credential_store_find_account (OmCredentialStore *self,
                                  const char        *homeserver,
                                  const char        *user)
{
  g_autoptr(GKeyFile) index = NULL;
  g_autofree char *last = NULL;
  g_auto(GStrv) groups = NULL;

  g_return_val_if_fail (OM_IS_CREDENTIAL_STORE (self), NULL);

  index = load_index ();
  last = g_key_file_get_string (index, INDEX_GROUP, "last", NULL);
  if (last != NULL && account_fits (index, last, homeserver, user))
    return g_steal_pointer (&last);

  groups = g_key_file_get_groups (index, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      const char *user_id = groups[i] + strlen (ACCOUNT_PREFIX);

      if (g_str_has_prefix (groups[i], ACCOUNT_PREFIX) && account_fits (index, user_id, homeserver, user))
        return g_strdup (user_id);
    }
  return NULL;
}

/* The fallback file */

static gboolean
write_fallback (OmCredentialStore    *self,
                const OmCredentials  *credentials,
                GError              **error)
{
  static gboolean warned;
  g_autofree char *path = om_credential_store_dup_fallback_path (self, credentials->user_id);
  g_autofree char *dir = g_path_get_dirname (path);
  char *json;
  gboolean ok;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not create %s: %s", dir, g_strerror (saved_errno));
      return FALSE;
    }

  /* A temporary file created 0600, then renamed over the old one. */
  json = credentials_to_json (credentials);
  ok = g_file_set_contents_full (path, json, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, error);
  free_secret (json);
  if (!ok)
    return FALSE;

  if (!warned)
    {
      warned = TRUE;
      g_warning ("no keyring reachable; keeping the sign-in in %s, readable only by you", path);
    }
  return TRUE;
}

/* Finishes with NULL and no error when there is no file. */
static OmCredentials *
read_fallback (OmCredentialStore  *self,
               const char         *user_id,
               GError            **error)
{
  g_autofree char *path = om_credential_store_dup_fallback_path (self, user_id);
  g_autoptr(GError) local_error = NULL;
  char *json = NULL;
  gsize length;
  OmCredentials *credentials;

  if (!g_file_get_contents (path, &json, &length, &local_error))
    {
      if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  credentials = credentials_from_json (json, path, error);
  free_secret (json);
  if (credentials != NULL && g_strcmp0 (credentials->user_id, user_id) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The saved sign-in in %s is for another account; sign in again", path);
      g_clear_pointer (&credentials, om_credentials_free);
    }
  return credentials;
}

static gboolean
remove_fallback (OmCredentialStore  *self,
                 const char         *user_id,
                 GError            **error)
{
  g_autofree char *path = om_credential_store_dup_fallback_path (self, user_id);

  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not remove %s: %s", path, g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

/* Keyring operations: one GTask each, with a timeout */

typedef enum {
  OP_SAVE,
  OP_LOOKUP,
  OP_CLEAR,
} OpKind;

typedef struct {
  OpKind          kind;
  char           *user_id;             /* owned */
  OmCredentials  *credentials;         /* owned, OP_SAVE only */
  GCancellable   *keyring_cancellable; /* owned: cancelled on timeout or by the caller's */
  GCancellable   *caller_cancellable;  /* owned ref, nullable */
  gulong          caller_handler;
  guint           timeout_id;
  gboolean        keyring_done;        /* the keyring answered or was given up on */
  gboolean        timed_out;
} Op;

static void
op_free (Op *op)
{
  if (op->caller_cancellable != NULL)
    g_cancellable_disconnect (op->caller_cancellable, op->caller_handler);
  g_clear_object (&op->caller_cancellable);
  g_clear_handle_id (&op->timeout_id, g_source_remove);
  g_clear_object (&op->keyring_cancellable);
  g_free (op->user_id);
  g_clear_pointer (&op->credentials, om_credentials_free);
  g_free (op);
}

static void
caller_cancelled_cb (GCancellable *cancellable,
                     gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static void keyring_failed (GTask *task, GError *error);

static gboolean
timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  Op *op = g_task_get_task_data (task);

  op->timeout_id = 0;
  op->timed_out = TRUE;
  g_cancellable_cancel (op->keyring_cancellable);
  /* Do not wait for libsecret to notice: carry on now, and ignore its
   * answer whenever it comes. */
  keyring_failed (task, g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                     "The keyring did not answer within %d s", KEYRING_TIMEOUT_S));
  return G_SOURCE_REMOVE;
}

static GTask *
op_new (OmCredentialStore   *self,
        OpKind               kind,
        const char          *user_id,
        gpointer             source_tag,
        GCancellable        *cancellable,
        GAsyncReadyCallback  callback,
        gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Op *op = g_new0 (Op, 1);

  g_task_set_source_tag (task, source_tag);
  op->kind = kind;
  op->user_id = g_strdup (user_id);
  op->keyring_cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      op->caller_cancellable = g_object_ref (cancellable);
      op->caller_handler = g_cancellable_connect (cancellable, G_CALLBACK (caller_cancelled_cb),
                                                  op->keyring_cancellable, NULL);
    }
  g_task_set_task_data (task, op, (GDestroyNotify) op_free);
  return task;
}

static void
start_timeout (GTask *task)
{
  Op *op = g_task_get_task_data (task);

  op->timeout_id = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, KEYRING_TIMEOUT_S, timeout_cb,
                                               g_object_ref (task), g_object_unref);
}

/* True when the call failed because there is no Secret Service to talk to
 * (no session bus, nothing owning org.freedesktop.secrets, no collection),
 * as opposed to the caller cancelling or the keyring refusing. */
static gboolean
keyring_unreachable (Op     *op,
                     GError *error)
{
  if (op->timed_out)
    return TRUE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return FALSE;
  return error->domain == G_IO_ERROR || error->domain == G_DBUS_ERROR;
}

/* The keyring part is over, with @credentials (OP_LOOKUP, nullable). */
static void
finish_op (GTask         *task,
           OmCredentials *credentials,
           gboolean       unreachable)
{
  OmCredentialStore *self = g_task_get_source_object (task);
  Op *op = g_task_get_task_data (task);
  GError *error = NULL;

  switch (op->kind)
    {
    case OP_SAVE:
      if (unreachable)
        {
          if (!write_fallback (self, op->credentials, &error))
            {
              g_task_return_error (task, error);
              return;
            }
        }
      else if (!remove_fallback (self, op->user_id, &error))
        {
          /* The keyring has it now; a stale copy in a file is worth a word. */
          g_warning ("%s", error->message);
          g_clear_error (&error);
        }
      index_add (op->credentials);
      g_task_return_boolean (task, TRUE);
      return;

    case OP_LOOKUP:
      if (credentials == NULL)
        credentials = read_fallback (self, op->user_id, &error);
      if (error != NULL)
        g_task_return_error (task, error);
      else
        g_task_return_pointer (task, credentials, (GDestroyNotify) om_credentials_free);
      return;

    case OP_CLEAR:
      remove_fallback (self, op->user_id, &error);
      index_remove (op->user_id);
      if (error != NULL)
        g_task_return_error (task, error);
      else
        g_task_return_boolean (task, TRUE);
      return;

    default:
      g_assert_not_reached ();
    }
}

/* Takes @error. */
static void
keyring_failed (GTask  *task,
                GError *error)
{
  Op *op = g_task_get_task_data (task);
  g_autoptr(GError) owned = error;

  op->keyring_done = TRUE;
  g_clear_handle_id (&op->timeout_id, g_source_remove);

  if (keyring_unreachable (op, error))
    {
      g_debug ("No keyring: %s", error->message);
      finish_op (task, NULL, TRUE);
      return;
    }

  switch (op->kind)
    {
    case OP_LOOKUP:
      {
        /* Perhaps the account was saved where there was no keyring. */
        OmCredentials *credentials = read_fallback (g_task_get_source_object (task), op->user_id, NULL);

        if (credentials != NULL)
          g_task_return_pointer (task, credentials, (GDestroyNotify) om_credentials_free);
        else
          g_task_return_error (task, g_steal_pointer (&owned));
      }
      return;
    case OP_CLEAR:
      /* Forget what can be forgotten, then say what could not. */
      {
        OmCredentialStore *self = g_task_get_source_object (task);

        remove_fallback (self, op->user_id, NULL);
        index_remove (op->user_id);
      }
      g_task_return_error (task, g_steal_pointer (&owned));
      return;
    case OP_SAVE:
    default:
      g_task_return_error (task, g_steal_pointer (&owned));
      return;
    }
}

static void
store_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Op *op = g_task_get_task_data (task);
  GError *error = NULL;

  if (!secret_password_store_finish (result, &error))
    {
      if (!op->keyring_done)
        keyring_failed (task, error);
      else
        g_error_free (error);
      return;
    }
  if (op->keyring_done)
    return;
  op->keyring_done = TRUE;
  g_clear_handle_id (&op->timeout_id, g_source_remove);
  finish_op (task, NULL, FALSE);
}

static void
clear_before_store_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Op *op = g_task_get_task_data (task);
  g_autofree char *label = NULL;
  GError *error = NULL;
  char *json;

  secret_password_clear_finish (result, &error);
  if (op->keyring_done)
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      keyring_failed (task, error);
      return;
    }

  label = g_strdup_printf ("OpenMeet Chat sign-in of %s", op->user_id);
  json = credentials_to_json (op->credentials);
  secret_password_store (&credentials_schema, SECRET_COLLECTION_DEFAULT, label, json,
                         op->keyring_cancellable, store_cb, g_steal_pointer (&task),
                         "user_id", op->credentials->user_id,
                         "homeserver", op->credentials->homeserver,
                         NULL);
  free_secret (json);
}

static void
lookup_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Op *op = g_task_get_task_data (task);
  GError *error = NULL;
  OmCredentials *credentials = NULL;
  char *json;

  json = secret_password_lookup_finish (result, &error);
  if (op->keyring_done)
    {
      secret_password_free (json);
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      keyring_failed (task, error);
      return;
    }
  op->keyring_done = TRUE;
  g_clear_handle_id (&op->timeout_id, g_source_remove);

  if (json != NULL)
    {
      credentials = credentials_from_json (json, "the keyring", &error);
      secret_password_free (json);
      if (credentials == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
    }
  finish_op (task, credentials, FALSE);
}

static void
clear_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Op *op = g_task_get_task_data (task);
  GError *error = NULL;

  secret_password_clear_finish (result, &error);
  if (op->keyring_done)
    {
      g_clear_error (&error);
      return;
    }
  if (error != NULL)
    {
      keyring_failed (task, error);
      return;
    }
  op->keyring_done = TRUE;
  g_clear_handle_id (&op->timeout_id, g_source_remove);
  finish_op (task, NULL, FALSE);
}

void
om_credential_store_save_async (OmCredentialStore   *self,
                                const OmCredentials *credentials,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  GTask *task;
  Op *op;

  g_return_if_fail (OM_IS_CREDENTIAL_STORE (self));
  g_return_if_fail (credentials != NULL);
  g_return_if_fail (credentials->homeserver != NULL && credentials->user_id != NULL);
  g_return_if_fail (credentials->device_id != NULL && credentials->access_token != NULL);

  task = op_new (self, OP_SAVE, credentials->user_id, om_credential_store_save_async,
                 cancellable, callback, user_data);
  if (self->mode == OM_CREDENTIALS_MODE_NO_STORE)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }

  op = g_task_get_task_data (task);
  op->credentials = om_credentials_copy (credentials);
  start_timeout (task);
  /* Clear first: an item with another homeserver attribute would survive a
   * store and could be found instead of the new one. */
  secret_password_clear (&credentials_schema, op->keyring_cancellable, clear_before_store_cb, task,
                         "user_id", op->user_id,
                         NULL);
}

gboolean
om_credential_store_save_finish (OmCredentialStore  *self,
                                 GAsyncResult       *result,
                                 GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
om_credential_store_lookup_async (OmCredentialStore   *self,
                                  const char          *user_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autofree char *last = NULL;
  GTask *task;
  Op *op;

  g_return_if_fail (OM_IS_CREDENTIAL_STORE (self));

  if (user_id == NULL && self->mode != OM_CREDENTIALS_MODE_NO_STORE)
    {
      g_autoptr(GKeyFile) index = load_index ();

      last = g_key_file_get_string (index, INDEX_GROUP, "last", NULL);
      user_id = last;
    }

  task = op_new (self, OP_LOOKUP, user_id, om_credential_store_lookup_async,
                 cancellable, callback, user_data);
  if (self->mode == OM_CREDENTIALS_MODE_NO_STORE || user_id == NULL)
    {
      g_task_return_pointer (task, NULL, NULL);
      g_object_unref (task);
      return;
    }

  op = g_task_get_task_data (task);
  start_timeout (task);
  secret_password_lookup (&credentials_schema, op->keyring_cancellable, lookup_cb, task,
                          "user_id", op->user_id,
                          NULL);
}

OmCredentials *
om_credential_store_lookup_finish (OmCredentialStore  *self,
                                   GAsyncResult       *result,
                                   GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
om_credential_store_clear_async (OmCredentialStore   *self,
                                 const char          *user_id,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task;
  Op *op;

  g_return_if_fail (OM_IS_CREDENTIAL_STORE (self));
  g_return_if_fail (user_id != NULL);

  task = op_new (self, OP_CLEAR, user_id, om_credential_store_clear_async,
                 cancellable, callback, user_data);
  op = g_task_get_task_data (task);
  start_timeout (task);
  secret_password_clear (&credentials_schema, op->keyring_cancellable, clear_cb, task,
                         "user_id", op->user_id,
                         NULL);
}

gboolean
om_credential_store_clear_finish (OmCredentialStore  *self,
                                  GAsyncResult       *result,
                                  GError            **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
