/*
 * benchtool.c - the small, fast loops the benchmark needs, so that the
 * measuring side never becomes the bottleneck it measures.
 *
 *   benchtool fill DIR TMPDIR COUNT SIZE
 *       writes COUNT spool files (common/message.h format) of a SIZE-byte
 *       message into DIR, each written in TMPDIR and renamed into DIR as
 *       PostOffice does, without fsync (setup, not measurement)
 *   benchtool disk-write DIR COUNT SIZE
 *       the disk's ceiling for a durable spool write, one file at a time:
 *       write, fdatasync, rename, fsync of the folder
 *   benchtool disk-group DIR COUNT SIZE GROUP seq|kick
 *       the same with one folder fsync per GROUP files (group commit);
 *       kick starts the write-back of the whole group before its syncs
 *   benchtool disk-syncfs DIR COUNT SIZE GROUP
 *       GROUP files written and renamed into DIR without a sync each,
 *       then one syncfs(2) for the group: the filesystem's whole journal
 *       commit shared by the group (and by anything else written there)
 *   benchtool disk-journal DIR COUNT SIZE GROUP CHECKPOINT
 *       a journal in front of the spool: each record appended to one
 *       preallocated file, one fdatasync per GROUP records; every record
 *       also written as its spool file behind the journal (renamed into
 *       DIR, not synced); every CHECKPOINT records one syncfs(2) makes
 *       the spool files durable and the journal starts again at offset 0
 *   benchtool disk-drain DIR COUNT SIZE
 *       the filesystem's ceiling for a drain: COUNT files of SIZE bytes
 *       made untimed, then open + read + unlink of each, timed
 *   benchtool serve FILE PORT
 *       serves FILE's bytes from memory as the answer to every request,
 *       over libmicrohttpd as PostMaster does, on 127.0.0.1:PORT; prints
 *       "ready" and runs until standard input closes (the HTTP ceiling
 *       of a drain: no file to open, read, check or remove)
 *   benchtool drain URL legacy|lease COUNT DEPTH SIZE DIR TMPDIR
 *       drains COUNT messages over one keep-alive connection, 50 per
 *       request, keeping DIR at about DEPTH queued files (refilled
 *       untimed); prints throughput and per-batch latency
 *   benchtool drain-curve URL COUNT STEP DIR PID
 *       GET / over one keep-alive connection until COUNT messages came
 *       back, printing the rate of every STEP messages as the drain
 *       passes it (a rate that falls off shows as a curve, not in one
 *       mean); at every step DIR's queued files are counted, untimed,
 *       and those beyond what is left to serve are the deletion backlog;
 *       PID's CPU time (all its threads; 0: none) is charged to each
 *       step; after the last step the backlog is watched until it is
 *       gone (at most 60 s).  One line per step, then one for the whole:
 *         step=N drained=D seconds=S rate=R cpu_ms=C backlog=B p99_ms=P
 *         total drained=D requests=Q seconds=S rate=R cpu_ms=C p50_ms=P
 *             p99_ms=P max_backlog=B backlog_end=B settle_ms=T
 *   benchtool spawn COUNT PATH
 *       spawns PATH COUNT times, one after the other
 *   benchtool idle HOST PORT COUNT SECONDS
 *       opens COUNT SMTP sessions, reads each greeting, prints "ready"
 *       and holds them until SECONDS pass or standard input closes
 *   benchtool send HOST PORT SIZE
 *       sends one message of SIZE bytes in one SMTP session
 *   benchtool latency HOST PORT COUNT INTERVAL_MS STAMPFILE TIMEOUT
 *       sends COUNT messages to rcpt-I@example.com, one every INTERVAL_MS,
 *       noting when each got its 250; then waits for STAMPFILE (written by
 *       stampsendmail: "I SECONDS" per line) to hold COUNT lines and
 *       prints the percentiles of the difference
 *
 * The disk ceilings also print cpu_ms: the loop's own CPU time (user +
 * system) per file.
 *
 * Results are printed as key=value pairs on one line.  Exit status 0 on
 * success, 1 on any failure (with a reason on stderr).
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define BATCH 50

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("benchtool: ", stderr);
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

static double
wallclock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
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

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of n sorted values, nearest rank. */
static double
percentile(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100.0 * n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static void
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* --- fill ----------------------------------------------------------- */

/* A time-ordered spool id: 14 hex of microseconds, 18 of counter and
 * randomness, as common/spool.c makes them. */
static void
make_id(char id[33])
{
	static uint64_t last;
	static unsigned seq;
	struct timeval tv;
	uint64_t t;

	gettimeofday(&tv, NULL);
	t = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	if (t <= last)
		t = last + 1;
	last = t;
	seq++;
	snprintf(id, 33, "%014llx%08x%010llx",
	    (unsigned long long)(t & 0xffffffffffffffULL), seq,
	    (unsigned long long)((uint64_t)random() << 8 ^ (uint64_t)getpid()) &
	    0xffffffffffULL);
}

/* The JSON of one message whose raw form is about size bytes: headers,
 * then lines of 76 printable characters; body repeats the text part as
 * the original's smtpd did. */
static char *
make_json(const char *id, size_t size, size_t *len)
{
	static const char alphabet[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
	char head[512], stamp[32];
	char *text, *json;
	size_t hl, tl, i, cap;
	time_t t = time(NULL);

	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&t));
	hl = (size_t)snprintf(head, sizeof(head),
	    "From: sender@example.com\\r\\nTo: rcpt@example.org\\r\\n"
	    "Subject: benchmark %s\\r\\nMessage-ID: <%s@example.com>\\r\\n"
	    "Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n", id, id);
	tl = size > hl ? size - hl : 64;
	text = malloc(tl + tl / 76 * 4 + 8);
	if (text == NULL)
		die("out of memory");
	for (i = 0, cap = 0; cap < tl; i++) {
		if (i % 77 == 76) {
			memcpy(text + cap, "\\r\\n", 4);
			cap += 4;
		} else {
			text[cap] = alphabet[(i * 7 + cap) % (sizeof(alphabet) - 1)];
			cap++;
		}
	}
	text[cap] = '\0';
	cap = 2 * cap + hl + 1024;
	json = malloc(cap);
	if (json == NULL)
		die("out of memory");
	*len = (size_t)snprintf(json, cap,
	    "{\"id\":\"%s\",\"mail_from\":\"sender@example.com\","
	    "\"rcpt_tos\":[\"rcpt@example.org\"],"
	    "\"subject\":\"benchmark %s\",\"body\":\"%s\","
	    "\"timestamp\":\"%s\",\"client\":\"127.0.0.1\",\"size\":%zu,"
	    "\"attempts\":0,\"data\":\"%s%s\"}\n",
	    id, id, text, stamp, size, head, text);
	free(text);
	return json;
}

