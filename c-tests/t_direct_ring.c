/*
 * t_direct_ring.c - messages on a direct route between two tasks of one
 * host, whose link carries small frames in a shared-memory ring per
 * direction (src/task/direct.rs, docs/PROTOCOL.md "Direct routes").
 *
 * Checks: once the link is up, messages of sizes on both sides of the
 * largest ring record (16 KiB), tiny ones and 1 MiB ones, interleaved,
 * arrive in the order sent and intact; both tasks sending 5000 small
 * messages to each other before either reads (both rings fill, each
 * sender reads while it waits) all arrive, in order; after pvm_getfds a
 * message on the link makes one of the descriptors readable, and
 * pvm_nrecv takes it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>

#include "pvm3.h"
#include "check.h"

#define TAG_HELLO 20
#define TAG_MIX 21
#define TAG_BURST 22
#define TAG_PING 23
#define TAG_PONG 24
#define TAG_BYE 25

#define NMIX 400
#define NBURST 5000
#define MAXMIX (1 << 20)
#define WAIT 30

static int mix_size(int i)
{
	switch (i % 4) {
	case 0: return 16300 + (i * 7) % 150;
	case 1: return i % 3;
	case 2: return i % 40 == 2 ? MAXMIX : 200;
	default: return 16350 + (i * 13) % 100;
	}
}

static void fill(char *p, int n, int seed)
{
	int i;
	for (i = 0; i < n; i++)
		p[i] = (char)((i * 37 + seed) & 0xff);
}

static void send_burst(int to)
{
	int i;
	for (i = 0; i < NBURST; i++) {
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&i, 1, 1);
		pvm_send(to, TAG_BURST);
	}
}

/* The index of the first burst message missing or out of order; -1: none. */
static int recv_burst(int from)
{
	int i, n;
	for (i = 0; i < NBURST; i++)
		if (wait_msg(from, TAG_BURST, WAIT) < 0 || pvm_upkint(&n, 1, 1) < 0 || n != i)
			return i;
	return -1;
}

static int child(void)
{
	int parent = pvm_parent();
	char *buf = malloc(MAXMIX);
	int i, n, bad;

	pvm_setopt(PvmRoute, PvmRouteDirect);
	/* Through the daemon; the parent's answer comes over the link. */
	pvm_initsend(PvmDataDefault);
	pvm_send(parent, TAG_HELLO);
	if (wait_msg(parent, TAG_HELLO, WAIT) < 0)
		return 1;
	for (i = 0; i < NMIX; i++) {
		n = mix_size(i);
		fill(buf, n, i);
		pvm_initsend(PvmDataRaw);
		pvm_pkint(&n, 1, 1);
		pvm_pkbyte(buf, n, 1);
		pvm_send(parent, TAG_MIX);
	}
	send_burst(parent);
	bad = recv_burst(parent);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&bad, 1, 1);
	pvm_send(parent, TAG_BURST);
	if (wait_msg(parent, TAG_PING, WAIT) > 0) {
		pvm_initsend(PvmDataDefault);
		pvm_send(parent, TAG_PONG);
	}
	wait_msg(parent, TAG_BYE, WAIT);
	free(buf);
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	int kid, cc, i, n, bad, *fds = NULL, nfds, maxfd, bufid, tag, tries, readable = 0;
	char *buf, *want;
	fd_set rd;
	struct timeval tv;

	(void)argc;
	if (pvm_parent() > 0)
		return child();
	if (pvm_mytid() < 0)
		return 1;
	pvm_setopt(PvmRoute, PvmRouteDirect);
	cc = pvm_spawn((char *)check_basename(argv[0]), NULL, PvmTaskDefault, "", 1, &kid);
	CHECK_INT(cc, 1, "spawned the child");
	if (cc != 1)
		return check_done();
	CHECK_CMP(wait_msg(kid, TAG_HELLO, WAIT), >, 0, "the child's first message");
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_HELLO);

	/* Both send everything before reading. */
	send_burst(kid);
	buf = malloc(MAXMIX);
	want = malloc(MAXMIX);
	bad = -1;
	for (i = 0; i < NMIX && bad < 0; i++) {
		bufid = wait_msg(kid, -1, WAIT);
		tag = n = -1;
		if (bufid < 0 || pvm_bufinfo(bufid, NULL, &tag, NULL) < 0 || tag != TAG_MIX ||
		    pvm_upkint(&n, 1, 1) < 0 || n != mix_size(i) || pvm_upkbyte(buf, n, 1) < 0) {
			printf("# message %d: bufid %d tag %d size %d\n", i, bufid, tag, n);
			bad = i;
			break;
		}
		fill(want, n, i);
		if (memcmp(buf, want, n) != 0) {
			printf("# message %d: %d bytes differ\n", i, n);
			bad = i;
		}
	}
	CHECK_INT(bad, -1, "400 messages of 0 B to 1 MiB (around 16 KiB) in order and intact");
	CHECK_INT(recv_burst(kid), -1, "the child's 5000 small messages in order");
	n = -2;
	if (wait_msg(kid, TAG_BURST, WAIT) > 0)
		pvm_upkint(&n, 1, 1);
	CHECK_INT(n, -1, "the child got our 5000 in order");

	nfds = pvm_getfds(&fds);
	CHECK_CMP(nfds, >=, 2, "pvm_getfds: the daemon's socket and the link's");
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_PING);
	/* As a program that selects on them does: a readable descriptor may
	 * hold only a doorbell or part of a message (as with PVM 3.4.6), so
	 * select and pvm_nrecv again until the answer is there. */
	bufid = 0;
	for (tries = 0; tries < 10 * WAIT && bufid == 0; tries++) {
		FD_ZERO(&rd);
		maxfd = 0;
		for (i = 0; i < nfds; i++) {
			FD_SET(fds[i], &rd);
			if (fds[i] > maxfd)
				maxfd = fds[i];
		}
		tv.tv_sec = 0;
		tv.tv_usec = 100000;
		if (select(maxfd + 1, &rd, NULL, NULL, &tv) > 0) {
			readable++;
			bufid = pvm_nrecv(kid, TAG_PONG);
		}
	}
	CHECK_CMP(readable, >=, 1, "the answer makes a descriptor readable");
	CHECK_CMP(bufid, >, 0, "and pvm_nrecv takes it");
	pvm_initsend(PvmDataDefault);
	pvm_send(kid, TAG_BYE);
	free(buf);
	free(want);
	pvm_exit();
	return check_done();
}
