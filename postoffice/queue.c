/*
 * queue.c - from received data to a temporary spool file (see queue.h).
 */
#include "postoffice/queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/message.h"
#include "common/util.h"
#include "common/utf8.h"
#include "postoffice/mime.h"
#include "postoffice/rawbuf.h"
#include "postoffice/scrub.h"

struct queue_msg {
	struct spool *sp;
	char id[SPOOL_ID_LEN + 1];
	struct scrub scrub;
	struct rawbuf *raw;
	struct utf8_check utf8;
	/* while the spool file is written */
	struct spool_file *file;
	size_t max_file;
	bool over_file;
	struct strbuf *copy;		/* NULL: none kept */
	size_t copy_max;
};

struct queue_msg *
queue_msg_new(struct spool *sp, bool scrub, char *err, size_t errlen)
{
	struct queue_msg *qm;

	if ((qm = calloc(1, sizeof(*qm))) == NULL)
		goto fail;
	qm->sp = sp;
	/* The id is made when DATA begins, so ids are ordered by it. */
	spool_id_new(qm->id);
	scrub_init(&qm->scrub, !scrub);
	utf8_check_init(&qm->utf8);
	if ((qm->raw = rawbuf_new(spool_dirfd(sp, SPOOL_TMP),
	    RAWBUF_MEM_MAX)) == NULL)
		goto fail;
	return qm;
fail:
	snprintf(err, errlen, "out of memory");
	free(qm);
	return NULL;
}

void
queue_msg_free(struct queue_msg *qm)
{
	if (qm == NULL)
		return;
	rawbuf_free(qm->raw);
	free(qm);
}

/* The scrubber's output: what is stored. */
static int
raw_sink(void *arg, const void *buf, size_t len)
{
	struct queue_msg *qm = arg;

	utf8_check_feed(&qm->utf8, buf, len);
	return rawbuf_write(qm->raw, buf, len);
}

const char *
queue_msg_id(const struct queue_msg *qm)
{
	return qm->id;
}

int
queue_msg_rewrite_ids(struct queue_msg *qm, const struct scrub_names *names)
{
	if (qm->scrub.passthrough)
		return 0;
	return scrub_set_ids(&qm->scrub, names);
}

int
queue_msg_write(struct queue_msg *qm, const void *buf, size_t len)
{
	return scrub_feed(&qm->scrub, buf, len, raw_sink, qm);
}

/* The spool file's writer: it stops at max_file, so a message whose
 * JSON would be too big costs no more disk than that. */
static int
file_sink(void *arg, const void *buf, size_t len)
{
	struct queue_msg *qm = arg;

	if (len > qm->max_file - spool_file_size(qm->file)) {
		qm->over_file = true;
		errno = EMSGSIZE;
		return -1;
	}
	if (qm->copy != NULL && (len > qm->copy_max - qm->copy->len ||
	    strbuf_append(qm->copy, buf, len) == -1)) {
		free(qm->copy->p);
		*qm->copy = (struct strbuf){ NULL, 0, 0 };
		qm->copy = NULL;
	}
	return spool_file_write(qm->file, buf, len);
}

struct spool_file *
queue_msg_finish(struct queue_msg *qm, const struct smtp_envelope *env,
    const char *client, size_t body_max, size_t max_file,
    char id[SPOOL_ID_LEN + 1], size_t *size, char *err, size_t errlen)
{
	return queue_msg_finish_copy(qm, env, client, body_max, max_file, id,
	    size, NULL, 0, err, errlen);
}

struct spool_file *
queue_msg_finish_copy(struct queue_msg *qm, const struct smtp_envelope *env,
    const char *client, size_t body_max, size_t max_file,
    char id[SPOOL_ID_LEN + 1], size_t *size, struct strbuf *copy,
    size_t copy_max, char *err, size_t errlen)
{
	struct message m;
	struct spool_file *f = NULL;
	char ts[32];
	int rc;

	memset(&m, 0, sizeof(m));
	if (scrub_finish(&qm->scrub, raw_sink, qm) == -1) {
		snprintf(err, errlen, "raw data: %s", strerror(errno));
		return NULL;
	}
	if (rawbuf_mem(qm->raw) != NULL)
		rc = mime_extract_mem(rawbuf_mem(qm->raw),
		    rawbuf_size(qm->raw), body_max, &m.subject, &m.body);
	else
		rc = mime_extract_fd(rawbuf_fd(qm->raw), body_max, &m.subject,
		    &m.body);
	if (rc == -1) {
		snprintf(err, errlen, "MIME decoding: out of memory");
		goto fail;
	}
	memcpy(id, qm->id, sizeof(qm->id));
	memcpy(m.id, id, sizeof(m.id));
	message_timestamp(ts);
	m.timestamp = ts;
	m.mail_from = env->mail_from;
	m.rcpt_tos = env->rcpt;
	m.nrcpt = env->nrcpt;
	m.client = (char *)client;
	m.data_len = rawbuf_size(qm->raw);
	m.data = (unsigned char *)rawbuf_mem(qm->raw);
	if (rawbuf_rewind(qm->raw) == -1) {
		snprintf(err, errlen, "raw data: %s", strerror(errno));
		goto fail;
	}
	if ((f = spool_file_create(qm->sp, id, err, errlen)) == NULL)
		goto fail;
	qm->file = f;
	qm->max_file = max_file;
	qm->over_file = false;
	qm->copy = copy;
	qm->copy_max = copy_max;
	if (message_write_json(&m, utf8_check_done(&qm->utf8), rawbuf_read,
	    qm->raw, file_sink, qm) == -1) {
		if (qm->over_file)
			snprintf(err, errlen, "spool file over %zu bytes, "
			    "size=%zu", max_file, m.data_len);
		else
			snprintf(err, errlen, "write: %s", strerror(errno));
		spool_file_abort(f);
		f = NULL;
		goto fail;
	}
	*size = m.data_len;
fail:
	qm->file = NULL;
	if (f == NULL && qm->copy != NULL) {
		free(qm->copy->p);
		*qm->copy = (struct strbuf){ NULL, 0, 0 };
	}
	qm->copy = NULL;
	free(m.subject);
	free(m.body);
	if (f == NULL && qm->over_file)
		errno = EMSGSIZE;
	return f;
}
