/*
 * i18n.c: BCP 47 tags and date formatting with ICU (see i18n.h).
 *
 * udatpg gives, per language, the best pattern for a skeleton (weekday,
 * day, month name, hour and minutes in the language's own order and
 * clock); udat formats with it in the zone. Opening them is costly
 * (tens of microseconds, megabytes of data touched), so each (language,
 * zone) pair is opened once and kept; a daemon sees few of either.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/udat.h>
#include <unicode/udatpg.h>
#include <unicode/uloc.h>
#include <unicode/ustring.h>

#include "i18n.h"
#include "phone.h"
#include "xalloc.h"

/* Weekday, day, month in words, hour (the language's clock), minutes. */
#define I18N_DATE_SKELETON "EEEEdMMMMjmm"
/* The zone's generic location name: "Denver Time", not "MST" or an
 * offset, and the same word all year across a DST change. */
#define I18N_ZONE_PATTERN "VVVV"
#define I18N_CITY_PATTERN "VVV"
#define I18N_CACHE_MAX    256

struct i18n_fmt {
	char key[128]; /* "lang\tzone" */
	UDateFormat *date;
	UDateFormat *zone;
	UDateFormat *city;
};

static pthread_mutex_t i18n_lock = PTHREAD_MUTEX_INITIALIZER;
static struct i18n_fmt *i18n_cache;
static size_t i18n_ncache;

int
i18n_language(const char *tag, char *out, size_t size)
{
	UErrorCode st = U_ZERO_ERROR;
	char loc[ULOC_FULLNAME_CAPACITY], lang[ULOC_LANG_CAPACITY];
	int32_t parsed = 0;

	if (tag == NULL || *tag == '\0' || strlen(tag) >= I18N_LANG_MAX)
		return -1;
	uloc_forLanguageTag(tag, loc, sizeof(loc), &parsed, &st);
	if (U_FAILURE(st) || parsed != (int32_t)strlen(tag))
		return -1;
	/* A tag of the right shape may still name no language ("xx"): ICU
	 * knows a language when it has a three-letter code for it. */
	st = U_ZERO_ERROR;
	uloc_getLanguage(loc, lang, sizeof(lang), &st);
	if (U_FAILURE(st) || lang[0] == '\0' || !*uloc_getISO3Language(loc))
		return -1;
	st = U_ZERO_ERROR;
	uloc_toLanguageTag(loc, out, (int32_t)size, 1, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING)
		return -1;
	return 0;
}

static UDateFormat *
i18n_open(const char *lang, const UChar *tzid, const char *skeleton,
	  int is_pattern)
{
	UErrorCode st = U_ZERO_ERROR;
	UChar sk[32], pat[128];
	int32_t n;
	UDateTimePatternGenerator *g;
	UDateFormat *f;

	u_strFromUTF8(sk, CBD_ARRAY_LEN(sk), NULL, skeleton, -1, &st);
	if (is_pattern) {
		u_strcpy(pat, sk);
		n = u_strlen(pat);
	} else {
		g = udatpg_open(lang, &st);
		n = udatpg_getBestPattern(g, sk, -1, pat, CBD_ARRAY_LEN(pat),
					  &st);
		udatpg_close(g);
	}
	if (U_FAILURE(st))
		return NULL;
	f = udat_open(UDAT_PATTERN, UDAT_PATTERN, lang, tzid, -1, pat, n, &st);
	if (U_FAILURE(st)) {
		udat_close(f);
		return NULL;
	}
	return f;
}

/* Lock held. */
static void
i18n_close_all(void)
{
	for (size_t i = 0; i < i18n_ncache; i++) {
		udat_close(i18n_cache[i].date);
		udat_close(i18n_cache[i].zone);
		udat_close(i18n_cache[i].city);
	}
	i18n_ncache = 0;
}

/*
 * The locale to write dates in: a language without a country takes the
 * country of the zone when ICU has that variant (English in London writes
 * "2 December at 15:00", in Denver "December 2 at 3:00 PM"); a variant
 * ICU lacks (German in Denver) keeps the language's own ways.
 */
