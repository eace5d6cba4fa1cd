//! The task's connection to its local daemon: finding it, starting one when
//! there is none (the embedded runner), and the blocking frame I/O.
//!
//! A [`Conn`] is shared by all threads of the program: writers take the write
//! lock for one whole frame; only one thread at a time reads (the runtime's
//! `reading` flag decides which, and the read lock backs it up), so frames
//! are never interleaved. Waiting for input is the runtime's job: it polls
//! this socket together with the direct-route links (`route`), and looks at
//! the shared-memory ring the daemon writes to, when it took the one this
//! connection offered (`crate::ring`: after the Connect reply, frames go
//! through the rings; the socket carries the large ones, doorbells and the
//! end of the connection).

use crate::os::SharedMap;
use crate::paths::DaemonFiles;
use crate::ring::{self, Consumer, Dir, Producer, Record};
use crate::sync::Locked;
use crate::wire::{self, Frame, Header, Kind, HEADER_LEN};
use crate::{Error, Result};
use std::io::{self, IoSlice, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use crate::wire::vocabulary::{ENV_NOAUTOSTART, ENV_SOCK, ENV_TID};

/// How long a program waits for a daemon it started to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Writes to the daemon's socket without SIGPIPE: when the daemon has gone
/// (or refused the connection because it is out of descriptors) the call
/// fails with PvmSysErr instead of the signal killing the user's program.
struct NoSigPipe<'a>(BorrowedFd<'a>);

