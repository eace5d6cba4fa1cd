/*
 * sv_take: what a program sees when a host (the master's included) dies
 * and the machine goes on (tests/survive.rs).
 *
 *   sv_take <victim> <other-host> <hosts-after> <fresh-host-line|-> [keep-name ...]
 *
 * Run on a surviving host. Before the failure: a child on <victim> joins
 * the group "svg-<victim>" and puts a persistent mailbox entry
 * "keep-<victim>" and a non-persistent one "drop-<victim>"; a member on
 * <other-host> and this task join the same group; this task watches the
 * child (PvmTaskExit) and the victim (PvmHostDelete). It prints "ready",
 * then waits for both notices ("notified") once the test has killed the
 * victim's daemon. Then: pvm_config lists <hosts-after> hosts, the group has
 * the two survivors and a barrier of the whole group completes, the
 * persistent entry (and each earlier "keep-..." named) is still there and
 * the non-persistent one is gone, and (unless "-") pvm_addhosts of the
 * fresh host works and a PvmHostAdd registered before the failure, by this
 * task and by the member, fires for it. TAP lines; "<end>" last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_JOINED 1
#define TAG_GO 2
#define TAG_DONE 3
#define TAG_LEAVE 4
#define TAG_ADDSEEN 5
#define TAG_EXIT 21
#define TAG_HOSTDEL 22
#define TAG_HOSTADD 23
#define KEEP_VALUE 4242

static int doomed(const char *group, const char *victim)
{
	char keep[64], drop[64];
	snprintf(keep, sizeof keep, "keep-%s", victim);
	snprintf(drop, sizeof drop, "drop-%s", victim);
	int v = KEEP_VALUE;
	int ok = pvm_joingroup((char *)group) >= 0;
	int b = pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	ok = ok && pvm_putinfo(keep, b, PvmMboxPersistent) >= 0;
	b = pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	ok = ok && pvm_putinfo(drop, b, PvmMboxDefault) >= 0;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&ok, 1, 1);
	pvm_send(pvm_parent(), TAG_JOINED);
	/* Until its daemon is killed. */
	pvm_recv(-1, 99);
	return 0;
}

/* The host of the next PvmHostAdd notice (0: none came). */
static int host_added(void)
{
	struct timeval tv = { 60, 0 };
	int n = 0, t = 0;
	if (pvm_trecv(-1, TAG_HOSTADD, &tv) > 0 && pvm_upkint(&n, 1, 1) == 0 && n == 1)
		pvm_upkint(&t, 1, 1);
	/* The notice names the host's daemon (t80000000 | host). */
	return t ? pvm_tidtohost(t) : 0;
}

static int member(const char *group, int add)
{
	if (add)
		pvm_notify(PvmHostAdd, TAG_HOSTADD, 1, NULL);
	int ok = pvm_joingroup((char *)group) >= 0;
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&ok, 1, 1);
	pvm_send(pvm_parent(), TAG_JOINED);
	struct timeval tv = { 200, 0 };
	if (pvm_trecv(pvm_parent(), TAG_GO, &tv) <= 0)
		return 1;
	int rc = pvm_barrier((char *)group, -1);
	int size = pvm_gsize((char *)group);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&rc, 1, 1);
	pvm_pkint(&size, 1, 1);
	pvm_send(pvm_parent(), TAG_DONE);
	tv.tv_sec = 60;
	pvm_trecv(pvm_parent(), TAG_LEAVE, &tv);
	pvm_lvgroup((char *)group);
	if (add) {
		int t = host_added();
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&t, 1, 1);
		pvm_send(pvm_parent(), TAG_ADDSEEN);
	}
	pvm_exit();
	return 0;
}

static int joined(int tid)
{
	struct timeval tv = { 60, 0 };
	int ok = 0;
	if (pvm_trecv(tid, TAG_JOINED, &tv) > 0)
		pvm_upkint(&ok, 1, 1);
	return ok;
}

static int nhosts(void)
{
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	if (pvm_config(&nhost, &narch, &hp) < 0)
		return -1;
	return nhost;
}

