//! One task connection: a non-blocking Unix stream, its frame decoder and
//! its write queue (so one slow reader never blocks the daemon), and the
//! shared-memory rings the task offered, once taken (`crate::ring`: after
//! the Connect reply frames go through them; the socket carries frames too
//! large for a record, each after its marker, and doorbells).

use super::outq::OutQueue;
use crate::os::SharedMap;
use crate::ring::{self, Bad, Consumer, Dir, Producer, Record};
use crate::wire::{self, Frame, FrameDecoder, HEADER_LEN};
use mio::net::UnixStream;
use mio::Token;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

/// The largest frame body read from a connection before its Connect
/// (requests before it are small; larger frames close the connection): a
/// client that never connects cannot make the daemon hold a large body.
pub const BEFORE_CONNECT: usize = wire::MIN_MAX_MESSAGE;

/// What reading a connection produced.
pub enum ReadOutcome {
    /// Still open.
    Open,
    /// The peer closed (or the socket failed).
    Closed,
}

/// A connected task (or a client that has not sent Connect yet).
pub struct Conn {
    pub stream: UnixStream,
    pub decoder: FrameDecoder,
    /// The tid given by Connect; `None` before it and after Exit.
    pub tid: Option<i32>,
    /// Process id of the peer from SO_PEERCRED.
    pub peer_pid: i32,
    /// Frames waiting for the socket.
    out: OutQueue,
    /// A descriptor passed with the Connect request (the offered rings).
    pub passed: Option<OwnedFd>,
    /// The task's rings, once taken.
    pub rings: Option<Rings>,
    /// The queue this connection's last message went to is over its cap:
    /// nothing more is read from it until that queue drains (bounds.rs).
    pub waits_on: Option<super::bounds::Sink>,
    /// The large body being read has room in the daemon's budget for
    /// bodies being received (receiving.rs): the decoder's
    /// [`FrameDecoder::bigs_begun`] when it was given, and how much.
    pub body_id: u64,
    pub body_reserved: usize,
    /// A large body began and waits for room in that budget: nothing more
    /// is read from the connection until it gets it.
    pub body_wait: bool,
}

/// The daemon's side of a task's rings.
pub struct Rings {
    pub map: Arc<SharedMap>,
    tx: Producer,
    rx: Consumer,
    /// Frames to the task go through the ring (set once the Connect reply,
    /// which goes on the socket, is queued).
    pub live: bool,
    /// Frames read from the socket, each waiting for its marker.
    socket: VecDeque<Frame>,
    /// A marker was taken and its frame has not come yet.
    marker_waiting: bool,
    /// Frames to the task waiting for room in the ring (in order).
    backlog: VecDeque<Out>,
    /// Bytes of `backlog`.
    backlog_bytes: usize,
}

/// A frame waiting for room: encoded, or owned (a large body not copied).
enum Out {
    Bytes(Vec<u8>),
    Frame(Frame),
}

impl Out {
    fn len(&self) -> usize {
        match self {
            Out::Bytes(b) => b.len(),
            Out::Frame(f) => HEADER_LEN + f.body.len(),
        }
    }
}

impl Rings {
    /// Takes the rings a task offered with its Connect request.
    pub fn take(fd: OwnedFd) -> io::Result<Rings> {
        let map = ring::accept(fd.as_fd())?;
        Ok(Rings {
            tx: Producer::new(map.clone(), Dir::ToTask),
            rx: Consumer::new(map.clone(), Dir::ToDaemon),
            map,
            live: false,
            socket: VecDeque::new(),
            marker_waiting: false,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
        })
    }

    /// Whether frames to the task wait for room.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }
}

/// The connections of this host's tasks (and of clients that have not
/// sent Connect yet), by their poll token: the loop's connection table.
/// Private state; the others look a connection up by token.
#[derive(Default)]
pub struct ConnTable {
    conns: HashMap<Token, Conn>,
}

impl ConnTable {
    /// A new connection on `token`.
    pub fn insert(&mut self, token: Token, c: Conn) {
        self.conns.insert(token, c);
    }

