c t_fbasic.f -- identity, machine tables, options, contexts, buffers
c and the info codes of failing calls, in one task.
      program fbasic
      include 'fpvm3.h'
      integer mytid, tid, info, i, n, nhost, narch, dtid, speed
      integer ntask, ptid, flag, old, ctx, ctx2, buf, buf2, bytes
      integer tag, src, cod, ntids, sib
      character*64 host, arch, aout
      character*3 short
      character*300 longn

      call tapini
      call pvmfmytid(mytid)
      call truth('pvmfmytid gives a tid', mytid .gt. 0)
      call pvmfmytid(tid)
      call ieq('pvmfmytid again gives the same tid', tid, mytid)
      call pvmfparent(tid)
      call ieq('pvmfparent without parent', tid, PvmNoParent)
      call pvmfpstat(mytid, info)
      call ieq('pvmfpstat of myself', info, PvmOk)
      call pvmftidtohost(mytid, dtid)
      call ieq('pvmftidtohost gives the host part', dtid, 262144)

c     silence the library's own error messages for the error paths
      call pvmfsetopt(PVMAUTOERR, 0, old)
      call ieq('pvmfsetopt returns the old PvmAutoErr', old, 1)
      call pvmfgetopt(PVMAUTOERR, i)
      call ieq('pvmfgetopt reads it back', i, 0)
      call pvmfsetopt(12345, 1, old)
      call ieq('pvmfsetopt of an unknown option', old, PvmBadParam)

c     the host table, one host per call, names blank-padded
      host = 'x'
      arch = 'x'
      call pvmfconfig(nhost, narch, dtid, host, arch, speed, info)
      call ieq('pvmfconfig info is 1 per host delivered', info, 1)
      call ieq('pvmfconfig nhost', nhost, 1)
      call ieq('pvmfconfig narch', narch, 1)
      call ieq('pvmfconfig dtid', dtid, 262144)
      call seq('pvmfconfig arch', arch, 'LINUX64')
      call truth('pvmfconfig arch blank-padded', arch(8:64) .eq. ' ')
      call truth('pvmfconfig host name set', host .ne. 'x' .and.
     &   host .ne. ' ')
      call truth('pvmfconfig speed positive', speed .gt. 0)
      n = -1
      call pvmfconfig(n, narch, dtid, host, short, speed, info)
      call seq('pvmfconfig arch cut to CHARACTER*3', short, 'LIN')

c     the task table: just this task
      aout = 'x'
      ntask = -1
      call pvmftasks(mytid, ntask, tid, ptid, dtid, flag, aout, info)
      call ieq('pvmftasks info is 1 per task delivered', info, 1)
      call ieq('pvmftasks ntask', ntask, 1)
      call ieq('pvmftasks tid', tid, mytid)
      call ieq('pvmftasks ptid', ptid, 0)
      call ieq('pvmftasks dtid', dtid, 262144)
      call truth('pvmftasks a.out blank-padded',
     &   aout(len(aout):len(aout)) .eq. ' ')
      call pvmftasks(-99, ntask, tid, ptid, dtid, flag, aout, info)
      call truth('pvmftasks of a bad where is an error', info .lt. 0)

      call pvmfsiblings(ntids, -1, sib)
      call ieq('pvmfsiblings count', ntids, 1)
      call ieq('pvmfsiblings index -1', sib, PvmNoTask)
      call pvmfsiblings(ntids, 0, sib)
      call ieq('pvmfsiblings index 0 is myself', sib, mytid)

      call pvmfarchcode('LINUX64', cod)
      call truth('pvmfarchcode LINUX64', cod .gt. 0)
      call pvmfarchcode('NOSUCHARCH      ', cod)
      call ieq('pvmfarchcode of an unknown arch', cod, PvmNotFound)
      call pvmfmstat(host, info)
      call ieq('pvmfmstat of my host (blank-padded)', info, PvmOk)
      call pvmfmstat('no.such.host.invalid', info)
      call ieq('pvmfmstat of an unknown host', info, PvmNoHost)
      longn = 'x'
      longn(300:300) = 'y'
      call pvmfmstat(longn, info)
      call ieq('pvmfmstat of a 300-character name', info, PvmBadParam)

