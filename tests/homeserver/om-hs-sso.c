/* om-hs-sso.c — SSO through an OpenID provider, like Synapse's oidc_providers
 *
 * One provider, idp id "oidc-openmeet" (Synapse prefixes the configured
 * idp_id with "oidc-"), configured with --oidc-issuer/--oidc-client-id/
 * --oidc-client-secret.  The chain follows Synapse 1.94 (see
 * tests/data/transcripts/sso.json):
 *
 *   GET /_matrix/client/v3/login/sso/redirect[/oidc-openmeet]?redirectUrl=…
 *     → 302 to the provider's authorization endpoint (code flow, PKCE S256,
 *       state, nonce) with the oidc_session cookies bound to that state
 *   GET /_synapse/client/oidc/callback?code&state
 *     → token exchange (client_secret_basic), userinfo, localpart from the
 *       matrix_handle claim (the user is created if new, display name from
 *       the name claim), then a "Continue to your application?" page, or,
 *       when redirectUrl starts with a --sso-client-whitelist prefix,
 *       302 to <redirectUrl>?loginToken=…
 *   POST /_matrix/client/v3/login {"type":"m.login.token"} (om-hs-client.c)
 *     exchanges the login token: single use, valid 2 minutes.
 *
 * Provider requests are asynchronous (libsoup client); the browser's request
 * is paused meanwhile.  Sessions and login tokens are in memory.  The ID
 * token's nonce, issuer and audience are checked, its signature is not (it
 * comes straight from the token endpoint).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-sso"

#include "om-hs.h"

#include <string.h>

#define IDP_ID                     "oidc-openmeet"
#define CALLBACK_PATH              "/_synapse/client/oidc/callback"
#define SESSION_COOKIE             "oidc_session"
#define SESSION_COOKIE_NO_SAMESITE "oidc_session_no_samesite"
#define SESSION_LIFETIME_MS        (3600 * 1000)
#define LOGIN_TOKEN_LIFETIME_MS    (120 * 1000)

typedef struct
{
  char   *state;
  char   *nonce;
  char   *verifier;
  char   *redirect_url;
  gint64  expires_ms;
} SsoSession;

typedef struct
{
  char   *user_id;
  gint64  expires_ms;
} LoginToken;

struct _OmHsSso
{
  char         *issuer;        /* NULL when SSO is not configured */
  char         *client_id;
  char         *client_secret;
  char        **whitelist;     /* redirectUrl prefixes that skip the confirmation */
  SoupSession  *session;
  GCancellable *cancellable;
  JsonObject   *metadata;      /* the provider's discovery document, once fetched */
  GHashTable   *sessions;      /* cookie value -> SsoSession* */
  GHashTable   *login_tokens;  /* token -> LoginToken* */
  GList        *ops;           /* SsoOp*, in flight */
};

/* One browser request waiting on the provider. */
typedef struct
{
  OmHs              *hs;
  SoupServerMessage *msg;          /* owned ref, paused */
  SoupMessage       *client_msg;   /* owned ref, the request to the provider */
  char              *redirect_url;
  SsoSession        *session;      /* owned, taken out of the table */
  gulong             disconnected_id;
  gboolean           gone;         /* the browser went away */
} SsoOp;

static void
sso_session_free (SsoSession *s)
{
  g_free (s->state);
  g_free (s->nonce);
  g_free (s->verifier);
  g_free (s->redirect_url);
  g_free (s);
}

static void
login_token_free (LoginToken *t)
{
  g_free (t->user_id);
  g_free (t);
}

OmHsSso *
om_hs_sso_new (const char         *issuer,
               const char         *client_id,
               const char         *client_secret,
               const char * const *client_whitelist)
{
  OmHsSso *sso = g_new0 (OmHsSso, 1);

  if (issuer && issuer[0])
    {
      sso->issuer = g_strdup (issuer);
      /* The issuer identifier has no trailing slash in discovery. */
      while (g_str_has_suffix (sso->issuer, "/"))
        sso->issuer[strlen (sso->issuer) - 1] = '\0';
    }
  sso->client_id = g_strdup (client_id);
  sso->client_secret = g_strdup (client_secret);
  sso->whitelist = g_strdupv ((char **) client_whitelist);
  /* No proxy: the provider runs next to us. */
  sso->session = soup_session_new_with_options ("proxy-resolver", NULL, "timeout", 30, NULL);
  sso->cancellable = g_cancellable_new ();
  sso->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) sso_session_free);
  sso->login_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                             (GDestroyNotify) login_token_free);
  return sso;
}

