/* The values of command-line options (common/optval.h): exact results,
 * and errno EINVAL for what is not a number, ERANGE for one out of
 * range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sysexits.h>

#include "common/cli.h"
#include "common/optval.h"

#define U64_MAX 18446744073709551615ULL

/* Whether s parses as a size in [min, max]; *v is the value, or left
 * at 7 when refused. */
static int
size(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *v)
{
	*v = 7;
	errno = 0;
	return optval_size(s, min, max, v);
}

static int
count(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *v)
{
	*v = 7;
	errno = 0;
	return optval_count(s, min, max, v);
}

static void
sizes_scale_by_powers_of_1024_in_either_case(void **state)
{
	unsigned long long v;

	(void)state;
	assert_int_equal(size("0", 0, U64_MAX, &v), 0);
	assert_true(v == 0);
	assert_int_equal(size("10240000", 0, U64_MAX, &v), 0);
	assert_true(v == 10240000ULL);
	assert_int_equal(size("64k", 0, U64_MAX, &v), 0);
	assert_true(v == 65536ULL);
	assert_int_equal(size("64K", 0, U64_MAX, &v), 0);
	assert_true(v == 65536ULL);
	assert_int_equal(size("256M", 0, U64_MAX, &v), 0);
	assert_true(v == 268435456ULL);
	assert_int_equal(size("3m", 0, U64_MAX, &v), 0);
	assert_true(v == 3145728ULL);
	assert_int_equal(size("1G", 0, U64_MAX, &v), 0);
	assert_true(v == 1073741824ULL);
	assert_int_equal(size("2g", 0, U64_MAX, &v), 0);
	assert_true(v == 2147483648ULL);
	assert_int_equal(size("007", 0, U64_MAX, &v), 0);
	assert_true(v == 7);
}

static void
sizes_at_the_bounds_are_taken_and_past_them_refused(void **state)
{
	unsigned long long v;

	(void)state;
	assert_int_equal(size("256M", 1, 268435456ULL, &v), 0);
	assert_true(v == 268435456ULL);
	assert_int_equal(size("268435457", 1, 268435456ULL, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_true(v == 7);
	assert_int_equal(size("0", 1, 100, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(size("0k", 1, 100, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(size("18446744073709551615", 0, U64_MAX, &v), 0);
	assert_true(v == U64_MAX);
}

static void
sizes_that_overflow_are_out_of_range(void **state)
{
	unsigned long long v;

	(void)state;
	/* 2^64 itself, and a value that fits until it is scaled */
	assert_int_equal(size("18446744073709551616", 0, U64_MAX, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(size("99999999999999999999999", 0, U64_MAX, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(size("17179869184G", 0, U64_MAX, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(size("17179869183G", 0, U64_MAX, &v), 0);
	assert_true(v == 17179869183ULL << 30);
	assert_int_equal(size("18014398509481984k", 0, U64_MAX, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_true(v == 7);
}

static void
negative_empty_and_junk_are_not_numbers(void **state)
{
	static const char *const bad[] = {
		"", "-1", "-0", "+5", " 5", "5 ", "0x10", "5kB", "5kk", "k",
		"1.5M", "5T", "12abc", "1e3", "\t1", "5\n",
	};
	unsigned long long v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(size(bad[i], 0, U64_MAX, &v), -1);
		assert_int_equal(errno, EINVAL);
		assert_true(v == 7);
		assert_int_equal(count(bad[i], 0, U64_MAX, &v), -1);
		assert_int_equal(errno, EINVAL);
		assert_true(v == 7);
	}
}

static void
counts_take_no_suffix(void **state)
{
	unsigned long long v;

	(void)state;
	assert_int_equal(count("1000000", 1, 1000000, &v), 0);
	assert_true(v == 1000000);
	assert_int_equal(count("1000001", 1, 1000000, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(count("0", 1, 10, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(count("1k", 1, 1000000, &v), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(count("18446744073709551616", 0, U64_MAX, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_true(v == 7);
}

static void
seconds_may_have_a_fraction_but_no_sign_or_exponent(void **state)
{
	static const char *const bad[] = {
		"", ".", "-1", "+1", " 1", "1 ", "1e3", "0x10", "inf", "nan",
		"1.2.3", "1s", "1,5",
	};
	double v;
	size_t i;

	(void)state;
	assert_int_equal(optval_seconds("1.5", 0.001, 3600, &v), 0);
	assert_true(v == 1.5);
	assert_int_equal(optval_seconds(".25", 0, 3600, &v), 0);
	assert_true(v == 0.25);
	assert_int_equal(optval_seconds("60", 0, 3600, &v), 0);
	assert_true(v == 60.0);
	assert_int_equal(optval_seconds("2.", 0, 3600, &v), 0);
	assert_true(v == 2.0);
	assert_int_equal(optval_seconds("0", 0.001, 3600, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(optval_seconds("3600.5", 0, 3600, &v), -1);
	assert_int_equal(errno, ERANGE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		assert_int_equal(optval_seconds(bad[i], 0, 1e9, &v), -1);
		assert_int_equal(errno, EINVAL);
		assert_true(v == 7);
	}
}

static void
modes_are_octal(void **state)
{
	unsigned long v;

	(void)state;
	assert_int_equal(optval_mode("0660", 0777, &v), 0);
	assert_true(v == 0660);
	assert_int_equal(optval_mode("755", 0777, &v), 0);
	assert_true(v == 0755);
	assert_int_equal(optval_mode("1777", 0777, &v), -1);
	assert_int_equal(errno, ERANGE);
	assert_int_equal(optval_mode("0668", 0777, &v), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(optval_mode("", 0777, &v), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(optval_mode("-1", 0777, &v), -1);
	assert_int_equal(errno, EINVAL);
}

static void
an_unopenable_path_has_one_status_in_every_program(void **state)
{
	(void)state;
	assert_int_equal(cli_open_status(ENOENT), EX_NOINPUT);
	assert_int_equal(cli_open_status(ENOTDIR), EX_NOINPUT);
	assert_int_equal(cli_open_status(EACCES), EX_NOPERM);
	assert_int_equal(cli_open_status(EPERM), EX_NOPERM);
	assert_int_equal(cli_open_status(EROFS), EX_NOPERM);
	assert_int_equal(cli_open_status(EIO), EX_OSERR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_scale_by_powers_of_1024_in_either_case),
		cmocka_unit_test(sizes_at_the_bounds_are_taken_and_past_them_refused),
		cmocka_unit_test(sizes_that_overflow_are_out_of_range),
		cmocka_unit_test(negative_empty_and_junk_are_not_numbers),
		cmocka_unit_test(counts_take_no_suffix),
		cmocka_unit_test(seconds_may_have_a_fraction_but_no_sign_or_exponent),
		cmocka_unit_test(modes_are_octal),
		cmocka_unit_test(an_unopenable_path_has_one_status_in_every_program),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
