/*
 * fuzz_liveness.c - no file stops the queue.  The input becomes a spool
 * of a few files; PostMaster's queue (postmaster/queue.c) claims them
 * under leases, PostMan's parser (postman/lease.c) takes each response,
 * and every message is settled as PostMan would settle it (acknowledged
 * when deliverable, a permanent failure with its refusal otherwise),
 * round after round until the queue is empty.  Nothing is delivered;
 * what is checked is that everything ends somewhere, once.
 *
 * Input: byte 0 chooses the batch size (1-4, bits 0-1), max_bytes
 * (none, 1024, 1500 or 4096: bits 2-3); then each file is a kind byte,
 * a length byte (255: the rest of the input) and that many bytes.  At
 * most FZ_LIVE_FILES files.  Kinds (kind byte % 8):
 *   0-2  a message built from the bytes (message_encode()): subject and
 *        data are the bytes (NUL, invalid UTF-8 and all), the sender
 *        and the recipients are taken by the kind byte's upper bits from
 *        a few that PostMan takes and a few it refuses; kind 0 has no id
 *        (the original PostOffice's form)
 *   3    such a message with one octet replaced (where and by what: the
 *        bytes' first three octets)
 *   4    the bytes as they are
 *   5    a symbolic link, 6 a FIFO, 7 a folder, named like an id
 * Properties:
 *   - the loop ends: each round takes at least one file out of the
 *     queue, so it is empty after at most as many rounds as files;
 *   - every response PostMaster builds is accepted whole by PostMan,
 *     its messages the batch's ids in order, none served twice;
 *   - settling (queue_ack(), queue_fail()) never fails;
 *   - a file message_check() accepts, unnamed or named by its own id,
 *     whose envelope PostMan takes, is acknowledged exactly once, or
 *     when max_bytes is set and it alone would pass it, is a dead
 *     letter saying so;
 *   - one whose envelope PostMan refuses is a dead letter with that
 *     refusal (or the max_bytes reason) as last_error;
 *   - every other file is in .quarantine/ (and nothing valid is);
 *   - nothing is left in the queue, .leased/ or .deferred/.
 *
 * The spool is a folder under /dev/shm (else $TMPDIR, else /tmp), made
 * and opened once per process and emptied after each input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/message.h"
#include "common/spool.h"
#include "postman/lease.h"
#include "postmaster/queue.h"
#include "tests/fuzz/fuzz.h"

#define FZ_LIVE_FILES 8
#define FZ_LIVE_RCPT_MAX 3
/* More than a lease response adds to one file: its head (lease token and
 * expiry), "[", "]", "}", and {"id":"ID", for a file without an id. */
#define FZ_LIVE_HEAD 128

struct fz_live_file {
	char name[SPOOL_ID_LEN + 1];
	bool regular;
	bool valid;		/* message_check() accepts it, id fits */
	bool deliverable;	/* and PostMan takes its envelope */
	size_t size;		/* of a regular file */
	int served, acked;
	char refusal[LEASE_REFUSAL_MAX];
};

/* The spool; short enough that a path under it always fits FZ_LIVE_PATH. */
static char fz_live_root[200];
/* Its queue, opened once: closing an inotify descriptor waits for the
 * kernel (a grace period), far longer than a run takes. */
static struct queue *fz_live_q;
#define FZ_LIVE_PATH 256

static const char *const fz_live_senders[] = {
	"app@example.com", "", "-oQ/tmp/x@example.org", "a b@example.org",
	"bounce+tag@example.org", "x\r\nRCPT TO:<y@example.org>",
	"<angle@example.org>", "z@example.org",
};

static const char *const fz_live_rcpts[] = {
	"you@example.net", "-rcpt@example.net", "", "other@example.net",
};

/* Removes what fd's folder holds but the spool's own areas (whose
 * names start with a dot), and closes fd. */
static void
fz_live_empty_dir(int fd)
{
	struct dirent *e;
	struct stat st;
	DIR *d;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		unlinkat(fd, e->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
	}
	closedir(d);
}

/* Empties every area of the spool (the areas stay). */
static void
fz_live_empty(void)
{
	static const char *const areas[] = { ".", ".tmp", ".leased",
	    ".deferred", ".dead", ".quarantine" };
	char path[FZ_LIVE_PATH];
	size_t i;
	int fd;

	for (i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		snprintf(path, sizeof(path), "%s/%.12s", fz_live_root, areas[i]);
		if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
			fz_live_empty_dir(fd);
	}
}

