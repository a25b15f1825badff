/*
 * commit.c - encoding and group commit of spool files on worker threads
 * (commit.h).
 */
#include "postoffice/commit.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "postoffice/journal.h"

struct job {
	struct job *next;
	/* until encoded */
	struct queue_msg *qm;
	struct smtp_envelope env;	/* a copy, in envbuf */
	char *client;			/* in envbuf */
	char *envbuf;
	size_t body_max, max_file;
	/* after */
	struct spool_file *f;
	char id[SPOOL_ID_LEN + 1];
	enum commit_status status;
	bool ok, renamed;
	char *logline;
	struct strbuf json;		/* the file's contents, to journal */
	size_t joff;			/* where its record went */
	char err[256];
	commit_done done;
	void *arg;
};

/* A journaled message waiting for its checkpoint (journal.h). */
struct staged {
	struct staged *next;
	struct spool_file *f;		/* NULL: write it again from its record */
	char id[SPOOL_ID_LEN + 1];
	size_t off, len;		/* its record in the journal file */
};

/* A checkpoint makes its files durable with one syncfs(2) from this many
 * on, and fdatasyncs each below it. */
#define SYNCFS_MIN 8

/* The commit thread stops taking messages while this many wait for a
 * checkpoint, or while the current journal file is half full, until the
 * checkpoint thread takes them. */
#define STAGED_MAX 20000

/* A checkpoint starts once this many messages wait for one, or once
 * the first of them has waited this long: at a low rate each checkpoint
 * (four syncs) then covers several messages instead of one, and every
 * message is still in the queue well within 50 ms of its 250. */
#define CHECKPOINT_GROUP 64
#define CHECKPOINT_WAIT_MS 5

/* How long a checkpoint waits before trying again what failed. */
#define RETRY_SECONDS 1

/* Threads that fdatasync a group's files side by side (with the worker
 * itself), so that the filesystem folds their journal commits into one. */
#define SYNC_HELPERS 7

struct commit {
	struct spool *sp;
	struct event *notify;		/* made active by the worker */
	pthread_t thread;
	pthread_t helper[SYNC_HELPERS];
	int nhelpers;
	pthread_t encoder[COMMIT_ENCODERS];
	int nencoders;
	pthread_mutex_t slock;		/* guards the fields below */
	pthread_cond_t swork, sdone;
	struct job **sq;		/* the files of the group to sync */
	size_t sq_n, sq_next, sq_left;
	bool sstop;
	pthread_mutex_t lock;
	pthread_cond_t wake, ewake;
	struct job *etodo, **etodo_tail; /* submitted, to encode, FIFO */
	bool estop;
	struct job *todo, **todo_tail;	/* encoded, to commit, FIFO */
	struct job *done, **done_tail;	/* finished, for the loop */
	bool stop;
	size_t pending;			/* only touched by the loop thread */
	/* the journal: NULL when another process holds it */
	struct journal *jr;
	pthread_t ckthread;
	bool ckstarted;
	pthread_cond_t ckwake;
	struct staged *ck_next, **ck_next_tail; /* in the current file */
	size_t ck_next_n;
	struct timespec ck_first;	/* when the first of them was added */
	struct staged *ck_batch;	/* the checkpoint thread's */
	int ck_old;			/* its journal file */
	bool ck_busy, ckstop;
};

static void
job_free(struct job *j)
{
	queue_msg_free(j->qm);
	if (j->f != NULL)
		spool_file_abort(j->f);
	free(j->envbuf);
	free(j->logline);
	free(j->json.p);
	free(j);
}

static void
staged_free(struct staged *s)
{
	if (s->f != NULL)
		spool_file_abort(s->f);
	free(s);
}

static void
set_err(struct job *j, const char *what)
{
	snprintf(j->err, sizeof(j->err), "%s: %s", what, strerror(errno));
}

