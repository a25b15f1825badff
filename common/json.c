/*
 * json.c - the JSON scanner and string escaper (see json.h).  Long strings
 * (a raw message of tens of megabytes) are walked 64 octets at a time with
 * SSE2 where the machine has it, eight at a time otherwise.
 */
#include "common/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* --- the octets a string can hold as they are --- */

#if defined(__SSE2__)
/* How many octets at the start of in need no escape in a JSON string:
 * anything but quote, backslash and the C0 controls.  Thirty-two, then
 * sixteen at a time: a control is an octet whose unsigned minimum with
 * 0x1f is itself. */
static inline unsigned
json_special16(const unsigned char *p)
{
	const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	const __m128i m = _mm_or_si128(
	    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
	    _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));

	return (unsigned)_mm_movemask_epi8(m);
}

static size_t
json_safe_span(const unsigned char *in, size_t len)
{
	unsigned lo, hi;
	size_t i = 0;

	while (len - i >= 32) {
		lo = json_special16(in + i);
		hi = json_special16(in + i + 16);
		if ((lo | hi) != 0)
			return i + (size_t)__builtin_ctz(lo | hi << 16);
		i += 32;
	}
	if (len - i >= 16) {
		if ((lo = json_special16(in + i)) != 0)
			return i + (size_t)__builtin_ctz(lo);
		i += 16;
	}
	while (i < len && in[i] >= 0x20 && in[i] != '"' && in[i] != '\\')
		i++;
	return i;
}
#else
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* How many octets at the start of in need no escape in a JSON string:
 * anything but quote, backslash and the C0 controls.  Eight at a time
 * while possible: (x - n * ONES) & ~x & HIGHS is non-zero exactly when
 * some octet of x is below n (n <= 0x80), and x ^ (c * ONES) has a zero
 * octet where x has c. */
static size_t
json_safe_span(const unsigned char *in, size_t len)
{
	uint64_t v, q, b;
	size_t i = 0;

	while (len - i >= 8) {
		memcpy(&v, in + i, 8);
		q = v ^ ('"' * ONES);
		b = v ^ ('\\' * ONES);
		if ((((v - 0x20 * ONES) & ~v) | ((q - ONES) & ~q) |
		    ((b - ONES) & ~b)) & HIGHS)
			break;
		i += 8;
	}
	while (i < len && in[i] >= 0x20 && in[i] != '"' && in[i] != '\\')
		i++;
	return i;
}
#endif

/* RFC 8259 section 7: quote, backslash and the C0 controls are escaped;
 * everything else passes through. */
size_t
json_escape(char *out, const void *vin, size_t len)
{
	const unsigned char *in = vin;
	static const char digits[] = "0123456789abcdef";
	size_t i = 0, o = 0, k;

	while (i < len) {
		unsigned char c;

		k = json_safe_span(in + i, len - i);
		memcpy(out + o, in + i, k);
		o += k;
		i += k;
		if (i == len)
			break;
		c = in[i++];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\r') {
			out[o++] = '\\';
			out[o++] = 'r';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = digits[c >> 4];
			out[o + 5] = digits[c & 15];
			o += 6;
		} else {
			out[o++] = c;
		}
	}
	return o;
}


/* --- scanning --- */

void
json_scan_init(struct json_scan *s, const void *text, size_t len)
{
	s->p = text;
	s->end = s->p + len;
	s->depth = 0;
}

