/*
 * mh_feed: the default route between hosts, which pvm6 sends on feeds (a
 * task writes its messages for another host's tasks straight to that
 * host's daemon; docs/PROTOCOL.md "Feeds").  Run as `mh_feed <host>`.
 *
 * 1. Order and payloads: a child on <host> (PvmTaskHost) gets NSEQ numbered
 *    messages of sizes from 1 byte to 200 KB (below and above the 16 KiB a
 *    daemon ring record holds), sent without waiting, some with pvm_mcast to
 *    the child and to a second child on this host, some with pvm_psend; it
 *    checks their numbers and contents and sends NSEQ numbered ones back the
 *    same ways, which we check too (they go back on our feed through the
 *    child's daemon).  We print our tid and the children's.
 * 2. Exit order: NEXIT children on <host>, each watched with
 *    pvm_notify(PvmTaskExit), send NBURST messages and leave at once, half
 *    with pvm_exit, half with _exit (no pvm_exit: their kernel closes the
 *    feed).  Every child's messages must all arrive before its exit notice.
 * 3. A message to a task of <host> that has exited: pvm_send still
 *    succeeds (the daemon drops it, as the original does).
 *
 * `mh_feed <host> -stall <file>`: a child on <host> answers one message
 * (the feed is open), we print "# ready" and wait for <file> (meanwhile
 * the test stops <host>'s daemon with SIGSTOP), then send NFLOOD numbered
 * messages (32 MB), more than the feed's socket buffers hold (8 MiB each
 * way here): the feed stalls,
 * is given up after a second, and the rest go through the daemons behind
 * a fence.  "# flooded" tells the test to let the daemon go on; the child
 * must get all NFLOOD in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_SEQ 10
#define TAG_BACK 11
#define TAG_PS 12
#define TAG_DONE 13
#define TAG_BURST 14
#define TAG_EXIT 15
#define TAG_GO 16

#define NSEQ 300
#define NEXIT 6
#define NBURST 40
#define NFLOOD 4000
#define FLOOD_LEN 8192

static struct timeval wait30 = { 30, 0 };

static int size_of(int n)
{
	static const int sizes[] = { 1, 4, 100, 16000, 16384, 20000, 65536, 200000 };
	return sizes[n % 8];
}

static void fill(char *p, int len, int n)
{
	for (int i = 0; i < len; i++)
		p[i] = (char)((i * 13 + n) & 0xff);
}

static int intact(const char *p, int len, int n)
{
	for (int i = 0; i < len; i++)
		if (p[i] != (char)((i * 13 + n) & 0xff))
			return 0;
	return 1;
}

/* Sends message n of the sequence to `to` (and, every 7th, also to `also`
 * with pvm_mcast); every 5th goes with pvm_psend. */
static void send_seq(int to, int also, int n, char *buf)
{
	int len = size_of(n);
	fill(buf, len, n);
	if (n % 5 == 4) {
		pvm_psend(to, TAG_PS, buf, len, PVM_BYTE);
		return;
	}
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&n, 1, 1);
	pvm_pkint(&len, 1, 1);
	pvm_pkbyte(buf, len, 1);
	if (also && n % 7 == 0) {
		int both[2] = { to, also };
		pvm_mcast(both, 2, TAG_SEQ);
	} else {
		pvm_send(to, TAG_SEQ);
	}
}

/* Receives message n of the sequence from `from`; 1 when it is intact. */
static int recv_seq(int from, int n, char *buf)
{
	int len = size_of(n);
	int bufid = pvm_trecv(from, -1, &wait30);
	if (bufid <= 0)
		return 0;
	int blen = 0, tag = 0, src = 0;
	pvm_bufinfo(bufid, &blen, &tag, &src);
	if (src != from)
		return 0;
	if (n % 5 == 4) {
		if (tag != TAG_PS || blen != len)
			return 0;
		pvm_upkbyte(buf, len, 1);
		return intact(buf, len, n);
	}
	int got = -1, glen = -1;
	if (tag != TAG_SEQ)
		return 0;
	pvm_upkint(&got, 1, 1);
	pvm_upkint(&glen, 1, 1);
	if (got != n || glen != len)
		return 0;
	pvm_upkbyte(buf, len, 1);
	return intact(buf, len, n);
}

