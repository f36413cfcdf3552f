/* slots.c: placeholder until the module lands. */
#include "slots.h"
