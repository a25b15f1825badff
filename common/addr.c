/*
 * addr.c - listen addresses, client networks and envelope addresses.
 */
#include "common/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/message.h"

static int
parse_port(const char *s, in_port_t *port)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v > 65535)
		return -1;
	*port = htons((in_port_t)v);
	return 0;
}

int
addr_parse_listen(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, char **unix_path, char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h;
	size_t hlen;
	in_port_t port;

	*unix_path = NULL;
	if (strncmp(spec, "unix:", 5) == 0) {
		if (spec[5] != '/' ||
		    strlen(spec + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			snprintf(err, errlen, "%s: a unix socket needs an absolute path of at most 107 bytes", spec);
			return -1;
		}
		if ((*unix_path = strdup(spec + 5)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		return 0;
	}
	if ((colon = strrchr(spec, ':')) == NULL) {
		snprintf(err, errlen, "%s: expected ADDRESS:PORT", spec);
		return -1;
	}
	h = spec;
	hlen = colon - spec;
	if (spec[0] == '[') {
		if (hlen < 2 || spec[hlen - 1] != ']') {
			snprintf(err, errlen, "%s: expected [IPV6]:PORT", spec);
			return -1;
		}
		h++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host) || parse_port(colon + 1, &port) == -1) {
		snprintf(err, errlen, "%s: bad address or port", spec);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (spec[0] != '[' && strchr(host, ':') != NULL) {
		snprintf(err, errlen, "%s: write an IPv6 address as [ADDRESS]:PORT", spec);
		return -1;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		*sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		*sslen = sizeof(*sin6);
	} else {
		snprintf(err, errlen, "%s: not a numeric IPv4 or IPv6 address", host);
		return -1;
	}
	return 0;
}

const char *
addr_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a;

	switch (sa->sa_family) {
	case AF_INET:
		a = &((const struct sockaddr_in *)sa)->sin_addr;
		break;
	case AF_INET6:
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		break;
	case AF_UNIX:
		snprintf(buf, len, "unix");
		return buf;
	default:
		snprintf(buf, len, "unknown");
		return buf;
	}
	if (inet_ntop(sa->sa_family, a, buf, len) == NULL)
		snprintf(buf, len, "unknown");
	return buf;
}

/* The IPv4 address inside an IPv6 address that is IPv4-mapped. */
static bool
mapped_v4(const struct sockaddr *sa, struct in_addr *out)
{
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

	if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(a))
		return false;
	memcpy(out, &a->s6_addr[12], 4);
	return true;
}

bool
addr_is_loopback(const struct sockaddr *sa)
{
	struct in_addr v4;

	if (sa->sa_family == AF_UNIX)
		return true;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (mapped_v4(sa, &v4))
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

int
cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 5], *slash, *end;
	unsigned long prefix;
	unsigned maxp;

	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "%s: not a network", s);
		return -1;
	}
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->net) == 1) {
		c->family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, buf, c->net) == 1) {
		c->family = AF_INET6;
		maxp = 128;
	} else {
		snprintf(err, errlen, "%s: not an IPv4 or IPv6 network", s);
		return -1;
	}
	prefix = maxp;
	if (slash != NULL) {
		errno = 0;
		prefix = strtoul(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || errno || prefix > maxp) {
			snprintf(err, errlen, "%s: bad prefix length", s);
			return -1;
		}
	}
	c->prefix = (unsigned)prefix;
	return 0;
}

static bool
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[bytes] ^ b[bytes]) & (0xff << (8 - rest))) == 0;
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	struct in_addr v4;

	if (c->family == AF_INET) {
		if (sa->sa_family == AF_INET)
			v4 = ((const struct sockaddr_in *)sa)->sin_addr;
		else if (!mapped_v4(sa, &v4))
			return false;
		return prefix_equal(c->net, (const unsigned char *)&v4, c->prefix);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	return prefix_equal(c->net,
	    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, c->prefix);
}

const char *
addr_mail_problem(const char *addr, bool allow_empty)
{
	const unsigned char *p;
	const char *at;
	size_t len;

	if (addr == NULL)
		return "address missing";
	len = strlen(addr);
	if (len == 0)
		return allow_empty ? NULL : "empty address";
	if (len > MESSAGE_ADDR_MAX)
		return "address longer than 254 octets (RFC 5321 4.5.3.1.3)";
	if (addr[0] == '-')
		return "address starts with '-'";
	for (p = (const unsigned char *)addr; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return "control character in address";
		if (*p == ' ')
			return "whitespace in address";
		if (*p == '<' || *p == '>')
			return "angle bracket in address";
	}
	at = strrchr(addr, '@');
	if (at != NULL && at - addr > 64)
		return "local part longer than 64 octets (RFC 5321 4.5.3.1.1)";
	if (at != NULL && strlen(at + 1) > 255)
		return "domain longer than 255 octets (RFC 5321 4.5.3.1.2)";
	return NULL;
}
