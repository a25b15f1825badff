/*
 * optval.c - see optval.h.
 */
#include "common/optval.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* Digits in the given base from s; -1 (EINVAL or ERANGE) unless at
 * least one digit came and the value fits 64 bits.  *end is left on the
 * first byte that is not a digit. */
static int
digits(const char *s, int base, unsigned long long *out, const char **end)
{
	unsigned long long v = 0;
	const char *p;
	int d;

	for (p = s; *p >= '0' && *p < '0' + base; p++) {
		d = *p - '0';
		if (v > (~0ULL - (unsigned)d) / (unsigned)base) {
			errno = ERANGE;
			return -1;
		}
		v = v * (unsigned)base + (unsigned)d;
	}
	if (p == s) {
		errno = EINVAL;
		return -1;
	}
	*out = v;
	*end = p;
	return 0;
}

static int
in_range(unsigned long long v, unsigned long long min,
    unsigned long long max, unsigned long long *out)
{
	if (v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

int
optval_count(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v;
	const char *end;

	if (digits(s, 10, &v, &end) == -1)
		return -1;
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	return in_range(v, min, max, out);
}

int
optval_size(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v, mul = 1;
	const char *end;

	if (digits(s, 10, &v, &end) == -1)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	}
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (v > ~0ULL / mul) {
		errno = ERANGE;
		return -1;
	}
	return in_range(v * mul, min, max, out);
}

int
optval_seconds(const char *s, double min, double max, double *out)
{
	const char *p = s;
	char *end;
	double v;

	/* strtod alone would take a sign, spaces, "1e3", "0x1p3", "inf". */
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (p == s || *p != '\0' || (s[0] == '.' && s[1] == '\0')) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (errno != 0 || !isfinite(v) || v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

int
optval_mode(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long long v;
	const char *end;

	if (digits(s, 8, &v, &end) == -1)
		return -1;
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (v > max || v > 07777) {
		errno = ERANGE;
		return -1;
	}
	*out = (unsigned long)v;
	return 0;
}
