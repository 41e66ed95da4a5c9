/* om-hs-demo.c — --demo: a seeded tenant and the concierge bot
 *
 * The seed is idempotent (skipped when the data dir already holds it).
 * The concierge lives inside the server, on its main loop: it answers any
 * message another user posts in the demo rooms.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-demo"

#include "om-hs.h"

#include <string.h>

#define HOUR_MS (3600 * 1000)

typedef struct
{
  const char *type;     /* entity_type */
  const char *slug;
  const char *name;
  const char *topic;
} DemoRoom;

static const DemoRoom demo_rooms[] = {
  { "event", "board-games-night", "Board games night", "Friday 19:00 at the Corner Café — bring a game!" },
  { "event", "hackathon", "Hackathon", "48 hours of building things for OpenMeet" },
  { "group", "hiking", "Hiking group", "Weekend hikes around the city" },
};

typedef struct
{
  guint        room;      /* index in demo_rooms */
  gint         hours_ago; /* from now */
  const char  *sender;    /* localpart */
  const char  *body;
} DemoMessage;

static const DemoMessage demo_messages[] = {
  { 0, 47, "alice", "Welcome to Board games night! 🎲 Who's coming on Friday?" },
  { 0, 46, "bob", "Count me in. I can bring Carcassonne." },
  { 0, 30, "demo", "I'll be there, maybe a bit late." },
  { 0, 29, "alice", "No problem, we'll start with something short." },
  { 1, 44, "alice", "Hackathon kick-off is Saturday 10:00. Teams of up to 4." },
  { 1, 43, "bob", "Anyone up for building a chat bot?" },
  { 1, 20, "demo", "Yes! I'd like to join that team." },
  { 1, 19, "bob", "Great, I've added you to the team list." },
  { 2, 40, "alice", "Next hike: Sunday, 12 km along the ridge. ⛰️" },
  { 2, 39, "bob", "Weather looks good. Meeting point at the station?" },
  { 2, 8, "alice", "Yes, 8:30 at the main entrance." },
  { 2, 2, "demo", "Looking forward to it!" },
};

typedef struct
{
  OmHs  *hs;
  char  *room_id;
  char  *event_id;
  char  *sender;
  char  *body;
  guint  source_id;
} DemoReply;

static char *
alias_for (OmHs     *hs,
           guint     i)
{
  return g_strdup_printf ("#%s-%s-demo:%s", demo_rooms[i].type, demo_rooms[i].slug, hs->server_name);
}

static JsonObject *
obj_new (const char *first_key,
         ...)
{
  JsonObject *o = json_object_new ();
  const char *key = first_key;
  va_list ap;

  va_start (ap, first_key);
  while (key)
    {
      json_object_set_string_member (o, key, va_arg (ap, const char *));
      key = va_arg (ap, const char *);
    }
  va_end (ap);
  return o;
}

static void
put_state (OmHs       *hs,
           const char *room_id,
           const char *sender,
           const char *type,
           const char *state_key,
           JsonObject *content)
{
  om_hs_event_free (om_hs_send_state (hs, room_id, sender, type, state_key, content));
  json_object_unref (content);
}

static JsonObject *
via_content (OmHs    *hs,
             gboolean canonical)
{
  JsonObject *c = json_object_new ();
  JsonArray *via = json_array_new ();

  json_array_add_string_element (via, hs->server_name);
  json_object_set_array_member (c, "via", via);
  if (canonical)
    json_object_set_boolean_member (c, "canonical", TRUE);
  return c;
}

static char *
create_room (OmHs       *hs,
             const char *creator,
             const char *json)
{
  g_autoptr(JsonObject) body = om_hs_parse_object (json);
  g_autofree char *error = NULL;
  const char *errcode = NULL;
  guint status = 0;
  char *room_id = om_hs_create_room (hs, creator, body, &errcode, &error, &status);

  if (room_id == NULL)
    g_error ("demo seed: createRoom failed: %s", error);
  return room_id;
}

