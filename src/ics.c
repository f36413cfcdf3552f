/* ics.c: placeholder until the module lands. */
#include "ics.h"
