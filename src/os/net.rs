//! TCP listeners and connections (socket2, every option set explicitly),
//! and sends and receives on connected stream sockets (rustix).

use rustix::net::{RecvFlags, SendFlags};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

/// How many connections may wait for accept.
const BACKLOG: i32 = 128;

/// A non-blocking, close-on-exec TCP listener on `addr` (SO_REUSEADDR on);
/// an IPv6 one with IPV6_V6ONLY set to `v6only` (never left to the
/// system's `net.ipv6.bindv6only`).
fn listen(addr: SocketAddr, v6only: bool) -> io::Result<TcpListener> {
    let sock = bound(addr, v6only)?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// [`listen`] without the listen: the port is taken (known, and kept for
/// later), but connections to it are refused until [`start_listening`].
fn bound(addr: SocketAddr, v6only: bool) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(v6only)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&SockAddr::from(addr))?;
    Ok(sock)
}

/// As [`tcp_listen`], but only bound: the port is this daemon's, nothing
/// is accepted until [`start_listening`] (a one-host machine listens only
/// once it needs to, daemon/bounds.rs).
pub fn tcp_bind(port: u16, ipv6: bool) -> io::Result<TcpListener> {
    let any4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let sock = if ipv6 {
        bound(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), false)
            .or_else(|e| bound(any4, false).map_err(|_| e))?
    } else {
        bound(any4, false)?
    };
    Ok(sock.into())
}

/// Starts listening on a socket of [`tcp_bind`] (nothing for one that
/// listens already).
pub fn start_listening(l: &impl AsFd) -> io::Result<()> {
    SockRef::from(l).listen(BACKLOG)
}

/// Whether a TCP socket listens (SO_ACCEPTCONN).
pub fn is_listening(l: &impl AsFd) -> bool {
    SockRef::from(l).is_listener().unwrap_or(false)
}

/// A listening TCP socket on `[::]:port` with IPV6_V6ONLY off, so it also
/// accepts IPv4 connections (as v4-mapped addresses), whatever the host's
/// `net.ipv6.bindv6only`. Non-blocking and close-on-exec.
pub fn tcp_listen_dual_stack(port: u16) -> io::Result<TcpListener> {
    listen(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), false)
}

/// A listener on `port` (0: an ephemeral one) of every interface:
/// dual-stack `[::]` (as [`tcp_listen_dual_stack`]) when `ipv6`, else — or
/// when the host has no IPv6 at all — `0.0.0.0`. Non-blocking. When both
/// fail, the error is the dual-stack one.
pub fn tcp_listen(port: u16, ipv6: bool) -> io::Result<TcpListener> {
    let any4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    if ipv6 {
        tcp_listen_dual_stack(port).or_else(|e| listen(any4, false).map_err(|_| e))
    } else {
        listen(any4, false)
    }
}

/// A blocking TCP connection to `addr` within `timeout`, close-on-exec,
/// with TCP_NODELAY on (our frames are written whole; none should wait).
pub fn tcp_connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_tcp_nodelay(true)?;
    sock.connect_timeout(&SockAddr::from(addr), timeout)?;
    Ok(sock.into())
}

/// A non-blocking TCP connection to `addr`, under way (an event loop
/// learns it is up when the socket turns writable), close-on-exec, with
/// TCP_NODELAY on.
pub fn tcp_connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_tcp_nodelay(true)?;
    match sock.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(sock.into())
}

/// Asks for `bytes` of send and receive buffer on a socket (the kernel may
/// give less; failure is harmless and ignored).
pub fn set_socket_buffers(sock: &impl AsFd, bytes: usize) {
    let s = SockRef::from(sock);
    let _ = s.set_send_buffer_size(bytes);
    let _ = s.set_recv_buffer_size(bytes);
}

/// Bytes written on a TCP socket that its peer's kernel has not
/// acknowledged yet (TIOCOUTQ); 0 when that cannot be told. No crate wraps
/// this ioctl safely.
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

/// Retries `f` while a signal interrupts it.
fn again<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Sends (part of) `bufs` with `flags` (sendmsg, SIGPIPE never raised).
fn send_flags(sock: BorrowedFd<'_>, bufs: &[IoSlice<'_>], flags: SendFlags) -> io::Result<usize> {
    let bufs = &bufs[..bufs.len().min(libc::UIO_MAXIOV as usize)];
    let mut none = rustix::net::SendAncillaryBuffer::default();
    again(|| rustix::net::sendmsg(sock, bufs, &mut none, flags | SendFlags::NOSIGNAL))
}

/// Writes as much of `bufs` as the socket takes now, without blocking and
/// without SIGPIPE (a peer that went away gives `EPIPE`). Returns the number
/// of bytes written; `WouldBlock` when nothing could be.
pub fn send_nonblocking(sock: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    send_flags(sock, bufs, SendFlags::DONTWAIT)
}

/// Writes `bufs` (some of them: the count is returned) to a blocking
/// socket without SIGPIPE: a daemon that went away (or refused the
/// connection) gives `EPIPE` to the caller instead of killing the program.
pub fn send_nosignal(sock: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    send_flags(sock, bufs, SendFlags::empty())
}

/// Copies up to `buf.len()` bytes waiting on the socket without taking
/// them (MSG_PEEK) and without blocking: `WouldBlock` when there are none,
/// 0 at end of stream.
pub fn peek(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    again(|| rustix::net::recv(sock, &mut *buf, RecvFlags::PEEK | RecvFlags::DONTWAIT))
        .map(|(_, n)| n)
}

/// Reads up to `max` bytes the socket holds now (non-blocking: `WouldBlock`
/// when empty) straight into the spare capacity of `v`, without zeroing
/// it first; appends them and returns their number (0: end of stream).
pub fn recv_spare(sock: BorrowedFd<'_>, v: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    v.try_reserve(max)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let spare = &mut v.spare_capacity_mut()[..max];
    let n = again(|| {
        rustix::net::recv(sock, &mut *spare, RecvFlags::DONTWAIT).map(|((f, _), _)| f.len())
    })?;
    let len = v.len();
    // SAFETY: recv initialised the first `n` (<= max) bytes of the spare capacity past `len`.
    unsafe { v.set_len(len + n) };
    Ok(n)
}
