c tap.f -- TAP-style checks for the Fortran tests: each check prints
c "ok N - what" or "not ok N - what (expected X got Y)".  tapend
c leaves PVM and stops with status 1 when a check failed.
      subroutine tapini
      include 'tap.inc'
      npass = 0
      nfail = 0
      ncheck = 0
      end

      subroutine ieq(what, got, want)
      character*(*) what
      integer got, want
      include 'tap.inc'
      ncheck = ncheck + 1
      if (got .eq. want) then
         npass = npass + 1
         write (*, '(a,i0,a,a)') 'ok ', ncheck, ' - ', what
      else
         nfail = nfail + 1
         write (*, '(a,i0,a,a,a,i0,a,i0,a)') 'not ok ', ncheck, ' - ',
     &      what, ' (expected ', want, ' got ', got, ')'
      endif
      end

      subroutine truth(what, cond)
      character*(*) what
      logical cond
      include 'tap.inc'
      ncheck = ncheck + 1
      if (cond) then
         npass = npass + 1
         write (*, '(a,i0,a,a)') 'ok ', ncheck, ' - ', what
      else
         nfail = nfail + 1
         write (*, '(a,i0,a,a,a)') 'not ok ', ncheck, ' - ', what,
     &      ' (condition false)'
      endif
      end

      subroutine seq(what, got, want)
      character*(*) what, got, want
      include 'tap.inc'
      ncheck = ncheck + 1
      if (got .eq. want) then
         npass = npass + 1
         write (*, '(a,i0,a,a)') 'ok ', ncheck, ' - ', what
      else
         nfail = nfail + 1
         write (*, '(a,i0,a,a,a,a,a,a,a)') 'not ok ', ncheck, ' - ',
     &      what, ' (expected "', want, '" got "', got, '")'
      endif
      end

      subroutine tapend
      integer info
      include 'tap.inc'
      write (*, '(a,i0,a,i0,a)') '# ', npass, ' passed, ', nfail,
     &   ' failed'
      call flush(6)
      call pvmfexit(info)
      if (nfail .gt. 0) stop 1
      end
