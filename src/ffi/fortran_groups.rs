//! The group calls of the Fortran 77 interface (libfpvm3's pvmfjoingroup ...
//! pvmfreduce) and the reduction functions `pvmmax_`, `pvmmin_`, `pvmsum_`,
//! `pvmproduct_` that Fortran programs pass to pvmfreduce.
//!
//! Conventions as in `fortran.rs`: arguments by reference, hidden string
//! lengths last, `info` (or the result argument) stored on every path.
//! Group names longer than 31 characters (PVM 3.4.6's buffer) give
//! `PvmBadParam`. Each wrapper calls the C entry point of the group library
//! (`pvm_joingroup`, ...), declared here by its pvm3.h signature and resolved
//! by the linker inside libpvm3, so errors are reported as for C callers.
//! pvmfreduce hands the Fortran function on unchanged: the C reduction
//! functions take only pointers, so a Fortran SUBROUTINE
//! `f(datatype, x, y, num, info)` is called correctly, and `pvmsum` etc.
//! jump to `PvmSum` etc. Data type codes are the C ones (fpvm3.h's INTEGER4
//! is PVM_INT, ...).
//!
//! Built only when the group library is part of the crate (`pub mod
//! fortran_groups;` in `ffi/mod.rs`).

use super::boundary::guard;
use super::fortran::{FLen, MAX_GROUP};
use crate::{Error, Result};
use std::ffi::{c_char, c_int, c_void, CString};

/// The C reduction function type of pvm_reduce.
pub type ReduceFn =
    Option<unsafe extern "C" fn(*mut c_int, *mut c_void, *mut c_void, *mut c_int, *mut c_int)>;

#[allow(non_snake_case)]
extern "C" {
    fn pvm_joingroup(group: *mut c_char) -> c_int;
    fn pvm_lvgroup(group: *mut c_char) -> c_int;
    fn pvm_gettid(group: *mut c_char, inum: c_int) -> c_int;
    fn pvm_getinst(group: *mut c_char, tid: c_int) -> c_int;
    fn pvm_gsize(group: *mut c_char) -> c_int;
    fn pvm_barrier(group: *mut c_char, count: c_int) -> c_int;
    fn pvm_bcast(group: *mut c_char, msgtag: c_int) -> c_int;
    fn pvm_freezegroup(group: *mut c_char, size: c_int) -> c_int;
    fn pvm_reduce(
        func: ReduceFn,
        data: *mut c_void,
        count: c_int,
        datatype: c_int,
        msgtag: c_int,
        group: *mut c_char,
        root: c_int,
    ) -> c_int;
    fn pvm_gather(
        result: *mut c_void,
        data: *mut c_void,
        count: c_int,
        datatype: c_int,
        msgtag: c_int,
        group: *mut c_char,
        root: c_int,
    ) -> c_int;
    fn pvm_scatter(
        result: *mut c_void,
        data: *mut c_void,
        count: c_int,
        datatype: c_int,
        msgtag: c_int,
        group: *mut c_char,
        root: c_int,
    ) -> c_int;
    fn PvmMax(
        datatype: *mut c_int,
        x: *mut c_void,
        y: *mut c_void,
        num: *mut c_int,
        info: *mut c_int,
    );
    fn PvmMin(
        datatype: *mut c_int,
        x: *mut c_void,
        y: *mut c_void,
        num: *mut c_int,
        info: *mut c_int,
    );
    fn PvmSum(
        datatype: *mut c_int,
        x: *mut c_void,
        y: *mut c_void,
        num: *mut c_int,
        info: *mut c_int,
    );
    fn PvmProduct(
        datatype: *mut c_int,
        x: *mut c_void,
        y: *mut c_void,
        num: *mut c_int,
        info: *mut c_int,
    );
}

/// A group name argument as a C string; too long or NULL is `BadParam`.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` bytes.
unsafe fn group_name(p: *const c_char, len: FLen) -> Result<CString> {
    if p.is_null() {
        return Err(Error::BadParam);
    }
    // SAFETY: non-NULL and `len` readable bytes by the caller's contract.
    let raw = unsafe { std::slice::from_raw_parts(p as *const u8, len) };
    let t = super::fortran::ftext(raw, MAX_GROUP).ok_or(Error::BadParam)?;
    CString::new(t).map_err(|_| Error::BadParam)
}

/// Reads an INTEGER argument; NULL is `BadParam`.
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

/// Runs `body` and stores its value or error code in `out`.
///
/// # Safety
/// `out` is NULL or valid for a write of one int.
unsafe fn ret(name: &str, out: *mut c_int, body: impl FnOnce() -> Result<c_int>) {
    let v = guard(name, Error::SysErr.code(), || {
        body().unwrap_or_else(|e| e.code())
    });
    // SAFETY: forwarded contract.
    unsafe { super::boundary::put(out, v) };
}

/// `call pvmfjoingroup(group, inum)`: joins `group`; `inum` is the instance number or an error.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfjoingroup_(group: *const c_char, inum: *mut c_int, group_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfjoingroup", inum, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_joingroup(g.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmflvgroup(group, info)`: leaves `group`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmflvgroup_(group: *const c_char, info: *mut c_int, group_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmflvgroup", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_lvgroup(g.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmfgsize(group, size)`: the number of members.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgsize_(group: *const c_char, size: *mut c_int, group_len: FLen) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfgsize", size, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_gsize(g.as_ptr() as *mut c_char))
        })
    }
}