void
om_hs_sso_free (OmHsSso *sso)
{
  if (sso == NULL)
    return;
  /* Let the cancelled provider requests finish (and free their ops). */
  g_cancellable_cancel (sso->cancellable);
  for (guint i = 0; sso->ops != NULL && i < 1000; i++)
    g_main_context_iteration (NULL, FALSE);
  soup_session_abort (sso->session);
  g_object_unref (sso->session);
  g_object_unref (sso->cancellable);
  g_clear_pointer (&sso->metadata, json_object_unref);
  g_hash_table_unref (sso->sessions);
  g_hash_table_unref (sso->login_tokens);
  g_strfreev (sso->whitelist);
  g_free (sso->issuer);
  g_free (sso->client_id);
  g_free (sso->client_secret);
  g_free (sso);
}

gboolean
om_hs_sso_enabled (OmHs *hs)
{
  return hs->sso != NULL && hs->sso->issuer != NULL;
}

/* Login tokens */

static gboolean
login_token_expired (gpointer key,
                     gpointer value,
                     gpointer user_data)
{
  return ((LoginToken *) value)->expires_ms <= *(gint64 *) user_data;
}

char *
om_hs_login_token_create (OmHs       *hs,
                          const char *user_id)
{
  LoginToken *t = g_new0 (LoginToken, 1);
  g_autofree char *a = om_hs_random_string (20, FALSE);
  g_autofree char *b = om_hs_random_string (6, FALSE);
  char *token = g_strdup_printf ("syl_%s_%s", a, b);
  gint64 now = om_hs_now_ms ();

  g_hash_table_foreach_remove (hs->sso->login_tokens, login_token_expired, &now);
  t->user_id = g_strdup (user_id);
  t->expires_ms = now + LOGIN_TOKEN_LIFETIME_MS;
  g_hash_table_insert (hs->sso->login_tokens, g_strdup (token), t);
  return token;
}

char *
om_hs_login_token_consume (OmHs       *hs,
                           const char *token)
{
  LoginToken *t;
  char *user_id = NULL;

  if (token == NULL)
    return NULL;
  t = g_hash_table_lookup (hs->sso->login_tokens, token);
  if (t == NULL)
    return NULL;
  if (t->expires_ms > om_hs_now_ms ())
    user_id = g_strdup (t->user_id);
  g_hash_table_remove (hs->sso->login_tokens, token);
  return user_id;
}

/* Helpers */

static char *
base64url (const guint8 *data,
           gsize         len)
{
  char *s = g_base64_encode (data, len);

  for (char *p = s; *p; p++)
    {
      if (*p == '+')
        *p = '-';
      else if (*p == '/')
        *p = '_';
      else if (*p == '=')
        {
          *p = '\0';
          break;
        }
    }
  return s;
}

static char *
pkce_challenge (const char *verifier)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof digest;

  g_checksum_update (sum, (const guchar *) verifier, strlen (verifier));
  g_checksum_get_digest (sum, digest, &len);
  return base64url (digest, len);
}

/* The payload of a JWT as a JSON object, NULL if malformed. */
static JsonObject *
jwt_payload (const char *jwt)
{
  g_auto(GStrv) parts = jwt ? g_strsplit (jwt, ".", 4) : NULL;
  g_autoptr(GString) b64 = NULL;
  g_autofree guchar *raw = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;

  if (parts == NULL || g_strv_length (parts) != 3)
    return NULL;
  b64 = g_string_new (parts[1]);
  for (gsize i = 0; i < b64->len; i++)
    {
      if (b64->str[i] == '-')
        b64->str[i] = '+';
      else if (b64->str[i] == '_')
        b64->str[i] = '/';
    }
  while (b64->len % 4 != 0)
    g_string_append_c (b64, '=');
  raw = g_base64_decode (b64->str, &len);
  text = g_strndup ((const char *) raw, len);
  return om_hs_parse_object (text);
}

static char *
request_cookie (SoupServerMessage *msg,
                const char        *name)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *value = soup_message_headers_get_list (headers, "Cookie");
  g_auto(GStrv) parts = NULL;
  gsize name_len = strlen (name);

  if (value == NULL)
    return NULL;
  parts = g_strsplit_set (value, ";,", -1);
  for (guint i = 0; parts[i]; i++)
    {
      const char *p = g_strstrip (parts[i]);

      if (strncmp (p, name, name_len) == 0 && p[name_len] == '=')
        return g_strdup (p + name_len + 1);
    }
  return NULL;
}

