//! One TCP connection of a daemon (a daemon link, or a connection not yet
//! authenticated): the non-blocking stream, the authentication handshake of
//! src/auth.rs run before any frame, the frame decoder, the write queue and
//! the times used for heartbeats. Frames queued before the handshake is done
//! (and, on an outgoing link, before the peer accepted it) wait in `held`.
//!
//! After the handshake every byte is a record of src/seal.rs (unless the
//! machine's level is `none`): frames are sealed as they are queued and
//! opened as they are read; a record that fails to open ends the link
//! ([`Event::Failed`] with a reason starting [`REFUSED`]) and nothing of it
//! reaches the decoder.

use super::outq::OutQueue;
use crate::auth::{Acceptor, AuthError, Connector, Role, Secret, Step};
use crate::seal::{Keys, Level, Opener, Sealer};
use crate::wire::{Frame, FrameDecoder};
use mio::net::TcpStream;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;

/// Where a link is in its life.
pub enum Phase {
    /// Outgoing, the TCP connect is in progress.
    Connecting(Box<Connector>),
    /// Outgoing, Hello sent, waiting for the Challenge.
    Proving(Box<Connector>),
    /// Incoming, running the acceptor's side.
    Accepting(Box<Acceptor>),
    /// Outgoing and authenticated, waiting for the peer's LinkOk.
    AwaitOk,
    /// Frames flow.
    Up,
}

/// What reading a link produced.
pub enum Event {
    /// Nothing to report.
    Nothing,
    /// The handshake finished: the peer's claimed daemon tid (incoming
    /// links) or our claim accepted (outgoing: `peer` is our own claim).
    Authenticated { claimed: i32, role: Role },
    /// The link failed (closed, error, bad handshake with its reason).
    Failed(String),
    /// A daemon link refused a protected record (the reason starts with
    /// [`REFUSED`]): nothing of it was delivered; the daemon tells the peer
    /// and lets the link drain ([`Link::drain`]) while it re-links.
    Refused(String),
}

/// A TCP connection of the daemon.
pub struct Link {
    pub stream: TcpStream,
    pub peer_addr: SocketAddr,
    pub phase: Phase,
    pub decoder: FrameDecoder,
    /// The peer daemon's tid once known (0 before).
    pub peer: i32,
    /// Whether we opened it.
    pub outgoing: bool,
    /// Whether it is a task's feed (`peer` is then the task's tid): only
    /// messages for our tasks come on it, and no heartbeats.
    pub feed: bool,
    /// Frames delivered from a feed (checked against a fence).
    pub fed: u64,
    pub last_rx: Instant,
    pub last_tx: Instant,
    /// Deadline of the connect and handshake.
    pub deadline: Instant,
    /// Encoded frames waiting for the link to come up.
    pub held: super::outq::Held,
    /// Frames waiting for the socket.
    out: OutQueue,
    /// Seals what we send once the handshake is done (None: level none).
    sealer: Option<Sealer>,
    /// Opens what we receive once the handshake is done.
    opener: Option<Opener>,
    /// Ended after a refused record: what comes is read and dropped, and
    /// nothing more is sent, until the peer closes ([`Link::drain`]).
    draining: bool,
    /// The last [`Link::readable`] stopped after [`READ_BURST`] bytes with
    /// more to read: its frames are handled before it reads on.
    cut: bool,
}

/// Bytes an authenticated link reads before its frames are handled: a
/// queue over its cap is then seen (and its senders asked to hold back,
/// flow.rs) while the peer still sends, not after everything it sent.
pub const READ_BURST: usize = 1 << 20;

/// How the reason of a link ended by a record that failed to open starts.
pub const REFUSED: &str = "refused protected frame";

impl Link {
    /// An accepted connection; the handshake starts with the peer's Hello.
    pub fn incoming(
        stream: TcpStream,
        peer_addr: SocketAddr,
        secret: &Secret,
        level: Level,
        deadline: Instant,
    ) -> Link {
        Link::new(
            stream,
            peer_addr,
            Phase::Accepting(Box::new(Acceptor::new(secret, level))),
            false,
            deadline,
        )
    }

    /// A connection being opened to `peer_addr`, claiming `me`.
    pub fn outgoing(
        stream: TcpStream,
        peer_addr: SocketAddr,
        secret: &Secret,
        me: i32,
        level: Level,
        deadline: Instant,
    ) -> Result<Link, AuthError> {
        let c = Connector::new(secret, Role::Daemon, me, level)?;
        Ok(Link::new(
            stream,
            peer_addr,
            Phase::Connecting(Box::new(c)),
            true,
            deadline,
        ))
    }

    fn new(
        stream: TcpStream,
        peer_addr: SocketAddr,
        phase: Phase,
        outgoing: bool,
        deadline: Instant,
    ) -> Link {
        // Latency matters more than packet count for requests and replies.
        let _ = stream.set_nodelay(true);
        crate::os::set_socket_buffers(&stream, 4 << 20);
        let now = Instant::now();
        Link {
            stream,
            peer_addr,
            phase,
            decoder: FrameDecoder::new(),
            peer: 0,
            outgoing,
            feed: false,
            fed: 0,
            last_rx: now,
            last_tx: now,
            deadline,
            held: Default::default(),
            out: OutQueue::default(),
            sealer: None,
            opener: None,
            draining: false,
            cut: false,
        }
    }