    /// The connection on `token`, taken out of the table.
    pub fn remove(&mut self, token: Token) -> Option<Conn> {
        self.conns.remove(&token)
    }

    pub fn get(&self, token: Token) -> Option<&Conn> {
        self.conns.get(&token)
    }

    pub fn get_mut(&mut self, token: Token) -> Option<&mut Conn> {
        self.conns.get_mut(&token)
    }

    /// Whether `token` is a task connection's.
    pub fn contains(&self, token: Token) -> bool {
        self.conns.contains_key(&token)
    }

    /// The tid of the task connected on `token` (None before its Connect,
    /// after its Exit, or for another token).
    pub fn tid_of(&self, token: Token) -> Option<i32> {
        self.conns.get(&token).and_then(|c| c.tid)
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Every connection (at halt: flush what each holds).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.conns.values_mut()
    }

    /// Every (token, connection).
    pub fn iter(&self) -> impl Iterator<Item = (Token, &Conn)> {
        self.conns.iter().map(|(t, c)| (*t, c))
    }
}

impl Conn {
    /// A fresh connection accepting message bodies of up to `max_body` bytes
    /// once connected: before its Connect, of up to [`BEFORE_CONNECT`].
    pub fn new(stream: UnixStream, peer_pid: i32, max_body: usize) -> Conn {
        Conn {
            stream,
            decoder: FrameDecoder::with_limit(max_body.min(BEFORE_CONNECT)),
            tid: None,
            peer_pid,
            out: OutQueue::default(),
            passed: None,
            rings: None,
            waits_on: None,
            body_id: 0,
            body_reserved: 0,
            body_wait: false,
        }
    }

    /// Reads everything available into the decoder (edge-triggered: until
    /// WouldBlock or a short read).
    pub fn read_available(&mut self, buf: &mut [u8]) -> ReadOutcome {
        if self.tid.is_none() {
            return self.read_before_connect(buf);
        }
        loop {
            if self.body_unbudgeted() {
                // A large body began: read on once it has room in the
                // daemon's budget (receiving.rs).
                return ReadOutcome::Open;
            }
            // Large bodies are read straight into place (no copy through `buf`).
            let chunk = buf.len().min(crate::wire::READ_STEP);
            match self.decoder.read_from(&self.stream, &mut buf[..chunk]) {
                Ok(0) => return ReadOutcome::Closed,
                // A short read emptied the socket: bytes that come later
                // raise a new (edge) event, so no read is wasted on WouldBlock.
                Ok(_) if self.decoder.drained() => return ReadOutcome::Open,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return ReadOutcome::Closed,
            }
        }
    }

    /// Whether a large body began that has no room in the daemon's budget
    /// yet.
    pub fn body_unbudgeted(&self) -> bool {
        self.decoder.big_claim().is_some() && self.decoder.bigs_begun() != self.body_id
    }

