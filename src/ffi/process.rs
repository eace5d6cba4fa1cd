//! C entry points for processes and the machine: identity, spawn, kill,
//! signals, host and task tables, options, error printing.
//!
//! Tables handed to C (pvm_config's hosts, pvm_tasks' tasks, pvm_siblings'
//! tids) live in library-owned storage that stays valid until the next call
//! of the same function, as in PVM 3.4.

use super::boundary::{argv, call, call_quiet, cstr, cstr_opt, guard, ok, put, slice_mut};
use super::globals::{Handed, HANDED, RSH, TMP};
use super::trace::Tev;
use super::types::{PvmHostInfo, PvmTaskInfo};
use crate::sync::Locked;
use crate::task;
use crate::task::trace::{did, ev, Val};
use crate::Error;
use std::ffi::{c_char, c_int, CString};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Enrolls the calling process in PVM if needed and returns its tid.
///
/// # Returns
/// The tid (> 0), or PvmSysErr when no daemon can be reached or started.
#[no_mangle]
pub extern "C" fn pvm_mytid() -> c_int {
    // Enrolls first: a task learns at enrollment whether it traces (PVM's
    // trace macros enroll before they check too).
    let r = call("pvm_mytid", task::mytid);
    super::internals::sync();
    if let Some(t) = Tev::top(ev::MYTID) {
        t.entry(&[]);
        t.exit(&[(did::MT, Val::Int(r))]);
    }
    r
}

/// Leaves PVM; the process keeps running.
#[no_mangle]
pub extern "C" fn pvm_exit() -> c_int {
    if let Some(t) = Tev::top(ev::EXIT) {
        t.entry(&[]);
        t.end();
    }
    task::trace::flush();
    call("pvm_exit", || ok(task::exit()))
}

/// The tid of the task that spawned this one, or PvmNoParent.
#[no_mangle]
pub extern "C" fn pvm_parent() -> c_int {
    let r = call_quiet("pvm_parent", task::parent);
    if let Some(t) = Tev::top(ev::PARENT) {
        t.entry(&[]);
        t.exit(&[(did::PT, Val::Int(r))]);
    }
    r
}

/// Starts `ntask` copies of `file`.
///
/// # Safety
/// `file` is a C string; `argv` is NULL or a NULL-terminated array of C
/// strings; `where_` is NULL or a C string; `tids` is NULL or has room for
/// `ntask` ints.
///
/// # Returns
/// The number of tasks started; `tids[i]` holds each tid or error code.
#[no_mangle]
pub unsafe extern "C" fn pvm_spawn(
    file: *mut c_char,
    argv_: *mut *mut c_char,
    flags: c_int,
    where_: *mut c_char,
    ntask: c_int,
    tids: *mut c_int,
) -> c_int {
    let tev = Tev::top(ev::SPAWN);
    let mut got_tids: Vec<c_int> = Vec::new();
    let cc = call("pvm_spawn", || {
        // SAFETY: the contract above.
        let file = unsafe { cstr(file) }?;
        // SAFETY: the contract above.
        let args = unsafe { argv(argv_ as *const *const c_char) };
        // SAFETY: the contract above.
        let where_ = unsafe { cstr_opt(where_) };
        if let Some(t) = &tev {
            t.entry(&[
                (did::SE, Val::Str(file.as_bytes())),
                (
                    did::SW,
                    Val::Str(where_.as_deref().unwrap_or("").as_bytes()),
                ),
                (did::SF, Val::Int(flags)),
                (did::SC, Val::Int(ntask)),
            ]);
        }
        if ntask < 1 {
            return Err(Error::BadParam);
        }
        let got = task::spawn(&file, &args, flags, where_.as_deref(), ntask)?;
        if tev.is_some() {
            got_tids = got.clone();
        }
        if !tids.is_null() {
            // SAFETY: tids has room for ntask ints by the contract.
            let out = unsafe { slice_mut(tids, ntask, 1) }?;
            out.copy_from_slice(&got);
        }
        // A partial or total failure is reported through tids[], not the
        // return value (man pvm_spawn): the count can be 0.
        let started = got.iter().filter(|&&t| t > 0).count() as c_int;
        Ok(started)
    });
    if let Some(t) = tev {
        t.exit(&[(did::CC, Val::Int(cc)), (did::STL, Val::Ints(&got_tids))]);
    }
    cc
}

