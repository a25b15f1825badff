/*
 * utf8.c - incremental UTF-8 validation following the well-formed byte
 * sequences table of RFC 3629 section 4 (Unicode 3.9, table 3-7).
 */
#include "common/utf8.h"

#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void
utf8_check_init(struct utf8_check *c)
{
	c->need = 0;
	c->lo = 0x80;
	c->hi = 0xbf;
	c->bad = false;
}

/* Sets how many continuation bytes follow lead byte b and the range the
 * first of them must fall in; false for bytes that never start a
 * sequence. */
static bool
lead(struct utf8_check *c, unsigned char b)
{
	c->lo = 0x80;
	c->hi = 0xbf;
	if (b >= 0xc2 && b <= 0xdf) {
		c->need = 1;
	} else if (b >= 0xe0 && b <= 0xef) {
		c->need = 2;
		if (b == 0xe0)
			c->lo = 0xa0;	/* no overlong 3-byte forms */
		else if (b == 0xed)
			c->hi = 0x9f;	/* no surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		c->need = 3;
		if (b == 0xf0)
			c->lo = 0x90;	/* no overlong 4-byte forms */
		else if (b == 0xf4)
			c->hi = 0x8f;	/* nothing above U+10FFFF */
	} else {
		return false;
	}
	return true;
}

/* Octets with the high bit set, and one in each octet. */
#define HIGH_BITS 0x8080808080808080ULL
#define LOW_BITS 0x0101010101010101ULL

size_t
utf8_ascii_span(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t v;
	size_t i = 0;

#if defined(__SSE2__)
	/* Thirty-two octets at a time: the sign bits are the high bits, and
	 * a comparison with zero finds the NULs. */
	while (len - i >= 32) {
		const __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
		const __m128i z = _mm_setzero_si128();

		if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b),
		    _mm_or_si128(_mm_cmpeq_epi8(a, z), _mm_cmpeq_epi8(b, z)))) != 0)
			break;
		i += 32;
	}
#endif
	/* Eight octets at a time: none has its high bit set and none is
	 * zero ((v - 1) & ~v sets the high bit of some octet exactly when
	 * one is zero). */
	while (len - i >= 8) {
		memcpy(&v, p + i, 8);
		if ((v & HIGH_BITS) != 0 || ((v - LOW_BITS) & ~v & HIGH_BITS) != 0)
			break;
		i += 8;
	}
	while (i < len && p[i] != 0 && p[i] < 0x80)
		i++;
	return i;
}

void
utf8_check_feed(struct utf8_check *c, const void *buf, size_t len)
{
	const unsigned char *p = buf, *end = p + len;

	if (c->bad)
		return;
	while (p < end) {
		unsigned char b;

		/* Between sequences, runs of ASCII (most mail) are skipped
		 * whole. */
		if (c->need == 0) {
			p += utf8_ascii_span(p, (size_t)(end - p));
			if (p == end)
				break;
		}
		b = *p++;

		if (c->need > 0) {
			if (b < c->lo || b > c->hi)
				goto bad;
			c->lo = 0x80;
			c->hi = 0xbf;
			c->need--;
			continue;
		}
		if (b == 0)
			goto bad;
		if (b < 0x80)
			continue;
		if (!lead(c, b))
			goto bad;
	}
	return;
bad:
	c->bad = true;
}

bool
utf8_check_done(const struct utf8_check *c)
{
	return !c->bad && c->need == 0;
}

bool
utf8_valid(const void *buf, size_t len)
{
	struct utf8_check c;

	utf8_check_init(&c);
	utf8_check_feed(&c, buf, len);
	return utf8_check_done(&c);
}
