//! C entry points of dynamic process groups (PVM 3.4's libgpvm3 API):
//! pvm_joingroup, pvm_lvgroup, pvm_gettid, pvm_getinst, pvm_gsize,
//! pvm_barrier, pvm_bcast, pvm_reduce, pvm_gather, pvm_scatter,
//! pvm_freezegroup, and the predefined reduce functions PvmMax, PvmMin,
//! PvmSum and PvmProduct (ordinary exported functions, so C code can pass
//! them as `void (*)(int *, void *, void *, int *, int *)`).
//!
//! They live in libpvm3 itself; libgpvm3 (built beside it, see
//! docs/ARCHITECTURE.md) only names libpvm3, so `-lgpvm3 -lpvm3` and
//! programs linked against PVM's libgpvm3.so.3 find them here.
//!
//! A NULL or empty group name is PvmNullGroup, as in PVM 3.4.6. As there,
//! only pvm_reduce, pvm_gather and pvm_scatter report their errors
//! (PvmAutoErr); the membership calls and pvm_barrier, pvm_bcast and
//! pvm_freezegroup just return them (and set pvm_errno).

use super::boundary::{call, call_quiet, ok};
use super::trace::Tev;
use crate::task::groups::{self as g, ReduceOp};
use crate::task::trace::{did, ev, Val};
use crate::{Error, Result};
use std::ffi::{c_char, c_int, c_void, CStr};

/// A reduce function as C passes it.
pub type ReduceFn =
    unsafe extern "C" fn(*mut c_int, *mut c_void, *mut c_void, *mut c_int, *mut c_int);

/// A group name: NULL is PvmNullGroup (an empty one is refused by the core).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for `'a`.
unsafe fn group<'a>(p: *const c_char) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(Error::NullGroup);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let n = unsafe { CStr::from_ptr(p) }.to_bytes();
    if n.is_empty() {
        return Err(Error::NullGroup);
    }
    Ok(n)
}

/// The user's array of `len` bytes at `p`; NULL is PvmBadParam.
///
/// # Safety
/// `p` is NULL or points at `len` readable bytes valid for `'a`.
unsafe fn bytes<'a>(p: *const c_void, len: usize) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(Error::BadParam);
    }
    // SAFETY: non-NULL, `len` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// As [`bytes`], writable.
///
/// # Safety
/// `p` is NULL or points at `len` writable bytes, not aliased, valid for `'a`.
unsafe fn bytes_mut<'a>(p: *mut c_void, len: usize) -> Result<&'a mut [u8]> {
    if p.is_null() {
        return Err(Error::BadParam);
    }
    // SAFETY: non-NULL, `len` writable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
}

/// Bytes of `count` elements of `datatype`; PvmBadParam for a bad type or count.
fn len_of(count: c_int, datatype: c_int) -> Result<usize> {
    let size = g::type_size(datatype)?;
    if count <= 0 {
        return Err(Error::BadParam);
    }
    (count as usize).checked_mul(size).ok_or(Error::BadParam)
}

/// Enrolls the caller in group `group`; returns its instance number.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_joingroup(group: *mut c_char) -> c_int {
    let body = || {
        call_quiet("pvm_joingroup", || {
            // SAFETY: the contract above.
            g::joingroup(unsafe { self::group(group) }?)
        })
    };
    // SAFETY: `group` as the contract above says.
    unsafe { traced_group(ev::JOINGROUP, group, None, did::CC, body) }
}

/// Leaves group `group`.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_lvgroup(group: *mut c_char) -> c_int {
    let body = || {
        call_quiet("pvm_lvgroup", || {
            // SAFETY: the contract above.
            ok(g::lvgroup(unsafe { self::group(group) }?))
        })
    };
    // SAFETY: `group` as the contract above says.
    unsafe { traced_group(ev::LVGROUP, group, None, did::CC, body) }
}

