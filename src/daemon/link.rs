//! One TCP connection of a daemon (a daemon link, or a connection not yet
//! authenticated): the non-blocking stream, the authentication handshake of
//! src/auth.rs run before any frame, the frame decoder, the write queue and
//! the times used for heartbeats. Frames queued before the handshake is done
//! (and, on an outgoing link, before the peer accepted it) wait in `held`.

use super::outq::OutQueue;
use crate::auth::{Acceptor, AuthError, Connector, Role, Secret, Step};
use crate::wire::{Frame, FrameDecoder};
use mio::net::TcpStream;
use std::collections::VecDeque;
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
    pub held: VecDeque<Vec<u8>>,
    /// Frames waiting for the socket.
    out: OutQueue,
}

impl Link {
    /// An accepted connection; the handshake starts with the peer's Hello.
    pub fn incoming(
        stream: TcpStream,
        peer_addr: SocketAddr,
        secret: &Secret,
        deadline: Instant,
    ) -> Link {
        Link::new(
            stream,
            peer_addr,
            Phase::Accepting(Box::new(Acceptor::new(secret))),
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
        deadline: Instant,
    ) -> Result<Link, AuthError> {
        let c = Connector::new(secret, Role::Daemon, me)?;
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
            held: VecDeque::new(),
            out: OutQueue::default(),
        }
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
        if let Phase::Connecting(_) = self.phase {
            return self.writable();
        }
        let mut event = Event::Nothing;
        loop {
            if matches!(self.phase, Phase::Up | Phase::AwaitOk) {
                // Authenticated: large bodies are read straight into place.
                let chunk = buf.len().min(crate::wire::READ_STEP);
                match self.decoder.read_from(&self.stream, &mut buf[..chunk]) {
                    Ok(0) => return Event::Failed("connection closed".into()),
                    Ok(_) => {
                        self.last_rx = Instant::now();
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
                    Ok(Step::Done { peer, rest, .. }) => {
                        self.phase = Phase::Up;
                        self.decoder.feed(&rest);
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
                    Ok(Step::Done { peer, send, rest }) => {
                        self.phase = Phase::AwaitOk;
                        self.out.push(send);
                        self.decoder.feed(&rest);
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
                    self.phase = other;
                    self.decoder.feed(data);
                }
            }
        }
        if let Err(e) = self.flush() {
            return Event::Failed(format!("write: {e}"));
        }
        event
    }

    /// Queues an encoded frame: written now if the link is up, held otherwise.
    pub fn send_bytes(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        if self.is_up() {
            self.out.push(bytes);
            self.flush()
        } else {
            self.held.push_back(bytes);
            Ok(())
        }
    }

    /// Queues a frame we own (see [`Link::send_bytes`]); its body is not
    /// copied when the link is up.
    pub fn send_frame(&mut self, f: Frame) -> io::Result<()> {
        if self.is_up() {
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
        let held: Vec<Vec<u8>> = self.held.drain(..).collect();
        self.out.extend(held);
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
