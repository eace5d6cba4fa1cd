//! Processes (rustix): ids, signals to a pid, pidfds, sessions, waiting;
//! fork and the descriptor clean-up of a forked child (by hand: no crate
//! makes fork safe); the daemon's lock and its private files.

use rustix::process::{Pid, Signal, WaitOptions};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The real user id of this process.
pub fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// The soft limit on open descriptors (RLIMIT_NOFILE; `usize::MAX` when
/// unlimited).
pub fn nofile_limit() -> usize {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or(usize::MAX, |n| n.min(usize::MAX as u64) as usize)
}

/// Sends `sig` to process `pid` (0: only checks that it may be signalled).
/// Returns false when the process does not exist, may not be signalled, or
/// `sig` is no signal.
pub fn kill(pid: i32, sig: i32) -> bool {
    // Never process groups or everyone by accident: Pid is positive.
    let Some(pid) = Pid::from_raw(pid).filter(|p| p.as_raw_nonzero().get() > 0) else {
        return false;
    };
    if sig == 0 {
        return rustix::process::test_kill_process(pid).is_ok();
    }
    match Signal::from_named_raw(sig) {
        Some(s) => rustix::process::kill_process(pid, s).is_ok(),
        // A real-time signal: rustix names none of them safely.
        None if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig) => {
            // SAFETY: kill takes plain integers; the pid is positive and the signal a real-time one.
            unsafe { libc::kill(pid.as_raw_nonzero().get(), sig) == 0 }
        }
        None => false,
    }
}

/// Whether process `pid` exists (signal 0 probe).
pub fn process_exists(pid: i32) -> bool {
    kill(pid, 0)
}

/// The host name of this machine (uname's nodename), without a domain.
pub fn hostname() -> String {
    let u = rustix::system::uname();
    let name = u.nodename().to_string_lossy().into_owned();
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}

/// A pidfd for process `pid` (Linux 5.3+): it polls readable once the process
/// has exited, which lets the event loop learn of child exits without a
/// signal handler.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    let pid = Pid::from_raw(pid).ok_or(io::ErrorKind::InvalidInput)?;
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

/// Takes an exclusive `flock` on `file` without waiting. `Ok(false)` when
/// another open file description (another daemon) holds it.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes `text` to `path`, created (or truncated) with mode 0600: the
/// daemon's address and secret files.
pub fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// The result of [`fork`]: which side of the fork we are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// In the parent; the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

/// `fork()`. The child must restrict itself to what is sound after a fork in
/// a possibly threaded process (see `daemon::embedded` for why the daemon is).
pub fn fork() -> io::Result<Fork> {
    // SAFETY: fork takes no arguments. Soundness of what the child then runs is the caller's
    // documented duty (only the calling thread exists in the child; no lock held by another
    // thread of the parent may be taken there).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(if pid == 0 {
        Fork::Child
    } else {
        Fork::Parent(pid)
    })
}

/// `setsid()`: a new session without a controlling terminal.
pub fn setsid() -> io::Result<()> {
    rustix::process::setsid()?;
    Ok(())
}

/// Points fds 0, 1 and 2 at /dev/null.
pub fn stdio_to_dev_null() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&null)?;
    Ok(())
}

/// Closes every descriptor from `first` up (close_range, or a loop where the
/// kernel lacks it). Only for a freshly forked child that owns nothing else.
pub fn close_fds_from(first: i32) {
    // SAFETY: close_range takes integers only; it closes descriptors, which in a fresh
    // child that has not yet created any Rust-owned fd at or above `first` cannot
    // invalidate a live owner.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            u32::MAX,
            0 as libc::c_uint,
        )
    };
    if rc != 0 {
        for fd in first..1024 {
            // SAFETY: as above; closing a descriptor that is not open just fails with EBADF.
            unsafe { libc::close(fd) };
        }
    }
}

/// Waits (blocking) for child `pid` to end; its wait status.
pub fn wait_pid(pid: i32) -> io::Result<i32> {
    let pid = Pid::from_raw(pid).ok_or(io::ErrorKind::InvalidInput)?;
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(status.as_raw()),
            Ok(None) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A reaped child process: its wait status (as wait(2) gives it) and the
/// user and system CPU time it used, as (seconds, microseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    pub status: i32,
    pub user: (i64, i64),
    pub system: (i64, i64),
}

/// Reaps child `pid` if it has ended, with its resource usage (wait4 with
/// WNOHANG): `Ok(None)` while it runs.
pub fn reap_child(pid: i32) -> io::Result<Option<Reaped>> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types; wait4
        // writes them and keeps no reference.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == 0 {
            return Ok(None);
        }
        if r > 0 {
            return Ok(Some(Reaped {
                status,
                user: (ru.ru_utime.tv_sec, ru.ru_utime.tv_usec),
                system: (ru.ru_stime.tv_sec, ru.ru_stime.tv_usec),
            }));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Ends this process at once with `code`, running no atexit handlers and
/// flushing no stdio buffers (the right exit for a forked child).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no user-space state.
    unsafe { libc::_exit(code) }
}
