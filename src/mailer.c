/* mailer.c: placeholder until the module lands. */
#include "mailer.h"
