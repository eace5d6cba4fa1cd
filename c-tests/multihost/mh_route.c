/*
 * mh_route: direct task-to-task routes between two hosts (TCP, machine
 * secret) and the output of remote tasks.  Run as `mh_route <host> [file]`:
 * spawns a child on <host> (PvmTaskHost) which writes a line to stdout (it
 * goes to the master daemon's log), times 1-byte round trips and 1 MiB
 * echoes on the daemon route, then sends NSEQ/2 numbered messages through
 * the daemons, switches to PvmRouteDirect and sends NSEQ/2 more without
 * waiting: the child checks it got them in order and echoes each (its
 * echoes switch to the link too); the master checks the echoes' order,
 * that pvm_getfds grew by the feed, then by the TCP listener and the link, and times the
 * direct route.  With [file]: prints "# waiting" and waits in pvm_trecv
 * (up to 60 s) for <file> to exist (a test attacks the listener meanwhile),
 * checking that no message arrived and that the link still works.  A second child
 * spawned after pvm_catchout(stdout) prints a line that must come back
 * here as "[t...] ..." output; so does a third one on this host.  Each
 * child's line names its working directory (the hostfile's wd=).
 * On the direct route, pvm_precv of what the child sends with pvm_psend
 * (large bodies land straight in precv's buffer): bytes and ints intact
 * with the right tid, tag and length; a buffer too small gets the first
 * part and the whole length; a small message then a large one from the
 * same sender come in order; a large message of another tag that comes
 * first stays queued for its own precv.  Many large messages sent while
 * this side is not in a PVM call are all received in order and intact,
 * with pvm_precv and pvm_recv alternating, and the receiver's memory does
 * not grow by what waited in the network (it stays there until asked for).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_SEQ 10
#define TAG_ECHO 11
#define TAG_PING 12
#define TAG_BIG 14
#define TAG_QUIT 18
#define TAG_DONE 19
#define TAG_PREQ 20
#define TAG_PBIG 21
#define TAG_POTHER 22

#define NSEQ 200
#define NPING 300
#define NBIG 10
#define BIG (1 << 20)
#define NSTREAM 48

static struct timeval wait30 = { 30, 0 };

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void fill_pattern(char *p, int n, int seed)
{
	for (int i = 0; i < n; i++)
		p[i] = (char)((i * 7 + seed) & 0xff);
}

static int child(void)
{
	int parent = pvm_parent();
	char host[256];
	gethostname(host, sizeof host);
	host[sizeof host - 1] = 0;
	char cwd[512];
	if (!getcwd(cwd, sizeof cwd))
		strcpy(cwd, "?");
	printf("mh_route child t%x on %s in %s says hello\n", pvm_mytid(), host, cwd);
	fflush(stdout);
	char *buf = malloc(BIG);
	int expect = 0, order_ok = 1;
	for (;;) {
		int bufid = pvm_trecv(parent, -1, &(struct timeval){ 60, 0 });
		if (bufid <= 0)
			break;
		int len = 0, tag = 0, src = 0;
		pvm_bufinfo(bufid, &len, &tag, &src);
		if (tag == TAG_QUIT)
			break;
		if (tag == TAG_SEQ) {
			int n = -1;
			pvm_upkint(&n, 1, 1);
			if (n != expect)
				order_ok = 0;
			expect = n + 1;
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&n, 1, 1);
			pvm_send(parent, TAG_ECHO);
		} else if (tag == TAG_PING) {
			char c = 0;
			pvm_upkbyte(&c, 1, 1);
			pvm_initsend(PvmDataDefault);
			pvm_pkbyte(&c, 1, 1);
			pvm_send(parent, TAG_PING);
		} else if (tag == TAG_BIG) {
			pvm_upkbyte(buf, len, 1);
			pvm_initsend(PvmDataRaw);
			pvm_pkbyte(buf, len, 1);
			pvm_send(parent, TAG_BIG);
		} else if (tag == TAG_PREQ) {
			/* mode, length, seed: what to send back with pvm_psend */
			int req[3] = { 0, 0, 0 };
			pvm_upkint(req, 3, 1);
			int n = req[1] < BIG ? req[1] : BIG;
			fill_pattern(buf, n, req[2]);
			if (req[0] == 0) {
				pvm_psend(parent, TAG_PBIG, buf, n, PVM_BYTE);
			} else if (req[0] == 1) {
				pvm_psend(parent, TAG_PBIG, buf, 16, PVM_BYTE);
				fill_pattern(buf, n, req[2] + 1);
				pvm_psend(parent, TAG_PBIG, buf, n, PVM_BYTE);
			} else if (req[0] == 4) {
				for (int i = 0; i < NSTREAM; i++) {
					fill_pattern(buf, n, req[2] + i);
					pvm_psend(parent, TAG_PBIG, buf, n, PVM_BYTE);
				}
			} else if (req[0] == 2) {
				pvm_psend(parent, TAG_POTHER, buf, n, PVM_BYTE);
				fill_pattern(buf, n, req[2] + 1);
				pvm_psend(parent, TAG_PBIG, buf, n, PVM_BYTE);
			} else {
				int *v = (int *)buf;
				for (int i = 0; i < n / 4; i++)
					v[i] = i * 3 + req[2];
				pvm_psend(parent, TAG_PBIG, buf, n / 4, PVM_INT);
			}
		}
	}
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&order_ok, 1, 1);
	pvm_pkint(&expect, 1, 1);
	pvm_send(parent, TAG_DONE);
	free(buf);
	pvm_exit();
	return 0;
}

