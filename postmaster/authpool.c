/*
 * authpool.c - a few threads working through queued password checks.
 */
#include "postmaster/authpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Checks are background work next to answering requests that already
 * passed: the event loop comes first. */
#define AUTHPOOL_NICE 5

struct slot {
	struct htpasswd_job *job;
	authpool_done_fn done;
	void *arg;
};

struct authpool {
	pthread_t threads[AUTHPOOL_THREADS];
	size_t nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot ring[AUTHPOOL_QUEUED];
	size_t head, count;
	bool stopping;
};

static void *
run(void *arg)
{
	struct authpool *p = arg;
	void *data = NULL;
	int size = 0;
	struct slot s;

	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), AUTHPOOL_NICE);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->count == 0 && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->count == 0)
			break;	/* stopping, and nothing left to check */
		s = p->ring[p->head];
		p->head = (p->head + 1) % AUTHPOOL_QUEUED;
		p->count--;
		pthread_mutex_unlock(&p->mu);
		htpasswd_job_run(s.job, &data, &size);
		s.done(s.arg);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	if (data != NULL)
		explicit_bzero(data, (size_t)size);
	free(data);
	return NULL;
}

struct authpool *
authpool_new(char *err, size_t errlen)
{
	struct authpool *p;
	int e;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (; p->nthreads < AUTHPOOL_THREADS; p->nthreads++)
		if ((e = pthread_create(&p->threads[p->nthreads], NULL, run,
		    p)) != 0) {
			snprintf(err, errlen, "pthread_create: %s", strerror(e));
			authpool_free(p);
			return NULL;
		}
	return p;
}

int
authpool_submit(struct authpool *p, struct htpasswd_job *j,
    authpool_done_fn done, void *arg)
{
	struct slot *s;

	pthread_mutex_lock(&p->mu);
	if (p->count == AUTHPOOL_QUEUED) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	s = &p->ring[(p->head + p->count) % AUTHPOOL_QUEUED];
	s->job = j;
	s->done = done;
	s->arg = arg;
	p->count++;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void
authpool_free(struct authpool *p)
{
	size_t i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
