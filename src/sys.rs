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
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// The result of [`fork`]: which side of the fork we are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// In the parent; the child's pid.
    Parent(i32),
    /// In the child.
    Child,
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Takes an exclusive `flock` on `file` without waiting. `Ok(false)` when
/// another open file description (another daemon) holds it.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: the fd is owned by `file`, which outlives the call; flock only reads the integer.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Credentials of the peer of a connected Unix socket: (pid, uid, gid).
pub fn peer_cred(sock: &impl AsRawFd) -> io::Result<(i32, u32, u32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a valid, writable ucred and `len` holds its exact size, as SO_PEERCRED requires;
    // the fd stays open for the duration of the call because `sock` is borrowed.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    cvt(rc)?;
    Ok((cred.pid, cred.uid, cred.gid))
}

/// A pidfd for process `pid` (Linux 5.3+): it polls readable once the process
/// has exited, which lets the event loop learn of child exits without a
/// signal handler.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd to us (it is close-on-exec); nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// A listening TCP socket on `[::]:port` with IPV6_V6ONLY switched off, so it
/// also accepts IPv4 connections (as v4-mapped addresses). Non-blocking and
/// close-on-exec.
pub fn tcp_listen_dual_stack(port: u16) -> io::Result<std::net::TcpListener> {
    // SAFETY: socket() takes only integers; the result is checked before use.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    })?;
    // SAFETY: fd was just created by socket() and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let off: libc::c_int = 0;
    let on: libc::c_int = 1;
    let intlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the option values are valid c_ints living across the calls, and intlen is their size.
    unsafe {
        cvt(libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&off as *const libc::c_int).cast(),
            intlen,
        ))?;
        cvt(libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&on as *const libc::c_int).cast(),
            intlen,
        ))?;
    }
    // SAFETY: sockaddr_in6 is plain old data; all-zero is the unspecified address [::] with no scope.
    let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    addr.sin6_port = port.to_be();
    // SAFETY: addr is a valid sockaddr_in6 and the length passed is its size.
    cvt(unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    })?;
    // SAFETY: listen takes integers only.
    cvt(unsafe { libc::listen(fd, 128) })?;
    Ok(std::net::TcpListener::from(owned))
}

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

/// `fork()`. The child must restrict itself to what is sound after a fork in
/// a possibly threaded process (see `daemon::embedded` for why the daemon is).
pub fn fork() -> io::Result<Fork> {
    // SAFETY: fork takes no arguments. Soundness of what the child then runs is the caller's
    // documented duty (only the calling thread exists in the child; no lock held by another
    // thread of the parent may be taken there).
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Fork::Child
    } else {
        Fork::Parent(pid)
    })
}

/// `setsid()`: a new session without a controlling terminal.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments; failure is reported via the return value.
    cvt(unsafe { libc::setsid() }).map(|_| ())
}

/// Points fds 0, 1 and 2 at /dev/null.
pub fn stdio_to_dev_null() -> io::Result<()> {
    // SAFETY: the path is a NUL-terminated static string; open returns a new fd or -1.
    let fd = cvt(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) })?;
    for target in 0..3 {
        // SAFETY: dup2 on two integers; fd is open, target is a standard descriptor.
        cvt(unsafe { libc::dup2(fd, target) })?;
    }
    if fd > 2 {
        // SAFETY: fd is ours (opened above) and no longer needed after the dup2 calls.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Turns the terminal on `fd` echoing on or off; returns whether it echoed
/// before. `Err` when `fd` is not a terminal.
pub fn set_echo(fd: BorrowedFd<'_>, on: bool) -> io::Result<bool> {
    // SAFETY: termios is plain data; zeroed is a valid value to be filled in.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is borrowed (open for the call), t is a valid termios.
    cvt(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) })?;
    let was = t.c_lflag & libc::ECHO != 0;
    if on {
        t.c_lflag |= libc::ECHO;
    } else {
        t.c_lflag &= !libc::ECHO;
    }
    // SAFETY: as above; t holds the attributes just read with ECHO changed.
    cvt(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) })?;
    Ok(was)
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
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: status is a valid writable int for the duration of the call.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc >= 0 {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Gives the heap's free memory back to the system (`malloc_trim(0)`):
/// glibc keeps freed memory of large buffers for reuse, so a daemon that
/// has relayed a burst of big messages would otherwise keep that peak.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks and releases the allocator's own free
    // lists; it has no preconditions and takes the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Ends this process at once with `code`, running no atexit handlers and
/// flushing no stdio buffers (the right exit for a forked child).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no user-space state.
    unsafe { libc::_exit(code) }
}

