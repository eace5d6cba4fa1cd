//! The variables of PVM 3.4's libpvm that C programs read and write by
//! symbol and the task runtime itself uses: `int pvmmytid` (the task's tid,
//! -1 before enrollment), `int pvmdebmask` (the debug mask; a program may
//! write it, pvm_setopt(PvmDebugMask) sets it) and `int pvmtoplvl` (1 at the
//! top level of PVM calls: the trace macros of C libraries and pvm6's own
//! traced calls clear it while a call runs; a message handler run sets it
//! again, as PVM 3.4.6's `TEV_PUSHTOP` does). They live here, below
//! `task`, because `task` reads and writes them and may not import `ffi`,
//! and `#[no_mangle]` is unsafe code, allowed only in `ffi/` and `os/`.
//! `ffi::lpvm` re-exports them with the rest of libpvm's internals.

use std::sync::atomic::{AtomicI32, Ordering};

/// The task's tid, -1 while not enrolled (PVM's `pvmmytid`).
///
/// The layout is a C `int` (`AtomicI32` has `i32`'s size and alignment);
/// Rust writes it only through [`publish_tid`].
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmmytid: AtomicI32 = AtomicI32::new(-1);

/// The library's debug mask (PVM's `pvmdebmask`), a C `int`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmdebmask: AtomicI32 = AtomicI32::new(0);

/// 1 at the top level of a PVM call (PVM's `pvmtoplvl`), a C `int`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmtoplvl: AtomicI32 = AtomicI32::new(1);

/// Sets [`pvmmytid`] from the runtime's tid (0: not enrolled, shown as -1).
pub fn publish_tid(t: i32) {
    pvmmytid.store(if t > 0 { t } else { -1 }, Ordering::Relaxed);
}

/// The debug mask's current value.
pub fn debug_mask() -> i32 {
    pvmdebmask.load(Ordering::Relaxed)
}
