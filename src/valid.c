/* valid.c: input checks shared by the API handlers. */
#include <string.h>

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

int
valid_email(const char *s)
{
	const char *at = strchr(s, '@');
	size_t n = strlen(s);

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL || n > 254)
		return 0;
	if (strpbrk(s, " \t\r\n<>\",;") != NULL)
		return 0;
	return strchr(at + 1, '.') != NULL && at[1] != '.' && s[n - 1] != '.';
}

int
valid_tz(const char *name)
{
	return name != NULL && name[0] != '\0' && strlen(name) < 64 &&
	       timefmt_zone(name) != NULL;
}
