/*
 * t_mbox.c - the message mailbox: pvm_putinfo (default, persistent,
 * multi-instance, overwritable, direct index), pvm_recvinfo (exact,
 * PvmMboxFirstAvail, PvmMboxReadAndDelete, PvmMboxWaitForInfo),
 * pvm_delinfo, pvm_getmboxinfo (patterns, owners, flags, entries of exited
 * owners) and the PVM 3.3 calls pvm_insert, pvm_lookup, pvm_delete.
 *
 * Spawns copies of itself: "owner" puts entries and exits when told,
 * "late" puts an entry after a delay (for PvmMboxWaitForInfo).
 * Expected values are what PVM 3.4.6's pvmd answers, except that its
 * pvm_putinfo never returns for a buffer id that does not exist (pvm6:
 * PvmNoSuchBuf / PvmBadParam); build with -DORIGINAL_PVM to leave those
 * two checks out when running against the original.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define TAG_READY 21
#define TAG_GO 22

static char cls[64]; /* class names are made unique per run */

static char *name(const char *base)
{
	snprintf(cls, sizeof cls, "%s.%x", base, (unsigned)pvm_mytid());
	return cls;
}

/* put one int (and a string) under `n` */
static int put_int(const char *n, int v, int flags)
{
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&v, 1, 1);
	pvm_pkstr("payload");
	return pvm_putinfo((char *)n, pvm_getsbuf(), flags);
}

/* read the int of entry <n, index>; returns the bufid, stores the int */
static int get_int(const char *n, int index, int flags, int *v)
{
	int b = pvm_recvinfo((char *)n, index, flags);
	*v = -1;
	if (b > 0)
		pvm_upkint(v, 1, 1);
	return b;
}

/* the entries of class `n`: count, and the first owner and flags */
static int entries(const char *n, int *owner0, int *flags0)
{
	int nc = 0, i;
	struct pvmmboxinfo *c = NULL;
	if (pvm_getmboxinfo("*", &nc, &c) < 0)
		return -1;
	for (i = 0; i < nc; i++)
		if (strcmp(c[i].mi_name, n) == 0) {
			if (owner0)
				*owner0 = c[i].mi_owners[0];
			if (flags0)
				*flags0 = c[i].mi_flags[0];
			return c[i].mi_nentries;
		}
	return 0;
}

static int child_main(int argc, char **argv)
{
	int parent = pvm_parent();
	char n[64];
	if (argc < 3)
		return 1;
	if (strcmp(argv[1], "owner") == 0) {
		snprintf(n, sizeof n, "lock.%s", argv[2]);
		put_int(n, 1, PvmMboxDefault);
		snprintf(n, sizeof n, "ow.%s", argv[2]);
		put_int(n, 2, PvmMboxOverWritable);
		snprintf(n, sizeof n, "keep.%s", argv[2]);
		put_int(n, 3, PvmMboxPersistent);
		snprintf(n, sizeof n, "multi.%s", argv[2]);
		put_int(n, 4, PvmMboxMultiInstance);
		put_int(n, 5, PvmMboxMultiInstance | PvmMboxOverWritable);
		pvm_initsend(PvmDataDefault);
		pvm_send(parent, TAG_READY);
		wait_msg(parent, TAG_GO, 30);
	} else if (strcmp(argv[1], "late") == 0) {
		usleep(500000);
		snprintf(n, sizeof n, "late.%s", argv[2]);
		put_int(n, 2, PvmMboxMultiInstance);
		put_int(n, 3, PvmMboxMultiInstance);
	}
	pvm_exit();
	return 0;
}

