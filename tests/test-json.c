/* test-json.c — typed getters on hostile JSON
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-json.h"

static JsonObject *
parse (const char *json)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);

  g_assert_nonnull (node);
  return json_object_ref (json_node_get_object (node));
}

static void
test_right_types (void)
{
  g_autoptr(JsonObject) o = parse ("{\"s\":\"x\",\"o\":{},\"a\":[1],\"i\":42,\"b\":true}");
  gint64 i = 0;
  gboolean b = FALSE;

  g_assert_cmpstr (om_json_get_string (o, "s"), ==, "x");
  g_assert_nonnull (om_json_get_object (o, "o"));
  g_assert_cmpuint (json_array_get_length (om_json_get_array (o, "a")), ==, 1);
  g_assert_true (om_json_get_int (o, "i", &i));
  g_assert_cmpint (i, ==, 42);
  g_assert_true (om_json_get_boolean (o, "b", &b));
  g_assert_true (b);
}

static void
test_wrong_types (void)
{
  g_autoptr(JsonObject) o = parse ("{\"s\":5,\"o\":\"x\",\"a\":{},\"i\":1.5,\"j\":\"7\",\"b\":1,\"n\":null}");
  gint64 i = -1;
  gboolean b = -1;
  const char *not_int[] = { "o", "a", "i", "j", "n", "missing" };
  const char *not_container[] = { "s", "i", "j", "b", "n", "missing" };

  for (guint m = 0; m < G_N_ELEMENTS (not_int); m++)
    {
      g_assert_false (om_json_get_int (o, not_int[m], &i));
      g_assert_false (om_json_get_boolean (o, not_int[m], &b));
    }
  for (guint m = 0; m < G_N_ELEMENTS (not_container); m++)
    {
      g_assert_null (om_json_get_object (o, not_container[m]));
      g_assert_null (om_json_get_array (o, not_container[m]));
    }
  g_assert_false (om_json_get_boolean (o, "b", &b));   /* 1 is not true */
  g_assert_false (om_json_get_boolean (o, "s", &b));
  g_assert_null (om_json_get_string (o, "s"));
  g_assert_null (om_json_get_string (o, "n"));
  g_assert_null (om_json_get_object (o, "o"));
  g_assert_null (om_json_get_array (o, "a"));
  /* Outputs untouched on failure. */
  g_assert_cmpint (i, ==, -1);
  g_assert_cmpint (b, ==, -1);
}

static void
test_null_object (void)
{
  gint64 i;

  g_assert_null (om_json_get_string (NULL, "x"));
  g_assert_null (om_json_get_object (NULL, "x"));
  g_assert_null (om_json_get_array (NULL, "x"));
  g_assert_false (om_json_get_int (NULL, "x", &i));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/right-types", test_right_types);
  g_test_add_func ("/json/wrong-types", test_wrong_types);
  g_test_add_func ("/json/null-object", test_null_object);
  return g_test_run ();
}
