/*
 * xalloc.h: allocation that cannot fail. Out of memory is fatal: every
 * acknowledged change is in MariaDB already, so a restart loses nothing,
 * and per-call OOM paths would never be tested.
 */
#ifndef CBD_XALLOC_H
#define CBD_XALLOC_H

#include <stddef.h>

#include "common.h"

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a new string the caller frees. */
char *xasprintf(const char *fmt, ...) CBD_PRINTF(1, 2);

#endif
