/*
 * phone.cc: the C entry points of phone.h over libphonenumber, and the
 * zone-to-country map of ICU (which libphonenumber links anyway). The
 * only C++ in the daemon: nothing here keeps state of its own, and no
 * exception crosses into C (the library does not throw on bad input; an
 * allocation failure ends the process, as xmalloc does).
 */
#include <stdio.h>
#include <string.h>

#include <string>

#include <phonenumbers/logger.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <unicode/timezone.h>
#include <unicode/unistr.h>

#include "phone.h"

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

/* The library's singleton, made quiet once: it logs parse failures to
 * stdout by default, and bad input is the customer's, not an event. */
static PhoneNumberUtil *
phone_util(void)
{
	static PhoneNumberUtil *util = [] {
		PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
		u->SetLogger(new i18n::phonenumbers::NullLogger());
		return u;
	}();
	return util;
}

static const char *
phone_parse_problem(PhoneNumberUtil::ErrorType e)
{
	switch (e) {
	case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
		return "the number has no known country code: write it with "
		       "+ and the country code, or give the region";
	case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
	case PhoneNumberUtil::TOO_SHORT_NSN:
		return "the number is too short";
	case PhoneNumberUtil::TOO_LONG_NSN:
		return "the number is too long";
	default:
		return "this is not a phone number";
	}
}

static enum phone_line
phone_line_of(PhoneNumberUtil::PhoneNumberType t)
{
	switch (t) {
	case PhoneNumberUtil::MOBILE:
		return PHONE_LINE_MOBILE;
	case PhoneNumberUtil::FIXED_LINE:
		return PHONE_LINE_FIXED;
	case PhoneNumberUtil::FIXED_LINE_OR_MOBILE:
		return PHONE_LINE_FIXED_OR_MOBILE;
	default:
		return PHONE_LINE_OTHER;
	}
}

extern "C" int
phone_parse(const char *text, const char *region, struct phone_number *out,
	    const char **problem)
{
	PhoneNumberUtil *u = phone_util();
	PhoneNumber pn;
	std::string e164, national, rc;
	PhoneNumberUtil::ErrorType e;

	memset(out, 0, sizeof(*out));
	*problem = NULL;
	/* The library reads letters as a keypad (1-800-FLOWERS); a number
	 * given for texts should be digits. */
	for (const char *p = text; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
			*problem = "this is not a phone number";
			return -1;
		}
	}
	e = u->Parse(text, region && *region ? region : "ZZ", &pn);
	if (e != PhoneNumberUtil::NO_PARSING_ERROR) {
		*problem = phone_parse_problem(e);
		return -1;
	}
	if (!u->IsValidNumber(pn)) {
		switch (u->IsPossibleNumberWithReason(pn)) {
		case PhoneNumberUtil::TOO_SHORT:
			*problem = "the number is too short";
			break;
		case PhoneNumberUtil::TOO_LONG:
			*problem = "the number is too long";
			break;
		case PhoneNumberUtil::INVALID_COUNTRY_CODE:
			*problem = "the number has no known country code";
			break;
		default:
			*problem = "this is not a valid number for its region";
		}
		return -1;
	}
	u->Format(pn, PhoneNumberUtil::E164, &e164);
	u->Format(pn, PhoneNumberUtil::NATIONAL, &national);
	u->GetRegionCodeForNumber(pn, &rc);
	snprintf(out->e164, sizeof(out->e164), "%s", e164.c_str());
	snprintf(out->national, sizeof(out->national), "%s", national.c_str());
	snprintf(out->region, sizeof(out->region), "%s", rc.c_str());
	out->line = phone_line_of(u->GetNumberType(pn));
	return 0;
}

extern "C" void
phone_national(const char *e164, char *buf, size_t size)
{
	PhoneNumberUtil *u = phone_util();
	PhoneNumber pn;
	std::string national;

	if (u->Parse(e164, "ZZ", &pn) != PhoneNumberUtil::NO_PARSING_ERROR) {
		snprintf(buf, size, "%s", e164);
		return;
	}
	u->Format(pn, PhoneNumberUtil::NATIONAL, &national);
	snprintf(buf, size, "%s", national.c_str());
}

extern "C" int
phone_region_known(const char *region)
{
	/* A region the library has metadata for has a country code. */
	if (region == NULL || strlen(region) != 2)
		return 0;
	return phone_util()->GetCountryCodeForRegion(region) != 0;
}

extern "C" void
phone_region_of_zone(const char *tz, char *region, size_t size)
{
	UErrorCode st = U_ZERO_ERROR;
	char r[8] = "";
	int32_t n;

	n = icu::TimeZone::getRegion(icu::UnicodeString::fromUTF8(tz), r,
				     (int32_t)sizeof(r), st);
	/* "001" is the world: zones such as UTC belong to no country. */
	if (U_FAILURE(st) || n != 2)
		r[0] = '\0';
	snprintf(region, size, "%s", r);
}