/// Readiness wanted from, or reported for, one descriptor in [`poll_many`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Readable (or, when reported: data, end of stream, hang-up or error).
    pub read: bool,
    /// Writable (when reported: also set on error or hang-up, so a writer
    /// tries again and sees the failure).
    pub write: bool,
}

/// Waits until one of `fds` is ready as asked, or `timeout` passes (`None`
/// waits forever). Returns the readiness of each descriptor, in order (all
/// false after a timeout). An interrupted wait is resumed with the time left.
pub fn poll_many(
    fds: &[(std::os::fd::BorrowedFd<'_>, Ready)],
    timeout: Option<std::time::Duration>,
) -> io::Result<Vec<Ready>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, want)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: (if want.read { libc::POLLIN } else { 0 })
                | (if want.write { libc::POLLOUT } else { 0 }),
            revents: 0,
        })
        .collect();
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
            }
        };
        // SAFETY: `p` is a valid array of p.len() pollfds for the duration of the call, and every
        // fd in it is borrowed by `fds`, so it stays open until poll returns.
        let rc = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
        if rc >= 0 {
            let bad = libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
            return Ok(p
                .iter()
                .map(|q| Ready {
                    read: q.revents & (libc::POLLIN | bad) != 0,
                    write: q.revents & (libc::POLLOUT | bad) != 0,
                })
                .collect());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes as much of `bufs` as the socket takes now, without blocking and
/// without SIGPIPE (a peer that went away gives `EPIPE`). Returns the number
/// of bytes written; `WouldBlock` when nothing could be.
pub fn send_nonblocking(
    sock: std::os::fd::BorrowedFd<'_>,
    bufs: &[std::io::IoSlice<'_>],
) -> io::Result<usize> {
    send_flags(sock, bufs, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT)
}

/// Writes `bufs` (some of them: the count is returned) to a blocking
/// socket without SIGPIPE: a daemon that went away (or refused the
/// connection) gives `EPIPE` to the caller instead of killing the program.
pub fn send_nosignal(
    sock: std::os::fd::BorrowedFd<'_>,
    bufs: &[std::io::IoSlice<'_>],
) -> io::Result<usize> {
    send_flags(sock, bufs, libc::MSG_NOSIGNAL)
}

fn send_flags(
    sock: std::os::fd::BorrowedFd<'_>,
    bufs: &[std::io::IoSlice<'_>],
    flags: i32,
) -> io::Result<usize> {
    // SAFETY: msghdr is plain old data; all-zero is an empty message with no name or control data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with struct iovec; sendmsg only reads through it.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
    loop {
        // SAFETY: msg points at bufs.len() (capped at UIO_MAXIOV) valid iovecs borrowed for the
        // call; the fd is borrowed, so open.
        let rc = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, flags) };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `n` bytes from the kernel's random source (`getrandom`), for nonces.
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    let mut got = 0;
    while got < N {
        // SAFETY: the destination is the unfilled tail of `b`, valid for N - got bytes.
        let rc = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), N - got, 0) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        got += rc as usize;
    }
    Ok(b)
}

// ---- network interfaces (used by net::addr) ----

/// One address of a local network interface, as `getifaddrs` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    /// Interface name (`eth0`, `lo`, ...).
    pub name: String,
    /// The address (IPv4 or IPv6).
    pub addr: std::net::IpAddr,
    /// IPv6 scope id (the interface index for link-local addresses); 0 for IPv4.
    pub scope_id: u32,
    /// The interface is up (IFF_UP).
    pub up: bool,
    /// The interface is a loopback interface (IFF_LOOPBACK).
    pub loopback: bool,
}

