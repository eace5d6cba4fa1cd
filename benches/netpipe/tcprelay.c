/* tcprelay.c - the floor of a daemon route between two hosts: what TCP
 * between two namespace hosts and relays that do no work at all give a
 * ping-pong, with no PVM anywhere. The two-host part of the benchmark
 * (twohost.rs) runs it between the hosts it measures pvm6 on, so the
 * report can tell what pvm6's daemons cost from what the shape of the
 * route costs.
 *
 * Usage: tcprelay NETNS1 NETNS2 ADDR2 ADDR1 SECONDS
 * NETNS1/NETNS2: paths of the two hosts' network namespaces (/run/netns/..),
 * ADDR2/ADDR1: their IPv6 addresses. A 40-byte frame (a PVM message of one
 * byte with its header) goes back and forth, one way per leg:
 *
 *   direct   A (host 1) and B (host 2) on one TCP connection, as pvm6's
 *            direct route between hosts is;
 *   feeds    A writes on a connection to R2 (host 2), which hands the frame
 *            to B through shared memory; B writes on a connection to R1
 *            (host 1), which hands it to A: each connection carries one
 *            direction (the daemon of the receiving host relays), as
 *            pvm6's feeds did before they carried answers back, so every
 *            frame needs an ACK of its own and four processes spin;
 *   onelink  A and R2 on one connection both ways, R2 handing frames to
 *            and from B through shared memory: one relay for both
 *            directions, whose connection carries the ACKs on the answers,
 *            as pvm6's feeds do (src/daemon/feeds.rs).
 *
 * Every waiter polls without blocking and yields the CPU between polls, as
 * pvm6's spinning waits do; nobody is pinned. Prints CSV: shape,usec (one
 * way: half a round trip; the best of three trials of SECONDS/3 each).
 * Every wait is bounded (10 s); every process it forks is gone when it
 * returns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { FRAME = 40, LIMIT = 10 };

/* Shared words, each on its own cache line: hand-overs between a relay and
 * the task on its host, listening ports, and the stop flag. */
struct word {
	_Atomic long v;
	char pad[64 - sizeof(long)];
};
enum { TO_B, TO_A, PORT_R2, PORT_R1, PORT_B, STOP, NWORDS };
static struct word *sh;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void enter(const char *ns)
{
	int fd = open(ns, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
		perror(ns);
		_exit(1);
	}
	close(fd);
}

/* Waits (yielding) until word `i` is `want` (any nonzero value when `want`
 * is 0); returns it, or -1 when told to stop or after LIMIT seconds. */
static long await(int i, long want)
{
	double end = now() + LIMIT;
	long v;
	while (want ? (v = atomic_load(&sh[i].v)) != want : (v = atomic_load(&sh[i].v)) == 0) {
		if (atomic_load(&sh[STOP].v) || now() > end)
			return -1;
		sched_yield();
	}
	return v;
}

static void nodelay(int s)
{
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A listening socket on any port of this namespace; its port goes to word
 * `port`. Returns the accepted connection. */
static int accept_one(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	socklen_t len = sizeof a;
	int l = socket(AF_INET6, SOCK_STREAM, 0), c;
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) != 0)
		_exit(1);
	atomic_store(&sh[port].v, ntohs(a.sin6_port));
	c = accept(l, NULL, NULL);
	if (c < 0)
		_exit(1);
	close(l);
	nodelay(c);
	return c;
}

/* A connection to `addr` at the port word `port` announces; -1 on failure. */
static int dial(const char *addr, int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	long p = await(port, 0);
	int s;
	if (p < 0 || inet_pton(AF_INET6, addr, &a.sin6_addr) != 1)
		return -1;
	a.sin6_port = htons((unsigned short)p);
	s = socket(AF_INET6, SOCK_STREAM, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		close(s);
		return -1;
	}
	nodelay(s);
	return s;
}

/* One frame in, carrying a count; -1 when the peer left, told to stop or
 * after LIMIT seconds. */
static long get(int s)
{
	char f[FRAME];
	size_t got = 0;
	double end = now() + LIMIT;
	long v;
	while (got < FRAME) {
		ssize_t r = recv(s, f + got, FRAME - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EINTR) || now() > end ||
			 atomic_load(&sh[STOP].v))
			return -1;
		else
			sched_yield();
	}
	memcpy(&v, f, sizeof v);
	return v;
}

/* One frame out carrying a count; 0, or -1 when the peer is gone. */
static int put(int s, long v)
{
	char f[FRAME] = { 0 };
	memcpy(f, &v, sizeof v);
	return send(s, f, FRAME, MSG_NOSIGNAL) == FRAME ? 0 : -1;
}