/// The tid of instance `inum` of `group`.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_gettid(group: *mut c_char, inum: c_int) -> c_int {
    let body = || {
        call_quiet("pvm_gettid", || {
            // SAFETY: the contract above.
            g::gettid(unsafe { self::group(group) }?, inum)
        })
    };
    // SAFETY: `group` as the contract above says.
    unsafe { traced_group(ev::GETTID, group, Some((did::GI, inum)), did::GT, body) }
}

/// The instance number of `tid` in `group`.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_getinst(group: *mut c_char, tid: c_int) -> c_int {
    let body = || {
        call_quiet("pvm_getinst", || {
            // SAFETY: the contract above.
            g::getinst(unsafe { self::group(group) }?, tid)
        })
    };
    // SAFETY: `group` as the contract above says.
    unsafe { traced_group(ev::GETINST, group, Some((did::GT, tid)), did::GI, body) }
}

/// The number of members of `group`.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_gsize(group: *mut c_char) -> c_int {
    let body = || {
        call_quiet("pvm_gsize", || {
            // SAFETY: the contract above.
            g::gsize(unsafe { self::group(group) }?)
        })
    };
    // SAFETY: `group` as the contract above says.
    unsafe { traced_group(ev::GSIZE, group, None, did::GS, body) }
}

/// Blocks until `count` members of `group` (-1: all) have called it.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_barrier(group: *mut c_char, count: c_int) -> c_int {
    let body = || {
        call_quiet("pvm_barrier", || {
            // SAFETY: the contract above.
            ok(g::barrier(unsafe { self::group(group) }?, count))
        })
    };
    // SAFETY: `group` as the contract above says.
    unsafe { traced_group(ev::BARRIER, group, Some((did::GBC, count)), did::CC, body) }
}

/// Sends the active send buffer to every other member of `group`.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_bcast(group: *mut c_char, msgtag: c_int) -> c_int {
    let sent = std::cell::RefCell::new(Vec::new());
    let body = || {
        call_quiet("pvm_bcast", || {
            // SAFETY: the contract above.
            let tids = g::bcast(unsafe { self::group(group) }?, msgtag)?;
            *sent.borrow_mut() = tids;
            Ok(0)
        })
    };
    let tev = Tev::top(ev::BCAST);
    // SAFETY: `group` as the contract above says.
    unsafe { group_entry(&tev, group, Some((did::MC, msgtag))) };
    let r = body();
    if let Some(t) = tev {
        // The tids it went to (none when it failed), as PVM 3.4.6's MDL.
        let to = sent.borrow();
        t.exit(&[(did::CC, Val::Int(r)), (did::MDL, Val::Ints(&to))]);
    }
    r
}

/// Makes `group` static once `size` members (-1: its current size) have
/// called it; returns the size.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_freezegroup(group: *mut c_char, size: c_int) -> c_int {
    call_quiet("pvm_freezegroup", || {
        // SAFETY: the contract above.
        g::freezegroup(unsafe { self::group(group) }?, size)
    })
}

/// Combines the members' `data` (`count` elements of `datatype`) with `func`
/// into the root instance's `data`.
///
/// # Safety
/// `func` is NULL or a function of the reduce signature; `data` is NULL or
/// points at `count` writable elements of `datatype`; `group` is NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_reduce(
    func: Option<ReduceFn>,
    data: *mut c_void,
    count: c_int,
    datatype: c_int,
    msgtag: c_int,
    group: *mut c_char,
    rootginst: c_int,
) -> c_int {
    call("pvm_reduce", || {
        let len = len_of(count, datatype)?;
        // SAFETY: the contract above.
        let name = unsafe { self::group(group) }?;
        // SAFETY: `data` holds `count` elements of `datatype` (the contract).
        let x = unsafe { bytes_mut(data, len) }?;
        // A NULL function fails only when there is something to combine
        // (PVM 3.4.6 accepts it from a group of one).
        let mut combine = |x: &mut [u8], y: &[u8]| -> Result<()> {
            let f = func.ok_or(Error::BadParam)?;
            // The received values, copied to 16-byte-aligned storage so the
            // function may read them as any of the types.
            let mut ybuf = vec![0u128; y.len().div_ceil(16)];
            let yb = ybuf.as_mut_ptr().cast::<u8>();
            // SAFETY: `ybuf` has at least y.len() bytes and does not overlap `y`.
            unsafe { std::ptr::copy_nonoverlapping(y.as_ptr(), yb, y.len()) };
            let (mut dt, mut n, mut info) = (datatype, count, 0);
            // SAFETY: `f` has the reduce signature (the contract); `x` is the
            // caller's own array (its alignment), `ybuf` holds as many bytes,
            // and the ints live across the call.
            unsafe { f(&mut dt, x.as_mut_ptr().cast(), yb.cast(), &mut n, &mut info) };
            if info < 0 {
                return Err(Error::from_code(info).unwrap_or(Error::BadParam));
            }
            Ok(())
        };
        ok(g::reduce(
            &mut combine,
            x,
            count,
            datatype,
            msgtag,
            name,
            rootginst,
        ))
    })
}

