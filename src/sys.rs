//! The operating-system side of the FFI layer: every `libc` call the core
//! needs, wrapped in a safe function whose comment states why the call is
//! sound. Nothing outside this module (and `ffi`) uses `unsafe`.

/// The real user id of this process.
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Sends `sig` to process `pid`. Returns false when the process does not
/// exist or may not be signalled.
pub fn kill(pid: i32, sig: i32) -> bool {
    if pid <= 0 {
        return false; // never signal process groups or everyone by accident
    }
    // SAFETY: kill takes plain integers; a bad pid or signal is reported via the return value.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Whether process `pid` exists (signal 0 probe).
pub fn process_exists(pid: i32) -> bool {
    kill(pid, 0)
}

/// The host name of this machine (`gethostname`), without a domain.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for buf.len() bytes; gethostname NUL-terminates within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Waits until `fd` is readable (or hung up) or `timeout` passes (`None`
/// waits forever). Returns whether it is readable.
pub fn poll_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: Option<std::time::Duration>,
) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                // round up so a short wait is not a busy loop of zero timeouts
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
            }
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd for the duration of the call; the fd is borrowed, so open.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc > 0 {
            return true;
        }
        if rc == 0 {
            return false;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}
