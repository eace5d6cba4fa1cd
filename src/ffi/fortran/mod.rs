//! The Fortran 77 interface of libfpvm3: the `pvmf*_` entry points, one
//! submodule per family as in `ffi/` (process, buffers, messaging, mailbox,
//! groups, hosts), and here the conversions they share, so that each wrapper
//! is only its own conversion and the C call.
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
use crate::sync::Locked;
use crate::{Error, Result};
use std::ffi::{c_char, c_int, CString};
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

pub mod buffers;
pub mod groups;
pub mod hosts;
pub mod mailbox;
pub mod messaging;
pub mod process;

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
}
