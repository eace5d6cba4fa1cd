/*
 * mh_where: hosts named by their address literals.  Run with the expected
 * number of hosts as argv[1] and, as argv[2], how to name the host it
 * deletes at the end ("bare" or "bracket"; an IPv4 literal or a name is
 * always given as it is), or "keep" to delete none.
 *
 * For every host of pvm_config it spawns a copy of itself with PvmTaskHost,
 * naming the host as pvm_config does, in brackets (IPv6), and followed by
 * ":/tmp" (after the brackets and after the bare address): each child must
 * run on that host (pvm_tidtohost, its answer) and, when a directory was
 * given, in /tmp.  Then one child per host passes a token round a ring
 * (task to task across hosts), pvm_mstat takes every literal form, an
 * unknown literal gives PvmNoHost, and the last host is deleted by its
 * literal with a PvmHostDelete notify on it.  Prints "result ..." lines for
 * the test to read.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_ANSWER 21
#define TAG_NEXT 22
#define TAG_TOKEN 23
#define TAG_GONE 24
#define MAXH 16

static struct timeval wait20 = { 20, 0 };

static int child(int ring)
{
	char name[256], cwd[PATH_MAX];
	int me = pvm_mytid();
	int host = pvm_tidtohost(me);
	gethostname(name, sizeof name);
	name[sizeof name - 1] = 0;
	if (!getcwd(cwd, sizeof cwd))
		strcpy(cwd, "?");
	pvm_initsend(PvmDataDefault);
	pvm_pkstr(name);
	pvm_pkstr(cwd);
	pvm_pkint(&host, 1, 1);
	pvm_send(pvm_parent(), TAG_ANSWER);
	if (ring) {
		/* The parent names my successor; the token goes there, and what
		 * came from my predecessor goes back to the parent. */
		int next = 0, from = 0;
		char got[256] = "";
		if (pvm_trecv(pvm_parent(), TAG_NEXT, &wait20) > 0)
			pvm_upkint(&next, 1, 1);
		pvm_initsend(PvmDataDefault);
		pvm_pkstr(name);
		pvm_send(next, TAG_TOKEN);
		int b = pvm_trecv(-1, TAG_TOKEN, &wait20);
		if (b > 0) {
			int len, tag;
			pvm_bufinfo(b, &len, &tag, &from);
			pvm_upkstr(got);
		}
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&from, 1, 1);
		pvm_pkstr(got);
		pvm_send(pvm_parent(), TAG_TOKEN);
	}
	pvm_exit();
	return 0;
}

static int is_v6(const char *h)
{
	return strchr(h, ':') != NULL;
}

/* Spawns a child on `where` and checks it ran on host `htid` (in `dir`
 * if not NULL).  Returns 1 when it did. */
