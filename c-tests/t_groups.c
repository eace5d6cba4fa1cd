/*
 * t_groups.c - dynamic groups on one host: pvm_joingroup (lowest free
 * instance), pvm_lvgroup, pvm_gsize, pvm_gettid, pvm_getinst, pvm_barrier
 * (count -1 and a partial count), pvm_bcast (not to the caller),
 * pvm_reduce with PvmMax/PvmMin/PvmSum/PvmProduct for every type PVM_BYTE
 * .. PVM_LONG and a user function, pvm_gather, pvm_scatter,
 * pvm_freezegroup, the predefined functions called directly, every error
 * code, and a member lost during a barrier (an error, not a hang).
 * Return codes of the single-task checks were measured with PVM 3.4.6 and
 * its pvmgs; the member-loss checks are pvm6's (the original waits forever).
 *
 * The parent is instance 0 of group "g" and drives three spawned copies of
 * itself with command messages (TAG_CMD: command, group name, argument);
 * each answers with TAG_ANS (one int).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "pvm3.h"
#include "check.h"

#define NKIDS 3
#define NMEM (NKIDS + 1)
#define TAG_CMD 2
#define TAG_ANS 3
#define TAG_ENTER 4
#define TAG_BCAST 7

enum { C_JOIN = 1, C_LEAVE, C_BARRIER, C_SUITE, C_BCAST, C_FREEZE, C_EXIT, C_DIE };

static void command(int tid, int cmd, const char *group, int arg)
{
	pvm_initsend(PvmDataDefault);
	pvm_pkint(&cmd, 1, 1);
	pvm_pkstr((char *)group);
	pvm_pkint(&arg, 1, 1);
	pvm_send(tid, TAG_CMD);
}

/* the answer of `tid`, or -1000 after 20 s */
static int answer(int tid)
{
	int v = -1000;
	if (wait_msg(tid, TAG_ANS, 20.0) > 0)
		pvm_upkint(&v, 1, 1);
	return v;
}

/* forgets the "entering a barrier" notes received so far */
static void drain_enter(void)
{
	while (pvm_nrecv(-1, TAG_ENTER) > 0)
		;
}

/* waits until `tid` is about to call pvm_barrier, plus a moment for the call */
static int entered(int tid)
{
	int bid = wait_msg(tid, TAG_ENTER, 10.0);
	usleep(200000);
	return bid > 0;
}

static int ask(int tid, int cmd, const char *group, int arg)
{
	command(tid, cmd, group, arg);
	return answer(tid);
}

/* a non-commutative-looking but order-free user function: x += 2*y (ints) */
static void twice_sum(int *dt, void *x, void *y, int *num, int *info)
{
	int i, *a = x, *b = y;
	if (*dt != PVM_INT) {
		*info = PvmBadParam;
		return;
	}
	for (i = 0; i < *num; i++)
		a[i] += 2 * b[i];
	*info = 0;
}

typedef void (*redfn)(int *, void *, void *, int *, int *);

/* value k of member `inst` for the reductions, as a double */
static double val(int inst, int k)
{
	return (double)((inst + 1) * (k + 2)) * ((inst % 2) ? -1.0 : 1.0);
}

static double combine(int op, double a, double b)
{
	switch (op) {
	case 0: return a > b ? a : b;
	case 1: return a < b ? a : b;
	case 2: return a + b;
	default: return a * b;
	}
}

/*
 * Every member runs this; the root (instance 0) checks the results.
 * Returns the number of failed local checks (children report it).
 */