/* Relays from a connection into a shared word until the count stops. */
static void relay_in(int c, int to)
{
	long v;
	while ((v = get(c)) > 0)
		atomic_store(&sh[to].v, v);
	_exit(0);
}

static pid_t child(const char *ns, void (*body)(const char *), const char *arg)
{
	pid_t p = fork();
	if (p == 0) {
		/* Gone with this process, whatever ends it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
			_exit(1);
		enter(ns);
		body(arg);
		_exit(0);
	}
	return p;
}

/* The processes of host 2 (and R1 of host 1) per shape. */
static void b_direct(const char *unused)
{
	int c = accept_one(PORT_B);
	long v;
	(void)unused;
	while ((v = get(c)) > 0 && put(c, v) == 0)
		;
}

static void r2_feed(const char *unused)
{
	(void)unused;
	relay_in(accept_one(PORT_R2), TO_B);
}

static void r1_feed(const char *unused)
{
	(void)unused;
	relay_in(accept_one(PORT_R1), TO_A);
}

static void b_feed(const char *addr1)
{
	int c = dial(addr1, PORT_R1);
	long k;
	for (k = 1; c >= 0; k++) {
		if (await(TO_B, k) < 0 || put(c, k) != 0)
			return;
	}
}

static void r2_onelink(const char *unused)
{
	int c = accept_one(PORT_R2);
	long v;
	(void)unused;
	while ((v = get(c)) > 0) {
		atomic_store(&sh[TO_B].v, v);
		if (await(TO_A, v) < 0 || put(c, v) != 0)
			return;
	}
}

static void b_onelink(const char *unused)
{
	long k;
	(void)unused;
	for (k = 1;; k++) {
		if (await(TO_B, k) < 0)
			return;
		atomic_store(&sh[TO_A].v, k);
	}
}

/* One shape: A's side in this process (in NETNS1); µs one way, < 0 on
 * failure. */
static double shape(const char *name, char **av, double secs)
{
	const char *ns1 = av[1], *ns2 = av[2], *addr2 = av[3], *addr1 = av[4];
	pid_t kids[3];
	int nk = 0, i, s = -1, feed_in = -1, trial;
	double best = -1;
	long k = 0;

	for (i = 0; i < NWORDS; i++)
		atomic_store(&sh[i].v, 0);
	if (!strcmp(name, "direct")) {
		kids[nk++] = child(ns2, b_direct, NULL);
		s = dial(addr2, PORT_B);
	} else if (!strcmp(name, "feeds")) {
		kids[nk++] = child(ns2, r2_feed, NULL);
		kids[nk++] = child(ns1, r1_feed, NULL);
		kids[nk++] = child(ns2, b_feed, addr1);
		s = dial(addr2, PORT_R2);
		feed_in = TO_A;
	} else {
		kids[nk++] = child(ns2, r2_onelink, NULL);
		kids[nk++] = child(ns2, b_onelink, NULL);
		s = dial(addr2, PORT_R2);
	}
	for (trial = 0; s >= 0 && trial < 3; trial++) {
		double t0 = now(), t;
		long k0 = k;
		for (;;) {
			long back;
			if (put(s, ++k) != 0)
				goto out;
			back = feed_in >= 0 ? await(feed_in, k) : get(s);
			if (back != k)
				goto out;
			if ((k & 255) == 0 && now() - t0 >= secs / 3)
				break;
		}
		t = (now() - t0) / (double)(k - k0) / 2 * 1e6;
		if (best < 0 || t < best)
			best = t;
	}
out:
	atomic_store(&sh[STOP].v, 1);
	if (s >= 0)
		close(s);
	for (i = 0; i < nk; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
	}
	return best;
}

int main(int argc, char **argv)
{
	static const char *shapes[] = { "direct", "feeds", "onelink" };
	unsigned i;
	if (argc != 6 || atof(argv[5]) <= 0) {
		fprintf(stderr, "usage: tcprelay NETNS1 NETNS2 ADDR2 ADDR1 SECONDS\n");
		return 2;
	}
	sh = mmap(NULL, NWORDS * sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	enter(argv[1]);
	printf("shape,usec\n");
	for (i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		double t = shape(shapes[i], argv, atof(argv[5]));
		if (t > 0)
			printf("%s,%.3f\n", shapes[i], t);
		else
			fprintf(stderr, "tcprelay: %s failed\n", shapes[i]);
		fflush(stdout);
	}
	return 0;
}
