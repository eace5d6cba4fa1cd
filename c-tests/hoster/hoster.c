/*
 * hoster: a slave-daemon starter (man pvm_reg_hoster) for tests/hoster.rs.
 *
 * Usage: hoster COUNT [-r NAME]...
 * Registers with pvm_reg_hoster, prints "registered", then serves COUNT
 * SM_STHOST messages from the master daemon: for every host listed it runs
 * "$PVM_RSH <login> <command>", writes the secret line of the message to
 * the command's standard input, reads the one line the slave prints and
 * answers it in SM_STHOSTACK (with the request's wait id).  Hosts named
 * with -r are refused with "PvmCantStart" without running anything.
 * Prints what it received and answered; exits 0 only if every check held.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* pvm_setmwid is declared under PVM33COMPAT only. */
int pvm_setmwid(int, int);
#include "pvm3.h"
#include "pvmproto.h"
#include "../check.h"

#define MAXHOSTS 16

static char *refused[MAXHOSTS];
static int nrefused;

static int is_refused(const char *login)
{
	for (int i = 0; i < nrefused; i++)
		if (strcmp(refused[i], login) == 0)
			return 1;
	return 0;
}

/* Runs $PVM_RSH login command with `secret` on its stdin; the first line
 * of its stdout goes to `out` (30 s at most).  Returns 0 or -1. */
static int run_remote(const char *login, const char *command, const char *secret,
		      char *out, size_t outlen)
{
	const char *rsh = getenv("PVM_RSH");
	int in[2], res[2];
	if (!rsh || !*rsh)
		rsh = "ssh";
	if (pipe(in) < 0 || pipe(res) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(res[1], 1);
		close(in[0]); close(in[1]); close(res[0]); close(res[1]);
		execlp(rsh, rsh, login, command, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(res[1]);
	/* The secret travels on stdin, as the daemon's own remote shell does. */
	if (write(in[1], secret, strlen(secret)) < 0 || write(in[1], "\n", 1) < 0)
		fprintf(stderr, "hoster: writing the secret: %s\n", strerror(errno));
	close(in[1]);
	size_t n = 0;
	int ok = -1;
	for (int waited = 0; waited < 300 && n + 1 < outlen;) {
		struct pollfd p = { res[0], POLLIN, 0 };
		int r = poll(&p, 1, 100);
		if (r == 0) {
			waited++;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		char c;
		if (r < 0 || read(res[0], &c, 1) != 1)
			break;
		if (c == '\n') {
			ok = 0;
			break;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	close(res[0]);
	/* The remote shell stays with the slave, as the daemon's does. */
	return ok;
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 1;
	for (int i = 2; i + 1 < argc && nrefused < MAXHOSTS; i += 2)
		if (strcmp(argv[i], "-r") == 0)
			refused[nrefused++] = argv[i + 1];
	signal(SIGPIPE, SIG_IGN);
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	CHECK_INT(pvm_setopt(PvmResvTids, 1), 0, "PvmResvTids allows the SM_ tags");
	CHECK_INT(pvm_reg_hoster(), 0, "pvm_reg_hoster");
	printf("registered\n");
	fflush(stdout);
	for (int k = 0; k < count; k++) {
		struct timeval tmo = { 60, 0 };
		int bid = pvm_trecv(-1, SM_STHOST, &tmo);
		CHECK_CMP(bid, >, 0, "SM_STHOST arrived");
		if (bid <= 0)
			break;
		int len, tag, src;
		pvm_bufinfo(bid, &len, &tag, &src);
		struct pvmminfo mi;
		pvm_getminfo(bid, &mi);
		int wid = mi.wid;
		CHECK_CMP(wid, >, 0, "the request has a wait id");
		CHECK(src == (int)(0x80000000u | (unsigned)pvm_tidtohost(pvm_mytid())),
		      "from the master daemon");
		int nhosts = 0;
		pvm_upkint(&nhosts, 1, 1);
		CHECK(nhosts > 0 && nhosts <= MAXHOSTS, "1 to 16 hosts");
		if (nhosts <= 0 || nhosts > MAXHOSTS)
			break;
		printf("sthost n=%d\n", nhosts);
		int tids[MAXHOSTS];
		static char opts[MAXHOSTS][256], logins[MAXHOSTS][256], cmds[MAXHOSTS][4096];
		for (int i = 0; i < nhosts; i++) {
			pvm_upkint(&tids[i], 1, 1);
			pvm_upkstr(opts[i]);
			pvm_upkstr(logins[i]);
			pvm_upkstr(cmds[i]);
			printf("host %x login %s options '%s' command %s\n", tids[i], logins[i],
			       opts[i], cmds[i]);
		}
		char secret[256] = "";
		CHECK_INT(pvm_upkstr(secret), 0, "the secret line follows the hosts");
		CHECK_INT(strlen(secret), 64, "the secret is 64 hex digits");
		CHECK(strstr(cmds[0], " -s ") != NULL, "the command starts a slave (-s)");
		CHECK(strstr(cmds[0], secret) == NULL, "the secret is not on the command line");

		static char status[MAXHOSTS][512];
		for (int i = 0; i < nhosts; i++) {
			if (is_refused(logins[i]))
				snprintf(status[i], sizeof status[i], "PvmCantStart");
			else if (run_remote(logins[i], cmds[i], secret, status[i],
					    sizeof status[i]) < 0)
				snprintf(status[i], sizeof status[i], "PvmCantStart");
			printf("reply %x %s\n", tids[i], status[i]);
		}
		int sb = pvm_initsend(PvmDataDefault);
		/* In reverse order: the man page allows any order. */
		for (int i = nhosts - 1; i >= 0; i--) {
			pvm_pkint(&tids[i], 1, 1);
			pvm_pkstr(status[i]);
		}
		/* pvm_setmwid as the man page says (pvm_setminfo does the same). */
		CHECK_INT(pvm_setmwid(sb, wid), 0, "pvm_setmwid");
		pvm_getminfo(sb, &mi);
		CHECK_INT(mi.wid, wid, "the reply carries the wait id");
		CHECK_INT(pvm_send(src, SM_STHOSTACK), 0, "SM_STHOSTACK sent");
		fflush(stdout);
	}
	pvm_exit();
	return check_done();
}