static void
fill(const char *dir, const char *tmpdir, long count, size_t size)
{
	char id[33], tmp[4096], dst[4096];
	long i;

	for (i = 0; i < count; i++) {
		size_t len;
		char *json;
		int fd;

		make_id(id);
		json = make_json(id, size, &len);
		snprintf(tmp, sizeof(tmp), "%s/%s.fill", tmpdir, id);
		snprintf(dst, sizeof(dst), "%s/%s", dir, id);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			die("%s: %s", tmp, strerror(errno));
		write_all(fd, json, len);
		close(fd);
		if (rename(tmp, dst) < 0)
			die("rename %s: %s", dst, strerror(errno));
		free(json);
	}
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

/* --- the disk's ceilings ------------------------------------------- */

/* This process's CPU time so far (user + system), in seconds. */
static double
cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* What every disk ceiling starts with: a SIZE-byte buffer, DIR/.tmp, a
 * descriptor of DIR for its syncs, and the clocks started. */
struct disk {
	char *buf;
	int dfd;
	double t0, c0;
};

static void
disk_begin(struct disk *d, const char *dir, size_t size)
{
	char tmp[4096];

	if ((d->buf = malloc(size)) == NULL)
		die("out of memory");
	memset(d->buf, 'x', size);
	snprintf(tmp, sizeof(tmp), "%s/.tmp", dir);
	mkdir(tmp, 0700);
	d->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dfd < 0)
		die("%s: %s", dir, strerror(errno));
	d->c0 = cpu_now();
	d->t0 = now();
}