static char *
add_query_param (const char *url,
                 const char *key,
                 const char *value)
{
  g_autofree char *enc = g_uri_escape_string (value, NULL, FALSE);
  const char *hash = strchr (url, '#');
  g_autofree char *base = hash ? g_strndup (url, hash - url) : g_strdup (url);

  return g_strdup_printf ("%s%c%s=%s%s", base, strchr (base, '?') ? '&' : '?', key, enc,
                          hash ? hash : "");
}

static void
reply_html (SoupServerMessage *msg,
            guint              status,
            const char        *html)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_COPY,
                                    html, strlen (html));
}

static void
clear_session_cookies (SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);

  soup_message_headers_append (h, "Set-Cookie", SESSION_COOKIE "=; Expires=Thu, Jan 01 1970 "
                               "00:00:00 UTC; HttpOnly; Secure; SameSite=None");
  soup_message_headers_append (h, "Set-Cookie", SESSION_COOKIE_NO_SAMESITE "=; Expires=Thu, "
                               "Jan 01 1970 00:00:00 UTC; HttpOnly");
}

/* Synapse's sso_error.html: the error code and description, HTTP 400. */
static void
render_error (SoupServerMessage *msg,
              guint              status,
              const char        *error,
              const char        *description)
{
  g_autofree char *e = g_markup_escape_text (error, -1);
  g_autofree char *d = g_markup_escape_text (description ? description : "", -1);
  g_autofree char *html = g_strdup_printf (
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
    "<title>Authentication failed</title></head>\n<body>\n<header>\n"
    "<h1>There was an error during authentication</h1>\n"
    "<p>%s</p>\n<p>If you are seeing this page after clicking a link sent to you via email, "
    "make sure you only click the confirmation link once, and that you open the validation "
    "link in the same client you're logging in from.</p>\n</header>\n"
    "<details><summary>Error code</summary><p><code>%s</code></p></details>\n"
    "</body>\n</html>\n", d, e);

  reply_html (msg, status, html);
}

/* Ops */

static void
op_disconnected_cb (SoupServerMessage *msg,
                    gpointer           user_data)
{
  ((SsoOp *) user_data)->gone = TRUE;
}

static SsoOp *
op_new (OmHs              *hs,
        SoupServerMessage *msg)
{
  SsoOp *op = g_new0 (SsoOp, 1);

  op->hs = hs;
  op->msg = g_object_ref (msg);
  op->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (op_disconnected_cb), op);
  hs->sso->ops = g_list_prepend (hs->sso->ops, op);
  soup_server_message_pause (msg);
  return op;
}

/* Answers (unless cancelled at shutdown) and frees. */
static void
op_done (SsoOp   *op,
         gboolean answered)
{
  op->hs->sso->ops = g_list_remove (op->hs->sso->ops, op);
  g_signal_handler_disconnect (op->msg, op->disconnected_id);
  if (answered && !op->gone)
    soup_server_message_unpause (op->msg);
  g_object_unref (op->msg);
  g_clear_object (&op->client_msg);
  g_clear_pointer (&op->session, sso_session_free);
  g_free (op->redirect_url);
  g_free (op);
}

/* Sends a request to the provider: a GET, or a POST of @form with the
 * client's credentials (client_secret_basic); @bearer for userinfo. */
