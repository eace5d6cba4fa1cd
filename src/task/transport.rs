//! Link transport of the direct routes: the task's listeners (a Unix socket
//! in the private daemon directory, a TCP socket for other hosts), the
//! connecting side (with the machine-secret handshake over TCP), the choice
//! of the address to reach, and the check of a Unix peer's uid. It knows
//! nothing of frames: [`super::link`] reads and writes them over a [`Stream`].

use crate::auth::{self, Role, Secret};
use crate::net::addr::{fmt_sockaddr, parse_sockaddr_zone};
use crate::os;
use crate::seal::{Keys, Level};
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Bound on connecting to a peer's TCP listener and on the handshake.
const TCP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A listening socket: Unix (same host) or TCP (other hosts).
enum ListenSock {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// This task's listener for incoming links.
pub struct Listener {
    sock: ListenSock,
    /// The socket file of a Unix listener.
    path: Option<PathBuf>,
    pub(super) addr: String,
}

impl Listener {
    /// Listens at `<dir>/task-<tid>.sock` (non-blocking). A file left there
    /// by a dead task with the same tid is replaced.
    pub(super) fn open(dir: &Path, me: i32) -> io::Result<Listener> {
        let path = dir.join(format!("task-{:x}.sock", me));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let sock = UnixListener::bind(&path)?;
        sock.set_nonblocking(true)?;
        let addr = format!("unix:{}", path.display());
        Ok(Listener {
            sock: ListenSock::Unix(sock),
            path: Some(path),
            addr,
        })
    }

    /// Listens on a TCP port of every interface: `[::]` (dual-stack, with
    /// IPV6_V6ONLY switched off explicitly: a host with
    /// `net.ipv6.bindv6only=1` still takes the IPv4 connections its IPv4
    /// addresses invite) when the host has an IPv6 address, else (or when
    /// IPv6 is unavailable) `0.0.0.0`. The address offered lists `host` (this host's addresses
    /// as the host table has them) with the listener's port, comma-separated.
    pub(super) fn open_tcp(host: &[SocketAddr]) -> io::Result<Listener> {
        let sock = os::tcp_listen(0, host.iter().any(|a| a.is_ipv6()))?;
        let bound = sock.local_addr()?;
        let port = bound.port();
        let listed: Vec<String> = host
            .iter()
            .filter(|a| bound.is_ipv6() || a.is_ipv4())
            .map(|a| {
                let mut a = *a;
                a.set_port(port);
                fmt_sockaddr(&a)
            })
            .collect();
        if listed.is_empty() {
            return Err(io::Error::other("this host has no address to offer"));
        }
        Ok(Listener {
            sock: ListenSock::Tcp(sock),
            path: None,
            addr: format!("tcp:{}", listed.join(",")),
        })
    }

    /// The listening socket's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.sock {
            ListenSock::Unix(s) => s.as_fd(),
            ListenSock::Tcp(s) => s.as_fd(),
        }
    }

    #[cfg(test)]
    pub(super) fn fd_port(&self) -> u16 {
        match &self.sock {
            ListenSock::Tcp(s) => s.local_addr().map(|a| a.port()).unwrap_or(0),
            ListenSock::Unix(_) => 0,
        }
    }

    /// Accepts one pending connection.
    pub(super) fn accept(&self) -> io::Result<Stream> {
        match &self.sock {
            ListenSock::Unix(s) => s.accept().map(|(c, _)| Stream::Unix(c)),
            ListenSock::Tcp(s) => s.accept().map(|(c, _)| Stream::Tcp(c)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            // Nothing more can be done if it is already gone.
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A link's connected socket.
pub(super) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub(super) fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }

    pub(super) fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_nonblocking(on),
            Stream::Tcp(s) => s.set_nonblocking(on),
        }
    }

    /// Ends both directions (the peer sees the end; nothing more is read).
    pub(super) fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }

    pub(super) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => (&*s).read(buf),
            Stream::Tcp(s) => (&*s).read(buf),
        }
    }
}

/// What the connecting side needs for a TCP route: the machine's secret,
/// this host's addresses, and our tid (the id the handshake claims).
pub(super) struct TcpCtx<'a> {
    pub(super) secret: Option<&'a Secret>,
    pub(super) host: &'a [SocketAddr],
    pub(super) me: i32,
    /// The machine's protection level of links between hosts.
    pub(super) level: Level,
}

/// Connects to a peer's listener address; a TCP connection also passes the
/// handshake (we prove our knowledge of the secret and check the peer's),
/// which gives the keys that protect it (None: Unix, or level none).
pub(super) fn connect(addr: &str, ctx: &TcpCtx<'_>) -> io::Result<(Stream, Option<Keys>)> {
    if let Some(path) = addr.strip_prefix("unix:") {
        return UnixStream::connect(path).map(|s| (Stream::Unix(s), None));
    }
    let Some(list) = addr.strip_prefix("tcp:") else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("unknown link address {addr}"),
        ));
    };
    let secret = ctx
        .secret
        .ok_or_else(|| io::Error::other("no machine secret from the daemon"))?;
    let target = pick_target(list, ctx.host)?;
    let mut s = os::tcp_connect(target, TCP_TIMEOUT)?;
    let session =
        auth::connect_blocking(&mut s, secret, Role::Route, ctx.me, ctx.level, TCP_TIMEOUT)
            .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))?;
    Ok((Stream::Tcp(s), session.keys))
}

/// The offered address (of the comma-separated `list`) this host reaches:
/// a family both hosts have, chosen as daemons choose ([`crate::net::pick_family`]).
/// A link-local IPv6 target takes the zone of our own address it pairs with.
pub(super) fn pick_target(list: &str, host: &[SocketAddr]) -> io::Result<SocketAddr> {
    // Zones are the offering host's interface names: ours comes below.
    let offered: Vec<SocketAddr> = list
        .split(',')
        .filter_map(|a| parse_sockaddr_zone(a.trim()).ok().map(|(sa, _)| sa))
        .collect();
    let ours: Vec<IpAddr> = host.iter().map(|a| a.ip()).collect();
    let theirs: Vec<IpAddr> = offered.iter().map(|a| a.ip()).collect();
    let (our_ip, their_ip) = crate::net::pick_family(&ours, &theirs)
        .ok_or_else(|| io::Error::other(format!("no address family in common with {list}")))?;
    let port = offered
        .iter()
        .find(|a| a.ip().to_canonical() == their_ip)
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other("picked address not offered"))?;
    let mut target = SocketAddr::new(their_ip, port);
    if let (SocketAddr::V6(t), Some(SocketAddr::V6(o))) =
        (&mut target, host.iter().find(|a| a.ip() == our_ip))
    {
        if t.ip().is_unicast_link_local() {
            t.set_scope_id(o.scope_id());
        }
    }
    Ok(target)
}

/// The authentication hook every new link passes (both sides) before its
/// hello is trusted. On one host the listener lives in the 0700 daemon
/// directory, so only our uid can connect; we also check the peer's uid
/// with SO_PEERCRED. The nonce of the hello then tells which task it is.
/// A TCP transport (multi-host) adds its handshake here.
/// A TCP stream is checked by the handshake instead (see [`connect`] and
/// [`Link::fill`]).
pub(super) fn verify_peer(stream: &Stream) -> io::Result<()> {
    let Stream::Unix(stream) = stream else {
        return Ok(());
    };
    let (_, uid, _) = os::peer_cred(stream)?;
    if uid != os::uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("link peer has uid {uid}"),
        ));
    }
    Ok(())
}