static void
seed (OmHs *hs)
{
  g_autofree char *alice = om_hs_user_id (hs, "alice");
  g_autofree char *bob = om_hs_user_id (hs, "bob");
  g_autofree char *demo = om_hs_user_id (hs, "demo");
  g_autofree char *concierge = om_hs_user_id (hs, "concierge");
  g_autofree char *concierge_pw = om_hs_random_string (16, FALSE);
  const char *members[] = { demo, bob, concierge };
  g_autofree char *space_id = NULL;
  g_autofree char *invite_json = NULL;
  char *room_ids[G_N_ELEMENTS (demo_rooms)] = { NULL };
  gint64 now = om_hs_now_ms ();

  om_hs_user_create (hs, "demo", "demo", FALSE, "Demo User");
  om_hs_user_create (hs, "alice", "alice", FALSE, "Alice");
  om_hs_user_create (hs, "bob", "bob", FALSE, "Bob");
  om_hs_user_create (hs, "concierge", concierge_pw, FALSE, "OpenMeet Concierge");

  /* Everything is dated two days back, as if the tenant had been used. */
  hs->seed_ts = now - 48 * HOUR_MS;
  invite_json = g_strdup_printf ("[\"%s\",\"%s\",\"%s\"]", demo, bob, concierge);
  {
    g_autofree char *json = g_strdup_printf (
      "{\"name\":\"OpenMeet Demo\",\"topic\":\"The demo tenant\",\"preset\":\"public_chat\","
      "\"room_alias_name\":\"tenant-demo\",\"creation_content\":{\"type\":\"m.space\"},"
      "\"initial_state\":[{\"type\":\"net.openmeet.tenant\",\"state_key\":\"\",\"content\":"
      "{\"tenant_id\":\"demo\",\"name\":\"OpenMeet Demo\",\"domain\":\"demo.openmeet.net\"}}]}");
    space_id = create_room (hs, alice, json);
  }
  for (guint i = 0; i < G_N_ELEMENTS (members); i++)
    om_hs_set_membership (hs, space_id, members[i], members[i], "join", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (demo_rooms); i++)
    {
      const DemoRoom *r = &demo_rooms[i];
      g_autofree char *json = g_strdup_printf (
        "{\"name\":\"%s\",\"topic\":\"%s\",\"preset\":\"private_chat\",\"room_alias_name\":\"%s-%s-demo\","
        "\"invite\":%s,\"initial_state\":[{\"type\":\"net.openmeet.entity\",\"state_key\":\"\","
        "\"content\":{\"entity_type\":\"%s\",\"entity_slug\":\"%s\",\"tenant_id\":\"demo\",\"creator\":\"%s\"}}]}",
        r->name, r->topic, r->type, r->slug, invite_json, r->type, r->slug, alice);

      room_ids[i] = create_room (hs, alice, json);
      put_state (hs, space_id, alice, "m.space.child", room_ids[i], via_content (hs, FALSE));
      put_state (hs, room_ids[i], alice, "m.space.parent", space_id, via_content (hs, TRUE));
      for (guint m = 0; m < G_N_ELEMENTS (members); m++)
        om_hs_set_membership (hs, room_ids[i], members[m], members[m], "join", NULL);
    }

  for (guint i = 0; i < G_N_ELEMENTS (demo_messages); i++)
    {
      const DemoMessage *m = &demo_messages[i];
      g_autofree char *sender = om_hs_user_id (hs, m->sender);
      g_autoptr(JsonObject) c = obj_new ("msgtype", "m.text", "body", m->body, NULL);
      g_autoptr(OmHsEvent) ev = NULL;

      hs->seed_ts = 0;
      ev = om_hs_event_create (hs, room_ids[m->room], sender, "m.room.message", NULL, c, NULL, NULL,
                               now - (gint64) m->hours_ago * HOUR_MS + (gint64) i * 61 * 1000);
    }
  hs->seed_ts = 0;
  for (guint i = 0; i < G_N_ELEMENTS (demo_rooms); i++)
    g_free (room_ids[i]);
}

void
om_hs_demo_seed (OmHs *hs)
{
  g_autofree char *first_alias = alias_for (hs, 0);
  g_autofree char *existing = om_hs_alias_lookup (hs, first_alias);

  if (existing == NULL)
    seed (hs);

  hs->demo_rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (demo_rooms); i++)
    {
      g_autofree char *alias = alias_for (hs, i);
      char *room_id = om_hs_alias_lookup (hs, alias);

      if (room_id)
        g_hash_table_add (hs->demo_rooms, room_id);
    }
  g_printerr ("om-test-homeserver: demo mode on %s (server name %s)\n"
              "  users: demo/demo, alice/alice, bob/bob (password = user name)\n"
              "  rooms: #event-board-games-night-demo, #event-hackathon-demo, #group-hiking-demo"
              " in the space #tenant-demo\n"
              "  @concierge answers every message in those rooms\n",
              hs->base_url, hs->server_name);
}

