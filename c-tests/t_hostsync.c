/*
 * t_hostsync.c - pvm_hostsync's clock and delta, their sign and value.
 *
 * man pvm_hostsync: clk is the host's clock, delta the local clock minus
 * it (PVM 3.4.6 takes the mean of two local samples around the request).
 * With pvm6 the runner starts the daemon with PVM6_CLOCK_SKEW_US set, so
 * the daemon's clock answer is offset by that many microseconds and delta
 * must come out as minus that offset: a host whose clock runs ahead gives a
 * negative delta.  Without the variable (e.g. under
 * c-tests/run-against-original.sh) the offset is 0 and the same relations
 * hold with delta near 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

/* Room for rounding and scheduling between our samples and the library's. */
#define SLACK_US 2000LL

static long long us_of(const struct timeval *tv)
{
	return (long long)tv->tv_sec * 1000000LL + (long long)tv->tv_usec;
}

static void one_sample(int host, long long skew, const char *how)
{
	struct timeval before, after, clk, delta;
	long long b, a, c, d;
	char what[160];
	int rc;

	gettimeofday(&before, NULL);
	rc = pvm_hostsync(host, &clk, &delta);
	gettimeofday(&after, NULL);
	snprintf(what, sizeof what, "hostsync %s", how);
	CHECK_INT(rc, 0, what);
	b = us_of(&before);
	a = us_of(&after);
	c = us_of(&clk);
	d = us_of(&delta);

	snprintf(what, sizeof what, "%s: microseconds of clk and delta normalised", how);
	CHECK(clk.tv_usec >= 0 && clk.tv_usec < 1000000 && delta.tv_usec >= 0 && delta.tv_usec < 1000000, what);
	/* the daemon read its clock between our two samples */
	snprintf(what, sizeof what, "%s: clk is the host's clock (local + %lld us)", how, skew);
	CHECK(c >= b + skew - SLACK_US && c <= a + skew + SLACK_US, what);
	/* delta = local - remote, so about -skew */
	snprintf(what, sizeof what, "%s: delta is local minus remote (about %lld us)", how, -skew);
	CHECK(d >= b - (a + skew) - SLACK_US && d <= a - (b + skew) + SLACK_US, what);
	if (skew >= 1000000) {
		snprintf(what, sizeof what, "%s: a host ahead gives a negative delta", how);
		CHECK(delta.tv_sec < 0, what);
	} else if (skew <= -1000000) {
		snprintf(what, sizeof what, "%s: a host behind gives a positive delta", how);
		CHECK(delta.tv_sec > 0, what);
	}
	if (skew == 2500000) {
		/* -2.5 s as man pvm_hostsync writes a negative timeval: -3 s + 0.5 s */
		snprintf(what, sizeof what, "%s: delta -2.5 s is { -3, ~500000 }", how);
		/* the window is the round trip (a - b), which a loaded machine
		 * stretches: the fraction is checked against it, not a fixed slack */
		CHECK(delta.tv_sec == -3 && delta.tv_usec > 500000 - (a - b) - SLACK_US &&
		      delta.tv_usec < 500000 + (a - b) + SLACK_US, what);
	}
}

int main(void)
{
	const char *e = getenv("PVM6_CLOCK_SKEW_US");
	long long skew = e ? atoll(e) : 0;
	struct timeval clk, delta;
	int me, host;

	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	pvm_setopt(PvmAutoErr, 0);
	host = pvm_tidtohost(me);
	printf("# daemon clock offset %lld us\n", skew);

	one_sample(host, skew, "by host tid");
	one_sample((int)(0x80000000u | (unsigned)host), skew, "by daemon tid");
	one_sample(host, skew, "again");

	/* NULL outputs are allowed; errors leave the call early */
	CHECK_INT(pvm_hostsync(host, NULL, NULL), 0, "hostsync with NULL clk and delta");
	CHECK_INT(pvm_hostsync(0x123, &clk, &delta), PvmNoHost, "hostsync of no host: PvmNoHost");

	pvm_exit();
	return check_done();
}
