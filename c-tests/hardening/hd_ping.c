/*
 * hd_ping: a normal task measuring its round trips while the hardening
 * tests attack or starve the daemon.
 *
 *   hd_ping ROUNDS [PAUSE_MS [direct]]
 *
 * Spawns an echo child, then does ROUNDS round trips with it (a small
 * message there and back, PAUSE_MS apart; each bounded by a 10 s timeout),
 * and prints "rtt rounds=N max_ms=M" plus "stray=S", the number of messages
 * it received that nobody meant for it (forged ones, for instance).  The
 * child prints one line per echo (they go to the daemon log).  With
 * "direct" the parent asks for a direct route (PvmRouteDirect), so it has a
 * listener socket the tests can attack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_PING 5
#define TAG_PONG 6
#define TAG_STOP 7

static double now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

static int echo(void)
{
	int parent = pvm_parent();
	struct timeval tmo = { 60, 0 };
	for (;;) {
		int b = pvm_trecv(parent, -1, &tmo);
		if (b <= 0)
			break;
		int bytes, tag, src, v = 0;
		pvm_bufinfo(b, &bytes, &tag, &src);
		if (tag == TAG_STOP)
			break;
		pvm_upkint(&v, 1, 1);
		printf("echo %d\n", v);
		fflush(stdout);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&v, 1, 1);
		pvm_send(parent, TAG_PONG);
	}
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "echo") == 0)
		return echo();
	int rounds = argc > 1 ? atoi(argv[1]) : 10;
	int pause_ms = argc > 2 ? atoi(argv[2]) : 0;
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *cargs[] = { "echo", NULL };
	int me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	if (me <= 0)
		return 1;
	printf("tid %x\n", me);
	if (argc > 3 && strcmp(argv[3], "direct") == 0)
		CHECK_INT(pvm_setopt(PvmRoute, PvmRouteDirect) >= 0, 1, "direct routes asked for");
	int child = 0;
	CHECK_INT(pvm_spawn(prog, cargs, PvmTaskDefault, "", 1, &child), 1, "echo child spawned");
	double worst = 0;
	int good = 0;
	struct timeval tmo = { 10, 0 };
	for (int i = 0; i < rounds; i++) {
		double t = now_ms();
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(child, TAG_PING);
		int v = -1;
		if (pvm_trecv(child, TAG_PONG, &tmo) > 0)
			pvm_upkint(&v, 1, 1);
		double d = now_ms() - t;
		if (d > worst)
			worst = d;
		if (v == i)
			good++;
		if (pause_ms > 0)
			usleep((useconds_t)pause_ms * 1000);
	}
	CHECK_INT(good, rounds, "every round trip answered");
	pvm_initsend(PvmDataDefault);
	pvm_send(child, TAG_STOP);
	int stray = 0;
	while (pvm_nrecv(-1, -1) > 0)
		stray++;
	printf("rtt rounds=%d max_ms=%.1f\n", rounds, worst);
	printf("stray=%d\n", stray);
	pvm_exit();
	return check_done();
}
