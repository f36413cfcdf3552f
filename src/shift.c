/* shift.c: placeholder until the module lands. */
#include "shift.h"