/// Terminates task `tid`.
#[no_mangle]
pub extern "C" fn pvm_kill(tid: c_int) -> c_int {
    let tev = Tev::top(ev::KILL);
    if let Some(t) = &tev {
        t.entry(&[(did::TT, Val::Int(tid))]);
    }
    Tev::cc(tev, call("pvm_kill", || ok(task::kill(tid))))
}

/// Sends signal `signum` to task `tid`.
#[no_mangle]
pub extern "C" fn pvm_sendsig(tid: c_int, signum: c_int) -> c_int {
    let tev = Tev::top(ev::SENDSIG);
    if let Some(t) = &tev {
        t.entry(&[(did::TT, Val::Int(tid)), (did::SN, Val::Int(signum))]);
    }
    Tev::cc(tev, call("pvm_sendsig", || ok(task::sendsig(tid, signum))))
}

/// The tid of the daemon of the host task `tid` runs on.
#[no_mangle]
pub extern "C" fn pvm_tidtohost(tid: c_int) -> c_int {
    call("pvm_tidtohost", || task::tidtohost(tid))
}

/// PvmOk when task `tid` runs, PvmNoTask when not.
#[no_mangle]
pub extern "C" fn pvm_pstat(tid: c_int) -> c_int {
    let tev = Tev::top(ev::PSTAT);
    if let Some(t) = &tev {
        t.entry(&[(did::TT, Val::Int(tid))]);
    }
    let r = call_quiet("pvm_pstat", || ok(task::pstat(tid)));
    if let Some(t) = tev {
        t.exit(&[(did::TST, Val::Int(r))]);
    }
    r
}

/// PvmOk when host `host` is in the machine and running.
///
/// # Safety
/// `host` is a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_mstat(host: *mut c_char) -> c_int {
    let tev = Tev::top(ev::MSTAT);
    let r = call_quiet("pvm_mstat", || {
        // SAFETY: the contract above.
        let h = unsafe { cstr(host) }?;
        if let Some(t) = &tev {
            t.entry(&[(did::HN, Val::Str(h.as_bytes()))]);
        }
        ok(task::mstat(&h))
    });
    if let Some(t) = tev {
        t.exit(&[(did::HS, Val::Int(r))]);
    }
    r
}

/// The hosts of the machine.
///
/// # Safety
/// Each pointer is NULL or valid for one write. `*hostp` points at
/// library storage valid until the next pvm_config call.
#[no_mangle]
pub unsafe extern "C" fn pvm_config(
    nhost: *mut c_int,
    narch: *mut c_int,
    hostp: *mut *mut PvmHostInfo,
) -> c_int {
    let tev = Tev::top(ev::CONFIG);
    if let Some(t) = &tev {
        t.entry(&[]);
    }
    let mut counts = (0, 0);
    let cc = call("pvm_config", || {
        let (na, hosts) = task::config()?;
        let mut h = handed();
        let strings: Vec<(CString, CString)> = hosts
            .iter()
            .map(|x| (c_string(&x.name), c_string(&x.arch)))
            .collect();
        h.hosts = hosts
            .iter()
            .zip(&strings)
            .map(|(x, (n, a))| PvmHostInfo {
                hi_tid: x.tid,
                hi_name: n.as_ptr() as *mut c_char,
                hi_arch: a.as_ptr() as *mut c_char,
                hi_speed: x.speed,
                hi_dsig: x.dsig,
            })
            .collect();
        h.host_strings = strings.into_iter().flat_map(|(n, a)| [n, a]).collect();
        // SAFETY: out-pointers per the contract; the array lives in HANDED until the next call.
        unsafe {
            put(nhost, h.hosts.len() as c_int);
            put(narch, na);
            put(hostp, h.hosts.as_mut_ptr());
        }
        counts = (h.hosts.len() as c_int, na);
        Ok(0)
    });
    if let Some(t) = tev {
        t.exit(&[
            (did::NH, Val::Int(counts.0)),
            (did::NA, Val::Int(counts.1)),
            (did::CC, Val::Int(cc)),
        ]);
    }
    cc
}

