/*
 * pl_ping: round trips with a child on another host, for the protected
 * links test (tests/protected_links.rs).
 *
 *   pl_ping HOST ROUNDS [direct]
 *
 * Spawns an echo child on HOST (PvmTaskHost), then does ROUNDS round
 * trips: a message of an int and a 200 KiB byte pattern (several sealed
 * records) there, the same back; each answer is checked (the int, every
 * byte) and bounded by a 10 s timeout.  With "direct" both ends ask for
 * PvmRouteDirect first, so the messages go on a direct TCP link between
 * the two tasks.  Prints "roundtrips ok=N of M" and "stray=S" (messages
 * nobody meant for us), TAP lines from check.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_PING 31
#define TAG_PONG 32
#define TAG_STOP 33
#define BODY (200 * 1024)

static void pattern(char *p, int n, int seed)
{
	for (int i = 0; i < n; i++)
		p[i] = (char)((i * 13 + seed * 7 + i / 4093) & 0xff);
}

static int echo(int direct)
{
	int parent = pvm_parent();
	char *buf = malloc(BODY);
	struct timeval tmo = { 60, 0 };
	if (direct)
		pvm_setopt(PvmRoute, PvmRouteDirect);
	for (;;) {
		int b = pvm_trecv(parent, -1, &tmo);
		if (b <= 0)
			break;
		int bytes, tag, src, v = 0;
		pvm_bufinfo(b, &bytes, &tag, &src);
		if (tag == TAG_STOP)
			break;
		pvm_upkint(&v, 1, 1);
		pvm_upkbyte(buf, BODY, 1);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&v, 1, 1);
		pvm_pkbyte(buf, BODY, 1);
		pvm_send(parent, TAG_PONG);
	}
	free(buf);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "echo") == 0)
		return echo(argc > 2 && strcmp(argv[2], "direct") == 0);
	CHECK(argc > 2, "usage: pl_ping HOST ROUNDS [direct]");
	if (argc < 3)
		return check_done();
	int direct = argc > 3 && strcmp(argv[3], "direct") == 0;
	int rounds = atoi(argv[2]);
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *cargs[] = { "echo", direct ? "direct" : "default", NULL };
	int me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	if (me <= 0)
		return check_done();
	if (direct)
		CHECK_INT(pvm_setopt(PvmRoute, PvmRouteDirect) >= 0, 1, "direct routes asked for");
	int child = 0;
	CHECK_INT(pvm_spawn(prog, cargs, PvmTaskHost, argv[1], 1, &child), 1, "echo child spawned");
	if (child <= 0)
		return check_done();
	printf("child t%x\n", child);
	char *out = malloc(BODY), *in = malloc(BODY);
	struct timeval tmo = { 10, 0 };
	int good = 0;
	for (int i = 0; i < rounds; i++) {
		pattern(out, BODY, i);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_pkbyte(out, BODY, 1);
		pvm_send(child, TAG_PING);
		int v = -1;
		memset(in, 0, BODY);
		if (pvm_trecv(child, TAG_PONG, &tmo) > 0) {
			pvm_upkint(&v, 1, 1);
			pvm_upkbyte(in, BODY, 1);
		}
		if (v == i && memcmp(in, out, BODY) == 0)
			good++;
	}
	CHECK_INT(good, rounds, "every round trip answered intact");
	pvm_initsend(PvmDataDefault);
	pvm_send(child, TAG_STOP);
	int stray = 0;
	while (pvm_nrecv(-1, -1) > 0)
		stray++;
	printf("roundtrips ok=%d of %d\n", good, rounds);
	printf("stray=%d\n", stray);
	free(out);
	free(in);
	pvm_exit();
	return check_done();
}
