/*
 * tr_squat: another user's squatter for tests/local_trust.rs (run as
 * nobody).  It makes DIR (mode 0777, or 0700 with "private"), listens at
 * SOCK (mode 0777), creates LOG (mode 0666) unless LOG is "-", then for
 * SECONDS accepts every connection and counts what they send.  At the end
 * it prints "accepted=N bytes=M" and exits.
 *
 *   tr_squat DIR SOCK LOG SECONDS [private]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: tr_squat DIR SOCK LOG SECONDS [private]\n");
		return 2;
	}
	const char *dir = argv[1], *sock = argv[2], *log = argv[3];
	int secs = atoi(argv[4]);
	mode_t mode = (argc > 5 && strcmp(argv[5], "private") == 0) ? 0700 : 0777;
	if (strcmp(dir, "-") != 0) {
		if (mkdir(dir, mode) != 0 && errno != EEXIST) {
			perror("mkdir");
			return 1;
		}
		chmod(dir, mode);
	}
	if (strcmp(log, "-") != 0) {
		int fd = open(log, O_CREAT | O_WRONLY, 0666);
		if (fd < 0) {
			perror("open log");
			return 1;
		}
		fchmod(fd, 0666);
		close(fd);
	}
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	unlink(sock);
	if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 64) != 0) {
		perror("bind/listen");
		return 1;
	}
	chmod(sock, 0777);
	printf("listening\n");
	fflush(stdout);
	long accepted = 0, bytes = 0;
	struct pollfd fds[65];
	int n = 1;
	fds[0].fd = l;
	fds[0].events = POLLIN;
	time_t end = time(NULL) + secs;
	while (time(NULL) < end) {
		if (poll(fds, n, 100) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < 65) {
			int c = accept(l, NULL, NULL);
			if (c >= 0) {
				accepted++;
				fds[n].fd = c;
				fds[n].events = POLLIN;
				fds[n].revents = 0;
				n++;
			}
		}
		for (int i = 1; i < n; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP)))
				continue;
			char buf[4096];
			ssize_t r = read(fds[i].fd, buf, sizeof buf);
			if (r > 0) {
				bytes += r;
			} else {
				close(fds[i].fd);
				fds[i] = fds[n - 1];
				n--;
				i--;
			}
		}
	}
	printf("accepted=%ld bytes=%ld\n", accepted, bytes);
	return 0;
}