/// The tasks of the machine (`where_` 0), of one host (a daemon tid) or one task.
///
/// # Safety
/// Each pointer is NULL or valid for one write. `*taskp` points at
/// library storage valid until the next pvm_tasks call.
#[no_mangle]
pub unsafe extern "C" fn pvm_tasks(
    where_: c_int,
    ntask: *mut c_int,
    taskp: *mut *mut PvmTaskInfo,
) -> c_int {
    let tev = Tev::top(ev::TASKS);
    if let Some(t) = &tev {
        t.entry(&[(did::TW, Val::Int(where_))]);
    }
    let mut count = 0;
    let cc = call("pvm_tasks", || {
        let list = task::tasks(where_)?;
        let mut h = handed();
        let strings: Vec<CString> = list.iter().map(|t| c_string(&t.name)).collect();
        h.tasks = list
            .iter()
            .zip(&strings)
            .map(|(t, s)| PvmTaskInfo {
                ti_tid: t.tid,
                ti_ptid: t.ptid,
                ti_host: t.host,
                ti_flag: t.flag,
                ti_a_out: s.as_ptr() as *mut c_char,
                ti_pid: t.pid,
            })
            .collect();
        h.task_strings = strings;
        // SAFETY: out-pointers per the contract; the array lives in HANDED until the next call.
        unsafe {
            put(ntask, h.tasks.len() as c_int);
            put(taskp, h.tasks.as_mut_ptr());
        }
        count = h.tasks.len() as c_int;
        Ok(0)
    });
    if let Some(t) = tev {
        t.exit(&[(did::CC, Val::Int(cc)), (did::TNT, Val::Int(count))]);
    }
    cc
}

/// The tids spawned together with this task.
///
/// # Safety
/// `tids` is NULL or valid for one write; `*tids` stays valid until the
/// next pvm_siblings call.
#[no_mangle]
pub unsafe extern "C" fn pvm_siblings(tids: *mut *mut c_int) -> c_int {
    let tev = Tev::top(ev::SIBLINGS);
    if let Some(t) = &tev {
        t.entry(&[]);
    }
    let mut list = Vec::new();
    let cc = call("pvm_siblings", || {
        let s = task::siblings()?;
        let mut h = handed();
        h.siblings = s;
        // SAFETY: out-pointer per the contract.
        unsafe { put(tids, h.siblings.as_mut_ptr()) };
        if tev.is_some() {
            list = h.siblings.clone();
        }
        Ok(h.siblings.len() as c_int)
    });
    if let Some(t) = tev {
        t.exit(&[(did::CC, Val::Int(cc)), (did::SIB, Val::Ints(&list))]);
    }
    cc
}

/// The data-format class of architecture `arch` (0 when unknown).
///
/// # Safety
/// `arch` is a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_archcode(arch: *mut c_char) -> c_int {
    let tev = Tev::top(ev::ARCHCODE);
    let r = call("pvm_archcode", || {
        // SAFETY: the contract above.
        let a = unsafe { cstr(arch) }?;
        if let Some(t) = &tev {
            t.entry(&[(did::AN, Val::Str(a.as_bytes()))]);
        }
        task::archcode(&a)
    });
    if let Some(t) = tev {
        t.exit(&[(did::AC, Val::Int(r))]);
    }
    r
}

/// Compile-time data, not state: a `const` (the literal itself is static).
const VERSION: &std::ffi::CStr = c"3.4.6";

/// The PVM version string, "3.4.6".
#[no_mangle]
pub extern "C" fn pvm_version() -> *mut c_char {
    VERSION.as_ptr() as *mut c_char
}

/// Prints `msg` and the text of the last error on stderr.
///
/// # Safety
/// `msg` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_perror(msg: *mut c_char) -> c_int {
    guard("pvm_perror", Error::SysErr.code(), || {
        // SAFETY: the contract above.
        let m = unsafe { cstr_opt(msg) }.unwrap_or_default();
        task::perror(&m, super::globals::errno());
        0
    })
}

