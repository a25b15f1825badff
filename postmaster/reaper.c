/*
 * reaper.c - worker threads working through a list of served files to
 * delete.
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
/* Workers, each deleting a sweep of its own.  Removing a held file's name
 * is quick; its last close, where the filesystem frees the inode and its
 * blocks, is what takes the time, and much of it is waiting: for the
 * device, where freed blocks are discarded as they are freed (ext4
 * without a journal mounted with -o discard: a synchronous discard per
 * file, about 130 us here against 4 us for the unlink), or for the
 * journal.  Several closes waiting side by side keep the device busy. */
#define REAPER_THREADS 4
/* The fewest deletions a worker takes at once (fewer only when no more
 * are waiting); with more waiting, each worker takes its share. */
#define REAPER_SWEEP 64

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
	pthread_t threads[REAPER_THREADS];
	size_t nthreads;		/* started */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;
	size_t queued;		/* jobs in the list, not yet taken */
	size_t max_held;
	size_t pending;		/* jobs queued or being worked on */
	bool stopping;
};

/* Folders a sweep deleted from, to be synced at its end. */
#define SWEPT_QUEUE 1
#define SWEPT_LEASED 2

/* Removes the name of a served message (fd: held in the queue; -1:
 * leased, acknowledged), reporting a failure; fd stays open, and with it
 * the lock. */
static void
reap(struct reaper *r, const char *id, const char *lease, int fd,
    int *swept)
{
	int rc = fd == -1 ? spool_ack(r->sp, id, lease) :
	    spool_unlink_held(r->sp, id);

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

/* Takes a sweep from the head of the list (locked): REAPER_SWEEP jobs,
 * or this worker's share of what waits when that is more. */
static struct job *
take_sweep(struct reaper *r, size_t *n)
{
	struct job *first = r->head, **last = &r->head;
	size_t want = (r->queued + REAPER_THREADS - 1) / REAPER_THREADS;

	if (want < REAPER_SWEEP)
		want = REAPER_SWEEP;
	for (*n = 0; *last != NULL && *n < want; (*n)++)
		last = &(*last)->next;
	r->head = *last;
	*last = NULL;
	if (r->head == NULL)
		r->tail = &r->head;
	r->queued -= *n;
	return first;
}

/*
 * Deletes a sweep: every name first, then one fsync per folder, then the
 * last close of each held file (its lock goes with it, after its name:
 * nobody can take a message whose deletion is under way).  Frees the
 * jobs.
 */
static void
sweep(struct reaper *r, struct job *j)
{
	struct job *k, *next;
	int swept = 0;

	for (k = j; k != NULL; k = k->next)
		reap(r, k->id, k->lease, k->fd, &swept);
	sync_swept(r, swept);
	for (k = j; k != NULL; k = next) {
		next = k->next;
		if (k->fd != -1)
			close(k->fd);
		free(k);
	}
}

static void *
run(void *arg)
{
	struct reaper *r = arg;
	struct job *j;
	size_t n;

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
		/* The event loop may add more meanwhile without waiting for
		 * the lock one deletion at a time; what is left is another
		 * worker's. */
		j = take_sweep(r, &n);
		if (r->head != NULL)
			pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		sweep(r, j);
		pthread_mutex_lock(&r->mu);
		r->pending -= n;
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
	for (; r->nthreads < REAPER_THREADS; r->nthreads++)
		if ((e = pthread_create(&r->threads[r->nthreads], NULL, run,
		    r)) != 0) {
			snprintf(err, errlen, "pthread_create: %s", strerror(e));
			reaper_free(r);
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
			if (fd != -1)
				close(fd);
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
	r->queued += queued;
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
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	while (r->nthreads > 0)
		pthread_join(r->threads[--r->nthreads], NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