static int spawn_on(const char *prog, const char *where, int htid, const char *dir)
{
	char *args[] = { "child", NULL };
	char what[512];
	int tid = 0;
	int n = pvm_spawn((char *)prog, args, PvmTaskHost, (char *)where, 1, &tid);
	snprintf(what, sizeof what, "spawn on \"%s\"", where);
	CHECK_INT(n, 1, what);
	if (n != 1) {
		printf("#   tid/code %d\n", tid);
		return 0;
	}
	snprintf(what, sizeof what, "the child of \"%s\" is of that host", where);
	CHECK_INT(pvm_tidtohost(tid), htid, what);
	int b = pvm_trecv(tid, TAG_ANSWER, &wait20);
	snprintf(what, sizeof what, "answer of the child on \"%s\"", where);
	CHECK_CMP(b, >, 0, what);
	if (b <= 0)
		return 0;
	char name[256], cwd[PATH_MAX];
	int host = 0;
	pvm_upkstr(name);
	pvm_upkstr(cwd);
	pvm_upkint(&host, 1, 1);
	printf("# \"%s\": t%x on %s in %s\n", where, tid, name, cwd);
	snprintf(what, sizeof what, "the child on \"%s\" says it is of that host", where);
	CHECK_INT(host, htid, what);
	if (dir) {
		snprintf(what, sizeof what, "the child on \"%s\" runs in %s", where, dir);
		CHECK(strcmp(cwd, dir) == 0, what);
	}
	return pvm_tidtohost(tid) == htid && host == htid && (!dir || strcmp(cwd, dir) == 0);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child(argc > 2 && strcmp(argv[2], "ring") == 0);
	int want = argc > 1 ? atoi(argv[1]) : 1;
	int del_bracket = argc > 2 && strcmp(argv[2], "bracket") == 0;
	int keep = argc > 2 && strcmp(argv[2], "keep") == 0;
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config");
	CHECK_INT(nhost, want, "number of hosts");
	if (nhost < 1 || nhost > MAXH)
		return check_done() | 1;
	char hosts[MAXH][256];
	int htids[MAXH];
	for (int i = 0; i < nhost; i++) {
		snprintf(hosts[i], sizeof hosts[i], "%s", hp[i].hi_name);
		htids[i] = hp[i].hi_tid;
		printf("# host %s tid 0x%x\n", hosts[i], htids[i]);
		CHECK(hosts[i][0] != '[', "pvm_config names hosts without brackets");
	}

	/* Every form of every host's name. */
	int good_hosts = 0;
	for (int i = 0; i < nhost; i++) {
		char w[300];
		int ok = spawn_on(prog, hosts[i], htids[i], NULL);
		if (is_v6(hosts[i])) {
			snprintf(w, sizeof w, "[%s]", hosts[i]);
			ok &= spawn_on(prog, w, htids[i], NULL);
			snprintf(w, sizeof w, "[%s]:/tmp", hosts[i]);
			ok &= spawn_on(prog, w, htids[i], "/tmp");
		}
		snprintf(w, sizeof w, "%s:/tmp", hosts[i]);
		ok &= spawn_on(prog, w, htids[i], "/tmp");
		good_hosts += ok;
	}
	printf("result hosts_spawned %d\n", good_hosts);

	/* A ring across the hosts: task to task, one per host. */
	int ring[MAXH];
	char *rargs[] = { "child", "ring", NULL };
	int started = 0;
	for (int i = 0; i < nhost; i++) {
		char w[300];
		snprintf(w, sizeof w, is_v6(hosts[i]) ? "[%s]" : "%s", hosts[i]);
		ring[i] = 0;
		if (pvm_spawn(prog, rargs, PvmTaskHost, w, 1, &ring[i]) == 1) {
			started++;
			pvm_trecv(ring[i], TAG_ANSWER, &wait20);
		}
	}
	CHECK_INT(started, nhost, "a ring task on every host");
	for (int i = 0; i < started && started == nhost; i++) {
		int next = ring[(i + 1) % nhost];
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&next, 1, 1);
		pvm_send(ring[i], TAG_NEXT);
	}
	int ring_ok = 0;
	for (int i = 0; i < started && started == nhost; i++) {
		int from = 0;
		char got[256] = "";
		int b = pvm_trecv(ring[i], TAG_TOKEN, &wait20);
		if (b > 0) {
			pvm_upkint(&from, 1, 1);
			pvm_upkstr(got);
		}
		int prev = ring[(i + nhost - 1) % nhost];
		printf("# ring: t%x got the token of t%x from %s\n", ring[i], from, got);
		ring_ok += from == prev;
	}
	CHECK_INT(ring_ok, nhost, "the token went round every host");
	printf("result ring %d\n", ring_ok);

	/* pvm_mstat in every form; an unknown literal. */
	int mstat_ok = 0;
	for (int i = 0; i < nhost; i++) {
		char w[300];
		snprintf(w, sizeof w, is_v6(hosts[i]) ? "[%s]" : "%s", hosts[i]);
		mstat_ok += pvm_mstat(hosts[i]) == PvmOk && pvm_mstat(w) == PvmOk;
	}
	CHECK_INT(mstat_ok, nhost, "pvm_mstat of every host, bare and bracketed");
	CHECK_INT(pvm_mstat("[fd00:dead::1]"), PvmNoHost, "pvm_mstat of an unknown literal");
	int tid = 0;
	char *args[] = { "child", NULL };
	CHECK_INT(pvm_spawn(prog, args, PvmTaskHost, "[fd00:dead::1]", 1, &tid), 0,
		"no spawn on an unknown literal");
	CHECK_INT(tid, PvmNoHost, "PvmNoHost for an unknown literal");

	/* Delete the last host by its literal, with a notify on it. */
	if (nhost > 1 && !keep) {
		int last = nhost - 1;
		char w[300];
		snprintf(w, sizeof w, del_bracket && is_v6(hosts[last]) ? "[%s]" : "%s",
			hosts[last]);
		int dtid = htids[last];
		CHECK_INT(pvm_notify(PvmHostDelete, TAG_GONE, 1, &dtid), 0, "pvm_notify(PvmHostDelete)");
		char *names[] = { w };
		int info = 1;
		int n = pvm_delhosts(names, 1, &info);
		printf("# pvm_delhosts(\"%s\") = %d, info %d\n", w, n, info);
		CHECK_INT(n, 1, "pvm_delhosts by literal");
		CHECK_INT(info, 0, "its info is 0");
		int b = pvm_trecv(-1, TAG_GONE, &wait20);
		int gone = 0;
		if (b > 0)
			pvm_upkint(&gone, 1, 1);
		CHECK_INT(gone, dtid, "the PvmHostDelete notice names the deleted host");
		printf("result deleted %d\n", n == 1 && info == 0 && gone == dtid);
		CHECK_INT(pvm_config(&nhost, &narch, &hp), 0, "pvm_config after the delete");
		CHECK_INT(nhost, want - 1, "one host fewer");
		CHECK_INT(pvm_mstat(w), PvmNoHost, "pvm_mstat of the deleted host");
		tid = 0;
		CHECK_INT(pvm_spawn(prog, args, PvmTaskHost, w, 1, &tid), 0,
			"no spawn on the deleted host");
		CHECK_INT(tid, PvmNoHost, "PvmNoHost for the deleted host");
	}
	pvm_exit();
	return check_done();
}
