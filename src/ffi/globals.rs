//! Data symbols libpvm3 exports to C: `pvm_errno`, `pvm_nerr` and
//! `pvm_errlist`, and the helpers the FFI layer uses to set and read
//! `pvm_errno`.
//!
//! All three live in writable data (nm shows `B`/`D`), as in PVM 3.4, because
//! C declares them as plain mutable objects (`extern int pvm_errno;`,
//! `extern char *pvm_errlist[];`).

use crate::error::ERROR_TEXTS;
use std::cell::UnsafeCell;
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicI32, Ordering};

/// Code of the last failing PVM call, read by C as `extern int pvm_errno`.
///
/// SAFETY of the layout: `AtomicI32` has the size, alignment and bit validity
/// of `i32` (= C `int` on every supported target), so C code that reads or
/// writes it as an `int` sees the same four bytes. Rust only touches it with
/// atomic operations, so Rust code never races with itself; a C program that
/// writes it from several threads races in C terms, exactly as with the
/// original library.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvm_errno: AtomicI32 = AtomicI32::new(0);

/// Number of entries of [`pvm_errlist`] (37, as in PVM 3.4.6). An atomic only
/// so that it lands in writable data like the original's `int pvm_nerr`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvm_nerr: AtomicI32 = AtomicI32::new(ERROR_TEXTS.len() as i32);

/// Number of texts.
const NERR: usize = ERROR_TEXTS.len();

/// Total bytes of all texts with their NULs.
const BLOB_LEN: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < NERR {
        n += ERROR_TEXTS[i].len() + 1;
        i += 1;
    }
    n
};

/// The texts of [`ERROR_TEXTS`] back to back, each followed by a NUL.
static BLOB: [u8; BLOB_LEN] = {
    let mut b = [0u8; BLOB_LEN];
    let mut at = 0;
    let mut i = 0;
    while i < NERR {
        let t = ERROR_TEXTS[i].as_bytes();
        let mut j = 0;
        while j < t.len() {
            b[at] = t[j];
            at += 1;
            j += 1;
        }
        at += 1; // the NUL
        i += 1;
    }
    b
};

/// Offset of each text inside [`BLOB`].
const OFFSETS: [usize; NERR] = {
    let mut o = [0usize; NERR];
    let mut at = 0;
    let mut i = 0;
    while i < NERR {
        o[i] = at;
        at += ERROR_TEXTS[i].len() + 1;
        i += 1;
    }
    o
};

/// The array behind `char *pvm_errlist[]`: one pointer per error text.
///
/// `#[repr(transparent)]` over an `UnsafeCell` of the array, so the symbol is
/// exactly `NERR` pointers in writable data, like C's array.
#[repr(transparent)]
pub struct ErrList(UnsafeCell<[*const c_char; NERR]>);

// SAFETY: the pointers point into the immutable static `BLOB`; Rust never
// writes the array (only `entry` reads it). C may write it, as it could with
// the original; that is the C program's own business.
unsafe impl Sync for ErrList {}

impl ErrList {
    /// Pointer number `i` of the table (`pvm_errlist[i]`), or None.
    pub fn entry(&self, i: usize) -> Option<*const c_char> {
        // SAFETY: `i` is bounds-checked and the cell holds a plain array of
        // pointers; reading one copy of it creates no lasting reference.
        (i < NERR).then(|| unsafe { (*self.0.get())[i] })
    }
}

/// `char *pvm_errlist[]`: error texts indexed by the negated code.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvm_errlist: ErrList = ErrList(UnsafeCell::new({
    let mut p = [std::ptr::null::<c_char>(); NERR];
    let mut i = 0;
    while i < NERR {
        // SAFETY: OFFSETS[i] < BLOB_LEN, so the pointer stays inside BLOB.
        p[i] = unsafe { BLOB.as_ptr().add(OFFSETS[i]) }.cast::<c_char>();
        i += 1;
    }
    p
}));

/// Stores `code` in `pvm_errno`.
pub fn set_errno(code: i32) {
    pvm_errno.store(code as c_int, Ordering::Relaxed);
}

/// The current value of `pvm_errno`.
pub fn errno() -> i32 {
    pvm_errno.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn errlist_texts_equal_error_texts() {
        assert_eq!(pvm_nerr.load(Ordering::Relaxed), 37);
        for (i, text) in ERROR_TEXTS.iter().enumerate() {
            let p = pvm_errlist.entry(i).unwrap();
            // SAFETY: entries point at NUL-terminated texts inside BLOB.
            let c = unsafe { CStr::from_ptr(p) };
            assert_eq!(c.to_str().unwrap(), *text, "entry {i}");
        }
        assert!(pvm_errlist.entry(37).is_none());
        assert_eq!(
            std::mem::size_of::<ErrList>(),
            37 * std::mem::size_of::<*const c_char>()
        );
    }

    #[test]
    fn errno_helpers_round_trip() {
        set_errno(-14);
        assert_eq!(errno(), -14);
        set_errno(0);
        assert_eq!(errno(), 0);
        assert_eq!(
            std::mem::size_of::<AtomicI32>(),
            std::mem::size_of::<c_int>()
        );
        assert_eq!(
            std::mem::align_of::<AtomicI32>(),
            std::mem::align_of::<c_int>()
        );
    }
}
