/* om-room-list.c — placeholder until the module lands */
#include <glib.h>