thread_local! {
    static STRERROR: std::cell::RefCell<CString> = std::cell::RefCell::new(CString::default());
}

/// The text of the last error (`pvm_errno`), in thread-local storage valid
/// until the next call from the same thread.
#[no_mangle]
pub extern "C" fn pvm_strerror() -> *mut c_char {
    guard("pvm_strerror", std::ptr::null_mut(), || {
        let text = c_string(&crate::error::text_of(super::globals::errno()));
        STRERROR.with(|s| {
            *s.borrow_mut() = text;
            s.borrow().as_ptr() as *mut c_char
        })
    })
}

fn handed() -> std::sync::MutexGuard<'static, Handed> {
    HANDED.locked()
}

fn keep(slot: &Mutex<Option<CString>>, v: String) -> *mut c_char {
    let mut g = slot.locked();
    *g = Some(c_string(&v));
    g.as_ref()
        .map_or(std::ptr::null_mut(), |c| c.as_ptr() as *mut c_char)
}

/// The remote shell command (`$PVM_RSH`, default ssh).
#[no_mangle]
pub extern "C" fn pvmgetrsh() -> *mut c_char {
    guard("pvmgetrsh", std::ptr::null_mut(), || {
        let v = std::env::var("PVM_RSH")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "ssh".into());
        keep(&RSH, v)
    })
}

/// The directory for PVM's files (`$PVM_TMP`, default /tmp).
#[no_mangle]
pub extern "C" fn pvmgettmp() -> *mut c_char {
    guard("pvmgettmp", std::ptr::null_mut(), || {
        keep(&TMP, crate::paths::tmp_dir().to_string_lossy().into_owned())
    })
}

/// The value of option `what`.
#[no_mangle]
pub extern "C" fn pvm_getopt(what: c_int) -> c_int {
    let tev = Tev::top(ev::GETOPT);
    if let Some(t) = &tev {
        t.entry(&[(did::OPT, Val::Int(what))]);
    }
    let r = call("pvm_getopt", || {
        let v = task::getopt(what)?;
        // The debug mask is `pvmdebmask`, which a program may also write.
        Ok(if what == crate::consts::PvmDebugMask {
            super::lpvm::pvmdebmask.load(Ordering::Relaxed)
        } else {
            v
        })
    });
    if let Some(t) = tev {
        t.exit(&[(did::OPV, Val::Int(r))]);
    }
    r
}

/// Sets option `what`; returns its previous value.
#[no_mangle]
pub extern "C" fn pvm_setopt(what: c_int, val: c_int) -> c_int {
    let tev = Tev::top(ev::SETOPT);
    if let Some(t) = &tev {
        t.entry(&[(did::OPT, Val::Int(what)), (did::OPV, Val::Int(val))]);
    }
    let r = call("pvm_setopt", || {
        let old = task::setopt(what, val)?;
        if what != crate::consts::PvmDebugMask {
            return Ok(old);
        }
        // The debug mask is `pvmdebmask` (a program may also write it).
        Ok(super::lpvm::pvmdebmask.swap(val, Ordering::Relaxed))
    });
    super::internals::sync();
    if let Some(t) = tev {
        t.exit(&[(did::OPV, Val::Int(r))]);
    }
    r
}

/// Stops the whole virtual machine.
#[no_mangle]
pub extern "C" fn pvm_halt() -> c_int {
    call("pvm_halt", || ok(task::halt()))
}

/// Error hook of the C part of the library (c/varargs.c): records `code`
/// for `func` in pvm_errno and reports it like every other entry point.
///
/// # Safety
/// `func` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm6_lib_error(func: *const c_char, code: c_int) -> c_int {
    guard("pvm6_lib_error", code, || {
        // SAFETY: the contract above.
        let name = unsafe { cstr_opt(func) }.unwrap_or_else(|| "libpvm".into());
        match Error::from_code(code) {
            Some(e) => super::boundary::fail(&name, e),
            None => code,
        }
    })
}