c     contexts
      call pvmfnewcontext(ctx)
      call truth('pvmfnewcontext', ctx .gt. 0)
      call pvmfsetcontext(ctx, old)
      call ieq('pvmfsetcontext returns the base context', old, 0)
      call pvmfgetcontext(ctx2)
      call ieq('pvmfgetcontext', ctx2, ctx)
      call pvmfsetcontext(0, old)
      call ieq('pvmfsetcontext back', old, ctx)
      call pvmffreecontext(ctx, info)
      call ieq('pvmffreecontext', info, PvmOk)

c     buffers
      call pvmfmkbuf(PVMDATADEFAULT, buf)
      call truth('pvmfmkbuf', buf .gt. 0)
      call pvmfsetsbuf(buf, old)
      call pvmfgetsbuf(buf2)
      call ieq('pvmfgetsbuf after pvmfsetsbuf', buf2, buf)
      call pvmfpack(INTEGER4, 7, 1, 1, info)
      call ieq('pvmfpack into it', info, PvmOk)
      call pvmfsend(mytid, 33, info)
      call ieq('pvmfsend to myself', info, PvmOk)
      call pvmfrecv(-1, 33, buf2)
      call truth('pvmfrecv', buf2 .gt. 0)
      call pvmfgetrbuf(i)
      call ieq('pvmfgetrbuf', i, buf2)
      call pvmfbufinfo(buf2, bytes, tag, src, info)
      call ieq('pvmfbufinfo info', info, PvmOk)
      call ieq('pvmfbufinfo bytes', bytes, 4)
      call ieq('pvmfbufinfo tag', tag, 33)
      call ieq('pvmfbufinfo src', src, mytid)
      call pvmfsetrbuf(0, old)
      call ieq('pvmfsetrbuf returns the old one', old, buf2)
      call pvmffreebuf(buf2, info)
      call ieq('pvmffreebuf', info, PvmOk)
      call pvmffreebuf(buf2, info)
      call ieq('pvmffreebuf twice', info, PvmNoSuchBuf)
      call pvmfunpack(INTEGER4, i, 1, 1, info)
      call ieq('pvmfunpack without a receive buffer', info, PvmNoBuf)
      call pvmfinitsend(PVMDEFAULT, buf)
      call pvmfpack(99, i, 1, 1, info)
      call ieq('pvmfpack of type 99', info, PvmBadParam)
      call pvmfunpack(-1, i, 1, 1, info)
      call ieq('pvmfunpack of type -1', info, PvmBadParam)
      call pvmfpack(INTEGER4, i, -1, 1, info)
      call ieq('pvmfpack of -1 items', info, PvmBadParam)

c     failing message calls
      call pvmfsend(0, 1, info)
      call ieq('pvmfsend to tid 0', info, PvmBadParam)
      call pvmfsend(mytid, -5, info)
      call ieq('pvmfsend with tag -5', info, PvmBadParam)
      call pvmfnrecv(-1, 4444, buf)
      call ieq('pvmfnrecv with nothing there', buf, 0)
      call pvmfprobe(-1, 4444, buf)
      call ieq('pvmfprobe with nothing there', buf, 0)
      call pvmftrecv(-1, 4444, 0, 20000, buf)
      call ieq('pvmftrecv times out', buf, 0)
      call pvmfkill(0, info)
      call ieq('pvmfkill of tid 0', info, PvmBadParam)
      call pvmfsendsig(mytid, 18, info)
      call ieq('pvmfsendsig of SIGCONT to myself', info, PvmOk)
      call pvmfpstat(mytid + 1000, info)
      call ieq('pvmfpstat of no task', info, PvmNoTask)
      n = 1
      call pvmfnotify(99, 5, n, mytid, info)
      call ieq('pvmfnotify of event 99', info, PvmBadParam)

      call tapend
      end