/*
 * The durable write: each file's data synced before its rename, the
 * renames made durable by the folder fsync.  A group shares the
 * folder fsync.  If that fsync fails, the renamed files are unlinked
 * again: their clients get 451 and will retry, so none may stay.
 */
static void
sync_one(struct job *j)
{
	if (spool_file_sync(j->f) == -1) {
		set_err(j, "fdatasync");
		spool_file_abort(j->f);
		j->f = NULL;
	}
}

/* Takes files to sync from c->sq until none is left; called with slock
 * held, returns with it held. */
static void
sync_some(struct commit *c)
{
	struct job *j;

	while (c->sq_next < c->sq_n) {
		j = c->sq[c->sq_next++];
		pthread_mutex_unlock(&c->slock);
		sync_one(j);
		pthread_mutex_lock(&c->slock);
		if (--c->sq_left == 0)
			pthread_cond_signal(&c->sdone);
	}
}

static void *
helper(void *arg)
{
	struct commit *c = arg;

	pthread_mutex_lock(&c->slock);
	for (;;) {
		while (c->sq_next >= c->sq_n && !c->sstop)
			pthread_cond_wait(&c->swork, &c->slock);
		if (c->sq_next >= c->sq_n)
			break;
		sync_some(c);
	}
	pthread_mutex_unlock(&c->slock);
	return NULL;
}

/* fdatasyncs the n files of jobs side by side: this thread and the
 * helpers take them one by one until all are done. */
static void
sync_all(struct commit *c, struct job **jobs, size_t n)
{
	pthread_mutex_lock(&c->slock);
	c->sq = jobs;
	c->sq_n = n;
	c->sq_next = 0;
	c->sq_left = n;
	pthread_cond_broadcast(&c->swork);
	sync_some(c);
	while (c->sq_left > 0)
		pthread_cond_wait(&c->sdone, &c->slock);
	c->sq = NULL;
	c->sq_n = c->sq_next = 0;
	pthread_mutex_unlock(&c->slock);
}

static void
commit_group(struct commit *c, struct job *group)
{
	struct job *j, **tosync;
	int dfd = spool_dirfd(c->sp, SPOOL_QUEUE);
	bool any = false;
	size_t n;

	/* Start every file's write-back first, so that the fdatasyncs below
	 * mostly wait for I/O already under way and share journal commits
	 * instead of paying one each. */
	for (j = group; j != NULL; j = j->next) {
		if (j->f != NULL && spool_file_start_sync(j->f) == -1) {
			set_err(j, "write");
			spool_file_abort(j->f);
			j->f = NULL;
		}
	}
	/* Side by side when there are several and room to list them; one
	 * after the other otherwise. */
	for (n = 0, j = group; j != NULL; j = j->next)
		n += j->f != NULL;
	tosync = n > 1 && c->nhelpers > 0 ? malloc(n * sizeof(*tosync)) : NULL;
	for (n = 0, j = group; j != NULL; j = j->next) {
		if (j->f == NULL)
			continue;
		if (tosync != NULL)
			tosync[n++] = j;
		else
			sync_one(j);
	}
	if (tosync != NULL) {
		sync_all(c, tosync, n);
		free(tosync);
	}
	for (j = group; j != NULL; j = j->next) {
		if (j->f == NULL)
			continue;
		if (spool_file_commit(j->f, SPOOL_QUEUE, j->id) == -1) {
			set_err(j, "rename");
		} else {
			j->renamed = true;
			any = true;
		}
		j->f = NULL;
	}
	if (!any)
		return;
	if (spool_sync(c->sp, SPOOL_QUEUE) == 0) {
		for (j = group; j != NULL; j = j->next)
			if (j->renamed)
				j->ok = true;
		return;
	}
	for (j = group; j != NULL; j = j->next) {
		if (!j->renamed)
			continue;
		set_err(j, "fsync of the queue folder");
		unlinkat(dfd, j->id, 0);
	}
	(void)spool_sync(c->sp, SPOOL_QUEUE);
}