    /// The link refused a record and told the peer (its last frame was
    /// queued): from now on what arrives is dropped unread and nothing is
    /// sent; it ends when the peer closes (or goes quiet for the heartbeat
    /// bound), quietly.
    pub fn drain(&mut self) {
        self.draining = true;
        self.held.clear();
        self.opener = None;
        self.decoder = FrameDecoder::new();
    }

    /// Whether the link is draining after a refused record.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Reads and drops what arrives on a draining link.
    fn drain_read(&mut self, buf: &mut [u8]) -> Event {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Event::Failed("closed after a refused frame".into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Event::Failed(format!("read: {e}")),
            }
        }
        match self.flush() {
            Ok(()) => Event::Nothing,
            Err(e) => Event::Failed(format!("write: {e}")),
        }
    }

    /// What a refused record means for this link: a feed just ends; a
    /// daemon link is drained and replaced.
    fn refused_event(&self, why: String) -> Event {
        if self.feed {
            Event::Failed(why)
        } else {
            Event::Refused(why)
        }
    }

    /// The handshake gave the connection's keys (None: level none).
    fn keyed(&mut self, keys: Option<Keys>) {
        if let Some(k) = keys {
            self.sealer = Some(k.tx);
            self.opener = Some(k.rx);
        }
    }

    /// Bytes received after the handshake: opened (when protected) into
    /// the frame decoder.
    fn received(&mut self, data: &mut [u8]) -> Result<(), String> {
        match &mut self.opener {
            None => {
                self.decoder.feed(data);
                Ok(())
            }
            Some(o) => {
                let d = &mut self.decoder;
                o.open(data, |plain| {
                    let _ = d.feed_landing(plain, None);
                })
                .map_err(|e| format!("{REFUSED}: {e}"))
            }
        }
    }

    /// Frame bytes as they go on the socket: sealed when protected.
    fn sealed(&mut self, parts: &[&[u8]]) -> io::Result<Vec<u8>> {
        match &mut self.sealer {
            None => Ok(parts.concat()),
            Some(s) => s.sealed(parts).map_err(io::Error::other),
        }
    }

    /// Queues encoded frame bytes for the socket (the link is up).
    fn queue(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        if self.sealer.is_some() {
            let b = self.sealed(&[&bytes])?;
            self.out.push(b);
        } else {
            self.out.push(bytes);
        }
        Ok(())
    }

    /// Whether frames flow.
    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Up)
    }

    /// The socket became writable: finishes a pending connect (sending the
    /// Hello) and writes what is queued.
    pub fn writable(&mut self) -> Event {
        if let Phase::Connecting(_) = self.phase {
            match self.stream.take_error() {
                Ok(Some(e)) | Err(e) => return Event::Failed(format!("connect: {e}")),
                Ok(None) => {}
            }
            if let Err(e) = self.stream.peer_addr() {
                if e.kind() == io::ErrorKind::NotConnected {
                    return Event::Nothing;
                }
                return Event::Failed(format!("connect: {e}"));
            }
            let Phase::Connecting(mut c) = std::mem::replace(&mut self.phase, Phase::AwaitOk)
            else {
                return Event::Nothing;
            };
            let hello = c.start();
            self.phase = Phase::Proving(c);
            self.out.push(hello);
        }
        match self.flush() {
            Ok(()) => Event::Nothing,
            Err(e) => Event::Failed(format!("write: {e}")),
        }
    }

    /// Reads what is available: handshake bytes go to the state machine,
    /// the rest to the frame decoder. `buf` is scratch space.
    pub fn readable(&mut self, buf: &mut [u8]) -> Event {
        self.cut = false;
        if let Phase::Connecting(_) = self.phase {
            return self.writable();
        }
        if self.draining {
            return self.drain_read(buf);
        }
        let mut event = Event::Nothing;
        let mut got = 0usize;
        loop {
            if got >= READ_BURST {
                self.cut = true;
                break;
            }
            if matches!(self.phase, Phase::Up | Phase::AwaitOk) && self.opener.is_some() {
                // Protected: records are read through `buf` and opened.
                let n = match self.stream.read(buf) {
                    Ok(0) => return Event::Failed("connection closed".into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Event::Failed(format!("read: {e}")),
                };
                self.last_rx = Instant::now();
                got += n;
                if let Err(why) = self.received(&mut buf[..n]) {
                    return self.refused_event(why);
                }
                if n < buf.len() {
                    break;
                }
                continue;
            }
            if matches!(self.phase, Phase::Up | Phase::AwaitOk) {
                // Authenticated: large bodies are read straight into place.
                let chunk = buf.len().min(crate::wire::READ_STEP);
                match self.decoder.read_from(&self.stream, &mut buf[..chunk]) {
                    Ok(0) => return Event::Failed("connection closed".into()),
                    Ok(n) => {
                        self.last_rx = Instant::now();
                        got += n;
                        // A short read emptied the socket: what comes later
                        // raises a new (edge) event, so no read is spent on
                        // WouldBlock (as for task connections).
                        if self.decoder.drained() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Event::Failed(format!("read: {e}")),
                }
                continue;
            }
            let n = match self.stream.read(buf) {
                Ok(0) => return Event::Failed("connection closed".into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Event::Failed(format!("read: {e}")),
            };
            self.last_rx = Instant::now();
            let data = &buf[..n];
            match std::mem::replace(&mut self.phase, Phase::AwaitOk) {
                Phase::Accepting(mut a) => match a.feed(data) {
                    Ok(Step::NeedMore) => self.phase = Phase::Accepting(a),
                    Ok(Step::Send(b)) => {
                        self.phase = Phase::Accepting(a);
                        self.out.push(b);
                    }
                    Ok(Step::Done { peer, mut rest, .. }) => {
                        self.phase = Phase::Up;
                        self.keyed(a.take_keys());
                        if let Err(why) = self.received(&mut rest) {
                            // Not known as a daemon's link yet: refused outright.
                            return Event::Failed(why);
                        }
                        event = Event::Authenticated {
                            claimed: peer.claimed_id,
                            role: peer.role,
                        };
                    }
                    Err(e) => {
                        // Keep the phase: the link is still unauthenticated
                        // (link_failed logs it as a refused connection).
                        self.phase = Phase::Accepting(a);
                        return Event::Failed(auth_reason(&e));
                    }
                },
                Phase::Proving(mut c) => match c.feed(data) {
                    Ok(Step::NeedMore) => self.phase = Phase::Proving(c),
                    Ok(Step::Send(b)) => {
                        self.phase = Phase::Proving(c);
                        self.out.push(b);
                    }
                    Ok(Step::Done {
                        peer,
                        send,
                        mut rest,
                    }) => {
                        self.phase = Phase::AwaitOk;
                        // The Proof goes as it is; what follows is sealed.
                        self.out.push(send);
                        self.keyed(c.take_keys());
                        if let Err(why) = self.received(&mut rest) {
                            return self.refused_event(why);
                        }
                        event = Event::Authenticated {
                            claimed: peer.claimed_id,
                            role: peer.role,
                        };
                    }
                    Err(e) => {
                        self.phase = Phase::Proving(c);
                        return Event::Failed(auth_reason(&e));
                    }
                },
                other => {
                    // Not reached: an authenticated link reads above.
                    self.phase = other;
                    let mut d = data.to_vec();
                    if let Err(why) = self.received(&mut d) {
                        return self.refused_event(why);
                    }
                }
            }
        }
        if let Err(e) = self.flush() {
            return Event::Failed(format!("write: {e}"));
        }
        event
    }

    /// Whether the last read stopped with more to read ([`READ_BURST`]).
    pub fn cut(&self) -> bool {
        self.cut
    }

    /// Queues an encoded frame: written now if the link is up, held otherwise.
    pub fn send_bytes(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        if self.draining {
            return Ok(());
        }
        if self.is_up() {
            self.queue(bytes)?;
            self.flush()
        } else {
            self.held.push_back(bytes);
            Ok(())
        }
    }

    /// Queues a frame we own (see [`Link::send_bytes`]); its body is not
    /// copied when the link is up.
    pub fn send_frame(&mut self, f: Frame) -> io::Result<()> {
        if self.draining {
            return Ok(());
        }
        if self.is_up() && self.sealer.is_some() {
            let b = self.sealed(&[&f.header.encode(), &f.body])?;
            self.out.push(b);
            self.flush()
        } else if self.is_up() {
            self.out.push_frame(f);
            self.flush()
        } else {
            self.send_bytes(f.to_bytes())
        }
    }

    /// Whether bytes written on it may not have reached the peer's kernel
    /// yet: queued here, or sent and not acknowledged.
    pub fn in_flight(&self) -> bool {
        !self.out.is_empty() || !self.held.is_empty() || crate::os::unacked_bytes(&self.stream) > 0
    }

    /// Queues a frame (see [`Link::send_bytes`]).
    pub fn send(&mut self, f: &Frame) -> io::Result<()> {
        self.send_bytes(f.to_bytes())
    }

    /// The link is up: held frames go out, in order.
    pub fn set_up(&mut self) -> io::Result<()> {
        self.phase = Phase::Up;
        let held = self.held.drain_all();
        for b in held {
            self.queue(b)?;
        }
        self.flush()
    }

    /// Writes queued bytes until done or the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.out.flush(&mut self.stream) {
            Ok(wrote) => {
                if wrote {
                    self.last_tx = Instant::now();
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Bytes waiting to be written (the senders' back-pressure, bounds.rs).
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Whether nothing waits to be written.
    pub fn idle_out(&self) -> bool {
        self.out.is_empty()
    }
}

/// The short reason logged for a failed handshake.
pub fn auth_reason(e: &AuthError) -> String {
    match e {
        AuthError::BadMac => "bad proof".into(),
        AuthError::BadMagic => "not a pvm6 handshake".into(),
        other => other.to_string(),
    }
}
