/* test-event.c — OmEvent: parsing, validation, local echo lifecycle
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>

#include <json-glib/json-glib.h>

#include "om-error.h"
#include "om-event.h"

static JsonObject *
parse_object (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));

  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

typedef struct {
  const char *name;
  const char *json;
  gboolean    allow_partial;
  gboolean    valid;
} ParseCase;

#define FULL "\"event_id\":\"$e\",\"origin_server_ts\":1700000000000,"

static const ParseCase parse_cases[] = {
  { "message", "{" FULL "\"type\":\"m.room.message\",\"sender\":\"@a:x\","
               "\"content\":{\"msgtype\":\"m.text\",\"body\":\"hi\"}}", FALSE, TRUE },
  { "no-content", "{" FULL "\"type\":\"m.room.message\",\"sender\":\"@a:x\"}", FALSE, TRUE },
  { "null-content", "{" FULL "\"type\":\"m.x\",\"sender\":\"@a:x\",\"content\":null}", FALSE, TRUE },
  { "state", "{" FULL "\"type\":\"m.room.name\",\"state_key\":\"\",\"sender\":\"@a:x\","
             "\"content\":{\"name\":\"N\"}}", FALSE, TRUE },
  { "stripped-partial", "{\"type\":\"m.room.name\",\"state_key\":\"\",\"sender\":\"@a:x\","
                        "\"content\":{\"name\":\"N\"}}", TRUE, TRUE },
  { "stripped-strict", "{\"type\":\"m.room.name\",\"state_key\":\"\",\"sender\":\"@a:x\","
                       "\"content\":{}}", FALSE, FALSE },
  { "missing-type", "{" FULL "\"sender\":\"@a:x\",\"content\":{}}", FALSE, FALSE },
  { "empty-type", "{" FULL "\"type\":\"\",\"sender\":\"@a:x\",\"content\":{}}", FALSE, FALSE },
  { "type-number", "{" FULL "\"type\":5,\"sender\":\"@a:x\",\"content\":{}}", FALSE, FALSE },
  { "type-object", "{" FULL "\"type\":{},\"sender\":\"@a:x\",\"content\":{}}", FALSE, FALSE },
  { "missing-sender", "{" FULL "\"type\":\"m.x\",\"content\":{}}", FALSE, FALSE },
  { "sender-null", "{" FULL "\"type\":\"m.x\",\"sender\":null,\"content\":{}}", FALSE, FALSE },
  { "content-string", "{" FULL "\"type\":\"m.x\",\"sender\":\"@a:x\",\"content\":\"x\"}",
    FALSE, FALSE },
  { "content-array", "{" FULL "\"type\":\"m.x\",\"sender\":\"@a:x\",\"content\":[]}",
    FALSE, FALSE },
  { "missing-event-id", "{\"origin_server_ts\":1,\"type\":\"m.x\",\"sender\":\"@a:x\"}",
    FALSE, FALSE },
  { "event-id-number", "{\"event_id\":7,\"origin_server_ts\":1,\"type\":\"m.x\","
                       "\"sender\":\"@a:x\"}", TRUE, FALSE },
  { "missing-ts", "{\"event_id\":\"$e\",\"type\":\"m.x\",\"sender\":\"@a:x\"}", FALSE, FALSE },
  { "ts-string", "{\"event_id\":\"$e\",\"origin_server_ts\":\"1\",\"type\":\"m.x\","
                 "\"sender\":\"@a:x\"}", FALSE, FALSE },
  { "ts-double", "{\"event_id\":\"$e\",\"origin_server_ts\":1.5,\"type\":\"m.x\","
                 "\"sender\":\"@a:x\"}", FALSE, FALSE },
  { "state-key-number", "{" FULL "\"type\":\"m.x\",\"state_key\":1,\"sender\":\"@a:x\"}",
    FALSE, FALSE },
  { "room-id-bool", "{" FULL "\"type\":\"m.x\",\"room_id\":true,\"sender\":\"@a:x\"}",
    FALSE, FALSE },
  { "unsigned-string", "{" FULL "\"type\":\"m.x\",\"sender\":\"@a:x\",\"unsigned\":\"u\"}",
    FALSE, TRUE },
};

static void
test_parse (gconstpointer data)
{
  const ParseCase *c = data;
  g_autoptr(JsonObject) object = parse_object (c->json);
  g_autoptr(GError) error = NULL;
  g_autoptr(OmEvent) event = NULL;

  event = om_event_new_from_json (object, c->allow_partial, &error);
  if (c->valid)
    {
      g_assert_no_error (error);
      g_assert_nonnull (event);
      g_assert_nonnull (om_event_get_content (event));
      g_assert_cmpint (om_event_get_send_state (event), ==, OM_SEND_STATE_NONE);
    }
  else
    {
      g_assert_error (error, OM_ERROR, OM_ERROR_BAD_RESPONSE);
      g_assert_null (event);
    }
}

static void
test_accessors (void)
{
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(OmEvent) event = NULL;
  g_autoptr(OmEvent) state = NULL;
  g_autoptr(OmEvent) redaction = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *s = NULL;

  object = parse_object ("{\"type\":\"m.room.message\",\"sender\":\"@alice:x\","
                         "\"room_id\":\"!r:x\",\"event_id\":\"$1\",\"origin_server_ts\":42,"
                         "\"content\":{\"msgtype\":\"m.text\",\"body\":\"Hello\"},"
                         "\"unsigned\":{\"transaction_id\":\"t1\"}}");
  event = om_event_new_from_json (object, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (om_event_get_event_id (event), ==, "$1");
  g_assert_cmpstr (om_event_get_room_id (event), ==, "!r:x");
  g_assert_cmpstr (om_event_get_sender (event), ==, "@alice:x");
  g_assert_cmpstr (om_event_get_event_type (event), ==, "m.room.message");
  g_assert_null (om_event_get_state_key (event));
  g_assert_false (om_event_is_state (event));
  g_assert_cmpint (om_event_get_origin_server_ts (event), ==, 42);
  g_assert_cmpstr (om_event_get_msgtype (event), ==, "m.text");
  g_assert_cmpstr (om_event_get_body (event), ==, "Hello");
  g_assert_cmpstr (om_event_get_txn_id (event), ==, "t1");
  g_assert_null (om_event_get_redacts (event));
  /* The event holds the caller's object, not a copy. */
  g_assert_true (om_event_get_json (event) == object);
  s = om_event_to_string (event);
  g_assert_nonnull (strstr (s, "\"body\":\"Hello\""));

  g_clear_pointer (&object, json_object_unref);
  object = parse_object ("{\"type\":\"m.room.topic\",\"state_key\":\"\",\"sender\":\"@a:x\","
                         "\"event_id\":\"$2\",\"origin_server_ts\":1,"
                         "\"content\":{\"body\":5}}");
  state = om_event_new_from_json (object, FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (om_event_is_state (state));
  g_assert_cmpstr (om_event_get_state_key (state), ==, "");
  g_assert_null (om_event_get_body (state));   /* not a string */

  g_clear_pointer (&object, json_object_unref);
  object = parse_object ("{\"type\":\"m.room.redaction\",\"sender\":\"@a:x\","
                         "\"event_id\":\"$3\",\"origin_server_ts\":1,"
                         "\"content\":{\"redacts\":\"$1\"}}");
  redaction = om_event_new_from_json (object, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (om_event_get_redacts (redaction), ==, "$1");
}

static void
test_huge_body (void)
{
  g_autoptr(GString) json = g_string_new ("{\"type\":\"m.room.message\",\"sender\":\"@a:x\","
                                          "\"event_id\":\"$big\",\"origin_server_ts\":1,"
                                          "\"content\":{\"msgtype\":\"m.text\",\"body\":\"");
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(OmEvent) event = NULL;
  g_autoptr(GError) error = NULL;
  const guint size = 8 * 1024 * 1024;

  for (guint i = 0; i < size; i++)
    g_string_append_c (json, 'a' + i % 26);
  g_string_append (json, "\"}}");

  object = parse_object (json->str);
  event = om_event_new_from_json (object, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (om_event_get_body (event)), ==, size);
  /* Borrowed from the parsed object: no copy of the body was made. */
  g_assert_true (om_event_get_body (event) ==
                 json_object_get_string_member (json_object_get_object_member (object, "content"),
                                                "body"));
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  (*(guint *) user_data)++;
}

static void
test_local_echo (void)
{
  g_autoptr(JsonObject) content = json_object_new ();
  g_autoptr(JsonObject) remote_json = NULL;
  g_autoptr(OmEvent) echo = NULL;
  g_autoptr(OmEvent) remote = NULL;
  g_autoptr(GError) error = NULL;
  guint n_state = 0, n_id = 0;

  json_object_set_string_member (content, "msgtype", "m.text");
  json_object_set_string_member (content, "body", "Hello Bob");

  echo = om_event_new_local ("!r:x", "m1.0", "@alice:x", "m.room.message", content);
  g_assert_nonnull (echo);
  g_assert_null (om_event_get_event_id (echo));
  g_assert_cmpstr (om_event_get_txn_id (echo), ==, "m1.0");
  g_assert_cmpstr (om_event_get_room_id (echo), ==, "!r:x");
  g_assert_cmpstr (om_event_get_body (echo), ==, "Hello Bob");
  g_assert_cmpint (om_event_get_send_state (echo), ==, OM_SEND_STATE_QUEUED);
  g_assert_cmpint (om_event_get_origin_server_ts (echo), >, 1600000000000);

  g_signal_connect (echo, "notify::send-state", G_CALLBACK (count_notify), &n_state);
  g_signal_connect (echo, "notify::event-id", G_CALLBACK (count_notify), &n_id);

  om_event_set_send_state (echo, OM_SEND_STATE_SENDING, NULL);
  om_event_set_send_state (echo, OM_SEND_STATE_SENDING, NULL);   /* no change, no notify */
  g_assert_cmpuint (n_state, ==, 1);

  om_event_set_send_state (echo, OM_SEND_STATE_FAILED, "Network down");
  g_assert_cmpstr (om_event_get_send_error (echo), ==, "Network down");
  om_event_set_send_state (echo, OM_SEND_STATE_SENDING, NULL);
  g_assert_null (om_event_get_send_error (echo));
  g_assert_cmpuint (n_state, ==, 3);

  om_event_set_event_id (echo, "$abc");
  om_event_set_event_id (echo, "$abc");
  g_assert_cmpuint (n_id, ==, 1);
  g_assert_cmpstr (om_event_get_event_id (echo), ==, "$abc");

  remote_json = parse_object ("{\"type\":\"m.room.message\",\"sender\":\"@alice:x\","
                              "\"event_id\":\"$abc\",\"origin_server_ts\":1795611811578,"
                              "\"content\":{\"msgtype\":\"m.text\",\"body\":\"Hello Bob\"},"
                              "\"unsigned\":{\"age\":5}}");
  remote = om_event_new_from_json (remote_json, FALSE, &error);
  g_assert_no_error (error);
  om_event_merge_remote (echo, remote);
  g_assert_cmpint (om_event_get_send_state (echo), ==, OM_SEND_STATE_SENT);
  g_assert_cmpstr (om_event_get_event_id (echo), ==, "$abc");
  g_assert_cmpint (om_event_get_origin_server_ts (echo), ==, 1795611811578);
  g_assert_cmpuint (n_id, ==, 1);
  /* The remote echo had no transaction ID: ours is kept. */
  g_assert_cmpstr (om_event_get_txn_id (echo), ==, "m1.0");
  g_assert_true (om_event_get_json (echo) == remote_json);

  g_assert_finalize_object (g_steal_pointer (&echo));
}

static void
test_enum_type (void)
{
  GEnumClass *klass = g_type_class_ref (OM_TYPE_SEND_STATE);
  GEnumValue *value = g_enum_get_value (klass, OM_SEND_STATE_FAILED);

  g_assert_cmpstr (value->value_nick, ==, "failed");
  g_type_class_unref (klass);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/event/parse/%s", parse_cases[i].name);
      g_test_add_data_func (path, &parse_cases[i], test_parse);
    }
  g_test_add_func ("/event/accessors", test_accessors);
  g_test_add_func ("/event/huge-body", test_huge_body);
  g_test_add_func ("/event/local-echo", test_local_echo);
  g_test_add_func ("/event/enum-type", test_enum_type);

  return g_test_run ();
}