static void
fz_live_remove(void)
{
	static const char *const areas[] = { ".tmp", ".leased", ".deferred",
	    ".dead", ".quarantine" };
	char path[FZ_LIVE_PATH];
	size_t i;

	queue_free(fz_live_q);
	fz_live_empty();
	for (i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		snprintf(path, sizeof(path), "%s/%.12s", fz_live_root, areas[i]);
		rmdir(path);
	}
	rmdir(fz_live_root);
}

static void
fz_live_setup(const struct queue_config *cfg)
{
	const char *base = getenv("TMPDIR");
	struct stat st;
	char err[512];

	if (fz_live_root[0] != '\0')
		return;
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if (strlen(base) > sizeof(fz_live_root) - 20)
		base = "/tmp";
	snprintf(fz_live_root, sizeof(fz_live_root), "%s/liveness.XXXXXX",
	    base);
	FUZZ_CHECK(mkdtemp(fz_live_root) != NULL);
	atexit(fz_live_remove);
	fz_live_q = queue_open(fz_live_root, cfg, NULL, NULL, err, sizeof(err));
	if (fz_live_q == NULL)
		fprintf(stderr, "queue_open: %s\n", err);
	FUZZ_CHECK(fz_live_q != NULL);
}

static void
fz_live_write(const char *name, const void *buf, size_t len)
{
	char path[FZ_LIVE_PATH];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%.32s", fz_live_root, name);
	FUZZ_CHECK((fp = fopen(path, "wb")) != NULL);
	FUZZ_CHECK(len == 0 || fwrite(buf, 1, len, fp) == len);
	FUZZ_CHECK(fclose(fp) == 0);
}

/* A message of the bytes, encoded as PostOffice would (message.c). */
static char *
fz_live_build(struct fz_live_file *f, uint8_t kind, const uint8_t *p,
    size_t n, size_t *len)
{
	const char *rcpts[FZ_LIVE_RCPT_MAX];
	struct message m;
	size_t i;

	memset(&m, 0, sizeof(m));
	if (kind % 8 != 0)
		memcpy(m.id, f->name, sizeof(m.id));
	m.mail_from = (char *)fz_live_senders[(kind >> 3) % 8];
	m.nrcpt = 1 + (size_t)(kind >> 6) % FZ_LIVE_RCPT_MAX;
	for (i = 0; i < m.nrcpt; i++)
		rcpts[i] = fz_live_rcpts[(kind >> (3 + i)) % 4];
	m.rcpt_tos = (char **)rcpts;
	/* A length of 0 would mean strlen(): an empty one is "". */
	m.subject = n > 0 ? (char *)p : (char *)"";
	m.subject_len = n;
	m.data = (unsigned char *)p;
	m.data_len = n;
	return message_encode(&m, len);
}

static void
fz_live_make(struct fz_live_file *f, uint8_t kind, const uint8_t *p,
    size_t n)
{
	char path[FZ_LIVE_PATH];
	char *json;
	size_t len;

	snprintf(path, sizeof(path), "%s/%.32s", fz_live_root, f->name);
	f->regular = kind % 8 <= 4;
	switch (kind % 8) {
	case 5:
		FUZZ_CHECK(symlink("/dev/null", path) == 0);
		return;
	case 6:
		FUZZ_CHECK(mkfifo(path, 0600) == 0);
		return;
	case 7:
		FUZZ_CHECK(mkdir(path, 0700) == 0);
		return;
	case 4:
		fz_live_write(f->name, p, n);
		return;
	}
	FUZZ_CHECK((json = fz_live_build(f, kind, p, n, &len)) != NULL);
	if (kind % 8 == 3 && n >= 3 && len > 0)
		json[((size_t)p[0] << 8 | p[1]) % len] = (char)p[2];
	fz_live_write(f->name, json, len);
	free(json);
}

/* What the file must become: by the rule, and by PostMan's envelope
 * check (the one lease.c applies, common/addr.c). */
