/*
 * smtp.c - the SMTP server protocol as a state machine (see smtp.h).
 *
 * Input is consumed in one of two modes.  In command mode it is cut into
 * lines and each line is looked up in the command table, where every verb
 * has a check (sequence and syntax; it replies and returns -1 on an
 * error) and a proceed (the state change and the positive reply).  In data
 * mode a small byte-level machine finds the end of the data, undoes
 * dot-stuffing and applies the bare-newline policy; it sees only the
 * bytes around line ends, the runs in between are copied whole.
 */
#include "postoffice/smtp.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/message.h"
#include "common/utf8.h"

enum phase {
	PH_CMD,		/* reading command lines */
	PH_DATA,	/* reading message data */
	PH_WAIT,	/* final dot seen; waiting for smtp_session_committed */
	PH_CLOSED,	/* 221 or 421 sent; input is ignored */
};

/* Where the data machine stands; see data_byte(). */
enum data_state {
	D_LINE_START,	/* just after <CRLF> (or the 354) */
	D_DOT,		/* "." at the start of a line */
	D_DOT_CR,	/* ".<CR>" at the start of a line */
	D_MID,		/* inside a line */
	D_CR,		/* a <CR> inside a line, not yet known to be bare */
};

#define DATA_OUTBUF 8192

struct smtp_session {
	struct smtp_config cfg;
	const struct smtp_callbacks *cb;
	void *arg;
	char client[64];

	enum phase phase;
	bool helo;		/* HELO or EHLO seen */
	char heloname[256];	/* its first word; "" when too long */
	struct smtp_envelope env;

	/* command mode */
	char *line;		/* cfg.max_line bytes */
	size_t linelen;
	bool skipping;		/* discarding the rest of a too long line */

	/* data mode */
	enum data_state dstate;
	size_t size;		/* octets of message data after unstuffing */
	bool too_big, bare_lf, bare_cr, write_failed;
	unsigned char out[DATA_OUTBUF];
	size_t outlen;
};

/* ------------------------------------------------------------------ */
/* replies */

/*
 * Every reply is formatted into REPLY_MAX octets.  What a reply echoes is
 * bounded: the server's name (SMTP_HOSTNAME_MAX, checked when the session
 * is made), the client's address (the 64 octets of s->client), a
 * parameter name (64, reply_unsupported()); the fixed texts, the EHLO
 * lines included, are under REPLY_TEXT_MAX.  So no reply is ever cut,
 * and none is dropped for want of room.
 */
#define REPLY_MAX 1024
#define REPLY_TEXT_MAX 256
_Static_assert(REPLY_TEXT_MAX + SMTP_HOSTNAME_MAX + 64 + 64 + 2 < REPLY_MAX,
    "a reply must always fit its buffer");
_Static_assert(SMTP_REFUSAL_MAX <= REPLY_MAX &&
    REPLY_TEXT_MAX / 2 + SMTP_HOSTNAME_MAX + 64 + 2 < SMTP_REFUSAL_MAX,
    "a refusal must always fit its buffer");

static void
reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reply(struct smtp_session *s, const char *fmt, ...)
{
	char buf[REPLY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	s->cb->reply(s->arg, buf, n);
}

/* 555 for an ESMTP parameter we do not know, naming it as Postfix does.
 * The name is the client's: at most 64 octets of it are echoed, anything
 * but visible ASCII as '?', so a reply line stays one short line whatever
 * was sent (RFC 5321 4.5.3.1.5). */
static void
reply_unsupported(struct smtp_session *s, const char *param)
{
	char name[65];
	size_t i;

	for (i = 0; i < sizeof(name) - 1 && param[i] != '\0' &&
	    param[i] != ' '; i++)
		name[i] = (param[i] > 0x20 && param[i] < 0x7f) ? param[i] : '?';
	name[i] = '\0';
	reply(s, "555 5.5.4 Unsupported option: %s", name);
}


static void
session_close(struct smtp_session *s)
{
	if (s->phase == PH_CLOSED)
		return;
	if (s->phase == PH_DATA)
		s->cb->data_abort(s->arg);
	s->phase = PH_CLOSED;
	s->cb->close(s->arg);
}

/* ------------------------------------------------------------------ */
/* the envelope */

static void
envelope_reset(struct smtp_envelope *env)
{
	size_t i;

	free(env->mail_from);
	for (i = 0; i < env->nrcpt; i++)
		free(env->rcpt[i]);
	free(env->rcpt);
	memset(env, 0, sizeof(*env));
}

/* ------------------------------------------------------------------ */
/* parsing, exported for tests */

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_HELO }, { "EHLO", SMTP_EHLO }, { "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT }, { "DATA", SMTP_DATA }, { "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP }, { "QUIT", SMTP_QUIT }, { "VRFY", SMTP_VRFY },
	{ "HELP", SMTP_HELP },
};

