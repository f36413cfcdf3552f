/*
 * i18n.h: languages and dates through ICU. A customer's language is a
 * BCP 47 tag, checked and put in canonical form here; times in messages
 * are written by ICU in that language and the customer's zone, with the
 * zone named in words ("Denver Time", "hora de Denver"), never as an
 * offset. Thread-safe: formatters are opened once per (language, zone)
 * and shared under a lock (ICU's are not safe to use from two threads).
 */
#ifndef CBD_I18N_H
#define CBD_I18N_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define I18N_LANG_MAX 36 /* a canonical tag and its NUL */

/*
 * Check tag is BCP 47 naming a language ICU knows, and write its
 * canonical form ("ES-mx" -> "es-MX", "iw" -> "he") into out (at least
 * I18N_LANG_MAX bytes). Returns 0, or -1 when it is not such a tag.
 */
int i18n_language(const char *tag, char *out, size_t size) CBD_MUSTCHECK;
/* A time as a person in some zone reads it, in some language. */
struct i18n_time {
	char date[160]; /* "Wednesday, December 2 at 3:00 PM" */
	char zone[96];  /* the zone in words: "Denver Time" */
	char city[64];  /* the zone's city: "Denver" */
};

/* t in zone tz and language lang (unknown ones: English, UTC). */
void i18n_format_time(int64_t t, const char *tz, const char *lang,
		      struct i18n_time *out);
/* Close every cached formatter (at exit; tests). */
void i18n_clear(void);

#endif
