/* sched.c: placeholder until the module lands. */
#include "sched.h"
