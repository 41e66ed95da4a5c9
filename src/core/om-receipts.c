/* om-receipts.c — placeholder until the module lands */
#include <glib.h>
