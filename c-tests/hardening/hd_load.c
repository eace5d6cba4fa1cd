/*
 * hd_load: load generator and checker for the hardening tests and the soak.
 *
 *   hd_load NTASKS NMSGS [SEED [HOST...]]
 *
 * Spawns NTASKS copies of itself (round robin over the HOSTs, or wherever
 * the daemon places them when none are given), which form a ring: task i
 * sends NMSGS/NTASKS messages (the remainder to the first tasks) to task
 * i+1 and receives as many from task i-1, at most WINDOW in flight.  Sizes
 * are random, 1 byte to 1 MiB: most below 2 KiB, one in 500 between 64 KiB
 * and 1 MiB.  Every message carries its sender's index, its sequence number,
 * its length and an FNV-1a checksum of its bytes; the receiver checks all of
 * them, so a message lost, duplicated, reordered or damaged is counted as an
 * error.  The tasks also join a group and meet at a barrier before and after,
 * and each puts its result into the mailbox (persistent: it outlives the
 * task); the parent watches every child
 * with PvmTaskExit.  Prints TAP lines and a "summary" line; exit 0 only if
 * every message arrived once, intact and in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/time.h>
#include "pvm3.h"
#include "../check.h"

#define TAG_START 1
#define TAG_DATA 2
#define TAG_RESULT 3
#define TAG_EXIT 4
#define WINDOW 4
#define GROUP "hd_load"
#define MAXLARGE (1 << 20)

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint32_t fnv1a(const unsigned char *p, int n)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static int msg_size(uint64_t *s)
{
	uint64_t r = rng_next(s);
	if (r % 500 == 0)
		return 65536 + (int)((r >> 20) % (MAXLARGE - 65536 + 1));
	return 1 + (int)((r >> 20) % 2048);
}

/* Sends message number seq of task me (content derived from seed, me, seq). */
static int send_one(int to, int me, int seq, uint64_t *sizes, unsigned char *buf)
{
	int n = msg_size(sizes);
	uint64_t s = ((uint64_t)me << 32) ^ (uint64_t)seq ^ 0x9E3779B97F4A7C15ULL;
	for (int i = 0; i < n; i++)
		buf[i] = (unsigned char)(rng_next(&s) >> 56);
	int sum = (int)fnv1a(buf, n);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&me, 1, 1);
	pvm_pkint(&seq, 1, 1);
	pvm_pkint(&n, 1, 1);
	pvm_pkint(&sum, 1, 1);
	pvm_pkbyte((char *)buf, n, 1);
	if (pvm_send(to, TAG_DATA) < 0)
		return -1;
	return n;
}

