/*
 * t_stride.c - pvm_pk* / pvm_upk* with a stride of 0 or below, which
 * PVM 3.4.6 accepts (Debian's srm.pvm unpacks with stride 0): stride 0
 * packs the same item again and again and unpacks every item into the same
 * place (the last stays); a negative stride walks backwards.
 */
#include "pvm3.h"
#include "check.h"

int main(void)
{
	int a[4] = { 7, 8, 9, 10 }, o[4] = { 0, 0, 0, 0 }, all[5] = { 0, 0, 0, 0, 0 };
	int bytes = 0, tag, src;
	double d[2] = { 1.5, 2.5 }, e[2] = { 0, 0 };

	CHECK_CMP(pvm_mytid(), >, 0, "enrolled");
	pvm_initsend(PvmDataDefault);
	CHECK_INT(pvm_pkint(a, 1, 0), 0, "pkint 1 item, stride 0");
	CHECK_INT(pvm_pkint(a, 2, 0), 0, "pkint 2 items, stride 0");
	CHECK_INT(pvm_pkint(a + 3, 2, -1), 0, "pkint 2 items, stride -1");
	CHECK_INT(pvm_pkdouble(d + 1, 2, -1), 0, "pkdouble 2 items, stride -1");
	pvm_bufinfo(pvm_getsbuf(), &bytes, &tag, &src);
	CHECK_INT(bytes, 36, "five ints and two doubles");
	pvm_setrbuf(pvm_setsbuf(0));
	CHECK_INT(pvm_upkint(all, 5, 1), 0, "unpack the ints in order");
	CHECK(all[0] == 7 && all[1] == 7 && all[2] == 7 && all[3] == 10 && all[4] == 9,
	      "7 / 7 7 / 10 9");
	CHECK_INT(pvm_upkdouble(e, 2, 1), 0, "unpack the doubles");
	CHECK(e[0] == 2.5 && e[1] == 1.5, "backwards: 2.5 1.5");

	pvm_initsend(PvmDataDefault);
	pvm_pkint(a, 4, 1);
	pvm_setrbuf(pvm_setsbuf(0));
	CHECK_INT(pvm_upkint(o, 1, 0), 0, "upkint 1 item, stride 0");
	CHECK_INT(o[0], 7, "the item");
	CHECK_INT(pvm_upkint(o + 1, 2, 0), 0, "upkint 2 items, stride 0");
	CHECK(o[1] == 9 && o[2] == 0, "the last of the two stays, nothing beside it");
	CHECK_INT(pvm_upkint(o + 3, 1, -1), 0, "upkint 1 item, stride -1");
	CHECK_INT(o[3], 10, "the last item");
	CHECK_INT(pvm_upkint(o, -1, 1), PvmBadParam, "a negative count stays PvmBadParam");
	pvm_exit();
	return check_done();
}
