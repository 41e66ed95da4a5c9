/* om-backoff.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "om-backoff.h"

guint
om_backoff_delay_ms (guint failures,
                     guint base_ms,
                     guint max_ms)
{
  guint ceiling = MAX (base_ms, 2);

  for (guint i = 1; i < failures && ceiling < max_ms; i++)
    ceiling *= 2;
  ceiling = MIN (ceiling, max_ms);

  return ceiling / 2 + g_random_int_range (0, (gint32) (ceiling / 2) + 1);
}
