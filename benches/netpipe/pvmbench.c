/* pvmbench.c - NetPIPE-style ping-pong latency and streaming bandwidth of
 * PVM messages, 1 byte .. MAX bytes, for one route (daemon | direct) and one
 * packing (default | raw | inplace | psend). The parent spawns itself as the
 * echoing peer (on the same host, or on host HOST when given).
 *
 *   pvmbench ROUTE PACKING [MAX [HOST]]
 *                         (environment, for profiling one size: PVMBENCH_MIN,
 *                         the first size, default 1; PVMBENCH_REPS, a
 *                         multiplier of the repetitions, default 1)
 *   pvmbench spawn N      time spawning N tasks (and until all exited)
 *   pvmbench mem          VmRSS growth (KiB) of enrolling (library state)
 *   pvmbench block        enrol, then block in pvm_recv forever
 *   pvmbench addhosts NAME...  time one pvm_addhosts call with all NAMEs, and
 *                         until pvm_config shows every host it added
 *   pvmbench hosts N SECS wait (at most SECS) until pvm_config shows N hosts
 *   pvmbench halt         pvm_halt
 *
 * Prints CSV lines: route,packing,bytes,pingpong_usec_oneway,pingpong_MBps,stream_MBps
 * (ping-pong: the best of three trials, as NetPIPE reports its best).
 * (addhosts: addhosts,requested,added,call_seconds,config_seconds,hosts_in_config).
 * Builds against pvm6's pvm3.h and against PVM 3.4.6's (the two-host bench
 * runs it on both).
 * Not a test: run by benches/netpipe/run.sh (`make bench`).
 */
#include <pvm3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

enum { TAG_PARAM = 11, TAG_PING = 12, TAG_STREAM = 13, TAG_ACK = 14 };
enum { PK_DEFAULT, PK_RAW, PK_INPLACE, PK_PSEND };

static double now(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec * 1e-6;
}

static long vmrss_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

static int spawn_many(const char *exe, int n)
{
	int *tids = calloc(n, sizeof *tids), got = 0, done = 0, i;
	double t0 = now(), t1;
	if (!tids)
		return 1;
	while (got < n) {
		char *args[] = { "-quit", NULL };
		int k = pvm_spawn((char *)exe, args, PvmTaskDefault, "", n - got > 100 ? 100 : n - got, tids + got);
		if (k <= 0) {
			fprintf(stderr, "pvmbench: spawn failed after %d (%d)\n", got, tids[got]);
			break;
		}
		got += k;
	}
	t1 = now();
	pvm_notify(PvmTaskExit, TAG_ACK, got, tids);
	for (i = 0; i < got; i++)
		if (pvm_recv(-1, TAG_ACK) >= 0)
			done++;
	printf("spawn,%d,%.3f,%.3f\n", got, t1 - t0, now() - t0);
	free(tids);
	return got == n && done == n ? 0 : 1;
}

static int nhosts(void)
{
	int nhost = 0, narch = 0;
	struct pvmhostinfo *hp = NULL;
	if (pvm_config(&nhost, &narch, &hp) < 0)
		return -1;
	return nhost;
}

/* Polls pvm_config until it shows at least n hosts or secs have passed;
 * returns the last count seen. */
static int wait_hosts(int n, double secs)
{
	double end = now() + secs;
	int h = nhosts();
	while (h < n && now() < end) {
		usleep(20000);
		h = nhosts();
	}
	return h;
}

static int add_hosts(char **names, int n)
{
	int *infos = calloc(n, sizeof *infos), before = nhosts(), added, i, h;
	double t0 = now(), t1;
	if (!infos)
		return 1;
	added = pvm_addhosts(names, n, infos);
	t1 = now();
	h = wait_hosts(before + (added > 0 ? added : 0), 60);
	for (i = 0; i < n; i++)
		if (infos[i] < 0)
			fprintf(stderr, "pvmbench: pvm_addhosts %s: %d\n", names[i], infos[i]);
	printf("addhosts,%d,%d,%.3f,%.3f,%d\n", n, added, t1 - t0, now() - t0, h);
	free(infos);
	return added == n ? 0 : 1;
}

static int packing_of(const char *s)
{
	if (!strcmp(s, "default"))
		return PK_DEFAULT;
	if (!strcmp(s, "raw"))
		return PK_RAW;
	if (!strcmp(s, "inplace"))
		return PK_INPLACE;
	if (!strcmp(s, "psend"))
		return PK_PSEND;
	return -1;
}

static void set_route(int direct)
{
	pvm_setopt(PvmRoute, direct ? PvmRouteDirect : PvmDontRoute);
}

static void send_bytes(int pk, int to, int tag, char *buf, int n)
{
	static const int enc[] = { PvmDataDefault, PvmDataRaw, PvmDataInPlace };
	if (pk == PK_PSEND) {
		pvm_psend(to, tag, buf, n, PVM_BYTE);
		return;
	}
	pvm_initsend(enc[pk]);
	pvm_pkbyte(buf, n, 1);
	pvm_send(to, tag);
}

static void recv_bytes(int pk, int from, int tag, char *buf, int n)
{
	if (pk == PK_PSEND) {
		int t, g, c;
		pvm_precv(from, tag, buf, n, PVM_BYTE, &t, &g, &c);
		return;
	}
	pvm_recv(from, tag);
	pvm_upkbyte(buf, n, 1);
}

/* 1, 2, 3, 4, then powers of two and the sizes halfway between them
 * (6, 8, 12, 16, ...), as NetPIPE steps: a peak between two powers of two
 * (TCP's often is) is measured on both sides. */
static int next_size(int n)
{
	if (n < 4)
		return n + 1;
	return (n & (n - 1)) == 0 ? n + n / 2 : n / 3 * 4;
}

