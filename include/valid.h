/*
 * valid.h: checks on what clients send. Each returns 1 when the value is
 * acceptable, 0 otherwise; callers turn 0 into a field error.
 */
#ifndef CBD_VALID_H
#define CBD_VALID_H

#include <stddef.h>

#include "common.h"

struct phone_number;

/* E.164: '+', a non-zero digit, 7 to 15 digits in all. */
int valid_e164(const char *s);
/* Well-formed UTF-8 without NUL or C0 control characters except \t \n. */
int valid_text(const char *s, size_t len);
/* Number of code points, for length limits that users understand. */
size_t valid_utf8_len(const char *s);
/* A plausible e-mail address: one '@', a dot-atom local part, and a
 * domain of two or more well-formed labels. */
int valid_email(const char *s);
/* 1 when s (valid UTF-8) holds nothing visible: only Unicode white space,
 * no-break spaces and zero-width characters. "" is blank. */
int valid_is_blank(const char *s);
/* A geographic IANA zone name (Area/Location) or UTC that libical knows
 * (thread-safe); not Factory, posixrules, right/..., or old aliases. */
int valid_tz(const char *name);

/*
 * The country whose national numbers a phone written without + is read as:
 * region when given (an unknown one is 400 invalid-region on field), else
 * the country of zone tz (may be NULL), else default_region ("" : none),
 * into out.
 */
int valid_phone_region(const char *region, const char *tz,
		       const char *default_region, const char *field, char *out,
		       size_t size, struct cbd_err *err) CBD_MUSTCHECK;
/*
 * A phone number as a person types it, read in region (a country code;
 * NULL or "" when none is known), into out. Returns 0, or -1 with err set
 * (400 invalid-phone on field, the detail naming the problem).
 */
int valid_phone(const char *text, const char *region, const char *field,
		struct phone_number *out, struct cbd_err *err) CBD_MUSTCHECK;

#endif
