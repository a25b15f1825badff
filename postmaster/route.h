/*
 * route.h - maps an HTTP method and request path onto PostMaster's
 * endpoints (see doc/http-interface.md), and checks the parts of a path
 * that name spool files before anything on disk is touched.
 */
#ifndef POSTMASTER_ROUTE_H
#define POSTMASTER_ROUTE_H

#include <stdbool.h>

#include "common/spool.h"

enum route {
	ROUTE_NONE,
	ROUTE_DRAIN,		/* GET /            the original's drain */
	ROUTE_LEASE,		/* POST /lease */
	ROUTE_ACK,		/* POST /leases/LEASE/ID/ack */
	ROUTE_FAIL,		/* POST /leases/LEASE/ID/fail */
	ROUTE_HEALTHZ,		/* GET /healthz */
	ROUTE_METRICS		/* GET /metrics */
};

struct route_match {
	enum route route;	/* set whenever the path is known */
	const char *allow;	/* the methods the path takes, for Allow: */
	const char *error;	/* why the request was refused, or NULL */
	char lease[SPOOL_LEASE_LEN + 1];
	char id[SPOOL_ID_LEN + 1];
};

/*
 * Matches method and path (the raw path, without the query string and not
 * percent-decoded).  Returns the HTTP status that refuses the request, or
 * 0 when it may proceed:
 *   404  unknown path;
 *   405  known path, method not in m->allow;
 *   400  a /leases/.../ack or /fail path whose lease or id is not exactly
 *        of the spool's form (24 / 32 lowercase hex digits): "..", "/",
 *        "%00", uppercase, wrong length all land here.
 * m->error says why in a few words for the 400/404/405 cases.
 */
int route_match(const char *method, const char *path, struct route_match *m);

/*
 * Parses a query parameter that must be a decimal number from min to max.
 * Values above max are clamped to max (a client asking for more than this
 * server allows gets what it allows); anything else that is not a plain
 * decimal number at least min is refused.  Returns 0 or -1.
 */
int route_number(const char *s, unsigned long min, unsigned long max,
    unsigned long *out);

#endif
