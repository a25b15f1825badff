/*
 * replay.h - runs a fuzz target over every file of its seed corpus
 * (tests/fuzz/corpus/NAME) and its regression inputs
 * (tests/fuzz/regress/NAME), for the unit tests that `make check` runs:
 * the targets' properties are checked on those inputs with the ordinary
 * compiler, without libFuzzer.  Paths are relative to the top of the
 * source tree, where tests/run.sh runs the tests.
 */
#ifndef TESTS_FUZZ_REPLAY_H
#define TESTS_FUZZ_REPLAY_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*replay_target)(const uint8_t *data, size_t size);

static unsigned char *
replay_read(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc(n ? n : 1)) != NULL &&
	    fread(buf, 1, n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	*len = buf ? (size_t)n : 0;
	fclose(fp);
	return buf;
}

/* Runs target on every regular file in DIR; returns how many, or -1
 * when DIR cannot be read (a missing regress folder counts 0). */
static long
replay_dir(const char *dir, replay_target target, int must_exist)
{
	char path[4096];
	struct dirent *e;
	unsigned char *buf;
	size_t len;
	long n = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return must_exist ? -1 : 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((buf = replay_read(path, &len)) == NULL)
			continue;
		target(buf, len);	/* aborts on a violated property */
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

/* Replays corpus and regression inputs of target NAME; the count of
 * inputs run, -1 when the corpus is missing. */
static long
replay_all(const char *name, replay_target target)
{
	char dir[256];
	long a, b;

	snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", name);
	if ((a = replay_dir(dir, target, 1)) == -1)
		return -1;
	snprintf(dir, sizeof(dir), "tests/fuzz/regress/%s", name);
	if ((b = replay_dir(dir, target, 0)) == -1)
		return -1;
	return a + b;
}

#endif