static void
reply_free (DemoReply *r)
{
  if (r->source_id)
    g_source_remove (r->source_id);
  g_free (r->room_id);
  g_free (r->event_id);
  g_free (r->sender);
  g_free (r->body);
  g_free (r);
}

static char *
reply_text (OmHs      *hs,
            DemoReply *r)
{
  g_autofree char *name = om_hs_user_dup_displayname (hs, r->sender);
  g_autoptr(OmHsEvent) room_name = om_hs_state_get (hs, r->room_id, "m.room.name", "");
  g_autoptr(JsonObject) c = room_name ? om_hs_parse_object (room_name->content) : NULL;
  const char *room = c && json_object_has_member (c, "name") ? json_object_get_string_member (c, "name")
                                                             : "this room";
  g_autofree char *lower = g_utf8_strdown (r->body ? r->body : "", -1);

  if (strstr (lower, "hello") || strstr (lower, "hi ") || g_str_has_prefix (lower, "hi"))
    return g_strdup_printf ("Hello %s! 👋 Welcome to %s. Ask me anything about it.", name, room);
  if (strstr (lower, "when") || strstr (lower, "time"))
    return g_strdup_printf ("Good question, %s — the details of %s are in the room topic. "
                            "I'll remind everyone the day before.", name, room);
  if (strstr (lower, "thank"))
    return g_strdup_printf ("You're welcome, %s! 😊", name);
  return g_strdup_printf ("Thanks for your message, %s! I'm the OpenMeet concierge for %s — "
                          "a host will get back to you soon.", name, room);
}

static gboolean
concierge_reply_cb (gpointer user_data)
{
  DemoReply *r = user_data;
  OmHs *hs = r->hs;
  g_autofree char *concierge = om_hs_user_id (hs, "concierge");
  g_autofree char *text = reply_text (hs, r);
  g_autoptr(JsonObject) c = obj_new ("msgtype", "m.text", "body", text, NULL);
  g_autoptr(OmHsEvent) ev = NULL;

  r->source_id = 0;
  hs->demo_timers = g_list_remove (hs->demo_timers, r);
  om_hs_typing_set (hs, r->room_id, concierge, FALSE, 0);
  ev = om_hs_event_create (hs, r->room_id, concierge, "m.room.message", NULL, c, NULL, NULL, 0);
  om_hs_receipt_set (hs, r->room_id, concierge, "m.read", NULL, r->event_id);
  reply_free (r);
  return G_SOURCE_REMOVE;
}

static gboolean
concierge_start_cb (gpointer user_data)
{
  DemoReply *r = user_data;
  g_autofree char *concierge = om_hs_user_id (r->hs, "concierge");

  om_hs_typing_set (r->hs, r->room_id, concierge, TRUE, 30000);
  r->source_id = g_timeout_add (600, concierge_reply_cb, r);
  return G_SOURCE_REMOVE;
}

void
om_hs_demo_on_event (OmHs      *hs,
                     OmHsEvent *ev)
{
  g_autofree char *concierge = NULL;
  g_autoptr(JsonObject) c = NULL;
  DemoReply *r;

  if (hs->demo_rooms == NULL || !g_hash_table_contains (hs->demo_rooms, ev->room_id) ||
      !g_str_equal (ev->type, "m.room.message"))
    return;
  concierge = om_hs_user_id (hs, "concierge");
  if (g_str_equal (ev->sender, concierge))
    return;
  c = om_hs_parse_object (ev->content);

  /* Not from inside event_create(): start on the next loop iteration. */
  r = g_new0 (DemoReply, 1);
  r->hs = hs;
  r->room_id = g_strdup (ev->room_id);
  r->event_id = g_strdup (ev->event_id);
  r->sender = g_strdup (ev->sender);
  r->body = c && json_object_has_member (c, "body") ? g_strdup (json_object_get_string_member (c, "body")) : NULL;
  r->source_id = g_idle_add (concierge_start_cb, r);
  hs->demo_timers = g_list_prepend (hs->demo_timers, r);
}

void
om_hs_demo_shutdown (OmHs *hs)
{
  g_list_free_full (g_steal_pointer (&hs->demo_timers), (GDestroyNotify) reply_free);
  g_clear_pointer (&hs->demo_rooms, g_hash_table_unref);
}
