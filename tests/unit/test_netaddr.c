/* test_netaddr.c: address parsing, the per-address key (IPv6 by /64) and
 * CIDR lists, as the trusted-proxy and connection-cap code use them. */
#include <string.h>

#include "netaddr.h"
#include "tap.h"

static void
test_keys(void)
{
	static const struct {
		const char *in;
		const char *key; /* NULL: not an address */
	} cases[] = {
		{ "192.0.2.1", "192.0.2.1" },
		{ "192.0.2.1:8080", "192.0.2.1" },
		{ "::ffff:192.0.2.1", "192.0.2.1" },
		{ "2001:db8:1:2::1", "2001:db8:1:2::/64" },
		{ "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64" },
		{ "[2001:db8:cafe::17]:4711", "2001:db8:cafe::/64" },
		{ "[2001:db8:cafe::17]", "2001:db8:cafe::/64" },
		{ "::1", "::/64" },
		{ "unknown", NULL },
		{ "_hidden", NULL },
		{ "", NULL },
		{ "192.0.2.1:", NULL },
		{ "192.0.2.1:x", NULL },
		{ "[2001:db8::1", NULL },
		{ "[2001:db8::1]x", NULL },
		{ "1.2.3.4.5", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct netaddr a;
		char key[NETADDR_KEY_LEN];
		int rc = netaddr_parse(cases[i].in, strlen(cases[i].in), &a);

		if (cases[i].key == NULL) {
			is_int(rc, -1, "'%s' is not an address", cases[i].in);
			continue;
		}
		if (!ok(rc == 0, "'%s' parses", cases[i].in))
			continue;
		netaddr_key(&a, key, sizeof(key));
		is_str(key, cases[i].key, "key of '%s'", cases[i].in);
	}
}

static int
in_list(const struct netaddr_list *l, const char *s)
{
	struct netaddr a;

	return netaddr_parse(s, strlen(s), &a) == 0 && netaddr_list_has(l, &a);
}

static void
test_lists(void)
{
	struct cbd_err err;
	struct netaddr_list *l;

	memset(&err, 0, sizeof(err));
	l = netaddr_list_parse("10.0.0.0/8, 192.0.2.7 2001:db8::/32,::1",
			       "trusted_proxies", &err);
	if (!ok(l != NULL, "list parses"))
		return;
	ok(in_list(l, "10.200.3.4"), "10/8 holds 10.200.3.4");
	ok(!in_list(l, "11.0.0.1"), "10/8 does not hold 11.0.0.1");
	ok(in_list(l, "192.0.2.7"), "single address");
	ok(!in_list(l, "192.0.2.8"), "single address only");
	ok(in_list(l, "2001:db8:ffff::1"), "2001:db8::/32");
	ok(!in_list(l, "2001:db9::1"), "outside 2001:db8::/32");
	ok(in_list(l, "::1"), "::1");
	ok(in_list(l, "::ffff:10.1.1.1"), "IPv4-mapped matches IPv4 range");
	netaddr_list_free(l);

	l = netaddr_list_parse("", "trusted_proxies", &err);
	ok(l != NULL && netaddr_list_is_empty(l), "empty list");
	netaddr_list_free(l);

	static const char *const bad[] = { "10.0.0.0/33",    "10.0.0.0/",
					   "2001:db8::/129", "example.com",
					   "[::1]",          "10.0.0.0/-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cbd_err_clear(&err);
		l = netaddr_list_parse(bad[i], "trusted_proxies", &err);
		ok(l == NULL && strcmp(err.field, "trusted_proxies") == 0,
		   "'%s' refused", bad[i]);
		netaddr_list_free(l);
	}
}

int
main(void)
{
	test_keys();
	test_lists();
	return tap_done();
}
