/* om-backoff.h — how long to wait before trying again
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The delay before attempt @failures + 1: @base_ms doubling per failure up
 * to @max_ms, drawn uniformly from the upper half of that ceiling so that
 * many clients failing together do not retry in step.  @failures >= 1. */
guint    om_backoff_delay_ms    (guint failures,
                                 guint base_ms,
                                 guint max_ms);

G_END_DECLS
