//! The Fortran 77 interface of libfpvm3: the `pvmf*_` entry points (all but
//! the group calls, which live in `fortran_groups.rs`) and `pvmsleep`, the C
//! helper pvmfsleep wraps.
//!
//! Calling convention (gfortran, and g77 before it, on x86-64 Linux): the
//! symbol is the lower-case name with one trailing underscore, every
//! argument arrives by reference, and each CHARACTER argument adds a hidden
//! length (`size_t`) after the last visible argument, in the order the
//! strings appear. Nothing is returned: results go to the last INTEGER
//! arguments (`info`, `bufid`, ...), and every path stores them.
//!
//! Strings, as PVM 3.4.6's libfpvm3 treats them:
//! - input: trailing blanks are dropped and the text ends at the first NUL;
//!   a name longer than the original's buffer (256 characters, 31 for
//!   group names) gives `PvmBadParam` without calling the C function;
//!   a spawn `where` starting with `*` means "anywhere" (an empty string).
//! - output: the text is copied into the CHARACTER variable and the rest is
//!   filled with blanks; a longer text is cut at the variable's length.
//! - data (pvmfpack/pvmfunpack/pvmfpsend/pvmfprecv with STRING): `nitem`
//!   bytes, packed like BYTE1; the hidden length is not used.
//!
//! Each wrapper calls the C entry point of the same name (`pvm_send` for
//! pvmfsend, ...), so errors are recorded in `pvm_errno` and reported by
//! PvmAutoErr exactly as for C callers. Data type codes (STRING=0 ...
//! INTEGER8=8) equal the C `PVM_STR` ... `PVM_LONG` codes and are passed on
//! unchanged where the C call takes a type.
//!
//! Where PVM 3.4.6's libfpvm3 differs from its man pages, the library's
//! behaviour is kept (pvmfconfig/pvmftasks store `info = 1` for each entry
//! they deliver; pvmfperror keeps trailing blanks; pvmfaddmhf takes six
//! arguments), except for two plain bugs: pvmffreecontext frees the context
//! (the original called pvm_setcontext) and pvmfgetmboxinfo steps through
//! the classes (the original returned the first class forever).

use super::boundary::{guard, put};
use super::misc::CHandler;
use super::types::{PvmHostInfo, PvmMboxInfo, PvmTaskInfo};
use super::{buffers, mailbox, messaging, misc, notify, process};
use crate::sync::Locked;
use crate::{Error, Result};
use std::ffi::{c_char, c_int, c_long, c_short, c_void, CString};
use std::sync::{Mutex, MutexGuard};

/// The hidden length gfortran passes for each CHARACTER argument.
pub type FLen = usize;

/// Longest host, file, class or architecture name PVM 3.4.6's wrappers
/// accept (their buffers hold 256 characters and the NUL).
pub const MAX_NAME: usize = 256;

/// Longest group name PVM 3.4.6's wrappers accept (32-byte buffer).
pub const MAX_GROUP: usize = 31;

/// Fortran data type codes of fpvm3.h (also the C `PVM_*` type codes).
mod ftype {
    pub const STRING: i32 = 0;
    pub const BYTE1: i32 = 1;
    pub const INTEGER2: i32 = 2;
    pub const INTEGER4: i32 = 3;
    pub const REAL4: i32 = 4;
    pub const COMPLEX8: i32 = 5;
    pub const REAL8: i32 = 6;
    pub const COMPLEX16: i32 = 7;
    pub const INTEGER8: i32 = 8;
}

// ---- string and argument conversion ---------------------------------------

/// The text of a blank-padded Fortran string: trailing blanks removed, cut
/// at the first NUL. `None` when it is longer than `max`.
pub fn ftext(raw: &[u8], max: usize) -> Option<Vec<u8>> {
    let end = raw.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    let t = &raw[..end];
    if t.len() > max {
        return None;
    }
    let t = t.iter().position(|&c| c == 0).map_or(t, |i| &t[..i]);
    Some(t.to_vec())
}

/// Fills a Fortran CHARACTER variable `dst` with `text`: copied, cut at the
/// variable's length, the rest blanks.
pub fn fill(dst: &mut [u8], text: &[u8]) {
    let n = text.len().min(dst.len());
    dst[..n].copy_from_slice(&text[..n]);
    dst[n..].fill(b' ');
}

