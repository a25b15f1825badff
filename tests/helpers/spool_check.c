/*
 * spool_check - decodes spool files with the project's own decoder
 * (common/message.c), for the crash-consistency tests.
 *
 *   spool_check FILE...
 *
 * For each file prints one line, "ok FILE" followed by the raw message
 * data's length, or "bad FILE: REASON".  Exits 0 when every file is a
 * valid spool object whose "id", when present, is the file's name, 1
 * otherwise, 64 on a usage error.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/message.h"

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp;
	char *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (cap - *len < 65536) {
			char *nb = realloc(buf, cap + 65536 + 1);

			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + *len, 1, cap - *len, fp);
		*len += n;
		if (n == 0)
			break;
	}
	fclose(fp);
	return buf;
}

int
main(int argc, char **argv)
{
	struct message m;
	char err[256], *buf, *copy;
	size_t len;
	int i, bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: spool_check FILE...\n");
		return 64;
	}
	for (i = 1; i < argc; i++) {
		if ((buf = slurp(argv[i], &len)) == NULL) {
			printf("bad %s: %s\n", argv[i], strerror(errno));
			bad = 1;
			continue;
		}
		if (message_decode(buf, len, &m, err, sizeof(err)) == -1) {
			printf("bad %s: %s\n", argv[i], err);
			bad = 1;
		} else {
			copy = strdup(argv[i]);
			if (copy != NULL && m.id[0] != '\0' &&
			    strcmp(m.id, basename(copy)) != 0) {
				printf("bad %s: id %s is not the file name\n",
				    argv[i], m.id);
				bad = 1;
			} else {
				printf("ok %s %zu\n", argv[i], m.data_len);
			}
			free(copy);
			message_clear(&m);
		}
		free(buf);
	}
	return bad;
}