void
json_scan_ws(struct json_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hex4(const unsigned char *p)
{
	int i, v = 0;

	for (i = 0; i < 4; i++) {
		int c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* The length of the escape at p (a backslash): 2, 6, or 12 for a UTF-16
 * surrogate pair; 0 when cJSON would refuse it. */
static size_t
escape_len(const unsigned char *p, const unsigned char *end)
{
	int u, lo;

	if (end - p < 2)
		return 0;
	switch (p[1]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n':
	case 'r': case 't':
		return 2;
	case 'u':
		break;
	default:
		return 0;
	}
	if (end - p < 6 || (u = hex4(p + 2)) == -1)
		return 0;
	/* cJSON refuses what is not a valid UTF-16 sequence. */
	if (u >= 0xdc00 && u <= 0xdfff)
		return 0;
	if (u < 0xd800 || u > 0xdbff)
		return 6;
	if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
	    (lo = hex4(p + 8)) == -1 || lo < 0xdc00 || lo > 0xdfff)
		return 0;
	return 12;
}

#if defined(__SSE2__)
/* For the 64 octets at p: the bits of the backslashes in *bs, and as the
 * result those of what ends a string or makes it invalid (a quote, a C0
 * control). */
static inline uint64_t
string_masks64(const unsigned char *p, uint64_t *bs)
{
	const __m128i quote = _mm_set1_epi8('"'), bsl = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);
	uint64_t stop = 0, b = 0;
	int k;

	for (k = 0; k < 4; k++) {
		const __m128i v = _mm_loadu_si128(
		    (const __m128i *)(const void *)(p + 16 * k));

		stop |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(v, quote),
		    _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v))) << (16 * k);
		b |= (uint64_t)(unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(v, bsl)) << (16 * k);
	}
	*bs = b;
	return stop;
}
#endif

/*
 * Long strings (the raw message) go 64 octets at a time: the escapes in a
 * block are stepped over bit by bit, without looking at the octets again.
 */
bool
json_scan_string(struct json_scan *s, struct json_str *out)
{
	const unsigned char *p, *end = s->end;
	bool *escaped = &out->escaped;
	size_t n;

	if (s->p >= end || *s->p != '"')
		return false;
	out->start = p = s->p + 1;
	*escaped = false;
#if defined(__SSE2__)
	while (end - p >= 64) {
		uint64_t bs, ends = string_masks64(p, &bs);
		size_t k, past = 64;

		/* Step over each escape that comes before the first end. */
		while (bs != 0 && (ends == 0 ||
		    __builtin_ctzll(bs) < __builtin_ctzll(ends))) {
			k = (size_t)__builtin_ctzll(bs);
			*escaped = true;
			if ((n = escape_len(p + k, end)) == 0)
				return false;
			if (k + n >= 64) {
				past = k + n;	/* it reaches into the next block */
				ends = 0;
				break;
			}
			bs &= ~0ULL << (k + n);
			ends &= ~0ULL << (k + n);
		}
		if (ends != 0) {
			p += __builtin_ctzll(ends);
			if (*p != '"')
				return false;
			goto done;
		}
		p += past;
	}
#endif
	for (;;) {
		p += json_safe_span(p, end - p);
		if (p >= end || *p < 0x20)
			return false;
		if (*p == '"')
			break;
		*escaped = true;
		if ((n = escape_len(p, end)) == 0)
			return false;
		p += n;
	}
#if defined(__SSE2__)
done:
#endif
	out->stop = p;
	s->p = p + 1;
	return true;
}

static bool
digits(struct json_scan *s)
{
	const unsigned char *from = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > from;
}

/* RFC 8259 section 6. */
bool
json_scan_number(struct json_scan *s, double *value)
{
	const unsigned char *from = s->p;
	char text[JSON_NUMBER_MAX + 1];

	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return false;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p - from > JSON_NUMBER_MAX)
		return false;
	if (value != NULL) {
		memcpy(text, from, s->p - from);
		text[s->p - from] = '\0';
		*value = strtod(text, NULL);
	}
	return true;
}

static bool
scan_word(struct json_scan *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return false;
	s->p += n;
	return true;
}

