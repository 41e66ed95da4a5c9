/* om-outbox.c — placeholder until the module lands */
#include <glib.h>
