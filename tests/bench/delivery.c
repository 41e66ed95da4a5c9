/* delivery.c — end-to-end message latency between two clients
 *
 * Alice and Bob, two full sessions in this process, share a room on the
 * test homeserver.  Alice sends N messages (one every --interval ms);
 * for each we time from om_room_send_message() to the moment the message
 * shows up in Bob's timeline model.  The homeserver records when each
 * send request arrived and when the /sync response carrying it to Bob
 * left; what remains of the end-to-end time is the clients' own share
 * (queueing, HTTP, parsing, applying, storing, the model signal), split
 * into the sender's side (send call → the homeserver has the request) and
 * the receiver's (the /sync answer is written → the model has the event).
 *
 *   build/tests/bench/bench-delivery [-n 500] [--interval 20]
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>

#include "om-event.h"
#include "om-room.h"
#include "om-session.h"
#include "om-sync.h"
#include "om-test-session.h"
#include "om-timeline.h"

typedef struct {
  gint64  queued_us;     /* alice called send */
  gint64  received_us;   /* the homeserver had alice's PUT (0: unknown) */
  gint64  delivered_us;  /* the homeserver finished writing it to bob's /sync (0: unknown) */
  gint64  seen_us;       /* bob's timeline had it */
  char   *event_id;
} Sample;

typedef struct {
  OmTestHs  *hs;
  OmSession *alice;
  OmSession *bob;
  OmRoom    *alice_room;
  char      *room_id;
  char      *bob_id;
  Sample    *samples;
  guint      n;
  guint      next;
  guint      seen;
  guint      interval_ms;
} Bench;

static int
cmp_double (const void *a,
            const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
percentile (double *sorted,
            guint   n,
            double  p)
{
  guint i = (guint) (p / 100.0 * (n - 1) + 0.5);

  return sorted[MIN (i, n - 1)];
}

/* Sorts @values and prints their percentiles in milliseconds. */
static void
print_row (const char *name,
           double     *values,
           guint       n)
{
  qsort (values, n, sizeof (double), cmp_double);
  printf ("%-22s p50 %6.2f  p95 %6.2f  p99 %6.2f  max %6.2f ms\n", name,
          percentile (values, n, 50), percentile (values, n, 95),
          percentile (values, n, 99), values[n - 1]);
}

static void
bob_items_changed (GListModel *model,
                   guint       position,
                   guint       removed,
                   guint       added,
                   Bench      *b)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(OmEvent) event = g_list_model_get_item (model, i);
      const char *body = om_event_get_body (event);
      guint index;

      if (body == NULL || !g_str_has_prefix (body, "bench "))
        continue;
      index = (guint) g_ascii_strtoull (body + 6, NULL, 10);
      if (index >= b->n || b->samples[index].seen_us != 0)
        continue;
      b->samples[index].seen_us = now;
      b->samples[index].event_id = g_strdup (om_event_get_event_id (event));
      b->seen++;
    }
}

static gboolean
send_next (gpointer user_data)
{
  Bench *b = user_data;
  g_autofree char *text = NULL;

  if (b->next >= b->n)
    return G_SOURCE_REMOVE;

  text = g_strdup_printf ("bench %u", b->next);
  b->samples[b->next].queued_us = g_get_monotonic_time ();
  om_room_send_message (b->alice_room, "m.text", text);
  b->next++;
  return G_SOURCE_CONTINUE;
}

