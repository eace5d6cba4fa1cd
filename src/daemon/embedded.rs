//! The embedded runner: starts a daemon from inside a task's program when it
//! finds none, either by running a `pvmd3` executable or by forking the
//! daemon out of the program itself; and [`wait_ready`] for the caller's
//! retry loop.
//!
//! Why running the daemon in a forked child of a possibly multi-threaded
//! program is sound here: after `fork` only the calling thread exists in the
//! child, so any lock another thread held at that moment stays locked
//! forever. The daemon's code path never takes such a lock:
//! - memory: glibc's malloc re-initialises its arena locks in the child
//!   (its atfork handlers), so allocation is fork-safe;
//! - environment: [`DaemonOptions`] is built in the parent before the fork,
//!   and spawned tasks get their environment from that snapshot
//!   (`env_clear` + explicit variables), so the child never reads the live
//!   environment (whose lock a `set_var` in another thread could hold). The
//!   one remaining touch is the read lock std takes around `fork`/`exec` in
//!   `Command::spawn`, which only a concurrent `set_var` in the parent at the
//!   instant of our fork could leave write-locked;
//! - output: the daemon writes only to its own log file through its own
//!   `File`; it never uses `std::io::stdout`/`stderr` (their locks could be
//!   held) and, forked, does not call the `log` facade (the parent's logger
//!   could hold a lock) — `DaemonOptions::log_facade` is false;
//! - fds: the grandchild closes every descriptor it inherited (other than
//!   stdio, pointed at /dev/null) before creating its own, so it keeps none
//!   of the program's sockets or pipes open;
//! - it never returns into the program: `run` is wrapped in `catch_unwind`
//!   and the process ends with `_exit`, so no atexit handler or stdio buffer
//!   of the program runs twice.

use super::run;
// What a program needs to start a daemon (pvm_start_pvmd): the one door
// from the task runtime into the daemon (tests/layers.rs).
pub use super::{prepare_dir, DaemonOptions, MasterArgs};
use crate::os::{self, Fork};
use crate::paths::DaemonFiles;
use crate::{Error, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a daemon for the current environment in the background.
/// Returns once it has been started (not necessarily ready: see [`wait_ready`]).
pub fn start_background() -> Result<()> {
    if let Some(exe) = pvmd3_executable() {
        let status = Command::new(&exe)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|_| Error::CantStart)?;
        // pvmd3 without -f detaches and returns once its daemon answers (or another one does).
        return if status.success() {
            Ok(())
        } else {
            Err(Error::CantStart)
        };
    }
    start_background_with(DaemonOptions::from_env())
}

/// Forks a daemon with `opts` out of this process (see the module doc).
pub fn start_background_with(opts: DaemonOptions) -> Result<()> {
    let opts = DaemonOptions {
        log_facade: false,
        ..opts
    };
    detach_and_run(opts).map_err(|_| Error::CantStart)
}

/// Printed by `pvmd3 -v`; its presence in an executable's bytes tells our
/// pvmd3 from PVM 3.4's daemon of the same name (which a classic
/// installation keeps at `$PVM_ROOT/lib/$PVM_ARCH/pvmd3` and which speaks
/// another protocol).
pub const PVMD3_MARKER: &str = "pvm6 pvmd3, wire protocol 1";

/// A `pvmd3` executable of ours to run instead of forking: beside the
/// current executable, or `$PVM_ROOT/lib/$PVM_ARCH/pvmd3`; only one the
/// user has reason to trust ([`trusted_executable`]): a file planted in a
/// directory others can write is never run.
pub(crate) fn pvmd3_executable() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("pvmd3")));
    let in_root =
        crate::paths::pvm_root().map(|r| r.join("lib").join(crate::paths::arch()).join("pvmd3"));
    [beside, in_root]
        .into_iter()
        .flatten()
        .find(|p| trusted_executable(p).is_ok() && is_our_pvmd3(p))
}

