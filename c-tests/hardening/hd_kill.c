/*
 * hd_kill: a task killed (SIGKILL) in the middle of sending a large message.
 *
 * The child sends its pid, then one 256 MiB message to its parent.  The
 * parent watches the system call the child is in (/proc/<pid>/syscall) and
 * kills it with SIGKILL while it is inside the send of that message (the
 * daemon log then says how many bytes of the cut frame it dropped).  Then: the PvmTaskExit notice arrives, no part of the message is
 * ever delivered, and the daemon still serves (a new child answers).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/time.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_PID 1
#define TAG_BIG 2
#define TAG_EXIT 3
#define TAG_HELLO 4
#define BIG (256 << 20)

/* The system call the process is blocked in (-1 when running or unknown). */
static long syscall_of(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/syscall", pid);
	FILE *f = fopen(path, "r");
	long v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* write, writev, sendto, sendmsg on x86-64 */
static int is_send(long nr)
{
	return nr == 1 || nr == 20 || nr == 44 || nr == 46;
}

static int child(int big)
{
	int pid = getpid();
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&pid, 1, 1);
	pvm_send(pvm_parent(), big ? TAG_PID : TAG_HELLO);
	if (big) {
		char *buf = malloc(BIG);
		memset(buf, 0x5a, BIG);
		pvm_initsend(PvmDataRaw);
		pvm_pkbyte(buf, BIG, 1);
		pvm_send(pvm_parent(), TAG_BIG);
	}
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "big") == 0)
		return child(1);
	if (argc > 1 && strcmp(argv[1], "small") == 0)
		return child(0);
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *bargs[] = { "big", NULL };
	char *sargs[] = { "small", NULL };
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	int tid = 0;
	CHECK_INT(pvm_spawn(prog, bargs, PvmTaskDefault, "", 1, &tid), 1, "sender spawned");
	CHECK_INT(pvm_notify(PvmTaskExit, TAG_EXIT, 1, &tid), 0, "notify TaskExit of the sender");
	struct timeval tmo = { 20, 0 };
	int pid = 0;
	CHECK_CMP(pvm_trecv(tid, TAG_PID, &tmo), >, 0, "sender's pid arrived");
	pvm_upkint(&pid, 1, 1);
	/* Wait (bounded: 20 s) until it is blocked sending the big message. */
	int in_send = 0;
	for (int i = 0; i < 200000 && !in_send; i++) {
		if (is_send(syscall_of(pid)))
			in_send = 1;
		else
			usleep(100);
	}
	int killed = kill(pid, SIGKILL);
	CHECK_INT(in_send, 1, "caught the sender inside its send");
	CHECK_INT(killed, 0, "SIGKILL sent");
	int exit_note = 0, big = 0;
	for (int i = 0; i < 4 && !exit_note; i++) {
		int b = pvm_trecv(-1, -1, &tmo);
		if (b <= 0)
			break;
		int bytes, tag, src;
		pvm_bufinfo(b, &bytes, &tag, &src);
		if (tag == TAG_EXIT)
			exit_note = 1;
		if (tag == TAG_BIG)
			big++;
	}
	CHECK_INT(exit_note, 1, "TaskExit notice for the killed sender");
	struct timeval shortwait = { 1, 0 };
	while (pvm_trecv(-1, TAG_BIG, &shortwait) > 0)
		big++;
	CHECK_INT(big, 0, "no part of the message delivered");
	CHECK_INT(pvm_pstat(tid), PvmNoTask, "the sender is gone");
	int tid2 = 0;
	CHECK_INT(pvm_spawn(prog, sargs, PvmTaskDefault, "", 1, &tid2), 1, "a new task spawned");
	CHECK_CMP(pvm_trecv(tid2, TAG_HELLO, &tmo), >, 0, "the new task answered");
	pvm_exit();
	return check_done();
}