static int child(void)
{
	int parent = pvm_parent();
	int hdr[4];
	if (pvm_recv(parent, TAG_START) < 0)
		return 1;
	pvm_upkint(hdr, 4, 1);
	int me = hdr[0], n = hdr[1], nsend = hdr[2], seed = hdr[3];
	int *tids = malloc(sizeof(int) * (size_t)n);
	pvm_upkint(tids, n, 1);
	int next = tids[(me + 1) % n], prev = tids[(me + n - 1) % n];
	int pidx = (me + n - 1) % n;
	/* The predecessor sends as many as its share says. */
	int nrecv = 0;
	pvm_upkint(&nrecv, 1, 1);
	unsigned char *buf = malloc(MAXLARGE);
	unsigned char *got = malloc(MAXLARGE);
	uint64_t sizes = ((uint64_t)seed << 20) ^ (uint64_t)(me + 1) * 0x100000001B3ULL;
	int errors = 0, sent = 0, received = 0;
	long bytes = 0;
	int inum = pvm_joingroup(GROUP);
	if (inum < 0)
		errors++;
	if (pvm_barrier(GROUP, n) < 0)
		errors++;
	struct timeval tmo = { 120, 0 };
	while (sent < nsend || received < nrecv) {
		while (sent < nsend && sent - received < WINDOW) {
			int k = send_one(next, me, sent, &sizes, buf);
			if (k < 0) {
				errors++;
				break;
			}
			bytes += k;
			sent++;
		}
		if (received >= nrecv) {
			if (sent < nsend)
				continue;
			break;
		}
		if (pvm_trecv(prev, TAG_DATA, &tmo) <= 0) {
			printf("# task %d: timeout waiting for message %d of %d\n", me, received, nrecv);
			errors++;
			break;
		}
		int from, seq, len, sum;
		pvm_upkint(&from, 1, 1);
		pvm_upkint(&seq, 1, 1);
		pvm_upkint(&len, 1, 1);
		pvm_upkint(&sum, 1, 1);
		if (from != pidx || seq != received || len < 1 || len > MAXLARGE) {
			printf("# task %d: got from %d seq %d len %d, expected from %d seq %d\n",
			       me, from, seq, len, pidx, received);
			errors++;
		} else {
			pvm_upkbyte((char *)got, len, 1);
			if ((int)fnv1a(got, len) != sum) {
				printf("# task %d: checksum of message %d differs\n", me, seq);
				errors++;
			}
		}
		received++;
	}
	if (pvm_barrier(GROUP, n) < 0)
		errors++;
	pvm_lvgroup(GROUP);
	int res[4] = { me, received, errors, (int)(bytes >> 10) };
	pvm_initsend(PvmDataDefault);
	pvm_pkint(res, 4, 1);
	char name[64];
	snprintf(name, sizeof name, "hd_load.%d", me);
	pvm_putinfo(name, pvm_getsbuf(), PvmMboxPersistent);
	pvm_send(parent, TAG_RESULT);
	free(buf);
	free(got);
	free(tids);
	pvm_exit();
	return 0;
}

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	if (argc < 3) {
		fprintf(stderr, "usage: hd_load NTASKS NMSGS [SEED [HOST...]]\n");
		return 2;
	}
	int n = atoi(argv[1]);
	int nmsgs = atoi(argv[2]);
	int seed = argc > 3 ? atoi(argv[3]) : 1;
	int nhosts = argc > 4 ? argc - 4 : 0;
	if (n < 2 || nmsgs < 0) {
		fprintf(stderr, "hd_load: need at least 2 tasks\n");
		return 2;
	}
	char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char *cargs[] = { "child", NULL };
	double t0 = now();
	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	int *tids = calloc((size_t)n, sizeof(int));
	int started = 0;
	for (int i = 0; i < n;) {
		int chunk = nhosts ? 1 : n - i;
		int cc = nhosts ? pvm_spawn(prog, cargs, PvmTaskHost, argv[4 + i % nhosts], 1, &tids[i])
				: pvm_spawn(prog, cargs, PvmTaskDefault, "", chunk, &tids[i]);
		if (cc < chunk) {
			printf("# spawn at %d gave %d (tid %d)\n", i, cc, tids[i]);
			break;
		}
		started += cc;
		i += chunk;
	}
	CHECK_INT(started, n, "every task started");
	if (started != n) {
		pvm_halt();
		return 1;
	}
	CHECK_INT(pvm_notify(PvmTaskExit, TAG_EXIT, n, tids), 0, "notify TaskExit of every task");
	for (int i = 0; i < n; i++) {
		int share = nmsgs / n + (i < nmsgs % n ? 1 : 0);
		int pshare = nmsgs / n + (((i + n - 1) % n) < nmsgs % n ? 1 : 0);
		int hdr[4] = { i, n, share, seed };
		pvm_initsend(PvmDataDefault);
		pvm_pkint(hdr, 4, 1);
		pvm_pkint(tids, n, 1);
		pvm_pkint(&pshare, 1, 1);
		pvm_send(tids[i], TAG_START);
	}
	long received = 0, errors = 0, kib = 0;
	int results = 0, exits = 0;
	struct timeval tmo = { 300, 0 };
	while (results < n || exits < n) {
		int bufid = pvm_trecv(-1, -1, &tmo);
		if (bufid <= 0) {
			printf("# timeout: %d results, %d exits\n", results, exits);
			break;
		}
		int bytes, tag, src;
		pvm_bufinfo(bufid, &bytes, &tag, &src);
		if (tag == TAG_RESULT) {
			int res[4];
			pvm_upkint(res, 4, 1);
			received += res[1];
			errors += res[2];
			kib += res[3];
			results++;
		} else if (tag == TAG_EXIT) {
			exits++;
		}
	}
	CHECK_INT(results, n, "every task reported");
	CHECK_INT(exits, n, "a TaskExit notice for every task");
	CHECK_INT(received, nmsgs, "every message arrived");
	CHECK_INT(errors, 0, "no message lost, duplicated, reordered or damaged");
	/* The mailbox holds one result per task; read and remove them. */
	int mbox = 0;
	for (int i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof name, "hd_load.%d", i);
		int b = pvm_recvinfo(name, 0, PvmMboxDefault);
		if (b > 0) {
			int old = pvm_setrbuf(b);
			int res[4] = { -1, -1, -1, -1 };
			pvm_upkint(res, 4, 1);
			pvm_setrbuf(old);
			pvm_freebuf(b);
			if (res[0] == i && res[2] == 0)
				mbox++;
			pvm_delinfo(name, 0, PvmMboxDefault);
		}
	}
	CHECK_INT(mbox, n, "every task's result in the mailbox");
	printf("summary tasks=%d messages=%ld errors=%ld kib=%ld seconds=%.2f\n", n, received,
	       errors, kib, now() - t0);
	free(tids);
	pvm_exit();
	return check_done();
}
