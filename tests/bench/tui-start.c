/* tui-start.c — how fast the full-screen terminal client shows a big
 * account, and how much memory it holds then
 *
 *   bench-tui-start [-n RUNS] [--rooms N] [--messages M]
 *
 * Starts the test homeserver, seeds one account with N rooms (default
 * 1,000) of M messages each, lets openmeet-tui --line sync it once into its
 * store (the saved sign-in goes to a file: no keyring in the pty), then
 * starts the full-screen client RUNS times (warm start: saved sign-in,
 * rooms from the store) in an 80×24 pseudo-terminal and measures from the
 * fork to the first room name on the terminal, and the client's resident
 * memory (VmRSS) at that moment.  Prints one line per run and a summary:
 *
 *   tui-start: 1000 rooms, 10 runs: first room list p50 31.2 ms, max 40.1 ms; RSS p50 21.5 MB, max 22.0 MB
 *
 * Run from the build directory: build/tests/bench/bench-tui-start.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "om-test-pty.h"
#include "om-test-session.h"

typedef struct {
  OmTestPty  *pty;
  const char *needle;
} Seen;

static gboolean
seen (gpointer data)
{
  Seen *s = data;

  return strstr (s->pty->out->str, s->needle) != NULL || om_test_pty_exited (s->pty);
}

static double
rss_mb (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents (path, &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  return line != NULL ? g_ascii_strtod (line + 6, NULL) / 1024.0 : -1;
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
median (GArray *values)
{
  g_array_sort (values, compare_doubles);
  return g_array_index (values, double, values->len / 2);
}

static double
maximum (GArray *values)
{
  g_array_sort (values, compare_doubles);
  return g_array_index (values, double, values->len - 1);
}

int
main (int    argc,
      char **argv)
{
  int runs = 10, n_rooms = 1000, n_messages = 10;
  GOptionEntry entries[] = {
    { "runs", 'n', 0, G_OPTION_ARG_INT, &runs, "Warm starts to measure (10)", "N" },
    { "rooms", 0, 0, G_OPTION_ARG_INT, &n_rooms, "Rooms in the account (1000)", "N" },
    { "messages", 0, 0, G_OPTION_ARG_INT, &n_messages, "Messages per room (10)", "M" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("— time to the first room list");
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) times = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) rss = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *builddir = NULL;
  g_autofree char *user_id = NULL;
  g_autofree char *body = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *home = NULL;
  g_autoptr(JsonNode) seeded = NULL;
  OmTestHs *hs;
  OmTestPty *pty;
  guint status = 0;
  gint64 t0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  runs = CLAMP (runs, 1, 1000);

  /* The pty helper finds the client next to the tests. */
  {
    g_autofree char *bench_dir = g_path_get_dirname (argv[0]);

    builddir = g_build_filename (bench_dir, "..", NULL);
  }
  if (g_getenv ("G_TEST_BUILDDIR") == NULL)
    g_setenv ("G_TEST_BUILDDIR", builddir, TRUE);
  if (g_getenv ("OM_TEST_HOMESERVER") == NULL)
    {
      g_autofree char *hs_path = g_build_filename (builddir, "homeserver", "om-test-homeserver", NULL);

      g_setenv ("OM_TEST_HOMESERVER", hs_path, TRUE);
    }

  hs = om_test_hs_start (NULL);
  user_id = om_test_hs_create_user (hs, "bench", "bench-pw", FALSE);
  body = g_strdup_printf ("{\"user_id\":\"%s\",\"rooms\":%d,\"messages\":%d,\"name\":\"Bench\"}",
                          user_id, n_rooms, n_messages);
  t0 = g_get_monotonic_time ();
  seeded = om_test_hs_request (hs, "POST", "/_test/seed", NULL, body, &status);
  if (status != 200)
    g_error ("seeding failed (HTTP %u)", status);
  fprintf (stderr, "seeded %d rooms × %d messages in %.1f s\n", n_rooms, n_messages,
           (g_get_monotonic_time () - t0) / 1e6);

  /* One sync into the store, with the sign-in saved (to a file). */
  dir = om_test_mkdtemp ();
  home = g_build_filename (dir, "home", NULL);
  {
    const char *args[] = { "--line", "--homeserver", om_test_hs_get_url (hs), "--user", "bench", NULL };

    t0 = g_get_monotonic_time ();
    pty = om_test_pty_spawn (args, home, "bench-pw");
    om_test_pty_wait_output (pty, "-- connected", 120000);
    fprintf (stderr, "first sync of %d rooms in %.1f s\n", n_rooms, (g_get_monotonic_time () - t0) / 1e6);
    om_test_pty_type (pty, "/quit\n");
    if (om_test_pty_wait_exit (pty, 30000) != 0)
      g_error ("the line client did not exit cleanly");
    om_test_pty_free (pty);
  }

  for (int i = 0; i < runs; i++)
    {
      const char *args[] = { "--homeserver", om_test_hs_get_url (hs), NULL };
      Seen s = { NULL, "Bench " };
      double ms, mb;

      t0 = g_get_monotonic_time ();
      pty = om_test_pty_spawn (args, home, NULL);
      s.pty = pty;
      if (!om_test_wait_until (seen, &s, 30000) || om_test_pty_exited (pty))
        {
          om_test_pty_dump (pty, "no room list");
          g_error ("the full-screen client did not show the room list");
        }
      ms = (g_get_monotonic_time () - t0) / 1000.0;
      mb = rss_mb (pty->pid);
      g_array_append_val (times, ms);
      g_array_append_val (rss, mb);
      printf ("run %d: first room list %.1f ms, RSS %.1f MB\n", i + 1, ms, mb);
      om_test_pty_free (pty);
    }

  printf ("tui-start: %d rooms, %d runs: first room list p50 %.1f ms, max %.1f ms; "
          "RSS p50 %.1f MB, max %.1f MB (targets: 50 ms, 40 MB)\n",
          n_rooms, runs, median (times), maximum (times), median (rss), maximum (rss));

  om_test_hs_free (hs);
  om_test_rmdir (dir);
  return 0;
}
