/*
 * route.c - the endpoint table and the checks on lease and id path parts.
 */
#include "postmaster/route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *path;
	enum route route;
	const char *allow;
} routes[] = {
	/* HEAD is not offered on "/": a HEAD would complete without the
	 * body ever being sent, and the drain deletes on completion. */
	{ "/", ROUTE_DRAIN, "GET" },
	{ "/lease", ROUTE_LEASE, "POST" },
	{ "/healthz", ROUTE_HEALTHZ, "GET, HEAD" },
	{ "/metrics", ROUTE_METRICS, "GET, HEAD" },
};

static bool
method_allowed(const char *method, const char *allow)
{
	size_t n = strlen(method);
	const char *p = allow;

	/* allow is a ", "-separated list of tokens */
	while ((p = strstr(p, method)) != NULL) {
		if ((p == allow || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
			return true;
		p += n;
	}
	return false;
}

static int
refuse(struct route_match *m, int status, const char *why)
{
	m->error = why;
	return status;
}

/* "/leases/" LEASE "/" ID "/" ("ack" | "fail") */
static int
match_leases(const char *method, const char *path, struct route_match *m)
{
	const char *rest = path + strlen("/leases/");
	const char *end, *slash;
	size_t len = strlen(rest);

	if (len >= 4 && strcmp(rest + len - 4, "/ack") == 0) {
		m->route = ROUTE_ACK;
		end = rest + len - 4;
	} else if (len >= 5 && strcmp(rest + len - 5, "/fail") == 0) {
		m->route = ROUTE_FAIL;
		end = rest + len - 5;
	} else
		return refuse(m, 404, "no such resource");
	m->allow = "POST";
	if (strcmp(method, "POST") != 0)
		return refuse(m, 405, "method not allowed");
	/* Exactly LEASE/ID in between, nothing more, nothing less. */
	slash = memchr(rest, '/', end - rest);
	if (slash == NULL || slash - rest != SPOOL_LEASE_LEN ||
	    end - (slash + 1) != SPOOL_ID_LEN)
		return refuse(m, 400, "malformed lease or message id");
	memcpy(m->lease, rest, SPOOL_LEASE_LEN);
	m->lease[SPOOL_LEASE_LEN] = '\0';
	memcpy(m->id, slash + 1, SPOOL_ID_LEN);
	m->id[SPOOL_ID_LEN] = '\0';
	if (!spool_lease_valid(m->lease))
		return refuse(m, 400, "malformed lease");
	if (!spool_id_valid(m->id))
		return refuse(m, 400, "malformed message id");
	return 0;
}

int
route_match(const char *method, const char *path, struct route_match *m)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	m->route = ROUTE_NONE;
	if (strncmp(path, "/leases/", 8) == 0)
		return match_leases(method, path, m);
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		m->route = routes[i].route;
		m->allow = routes[i].allow;
		if (!method_allowed(method, m->allow))
			return refuse(m, 405, "method not allowed");
		return 0;
	}
	return refuse(m, 404, "no such resource");
}

int
route_number(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	unsigned long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return -1;
	if (errno == ERANGE || v > max)
		v = max;
	if (v < min)
		return -1;
	*out = v;
	return 0;
}