int main(int argc, char **argv)
{
	int me, child, v, b, i, nc, o, f, rb;
	char id[16], buf[32];
	char *args[3];
	struct pvmmboxinfo *c = NULL;
	struct timeval t0, t1;

	alarm(60);
	if (pvm_parent() > 0)
		return child_main(argc, argv);
	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	pvm_setopt(PvmAutoErr, 0);
	snprintf(id, sizeof id, "%x", (unsigned)me);

	/* --- own entries -------------------------------------------------- */
	CHECK_INT(put_int(name("a"), 10, PvmMboxDefault), 0, "putinfo default -> index 0");
	CHECK_INT(put_int(name("a"), 11, PvmMboxDefault), 0, "owner may replace its default entry");
	rb = pvm_getrbuf();
	b = get_int(name("a"), 0, PvmMboxDefault, &v);
	CHECK_CMP(b, >, 0, "recvinfo returns a buffer");
	CHECK_INT(v, 11, "recvinfo copy holds the latest value");
	CHECK_INT(pvm_getrbuf(), b, "recvinfo buffer is the active receive buffer");
	CHECK(b != rb, "recvinfo made a new buffer");
	pvm_upkstr(buf);
	CHECK_STR(buf, "payload", "whole message body stored");
	{
		int bytes, tag, src;
		pvm_bufinfo(b, &bytes, &tag, &src);
		CHECK_INT(src, me, "copy's source is the task that put it");
		CHECK_INT(tag, 0, "copy's tag is 0");
	}
	CHECK_INT(pvm_recvinfo(name("a"), 1, 0), PvmNotFound, "no index 1 -> PvmNotFound");
	CHECK_INT(pvm_recvinfo(name("a"), -1, 0), PvmBadParam, "negative index -> PvmBadParam");
	CHECK_INT(pvm_recvinfo(name("none"), 0, 0), PvmNotFound, "unknown class -> PvmNotFound");
	CHECK_INT(pvm_putinfo("", pvm_getsbuf(), 0), PvmBadParam, "empty name -> PvmBadParam");
#ifndef ORIGINAL_PVM
	CHECK_INT(pvm_putinfo(name("a"), 9999, 0), PvmNoSuchBuf, "no such buffer");
	CHECK_INT(pvm_putinfo(name("a"), -1, 0), PvmBadParam, "negative bufid");
#endif

	/* raw encoding survives the store */
	pvm_initsend(PvmDataRaw);
	v = 0x01020304;
	pvm_pkint(&v, 1, 1);
	CHECK_INT(pvm_putinfo(name("raw"), pvm_getsbuf(), 0), 0, "put a raw message");
	b = get_int(name("raw"), 0, 0, &v);
	CHECK_INT(v, 0x01020304, "raw message unpacks");

	/* multi-instance */
	CHECK_INT(put_int(name("m"), 0, PvmMboxMultiInstance), 0, "multi 1st -> 0");
	CHECK_INT(put_int(name("m"), 1, PvmMboxMultiInstance), 1, "multi 2nd -> 1");
	CHECK_INT(put_int(name("m"), 2, PvmMboxMultiInstance), 2, "multi 3rd -> 2");
	CHECK_INT(pvm_delinfo(name("m"), 1, 0), 1, "delinfo answers the index");
	CHECK_INT(pvm_delinfo(name("m"), 1, 0), PvmNotFound, "deleted twice -> PvmNotFound");
	CHECK_INT(put_int(name("m"), 3, PvmMboxMultiInstance), 1, "lowest free index reused");
	get_int(name("m"), 2, PvmMboxFirstAvail, &v);
	CHECK_INT(v, 2, "FirstAvail from 2 finds index 2");
	CHECK_INT(pvm_recvinfo(name("m"), 3, PvmMboxFirstAvail), PvmNotFound, "FirstAvail past the end");
	b = get_int(name("m"), 1, PvmMboxReadAndDelete, &v);
	CHECK_INT(v, 3, "ReadAndDelete reads");
	CHECK_INT(pvm_recvinfo(name("m"), 1, 0), PvmNotFound, "ReadAndDelete deleted");
	CHECK_INT(put_int(name("m"), 4, PvmMboxDirectIndex(7) | PvmMboxMultiInstance), 7,
		"direct index puts at that index");
	CHECK_INT(entries(name("m"), &o, &f), 3, "getmboxinfo counts entries");
	CHECK_INT(o, me, "getmboxinfo owner");
	CHECK_INT(f, PvmMboxMultiInstance, "getmboxinfo flags");

	/* patterns: unanchored, '*' for any run, other characters literal */
	nc = -1;
	CHECK_INT(pvm_getmboxinfo(id, &nc, &c), 0, "getmboxinfo by substring");
	CHECK_INT(nc, 3, "substring matches our three classes");
	pvm_getmboxinfo("m.*", &nc, &c);
	CHECK_INT(nc, 1, "glob star");
	CHECK_STR(nc > 0 ? c[0].mi_name : NULL, name("m"), "class name returned");
	pvm_getmboxinfo("^m", &nc, &c);
	CHECK_INT(nc, 0, "no regular expressions");

	/* system class names are ordinary names */
	i = put_int(PVMNORESETCLASS, 1, PvmMboxMultiInstance | PvmMboxOverWritable);
	CHECK_CMP(i, >=, 0, "PVMNORESETCLASS storable");
	CHECK_INT(put_int(PVMRMCLASS, 1, PvmMboxOverWritable), 0, "PVMRMCLASS storable");
	get_int(PVMRMCLASS, 0, 0, &v);
	CHECK_INT(v, 1, "PVMRMCLASS readable");
	CHECK_INT(pvm_delinfo(PVMRMCLASS, 0, 0), 0, "PVMRMCLASS deletable");
	CHECK_INT(pvm_delinfo(PVMNORESETCLASS, i, 0), i, "PVMNORESETCLASS deletable");

	/* --- another task's entries ---------------------------------------- */
	args[0] = "owner";
	args[1] = id;
	args[2] = NULL;
	CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), args, 0, "", 1, &child), 1, "spawn owner");
	CHECK_CMP(wait_msg(child, TAG_READY, 20), >, 0, "owner ready");
	snprintf(buf, sizeof buf, "lock.%s", id);
	CHECK_INT(put_int(buf, 9, PvmMboxDefault), PvmDenied, "put over another's default -> PvmDenied");
	CHECK_INT(put_int(buf, 9, PvmMboxOverWritable), PvmDenied, "... whatever the flags");
	CHECK_INT(put_int(buf, 9, PvmMboxMultiInstance), 1, "multi-instance put goes beside it");
	CHECK_INT(pvm_delinfo(buf, 0, 0), PvmDenied, "delinfo of another's entry -> PvmDenied");
	CHECK_INT(pvm_recvinfo(buf, 0, PvmMboxReadAndDelete), PvmDenied, "ReadAndDelete denied");
	get_int(buf, 0, 0, &v);
	CHECK_INT(v, 1, "but reading is allowed");
	snprintf(buf, sizeof buf, "ow.%s", id);
	CHECK_INT(put_int(buf, 20, PvmMboxDefault), 0, "overwritable entry replaced");
	CHECK_INT(entries(buf, &o, &f), 1, "still one entry");
	CHECK_INT(o, me, "replacing made us the owner");
	CHECK_INT(f, PvmMboxDefault, "with our flags");
	snprintf(buf, sizeof buf, "multi.%s", id);
	CHECK_INT(pvm_recvinfo(buf, 0, PvmMboxReadAndDelete), PvmDenied, "locked instance not deletable");
	b = get_int(buf, 1, PvmMboxReadAndDelete, &v);
	CHECK_INT(v, 5, "overwritable instance read and deleted");
	snprintf(buf, sizeof buf, "keep.%s", id);
	CHECK_INT(entries(buf, &o, &f), 1, "persistent entry listed");
	CHECK_INT(o, child, "owned by the child");

	/* the owner exits: its entries go, persistent ones stay with owner 0 */
	pvm_initsend(PvmDataDefault);
	pvm_send(child, TAG_GO);
	snprintf(buf, sizeof buf, "lock.%s", id);
	for (i = 0; i < 100 && entries(buf, &o, NULL) != 1; i++)
		usleep(50000);
	CHECK_INT(entries(buf, &o, NULL), 1, "owner's default entry removed at exit");
	CHECK_INT(o, me, "our instance stays");
	snprintf(buf, sizeof buf, "multi.%s", id);
	CHECK_INT(entries(buf, NULL, NULL), 0, "owner's multi-instance entries removed");
	snprintf(buf, sizeof buf, "keep.%s", id);
	CHECK_INT(entries(buf, &o, &f), 1, "persistent entry survives its owner");
	CHECK_INT(o, 0, "its owner is now 0");
	CHECK_INT(f, PvmMboxPersistent, "its flags are kept");
	get_int(buf, 0, 0, &v);
	CHECK_INT(v, 3, "and it is still readable");
	CHECK_INT(put_int(buf, 9, 0), PvmDenied, "orphaned entry not replaceable");
	CHECK_INT(pvm_delinfo(buf, 0, 0), PvmDenied, "orphaned entry not deletable");

	/* --- PvmMboxWaitForInfo ----------------------------------------------- */
	args[0] = "late";
	CHECK_INT(pvm_spawn((char *)check_basename(argv[0]), args, 0, "", 1, &child), 1, "spawn late");
	snprintf(buf, sizeof buf, "late.%s", id);
	gettimeofday(&t0, NULL);
	b = get_int(buf, 1, PvmMboxWaitForInfo | PvmMboxFirstAvail, &v);
	gettimeofday(&t1, NULL);
	CHECK_CMP(b, >, 0, "WaitForInfo returns once the entry exists");
	CHECK_INT(v, 3, "it waited for index >= 1, not index 0");
	CHECK_CMP((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000, >=, 300,
		"it blocked until the put");
	CHECK_INT(pvm_recvinfo(buf, 5, 0), PvmNotFound, "without the flag: no waiting");

	/* --- PVM 3.3 database -------------------------------------------------- */
	name("db");
	CHECK_INT(pvm_insert(cls, 0, 42), 0, "insert at 0");
	CHECK_INT(pvm_insert(cls, 0, 43), PvmDupEntry, "insert at a taken index -> PvmDupEntry");
	CHECK_INT(pvm_insert(cls, -1, 44), 1, "insert at first free");
	CHECK_INT(pvm_insert(cls, 5, 45), 5, "insert at 5");
	CHECK_INT(pvm_insert(cls, -2, 1), PvmBadParam, "insert at -2 -> PvmBadParam");
	v = 0;
	CHECK_INT(pvm_lookup(cls, 5, &v), 5, "lookup 5");
	CHECK_INT(v, 45, "lookup data");
	CHECK_INT(pvm_lookup(cls, -1, &v), 0, "lookup -1 gives the first index");
	CHECK_INT(v, 42, "first data");
	CHECK_INT(pvm_lookup(cls, 3, &v), PvmNoEntry, "lookup missing -> PvmNoEntry");
	CHECK_INT(pvm_delete(cls, 0), 0, "delete 0");
	CHECK_INT(pvm_delete(cls, 0), PvmNoEntry, "delete again -> PvmNoEntry");
	CHECK_INT(pvm_delete(cls, -1), PvmBadParam, "delete -1 -> PvmBadParam");
	CHECK_INT(pvm_lookup(cls, -1, &v), 1, "first index is now 1");
	CHECK_INT(entries(cls, &o, &f), 2, "db entries listed");
	CHECK_INT(f, PvmMboxPersistent | PvmMboxMultiInstance, "insert makes persistent multi-instance entries");

	pvm_exit();
	return check_done();
}