/* PVMBENCH_REPS; the peer gets it with the parameters. */
static int reps_x = 1;

static int reps_for(int n)
{
	int r = (64 << 20) / (n > 0 ? n : 1);
	if (r > 2000)
		r = 2000;
	if (r < 20)
		r = 20;
	return r * reps_x;
}

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);
	return v && atoi(v) > 0 ? atoi(v) : dflt;
}

/* Ping-pong: TRIALS timed runs of trial_reps(n) round trips each; like
 * NetPIPE, the best trial counts (the others absorb scheduler noise). */
enum { TRIALS = 3 };

static int trial_reps(int n)
{
	int r = reps_for(n) / TRIALS;
	return r < 10 ? 10 : r;
}

static void child(void)
{
	int par = pvm_parent(), p[5], n;
	char *buf;
	pvm_recv(par, TAG_PARAM);
	pvm_upkint(p, 5, 1); /* direct, packing, max, first size, reps_x */
	reps_x = p[4];
	set_route(p[0]);
	buf = calloc(1, p[2] > 0 ? p[2] : 1);
	if (!buf)
		return;
	for (n = p[3]; n <= p[2]; n = next_size(n)) {
		int i, reps = reps_for(n);
		for (i = 0; i < TRIALS * trial_reps(n) + 2; i++) {
			recv_bytes(p[1], par, TAG_PING, buf, n);
			send_bytes(p[1], par, TAG_PING, buf, n);
		}
		for (i = 0; i < reps; i++)
			recv_bytes(p[1], par, TAG_STREAM, buf, n);
		send_bytes(p[1], par, TAG_ACK, buf, 1);
	}
	free(buf);
}

int main(int argc, char **argv)
{
	int direct, pk, max = 4 << 20, peer, n, p[5], first = env_int("PVMBENCH_MIN", 1);
	char exe[4096], *buf;
	ssize_t len;

	long rss0 = vmrss_kib();

	if (argc > 1 && !strcmp(argv[1], "-quit")) {
		pvm_mytid();
		pvm_exit();
		return 0;
	}
	if (pvm_mytid() < 0)
		return 1;
	if (argc > 1 && !strcmp(argv[1], "mem")) {
		printf("mem,%ld\n", vmrss_kib() - rss0);
		pvm_exit();
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "addhosts")) {
		int rc = add_hosts(argv + 2, argc - 2);
		pvm_exit();
		return rc;
	}
	if (argc > 3 && !strcmp(argv[1], "hosts")) {
		int want = atoi(argv[2]), h = wait_hosts(want, atof(argv[3]));
		printf("hosts,%d\n", h);
		pvm_exit();
		return h >= want ? 0 : 1;
	}
	if (argc > 1 && !strcmp(argv[1], "halt")) {
		pvm_halt();
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "block")) {
		printf("blocking\n");
		fflush(stdout);
		pvm_recv(-1, -1);
		pvm_exit();
		return 0;
	}
	if (pvm_parent() > 0) {
		child();
		pvm_exit();
		return 0;
	}
	if (argc < 3 || (strcmp(argv[1], "spawn") && packing_of(argv[2]) < 0)) {
		fprintf(stderr, "usage: pvmbench daemon|direct default|raw|inplace|psend [MAX [HOST]]\n");
		pvm_exit();
		return 2;
	}
	direct = !strcmp(argv[1], "direct");
	pk = packing_of(argv[2]);
	if (argc > 3)
		max = atoi(argv[3]);
	len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len <= 0) {
		pvm_exit();
		return 1;
	}
	exe[len] = 0;
	if (!strcmp(argv[1], "spawn")) {
		int rc = spawn_many(exe, atoi(argv[2]));
		pvm_exit();
		return rc;
	}
	if (pvm_spawn(exe, NULL, argc > 4 ? PvmTaskHost : PvmTaskDefault, argc > 4 ? argv[4] : "", 1, &peer) != 1) {
		fprintf(stderr, "pvmbench: spawn failed (%d)\n", peer);
		pvm_exit();
		return 1;
	}
	set_route(direct);
	p[0] = direct;
	p[1] = pk;
	p[2] = max;
	p[3] = first;
	p[4] = reps_x = env_int("PVMBENCH_REPS", 1);
	pvm_initsend(PvmDataDefault);
	pvm_pkint(p, 5, 1);
	pvm_send(peer, TAG_PARAM);
	buf = calloc(1, max);
	if (!buf)
		return 1;
	memset(buf, 'x', max);
	for (n = first; n <= max; n = next_size(n)) {
		int i, k, reps = reps_for(n), tr = trial_reps(n);
		double t0, pp = 1e30, st;
		for (i = 0; i < 2; i++) { /* warm up (and open the direct link) */
			send_bytes(pk, peer, TAG_PING, buf, n);
			recv_bytes(pk, peer, TAG_PING, buf, n);
		}
		for (k = 0; k < TRIALS; k++) {
			double t;
			t0 = now();
			for (i = 0; i < tr; i++) {
				send_bytes(pk, peer, TAG_PING, buf, n);
				recv_bytes(pk, peer, TAG_PING, buf, n);
			}
			t = (now() - t0) / tr / 2;
			if (t < pp)
				pp = t;
		}
		t0 = now();
		for (i = 0; i < reps; i++)
			send_bytes(pk, peer, TAG_STREAM, buf, n);
		recv_bytes(pk, peer, TAG_ACK, buf, 1);
		st = (now() - t0) / reps;
		printf("%s,%s,%d,%.3f,%.3f,%.3f\n", argv[1], argv[2], n, pp * 1e6, n / pp / 1e6, n / st / 1e6);
		fflush(stdout);
	}
	free(buf);
	pvm_exit();
	return 0;
}
