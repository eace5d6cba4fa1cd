//! The handshake on a blocking stream ([`connect_blocking`],
//! [`accept_blocking`]): [`super::Connector`] and [`super::Acceptor`] driven
//! over a socket whose timeouts hold the whole handshake to one deadline.

use super::{Acceptor, AuthError, Authenticated, Connector, Role, Secret, Step};
use super::{CHALLENGE_LEN, MAX_BUFFERED};
use crate::seal::{Keys, Level};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A blocking stream whose read and write timeouts can be set, so the
/// blocking helpers can hold a whole handshake to one deadline.
pub trait TimedStream: Read + Write {
    fn read_timeout(&self) -> io::Result<Option<Duration>>;
    fn write_timeout(&self) -> io::Result<Option<Duration>>;
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()>;
}

impl TimedStream for TcpStream {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::read_timeout(self)
    }
    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::write_timeout(self)
    }
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, t)
    }
}

impl TimedStream for UnixStream {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        UnixStream::read_timeout(self)
    }
    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        UnixStream::write_timeout(self)
    }
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, t)
    }
}

fn remaining(deadline: Instant) -> Result<Duration, AuthError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(AuthError::Timeout)
    } else {
        Ok(left)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn write_by<S: TimedStream>(
    s: &mut S,
    mut data: &[u8],
    deadline: Instant,
) -> Result<(), AuthError> {
    while !data.is_empty() {
        s.set_write_timeout(Some(remaining(deadline)?))
            .map_err(AuthError::Io)?;
        match s.write(data) {
            Ok(0) => return Err(AuthError::Closed),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(AuthError::Closed),
            Err(e) => return Err(AuthError::Io(e)),
        }
    }
    s.flush().map_err(AuthError::Io)
}

fn read_by<S: TimedStream>(
    s: &mut S,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, AuthError> {
    loop {
        s.set_read_timeout(Some(remaining(deadline)?))
            .map_err(AuthError::Io)?;
        match s.read(buf) {
            Ok(0) => return Err(AuthError::Closed),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(AuthError::Closed),
            Err(e) => return Err(AuthError::Io(e)),
        }
    }
}

/// Runs `f` with the stream's timeouts driven by a deadline `timeout` from
/// now, then puts the stream's previous timeouts back.
fn with_deadline<S: TimedStream, T>(
    s: &mut S,
    timeout: Duration,
    f: impl FnOnce(&mut S, Instant) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    let deadline = Instant::now() + timeout;
    let old_read = s.read_timeout().map_err(AuthError::Io)?;
    let old_write = s.write_timeout().map_err(AuthError::Io)?;
    let result = f(s, deadline);
    let restored = s
        .set_read_timeout(old_read)
        .and_then(|()| s.set_write_timeout(old_write));
    match (result, restored) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(AuthError::Io(e)),
        (Err(e), _) => Err(e),
    }
}

/// What a blocking handshake established: the peer, and the connection's
/// keys ([`crate::seal`]; None for [`Level::None`]).
pub struct Session {
    pub peer: Authenticated,
    pub keys: Option<Keys>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Session({:?}, {:?})", self.peer, self.keys)
    }
}

/// Runs the connector's side of the handshake on a blocking stream, within
/// `timeout` in total. Reads no byte beyond the handshake; the stream's own
/// timeouts are restored afterwards. On error the caller should drop the
/// connection.
pub fn connect_blocking<S: TimedStream>(
    stream: &mut S,
    secret: &Secret,
    role: Role,
    claimed_id: i32,
    level: Level,
    timeout: Duration,
) -> Result<Session, AuthError> {
    let mut c = Connector::new(secret, role, claimed_id, level)?;
    with_deadline(stream, timeout, |s, deadline| {
        write_by(s, &c.start(), deadline)?;
        let mut buf = [0u8; CHALLENGE_LEN];
        loop {
            let n = read_by(s, &mut buf[..c.wants()], deadline)?;
            match c.feed(&buf[..n])? {
                Step::NeedMore => {}
                Step::Send(out) => write_by(s, &out, deadline)?,
                Step::Done { peer, send, .. } => {
                    write_by(s, &send, deadline)?;
                    let keys = c.take_keys();
                    return Ok(Session { peer, keys });
                }
            }
        }
    })
}

/// Runs the acceptor's side of the handshake on a blocking stream, within
/// `timeout` in total. Reads no byte beyond the handshake; the stream's own
/// timeouts are restored afterwards. On error the caller should drop the
/// connection (without telling the peer why).
pub fn accept_blocking<S: TimedStream>(
    stream: &mut S,
    secret: &Secret,
    level: Level,
    timeout: Duration,
) -> Result<Session, AuthError> {
    let mut a = Acceptor::new(secret, level);
    with_deadline(stream, timeout, |s, deadline| {
        let mut buf = [0u8; MAX_BUFFERED];
        loop {
            let n = read_by(s, &mut buf[..a.wants()], deadline)?;
            match a.feed(&buf[..n])? {
                Step::NeedMore => {}
                Step::Send(out) => write_by(s, &out, deadline)?,
                Step::Done { peer, send, .. } => {
                    write_by(s, &send, deadline)?;
                    let keys = a.take_keys();
                    return Ok(Session { peer, keys });
                }
            }
        }
    })
}
