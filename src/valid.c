/* valid.c: input checks shared by the API handlers. */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "phone.h"
#include "timefmt.h"
#include "valid.h"

int
valid_e164(const char *s)
{
	size_t n;

	if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	n = strlen(s + 1);
	if (n < 7 || n > 15)
		return 0;
	return strspn(s + 1, "0123456789") == n;
}

int
valid_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i];
		size_t need;
		unsigned cp;

		if (c < 0x80) {
			if (c == 0 || (c < 0x20 && c != '\t' && c != '\n') ||
			    c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else
			return 0;
		if (i + need >= len)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Reject overlongs, surrogates and code points past U+10FFFF.
		 */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += need + 1;
	}
	return 1;
}

size_t
valid_utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* One DNS label: 1 to 63 letters, digits or hyphens (bytes of an IDN in
 * UTF-8 too), not starting or ending with a hyphen. */
static int
valid_label(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int
valid_email(const char *s)
{
	const char *at = strchr(s, '@'), *p, *dot;
	size_t n = strlen(s), local;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL || n > 254)
		return 0;
	if (strpbrk(s, " \t\r\n<>\"(),:;[]\\") != NULL)
		return 0;
	/* Local part: a dot-atom, so no leading, trailing or double dot. */
	local = (size_t)(at - s);
	if (local > 64 || s[0] == '.' || at[-1] == '.' ||
	    strstr(s, "..") != NULL)
		return 0;
	/* Domain: two or more labels ("a@b..c" has an empty one), and a top
	 * level that is not all digits (no bare IP addresses). */
	p = at + 1;
	if (strchr(p, '.') == NULL)
		return 0;
	while ((dot = strchr(p, '.')) != NULL) {
		if (!valid_label(p, (size_t)(dot - p)))
			return 0;
		p = dot + 1;
	}
	return valid_label(p, strlen(p)) &&
	       strspn(p, "0123456789") != strlen(p);
}

/* Decode one UTF-8 code point at *s (valid_text has checked the bytes);
 * advances *s. */
static unsigned
valid_next_cp(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	unsigned cp;
	size_t need;

	if (p[0] < 0x80) {
		*s += 1;
		return p[0];
	}
	if (p[0] < 0xe0) {
		need = 1;
		cp = p[0] & 0x1f;
	} else if (p[0] < 0xf0) {
		need = 2;
		cp = p[0] & 0x0f;
	} else {
		need = 3;
		cp = p[0] & 0x07;
	}
	for (size_t k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80) {
			*s += k;
			return 0xfffd;
		}
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	*s += need + 1;
	return cp;
}

int
valid_is_blank(const char *s)
{
	/* Unicode White_Space plus the invisible format characters people
	 * paste (zero-width space and joiners, word joiner, BOM): a name of
	 * only these shows as nothing. */
	static const unsigned blank[] = {
		0x09,   0x0a,   0x0b,   0x0c,   0x0d,   0x20,   0x85,   0xa0,
		0x1680, 0x180e, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
		0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x200b, 0x200c, 0x200d,
		0x2028, 0x2029, 0x202f, 0x205f, 0x2060, 0x3000, 0xfeff,
	};

	while (*s != '\0') {
		unsigned cp = valid_next_cp(&s);
		size_t i;

		for (i = 0; i < CBD_ARRAY_LEN(blank); i++)
			if (blank[i] == cp)
				break;
		if (i == CBD_ARRAY_LEN(blank))
			return 0;
	}
	return 1;
}

int
valid_tz(const char *name)
{
	return name != NULL && name[0] != '\0' && strlen(name) < 64 &&
	       timefmt_zone(name) != NULL;
}

int
valid_phone_region(const char *region, const char *tz,
		   const char *default_region, const char *field, char *out,
		   size_t size, struct cbd_err *err)
{
	if (region != NULL && !phone_region_known(region)) {
		cbd_err_set(err, 400, "invalid-region", field,
			    "region must be a country code such as US or GB");
		return -1;
	}
	out[0] = '\0';
	if (region == NULL && tz != NULL)
		phone_region_of_zone(tz, out, size);
	if (out[0] == '\0')
		snprintf(out, size, "%s",
			 region != NULL ? region : default_region);
	return 0;
}

int
valid_phone(const char *text, const char *region, const char *field,
	    struct phone_number *out, struct cbd_err *err)
{
	const char *problem = NULL;

	if (phone_parse(text, region, out, &problem) == 0)
		return 0;
	cbd_err_set(err, 400, "invalid-phone", field, "%s", problem);
	return -1;
}