bool
json_scan_value(struct json_scan *s, char *type)
{
	struct json_str str;
	char t;
	bool more;

	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '"':
		*type = '"';
		return json_scan_string(s, &str);
	case 'n':
		*type = 'n';
		return scan_word(s, "null");
	case 't':
		*type = 'b';
		return scan_word(s, "true");
	case 'f':
		*type = 'b';
		return scan_word(s, "false");
	case '{':
	case '[':
		*type = (char)*s->p;
		break;
	default:
		*type = '0';
		return json_scan_number(s, NULL);
	}
	if (++s->depth > JSON_DEPTH_MAX)
		return false;
	s->p++;
	json_scan_ws(s);
	more = s->p < s->end && *s->p != (*type == '{' ? '}' : ']');
	while (more) {
		if (*type == '{') {
			if (!json_scan_string(s, &str))
				return false;
			json_scan_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return false;
			json_scan_ws(s);
		}
		if (!json_scan_value(s, &t))
			return false;
		json_scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			json_scan_ws(s);
		} else
			more = false;
	}
	if (s->p >= s->end || *s->p++ != (*type == '{' ? '}' : ']'))
		return false;
	s->depth--;
	return true;
}


bool
json_scan_char(struct json_scan *s, char c)
{
	if (s->p >= s->end || *s->p != (unsigned char)c)
		return false;
	s->p++;
	return true;
}

/* --- what a scanned string holds --- */

/* Writes code point u as UTF-8 at out; returns the octets written. */
static size_t
put_utf8(char *out, unsigned u)
{
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xe0 | u >> 12);
		out[1] = (char)(0x80 | (u >> 6 & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | u >> 18);
	out[1] = (char)(0x80 | (u >> 12 & 0x3f));
	out[2] = (char)(0x80 | (u >> 6 & 0x3f));
	out[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

/*
 * Decodes the escape at p (a backslash, already checked by the scan)
 * into out when out is not NULL.  Returns the escape's length and sets
 * *outlen to the octets it stands for.
 */
static size_t
unescape_one(const unsigned char *p, const unsigned char *end, char *out,
    size_t *outlen)
{
	char tmp[4];
	size_t n = escape_len(p, end);
	unsigned u;

	if (out == NULL)
		out = tmp;
	switch (p[1]) {
	case 'b': *out = '\b'; break;
	case 'f': *out = '\f'; break;
	case 'n': *out = '\n'; break;
	case 'r': *out = '\r'; break;
	case 't': *out = '\t'; break;
	case 'u':
		u = (unsigned)hex4(p + 2);
		if (n == 12)	/* a surrogate pair (RFC 8259 section 7) */
			u = 0x10000 + ((u - 0xd800) << 10) +
			    ((unsigned)hex4(p + 8) - 0xdc00);
		*outlen = put_utf8(out, u);
		return n;
	default:	/* quote, backslash, solidus */
		*out = (char)p[1];
		break;
	}
	*outlen = 1;
	return n;
}

size_t
json_str_unescape(const struct json_str *j, char *out)
{
	const unsigned char *p = j->start, *q;
	size_t o = 0, k;

	while (j->escaped &&
	    (q = memchr(p, '\\', (size_t)(j->stop - p))) != NULL) {
		memcpy(out + o, p, (size_t)(q - p));
		o += (size_t)(q - p);
		p = q + unescape_one(q, j->stop, out + o, &k);
		o += k;
	}
	memcpy(out + o, p, (size_t)(j->stop - p));
	o += (size_t)(j->stop - p);
	out[o] = '\0';
	return o;
}

bool
json_str_has_nul(const struct json_str *j)
{
	const unsigned char *p = j->start, *q;
	size_t k;

	while (j->escaped &&
	    (q = memchr(p, '\\', (size_t)(j->stop - p))) != NULL) {
		if (q[1] == 'u' && hex4(q + 2) == 0)
			return true;
		p = q + unescape_one(q, j->stop, NULL, &k);
	}
	return false;
}

bool
json_str_is(const struct json_str *j, const char *s, size_t len)
{
	return !j->escaped && (size_t)(j->stop - j->start) == len &&
	    memcmp(j->start, s, len) == 0;
}
