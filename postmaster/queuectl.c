/*
 * queuectl.c - "postmaster queue": list, count, show, requeue, flush and
 * delete spooled messages while the daemons run.  See queuectl.h.
 */
#include "postmaster/queuectl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/log.h"
#include "common/message.h"

#define PROG "postmaster queue"

/* The areas that hold messages, in the order a message passes them. */
static const enum spool_area areas[] = {
	SPOOL_QUEUE, SPOOL_LEASED, SPOOL_DEFERRED, SPOOL_DEAD, SPOOL_QUARANTINE
};
#define NAREAS (sizeof(areas) / sizeof(areas[0]))

/* How often delete looks a message up again after losing a race. */
#define DELETE_TRIES 3

const char *
qctl_state_name(enum spool_area area)
{
	switch (area) {
	case SPOOL_QUEUE: return "queued";
	case SPOOL_TMP: return "tmp";
	case SPOOL_LEASED: return "leased";
	case SPOOL_DEFERRED: return "deferred";
	case SPOOL_DEAD: return "dead";
	case SPOOL_QUARANTINE: return "quarantined";
	default: return "?";
	}
}

int
qctl_state_parse(const char *s, enum spool_area *area)
{
	size_t i;

	for (i = 0; i < NAREAS; i++)
		if (strcmp(s, qctl_state_name(areas[i])) == 0) {
			*area = areas[i];
			return 0;
		}
	if (strcmp(s, "quarantine") == 0) {
		*area = SPOOL_QUARANTINE;
		return 0;
	}
	return -1;
}

/* A leased or deferred file is ID.LEASE; the others are just ID. */
static bool
area_has_lease(enum spool_area area)
{
	return area == SPOOL_LEASED || area == SPOOL_DEFERRED;
}

static int
find_leased(struct spool *sp, enum spool_area area, const char *id,
    struct qctl_where *w)
{
	char **names;
	long n, i;
	int found = 0;

	if ((n = spool_list(sp, area, &names)) < 0)
		return -1;
	for (i = 0; i < n && !found; i++)
		if (strncmp(names[i], id, SPOOL_ID_LEN) == 0) {
			w->area = area;
			snprintf(w->name, sizeof(w->name), "%s", names[i]);
			found = 1;
		}
	spool_list_free(names, n);
	return found;
}

