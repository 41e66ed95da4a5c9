/* om-error.h — the OM_ERROR domain: Matrix errcodes and protocol failures
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define OM_ERROR (om_error_quark ())

/* Matrix errcodes the client reacts to, plus failures that are not Matrix
 * errors at all (a 5xx without a Matrix body, a response that is not the
 * JSON the endpoint promises).  Network failures use G_IO_ERROR instead. */
typedef enum {
  OM_ERROR_UNKNOWN,            /* M_UNKNOWN, or an errcode we do not know */
  OM_ERROR_FORBIDDEN,          /* M_FORBIDDEN */
  OM_ERROR_UNKNOWN_TOKEN,      /* M_UNKNOWN_TOKEN (see om_error_is_soft_logout) */
  OM_ERROR_MISSING_TOKEN,      /* M_MISSING_TOKEN */
  OM_ERROR_BAD_JSON,           /* M_BAD_JSON */
  OM_ERROR_NOT_JSON,           /* M_NOT_JSON */
  OM_ERROR_NOT_FOUND,          /* M_NOT_FOUND */
  OM_ERROR_LIMIT_EXCEEDED,     /* M_LIMIT_EXCEEDED (see om_error_get_retry_after_ms) */
  OM_ERROR_UNRECOGNIZED,       /* M_UNRECOGNIZED */
  OM_ERROR_USER_IN_USE,        /* M_USER_IN_USE */
  OM_ERROR_INVALID_USERNAME,   /* M_INVALID_USERNAME */
  OM_ERROR_INVALID_PARAM,      /* M_INVALID_PARAM */
  OM_ERROR_MISSING_PARAM,      /* M_MISSING_PARAM */
  OM_ERROR_TOO_LARGE,          /* M_TOO_LARGE */
  OM_ERROR_USER_DEACTIVATED,   /* M_USER_DEACTIVATED */
  OM_ERROR_ROOM_IN_USE,        /* M_ROOM_IN_USE */
  OM_ERROR_UNSUPPORTED_ROOM_VERSION, /* M_UNSUPPORTED_ROOM_VERSION */
  OM_ERROR_SERVER,             /* HTTP 5xx without a Matrix error body */
  OM_ERROR_HTTP,               /* another non-2xx status without a Matrix error body */
  OM_ERROR_BAD_RESPONSE,       /* the server answered something we cannot use */
  OM_ERROR_NOT_SIGNED_IN,      /* an operation needs a session that has none */
  OM_ERROR_INVALID_INPUT,      /* the caller gave a malformed ID, URL, … */
  OM_ERROR_STORE,              /* the local store failed */
  OM_ERROR_OAUTH,              /* an OAuth 2.0 error answer ({"error": "invalid_grant", …}):
                                * om_error_get_errcode gives the OAuth code */
} OmErrorCode;

GQuark       om_error_quark               (void);

/* Builds the error for a non-2xx response.  @body may be NULL or any JSON;
 * a Matrix error object (`errcode`, `error`, `retry_after_ms`,
 * `soft_logout`) is decoded when present. */
GError      *om_error_new_from_response   (guint            http_status,
                                           JsonNode        *body);

/* The Matrix errcode string of an OM_ERROR ("M_FORBIDDEN"), or NULL. */
const char  *om_error_get_errcode         (const GError    *error);
/* The HTTP status that carried an OM_ERROR, or 0. */
guint        om_error_get_http_status     (const GError    *error);
/* retry_after_ms of an M_LIMIT_EXCEEDED error, or -1 if the server gave none. */
gint64       om_error_get_retry_after_ms  (const GError    *error);
/* TRUE for M_UNKNOWN_TOKEN with soft_logout: the device may sign in again
 * and keep its data. */
gboolean     om_error_is_soft_logout      (const GError    *error);

/* TRUE when retrying the same request later may succeed: network failures,
 * timeouts, 5xx, 429.  FALSE for errors the server will repeat. */
gboolean     om_error_is_transient        (const GError    *error);

/* Maps an errcode string to an OmErrorCode (unknown strings → OM_ERROR_UNKNOWN). */
OmErrorCode  om_error_code_from_errcode   (const char      *errcode);

G_END_DECLS
