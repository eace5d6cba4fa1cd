//! The daemon's real request handlers under arbitrary input (the fuzz
//! target `requests`, `crate::fuzzing::requests`): a daemon is built as
//! `run` builds one (its own private directory, Unix socket, a loopback
//! TCP listener, log), three task connections are attached to it as
//! socket pairs, and the input becomes frames those tasks send, handled by
//! the same `handle_frame` the event loop calls. Requests that would act
//! outside the daemon's own memory are left out: they start processes
//! (Spawn, AddHosts, and the registrations of a tasker, hoster or resource
//! manager that starts them), signal pids (Kill, SendSig, Halt: a Connect
//! names its pid, which a fuzzer would choose), or end hosts (DelHosts).
//! Every Connect carries this process's pid.

use super::conn::Conn;
use super::server::Daemon;
use super::DaemonOptions;
use crate::paths::DaemonFiles;
use crate::wire::{Frame, FrameDecoder, Header, Kind, Reader, Req, Writer};
use std::io::Read;
use std::os::unix::net::UnixStream;

/// Request codes the fuzzer may send (see the module doc for the others).
const CODES: &[Req] = &[
    Req::Connect,
    Req::Exit,
    Req::Config,
    Req::Tasks,
    Req::Pstat,
    Req::Mstat,
    Req::NewContext,
    Req::FreeContext,
    Req::MboxPut,
    Req::MboxRecv,
    Req::MboxDel,
    Req::MboxInfo,
    Req::RouteAdd,
    Req::RouteDelete,
    Req::RouteHello,
    Req::DaemonAddr,
    Req::Notify,
    Req::SetOutput,
    Req::HostSync,
    Req::NoReset,
    Req::GetNoResets,
    Req::GroupJoin,
    Req::GroupLeave,
    Req::GroupTid,
    Req::GroupInst,
    Req::GroupSize,
    Req::GroupBarrier,
    Req::GroupMembers,
    Req::GroupFreeze,
];

/// Tasks attached to the fuzzed daemon.
const TASKS: usize = 3;

/// A daemon for fuzzing, in a fresh directory under the system's temporary
/// one; `None` when the system refuses a socket.
pub(super) fn daemon(dir: &std::path::Path) -> Option<Daemon> {
    let mut opts = DaemonOptions::from_env();
    opts.files = DaemonFiles::new(dir, crate::os::uid(), None);
    opts.log_facade = false;
    opts.env = Vec::new();
    super::prepare_dir(&opts.files).ok()?;
    let unix = mio::net::UnixListener::bind(&opts.files.sock).ok()?;
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    tcp.set_nonblocking(true).ok()?;
    let addr = tcp.local_addr().ok()?;
    Daemon::new(opts, unix, mio::net::TcpListener::from_std(tcp), addr).ok()
}

/// Reads the frames the daemon wrote to a task (non-blocking).
fn replies(peer: &mut UnixStream) -> Vec<Frame> {
    let mut d = FrameDecoder::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match peer.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => d.feed(&buf[..n]),
        }
    }
    let mut out = Vec::new();
    while let Ok(Some(f)) = d.next_frame() {
        out.push(f);
    }
    out
}

/// A fuzzed daemon with its tasks, kept across inputs by a long run (the
/// seeded test: state left by one input meets the next); the fuzz target
/// makes a fresh one per input.
pub struct Session {
    d: Daemon,
    dir: std::path::PathBuf,
    peers: Vec<UnixStream>,
    tokens: Vec<mio::Token>,
    wid: i32,
}

impl Session {
    /// A daemon in a fresh directory with [`TASKS`] connected tasks.
    pub fn new() -> Option<Session> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "pvm6-fuzz-{}-{:?}-{stamp:x}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::create_dir_all(&dir);
        let Some(d) = daemon(&dir) else {
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        };
        let mut s = Session {
            d,
            dir,
            peers: Vec::new(),
            tokens: Vec::new(),
            wid: 1,
        };
        for i in 0..TASKS {
            s.attach(&format!("fuzz{i}"))?;
        }
        Some(s)
    }

    /// Attaches a task (a socket pair) and sends its Connect; its index.
    fn attach(&mut self, name: &str) -> Option<usize> {
        let (ours, theirs) = UnixStream::pair().ok()?;
        ours.set_nonblocking(true).ok()?;
        theirs.set_nonblocking(true).ok()?;
        let t = self.d.token();
        let me = std::process::id() as i32;
        self.d.conns.insert(
            t,
            Conn::new(
                mio::net::UnixStream::from_std(ours),
                me,
                self.d.opts.max_message,
            ),
        );
        self.peers.push(theirs);
        self.tokens.push(t);
        let body = Writer::new().int(me).int(0).str(name).int(0).finish();
        self.wid += 1;
        self.d.handle_frame(t, req(Req::Connect, self.wid, body));
        Some(self.tokens.len() - 1)
    }

    /// Sends the frames `data` describes (see [`requests`]), from the
    /// first [`TASKS`] tasks.
    pub fn feed(&mut self, data: &[u8]) {
        let me = std::process::id() as i32;
        let mut rest = data;
        while let [ctl, len, tail @ ..] = rest {
            let n = usize::from(*len).min(tail.len());
            let (body, next) = tail.split_at(n);
            rest = next;
            let who = self.tokens[usize::from(*ctl) % TASKS];
            let mut body = body.to_vec();
            self.wid += 1;
            let frame = if ctl & 0x80 == 0 {
                let code = CODES[usize::from(ctl >> 2) % CODES.len()];
                if code == Req::Connect && body.len() >= 4 {
                    body[..4].copy_from_slice(&me.to_le_bytes());
                }
                req(code, self.wid, body)
            } else {
                // A message from that task to one of the tasks (or itself).
                let src = self.d.conns.tid_of(who).unwrap_or(0);
                let to = self.tokens[usize::from(ctl >> 2) % TASKS];
                let dst = self.d.conns.tid_of(to).unwrap_or(0);
                Frame::new(
                    Header {
                        src,
                        dst,
                        tag: i32::from(ctl >> 3),
                        ..Header::new(Kind::Msg)
                    },
                    body,
                )
            };
            if self.d.conns.contains(who) {
                self.d.handle_frame(who, frame);
            }
            for p in self.peers.iter_mut() {
                let _ = replies(p);
            }
        }
    }

    /// A task that comes now is served: its Config request succeeds.
    pub fn check(&mut self) {
        let Some(i) = self.attach("fresh") else {
            return;
        };
        self.wid += 1;
        let wid = self.wid;
        let t = self.tokens[i];
        self.d.handle_frame(t, req(Req::Config, wid, Vec::new()));
        let got = replies(&mut self.peers[i]);
        let config = got
            .iter()
            .find(|f| f.header.kind == Kind::Reply && f.header.wid == wid)
            .expect("no reply to Config after the fuzzed requests");
        let status = Reader::new(&config.body).int().unwrap_or(-1);
        assert!(
            status >= 0,
            "Config failed after the fuzzed requests: {status}"
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The target: the input is a sequence of frames, each a control byte
/// (which task sends, a Req or a Msg, the code), a body length byte and
/// the body. After all of them, a Config request of a fresh task must
/// still be answered with success.
pub fn requests(data: &[u8]) {
    if let Some(mut s) = Session::new() {
        s.feed(data);
        s.check();
    }
}

fn req(code: Req, wid: i32, body: Vec<u8>) -> Frame {
    Frame::new(
        Header {
            tag: code as i32,
            wid,
            ..Header::new(Kind::Req)
        },
        body,
    )
}