static int child_seq(int parent)
{
	char *buf = malloc(200000);
	int ok = 1;
	for (int n = 0; n < NSEQ && ok; n++)
		ok = recv_seq(parent, n, buf);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&ok, 1, 1);
	pvm_send(parent, TAG_DONE);
	for (int n = 0; n < NSEQ; n++)
		send_seq(parent, 0, n, buf);
	/* Wait for the parent's word before leaving. */
	pvm_trecv(parent, TAG_GO, &wait30);
	free(buf);
	pvm_exit();
	return 0;
}

/* The local child only counts what pvm_mcast gave it. */
static int child_local(int parent)
{
	char *buf = malloc(200000);
	int ok = 1;
	for (int n = 0; n < NSEQ && ok; n += 7) {
		if (n % 5 == 4)
			continue;
		ok = recv_seq(parent, n, buf);
	}
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&ok, 1, 1);
	pvm_send(parent, TAG_DONE);
	free(buf);
	pvm_exit();
	return 0;
}

static int child_burst(int parent, int hard)
{
	/* Start together with the others: wait for the word. */
	pvm_trecv(parent, TAG_GO, &wait30);
	for (int i = 0; i < NBURST; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(parent, TAG_BURST);
	}
	if (hard)
		_exit(0);
	pvm_exit();
	return 0;
}

static int child_sink(int parent)
{
	char *buf = malloc(FLOOD_LEN);
	pvm_trecv(parent, TAG_SEQ, &wait30);
	pvm_initsend(PvmDataDefault);
	pvm_send(parent, TAG_BACK);
	int ok = 1, n = 0;
	for (; n < NFLOOD && ok; n++) {
		if (pvm_trecv(parent, TAG_SEQ, &wait30) <= 0)
			break;
		int got = -1;
		pvm_upkint(&got, 1, 1);
		pvm_upkbyte(buf, FLOOD_LEN, 1);
		ok = got == n && intact(buf, FLOOD_LEN, n);
	}
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&ok, 1, 1);
	pvm_pkint(&n, 1, 1);
	pvm_send(parent, TAG_DONE);
	free(buf);
	pvm_exit();
	return 0;
}

static int stall(const char *where, const char *file)
{
	int me = pvm_mytid(), kid = 0;
	CHECK_CMP(me, >, 0, "enrolled");
	char *a_sink[] = { "-sink", NULL };
	CHECK_INT(pvm_spawn("mh_feed", a_sink, PvmTaskHost, (char *)where, 1, &kid), 1,
		  "sink child spawned on the other host");
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_SEQ);
	CHECK(pvm_trecv(kid, TAG_BACK, &wait30) > 0, "the sink answered");
	printf("# ready\n");
	for (int i = 0; i < 6000 && access(file, F_OK) != 0; i++)
		usleep(10000);
	char *buf = malloc(FLOOD_LEN);
	int bad = 0;
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	for (int n = 0; n < NFLOOD; n++) {
		fill(buf, FLOOD_LEN, n);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&n, 1, 1);
		pvm_pkbyte(buf, FLOOD_LEN, 1);
		if (pvm_send(kid, TAG_SEQ) < 0)
			bad++;
	}
	gettimeofday(&t1, NULL);
	printf("# flooded\n# in %.2f s\n", t1.tv_sec - t0.tv_sec + (t1.tv_usec - t0.tv_usec) / 1e6);
	CHECK_INT(bad, 0, "every pvm_send of the flood succeeded");
	int ok = 0, n = 0;
	CHECK(pvm_trecv(kid, TAG_DONE, &(struct timeval){ 60, 0 }) > 0, "the sink reported");
	pvm_upkint(&ok, 1, 1);
	pvm_upkint(&n, 1, 1);
	CHECK_INT(n, NFLOOD, "the sink got every message of the flood");
	CHECK_INT(ok, 1, "in order and intact");
	free(buf);
	pvm_exit();
	return check_done();
}

