//! Signal dispositions, and the signal pipe the daemon's event loop
//! watches (a handler that writes one byte; by hand: it is a few lines,
//! and a crate for it would add a thread or a dependency for no gain).

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};

/// Ignores SIGPIPE in this process, so writing to a peer that went away
/// fails with EPIPE instead of killing the daemon.
pub fn ignore_sigpipe() {
    // SAFETY: installing SIG_IGN runs no code of ours in signal context; it cannot violate memory safety.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Restores the default SIGCHLD disposition (a host program may have set
/// SIG_IGN, which would make the kernel reap the daemon's children itself).
pub fn default_sigchld() {
    // SAFETY: installing SIG_DFL runs no code of ours in signal context.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
}

/// Write end of the pipe `on_signal` writes to (-1: none yet).
static SIGNAL_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = SIGNAL_PIPE.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: errno is thread-local; write(2) is async-signal-safe and the byte lives on
        // this frame; errno is restored so the interrupted code sees its own.
        unsafe {
            let saved = *libc::__errno_location();
            let byte = 1u8;
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *libc::__errno_location() = saved;
        }
    }
}

/// Turns `signals` into bytes on a non-blocking pipe: returns its read end,
/// which an event loop can watch (a signal arriving while the pipe is full
/// is not lost: the bytes already there say the same). For the daemon's
/// SIGTERM and SIGINT. Executed programs get the default actions back.
pub fn signal_pipe(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let (rx, tx) = rustix::pipe::pipe_with(
        rustix::pipe::PipeFlags::NONBLOCK | rustix::pipe::PipeFlags::CLOEXEC,
    )?;
    // The write end lives as long as the process (the handler may run at any time).
    let old = SIGNAL_PIPE.swap(tx.into_raw_fd(), std::sync::atomic::Ordering::Relaxed);
    if old >= 0 {
        // SAFETY: `old` was the write end installed by an earlier call, owned by this static.
        unsafe { libc::close(old) };
    }
    for &sig in signals {
        // SAFETY: sigaction is plain old data; all-zero is "no flags, empty mask".
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        // SAFETY: `act` is initialised and the handler only calls async-signal-safe functions.
        if unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(rx)
}
