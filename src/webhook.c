/* webhook.c: placeholder until the module lands. */
#include "webhook.h"
