/*
 * valid.h: checks on what clients send. Each returns 1 when the value is
 * acceptable, 0 otherwise; callers turn 0 into a field error.
 */
#ifndef CBD_VALID_H
#define CBD_VALID_H

#include <stddef.h>

/* E.164: '+', a non-zero digit, 7 to 15 digits in all. */
int valid_e164(const char *s);
/* Well-formed UTF-8 without NUL or C0 control characters except \t \n. */
int valid_text(const char *s, size_t len);
/* Number of code points, for length limits that users understand. */
size_t valid_utf8_len(const char *s);
/* A plausible e-mail address: one '@', no spaces, a dot in the domain. */
int valid_email(const char *s);
/* An IANA zone name libical knows (thread-safe). */
int valid_tz(const char *name);

#endif
