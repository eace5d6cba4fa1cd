/*
 * t_internals.c - the libpvm internals pvm6 exports for programs and
 * libraries built against PVM 3.4 (docs/COMPATIBILITY.md, "Exported
 * symbols"): pvmmytid, pvmbeatask, pvmdebmask and its debug lines, the
 * trace tables and tracing off, pvmstrtoi, pvmputenv, pvmreset,
 * gs_getgstid with the group server's GSLS answer, pvmendtask.
 * None of them is in pvm3.h: declared here as PVM 3.4's sources do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include "pvm3.h"
#include "check.h"

struct tev_info {
	char *name;
	int desc_status;
	struct timeval mark;
	struct timeval total;
	int count;
};
struct tev_did {
	char *did;
	char *desc;
};
struct tracer {
	int trctid, trcctx, trctag, outtid, outctx, outtag, trcbuf, trcopt;
	char tmask[36];
};

extern int pvmmytid, pvmdebmask, pvmtoplvl;
extern struct tev_info pvmtevinfo[];
extern struct tev_did pvmtevdidlist[];
extern struct tracer pvmtrc;
extern int pvmbeatask(void);
extern int pvmendtask(void);
extern int pvmstrtoi(char *);
extern int pvmputenv(char *);
extern int pvmreset(int, int, char *, int);
extern int tev_begin(int, int);
extern int tev_fin(void);
extern int gs_getgstid(void);

/* What fd 2 received while `fn` ran. */
static void capture_stderr(void (*fn)(void), char *buf, size_t len)
{
	char path[] = "/tmp/pvm6-t_internals-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	fflush(stderr);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(path);
}

static void send_to_self(void)
{
	int v = 5;

	pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	pvm_send(pvm_mytid(), 33);
	pvm_recv(-1, 33);
}

int main(void)
{
	char err[4096], name[64];
	int me, ng = -1, i, len, size, max, bc, br, tids[8], found = 0;

	CHECK_INT(pvmmytid, -1, "pvmmytid is -1 before enrollment");
	CHECK_INT(pvmtoplvl, 1, "pvmtoplvl is 1");
	CHECK_INT(pvmbeatask(), 0, "pvmbeatask enrolls");
	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	CHECK_INT(pvmmytid, me, "pvmmytid is the tid");

	/* the debug mask is one state, option and variable */
	CHECK_INT(pvm_setopt(PvmDebugMask, 2), 0, "PvmDebugMask was 0");
	CHECK_INT(pvmdebmask, 2, "pvm_setopt sets pvmdebmask");
	pvmdebmask = 6;
	CHECK_INT(pvm_getopt(PvmDebugMask), 6, "pvm_getopt reads pvmdebmask");
	pvmdebmask = 2;
	capture_stderr(send_to_self, err, sizeof err);
	CHECK(strstr(err, "pvm_send() dst t") != NULL, "mask 2: a line per send");
	CHECK(strstr(err, "pvm_recv() got message src t") != NULL, "mask 2: a line per receive");
	pvmdebmask = 0;
	capture_stderr(send_to_self, err, sizeof err);
	CHECK_STR(err, "", "mask 0: no debug lines");

	/* trace tables and tracing off */
	CHECK_STR(pvmtevinfo[19].name, "joingroup", "pvmtevinfo[TEV_JOINGROUP]");
	CHECK_STR(pvmtevinfo[108].name, "user_defined", "pvmtevinfo[TEV_MAX]");
	CHECK_STR(pvmtevdidlist[25].desc, "Group Name", "pvmtevdidlist[TEV_DID_GN]");
	CHECK_INT(pvmtrc.trctid, 0, "no tracer");
	pvm_setopt(PvmSelfTraceTid, 0x40123);
	CHECK_INT(pvmtrc.trctid, 0x40123, "pvmtrc follows PvmSelfTraceTid");
	pvm_setopt(PvmSelfTraceTid, 0);
	CHECK_INT(tev_begin(19, 0x4000), 0, "tev_begin starts no event");
	CHECK_INT(tev_fin(), 0, "tev_fin");

	/* console helpers */
	CHECK_INT(pvmstrtoi("0x1f"), 31, "pvmstrtoi hex");
	CHECK_INT(pvmstrtoi("017"), 15, "pvmstrtoi octal");
	CHECK_INT(pvmstrtoi("-12"), -12, "pvmstrtoi decimal");
	CHECK_INT(pvmputenv("PVM6_T_INTERNALS=abc"), 0, "pvmputenv");
	CHECK_STR(getenv("PVM6_T_INTERNALS"), "abc", "pvmputenv set it");
	CHECK_INT(pvmputenv("novalue"), -1, "pvmputenv without =");
	CHECK_INT(pvmreset(me, 0, NULL, -1), 0, "pvmreset info");

	/* the group server's list, from the daemon */
	CHECK_INT(pvm_joingroup("internals"), 0, "joined");
	CHECK_INT(gs_getgstid(), 0x40000, "gs_getgstid is the master's host tid");
	pvm_setcontext(0x7fffc);
	pvm_initsend(PvmDataDefault);
	CHECK_INT(pvm_send(gs_getgstid(), 10), 0, "GSLS sent");
	CHECK_CMP(pvm_recv(0x40000, 10), >, 0, "GSLS answered");
	pvm_upkint(&ng, 1, 1);
	for (i = 0; i < ng; i++) {
		pvm_upkint(&len, 1, 1);
		pvm_upkstr(name);
		pvm_upkint(&size, 1, 1);
		pvm_upkint(&max, 1, 1);
		pvm_upkint(&bc, 1, 1);
		pvm_upkint(&br, 1, 1);
		pvm_upkint(tids, max, 1);
		if (strcmp(name, "internals") == 0 && len == 9 && size == 1 && max == 1
		    && tids[0] == me && bc == 0 && br == 0)
			found = 1;
	}
	pvm_setcontext(0);
	CHECK_INT(ng, 1, "one group");
	CHECK(found, "the group, its size and its member");
	pvm_lvgroup("internals");

	/* pvmendtask: gone without a goodbye; the next call enrolls anew */
	CHECK_INT(pvmendtask(), 0, "pvmendtask");
	CHECK_INT(pvmmytid, -1, "pvmmytid is -1 again");
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled again");
	CHECK(pvm_mytid() != me, "with a new tid");
	pvm_exit();
	return check_done();
}
