/*
 * spool.c - the spool directory: durable writes, listing, and moving a
 * message between areas by rename(2).  See spool.h for the layout.
 */
#include "common/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/util.h"

#define SPOOL_BUFSIZE 65536

struct spool {
	char *path;
	int fd[SPOOL_NAREAS];
};

struct spool_file {
	struct spool *sp;
	int fd;
	char name[SPOOL_ID_LEN + 18];
	size_t used, size;
	unsigned char buf[SPOOL_BUFSIZE];
};

static const char *const area_names[SPOOL_NAREAS] = {
	[SPOOL_QUEUE] = "",
	[SPOOL_TMP] = ".tmp",
	[SPOOL_LEASED] = ".leased",
	[SPOOL_DEFERRED] = ".deferred",
	[SPOOL_DEAD] = ".dead",
	[SPOOL_QUARANTINE] = ".quarantine",
	[SPOOL_STAGED] = ".staged",
	[SPOOL_JOURNAL] = ".journal",
};

const char *
spool_area_name(enum spool_area area)
{
	return area_names[area];
}

static bool
hex_n(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

bool
spool_id_valid(const char *s)
{
	return s != NULL && hex_n(s, SPOOL_ID_LEN);
}

bool
spool_lease_valid(const char *s)
{
	return s != NULL && hex_n(s, SPOOL_LEASE_LEN);
}

/* Random bytes come from getrandom(2) a block at a time rather than one
 * call per id.  Each thread has its own block, and a forked child drops
 * the one it inherited so that two processes never hand out the same
 * bytes. */
#define RANDOM_BLOCK 256

static _Thread_local unsigned char random_block[RANDOM_BLOCK];
static _Thread_local size_t random_left;
static pthread_once_t random_once = PTHREAD_ONCE_INIT;

static void
random_forget(void)
{
	random_left = 0;
}

static void
random_watch_forks(void)
{
	pthread_atfork(NULL, NULL, random_forget);
}

static void
random_fill(unsigned char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = getrandom(buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort();	/* no entropy source: nothing sane to do */
		}
		got += n;
	}
}

static void
random_bytes(unsigned char *buf, size_t len)
{
	pthread_once(&random_once, random_watch_forks);
	if (len > RANDOM_BLOCK) {
		random_fill(buf, len);
		return;
	}
	if (random_left < len) {
		random_fill(random_block, RANDOM_BLOCK);
		random_left = RANDOM_BLOCK;
	}
	/* Taken from the end; used bytes are wiped. */
	random_left -= len;
	memcpy(buf, random_block + random_left, len);
	memset(random_block + random_left, 0, len);
}