/// The bytes of a CHARACTER argument.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes during the call.
unsafe fn fbytes<'a>(p: *const c_char, len: FLen) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and `len` readable bytes by the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
}

/// A CHARACTER input argument as a C string (see [`ftext`]); NULL or too
/// long is `BadParam`.
///
/// # Safety
/// As [`fbytes`].
unsafe fn fcstr(p: *const c_char, len: FLen, max: usize) -> Result<CString> {
    // SAFETY: forwarded contract.
    let raw = unsafe { fbytes(p, len) }.ok_or(Error::BadParam)?;
    let t = ftext(raw, max).ok_or(Error::BadParam)?;
    CString::new(t).map_err(|_| Error::BadParam)
}

/// Stores `text` into a CHARACTER output argument (nothing when NULL).
///
/// # Safety
/// `p` is NULL or valid for writes of `len` bytes during the call.
unsafe fn fstore(p: *mut c_char, len: FLen, text: &[u8]) {
    if p.is_null() {
        return;
    }
    // SAFETY: non-NULL and `len` writable bytes by the caller's contract.
    fill(
        unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len) },
        text,
    );
}

/// Reads an INTEGER argument; NULL (which Fortran never passes) is `BadParam`.
///
/// # Safety
/// `p` is NULL or valid for a read of one int.
unsafe fn arg(p: *const c_int) -> Result<c_int> {
    if p.is_null() {
        Err(Error::BadParam)
    } else {
        // SAFETY: non-NULL and readable by the caller's contract.
        Ok(unsafe { p.read() })
    }
}

/// Runs `body` and stores its value, or its error code, in `out`; a panic
/// stores `PvmSysErr`. Errors found here, before any C entry point runs,
/// are only stored, as the original's wrappers do.
///
/// # Safety
/// `out` is NULL or valid for a write of one int.
unsafe fn ret(name: &str, out: *mut c_int, body: impl FnOnce() -> Result<c_int>) {
    let v = guard(name, Error::SysErr.code(), || {
        body().unwrap_or_else(|e| e.code())
    });
    // SAFETY: forwarded contract.
    unsafe { put(out, v) };
}

/// The text of a C string owned by the library (empty for NULL).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid during the call.
unsafe fn ctext(p: *const c_char) -> Vec<u8> {
    if p.is_null() {
        return Vec::new();
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes().to_vec()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.locked()
}

// ---- process control --------------------------------------------------------

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

/// Host table snapshot pvmfconfig walks through, one host per call.
struct HostCycle {
    /// Hosts of the snapshot; empty when no cycle is running.
    hosts: Vec<(c_int, Vec<u8>, Vec<u8>, c_int)>,
    narch: c_int,
    next: usize,
}

static HOST_CYCLE: Mutex<HostCycle> = Mutex::new(HostCycle {
    hosts: Vec::new(),
    narch: 0,
    next: 0,
});

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

/// Task table snapshot pvmftasks walks through, one task per call.
struct TaskCycle {
    /// (tid, ptid, host, flag, a.out); empty when no cycle is running.
    tasks: Vec<(c_int, c_int, c_int, c_int, Vec<u8>)>,
    next: usize,
}

static TASK_CYCLE: Mutex<TaskCycle> = Mutex::new(TaskCycle {
    tasks: Vec::new(),
    next: 0,
});

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

/// The sibling list, fetched by the first pvmfsiblings call.
static SIBLINGS: Mutex<Option<std::result::Result<Vec<c_int>, c_int>>> = Mutex::new(None);

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
        super::groups::pvmsleep(s);
    }
}

// ---- buffers and packing -----------------------------------------------------

/// `call pvmfinitsend(encoding, bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfinitsend_(encoding: *const c_int, bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfinitsend", bufid, || {
            Ok(buffers::pvm_initsend(arg(encoding)?))
        })
    }
}

/// `call pvmfmkbuf(encoding, bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfmkbuf_(encoding: *const c_int, bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfmkbuf", bufid, || {
            Ok(buffers::pvm_mkbuf(arg(encoding)?))
        })
    }
}

