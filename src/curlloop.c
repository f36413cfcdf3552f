/* curlloop.c: placeholder until the module lands. */
#include "curlloop.h"