/* Round trips of 1 byte and of 1 MiB; prints the timings of `route`. */
static void timings(int tid, const char *route, char *big, char *back)
{
	int ok = 1;
	double t0 = now();
	for (int i = 0; i < NPING && ok; i++) {
		char c = (char)i, r = 0;
		pvm_initsend(PvmDataDefault);
		pvm_pkbyte(&c, 1, 1);
		pvm_send(tid, TAG_PING);
		if (pvm_trecv(tid, TAG_PING, &wait30) <= 0)
			ok = 0;
		pvm_upkbyte(&r, 1, 1);
		if (r != c)
			ok = 0;
	}
	double t1 = now();
	CHECK(ok, "1-byte round trips");
	int intact = 1;
	for (int i = 0; i < NBIG && ok; i++) {
		fill_pattern(big, BIG, i);
		pvm_initsend(PvmDataRaw);
		pvm_pkbyte(big, BIG, 1);
		pvm_send(tid, TAG_BIG);
		if (pvm_trecv(tid, TAG_BIG, &wait30) <= 0) {
			ok = 0;
			break;
		}
		memset(back, 0, BIG);
		pvm_upkbyte(back, BIG, 1);
		if (memcmp(big, back, BIG) != 0)
			intact = 0;
	}
	double t2 = now();
	CHECK(ok && intact, "1 MiB echoes intact");
	printf("# %s route: round trip %.1f us, 1 MiB echo %.1f MB/s\n", route,
		(t1 - t0) / NPING * 1e6, 2.0 * NBIG * BIG / (t2 - t1) / 1e6);
}

/* Asks the child for pvm_psend messages (see child()). */
static void ask(int tid, int mode, int len, int seed)
{
	int req[3] = { mode, len, seed };
	pvm_initsend(PvmDataDefault);
	pvm_pkint(req, 3, 1);
	pvm_send(tid, TAG_PREQ);
}

/* Whether p holds fill_pattern(n, seed). */
static int is_pattern(const char *p, int n, int seed)
{
	for (int i = 0; i < n; i++)
		if (p[i] != (char)((i * 7 + seed) & 0xff))
			return 0;
	return 1;
}

