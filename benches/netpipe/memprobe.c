/* memprobe.c - what this machine itself gives two processes that hand a
 * message to each other through shared memory: no PVM, no sockets, no
 * system call on the way except sched_yield while waiting. The benchmark
 * (run.sh) runs it next to the NPpvm sweeps, so the report can tell a slow
 * sweep of a message-passing library from a slow moment of the machine.
 *
 * Usage: memprobe SECONDS BYTES...
 * For each size and each placement it ping-pongs a message of that size
 * for SECONDS: the side that sends copies the message from its own buffer
 * into the shared area, the other copies it out into its own buffer (one
 * copy in, one copy out: the fewest a library that does not share the
 * caller's memory can make), then they swap roles. Placements: "same" pins
 * both processes to the first CPU this process may use, "apart" to the
 * first two (skipped with one CPU). Prints CSV: placement,bytes,Gbps (one
 * way: bytes * 8 over half a round trip).
 *
 * Usage: memprobe relay SECONDS
 * The latency floor of a relay: one word handed back and forth between two
 * processes ("handoff"), and the same word relayed both ways through a
 * third process ("relay": A to R to B, B to R to A), as a message routed
 * through the daemon of one host is (between hosts, tcprelay.c measures
 * the same over TCP). Nobody is pinned (the scheduler places them, as it
 * places PVM programs and daemons) and every waiter yields the CPU, as
 * pvm6's spinning waits do. Prints CSV: handoff,usec and relay,usec (one
 * way: half a round trip; the best of three trials of SECONDS each).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The hand-over word: odd while the child's turn, even while the parent's;
 * -1 tells the child to leave. On its own cache line. */
struct shared {
	_Atomic long turn;
	char pad[64 - sizeof(long)];
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof s, &s);
}

/* Waits (bounded by `limit` seconds) until the turn word is `want`. */
static int wait_turn(struct shared *sh, long want, double limit)
{
	double end = now() + limit;
	long t;
	while ((t = atomic_load(&sh->turn)) != want) {
		if (t < 0 || now() > end)
			return -1;
		sched_yield();
	}
	return 0;
}

/* One-way Gbps of a ping-pong of n bytes between this process (on cpu a)
 * and a child (on cpu b), for `secs` seconds; < 0 on failure. */
