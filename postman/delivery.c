/*
 * delivery.c - helpers shared by the delivery backends (see delivery.h).
 */
#include "postman/delivery.h"

#include <string.h>
#include <time.h>

const char *
outcome_name(enum outcome o)
{
	switch (o) {
	case OUTCOME_SENT:
		return "sent";
	case OUTCOME_DEFERRED:
		return "deferred";
	case OUTCOME_BOUNCED:
		return "bounced";
	}
	return "unknown";
}

void
reason_clean(char *out, size_t outlen, const char *text, size_t len)
{
	size_t i, o = 0;
	bool space = false;
	unsigned char c;

	if (outlen == 0)
		return;
	for (i = 0; i < len && text[i] != '\0'; i++) {
		c = (unsigned char)text[i];
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = o > 0;
			continue;
		}
		if (space) {
			if (o + 1 >= outlen)
				break;
			out[o++] = ' ';
			space = false;
		}
		if (o + 1 >= outlen)
			break;
		out[o++] = (char)c;
	}
	if (i < len && text[i] != '\0' && outlen > 4) {
		/* Cut: say so. */
		if (o > outlen - 4)
			o = outlen - 4;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

double
monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool
delivery_should_stop(const struct delivery_ctl *ctl)
{
	if (ctl == NULL)
		return false;
	if (ctl->halt || (ctl->flag != NULL && *ctl->flag))
		return true;
	return ctl->deadline > 0 && monotonic_now() >= ctl->deadline;
}

void
delivery_done(struct delivery *d, struct delivery_ctl *ctl)
{
	if (ctl != NULL && ctl->done != NULL)
		ctl->done(d, ctl);
}

void
backend_free(struct backend *b)
{
	if (b != NULL && b->free != NULL)
		b->free(b);
}