/* "from=<a@b>, to=<c@d>, to=<e@f>, nrcpt=2, size=N, client=A" */
static char *
message_logline(const struct smtp_envelope *env, size_t size,
    const char *client)
{
	char *buf, *p;
	size_t i, len;

	len = strlen(env->mail_from) + strlen(client) + 96;
	for (i = 0; i < env->nrcpt; i++)
		len += strlen(env->rcpt[i]) + 8;
	if ((buf = malloc(len)) == NULL)
		return NULL;
	p = buf + sprintf(buf, "from=<%s>", env->mail_from);
	for (i = 0; i < env->nrcpt; i++)
		p += sprintf(p, ", to=<%s>", env->rcpt[i]);
	sprintf(p, ", nrcpt=%zu, size=%zu, client=%s", env->nrcpt, size, client);
	return buf;
}

/* The message's spool file, written and not yet synced, in j->f; or the
 * reason there is none in j->status and j->err. */
static void
encode(struct commit *c, struct job *j)
{
	char id[SPOOL_ID_LEN + 1];
	size_t size;
	int saved;

	/* With a journal the file's contents are kept for its record. */
	j->f = queue_msg_finish_copy(j->qm, &j->env, j->client, j->body_max,
	    j->max_file, id, &size, c->jr != NULL ? &j->json : NULL,
	    JOURNAL_RECORD_MAX, j->err, sizeof(j->err));
	saved = errno;
	queue_msg_free(j->qm);
	j->qm = NULL;
	if (j->f == NULL) {
		j->status = saved == EMSGSIZE ? COMMIT_TOO_BIG : COMMIT_FAILED;
		return;
	}
	/* Written out now, so that a full disk is seen before the 250, and
	 * its write-back started. */
	if (spool_file_start_sync(j->f) == -1) {
		set_err(j, "write");
		spool_file_abort(j->f);
		j->f = NULL;
		j->status = COMMIT_FAILED;
		return;
	}
	j->logline = message_logline(&j->env, size, j->client);
}

/* Passes finished jobs to the loop; called with c->lock held. */
static void
report(struct commit *c, struct job *first, struct job *last)
{
	*c->done_tail = first;
	c->done_tail = &last->next;
	last->next = NULL;
}

static void *
encoder(void *arg)
{
	struct commit *c = arg;
	struct job *j;
	bool failed;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->etodo == NULL && !c->estop)
			pthread_cond_wait(&c->ewake, &c->lock);
		if ((j = c->etodo) == NULL)
			break;
		if ((c->etodo = j->next) == NULL)
			c->etodo_tail = &c->etodo;
		j->next = NULL;
		pthread_mutex_unlock(&c->lock);

		encode(c, j);

		pthread_mutex_lock(&c->lock);
		failed = j->f == NULL;
		if (failed) {
			report(c, j, j);
		} else {
			*c->todo_tail = j;
			c->todo_tail = &j->next;
			pthread_cond_signal(&c->wake);
		}
		if (failed) {
			pthread_mutex_unlock(&c->lock);
			event_active(c->notify, EV_READ, 0);
			pthread_mutex_lock(&c->lock);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/*
 * The journaled part of a group: each file's record appended, one
 * fdatasync for them all.  Those done go on *staged, to be made durable
 * by a checkpoint; a message whose record does not fit in the journal
 * file is left to commit_group(), which syncs its file before its 250.
 */
static void
journal_group(struct commit *c, struct job *group, struct staged **out,
    size_t *nout)
{
	struct staged *s, *list = NULL, **tail = &list;
	struct job *j;
	bool any = false;
	size_t n = 0;

	for (j = group; j != NULL; j = j->next) {
		j->renamed = false;	/* here: appended */
		if (j->f == NULL || j->json.p == NULL)
			continue;
		j->joff = journal_size(c->jr);
		if (journal_append(c->jr, j->id, j->json.p, j->json.len) == 0) {
			j->renamed = any = true;
			continue;
		}
		if (errno == EFBIG)
			continue;		/* synced as a file instead */
		set_err(j, "journal write");
		spool_file_abort(j->f);
		j->f = NULL;
	}
	if (!any)
		return;
	if (journal_sync(c->jr) == -1) {
		for (j = group; j != NULL; j = j->next) {
			if (!j->renamed)
				continue;
			set_err(j, "journal fdatasync");
			spool_file_abort(j->f);
			j->f = NULL;
			j->renamed = false;
		}
		return;
	}
	for (j = group; j != NULL; j = j->next) {
		if (!j->renamed)
			continue;
		j->renamed = false;
		if ((s = calloc(1, sizeof(*s))) == NULL) {
			/* Its record is durable and it was not acknowledged:
			 * refused, it comes back at the next start (and the
			 * client's retry is a second copy; at least once). */
			snprintf(j->err, sizeof(j->err), "out of memory");
			spool_file_abort(j->f);
			j->f = NULL;
			continue;
		}
		s->f = j->f;
		j->f = NULL;
		memcpy(s->id, j->id, sizeof(s->id));
		s->off = j->joff;
		s->len = j->json.len;
		free(j->json.p);
		j->json = (struct strbuf){ NULL, 0, 0 };
		j->ok = true;
		*tail = s;
		tail = &s->next;
		n++;
	}
	*out = list;
	*nout = n;
}

/* Milliseconds since the first message waiting for a checkpoint was
 * acknowledged. */
static double
waited_ms(const struct commit *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - c->ck_first.tv_sec) * 1e3 +
	    (double)(now.tv_nsec - c->ck_first.tv_nsec) / 1e6;
}