enum smtp_verb
smtp_parse_verb(const char *line, const char **args)
{
	size_t i, n;

	for (n = 0; line[n] != '\0' && line[n] != ' '; n++)
		;
	*args = line + n;
	while (**args == ' ')
		(*args)++;
	if (n != 4)
		return SMTP_UNKNOWN;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strncasecmp(line, verbs[i].name, 4) == 0)
			return verbs[i].verb;
	return SMTP_UNKNOWN;
}

int
smtp_parse_path(const char *args, const char *prefix, char *addr,
    size_t addrlen, const char **params)
{
	size_t plen = strlen(prefix);
	const char *p, *end, *a;

	if (strncasecmp(args, prefix, plen) != 0)
		return -1;
	p = args + plen;
	/* RFC 5321 has no blank after the colon, but many clients send
	 * one; Postfix accepts it too. */
	while (*p == ' ')
		p++;
	if (*p != '<')
		return -1;
	p++;
	/* An obsolete source route "@a,@b:" is accepted and ignored
	 * (RFC 5321 4.1.1.3, appendix C). */
	a = p;
	if (*a == '@') {
		const char *colon = strchr(a, ':');
		const char *gt = strchr(a, '>');

		if (colon == NULL || (gt != NULL && colon > gt))
			return -1;
		a = colon + 1;
	}
	if ((end = strchr(a, '>')) == NULL)
		return -1;
	if (end[1] != '\0' && end[1] != ' ')
		return -1;
	if ((size_t)(end - a) >= addrlen)
		return -2;
	memcpy(addr, a, end - a);
	addr[end - a] = '\0';
	p = end + 1;
	while (*p == ' ')
		p++;
	*params = p;
	return 0;
}

/* Compares the keyword of a "KEY[=VALUE]" parameter of length len. */
static bool
param_is(const char *p, size_t len, const char *key)
{
	size_t k = strlen(key);

	return len >= k && strncasecmp(p, key, k) == 0 &&
	    (len == k || p[k] == '=');
}

enum smtp_param_error
smtp_parse_mail_params(const char *params, struct smtp_mail_params *mp,
    const char **bad)
{
	const char *p = params, *v;
	size_t len, vlen, i;

	memset(mp, 0, sizeof(*mp));
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " ");
		*bad = p;
		v = memchr(p, '=', len);
		vlen = v ? len - (size_t)(v - p) - 1 : 0;
		if (v)
			v++;
		if (param_is(p, len, "SIZE")) {
			/* RFC 1870 section 3: size-value ::= 1*20DIGIT */
			if (v == NULL || vlen == 0 || vlen > 20)
				return SMTP_PARAM_BAD_SIZE;
			mp->size = 0;
			for (i = 0; i < vlen; i++) {
				if (!isdigit((unsigned char)v[i]))
					return SMTP_PARAM_BAD_SIZE;
				if (mp->size > (~0ULL - 9) / 10)
					mp->size = ~0ULL;	/* saturate */
				else
					mp->size = mp->size * 10 + (v[i] - '0');
			}
		} else if (param_is(p, len, "BODY")) {
			if (v != NULL && vlen == 4 && strncasecmp(v, "7BIT", 4) == 0)
				mp->body_8bit = false;
			else if (v != NULL && vlen == 8 &&
			    strncasecmp(v, "8BITMIME", 8) == 0)
				mp->body_8bit = true;
			else
				return SMTP_PARAM_BAD_BODY;
		} else if (len == 8 && strncasecmp(p, "SMTPUTF8", 8) == 0) {
			mp->smtputf8 = true;
		} else {
			return SMTP_PARAM_UNKNOWN;
		}
		p += len;
	}
	return SMTP_PARAM_OK;
}

