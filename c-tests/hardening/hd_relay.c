/*
 * hd_relay: messages keep flowing while a host fails.
 *
 *   hd_relay MODE FAILING-HOST STAYING-HOST
 *
 * Spawns an echo task on each host, asks for PvmTaskExit of the failing
 * one and PvmHostDelete of its host, prints "ready", then keeps 64 KiB
 * messages flowing to both echoes (each reply checked) while the test
 * breaks the failing host (kills its daemon, or cuts its link).  Once both
 * notices are in (bounded: 40 s) it prints "notified", checks that the
 * host is gone from pvm_config and that 50 more round trips with the
 * staying echo succeed.  MODE "cut": then adds the failing host again
 * (retrying for up to 90 s while the test restores the link), spawns an
 * echo there and checks a round trip.  Ends with "<end>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_PING 1
#define TAG_PONG 2
#define TAG_STOP 3
#define TAG_EXIT 4
#define TAG_HOSTDEL 5
#define LEN 65536

static char buf[LEN];

static int echo(void)
{
	int parent = pvm_parent();
	struct timeval tmo = { 120, 0 };
	static char in[LEN];
	for (;;) {
		int b = pvm_trecv(parent, -1, &tmo);
		if (b <= 0)
			break;
		int bytes, tag, src;
		pvm_bufinfo(b, &bytes, &tag, &src);
		if (tag == TAG_STOP)
			break;
		int seq = 0;
		pvm_upkint(&seq, 1, 1);
		pvm_upkbyte(in, LEN, 1);
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&seq, 1, 1);
		pvm_pkbyte(in, LEN, 1);
		pvm_send(parent, TAG_PONG);
	}
	pvm_exit();
	return 0;
}

static int host_tid_of(const char *name)
{
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	if (pvm_config(&nhost, &narch, &hp) < 0)
		return -1;
	for (int i = 0; i < nhost; i++)
		if (strcmp(hp[i].hi_name, name) == 0)
			return hp[i].hi_tid;
	return 0;
}

static void ping(int tid, int seq)
{
	for (int i = 0; i < LEN; i++)
		buf[i] = (char)(seq * 31 + i);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&seq, 1, 1);
	pvm_pkbyte(buf, LEN, 1);
	pvm_send(tid, TAG_PING);
}

/* Checks a PONG in the active buffer; returns its sequence number or -1. */
static int check_pong(void)
{
	static char in[LEN];
	int seq = -1;
	pvm_upkint(&seq, 1, 1);
	pvm_upkbyte(in, LEN, 1);
	for (int i = 0; i < LEN; i++)
		if (in[i] != (char)(seq * 31 + i))
			return -1;
	return seq;
}

static int round_trips(int tid, int n)
{
	struct timeval tmo = { 10, 0 };
	int good = 0;
	for (int i = 0; i < n; i++) {
		ping(tid, 1000 + i);
		if (pvm_trecv(tid, TAG_PONG, &tmo) > 0 && check_pong() == 1000 + i)
			good++;
	}
	return good;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "echo") == 0)
		return echo();
	if (argc < 4) {
		fprintf(stderr, "usage: hd_relay fail|cut failing-host staying-host\n");
		return 2;
	}
	int cut = strcmp(argv[1], "cut") == 0;
	const char *failing = argv[2], *staying = argv[3];
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *eargs[] = { "echo", NULL };
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	int victim = host_tid_of(failing);
	CHECK_CMP(victim, >, 0, "the failing host is in the machine");
	int ef = 0, es = 0;
	CHECK_INT(pvm_spawn(prog, eargs, PvmTaskHost, (char *)failing, 1, &ef), 1, "echo on the failing host");
	CHECK_INT(pvm_spawn(prog, eargs, PvmTaskHost, (char *)staying, 1, &es), 1, "echo on the staying host");
	CHECK_INT(round_trips(ef, 3), 3, "failing host's echo answers");
	CHECK_INT(pvm_notify(PvmTaskExit, TAG_EXIT, 1, &ef), 0, "notify TaskExit");
	CHECK_INT(pvm_notify(PvmHostDelete, TAG_HOSTDEL, 1, &victim), 0, "notify HostDelete");
	printf("ready\n");
	int got_exit = 0, got_del = 0, bad = 0, flowed = 0;
	struct timeval start, now;
	gettimeofday(&start, NULL);
	int seq = 0;
	while (!(got_exit && got_del)) {
		gettimeofday(&now, NULL);
		if (now.tv_sec - start.tv_sec > 40)
			break;
		if (!got_exit)
			ping(ef, seq);
		ping(es, seq);
		/* Collect this round: the staying echo's reply, maybe the failing one's, notices. */
		int want_stay = 1;
		struct timeval tmo = { 2, 0 };
		while (want_stay) {
			int b = pvm_trecv(-1, -1, &tmo);
			if (b <= 0) {
				bad++;
				break;
			}
			int bytes, tag, src;
			pvm_bufinfo(b, &bytes, &tag, &src);
			if (tag == TAG_EXIT)
				got_exit = 1;
			else if (tag == TAG_HOSTDEL)
				got_del = 1;
			else if (tag == TAG_PONG) {
				int s = check_pong();
				if (s < 0)
					bad++;
				if (src == es) {
					want_stay = 0;
					if (s != seq)
						bad++;
					flowed++;
				}
			}
		}
		seq++;
	}
	printf("notified\n");
	printf("# %d round trips with the staying echo while the host failed\n", flowed);
	CHECK_INT(got_exit, 1, "TaskExit notice for the failing host's echo");
	CHECK_INT(got_del, 1, "HostDelete notice for the failing host");
	CHECK_INT(bad, 0, "every message of the staying echo intact, in order, no timeout");
	CHECK_INT(host_tid_of(failing), 0, "the failing host left pvm_config");
	CHECK_INT(pvm_pstat(ef), PvmNoTask, "its echo is gone");
	CHECK_INT(round_trips(es, 50), 50, "the staying echo still answers");
	if (cut) {
		int info = 0, added = 0;
		char *names[] = { (char *)failing };
		for (int i = 0; i < 90 && added != 1; i++) {
			added = pvm_addhosts(names, 1, &info);
			if (added != 1) {
				printf("# addhosts: %d (%d)\n", added, info);
				sleep(1);
			}
		}
		CHECK_INT(added, 1, "the host added again");
		int e2 = 0;
		CHECK_INT(pvm_spawn(prog, eargs, PvmTaskHost, (char *)failing, 1, &e2), 1, "new echo there");
		CHECK_INT(round_trips(e2, 5), 5, "the re-added host answers");
		pvm_initsend(PvmDataDefault);
		pvm_send(e2, TAG_STOP);
	}
	pvm_initsend(PvmDataDefault);
	pvm_send(es, TAG_STOP);
	printf("<end>\n");
	pvm_exit();
	return check_done();
}