static void
fz_live_expect(struct fz_live_file *f, size_t max_rcpt)
{
	char path[FZ_LIVE_PATH], oid[SPOOL_ID_LEN + 1], why[256];
	struct message m;
	char *json = NULL;
	size_t len = 0, i;
	FILE *fp;
	long sz;

	if (!f->regular)
		return;
	snprintf(path, sizeof(path), "%s/%.32s", fz_live_root, f->name);
	FUZZ_CHECK((fp = fopen(path, "rb")) != NULL);
	FUZZ_CHECK(fseek(fp, 0, SEEK_END) == 0 && (sz = ftell(fp)) >= 0);
	rewind(fp);
	f->size = len = (size_t)sz;
	FUZZ_CHECK((json = malloc(len + 1)) != NULL);
	FUZZ_CHECK(fread(json, 1, len, fp) == len);
	fclose(fp);
	f->valid = message_check(json, len, oid, why, sizeof(why)) == 0 &&
	    (oid[0] == '\0' || strcmp(oid, f->name) == 0);
	if (f->valid) {
		FUZZ_CHECK(message_decode(json, len, &m, why, sizeof(why)) == 0);
		f->deliverable = addr_mail_problem(m.mail_from, true) == NULL &&
		    m.nrcpt <= max_rcpt;
		for (i = 0; i < m.nrcpt; i++)
			if (addr_mail_problem(m.rcpt_tos[i], false) != NULL)
				f->deliverable = false;
		message_clear(&m);
	}
	free(json);
}

static struct fz_live_file *
fz_live_find(struct fz_live_file *files, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(files[i].name, id) == 0)
			return &files[i];
	return NULL;
}

/* The last_error of dead letter id, malloc'd ("" when absent). */
static char *
fz_live_last_error(struct queue *q, const char *id)
{
	struct message m;
	char *json, why[256], *out;
	size_t len;

	FUZZ_CHECK(spool_read(queue_spool(q), SPOOL_DEAD, id, LIMIT_SPOOL_FILE,
	    &json, &len) == 0);
	FUZZ_CHECK(message_decode(json, len, &m, why, sizeof(why)) == 0);
	out = strdup(m.last_error ? m.last_error : "");
	FUZZ_CHECK(out != NULL);
	message_clear(&m);
	free(json);
	return out;
}

static bool
fz_live_in(struct queue *q, enum spool_area area, const char *id)
{
	struct stat st;

	return fstatat(spool_dirfd(queue_spool(q), area), id, &st,
	    AT_SYMLINK_NOFOLLOW) == 0;
}

static long
fz_live_count(struct queue *q, enum spool_area area)
{
	char **names;
	long n = spool_list(queue_spool(q), area, &names);

	FUZZ_CHECK(n >= 0);
	spool_list_free(names, n);
	return n;
}

/* One round: a lease claimed, parsed and settled.  Returns how many
 * messages it served. */