/* ------------------------------------------------------------------ */
/* address checks shared by MAIL and RCPT */

static bool
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* A mailbox is local@domain with both parts present; RFC 5321 4.5.1 also
 * requires <Postmaster> alone as a recipient. */
static bool
mailbox_ok(const char *addr, bool postmaster_ok)
{
	const char *at = strrchr(addr, '@');

	if (postmaster_ok && strcasecmp(addr, "postmaster") == 0)
		return true;
	return at != NULL && at != addr && at[1] != '\0' && at[1] != '.' &&
	    addr_mail_problem(addr, false) == NULL &&
	    utf8_valid(addr, strlen(addr));
}

/* ------------------------------------------------------------------ */
/* the command table: a check and a proceed per verb */

struct command {
	enum smtp_verb verb;
	const char *name;
	/* Returns 0 to go on, -1 after replying with an error. */
	int (*check)(struct smtp_session *, const char *args);
	void (*proceed)(struct smtp_session *, const char *args);
};

static int
check_helo(struct smtp_session *s, const char *args, const char *verb)
{
	if (*args == '\0') {
		reply(s, "501 5.5.4 Syntax: %s hostname", verb);
		return -1;
	}
	return 0;
}

static int
check_helo_cmd(struct smtp_session *s, const char *args)
{
	return check_helo(s, args, "HELO");
}

static int
check_ehlo_cmd(struct smtp_session *s, const char *args)
{
	return check_helo(s, args, "EHLO");
}

/* Keeps the name the client gave: the first word of the argument. */
static void
remember_helo(struct smtp_session *s, const char *args)
{
	size_t n = strcspn(args, " \t");

	if (n >= sizeof(s->heloname))
		n = 0;
	memcpy(s->heloname, args, n);
	s->heloname[n] = '\0';
}

/* HELO and EHLO end any transaction (RFC 5321 4.1.4). */
static void
proceed_helo(struct smtp_session *s, const char *args)
{
	envelope_reset(&s->env);
	s->helo = true;
	remember_helo(s, args);
	reply(s, "250 %s", s->cfg.hostname);
}

/* One reply of several lines: reply() adds the last CRLF. */
#define EHLO_FORMAT "250-%s\r\n250-PIPELINING\r\n250-SIZE %zu\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8"
_Static_assert(sizeof(EHLO_FORMAT) + 20 < REPLY_TEXT_MAX,
    "the EHLO reply is a fixed text");

static void
proceed_ehlo(struct smtp_session *s, const char *args)
{
	envelope_reset(&s->env);
	s->helo = true;
	remember_helo(s, args);
	reply(s, EHLO_FORMAT, s->cfg.hostname, s->cfg.max_size);
}