static void
op_fetch (SsoOp               *op,
          const char          *url,
          const char          *form,
          const char          *bearer,
          GAsyncReadyCallback  cb)
{
  OmHsSso *sso = op->hs->sso;
  SoupMessageHeaders *h;

  g_clear_object (&op->client_msg);
  op->client_msg = soup_message_new (form ? "POST" : "GET", url);
  if (op->client_msg == NULL)
    op->client_msg = soup_message_new ("GET", "http://invalid.invalid/");
  h = soup_message_get_request_headers (op->client_msg);
  soup_message_headers_replace (h, "Accept", "application/json");
  if (form)
    {
      g_autoptr(GBytes) body = g_bytes_new (form, strlen (form));
      g_autofree char *id = g_uri_escape_string (sso->client_id, NULL, FALSE);
      g_autofree char *secret = g_uri_escape_string (sso->client_secret ? sso->client_secret : "",
                                                     NULL, FALSE);
      g_autofree char *pair = g_strdup_printf ("%s:%s", id, secret);
      g_autofree char *b64 = g_base64_encode ((const guchar *) pair, strlen (pair));
      g_autofree char *auth = g_strdup_printf ("Basic %s", b64);

      soup_message_set_request_body_from_bytes (op->client_msg, "application/x-www-form-urlencoded",
                                                body);
      soup_message_headers_replace (h, "Authorization", auth);
    }
  if (bearer)
    {
      g_autofree char *auth = g_strdup_printf ("Bearer %s", bearer);
      soup_message_headers_replace (h, "Authorization", auth);
    }
  soup_session_send_and_read_async (sso->session, op->client_msg, G_PRIORITY_DEFAULT,
                                    sso->cancellable, cb, op);
}

/* The JSON object the provider answered with a 2xx.  Otherwise NULL, with
 * @out_error/@out_description set (the provider's OAuth error if it gave
 * one); @out_cancelled at shutdown. */
static JsonObject *
op_fetch_finish (SsoOp         *op,
                 GAsyncResult  *res,
                 char         **out_error,
                 char         **out_description,
                 gboolean      *out_cancelled)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = soup_session_send_and_read_finish (op->hs->sso->session, res, &error);
  g_autoptr(JsonObject) obj = NULL;
  g_autofree char *text = NULL;
  guint status;

  *out_cancelled = FALSE;
  if (bytes == NULL)
    {
      *out_cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      *out_error = g_strdup ("server_error");
      *out_description = g_strdup_printf ("Could not reach the identity provider: %s",
                                          error->message);
      return NULL;
    }
  status = soup_message_get_status (op->client_msg);
  text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  obj = om_hs_parse_object (text);
  if (status >= 200 && status < 300 && obj != NULL)
    return g_steal_pointer (&obj);
  if (om_hs_json_str (obj, "error"))
    {
      *out_error = g_strdup (om_hs_json_str (obj, "error"));
      *out_description = g_strdup (om_hs_json_str (obj, "error_description"));
    }
  else
    {
      *out_error = g_strdup ("server_error");
      *out_description = g_strdup_printf ("Unexpected response from the identity provider: %u",
                                          status);
    }
  return NULL;
}

/* The redirect */

static gboolean
session_expired (gpointer key,
                 gpointer value,
                 gpointer user_data)
{
  return ((SsoSession *) value)->expires_ms <= *(gint64 *) user_data;
}

static void
redirect_to_provider (OmHs              *hs,
                      SoupServerMessage *msg,
                      const char        *redirect_url)
{
  OmHsSso *sso = hs->sso;
  SsoSession *s = g_new0 (SsoSession, 1);
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  const char *endpoint = om_hs_json_str (sso->metadata, "authorization_endpoint");
  g_autofree char *cookie = om_hs_random_string (43, FALSE);
  g_autofree char *challenge = NULL;
  g_autofree char *callback = g_strconcat (hs->base_url, CALLBACK_PATH, NULL);
  g_autofree char *query = NULL;
  g_autofree char *location = NULL;
  g_autofree char *c1 = NULL;
  g_autofree char *c2 = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *body = NULL;
  gint64 now = om_hs_now_ms ();

  g_hash_table_foreach_remove (sso->sessions, session_expired, &now);
  s->state = om_hs_random_string (30, FALSE);
  s->nonce = om_hs_random_string (30, FALSE);
  s->verifier = om_hs_random_string (64, FALSE);
  s->redirect_url = g_strdup (redirect_url);
  s->expires_ms = now + SESSION_LIFETIME_MS;
  challenge = pkce_challenge (s->verifier);
  query = soup_form_encode ("response_type", "code",
                            "client_id", sso->client_id,
                            "redirect_uri", callback,
                            "scope", "openid profile email",
                            "state", s->state,
                            "nonce", s->nonce,
                            "code_challenge_method", "S256",
                            "code_challenge", challenge,
                            NULL);
  g_hash_table_insert (sso->sessions, g_strdup (cookie), s);

  location = g_strdup_printf ("%s%c%s", endpoint, strchr (endpoint, '?') ? '&' : '?', query);
  c1 = g_strdup_printf (SESSION_COOKIE "=%s; Max-Age=3600; Path=/_synapse/client/oidc; HttpOnly; "
                        "Secure; SameSite=None", cookie);
  c2 = g_strdup_printf (SESSION_COOKIE_NO_SAMESITE "=%s; Max-Age=3600; Path=/_synapse/client/oidc; "
                        "HttpOnly", cookie);
  soup_message_headers_append (h, "Set-Cookie", c1);
  soup_message_headers_append (h, "Set-Cookie", c2);
  soup_message_headers_replace (h, "Location", location);
  escaped = g_markup_escape_text (location, -1);
  body = g_strdup_printf ("<html><body><a href=\"%s\">Redirecting</a></body></html>\n", escaped);
  soup_server_message_set_status (msg, 302, NULL);
  soup_server_message_set_response (msg, "text/html", SOUP_MEMORY_COPY, body, strlen (body));
}

