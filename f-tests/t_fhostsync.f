c t_fhostsync.f -- pvmfhostsync: the host's clock and the delta, local
c clock minus the host's.  The runner starts the daemon with
c PVM6_CLOCK_SKEW_US=-1250000 (its clock answers 1.25 s behind), so
c delta must be +1.25 s: deltasec 1, deltausec about 250000.
      program fhostsync
      include 'fpvm3.h'
      integer mytid, dtid, info, i
      integer clksec, clkusec, dsec, dusec
      integer*8 now

      call tapini
      call pvmfmytid(mytid)
      call truth('pvmfmytid gives a tid', mytid .gt. 0)
      call pvmftidtohost(mytid, dtid)

      do 10 i = 1, 2
         now = time8()
         call pvmfhostsync(dtid, clksec, clkusec, dsec, dusec, info)
         call ieq('pvmfhostsync info', info, PvmOk)
         call ieq('deltasec: a host behind gives a positive delta',
     &      dsec, 1)
         call truth('deltausec about 250000',
     &      dusec .gt. 240000 .and. dusec .lt. 260000)
         call truth('clksec is the host clock, 1.25 s behind',
     &      abs(int(clksec - (now - 1))) .le. 2)
         call truth('clkusec normalised',
     &      clkusec .ge. 0 .and. clkusec .lt. 1000000)
 10   continue

      call pvmfsetopt(PVMAUTOERR, 0, info)
      call pvmfhostsync(291, clksec, clkusec, dsec, dusec, info)
      call ieq('pvmfhostsync of no host', info, PvmNoHost)

      call tapend
      end
