//! Internals of PVM 3.4's libpvm that real programs and PVM's own tools
//! reference although pvm3.h does not declare them (found with `nm -D
//! --undefined-only` of Debian's binaries, listed in docs/COMPATIBILITY.md
//! "Exported symbols"):
//!
//! - `int pvmmytid`: the task's tid once enrolled, -1 before (Debian's
//!   libgpvm3 reads it to know who it is and whether to enroll);
//! - `int pvmbeatask(void)`: enrolls the caller if needed: 0 or an error;
//! - `int pvmdebmask`: the debug mask (pvm_setopt(PvmDebugMask) sets it,
//!   a program may write it: the distribution's ptest does); bits 0x2
//!   (messages sent and received), 0x4 (enrollment, exit) and 0x8000
//!   (mailbox) print `libpvm [t40001]: ...` lines on stderr;
//! - `int pvmendtask(void)`: leaves PVM without telling the daemon;
//! - `int pvmreset(int mytid, int killtasks, char *class, int index)`: the
//!   console's `reset`;
//! - `int pvmputenv(char *)`, `int pvmstrtoi(char *)`, `int i_dump(int)`:
//!   the console's helpers;
//! - `int gs_getgstid(void)`, `struct timeval *pvmgs_tmout`: what PVM's
//!   group tools (pvm_gstat, pvmgroups) take from libgpvm3: the tid of the
//!   group service (the master daemon, which answers their requests) and
//!   their receive timeout (NULL: wait).

use super::boundary::{call, call_quiet, cbytes, guard};
use crate::task;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::AtomicPtr;

// `pvmmytid` and `pvmdebmask` sit in `os::cvars`, below the task runtime
// that reads and writes them; they are libpvm internals like the rest here.
pub use crate::os::cvars::{publish_tid, pvmdebmask, pvmmytid};

/// Receive timeout of PVM's group tools (`struct timeval *`); NULL waits.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmgs_tmout: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// Enrolls the calling process if it is not yet a task: 0, or the error
/// (PvmSysErr when no daemon can be reached or started).
#[no_mangle]
pub extern "C" fn pvmbeatask() -> c_int {
    let r = call("pvmbeatask", || task::mytid().map(|_| 0));
    super::internals::sync();
    r
}

/// Leaves PVM without the goodbye pvm_exit sends: the connection closes
/// and the task forgets its tid ([`pvmmytid`] becomes -1). Returns 0.
#[no_mangle]
pub extern "C" fn pvmendtask() -> c_int {
    guard("pvmendtask", 0, || {
        task::compat::end_task();
        0
    })
}

/// The console's reset: with `killtasks`, kills every task but `mytid`
/// and those that set PvmNoReset; then deletes the persistent mailbox
/// entries whose owner has exited (of `class` when not NULL or empty, at
/// `index` when >= 0). Returns 0 or an error code.
///
/// # Safety
/// `class` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvmreset(
    mytid: c_int,
    killtasks: c_int,
    class: *const c_char,
    index: c_int,
) -> c_int {
    call("pvmreset", || {
        // SAFETY: NULL or NUL-terminated per the contract above.
        let class = (!class.is_null())
            .then(|| unsafe { cbytes(class) })
            .transpose()?;
        let kept = task::compat::reset(mytid, killtasks != 0, class, index)?;
        if kept > 0 {
            task::report_line(&format!(
                "pvmreset(): {kept} orphaned persistent mailbox entr{} kept (pvmd refuses to delete them)",
                if kept == 1 { "y" } else { "ies" }
            ));
        }
        Ok(0)
    })
}

/// Sets an environment variable from `NAME=VALUE` (copied; PVM's
/// `pvmputenv`): 0, or -1 when the text has no `=` or no name.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvmputenv(s: *const c_char) -> c_int {
    guard("pvmputenv", -1, || {
        // SAFETY: NULL or NUL-terminated per the contract above.
        let Ok(text) = (unsafe { cbytes(s) }) else {
            return -1;
        };
        let Some(eq) = text.iter().position(|&b| b == b'=').filter(|&e| e > 0) else {
            return -1;
        };
        let (Ok(name), Ok(value)) = (CString::new(&text[..eq]), CString::new(&text[eq + 1..]))
        else {
            return -1;
        };
        // SAFETY: both are NUL-terminated; setenv copies them. Like PVM's
        // pvmputenv it changes the process environment, which C code in
        // other threads must not be reading at that moment.
        unsafe { libc::setenv(name.as_ptr(), value.as_ptr(), 1) }
    })
}

/// `text` as an integer the way PVM's `pvmstrtoi` reads it: `0x...` hex,
/// a leading `0` octal, otherwise decimal with an optional sign (as
/// atoi: leading blanks skipped, stops at the first other character).
pub fn strtoi(text: &[u8]) -> i32 {
    let digits = |s: &[u8], radix: u32| {
        s.iter()
            .map_while(|&b| (b as char).to_digit(radix))
            .fold(0i32, |v, d| {
                v.wrapping_mul(radix as i32).wrapping_add(d as i32)
            })
    };
    match text {
        [b'0', b'x' | b'X', rest @ ..] => digits(rest, 16),
        [b'0', rest @ ..] => digits(rest, 8),
        _ => {
            let s: &[u8] = {
                let k = text
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(text.len());
                &text[k..]
            };
            match s {
                [b'-', rest @ ..] => digits(rest, 10).wrapping_neg(),
                [b'+', rest @ ..] => digits(rest, 10),
                _ => digits(s, 10),
            }
        }
    }
}

/// PVM's `pvmstrtoi`: [`strtoi`]; NULL is 0.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pvmstrtoi(p: *const c_char) -> c_int {
    guard("pvmstrtoi", 0, || {
        // SAFETY: NULL or NUL-terminated per the contract above.
        unsafe { cbytes(p) }.map(strtoi).unwrap_or(0)
    })
}

/// PVM's `i_dump`: lists the blocks its debugging allocator tracks. pvm6
/// has no such allocator, so there is nothing to list; returns 0.
#[no_mangle]
pub extern "C" fn i_dump(_how: c_int) -> c_int {
    0
}

/// The tid of the group service for PVM 3.4's group tools (libgpvm3's
/// `gs_getgstid`): the master daemon, which answers their `GSLS` (list of
/// groups) and `DUMP` requests (docs/ARCHITECTURE.md, "libgpvm3").
/// Enrolls first; an error code when the machine cannot be reached.
#[no_mangle]
pub extern "C" fn gs_getgstid() -> c_int {
    call_quiet("gs_getgstid", || {
        task::mytid()?;
        task::compat::group_server_tid()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn strtoi_reads_decimal_hex_and_octal() {
        assert_eq!(strtoi(b"42"), 42);
        assert_eq!(strtoi(b"  -7x"), -7);
        assert_eq!(strtoi(b"0x1F"), 31);
        assert_eq!(strtoi(b"0X40001"), 0x40001);
        assert_eq!(strtoi(b"017"), 15);
        assert_eq!(strtoi(b"0"), 0);
        assert_eq!(strtoi(b"08"), 0);
        assert_eq!(strtoi(b"abc"), 0);
        assert_eq!(strtoi(b""), 0);
    }

    #[test]
    fn mytid_is_minus_one_until_enrolled() {
        publish_tid(0);
        assert_eq!(pvmmytid.load(Ordering::Relaxed), -1);
        publish_tid(0x40003);
        assert_eq!(pvmmytid.load(Ordering::Relaxed), 0x40003);
        publish_tid(0);
        assert_eq!(pvmmytid.load(Ordering::Relaxed), -1);
    }
}
