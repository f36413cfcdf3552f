/* roster.c: placeholder until the module lands. */
#include "roster.h"
