/* om-session.c — placeholder until the module lands */
#include <glib.h>