/// `call pvmffreebuf(bufid, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmffreebuf_(bufid: *const c_int, info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmffreebuf", info, || {
            Ok(buffers::pvm_freebuf(arg(bufid)?))
        })
    }
}

/// `call pvmfgetsbuf(bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetsbuf_(bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfgetsbuf", bufid, || Ok(buffers::pvm_getsbuf())) }
}

/// `call pvmfgetrbuf(bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetrbuf_(bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfgetrbuf", bufid, || Ok(buffers::pvm_getrbuf())) }
}

/// `call pvmfsetsbuf(bufid, oldbuf)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsetsbuf_(bufid: *const c_int, oldbuf: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsetsbuf", oldbuf, || {
            Ok(buffers::pvm_setsbuf(arg(bufid)?))
        })
    }
}

/// `call pvmfsetrbuf(bufid, oldbuf)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsetrbuf_(bufid: *const c_int, oldbuf: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsetrbuf", oldbuf, || {
            Ok(buffers::pvm_setrbuf(arg(bufid)?))
        })
    }
}

/// `call pvmfbufinfo(bufid, bytes, msgtag, tid, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfbufinfo_(
    bufid: *const c_int,
    bytes: *mut c_int,
    msgtag: *mut c_int,
    tid: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfbufinfo", info, || {
            Ok(buffers::pvm_bufinfo(arg(bufid)?, bytes, msgtag, tid))
        })
    }
}

/// Packs or unpacks `nitem` items of Fortran type `what` at `xp`.
///
/// # Safety
/// `xp` is valid for `(nitem-1)*stride+1` items of the type `what` names.
unsafe fn pack_any(
    what: c_int,
    xp: *mut c_void,
    nitem: c_int,
    stride: c_int,
    unpack: bool,
) -> c_int {
    use ftype::*;
    // SAFETY: forwarded contract; each arm casts to the element type `what` names.
    unsafe {
        match (what, unpack) {
            (STRING | BYTE1, false) => buffers::pvm_pkbyte(xp.cast(), nitem, stride),
            (STRING | BYTE1, true) => buffers::pvm_upkbyte(xp.cast(), nitem, stride),
            (INTEGER2, false) => buffers::pvm_pkshort(xp.cast::<c_short>(), nitem, stride),
            (INTEGER2, true) => buffers::pvm_upkshort(xp.cast::<c_short>(), nitem, stride),
            (INTEGER4, false) => buffers::pvm_pkint(xp.cast(), nitem, stride),
            (INTEGER4, true) => buffers::pvm_upkint(xp.cast(), nitem, stride),
            (INTEGER8, false) => buffers::pvm_pklong(xp.cast::<c_long>(), nitem, stride),
            (INTEGER8, true) => buffers::pvm_upklong(xp.cast::<c_long>(), nitem, stride),
            (REAL4, false) => buffers::pvm_pkfloat(xp.cast(), nitem, stride),
            (REAL4, true) => buffers::pvm_upkfloat(xp.cast(), nitem, stride),
            (COMPLEX8, false) => buffers::pvm_pkcplx(xp.cast(), nitem, stride),
            (COMPLEX8, true) => buffers::pvm_upkcplx(xp.cast(), nitem, stride),
            (REAL8, false) => buffers::pvm_pkdouble(xp.cast(), nitem, stride),
            (REAL8, true) => buffers::pvm_upkdouble(xp.cast(), nitem, stride),
            (COMPLEX16, false) => buffers::pvm_pkdcplx(xp.cast(), nitem, stride),
            (COMPLEX16, true) => buffers::pvm_upkdcplx(xp.cast(), nitem, stride),
            _ => Error::BadParam.code(),
        }
    }
}

/// `call pvmfpack(what, xp, nitem, stride, info)`: packs `nitem` items of
/// type `what` (STRING, BYTE1, INTEGER2, INTEGER4, INTEGER8, REAL4,
/// COMPLEX8, REAL8, COMPLEX16) into the active send buffer. A CHARACTER
/// `xp` adds a hidden length after `info`, which is not used: STRING packs
/// `nitem` characters.
///
/// # Safety
/// Arguments by reference as described in the module docs; `xp` holds the
/// items.
#[no_mangle]
pub unsafe extern "C" fn pvmfpack_(
    what: *const c_int,
    xp: *mut c_void,
    nitem: *const c_int,
    stride: *const c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments; `xp` per the contract.
    unsafe {
        ret("pvmfpack", info, || {
            Ok(pack_any(arg(what)?, xp, arg(nitem)?, arg(stride)?, false))
        })
    }
}