int main(int argc, char **argv)
{
	if (argc > 3 && strcmp(argv[1], "-doomed") == 0)
		return doomed(argv[2], argv[3]);
	if (argc > 3 && strcmp(argv[1], "-member") == 0)
		return member(argv[2], strcmp(argv[3], "add") == 0);
	if (argc < 5) {
		fprintf(stderr, "usage: sv_take victim other-host hosts-after fresh|- [keep ...]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *victim = argv[1];
	int after = atoi(argv[3]);
	const char *fresh = argv[4];
	char group[64], keep[64], drop[64];
	snprintf(group, sizeof group, "svg-%s", victim);
	snprintf(keep, sizeof keep, "keep-%s", victim);
	snprintf(drop, sizeof drop, "drop-%s", victim);

	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	int before = nhosts();
	char *da[] = { "-doomed", group, (char *)victim, NULL };
	int add = strcmp(fresh, "-") != 0;
	char *ma[] = { "-member", group, add ? "add" : "-", NULL };
	int child = 0, mate = 0;
	CHECK_CMP(pvm_spawn(prog, da, PvmTaskHost, (char *)victim, 1, &child), ==, 1,
		  "child spawned on the victim");
	CHECK_CMP(pvm_spawn(prog, ma, PvmTaskHost, argv[2], 1, &mate), ==, 1,
		  "member spawned on the other survivor");
	CHECK(joined(child), "the child joined and put its entries");
	CHECK(joined(mate), "the member joined");
	CHECK_CMP(pvm_joingroup(group), >=, 0, "this task joined");
	CHECK_INT(pvm_gsize(group), 3, "three members before");
	int vhost = pvm_tidtohost(child);
	CHECK_INT(pvm_notify(PvmTaskExit, TAG_EXIT, 1, &child), 0, "watching the child");
	CHECK_INT(pvm_notify(PvmHostDelete, TAG_HOSTDEL, 1, &vhost), 0, "watching its host");
	if (add)
		CHECK_INT(pvm_notify(PvmHostAdd, TAG_HOSTADD, 1, NULL), 0, "watching for a host added");
	printf("ready\n");

	int got_exit = 0, got_del = 0;
	while (!got_exit || !got_del) {
		struct timeval tv = { 150, 0 };
		int b = pvm_trecv(-1, -1, &tv);
		if (b <= 0)
			break;
		int len, tag, src, who = 0;
		pvm_bufinfo(b, &len, &tag, &src);
		pvm_upkint(&who, 1, 1);
		if (tag == TAG_EXIT && who == child)
			got_exit = 1;
		if (tag == TAG_HOSTDEL && who == vhost)
			got_del = 1;
	}
	CHECK(got_exit, "PvmTaskExit of the victim's task");
	CHECK(got_del, "PvmHostDelete of the victim");
	printf("notified\n");

	/* Hosts lost together may leave in two tables (a successor that took
	 * over and died a moment later): bounded wait for the last. */
	for (int i = 0; i < 100 && nhosts() > after; i++)
		usleep(100000);
	CHECK_INT(nhosts(), after, "pvm_config lists the survivors");
	CHECK_CMP(after, <, before, "fewer hosts than before");
	CHECK_INT(pvm_gsize(group), 2, "the victim's member left the group");
	pvm_initsend(PvmDataDefault);
	pvm_send(mate, TAG_GO);
	CHECK_INT(pvm_barrier(group, -1), 0, "a barrier of the survivors completes");
	struct timeval tv = { 60, 0 };
	int rc = -99, size = -99;
	if (pvm_trecv(mate, TAG_DONE, &tv) > 0) {
		pvm_upkint(&rc, 1, 1);
		pvm_upkint(&size, 1, 1);
	}
	CHECK_INT(rc, 0, "the other member's barrier too");
	CHECK_INT(size, 2, "it sees two members");

	int b = pvm_recvinfo(keep, 0, PvmMboxDefault);
	int v = 0;
	CHECK_CMP(b, >, 0, "the persistent entry is still there");
	if (b > 0) {
		pvm_setrbuf(b);
		pvm_upkint(&v, 1, 1);
	}
	CHECK_INT(v, KEEP_VALUE, "with its value");
	for (int i = 5; i < argc; i++)
		CHECK_CMP(pvm_recvinfo(argv[i], 0, PvmMboxDefault), >, 0, "an earlier entry too");
	CHECK_INT(pvm_recvinfo(drop, 0, PvmMboxDefault), PvmNotFound,
		  "the non-persistent entry went with its task");

	int info = 0;
	if (add) {
		char *line = (char *)fresh;
		CHECK_INT(pvm_addhosts(&line, 1, &info), 1, "pvm_addhosts of a fresh host");
		CHECK_CMP(info, >, 0, "it got a host tid");
		CHECK_INT(nhosts(), after + 1, "pvm_config lists it");
		CHECK_INT(host_added(), info, "PvmHostAdd registered before the failure fires");
	}
	pvm_initsend(PvmDataDefault);
	pvm_send(mate, TAG_LEAVE);
	if (add) {
		int seen = 0;
		tv.tv_sec = 90;
		if (pvm_trecv(mate, TAG_ADDSEEN, &tv) > 0)
			pvm_upkint(&seen, 1, 1);
		CHECK_INT(seen, info, "and the member's on the other survivor too");
	}
	pvm_lvgroup(group);
	printf("<end>\n");
	pvm_exit();
	return check_done();
}