/* Prints the ceiling's line for count files and frees what began it. */
static void
disk_end(struct disk *d, long count)
{
	double t = now() - d->t0;

	close(d->dfd);
	free(d->buf);
	printf("count=%ld seconds=%.3f rate=%.1f cpu_ms=%.4f\n", count, t,
	    count / t, (cpu_now() - d->c0) * 1e3 / count);
}

/* File DIR/<tag><i>: written in DIR/.tmp, its data synced when sync is
 * set, renamed into DIR. */
static void
disk_put(const struct disk *d, const char *dir, char tag, long i,
    size_t size, bool sync)
{
	char tmp[4096], dst[4096];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.tmp/%c%ld", dir, tag, i);
	snprintf(dst, sizeof(dst), "%s/%c%ld", dir, tag, i);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", tmp, strerror(errno));
	write_all(fd, d->buf, size);
	if (sync && fdatasync(fd) < 0)
		die("fdatasync: %s", strerror(errno));
	close(fd);
	if (rename(tmp, dst) < 0)
		die("rename: %s", strerror(errno));
}

static void
disk_write(const char *dir, long count, size_t size)
{
	struct disk d;
	long i;

	disk_begin(&d, dir, size);
	for (i = 0; i < count; i++) {
		disk_put(&d, dir, 'f', i, size, true);
		if (fsync(d.dfd) < 0)
			die("fsync: %s", strerror(errno));
	}
	disk_end(&d, count);
}

/* Group commit as a spool can do it: GROUP files written, their data
 * synced, renamed, then one fsync of the folder for the group.  "seq"
 * syncs the files one after the other; "kick" first starts the
 * write-back of every file of the group (sync_file_range) so that the
 * fdatasyncs after it share the device's and the journal's work. */
static void
disk_group(const char *dir, long count, size_t size, long group,
    const char *mode)
{
	char tmp[4096], dst[4096];
	bool kick = strcmp(mode, "kick") == 0;
	struct disk d;
	int *fds;
	long i, g;

	fds = calloc((size_t)(group > 0 ? group : 1), sizeof(*fds));
	if (fds == NULL || group < 1)
		die("out of memory or bad group");
	disk_begin(&d, dir, size);
	for (i = 0; i < count; i += group) {
		long n = count - i < group ? count - i : group;

		for (g = 0; g < n; g++) {
			snprintf(tmp, sizeof(tmp), "%s/.tmp/g%ld", dir, i + g);
			fds[g] = open(tmp, O_WRONLY | O_CREAT | O_TRUNC |
			    O_CLOEXEC, 0600);
			if (fds[g] < 0)
				die("%s: %s", tmp, strerror(errno));
			write_all(fds[g], d.buf, size);
		}
		for (g = 0; kick && g < n; g++)
			if (sync_file_range(fds[g], 0, 0,
			    SYNC_FILE_RANGE_WRITE) < 0)
				die("sync_file_range: %s", strerror(errno));
		for (g = 0; g < n; g++) {
			if (fdatasync(fds[g]) < 0)
				die("fdatasync: %s", strerror(errno));
			close(fds[g]);
			snprintf(tmp, sizeof(tmp), "%s/.tmp/g%ld", dir, i + g);
			snprintf(dst, sizeof(dst), "%s/g%ld", dir, i + g);
			if (rename(tmp, dst) < 0)
				die("rename: %s", strerror(errno));
		}
		if (fsync(d.dfd) < 0)
			die("fsync: %s", strerror(errno));
	}
	free(fds);
	disk_end(&d, count);
}

static void
disk_syncfs(const char *dir, long count, size_t size, long group)
{
	struct disk d;
	long i;

	if (group < 1)
		die("bad group");
	disk_begin(&d, dir, size);
	for (i = 0; i < count; i++) {
		disk_put(&d, dir, 's', i, size, false);
		if (((i + 1) % group == 0 || i + 1 == count) && syncfs(d.dfd) < 0)
			die("syncfs: %s", strerror(errno));
	}
	disk_end(&d, count);
}