/// Every member sends `data` (`count` elements) to the root instance, which
/// receives them in `result` by instance order.
///
/// # Safety
/// `data` is NULL or points at `count` elements of `datatype`; at the root,
/// `result` points at (members × count) writable elements; `group` is NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_gather(
    result: *mut c_void,
    data: *mut c_void,
    count: c_int,
    datatype: c_int,
    msgtag: c_int,
    group: *mut c_char,
    rootginst: c_int,
) -> c_int {
    call("pvm_gather", || {
        let len = len_of(count, datatype)?;
        // SAFETY: the contract above.
        let name = unsafe { self::group(group) }?;
        // SAFETY: `data` holds `count` elements (the contract).
        let mine = unsafe { bytes(data, len) }?;
        if let Some(all) = g::gather(mine, count, datatype, msgtag, name, rootginst)? {
            // SAFETY: at the root `result` holds members × count elements.
            let out = unsafe { bytes_mut(result, all.len()) }?;
            out.copy_from_slice(&all);
        }
        Ok(0)
    })
}

/// The root instance sends the i-th block of `count` elements of its `data`
/// to the i-th member; every member receives its block in `result`.
///
/// # Safety
/// `result` is NULL or points at `count` writable elements of `datatype`; at
/// the root `data` points at (members × count) elements; `group` is NULL or
/// a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvm_scatter(
    result: *mut c_void,
    data: *mut c_void,
    count: c_int,
    datatype: c_int,
    msgtag: c_int,
    group: *mut c_char,
    rootginst: c_int,
) -> c_int {
    call("pvm_scatter", || {
        let len = len_of(count, datatype)?;
        // SAFETY: the contract above.
        let name = unsafe { self::group(group) }?;
        // SAFETY: `result` holds `count` writable elements (the contract).
        let out = unsafe { bytes_mut(result, len) }?;
        let mine = g::scatter(
            // SAFETY: at the root `data` holds members × count elements.
            |n| unsafe { bytes(data, n) }.map(<[u8]>::to_vec),
            count,
            datatype,
            msgtag,
            name,
            rootginst,
        )?;
        out.copy_from_slice(&mine);
        Ok(0)
    })
}

/// Body of the predefined reduce functions: `x[i] = op(x[i], y[i])`.
///
/// # Safety
/// The pointers are NULL or valid: `datatype`, `num`, `info` one int each,
/// `x` and `y` `*num` elements of `*datatype` (`x` writable).
unsafe fn predefined(
    op: ReduceOp,
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    let run = || -> Result<()> {
        if datatype.is_null() || num.is_null() {
            return Err(Error::BadParam);
        }
        // SAFETY: non-NULL ints (the contract).
        let (dt, n) = unsafe { (*datatype, *num) };
        let len = len_of(n, dt)?;
        // SAFETY: `x` and `y` hold `n` elements (the contract); the user
        // passes distinct arrays (pvm_reduce does).
        let (xs, ys) = unsafe { (bytes_mut(x, len)?, bytes(y, len)?) };
        g::apply(op, dt, xs, ys, n as usize)
    };
    let code = super::boundary::guard("PvmReduceFunction", Err(Error::SysErr), run)
        .map_or_else(|e| e.code(), |()| 0);
    if !info.is_null() {
        // SAFETY: non-NULL int (the contract).
        unsafe { *info = code };
    }
}

