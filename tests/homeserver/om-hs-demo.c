/* om-hs-demo.c — --demo: a seeded tenant and the concierge bot
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "om-hs-demo"

#include "om-hs.h"

void
om_hs_demo_seed (OmHs *hs)
{
}

void
om_hs_demo_on_event (OmHs      *hs,
                     OmHsEvent *ev)
{
}

void
om_hs_demo_shutdown (OmHs *hs)
{
}
