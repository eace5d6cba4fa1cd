/*
 * slowdns: a DNS server that takes its time.  Run as "slowdns SECONDS"
 * inside a test host: it listens on UDP 127.0.0.1:53 and answers every
 * query SECONDS later with NXDOMAIN (the name does not exist).  Prints
 * "ready" once it listens.  Not a PVM program: the off-loop name lookup
 * test (tests/launch_resolver.rs) points a host's resolver at it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXQ 256

struct query {
	double due;
	struct sockaddr_in from;
	unsigned char buf[512];
	int len;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double delay = argc > 1 ? atof(argv[1]) : 10;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(53);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("slowdns: bind 127.0.0.1:53");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	static struct query q[MAXQ];
	int nq = 0;
	for (;;) {
		double t = now(), next = t + 1;
		for (int i = 0; i < nq;) {
			if (q[i].due <= t) {
				q[i].buf[2] |= 0x80; /* a response */
				q[i].buf[3] = 0x83;  /* recursion available, NXDOMAIN */
				sendto(s, q[i].buf, q[i].len, 0, (struct sockaddr *)&q[i].from,
				       sizeof q[i].from);
				q[i] = q[--nq];
				continue;
			}
			if (q[i].due < next)
				next = q[i].due;
			i++;
		}
		struct pollfd p = { s, POLLIN, 0 };
		int ms = (int)((next - t) * 1000) + 1;
		if (poll(&p, 1, ms) > 0 && nq < MAXQ) {
			socklen_t fl = sizeof q[nq].from;
			int n = recvfrom(s, q[nq].buf, sizeof q[nq].buf, 0,
					 (struct sockaddr *)&q[nq].from, &fl);
			if (n >= 12) {
				q[nq].len = n;
				q[nq].due = now() + delay;
				nq++;
			}
		}
	}
}
