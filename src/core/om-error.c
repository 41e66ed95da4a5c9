/* om-error.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-error"

#include <string.h>

#include <gio/gio.h>

#include "om-error.h"

/* Extended error data: a GError carries what a Matrix error body said, so
 * callers can honour retry_after_ms or a soft logout without re-parsing. */
typedef struct {
  char    *errcode;        /* owned, nullable */
  guint    http_status;
  gint64   retry_after_ms; /* -1 when absent */
  gboolean soft_logout;
} OmErrorPrivate;

static void
om_error_private_init (OmErrorPrivate *priv)
{
  priv->errcode = NULL;
  priv->http_status = 0;
  priv->retry_after_ms = -1;
  priv->soft_logout = FALSE;
}

static void
om_error_private_copy (const OmErrorPrivate *src,
                       OmErrorPrivate       *dest)
{
  dest->errcode = g_strdup (src->errcode);
  dest->http_status = src->http_status;
  dest->retry_after_ms = src->retry_after_ms;
  dest->soft_logout = src->soft_logout;
}

static void
om_error_private_clear (OmErrorPrivate *priv)
{
  g_clear_pointer (&priv->errcode, g_free);
}

G_DEFINE_EXTENDED_ERROR (OmError, om_error)

static const struct {
  const char  *errcode;
  OmErrorCode  code;
} errcodes[] = {
  { "M_FORBIDDEN", OM_ERROR_FORBIDDEN },
  { "M_UNKNOWN_TOKEN", OM_ERROR_UNKNOWN_TOKEN },
  { "M_MISSING_TOKEN", OM_ERROR_MISSING_TOKEN },
  { "M_BAD_JSON", OM_ERROR_BAD_JSON },
  { "M_NOT_JSON", OM_ERROR_NOT_JSON },
  { "M_NOT_FOUND", OM_ERROR_NOT_FOUND },
  { "M_LIMIT_EXCEEDED", OM_ERROR_LIMIT_EXCEEDED },
  { "M_UNRECOGNIZED", OM_ERROR_UNRECOGNIZED },
  { "M_USER_IN_USE", OM_ERROR_USER_IN_USE },
  { "M_INVALID_USERNAME", OM_ERROR_INVALID_USERNAME },
  { "M_INVALID_PARAM", OM_ERROR_INVALID_PARAM },
  { "M_MISSING_PARAM", OM_ERROR_MISSING_PARAM },
  { "M_TOO_LARGE", OM_ERROR_TOO_LARGE },
  { "M_USER_DEACTIVATED", OM_ERROR_USER_DEACTIVATED },
  { "M_ROOM_IN_USE", OM_ERROR_ROOM_IN_USE },
  { "M_UNSUPPORTED_ROOM_VERSION", OM_ERROR_UNSUPPORTED_ROOM_VERSION },
};

OmErrorCode
om_error_code_from_errcode (const char *errcode)
{
  if (errcode == NULL)
    return OM_ERROR_UNKNOWN;
  for (guint i = 0; i < G_N_ELEMENTS (errcodes); i++)
    if (g_str_equal (errcodes[i].errcode, errcode))
      return errcodes[i].code;
  return OM_ERROR_UNKNOWN;
}