static void
disk_journal(const char *dir, long count, size_t size, long group,
    long checkpoint)
{
	char path[4096], *rec;
	size_t len = (size + 4095) & ~(size_t)4095;	/* whole blocks */
	struct disk d;
	off_t off = 0;
	int jfd;
	long i;

	rec = malloc(len);
	if (rec == NULL || group < 1 || checkpoint < group)
		die("out of memory, or a bad group or checkpoint");
	memset(rec, 'x', len);
	snprintf(path, sizeof(path), "%s/.journal", dir);
	jfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (jfd < 0)
		die("%s: %s", path, strerror(errno));
	/* Allocated and synced before the clock starts, as a daemon would
	 * at start: an overwrite in place changes no metadata, so each
	 * fdatasync writes data blocks and no journal commit. */
	if (posix_fallocate(jfd, 0, (off_t)len * checkpoint) != 0)
		die("fallocate: %s", strerror(errno));
	for (i = 0; i < checkpoint; i++)
		if (pwrite(jfd, rec, len, (off_t)len * i) != (ssize_t)len)
			die("pwrite: %s", strerror(errno));
	if (fsync(jfd) < 0)
		die("fsync: %s", strerror(errno));
	disk_begin(&d, dir, size);
	for (i = 0; i < count; i++) {
		if (pwrite(jfd, rec, len, off) != (ssize_t)len)
			die("pwrite: %s", strerror(errno));
		off += (off_t)len;
		if (((i + 1) % group == 0 || i + 1 == count) &&
		    fdatasync(jfd) < 0)
			die("fdatasync: %s", strerror(errno));
		disk_put(&d, dir, 'j', i, size, false);
		if ((i + 1) % checkpoint == 0 || i + 1 == count) {
			if (syncfs(d.dfd) < 0)
				die("syncfs: %s", strerror(errno));
			off = 0;
		}
	}
	disk_end(&d, count);
	close(jfd);
	unlink(path);
	free(rec);
}

static void
disk_drain(const char *dir, long count, size_t size)
{
	char path[4096], *buf;
	double t0, t, c0;
	long i;

	buf = malloc(size + 1);
	if (buf == NULL)
		die("out of memory");
	memset(buf, 'x', size);
	for (i = 0; i < count; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%ld", dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			die("%s: %s", path, strerror(errno));
		write_all(fd, buf, size);
		close(fd);
	}
	c0 = cpu_now();
	t0 = now();
	for (i = 0; i < count; i++) {
		ssize_t n;
		size_t got = 0;
		int fd;

		snprintf(path, sizeof(path), "%s/f%ld", dir, i);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("%s: %s", path, strerror(errno));
		while ((n = read(fd, buf + got, size + 1 - got)) > 0)
			got += (size_t)n;
		close(fd);
		if (got != size || unlink(path) < 0)
			die("%s: short read or unlink failed", path);
	}
	t = now() - t0;
	free(buf);
	printf("count=%ld seconds=%.3f rate=%.1f cpu_ms=%.4f\n", count, t,
	    count / t, (cpu_now() - c0) * 1e3 / count);
}

/* --- the HTTP ceiling of a drain -------------------------------------- */

struct served {
	char *body;
	size_t len;
};

static enum MHD_Result
serve_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **ctx)
{
	static int seen;
	struct served *sv = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	if (*ctx == NULL) {
		*ctx = &seen;
		return MHD_YES;
	}
	*upload_len = 0;
	r = MHD_create_response_from_buffer(sv->len, sv->body,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void
serve(const char *file, long port)
{
	struct served sv = { NULL, 0 };
	struct MHD_Daemon *d;
	struct stat st;
	char line[64];
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0)
		die("%s: %s", file, strerror(errno));
	sv.len = (size_t)st.st_size;
	if ((sv.body = malloc(sv.len + 1)) == NULL)
		die("out of memory");
	if (read(fd, sv.body, sv.len) != (ssize_t)sv.len)
		die("%s: short read", file);
	close(fd);
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, (uint16_t)port,
	    NULL, NULL, serve_request, &sv, MHD_OPTION_END);
	if (d == NULL)
		die("cannot serve on port %ld", port);
	printf("ready port=%ld bytes=%zu\n", port, sv.len);
	while (fgets(line, sizeof(line), stdin) != NULL)
		;
	MHD_stop_daemon(d);
	free(sv.body);
}

