/* om-credentials.c — placeholder until the module lands (issue 3) */
#include <glib.h>