static void
i18n_locale(const char *lang, const char *tz, char *out, size_t size)
{
	char region[8], want[64];
	UErrorCode st = U_ZERO_ERROR;

	snprintf(out, size, "%s", lang);
	if (strchr(lang, '-') != NULL)
		return;
	phone_region_of_zone(tz, region, sizeof(region));
	if (region[0] == '\0')
		return;
	snprintf(want, sizeof(want), "%s_%s", lang, region);
	for (int32_t i = 0, n = uloc_countAvailable(); i < n; i++) {
		if (strcmp(uloc_getAvailable(i), want) == 0) {
			uloc_toLanguageTag(want, out, (int32_t)size, 0, &st);
			if (U_FAILURE(st))
				snprintf(out, size, "%s", lang);
			return;
		}
	}
}

/* The cached pair for lang and tz, opened on first use; lock held. */
static struct i18n_fmt *
i18n_get(const char *lang, const char *tz)
{
	char key[128], locale[64];
	UChar tzid[64];
	UErrorCode st = U_ZERO_ERROR;
	struct i18n_fmt *f;

	snprintf(key, sizeof(key), "%s\t%s", lang, tz);
	for (size_t i = 0; i < i18n_ncache; i++)
		if (strcmp(i18n_cache[i].key, key) == 0)
			return &i18n_cache[i];
	/* Many pairs: start again rather than grow without end. */
	if (i18n_ncache == I18N_CACHE_MAX)
		i18n_close_all();
	u_strFromUTF8(tzid, CBD_ARRAY_LEN(tzid), NULL, tz, -1, &st);
	if (U_FAILURE(st))
		return NULL;
	if (i18n_cache == NULL)
		i18n_cache = xcalloc(I18N_CACHE_MAX, sizeof(*i18n_cache));
	f = &i18n_cache[i18n_ncache];
	snprintf(f->key, sizeof(f->key), "%s", key);
	i18n_locale(lang, tz, locale, sizeof(locale));
	f->date = i18n_open(locale, tzid, I18N_DATE_SKELETON, 0);
	f->zone = i18n_open(lang, tzid, I18N_ZONE_PATTERN, 1);
	f->city = i18n_open(lang, tzid, I18N_CITY_PATTERN, 1);
	if (f->date == NULL || f->zone == NULL || f->city == NULL) {
		udat_close(f->date);
		udat_close(f->zone);
		udat_close(f->city);
		return NULL;
	}
	i18n_ncache++;
	return f;
}

static void
i18n_run(UDateFormat *f, int64_t t, char *buf, size_t size)
{
	UErrorCode st = U_ZERO_ERROR;
	UChar u[256];

	udat_format(f, (UDate)t * 1000.0, u, CBD_ARRAY_LEN(u), NULL, &st);
	if (U_SUCCESS(st))
		u_strToUTF8(buf, (int32_t)size, NULL, u, -1, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING)
		snprintf(buf, size, "?");
}

void
i18n_format_time(int64_t t, const char *tz, const char *lang,
		 struct i18n_time *out)
{
	struct i18n_fmt *f;

	pthread_mutex_lock(&i18n_lock);
	f = i18n_get(lang && *lang ? lang : "en", tz && *tz ? tz : "UTC");
	if (f == NULL)
		f = i18n_get("en", "UTC");
	if (f != NULL) {
		i18n_run(f->date, t, out->date, sizeof(out->date));
		i18n_run(f->zone, t, out->zone, sizeof(out->zone));
		i18n_run(f->city, t, out->city, sizeof(out->city));
	} else {
		snprintf(out->date, sizeof(out->date), "?");
		snprintf(out->zone, sizeof(out->zone), "?");
		snprintf(out->city, sizeof(out->city), "?");
	}
	pthread_mutex_unlock(&i18n_lock);
}

void
i18n_clear(void)
{
	pthread_mutex_lock(&i18n_lock);
	i18n_close_all();
	free(i18n_cache);
	i18n_cache = NULL;
	i18n_ncache = 0;
	pthread_mutex_unlock(&i18n_lock);
}
