/*
 * hello_other.c - spawned by hello: send "hello, world from <host>" to the
 * parent task.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pvm3.h"

int main(void)
{
	char text[128];
	size_t used;
	int parent = pvm_parent();

	strcpy(text, "hello, world from ");
	used = strlen(text);
	gethostname(text + used, sizeof text - used - 1);
	text[sizeof text - 1] = '\0';

	pvm_initsend(PvmDataDefault);
	pvm_pkstr(text);
	pvm_send(parent, 1);

	pvm_exit();
	return 0;
}
