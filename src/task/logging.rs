//! The library's own log lines in a PVM program.
//!
//! The task runtime reports what it drops or refuses (a direct link that
//! broke its rules, a bad shared-memory frame, ...) through the `log`
//! facade. A C or Fortran program installs no logger, so the first PVM call
//! installs one ([`init`], from [`super::rt`]): env_logger, filtered by
//! `PVM_LOG` (or `RUST_LOG` when `PVM_LOG` is unset; default `warn`), one
//! line on stderr per record in the style of PVM's own reports,
//! `libpvm [t40001]: direct link refused: ...` (`libpvm [pid1234]` before
//! the task has a tid). A program that installed a logger of its own keeps
//! it. A spawned task's stderr goes to the daemon's log like the rest of
//! its output.
//!
//! The tid is kept here as well as in the task's state ([`set_tid`]), so
//! that a line can be written while the state lock is held.

use crate::tid;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

/// This task's tid for log lines; 0 while not enrolled.
static TID: AtomicI32 = AtomicI32::new(0);

/// Records the task's tid (0: not enrolled) for the lines' prefix, and
/// publishes it to C as PVM 3.4's `pvmmytid`.
pub fn set_tid(t: i32) {
    TID.store(t, Ordering::Relaxed);
    crate::os::cvars::publish_tid(t);
}

/// Whether the debug mask (`pvmdebmask`, PvmDebugMask) has `bit` set.
pub fn debugging(bit: i32) -> bool {
    crate::os::cvars::debug_mask() & bit != 0
}

/// A debug line on stderr, `libpvm [t40001]: <text>`, when the debug mask
/// (set by a program through `pvmdebmask` or pvm_setopt(PvmDebugMask))
/// has `bit` set ([`super::compat::debug`]). Written directly, not through
/// the `log` facade, so that no log level has to be set for it.
pub fn debug(bit: i32, text: impl FnOnce() -> String) {
    if debugging(bit) {
        use std::io::Write;
        let line = format!("libpvm [{}]: {}\n", who(), text());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// Who is speaking: `t40001`, or `pid1234` before enrollment.
pub fn who() -> String {
    prefix_of(TID.load(Ordering::Relaxed), std::process::id())
}

fn prefix_of(tid: i32, pid: u32) -> String {
    if tid > 0 {
        tid::fmt(tid)
    } else {
        format!("pid{pid}")
    }
}

/// Where pvm6's programs (the library, `pvmd3`, `pvm`) take their log
/// level from: `PVM_LOG`, else `RUST_LOG` (env_logger syntax), else `warn`.
pub fn env() -> env_logger::Env<'static> {
    let var = if std::env::var_os("PVM_LOG").is_some() {
        "PVM_LOG"
    } else {
        "RUST_LOG"
    };
    env_logger::Env::new().filter_or(var, "warn")
}

/// Installs the library's logger, once per process (see the module docs).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        // Fails only when the program has a logger already: it keeps its own.
        let _ = env_logger::Builder::from_env(env())
            .format(|buf, rec| writeln!(buf, "libpvm [{}]: {}", who(), rec.args()))
            .try_init();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_the_tid_once_enrolled_and_the_pid_before() {
        assert_eq!(prefix_of(0x40001, 77), "t40001");
        assert_eq!(prefix_of(0, 77), "pid77");
    }
}
