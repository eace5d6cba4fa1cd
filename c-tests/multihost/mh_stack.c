/*
 * mh_stack: messages between hosts of different address families, on the
 * default (daemon) route and on direct routes.  Run as
 * `mh_stack <host>:<direct|daemon> ...`: spawns a child on every <host>
 * (PvmTaskHost), then, for each child in turn, sends NSEQ numbered messages
 * and one BIG-byte patterned message and checks the child's answers (the
 * number back with a value derived from it and the child's host index, the
 * bytes back intact), first on the default route, then with
 * PvmRouteDirect.  A host marked `direct` shares an address family with
 * this one, so the direct phase must open a TCP link to its child:
 * pvm_getfds grows by the route listener and one link per such host, and by
 * nothing for hosts marked `daemon` (no common family: their messages keep
 * going through the daemons and must arrive all the same).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_SEQ 30
#define TAG_ECHO 31
#define TAG_BIG 32
#define TAG_BIGBACK 33
#define TAG_QUIT 34

#define NSEQ 100
#define BIG (300 * 1000)
#define MAXHOSTS 8

static struct timeval wait30 = { 30, 0 };

static void fill_pattern(char *p, int n, int seed)
{
	for (int i = 0; i < n; i++)
		p[i] = (char)((i * 13 + seed) & 0xff);
}

static int child(int index)
{
	int parent = pvm_parent();
	char *buf = malloc(BIG);
	for (;;) {
		int bufid = pvm_recv(parent, -1);
		if (bufid < 0)
			return 1;
		int len = 0, tag = 0, src = 0;
		pvm_bufinfo(bufid, &len, &tag, &src);
		if (tag == TAG_QUIT)
			break;
		if (tag == TAG_SEQ) {
			int seq = 0;
			pvm_upkint(&seq, 1, 1);
			int out[2] = { seq, seq * 7 + index };
			pvm_initsend(PvmDataDefault);
			pvm_pkint(out, 2, 1);
			pvm_send(parent, TAG_ECHO);
		} else if (tag == TAG_BIG) {
			pvm_upkbyte(buf, BIG, 1);
			pvm_initsend(PvmDataDefault);
			pvm_pkbyte(buf, BIG, 1);
			pvm_send(parent, TAG_BIGBACK);
		}
	}
	free(buf);
	pvm_exit();
	return 0;
}

/* NSEQ numbers and a big message to `tid` (child `index`), every answer
 * checked; returns 1 when all were right. */
static int exchange(int tid, int index, const char *host, const char *route, char *big, char *back)
{
	char what[256];
	for (int i = 0; i < NSEQ; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(tid, TAG_SEQ);
	}
	int good = 1;
	for (int i = 0; i < NSEQ; i++) {
		int in[2] = { -1, -1 };
		if (pvm_trecv(tid, TAG_ECHO, &wait30) <= 0) {
			good = 0;
			break;
		}
		pvm_upkint(in, 2, 1);
		if (in[0] != i || in[1] != i * 7 + index) {
			printf("# %s %s: answer %d is (%d, %d)\n", host, route, i, in[0], in[1]);
			good = 0;
		}
	}
	snprintf(what, sizeof what, "%s, %s route: %d numbers back in order with their values", host, route, NSEQ);
	CHECK(good, what);
	fill_pattern(big, BIG, index + (route[1] == 'i' ? 100 : 0));
	memset(back, 0, BIG);
	pvm_initsend(PvmDataDefault);
	pvm_pkbyte(big, BIG, 1);
	pvm_send(tid, TAG_BIG);
	int bufid = pvm_trecv(tid, TAG_BIGBACK, &wait30);
	int len = 0;
	if (bufid > 0) {
		pvm_bufinfo(bufid, &len, NULL, NULL);
		pvm_upkbyte(back, BIG, 1);
	}
	snprintf(what, sizeof what, "%s, %s route: %d bytes back intact", host, route, BIG);
	CHECK(bufid > 0 && len == BIG && memcmp(big, back, BIG) == 0, what);
	return good;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "child") == 0)
		return child(atoi(argv[2]));
	if (argc < 2 || argc - 1 > MAXHOSTS) {
		fprintf(stderr, "usage: mh_stack <host>:<direct|daemon> ...\n");
		return 2;
	}
	int me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int n = argc - 1, tids[MAXHOSTS] = { 0 }, direct[MAXHOSTS] = { 0 }, ndirect = 0;
	char hosts[MAXHOSTS][128];
	for (int i = 0; i < n; i++) {
		char *colon = strrchr(argv[i + 1], ':');
		if (!colon || (strcmp(colon + 1, "direct") && strcmp(colon + 1, "daemon"))) {
			fprintf(stderr, "mh_stack: bad argument %s\n", argv[i + 1]);
			return 2;
		}
		snprintf(hosts[i], sizeof hosts[i], "%.*s", (int)(colon - argv[i + 1]), argv[i + 1]);
		direct[i] = strcmp(colon + 1, "direct") == 0;
		ndirect += direct[i];
		char index[16];
		snprintf(index, sizeof index, "%d", i + 1);
		char *args[] = { "child", index, NULL };
		char what[256];
		snprintf(what, sizeof what, "spawn on %s", hosts[i]);
		CHECK_INT(pvm_spawn(prog, args, PvmTaskHost, hosts[i], 1, &tids[i]), 1, what);
		if (tids[i] <= 0)
			return check_done();
		CHECK(pvm_tidtohost(tids[i]) != pvm_tidtohost(me), "child on another host");
	}
	char *big = malloc(BIG), *back = malloc(BIG);
	for (int i = 0; i < n; i++)
		exchange(tids[i], i + 1, hosts[i], "daemon", big, back);
	int fds0 = pvm_getfds(&(int *){ NULL });
	CHECK_INT(pvm_setopt(PvmRoute, PvmRouteDirect), PvmAllowDirect, "PvmRouteDirect set");
	for (int i = 0; i < n; i++) {
		int before = pvm_getfds(&(int *){ NULL });
		exchange(tids[i], i + 1, hosts[i], "direct", big, back);
		int after = pvm_getfds(&(int *){ NULL });
		char what[256];
		/* The listener comes with the first link (or the first offer). */
		int listener = i == 0 ? 1 : 0;
		snprintf(what, sizeof what, "%s: %s", hosts[i],
			direct[i] ? "direct link opened (pvm_getfds grew by it)"
				  : "no direct link (no common address family)");
		if (direct[i])
			CHECK_INT(after, before + listener + 1, what);
		else
			CHECK_CMP(after, <=, before + listener, what);
	}
	CHECK_INT(pvm_getfds(&(int *){ NULL }), fds0 + 1 + ndirect, "pvm_getfds: listener and one link per direct host");
	for (int i = 0; i < n; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_send(tids[i], TAG_QUIT);
	}
	free(big);
	free(back);
	pvm_exit();
	return check_done();
}