/// `call pvmfgettid(group, inum, tid)`: the tid of instance `inum`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgettid_(
    group: *const c_char,
    inum: *const c_int,
    tid: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfgettid", tid, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_gettid(g.as_ptr() as *mut c_char, arg(inum)?))
        })
    }
}

/// `call pvmfgetinst(group, tid, inum)`: the instance number of `tid`.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfgetinst_(
    group: *const c_char,
    tid: *const c_int,
    inum: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfgetinst", inum, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_getinst(g.as_ptr() as *mut c_char, arg(tid)?))
        })
    }
}

/// `call pvmfbarrier(group, count, info)`: waits until `count` members called it.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfbarrier_(
    group: *const c_char,
    count: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfbarrier", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_barrier(g.as_ptr() as *mut c_char, arg(count)?))
        })
    }
}

/// `call pvmfbcast(group, msgtag, info)`: sends the active buffer to the other members.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmfbcast_(
    group: *const c_char,
    msgtag: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmfbcast", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_bcast(g.as_ptr() as *mut c_char, arg(msgtag)?))
        })
    }
}

/// `call pvmffreezegroup(group, size, info)`: makes the group static once it has `size` members.
///
/// # Safety
/// Arguments by reference as described in the module docs.
#[no_mangle]
pub unsafe extern "C" fn pvmffreezegroup_(
    group: *const c_char,
    size: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; the C call takes a C string.
    unsafe {
        ret("pvmffreezegroup", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_freezegroup(g.as_ptr() as *mut c_char, arg(size)?))
        })
    }
}

/// `call pvmfreduce(func, data, count, datatype, msgtag, group, root, info)`: combines `data` of all members with `func` (pvmmax, pvmmin, pvmsum, pvmproduct or a user subroutine); the result lands in `data` of instance `root`.
///
/// # Safety
/// Arguments by reference as described in the module docs; the arrays hold
/// what the C call's man page says.
#[no_mangle]
pub unsafe extern "C" fn pvmfreduce_(
    func: ReduceFn,
    data: *mut c_void,
    count: *const c_int,
    datatype: *const c_int,
    msgtag: *const c_int,
    group: *const c_char,
    root: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; arrays per the contract.
    unsafe {
        ret("pvmfreduce", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_reduce(
                func,
                data,
                arg(count)?,
                arg(datatype)?,
                arg(msgtag)?,
                g.as_ptr() as *mut c_char,
                arg(root)?,
            ))
        })
    }
}

/// `call pvmfgather(result, data, count, datatype, msgtag, group, root, info)`: instance `root` collects every member's `data` into `result`, in instance order.
///
/// # Safety
/// Arguments by reference as described in the module docs; the arrays hold
/// what the C call's man page says.
#[no_mangle]
pub unsafe extern "C" fn pvmfgather_(
    result: *mut c_void,
    data: *mut c_void,
    count: *const c_int,
    datatype: *const c_int,
    msgtag: *const c_int,
    group: *const c_char,
    root: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; arrays per the contract.
    unsafe {
        ret("pvmfgather", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_gather(
                result,
                data,
                arg(count)?,
                arg(datatype)?,
                arg(msgtag)?,
                g.as_ptr() as *mut c_char,
                arg(root)?,
            ))
        })
    }
}

/// `call pvmfscatter(result, data, count, datatype, msgtag, group, root, info)`: instance `root` hands out `count` items of `data` to each member's `result`.
///
/// # Safety
/// Arguments by reference as described in the module docs; the arrays hold
/// what the C call's man page says.
#[no_mangle]
pub unsafe extern "C" fn pvmfscatter_(
    result: *mut c_void,
    data: *mut c_void,
    count: *const c_int,
    datatype: *const c_int,
    msgtag: *const c_int,
    group: *const c_char,
    root: *const c_int,
    info: *mut c_int,
    group_len: FLen,
) {
    // SAFETY: Fortran reference arguments with their hidden lengths; arrays per the contract.
    unsafe {
        ret("pvmfscatter", info, || {
            let g = group_name(group, group_len)?;
            Ok(pvm_scatter(
                result,
                data,
                arg(count)?,
                arg(datatype)?,
                arg(msgtag)?,
                g.as_ptr() as *mut c_char,
                arg(root)?,
            ))
        })
    }
}

/// The Fortran name of `PvmMax`, to pass to pvmfreduce (`external pvmmax`).
///
/// # Safety
/// As `PvmMax`: `x` and `y` hold `num` items of `datatype`.
#[no_mangle]
pub unsafe extern "C" fn pvmmax_(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { PvmMax(datatype, x, y, num, info) }
}

/// The Fortran name of `PvmMin`, to pass to pvmfreduce (`external pvmmin`).
///
/// # Safety
/// As `PvmMin`: `x` and `y` hold `num` items of `datatype`.
#[no_mangle]
pub unsafe extern "C" fn pvmmin_(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { PvmMin(datatype, x, y, num, info) }
}

/// The Fortran name of `PvmSum`, to pass to pvmfreduce (`external pvmsum`).
///
/// # Safety
/// As `PvmSum`: `x` and `y` hold `num` items of `datatype`.
#[no_mangle]
pub unsafe extern "C" fn pvmsum_(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { PvmSum(datatype, x, y, num, info) }
}

/// The Fortran name of `PvmProduct`, to pass to pvmfreduce (`external pvmproduct`).
///
/// # Safety
/// As `PvmProduct`: `x` and `y` hold `num` items of `datatype`.
#[no_mangle]
pub unsafe extern "C" fn pvmproduct_(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { PvmProduct(datatype, x, y, num, info) }
}
