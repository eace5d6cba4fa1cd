/*
 * t_ring.c - messages through the daemon when the task's connection uses
 * shared-memory rings (pvm6's default on one host; docs/ARCHITECTURE.md).
 *
 * Checks: messages of sizes on both sides of the largest ring record
 * (16 KiB), small ones and 1 MiB ones, interleaved, arrive in the order
 * sent and intact; a burst of 5000 small messages sent while the receiver
 * is not reading (its ring fills, the daemon keeps the rest) arrives whole
 * and in order; pvm_getfds's descriptor becomes readable when a message
 * comes; a task that corrupts its ring loses its connection (the daemon
 * reports its exit to a pvm_notify) while the daemon goes on serving the
 * others.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define TAG_MIX 10
#define TAG_BURST 11
#define TAG_PING 12
#define TAG_PONG 13
#define TAG_CORRUPT 14
#define TAG_CORRUPTED 15
#define TAG_AFTER 16
#define TAG_EXIT 17

#define NMIX 400
#define NBURST 5000
#define MAXMIX (1 << 20)
#define WAIT 30

/* Where the daemon-to-task ring's consumer position lives in the rings'
 * memory (src/ring.rs: one ring is a 4 KiB page and 128 KiB of data). */
#define TO_TASK_TAIL (4096 + 128 * 1024)

static int mix_size(int i)
{
	switch (i % 4) {
	case 0: return 16200 + i;
	case 1: return i % 3;
	case 2: return i % 40 == 2 ? MAXMIX : 100;
	default: return 16300 + (i * 13) % 200;
	}
}

static void fill(char *p, int n, int seed)
{
	int i;
	for (i = 0; i < n; i++)
		p[i] = (char)((i * 31 + seed) & 0xff);
}

/* select(2) on fd for reading, waiting up to secs seconds. */
static int readable(int fd, int secs)
{
	fd_set rd;
	struct timeval tv;
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	return select(fd + 1, &rd, NULL, NULL, &tv);
}

/* Writes a consumer position far past anything sent into this task's ring
 * from the daemon: the daemon's next message to us finds it out of range. */
static int corrupt_own_ring(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int done = 0;
	if (!f)
		return 0;
	while (!done && fgets(line, sizeof line, f)) {
		unsigned long start;
		if (strstr(line, "pvm6-conn") && sscanf(line, "%lx-", &start) == 1) {
			volatile uint64_t *tail = (uint64_t *)(start + TO_TASK_TAIL);
			*tail = (uint64_t)1 << 40;
			done = 1;
		}
	}
	fclose(f);
	return done;
}

static int child(void)
{
	int parent = pvm_parent();
	char *buf = malloc(MAXMIX);
	int i, n, bufid, tag;

	for (i = 0; i < NMIX; i++) {
		n = mix_size(i);
		fill(buf, n, i);
		pvm_initsend(PvmDataRaw);
		pvm_pkint(&n, 1, 1);
		pvm_pkbyte(buf, n, 1);
		pvm_send(parent, TAG_MIX);
	}
	for (i = 0; i < NBURST; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(parent, TAG_BURST);
	}
	for (;;) {
		bufid = pvm_recv(parent, -1);
		if (bufid < 0 || pvm_bufinfo(bufid, NULL, &tag, NULL) < 0)
			break;
		if (tag == TAG_PING) {
			pvm_initsend(PvmDataDefault);
			pvm_send(parent, TAG_PONG);
		} else if (tag == TAG_CORRUPT) {
			int ok = corrupt_own_ring();
			pvm_initsend(PvmDataDefault);
			pvm_pkint(&ok, 1, 1);
			pvm_send(parent, TAG_CORRUPTED);
		}
	}
	free(buf);
	/* The daemon closed our connection: that is the expected end. */
	return bufid == PvmSysErr ? 0 : 1;
}

int main(int argc, char **argv)
{
	int kid, cc, i, n, bad, *fds = NULL, nfds, bufid, ok = 0, tag, nhost, narch;
	char *buf, *want;
	struct pvmhostinfo *hosts;

	(void)argc;
	if (pvm_parent() > 0)
		return child();
	if (pvm_mytid() < 0)
		return 1;
	cc = pvm_spawn((char *)check_basename(argv[0]), NULL, PvmTaskDefault, "", 1, &kid);
	CHECK_INT(cc, 1, "spawned the child");
	if (cc != 1)
		return check_done();
	CHECK_INT(pvm_notify(PvmTaskExit, TAG_EXIT, 1, &kid), 0, "pvm_notify(PvmTaskExit)");

	/* Let the child send everything before reading: our ring fills and
	 * the daemon keeps what does not fit. */
	sleep(1);
	buf = malloc(MAXMIX);
	want = malloc(MAXMIX);
	bad = -1;
	for (i = 0; i < NMIX && bad < 0; i++) {
		if (wait_msg(kid, -1, WAIT) < 0 || pvm_bufinfo(pvm_getrbuf(), NULL, &tag, NULL) < 0 ||
		    tag != TAG_MIX || pvm_upkint(&n, 1, 1) < 0 || n != mix_size(i) ||
		    pvm_upkbyte(buf, n, 1) < 0) {
			bad = i;
			break;
		}
		fill(want, n, i);
		if (memcmp(buf, want, n) != 0)
			bad = i;
	}
	CHECK_INT(bad, -1, "400 messages of 0 B to 1 MiB (around 16 KiB) in order and intact");
	bad = -1;
	for (i = 0; i < NBURST && bad < 0; i++) {
		if (wait_msg(kid, TAG_BURST, WAIT) < 0 || pvm_upkint(&n, 1, 1) < 0 || n != i)
			bad = i;
	}
	CHECK_INT(bad, -1, "a burst of 5000 small messages in order");
	CHECK_INT(pvm_nrecv(-1, -1), 0, "nothing else arrived");

	nfds = pvm_getfds(&fds);
	CHECK_CMP(nfds, >=, 1, "pvm_getfds");
	CHECK_INT(readable(fds[0], 0), 0, "no message: not readable");
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_PING);
	CHECK_INT(readable(fds[0], WAIT), 1, "the answer makes it readable");
	bufid = pvm_nrecv(kid, TAG_PONG);
	CHECK_CMP(bufid, >, 0, "and pvm_nrecv takes it");
	CHECK_INT(readable(fds[0], 0), 0, "taken: not readable any more");

	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_CORRUPT);
	if (wait_msg(kid, TAG_CORRUPTED, WAIT) > 0)
		pvm_upkint(&ok, 1, 1);
	CHECK_INT(ok, 1, "the child found its ring and wrote into it");
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_AFTER);
	bufid = wait_msg(-1, TAG_EXIT, WAIT);
	n = 0;
	if (bufid > 0)
		pvm_upkint(&n, 1, 1);
	CHECK_INT(n, kid, "the daemon dropped the corrupt task: its exit is notified");
	CHECK_INT(pvm_config(&nhost, &narch, &hosts), 0, "the daemon still serves us");
	CHECK_INT(nhost, 1, "one host");
	free(buf);
	free(want);
	pvm_exit();
	return check_done();
}