/// Whether running `p` as this user is safe from other users: the file
/// (after symbolic links) and the directory holding it are owned by this
/// user or root, and neither can be written by group or others (a
/// directory others may write is accepted only with the sticky bit, as
/// /tmp, where they still cannot replace a file they do not own). Err says
/// why not.
pub fn trusted_executable(p: &std::path::Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = crate::os::uid();
    let real = std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let meta = std::fs::metadata(&real).map_err(|e| format!("{}: {e}", real.display()))?;
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "{} is owned by uid {}, neither this user nor root",
            real.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} can be written by group or others (mode {:04o})",
            real.display(),
            meta.mode() & 0o7777
        ));
    }
    if let Some(dir) = real.parent() {
        let d = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let sticky = d.mode() & 0o1000 != 0;
        if (d.uid() != me && d.uid() != 0) || (d.mode() & 0o022 != 0 && !sticky) {
            return Err(format!(
                "its directory {} is owned by uid {} with mode {:04o}: others could replace it",
                dir.display(),
                d.uid(),
                d.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// Whether `p` is an executable pvmd3 of this project (carries [`PVMD3_MARKER`]).
pub fn is_our_pvmd3(p: &std::path::Path) -> bool {
    let executable = std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if !executable {
        return false;
    }
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    holds(f, PVMD3_MARKER.as_bytes())
}

/// Whether what `r` reads holds `marker`: read in 64 KiB pieces (a pvmd3
/// with debug info is tens of MB; reading it whole cost every daemon that
/// looked milliseconds of page faults).
fn holds(mut r: impl std::io::Read, marker: &[u8]) -> bool {
    let keep = marker.len().saturating_sub(1);
    let mut buf = vec![0u8; (64 << 10) + keep];
    let mut have = 0;
    loop {
        let n = match r.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        have += n;
        if buf[..have].windows(marker.len()).any(|w| w == marker) {
            return true;
        }
        // The marker may straddle two pieces: keep the tail.
        let tail = have.saturating_sub(keep);
        buf.copy_within(tail..have, 0);
        have -= tail;
    }
}

/// Double-forks: the grandchild (in a new session, stdio on /dev/null, all
/// other descriptors closed) runs the daemon and `_exit`s; the first child
/// exits at once and is reaped here, so the daemon is nobody's zombie.
pub fn detach_and_run(opts: DaemonOptions) -> std::io::Result<()> {
    // A master with terminal dialogs keeps stdio until its hostfile's hosts
    // are in (it lets them go itself).
    let quiet = opts.dialog != super::Dialog::Detached;
    detach(opts, quiet)
}

/// Like [`detach_and_run`] for a slave daemon (`pvmd3 -s`): the grandchild
/// keeps stdout until the daemon has printed its reply line (then `run`
/// points stdio at /dev/null), so the remote shell returns only then.
pub fn detach_slave(opts: DaemonOptions) -> std::io::Result<()> {
    detach(opts, false)
}

/// The double fork of both: `quiet` points the grandchild's stdio at
/// /dev/null before the daemon runs.
fn detach(opts: DaemonOptions, quiet: bool) -> std::io::Result<()> {
    match os::fork()? {
        Fork::Parent(pid) => {
            // ECHILD (a SIGCHLD handler of the program reaped it first) is fine.
            let _ = os::wait_pid(pid);
            Ok(())
        }
        Fork::Child => {
            if os::setsid().is_err() {
                os::exit_now(1);
            }
            match os::fork() {
                Ok(Fork::Child) => {}
                Ok(Fork::Parent(_)) => os::exit_now(0),
                Err(_) => os::exit_now(1),
            }
            if quiet {
                let _ = os::stdio_to_dev_null();
            }
            os::close_fds_from(3);
            os::default_sigchld();
            let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(opts))) {
                Ok(Ok(())) => 0,
                _ => 1,
            };
            os::exit_now(code)
        }
    }
}

/// Polls connecting to the daemon's socket until it answers or `timeout`
/// passes (backing off from 5 ms to 100 ms between tries).
pub fn wait_ready(files: &DaemonFiles, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if std::os::unix::net::UnixStream::connect(&files.sock).is_ok() {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        std::thread::sleep(pause.min(end - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_marker_is_found_across_pieces() {
        let m = b"pvm6-marker";
        for at in [0usize, 5, (64 << 10) - 4, 64 << 10, 200_000] {
            let mut data = vec![b'x'; 300_000];
            data[at..at + m.len()].copy_from_slice(m);
            assert!(super::holds(&data[..], m), "at {at}");
        }
        assert!(!super::holds(&vec![b'x'; 300_000][..], m));
        assert!(!super::holds(&b""[..], m));
    }
}
