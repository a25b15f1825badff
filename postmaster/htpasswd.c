/*
 * htpasswd.c - loading an htpasswd file and checking a password.
 */
#include "postmaster/htpasswd.h"

#include <crypt.h>
#include <errno.h>
#include <glib.h>
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Larger files are surely not htpasswd files. */
#define HTPASSWD_FILE_MAX (4 * 1024 * 1024)

#define DIGEST_LEN 32

struct entry {
	char *user;
	char *hash;
};

struct htpasswd {
	struct entry *v;
	size_t n;
	char dummy[CRYPT_GENSALT_OUTPUT_SIZE];	/* setting for unknown users */
	struct crypt_data *cd;
	unsigned char salt[16];
	unsigned char cache[HTPASSWD_CACHE][DIGEST_LEN];
	time_t cached_at[HTPASSWD_CACHE];	/* 0: empty */
	unsigned next;
};

struct htpasswd_job {
	char *password;
	char setting[HTPASSWD_HASH_MAX + 1];
	bool known;
	bool passed;
};

static const char *const schemes[] = { "$2y$", "$2b$", "$2a$", "$6$", "$5$" };

static bool
scheme_ok(const char *hash)
{
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(hash, schemes[i], strlen(schemes[i])) == 0)
			return true;
	return false;
}

static int
add_entry(struct htpasswd *h, const char *line, size_t len, size_t lineno,
    char *err, size_t errlen)
{
	const char *colon = memchr(line, ':', len);
	struct entry *nv, *e;
	size_t ulen, hlen, i;

	if (colon == NULL || colon == line) {
		snprintf(err, errlen, "line %zu: expected user:hash", lineno);
		return -1;
	}
	ulen = colon - line;
	hlen = len - ulen - 1;
	/* Apache allows a trailing ":comment" after the hash; nginx too. */
	if (memchr(colon + 1, ':', hlen) != NULL)
		hlen = (const char *)memchr(colon + 1, ':', hlen) - (colon + 1);
	if (ulen > HTPASSWD_USER_MAX || hlen > HTPASSWD_HASH_MAX || hlen == 0) {
		snprintf(err, errlen, "line %zu: user or hash too long or empty",
		    lineno);
		return -1;
	}
	if (memchr(line, '\0', len) != NULL) {
		snprintf(err, errlen, "line %zu: NUL byte", lineno);
		return -1;
	}
	for (i = 0; i < h->n; i++)
		if (strlen(h->v[i].user) == ulen &&
		    memcmp(h->v[i].user, line, ulen) == 0) {
			snprintf(err, errlen, "line %zu: user listed twice", lineno);
			return -1;
		}
	if ((nv = realloc(h->v, (h->n + 1) * sizeof(*nv))) == NULL)
		goto oom;
	h->v = nv;
	e = &h->v[h->n];
	e->user = strndup(line, ulen);
	e->hash = strndup(colon + 1, hlen);
	if (e->user == NULL || e->hash == NULL) {
		free(e->user);
		free(e->hash);
		goto oom;
	}
	h->n++;
	if (!scheme_ok(e->hash)) {
		snprintf(err, errlen, "line %zu: user %s: unsupported password "
		    "hash (use bcrypt, htpasswd -B, or SHA-512-crypt)", lineno,
		    e->user);
		return -1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* The setting an unknown user's password is hashed with: the first
 * entry's, so the work matches a real check; a fresh bcrypt salt when the
 * file lists nobody. */
static int
make_dummy(struct htpasswd *h, char *err, size_t errlen)
{
	if (h->n > 0) {
		if (strlen(h->v[0].hash) >= sizeof(h->dummy)) {
			/* A SHA-crypt setting is "$6$rounds=N$salt$": the
			 * whole hash works as a setting too. */
			h->dummy[0] = '\0';
			return 0;
		}
		snprintf(h->dummy, sizeof(h->dummy), "%s", h->v[0].hash);
		return 0;
	}
	if (crypt_gensalt_rn("$2b$", 10, NULL, 0, h->dummy,
	    sizeof(h->dummy)) == NULL) {
		snprintf(err, errlen, "crypt_gensalt: %s", strerror(errno));
		return -1;
	}
	return 0;
}

struct htpasswd *
htpasswd_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct htpasswd *h;
	const char *p = text, *end = text + len, *nl;
	size_t lineno = 0, l;

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->cd = calloc(1, sizeof(*h->cd))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', end - p);
		l = (nl != NULL ? nl : end) - p;
		if (l > 0 && p[l - 1] == '\r')
			l--;
		while (l > 0 && (p[l - 1] == ' ' || p[l - 1] == '\t'))
			l--;
		if (l > 0 && p[0] != '#' &&
		    add_entry(h, p, l, lineno, err, errlen) == -1)
			goto fail;
		p = nl != NULL ? nl + 1 : end;
	}
	if (make_dummy(h, err, errlen) == -1)
		goto fail;
	if (getrandom(h->salt, sizeof(h->salt), 0) != sizeof(h->salt)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto fail;
	}
	return h;
fail:
	htpasswd_free(h);
	return NULL;
}

