/*
 * t_threads.c - several threads of one program using PVM at once.
 *
 * Eight threads form four pairs; the two threads of a pair exchange 1000
 * messages each way through the daemon (self-sends: the pair's two tags
 * tell the directions apart), with pvm_psend / pvm_precv, which do not use
 * the process-wide active buffers. Every payload is checked: the sender's
 * thread number, its sequence number (in order) and a pattern derived from
 * both. While they run, the main thread keeps calling pvm_tasks and
 * pvm_config (requests waiting for their replies among the messages).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define NTHREAD 8
#define NMSG 1000
#define WORDS 16
#define TAG_BASE 500

struct worker {
	int index;
	int me;
	int sent;
	int received;
	int bad;
	int first_error;
};

static volatile int running = NTHREAD;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *work(void *arg)
{
	struct worker *w = arg;
	int peer = w->index ^ 1;
	int out_tag = TAG_BASE + w->index;  /* our direction */
	int in_tag = TAG_BASE + peer;       /* the peer's */
	int buf[WORDS], got[WORDS], seq, k, rc, rtid, rtag, rlen;

	for (seq = 0; seq < NMSG; seq++) {
		buf[0] = w->index;
		buf[1] = seq;
		for (k = 2; k < WORDS; k++)
			buf[k] = w->index * 1000003 + seq * 31 + k;
		rc = pvm_psend(w->me, out_tag, buf, WORDS, PVM_INT);
		if (rc < 0) {
			if (!w->first_error)
				w->first_error = rc;
			break;
		}
		w->sent++;
		memset(got, 0, sizeof got);
		rc = pvm_precv(w->me, in_tag, got, WORDS, PVM_INT, &rtid, &rtag, &rlen);
		if (rc < 0) {
			if (!w->first_error)
				w->first_error = rc;
			break;
		}
		w->received++;
		if (rtid != w->me || rtag != in_tag || rlen != (int)sizeof got || got[0] != peer || got[1] != seq) {
			w->bad++;
			continue;
		}
		for (k = 2; k < WORDS; k++)
			if (got[k] != peer * 1000003 + seq * 31 + k) {
				w->bad++;
				break;
			}
	}
	pthread_mutex_lock(&lock);
	running--;
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	pthread_t th[NTHREAD];
	struct worker w[NTHREAD];
	int me, i, still, requests = 0, request_errors = 0, nhost, narch, ntask;
	struct pvmhostinfo *hosts;
	struct pvmtaskinfo *tasks;
	char what[96];

	alarm(120); /* a lost message would block a pair forever */
	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled before starting threads");
	memset(w, 0, sizeof w);
	for (i = 0; i < NTHREAD; i++) {
		w[i].index = i;
		w[i].me = me;
		CHECK_INT(pthread_create(&th[i], NULL, work, &w[i]), 0, "thread started");
	}
	do {
		if (pvm_config(&nhost, &narch, &hosts) < 0 || nhost != 1)
			request_errors++;
		if (pvm_tasks(0, &ntask, &tasks) < 0 || ntask < 1)
			request_errors++;
		requests += 2;
		usleep(2000);
		pthread_mutex_lock(&lock);
		still = running;
		pthread_mutex_unlock(&lock);
	} while (still > 0 && requests < 200000);
	for (i = 0; i < NTHREAD; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NTHREAD; i++) {
		snprintf(what, sizeof what, "thread %d: no call failed", i);
		CHECK_INT(w[i].first_error, 0, what);
		snprintf(what, sizeof what, "thread %d sent %d messages", i, NMSG);
		CHECK_INT(w[i].sent, NMSG, what);
		snprintf(what, sizeof what, "thread %d received %d messages", i, NMSG);
		CHECK_INT(w[i].received, NMSG, what);
		snprintf(what, sizeof what, "thread %d: every payload right and in order", i);
		CHECK_INT(w[i].bad, 0, what);
	}
	CHECK_INT(request_errors, 0, "requests of the main thread answered meanwhile");
	CHECK_CMP(requests, >, 0, "main thread made requests");
	CHECK_INT(pvm_nrecv(-1, -1), 0, "nothing left over");
	pvm_exit();
	return check_done();
}
