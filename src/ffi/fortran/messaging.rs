//! Fortran sending and receiving: pvmfsend ... pvmfprecv (conventions in
//! `mod.rs`).

use super::*;
use crate::ffi::{buffers, messaging};
use std::ffi::{c_int, c_void};

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
