//! Fortran process control, host and task tables, options, output and
//! notification, message handlers: pvmfmytid ... pvmfsleep (conventions in
//! `mod.rs`).

use super::*;
use crate::ffi::globals::{HOST_CYCLE, SIBLINGS, TASK_CYCLE};
use crate::ffi::misc::CHandler;
use crate::ffi::types::{PvmHostInfo, PvmTaskInfo};
use crate::ffi::{misc, notify, process};
use std::ffi::{c_char, c_int, c_void};

/// `call pvmfmytid(tid)`: enrolls in PVM; `tid` is the task id or an error.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfmytid_(tid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfmytid", tid, || Ok(process::pvm_mytid())) }
}

/// `call pvmfparent(tid)`: the parent's tid or PvmNoParent.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfparent_(tid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfparent", tid, || Ok(process::pvm_parent())) }
}

/// `call pvmfexit(info)`: leaves PVM.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfexit_(info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfexit", info, || Ok(process::pvm_exit())) }
}

/// `call pvmfspawn(task, flag, where, ntask, tids, numt)`: starts `ntask`
/// copies of `task`; `where` beginning with `*` means anywhere. Fortran
/// passes no argument vector.
///
/// # Safety
/// Arguments by reference as described in the module docs; `tids` has room
/// for `ntask` integers.
#[no_mangle]
pub unsafe extern "C" fn pvmfspawn_(
    task: *const c_char,
    flag: *const c_int,
    where_: *const c_char,
    ntask: *const c_int,
    tids: *mut c_int,
    numt: *mut c_int,
    task_len: FLen,
    where_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfspawn", numt, || {
            let file = fcstr(task, task_len, MAX_NAME)?;
            let any = fbytes(where_, where_len).is_some_and(|w| w.first() == Some(&b'*'));
            let place = if any {
                CString::default()
            } else {
                fcstr(where_, where_len, MAX_NAME)?
            };
            Ok(process::pvm_spawn(
                file.as_ptr() as *mut c_char,
                std::ptr::null_mut(),
                arg(flag)?,
                place.as_ptr() as *mut c_char,
                arg(ntask)?,
                tids,
            ))
        })
    }
}

/// `call pvmfkill(tid, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfkill_(tid: *const c_int, info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfkill", info, || Ok(process::pvm_kill(arg(tid)?))) }
}

/// `call pvmfsendsig(tid, signum, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsendsig_(tid: *const c_int, signum: *const c_int, info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsendsig", info, || {
            Ok(process::pvm_sendsig(arg(tid)?, arg(signum)?))
        })
    }
}

/// `call pvmfpstat(tid, status)`: PvmOk when the task runs.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfpstat_(tid: *const c_int, status: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfpstat", status, || Ok(process::pvm_pstat(arg(tid)?))) }
}