static void
discovery_cb (GObject      *source,
              GAsyncResult *res,
              gpointer      user_data)
{
  SsoOp *op = user_data;
  OmHsSso *sso = op->hs->sso;
  g_autofree char *error = NULL;
  g_autofree char *description = NULL;
  gboolean cancelled;
  g_autoptr(JsonObject) meta = op_fetch_finish (op, res, &error, &description, &cancelled);

  if (cancelled)
    {
      op_done (op, FALSE);
      return;
    }
  if (meta == NULL || om_hs_json_str (meta, "authorization_endpoint") == NULL ||
      om_hs_json_str (meta, "token_endpoint") == NULL)
    {
      g_warning ("OpenID discovery at %s failed: %s", sso->issuer,
                 description ? description : "no authorization/token endpoint");
      om_hs_reply_error (op->msg, 500, "M_UNKNOWN", "Internal server error");
      op_done (op, TRUE);
      return;
    }
  if (sso->metadata == NULL)
    sso->metadata = json_object_ref (meta);
  redirect_to_provider (op->hs, op->msg, op->redirect_url);
  op_done (op, TRUE);
}

/* GET login/sso/redirect[/{idpId}]?redirectUrl= */
void
om_hs_handle_sso_redirect (OmHsRequest *req)
{
  OmHsSso *sso = req->hs->sso;
  const char *redirect_url = om_hs_query (req, "redirectUrl");
  const char *idp = req->segs[3];
  g_autofree char *discovery = NULL;
  SsoOp *op;

  if (redirect_url == NULL)
    {
      om_hs_reply_error (req->msg, 400, "M_MISSING_PARAM",
                         "Missing string query parameter redirectUrl");
      return;
    }
  if (!om_hs_sso_enabled (req->hs) || (idp != NULL && !g_str_equal (idp, IDP_ID)))
    {
      om_hs_reply_error (req->msg, 404, "M_NOT_FOUND", "Unknown identity provider");
      return;
    }
  if (sso->metadata)
    {
      redirect_to_provider (req->hs, req->msg, redirect_url);
      return;
    }
  op = op_new (req->hs, req->msg);
  op->redirect_url = g_strdup (redirect_url);
  discovery = g_strconcat (sso->issuer, "/.well-known/openid-configuration", NULL);
  op_fetch (op, discovery, NULL, NULL, discovery_cb);
}

/* The callback */

static gboolean
whitelisted (OmHsSso    *sso,
             const char *url)
{
  for (guint i = 0; sso->whitelist && sso->whitelist[i]; i++)
    if (g_str_has_prefix (url, sso->whitelist[i]))
      return TRUE;
  return FALSE;
}

/* Synapse's sso_redirect_confirm.html. */
static void
render_confirmation (OmHs              *hs,
                     SoupServerMessage *msg,
                     const char        *redirect_url,
                     const char        *displayname,
                     gboolean           new_user)
{
  g_autoptr(GUri) uri = g_uri_parse (redirect_url, G_URI_FLAGS_NONE, NULL);
  const char *display_url = uri && g_uri_get_host (uri) ? g_uri_get_host (uri) : redirect_url;
  g_autofree char *href = g_markup_escape_text (redirect_url, -1);
  g_autofree char *shown = g_markup_escape_text (display_url, -1);
  g_autofree char *server = g_markup_escape_text (hs->server_name, -1);
  g_autofree char *name = g_markup_escape_text (displayname ? displayname : "", -1);
  g_autofree char *intro = new_user
    ? g_strdup_printf ("<h1>Your account is now ready</h1>\n<p>You've made your account on %s.</p>",
                       server)
    : g_strdup ("<h1>Continue to your application?</h1>");
  g_autofree char *html = g_strdup_printf (
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
    "<title>SSO redirect confirmation</title></head>\n<body>\n<header>\n%s\n"
    "<p>Continue to confirm you trust <strong>%s</strong>.</p>\n</header>\n<main>\n"
    "<div class=\"profile\"><div class=\"profile-details\"><div class=\"display-name\">%s</div>"
    "</div></div>\n<a href=\"%s\" class=\"primary-button\">Continue</a>\n</main>\n</body>\n</html>\n",
    intro, shown, name, href);

  reply_html (msg, 200, html);
}

