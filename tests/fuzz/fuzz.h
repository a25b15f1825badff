/*
 * fuzz.h - what every fuzz target shares.
 *
 * A target is one file defining fuzz_NAME(data, size); compiled with
 * -DFUZZ_ENTRY it also gets libFuzzer's entry point.  Without it the file
 * can be included by a unit test that replays the seed corpus and the
 * regression inputs under `make check`, with gcc and without libFuzzer.
 *
 * FUZZ_CHECK states a property of the code under test.  A violated one
 * aborts, which libFuzzer records as a crash with the input that caused
 * it.
 */
#ifndef TESTS_FUZZ_H
#define TESTS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property violated: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#ifdef FUZZ_ENTRY
#define FUZZ_TARGET(fn)							\
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);		\
int									\
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)		\
{									\
	return fn(data, size);						\
}
#else
#define FUZZ_TARGET(fn)
#endif

#endif
