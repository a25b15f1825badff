/*
 * json.h - the JSON text itself (RFC 8259): a scanner that walks a text
 * in place, without building a tree or copying a string, and the string
 * escaper the spool writer uses.  What a spool object is, is message.h's
 * business; this module knows only JSON.
 *
 * The scanner is strict where cJSON is lenient and where a C string would
 * lose data: no raw control characters in strings, no lone UTF-16
 * surrogates, no trailing commas, numbers of at most JSON_NUMBER_MAX
 * octets, nesting at most JSON_DEPTH_MAX deep.  It does not check UTF-8:
 * callers that serve a text as it is check it whole (utf8.h).
 *
 * Nothing here allocates, logs or exits.
 */
#ifndef POSTOFFICE_JSON_H
#define POSTOFFICE_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Deeper nesting than any spool object or lease response has. */
#define JSON_DEPTH_MAX 64
/* Longer numbers are refused (cJSON, which older readers use, reads a
 * number through a 64-octet buffer). */
#define JSON_NUMBER_MAX 63

struct json_scan {
	const unsigned char *p, *end;
	int depth;
};

/* A string's raw contents, between its quotes, still escaped. */
struct json_str {
	const unsigned char *start, *stop;
	bool escaped;		/* holds at least one backslash escape */
};

/* Starts a walk over len octets at text. */
void json_scan_init(struct json_scan *s, const void *text, size_t len);
/* Skips white space (RFC 8259 section 2). */
void json_scan_ws(struct json_scan *s);
/* True, and steps over c, when the next octet is c. */
bool json_scan_char(struct json_scan *s, char c);
/* A string at s->p; its raw contents in *out. */
bool json_scan_string(struct json_scan *s, struct json_str *out);
/* A number at s->p; its value in *value when value is not NULL. */
bool json_scan_number(struct json_scan *s, double *value);
/*
 * Any value at s->p, skipped whole; its type in *type: '"' string,
 * '{' object, '[' array, '0' number, 'n' null, 'b' true or false.
 */
bool json_scan_value(struct json_scan *s, char *type);

/* Writes the unescaped contents of a scanned string into out, which has
 * room for stop - start + 1 octets, NUL-terminated; returns their length
 * (a "\u0000" escape is a NUL octet inside it). */
size_t json_str_unescape(const struct json_str *j, char *out);
/* True when the unescaped contents would hold a NUL octet. */
bool json_str_has_nul(const struct json_str *j);
/* True when the contents are exactly the len octets at s. */
bool json_str_is(const struct json_str *j, const char *s, size_t len);

/* Escapes len octets of valid UTF-8 (NUL allowed) for the inside of a
 * JSON string into out, which has room for 6 * len octets; returns the
 * length written.  Quote, backslash and the C0 controls are escaped. */
size_t json_escape(char *out, const void *in, size_t len);

#endif