impl io::Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        crate::os::send_nosignal(self.0, &[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::os::send_nosignal(self.0, bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An open connection to the local daemon.
pub struct Conn {
    stream: UnixStream,
    /// Held by a writer for one whole frame; the ring to the daemon, once
    /// it took the rings.
    write: Mutex<Option<Producer>>,
    /// Held by the reader for one whole frame; the ring from the daemon.
    read: Mutex<Option<Consumer>>,
    /// The rings offered with the Connect request (kept until the reply).
    offer: Mutex<Option<(OwnedFd, Arc<SharedMap>)>>,
    /// The rings' memory, set when the daemon took them.
    rings: OnceLock<Arc<SharedMap>>,
    /// The program polls the socket itself (pvm_getfds): doorbells are
    /// taken with every record, so the socket is readable only while one waits.
    always: AtomicBool,
    /// The daemon directory (private, 0700), where direct-route listeners live.
    dir: PathBuf,
}

impl Conn {
    /// Connects to the daemon listening at `sock`, after checking that its
    /// directory is private and ours, and that the listener runs as this
    /// user (SO_PEERCRED): nothing is sent to anyone else's socket.
    fn open(sock: &Path) -> std::result::Result<Conn, Refused> {
        let dir = sock.parent().map(Path::to_path_buf).unwrap_or_default();
        crate::paths::check_private_dir(&dir).map_err(Refused::from_dir)?;
        let stream = UnixStream::connect(sock).map_err(Refused::Absent)?;
        let me = crate::os::uid();
        match crate::os::peer_cred(&stream) {
            Ok((_, uid, _)) if uid == me => {}
            Ok((pid, uid, _)) => {
                return Err(Refused::Untrusted(format!(
                    "refusing the daemon at {}: it runs as uid {uid}{} (pid {pid}), not as this user (uid {me})",
                    sock.display(),
                    crate::paths::user_name(uid)
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                )))
            }
            Err(e) => {
                return Err(Refused::Untrusted(format!(
                    "refusing the daemon at {}: can't check who listens ({e})",
                    sock.display()
                )))
            }
        }
        Ok(Conn {
            stream,
            write: Mutex::new(None),
            read: Mutex::new(None),
            offer: Mutex::new(None),
            rings: OnceLock::new(),
            always: AtomicBool::new(false),
            dir,
        })
    }

    /// Connects to the local daemon, starting one when none answers and
    /// autostart is allowed (`PVM6_NOAUTOSTART` unset). A daemon directory
    /// or listener that is not this user's own is reported on stderr
    /// (`libpvm [pidN]: refusing ...`) and fails with SysErr, as PVM 3.4
    /// fails when it can't contact its daemon; no daemon is started then.
    pub fn connect_or_start() -> Result<Conn> {
        let files = DaemonFiles::current();
        let sock = std::env::var_os(ENV_SOCK)
            .map(PathBuf::from)
            .unwrap_or_else(|| files.sock.clone());
        match Conn::open(&sock) {
            Ok(c) => return Ok(c),
            Err(r @ Refused::Untrusted(_)) => return Err(r.report()),
            Err(Refused::Absent(_)) => {}
        }
        if std::env::var(ENV_NOAUTOSTART)
            .map(|v| v == "1")
            .unwrap_or(false)
        {
            return Err(Error::SysErr);
        }
        log::debug!("no daemon at {}, starting one", files.sock.display());
        crate::daemon::embedded::start_background()?;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut pause = Duration::from_millis(2);
        loop {
            match Conn::open(&files.sock) {
                Ok(c) => return Ok(c),
                Err(r @ Refused::Untrusted(_)) => return Err(r.report()),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(Refused::Absent(e)) => {
                    log::warn!("daemon did not come up at {}: {e}", files.sock.display());
                    return Err(Error::CantStart);
                }
            }
        }
    }

    /// The socket's descriptor (for pvm_getfds).
    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// The socket, for poll.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// The daemon's private directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends the Connect request (`body`), offering the daemon the rings
    /// (their descriptor goes with it; a flag at the end of the body says
    /// so). Without shared memory the request goes without the offer.
    pub fn send_connect(&self, body: &[u8]) -> Result<()> {
        let offer = match ring::create() {
            Ok(r) => Some(r),
            Err(e) => {
                log::debug!("no shared-memory rings for the daemon connection: {e}");
                None
            }
        };
        let mut body = body.to_vec();
        body.extend_from_slice(&wire::Writer::new().int(offer.is_some() as i32).finish());
        let h = Header {
            len: body.len() as u32,
            tag: crate::wire::Req::Connect as i32,
            ..Header::new(Kind::Req)
        };
        let Some((fd, map)) = offer else {
            return self.send(&h, &[IoSlice::new(&body)]);
        };
        let _w = self.write.locked();
        let hdr = h.encode();
        let all = [&hdr[..], &body[..]].concat();
        let sent = crate::os::send_nonblocking_with_fd(
            self.stream.as_fd(),
            &[IoSlice::new(&all)],
            fd.as_fd(),
        )
        .and_then(|n| {
            let mut out = NoSigPipe(self.stream.as_fd());
            io::Write::write_all(&mut out, &all[n..])
        });
        sent.map_err(write_failed)?;
        *self.offer.locked() = Some((fd, map));
        Ok(())
    }

    /// The daemon answered the Connect request: whether it took the rings.
    /// From now on frames go through them.
    pub fn connected(&self, rings_taken: bool) {
        let offer = self.offer.locked().take();
        let Some((_fd, map)) = offer.filter(|_| rings_taken) else {
            return;
        };
        *self.write.locked() = Some(Producer::new(map.clone(), Dir::ToDaemon));
        *self.read.locked() = Some(Consumer::new(map.clone(), Dir::ToTask));
        // Set once: connected() follows the only Connect of this Conn.
        let _ = self.rings.set(map);
    }

    /// Whether the daemon took the rings.
    pub fn has_rings(&self) -> bool {
        self.rings.get().is_some()
    }

    /// Whether a record from the daemon waits in the ring (no system call).
    pub fn has_input(&self) -> bool {
        self.rings
            .get()
            .is_some_and(|m| ring::pending(m, Dir::ToTask))
    }

    /// Before sleeping in poll on the socket: asks the daemon to ring it
    /// for the next record. True: one came meanwhile, do not sleep (then
    /// call [`Conn::disarm`] all the same).
    pub fn arm(&self) -> bool {
        self.rings.get().is_some_and(|m| ring::arm(m, Dir::ToTask))
    }

    /// After sleeping (or instead of it).
    pub fn disarm(&self) {
        if let Some(m) = self.rings.get() {
            ring::disarm(m, Dir::ToTask);
        }
    }

    /// The program polls the socket itself (pvm_getfds): from now on the
    /// daemon rings it after every record it puts in the ring.
    pub fn ring_always(&self) {
        if let Some(m) = self.rings.get() {
            self.always.store(true, Relaxed);
            ring::ring_always(m, Dir::ToTask);
        }
    }

    /// Sends one frame: the header and `body` slices in one writev (or one
    /// record of the ring).
    pub fn send(&self, header: &Header, body: &[IoSlice<'_>]) -> Result<()> {
        let mut w = self.write.locked();
        if let Some(p) = w.as_mut() {
            let total = HEADER_LEN + body.iter().map(|b| b.len()).sum::<usize>();
            if ring::fits(total) {
                let hdr = header.encode();
                let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + body.len());
                parts.push(&hdr);
                parts.extend(body.iter().map(|b| &**b));
                self.push_waiting(p, |p| p.push_frames(&parts))?;
                if p.wake_due() {
                    self.write_doorbell()?;
                }
                return Ok(());
            }
            // The frame itself wakes a sleeping daemon.
            self.push_waiting(p, Producer::push_marker)?;
        }
        self.write_socket(header, body)
    }

    /// Writes one frame on the socket (the caller holds the write lock).
    fn write_socket(&self, header: &Header, body: &[IoSlice<'_>]) -> Result<()> {
        let mut out = NoSigPipe(self.stream.as_fd());
        wire::write_frame(&mut out, header, body).map_err(write_failed)
    }

    /// Pushes into the ring to the daemon, waiting for room as a blocking
    /// write waits for the socket: the daemon always empties it, so room
    /// comes unless the daemon has gone (the socket hangs up: SysErr).
    fn push_waiting(
        &self,
        p: &mut Producer,
        mut push: impl FnMut(&mut Producer) -> std::result::Result<bool, ring::Bad>,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            match push(p) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => {
                    log::warn!("{e} (daemon side)");
                    return Err(Error::SysErr);
                }
            }
            if start.elapsed() < crate::os::spin_budget() {
                std::thread::yield_now();
                continue;
            }
            if crate::os::wait_hangup(self.stream.as_fd(), Duration::from_millis(1)) {
                log::debug!("daemon hung up while its ring was full");
                return Err(Error::SysErr);
            }
        }
    }

    /// Rings the daemon: a body-less control frame on the socket.
    fn write_doorbell(&self) -> Result<()> {
        self.write_socket(&wire::doorbell(), &[])
    }

    /// Sends a control frame of `kind` with a plain body.
    pub fn send_simple(&self, kind: Kind, tag: i32, wid: i32, src: i32, body: &[u8]) -> Result<()> {
        let h = Header {
            len: body.len() as u32,
            tag,
            wid,
            src,
            ..Header::new(kind)
        };
        self.send(&h, &[IoSlice::new(body)])
    }

    /// Reads one whole frame from the socket (blocking): the Connect reply,
    /// before any ring (afterwards the runtime's wait and
    /// [`Conn::try_read_frame`] read). End of stream or a bad frame is
    /// `SysErr`: the daemon is gone.
    pub fn read_frame(&self) -> Result<Frame> {
        debug_assert!(self.rings.get().is_none(), "read_frame after the rings");
        let _r = self.read.locked();
        self.read_socket_frame()
    }

    /// The next frame from the daemon when one is there: from the ring, or
    /// the socket (where a frame is only read after its marker, and
    /// doorbells are taken on the way). None: only doorbells were waiting.
    /// Without rings this blocks for the next frame on the socket.
    pub fn try_read_frame(&self) -> Result<Option<Frame>> {
        let mut r = self.read.locked();
        let Some(c) = r.as_mut() else {
            return self.read_socket_frame().map(Some);
        };
        let bad = |e: ring::Bad| {
            log::warn!("{e} (daemon side)");
            Error::SysErr
        };
        if self.always.load(Relaxed) {
            self.take_doorbells()?;
        }
        let mut record = c.pop().map_err(bad)?;
        if record.is_none() {
            // Woken by the socket: doorbells (or its end) are there.
            self.take_doorbells()?;
            record = c.pop().map_err(bad)?;
        }
        if c.room_due() {
            // Lock order: read, then write (no writer takes the read lock).
            let _w = self.write.locked();
            self.write_doorbell()?;
        }
        match record {
            None => Ok(None),
            Some(Record::Marker) => loop {
                let f = self.read_socket_frame()?;
                if !wire::is_doorbell(&f.header) {
                    return Ok(Some(f));
                }
            },
            Some(Record::Frames(v)) => wire::one_frame(v).map(Some).map_err(bad),
        }
    }

    /// Takes the doorbells at the head of the socket, without blocking; a
    /// frame there is left for its marker. End of stream is SysErr.
    fn take_doorbells(&self) -> Result<()> {
        let mut h = [0u8; HEADER_LEN];
        loop {
            match crate::os::peek(self.stream.as_fd(), &mut h) {
                Ok(0) => return Err(Error::SysErr),
                Ok(HEADER_LEN) => {}
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(_) => return Err(Error::SysErr),
            }
            match Header::decode(&h) {
                Ok(hd) if wire::is_doorbell(&hd) => {
                    (&self.stream)
                        .read_exact(&mut h)
                        .map_err(|_| Error::SysErr)?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn read_socket_frame(&self) -> Result<Frame> {
        match wire::read_frame_with(&mut &self.stream, crate::msg::spare::body) {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(Error::SysErr),
            Err(e) => {
                log::debug!("read from daemon failed: {e}");
                Err(Error::SysErr)
            }
        }
    }
}

/// Why no connection to the daemon was made.
enum Refused {
    /// Nothing (or nothing yet) listens there: a daemon may be started.
    Absent(io::Error),
    /// Something not this user's own is there: never talked to.
    Untrusted(String),
}

impl Refused {
    fn from_dir(e: io::Error) -> Refused {
        if e.kind() == io::ErrorKind::NotFound {
            Refused::Absent(e)
        } else {
            Refused::Untrusted(e.to_string())
        }
    }

    /// Says why on stderr (the program's user must learn it: someone else
    /// holds the path) and gives the error of a daemon that can't be
    /// contacted.
    fn report(self) -> Error {
        if let Refused::Untrusted(why) = &self {
            super::report_line(why);
            log::warn!("{why}");
        }
        Error::SysErr
    }
}

/// A write to the daemon failed: it has gone (or hung up).
fn write_failed(e: io::Error) -> Error {
    log::debug!("write to daemon failed: {e}");
    Error::SysErr
}
