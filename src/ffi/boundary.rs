//! The one panic boundary and the argument converters every C entry point
//! uses.
//!
//! [`call`] runs an entry point's body: a `Result` becomes the C return value,
//! an error is stored in `pvm_errno` and reported as PVM does
//! (`libpvm [t40001]: pvm_send(): Bad parameter`), and a panic is caught and
//! turned into `PvmSysErr`, so nothing unwinds into C.
//!
//! The converters check NULL and counts and build the safe slices and
//! strings the core works with; they are the only places that turn a raw
//! pointer into a reference.

use crate::{Error, Result};
use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs the body of the C function `name`; see the module docs.
pub fn call(name: &str, body: impl FnOnce() -> Result<c_int>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => fail(name, e),
        Err(_) => {
            log::error!("{name}(): internal error (panic caught at the C boundary)");
            fail(name, Error::SysErr)
        }
    }
}

/// Like [`call`] but never reports (for calls whose "errors" are answers,
/// such as pvm_pstat's PvmNoTask or pvm_mstat's PvmHostFail); still sets
/// pvm_errno.
pub fn call_quiet(name: &str, body: impl FnOnce() -> Result<c_int>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            super::globals::set_errno(e.code());
            e.code()
        }
        Err(_) => {
            log::error!("{name}(): internal error (panic caught at the C boundary)");
            fail(name, Error::SysErr)
        }
    }
}

/// Runs a body returning something other than a status (a pointer, a
/// function pointer): a panic gives `fallback`.
pub fn guard<T>(name: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        log::error!("{name}(): internal error (panic caught at the C boundary)");
        super::globals::set_errno(Error::SysErr.code());
        fallback
    })
}

/// Records and reports error `e` of `name`; returns its code.
pub fn fail(name: &str, e: Error) -> c_int {
    super::globals::set_errno(e.code());
    crate::task::auto_error(name, e);
    e.code()
}

/// Maps a unit result to PvmOk.
pub fn ok(r: Result<()>) -> Result<c_int> {
    r.map(|()| 0)
}

/// A C string as bytes; NULL is `BadParam`.
///
/// # Safety
/// `p` is NULL or points at a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub unsafe fn cbytes<'a>(p: *const c_char) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(Error::BadParam);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A C string as UTF-8 text (invalid bytes replaced); NULL is `BadParam`.
///
/// # Safety
/// As [`cbytes`].
pub unsafe fn cstr(p: *const c_char) -> Result<String> {
    // SAFETY: forwarded contract.
    Ok(String::from_utf8_lossy(unsafe { cbytes(p) }?).into_owned())
}

/// An optional C string: NULL (or empty) is `None`.
///
/// # Safety
/// As [`cbytes`].
pub unsafe fn cstr_opt(p: *const c_char) -> Option<String> {
    // SAFETY: forwarded contract.
    unsafe { cstr(p) }.ok().filter(|s| !s.is_empty())
}

/// A NULL-terminated `char *argv[]` (NULL itself is an empty list).
///
/// # Safety
/// `p` is NULL or points at an array of C strings ended by a NULL entry.
pub unsafe fn argv(p: *const *const c_char) -> Vec<String> {
    let mut v = Vec::new();
    if p.is_null() {
        return v;
    }
    for i in 0.. {
        // SAFETY: the array is NULL-terminated, so every index up to the terminator is readable.
        let s = unsafe { *p.add(i) };
        if s.is_null() {
            break;
        }
        // SAFETY: each entry is a NUL-terminated string.
        v.push(unsafe { cstr(s) }.unwrap_or_default());
    }
    v
}

/// Number of elements `nitem` items with `stride` span: `(nitem-1)*stride+1`.
/// Negative counts, a stride below 1 and overflow are `BadParam`.
pub fn span(nitem: c_int, stride: c_int) -> Result<usize> {
    if nitem < 0 || stride < 1 {
        return Err(Error::BadParam);
    }
    if nitem == 0 {
        return Ok(0);
    }
    let n = (nitem as usize - 1)
        .checked_mul(stride as usize)
        .and_then(|v| v.checked_add(1));
    n.filter(|&v| v <= isize::MAX as usize / 16)
        .ok_or(Error::BadParam)
}

/// The elements `nitem` items at `stride` cover, as a slice.
///
/// # Safety
/// When `nitem > 0`, `p` is NULL or valid for reads of `span(nitem, stride)`
/// elements for `'a`.
pub unsafe fn slice<'a, T>(p: *const T, nitem: c_int, stride: c_int) -> Result<&'a [T]> {
    let n = span(nitem, stride)?;
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::BadParam);
    }
    // SAFETY: non-NULL and valid for n elements by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Like [`slice`], for writing.
///
/// # Safety
/// When `nitem > 0`, `p` is NULL or valid for writes of `span(nitem, stride)`
/// elements for `'a`, with no other reference to them.
pub unsafe fn slice_mut<'a, T>(p: *mut T, nitem: c_int, stride: c_int) -> Result<&'a mut [T]> {
    let n = span(nitem, stride)?;
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Error::BadParam);
    }
    // SAFETY: non-NULL, valid and exclusive for n elements by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
}

/// Stores `v` through an optional out-pointer.
///
/// # Safety
/// `p` is NULL or valid for a write of one `T`.
pub unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { p.write(v) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_counts_and_rejects() {
        assert_eq!(span(0, 1), Ok(0));
        assert_eq!(span(3, 1), Ok(3));
        assert_eq!(span(3, 2), Ok(5));
        assert_eq!(span(-1, 1), Err(Error::BadParam));
        assert_eq!(span(1, 0), Err(Error::BadParam));
        assert_eq!(span(i32::MAX, i32::MAX), Err(Error::BadParam));
    }

    #[test]
    fn panics_become_syserr() {
        let rc = call_quiet("pvm_test", || panic!("boom"));
        assert_eq!(rc, Error::SysErr.code());
    }
}