static bool staged_full(const struct commit *c);

/* A checkpoint can start: the last one is over, and enough messages
 * wait or the first of them has waited long enough. */
static bool
can_hand_over(const struct commit *c)
{
	return c->ck_next != NULL && !c->ck_busy &&
	    (c->ck_next_n >= CHECKPOINT_GROUP || c->stop || staged_full(c) ||
	    waited_ms(c) >= CHECKPOINT_WAIT_MS);
}

/* Waits on c->wake, at most until the waiting messages' checkpoint is
 * due when there are some and the checkpoint thread is free. */
static void
worker_wait(struct commit *c)
{
	struct timespec due;
	long ns;

	if (c->ck_next == NULL || c->ck_busy) {
		pthread_cond_wait(&c->wake, &c->lock);
		return;
	}
	due = c->ck_first;
	ns = due.tv_nsec + (long)(CHECKPOINT_WAIT_MS * 1e6);
	due.tv_sec += ns / 1000000000L;
	due.tv_nsec = ns % 1000000000L;
	pthread_cond_timedwait(&c->wake, &c->lock, &due);
}

static bool
staged_full(const struct commit *c)
{
	return c->jr != NULL && (c->ck_next_n >= STAGED_MAX ||
	    journal_size(c->jr) >= JOURNAL_FILE_MAX / 2);
}

static bool
worker_done(const struct commit *c)
{
	return c->stop && c->todo == NULL && c->ck_next == NULL && !c->ck_busy;
}

/* Gives the checkpoint thread every message of the current journal
 * file, and starts the other file; with c->lock held. */
static void
hand_over(struct commit *c)
{
	c->ck_batch = c->ck_next;
	c->ck_next = NULL;
	c->ck_next_tail = &c->ck_next;
	c->ck_next_n = 0;
	c->ck_old = journal_switch(c->jr);
	c->ck_busy = true;
	pthread_cond_signal(&c->ckwake);
}

