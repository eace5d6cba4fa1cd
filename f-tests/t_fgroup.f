c t_fgroup.f -- group calls from Fortran: four members (this task and
c three spawned copies) join 'fgrp', meet at barriers, broadcast,
c reduce with pvmsum, pvmmax, pvmmin, pvmproduct and a Fortran
c subroutine, gather and scatter.  Instance 0 checks and reports.
      program fgroup
      include 'fpvm3.h'
      external pvmsum, pvmmax, pvmmin, pvmproduct, addsq
      integer mytid, ptid, info, inst, i, n, tids(3), numt, tid, sz
      integer ival(3), all(12), mine(3), old, buf
      real*8 dval(2)
      character*40 gname
      character*32 longg
      logical root

      call pvmfmytid(mytid)
      call pvmfparent(ptid)
      root = ptid .lt. 0
      call tapini
      call pvmfsetopt(PVMAUTOERR, 0, old)
      gname = 'fgrp'

      if (root) then
         call pvmfgsize('fgrp', sz)
         call truth('pvmfgsize of an unknown group fails', sz .lt. 0)
         call pvmflvgroup('fgrp', info)
         call truth('pvmflvgroup before joining fails', info .lt. 0)
         longg = 'g'
         longg(32:32) = 'g'
         call pvmfjoingroup(longg, inst)
         call ieq('pvmfjoingroup of a 32-character name', inst,
     &      PvmBadParam)
      endif

      call pvmfjoingroup(gname, inst)
      if (root) then
         call ieq('pvmfjoingroup: first instance', inst, 0)
         call pvmfspawn('t_fgroup', PVMDEFAULT, '*', 3, tids, numt)
         call ieq('pvmfspawn numt', numt, 3)
      endif
      call pvmffreezegroup('fgrp', 4, info)
      call pvmfbarrier('fgrp  ', 4, info)
      if (root) call ieq('pvmfbarrier', info, PvmOk)
      call pvmfgsize('fgrp', sz)
      if (root) call ieq('pvmfgsize', sz, 4)
      call pvmfgettid('fgrp', inst, tid)
      if (root) call ieq('pvmfgettid of my instance', tid, mytid)
      call pvmfgetinst('fgrp', mytid, i)
      if (root) call ieq('pvmfgetinst of my tid', i, inst)

c     broadcast from instance 0
      if (inst .eq. 0) then
         call pvmfinitsend(PVMDEFAULT, buf)
         call pvmfpack(INTEGER4, 31337, 1, 1, info)
         call pvmfbcast('fgrp', 5, info)
         call ieq('pvmfbcast', info, PvmOk)
      else
         call pvmfrecv(-1, 5, buf)
         call pvmfunpack(INTEGER4, i, 1, 1, info)
         if (i .ne. 31337) stop 3
      endif

c     reductions: instance k contributes (k+1, 10*(k+1), -(k+1))
      do 10 i = 1, 3
         ival(i) = (inst + 1) * 10 ** (i - 1)
   10 continue
      ival(3) = -ival(1)
      call pvmfreduce(pvmsum, ival, 3, INTEGER4, 6, 'fgrp', 0, info)
      if (inst .eq. 0) then
         call ieq('pvmfreduce pvmsum info', info, PvmOk)
         call ieq('pvmsum (1)', ival(1), 10)
         call ieq('pvmsum (2)', ival(2), 100)
         call ieq('pvmsum (3)', ival(3), -10)
      endif
      dval(1) = inst + 1.5d0
      dval(2) = -inst
      call pvmfreduce(pvmmax, dval, 2, REAL8, 7, 'fgrp', 0, info)
      if (inst .eq. 0) call truth('pvmmax REAL8',
     &   dval(1) .eq. 4.5d0 .and. dval(2) .eq. 0.0d0)
      ival(1) = inst + 3
      call pvmfreduce(pvmmin, ival, 1, INTEGER4, 8, 'fgrp', 0, info)
      if (inst .eq. 0) call ieq('pvmmin INTEGER4', ival(1), 3)
      dval(1) = inst + 1
      call pvmfreduce(pvmproduct, dval, 1, REAL8, 9, 'fgrp', 0, info)
      if (inst .eq. 0) call truth('pvmproduct REAL8',
     &   dval(1) .eq. 24.0d0)
      ival(1) = inst + 1
      call pvmfreduce(addsq, ival, 1, INTEGER4, 10, 'fgrp', 0, info)
      if (inst .eq. 0) call ieq('user reduction: sum of squares',
     &   ival(1), 30)

c     gather three values from each instance, then scatter them back
      do 20 i = 1, 3
         mine(i) = 100 * inst + i
   20 continue
      call pvmfgather(all, mine, 3, INTEGER4, 11, 'fgrp', 0, info)
      if (inst .eq. 0) then
         call ieq('pvmfgather info', info, PvmOk)
         n = 0
         do 30 i = 1, 12
            if (all(i) .eq. 100 * ((i - 1) / 3) + mod(i - 1, 3) + 1)
     &         n = n + 1
   30    continue
         call ieq('gathered values in instance order', n, 12)
         do 35 i = 1, 12
            all(i) = all(i) + 1000
   35    continue
      endif
      call pvmfscatter(mine, all, 3, INTEGER4, 12, 'fgrp', 0, info)
      if (inst .ne. 0 .and. mine(2) .ne. 1000 + 100 * inst + 2) stop 4
      if (inst .eq. 0) call ieq('pvmfscatter to instance 0', mine(2),
     &   1002)

      call pvmfbarrier('fgrp', 4, info)
      call pvmflvgroup('fgrp', info)
      if (root) then
         call ieq('pvmflvgroup', info, PvmOk)
         call tapend
      else
         call pvmfexit(info)
      endif
      end

c     A reduction written in Fortran, called by PVM as
c     f(datatype, x, y, num, info): x is the running result, y the
c     next member's values.  It adds the squares of y to x, so with
c     contributions 1, 2, 3, 4 the result is 1 + 4 + 9 + 16 = 30.
      subroutine addsq(dtype, x, y, num, info)
      integer dtype, x(*), y(*), num, info, i
      do 10 i = 1, num
         x(i) = x(i) + y(i) * y(i)
   10 continue
      info = 0
      end