static void
hex_encode(char *out, const unsigned char *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/*
 * An id is 14 hex digits of microseconds since the epoch (good until the
 * year 4253) then 18 random hex digits.  Within one process the time part
 * is made strictly increasing, so ids sort in the order they were made.
 */
void
spool_id_new(char id[SPOOL_ID_LEN + 1])
{
	static uint64_t last;
	struct timeval tv;
	uint64_t now, prev;
	unsigned char rnd[9];

	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	prev = __atomic_load_n(&last, __ATOMIC_RELAXED);
	do {
		if (now <= prev)
			now = prev + 1;
	} while (!__atomic_compare_exchange_n(&last, &prev, now, false,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	snprintf(id, 15, "%014llx", (unsigned long long)(now & 0xffffffffffffffULL));
	random_bytes(rnd, sizeof(rnd));
	hex_encode(id + 14, rnd, sizeof(rnd));
}

void
spool_lease_new(char lease[SPOOL_LEASE_LEN + 1], time_t expiry)
{
	unsigned char rnd[8];

	snprintf(lease, 9, "%08llx", (unsigned long long)expiry & 0xffffffffULL);
	random_bytes(rnd, sizeof(rnd));
	hex_encode(lease + 8, rnd, sizeof(rnd));
}

time_t
spool_lease_expiry(const char *lease)
{
	char part[9];

	memcpy(part, lease, 8);
	part[8] = '\0';
	return (time_t)strtoull(part, NULL, 16);
}

bool
spool_split_name(const char *name, char id[SPOOL_ID_LEN + 1],
    char lease[SPOOL_LEASE_LEN + 1])
{
	if (strlen(name) != SPOOL_ID_LEN + 1 + SPOOL_LEASE_LEN ||
	    name[SPOOL_ID_LEN] != '.')
		return false;
	memcpy(id, name, SPOOL_ID_LEN);
	id[SPOOL_ID_LEN] = '\0';
	memcpy(lease, name + SPOOL_ID_LEN + 1, SPOOL_LEASE_LEN + 1);
	return spool_id_valid(id) && spool_lease_valid(lease);
}

static void
lease_name(char *buf, const char *id, const char *lease)
{
	memcpy(buf, id, SPOOL_ID_LEN);
	buf[SPOOL_ID_LEN] = '.';
	memcpy(buf + SPOOL_ID_LEN + 1, lease, SPOOL_LEASE_LEN + 1);
}

struct spool *
spool_open(const char *dir, char *err, size_t errlen)
{
	struct spool *sp;
	struct stat st;
	bool made = false;
	int i;

	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (i = 0; i < SPOOL_NAREAS; i++)
		sp->fd[i] = -1;
	if ((sp->path = strdup(dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	sp->fd[SPOOL_QUEUE] = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->fd[SPOOL_QUEUE] == -1 || fstat(sp->fd[SPOOL_QUEUE], &st) == -1) {
		snprintf(err, errlen, "spool %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (faccessat(sp->fd[SPOOL_QUEUE], ".", R_OK | W_OK | X_OK, AT_EACCESS) == -1) {
		snprintf(err, errlen, "spool %s: not writable: %s", dir,
		    strerror(errno));
		goto fail;
	}
	for (i = 1; i < SPOOL_NAREAS; i++) {
		if (mkdirat(sp->fd[SPOOL_QUEUE], area_names[i], 0750) == 0)
			made = true;
		else if (errno != EEXIST) {
			snprintf(err, errlen, "spool %s/%s: %s", dir,
			    area_names[i], strerror(errno));
			goto fail;
		}
		sp->fd[i] = openat(sp->fd[SPOOL_QUEUE], area_names[i],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sp->fd[i] == -1) {
			snprintf(err, errlen, "spool %s/%s: %s", dir,
			    area_names[i], strerror(errno));
			goto fail;
		}
	}
	if (made && fsync(sp->fd[SPOOL_QUEUE]) == -1) {
		snprintf(err, errlen, "spool %s: fsync: %s", dir, strerror(errno));
		goto fail;
	}
	return sp;
fail:
	spool_free(sp);
	return NULL;
}

void
spool_free(struct spool *sp)
{
	int i;

	if (sp == NULL)
		return;
	for (i = 0; i < SPOOL_NAREAS; i++)
		if (sp->fd[i] != -1)
			close(sp->fd[i]);
	free(sp->path);
	free(sp);
}

const char *
spool_path(const struct spool *sp)
{
	return sp->path;
}

/* Fills err with "spool DIR[/AREA]: why"; errno is kept. */
static void
check_failed(struct spool *sp, int area, const char *why, char *err,
    size_t errlen)
{
	int saved = errno;

	snprintf(err, errlen, "spool %s%s%s: %s", sp->path,
	    area == SPOOL_QUEUE ? "" : "/", area_names[area], why);
	errno = saved;
}

int
spool_check(struct spool *sp, char *err, size_t errlen)
{
	struct stat now, opened;
	int i, fd, rc;

	for (i = 0; i < SPOOL_NAREAS; i++) {
		/* The path as it is now, against the folder opened. */
		if (i == SPOOL_QUEUE)
			rc = stat(sp->path, &now);
		else
			rc = fstatat(sp->fd[SPOOL_QUEUE], area_names[i], &now,
			    AT_SYMLINK_NOFOLLOW);
		if (rc == -1 || fstat(sp->fd[i], &opened) == -1) {
			check_failed(sp, i, strerror(errno), err, errlen);
			return -1;
		}
		if (!S_ISDIR(now.st_mode) || now.st_dev != opened.st_dev ||
		    now.st_ino != opened.st_ino) {
			errno = ESTALE;
			check_failed(sp, i, "not the folder opened at start "
			    "(moved or replaced)", err, errlen);
			return -1;
		}
		/* Opening a folder checks the right to list it, as listing
		 * does; write and search are what new files and renames
		 * need. */
		fd = openat(sp->fd[i], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd != -1)
			close(fd);
		if (fd == -1 || faccessat(sp->fd[i], ".", W_OK | X_OK,
		    AT_EACCESS) == -1) {
			check_failed(sp, i, strerror(errno), err, errlen);
			return -1;
		}
	}
	return 0;
}

int
spool_dirfd(const struct spool *sp, enum spool_area area)
{
	return sp->fd[area];
}

int
spool_sync(struct spool *sp, enum spool_area area)
{
	return fsync(sp->fd[area]);
}

int
spool_clean_tmp(struct spool *sp, time_t now, time_t min_age)
{
	struct stat st;
	char **names;
	long n, i;
	int removed = 0;

	if ((n = spool_list(sp, SPOOL_TMP, &names)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		/* Gone meanwhile (renamed by its writer): nothing to do. */
		if (fstatat(sp->fd[SPOOL_TMP], names[i], &st,
		    AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (st.st_mtime > now - min_age)
			continue;
		if (unlinkat(sp->fd[SPOOL_TMP], names[i], 0) == 0)
			removed++;
	}
	spool_list_free(names, n);
	return removed;
}

struct spool_file *
spool_file_create(struct spool *sp, const char *id, char *err, size_t errlen)
{
	struct spool_file *f;
	unsigned char rnd[8];

	if (!spool_id_valid(id)) {
		snprintf(err, errlen, "invalid id");
		errno = EINVAL;
		return NULL;
	}
	if ((f = malloc(sizeof(*f))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->sp = sp;
	f->used = f->size = 0;
	random_bytes(rnd, sizeof(rnd));
	memcpy(f->name, id, SPOOL_ID_LEN);
	f->name[SPOOL_ID_LEN] = '.';
	hex_encode(f->name + SPOOL_ID_LEN + 1, rnd, sizeof(rnd));
	f->fd = openat(sp->fd[SPOOL_TMP], f->name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (f->fd == -1) {
		snprintf(err, errlen, "create %s/%s/%s: %s", sp->path,
		    area_names[SPOOL_TMP], f->name, strerror(errno));
		free(f);
		return NULL;
	}
	return f;
}

static int
file_flush(struct spool_file *f)
{
	if (f->used > 0 && util_write_all(f->fd, f->buf, f->used) == -1)
		return -1;
	f->used = 0;
	return 0;
}

int
spool_file_write(struct spool_file *f, const void *buf, size_t len)
{
	if (f->used + len > sizeof(f->buf)) {
		if (file_flush(f) == -1)
			return -1;
		if (len >= sizeof(f->buf)) {
			if (util_write_all(f->fd, buf, len) == -1)
				return -1;
			f->size += len;
			return 0;
		}
	}
	memcpy(f->buf + f->used, buf, len);
	f->used += len;
	f->size += len;
	return 0;
}

size_t
spool_file_size(const struct spool_file *f)
{
	return f->size;
}

int
spool_file_start_sync(struct spool_file *f)
{
	if (file_flush(f) == -1)
		return -1;
	/* Unsupported by the filesystem: the later fdatasync does it all. */
	if (sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE) == -1 &&
	    errno != EINVAL && errno != ENOSYS && errno != ESPIPE)
		return -1;
	return 0;
}

int
spool_file_sync(struct spool_file *f)
{
	if (file_flush(f) == -1)
		return -1;
	return fdatasync(f->fd);
}

int
spool_file_commit(struct spool_file *f, enum spool_area area, const char *name)
{
	int rc = -1, saved;

	if (file_flush(f) == -1)
		goto out;
	if (renameat(f->sp->fd[SPOOL_TMP], f->name, f->sp->fd[area], name) == -1)
		goto out;
	rc = 0;
out:
	saved = errno;
	if (rc == -1)
		unlinkat(f->sp->fd[SPOOL_TMP], f->name, 0);
	close(f->fd);
	free(f);
	errno = saved;
	return rc;
}

void
spool_file_abort(struct spool_file *f)
{
	int saved = errno;

	if (f == NULL)
		return;
	close(f->fd);
	unlinkat(f->sp->fd[SPOOL_TMP], f->name, 0);
	free(f);
	errno = saved;
}

int
spool_put(struct spool *sp, enum spool_area area, const char *name,
    const void *buf, size_t len, char *err, size_t errlen)
{
	struct spool_file *f;
	char id[SPOOL_ID_LEN + 1];

	memcpy(id, name, SPOOL_ID_LEN);	/* names start with the id */
	id[SPOOL_ID_LEN] = '\0';
	if ((f = spool_file_create(sp, id, err, errlen)) == NULL)
		return -1;
	if (spool_file_write(f, buf, len) == -1 || spool_file_sync(f) == -1) {
		snprintf(err, errlen, "write %s: %s", name, strerror(errno));
		spool_file_abort(f);
		return -1;
	}
	if (spool_file_commit(f, area, name) == -1 || spool_sync(sp, area) == -1) {
		snprintf(err, errlen, "commit %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

int
spool_read_fd_append(int fd, size_t max, struct strbuf *b)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if ((size_t)st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	if (strbuf_reserve(b, st.st_size) == -1)
		return -1;
	while (got < (size_t)st.st_size) {
		n = read(fd, b->p + b->len + got, st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;	/* shrank under us: take what is there */
		got += n;
	}
	b->len += got;
	b->p[b->len] = '\0';
	return 0;
}

static int
read_append(struct spool *sp, enum spool_area area, const char *name,
    size_t max, struct strbuf *b)
{
	int fd, rc, saved;

	if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	fd = openat(sp->fd[area], name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	rc = spool_read_fd_append(fd, max, b);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
spool_read(struct spool *sp, enum spool_area area, const char *name,
    size_t max, char **buf, size_t *len)
{
	struct strbuf b = { NULL, 0, 0 };

	if (read_append(sp, area, name, max, &b) == -1) {
		free(b.p);
		return -1;
	}
	if (b.p == NULL && (b.p = calloc(1, 1)) == NULL)
		return -1;	/* an empty file */
	*buf = b.p;
	*len = b.len;
	return 0;
}

static bool
name_fits(enum spool_area area, const char *name)
{
	char id[SPOOL_ID_LEN + 1], lease[SPOOL_LEASE_LEN + 1];

	switch (area) {
	case SPOOL_LEASED:
	case SPOOL_DEFERRED:
		return spool_split_name(name, id, lease);
	case SPOOL_TMP:
		return name[0] != '.';
	default:
		return spool_id_valid(name);
	}
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

long
spool_list(struct spool *sp, enum spool_area area, char ***names)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0;
	int fd, saved;

	fd = openat(sp->fd[area], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!name_fits(area, de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				goto fail;
			v = nv;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto fail;
		n++;
	}
	if (errno != 0)
		goto fail;
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), name_cmp);
	*names = v;
	return (long)n;
fail:
	saved = errno;
	closedir(d);
	spool_list_free(v, (long)n);
	errno = saved;
	return -1;
}

void
spool_list_free(char **names, long n)
{
	long i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
spool_move(struct spool *sp, enum spool_area from, const char *from_name,
    enum spool_area to, const char *to_name)
{
	if (!name_fits(from, from_name) || !name_fits(to, to_name)) {
		errno = EINVAL;
		return -1;
	}
	return renameat(sp->fd[from], from_name, sp->fd[to], to_name);
}

int
spool_hold(struct spool *sp, const char *id)
{
	struct stat held, now;
	int fd, saved;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	/* Without O_NOATIME the read that follows writes the inode (a file
	 * renamed into the queue has a ctime past its atime), a journal
	 * entry per message served; only the file's owner may ask for it. */
	fd = openat(sp->fd[SPOOL_QUEUE], id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK | O_NOATIME);
	if (fd == -1 && errno == EPERM)
		fd = openat(sp->fd[SPOOL_QUEUE], id, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK);
	if (fd == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno == EWOULDBLOCK ? EBUSY : errno;
		goto fail;
	}
	if (fstat(fd, &held) == -1) {
		saved = errno;
		goto fail;
	}
	if (!S_ISREG(held.st_mode)) {
		saved = EINVAL;
		goto fail;
	}
	/* The lock came after the open: the file may meanwhile have been
	 * leased away (renamed) or delivered (removed) by its last holder. */
	if (fstatat(sp->fd[SPOOL_QUEUE], id, &now, AT_SYMLINK_NOFOLLOW) == -1 ||
	    now.st_ino != held.st_ino || now.st_dev != held.st_dev) {
		saved = ENOENT;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	errno = saved;
	return -1;
}

int
spool_unlink_held(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	return unlinkat(sp->fd[SPOOL_QUEUE], id, 0);
}

int
spool_remove_held(struct spool *sp, const char *id, int fd)
{
	int rc = spool_unlink_held(sp, id), saved = errno;

	close(fd);
	errno = saved;
	return rc;
}

int
spool_lease(struct spool *sp, const char *id, const char *lease)
{
	char name[SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2];

	if (!spool_id_valid(id) || !spool_lease_valid(lease)) {
		errno = EINVAL;
		return -1;
	}
	lease_name(name, id, lease);
	return renameat(sp->fd[SPOOL_QUEUE], id, sp->fd[SPOOL_LEASED], name);
}

int
spool_release(struct spool *sp, const char *id, const char *lease)
{
	char name[SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2];

	if (!spool_id_valid(id) || !spool_lease_valid(lease)) {
		errno = EINVAL;
		return -1;
	}
	lease_name(name, id, lease);
	return renameat(sp->fd[SPOOL_LEASED], name, sp->fd[SPOOL_QUEUE], id);
}

int
spool_ack(struct spool *sp, const char *id, const char *lease)
{
	char name[SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2];

	if (!spool_id_valid(id) || !spool_lease_valid(lease)) {
		errno = EINVAL;
		return -1;
	}
	lease_name(name, id, lease);
	return unlinkat(sp->fd[SPOOL_LEASED], name, 0);
}

static long
expire_area(struct spool *sp, enum spool_area area, time_t now,
    void (*moved)(const char *, void *), void *arg)
{
	char **names, id[SPOOL_ID_LEN + 1], lease[SPOOL_LEASE_LEN + 1];
	long n, i, count = 0;

	if ((n = spool_list(sp, area, &names)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (!spool_split_name(names[i], id, lease) ||
		    spool_lease_expiry(lease) > now)
			continue;
		/* Losing this race (ENOENT) means the holder acknowledged or
		 * another process returned it first: either is fine. */
		if (renameat(sp->fd[area], names[i], sp->fd[SPOOL_QUEUE], id) == 0) {
			count++;
			if (moved != NULL)
				moved(id, arg);
		}
	}
	spool_list_free(names, n);
	return count;
}

long
spool_expire(struct spool *sp, time_t now,
    void (*moved)(const char *id, void *arg), void *arg)
{
	long a, b;

	if ((a = expire_area(sp, SPOOL_LEASED, now, moved, arg)) < 0)
		return -1;
	if ((b = expire_area(sp, SPOOL_DEFERRED, now, moved, arg)) < 0)
		return -1;
	return a + b;
}