struct htpasswd *
htpasswd_load(const char *path, char *err, size_t errlen)
{
	struct htpasswd *h = NULL;
	char *buf = NULL, sub[200];
	size_t len = 0, n;
	int saved;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(HTPASSWD_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while ((n = fread(buf + len, 1, HTPASSWD_FILE_MAX + 1 - len, f)) > 0)
		len += n;
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (len > HTPASSWD_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    HTPASSWD_FILE_MAX);
		goto out;
	}
	if ((h = htpasswd_parse(buf, len, sub, sizeof(sub))) == NULL) {
		snprintf(err, errlen, "%s: %s", path, sub);
		errno = EINVAL;
	}
out:
	saved = errno;
	free(buf);
	fclose(f);
	errno = saved;
	return h;
}

void
htpasswd_free(struct htpasswd *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++) {
		free(h->v[i].user);
		free(h->v[i].hash);
	}
	free(h->v);
	if (h->cd != NULL)
		explicit_bzero(h->cd, sizeof(*h->cd));
	free(h->cd);
	free(h);
}

size_t
htpasswd_count(const struct htpasswd *h)
{
	return h->n;
}

/* Compares a with b in time that depends only on b's length. */
static bool
equal_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	volatile unsigned char diff = la != lb;

	for (i = 0; i < lb; i++)
		diff |= (unsigned char)(i < la ? a[i] : 0) ^ (unsigned char)b[i];
	return diff == 0;
}

static void
digest(const struct htpasswd *h, const char *user, const char *password,
    unsigned char out[DIGEST_LEN])
{
	GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
	gsize len = DIGEST_LEN;

	g_checksum_update(ck, h->salt, sizeof(h->salt));
	g_checksum_update(ck, (const guchar *)user, strlen(user) + 1);
	g_checksum_update(ck, (const guchar *)password, strlen(password));
	g_checksum_get_digest(ck, out, &len);
	g_checksum_free(ck);
}

/* Seconds on a clock that no one sets, never 0. */
static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1;
}

static bool
cache_hit(const struct htpasswd *h, const unsigned char d[DIGEST_LEN])
{
	time_t now = mono_now();
	unsigned char diff;
	bool hit = false;
	size_t i, j;

	for (i = 0; i < HTPASSWD_CACHE; i++) {
		diff = h->cached_at[i] == 0 ||
		    now - h->cached_at[i] >= HTPASSWD_CACHE_SECONDS;
		for (j = 0; j < DIGEST_LEN; j++)
			diff |= h->cache[i][j] ^ d[j];
		hit |= diff == 0;
	}
	return hit;
}

bool
htpasswd_cached(struct htpasswd *h, const char *user, const char *password)
{
	unsigned char d[DIGEST_LEN];

	digest(h, user, password, d);
	return cache_hit(h, d);
}

void
htpasswd_remember(struct htpasswd *h, const char *user, const char *password)
{
	unsigned char d[DIGEST_LEN];
	size_t i;

	digest(h, user, password, d);
	/* A pass already remembered is renewed, not listed twice. */
	for (i = 0; i < HTPASSWD_CACHE; i++)
		if (h->cached_at[i] != 0 &&
		    memcmp(h->cache[i], d, DIGEST_LEN) == 0) {
			h->cached_at[i] = mono_now();
			return;
		}
	memcpy(h->cache[h->next], d, DIGEST_LEN);
	h->cached_at[h->next] = mono_now();
	h->next = (h->next + 1) % HTPASSWD_CACHE;
}

struct htpasswd_job *
htpasswd_job_new(const struct htpasswd *h, const char *user,
    const char *password)
{
	struct htpasswd_job *j;
	const char *setting = NULL;
	size_t i;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->password = strdup(password)) == NULL) {
		free(j);
		return NULL;
	}
	for (i = 0; i < h->n; i++)
		if (strcmp(h->v[i].user, user) == 0) {
			setting = h->v[i].hash;
			j->known = true;
			break;
		}
	if (setting == NULL)
		setting = h->dummy[0] != '\0' || h->n == 0 ? h->dummy :
		    h->v[0].hash;
	snprintf(j->setting, sizeof(j->setting), "%s", setting);
	return j;
}

bool
htpasswd_job_run(struct htpasswd_job *j, void **data, int *size)
{
	const char *out = crypt_ra(j->password, j->setting, data, size);
	bool match = out != NULL && equal_ct(out, j->setting);

	j->passed = match & j->known;
	return j->passed;
}

bool
htpasswd_job_passed(const struct htpasswd_job *j)
{
	return j->passed;
}

void
htpasswd_job_free(struct htpasswd_job *j)
{
	if (j == NULL)
		return;
	if (j->password != NULL) {
		explicit_bzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j);
}

bool
htpasswd_check(struct htpasswd *h, const char *user, const char *password)
{
	const char *setting = NULL, *out;
	bool known = false, match;
	size_t i;

	if (htpasswd_cached(h, user, password))
		return true;
	for (i = 0; i < h->n; i++)
		if (strcmp(h->v[i].user, user) == 0) {
			setting = h->v[i].hash;
			known = true;
			break;
		}
	if (setting == NULL)
		setting = h->dummy[0] != '\0' ? h->dummy : h->v[0].hash;
	out = crypt_rn(password, setting, h->cd, sizeof(*h->cd));
	match = out != NULL && equal_ct(out, setting);
	if (match && known)
		htpasswd_remember(h, user, password);
	return match & known;
}
