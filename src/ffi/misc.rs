//! C entry points of the remaining task API: message handlers
//! (`pvm_addmhf`, `pvm_delmhf`), `pvm_export`/`pvm_unexport`, trace masks,
//! `pvm_hostsync`, `pvm_tickle`, `pvm_getnoresets`, `pvm_start_pvmd`, the
//! `pvm_reg_*` registrations, and two helpers PVM 3.4.6's libpvm3 exports
//! without declaring them in pvm3.h that its example programs use:
//! `lpvmerr` and `pvmdisplaymhfinfo`.

use super::boundary::{call, cbytes, cstr, guard, ok, put};
use super::globals::{RmHost, NORESETS, RM_HOST};
use super::trace::Tev;
use super::types::PvmHostInfo;
use crate::sync::Locked;
use crate::task::trace::{did, ev, Val};
use crate::task::{self, mhf};
use crate::Error;
use std::ffi::{c_char, c_int, CString};
use std::sync::Arc;

/// A C message handler: `int handler(int mid)`.
pub type CHandler = extern "C" fn(c_int) -> c_int;

/// Installs `func` for messages from `src` with `tag` in context `ctx`
/// (-1 matches any).
///
/// # Returns
/// The handler id (>= 0), PvmExists when a handler for the same three
/// values exists, PvmBadParam for a NULL function.
#[no_mangle]
pub extern "C" fn pvm_addmhf(src: c_int, tag: c_int, ctx: c_int, func: Option<CHandler>) -> c_int {
    let tev = Tev::top(ev::ADDMHF);
    if let Some(t) = &tev {
        t.entry(&[
            (did::RST, Val::Int(src)),
            (did::RMC, Val::Int(tag)),
            (did::RCX, Val::Int(ctx)),
        ]);
    }
    let r = call("pvm_addmhf", || {
        let f = func.ok_or(Error::BadParam)?;
        // Calling a C function pointer is safe to express: the program
        // handed it in for exactly this call signature.
        mhf::add(src, tag, ctx, Arc::new(move |mid| f(mid)))
    });
    if let Some(t) = tev {
        t.exit(&[(did::MHI, Val::Int(r))]);
    }
    r
}

/// Removes message handler `mhid`.
///
/// # Returns
/// PvmOk, PvmBadParam for a negative id, PvmNotFound for an unknown one.
#[no_mangle]
pub extern "C" fn pvm_delmhf(mhid: c_int) -> c_int {
    let tev = Tev::top(ev::DELMHF);
    if let Some(t) = &tev {
        t.entry(&[(did::MHI, Val::Int(mhid))]);
    }
    Tev::cc(tev, call("pvm_delmhf", || ok(mhf::del(mhid))))
}

/// Adds `name` to `$PVM_EXPORT`.
///
/// # Safety
/// `name` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_export(name: *mut c_char) -> c_int {
    call("pvm_export", || {
        // SAFETY: the contract above.
        let n = unsafe { cstr(name) }?;
        ok(task::export(&n))
    })
}

/// Removes `name` from `$PVM_EXPORT`.
///
/// # Safety
/// `name` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_unexport(name: *mut c_char) -> c_int {
    call("pvm_unexport", || {
        // SAFETY: the contract above.
        let n = unsafe { cstr(name) }?;
        ok(task::unexport(&n))
    })
}

/// Copies the trace mask of `who` (PvmTaskSelf, PvmTaskChild) into `mask`.
///
/// # Safety
/// `mask` is NULL or has room for a `Pvmtmask` (36 chars).
#[no_mangle]
pub unsafe extern "C" fn pvm_gettmask(who: c_int, mask: *mut c_char) -> c_int {
    call("pvm_gettmask", || {
        let m = task::gettmask(who)?;
        if mask.is_null() {
            return Err(Error::BadParam);
        }
        let bytes = m.as_bytes();
        let n = bytes.len().min(task::TMASK_LEN - 1);
        // SAFETY: mask has room for TMASK_LEN chars by the contract; n + 1 <= TMASK_LEN.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), mask as *mut u8, n);
            *mask.add(n) = 0;
        }
        Ok(0)
    })
}

/// Sets the trace mask of `who` (PvmTaskSelf, PvmTaskChild) from `mask`.
///
/// # Safety
/// `mask` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_settmask(who: c_int, mask: *mut c_char) -> c_int {
    let r = call("pvm_settmask", || {
        // SAFETY: the contract above.
        let m = unsafe { cbytes(mask) }?;
        ok(task::settmask(who, m))
    });
    super::internals::sync();
    r
}