static int
check_mail(struct smtp_session *s, const char *args)
{
	char addr[MESSAGE_ADDR_MAX + 1];
	struct smtp_mail_params mp;
	const char *params, *bad;
	int rc;

	if (!s->helo) {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return -1;
	}
	if (s->env.mail_from != NULL) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return -1;
	}
	rc = smtp_parse_path(args, "FROM:", addr, sizeof(addr), &params);
	if (rc == -1) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return -1;
	}
	if (rc == -2 || (addr[0] != '\0' && !mailbox_ok(addr, false))) {
		reply(s, "501 5.1.7 Bad sender address syntax");
		return -1;
	}
	switch (smtp_parse_mail_params(params, &mp, &bad)) {
	case SMTP_PARAM_OK:
		break;
	case SMTP_PARAM_BAD_SIZE:
		reply(s, "501 5.5.4 Bad message size syntax");
		return -1;
	case SMTP_PARAM_BAD_BODY:
		reply(s, "501 5.5.4 Unsupported BODY parameter value");
		return -1;
	case SMTP_PARAM_UNKNOWN:
		reply_unsupported(s, bad);
		return -1;
	}
	/* RFC 1870 section 6.2: refuse a declared size over the limit. */
	if (mp.size > s->cfg.max_size) {
		reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return -1;
	}
	/* RFC 6531 3.4: a UTF-8 address needs the SMTPUTF8 parameter. */
	if (!mp.smtputf8 && has_8bit(addr)) {
		reply(s, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
		return -1;
	}
	return 0;
}

