/*
 * netaddr.c: parsing and keying of client addresses, and CIDR lists.
 *
 * Everything is held as 16 bytes, IPv4 mapped into ::ffff:0:0/96, so one
 * prefix comparison serves both families; a "/24" on an IPv4 range is a
 * /120 on the mapped form.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"
#include "xalloc.h"

static const unsigned char netaddr_v4_prefix[12] = { 0, 0, 0, 0, 0,    0,
						     0, 0, 0, 0, 0xff, 0xff };

struct netaddr_range {
	struct netaddr base;
	int bits; /* prefix length over the 16-byte form */
};

struct netaddr_list {
	struct netaddr_range *r;
	size_t n;
};

static void
netaddr_set_v4(struct netaddr *out, const struct in_addr *v4)
{
	memcpy(out->a, netaddr_v4_prefix, 12);
	memcpy(out->a + 12, &v4->s_addr, 4);
}

int
netaddr_is_v4(const struct netaddr *a)
{
	return memcmp(a->a, netaddr_v4_prefix, 12) == 0;
}

int
netaddr_parse(const char *s, size_t n, struct netaddr *out)
{
	char buf[64];
	const char *p = s, *end = s + n;
	struct in_addr v4;
	struct in6_addr v6;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	if (*p == '[') {
		/* "[v6]" or "[v6]:port" */
		const char *close = memchr(p, ']', n);
		if (close == NULL || (size_t)(close - p - 1) >= sizeof(buf))
			return -1;
		if (close + 1 != end && (close[1] != ':' || close + 2 == end ||
					 strspn(close + 2, "0123456789") !=
						 (size_t)(end - close - 2)))
			return -1;
		memcpy(buf, p + 1, (size_t)(close - p - 1));
		buf[close - p - 1] = '\0';
		if (inet_pton(AF_INET6, buf, &v6) != 1)
			return -1;
		memcpy(out->a, &v6, 16);
		return 0;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, &v6) == 1) {
		memcpy(out->a, &v6, 16);
		return 0;
	}
	/* IPv4 with an optional ":port" */
	{
		char *colon = strchr(buf, ':');
		if (colon != NULL) {
			if (colon[1] == '\0' ||
			    strspn(colon + 1, "0123456789") !=
				    strlen(colon + 1))
				return -1;
			*colon = '\0';
		}
	}
	if (inet_pton(AF_INET, buf, &v4) != 1)
		return -1;
	netaddr_set_v4(out, &v4);
	return 0;
}

int
netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		netaddr_set_v4(out,
			       &((const struct sockaddr_in *)sa)->sin_addr);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out->a, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		       16);
		return 0;
	}
	return -1;
}

void
netaddr_text(const struct netaddr *a, char *buf, size_t size)
{
	char t[INET6_ADDRSTRLEN];

	if (netaddr_is_v4(a))
		inet_ntop(AF_INET, a->a + 12, t, sizeof(t));
	else
		inet_ntop(AF_INET6, a->a, t, sizeof(t));
	snprintf(buf, size, "%s", t);
}

void
netaddr_key(const struct netaddr *a, char *buf, size_t size)
{
	struct netaddr net;
	char t[INET6_ADDRSTRLEN];

	if (netaddr_is_v4(a)) {
		netaddr_text(a, buf, size);
		return;
	}
	net = *a;
	memset(net.a + 8, 0, 8);
	inet_ntop(AF_INET6, net.a, t, sizeof(t));
	snprintf(buf, size, "%s/64", t);
}

static int
netaddr_prefix_eq(const struct netaddr *x, const struct netaddr *y, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(x->a, y->a, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((x->a[whole] ^ y->a[whole]) & (0xff00 >> rest)) == 0;
}

/* One "addr" or "addr/bits" item of n bytes. */
static int
netaddr_range_parse(const char *s, size_t n, struct netaddr_range *out)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	long bits;

	if (netaddr_parse(s, alen, &out->base) != 0 || s[0] == '[')
		return -1;
	bits = netaddr_is_v4(&out->base) ? 32 : 128;
	if (slash != NULL) {
		char num[8];
		size_t nlen = n - alen - 1;
		long v;
		char *end;

		if (nlen == 0 || nlen >= sizeof(num))
			return -1;
		memcpy(num, slash + 1, nlen);
		num[nlen] = '\0';
		v = strtol(num, &end, 10);
		if (*end != '\0' || !isdigit((unsigned char)num[0]) || v < 0 ||
		    v > bits)
			return -1;
		bits = v;
	}
	out->bits = (int)bits + (netaddr_is_v4(&out->base) ? 96 : 0);
	return 0;
}

struct netaddr_list *
netaddr_list_parse(const char *text, const char *field, struct cbd_err *err)
{
	struct netaddr_list *l = xcalloc(1, sizeof(*l));
	const char *p = text ? text : "";

	for (;;) {
		size_t n;

		p += strspn(p, ", \t");
		if (*p == '\0')
			break;
		n = strcspn(p, ", \t");
		l->r = xrealloc(l->r, (l->n + 1) * sizeof(*l->r));
		if (netaddr_range_parse(p, n, &l->r[l->n]) != 0) {
			cbd_err_set(err, 400, "invalid-config", field,
				    "%s: '%.*s' is not an address or CIDR "
				    "range",
				    field, (int)(n > 60 ? 60 : n), p);
			netaddr_list_free(l);
			return NULL;
		}
		l->n++;
		p += n;
	}
	return l;
}

int
netaddr_list_has(const struct netaddr_list *l, const struct netaddr *a)
{
	if (l == NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (netaddr_prefix_eq(&l->r[i].base, a, l->r[i].bits))
			return 1;
	return 0;
}

int
netaddr_list_is_empty(const struct netaddr_list *l)
{
	return l == NULL || l->n == 0;
}

void
netaddr_list_free(struct netaddr_list *l)
{
	if (l == NULL)
		return;
	free(l->r);
	free(l);
}
