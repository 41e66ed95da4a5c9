/* om-room-actions.c — placeholder until the module lands */
#include <glib.h>
