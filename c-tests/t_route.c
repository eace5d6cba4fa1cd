/*
 * t_route.c - direct task-to-task routes (pvm_setopt(PvmRoute, PvmRouteDirect)).
 *
 * Checks: per-pair FIFO order across the switch from the daemon route to a
 * direct link, in both directions (100 messages through the daemon, then
 * PvmRouteDirect, then 100 more; the peer echoes each one); pvm_getfds grows
 * by the listener and the link; payloads of 1 byte and 1 MiB arrive intact on
 * both routes; two tasks exchanging large messages at the same time over a
 * link do not deadlock; a peer with PvmDontRoute keeps the daemon route; two
 * tasks both asking for a link at once end up with one; a peer that exits
 * closes its link, and a message to it afterwards is accepted and dropped.
 *
 * Prints round-trip latency (1 byte) and bandwidth (1 MiB) for the daemon
 * route and the direct route as "#" lines; no assertion depends on timing.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define TAG_SEQ 10
#define TAG_ECHO 11
#define TAG_PING 12
#define TAG_PONG 13
#define TAG_BIG 14
#define TAG_BIGACK 15
#define TAG_EXCH 16
#define TAG_EXCHDONE 17
#define TAG_QUIT 18
#define TAG_BOTH 19
#define TAG_BOTHDONE 20

#define NSEQ 200
#define NPING 2000
#define NBIG 40
#define BIG (1 << 20)
#define NEXCH 3
#define EXCH (2 << 20)
#define NBOTH 50
#define WAIT 30

static char *big_expect;

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void fill_pattern(char *p, int n, int seed)
{
	int i;
	for (i = 0; i < n; i++)
		p[i] = (char)((i * 7 + seed) & 0xff);
}

static int nfds(void)
{
	int *fds = NULL;
	return pvm_getfds(&fds);
}

/* Child (default route, or PvmDontRoute with argv[1] "dontroute"): serves
 * the master's requests until TAG_QUIT. */
static int child(int dontroute)
{
	int parent = pvm_parent();
	char *buf = malloc(EXCH);
	int running = 1;

	if (dontroute)
		pvm_setopt(PvmRoute, PvmDontRoute);
	while (running) {
		int tag, len, src, v, ok, i, bufid = wait_msg(parent, -1, WAIT);
		if (bufid <= 0)
			break;
		pvm_bufinfo(bufid, &len, &tag, &src);
		switch (tag) {
		case TAG_SEQ: /* echo the sequence number */
			pvm_upkint(&v, 1, 1);
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&v, 1, 1);
			pvm_send(parent, TAG_ECHO);
			break;
		case TAG_PING: /* echo the byte */
			pvm_upkbyte(buf, 1, 1);
			pvm_initsend(PvmDataRaw);
			pvm_pkbyte(buf, 1, 1);
			pvm_send(parent, TAG_PONG);
			break;
		case TAG_BIG: /* check 1 MiB against the pattern, answer ok */
			pvm_upkint(&v, 1, 1);
			pvm_upkbyte(buf, BIG, 1);
			fill_pattern(big_expect, BIG, v);
			ok = memcmp(buf, big_expect, BIG) == 0;
			pvm_initsend(PvmDataRaw);
			pvm_pkint(&ok, 1, 1);
			pvm_send(parent, TAG_BIGACK);
			break;
		case TAG_EXCH: /* send NEXCH large messages, then receive as many */
			ok = 1;
			for (i = 0; i < NEXCH; i++) {
				fill_pattern(buf, EXCH, 100 + i);
				pvm_initsend(PvmDataRaw);
				pvm_pkbyte(buf, EXCH, 1);
				pvm_send(parent, TAG_EXCH);
			}
			for (i = 0; i < NEXCH; i++) {
				if (wait_msg(parent, TAG_EXCH, WAIT) <= 0) {
					ok = 0;
					break;
				}
				pvm_upkbyte(buf, EXCH, 1);
				fill_pattern(big_expect, EXCH, 200 + i);
				ok &= memcmp(buf, big_expect, EXCH) == 0;
			}
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&ok, 1, 1);
			pvm_send(parent, TAG_EXCHDONE);
			break;
		case TAG_QUIT:
		default:
			running = 0;
			break;
		}
	}
	free(buf);
	pvm_exit();
	return 0;
}

/* Child "both": asks for a direct route itself and streams NBOTH numbered
 * messages to the master while the master streams to it; checks order. */