/// `call pvmfmstat(host, mstat)`: PvmOk when the host is in the machine.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfmstat_(host: *const c_char, mstat: *mut c_int, host_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfmstat", mstat, || {
            let h = fcstr(host, host_len, MAX_NAME)?;
            Ok(process::pvm_mstat(h.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmftidtohost(tid, dtid)`: the daemon tid of the task's host.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmftidtohost_(tid: *const c_int, dtid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmftidtohost", dtid, || {
            Ok(process::pvm_tidtohost(arg(tid)?))
        })
    }
}

/// `call pvmfarchcode(arch, cod)`: the data-format class of `arch`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfarchcode_(arch: *const c_char, cod: *mut c_int, arch_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfarchcode", cod, || {
            let a = fcstr(arch, arch_len, MAX_NAME)?;
            Ok(process::pvm_archcode(a.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmfperror(msg, info)`: prints `msg` (all of it, trailing blanks
/// included, as the original does) and the text of the last error.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfperror_(msg: *const c_char, info: *mut c_int, msg_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfperror", info, || {
            let raw = fbytes(msg, msg_len).unwrap_or_default();
            let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
            let m = CString::new(&raw[..end]).map_err(|_| Error::BadParam)?;
            Ok(process::pvm_perror(m.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmfhalt(info)`: stops the virtual machine.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfhalt_(info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfhalt", info, || Ok(process::pvm_halt())) }
}

/// `call pvmfgetopt(what, val)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetopt_(what: *const c_int, val: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfgetopt", val, || Ok(process::pvm_getopt(arg(what)?))) }
}

/// `call pvmfsetopt(what, val, oldval)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsetopt_(what: *const c_int, val: *const c_int, oldval: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsetopt", oldval, || {
            Ok(process::pvm_setopt(arg(what)?, arg(val)?))
        })
    }
}

/// `call pvmfconfig(nhost, narch, dtid, name, arch, speed, info)`: one host
/// per call. The first call of a cycle takes a snapshot of the machine;
/// `nhost` and the hosts stay those of the snapshot until the last one has
/// been delivered; `nhost = -1` on entry starts a new cycle. `info` is 1
/// for each host delivered (as PVM 3.4.6 does) or an error code.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfconfig_(
    nhost: *mut c_int,
    narch: *mut c_int,
    dtid: *mut c_int,
    name: *mut c_char,
    arch: *mut c_char,
    speed: *mut c_int,
    info: *mut c_int,
    name_len: FLen,
    arch_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfconfig", info, || {
            let mut c = lock(&HOST_CYCLE);
            if c.hosts.is_empty() || arg(nhost) == Ok(-1) {
                let (mut n, mut na, mut hp) = (0, 0, std::ptr::null_mut::<PvmHostInfo>());
                let rc = process::pvm_config(&mut n, &mut na, &mut hp);
                if rc < 0 {
                    c.hosts.clear();
                    return Ok(rc);
                }
                let list = if hp.is_null() || n <= 0 {
                    &[][..]
                } else {
                    // SAFETY: pvm_config hands out `n` entries valid until its next call.
                    std::slice::from_raw_parts(hp, n as usize)
                };
                c.hosts = list
                    .iter()
                    .map(|h| (h.hi_tid, ctext(h.hi_name), ctext(h.hi_arch), h.hi_speed))
                    .collect();
                c.narch = na;
                c.next = 0;
                if c.hosts.is_empty() {
                    put(nhost, 0);
                    return Ok(0);
                }
            }
            let i = c.next;
            let (tid, ref hname, ref harch, hspeed) = c.hosts[i];
            put(nhost, c.hosts.len() as c_int);
            put(narch, c.narch);
            put(dtid, tid);
            fstore(name, name_len, hname);
            fstore(arch, arch_len, harch);
            put(speed, hspeed);
            c.next += 1;
            if c.next >= c.hosts.len() {
                c.hosts.clear();
            }
            Ok(1)
        })
    }
}

/// `call pvmftasks(where, ntask, tid, ptid, dtid, flag, aout, info)`: one
/// task per call, cycling like pvmfconfig (`ntask = -1` restarts).
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmftasks_(
    where_: *const c_int,
    ntask: *mut c_int,
    tid: *mut c_int,
    ptid: *mut c_int,
    dtid: *mut c_int,
    flag: *mut c_int,
    aout: *mut c_char,
    info: *mut c_int,
    aout_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmftasks", info, || {
            let mut c = lock(&TASK_CYCLE);
            if c.tasks.is_empty() || arg(ntask) == Ok(-1) {
                let (mut n, mut tp) = (0, std::ptr::null_mut::<PvmTaskInfo>());
                let rc = process::pvm_tasks(arg(where_)?, &mut n, &mut tp);
                if rc < 0 {
                    c.tasks.clear();
                    return Ok(rc);
                }
                let list = if tp.is_null() || n <= 0 {
                    &[][..]
                } else {
                    // SAFETY: pvm_tasks hands out `n` entries valid until its next call.
                    std::slice::from_raw_parts(tp, n as usize)
                };
                c.tasks = list
                    .iter()
                    .map(|t| (t.ti_tid, t.ti_ptid, t.ti_host, t.ti_flag, ctext(t.ti_a_out)))
                    .collect();
                c.next = 0;
                if c.tasks.is_empty() {
                    put(ntask, 0);
                    return Ok(0);
                }
            }
            let i = c.next;
            let (t, p, h, f, ref name) = c.tasks[i];
            put(ntask, c.tasks.len() as c_int);
            put(tid, t);
            put(ptid, p);
            put(dtid, h);
            put(flag, f);
            fstore(aout, aout_len, name);
            c.next += 1;
            if c.next >= c.tasks.len() {
                c.tasks.clear();
            }
            Ok(1)
        })
    }
}

/// `call pvmfsiblings(ntids, index, sibling)`: `ntids` is the number of
/// tasks spawned together with this one (or an error code); `sibling` the
/// tid at 0-based `index`, PvmNoTask when the index is out of range.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsiblings_(
    ntids: *mut c_int,
    index: *const c_int,
    sibling: *mut c_int,
) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsiblings", ntids, || {
            let mut s = lock(&SIBLINGS);
            let list = s.get_or_insert_with(|| {
                let mut p = std::ptr::null_mut::<c_int>();
                let n = process::pvm_siblings(&mut p);
                if n < 0 {
                    Err(n)
                } else if n == 0 || p.is_null() {
                    Ok(Vec::new())
                } else {
                    // SAFETY: pvm_siblings hands out `n` tids valid until its next call.
                    Ok(std::slice::from_raw_parts(p, n as usize).to_vec())
                }
            });
            let (n, tid) = match list {
                Err(e) => (*e, Error::NoTask.code()),
                Ok(v) => {
                    let tid = arg(index)
                        .ok()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| v.get(i).copied())
                        .unwrap_or(Error::NoTask.code());
                    (v.len() as c_int, tid)
                }
            };
            put(sibling, tid);
            Ok(n)
        })
    }
}

