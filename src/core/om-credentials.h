/* om-credentials.h — an account's sign-in kept between runs
 *
 * The tokens of each account live in the Secret Service (libsecret, schema
 * "net.openmeet.Chat", attributes "user_id" and "homeserver", the secret a
 * JSON blob).  Where no Secret Service is reachable (SSH without D-Bus) they
 * go to <data_dir>/<escaped user ID>/credentials.json, mode 0600, with one
 * warning.  A small index, $XDG_CONFIG_HOME/openmeet-chat/accounts, names
 * the accounts and the last one used; it holds no secret.
 *
 * Every keyring call is asynchronous and gives up after 10 s (a DISPLAY
 * without a session bus makes gnome-keyring prompt forever): a keyring that
 * does not answer counts as unreachable.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What an account needs to come back without a password.  Plain record:
 * read the fields.  The tokens are secrets: om_credentials_free() wipes them. */
typedef struct {
  char   *homeserver;     /* base URL */
  char   *user_id;
  char   *device_id;
  char   *access_token;   /* secret */
  char   *refresh_token;  /* secret, nullable */
  gint64  expires_at_ms;  /* when access_token expires (ms since the epoch), -1: never */
  /* Signed in through the OAuth 2.0 API (all NULL otherwise): what a
   * refresh, a revocation and the account link need. */
  char   *oauth_issuer;
  char   *oauth_client_id;
  char   *oauth_token_endpoint;
  char   *oauth_revocation_endpoint;  /* nullable */
  char   *account_management_uri;     /* nullable */
  /* secret, nullable: the key that encrypts the account's local secrets
   * (the crypto store's pickle key), base64 of 32 random bytes */
  char   *store_key;
} OmCredentials;

#define OM_TYPE_CREDENTIALS (om_credentials_get_type ())

GType           om_credentials_get_type   (void) G_GNUC_CONST;
OmCredentials  *om_credentials_new        (const char           *homeserver,
                                           const char           *user_id,
                                           const char           *device_id,
                                           const char           *access_token);
OmCredentials  *om_credentials_copy       (const OmCredentials  *credentials);
void            om_credentials_free       (OmCredentials        *credentials);

typedef enum {
  OM_CREDENTIALS_MODE_KEEP,      /* the keyring, else a file only the user can read */
  OM_CREDENTIALS_MODE_NO_STORE,  /* keep nothing: sign in every time */
} OmCredentialsMode;

#define OM_TYPE_CREDENTIAL_STORE (om_credential_store_get_type ())
G_DECLARE_FINAL_TYPE (OmCredentialStore, om_credential_store, OM, CREDENTIAL_STORE, GObject)

/* @data_dir: where the per-account directories are (for the fallback
 * file); NULL for $XDG_DATA_HOME/openmeet-chat. */
OmCredentialStore *om_credential_store_new        (const char          *data_dir,
                                                   OmCredentialsMode    mode);
OmCredentialsMode  om_credential_store_get_mode   (OmCredentialStore   *self);
/* Where the fallback file of @user_id is (owned), whether it exists or not. */
char              *om_credential_store_dup_fallback_path (OmCredentialStore *self,
                                                   const char          *user_id);

/* Which saved account (owned user ID) fits @homeserver and @user (each
 * nullable; @user a localpart or a full user ID): the last one used first.
 * Reads the index only, never a secret, in any mode; NULL when none fits. */
char              *om_credential_store_find_account (OmCredentialStore *self,
                                                   const char          *homeserver,
                                                   const char          *user);

/* Saves @credentials (replacing the account's earlier ones) and makes the
 * account the last one used.  Does nothing in OM_CREDENTIALS_MODE_NO_STORE. */
void               om_credential_store_save_async (OmCredentialStore   *self,
                                                   const OmCredentials *credentials,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
gboolean           om_credential_store_save_finish (OmCredentialStore  *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);

/* Looks up the credentials of @user_id (NULL: the last account used).
 * Finishes with NULL and no error when none are saved. */
void               om_credential_store_lookup_async (OmCredentialStore *self,
                                                   const char          *user_id,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
OmCredentials     *om_credential_store_lookup_finish (OmCredentialStore *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);

/* Forgets @user_id's credentials wherever they are (keyring and file) and
 * drops the account from the index, in any mode. */
void               om_credential_store_clear_async (OmCredentialStore  *self,
                                                   const char          *user_id,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
gboolean           om_credential_store_clear_finish (OmCredentialStore *self,
                                                   GAsyncResult        *result,
                                                   GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OmCredentials, om_credentials_free)

G_END_DECLS