static double probe(size_t n, int a, int b, double secs)
{
	struct shared *sh;
	char *area, *mine;
	pid_t child;
	long k = 0, trips = 0;
	double t0, t;
	int status;

	sh = mmap(NULL, sizeof *sh + n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return -1;
	area = (char *)(sh + 1);
	atomic_store(&sh->turn, 0);
	memset(area, 0, n);
	child = fork();
	if (child < 0) {
		munmap(sh, sizeof *sh + n);
		return -1;
	}
	if (child == 0) {
		char *buf = malloc(n);
		long want;
		if (!buf || pin(b) != 0)
			_exit(1);
		memset(buf, 2, n);
		for (want = 1;; want += 2) {
			if (wait_turn(sh, want, secs + 10) != 0)
				_exit(0);
			memcpy(buf, area, n);
			memcpy(area, buf, n);
			atomic_store(&sh->turn, want + 1);
		}
	}
	mine = malloc(n);
	if (!mine || pin(a) != 0) {
		free(mine);
		atomic_store(&sh->turn, -1);
		waitpid(child, &status, 0);
		munmap(sh, sizeof *sh + n);
		return -1;
	}
	memset(mine, 1, n);
	/* One round trip to warm up, then as many as fit in `secs`. */
	t0 = 0;
	for (;;) {
		memcpy(area, mine, n);
		atomic_store(&sh->turn, ++k);
		if (wait_turn(sh, ++k, 10) != 0)
			break;
		memcpy(mine, area, n);
		if (t0 == 0)
			t0 = now();
		else
			trips++;
		if (now() - t0 >= secs)
			break;
	}
	t = now() - t0;
	atomic_store(&sh->turn, -1);
	waitpid(child, &status, 0);
	free(mine);
	munmap(sh, sizeof *sh + n);
	if (trips == 0)
		return -1;
	return n * 8.0 / (t / trips / 2) / 1e9;
}

/* Serves one leg of a relay: waits for `in` to reach each value in turn
 * and passes it on in `out`, until `in` turns negative (or 10 s pass). */
static void pass_on(struct shared *in, struct shared *out)
{
	long want;
	for (want = 1;; want++) {
		if (wait_turn(in, want, 10) != 0)
			_exit(0);
		atomic_store(&out->turn, want);
	}
}

/* One-way microseconds of a word's round trips for `secs` seconds, through
 * `relays` other processes (0: none; 1: one for both directions); < 0 on
 * failure. Slots: 0 A's word out, 1 the relayed word to B, 2 B's answer, 3
 * the relayed answer to A (without a relay B reads slot 0 and A reads slot
 * 2). */
static double hand(int relays, double secs)
{
	struct shared *sh;
	pid_t kids[2];
	int nkids = 0, i, status;
	long k = 0;
	double t0, t = -1;

	sh = mmap(NULL, 4 * sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return -1;
	for (i = 0; i < 4; i++)
		atomic_store(&sh[i].turn, 0);
	/* B answers every word: through the relay's slots, or straight back. */
	if ((kids[nkids++] = fork()) == 0)
		pass_on(&sh[relays ? 1 : 0], &sh[2]);
	if (relays == 1) {
		/* The relay, one process for both directions as a daemon is. */
		if ((kids[nkids++] = fork()) == 0) {
			long want;
			for (want = 1;; want++) {
				if (wait_turn(&sh[0], want, 10) != 0)
					_exit(0);
				atomic_store(&sh[1].turn, want);
				if (wait_turn(&sh[2], want, 10) != 0)
					_exit(0);
				atomic_store(&sh[3].turn, want);
			}
		}
	}
	for (i = 0; i < nkids; i++)
		if (kids[i] < 0)
			goto out;
	t0 = now();
	for (;;) {
		atomic_store(&sh[0].turn, ++k);
		if (wait_turn(&sh[relays ? 3 : 2], k, 10) != 0)
			goto out;
		if ((k & 1023) == 0 && now() - t0 >= secs)
			break;
	}
	t = (now() - t0) / k / 2 * 1e6;
out:
	for (i = 0; i < 4; i++)
		atomic_store(&sh[i].turn, -1);
	for (i = 0; i < nkids; i++)
		if (kids[i] > 0)
			waitpid(kids[i], &status, 0);
	munmap(sh, 4 * sizeof *sh);
	return t;
}

static int relay_main(double secs)
{
	static const char *names[] = { "handoff", "relay" };
	int relays, trial;
	for (relays = 0; relays <= 1; relays++) {
		double best = -1;
		for (trial = 0; trial < 3; trial++) {
			double t = hand(relays, secs);
			if (t > 0 && (best < 0 || t < best))
				best = t;
		}
		printf("%s,%.3f\n", names[relays], best);
	}
	return 0;
}

int main(int argc, char **argv)
{
	cpu_set_t allowed;
	int cpus[2], found = 0, c, i;
	double secs;

	if (argc == 3 && strcmp(argv[1], "relay") == 0)
		return relay_main(atof(argv[2]));
	if (argc < 3) {
		fprintf(stderr, "usage: memprobe SECONDS BYTES... | memprobe relay SECONDS\n");
		return 2;
	}
	secs = atof(argv[1]);
	if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
		return 1;
	for (c = 0; c < CPU_SETSIZE && found < 2; c++)
		if (CPU_ISSET(c, &allowed))
			cpus[found++] = c;
	for (i = 2; i < argc; i++) {
		size_t n = strtoul(argv[i], NULL, 10);
		double g;
		if (n == 0)
			continue;
		g = probe(n, cpus[0], cpus[0], secs);
		printf("same,%zu,%.1f\n", n, g);
		if (found == 2) {
			g = probe(n, cpus[0], cpus[1], secs);
			printf("apart,%zu,%.1f\n", n, g);
		}
		fflush(stdout);
	}
	return 0;
}
