/*
 * addr.h - parsing and checking of listen addresses and mail addresses
 * shared by the daemons.
 */
#ifndef POSTOFFICE_ADDR_H
#define POSTOFFICE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Parses "HOST:PORT", "[V6]:PORT" or "unix:/path" (path in *unix_path,
 * malloc'd; then ss is untouched).  HOST is a numeric IPv4/IPv6 address or
 * "localhost".  Returns 0, or -1 with a reason in err. */
int addr_parse_listen(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, char **unix_path, char *err, size_t errlen);

/* Formats the numeric address (no port) of sa into buf. */
const char *addr_ntop(const struct sockaddr *sa, char *buf, size_t len);

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool addr_is_loopback(const struct sockaddr *sa);

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char net[16];
	unsigned prefix;
};
/* Parses "A.B.C.D[/N]" or "V6[/N]". */
int cidr_parse(const char *s, struct cidr *c, char *err, size_t errlen);
/* True when sa lies in c (IPv4-mapped IPv6 addresses match IPv4 nets). */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

/* Checks an envelope address as it will be handed to sendmail's argv or
 * to an SMTP server: at most MESSAGE_ADDR_MAX octets, local part at most
 * 64 (RFC 5321 4.5.3.1.1), no leading '-', no whitespace, no control
 * characters (CR, LF, NUL, DEL), no '<' '>' ; "" (the null sender) is
 * allowed only when allow_empty.  Returns NULL when acceptable, else a
 * static reason. */
const char *addr_mail_problem(const char *addr, bool allow_empty);

#endif