static void
proceed_mail(struct smtp_session *s, const char *args)
{
	char addr[MESSAGE_ADDR_MAX + 1];
	struct smtp_mail_params mp;
	const char *params, *bad;

	/* check_mail() has validated everything; parse again to fill. */
	smtp_parse_path(args, "FROM:", addr, sizeof(addr), &params);
	smtp_parse_mail_params(params, &mp, &bad);
	if ((s->env.mail_from = strdup(addr)) == NULL) {
		reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->env.smtputf8 = mp.smtputf8;
	s->env.body_8bit = mp.body_8bit;
	reply(s, "250 2.1.0 Ok");
}

static int
check_rcpt(struct smtp_session *s, const char *args)
{
	char addr[MESSAGE_ADDR_MAX + 1];
	const char *params;
	int rc;

	if (s->env.mail_from == NULL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return -1;
	}
	rc = smtp_parse_path(args, "TO:", addr, sizeof(addr), &params);
	if (rc == -1) {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return -1;
	}
	if (rc == -2 || !mailbox_ok(addr, true)) {
		reply(s, "501 5.1.3 Bad recipient address syntax");
		return -1;
	}
	if (*params != '\0') {
		reply_unsupported(s, params);
		return -1;
	}
	if (!s->env.smtputf8 && has_8bit(addr)) {
		reply(s, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
		return -1;
	}
	if (s->env.nrcpt >= s->cfg.max_rcpt) {
		reply(s, "452 4.5.3 Error: too many recipients");
		return -1;
	}
	return 0;
}

static void
proceed_rcpt(struct smtp_session *s, const char *args)
{
	char addr[MESSAGE_ADDR_MAX + 1], **nr, *copy;
	const char *params;

	smtp_parse_path(args, "TO:", addr, sizeof(addr), &params);
	nr = realloc(s->env.rcpt, (s->env.nrcpt + 1) * sizeof(*nr));
	if (nr == NULL) {
		reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->env.rcpt = nr;
	if ((copy = strdup(addr)) == NULL) {
		reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->env.rcpt[s->env.nrcpt++] = copy;
	reply(s, "250 2.1.5 Ok");
}

static int
check_data(struct smtp_session *s, const char *args)
{
	if (s->env.mail_from == NULL) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return -1;
	}
	if (s->env.nrcpt == 0) {
		reply(s, "503 5.5.1 Error: need RCPT command");
		return -1;
	}
	if (*args != '\0') {
		reply(s, "501 5.5.4 Syntax: DATA");
		return -1;
	}
	return 0;
}

static void
proceed_data(struct smtp_session *s, const char *args)
{
	(void)args;
	if (s->cb->data_begin(s->arg, &s->env) == -1) {
		envelope_reset(&s->env);
		reply(s, "451 4.3.0 Error: queue file write error");
		return;
	}
	s->phase = PH_DATA;
	s->dstate = D_LINE_START;
	s->size = 0;
	s->outlen = 0;
	s->too_big = s->bare_lf = s->bare_cr = s->write_failed = false;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static int
check_noargs(struct smtp_session *s, const char *args, const char *verb)
{
	if (*args != '\0') {
		reply(s, "501 5.5.4 Syntax: %s", verb);
		return -1;
	}
	return 0;
}

static int
check_rset(struct smtp_session *s, const char *args)
{
	return check_noargs(s, args, "RSET");
}

static void
proceed_rset(struct smtp_session *s, const char *args)
{
	(void)args;
	envelope_reset(&s->env);
	reply(s, "250 2.0.0 Ok");
}

/* RFC 5321 4.1.1.9: NOOP may carry a string, which is ignored. */
static void
proceed_noop(struct smtp_session *s, const char *args)
{
	(void)args;
	reply(s, "250 2.0.0 Ok");
}

static void
proceed_quit(struct smtp_session *s, const char *args)
{
	(void)args;
	reply(s, "221 2.0.0 Bye");
	session_close(s);
}

static int
check_vrfy(struct smtp_session *s, const char *args)
{
	if (*args == '\0') {
		reply(s, "501 5.5.4 Syntax: VRFY address");
		return -1;
	}
	return 0;
}

/* RFC 5321 3.5.3: 252 when the address is not verified but mail for it
 * would be accepted.  A relay cannot know, and must not reveal, more. */
static void
proceed_vrfy(struct smtp_session *s, const char *args)
{
	(void)args;
	reply(s, "252 2.0.0 Cannot VRFY user, but will accept message and "
	    "attempt delivery");
}

static void
proceed_help(struct smtp_session *s, const char *args)
{
	(void)args;
	reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP "
	    "QUIT VRFY HELP");
}

static const struct command commands[] = {
	{ SMTP_HELO, "HELO", check_helo_cmd, proceed_helo },
	{ SMTP_EHLO, "EHLO", check_ehlo_cmd, proceed_ehlo },
	{ SMTP_MAIL, "MAIL", check_mail, proceed_mail },
	{ SMTP_RCPT, "RCPT", check_rcpt, proceed_rcpt },
	{ SMTP_DATA, "DATA", check_data, proceed_data },
	{ SMTP_RSET, "RSET", check_rset, proceed_rset },
	{ SMTP_NOOP, "NOOP", NULL, proceed_noop },
	{ SMTP_QUIT, "QUIT", NULL, proceed_quit },
	{ SMTP_VRFY, "VRFY", check_vrfy, proceed_vrfy },
	{ SMTP_HELP, "HELP", NULL, proceed_help },
};

static void
dispatch(struct smtp_session *s, const char *line)
{
	const struct command *c = NULL;
	const char *args;
	enum smtp_verb v;
	size_t i;

	v = smtp_parse_verb(line, &args);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == v)
			c = &commands[i];
	if (c == NULL) {
		reply(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	if (c->check != NULL && c->check(s, args) == -1)
		return;
	c->proceed(s, args);
}

/* ------------------------------------------------------------------ */
/* command mode */

/* Consumes at most one line; returns the bytes consumed. */
static size_t
cmd_feed(struct smtp_session *s, const unsigned char *buf, size_t len)
{
	const unsigned char *lf = memchr(buf, '\n', len);
	size_t take = lf ? (size_t)(lf - buf) : len;

	if (s->skipping) {
		if (lf == NULL)
			return len;
		s->skipping = false;
		reply(s, "500 5.5.2 Error: line too long");
		return take + 1;
	}
	/* The line, without its LF, must leave room for the LF within
	 * max_line (RFC 5321 4.5.3.1.4 counts the CRLF). */
	if (s->linelen + take + 1 > s->cfg.max_line) {
		s->linelen = 0;
		if (lf == NULL) {
			s->skipping = true;
			return len;
		}
		reply(s, "500 5.5.2 Error: line too long");
		return take + 1;
	}
	memcpy(s->line + s->linelen, buf, take);
	s->linelen += take;
	if (lf == NULL)
		return len;

	/* A whole line.  Under the normalize policy a bare LF ends it as
	 * CRLF would; under reject the line is refused, not run, as Postfix
	 * does with smtpd_forbid_bare_newline = reject (same code and text;
	 * Postfix then hangs up, here the session goes on, as after a bare
	 * newline in DATA). */
	if (s->linelen > 0 && s->line[s->linelen - 1] == '\r') {
		s->linelen--;
	} else if (s->cfg.bare_newline == SMTP_BARE_REJECT) {
		reply(s, "550 5.5.2 %s Error: bare <LF> received",
		    s->cfg.hostname);
		s->linelen = 0;
		return take + 1;
	}
	s->line[s->linelen] = '\0';
	if (memchr(s->line, '\0', s->linelen) != NULL || s->linelen == 0)
		reply(s, "500 5.5.2 Error: bad syntax");
	else
		dispatch(s, s->line);
	s->linelen = 0;
	return take + 1;
}

/* ------------------------------------------------------------------ */
/* data mode */

static void
data_flush(struct smtp_session *s)
{
	if (s->outlen == 0)
		return;
	if (!s->write_failed && !s->too_big &&
	    s->cb->data_write(s->arg, s->out, s->outlen) == -1)
		s->write_failed = true;
	s->outlen = 0;
}

/* A run of message content.  Once the message is known to be refused
 * (too big, bare newline under the reject policy, write error) content
 * is only counted, not delivered.  Bytes up to the size limit go out as
 * they would one at a time, so data_write sees the same calls whatever
 * the split of the input. */
static void
data_out_run(struct smtp_session *s, const unsigned char *p, size_t n)
{
	size_t room, k;

	if (s->too_big)
		return;
	if (n > s->cfg.max_size - s->size) {
		/* RFC 1870 6.3: read on to the end, then 552. */
		data_out_run(s, p, s->cfg.max_size - s->size);
		s->size = s->cfg.max_size + 1;
		s->too_big = true;
		s->outlen = 0;
		return;
	}
	s->size += n;
	if (s->write_failed ||
	    (s->cfg.bare_newline == SMTP_BARE_REJECT && (s->bare_lf || s->bare_cr)))
		return;
	while (n > 0) {
		room = sizeof(s->out) - s->outlen;
		k = n < room ? n : room;
		memcpy(s->out + s->outlen, p, k);
		s->outlen += k;
		p += k;
		n -= k;
		if (s->outlen == sizeof(s->out)) {
			data_flush(s);
			if (s->write_failed)
				return;
		}
	}
}

static void
data_out(struct smtp_session *s, unsigned char c)
{
	data_out_run(s, &c, 1);
}

static void
data_bare(struct smtp_session *s, bool lf)
{
	if (s->cfg.bare_newline == SMTP_BARE_NORMALIZE) {
		data_out(s, '\r');
		data_out(s, '\n');
		return;
	}
	if (lf)
		s->bare_lf = true;
	else
		s->bare_cr = true;
	s->outlen = 0;	/* nothing of this message will be kept */
}

static void
data_finish(struct smtp_session *s)
{
	data_flush(s);
	if (s->write_failed || s->too_big || s->bare_lf || s->bare_cr) {
		s->cb->data_abort(s->arg);
		envelope_reset(&s->env);
		s->phase = PH_CMD;
		if (s->write_failed)
			reply(s, "451 4.3.0 Error: queue file write error");
		else if (s->bare_lf)
			reply(s, "550 5.5.2 Error: bare <LF> received");
		else if (s->bare_cr)
			reply(s, "550 5.5.2 Error: bare <CR> received");
		else
			reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	s->phase = PH_WAIT;
	s->cb->data_end(s->arg, &s->env, s->size);
}

/*
 * Only <CRLF>.<CRLF> ends the data (RFC 5321 4.1.1.4), where the first
 * <CRLF> may be the end of the DATA command itself.  A line starting
 * with "." loses that dot (4.5.2).  A <CR> not followed by <LF>, or an
 * <LF> not preceded by <CR>, is bare: it never starts a line, so ".\n" or
 * "\r.\r" can neither end the data nor be unstuffed.  Under the
 * normalize policy it is stored as <CRLF>, which a later SMTP client will
 * dot-stuff correctly; under the reject policy the message is refused.
 *
 * Returns true when the final dot has been consumed.
 */
static bool
data_byte(struct smtp_session *s, unsigned char c)
{
	for (;;) {
		switch (s->dstate) {
		case D_LINE_START:
			if (c == '.') {
				s->dstate = D_DOT;
				return false;
			}
			s->dstate = D_MID;
			continue;
		case D_DOT:
			if (c == '\r') {
				s->dstate = D_DOT_CR;
				return false;
			}
			/* The stuffed dot is dropped; c is ordinary. */
			s->dstate = D_MID;
			continue;
		case D_DOT_CR:
			if (c == '\n')
				return true;
			data_bare(s, false);
			s->dstate = D_MID;
			continue;
		case D_MID:
			if (c == '\r') {
				s->dstate = D_CR;
			} else if (c == '\n') {
				data_bare(s, true);
			} else {
				data_out(s, c);
			}
			return false;
		case D_CR:
			if (c == '\n') {
				data_out(s, '\r');
				data_out(s, '\n');
				s->dstate = D_LINE_START;
				return false;
			}
			data_bare(s, false);
			s->dstate = D_MID;
			continue;
		}
	}
}

/* Offset of the first <CR> or <LF> at or after i in buf[0..len), or len.
 * The offsets found last are kept in *cr and *lf (len when there is
 * none) and searched again only once passed, so that each byte is
 * searched once per feed. */
static size_t
next_newline(const unsigned char *buf, size_t i, size_t len, size_t *cr,
    size_t *lf)
{
	const unsigned char *q;

	if (*cr < i) {
		q = memchr(buf + i, '\r', len - i);
		*cr = q != NULL ? (size_t)(q - buf) : len;
	}
	if (*lf < i) {
		q = memchr(buf + i, '\n', len - i);
		*lf = q != NULL ? (size_t)(q - buf) : len;
	}
	return *cr < *lf ? *cr : *lf;
}

/* Inside a line every byte but <CR> and <LF> is ordinary content, so
 * whole runs of them go out at once; the byte machine sees only line
 * starts, newlines and what follows a <CR>. */
static size_t
data_feed(struct smtp_session *s, const unsigned char *buf, size_t len)
{
	const unsigned char *q;
	size_t i = 0, e, cr, lf;

	q = memchr(buf, '\r', len);
	cr = q != NULL ? (size_t)(q - buf) : len;
	q = memchr(buf, '\n', len);
	lf = q != NULL ? (size_t)(q - buf) : len;
	while (i < len) {
		if (s->dstate == D_LINE_START && buf[i] != '.')
			s->dstate = D_MID;
		if (s->dstate == D_MID) {
			e = next_newline(buf, i, len, &cr, &lf);
			if (e > i) {
				data_out_run(s, buf + i, e - i);
				i = e;
				if (i == len)
					break;
			}
		}
		if (data_byte(s, buf[i])) {
			data_finish(s);
			return i + 1;
		}
		i++;
	}
	return len;
}

/* ------------------------------------------------------------------ */
/* the public face */

static bool
label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

bool
smtp_hostname_ok(const char *name)
{
	size_t i, label = 0;

	if (name == NULL || name[0] == '\0' ||
	    strnlen(name, SMTP_HOSTNAME_MAX + 1) > SMTP_HOSTNAME_MAX)
		return false;
	for (i = 0; name[i] != '\0'; i++) {
		if (name[i] == '.') {
			if (label == 0 || name[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!label_char(name[i]) || (label == 0 && name[i] == '-') ||
		    ++label > 63)
			return false;
	}
	/* A trailing dot (the DNS root) is not written in SMTP. */
	return label > 0 && name[i - 1] != '-';
}

size_t
smtp_refusal(const struct smtp_config *cfg, enum smtp_greeting how,
    const char *client, char *buf, size_t len)
{
	int n;

	switch (how) {
	case SMTP_GREET_DENIED:
		/* RFC 5321 3.1 would wait for QUIT after a 554 greeting; a
		 * client that is never served only holds a descriptor, so
		 * the connection is closed at once instead. */
		n = snprintf(buf, len, "554 5.7.1 <%.63s>: Client host "
		    "rejected: Access denied\r\n", client);
		break;
	case SMTP_GREET_BUSY:
		n = snprintf(buf, len, "421 4.7.0 %s Error: too many "
		    "connections from %.63s\r\n", cfg->hostname, client);
		break;
	default:
		return 0;
	}
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

struct smtp_session *
smtp_session_new(const struct smtp_config *cfg,
    const struct smtp_callbacks *cb, void *arg, const char *client)
{
	struct smtp_session *s;

	if (!smtp_hostname_ok(cfg->hostname)) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->cfg = *cfg;
	if (s->cfg.max_line < SMTP_MIN_LINE)
		s->cfg.max_line = SMTP_MIN_LINE;
	s->cb = cb;
	s->arg = arg;
	snprintf(s->client, sizeof(s->client), "%s", client ? client : "unknown");
	if ((s->line = malloc(s->cfg.max_line + 1)) == NULL) {
		free(s);
		return NULL;
	}
	s->phase = PH_CMD;
	return s;
}

void
smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	if (s->phase == PH_DATA)
		s->cb->data_abort(s->arg);
	envelope_reset(&s->env);
	free(s->line);
	free(s);
}

void
smtp_session_start(struct smtp_session *s, enum smtp_greeting how)
{
	switch (how) {
	case SMTP_GREET_OK:
		reply(s, "220 %s ESMTP PostOffice", s->cfg.hostname);
		break;
	case SMTP_GREET_DENIED:
	case SMTP_GREET_BUSY: {
		char buf[SMTP_REFUSAL_MAX];
		size_t n = smtp_refusal(&s->cfg, how, s->client, buf,
		    sizeof(buf));

		s->cb->reply(s->arg, buf, n);
		session_close(s);
		break;
	}
	}
}

size_t
smtp_session_feed(struct smtp_session *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t off = 0;

	while (off < len) {
		if (s->phase == PH_CMD)
			off += cmd_feed(s, p + off, len - off);
		else if (s->phase == PH_DATA)
			off += data_feed(s, p + off, len - off);
		else
			break;
	}
	return off;
}

void
smtp_session_committed(struct smtp_session *s, const char *id)
{
	if (s->phase != PH_WAIT)
		return;
	envelope_reset(&s->env);
	s->phase = PH_CMD;
	if (id != NULL)
		reply(s, "250 2.0.0 Ok: queued as %s", id);
	else
		reply(s, "451 4.3.0 Error: queue file write error");
}

void
smtp_session_too_big(struct smtp_session *s)
{
	if (s->phase != PH_WAIT)
		return;
	envelope_reset(&s->env);
	s->phase = PH_CMD;
	/* Postfix's text for a queue file over its limit (cleanup's
	 * "message file too big"), with the code of message_size_limit. */
	reply(s, "552 5.3.4 Error: message file too big");
}

void
smtp_session_timeout(struct smtp_session *s)
{
	if (s->phase == PH_CLOSED)
		return;
	reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg.hostname);
	session_close(s);
}

void
smtp_session_shutdown(struct smtp_session *s)
{
	if (s->phase == PH_CLOSED)
		return;
	reply(s, "421 4.3.2 %s Service shutting down", s->cfg.hostname);
	session_close(s);
}

bool
smtp_session_waiting(const struct smtp_session *s)
{
	return s->phase == PH_WAIT;
}

bool
smtp_session_in_data(const struct smtp_session *s)
{
	return s->phase == PH_DATA;
}

bool
smtp_session_in_transaction(const struct smtp_session *s)
{
	return s->phase == PH_DATA || s->phase == PH_WAIT ||
	    (s->phase == PH_CMD && s->env.mail_from != NULL);
}

const char *
smtp_session_helo(const struct smtp_session *s)
{
	return s->heloname;
}

bool
smtp_session_closed(const struct smtp_session *s)
{
	return s->phase == PH_CLOSED;
}