GError *
om_error_new_from_response (guint     http_status,
                            JsonNode *body)
{
  const char *errcode = NULL;
  const char *message = NULL;
  gint64 retry_after_ms = -1;
  gboolean soft_logout = FALSE;
  OmErrorCode code;
  GError *error;
  OmErrorPrivate *priv;

  if (body != NULL && JSON_NODE_HOLDS_OBJECT (body))
    {
      JsonObject *obj = json_node_get_object (body);
      JsonNode *node;

      node = json_object_get_member (obj, "errcode");
      if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
          json_node_get_value_type (node) == G_TYPE_STRING)
        errcode = json_node_get_string (node);

      node = json_object_get_member (obj, "error");
      if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
          json_node_get_value_type (node) == G_TYPE_STRING)
        message = json_node_get_string (node);

      /* JSON has one number type: accept 1500.0 as well as 1500. */
      node = json_object_get_member (obj, "retry_after_ms");
      if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
          json_node_get_value_type (node) == G_TYPE_INT64)
        retry_after_ms = MAX (0, json_node_get_int (node));
      else if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
               json_node_get_value_type (node) == G_TYPE_DOUBLE)
        retry_after_ms = (gint64) CLAMP (json_node_get_double (node), 0.0, (double) G_MAXINT32);

      node = json_object_get_member (obj, "soft_logout");
      if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
          json_node_get_value_type (node) == G_TYPE_BOOLEAN)
        soft_logout = json_node_get_boolean (node);
    }

  /* An OAuth 2.0 error (RFC 6749 §5.2): "error" is a code, the text is in
   * "error_description".  Told from a Matrix error by the missing errcode
   * and a code-shaped value. */
  if (errcode == NULL && message != NULL && http_status >= 400 && http_status < 500 &&
      message[0] != '\0' && strspn (message, "abcdefghijklmnopqrstuvwxyz_") == strlen (message))
    {
      JsonNode *node = json_object_get_member (json_node_get_object (body), "error_description");
      const char *description = NULL;

      if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
          json_node_get_value_type (node) == G_TYPE_STRING)
        description = json_node_get_string (node);
      if (description != NULL)
        error = g_error_new (OM_ERROR, OM_ERROR_OAUTH, "%s (%s, HTTP %u)", description, message, http_status);
      else
        error = g_error_new (OM_ERROR, OM_ERROR_OAUTH, "The authorization server refused the request (%s, HTTP %u)",
                             message, http_status);
      priv = om_error_get_private (error);
      priv->errcode = g_strdup (message);
      priv->http_status = http_status;
      priv->retry_after_ms = -1;
      return error;
    }

  if (errcode != NULL)
    code = om_error_code_from_errcode (errcode);
  else if (http_status == 429)
    code = OM_ERROR_LIMIT_EXCEEDED;
  else if (http_status >= 500)
    code = OM_ERROR_SERVER;
  else
    code = OM_ERROR_HTTP;

  if (message != NULL && errcode != NULL)
    error = g_error_new (OM_ERROR, code, "%s (%s, HTTP %u)", message, errcode, http_status);
  else if (message != NULL)
    error = g_error_new (OM_ERROR, code, "%s (HTTP %u)", message, http_status);
  else if (errcode != NULL)
    error = g_error_new (OM_ERROR, code, "The server refused the request (%s, HTTP %u)",
                         errcode, http_status);
  else if (http_status >= 500)
    error = g_error_new (OM_ERROR, code, "The server failed (HTTP %u); try again later",
                         http_status);
  else
    error = g_error_new (OM_ERROR, code, "The server answered HTTP %u", http_status);

  priv = om_error_get_private (error);
  priv->errcode = g_strdup (errcode);
  priv->http_status = http_status;
  priv->retry_after_ms = retry_after_ms;
  priv->soft_logout = soft_logout;

  return error;
}

const char *
om_error_get_errcode (const GError *error)
{
  OmErrorPrivate *priv;

  if (error == NULL || error->domain != OM_ERROR)
    return NULL;
  priv = om_error_get_private (error);
  return priv ? priv->errcode : NULL;
}

guint
om_error_get_http_status (const GError *error)
{
  OmErrorPrivate *priv;

  if (error == NULL || error->domain != OM_ERROR)
    return 0;
  priv = om_error_get_private (error);
  return priv ? priv->http_status : 0;
}

gint64
om_error_get_retry_after_ms (const GError *error)
{
  OmErrorPrivate *priv;

  if (error == NULL || error->domain != OM_ERROR)
    return -1;
  priv = om_error_get_private (error);
  return priv ? priv->retry_after_ms : -1;
}

gboolean
om_error_is_soft_logout (const GError *error)
{
  OmErrorPrivate *priv;

  if (error == NULL || error->domain != OM_ERROR || error->code != OM_ERROR_UNKNOWN_TOKEN)
    return FALSE;
  priv = om_error_get_private (error);
  return priv ? priv->soft_logout : FALSE;
}

gboolean
om_error_is_transient (const GError *error)
{
  if (error == NULL)
    return FALSE;

  if (error->domain == OM_ERROR)
    {
      guint status = om_error_get_http_status (error);

      return error->code == OM_ERROR_LIMIT_EXCEEDED ||
             error->code == OM_ERROR_SERVER ||
             error->code == OM_ERROR_BAD_RESPONSE ||
             status >= 500 || status == 429 || status == 408;
    }

  if (error->domain == G_IO_ERROR)
    return !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
           !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT) &&
           !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);

  if (error->domain == G_RESOLVER_ERROR)
    return TRUE;

  return FALSE;
}
