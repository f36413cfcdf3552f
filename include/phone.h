/*
 * phone.h: phone numbers as people type them, through libphonenumber.
 * Parse a number in national or international form (with a region to
 * read national forms in), check it is a real number of its country, and
 * write it as E.164 (stored, sent to gateways) or in the national form
 * people read. The library is C++; phone.cc is the only C++ in the daemon
 * and these are its C entry points. All are thread-safe.
 */
#ifndef CBD_PHONE_H
#define CBD_PHONE_H

#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the library can tell about the line behind a valid number. */
enum phone_line {
	PHONE_LINE_MOBILE,
	PHONE_LINE_FIXED,           /* known not to take texts */
	PHONE_LINE_FIXED_OR_MOBILE, /* the number alone cannot tell (US) */
	PHONE_LINE_OTHER,           /* toll free, VoIP, pager ... */
};

struct phone_number {
	char e164[24];     /* "+493012345678" */
	char national[48]; /* "030 12345678" */
	char region[4];    /* "DE", or "001" for non-geographic numbers */
	enum phone_line line;
};

/*
 * Parse text (spaces, dashes, dots, brackets allowed) as a number of
 * region (ISO 3166 alpha-2, may be NULL or "" when the text starts with
 * '+'). Returns 0 with *out filled, or -1 with *problem set to a static
 * sentence for the customer: not a number, too short, too long, unknown
 * country code, not a valid number for its region.
 */
int phone_parse(const char *text, const char *region, struct phone_number *out,
		const char **problem) CBD_MUSTCHECK;
/* The national form of a stored E.164 number, or e164 itself when the
 * library cannot read it. Writes at most size bytes. */
void phone_national(const char *e164, char *buf, size_t size);
/* 1 when region is a region code the library has numbers for. */
int phone_region_known(const char *region);
/* The country of an IANA zone ("America/Denver" -> "US") into region (at
 * least 4 bytes); "" when the zone has none (UTC, Etc/...). */
void phone_region_of_zone(const char *tz, char *region, size_t size);

#ifdef __cplusplus
}
#endif

#endif
