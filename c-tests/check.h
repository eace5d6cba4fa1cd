/*
 * check.h - tiny TAP-style assertion helpers for the pvm6 C API tests.
 *
 * Every check prints "ok <n> - <what>" or "not ok <n> - <what>" followed by
 * an indented "expected/got" line.  check_done() returns the process exit
 * status: 0 only when every check held.
 */
#ifndef PVM6_CHECK_H
#define PVM6_CHECK_H

#include <stdio.h>
#include <string.h>

#define CHECK_UNUSED __attribute__((unused))

static int check_count CHECK_UNUSED;
static int check_failed CHECK_UNUSED;

CHECK_UNUSED static void check_report(int good, const char *what, const char *file, int line)
{
	check_count++;
	if (good) {
		printf("ok %d - %s\n", check_count, what);
	} else {
		check_failed++;
		printf("not ok %d - %s (%s:%d)\n", check_count, what, file, line);
	}
	fflush(stdout);
}

/* integer equality */
#define CHECK_INT(got_expr, want_expr, what) do { \
	long check_got_ = (long)(got_expr); \
	long check_want_ = (long)(want_expr); \
	check_report(check_got_ == check_want_, (what), __FILE__, __LINE__); \
	if (check_got_ != check_want_) \
		printf("#   expected: %ld (0x%lx)\n#        got: %ld (0x%lx)\n", \
			check_want_, (unsigned long)check_want_, \
			check_got_, (unsigned long)check_got_); \
	fflush(stdout); \
} while (0)

/* boolean condition; the text of the condition is shown on failure */
#define CHECK(cond, what) do { \
	int check_ok_ = (cond) ? 1 : 0; \
	check_report(check_ok_, (what), __FILE__, __LINE__); \
	if (!check_ok_) \
		printf("#   expected true: %s\n", #cond); \
	fflush(stdout); \
} while (0)

/* integer comparison with a relation, e.g. CHECK_CMP(cc, >=, 0, "...") */
#define CHECK_CMP(got_expr, op, want_expr, what) do { \
	long check_got_ = (long)(got_expr); \
	long check_want_ = (long)(want_expr); \
	int check_ok_ = check_got_ op check_want_; \
	check_report(check_ok_, (what), __FILE__, __LINE__); \
	if (!check_ok_) \
		printf("#   expected: got %s %ld\n#        got: %ld\n", \
			#op, check_want_, check_got_); \
	fflush(stdout); \
} while (0)

/* string equality; NULL is shown as (null) */
#define CHECK_STR(got_expr, want_expr, what) do { \
	const char *check_gs_ = (got_expr); \
	const char *check_ws_ = (want_expr); \
	int check_ok_ = check_gs_ && check_ws_ && strcmp(check_gs_, check_ws_) == 0; \
	check_report(check_ok_, (what), __FILE__, __LINE__); \
	if (!check_ok_) \
		printf("#   expected: \"%s\"\n#        got: \"%s\"\n", \
			check_ws_ ? check_ws_ : "(null)", \
			check_gs_ ? check_gs_ : "(null)"); \
	fflush(stdout); \
} while (0)

/* floating point equality within a tolerance */
#define CHECK_DBL(got_expr, want_expr, tol, what) do { \
	double check_gd_ = (double)(got_expr); \
	double check_wd_ = (double)(want_expr); \
	double check_diff_ = check_gd_ - check_wd_; \
	int check_ok_ = check_diff_ <= (tol) && -check_diff_ <= (tol); \
	check_report(check_ok_, (what), __FILE__, __LINE__); \
	if (!check_ok_) \
		printf("#   expected: %.17g\n#        got: %.17g\n", check_wd_, check_gd_); \
	fflush(stdout); \
} while (0)

/* exit status for main(): 0 only if every check held and at least one ran */
CHECK_UNUSED static int check_done(void)
{
	printf("# %d checks, %d failed\n", check_count, check_failed);
	fflush(stdout);
	return (check_failed == 0 && check_count > 0) ? 0 : 1;
}

/* program name without directories, used to spawn copies of ourselves */
CHECK_UNUSED static const char *check_basename(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');
	return slash ? slash + 1 : argv0;
}

/* With pvm3.h included first: pvm_trecv from `tid` (-1: anyone) with
 * `tag`, waiting at most `secs` seconds (fractions allowed), so that every
 * wait of a test is bounded. The buffer id, 0 on timeout, < 0 on error. */
#ifdef _PVM3_H_
#include <sys/time.h>

CHECK_UNUSED static int wait_msg(int tid, int tag, double secs)
{
	struct timeval tv;
	tv.tv_sec = (long)secs;
	tv.tv_usec = (long)((secs - (double)tv.tv_sec) * 1e6);
	return pvm_trecv(tid, tag, &tv);
}
#endif

#endif /* PVM6_CHECK_H */