/* --- HTTP drain ----------------------------------------------------- */

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
 * the quoted key cannot occur inside a value. */
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

/* --- a sustained drain, measured as it goes ------------------------- */

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

/* The p-th percentile of n values, sorted here. */
static double
sorted_percentile(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return percentile(v, n, p);
}

static void
drain_curve(const char *url, long count, long step, const char *dir,
    long pid)
{
	struct buf b = { 0 };
	double t0, t, busy = 0, step_busy = 0, cpu0, step_cpu0, *lat, *slat;
	long drained = 0, start, nreq = 0, snreq = 0;
	long empty = 0, backlog, max_backlog = 0, n, k = 0, code;
	CURLcode rc;
	CURL *c;

	if (count == 0 || step == 0)
		die("COUNT and STEP must be positive");
	lat = calloc((size_t)count + 1, sizeof(*lat));
	slat = calloc((size_t)count + 1, sizeof(*slat));
	if (lat == NULL || slat == NULL || (c = curl_easy_init()) == NULL)
		die("out of memory");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	start = count_queued(dir);
	if (start < count)
		die("%s holds %ld messages, fewer than %ld", dir, start,
		    count);
	cpu0 = step_cpu0 = cpu_of(pid);
	/* Bounded: too many empty answers in a row end the run. */
	while (drained < count && empty < 200) {
		b.len = 0;
		t0 = now();
		if ((rc = curl_easy_perform(c)) != CURLE_OK)
			die("%s: %s", url, curl_easy_strerror(rc));
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
			backlog = count_queued(dir) - (start - drained);
			if (backlog > max_backlog)
				max_backlog = backlog;
			printf("step=%ld drained=%ld seconds=%.3f rate=%.0f "
			    "cpu_ms=%.4f backlog=%ld p99_ms=%.2f\n", k, drained,
			    step_busy, (drained - (k - 1) * step) / step_busy,
			    (cpu - step_cpu0) * 1e3 / (drained - (k - 1) * step),
			    backlog, sorted_percentile(slat, (size_t)snreq, 99) * 1e3);
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
		while ((backlog = count_queued(dir) - (start - drained)) > 0 &&
		    now() - t1 < 60)
			usleep(10000);
		cpu = cpu_of(pid);
		p50 = sorted_percentile(lat, (size_t)nreq, 50);
		p99 = sorted_percentile(lat, (size_t)nreq, 99);
		printf("total drained=%ld requests=%ld seconds=%.3f rate=%.0f "
		    "cpu_ms=%.4f p50_ms=%.2f p99_ms=%.2f max_backlog=%ld "
		    "backlog_end=%ld settle_ms=%.0f\n", drained, nreq, busy,
		    drained / busy, (cpu - cpu0) * 1e3 / drained, p50 * 1e3,
		    p99 * 1e3, max_backlog, backlog, (now() - t1) * 1e3);
	}
	curl_easy_cleanup(c);
	free(b.p);
	free(lat);
	free(slat);
}

/* Copies the 32-hex string value of each "id" key into ids. */
static long
find_ids(const char *s, char ids[][33], long max)
{
	long n = 0;

	while (n < max && (s = strstr(s, "\"id\"")) != NULL) {
		s += 4;
		s += strspn(s, " :");
		if (*s == '"' && strspn(s + 1, "0123456789abcdef") == 32) {
			memcpy(ids[n], s + 1, 32);
			ids[n][32] = '\0';
			n++;
		}
	}
	return n;
}

static bool
find_lease(const char *s, char lease[25])
{
	s = strstr(s, "\"lease\"");
	if (s == NULL)
		return false;
	s += 7;
	s += strspn(s, " :");
	if (*s != '"' || strspn(s + 1, "0123456789abcdef") != 24)
		return false;
	memcpy(lease, s + 1, 24);
	lease[24] = '\0';
	return true;
}

