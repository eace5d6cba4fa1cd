/*
 * rm_mh.c - a resource manager on one host serving tasks of another
 * (tests/rm_multihost.rs).
 *
 *   rm_mh rm N     - registers as resource manager, prints "registered",
 *                    then serves N requests: SM_SPAWN by SM_EXEC to the
 *                    daemon of the requester's host (answering with the
 *                    tids of the SM_EXECACK), SM_ADDHOST by refusing every
 *                    host (PvmNoHost); prints "served <tag> from t<src>".
 *   rm_mh client   - pvm_spawn of one child and pvm_addhosts of one host;
 *                    prints "result <what> <value>" lines.
 *   rm_mh child    - sends its parent's tid to its parent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pvm3.h"

#define SM_FIRST ((int)0x80040001)
#define SM_SPAWN (SM_FIRST + 0)
#define SM_EXEC (SM_FIRST + 1)
#define SM_EXECACK (SM_FIRST + 2)
#define SM_ADDHOST (SM_FIRST + 5)

static int wait_msg(int src, int tag, int secs)
{
	struct timeval tmo = { secs, 0 };
	return pvm_trecv(src, tag, &tmo);
}

static void set_wid(int wid)
{
	struct pvmminfo m;
	pvm_getminfo(pvm_getsbuf(), &m);
	m.wid = wid;
	pvm_setminfo(pvm_getsbuf(), &m);
}

/* SM_SPAWN of `src`: starts the tasks on the requester's host. */
static void serve_spawn(int src, int wid)
{
	char file[256], where[256], arg[256];
	int flags, count, nargs, z[6] = { 0, 0, 0, 0, 0, 0 }, zero = 0, one = 1, b, n = 0, v[64];
	pvm_upkstr(file);
	pvm_upkint(&flags, 1, 1);
	pvm_upkstr(where);
	pvm_upkint(&count, 1, 1);
	pvm_upkint(&nargs, 1, 1);
	if (count < 1 || count > 32 || nargs != 1)
		return;
	pvm_upkstr(arg);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&src, 1, 1); /* parent: the requester */
	pvm_pkstr(file);
	pvm_pkint(&flags, 1, 1);
	pvm_pkint(&count, 1, 1);
	pvm_pkint(&one, 1, 1);
	pvm_pkstr(arg);
	pvm_pkint(z, 6, 1);
	pvm_pkint(&zero, 1, 1);
	pvm_pkint(&zero, 1, 1);
	pvm_pkint(&count, 1, 1);
	set_wid(77);
	pvm_send((int)0x80000000u | pvm_tidtohost(src), SM_EXEC);
	b = wait_msg(-1, SM_EXECACK, 20);
	if (b > 0) {
		pvm_upkint(&n, 1, 1);
		if (n > 0 && n <= 32)
			pvm_upkint(v, n, 1);
	}
	printf("exec on t%x: %d task(s), first t%x\n", pvm_tidtohost(src), n, n > 0 ? v[0] : 0);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&n, 1, 1);
	pvm_pkint(v, n, 1);
	set_wid(wid);
	pvm_send(src, SM_SPAWN);
}

static void serve_addhost(int src, int wid)
{
	int n, zero = 0, e = PvmNoHost;
	char name[256];
	pvm_upkint(&n, 1, 1);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&n, 1, 1);
	pvm_pkint(&zero, 1, 1);
	for (int i = 0; i < n && i < 32; i++) {
		pvm_upkstr(name);
		pvm_pkint(&e, 1, 1);
		pvm_pkstr("");
		pvm_pkstr("");
		pvm_pkint(&zero, 1, 1);
		pvm_pkint(&zero, 1, 1);
	}
	set_wid(wid);
	pvm_send(src, SM_ADDHOST);
}

static int rm_main(int n)
{
	struct pvmhostinfo *hip;
	struct pvmminfo mi;
	if (pvm_mytid() <= 0)
		return 1;
	pvm_setopt(PvmResvTids, 1);
	if (pvm_reg_rm(&hip) != 0)
		return 1;
	printf("registered t%x\n", pvm_mytid());
	fflush(stdout);
	for (int k = 0; k < n;) {
		int b = wait_msg(-1, -1, 60);
		if (b <= 0)
			break;
		pvm_getminfo(b, &mi);
		if (mi.tag == SM_SPAWN) {
			printf("served SM_SPAWN from t%x\n", mi.src);
			serve_spawn(mi.src, mi.wid);
			k++;
		} else if (mi.tag == SM_ADDHOST) {
			printf("served SM_ADDHOST from t%x\n", mi.src);
			serve_addhost(mi.src, mi.wid);
			k++;
		}
		fflush(stdout);
	}
	pvm_exit();
	return 0;
}

static int client_main(const char *self)
{
	int tid = 0, n, st = 0, b, parent = 0;
	char *args[] = { "child", NULL };
	char *hosts[] = { "nosuchhost.invalid" };
	int me = pvm_mytid();
	if (me <= 0)
		return 1;
	n = pvm_spawn((char *)self, args, PvmTaskDefault, "", 1, &tid);
	printf("result spawn %d\n", n);
	printf("result samehost %d\n", n == 1 && pvm_tidtohost(tid) == pvm_tidtohost(me));
	b = wait_msg(tid, 5, 20);
	if (b > 0)
		pvm_upkint(&parent, 1, 1);
	printf("result childparent %d\n", parent == me);
	n = pvm_addhosts(hosts, 1, &st);
	printf("result addhosts %d\n", n);
	printf("result addstatus %d\n", st);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (argc > 2 && strcmp(argv[1], "rm") == 0)
		return rm_main(atoi(argv[2]));
	if (argc > 1 && strcmp(argv[1], "client") == 0)
		return client_main(self);
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		int p;
		if (pvm_mytid() <= 0)
			return 1;
		p = pvm_parent();
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&p, 1, 1);
		pvm_send(p, 5);
		pvm_exit();
		return 0;
	}
	fprintf(stderr, "usage: rm_mh rm N | client | child\n");
	return 2;
}
