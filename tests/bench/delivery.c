/* delivery.c — end-to-end message latency between two clients
 *
 * Alice and Bob, two full sessions in this process, share a room on the
 * test homeserver.  Alice sends N messages (one every --interval ms);
 * for each we time from om_room_send_message() to the moment the message
 * shows up in Bob's timeline model.  The homeserver records when each
 * send request arrived and when the /sync response carrying it to Bob
 * left; what remains of the end-to-end time is the clients' own share
 * (queueing, HTTP, parsing, applying, storing, the model signal).
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
  GHashTable *server_share;
  double *e2e, *client;
  guint n_client = 0;
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
  server_share = g_hash_table_new (g_str_hash, g_str_equal);
  if (status == 200 && JSON_NODE_HOLDS_OBJECT (timings))
    {
      JsonArray *events = json_object_get_array_member (json_node_get_object (timings), "events");

      for (guint i = 0; i < json_array_get_length (events); i++)
        {
          JsonObject *e = json_array_get_object_element (events, i);
          gint64 received = json_object_get_int_member_with_default (e, "received_us", 0);
          gint64 delivered = json_object_get_int_member_with_default (e, "delivered_us", 0);

          if (received > 0 && delivered >= received)
            g_hash_table_insert (server_share,
                                 (gpointer) json_object_get_string_member (e, "event_id"),
                                 GINT_TO_POINTER ((int) (delivered - received)));
        }
    }

  e2e = g_new (double, b.n);
  client = g_new (double, b.n);
  for (guint i = 0; i < b.n; i++)
    {
      gpointer share;

      e2e[i] = (b.samples[i].seen_us - b.samples[i].queued_us) / 1000.0;
      if (g_hash_table_lookup_extended (server_share, b.samples[i].event_id, NULL, &share))
        client[n_client++] = e2e[i] - GPOINTER_TO_INT (share) / 1000.0;
    }
  qsort (e2e, b.n, sizeof (double), cmp_double);
  qsort (client, n_client, sizeof (double), cmp_double);

  printf ("delivery: %u messages, one every %u ms, two clients on one machine\n", b.n, b.interval_ms);
  printf ("end-to-end latency (ms):   p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n",
          percentile (e2e, b.n, 50), percentile (e2e, b.n, 95), percentile (e2e, b.n, 99), e2e[b.n - 1]);
  if (n_client > 0)
    printf ("client share (ms):         p50 %.2f  p95 %.2f  p99 %.2f  max %.2f  (%u samples)\n",
            percentile (client, n_client, 50), percentile (client, n_client, 95),
            percentile (client, n_client, 99), client[n_client - 1], n_client);
  else
    printf ("client share: the homeserver reported no timings\n");

  g_hash_table_unref (server_share);
  g_free (e2e);
  g_free (client);
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
