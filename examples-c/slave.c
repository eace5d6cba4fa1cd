/*
 * slave.c - worker for master.c: receive a slice of numbers, add them up and
 * send the partial sum back to the master (our parent).
 */
#include <stdlib.h>

#include "pvm3.h"

#define TAG_WORK 1
#define TAG_RESULT 2

int main(void)
{
	int master = pvm_parent();
	int who = -1, count = 0, i;
	int *slice;
	long sum = 0;

	pvm_recv(master, TAG_WORK);
	pvm_upkint(&who, 1, 1);
	pvm_upkint(&count, 1, 1);
	slice = malloc(sizeof(int) * (count > 0 ? (size_t)count : 1));
	if (slice && count > 0) {
		pvm_upkint(slice, count, 1);
		for (i = 0; i < count; i++)
			sum += slice[i];
	}
	free(slice);

	pvm_initsend(PvmDataDefault);
	pvm_pkint(&who, 1, 1);
	pvm_pklong(&sum, 1, 1);
	pvm_send(master, TAG_RESULT);

	pvm_exit();
	return 0;
}