static int child_both(void)
{
	int parent = pvm_parent();
	int i, v, inorder = 1;

	pvm_setopt(PvmRoute, PvmRouteDirect);
	for (i = 0; i < NBOTH; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(parent, TAG_BOTH);
	}
	for (i = 0; i < NBOTH; i++) {
		if (wait_msg(parent, TAG_BOTH, WAIT) <= 0) {
			inorder = 0;
			break;
		}
		pvm_upkint(&v, 1, 1);
		if (v != i)
			inorder = 0;
	}
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&inorder, 1, 1);
	pvm_send(parent, TAG_BOTHDONE);
	wait_msg(parent, TAG_QUIT, WAIT);
	pvm_exit();
	return 0;
}

/* Round trips of 1 byte; returns microseconds per round trip, -1 on error. */
static double latency(int peer)
{
	char b = 'x', r = 0;
	int i, good = 1;
	double t0 = now();
	for (i = 0; i < NPING; i++) {
		pvm_initsend(PvmDataRaw);
		b = (char)('a' + i % 26);
		pvm_pkbyte(&b, 1, 1);
		pvm_send(peer, TAG_PING);
		if (wait_msg(peer, TAG_PONG, WAIT) <= 0)
			return -1;
		pvm_upkbyte(&r, 1, 1);
		good &= r == b;
	}
	return good ? (now() - t0) / NPING * 1e6 : -1;
}

/* 1 MiB messages, each checked and acknowledged; MB/s, -1 on error. */
static double bandwidth(int peer, char *buf)
{
	int i, ok = 1, a;
	double t0 = now();
	for (i = 0; i < NBIG; i++) {
		fill_pattern(buf, BIG, i);
		pvm_initsend(PvmDataRaw);
		pvm_pkint(&i, 1, 1);
		pvm_pkbyte(buf, BIG, 1);
		pvm_send(peer, TAG_BIG);
		if (wait_msg(peer, TAG_BIGACK, WAIT) <= 0)
			return -1;
		pvm_upkint(&a, 1, 1);
		ok &= a == 1;
	}
	return ok ? (double)NBIG * BIG / (now() - t0) / 1e6 : -1;
}

static void send_seq(int peer, int from, int to)
{
	int i;
	for (i = from; i < to; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(peer, TAG_SEQ);
	}
}