/// Samples the clock of `host` and its difference from the local clock.
///
/// # Safety
/// `clk` and `delta` are NULL or point at writable `struct timeval`s.
#[no_mangle]
pub unsafe extern "C" fn pvm_hostsync(
    host: c_int,
    clk: *mut libc::timeval,
    delta: *mut libc::timeval,
) -> c_int {
    // PVM 3.4.6 reports failures of this call under the name pvm_host_sync.
    call("pvm_host_sync", || {
        let (remote, diff) = task::hostsync(host)?;
        let tv = |us: i64| {
            let (s, u) = task::split_micros(us);
            libc::timeval {
                tv_sec: s as libc::time_t,
                tv_usec: u as libc::suseconds_t,
            }
        };
        // SAFETY: each pointer is NULL or writable by the contract.
        unsafe {
            put(clk, tv(remote));
            put(delta, tv(diff));
        }
        Ok(0)
    })
}

/// Asks the daemon for a debugging action: `argp[0]` is the action,
/// `argp[1..narg]` its arguments; results go to `resp`, their count to
/// `*nresp`.
///
/// # Returns
/// PvmOk (also for an action the daemon does not know: it logs it and
/// gives no results, as PVM 3.4.6's does), PvmBadParam when `narg` is not
/// 1 to 10.
///
/// # Safety
/// `argp` points at `narg` ints; `nresp` is NULL or writable; `resp` is NULL
/// or has room for the results (at most 1 for the actions pvmd3 knows).
#[no_mangle]
pub unsafe extern "C" fn pvm_tickle(
    narg: c_int,
    argp: *mut c_int,
    nresp: *mut c_int,
    resp: *mut c_int,
) -> c_int {
    call("pvm_tickle", || {
        if !(1..=10).contains(&narg) || argp.is_null() {
            return Err(Error::BadParam);
        }
        // SAFETY: argp holds narg ints by the contract.
        let args = unsafe { std::slice::from_raw_parts(argp, narg as usize) };
        let res = task::tickle(args)?;
        // SAFETY: nresp is NULL or writable.
        unsafe { put(nresp, res.len() as c_int) };
        if !resp.is_null() {
            for (i, v) in res.iter().enumerate() {
                // SAFETY: resp has room for the results by the contract.
                unsafe { *resp.add(i) = *v };
            }
        }
        Ok(0)
    })
}

/// The tasks that set PvmNoReset: `*tidsp` points at `*ntidsp` tids (owned
/// by the library, valid until the next call).
///
/// # Safety
/// `tidsp` and `ntidsp` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pvm_getnoresets(tidsp: *mut *mut c_int, ntidsp: *mut c_int) -> c_int {
    call("pvm_getnoresets", || {
        let tids = task::getnoresets()?;
        let mut kept = NORESETS.locked();
        *kept = tids;
        // SAFETY: out-pointers are NULL or writable by the contract; the
        // array stays alive in NORESETS until the next call.
        unsafe {
            put(ntidsp, kept.len() as c_int);
            put(tidsp, kept.as_mut_ptr());
        }
        Ok(0)
    })
}

/// Starts a daemon with `argv[0..argc]` (`-d<mask>`, `-n<name>`, a
/// hostfile), waits until it answers and enrolls.
///
/// # Returns
/// PvmOk, PvmDupHost when a daemon runs already, PvmBadParam for arguments
/// pvmd3 does not take or a bad hostfile, PvmNoFile for a missing one,
/// PvmCantStart.
///
/// # Safety
/// `argv` is NULL or points at `argc` C strings (a NULL entry ends it early).
#[no_mangle]
pub unsafe extern "C" fn pvm_start_pvmd(
    argc: c_int,
    argv_: *mut *mut c_char,
    block: c_int,
) -> c_int {
    call("pvm_start_pvmd", || {
        let mut args = Vec::new();
        if !argv_.is_null() {
            for i in 0..argc.max(0) as usize {
                // SAFETY: argv has argc entries by the contract.
                let p = unsafe { *argv_.add(i) };
                if p.is_null() {
                    break;
                }
                // SAFETY: each entry is a C string.
                args.push(unsafe { cstr(p) }?);
            }
        }
        ok(task::start_pvmd(&args, block != 0))
    })
}

/// Registers the calling task as the daemon's task starter.
#[no_mangle]
pub extern "C" fn pvm_reg_tasker() -> c_int {
    call("pvm_reg_tasker", || ok(task::reg_tasker()))
}

/// Registers the calling task as the starter of slave daemons.
#[no_mangle]
pub extern "C" fn pvm_reg_hoster() -> c_int {
    call("pvm_reg_hoster", || ok(task::reg_hoster()))
}

/// Registers the calling task as the resource manager; `*hip` is set to
/// the master host (owned by the library).
///
/// # Safety
/// `hip` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pvm_reg_rm(hip: *mut *mut PvmHostInfo) -> c_int {
    let r = call("pvm_reg_rm", || {
        let (tid, name, arch, speed) = task::reg_rm()?;
        let name = CString::new(name.replace('\0', "")).unwrap_or_default();
        let arch = CString::new(arch.replace('\0', "")).unwrap_or_default();
        let info = PvmHostInfo {
            hi_tid: tid,
            hi_name: name.as_ptr() as *mut c_char,
            hi_arch: arch.as_ptr() as *mut c_char,
            hi_speed: speed,
            hi_dsig: crate::wire::vocabulary::DSIG_LINUX64,
        };
        let mut slot = RM_HOST.locked();
        let kept = slot.insert(Box::new(RmHost {
            info,
            _strings: (name, arch),
        }));
        // SAFETY: hip is NULL or writable; the box lives in RM_HOST until the next call.
        unsafe { put(hip, &mut kept.info as *mut PvmHostInfo) };
        Ok(0)
    });
    super::internals::sync();
    r
}