static long
http(CURL *c, const char *url, bool post, struct buf *b)
{
	long code = 0;
	CURLcode rc;

	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (post) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	} else
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		die("%s: %s", url, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		die("%s: HTTP status %ld: %.200s", url, code, b->p ? b->p : "");
	return code;
}

static void
drain(const char *base, const char *mode, long count, long depth,
    size_t size, const char *dir, const char *tmpdir)
{
	char url[1024], lease[25], ids[BATCH][33];
	struct buf b = { 0 };
	double *lat, busy = 0, t0, t, first, warm99;
	long drained = 0, queued, nreq = 0, empty = 0, i;
	bool legacy = strcmp(mode, "legacy") == 0;
	CURL *c;

	if (!legacy && strcmp(mode, "lease") != 0)
		die("mode must be legacy or lease");
	lat = calloc((size_t)count + 16, sizeof(*lat));
	c = curl_easy_init();
	if (lat == NULL || c == NULL)
		die("out of memory");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	queued = count_queued(dir);
	/* Bounded: each request either drains messages or counts as empty,
	 * and too many empty answers in a row end the run. */
	while (drained < count && empty < 200) {
		long n;

		if (queued < depth) {
			fill(dir, tmpdir, depth - queued, size);
			queued = depth;
		}
		t0 = now();
		if (legacy) {
			snprintf(url, sizeof(url), "%s/", base);
			http(c, url, false, &b);
			n = count_messages(b.p ? b.p : "");
		} else {
			snprintf(url, sizeof(url), "%s/lease?max=%d", base, BATCH);
			http(c, url, true, &b);
			n = find_ids(b.p ? b.p : "", ids, BATCH);
			if (n > 0 && !find_lease(b.p, lease))
				die("no lease token in: %.200s", b.p);
		}
		t = now() - t0;
		if (nreq < count + 16)
			lat[nreq++] = t;
		for (i = 0; !legacy && i < n; i++) {
			if (snprintf(url, sizeof(url), "%s/leases/%s/%s/ack",
			    base, lease, ids[i]) >= (int)sizeof(url))
				die("URL too long");
			http(c, url, true, &b);
		}
		busy += now() - t0;
		if (n == 0) {
			empty++;
			usleep(1000);
			continue;
		}
		empty = 0;
		drained += n;
		queued -= n;
	}
	if (drained < count)
		die("drained only %ld of %ld messages", drained, count);
	/* The first request also pays for the new connection warming up
	 * (TCP's windows, the client's buffers): the later ones are given
	 * apart as well. */
	first = nreq > 0 ? lat[0] : 0;
	if (nreq > 1)
		qsort(lat + 1, (size_t)nreq - 1, sizeof(*lat), cmp_double);
	warm99 = nreq > 1 ? percentile(lat + 1, (size_t)nreq - 1, 99) : 0;
	qsort(lat, (size_t)nreq, sizeof(*lat), cmp_double);
	printf("drained=%ld requests=%ld seconds=%.3f rate=%.1f "
	    "p50_ms=%.2f p99_ms=%.2f first_ms=%.2f warm_p99_ms=%.2f\n",
	    drained, nreq, busy, drained / busy,
	    percentile(lat, (size_t)nreq, 50) * 1e3,
	    percentile(lat, (size_t)nreq, 99) * 1e3, first * 1e3, warm99 * 1e3);
	curl_easy_cleanup(c);
	free(b.p);
	free(lat);
}

/* --- processes ------------------------------------------------------ */

static void
spawn(long count, const char *path)
{
	char *argv[] = { (char *)path, NULL };
	double t0 = now(), t;
	long i;

	for (i = 0; i < count; i++) {
		pid_t pid;
		int st;

		if (posix_spawn(&pid, path, NULL, NULL, argv, environ) != 0)
			die("spawn %s failed", path);
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			die("%s failed", path);
	}
	t = now() - t0;
	printf("count=%ld seconds=%.3f rate=%.1f\n", count, t, count / t);
}

/* --- SMTP ----------------------------------------------------------- */

