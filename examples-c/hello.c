/*
 * hello.c - the first PVM program: say who we are, start hello_other and
 * print the greeting it sends back.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pvm3.h"

int main(void)
{
	int me, child = 0, bufid, src = 0;
	char text[128];

	me = pvm_mytid();
	if (me < 0) {
		pvm_perror("hello");
		return 1;
	}
	printf("i'm t%x\n", me);

	if (pvm_spawn("hello_other", NULL, PvmTaskDefault, "", 1, &child) != 1) {
		printf("can't start hello_other (code %d)\n", child);
		pvm_exit();
		return 1;
	}
	bufid = pvm_recv(-1, -1);
	pvm_bufinfo(bufid, NULL, NULL, &src);
	pvm_upkstr(text);
	printf("from t%x: %s\n", src, text);

	pvm_exit();
	return 0;
}
