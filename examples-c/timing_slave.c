/*
 * timing_slave.c - echo server for timing.c: send every TAG_ECHO message
 * straight back to its sender until TAG_STOP arrives (or 60 s pass idle).
 */
#include <stddef.h>
#include <sys/time.h>

#include "pvm3.h"

#define TAG_ECHO 1
#define TAG_STOP 2

int main(void)
{
	int parent = pvm_parent();
	int bufid, tag = 0;
	struct timeval idle;

	for (;;) {
		idle.tv_sec = 60;
		idle.tv_usec = 0;
		bufid = pvm_trecv(parent, -1, &idle);
		if (bufid <= 0)
			break;
		pvm_bufinfo(bufid, NULL, &tag, NULL);
		if (tag != TAG_ECHO)
			break;
		/* the received buffer becomes the send buffer, unchanged */
		pvm_setsbuf(pvm_setrbuf(0));
		pvm_send(parent, TAG_ECHO);
	}
	pvm_exit();
	return 0;
}
