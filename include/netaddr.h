/*
 * netaddr.h: client addresses as the limits see them. An IPv4 address is
 * one client; an IPv6 address counts by its /64, because one subscriber
 * gets a whole /64 and can pick any address inside it. Also lists of
 * addresses and CIDR ranges (the trusted proxies).
 */
#ifndef CBD_NETADDR_H
#define CBD_NETADDR_H

#include <stddef.h>

#include "common.h"

struct sockaddr;

/* An address, IPv4 kept as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct netaddr {
	unsigned char a[16];
};

/* The longest key netaddr_key writes, with its NUL. */
#define NETADDR_KEY_LEN 48

/*
 * Parse n bytes of text: "192.0.2.1", "2001:db8::1", "[2001:db8::1]",
 * with an optional ":port" after IPv4 or "]". 0, or -1 when it is not an
 * address.
 */
int netaddr_parse(const char *s, size_t n, struct netaddr *out) CBD_MUSTCHECK;
/* From an accepted socket's peer (AF_INET or AF_INET6); -1 for others. */
int netaddr_from_sockaddr(const struct sockaddr *sa,
			  struct netaddr *out) CBD_MUSTCHECK;
int netaddr_is_v4(const struct netaddr *a);
/* The address as text: dotted IPv4, or IPv6 in RFC 5952 form. */
void netaddr_text(const struct netaddr *a, char *buf, size_t size);
/* What per-address limits count: dotted IPv4, or "2001:db8:1:2::/64". */
void netaddr_key(const struct netaddr *a, char *buf, size_t size);

/* A list of addresses and CIDR ranges ("10.0.0.0/8, ::1"). */
struct netaddr_list;
/* Parse a comma or space separated list; NULL with err on bad input. An
 * empty text gives an empty list. field names the config key. */
struct netaddr_list *netaddr_list_parse(const char *text, const char *field,
					struct cbd_err *err);
int netaddr_list_has(const struct netaddr_list *l, const struct netaddr *a);
int netaddr_list_is_empty(const struct netaddr_list *l);
void netaddr_list_free(struct netaddr_list *l); /* NULL ok */

#endif