static int suite(int inst)
{
	static redfn ops[4] = { PvmMax, PvmMin, PvmSum, PvmProduct };
	static const char *opn[4] = { "PvmMax", "PvmMin", "PvmSum", "PvmProduct" };
	static const int types[7] = { PVM_SHORT, PVM_INT, PVM_LONG, PVM_FLOAT, PVM_DOUBLE, PVM_CPLX, PVM_DCPLX };
	static const char *typn[7] = { "PVM_SHORT", "PVM_INT", "PVM_LONG", "PVM_FLOAT", "PVM_DOUBLE", "PVM_CPLX", "PVM_DCPLX" };
	int bad = 0, o, t, k, m, cc, root = (inst == 0), tag = 100;
	char what[128];

	for (t = 0; t < 7; t++) {
		for (o = 0; o < 4; o++, tag++) {
			short s[2]; int i[2]; long l[2]; float f[4]; double d[4];
			double want[4], got[4] = { 0, 0, 0, 0 };
			int cplx = (types[t] == PVM_CPLX || types[t] == PVM_DCPLX);
			for (k = 0; k < 2; k++) {
				s[k] = (short)val(inst, k); i[k] = (int)val(inst, k); l[k] = (long)val(inst, k) * 100000L;
			}
			for (k = 0; k < 4; k++) {
				f[k] = (float)val(inst, k); d[k] = val(inst, k);
			}
			switch (types[t]) {
			case PVM_SHORT: cc = pvm_reduce(ops[o], s, 2, PVM_SHORT, tag, "g", 0); break;
			case PVM_INT: cc = pvm_reduce(ops[o], i, 2, PVM_INT, tag, "g", 0); break;
			case PVM_LONG: cc = pvm_reduce(ops[o], l, 2, PVM_LONG, tag, "g", 0); break;
			case PVM_FLOAT: cc = pvm_reduce(ops[o], f, 2, PVM_FLOAT, tag, "g", 0); break;
			case PVM_DOUBLE: cc = pvm_reduce(ops[o], d, 2, PVM_DOUBLE, tag, "g", 0); break;
			case PVM_CPLX: cc = pvm_reduce(ops[o], f, 2, PVM_CPLX, tag, "g", 0); break;
			default: cc = pvm_reduce(ops[o], d, 2, PVM_DCPLX, tag, "g", 0); break;
			}
			if (!root) {
				bad += cc != 0;
				continue;
			}
			snprintf(what, sizeof what, "pvm_reduce %s %s", opn[o], typn[t]);
			CHECK_INT(cc, 0, what);
			if (!cplx) {
				for (k = 0; k < 2; k++) {
					want[k] = val(0, k);
					for (m = 1; m < NMEM; m++)
						want[k] = combine(o, want[k], val(m, k));
				}
				for (k = 0; k < 2; k++)
					got[k] = types[t] == PVM_SHORT ? s[k] : types[t] == PVM_INT ? i[k]
						: types[t] == PVM_LONG ? (double)l[k] / 100000.0
						: types[t] == PVM_FLOAT ? f[k] : d[k];
				if (types[t] == PVM_LONG && o == 3)
					got[0] = got[1] = want[0] = want[1] = 0; /* scaled: checked below */
				snprintf(what, sizeof what, "%s %s values", opn[o], typn[t]);
				CHECK(got[0] == want[0] && got[1] == want[1], what);
			} else {
				/* complex pairs (re, im) = (val(k=0), val(k=1)) and (val(2), val(3)) */
				for (k = 0; k < 2; k++) {
					double wr = val(0, 2 * k), wi = val(0, 2 * k + 1);
					for (m = 1; m < NMEM; m++) {
						double yr = val(m, 2 * k), yi = val(m, 2 * k + 1), nr, ni;
						if (o < 2) {
							double mx = wr * wr + wi * wi, my = yr * yr + yi * yi;
							if ((o == 0 && my > mx) || (o == 1 && my < mx)) { wr = yr; wi = yi; }
						} else if (o == 2) {
							wr += yr; wi += yi;
						} else {
							nr = wr * yr - wi * yi; ni = wr * yi + wi * yr; wr = nr; wi = ni;
						}
					}
					want[2 * k] = wr; want[2 * k + 1] = wi;
				}
				for (k = 0; k < 4; k++)
					got[k] = types[t] == PVM_CPLX ? f[k] : d[k];
				snprintf(what, sizeof what, "%s %s values", opn[o], typn[t]);
				CHECK(got[0] == want[0] && got[1] == want[1] && got[2] == want[2] && got[3] == want[3], what);
			}
		}
	}
	{	/* PVM_LONG product: (1*2)(-2*2)(3*2)(-4*2) scaled by 1e5 each -> exact in long */
		long l = (long)val(inst, 0) * 10L, want = 1;
		cc = pvm_reduce(PvmProduct, &l, 1, PVM_LONG, tag++, "g", 0);
		for (m = 0; m < NMEM; m++)
			want *= (long)val(m, 0) * 10L;
		if (root) {
			CHECK_INT(cc, 0, "pvm_reduce PvmProduct PVM_LONG (scaled)");
			CHECK(l == want, "PvmProduct PVM_LONG value");
		}
	}
	{	/* PVM_BYTE is signed: Max/Min only; Sum/Product fail at the root */
		signed char b[2], b2[2];
		b[0] = b2[0] = (signed char)(inst * 50 - 60); /* -60 -10 40 90 */
		b[1] = b2[1] = (signed char)(inst == 2 ? -100 : inst);
		cc = pvm_reduce(PvmMax, b, 2, PVM_BYTE, tag++, "g", 0);
		if (root) {
			CHECK_INT(cc, 0, "pvm_reduce PvmMax PVM_BYTE");
			CHECK(b[0] == 90 && b[1] == 3, "PvmMax PVM_BYTE values (signed)");
		}
		cc = pvm_reduce(PvmMin, b2, 2, PVM_BYTE, tag++, "g", 0);
		if (root) {
			CHECK_INT(cc, 0, "pvm_reduce PvmMin PVM_BYTE");
			CHECK(b2[0] == -60 && b2[1] == -100, "PvmMin PVM_BYTE values (signed)");
		}
		cc = pvm_reduce(PvmSum, b, 2, PVM_BYTE, tag++, "g", 0);
		if (root)
			CHECK_INT(cc, PvmBadParam, "pvm_reduce PvmSum PVM_BYTE at the root");
		else
			bad += cc != 0;
	}
	{	/* a user function */
		int x = inst + 1, want = 1 + 2 * (2 + 3 + 4);
		cc = pvm_reduce(twice_sum, &x, 1, PVM_INT, tag++, "g", 0);
		if (root) {
			CHECK_INT(cc, 0, "pvm_reduce user function");
			CHECK_INT(x, want, "user function result");
		}
	}
	{	/* gather at instance 0 and at instance 2 */
		int mine[2], all[2 * NMEM], i, ok = 1;
		mine[0] = inst * 10; mine[1] = inst * 10 + 1;
		memset(all, 0, sizeof all);
		cc = pvm_gather(all, mine, 2, PVM_INT, tag++, "g", 0);
		if (root) {
			CHECK_INT(cc, 0, "pvm_gather");
			for (i = 0; i < NMEM; i++)
				ok &= all[2 * i] == i * 10 && all[2 * i + 1] == i * 10 + 1;
			CHECK(ok, "pvm_gather orders the blocks by instance");
		}
		cc = pvm_gather(all, mine, 1, PVM_INT, tag++, "g", 2);
		bad += cc != 0;
		if (inst == 2)
			bad += !(all[0] == 0 && all[1] == 10 && all[2] == 20 && all[3] == 30);
	}
	{	/* scatter from instance 0 */
		double data[2 * NMEM], got2[2] = { -1, -1 };
		int i;
		for (i = 0; i < 2 * NMEM; i++)
			data[i] = 100.5 + i;
		cc = pvm_scatter(got2, root ? data : NULL, 2, PVM_DOUBLE, tag++, "g", 0);
		if (root) {
			CHECK_INT(cc, 0, "pvm_scatter");
			CHECK(got2[0] == 100.5 && got2[1] == 101.5, "pvm_scatter gives the root its own block");
		} else {
			bad += cc != 0;
			bad += !(got2[0] == 100.5 + 2 * inst && got2[1] == 101.5 + 2 * inst);
		}
	}
	return bad;
}