static void *
worker(void *arg)
{
	struct commit *c = arg;
	struct job *group, *last;
	struct staged *staged;
	size_t nstaged;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!can_hand_over(c) && (c->todo == NULL || staged_full(c)) &&
		    !worker_done(c))
			worker_wait(c);
		if (can_hand_over(c))
			hand_over(c);
		if (worker_done(c))
			break;
		if (c->todo == NULL || staged_full(c))
			continue;
		group = c->todo;
		c->todo = NULL;
		c->todo_tail = &c->todo;
		pthread_mutex_unlock(&c->lock);

		staged = NULL;
		nstaged = 0;
		if (c->jr != NULL)
			journal_group(c, group, &staged, &nstaged);
		commit_group(c, group);

		for (last = group; last->next != NULL; last = last->next)
			;
		pthread_mutex_lock(&c->lock);
		if (staged != NULL) {
			if (c->ck_next == NULL)
				clock_gettime(CLOCK_MONOTONIC, &c->ck_first);
			*c->ck_next_tail = staged;
			while (staged->next != NULL)
				staged = staged->next;
			c->ck_next_tail = &staged->next;
			c->ck_next_n += nstaged;
		}
		report(c, group, last);
		pthread_mutex_unlock(&c->lock);
		event_active(c->notify, EV_READ, 0);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* --- the checkpoint --- */

