/* om-json.h — typed access to members of JSON from the network
 *
 * Each getter returns NULL / FALSE when @object is NULL, the member is
 * absent, or it holds another type, so hostile input never reaches a
 * json-glib assertion.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

const char  *om_json_get_string   (JsonObject  *object,
                                   const char  *member);
JsonObject  *om_json_get_object   (JsonObject  *object,
                                   const char  *member);
JsonArray   *om_json_get_array    (JsonObject  *object,
                                   const char  *member);
/* Integers only (no doubles, no strings). */
gboolean     om_json_get_int      (JsonObject  *object,
                                   const char  *member,
                                   gint64      *out);
gboolean     om_json_get_boolean  (JsonObject  *object,
                                   const char  *member,
                                   gboolean    *out);

G_END_DECLS
