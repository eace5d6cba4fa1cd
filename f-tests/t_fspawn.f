c t_fspawn.f -- spawning from Fortran: the parent starts three copies
c of this program, multicasts work to them, collects their answers,
c watches them exit with pvmfnotify and catches their output with
c pvmfcatchout; a fourth copy is killed.  Children find their role
c with pvmfparent.
      program fspawn
      include 'fpvm3.h'
      integer mytid, ptid, info, buf, i, j, n, numt, who, tag
      integer tids(4), seen(3), ntids, sib, ntask, tid, pt, dt, fl
      integer exited, old
      real*8 data(10), part, want
      character*32 aout

      call pvmfmytid(mytid)
      call pvmfparent(ptid)
      if (ptid .gt. 0) then
         call child(mytid, ptid)
         stop
      endif

      call tapini
      call pvmfsetopt(PVMAUTOERR, 0, old)
      call pvmfcatchout(1, info)
      call ieq('pvmfcatchout on', info, PvmOk)
      call pvmfspawn('t_fspawn', PVMTASKDEFAULT, '*', 3, tids, numt)
      call ieq('pvmfspawn numt', numt, 3)
      call truth('tids are task ids', tids(1) .gt. 0 .and.
     &   tids(2) .gt. 0 .and. tids(3) .gt. 0)
      call pvmfnotify(PVMTASKEXIT, 77, 3, tids, info)
      call ieq('pvmfnotify', info, PvmOk)

c     the task table now has this task and its three children
      ntask = -1
      n = 0
      do 5 i = 1, 8
         call pvmftasks(0, ntask, tid, pt, dt, fl, aout, info)
         if (pt .eq. mytid) n = n + 1
         if (tid .eq. tids(1)) call seq('pvmftasks a.out', aout,
     &      't_fspawn')
         if (i .ge. ntask) goto 6
    5 continue
    6 continue
      call truth('pvmftasks ntask', ntask .ge. 4)
      call ieq('pvmftasks children', n, 3)

      do 10 i = 1, 10
         data(i) = i
   10 continue
      call pvmfinitsend(PVMDEFAULT, buf)
      n = 10
      call pvmfpack(INTEGER4, n, 1, 1, info)
      call pvmfpack(INTEGER4, tids, 3, 1, info)
      call pvmfpack(REAL8, data, n, 1, info)
      call pvmfmcast(3, tids, 1, info)
      call ieq('pvmfmcast', info, PvmOk)

      seen(1) = 0
      seen(2) = 0
      seen(3) = 0
      do 20 j = 1, 3
         call pvmfrecv(-1, 2, buf)
         call pvmfbufinfo(buf, n, tag, tid, info)
         call pvmfunpack(INTEGER4, who, 1, 1, info)
         call pvmfunpack(REAL8, part, 1, 1, info)
         call pvmfunpack(INTEGER4, ntids, 1, 1, info)
         call pvmfunpack(INTEGER4, sib, 1, 1, info)
         want = 55.0d0 * who
         if (who .ge. 1 .and. who .le. 3) then
            seen(who) = seen(who) + 1
            call truth('answer of a child', part .eq. want)
            call ieq('child knows its siblings', ntids, 3)
            call ieq('sibling 0 is the first child', sib, tids(1))
            call ieq('child sent from its tid', tid, tids(who))
         endif
   20 continue
      call truth('one answer per child', seen(1) .eq. 1 .and.
     &   seen(2) .eq. 1 .and. seen(3) .eq. 1)

      exited = 0
      do 30 j = 1, 3
         call pvmftrecv(-1, 77, 20, 0, buf)
         if (buf .gt. 0) then
            call pvmfunpack(INTEGER4, tid, 1, 1, info)
            do 25 i = 1, 3
               if (tid .eq. tids(i)) exited = exited + 1
   25       continue
         endif
   30 continue
      call ieq('task-exit notifications', exited, 3)

c     a child that waits for ever, then killed
      call pvmfspawn('t_fspawn', PVMTASKDEFAULT, ' ', 1, tids(4),
     &   numt)
      call ieq('pvmfspawn with a blank where', numt, 1)
      call pvmfpstat(tids(4), info)
      call ieq('pvmfpstat of the new child', info, PvmOk)
      call pvmfkill(tids(4), info)
      call ieq('pvmfkill', info, PvmOk)
      do 40 i = 1, 100
         call pvmfpstat(tids(4), info)
         if (info .eq. PvmNoTask) goto 41
         call pvmftrecv(-1, 9999, 0, 50000, buf)
   40 continue
   41 continue
      call ieq('pvmfpstat after pvmfkill', info, PvmNoTask)

      call pvmfcatchout(0, info)
      call ieq('pvmfcatchout off', info, PvmOk)
      call tapend
      end

c     A child: the first message says how much work there is; the
c     fourth child never gets one and waits until it is killed.
      subroutine child(mytid, ptid)
      include 'fpvm3.h'
      integer mytid, ptid, info, buf, n, i, me, tids(3), ntids, sib
      real*8 data(10), s
      call pvmfrecv(ptid, 1, buf)
      call pvmfunpack(INTEGER4, n, 1, 1, info)
      call pvmfunpack(INTEGER4, tids, 3, 1, info)
      call pvmfunpack(REAL8, data, n, 1, info)
      me = 0
      do 10 i = 1, 3
         if (tids(i) .eq. mytid) me = i
   10 continue
      s = 0
      do 20 i = 1, n
         s = s + data(i)
   20 continue
      call pvmfsiblings(ntids, 0, sib)
      write (*, '(a,i0,a)') 'child ', me, ' here'
      call flush(6)
      call pvmfinitsend(PVMDEFAULT, buf)
      call pvmfpack(INTEGER4, me, 1, 1, info)
      s = s * me
      call pvmfpack(REAL8, s, 1, 1, info)
      call pvmfpack(INTEGER4, ntids, 1, 1, info)
      call pvmfpack(INTEGER4, sib, 1, 1, info)
      call pvmfsend(ptid, 2, info)
      call pvmfexit(info)
      end