int
qctl_find(struct spool *sp, const char *id, struct qctl_where *w)
{
	struct stat st;
	size_t i;
	int r;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < NAREAS; i++) {
		if (area_has_lease(areas[i])) {
			if ((r = find_leased(sp, areas[i], id, w)) != 0)
				return r == 1 ? 0 : -1;
			continue;
		}
		if (fstatat(spool_dirfd(sp, areas[i]), id, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
			w->area = areas[i];
			snprintf(w->name, sizeof(w->name), "%s", id);
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

long
qctl_id_age(const char *id, time_t now)
{
	char part[15];
	unsigned long long usec;
	time_t made;

	memcpy(part, id, 14);
	part[14] = '\0';
	usec = strtoull(part, NULL, 16);
	made = (time_t)(usec / 1000000);
	/* 946684800 is 2000-01-01: older "times" are not times. */
	if (made < 946684800 || made > now + 60)
		return -1;
	return made > now ? 0 : (long)(now - made);
}

void
qctl_format_age(long secs, char *buf, size_t len)
{
	if (secs < 0)
		snprintf(buf, len, "?");
	else if (secs < 60)
		snprintf(buf, len, "%lds", secs);
	else if (secs < 3600)
		snprintf(buf, len, "%ldm", secs / 60);
	else if (secs < 86400)
		snprintf(buf, len, "%ldh", secs / 3600);
	else
		snprintf(buf, len, "%ldd", secs / 86400);
}

/* t as ISO 8601 in UTC, "2025-06-01T10:15:00Z". */
static void
iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* Reads and decodes AREA/NAME.  -1 with errno (ENOENT: moved away) when
 * it cannot be read, 1 with why filled when it is not a valid message. */
static int
load(struct spool *sp, enum spool_area area, const char *name,
    struct message *m, char **raw, size_t *rawlen, char *why, size_t whylen)
{
	char *data = NULL;
	size_t len;

	memset(m, 0, sizeof(*m));
	if (spool_read(sp, area, name, QCTL_FILE_MAX, &data, &len) == -1)
		return -1;
	if (message_decode(data, len, m, why, whylen) == -1) {
		if (raw != NULL) {
			*raw = data;
			*rawlen = len;
		} else
			free(data);
		return 1;
	}
	if (raw != NULL) {
		*raw = data;
		*rawlen = len;
	} else
		free(data);
	return 0;
}

/* --- requeue, delete, flush --- */

/* Claims a dead letter, resets its attempts and queues it. */
static enum qctl_result
requeue_dead(struct spool *sp, const char *id, long *was, char *err,
    size_t errlen)
{
	struct message m;
	struct stat st;
	char lease[SPOOL_LEASE_LEN + 1], name[SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2];
	char why[256], *json = NULL;
	size_t len;
	int fd = spool_dirfd(sp, SPOOL_LEASED), r;
	enum qctl_result rc = QCTL_ERROR;

	memset(&m, 0, sizeof(m));
	if (fstatat(spool_dirfd(sp, SPOOL_DEAD), id, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? QCTL_RACE : QCTL_ERROR;
	/* The rewrite is a new file: made by anyone but root or the owner it
	 * could end up unreadable to the daemons. */
	if (geteuid() != 0 && geteuid() != st.st_uid) {
		snprintf(err, errlen, "the file belongs to uid %lu: run as root "
		    "or as that user", (unsigned long)st.st_uid);
		return QCTL_NOPERM;
	}
	spool_lease_new(lease, time(NULL) + QCTL_CLAIM_SECS);
	snprintf(name, sizeof(name), "%s.%s", id, lease);
	if (spool_move(sp, SPOOL_DEAD, id, SPOOL_LEASED, name) == -1) {
		snprintf(err, errlen, "claiming .dead/%s: %s", id, strerror(errno));
		return errno == ENOENT ? QCTL_RACE : QCTL_ERROR;
	}
	if ((r = load(sp, SPOOL_LEASED, name, &m, NULL, NULL, why,
	    sizeof(why))) != 0) {
		if (r == -1)
			snprintf(err, errlen, "reading %s: %s", id, strerror(errno));
		else
			snprintf(err, errlen, "not a valid message: %s", why);
		rc = r == -1 ? QCTL_ERROR : QCTL_INVALID;
		goto undo;
	}
	*was = m.attempts;
	if (m.id[0] == '\0')
		memcpy(m.id, id, sizeof(m.id));
	m.attempts = 0;
	if ((json = message_encode(&m, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto undo;
	}
	if (spool_put(sp, SPOOL_LEASED, name, json, len, err, errlen) == -1)
		goto undo;
	if (geteuid() == 0 && (fchownat(fd, name, st.st_uid, st.st_gid,
	    AT_SYMLINK_NOFOLLOW) == -1 || fchmodat(fd, name,
	    st.st_mode & 07777, 0) == -1)) {
		snprintf(err, errlen, "giving %s back to uid %lu: %s", id,
		    (unsigned long)st.st_uid, strerror(errno));
		goto undo;
	}
	if (spool_release(sp, id, lease) == -1) {
		snprintf(err, errlen, "queueing %s: %s", id, strerror(errno));
		goto undo;
	}
	rc = QCTL_OK;
	goto out;
undo:
	/* Back where it was; failing that it returns to the queue when the
	 * claim expires. */
	spool_move(sp, SPOOL_LEASED, name, SPOOL_DEAD, id);
out:
	message_clear(&m);
	free(json);
	return rc;
}

enum qctl_result
qctl_requeue(struct spool *sp, const char *id, enum spool_area *from,
    long *attempts_was, char *err, size_t errlen)
{
	struct qctl_where w;
	struct message m;
	char why[256], until[32];
	int r;

	*attempts_was = -1;
	err[0] = '\0';
	if (qctl_find(sp, id, &w) == -1) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "looking for %s: %s", id,
			    strerror(errno));
			return QCTL_ERROR;
		}
		return QCTL_NOT_FOUND;
	}
	*from = w.area;
	switch (w.area) {
	case SPOOL_QUEUE:
		snprintf(err, errlen, "already queued");
		return QCTL_OK;
	case SPOOL_LEASED:
		iso_time(spool_lease_expiry(w.name + SPOOL_ID_LEN + 1), until,
		    sizeof(until));
		snprintf(err, errlen, "leased until %s: it returns to the "
		    "queue by itself unless delivered", until);
		return QCTL_REFUSED;
	case SPOOL_DEAD:
		return requeue_dead(sp, id, attempts_was, err, errlen);
	case SPOOL_QUARANTINE:
		r = load(sp, SPOOL_QUARANTINE, id, &m, NULL, NULL, why, sizeof(why));
		if (r == 0)
			*attempts_was = m.attempts;
		message_clear(&m);
		if (r == 1) {
			snprintf(err, errlen, "still not a valid message: %s", why);
			return QCTL_INVALID;
		}
		if (r == -1) {
			snprintf(err, errlen, "reading %s: %s", id, strerror(errno));
			return errno == ENOENT ? QCTL_RACE : QCTL_ERROR;
		}
		break;
	default:	/* deferred: keeps its attempts */
		break;
	}
	if (spool_move(sp, w.area, w.name, SPOOL_QUEUE, id) == -1) {
		snprintf(err, errlen, "moving %s/%s: %s",
		    spool_area_name(w.area), w.name, strerror(errno));
		return errno == ENOENT ? QCTL_RACE : QCTL_ERROR;
	}
	return QCTL_OK;
}

enum qctl_result
qctl_delete(struct spool *sp, const char *id, enum spool_area *was,
    char *err, size_t errlen)
{
	struct qctl_where w;
	int i;

	err[0] = '\0';
	for (i = 0; i < DELETE_TRIES; i++) {
		if (qctl_find(sp, id, &w) == -1) {
			if (errno != ENOENT) {
				snprintf(err, errlen, "looking for %s: %s", id,
				    strerror(errno));
				return QCTL_ERROR;
			}
			return i == 0 ? QCTL_NOT_FOUND : QCTL_RACE;
		}
		*was = w.area;
		if (w.area == SPOOL_QUEUE) {
			/* Not from under a drain response that holds it. */
			int fd = spool_hold(sp, id);

			if (fd == -1 && errno == EBUSY) {
				snprintf(err, errlen, "PostMaster is handing it "
				    "out right now; it leaves the queue once the "
				    "response has gone out");
				return QCTL_RACE;
			}
			if (fd != -1) {
				if (spool_remove_held(sp, id, fd) == 0)
					return QCTL_OK;
				if (errno == ENOENT)
					continue;	/* look again */
				snprintf(err, errlen, "removing %s: %s", id,
				    strerror(errno));
				return QCTL_ERROR;
			}
			if (errno == ENOENT)
				continue;
			/* Not a regular file (ELOOP, EINVAL): just unlink it. */
		}
		if (unlinkat(spool_dirfd(sp, w.area), w.name, 0) == 0)
			return QCTL_OK;
		if (errno != ENOENT) {
			snprintf(err, errlen, "removing %s/%s: %s",
			    spool_area_name(w.area), w.name, strerror(errno));
			return QCTL_ERROR;
		}
		/* A daemon moved it between our look and our unlink. */
	}
	snprintf(err, errlen, "it kept moving; try again");
	return QCTL_RACE;
}

long
qctl_flush(struct spool *sp, void (*moved)(const char *id, void *arg),
    void *arg, char *err, size_t errlen)
{
	char **names, id[SPOOL_ID_LEN + 1], lease[SPOOL_LEASE_LEN + 1];
	long n, i, count = 0;

	if ((n = spool_list(sp, SPOOL_DEFERRED, &names)) < 0) {
		snprintf(err, errlen, "listing .deferred: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!spool_split_name(names[i], id, lease))
			continue;
		if (spool_move(sp, SPOOL_DEFERRED, names[i], SPOOL_QUEUE, id) == 0) {
			count++;
			if (moved != NULL)
				moved(id, arg);
		} else if (errno != ENOENT) {
			snprintf(err, errlen, "moving .deferred/%s: %s",
			    names[i], strerror(errno));
			count = -1;
			break;
		}
	}
	spool_list_free(names, n);
	return count;
}

/* --- the command --- */

struct cmd {
	struct spool *sp;
	const char *spool_dir;
	bool json;
	bool raw;
	bool all_dead;
	time_t now;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: postmaster queue [-s DIR] COMMAND [ARGS]\n"
"Operates the spool while the daemons run (see postmaster(8)).\n"
"\n"
"  list [STATE...]          one line per message: id, state, age, size,\n"
"                           attempts, sender, recipients, last error\n"
"                           (STATE: queued leased deferred dead quarantined)\n"
"  count                    messages per state\n"
"  show ID                  the message's metadata, then its raw data\n"
"  show --raw ID            only the raw message, byte for byte\n"
"  requeue ID...            dead letter (attempts reset to 0), deferred or\n"
"                           repaired quarantined message back to the queue\n"
"  requeue --all-dead       every dead letter\n"
"  flush                    every deferred message to the queue now\n"
"  delete ID...             remove messages, whatever their state\n"
"  delete --all-dead        remove every dead letter\n"
"\n"
"  -s, --spool DIR          the spool directory (default ./messages)\n"
"      --json               list, count, show: JSON (one object a line)\n"
"      --syslog             log changes to syslog (facility mail) as well\n"
"  -h, --help               this text\n");
}

/* Makes text safe for one line of output: control bytes become '?'. */
static void
put_clean(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

struct entry {
	char id[SPOOL_ID_LEN + 1];
	enum spool_area area;
	const char *name;
	long age;
	time_t expires;		/* leased, deferred: 0 otherwise */
	off_t file_size;
	bool valid;
	char why[256];
	struct message m;
};

/* Fills e for AREA/NAME; -1 (errno) when the file cannot be read. */
static int
entry_load(struct cmd *c, enum spool_area area, const char *name,
    struct entry *e, char **raw, size_t *rawlen)
{
	struct stat st;
	int r;

	memset(e, 0, sizeof(*e));
	memcpy(e->id, name, SPOOL_ID_LEN);
	e->id[SPOOL_ID_LEN] = '\0';
	e->area = area;
	e->name = name;
	if (fstatat(spool_dirfd(c->sp, area), name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	e->file_size = st.st_size;
	if ((e->age = qctl_id_age(e->id, c->now)) < 0)
		e->age = c->now > st.st_mtime ? (long)(c->now - st.st_mtime) : 0;
	if (area_has_lease(area))
		e->expires = spool_lease_expiry(name + SPOOL_ID_LEN + 1);
	if ((r = load(c->sp, area, name, &e->m, raw, rawlen, e->why,
	    sizeof(e->why))) == -1)
		return -1;
	e->valid = r == 0;
	return 0;
}

static void
print_line(struct cmd *c, const struct entry *e)
{
	char age[32], until[32];
	size_t i;

	qctl_format_age(e->age, age, sizeof(age));
	printf("%s  %-11s  age=%s", e->id, qctl_state_name(e->area), age);
	if (e->expires != 0) {
		qctl_format_age(e->expires > c->now ? (long)(e->expires - c->now) :
		    0, until, sizeof(until));
		printf("  until=%s", until);
	}
	if (!e->valid) {
		printf("  size=%lld  error=", (long long)e->file_size);
		put_clean(stdout, e->why);
		putchar('\n');
		return;
	}
	printf("  size=%zu  attempts=%ld  from=<", e->m.data_len, e->m.attempts);
	put_clean(stdout, e->m.mail_from);
	printf(">  to=");
	for (i = 0; i < e->m.nrcpt; i++) {
		printf("%s<", i > 0 ? "," : "");
		put_clean(stdout, e->m.rcpt_tos[i]);
		putchar('>');
	}
	if (e->m.last_error != NULL) {
		printf("  error=");
		put_clean(stdout, e->m.last_error);
	}
	putchar('\n');
}

/* The metadata of e as a JSON object (without the raw data). */
static cJSON *
entry_json(const struct entry *e)
{
	cJSON *o, *a;
	size_t i;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "id", e->id);
	cJSON_AddStringToObject(o, "state", qctl_state_name(e->area));
	cJSON_AddStringToObject(o, "file", e->name);
	cJSON_AddNumberToObject(o, "age", (double)e->age);
	if (e->expires != 0)
		cJSON_AddNumberToObject(o, "expires", (double)e->expires);
	cJSON_AddBoolToObject(o, "valid", e->valid);
	if (!e->valid) {
		cJSON_AddNumberToObject(o, "size", (double)e->file_size);
		cJSON_AddStringToObject(o, "error", e->why);
		return o;
	}
	cJSON_AddNumberToObject(o, "size", (double)e->m.data_len);
	cJSON_AddNumberToObject(o, "attempts", (double)e->m.attempts);
	cJSON_AddStringToObject(o, "mail_from", e->m.mail_from);
	a = cJSON_AddArrayToObject(o, "rcpt_tos");
	for (i = 0; a != NULL && i < e->m.nrcpt; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(e->m.rcpt_tos[i]));
	if (e->m.last_error != NULL)
		cJSON_AddStringToObject(o, "last_error", e->m.last_error);
	else
		cJSON_AddNullToObject(o, "last_error");
	if (e->m.subject != NULL)
		cJSON_AddStringToObject(o, "subject", e->m.subject);
	if (e->m.timestamp != NULL)
		cJSON_AddStringToObject(o, "timestamp", e->m.timestamp);
	if (e->m.client != NULL)
		cJSON_AddStringToObject(o, "client", e->m.client);
	return o;
}

static int
print_json(cJSON *o)
{
	char *s;

	if (o == NULL || (s = cJSON_PrintUnformatted(o)) == NULL) {
		cJSON_Delete(o);
		fprintf(stderr, PROG ": out of memory\n");
		return EX_OSERR;
	}
	puts(s);
	free(s);
	cJSON_Delete(o);
	return 0;
}

static int
cmd_list(struct cmd *c, int argc, char **argv)
{
	bool want[SPOOL_NAREAS] = { false };
	struct entry e;
	enum spool_area a;
	char **names;
	long n, i;
	size_t k;
	int rc = 0, any = 0;

	for (; argc > 0; argc--, argv++) {
		if (qctl_state_parse(argv[0], &a) == -1)
			return cli_usage("list: unknown state '%s'", argv[0]);
		want[a] = true;
		any = 1;
	}
	for (k = 0; k < NAREAS; k++) {
		if (any && !want[areas[k]])
			continue;
		if ((n = spool_list(c->sp, areas[k], &names)) < 0) {
			fprintf(stderr, PROG ": listing %s/%s: %s\n",
			    c->spool_dir, spool_area_name(areas[k]),
			    strerror(errno));
			return EX_IOERR;
		}
		for (i = 0; i < n && rc == 0; i++) {
			/* A file that moved on since the listing is left out:
			 * a listing is a snapshot, not a transaction. */
			if (entry_load(c, areas[k], names[i], &e, NULL, NULL) == -1) {
				if (errno != ENOENT) {
					fprintf(stderr, PROG ": reading %s: %s\n",
					    names[i], strerror(errno));
					rc = EX_IOERR;
				}
				message_clear(&e.m);
				continue;
			}
			if (c->json)
				rc = print_json(entry_json(&e));
			else
				print_line(c, &e);
			message_clear(&e.m);
		}
		spool_list_free(names, n);
	}
	return rc;
}

static int
cmd_count(struct cmd *c)
{
	long count[NAREAS], total = 0;
	char **names;
	size_t k;
	cJSON *o;

	for (k = 0; k < NAREAS; k++) {
		if ((count[k] = spool_list(c->sp, areas[k], &names)) < 0) {
			fprintf(stderr, PROG ": listing %s/%s: %s\n",
			    c->spool_dir, spool_area_name(areas[k]),
			    strerror(errno));
			return EX_IOERR;
		}
		spool_list_free(names, count[k]);
		total += count[k];
	}
	if (!c->json) {
		for (k = 0; k < NAREAS; k++)
			printf("%-12s %ld\n", qctl_state_name(areas[k]), count[k]);
		printf("%-12s %ld\n", "total", total);
		return 0;
	}
	if ((o = cJSON_CreateObject()) == NULL)
		return print_json(NULL);
	for (k = 0; k < NAREAS; k++)
		cJSON_AddNumberToObject(o, qctl_state_name(areas[k]),
		    (double)count[k]);
	cJSON_AddNumberToObject(o, "total", (double)total);
	return print_json(o);
}

static int
not_found(const char *id)
{
	fprintf(stderr, PROG ": %s: no such message\n", id);
	return EX_NOINPUT;
}

static int
bad_id(const char *id)
{
	fprintf(stderr, PROG ": '%s' is not a message id (32 lowercase hex "
	    "digits)\n", id);
	return EX_USAGE;
}

static int
cmd_show(struct cmd *c, const char *id)
{
	struct qctl_where w;
	struct entry e;
	char *raw = NULL, age[32], when[32];
	size_t rawlen = 0, i;
	int rc = 0;

	if (!spool_id_valid(id))
		return bad_id(id);
	if (qctl_find(c->sp, id, &w) == -1 ||
	    entry_load(c, w.area, w.name, &e, &raw, &rawlen) == -1) {
		if (errno == ENOENT)
			return not_found(id);
		fprintf(stderr, PROG ": %s: %s\n", id, strerror(errno));
		return EX_IOERR;
	}
	if (c->json) {
		/* The spool file itself. */
		fwrite(raw, 1, rawlen, stdout);
		if (rawlen == 0 || raw[rawlen - 1] != '\n')
			putchar('\n');
	} else if (c->raw) {
		if (!e.valid) {
			fprintf(stderr, PROG ": %s: not a valid message: %s\n",
			    id, e.why);
			rc = EX_DATAERR;
		} else
			fwrite(e.m.data, 1, e.m.data_len, stdout);
	} else {
		qctl_format_age(e.age, age, sizeof(age));
		printf("id: %s\nstate: %s\nfile: %s%s%s\nage: %s\n", id,
		    qctl_state_name(e.area), spool_area_name(e.area),
		    e.area == SPOOL_QUEUE ? "" : "/", e.name, age);
		/* Read by people: ISO 8601 UTC, and how far off.  (--json
		 * gives the spool file; list --json the epoch seconds.) */
		if (e.expires != 0) {
			iso_time(e.expires, when, sizeof(when));
			qctl_format_age(e.expires > c->now ?
			    (long)(e.expires - c->now) : 0, age, sizeof(age));
			printf("%s: %s (in %s)\n", e.area == SPOOL_LEASED ?
			    "lease_expires" : "retry_at", when, age);
		}
		if (!e.valid) {
			printf("error: ");
			put_clean(stdout, e.why);
			printf("\n\n");
			fwrite(raw, 1, rawlen, stdout);
		} else {
			printf("from: <");
			put_clean(stdout, e.m.mail_from);
			printf(">\n");
			for (i = 0; i < e.m.nrcpt; i++) {
				printf("to: <");
				put_clean(stdout, e.m.rcpt_tos[i]);
				printf(">\n");
			}
			if (e.m.subject != NULL) {
				printf("subject: ");
				put_clean(stdout, e.m.subject);
				putchar('\n');
			}
			printf("size: %zu\nattempts: %ld\n", e.m.data_len,
			    e.m.attempts);
			if (e.m.timestamp != NULL)
				printf("timestamp: %s\n", e.m.timestamp);
			if (e.m.client != NULL)
				printf("client: %s\n", e.m.client);
			if (e.m.last_error != NULL) {
				printf("last_error: ");
				put_clean(stdout, e.m.last_error);
				putchar('\n');
			}
			putchar('\n');
			fwrite(e.m.data, 1, e.m.data_len, stdout);
		}
	}
	if (fflush(stdout) == EOF && rc == 0)
		rc = EX_IOERR;
	message_clear(&e.m);
	free(raw);
	return rc;
}

/* The exit status of an operation's outcome. */
static int
result_status(enum qctl_result r)
{
	switch (r) {
	case QCTL_OK: return 0;
	case QCTL_NOT_FOUND: return EX_NOINPUT;
	case QCTL_RACE: return EX_TEMPFAIL;
	case QCTL_REFUSED: return EX_TEMPFAIL;
	case QCTL_INVALID: return EX_DATAERR;
	case QCTL_NOPERM: return EX_NOPERM;
	default: return EX_IOERR;
	}
}

static int
requeue_one(struct cmd *c, const char *id)
{
	enum qctl_result r;
	enum spool_area from = SPOOL_QUEUE;
	long was;
	char err[512];

	if (!spool_id_valid(id))
		return bad_id(id);
	r = qctl_requeue(c->sp, id, &from, &was, err, sizeof(err));
	switch (r) {
	case QCTL_OK:
		if (err[0] != '\0')
			fprintf(stderr, PROG ": %s: %s\n", id, err);
		else if (from == SPOOL_DEAD)
			log_info("%s: status=requeued, from=dead, attempts=0, "
			    "was=%ld, by=operator", id, was);
		else
			log_info("%s: status=requeued, from=%s, by=operator",
			    id, qctl_state_name(from));
		break;
	case QCTL_NOT_FOUND:
		return not_found(id);
	case QCTL_RACE:
		fprintf(stderr, PROG ": %s: it moved while being requeued "
		    "(a daemon took it first): %s\n", id,
		    err[0] != '\0' ? err : strerror(ENOENT));
		break;
	default:
		fprintf(stderr, PROG ": %s: %s\n", id, err);
		break;
	}
	return result_status(r);
}

static int
delete_one(struct cmd *c, const char *id)
{
	enum qctl_result r;
	enum spool_area was = SPOOL_QUEUE;
	char err[512];

	if (!spool_id_valid(id))
		return bad_id(id);
	r = qctl_delete(c->sp, id, &was, err, sizeof(err));
	switch (r) {
	case QCTL_OK:
		if (was == SPOOL_LEASED)
			log_warn("%s: status=deleted, from=leased, by=operator, "
			    "warning=a PostMan may be delivering it now; its "
			    "acknowledgement will get 404", id);
		else
			log_info("%s: status=deleted, from=%s, by=operator", id,
			    qctl_state_name(was));
		break;
	case QCTL_NOT_FOUND:
		return not_found(id);
	case QCTL_RACE:
		fprintf(stderr, PROG ": %s: it moved while being deleted "
		    "(delivered or moved by a daemon): %s\n", id,
		    err[0] != '\0' ? err : strerror(ENOENT));
		break;
	default:
		fprintf(stderr, PROG ": %s: %s\n", id, err);
		break;
	}
	return result_status(r);
}

/* Runs one of requeue_one / delete_one over the ids given or over every
 * dead letter; the status is the first failure's. */
static int
for_each(struct cmd *c, int argc, char **argv,
    int (*one)(struct cmd *, const char *))
{
	char **names = NULL;
	long n, i;
	int rc = 0, r;

	if (c->all_dead) {
		if (argc > 0)
			return cli_usage("--all-dead takes no ids (got '%s')",
			    argv[0]);
		if ((n = spool_list(c->sp, SPOOL_DEAD, &names)) < 0) {
			fprintf(stderr, PROG ": listing %s/.dead: %s\n",
			    c->spool_dir, strerror(errno));
			return EX_IOERR;
		}
		for (i = 0; i < n; i++)
			if ((r = one(c, names[i])) != 0 && rc == 0)
				rc = r;
		spool_list_free(names, n);
		return rc;
	}
	if (argc == 0)
		return cli_usage("which message? (ids, or --all-dead)");
	for (i = 0; i < argc; i++)
		if ((r = one(c, argv[i])) != 0 && rc == 0)
			rc = r;
	return rc;
}

static void
flushed(const char *id, void *arg)
{
	(void)arg;
	log_info("%s: status=requeued, from=deferred, by=operator", id);
}

static int
cmd_flush(struct cmd *c)
{
	char err[512];

	if (qctl_flush(c->sp, flushed, NULL, err, sizeof(err)) == -1) {
		fprintf(stderr, PROG ": %s\n", err);
		return EX_IOERR;
	}
	return 0;
}

enum { OPT_JSON = 256, OPT_RAW, OPT_ALL_DEAD, OPT_SYSLOG };

static const struct option longopts[] = {
	{ "spool", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "all-dead", no_argument, NULL, OPT_ALL_DEAD },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* Checks that the options given fit the command. */
static int
check_options(const struct cmd *c, const char *command)
{
	bool is_show = strcmp(command, "show") == 0;

	if (c->raw && !is_show)
		return cli_usage("--raw goes with show, not %s", command);
	if (c->raw && c->json)
		return cli_usage("show: --raw and --json exclude each other");
	if (c->json && !is_show && strcmp(command, "list") != 0 &&
	    strcmp(command, "count") != 0)
		return cli_usage("--json goes with list, count or show, not %s",
		    command);
	if (c->all_dead && strcmp(command, "requeue") != 0 &&
	    strcmp(command, "delete") != 0)
		return cli_usage("--all-dead goes with requeue or delete, not %s",
		    command);
	return 0;
}

static int
open_spool(struct cmd *c)
{
	char err[512];

	if ((c->sp = spool_open(c->spool_dir, err, sizeof(err))) != NULL)
		return 0;
	return cli_error(cli_open_status(errno), "%s", err);
}

int
queuectl_main(int argc, char **argv)
{
	struct cmd c;
	const char *command;
	bool use_syslog = false;
	int ch, rc, nargs;
	char **args;

	cli_init(PROG, " (see postmaster queue --help)");
	memset(&c, 0, sizeof(c));
	c.spool_dir = "./messages";
	c.now = time(NULL);
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': c.spool_dir = optarg; break;
		case OPT_JSON: c.json = true; break;
		case OPT_RAW: c.raw = true; break;
		case OPT_ALL_DEAD: c.all_dead = true; break;
		case OPT_SYSLOG: use_syslog = true; break;
		case 'h': usage(stdout); return 0;
		case ':':
			return cli_usage("%s needs a value", argv[optind - 1]);
		default:
			return cli_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage("which command?");
	command = argv[optind];
	args = argv + optind + 1;
	nargs = argc - optind - 1;
	if (strcmp(command, "list") != 0 && strcmp(command, "count") != 0 &&
	    strcmp(command, "show") != 0 && strcmp(command, "requeue") != 0 &&
	    strcmp(command, "flush") != 0 && strcmp(command, "delete") != 0)
		return cli_usage("unknown command '%s'", command);
	if ((rc = check_options(&c, command)) != 0)
		return rc;
	if ((strcmp(command, "count") == 0 || strcmp(command, "flush") == 0) &&
	    nargs > 0)
		return cli_usage("unexpected argument '%s'", args[0]);
	if (strcmp(command, "show") == 0 && nargs != 1)
		return cli_usage("show takes one id");
	log_open("postmaster-queue", NULL, use_syslog);
	if ((rc = open_spool(&c)) != 0)
		return rc;
	if (strcmp(command, "list") == 0)
		rc = cmd_list(&c, nargs, args);
	else if (strcmp(command, "count") == 0)
		rc = cmd_count(&c);
	else if (strcmp(command, "show") == 0)
		rc = cmd_show(&c, args[0]);
	else if (strcmp(command, "requeue") == 0)
		rc = for_each(&c, nargs, args, requeue_one);
	else if (strcmp(command, "delete") == 0)
		rc = for_each(&c, nargs, args, delete_one);
	else
		rc = cmd_flush(&c);
	if (fflush(stdout) == EOF && rc == 0) {
		fprintf(stderr, PROG ": writing: %s\n", strerror(errno));
		rc = EX_IOERR;
	}
	spool_free(c.sp);
	log_close();
	return rc;
}
