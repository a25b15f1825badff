/*
 * reaper.c - a thread working through a list of served files to delete.
 */
#include "postmaster/reaper.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define REAPER_NICE 10

struct job {
	char id[SPOOL_ID_LEN + 1];
	char lease[SPOOL_LEASE_LEN + 1];
	int fd;			/* held in the queue, or -1: leased */
	struct job *next;
};

struct reaper {
	struct spool *sp;
	reaper_fail_fn fail;
	void *fail_arg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;
	size_t max_held;
	size_t pending;		/* jobs queued or being worked on */
	bool stopping;
};

/* Folders a sweep deleted from, to be synced at its end. */
#define SWEPT_QUEUE 1
#define SWEPT_LEASED 2

static void
reap(struct reaper *r, const char *id, const char *lease, int fd,
    int *swept)
{
	int rc = fd == -1 ? spool_ack(r->sp, id, lease) :
	    spool_remove_held(r->sp, id, fd);

	if (rc == -1 && r->fail != NULL)
		r->fail(r->fail_arg, id, lease, errno);
	if (rc == 0)
		*swept |= fd == -1 ? SWEPT_LEASED : SWEPT_QUEUE;
}

/* One fsync per folder and sweep: the deletions are durable together. */
static void
sync_swept(struct reaper *r, int swept)
{
	if ((swept & SWEPT_QUEUE) && spool_sync(r->sp, SPOOL_QUEUE) == -1 &&
	    r->fail != NULL)
		r->fail(r->fail_arg, "", "", errno);
	if ((swept & SWEPT_LEASED) && spool_sync(r->sp, SPOOL_LEASED) == -1 &&
	    r->fail != NULL)
		r->fail(r->fail_arg, "", "", errno);
}

static void *
run(void *arg)
{
	struct reaper *r = arg;
	struct job *j;
	size_t done;
	int swept;

	/* Deleting is background work: the requests being answered come
	 * first.  It still gets its share of the CPU, so held files never
	 * pile up. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), REAPER_NICE);
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (r->head == NULL && !r->stopping)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->head == NULL)
			break;	/* stopping, and nothing left to do */
		/* Take the whole list: the event loop may add more meanwhile
		 * without waiting for the lock one deletion at a time. */
		j = r->head;
		r->head = NULL;
		r->tail = &r->head;
		pthread_mutex_unlock(&r->mu);
		swept = 0;
		done = 0;
		while (j != NULL) {
			struct job *next = j->next;

			reap(r, j->id, j->lease, j->fd, &swept);
			free(j);
			j = next;
			done++;
		}
		sync_swept(r, swept);
		pthread_mutex_lock(&r->mu);
		r->pending -= done;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct reaper *
reaper_new(struct spool *sp, size_t max_held, reaper_fail_fn fail,
    void *fail_arg, char *err, size_t errlen)
{
	struct reaper *r;
	int e;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->sp = sp;
	r->max_held = max_held;
	r->fail = fail;
	r->fail_arg = fail_arg;
	r->tail = &r->head;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if ((e = pthread_create(&r->thread, NULL, run, r)) != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(e));
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return NULL;
	}
	return r;
}

void
reaper_add(struct reaper *r, const char (*ids)[SPOOL_ID_LEN + 1],
    size_t n, const char *lease, int *fds)
{
	struct job *first = NULL, **last = &first, *j;
	size_t i, room, queued = 0;
	int fd, swept = 0;

	pthread_mutex_lock(&r->mu);
	room = r->pending < r->max_held ? r->max_held - r->pending : 0;
	pthread_mutex_unlock(&r->mu);
	for (i = 0; i < n; i++) {
		fd = fds != NULL ? fds[i] : -1;
		if (fds != NULL)
			fds[i] = -1;	/* the reaper's now */
		if (queued == room || (j = calloc(1, sizeof(*j))) == NULL) {
			reap(r, ids[i], lease, fd, &swept);
			continue;
		}
		memcpy(j->id, ids[i], sizeof(j->id));
		memcpy(j->lease, lease, sizeof(j->lease));
		j->fd = fd;
		*last = j;
		last = &j->next;
		queued++;
	}
	sync_swept(r, swept);
	if (first == NULL)
		return;
	/* One lock and one wake-up for the whole batch. */
	pthread_mutex_lock(&r->mu);
	*r->tail = first;
	r->tail = last;
	r->pending += queued;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

size_t
reaper_pending(struct reaper *r)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	n = r->pending;
	pthread_mutex_unlock(&r->mu);
	return n;
}

void
reaper_free(struct reaper *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
