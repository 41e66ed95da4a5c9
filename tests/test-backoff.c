/* test-backoff.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-backoff.h"

typedef struct {
  guint failures;
  guint low;
  guint high;
} Case;

/* base 500 ms, cap 30 s */
static const Case cases[] = {
  { 1, 250, 500 },
  { 2, 500, 1000 },
  { 3, 1000, 2000 },
  { 6, 8000, 16000 },
  { 7, 15000, 30000 },
  { 8, 15000, 30000 },
  { 1000, 15000, 30000 },
};

static void
test_bounds (void)
{
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      guint lowest = G_MAXUINT, highest = 0;

      for (guint i = 0; i < 2000; i++)
        {
          guint d = om_backoff_delay_ms (cases[c].failures, 500, 30000);

          g_assert_cmpuint (d, >=, cases[c].low);
          g_assert_cmpuint (d, <=, cases[c].high);
          lowest = MIN (lowest, d);
          highest = MAX (highest, d);
        }
      /* Jitter really spreads retries over the window. */
      g_assert_cmpuint (highest - lowest, >, (cases[c].high - cases[c].low) / 2);
    }
}

static void
test_tiny_base (void)
{
  for (guint i = 0; i < 100; i++)
    g_assert_cmpuint (om_backoff_delay_ms (1, 0, 10), <=, 2);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/backoff/bounds", test_bounds);
  g_test_add_func ("/backoff/tiny-base", test_tiny_base);
  return g_test_run ();
}