/// Every IPv4/IPv6 address of every local interface (`getifaddrs`), in the
/// kernel's order. Entries of other families (packet sockets) are skipped.
pub fn interface_addresses() -> io::Result<Vec<IfAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; on success getifaddrs stores a list we free below.
    cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and points to at least a sockaddr header.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as libc::c_int;
        let (addr, scope_id) = match family {
            libc::AF_INET => {
                // SAFETY: the family says this sockaddr is a sockaddr_in; read_unaligned
                // does not assume alignment.
                let sin =
                    unsafe { std::ptr::read_unaligned(ifa.ifa_addr as *const libc::sockaddr_in) };
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                (std::net::IpAddr::V4(ip), 0)
            }
            libc::AF_INET6 => {
                // SAFETY: the family says this sockaddr is a sockaddr_in6.
                let sin6 =
                    unsafe { std::ptr::read_unaligned(ifa.ifa_addr as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                (std::net::IpAddr::V6(ip), sin6.sin6_scope_id)
            }
            _ => continue,
        };
        let flags = ifa.ifa_flags as libc::c_int;
        out.push(IfAddr {
            name,
            addr,
            scope_id,
            up: flags & libc::IFF_UP != 0,
            loopback: flags & libc::IFF_LOOPBACK != 0,
        });
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed exactly once; no
    // reference into the list outlives this point (names were copied).
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The index of the interface called `name` (`if_nametoindex`); `None` when
/// there is no such interface.
pub fn if_name_to_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// The name of interface number `index` (`if_indextoname`); `None` when
/// there is no such interface.
pub fn if_index_to_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Asks for `bytes` of send and receive buffer on a socket (the kernel may
/// give less; failure is harmless and ignored).
pub fn set_socket_buffers(sock: &impl AsRawFd, bytes: i32) {
    let fd = sock.as_raw_fd();
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        // SAFETY: fd is a socket the caller owns; the option value is a c_int living across the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const libc::c_int).cast(),
                len,
            );
        }
    }
}

/// Bytes written on a TCP socket that its peer's kernel has not
/// acknowledged yet (TIOCOUTQ); 0 when that cannot be told.
pub fn unacked_bytes(sock: &impl AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: the caller owns the socket; TIOCOUTQ writes one c_int to `n`, which lives across the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &mut n as *mut libc::c_int) };
    if r == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

