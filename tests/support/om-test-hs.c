/* placeholder until the test support lands */
#include "om-test-hs.h"
