/* sms.c: placeholder until the module lands. */
#include "sms.h"
