/*
 * reaper.c - a thread working through a list of leased files to delete.
 */
#include "postmaster/reaper.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
	char id[SPOOL_ID_LEN + 1];
	char lease[SPOOL_LEASE_LEN + 1];
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
	bool stopping;
};

static void
reap(struct reaper *r, const char *id, const char *lease)
{
	if (spool_ack(r->sp, id, lease) == -1 && r->fail != NULL)
		r->fail(r->fail_arg, id, lease, errno);
}

static void *
run(void *arg)
{
	struct reaper *r = arg;
	struct job *j;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (r->head == NULL && !r->stopping)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->head == NULL)
			break;	/* stopping, and nothing left to do */
		j = r->head;
		if ((r->head = j->next) == NULL)
			r->tail = &r->head;
		pthread_mutex_unlock(&r->mu);
		reap(r, j->id, j->lease);
		free(j);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct reaper *
reaper_new(struct spool *sp, reaper_fail_fn fail, void *fail_arg, char *err,
    size_t errlen)
{
	struct reaper *r;
	int e;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->sp = sp;
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
reaper_add(struct reaper *r, const char *id, const char *lease)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		reap(r, id, lease);
		return;
	}
	memcpy(j->id, id, sizeof(j->id));
	memcpy(j->lease, lease, sizeof(j->lease));
	pthread_mutex_lock(&r->mu);
	*r->tail = j;
	r->tail = &j->next;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
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
