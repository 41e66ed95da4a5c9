/* om-types.h — forward declarations of the core's types
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _OmEvent      OmEvent;
typedef struct _OmHttp       OmHttp;
typedef struct _OmOutbox     OmOutbox;
typedef struct _OmPresence   OmPresence;
typedef struct _OmReceipts   OmReceipts;
typedef struct _OmRoom       OmRoom;
typedef struct _OmRoomList   OmRoomList;
typedef struct _OmSession    OmSession;
typedef struct _OmSsoListener OmSsoListener;
typedef struct _OmStore      OmStore;
typedef struct _OmSync       OmSync;
typedef struct _OmTimeline   OmTimeline;
typedef struct _OmTyping     OmTyping;

G_END_DECLS