/// `call pvmfunpack(what, xp, nitem, stride, info)`: the reverse of pvmfpack.
///
/// # Safety
/// Arguments by reference as described in the module docs; `xp` has room
/// for the items.
#[no_mangle]
pub unsafe extern "C" fn pvmfunpack_(
    what: *const c_int,
    xp: *mut c_void,
    nitem: *const c_int,
    stride: *const c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments; `xp` per the contract.
    unsafe {
        ret("pvmfunpack", info, || {
            Ok(pack_any(arg(what)?, xp, arg(nitem)?, arg(stride)?, true))
        })
    }
}

// ---- sending and receiving -------------------------------------------------

/// `call pvmfsend(tid, msgtag, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsend_(tid: *const c_int, msgtag: *const c_int, info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsend", info, || {
            Ok(messaging::pvm_send(arg(tid)?, arg(msgtag)?))
        })
    }
}

/// `call pvmfmcast(ntask, tids, msgtag, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs; `tids` holds
/// `ntask` integers.
#[no_mangle]
pub unsafe extern "C" fn pvmfmcast_(
    ntask: *const c_int,
    tids: *mut c_int,
    msgtag: *const c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfmcast", info, || {
            Ok(messaging::pvm_mcast(tids, arg(ntask)?, arg(msgtag)?))
        })
    }
}

/// `call pvmfrecv(tid, msgtag, bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfrecv_(tid: *const c_int, msgtag: *const c_int, bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfrecv", bufid, || {
            Ok(messaging::pvm_recv(arg(tid)?, arg(msgtag)?))
        })
    }
}

/// `call pvmfnrecv(tid, msgtag, bufid)`: 0 when nothing has arrived.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfnrecv_(tid: *const c_int, msgtag: *const c_int, bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfnrecv", bufid, || {
            Ok(messaging::pvm_nrecv(arg(tid)?, arg(msgtag)?))
        })
    }
}

/// `call pvmfprobe(tid, msgtag, bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfprobe_(tid: *const c_int, msgtag: *const c_int, bufid: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfprobe", bufid, || {
            Ok(messaging::pvm_probe(arg(tid)?, arg(msgtag)?))
        })
    }
}

/// `call pvmftrecv(tid, msgtag, sec, usec, bufid)`: waits at most `sec`
/// seconds and `usec` microseconds; `sec = -1` waits for ever.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmftrecv_(
    tid: *const c_int,
    msgtag: *const c_int,
    sec: *const c_int,
    usec: *const c_int,
    bufid: *mut c_int,
) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmftrecv", bufid, || {
            let s = arg(sec)?;
            let mut tv = libc::timeval {
                tv_sec: s as libc::time_t,
                tv_usec: arg(usec)? as libc::suseconds_t,
            };
            let tmout = if s == -1 {
                std::ptr::null_mut()
            } else {
                &mut tv as *mut libc::timeval
            };
            Ok(messaging::pvm_trecv(arg(tid)?, arg(msgtag)?, tmout))
        })
    }
}

/// `call pvmfpsend(tid, msgtag, buf, len, datatype, info)`: sends `len`
/// items of `datatype` in one call.
///
/// # Safety
/// Arguments by reference as described in the module docs; `buf` holds the
/// items.
#[no_mangle]
pub unsafe extern "C" fn pvmfpsend_(
    tid: *const c_int,
    msgtag: *const c_int,
    buf: *mut c_void,
    len: *const c_int,
    datatype: *const c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments; `buf` per the contract.
    unsafe {
        ret("pvmfpsend", info, || {
            Ok(buffers::pvm_psend(
                arg(tid)?,
                arg(msgtag)?,
                buf,
                arg(len)?,
                arg(datatype)?,
            ))
        })
    }
}

