/*
 * ln_watch: is the master's daemon serving while hosts are being added?
 * Run as "ln_watch SECONDS HOST": for SECONDS it calls pvm_config every
 * 50 ms and passes a message to an echo child on the second host of the
 * machine and back, timing each; it notes when HOST first appears in
 * pvm_config.  Prints "result maxlat_ms N" (the slowest call or round
 * trip), "result rounds N", "result appeared_ms N" (-1: never) and
 * "result hosts N" (at the end).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_PING 41

static double now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

static int echo(void)
{
	int parent = pvm_parent(), v = 0;
	for (;;) {
		if (pvm_recv(parent, TAG_PING) <= 0)
			break;
		pvm_upkint(&v, 1, 1);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&v, 1, 1);
		pvm_send(parent, TAG_PING);
		if (v < 0)
			break;
	}
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "echo") == 0)
		return echo();
	CHECK(argc == 3, "usage: ln_watch SECONDS HOST");
	if (argc != 3)
		return check_done();
	double secs = atof(argv[1]);
	const char *want = argv[2];
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
	CHECK_CMP(nhost, >=, 2, "two hosts at least");
	if (nhost < 2)
		return check_done();
	char *args[] = { "echo", NULL };
	int peer = 0;
	CHECK_INT(pvm_spawn(argv[0], args, PvmTaskHost, hp[1].hi_name, 1, &peer), 1,
		  "echo child on the second host");
	double t0 = now_ms(), maxlat = 0, appeared = -1;
	int rounds = 0;
	while (now_ms() - t0 < secs * 1e3) {
		double a = now_ms();
		CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
		double b = now_ms();
		if (b - a > maxlat)
			maxlat = b - a;
		for (int i = 0; i < nhost && appeared < 0; i++)
			if (strcmp(hp[i].hi_name, want) == 0)
				appeared = b - t0;
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&rounds, 1, 1);
		pvm_send(peer, TAG_PING);
		int v = -2;
		if (pvm_trecv(peer, TAG_PING, &(struct timeval){ 20, 0 }) > 0)
			pvm_upkint(&v, 1, 1);
		CHECK_INT(v, rounds, "echo answered");
		double c = now_ms();
		if (c - b > maxlat)
			maxlat = c - b;
		rounds++;
		usleep(50000);
	}
	int stop = -1;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&stop, 1, 1);
	pvm_send(peer, TAG_PING);
	pvm_config(&nhost, &narch, &hp);
	printf("result maxlat_ms %d\n", (int)maxlat);
	printf("result rounds %d\n", rounds);
	printf("result appeared_ms %d\n", (int)appeared);
	printf("result hosts %d\n", nhost);
	fflush(stdout);
	pvm_exit();
	return check_done();
}
