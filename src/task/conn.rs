//! The task's connection to its local daemon: finding it, starting one when
//! there is none (the embedded runner), and the blocking frame I/O.
//!
//! A [`Conn`] is shared by all threads of the program: writers take the write
//! lock for one whole frame; only one thread at a time reads (the runtime's
//! `reading` flag decides which, and the read lock backs it up), so frames
//! are never interleaved. Waiting for input is the runtime's job: it polls
//! this socket together with the direct-route links (`direct`).

use crate::paths::DaemonFiles;
use crate::wire::{self, Frame, Header, Kind};
use crate::{Error, Result};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Environment variable naming the tid a spawned task was given.
pub const ENV_TID: &str = "PVM6_TID";
/// Environment variable naming the socket of the daemon that spawned us.
pub const ENV_SOCK: &str = "PVM6_SOCK";
/// Set to 1 to keep the original behaviour: no autostart of a daemon.
pub const ENV_NOAUTOSTART: &str = "PVM6_NOAUTOSTART";

/// How long a program waits for a daemon it started to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Writes to the daemon's socket without SIGPIPE: when the daemon has gone
/// (or refused the connection because it is out of descriptors) the call
/// fails with PvmSysErr instead of the signal killing the user's program.
struct NoSigPipe<'a>(BorrowedFd<'a>);

impl io::Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        crate::sys::send_nosignal(self.0, &[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::sys::send_nosignal(self.0, bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An open connection to the local daemon.
pub struct Conn {
    stream: UnixStream,
    /// Held by a writer for one whole frame.
    write: Mutex<()>,
    /// Held by the reader for one whole frame.
    read: Mutex<()>,
    /// The daemon directory (private, 0700), where direct-route listeners live.
    dir: PathBuf,
}

impl Conn {
    /// Connects to the daemon listening at `sock`.
    fn open(sock: &Path) -> io::Result<Conn> {
        let stream = UnixStream::connect(sock)?;
        Ok(Conn {
            stream,
            write: Mutex::new(()),
            read: Mutex::new(()),
            dir: sock.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    /// Connects to the local daemon, starting one when none answers and
    /// autostart is allowed (`PVM6_NOAUTOSTART` unset).
    pub fn connect_or_start() -> Result<Conn> {
        let files = DaemonFiles::current();
        let sock = std::env::var_os(ENV_SOCK)
            .map(PathBuf::from)
            .unwrap_or_else(|| files.sock.clone());
        if let Ok(c) = Conn::open(&sock) {
            return Ok(c);
        }
        if std::env::var(ENV_NOAUTOSTART)
            .map(|v| v == "1")
            .unwrap_or(false)
        {
            return Err(Error::SysErr);
        }
        log::debug!("no daemon at {}, starting one", files.sock.display());
        crate::daemon::start_background()?;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut pause = Duration::from_millis(2);
        loop {
            match Conn::open(&files.sock) {
                Ok(c) => return Ok(c),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(e) => {
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

    /// Sends one frame: the header and `body` slices in one writev.
    pub fn send(&self, header: &Header, body: &[IoSlice<'_>]) -> Result<()> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = NoSigPipe(self.stream.as_fd());
        wire::write_frame(&mut out, header, body).map_err(|e| {
            log::debug!("write to daemon failed: {e}");
            Error::SysErr
        })
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

    /// Reads one whole frame (blocking). End of stream or a bad frame is
    /// `SysErr`: the daemon is gone.
    pub fn read_frame(&self) -> Result<Frame> {
        let _r = self.read.lock().unwrap_or_else(|e| e.into_inner());
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