/// pvm_reduce's maximum: element-wise (complex values by modulus).
///
/// # Safety
/// As the reduce function signature: `x` and `y` hold `*num` elements of `*datatype`.
#[no_mangle]
#[allow(non_snake_case)]
pub unsafe extern "C" fn PvmMax(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { predefined(ReduceOp::Max, datatype, x, y, num, info) }
}

/// pvm_reduce's minimum: element-wise (complex values by modulus).
///
/// # Safety
/// As [`PvmMax`].
#[no_mangle]
#[allow(non_snake_case)]
pub unsafe extern "C" fn PvmMin(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { predefined(ReduceOp::Min, datatype, x, y, num, info) }
}

/// pvm_reduce's sum (PvmBadParam for PVM_BYTE).
///
/// # Safety
/// As [`PvmMax`].
#[no_mangle]
#[allow(non_snake_case)]
pub unsafe extern "C" fn PvmSum(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { predefined(ReduceOp::Sum, datatype, x, y, num, info) }
}

/// pvm_reduce's product (PvmBadParam for PVM_BYTE).
///
/// # Safety
/// As [`PvmMax`].
#[no_mangle]
#[allow(non_snake_case)]
pub unsafe extern "C" fn PvmProduct(
    datatype: *mut c_int,
    x: *mut c_void,
    y: *mut c_void,
    num: *mut c_int,
    info: *mut c_int,
) {
    // SAFETY: forwarded contract.
    unsafe { predefined(ReduceOp::Product, datatype, x, y, num, info) }
}

/// PVM 3.4's library-internal `pvmsleep(secs)`, which libpvm3.so.3 exports
/// and the distribution's group programs (trsg, the bwtest family) call
/// while they wait for members to join. Returns 0.
#[no_mangle]
pub extern "C" fn pvmsleep(secs: c_int) -> c_int {
    super::boundary::guard("pvmsleep", 0, || {
        std::thread::sleep(std::time::Duration::from_secs(secs.max(0) as u64));
        0
    })
}

/// PVM 3.4's library-internal `pvmgetclock(struct timeval *)`: the time of
/// day (the bwtest programs time with it). Returns 0, or -1 for NULL.
///
/// # Safety
/// `tv` is NULL or points at a writable `struct timeval`.
#[no_mangle]
pub unsafe extern "C" fn pvmgetclock(tv: *mut libc::timeval) -> c_int {
    super::boundary::guard("pvmgetclock", -1, || {
        if tv.is_null() {
            return -1;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // SAFETY: non-NULL and writable (the contract).
        unsafe {
            (*tv).tv_sec = now.as_secs() as libc::time_t;
            (*tv).tv_usec = now.subsec_micros() as libc::suseconds_t;
        }
        0
    })
}

/// Runs group call `kind` traced as PVM 3.4's group library traces it:
/// the group name (GN) and `arg` in, the result as `out`.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
unsafe fn traced_group(
    kind: c_int,
    group: *mut c_char,
    arg: Option<(c_int, c_int)>,
    out: c_int,
    body: impl FnOnce() -> c_int,
) -> c_int {
    let tev = Tev::top(kind);
    // SAFETY: the contract above.
    unsafe { group_entry(&tev, group, arg) };
    let r = body();
    if let Some(t) = tev {
        t.exit(&[(out, Val::Int(r))]);
    }
    r
}

/// The entry event of a traced group call: GN and `arg`.
///
/// # Safety
/// `group` is NULL or a NUL-terminated string.
unsafe fn group_entry(tev: &Option<Tev>, group: *mut c_char, arg: Option<(c_int, c_int)>) {
    if let Some(t) = tev {
        // SAFETY: the contract above.
        let name = unsafe { super::boundary::cbytes(group) }.unwrap_or(b"");
        let mut f = vec![(did::GN, Val::Str(name))];
        if let Some((d, v)) = arg {
            f.push((d, Val::Int(v)));
        }
        t.entry(&f);
    }
}