/* Lowercases @handle and checks it is a valid localpart. */
static char *
localpart_from_handle (const char *handle)
{
  g_autofree char *lp = handle ? g_ascii_strdown (handle, -1) : NULL;

  if (lp == NULL || lp[0] == '\0' || strlen (lp) > 200)
    return NULL;
  for (const char *p = lp; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'z') && strchr ("._=-/+", *p) == NULL)
      return NULL;
  return g_steal_pointer (&lp);
}

static void
userinfo_cb (GObject      *source,
             GAsyncResult *res,
             gpointer      user_data)
{
  SsoOp *op = user_data;
  OmHs *hs = op->hs;
  g_autofree char *error = NULL;
  g_autofree char *description = NULL;
  g_autofree char *localpart = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *token = NULL;
  g_autofree char *target = NULL;
  gboolean cancelled, new_user = FALSE;
  g_autoptr(JsonObject) info = op_fetch_finish (op, res, &error, &description, &cancelled);
  const char *name;

  if (cancelled)
    {
      op_done (op, FALSE);
      return;
    }
  if (info == NULL)
    {
      render_error (op->msg, 400, error, description);
      op_done (op, TRUE);
      return;
    }
  localpart = localpart_from_handle (om_hs_json_str (info, "matrix_handle"));
  if (localpart == NULL)
    {
      render_error (op->msg, 500, "mapping_error",
                    "Unable to map the matrix_handle claim to a valid localpart");
      op_done (op, TRUE);
      return;
    }
  name = om_hs_json_str (info, "name");
  user_id = om_hs_user_id (hs, localpart);
  if (!om_hs_user_exists (hs, user_id))
    new_user = om_hs_user_create (hs, localpart, NULL, FALSE, name);
  else
    {
      g_auto(GStrv) row = om_hs_user_row (hs, user_id);

      if (row && g_strcmp0 (row[2], "1") == 0)
        {
          render_error (op->msg, 403, "user_deactivated", "This account has been deactivated");
          op_done (op, TRUE);
          return;
        }
    }
  token = om_hs_login_token_create (hs, user_id);
  target = add_query_param (op->session->redirect_url, "loginToken", token);
  clear_session_cookies (op->msg);
  if (whitelisted (hs->sso, op->session->redirect_url))
    {
      SoupMessageHeaders *h = soup_server_message_get_response_headers (op->msg);
      g_autofree char *escaped = g_markup_escape_text (target, -1);
      g_autofree char *body = g_strdup_printf ("<html><body><a href=\"%s\">Continue</a></body></html>\n",
                                               escaped);

      soup_message_headers_replace (h, "Location", target);
      soup_server_message_set_status (op->msg, 302, NULL);
      soup_server_message_set_response (op->msg, "text/html", SOUP_MEMORY_COPY, body, strlen (body));
    }
  else
    render_confirmation (hs, op->msg, target, name ? name : localpart, new_user);
  op_done (op, TRUE);
}

static gboolean
id_token_ok (OmHsSso    *sso,
             JsonObject *tokens,
             const char *nonce)
{
  const char *jwt = om_hs_json_str (tokens, "id_token");
  g_autoptr(JsonObject) claims = NULL;
  const char *aud_str;

  if (jwt == NULL)
    return TRUE;   /* userinfo is what we rely on */
  claims = jwt_payload (jwt);
  if (claims == NULL || g_strcmp0 (om_hs_json_str (claims, "nonce"), nonce) != 0 ||
      g_strcmp0 (om_hs_json_str (claims, "iss"), om_hs_json_str (sso->metadata, "issuer")) != 0)
    return FALSE;
  aud_str = om_hs_json_str (claims, "aud");
  if (aud_str)
    return g_str_equal (aud_str, sso->client_id);
  if (json_object_has_member (claims, "aud") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (claims, "aud")))
    {
      JsonArray *aud = json_object_get_array_member (claims, "aud");

      for (guint i = 0; i < json_array_get_length (aud); i++)
        if (g_strcmp0 (json_array_get_string_element (aud, i), sso->client_id) == 0)
          return TRUE;
    }
  return FALSE;
}

