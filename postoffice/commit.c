/*
 * commit.c - group commit of spool files on a worker thread (commit.h).
 */
#include "postoffice/commit.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct job {
	struct job *next;
	struct spool_file *f;
	char id[SPOOL_ID_LEN + 1];
	bool ok, renamed;
	char err[128];
	commit_done done;
	void *arg;
};

/* Threads that fdatasync a group's files side by side (with the worker
 * itself), so that the filesystem folds their journal commits into one. */
#define SYNC_HELPERS 7

struct commit {
	struct spool *sp;
	struct event *notify;		/* made active by the worker */
	pthread_t thread;
	pthread_t helper[SYNC_HELPERS];
	int nhelpers;
	pthread_mutex_t slock;		/* guards the fields below */
	pthread_cond_t swork, sdone;
	struct job **sq;		/* the files of the group to sync */
	size_t sq_n, sq_next, sq_left;
	bool sstop;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *todo, **todo_tail;	/* submitted, FIFO */
	struct job *done, **done_tail;	/* finished, for the loop */
	bool stop;
	size_t pending;			/* only touched by the loop thread */
};

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
		if (spool_file_start_sync(j->f) == -1) {
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
			j->ok = j->renamed;
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

static void *
worker(void *arg)
{
	struct commit *c = arg;
	struct job *group, *last;
	bool stop;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		while (c->todo == NULL && !c->stop)
			pthread_cond_wait(&c->wake, &c->lock);
		group = c->todo;
		c->todo = NULL;
		c->todo_tail = &c->todo;
		stop = c->stop;
		pthread_mutex_unlock(&c->lock);
		if (group == NULL && stop)
			break;

		commit_group(c, group);

		for (last = group; last->next != NULL; last = last->next)
			;
		pthread_mutex_lock(&c->lock);
		*c->done_tail = group;
		c->done_tail = &last->next;
		pthread_mutex_unlock(&c->lock);
		event_active(c->notify, EV_READ, 0);
	}
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
		j->done(j->arg, j->id, j->ok, j->err);
		free(j);
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

struct commit *
commit_new(struct event_base *base, struct spool *sp, char *err,
    size_t errlen)
{
	struct commit *c;
	int rc;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->sp = sp;
	c->todo_tail = &c->todo;
	c->done_tail = &c->done;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
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
	if ((rc = pthread_create(&c->thread, NULL, worker, c)) != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(rc));
		goto fail;
	}
	return c;
fail:
	stop_helpers(c);
	if (c->notify != NULL)
		event_free(c->notify);
	pthread_cond_destroy(&c->wake);
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
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	stop_helpers(c);
	while ((j = c->done) != NULL) {
		c->done = j->next;
		free(j);
	}
	event_free(c->notify);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->swork);
	pthread_cond_destroy(&c->sdone);
	pthread_mutex_destroy(&c->slock);
	free(c);
}

int
commit_submit(struct commit *c, struct spool_file *f, const char *id,
    commit_done done, void *arg)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		spool_file_abort(f);
		return -1;
	}
	j->f = f;
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->done = done;
	j->arg = arg;
	c->pending++;
	pthread_mutex_lock(&c->lock);
	*c->todo_tail = j;
	c->todo_tail = &j->next;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

size_t
commit_pending(const struct commit *c)
{
	return c->pending;
}