    /// Before Connect: reads keeping a descriptor passed with the bytes
    /// (the rings a task offers come with its Connect request).
    fn read_before_connect(&mut self, buf: &mut [u8]) -> ReadOutcome {
        loop {
            let mut fds = Vec::new();
            match crate::os::recv_with_fds(self.stream.as_fd(), buf, &mut fds) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => {
                    // One descriptor is kept; any other is closed here.
                    if let Some(fd) = fds.into_iter().next() {
                        self.passed = Some(fd);
                    }
                    self.decoder.feed(&buf[..n]);
                    if n < buf.len() || self.decoder.oversize().is_some() {
                        // Drained, or a frame over the limit waits
                        // (refused when frames are taken): read no more.
                        return ReadOutcome::Open;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return ReadOutcome::Closed,
            }
        }
    }

    /// With rings: the frames to handle now, in the order the task sent
    /// them. `from_socket` are the frames just decoded from the socket
    /// (doorbells, and frames that wait for their marker in the ring).
    /// Also moves waiting frames to the task into its ring when room came.
    /// Without rings: `from_socket` as they are.
    pub fn take_frames(&mut self, from_socket: Vec<Frame>) -> Result<Vec<Frame>, Bad> {
        let Some(r) = self.rings.as_mut() else {
            return Ok(from_socket);
        };
        r.socket.extend(
            from_socket
                .into_iter()
                .filter(|f| !wire::is_doorbell(&f.header)),
        );
        let mut out = Vec::new();
        loop {
            if r.marker_waiting {
                match r.socket.pop_front() {
                    Some(f) => {
                        out.push(f);
                        r.marker_waiting = false;
                    }
                    None => break,
                }
            }
            match r.rx.pop()? {
                None => break,
                Some(Record::Marker) => r.marker_waiting = true,
                Some(Record::Frames(v)) => out.push(wire::one_frame(v)?),
            }
        }
        self.flush_backlog()?;
        // A failed write shows again as the socket's error or hang-up.
        let _ = self.flush();
        Ok(out)
    }

    /// Moves frames waiting for room into the task's ring and writes what
    /// the socket takes, without reading anything from the task (a task
    /// not read from still receives, bounds.rs).
    pub fn push_out(&mut self) -> Result<(), Bad> {
        self.flush_backlog()?;
        // A failed write shows again as the socket's error or hang-up.
        let _ = self.flush();
        Ok(())
    }

    /// Queues a frame and writes as much as the socket takes now.
    pub fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.send_bytes(frame.to_bytes())
    }

    /// Queues a frame we own: its header and body go out as they are (a
    /// large body is not copied on its way through the daemon).
    pub fn send_frame(&mut self, frame: Frame) -> io::Result<()> {
        if self.rings.as_ref().is_some_and(|r| r.live) {
            return self.send_ring(Out::Frame(frame));
        }
        self.out.push_frame(frame);
        self.flush()
    }

    /// Queues already encoded frame bytes (one frame).
    pub fn send_bytes(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        if self.rings.as_ref().is_some_and(|r| r.live) {
            return self.send_ring(Out::Bytes(bytes));
        }
        self.out.push(bytes);
        self.flush()
    }

    fn send_ring(&mut self, frame: Out) -> io::Result<()> {
        if let Some(r) = self.rings.as_mut() {
            r.backlog_bytes += frame.len();
            r.backlog.push_back(frame);
        }
        self.flush_backlog()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        self.flush()
    }

    /// Moves waiting frames to the task into its ring (a large one goes on
    /// the socket after its marker) while there is room; rings the task
    /// when it sleeps.
    fn flush_backlog(&mut self) -> Result<(), Bad> {
        let Some(r) = self.rings.as_mut() else {
            return Ok(());
        };
        let mut moved = false;
        let mut asked = false;
        while let Some(front) = r.backlog.front() {
            // A frame too large for a record goes on the socket after its marker.
            let large = !ring::fits(front.len());
            let placed = if !large {
                let bytes;
                let parts: [&[u8]; 2] = match front {
                    Out::Bytes(b) => [b, &[]],
                    Out::Frame(f) => {
                        bytes = f.header.encode();
                        [&bytes, &f.body]
                    }
                };
                r.tx.push_frames(&parts)?
            } else {
                r.tx.push_marker()?
            };
            if !placed {
                if asked {
                    break;
                }
                // Room may come between the try and the request: try again once.
                r.tx.want_room();
                asked = true;
                continue;
            }
            moved = true;
            r.backlog_bytes -= front.len();
            match r.backlog.pop_front().filter(|_| large) {
                Some(Out::Bytes(b)) => self.out.push(b),
                Some(Out::Frame(f)) => self.out.push_frame(f),
                None => {}
            }
        }
        if moved && r.tx.wake_due() {
            self.out.push(wire::doorbell().encode().to_vec());
        }
        Ok(())
    }

    /// Writes queued bytes until the queue is empty or the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush(&mut self.stream).map(|_| ())
    }

    /// Bytes waiting for the task: to be written on the socket, and
    /// waiting for room in its ring.
    pub fn queued(&self) -> usize {
        self.out.len() + self.rings.as_ref().map_or(0, |r| r.backlog_bytes)
    }
}