/// `call pvmfprecv(tid, msgtag, buf, len, datatype, atid, atag, alen,
/// info)`: receives into `buf`; the sender, tag and item count go to
/// `atid`, `atag`, `alen`.
///
/// # Safety
/// Arguments by reference as described in the module docs; `buf` has room
/// for `len` items.
#[no_mangle]
pub unsafe extern "C" fn pvmfprecv_(
    tid: *const c_int,
    msgtag: *const c_int,
    buf: *mut c_void,
    len: *const c_int,
    datatype: *const c_int,
    atid: *mut c_int,
    atag: *mut c_int,
    alen: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: Fortran reference arguments; `buf` per the contract.
    unsafe {
        ret("pvmfprecv", info, || {
            Ok(buffers::pvm_precv(
                arg(tid)?,
                arg(msgtag)?,
                buf,
                arg(len)?,
                arg(datatype)?,
                atid,
                atag,
                alen,
            ))
        })
    }
}

/// `call pvmfnewcontext(ctx)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfnewcontext_(ctx: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfnewcontext", ctx, || Ok(messaging::pvm_newcontext())) }
}

/// `call pvmfsetcontext(new_ctx, old_ctx)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfsetcontext_(new_ctx: *const c_int, old_ctx: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmfsetcontext", old_ctx, || {
            Ok(messaging::pvm_setcontext(arg(new_ctx)?))
        })
    }
}

/// `call pvmfgetcontext(ctx)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetcontext_(ctx: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe { ret("pvmfgetcontext", ctx, || Ok(messaging::pvm_getcontext())) }
}

/// `call pvmffreecontext(ctx, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmffreecontext_(ctx: *const c_int, info: *mut c_int) {
    // SAFETY: Fortran reference arguments.
    unsafe {
        ret("pvmffreecontext", info, || {
            Ok(messaging::pvm_freecontext(arg(ctx)?))
        })
    }
}

// ---- mailbox -------------------------------------------------------------------

/// `call pvmfputinfo(name, bufid, flags, index)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfputinfo_(
    name: *const c_char,
    bufid: *const c_int,
    flags: *const c_int,
    index: *mut c_int,
    name_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfputinfo", index, || {
            let n = fcstr(name, name_len, MAX_NAME)?;
            Ok(mailbox::pvm_putinfo(
                n.as_ptr() as *mut c_char,
                arg(bufid)?,
                arg(flags)?,
            ))
        })
    }
}

/// `call pvmfrecvinfo(name, index, flags, bufid)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfrecvinfo_(
    name: *const c_char,
    index: *const c_int,
    flags: *const c_int,
    bufid: *mut c_int,
    name_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfrecvinfo", bufid, || {
            let n = fcstr(name, name_len, MAX_NAME)?;
            Ok(mailbox::pvm_recvinfo(
                n.as_ptr() as *mut c_char,
                arg(index)?,
                arg(flags)?,
            ))
        })
    }
}

/// `call pvmfdelinfo(name, index, flags, info)`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfdelinfo_(
    name: *const c_char,
    index: *const c_int,
    flags: *const c_int,
    info: *mut c_int,
    name_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfdelinfo", info, || {
            let n = fcstr(name, name_len, MAX_NAME)?;
            Ok(mailbox::pvm_delinfo(
                n.as_ptr() as *mut c_char,
                arg(index)?,
                arg(flags)?,
            ))
        })
    }
}

/// One mailbox class as pvmfgetmboxinfo hands it out.
type MboxClass = (Vec<u8>, Vec<c_int>, Vec<c_int>, Vec<c_int>);

/// Mailbox classes pvmfgetmboxinfo walks through, one per call.
struct MboxCycle {
    /// None: no cycle running; Some(list): the snapshot being walked.
    classes: Option<Vec<MboxClass>>,
    next: usize,
}

static MBOX_CYCLE: Mutex<MboxCycle> = Mutex::new(MboxCycle {
    classes: None,
    next: 0,
});