static bool
stopping(struct commit *c)
{
	bool stop;

	pthread_mutex_lock(&c->lock);
	stop = c->stop;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

/* Sleeps before a retry; false when PostOffice is stopping instead (what
 * is left is in the journal, for the next start). */
static bool
retry_pause(struct commit *c, const char *what, int *logged)
{
	if (!*logged)
		log_err("checkpoint: %s; trying again every %d s", what,
		    RETRY_SECONDS);
	*logged = 1;
	if (stopping(c))
		return false;
	sleep(RETRY_SECONDS);
	return !stopping(c);
}

/* The file of s failed at step what: dropped, to be written again from
 * its record. */
static void
rewrite(struct staged *s, const char *what)
{
	log_warn("checkpoint: %s: %s: %s; written again from its record",
	    s->id, what, strerror(errno));
	spool_file_abort(s->f);
	s->f = NULL;
}

/*
 * Makes every file of batch durable in .staged/, empties the journal
 * file old that holds their records, then moves them into the queue.  A
 * file that cannot be synced or renamed is written again from its
 * record; what keeps failing is tried again until it works, or until
 * PostOffice stops (then the journal still has it).
 */
static void
checkpoint(struct commit *c, struct staged *batch, int old)
{
	int qfd = spool_dirfd(c->sp, SPOOL_QUEUE);
	int sfd = spool_dirfd(c->sp, SPOOL_STAGED);
	char err[256];
	struct staged *s;
	size_t n = 0;
	int logged = 0;

	for (s = batch; s != NULL; s = s->next) {
		if (s->f != NULL && spool_file_start_sync(s->f) == -1)
			rewrite(s, "write");
		n += s->f != NULL;
	}
	if (n >= SYNCFS_MIN && syncfs(qfd) == 0) {
		/* every file's data is durable */
	} else {
		for (s = batch; s != NULL; s = s->next)
			if (s->f != NULL && spool_file_sync(s->f) == -1)
				rewrite(s, "fdatasync");
	}
	for (s = batch; s != NULL; s = s->next) {
		if (s->f == NULL)
			continue;
		/* On failure f is freed and its temporary file removed. */
		if (spool_file_commit(s->f, SPOOL_STAGED, s->id) == -1)
			log_warn("checkpoint: %s: rename into .staged: %s; "
			    "written again from its record", s->id,
			    strerror(errno));
		s->f = NULL;
	}
	/* What failed on the way: written again from its record (read back
	 * from the journal file, which nothing writes meanwhile), synced
	 * with its folder. */
	for (s = batch; s != NULL; s = s->next) {
		struct stat st;
		char *json;

		if (fstatat(sfd, s->id, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		for (;;) {
			if ((json = malloc(s->len + 1)) == NULL)
				snprintf(err, sizeof(err), "out of memory");
			else if (journal_read(c->jr, old, s->off, json,
			    s->len) == -1)
				snprintf(err, sizeof(err), "%s: reading its "
				    "record: %s", s->id, strerror(errno));
			else if (spool_put(c->sp, SPOOL_STAGED, s->id, json,
			    s->len, err, sizeof(err)) == 0)
				break;
			free(json);
			if (!retry_pause(c, err, &logged))
				return;
		}
		free(json);
	}
	while (spool_sync(c->sp, SPOOL_STAGED) == -1) {
		snprintf(err, sizeof(err), "fsync of .staged: %s",
		    strerror(errno));
		if (!retry_pause(c, err, &logged))
			return;
	}
	while (journal_clear(c->jr, old) == -1) {
		snprintf(err, sizeof(err), "emptying the journal: %s",
		    strerror(errno));
		if (!retry_pause(c, err, &logged))
			return;
	}
	if (logged)
		log_info("checkpoint: the disk works again");
	for (s = batch; s != NULL; s = s->next)
		if (renameat(sfd, s->id, qfd, s->id) == -1)
			log_err("checkpoint: %s: into the queue: %s (it is "
			    "queued at the next start)", s->id, strerror(errno));
	/* No fsync of the queue folder: a file whose rename into it a
	 * crash undoes is still in .staged/, and goes into the queue at the
	 * next start; PostMaster syncs the folder when it removes one. */
}

static void *
checkpointer(void *arg)
{
	struct commit *c = arg;
	struct staged *batch, *s;
	int old;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->ck_busy && !c->ckstop)
			pthread_cond_wait(&c->ckwake, &c->lock);
		if (!c->ck_busy)
			break;
		batch = c->ck_batch;
		old = c->ck_old;
		pthread_mutex_unlock(&c->lock);

		checkpoint(c, batch, old);
		while ((s = batch) != NULL) {
			batch = s->next;
			staged_free(s);
		}

		pthread_mutex_lock(&c->lock);
		c->ck_batch = NULL;
		c->ck_busy = false;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* On the loop thread: report every finished job. */
static void
notified(evutil_socket_t fd, short what, void *arg)
{
	struct commit *c = arg;
	struct job *list, *j;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->lock);
	list = c->done;
	c->done = NULL;
	c->done_tail = &c->done;
	pthread_mutex_unlock(&c->lock);
	while ((j = list) != NULL) {
		list = j->next;
		c->pending--;
		if (j->status == COMMIT_OK && !j->ok)
			j->status = COMMIT_FAILED;
		if (j->status == COMMIT_OK)
			j->done(j->arg, j->id, COMMIT_OK,
			    j->logline != NULL ? j->logline : "");
		else
			j->done(j->arg, j->id, j->status, j->err);
		job_free(j);
	}
}

static void
stop_helpers(struct commit *c)
{
	pthread_mutex_lock(&c->slock);
	c->sstop = true;
	pthread_cond_broadcast(&c->swork);
	pthread_mutex_unlock(&c->slock);
	while (c->nhelpers > 0)
		pthread_join(c->helper[--c->nhelpers], NULL);
}

static void
stop_worker(struct commit *c)
{
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
}

static void
stop_checkpointer(struct commit *c)
{
	if (!c->ckstarted)
		return;
	pthread_mutex_lock(&c->lock);
	c->ckstop = true;
	pthread_cond_signal(&c->ckwake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->ckthread, NULL);
	c->ckstarted = false;
}

struct commit *
commit_new(struct event_base *base, struct spool *sp, struct journal *jr,
    char *err, size_t errlen)
{
	pthread_condattr_t ca;
	struct commit *c;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->sp = sp;
	c->jr = jr;
	c->ck_next_tail = &c->ck_next;
	pthread_cond_init(&c->ckwake, NULL);
	c->etodo_tail = &c->etodo;
	c->todo_tail = &c->todo;
	c->done_tail = &c->done;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&c->ewake, NULL);
	pthread_mutex_init(&c->slock, NULL);
	pthread_cond_init(&c->swork, NULL);
	pthread_cond_init(&c->sdone, NULL);
	if ((c->notify = event_new(base, -1, 0, notified, c)) == NULL) {
		snprintf(err, errlen, "event_new failed");
		goto fail;
	}
	/* Without helpers the worker syncs alone: slower, not wrong. */
	while (c->nhelpers < SYNC_HELPERS && pthread_create(
	    &c->helper[c->nhelpers], NULL, helper, c) == 0)
		c->nhelpers++;
	if (jr != NULL && (rc = pthread_create(&c->ckthread, NULL,
	    checkpointer, c)) != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(rc));
		goto fail;
	}
	c->ckstarted = jr != NULL;
	if ((rc = pthread_create(&c->thread, NULL, worker, c)) != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(rc));
		stop_checkpointer(c);
		goto fail;
	}
	/* One encoder is enough to be right; more keep a large message
	 * from delaying the others. */
	while (c->nencoders < COMMIT_ENCODERS && pthread_create(
	    &c->encoder[c->nencoders], NULL, encoder, c) == 0)
		c->nencoders++;
	if (c->nencoders == 0) {
		snprintf(err, errlen, "pthread_create: cannot start an encoder");
		stop_worker(c);
		stop_checkpointer(c);
		goto fail;
	}
	return c;