/// Copies up to `buf.len()` bytes waiting on the socket without taking
/// them (MSG_PEEK) and without blocking: `WouldBlock` when there are none,
/// 0 at end of stream.
pub fn peek(sock: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is writable for buf.len() bytes during the call.
    unsafe {
        recv_into(
            sock,
            buf.as_mut_ptr(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    }
}

/// recv(2) of up to `len` bytes to `ptr` with `flags`, again when a signal
/// interrupted it.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the duration of the call.
unsafe fn recv_into(
    sock: std::os::fd::BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    flags: libc::c_int,
) -> io::Result<usize> {
    loop {
        // SAFETY: the caller guarantees ptr..ptr+len is writable; the fd is borrowed, so open.
        let rc = unsafe { libc::recv(sock.as_raw_fd(), ptr.cast(), len, flags) };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Like [`send_nonblocking`], and passes `fd` (SCM_RIGHTS) with the first
/// byte written: the peer's [`recv_with_fds`] receives a duplicate of it.
pub fn send_nonblocking_with_fd(
    sock: std::os::fd::BorrowedFd<'_>,
    bufs: &[std::io::IoSlice<'_>],
    fd: std::os::fd::BorrowedFd<'_>,
) -> io::Result<usize> {
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: msghdr is plain old data; all-zero is an empty message with no name or control data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with struct iovec; sendmsg only reads through it.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at `space` zeroed, aligned bytes, room for one cmsghdr carrying
    // one int, so CMSG_FIRSTHDR is non-null and CMSG_DATA stays inside `control`.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    loop {
        // SAFETY: msg points at valid iovecs and control data borrowed for the call; both fds
        // are borrowed, so open.
        let rc = unsafe {
            libc::sendmsg(
                sock.as_raw_fd(),
                &msg,
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reads what the socket holds now into `buf` (non-blocking: `WouldBlock`
/// when empty), collecting descriptors passed with SCM_RIGHTS into `fds`
/// (close-on-exec). Returns the number of bytes read (0: end of stream).
pub fn recv_with_fds(
    sock: std::os::fd::BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    const MAX_FDS: usize = 8;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space =
        unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<libc::c_int>()) as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is an empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: iov describes `buf` (writable, buf.len() bytes) and msg_control `space` bytes,
        // both borrowed for the call; the socket fd is borrowed, so open.
        let rc = unsafe {
            libc::recvmsg(
                sock.as_raw_fd(),
                &mut msg,
                libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
            )
        };
        if rc >= 0 {
            break rc as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed cmsghdrs;
    // CMSG_FIRSTHDR/NXTHDR walk only inside them, and each SCM_RIGHTS payload holds
    // (cmsg_len - CMSG_LEN(0)) / sizeof(int) descriptors that are now ours to own.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<libc::c_int>();
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<libc::c_int>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(n)
}

/// A sealed anonymous shared-memory file of `size` bytes (memfd: it cannot
/// shrink or grow any more, so a mapping of it never faults with SIGBUS).
pub fn sealed_memfd(name: &str, size: usize) -> io::Result<OwnedFd> {
    let cname = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: cname is a valid NUL-terminated string for the call.
    let fd =
        unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain calls on the descriptor we own.
    let ok = unsafe {
        libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) == 0
            && libc::fcntl(
                fd.as_raw_fd(),
                libc::F_ADD_SEALS,
                libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
            ) == 0
    };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// The size of a memfd received from a peer, when it is sealed against
/// shrinking (so mapping that many bytes is safe); an error otherwise.
pub fn sealed_size(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<usize> {
    // SAFETY: F_GET_SEALS only reads the descriptor's seals.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 || seals & libc::F_SEAL_SHRINK == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "shared memory not sealed",
        ));
    }
    // SAFETY: stat is plain old data filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid, writable stat for the call.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_size as usize)
}

/// A shared (MAP_SHARED) read-write mapping of a memfd, accessed only by
/// copies and atomic words at checked offsets (another process writes the
/// same memory, so no Rust reference into it is ever handed out).
pub struct SharedMap {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; all access goes through methods that
// copy or use atomics, so sharing it between threads is no different from sharing a Vec.
unsafe impl Send for SharedMap {}
// SAFETY: as above; &self methods only copy out or perform atomic operations.
unsafe impl Sync for SharedMap {}

impl SharedMap {
    /// Maps the first `len` bytes of `fd` (which must be at least that big
    /// and sealed against shrinking: see [`sealed_size`]).
    pub fn map(fd: std::os::fd::BorrowedFd<'_>, len: usize) -> io::Result<SharedMap> {
        // SAFETY: a fresh mapping chosen by the kernel; it aliases no Rust object.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(SharedMap { ptr: p.cast(), len })
    }

    /// The mapping's size.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, off: usize, n: usize) -> bool {
        off.checked_add(n).is_some_and(|e| e <= self.len)
    }

    /// Copies `src` to offset `off`; false (nothing copied) when it does not fit.
    pub fn write_at(&self, off: usize, src: &[u8]) -> bool {
        if !self.check(off, src.len()) {
            return false;
        }
        // SAFETY: off..off+len lies inside the mapping (checked); src is a distinct Rust slice.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(off), src.len()) };
        true
    }

    /// Appends `n` bytes from offset `off` to `out`; false when out of range.
    pub fn read_into(&self, off: usize, n: usize, out: &mut Vec<u8>) -> bool {
        if !self.check(off, n) {
            return false;
        }
        out.reserve(n);
        let at = out.len();
        // SAFETY: off..off+n lies inside the mapping (checked); `out` has room for n more bytes
        // after `at` (reserved), which the copy initialises before set_len exposes them.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.add(off), out.as_mut_ptr().add(at), n);
            out.set_len(at + n);
        }
        true
    }

    /// Copies `dst.len()` bytes from offset `off` into `dst`; false when
    /// out of range.
    pub fn read_to(&self, off: usize, dst: &mut [u8]) -> bool {
        if !self.check(off, dst.len()) {
            return false;
        }
        // SAFETY: off..off+dst.len() lies inside the mapping (checked); `dst` is a distinct,
        // exclusively borrowed buffer of that length.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(off), dst.as_mut_ptr(), dst.len()) };
        true
    }

    fn word(&self, off: usize) -> Option<&std::sync::atomic::AtomicU64> {
        if !self.check(off, 8) || !off.is_multiple_of(8) {
            return None;
        }
        // SAFETY: the 8 bytes at off are inside the mapping, 8-aligned (the mapping is
        // page-aligned), live as long as &self, and are only ever accessed atomically.
        Some(unsafe { std::sync::atomic::AtomicU64::from_ptr(self.ptr.add(off).cast()) })
    }

    /// Atomically loads the u64 at `off` (acquire); 0 when out of range.
    pub fn load(&self, off: usize) -> u64 {
        self.word(off)
            .map_or(0, |w| w.load(std::sync::atomic::Ordering::Acquire))
    }

    /// Atomically stores `v` at `off` (release); ignored when out of range.
    pub fn store(&self, off: usize, v: u64) {
        if let Some(w) = self.word(off) {
            w.store(v, std::sync::atomic::Ordering::Release);
        }
    }

    /// Atomically replaces the u64 at `off` with `v` (sequentially
    /// consistent) and returns what it held; 0 when out of range.
    pub fn swap(&self, off: usize, v: u64) -> u64 {
        self.word(off)
            .map_or(0, |w| w.swap(v, std::sync::atomic::Ordering::SeqCst))
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the mapping made in `map`, unmapped once here.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// How long a reader (a task, or the daemon's event loop) polls without
/// sleeping before it blocks: longer than a reply takes to come back, even
/// through two daemons between hosts with four processes sharing two CPUs
/// (50 µs was not: every process then slept between messages), so a
/// ping-pong does not pay for the scheduler's wake-up of an idle CPU.
/// `PVM6_SPIN_US` sets it in microseconds (0 turns it off); on a single CPU
/// it is off, since the peer needs that CPU to answer. Bounded: an idle
/// reader sleeps after it and uses no CPU.
pub fn spin_budget() -> std::time::Duration {
    static BUDGET: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let default = if cpus > 1 { 1000 } else { 0 };
        let us = std::env::var("PVM6_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(default);
        std::time::Duration::from_micros(us.min(10_000))
    })
}

/// Whether waits may spin at all (there is a budget).
pub fn spin_allowed() -> bool {
    !spin_budget().is_zero()
}

/// One pause of a spin: yields the CPU. Returns false when the yield took
/// more than 30 µs: a process that does not yield (one busy with real work,
/// or not PVM's) had this CPU, so this wait stops spinning and sleeps,
/// leaving the CPU to it and the scheduler free to move us. The next wait
/// spins again: skipping the spin of later waits as well (tried: the next
/// 200) cost a message through the daemon, where three processes spin on
/// two CPUs and such a yield comes every few hundred messages, 9 to 16 µs
/// instead of 6.
pub fn spin_pause() -> bool {
    let t = std::time::Instant::now();
    std::thread::yield_now();
    t.elapsed() <= std::time::Duration::from_micros(30)
}

/// Reads up to `max` bytes the socket holds now (non-blocking: `WouldBlock`
/// when empty) straight into the spare capacity of `v`, without zeroing
/// it first; appends them and returns their number (0: end of stream).
pub fn recv_spare(
    sock: std::os::fd::BorrowedFd<'_>,
    v: &mut Vec<u8>,
    max: usize,
) -> io::Result<usize> {
    v.try_reserve(max)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let len = v.len();
    // SAFETY: after the reserve, `v` owns at least `max` writable bytes past `len`.
    let n = unsafe { recv_into(sock, v.as_mut_ptr().add(len), max, libc::MSG_DONTWAIT) }?;
    // SAFETY: recv initialised exactly `n` (<= max) bytes past `len`.
    unsafe { v.set_len(len + n) };
    Ok(n)
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
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded: both are open descriptors owned by nobody else.
    let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
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
        cvt(unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) })?;
    }
    Ok(rx)
}

/// Waits up to `timeout` for the peer of a connected stream socket to hang
/// up; whether it has (its end is closed: the process is gone).
pub fn wait_hangup(sock: std::os::fd::BorrowedFd<'_>, timeout: std::time::Duration) -> bool {
    let mut p = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd for the call; the fd is borrowed, so open.
    let rc = unsafe { libc::poll(&mut p, 1, ms) };
    rc > 0 && p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}