static void
token_cb (GObject      *source,
          GAsyncResult *res,
          gpointer      user_data)
{
  SsoOp *op = user_data;
  OmHsSso *sso = op->hs->sso;
  g_autofree char *error = NULL;
  g_autofree char *description = NULL;
  gboolean cancelled;
  g_autoptr(JsonObject) tokens = op_fetch_finish (op, res, &error, &description, &cancelled);
  const char *userinfo = om_hs_json_str (sso->metadata, "userinfo_endpoint");
  const char *access_token = om_hs_json_str (tokens, "access_token");

  if (cancelled)
    {
      op_done (op, FALSE);
      return;
    }
  if (tokens == NULL || access_token == NULL)
    {
      render_error (op->msg, 400, error ? error : "invalid_token",
                    description ? description : "No access token in the token response");
      op_done (op, TRUE);
      return;
    }
  if (!id_token_ok (sso, tokens, op->session->nonce))
    {
      render_error (op->msg, 400, "invalid_token", "Invalid ID token");
      op_done (op, TRUE);
      return;
    }
  if (userinfo == NULL)
    {
      render_error (op->msg, 500, "server_error", "The identity provider has no userinfo endpoint");
      op_done (op, TRUE);
      return;
    }
  op_fetch (op, userinfo, NULL, access_token, userinfo_cb);
}

/* GET /_synapse/client/oidc/callback?code=&state= */
void
om_hs_handle_oidc_callback (OmHsRequest *req)
{
  OmHs *hs = req->hs;
  OmHsSso *sso = hs->sso;
  const char *code = om_hs_query (req, "code");
  const char *state = om_hs_query (req, "state");
  const char *idp_error = om_hs_query (req, "error");
  g_autofree char *cookie = NULL;
  g_autofree char *callback = NULL;
  g_autofree char *form = NULL;
  gpointer stolen_key = NULL;
  SsoSession *s;
  SsoOp *op;

  if (!g_str_equal (req->method, "GET"))
    {
      om_hs_reply_error (req->msg, 405, "M_UNRECOGNIZED", "Unrecognized request");
      return;
    }
  if (!om_hs_sso_enabled (hs))
    {
      om_hs_reply_error (req->msg, 404, "M_UNRECOGNIZED", "Unrecognized request");
      return;
    }
  if (idp_error)
    {
      render_error (req->msg, 400, idp_error, om_hs_query (req, "error_description"));
      return;
    }
  cookie = request_cookie (req->msg, SESSION_COOKIE);
  if (cookie == NULL)
    cookie = request_cookie (req->msg, SESSION_COOKIE_NO_SAMESITE);
  if (cookie == NULL)
    {
      render_error (req->msg, 400, "missing_session", "No session cookie found");
      return;
    }
  if (state == NULL)
    {
      render_error (req->msg, 400, "invalid_request", "State parameter is missing");
      return;
    }
  if (code == NULL)
    {
      render_error (req->msg, 400, "invalid_request", "Code parameter is missing");
      return;
    }
  s = g_hash_table_lookup (sso->sessions, cookie);
  if (s == NULL || s->expires_ms <= om_hs_now_ms ())
    {
      render_error (req->msg, 400, "invalid_session", "Invalid session cookie");
      return;
    }
  if (!g_str_equal (s->state, state))
    {
      render_error (req->msg, 400, "mismatching_session", "The state does not match the session");
      return;
    }
  /* The session is used up from here on. */
  op = op_new (hs, req->msg);
  g_hash_table_steal_extended (sso->sessions, cookie, &stolen_key, (gpointer *) &op->session);
  g_free (stolen_key);
  callback = g_strconcat (hs->base_url, CALLBACK_PATH, NULL);
  form = soup_form_encode ("grant_type", "authorization_code",
                           "code", code,
                           "redirect_uri", callback,
                           "code_verifier", op->session->verifier,
                           NULL);
  op_fetch (op, om_hs_json_str (sso->metadata, "token_endpoint"), form, NULL, token_cb);
}