/// `call pvmfgetmboxinfo(pattern, name, nclasses, nentries, indices,
/// owners, flags, info)`: one mailbox class matching `pattern` per call:
/// its name, number of entries, and their indices, owner tids and flags.
/// `nclasses` is the number of classes of the snapshot the cycle walks;
/// after the last class the next call gives `info = PvmNotFound` and ends
/// the cycle, and `nclasses = -1` on entry starts a new one.
///
/// # Safety
/// Arguments by reference as described in the module docs; `indices`,
/// `owners` and `flags` have room for the class's entries.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetmboxinfo_(
    pattern: *const c_char,
    name: *mut c_char,
    nclasses: *mut c_int,
    nentries: *mut c_int,
    indices: *mut c_int,
    owners: *mut c_int,
    flags: *mut c_int,
    info: *mut c_int,
    pattern_len: FLen,
    name_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths.
    unsafe {
        ret("pvmfgetmboxinfo", info, || {
            let mut c = lock(&MBOX_CYCLE);
            if arg(nclasses) == Ok(-1) {
                c.classes = None;
            }
            if c.classes.is_none() {
                let pat = fcstr(pattern, pattern_len, MAX_NAME)?;
                let (mut n, mut cp) = (0, std::ptr::null_mut::<PvmMboxInfo>());
                let rc = mailbox::pvm_getmboxinfo(pat.as_ptr() as *mut c_char, &mut n, &mut cp);
                if rc < 0 {
                    return Ok(rc);
                }
                let list = if cp.is_null() || n <= 0 {
                    &[][..]
                } else {
                    // SAFETY: pvm_getmboxinfo hands out `n` classes valid until its next call.
                    std::slice::from_raw_parts(cp, n as usize)
                };
                let ints = |p: *mut c_int, k: c_int| -> Vec<c_int> {
                    if p.is_null() || k <= 0 {
                        Vec::new()
                    } else {
                        // SAFETY: each array of a class holds mi_nentries ints.
                        std::slice::from_raw_parts(p, k as usize).to_vec()
                    }
                };
                let snapshot = list
                    .iter()
                    .map(|m| {
                        (
                            ctext(m.mi_name),
                            ints(m.mi_indices, m.mi_nentries),
                            ints(m.mi_owners, m.mi_nentries),
                            ints(m.mi_flags, m.mi_nentries),
                        )
                    })
                    .collect();
                c.classes = Some(snapshot);
                c.next = 0;
            }
            let next = c.next;
            let list = c.classes.take().unwrap_or_default();
            put(nclasses, list.len() as c_int);
            let Some((cname, idx, own, flg)) = list.get(next) else {
                return Err(Error::NotFound);
            };
            fstore(name, name_len, cname);
            put(nentries, idx.len() as c_int);
            for (out, v) in [(indices, idx), (owners, own), (flags, flg)] {
                if !out.is_null() {
                    std::ptr::copy_nonoverlapping(v.as_ptr(), out, v.len());
                }
            }
            c.next = next + 1;
            c.classes = Some(list);
            Ok(0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_strings_lose_trailing_blanks_only() {
        assert_eq!(ftext(b"abc   ", 256), Some(b"abc".to_vec()));
        assert_eq!(ftext(b"  a b  ", 256), Some(b"  a b".to_vec()));
        assert_eq!(ftext(b"      ", 256), Some(Vec::new()));
        assert_eq!(ftext(b"", 256), Some(Vec::new()));
        assert_eq!(ftext(b"ab\0cd  ", 256), Some(b"ab".to_vec()));
    }

    #[test]
    fn input_strings_longer_than_the_buffer_are_refused() {
        let g = [b'g'; 32];
        assert_eq!(ftext(&g, MAX_GROUP), None);
        assert_eq!(ftext(&g[..31], MAX_GROUP), Some(g[..31].to_vec()));
        let mut padded = g[..31].to_vec();
        padded.extend_from_slice(&[b' '; 40]);
        assert_eq!(ftext(&padded, MAX_GROUP), Some(g[..31].to_vec()));
    }

    #[test]
    fn output_strings_are_blank_padded_or_cut() {
        let mut d = [b'x'; 6];
        fill(&mut d, b"abc");
        assert_eq!(&d, b"abc   ");
        fill(&mut d, b"abcdefgh");
        assert_eq!(&d, b"abcdef");
        fill(&mut d, b"");
        assert_eq!(&d, b"      ");
    }

    #[test]
    fn unknown_pack_type_is_badparam() {
        let mut x = 0i32;
        // SAFETY: nitem 1 item of an int; the type is rejected before any access.
        let rc = unsafe { pack_any(9, (&mut x as *mut i32).cast(), 1, 1, false) };
        assert_eq!(rc, Error::BadParam.code());
    }
}
