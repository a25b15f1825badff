/*
 * drainrate.c - a sustained drain, measured as it goes: GET / over one
 * keep-alive connection until COUNT messages have come back, with the
 * rate of every STEP messages printed as the drain passes it, so that a
 * rate that falls off with the queue's depth, or with the deletions
 * piling up behind it, shows as a curve rather than disappearing into
 * one mean.
 *
 *   drainrate URL COUNT STEP DIR PID
 *
 * DIR is the served folder: at every step its queued files (names of 32
 * hex digits) are counted, untimed, and those beyond what is still to be
 * served are the deletion backlog (messages handed out, not yet
 * unlinked).  PID is the server process whose CPU time (user + system,
 * all its threads, from /proc/PID/stat) is charged to the messages of
 * each step; 0 leaves it out.  After the last step the backlog is
 * watched until it is gone (at most 60 s).
 *
 * One line per step, then one for the whole drain, as key=value pairs:
 *   step=N drained=D seconds=S rate=R cpu_ms=C backlog=B p99_ms=P
 *   total drained=D requests=Q seconds=S rate=R cpu_ms=C p50_ms=P
 *       p99_ms=P max_backlog=B backlog_end=B settle_ms=T
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("drainrate: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long
num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0)
		die("not a count: %s", s);
	return v;
}

/* CPU seconds of process pid so far, all threads (0 for pid 0). */
static double
cpu_of(long pid)
{
	char path[64], buf[2048], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	if (pid == 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: fields count from its ")". */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		die("%s: unexpected format", path);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Queued spool files in dir: names of exactly 32 hex digits. */
static long
count_queued(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		die("%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) == 32 &&
		    strspn(e->d_name, "0123456789abcdef") == 32)
			n++;
	closedir(d);
	return n;
}

struct buf {
	char *p;
	size_t len, cap;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (p == NULL)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* Counts "mail_from" keys: a quote inside a JSON string is escaped, so
 * the quoted key cannot occur inside a value.  The original's server
 * writes ": " after a key, ours ":"; the key alone is counted. */
static long
count_messages(const char *s)
{
	long n = 0;

	while ((s = strstr(s, "\"mail_from\"")) != NULL) {
		n++;
		s += 11;
	}
	return n;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of n values (sorted here), nearest rank. */
static double
percentile(double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	k = (size_t)(p / 100.0 * n + 0.999999);
	k = k < 1 ? 1 : k > n ? n : k;
	return v[k - 1];
}

int
main(int argc, char **argv)
{
	struct buf b = { 0 };
	double t0, t, busy = 0, step_busy = 0, cpu0, step_cpu0, *lat, *slat;
	long count, step, pid, drained = 0, start, nreq = 0, snreq = 0;
	long empty = 0, backlog, max_backlog = 0, n, k = 0, code;
	CURLcode rc;
	CURL *c;

	if (argc != 6)
		die("usage: drainrate URL COUNT STEP DIR PID");
	count = num(argv[2]);
	step = num(argv[3]);
	pid = num(argv[5]);
	if (count == 0 || step == 0)
		die("COUNT and STEP must be positive");
	lat = calloc((size_t)count + 1, sizeof(*lat));
	slat = calloc((size_t)count + 1, sizeof(*slat));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (lat == NULL || slat == NULL || (c = curl_easy_init()) == NULL)
		die("out of memory");
	curl_easy_setopt(c, CURLOPT_URL, argv[1]);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	start = count_queued(argv[4]);
	if (start < count)
		die("%s holds %ld messages, fewer than %ld", argv[4], start,
		    count);
	cpu0 = step_cpu0 = cpu_of(pid);
	/* Bounded: too many empty answers in a row end the run. */
	while (drained < count && empty < 200) {
		b.len = 0;
		t0 = now();
		if ((rc = curl_easy_perform(c)) != CURLE_OK)
			die("%s: %s", argv[1], curl_easy_strerror(rc));
		t = now() - t0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200)
			die("HTTP status %ld: %.200s", code, b.p ? b.p : "");
		busy += t;
		step_busy += t;
		lat[nreq++] = t;
		slat[snreq++] = t;
		if ((n = count_messages(b.p != NULL ? b.p : "")) == 0) {
			empty++;
			continue;
		}
		empty = 0;
		drained += n;
		if (drained / step > k || drained >= count) {
			double cpu = cpu_of(pid);

			k = drained / step;
			/* Still on disk, beyond what is left to serve. */
			backlog = count_queued(argv[4]) - (start - drained);
			if (backlog > max_backlog)
				max_backlog = backlog;
			printf("step=%ld drained=%ld seconds=%.3f rate=%.0f "
			    "cpu_ms=%.4f backlog=%ld p99_ms=%.2f\n", k, drained,
			    step_busy, (drained - (k - 1) * step) / step_busy,
			    (cpu - step_cpu0) * 1e3 / (drained - (k - 1) * step),
			    backlog, percentile(slat, (size_t)snreq, 99) * 1e3);
			fflush(stdout);
			step_busy = 0;
			snreq = 0;
			step_cpu0 = cpu;
		}
	}
	if (drained < count)
		die("drained only %ld of %ld messages", drained, count);
	{
		double cpu, p50, p99, t1 = now();

		/* The deletions still pending when the last response came,
		 * whose CPU time is the drain's too. */
		while ((backlog = count_queued(argv[4]) - (start - drained)) > 0 &&
		    now() - t1 < 60)
			usleep(10000);
		cpu = cpu_of(pid);
		p50 = percentile(lat, (size_t)nreq, 50);
		p99 = percentile(lat, (size_t)nreq, 99);
		printf("total drained=%ld requests=%ld seconds=%.3f rate=%.0f "
		    "cpu_ms=%.4f p50_ms=%.2f p99_ms=%.2f max_backlog=%ld "
		    "backlog_end=%ld settle_ms=%.0f\n", drained, nreq, busy,
		    drained / busy, (cpu - cpu0) * 1e3 / drained, p50 * 1e3,
		    p99 * 1e3, max_backlog, backlog, (now() - t1) * 1e3);
	}
	curl_easy_cleanup(c);
	curl_global_cleanup();
	free(b.p);
	free(lat);
	free(slat);
	return 0;
}
