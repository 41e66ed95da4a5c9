/* om-json.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-json.h"

static JsonNode *
member_value (JsonObject *object,
              const char *member,
              GType       type)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != type)
    return NULL;
  return node;
}

const char *
om_json_get_string (JsonObject *object,
                    const char *member)
{
  JsonNode *node = member_value (object, member, G_TYPE_STRING);

  return node != NULL ? json_node_get_string (node) : NULL;
}

JsonObject *
om_json_get_object (JsonObject *object,
                    const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

JsonArray *
om_json_get_array (JsonObject *object,
                   const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

gboolean
om_json_get_int (JsonObject *object,
                 const char *member,
                 gint64     *out)
{
  JsonNode *node = member_value (object, member, G_TYPE_INT64);

  if (node == NULL)
    return FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

gboolean
om_json_get_boolean (JsonObject *object,
                     const char *member,
                     gboolean   *out)
{
  JsonNode *node = member_value (object, member, G_TYPE_BOOLEAN);

  if (node == NULL)
    return FALSE;
  *out = json_node_get_boolean (node);
  return TRUE;
}