fail:
	stop_helpers(c);
	if (c->notify != NULL)
		event_free(c->notify);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->ewake);
	pthread_cond_destroy(&c->ckwake);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

void
commit_free(struct commit *c)
{
	struct job *j;

	if (c == NULL)
		return;
	/* The encoders finish what is submitted, then the worker what they
	 * passed on. */
	pthread_mutex_lock(&c->lock);
	c->estop = true;
	pthread_cond_broadcast(&c->ewake);
	pthread_mutex_unlock(&c->lock);
	while (c->nencoders > 0)
		pthread_join(c->encoder[--c->nencoders], NULL);
	stop_worker(c);
	stop_checkpointer(c);
	stop_helpers(c);
	while ((j = c->done) != NULL) {
		c->done = j->next;
		job_free(j);
	}
	event_free(c->notify);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->ewake);
	pthread_cond_destroy(&c->ckwake);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->swork);
	pthread_cond_destroy(&c->sdone);
	pthread_mutex_destroy(&c->slock);
	free(c);
}

int
commit_submit(struct commit *c, struct queue_msg *qm,
    const struct smtp_envelope *env, const char *client, size_t body_max,
    size_t max_file, commit_done done, void *arg)
{
	struct job *j;
	size_t i, len, n;
	char *p;

	/* The envelope is the session's, reset once it is answered: the
	 * job keeps its own copy, in one block. */
	len = strlen(env->mail_from) + 1 + strlen(client) + 1;
	for (i = 0; i < env->nrcpt; i++)
		len += strlen(env->rcpt[i]) + 1;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->envbuf = malloc(env->nrcpt * sizeof(char *) + len)) == NULL) {
		free(j);
		queue_msg_free(qm);
		return -1;
	}
	j->env = *env;
	j->env.rcpt = (char **)(void *)j->envbuf;
	p = j->envbuf + env->nrcpt * sizeof(char *);
	for (i = 0; i < env->nrcpt; i++) {
		n = strlen(env->rcpt[i]) + 1;
		j->env.rcpt[i] = memcpy(p, env->rcpt[i], n);
		p += n;
	}
	n = strlen(env->mail_from) + 1;
	j->env.mail_from = memcpy(p, env->mail_from, n);
	p += n;
	j->client = memcpy(p, client, strlen(client) + 1);
	j->qm = qm;
	j->body_max = body_max;
	j->max_file = max_file;
	snprintf(j->id, sizeof(j->id), "%s", queue_msg_id(qm));
	j->done = done;
	j->arg = arg;
	c->pending++;
	pthread_mutex_lock(&c->lock);
	*c->etodo_tail = j;
	c->etodo_tail = &j->next;
	pthread_cond_signal(&c->ewake);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

size_t
commit_pending(const struct commit *c)
{
	return c->pending;
}