/* Reads messages (pvm_probe) until pvm_getfds reports `want` descriptors. */
static int wait_fds(int want)
{
	int i;
	for (i = 0; i < 3000; i++) {
		pvm_probe(-1, 9999);
		if (nfds() == want)
			return 1;
		usleep(2000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int mytid = pvm_mytid();
	int kid, dr, both, i, v, cc, inorder, ok, exch_ok;
	double lat_d, bw_d, lat_r, bw_r;
	char *buf;

	big_expect = malloc(EXCH);
	if (pvm_parent() > 0) {
		if (argc > 1 && strcmp(argv[1], "both") == 0)
			return child_both();
		return child(argc > 1 && strcmp(argv[1], "dontroute") == 0);
	}
	CHECK_CMP(mytid, >, 0, "enrolled");
	pvm_setopt(PvmAutoErr, 0);
	buf = malloc(EXCH);

	CHECK_INT(pvm_getopt(PvmRoute), PvmAllowDirect, "default route is PvmAllowDirect");
	CHECK_INT(nfds(), 1, "pvm_getfds: only the daemon connection at first");
	cc = pvm_spawn((char *)check_basename(argv[0]), NULL, PvmTaskDefault, "", 1, &kid);
	CHECK_INT(cc, 1, "spawned the echo child");

	/* The daemon route. */
	lat_d = latency(kid);
	bw_d = bandwidth(kid, buf);
	CHECK(lat_d > 0, "1-byte round trips through the daemon intact");
	CHECK(bw_d > 0, "1 MiB messages through the daemon intact");

	/* Order across the switch: 100 via the daemon, then PvmRouteDirect. */
	send_seq(kid, 0, 100);
	CHECK_INT(pvm_setopt(PvmRoute, PvmRouteDirect), PvmAllowDirect, "setopt returns the old route");
	CHECK_INT(pvm_getopt(PvmRoute), PvmRouteDirect, "route is now PvmRouteDirect");
	send_seq(kid, 100, 150);
	CHECK(wait_fds(3), "pvm_getfds: daemon, listener and the new link");
	send_seq(kid, 150, NSEQ);
	inorder = 1;
	for (i = 0; i < NSEQ; i++) {
		if (wait_msg(kid, TAG_ECHO, WAIT) <= 0) {
			inorder = 0;
			break;
		}
		pvm_upkint(&v, 1, 1);
		if (v != i) {
			printf("# echo %d arrived as number %d\n", v, i);
			inorder = 0;
		}
	}
	CHECK(inorder, "200 messages each way arrive in order across the switch");

	/* The direct route. */
	lat_r = latency(kid);
	bw_r = bandwidth(kid, buf);
	CHECK(lat_r > 0, "1-byte round trips over the link intact");
	CHECK(bw_r > 0, "1 MiB messages over the link intact");
	CHECK_INT(nfds(), 3, "still one link");
	printf("# daemon route: round trip %.1f us, bandwidth %.0f MB/s\n", lat_d, bw_d);
	printf("# direct route: round trip %.1f us, bandwidth %.0f MB/s\n", lat_r, bw_r);

	/* Both send 3 x 2 MiB at once, then receive: must not deadlock. */
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_EXCH);
	for (i = 0; i < NEXCH; i++) {
		fill_pattern(buf, EXCH, 200 + i);
		pvm_initsend(PvmDataRaw);
		pvm_pkbyte(buf, EXCH, 1);
		pvm_send(kid, TAG_EXCH);
	}
	exch_ok = 1;
	for (i = 0; i < NEXCH; i++) {
		if (wait_msg(kid, TAG_EXCH, WAIT) <= 0) {
			exch_ok = 0;
			break;
		}
		pvm_upkbyte(buf, EXCH, 1);
		fill_pattern(big_expect, EXCH, 100 + i);
		exch_ok &= memcmp(buf, big_expect, EXCH) == 0;
	}
	CHECK(exch_ok, "simultaneous 2 MiB exchange over the link: all data intact");
	ok = 0;
	if (wait_msg(kid, TAG_EXCHDONE, WAIT) > 0)
		pvm_upkint(&ok, 1, 1);
	CHECK_INT(ok, 1, "the child got the master's 2 MiB messages intact");

	/* A peer with PvmDontRoute keeps the daemon route. */
	{
		char *args[] = { "dontroute", NULL };
		cc = pvm_spawn((char *)check_basename(argv[0]), args, PvmTaskDefault, "", 1, &dr);
	}
	CHECK_INT(cc, 1, "spawned the PvmDontRoute child");
	CHECK(latency(dr) > 0, "PvmDontRoute peer: round trips intact");
	for (i = 0; i < 20; i++)
		pvm_probe(-1, 9999);
	CHECK_INT(nfds(), 3, "PvmDontRoute peer: no link opened");

	/* Both sides ask for a link at once: one link, order kept both ways. */
	{
		char *args[] = { "both", NULL };
		cc = pvm_spawn((char *)check_basename(argv[0]), args, PvmTaskDefault, "", 1, &both);
	}
	CHECK_INT(cc, 1, "spawned the PvmRouteDirect child");
	for (i = 0; i < NBOTH; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(both, TAG_BOTH);
	}
	inorder = 1;
	for (i = 0; i < NBOTH; i++) {
		if (wait_msg(both, TAG_BOTH, WAIT) <= 0) {
			inorder = 0;
			break;
		}
		pvm_upkint(&v, 1, 1);
		if (v != i)
			inorder = 0;
	}
	CHECK(inorder, "mutual PvmRouteDirect: child's messages in order");
	ok = 0;
	if (wait_msg(both, TAG_BOTHDONE, WAIT) > 0)
		pvm_upkint(&ok, 1, 1);
	CHECK_INT(ok, 1, "mutual PvmRouteDirect: master's messages in order");
	CHECK(wait_fds(4), "mutual PvmRouteDirect: exactly one more link");

	/* A peer that exits closes its link; sending to it afterwards is quietly dropped. */
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_QUIT);
	CHECK(wait_fds(3), "the exited peer's link is gone from pvm_getfds");
	for (i = 0; i < 500 && pvm_pstat(kid) == PvmOk; i++)
		usleep(10000);
	CHECK_INT(pvm_pstat(kid), PvmNoTask, "the echo child has exited");
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&i, 1, 1);
	CHECK_INT(pvm_send(kid, TAG_SEQ), PvmOk, "a send to the exited peer is accepted (and dropped)");
	CHECK(latency(dr) > 0, "other routes still work");

	pvm_initsend(PvmDataDefault);
	pvm_send(dr, TAG_QUIT);
	pvm_send(both, TAG_QUIT);
	free(buf);
	free(big_expect);
	pvm_exit();
	return check_done();
}