static gboolean
all_seen (gpointer data)
{
  Bench *b = data;

  return b->seen == b->n;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("— message delivery latency");
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *alice_dir = NULL;
  g_autofree char *bob_dir = NULL;
  g_autofree char *path = NULL;
  g_autofree char *escaped_room = NULL;
  g_autofree char *escaped_user = NULL;
  g_autoptr(JsonNode) timings = NULL;
  GHashTable *by_id;
  double *e2e, *client, *sender, *receiver;
  guint n_split = 0;
  guint status;
  int n = 500;
  int interval = 20;
  GOptionEntry entries[] = {
    { "messages", 'n', 0, G_OPTION_ARG_INT, &n, "Messages to send (default 500)", "N" },
    { "interval", 'i', 0, G_OPTION_ARG_INT, &interval, "Milliseconds between sends (default 20)", "MS" },
    { NULL }
  };
  Bench b = { 0 };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  b.n = (guint) CLAMP (n, 1, 100000);
  b.interval_ms = (guint) CLAMP (interval, 0, 10000);
  b.samples = g_new0 (Sample, b.n);

  b.hs = om_test_hs_start (NULL);
  dir = om_test_mkdtemp ();
  g_free (om_test_hs_create_user (b.hs, "alice", "secret", FALSE));
  b.bob_id = om_test_hs_create_user (b.hs, "bob", "secret", FALSE);

  alice_dir = g_build_filename (dir, "alice", NULL);
  bob_dir = g_build_filename (dir, "bob", NULL);
  /* The clients' default long-poll, as in real use. */
  b.alice = om_test_sign_in (b.hs, alice_dir, "alice", "secret", OM_SYNC_TIMEOUT_MS);
  b.bob = om_test_sign_in (b.hs, bob_dir, "bob", "secret", OM_SYNC_TIMEOUT_MS);
  b.room_id = om_test_shared_room (b.alice, b.bob, "Bench", NULL);

  b.alice_room = om_session_lookup_room (b.alice, b.room_id);
  g_signal_connect (om_room_get_timeline (om_session_lookup_room (b.bob, b.room_id)),
                    "items-changed", G_CALLBACK (bob_items_changed), &b);

  if (b.interval_ms == 0)
    while (send_next (&b) == G_SOURCE_CONTINUE)
      ;
  else
    g_timeout_add (b.interval_ms, send_next, &b);

  if (!om_test_wait_until (all_seen, &b, 60000 + b.n * (b.interval_ms + 50)))
    g_error ("only %u of %u messages arrived", b.seen, b.n);

  /* The homeserver's side of each message. */
  escaped_room = g_uri_escape_string (b.room_id, NULL, FALSE);
  escaped_user = g_uri_escape_string (b.bob_id, NULL, FALSE);
  path = g_strdup_printf ("/_test/timings?room_id=%s&user_id=%s", escaped_room, escaped_user);
  timings = om_test_hs_request (b.hs, "GET", path, NULL, NULL, &status);
  by_id = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < b.n; i++)
    g_hash_table_insert (by_id, b.samples[i].event_id, &b.samples[i]);
  if (status == 200 && JSON_NODE_HOLDS_OBJECT (timings))
    {
      JsonArray *events = json_object_get_array_member (json_node_get_object (timings), "events");

      for (guint i = 0; i < json_array_get_length (events); i++)
        {
          JsonObject *e = json_array_get_object_element (events, i);
          Sample *sample = g_hash_table_lookup (by_id, json_object_get_string_member (e, "event_id"));

          if (sample == NULL)
            continue;
          sample->received_us = json_object_get_int_member_with_default (e, "received_us", 0);
          sample->delivered_us = json_object_get_int_member_with_default (e, "delivered_us", 0);
        }
    }
  g_hash_table_unref (by_id);

  e2e = g_new (double, b.n);
  client = g_new (double, b.n);
  sender = g_new (double, b.n);
  receiver = g_new (double, b.n);
  for (guint i = 0; i < b.n; i++)
    {
      Sample *sample = &b.samples[i];

      e2e[i] = (sample->seen_us - sample->queued_us) / 1000.0;
      if (sample->received_us > 0 && sample->delivered_us >= sample->received_us)
        {
          sender[n_split] = (sample->received_us - sample->queued_us) / 1000.0;
          receiver[n_split] = (sample->seen_us - sample->delivered_us) / 1000.0;
          client[n_split] = sender[n_split] + receiver[n_split];
          n_split++;
        }
    }

  printf ("delivery: %u messages, one every %u ms, two clients on one machine\n", b.n, b.interval_ms);
  print_row ("end-to-end latency", e2e, b.n);
  if (n_split > 0)
    {
      print_row ("client share", client, n_split);
      print_row ("  sender side", sender, n_split);
      print_row ("  receiver side", receiver, n_split);
    }
  else
    printf ("client share: the homeserver reported no timings\n");

  g_free (e2e);
  g_free (client);
  g_free (sender);
  g_free (receiver);
  for (guint i = 0; i < b.n; i++)
    g_free (b.samples[i].event_id);
  g_free (b.samples);
  g_clear_object (&b.alice);
  g_clear_object (&b.bob);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  om_test_hs_free (b.hs);
  om_test_rmdir (dir);
  g_free (b.room_id);
  g_free (b.bob_id);
  return 0;
}
