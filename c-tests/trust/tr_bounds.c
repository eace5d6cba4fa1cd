/*
 * tr_bounds: the sender's side of the daemon's bounds (tests/bounds.rs).
 *
 *   tr_bounds limit MAX      a message of MAX + 1 bytes fails with PvmNoMem
 *                            (to a child and to ourselves), one of MAX
 *                            bytes goes and arrives whole
 *   tr_bounds slow N KIB SLEEP_S
 *                            spawns a child that sleeps SLEEP_S seconds
 *                            before it reads; sends it N messages of KIB KiB
 *                            (each with its index and a checksum); the
 *                            child checks every one arrived, in order,
 *                            intact; prints "send_s=..." (the time the
 *                            sends took) and the child's verdict
 *   tr_bounds held N BYTES SLEEP_S
 *                            as slow, with messages of BYTES bytes, but the
 *                            child sleeps before it connects (pvm_mytid):
 *                            the daemon holds what comes for it meanwhile
 *   tr_bounds many K MIB     spawns K children that each send the parent
 *                            one message of MIB MiB at once (after a go
 *                            message); checks every one arrived intact
 *   tr_bounds recvhost HOST N BYTES FILE
 *                            spawns a child on HOST that takes N messages of
 *                            BYTES bytes from anyone (checked as in slow);
 *                            writes the child's tid to FILE, then waits for
 *                            its verdict
 *   tr_bounds sendto TID N BYTES
 *                            sends N messages of BYTES bytes to TID
 *   tr_bounds tickle         pvm_tickle(2): the daemon logs its task table
 *                            (with how many frames it holds for each task)
 *   tr_bounds self N KIB     sends N messages of KIB KiB to itself before
 *                            receiving any, then receives and checks them
 *   tr_bounds add HOST       pvm_addhosts(HOST), which must fail (the tests
 *                            give it a host the remote shell cannot reach)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_DATA 11
#define TAG_VERDICT 12
#define TAG_GO 13

static double now_s(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void fill(char *b, int len, int i)
{
	for (int k = 0; k < len; k++)
		b[k] = (char)(i * 131 + k * 7);
}

static int intact(const char *b, int len, int i)
{
	for (int k = 0; k < len; k++)
		if (b[k] != (char)(i * 131 + k * 7))
			return 0;
	return 1;
}

/* Receives n messages of len bytes from src; returns the count of good ones. */
static int take(int src, int n, int len)
{
	char *b = malloc(len);
	int good = 0;
	struct timeval tmo = { 120, 0 };
	for (int i = 0; i < n; i++) {
		if (pvm_trecv(src, TAG_DATA, &tmo) <= 0)
			break;
		int idx = -1;
		pvm_upkint(&idx, 1, 1);
		pvm_upkbyte(b, len, 1);
		if (idx == i && intact(b, len, i))
			good++;
	}
	free(b);
	return good;
}

static int put(int dst, int i, char *b, int len)
{
	fill(b, len, i);
	pvm_initsend(PvmDataRaw);
	pvm_pkint(&i, 1, 1);
	pvm_pkbyte(b, len, 1);
	return pvm_send(dst, TAG_DATA);
}

