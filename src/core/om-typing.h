/* om-typing.h — our typing notifications
 *
 * The composer calls om_typing_set (room, TRUE) on every keystroke; this
 * sends "typing: true" with a 30 s timeout at most once every 20 s while
 * typing goes on, "typing: false" after 5 s without input, when the input
 * is cleared, or when a message is sent.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>

#include "om-types.h"

G_BEGIN_DECLS

#define OM_TYPE_TYPING (om_typing_get_type ())
G_DECLARE_FINAL_TYPE (OmTyping, om_typing, OM, TYPING, GObject)

#define OM_TYPING_SERVER_TIMEOUT_MS 30000
#define OM_TYPING_RESEND_MS         20000
#define OM_TYPING_IDLE_MS            5000

OmTyping    *om_typing_new            (OmSession   *session);
void         om_typing_set            (OmTyping    *self,
                                       OmRoom      *room,
                                       gboolean     typing);
/* Number of typing requests sent (tests and benchmarks). */
guint        om_typing_get_n_requests (OmTyping    *self);
/* Overrides the idle delay (tests). */
void         om_typing_set_idle_ms    (OmTyping    *self,
                                       guint        idle_ms);

G_END_DECLS
