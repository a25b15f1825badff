/*
 * nullsendmail.c - a sendmail that accepts every message and delivers
 * none: it reads the message to the end and exits 0.  The benchmark's
 * stand-in for the local sendmail, so that PostMan's own cost shows.
 */
#include <unistd.h>

int
main(void)
{
	char buf[65536];

	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}
