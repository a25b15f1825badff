/*
 * fake_sendmail - a recording sendmail for the tests.
 *
 * Each invocation leaves two files in $FAKE_SENDMAIL_DIR:
 *   NAME.argv   its arguments, each followed by a NUL byte
 *   NAME.stdin  what it read from standard input, byte for byte
 * NAME sorts by time of invocation; NAME.argv appears last (by rename),
 * so a test that sees it sees a complete record.
 *
 * What it does is chosen by the first recipient (after "--") whose local
 * part starts with a mode word, else by the first word of the file
 * $FAKE_SENDMAIL_DIR/mode, else by $FAKE_SENDMAIL_MODE, else "ok":
 *   ok        read everything, exit 0
 *   tempfail  read everything, say why on stderr, exit 75 (EX_TEMPFAIL)
 *   fail      read everything, say why on stderr, exit 1
 *   exitN     read everything, exit N
 *   crash     read everything, die by SIGKILL
 *   hang      read nothing, sleep until killed
 *   early     read nothing, exit 0
 *   slowN     read everything, take N milliseconds more, exit 0
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static char name[64];

static void
die(const char *what)
{
	fprintf(stderr, "fake_sendmail: %s: %s\n", what, strerror(errno));
	exit(70);
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t w;

	while (len > 0) {
		w = write(fd, p, len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		p += w;
		len -= w;
	}
}

/* Writes DIR/.NAME.SUFFIX then renames it to DIR/NAME.SUFFIX. */
static void
record(const char *suffix, const void *buf, size_t len)
{
	char tmp[4096], final[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.%s", dir, name, suffix);
	snprintf(final, sizeof(final), "%s/%s.%s", dir, name, suffix);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		die(tmp);
	write_all(fd, buf, len);
	if (close(fd) == -1 || rename(tmp, final) == -1)
		die(final);
}

static char *
read_stdin(size_t *len)
{
	size_t cap = 65536;
	char *buf = malloc(cap);
	ssize_t r;

	*len = 0;
	for (;;) {
		if (buf == NULL)
			die("malloc");
		if (*len == cap)
			buf = realloc(buf, cap *= 2);
		if (buf == NULL)
			die("realloc");
		r = read(0, buf + *len, cap - *len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			die("read");
		if (r == 0)
			return buf;
		*len += r;
	}
}

static void
record_argv(int argc, char **argv)
{
	size_t len = 0, n;
	char *buf;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if ((buf = malloc(len + 1)) == NULL)
		die("malloc");
	len = 0;
	for (i = 0; i < argc; i++) {
		n = strlen(argv[i]) + 1;
		memcpy(buf + len, argv[i], n);
		len += n;
	}
	record("argv", buf, len);
	free(buf);
}

static const char *modes[] = { "tempfail", "fail", "exit", "crash", "hang",
    "early", "slow", "ok", NULL };

static const char *
choose_mode(int argc, char **argv, char *buf, size_t buflen)
{
	char path[4096];
	const char *env;
	FILE *f;
	int i, k;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		;
	for (i++; i < argc; i++)
		for (k = 0; modes[k] != NULL; k++)
			if (strncmp(argv[i], modes[k], strlen(modes[k])) == 0) {
				snprintf(buf, buflen, "%.*s", (int)strcspn(argv[i], "@"),
				    argv[i]);
				return buf;
			}
	snprintf(path, sizeof(path), "%s/mode", dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%63s", buf) == 1) {
			fclose(f);
			return buf;
		}
		fclose(f);
	}
	env = getenv("FAKE_SENDMAIL_MODE");
	return env != NULL && *env ? env : "ok";
}

int
main(int argc, char **argv)
{
	char modebuf[64];
	const char *mode;
	struct timespec ts;
	size_t len = 0;
	char *in = NULL;

	if ((dir = getenv("FAKE_SENDMAIL_DIR")) == NULL) {
		fprintf(stderr, "fake_sendmail: FAKE_SENDMAIL_DIR is not set\n");
		return 78;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%010lld%09ld-%d", (long long)ts.tv_sec,
	    ts.tv_nsec, (int)getpid());
	mode = choose_mode(argc, argv, modebuf, sizeof(modebuf));
	if (strncmp(mode, "hang", 4) == 0 || strncmp(mode, "early", 5) == 0) {
		record("stdin", "", 0);
		record_argv(argc, argv);
		if (mode[0] == 'e')
			return 0;
		for (;;)
			pause();
	}
	in = read_stdin(&len);
	record("stdin", in, len);
	record_argv(argc, argv);
	free(in);
	if (strncmp(mode, "tempfail", 8) == 0) {
		fprintf(stderr, "fake sendmail: mail system busy,\n try again later\n");
		return 75;
	}
	if (strncmp(mode, "fail", 4) == 0) {
		fprintf(stderr, "fake sendmail: 550 mailbox unavailable\n");
		return 1;
	}
	if (strncmp(mode, "exit", 4) == 0)
		return atoi(mode + 4);
	if (strncmp(mode, "crash", 5) == 0)
		raise(SIGKILL);
	if (strncmp(mode, "slow", 4) == 0) {
		long ms = atol(mode + 4);
		struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };

		nanosleep(&d, NULL);
	}
	return 0;
}