static int
dial(const char *host, const char *port)
{
	struct addrinfo hints = { 0 }, *res;
	int fd, rc;

	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		die("%s: %s", host, gai_strerror(rc));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Reads one (possibly multi-line) reply; returns its code, -1 on EOF. */
static int
reply(int fd)
{
	char line[1024];
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, line + len, 1);

		if (n <= 0)
			return -1;
		if (line[len] == '\n' || len == sizeof(line) - 2) {
			line[len + 1] = '\0';
			if (len >= 3 && line[3] != '-')
				return atoi(line);
			len = 0;
			continue;
		}
		len++;
	}
}

static void
expect(int fd, const char *cmd, int want)
{
	int code;

	if (cmd != NULL)
		write_all(fd, cmd, strlen(cmd));
	code = reply(fd);
	if (code / 100 != want / 100)
		die("%s: got %d, wanted %d", cmd ? cmd : "greeting", code, want);
}

static void
raise_fd_limit(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)need + 64) {
		rl.rlim_cur = (rlim_t)need + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("cannot raise the fd limit: %s", strerror(errno));
	}
}

static void
idle(const char *host, const char *port, long count, long seconds)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	long i, ok = 0, refused = 0;
	int *fds;
	double end;

	raise_fd_limit(count);
	fds = calloc((size_t)count, sizeof(*fds));
	if (fds == NULL)
		die("out of memory");
	for (i = 0; i < count; i++) {
		fds[i] = dial(host, port);
		if (fds[i] < 0)
			die("connect %ld: %s", i, strerror(errno));
		if (reply(fds[i]) == 220)
			ok++;
		else
			refused++;
	}
	printf("ready sessions=%ld refused=%ld\n", ok, refused);
	fflush(stdout);
	end = now() + seconds;
	while (now() < end) {
		char c;

		if (poll(&pfd, 1, 100) > 0 && read(0, &c, 1) <= 0)
			break;
	}
	for (i = 0; i < count; i++)
		close(fds[i]);
	free(fds);
}

/* Sends the body of one message of about size bytes. */
static void
send_body(int fd, const char *subject, size_t size)
{
	char line[80], *chunk;
	size_t sent = 0, clen = 0, ccap = 1 << 16;

	chunk = malloc(ccap);
	if (chunk == NULL)
		die("out of memory");
	snprintf(chunk, ccap, "From: sender@example.com\r\nTo: "
	    "rcpt@example.org\r\nSubject: %s\r\n\r\n", subject);
	clen = strlen(chunk);
	memset(line, 'a', 76);
	memcpy(line + 76, "\r\n", 2);
	while (sent + clen < size) {
		if (clen + 78 > ccap) {
			write_all(fd, chunk, clen);
			sent += clen;
			clen = 0;
		}
		memcpy(chunk + clen, line, 78);
		clen += 78;
	}
	memcpy(chunk + clen, ".\r\n", 3);
	write_all(fd, chunk, clen + 3);
	free(chunk);
}

static void
send_one(const char *host, const char *port, size_t size)
{
	double t0 = now();
	int fd = dial(host, port);

	if (fd < 0)
		die("connect: %s", strerror(errno));
	expect(fd, NULL, 220);
	expect(fd, "EHLO bench.example.com\r\n", 250);
	expect(fd, "MAIL FROM:<sender@example.com>\r\n", 250);
	expect(fd, "RCPT TO:<rcpt@example.org>\r\n", 250);
	expect(fd, "DATA\r\n", 354);
	send_body(fd, "big", size);
	expect(fd, NULL, 250);
	expect(fd, "QUIT\r\n", 221);
	close(fd);
	printf("sent=%zu seconds=%.3f\n", size, now() - t0);
}

static long
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c;

	if (f == NULL)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void