/* The most resident memory this process has had so far, KiB. */
static long peak_rss_kib(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* NSTREAM messages of 1 MiB sent at once while we sleep, then received. */
static void stream_checks(int tid, char *back)
{
	int rtid = 0, rtag = 0, rlen = 0, ok = 1;
	ask(tid, 4, BIG, 20);
	usleep(500000); /* the child sends meanwhile, until the network is full */
	long rss0 = peak_rss_kib();
	for (int i = 0; i < NSTREAM && ok; i++) {
		memset(back, 0, BIG);
		if (i % 3 == 2) {
			ok = pvm_trecv(tid, TAG_PBIG, &wait30) > 0 &&
				pvm_upkbyte(back, BIG, 1) == 0;
		} else {
			ok = pvm_precv(tid, TAG_PBIG, back, BIG, PVM_BYTE, &rtid, &rtag, &rlen) == 0 &&
				rlen == BIG;
		}
		ok = ok && is_pattern(back, BIG, 20 + i);
	}
	long grown = peak_rss_kib() - rss0;
	CHECK(ok, "48 MiB sent at once: each 1 MiB message intact, in order (precv and recv)");
	printf("# peak resident memory grew by %ld KiB while receiving them\n", grown);
	CHECK(rss0 > 0 && grown < 12 * 1024, "what waited in the network was not all read into memory");
}

/* pvm_precv of what the child sends with pvm_psend over the direct route. */
static void precv_checks(int tid, char *back)
{
	int rtid = 0, rtag = 0, rlen = 0, ok = 1;
	double t0 = now();
	for (int i = 0; i < NBIG && ok; i++) {
		ask(tid, 0, BIG, i);
		memset(back, 0, BIG);
		ok = pvm_precv(tid, TAG_PBIG, back, BIG, PVM_BYTE, &rtid, &rtag, &rlen) == 0 &&
			rtid == tid && rtag == TAG_PBIG && rlen == BIG && is_pattern(back, BIG, i);
	}
	double t1 = now();
	CHECK(ok, "precv: 1 MiB from psend intact, with tid, tag and length");
	printf("# direct route: psend/precv 1 MiB %.1f MB/s\n", NBIG * (double)BIG / (t1 - t0) / 1e6);

	ask(tid, 0, BIG, 5);
	memset(back, 0, BIG);
	CHECK_INT(pvm_precv(tid, -1, back, BIG / 2, PVM_BYTE, &rtid, &rtag, &rlen), 0,
		"precv into a buffer half the message's size");
	CHECK(rlen == BIG && rtag == TAG_PBIG && is_pattern(back, BIG / 2, 5) && back[BIG / 2] == 0,
		"precv: the first half, the whole length");

	ask(tid, 1, BIG, 7);
	memset(back, 0, BIG);
	CHECK_INT(pvm_precv(tid, TAG_PBIG, back, BIG, PVM_BYTE, &rtid, &rtag, &rlen), 0, "precv small");
	CHECK(rlen == 16 && is_pattern(back, 16, 7), "precv: the small message first");
	CHECK_INT(pvm_precv(tid, TAG_PBIG, back, BIG, PVM_BYTE, &rtid, &rtag, &rlen), 0, "precv large");
	CHECK(rlen == BIG && is_pattern(back, BIG, 8), "precv: then the large one");

	ask(tid, 2, BIG, 9);
	memset(back, 0, BIG);
	CHECK_INT(pvm_precv(tid, TAG_PBIG, back, BIG, PVM_BYTE, &rtid, &rtag, &rlen), 0,
		"precv of the second tag");
	CHECK(rtag == TAG_PBIG && rlen == BIG && is_pattern(back, BIG, 10),
		"precv: the message of its tag, not the one before it");
	memset(back, 0, BIG);
	CHECK_INT(pvm_precv(tid, TAG_POTHER, back, BIG, PVM_BYTE, &rtid, &rtag, &rlen), 0,
		"precv of the first tag");
	CHECK(rtag == TAG_POTHER && rlen == BIG && is_pattern(back, BIG, 9),
		"precv: the other tag's message was kept");

	ask(tid, 3, BIG, 11);
	int *v = (int *)back;
	memset(back, 0, BIG);
	CHECK_INT(pvm_precv(tid, TAG_PBIG, v, BIG / 4, PVM_INT, &rtid, &rtag, &rlen), 0, "precv ints");
	int ints_ok = rlen == BIG;
	for (int i = 0; i < BIG / 4 && ints_ok; i++)
		ints_ok = v[i] == i * 3 + 11;
	CHECK(ints_ok, "precv: 256 Ki ints intact");
}

static int seq_round(int tid, int from, int to)
{
	int ok = 1;
	for (int i = from; i < to; i++) {
		if (pvm_trecv(tid, TAG_ECHO, &wait30) <= 0)
			return 0;
		int n = -1;
		pvm_upkint(&n, 1, 1);
		if (n != i)
			ok = 0;
	}
	return ok;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	if (argc < 2) {
		fprintf(stderr, "usage: mh_route <host> [file]\n");
		return 2;
	}
	const char *wait_file = argc > 2 ? argv[2] : NULL;
	int me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *args[] = { "child", NULL };
	int tid = 0;
	CHECK_INT(pvm_spawn(prog, args, PvmTaskHost, argv[1], 1, &tid), 1, "spawn on the other host");
	if (tid <= 0)
		return check_done();
	CHECK(pvm_tidtohost(tid) != pvm_tidtohost(me), "child on another host");
	printf("# child t%x\n", tid);
	printf("# me t%x\n", me);
	char *big = malloc(BIG), *back = malloc(BIG);
	int fds_start = pvm_getfds(&(int *){ NULL });

	timings(tid, "daemon", big, back);
	/* The default route opened a feed to the child's host, on which the
	 * child's answers come back: pvm_getfds lists it. */
	int fds0 = pvm_getfds(&(int *){ NULL });
	CHECK_INT(fds0, fds_start + 1, "pvm_getfds: the feed added");

	/* Order across the switch-over, both ways. */
	for (int i = 0; i < NSEQ / 2; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(tid, TAG_SEQ);
	}
	CHECK_INT(pvm_setopt(PvmRoute, PvmRouteDirect), PvmAllowDirect, "PvmRouteDirect set");
	for (int i = NSEQ / 2; i < NSEQ; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(tid, TAG_SEQ);
	}
	CHECK(seq_round(tid, 0, NSEQ), "echoes in order across the switch");
	int fds1 = pvm_getfds(&(int *){ NULL });
	CHECK_INT(fds1, fds0 + 2, "pvm_getfds: TCP listener and link added");

	timings(tid, "direct", big, back);
	precv_checks(tid, back);
	stream_checks(tid, back);

	if (wait_file) {
		printf("# waiting pid %d\n", (int)getpid());
		fflush(stdout);
		/* The library reads its sockets only inside PVM calls: wait in one. */
		int seen = 0, arrived = 0;
		for (int i = 0; i < 600 && !seen; i++) {
			seen = access(wait_file, F_OK) == 0;
			if (!seen && pvm_trecv(-1, -1, &(struct timeval){ 0, 100000 }) > 0)
				arrived++;
		}
		CHECK(seen, "the attack finished");
		CHECK_INT(arrived, 0, "nothing arrived from the attacker");
		CHECK_INT(pvm_probe(-1, -1), 0, "nothing queued from the attacker");
		for (int i = NSEQ; i < NSEQ + 10; i++) {
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&i, 1, 1);
			pvm_send(tid, TAG_SEQ);
		}
		CHECK(seq_round(tid, NSEQ, NSEQ + 10), "the link still works after the attack");
		CHECK_INT(pvm_getfds(&(int *){ NULL }), fds1, "no descriptor left by the attacker");
	}

	pvm_initsend(PvmDataDefault);
	pvm_send(tid, TAG_QUIT);
	CHECK_CMP(pvm_trecv(tid, TAG_DONE, &wait30), >, 0, "child done");
	int order_ok = 0, count = 0;
	pvm_upkint(&order_ok, 1, 1);
	pvm_upkint(&count, 1, 1);
	CHECK_INT(order_ok, 1, "child got the numbers in order");
	CHECK_INT(count, wait_file ? NSEQ + 10 : NSEQ, "child got every number");

	/* Output of a remote task caught with pvm_catchout. */
	pvm_setopt(PvmRoute, PvmAllowDirect);
	pvm_catchout(stdout);
	int tid2 = 0;
	CHECK_INT(pvm_spawn(prog, args, PvmTaskHost, argv[1], 1, &tid2), 1, "second child");
	if (tid2 > 0) {
		printf("# second child t%x\n", tid2);
		fflush(stdout);
		pvm_initsend(PvmDataDefault);
		pvm_send(tid2, TAG_QUIT);
		CHECK_CMP(pvm_trecv(tid2, TAG_DONE, &wait30), >, 0, "second child done");
	}
	/* A child on this host (named as pvm_config names it): its working
	 * directory is the wd= of this host's hostfile line. */
	int nhost = 0, narch = 0, tid3 = 0;
	struct pvmhostinfo *hp = NULL;
	pvm_config(&nhost, &narch, &hp);
	for (int i = 0; i < nhost; i++)
		if (hp[i].hi_tid == pvm_tidtohost(me))
			CHECK_INT(pvm_spawn(prog, args, PvmTaskHost, hp[i].hi_name, 1, &tid3), 1,
				"child on this host");
	if (tid3 > 0) {
		printf("# local child t%x\n", tid3);
		fflush(stdout);
		pvm_initsend(PvmDataDefault);
		pvm_send(tid3, TAG_QUIT);
		CHECK_CMP(pvm_trecv(tid3, TAG_DONE, &wait30), >, 0, "local child done");
	}
	free(big);
	free(back);
	pvm_exit();
	return check_done();
}