/// Makes the caller the machine's tracer (first call) or gives the role
/// up (next call), as man pvm_reg_tracer says: tasks that start from then
/// on send their trace events with context `tctx` and tag `ttag`, and their
/// output with `octx` and `otag`, to the caller; `tmask`, `tbuf` and
/// `topt` are their trace mask, buffer and options (docs/TRACING.md).
///
/// # Safety
/// `tmask` is NULL (an empty mask) or a C string.
#[no_mangle]
pub unsafe extern "C" fn pvm_reg_tracer(
    tctx: c_int,
    ttag: c_int,
    octx: c_int,
    otag: c_int,
    tmask: *mut c_char,
    tbuf: c_int,
    topt: c_int,
) -> c_int {
    let tev = Tev::top(ev::REG_TRACER);
    // SAFETY: the contract above.
    let mask = unsafe { super::boundary::cbytes(tmask) }.unwrap_or(b"");
    if let Some(t) = &tev {
        t.entry(&[
            (did::TRC, Val::Int(tctx)),
            (did::TRT, Val::Int(ttag)),
            (did::TRX, Val::Int(octx)),
            (did::TRO, Val::Int(otag)),
            (did::TRM, Val::Str(mask)),
            (did::TRB, Val::Int(tbuf)),
            (did::TRL, Val::Int(topt)),
        ]);
    }
    let cc = call("pvm_reg_tracer", || {
        ok(task::reg_tracer(tctx, ttag, octx, otag, mask, tbuf, topt))
    });
    Tev::cc(tev, cc)
}

/// Reports error `code` of function `name` as libpvm does:
/// `libpvm [t40001]: name(): text`; returns `code`.
///
/// # Safety
/// `name` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn lpvmerr(name: *const c_char, code: c_int) -> c_int {
    guard("lpvmerr", code, || {
        // SAFETY: the contract above.
        let n = unsafe { cstr(name) }.unwrap_or_default();
        let text = match Error::from_code(code) {
            Some(e) => e.text().to_string(),
            None => "Unknown Error".to_string(),
        };
        task::report_line(&format!("{n}(): {text}"));
        code
    })
}

/// Prints the message handlers installed in this task, under a heading of
/// `who`, the task `tid` and `msg` (a debugging aid of PVM 3.4's examples).
///
/// # Safety
/// `who` and `msg` are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn pvmdisplaymhfinfo(who: *const c_char, msg: *const c_char, tid: c_int) {
    guard("pvmdisplaymhfinfo", (), || {
        // SAFETY: the contract above.
        let who = unsafe { cstr(who) }.unwrap_or_default();
        // SAFETY: the contract above.
        let msg = unsafe { cstr(msg) }.unwrap_or_default();
        let me = crate::tid::fmt(tid);
        let list = mhf::list();
        let mut out = format!(
            "\n{who} {me}: message handlers: {} installed\n{who} {me}: {msg}\n",
            list.len()
        );
        let show = |v: i32| {
            if v == -1 {
                "any".to_string()
            } else {
                v.to_string()
            }
        };
        for (id, src, tag, ctx) in list {
            let src = if src == -1 {
                "any".to_string()
            } else {
                crate::tid::fmt(src)
            };
            out.push_str(&format!(
                "{who} {me}: mhid {id:2}  src {src:<8} tag {:>6}  ctx {:>8}\n",
                show(tag),
                show(ctx)
            ));
        }
        out.push('\n');
        use std::io::Write;
        let mut so = std::io::stdout().lock();
        let _ = so.write_all(out.as_bytes());
        let _ = so.flush();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn h(_mid: c_int) -> c_int {
        0
    }

    #[test]
    fn addmhf_null_and_duplicates() {
        assert_eq!(pvm_addmhf(-1, 88_001, -1, None), Error::BadParam.code());
        let id = pvm_addmhf(-1, 88_001, -1, Some(h));
        assert!(id >= 0);
        assert_eq!(pvm_addmhf(-1, 88_001, -1, Some(h)), Error::Exists.code());
        assert_eq!(pvm_delmhf(id), 0);
        assert_eq!(pvm_delmhf(id), Error::NotFound.code());
        assert_eq!(pvm_delmhf(-3), Error::BadParam.code());
    }

    #[test]
    fn tickle_needs_an_action() {
        assert_eq!(
            // SAFETY: NULL pointers are allowed and checked.
            unsafe {
                pvm_tickle(
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            },
            Error::BadParam.code()
        );
    }
}