static size_t
fz_live_round(struct queue *q, struct fz_live_file *files, size_t nfiles,
    size_t batch, size_t max_bytes, const struct lease_limits *lim)
{
	char lease[SPOOL_LEASE_LEN + 1], prefix[128], err[512];
	struct fail_result res;
	struct fz_live_file *f;
	struct lease l;
	struct batch *b;
	time_t expires = time(NULL) + 300;
	char *json;
	size_t len, i, n;

	spool_lease_new(lease, expires);
	snprintf(prefix, sizeof(prefix),
	    "{\"lease\":\"%s\",\"expires\":%lld,\"messages\":", lease,
	    (long long)expires);
	b = queue_claim(q, batch, max_bytes, lease, prefix, "}", err,
	    sizeof(err));
	FUZZ_CHECK(b != NULL);
	FUZZ_CHECK(err[0] == '\0');
	if ((n = b->n) == 0) {
		batch_free(b);
		return 0;
	}
	json = batch_take_json(b, &len);
	if (max_bytes > 0)
		FUZZ_CHECK(len <= max_bytes);
	err[0] = '\0';
	if (lease_parse(json, len, lim, &l, err, sizeof(err)) != 0) {
		fprintf(stderr, "refused whole: %s\n", err);
		FUZZ_CHECK(!"PostMan refuses a response PostMaster built");
	}
	FUZZ_CHECK(l.n == b->n);
	FUZZ_CHECK(strcmp(l.id, lease) == 0);
	for (i = 0; i < l.n; i++) {
		const char *id = l.msgs[i].m.id;

		FUZZ_CHECK(strcmp(id, b->ids[i]) == 0);
		FUZZ_CHECK((f = fz_live_find(files, nfiles, id)) != NULL);
		f->served++;
		if (l.msgs[i].refusal[0] == '\0') {
			FUZZ_CHECK(queue_ack(q, lease, id) == 0);
			f->acked++;
			continue;
		}
		snprintf(f->refusal, sizeof(f->refusal), "%s", l.msgs[i].refusal);
		if (queue_fail(q, lease, id, true, l.msgs[i].refusal, time(NULL),
		    &res, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s: fail: %s\n", id, err);
			FUZZ_CHECK(!"a permanent failure could not be recorded");
		}
		FUZZ_CHECK(res.outcome == FAIL_BOUNCED);
	}
	lease_clear(&l);
	free(json);
	batch_free(b);
	return n;
}

/* Where each file ended, against what it must have become. */
static void
fz_live_verdict(struct queue *q, struct fz_live_file *files, size_t nfiles,
    size_t max_bytes)
{
	struct fz_live_file *f;
	bool dead, quarantined;
	char *why;
	size_t i;

	FUZZ_CHECK(queue_length(q) == 0);
	FUZZ_CHECK(fz_live_count(q, SPOOL_QUEUE) == 0);
	FUZZ_CHECK(fz_live_count(q, SPOOL_LEASED) == 0);
	FUZZ_CHECK(fz_live_count(q, SPOOL_DEFERRED) == 0);
	for (i = 0; i < nfiles; i++) {
		f = &files[i];
		FUZZ_CHECK(!fz_live_in(q, SPOOL_QUEUE, f->name));
		FUZZ_CHECK(f->served <= 1);
		dead = fz_live_in(q, SPOOL_DEAD, f->name);
		quarantined = fz_live_in(q, SPOOL_QUARANTINE, f->name);
		/* Exactly one place: acknowledged (gone), dead or quarantined. */
		FUZZ_CHECK((f->acked > 0) + dead + quarantined == 1);
		if (!f->valid) {
			FUZZ_CHECK(quarantined);
			continue;
		}
		FUZZ_CHECK(!quarantined);
		if (f->acked > 0) {
			FUZZ_CHECK(f->acked == 1 && f->deliverable);
			continue;
		}
		why = fz_live_last_error(q, f->name);
		/* Too large: alone, with the response's head and tail and the
		 * "id" given to a file without one (FZ_LIVE_HEAD), it would
		 * pass max_bytes. */
		if (strncmp(why, "message of ", 11) == 0)
			FUZZ_CHECK(max_bytes > 0 && f->served == 0 &&
			    f->size + FZ_LIVE_HEAD > max_bytes);
		else
			FUZZ_CHECK(!f->deliverable && f->served == 1 &&
			    strcmp(why, f->refusal) == 0);
		free(why);
	}
}

int fuzz_liveness(const uint8_t *data, size_t size);

int
fuzz_liveness(const uint8_t *data, size_t size)
{
	static const size_t max_bytes_of[] = { 0, 1024, 1500, 4096 };
	struct queue_config cfg = { 300, 10, 60, 3600, 64UL * 1024 * 1024 };
	struct lease_limits lim = { 0, 2 };
	struct fz_live_file files[FZ_LIVE_FILES];
	size_t nfiles = 0, at = 1, n, batch, max_bytes, rounds;
	struct queue *q;
	char err[512];

	if (size < 1)
		return 0;
	fz_live_setup(&cfg);
	q = fz_live_q;
	batch = 1 + (data[0] & 3);
	max_bytes = max_bytes_of[(data[0] >> 2) & 3];
	lim.max_messages = batch;
	memset(files, 0, sizeof(files));
	while (at + 2 <= size && nfiles < FZ_LIVE_FILES) {
		uint8_t kind = data[at], want = data[at + 1];
		struct fz_live_file *f = &files[nfiles];

		at += 2;
		n = want == 255 || (size_t)want > size - at ? size - at : want;
		/* Ids in arrival order, as PostOffice makes them. */
		snprintf(f->name, sizeof(f->name), "%014llx%018x",
		    0x6600000000000ULL + nfiles, (unsigned)nfiles * 7919u);
		fz_live_make(f, kind, data + at, n);
		fz_live_expect(f, lim.max_recipients);
		at += n;
		nfiles++;
	}
	/* What the last run's moves left in the inotify queue is dropped,
	 * and the folder listed afresh, as a restarted PostMaster would. */
	FUZZ_CHECK(queue_events(q, err, sizeof(err)) >= 0);
	FUZZ_CHECK(queue_rescan(q, err, sizeof(err)) == (long)nfiles);
	FUZZ_CHECK(queue_length(q) == nfiles);
	for (rounds = 0; queue_length(q) > 0; rounds++) {
		FUZZ_CHECK(rounds < nfiles);
		fz_live_round(q, files, nfiles, batch, max_bytes, &lim);
	}
	fz_live_verdict(q, files, nfiles, max_bytes);
	fz_live_empty();
	return 0;
}

FUZZ_TARGET(fuzz_liveness)