int main(int argc, char **argv)
{
	int parent = pvm_parent();
	if (argc > 1 && strcmp(argv[1], "-seq") == 0)
		return child_seq(parent);
	if (argc > 1 && strcmp(argv[1], "-local") == 0)
		return child_local(parent);
	if (argc > 1 && strcmp(argv[1], "-burst") == 0)
		return child_burst(parent, 0);
	if (argc > 1 && strcmp(argv[1], "-hard") == 0)
		return child_burst(parent, 1);
	if (argc > 1 && strcmp(argv[1], "-sink") == 0)
		return child_sink(parent);
	if (argc > 3 && strcmp(argv[2], "-stall") == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		return stall(argv[1], argv[3]);
	}
	const char *where = argc > 1 ? argv[1] : "node2";
	setvbuf(stdout, NULL, _IOLBF, 0);
	int me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");

	/* 1. Order and payloads both ways. */
	int remote = 0, local = 0;
	char *a_seq[] = { "-seq", NULL }, *a_local[] = { "-local", NULL };
	CHECK_INT(pvm_spawn("mh_feed", a_seq, PvmTaskHost, (char *)where, 1, &remote), 1,
		  "child spawned on the other host");
	CHECK_INT(pvm_spawn("mh_feed", a_local, PvmTaskHost, ".", 1, &local), 1,
		  "child spawned on this host");
	printf("# parent t%x\n", me);
	printf("# remote child t%x local child t%x\n", remote, local);
	CHECK(pvm_tidtohost(remote) != pvm_tidtohost(me), "the child is on another host");
	char *buf = malloc(200000);
	for (int n = 0; n < NSEQ; n++)
		send_seq(remote, local, n, buf);
	int ok = 0;
	CHECK(pvm_trecv(remote, TAG_DONE, &wait30) > 0 && pvm_upkint(&ok, 1, 1) == 0 && ok == 1,
	      "the remote child got every message in order, intact");
	CHECK(pvm_trecv(local, TAG_DONE, &wait30) > 0 && pvm_upkint(&ok, 1, 1) == 0 && ok == 1,
	      "the local child got its pvm_mcast copies in order, intact");
	ok = 1;
	for (int n = 0; n < NSEQ && ok; n++)
		ok = recv_seq(remote, n, buf);
	CHECK(ok, "the remote child's messages came in order, intact");
	pvm_initsend(PvmDataDefault);
	pvm_send(remote, TAG_GO);

	/* 2. Messages before the exit notice. */
	int kids[NEXIT];
	for (int i = 0; i < NEXIT; i++) {
		char *a_burst[] = { i % 2 ? "-hard" : "-burst", NULL };
		CHECK_INT(pvm_spawn("mh_feed", a_burst, PvmTaskHost, (char *)where, 1, &kids[i]), 1,
			  "burst child spawned");
	}
	CHECK_INT(pvm_notify(PvmTaskExit, TAG_EXIT, NEXIT, kids), 0, "exits watched");
	pvm_initsend(PvmDataDefault);
	pvm_mcast(kids, NEXIT, TAG_GO);
	int got[NEXIT] = { 0 }, gone[NEXIT] = { 0 }, late = 0, misordered = 0;
	for (int left = NEXIT; left > 0;) {
		int bufid = pvm_trecv(-1, -1, &wait30);
		if (bufid <= 0)
			break;
		int len, tag, src;
		pvm_bufinfo(bufid, &len, &tag, &src);
		if (tag == TAG_EXIT) {
			int who = 0;
			pvm_upkint(&who, 1, 1);
			for (int i = 0; i < NEXIT; i++)
				if (kids[i] == who) {
					gone[i] = 1;
					if (got[i] != NBURST) {
						printf("# t%x: exit notice after %d of %d messages\n", who,
						       got[i], NBURST);
						late++;
					}
					left--;
				}
		} else if (tag == TAG_BURST) {
			int v = -1;
			pvm_upkint(&v, 1, 1);
			for (int i = 0; i < NEXIT; i++)
				if (kids[i] == src) {
					if (gone[i] || v != got[i])
						misordered++;
					got[i]++;
				}
		}
	}
	int all_gone = 1;
	for (int i = 0; i < NEXIT; i++)
		all_gone &= gone[i];
	CHECK(all_gone, "every burst child's exit was noticed");
	CHECK_INT(late, 0, "every child's messages came before its exit notice");
	CHECK_INT(misordered, 0, "the burst messages came in order, none after the notice");

	/* 3. To a task that is gone. */
	pvm_initsend(PvmDataDefault);
	CHECK_INT(pvm_send(kids[0], TAG_SEQ), 0, "pvm_send to an exited task of the other host");

	free(buf);
	pvm_exit();
	return check_done();
}