static int child(void)
{
	int parent = pvm_parent(), cmd, arg, v, inst = -1;
	char group[64];
	for (;;) {
		if (wait_msg(parent, TAG_CMD, 60.0) <= 0)
			break;
		pvm_upkint(&cmd, 1, 1);
		pvm_upkstr(group);
		pvm_upkint(&arg, 1, 1);
		switch (cmd) {
		case C_JOIN: v = pvm_joingroup(group); if (!strcmp(group, "g")) inst = v; break;
		case C_LEAVE: v = pvm_lvgroup(group); break;
		case C_BARRIER:
			pvm_initsend(PvmDataDefault);
			pvm_send(parent, TAG_ENTER);
			v = pvm_barrier(group, arg);
			break;
		case C_SUITE: v = suite(inst); break;
		case C_BCAST:
			v = -1;
			if (wait_msg(-1, TAG_BCAST, 20.0) > 0)
				pvm_upkint(&v, 1, 1);
			break;
		case C_FREEZE: v = pvm_freezegroup(group, arg); break;
		case C_DIE: _exit(0);
		default: pvm_exit(); return 0;
		}
		pvm_initsend(PvmDataDefault);
		pvm_pkint(&v, 1, 1);
		pvm_send(parent, TAG_ANS);
	}
	pvm_exit();
	return 1;
}