/// `call pvmfcatchout(onoff, info)`: non-zero sends the output of tasks
/// spawned from now on to this program's (C) stdout; zero stops it.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfcatchout_(onoff: *const c_int, info: *mut c_int) {
    extern "C" {
        /// The C library's standard output stream.
        static stdout: *mut libc::FILE;
    }
    // SAFETY: Fortran reference arguments; `stdout` is initialised by the C library before main.
    unsafe {
        ret("pvmfcatchout", info, || {
            let ff = if arg(onoff)? != 0 {
                stdout
            } else {
                std::ptr::null_mut()
            };
            Ok(notify::pvm_catchout(ff))
        })
    }
}

/// `call pvmfnotify(what, msgtag, cnt, tids, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs; `tids` holds
/// `cnt` integers when `what` needs them.
#[no_mangle]
pub unsafe extern "C" fn pvmfnotify_(
    what: *const c_int,
    msgtag: *const c_int,
    cnt: *const c_int,
    tids: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfnotify", info, || {
            Ok(notify::pvm_notify(
                arg(what)?,
                arg(msgtag)?,
                arg(cnt)?,
                tids,
            ))
        })
    }
}

/// `call pvmfstartpvmd(args, block, info)`: starts a daemon; `args` holds
/// its arguments separated by blanks or tabs.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfstartpvmd_(
    args: *const c_char,
    block: *const c_int,
    info: *mut c_int,
    args_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfstartpvmd", info, || {
            let raw = fbytes(args, args_len).unwrap_or_default();
            let raw = &raw[..raw.iter().position(|&c| c == 0).unwrap_or(raw.len())];
            let words: Vec<CString> = raw
                .split(|&c| c == b' ' || c == b'\t')
                .filter(|w| !w.is_empty())
                .map(|w| CString::new(w).map_err(|_| Error::BadParam))
                .collect::<Result<_>>()?;
            let mut argv: Vec<*mut c_char> =
                words.iter().map(|w| w.as_ptr() as *mut c_char).collect();
            let argc = argv.len() as c_int;
            argv.push(std::ptr::null_mut());
            let p = if argc == 0 {
                std::ptr::null_mut()
            } else {
                argv.as_mut_ptr()
            };
            Ok(misc::pvm_start_pvmd(argc, p, arg(block)?))
        })
    }
}

/// `call pvmfhostsync(host, clksec, clkusec, deltasec, deltausec, info)`:
/// the host's clock and its difference to the local one.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfhostsync_(
    host: *const c_int,
    clksec: *mut c_int,
    clkusec: *mut c_int,
    deltasec: *mut c_int,
    deltausec: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfhostsync", info, || {
            let zero = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            let (mut clk, mut delta) = (zero, zero);
            let rc = misc::pvm_hostsync(arg(host)?, &mut clk, &mut delta);
            put(clksec, clk.tv_sec as c_int);
            put(clkusec, clk.tv_usec as c_int);
            put(deltasec, delta.tv_sec as c_int);
            put(deltausec, delta.tv_usec as c_int);
            Ok(rc)
        })
    }
}

/// `call pvmfaddmhf(src, tag, ctx, unused, func, mhid)`: installs a message
/// handler. PVM 3.4.6's wrapper takes six arguments and ignores the fourth;
/// the handler is called the C way, with the buffer id by value.
///
/// # Safety
/// Arguments by reference as described in the module docs; `func` is a
/// function taking one int by value.
#[no_mangle]
pub unsafe extern "C" fn pvmfaddmhf_(
    src: *const c_int,
    tag: *const c_int,
    ctx: *const c_int,
    _unused: *const c_void,
    func: Option<CHandler>,
    mhid: *mut c_int,
) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfaddmhf", mhid, || {
            Ok(misc::pvm_addmhf(arg(src)?, arg(tag)?, arg(ctx)?, func))
        })
    }
}

/// `call pvmfdelmhf(mhid, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfdelmhf_(mhid: *const c_int, info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfdelmhf", info, || Ok(misc::pvm_delmhf(arg(mhid)?))) }
}

/// `call pvmfsleep(secs)`: sleeps `secs` seconds.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsleep_(secs: *const c_int) {
    // SAFETY: Fortran reference argument.
    if let Ok(s) = unsafe { arg(secs) } {
        crate::ffi::groups::pvmsleep(s);
    }
}