latency(const char *host, const char *port, long count, long interval_ms,
    const char *stampfile, long timeout)
{
	double *accepted, *lat, end;
	char cmd[128], subject[64];
	long i, n = 0, got;
	FILE *f;
	int fd = dial(host, port);

	accepted = calloc((size_t)count, sizeof(*accepted));
	lat = calloc((size_t)count, sizeof(*lat));
	if (fd < 0 || accepted == NULL || lat == NULL)
		die("connect: %s", strerror(errno));
	expect(fd, NULL, 220);
	expect(fd, "EHLO bench.example.com\r\n", 250);
	for (i = 0; i < count; i++) {
		expect(fd, "MAIL FROM:<sender@example.com>\r\n", 250);
		snprintf(cmd, sizeof(cmd), "RCPT TO:<rcpt-%ld@example.org>\r\n", i);
		expect(fd, cmd, 250);
		expect(fd, "DATA\r\n", 354);
		snprintf(subject, sizeof(subject), "latency %ld", i);
		send_body(fd, subject, 2048);
		expect(fd, NULL, 250);
		accepted[i] = wallclock();
		usleep((useconds_t)interval_ms * 1000);
	}
	expect(fd, "QUIT\r\n", 221);
	close(fd);
	end = now() + timeout;
	while ((got = count_lines(stampfile)) < count && now() < end)
		usleep(50000);
	f = fopen(stampfile, "r");
	if (f == NULL)
		die("%s: %s", stampfile, strerror(errno));
	for (;;) {
		long idx;
		double t;

		if (fscanf(f, "%ld %lf", &idx, &t) != 2)
			break;
		if (idx >= 0 && idx < count && accepted[idx] > 0) {
			lat[n++] = t - accepted[idx];
			accepted[idx] = 0;	/* count each message once */
		}
	}
	fclose(f);
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("delivered=%ld of=%ld p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
	    n, count, percentile(lat, (size_t)n, 50) * 1e3,
	    percentile(lat, (size_t)n, 99) * 1e3,
	    n ? lat[n - 1] * 1e3 : 0.0);
	free(accepted);
	free(lat);
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(cmd, "fill") == 0 && argc == 6)
		fill(argv[2], argv[3], num(argv[4]), (size_t)num(argv[5]));
	else if (strcmp(cmd, "disk-write") == 0 && argc == 5)
		disk_write(argv[2], num(argv[3]), (size_t)num(argv[4]));
	else if (strcmp(cmd, "disk-group") == 0 && argc == 7)
		disk_group(argv[2], num(argv[3]), (size_t)num(argv[4]),
		    num(argv[5]), argv[6]);
	else if (strcmp(cmd, "disk-syncfs") == 0 && argc == 6)
		disk_syncfs(argv[2], num(argv[3]), (size_t)num(argv[4]),
		    num(argv[5]));
	else if (strcmp(cmd, "disk-journal") == 0 && argc == 7)
		disk_journal(argv[2], num(argv[3]), (size_t)num(argv[4]),
		    num(argv[5]), num(argv[6]));
	else if (strcmp(cmd, "disk-drain") == 0 && argc == 5)
		disk_drain(argv[2], num(argv[3]), (size_t)num(argv[4]));
	else if (strcmp(cmd, "serve") == 0 && argc == 4)
		serve(argv[2], num(argv[3]));
	else if (strcmp(cmd, "drain") == 0 && argc == 9) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		drain(argv[2], argv[3], num(argv[4]), num(argv[5]),
		    (size_t)num(argv[6]), argv[7], argv[8]);
		curl_global_cleanup();
	} else if (strcmp(cmd, "drain-curve") == 0 && argc == 7) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		drain_curve(argv[2], num(argv[3]), num(argv[4]), argv[5],
		    num(argv[6]));
		curl_global_cleanup();
	} else if (strcmp(cmd, "spawn") == 0 && argc == 4)
		spawn(num(argv[2]), argv[3]);
	else if (strcmp(cmd, "idle") == 0 && argc == 6)
		idle(argv[2], argv[3], num(argv[4]), num(argv[5]));
	else if (strcmp(cmd, "send") == 0 && argc == 5)
		send_one(argv[2], argv[3], (size_t)num(argv[4]));
	else if (strcmp(cmd, "latency") == 0 && argc == 8)
		latency(argv[2], argv[3], num(argv[4]), num(argv[5]), argv[6],
		    num(argv[7]));
	else {
		fprintf(stderr, "usage: see the comment at the top of "
		    "bench/benchtool.c\n");
		return 1;
	}
	return 0;
}