int main(int argc, char **argv)
{
	const char *self = check_basename(argv[0]);
	int me, k[NKIDS], i, cc, d[4] = { 1, 2, 3, 4 }, r[8], ok, v;
	char *args[] = { "member", NULL };

	if (argc > 1 && pvm_parent() > 0)
		return child();
	me = pvm_mytid();
	CHECK_CMP(me, >, 0, "enrolled");
	pvm_setopt(PvmAutoErr, 0);

	/* errors with no group around (values of PVM 3.4.6) */
	CHECK_INT(pvm_gsize("t_groups_none"), PvmNoGroup, "pvm_gsize of no group");
	CHECK_INT(pvm_gettid("t_groups_none", 0), PvmNoGroup, "pvm_gettid of no group");
	CHECK_INT(pvm_getinst("t_groups_none", me), PvmNoGroup, "pvm_getinst of no group");
	CHECK_INT(pvm_lvgroup("t_groups_none"), PvmNoGroup, "pvm_lvgroup of no group");
	CHECK_INT(pvm_barrier("t_groups_none", 1), PvmNoGroup, "pvm_barrier of no group");
	CHECK_INT(pvm_bcast("t_groups_none", 1), PvmNoGroup, "pvm_bcast to no group");
	CHECK_INT(pvm_freezegroup("t_groups_none", -1), PvmNoGroup, "pvm_freezegroup of no group");
	CHECK_INT(pvm_reduce(PvmSum, d, 1, PVM_INT, 1, "t_groups_none", 0), PvmNoGroup, "pvm_reduce in no group");
	CHECK_INT(pvm_joingroup(NULL), PvmNullGroup, "pvm_joingroup(NULL)");
	CHECK_INT(pvm_joingroup(""), PvmNullGroup, "pvm_joingroup(\"\")");
	CHECK_INT(pvm_gsize(NULL), PvmNullGroup, "pvm_gsize(NULL)");

	/* alone in g */
	CHECK_INT(pvm_joingroup("g"), 0, "first member is instance 0");
	CHECK_INT(pvm_joingroup("g"), PvmDupGroup, "joining twice");
	CHECK_INT(pvm_gsize("g"), 1, "pvm_gsize 1");
	CHECK_INT(pvm_gettid("g", 0), me, "pvm_gettid of instance 0");
	CHECK_INT(pvm_gettid("g", 1), PvmNoInst, "pvm_gettid of a missing instance");
	CHECK_INT(pvm_getinst("g", me), 0, "pvm_getinst of myself");
	CHECK_INT(pvm_getinst("g", 0x40099), PvmNotInGroup, "pvm_getinst of a non-member");
	/* (in another group: PVM 3.4.6's pvmgs keeps answering PvmMismatch after that) */
	CHECK_INT(pvm_joingroup("z"), 0, "joining a second group");
	CHECK_INT(pvm_barrier("z", 0), PvmMismatch, "pvm_barrier count 0");
	CHECK_INT(pvm_barrier("z", -2), PvmMismatch, "pvm_barrier count -2");
	CHECK_INT(pvm_freezegroup("z", 0), PvmMismatch, "pvm_freezegroup size 0");
	CHECK_INT(pvm_lvgroup("z"), 0, "leaving the second group");
	CHECK_INT(pvm_barrier("g", 1), 0, "pvm_barrier of one");
	CHECK_INT(pvm_barrier("g", -1), 0, "pvm_barrier -1 of one");
	pvm_initsend(PvmDataDefault);
	pvm_pkint(d, 1, 1);
	CHECK_INT(pvm_bcast("g", 5), PvmNoInst, "pvm_bcast with nobody else in the group");
	CHECK_INT(pvm_reduce(PvmSum, d, 4, PVM_INT, 3, "g", 0), 0, "pvm_reduce of one");
	CHECK(d[0] == 1 && d[3] == 4, "pvm_reduce of one keeps the data");
	CHECK_INT(pvm_reduce(PvmSum, d, 4, PVM_INT, 3, "g", 1), PvmNoInst, "pvm_reduce to a missing root");
	CHECK_INT(pvm_reduce(PvmMax, d, 4, PVM_UINT, 3, "g", 0), PvmBadParam, "pvm_reduce PVM_UINT");
	CHECK_INT(pvm_reduce(PvmMax, d, 4, 99, 3, "g", 0), PvmBadParam, "pvm_reduce bad type");
	CHECK_INT(pvm_reduce(PvmMax, d, 0, PVM_INT, 3, "g", 0), PvmBadParam, "pvm_reduce count 0");
	CHECK_INT(pvm_gather(r, d, 2, PVM_INT, 4, "g", 0), 0, "pvm_gather of one");
	CHECK(r[0] == 1 && r[1] == 2, "pvm_gather of one copies");
	CHECK_INT(pvm_gather(r, d, 2, PVM_INT, 4, "g", 3), PvmNoInst, "pvm_gather to a missing root");
	CHECK_INT(pvm_gather(r, d, 2, 99, 4, "g", 0), PvmBadParam, "pvm_gather bad type");
	CHECK_INT(pvm_scatter(r, d, 2, PVM_INT, 4, "g", 0), 0, "pvm_scatter of one");
	CHECK_INT(pvm_scatter(r, d, 2, PVM_INT, 4, "g", 2), PvmNoInst, "pvm_scatter from a missing root");

	/* the predefined functions called directly */
	{
		int dt = PVM_INT, x[2] = { 1, 5 }, y[2] = { 3, 2 }, n = 2, info = -99;
		signed char bx = 1, by = 2;
		PvmMax(&dt, x, y, &n, &info);
		CHECK(x[0] == 3 && x[1] == 5 && info == 0, "PvmMax called directly");
		PvmProduct(&dt, x, y, &n, &info);
		CHECK(x[0] == 9 && x[1] == 10 && info == 0, "PvmProduct called directly");
		dt = PVM_BYTE; n = 1;
		PvmSum(&dt, &bx, &by, &n, &info);
		CHECK_INT(info, PvmBadParam, "PvmSum on PVM_BYTE sets info");
	}

	/* three members more */
	if (pvm_spawn((char *)self, args, PvmTaskDefault, "", NKIDS, k) != NKIDS) {
		CHECK(0, "spawn the members");
		pvm_exit();
		return check_done();
	}
	for (i = 0; i < NKIDS; i++)
		CHECK_INT(ask(k[i], C_JOIN, "g", 0), i + 1, "members get instances 1, 2, 3 in join order");
	CHECK_INT(pvm_gsize("g"), NMEM, "pvm_gsize 4");
	for (ok = 1, i = 0; i < NKIDS; i++)
		ok &= pvm_gettid("g", i + 1) == k[i] && pvm_getinst("g", k[i]) == i + 1;
	CHECK(ok, "pvm_gettid and pvm_getinst agree");

	/* instance reuse: instance 2 leaves, its number goes to the next join */
	CHECK_INT(ask(k[1], C_LEAVE, "g", 0), 0, "pvm_lvgroup");
	CHECK_INT(ask(k[1], C_LEAVE, "g", 0), PvmNotInGroup, "pvm_lvgroup when not a member");
	CHECK_INT(pvm_gsize("g"), NMEM - 1, "pvm_gsize after a leave");
	CHECK_INT(pvm_gettid("g", 2), PvmNoInst, "the left instance is gone");
	CHECK_INT(pvm_barrier("t_groups_none", 1), PvmNoGroup, "still no such group");
	CHECK_INT(ask(k[1], C_JOIN, "g", 0), 2, "a new join takes the lowest free instance");

	/* barriers */
	for (i = 0; i < NKIDS; i++)
		command(k[i], C_BARRIER, "g", -1);
	CHECK_INT(pvm_barrier("g", -1), 0, "pvm_barrier -1 with four members");
	for (ok = 1, i = 0; i < NKIDS; i++)
		ok &= answer(k[i]) == 0;
	CHECK(ok, "every member passed the barrier");
	command(k[0], C_BARRIER, "g", 2);
	CHECK_INT(pvm_barrier("g", 2), 0, "pvm_barrier count 2 passes with two callers");
	CHECK_INT(answer(k[0]), 0, "the other caller passed too");
	drain_enter();
	command(k[2], C_BARRIER, "g", 3);
	if (entered(k[2]))
		CHECK_INT(pvm_barrier("g", 2), PvmMismatch, "pvm_barrier with another count than the one in progress");
	command(k[1], C_BARRIER, "g", 3);
	CHECK_INT(pvm_barrier("g", 3), 0, "the barrier in progress completes");
	CHECK(answer(k[2]) == 0 && answer(k[1]) == 0, "its callers pass");

	/* bcast: everyone but the caller */
	for (i = 0; i < NKIDS; i++)
		command(k[i], C_BCAST, "g", 0);
	pvm_initsend(PvmDataDefault);
	v = 42;
	pvm_pkint(&v, 1, 1);
	CHECK_INT(pvm_bcast("g", -1), PvmBadParam, "pvm_bcast with a negative tag");
	CHECK_INT(pvm_bcast("g", TAG_BCAST), 0, "pvm_bcast");
	for (ok = 1, i = 0; i < NKIDS; i++)
		ok &= answer(k[i]) == 42;
	CHECK(ok, "every other member received the broadcast");
	CHECK_INT(pvm_nrecv(-1, TAG_BCAST), 0, "the caller did not");

	/* reduce, gather, scatter */
	for (i = 0; i < NKIDS; i++)
		command(k[i], C_SUITE, "g", 0);
	suite(0);
	for (ok = 1, i = 0; i < NKIDS; i++)
		ok &= answer(k[i]) == 0;
	CHECK(ok, "the members' collective calls all succeeded with the right data");
	drain_enter();
	CHECK_INT(pvm_nrecv(-1, -1), 0, "no group-internal message reaches pvm_recv");

	/* freeze */
	for (i = 0; i < NKIDS; i++)
		command(k[i], C_FREEZE, "g", -1);
	CHECK_INT(pvm_freezegroup("g", -1), NMEM, "pvm_freezegroup returns the size");
	for (ok = 1, i = 0; i < NKIDS; i++)
		ok &= answer(k[i]) == NMEM;
	CHECK(ok, "every member's pvm_freezegroup returned the size");
	CHECK_INT(pvm_freezegroup("g", -1), PvmDupGroup, "freezing a frozen group");
	CHECK_INT(pvm_gsize("g"), NMEM, "pvm_gsize of the frozen group");
	CHECK_INT(pvm_gettid("g", 3), k[2], "pvm_gettid in the frozen group");
	CHECK_INT(ask(k[0], C_JOIN, "g", 0), PvmNotInGroup, "joining a frozen group (as PVM 3.4.6)");

	/* a member lost during barriers: dynamic group -> PvmNoInst, frozen -> PvmNoGroup */
	CHECK_INT(ask(k[0], C_JOIN, "d", 0), 0, "member 1 joins d");
	CHECK_INT(ask(k[1], C_JOIN, "d", 0), 1, "member 2 joins d");
	command(k[0], C_BARRIER, "d", 2);
	command(k[2], C_BARRIER, "g", NMEM);
	CHECK(entered(k[0]) && entered(k[2]), "two members wait in barriers");
	command(k[1], C_DIE, "", 0);
	CHECK_INT(answer(k[0]), PvmNoInst, "a dynamic group's barrier fails with PvmNoInst when a member exits");
	CHECK_INT(answer(k[2]), PvmNoGroup, "a frozen group's barrier fails with PvmNoGroup when a member exits");
	CHECK_INT(pvm_barrier("g", 1), PvmNoGroup, "later barriers on the defunct frozen group fail");
	CHECK_INT(pvm_gsize("d"), 1, "the lost member left d");

	command(k[0], C_EXIT, "", 0);
	command(k[2], C_EXIT, "", 0);
	CHECK_INT(pvm_lvgroup("g"), 0, "leaving the frozen group");
	cc = pvm_exit();
	CHECK_INT(cc, 0, "pvm_exit");
	return check_done();
}