static int child(int n, int len, int sleep_s, int late)
{
	if (late)
		sleep(sleep_s); /* not connected yet: the daemon holds our messages */
	pvm_mytid(); /* connected, then not reading */
	if (!late)
		sleep(sleep_s);
	int good = take(pvm_parent(), n, len);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&good, 1, 1);
	pvm_send(pvm_parent(), TAG_VERDICT);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "child") == 0)
		return child(atoi(argv[2]), atoi(argv[3]) * 1024, atoi(argv[4]), 0);
	if (strcmp(argv[1], "latechild") == 0)
		return child(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), 1);
	if (strcmp(argv[1], "sinkchild") == 0) {
		pvm_mytid();
		int n = atoi(argv[2]), len = atoi(argv[3]);
		int good = take(-1, n, len);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&good, 1, 1);
		pvm_send(pvm_parent(), TAG_VERDICT);
		pvm_exit();
		return 0;
	}
	if (strcmp(argv[1], "bigchild") == 0) {
		int idx = atoi(argv[2]), len = atoi(argv[3]) << 20;
		char *b = malloc(len);
		struct timeval tmo = { 120, 0 };
		pvm_mytid();
		if (pvm_trecv(pvm_parent(), TAG_GO, &tmo) <= 0)
			return 1;
		int cc = put(pvm_parent(), idx, b, len);
		free(b);
		pvm_exit();
		return cc == 0 ? 0 : 1;
	}
	int me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	if (strcmp(argv[1], "limit") == 0) {
		int max = atoi(argv[2]);
		char *b = malloc(max + 1);
		memset(b, 'x', max + 1);
		pvm_setopt(PvmAutoErr, 0);
		pvm_initsend(PvmDataRaw);
		pvm_pkbyte(b, max + 1, 1);
		CHECK_INT(pvm_send(me, TAG_DATA), PvmNoMem, "a message over the largest fails with PvmNoMem");
		CHECK_INT(pvm_psend(me, TAG_DATA, b, max + 1, PVM_BYTE), PvmNoMem, "pvm_psend over the largest: PvmNoMem");
		pvm_initsend(PvmDataRaw);
		pvm_pkbyte(b, max - 64, 1);
		CHECK_INT(pvm_send(me, TAG_DATA), 0, "a message under the largest goes");
		struct timeval tmo = { 30, 0 };
		int r = pvm_trecv(me, TAG_DATA, &tmo);
		int bytes = 0, tag, src;
		if (r > 0)
			pvm_bufinfo(r, &bytes, &tag, &src);
		CHECK_INT(bytes, max - 64, "it arrives whole");
		free(b);
	} else if (strcmp(argv[1], "slow") == 0) {
		int n = atoi(argv[2]), len = atoi(argv[3]) * 1024;
		int tid = 0;
		char *args[] = { "child", argv[2], argv[3], argv[4], NULL };
		CHECK_INT(pvm_spawn(argv[0], args, PvmTaskDefault, "", 1, &tid), 1, "spawned the slow child");
		char *b = malloc(len);
		double t0 = now_s();
		int sent = 0;
		for (int i = 0; i < n; i++)
			if (put(tid, i, b, len) == 0)
				sent++;
		double t1 = now_s();
		CHECK_INT(sent, n, "every send succeeded");
		printf("send_s=%.3f\n", t1 - t0);
		struct timeval tmo = { 120, 0 };
		int good = -1;
		if (pvm_trecv(tid, TAG_VERDICT, &tmo) > 0)
			pvm_upkint(&good, 1, 1);
		CHECK_INT(good, n, "the child got every message, in order, intact");
		free(b);
	} else if (strcmp(argv[1], "held") == 0) {
		int n = atoi(argv[2]), len = atoi(argv[3]);
		int tid = 0;
		char *args[] = { "latechild", argv[2], argv[3], argv[4], NULL };
		CHECK_INT(pvm_spawn(argv[0], args, PvmTaskDefault, "", 1, &tid), 1, "spawned the late child");
		char *b = malloc(len + 1);
		double t0 = now_s();
		int sent = 0;
		for (int i = 0; i < n; i++)
			if (put(tid, i, b, len) == 0)
				sent++;
		double t1 = now_s();
		CHECK_INT(sent, n, "every send succeeded");
		printf("send_s=%.3f\n", t1 - t0);
		struct timeval tmo = { 180, 0 };
		int good = -1;
		if (pvm_trecv(tid, TAG_VERDICT, &tmo) > 0)
			pvm_upkint(&good, 1, 1);
		CHECK_INT(good, n, "the late child got every message, in order, intact");
		free(b);
	} else if (strcmp(argv[1], "many") == 0) {
		int k = atoi(argv[2]), mib = atoi(argv[3]), len = mib << 20;
		int tids[64];
		int got = 0;
		if (k > 64)
			k = 64;
		for (int i = 0; i < k; i++) {
			char idx[16];
			snprintf(idx, sizeof idx, "%d", i);
			char *args[] = { "bigchild", idx, argv[3], NULL };
			got += pvm_spawn(argv[0], args, PvmTaskDefault, "", 1, &tids[i]) == 1;
		}
		CHECK_INT(got, k, "spawned the senders");
		pvm_initsend(PvmDataDefault);
		pvm_mcast(tids, k, TAG_GO);
		char *b = malloc(len);
		int good = 0, seen[64] = { 0 };
		struct timeval tmo = { 180, 0 };
		for (int i = 0; i < k; i++) {
			if (pvm_trecv(-1, TAG_DATA, &tmo) <= 0)
				break;
			int idx = -1;
			pvm_upkint(&idx, 1, 1);
			pvm_upkbyte(b, len, 1);
			if (idx >= 0 && idx < k && !seen[idx] && intact(b, len, idx)) {
				seen[idx] = 1;
				good++;
			}
		}
		free(b);
		CHECK_INT(good, k, "every large message arrived intact, once");
	} else if (strcmp(argv[1], "recvhost") == 0) {
		int tid = 0;
		char *args[] = { "sinkchild", argv[3], argv[4], NULL };
		CHECK_INT(pvm_spawn(argv[0], args, PvmTaskHost, argv[2], 1, &tid), 1, "spawned the receiver on the other host");
		FILE *f = fopen(argv[5], "w");
		if (f) {
			fprintf(f, "%d\n", tid);
			fclose(f);
		}
		struct timeval tmo = { 240, 0 };
		int good = -1;
		if (pvm_trecv(tid, TAG_VERDICT, &tmo) > 0)
			pvm_upkint(&good, 1, 1);
		CHECK_INT(good, atoi(argv[3]), "the receiver got every message, in order, intact");
	} else if (strcmp(argv[1], "sendto") == 0) {
		int dst = atoi(argv[2]), n = atoi(argv[3]), len = atoi(argv[4]);
		char *b = malloc(len);
		int sent = 0;
		for (int i = 0; i < n; i++)
			if (put(dst, i, b, len) == 0)
				sent++;
		CHECK_INT(sent, n, "every send succeeded");
		free(b);
	} else if (strcmp(argv[1], "tickle") == 0) {
		int nres = 0, res[16];
		CHECK_INT(pvm_tickle(1, (int[]){ 2 }, &nres, res), 0, "pvm_tickle(2)");
	} else if (strcmp(argv[1], "add") == 0) {
		int info = 0;
		char *hosts[] = { argv[2] };
		pvm_setopt(PvmAutoErr, 0);
		int cc = pvm_addhosts(hosts, 1, &info);
		printf("# addhosts %d info %d\n", cc, info);
		CHECK_CMP(info, <, 0, "the unreachable host is not added");
	} else if (strcmp(argv[1], "self") == 0) {
		int n = atoi(argv[2]), len = atoi(argv[3]) * 1024;
		char *b = malloc(len);
		int sent = 0;
		for (int i = 0; i < n; i++)
			if (put(me, i, b, len) == 0)
				sent++;
		CHECK_INT(sent, n, "every send to ourselves succeeded");
		CHECK_INT(take(me, n, len), n, "every message to ourselves came back, in order, intact");
		free(b);
	}
	pvm_exit();
	return check_done();
}
