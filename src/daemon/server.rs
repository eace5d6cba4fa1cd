//! The event loop of pvmd: one thread, one `mio::Poll` watching the Unix and
//! TCP listeners, every task connection, the stdout/stderr pipes of spawned
//! tasks and a pidfd per child process (readable when the child exits, so
//! exits are seen without a SIGCHLD handler or polling). An idle daemon
//! sleeps in `poll` with no timeout; timeouts are used only while halting
//! (the SIGKILL grace) or for a child whose pidfd could not be opened.
//!
//! Also here: the request handlers of docs/PROTOCOL.md and the message
//! router. The TCP links to other daemons, the host table and forwarding
//! live in the child module `multi` (multi.rs); their sockets and the
//! remote shells' pipes are sources of the same poll, and a 200 ms tick runs
//! while any exist (heartbeats, deadlines).

use super::conn::{Conn, ReadOutcome, Rings};
use super::groups::{self as grp, Groups, Release};
use super::log::{dlog, DaemonLog};
use super::mailbox::{Mailbox, Outcome};
use super::notify::{Note, NotifyRequest, NotifyTable, World};
use super::output::{Dest, Inherit, OutputTable};
use super::routes::{RouteChange, RouteTable};
use super::spawn::{self, SpawnRequest};
use super::task::{Task, TaskTable, TF_CONNECTED, TF_SPAWNED};
use super::DaemonOptions;
use super::{dialog, misc, multi, rm};
use crate::os::SharedMap;
use crate::wire::{Frame, Header, Kind, Reader, Req, Writer};
use crate::{os, ring, tid, Error};
use mio::net::{TcpListener, UnixListener};
use mio::unix::pipe::Receiver;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Misc requests (40-49), the tasker and tickle: a child module so it shares this state.
// Multi-host machines: links, host table, forwarding, slave startup.
// Tasks of other hosts writing their messages for our tasks to us directly.
pub(super) const UNIX_LISTENER: Token = Token(0);
pub(super) const TCP_LISTENER: Token = Token(1);
/// The pipe SIGTERM and SIGINT write to (`os::signal_pipe`).
pub(super) const SIGNALS: Token = Token(usize::MAX - 1);
pub(super) const FIRST_TOKEN: usize = 2;
/// How often children without a pidfd are checked (only while such exist).
pub(super) const REAP_INTERVAL: Duration = Duration::from_millis(200);
/// How often TaskGones waiting for feeds' acknowledgements look again.
pub(super) const RETURNS_POLL: Duration = Duration::from_millis(1);
/// Quiet time after connections closed before freed memory is returned.
pub(super) const TRIM_AFTER: Duration = Duration::from_millis(500);
/// Most tasks one Spawn request may ask for.
pub(super) const MAX_NTASK: i32 = tid::LOCAL_MASK;

/// A spawned task's output pipe.
pub(super) struct Pipe {
    pub(super) tid: i32,
    pub(super) rx: Receiver,
    pub(super) partial: Vec<u8>,
}

/// A child process of the daemon.
pub(super) struct ChildProc {
    pub(super) tid: i32,
    pub(super) child: Child,
    pub(super) pidfd: Option<OwnedFd>,
}

/// The daemon's state.
pub struct Daemon {
    pub(super) opts: DaemonOptions,
    pub(super) log: DaemonLog,
    pub(super) poll: Poll,
    pub(super) unix: UnixListener,
    pub(super) tcp: TcpListener,
    pub(super) conns: HashMap<Token, Conn>,
    pub(super) pipes: HashMap<Token, Pipe>,
    /// Children watched by a pidfd (keyed by the pidfd's token).
    pub(super) children: HashMap<Token, ChildProc>,
    /// Children without a pidfd, checked every REAP_INTERVAL.
    pub(super) unwatched: Vec<ChildProc>,
    pub(super) tasks: TaskTable,
    /// The message mailbox (pvm_putinfo & co.).
    pub(super) mbox: Mailbox,
    pub(super) next_token: usize,
    pub(super) contexts: BTreeSet<i32>,
    pub(super) next_ctx: i32,
    /// Host part of this host's tids (0x40000).
    pub(super) host: i32,
    /// The daemon's own tid (0x80040000).
    pub(super) dtid: i32,
    pub(super) local_names: Vec<String>,
    pub(super) local_addrs: Vec<IpAddr>,
    /// Set once halting: when the next escalation is due, and whether SIGKILL was sent.
    pub(super) halting: Option<(Instant, bool)>,
    pub(super) buf: Vec<u8>,
    /// Direct routes between tasks, as they report them (routes.rs).
    pub(super) routes: RouteTable,
    /// pvm_notify registrations.
    pub(super) notify: NotifyTable,
    /// Notices caused by the request being handled, sent after its reply.
    pub(super) pending_notes: Vec<Note>,
    /// Where spawned tasks' output goes.
    pub(super) output: OutputTable,
    /// Registrations and the no-reset list (misc.rs).
    pub(super) misc: misc::Misc,
    /// The resource manager and the requests handed to it (rm.rs).
    pub(super) rm: rm::Rm,
    /// The group service (this daemon is the master of a one-host machine).
    pub(super) groups: Groups,
    /// Links, host table and everything multi-host (multi.rs).
    pub(super) multi: multi::Multi,
    /// A descriptor held in reserve (/dev/null): when the table is full,
    /// closing it lets the daemon accept a pending connection and close it
    /// at once, so the client sees the refusal instead of hanging in the
    /// listen queue (see `shed_connections`).
    pub(super) spare_fd: Option<std::fs::File>,
    /// Read end of the signal pipe: SIGTERM or SIGINT halts like `halt`.
    pub(super) signals: Option<std::fs::File>,
    /// Connections closed since the heap was last trimmed: once the daemon
    /// is quiet for TRIM_AFTER, freed memory goes back to the system.
    pub(super) trim_due: bool,
    /// Connections whose task's rings were taken (`crate::ring`), and
    /// their memory, looked at on every turn of the loop.
    pub(super) ring_conns: Vec<(Token, Arc<SharedMap>)>,
    /// Connections with frames waiting for room in their task's ring.
    pub(super) ring_backlog: BTreeSet<Token>,
}

/// Most tasks whose rings one daemon takes (each one is looked at on every
/// turn of the loop); later tasks use the socket alone.
pub(super) const MAX_RING_CONNS: usize = 64;

/// True for "too many open files" (per process or system-wide).
pub(super) fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// The machine as the notify table sees it: this host's tasks, and the
/// host table (a task of another host counts as alive while its host is in
/// the machine; its daemon reports its exit).
struct LocalWorld<'a> {
    tasks: &'a TaskTable,
    host: i32,
    table: &'a super::hosts::HostTable,
}

impl World for LocalWorld<'_> {
    fn task_alive(&self, t: i32) -> bool {
        if tid::host_of(t) == self.host {
            self.tasks.get(t).is_some()
        } else {
            self.table.contains(t)
        }
    }
    fn host_alive(&self, t: i32) -> bool {
        tid::host_of(t) == self.host || self.table.contains(t)
    }
}

impl Daemon {
    /// A daemon serving `unix` and `tcp` (already bound).
    pub fn new(
        opts: DaemonOptions,
        mut unix: UnixListener,
        mut tcp: TcpListener,
        tcp_addr: SocketAddr,
    ) -> io::Result<Daemon> {
        let host = tid::host_tid(opts.host_index);
        let dtid = tid::daemon_tid(host);
        let mut log = DaemonLog::open(&opts.files.log, dtid, opts.debug_mask != 0, opts.log_facade);
        let poll = Poll::new()?;
        // The Unix listener is watched from the loop's start (multi_start),
        // after a master's hostfile hosts are in.
        let _ = &mut unix;
        poll.registry()
            .register(&mut tcp, TCP_LISTENER, Interest::READABLE)?;
        // As PVM 3.4.6's pvmd: SIGTERM (or ^C) kills the tasks and the other
        // hosts' daemons and cleans up, like the console's halt.
        let signals = match os::signal_pipe(&[libc::SIGTERM, libc::SIGINT]) {
            Ok(fd) => {
                use std::os::fd::AsRawFd;
                poll.registry().register(
                    &mut mio::unix::SourceFd(&fd.as_raw_fd()),
                    SIGNALS,
                    Interest::READABLE,
                )?;
                Some(std::fs::File::from(fd))
            }
            Err(e) => {
                ::log::warn!("SIGTERM will not halt cleanly: {e}");
                None
            }
        };
        let (local_names, local_addrs) = local_identity(&opts.hostname);
        dlog!(
            log,
            Info,
            "{} ({}) {} pvm6 {} pid {} socket {}",
            opts.hostname,
            tcp_addr,
            opts.arch,
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            opts.files.sock.display()
        );
        let multi = multi::Multi::new(&opts, host, tcp_addr.port());
        Ok(Daemon {
            multi,
            opts,
            log,
            poll,
            unix,
            tcp,
            conns: HashMap::new(),
            pipes: HashMap::new(),
            children: HashMap::new(),
            unwatched: Vec::new(),
            tasks: TaskTable::new(host),
            mbox: Mailbox::new(),
            next_token: FIRST_TOKEN,
            contexts: BTreeSet::new(),
            next_ctx: 1,
            host,
            dtid,
            local_names,
            local_addrs,
            halting: None,
            buf: vec![0u8; 256 * 1024],
            routes: RouteTable::new(),
            notify: NotifyTable::new(),
            pending_notes: Vec::new(),
            output: OutputTable::new(),
            misc: misc::Misc::default(),
            rm: rm::Rm::default(),
            groups: Groups::new(),
            spare_fd: std::fs::File::open("/dev/null").ok(),
            signals,
            trim_due: false,
            ring_conns: Vec::new(),
            ring_backlog: BTreeSet::new(),
        })
    }

    pub(super) fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    /// Serves until halted.
    pub fn run_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        dlog!(self.log, Info, "ready");
        self.multi_start();
        let spin = os::spin_budget();
        // When the last event came: for `spin` after it the loop polls
        // without sleeping (yielding the CPU), so a message relayed between
        // two tasks does not wait for this process to be woken.
        let mut last_event: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let spinning = last_event.is_some_and(|t| now.duration_since(t) < spin);
            let timeout = match self.halting {
                Some((due, _)) => Some(due.saturating_duration_since(now).min(multi::TICK)),
                None if self.multi.active() => Some(multi::TICK),
                None if !self.unwatched.is_empty() => Some(REAP_INTERVAL),
                None if self.trim_due => Some(TRIM_AFTER),
                None => None,
            };
            let mut timeout = if spinning {
                Some(Duration::ZERO)
            } else if self.multi.returns.waiting() {
                // TaskGones wait for feeds' acknowledgements: look again soon.
                Some(timeout.map_or(RETURNS_POLL, |t| t.min(RETURNS_POLL)))
            } else {
                timeout
            };
            // About to sleep: tasks must ring the socket for what they put
            // in their rings (and may have just done so).
            let armed = timeout != Some(Duration::ZERO);
            if armed && self.arm_rings() {
                timeout = Some(Duration::ZERO);
            }
            let polled = self.poll.poll(&mut events, timeout);
            if armed {
                self.disarm_rings();
            }
            if let Err(e) = polled {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            // Rings first: what a task put there came before its socket's
            // doorbell (frames after their markers are read with the socket).
            let ring_work = self.serve_rings();
            if ring_work || !events.is_empty() {
                if os::spin_allowed() {
                    last_event = Some(Instant::now());
                }
            } else if spinning {
                if !os::spin_pause() {
                    last_event = None;
                }
                continue;
            }
            if events.is_empty() && self.trim_due {
                self.trim_due = false;
                os::trim_heap();
            }
            for ev in events.iter() {
                let token = ev.token();
                match token {
                    UNIX_LISTENER => self.accept_unix(),
                    SIGNALS => self.signalled(),
                    dialog::DIALOG => self.dialog_event(),
                    TCP_LISTENER => self.accept_tcp(),
                    t if self.conns.contains_key(&t) => {
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read_conn(t);
                        }
                        if ev.is_writable() {
                            self.flush_conn(t);
                        }
                    }
                    t if self.multi.is_link(t) => self.link_event(
                        t,
                        ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                        ev.is_writable(),
                    ),
                    t if self.multi.is_start_pipe(t) => self.start_pipe_event(t),
                    t if self.pipes.contains_key(&t) => self.read_pipe(t, false),
                    t if self.children.contains_key(&t) => self.check_child(t),
                    _ => {}
                }
            }
            self.reap_unwatched();
            if self.multi.returns.waiting() {
                self.returns_tick(Instant::now());
            }
            if self.multi.active() {
                self.multi_tick();
            }
            if let Some((due, killed)) = self.halting {
                if self.children.is_empty() && self.unwatched.is_empty() {
                    break;
                }
                if Instant::now() >= due {
                    if killed {
                        dlog!(
                            self.log,
                            Warn,
                            "children still not reaped after SIGKILL; exiting anyway"
                        );
                        break;
                    }
                    self.signal_children(libc::SIGKILL);
                    self.halting = Some((Instant::now() + Duration::from_secs(2), true));
                }
            }
        }
        self.finish();
        Ok(())
    }

    /// Last output of children, last replies, and a final log line.
    pub(super) fn finish(&mut self) {
        let pipes: Vec<Token> = self.pipes.keys().copied().collect();
        for t in pipes {
            self.read_pipe(t, true);
        }
        for c in self.conns.values_mut() {
            // Best effort: the Halt reply and anything queued before it.
            let _ = c.flush();
        }
        self.flush_links();
        dlog!(self.log, Info, "pvmd halted");
    }

    // ---- listeners ------------------------------------------------------

    pub(super) fn accept_unix(&mut self) {
        loop {
            match self.unix.accept() {
                Ok((mut stream, _)) => {
                    let (pid, uid) = match os::peer_cred(&stream) {
                        Ok((pid, uid, _)) => (pid, uid),
                        Err(e) => {
                            dlog!(
                                self.log,
                                Warn,
                                "can't get peer credentials: {e}; connection dropped"
                            );
                            continue;
                        }
                    };
                    if uid != os::uid() {
                        dlog!(
                            self.log,
                            Warn,
                            "connection from uid {uid} (pid {pid}) refused: not our user"
                        );
                        continue;
                    }
                    let token = self.token();
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        dlog!(self.log, Error, "can't watch connection: {e}");
                        continue;
                    }
                    dlog!(self.log, Debug, "connection from pid {pid}");
                    self.conns.insert(token, Conn::new(stream, pid));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if out_of_fds(&e) => {
                    self.shed_connections(true, &e);
                    return;
                }
                Err(e) => {
                    dlog!(
                        self.log,
                        Error,
                        "accept on {}: {e}",
                        self.opts.files.sock.display()
                    );
                    return;
                }
            }
        }
    }

    /// The descriptor table is full (`e` is EMFILE or ENFILE): refuses
    /// every connection waiting on the Unix (`unix`) or the TCP listener by
    /// accepting and closing it with the reserve descriptor, so that
    /// clients get an end of file at once (the edge-triggered poll would
    /// otherwise leave them queued until some later connection). Existing
    /// connections are served as before; logged once per burst.
    pub(super) fn shed_connections(&mut self, unix: bool, e: &io::Error) {
        let mut refused = 0usize;
        loop {
            self.spare_fd = None;
            let got = if unix {
                self.unix.accept().map(|_| ())
            } else {
                self.tcp.accept().map(|_| ())
            };
            self.spare_fd = std::fs::File::open("/dev/null").ok();
            match got {
                Ok(()) => refused += 1,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            if self.spare_fd.is_none() {
                break;
            }
        }
        let which = if unix { "task" } else { "TCP" };
        dlog!(
            self.log,
            Warn,
            "out of file descriptors ({e}): refused {refused} new {which} connection(s); \
             existing connections are served"
        );
    }

    pub(super) fn accept_tcp(&mut self) {
        self.accept_links();
    }

    // ---- connections ----------------------------------------------------

    pub(super) fn read_conn(&mut self, token: Token) {
        self.serve_conn(token, true);
    }

    /// Reads what the connection's socket (`from_socket`) and rings hold
    /// and handles the frames in order.
    pub(super) fn serve_conn(&mut self, token: Token, from_socket: bool) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let outcome = if from_socket {
            conn.read_available(&mut self.buf)
        } else {
            ReadOutcome::Open
        };
        let mut frames = Vec::new();
        let mut bad = None;
        loop {
            match conn.decoder.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    bad = Some(e.to_string());
                    break;
                }
            }
        }
        let frames = match conn.take_frames(frames) {
            Ok(f) => f,
            Err(e) => {
                bad = Some(e.to_string());
                Vec::new()
            }
        };
        self.note_backlog(token);
        for f in frames {
            if !self.conns.contains_key(&token) {
                return;
            }
            self.handle_frame(token, f);
        }
        if let Some(e) = bad {
            let who = self.conn_name(token);
            dlog!(
                self.log,
                Warn,
                "malformed frame from {who} ({e}); connection closed"
            );
            self.close_conn(token);
        } else if matches!(outcome, ReadOutcome::Closed) {
            self.close_conn(token);
        }
    }

    pub(super) fn conn_name(&self, token: Token) -> String {
        match self.conns.get(&token) {
            Some(Conn { tid: Some(t), .. }) => tid::fmt(*t),
            Some(c) => format!("pid {}", c.peer_pid),
            None => "?".into(),
        }
    }

    pub(super) fn flush_conn(&mut self, token: Token) {
        let failed = match self.conns.get_mut(&token) {
            Some(c) => c.flush().is_err(),
            None => false,
        };
        if failed {
            self.close_conn(token);
        }
    }

    /// Queues `bytes` on a connection; closes it when the socket failed.
    pub(super) fn send_bytes(&mut self, token: Token, bytes: Vec<u8>) {
        let res = self.conns.get_mut(&token).map(|c| c.send_bytes(bytes));
        self.sent(token, res);
    }

    /// [`Daemon::send_bytes`] for a frame we own: its body is not copied.
    pub(super) fn send_frame(&mut self, token: Token, frame: Frame) {
        let res = self.conns.get_mut(&token).map(|c| c.send_frame(frame));
        self.sent(token, res);
    }

    pub(super) fn sent(&mut self, token: Token, res: Option<io::Result<()>>) {
        match res {
            Some(Err(e)) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    // The task broke the rules of its ring (conn.rs).
                    let who = self.conn_name(token);
                    dlog!(self.log, Warn, "{e} from {who}; connection closed");
                }
                self.close_conn(token);
            }
            Some(Ok(())) => self.note_backlog(token),
            None => {}
        }
    }

    /// Keeps `ring_backlog` right for the connection `token`.
    pub(super) fn note_backlog(&mut self, token: Token) {
        let waits = self
            .conns
            .get(&token)
            .and_then(|c| c.rings.as_ref())
            .is_some_and(|r| r.has_backlog());
        if waits {
            self.ring_backlog.insert(token);
        } else {
            self.ring_backlog.remove(&token);
        }
    }

    /// Takes the rings the task on `token` offered with its Connect request
    /// (`offered`), when there is room for them.
    pub(super) fn take_rings(&mut self, token: Token, offered: bool) {
        let room = self.ring_conns.len() < MAX_RING_CONNS;
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let Some(fd) = conn.passed.take().filter(|_| offered && room) else {
            return;
        };
        match Rings::take(fd) {
            Ok(r) => {
                self.ring_conns.push((token, r.map.clone()));
                conn.rings = Some(r);
            }
            Err(e) => {
                dlog!(
                    self.log,
                    Warn,
                    "rings offered by pid {} refused: {e}",
                    conn.peer_pid
                );
            }
        }
    }

    /// The Connect reply to the task on `token` is queued: from now on its
    /// frames go through its ring, if it has one.
    pub(super) fn rings_live(&mut self, token: Token) {
        if let Some(r) = self.conns.get_mut(&token).and_then(|c| c.rings.as_mut()) {
            r.live = true;
        }
    }

    /// Serves every connection with something in its ring, and those with
    /// frames waiting for room in theirs (no system call when none has).
    /// True when a ring had something (frames waiting for a task that does
    /// not read are not activity).
    pub(super) fn serve_rings(&mut self) -> bool {
        let due: Vec<Token> = self
            .ring_conns
            .iter()
            .filter(|(_, m)| ring::pending(m, ring::Dir::ToDaemon))
            .map(|(t, _)| *t)
            .collect();
        let waiting: Vec<Token> = self
            .ring_backlog
            .iter()
            .filter(|t| !due.contains(t))
            .copied()
            .collect();
        for &t in due.iter().chain(&waiting) {
            self.serve_conn(t, false);
        }
        !due.is_empty()
    }

    /// Before sleeping: asks every task with rings to ring the socket.
    /// True: one put something in its ring meanwhile (do not sleep).
    pub(super) fn arm_rings(&self) -> bool {
        let mut came = false;
        for (_, m) in &self.ring_conns {
            came |= ring::arm(m, ring::Dir::ToDaemon);
        }
        came
    }

    pub(super) fn disarm_rings(&self) {
        for (_, m) in &self.ring_conns {
            ring::disarm(m, ring::Dir::ToDaemon);
        }
    }

    pub(super) fn close_conn(&mut self, token: Token) {
        let Some(mut conn) = self.conns.remove(&token) else {
            return;
        };
        self.ring_conns.retain(|(t, _)| *t != token);
        self.ring_backlog.remove(&token);
        // Deregistering a socket that is about to be closed cannot matter if it fails.
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.trim_due = true;
        if conn.decoder.pending() > 0 {
            let who = match conn.tid {
                Some(t) => tid::fmt(t),
                None => format!("pid {}", conn.peer_pid),
            };
            dlog!(
                self.log,
                Warn,
                "connection of {who} closed in the middle of a frame: {} byte(s) dropped",
                conn.decoder.pending()
            );
        }
        self.mbox.conn_gone(token);
        if let Some(t) = conn.tid {
            if self
                .tasks
                .get(t)
                .is_some_and(|task| task.conn == Some(token))
            {
                self.tasks.remove(t);
                self.mbox.task_gone(t);
                dlog!(self.log, Debug, "task {} disconnected", tid::fmt(t));
                self.task_gone(t);
            }
        }
    }

    pub(super) fn handle_frame(&mut self, token: Token, frame: Frame) {
        match frame.header.kind {
            Kind::Msg => self.route(token, frame),
            Kind::Req => self.request(token, frame),
            Kind::Reply | Kind::DReq | Kind::DReply | Kind::Ctl => {
                let who = self.conn_name(token);
                dlog!(
                    self.log,
                    Warn,
                    "unexpected {:?} frame from {who} dropped",
                    frame.header.kind
                );
            }
        }
    }

    // ---- message routing ------------------------------------------------

    pub(super) fn route(&mut self, token: Token, frame: Frame) {
        let h = frame.header;
        let from = self.conns.get(&token).and_then(|c| c.tid);
        if from != Some(h.src) {
            let who = self.conn_name(token);
            dlog!(
                self.log,
                Warn,
                "message from {who} claiming src {} dropped",
                tid::fmt(h.src)
            );
            return;
        }
        self.deliver_frame(frame);
    }

    /// Delivers a Msg frame whose sender was checked (or that came over a
    /// daemon link): to this daemon, another host, or a local task.
    pub(super) fn deliver_frame(&mut self, frame: Frame) {
        if self.rm_answer(&frame) {
            return;
        }
        let h = frame.header;
        if h.dst == self.dtid || h.dst == self.host {
            if self.feed_fence(&frame)
                || self.rm_daemon_message(&frame)
                || self.misc_daemon_message(&frame)
                || self.group_tool_message(&frame)
            {
                return;
            }
            dlog!(
                self.log,
                Debug,
                "message tag {} from {} to the daemon dropped",
                h.tag,
                tid::fmt(h.src)
            );
            return;
        }
        let Some(frame) = self.route_remote(frame) else {
            return;
        };
        let Some(task) = self.tasks.get_mut(h.dst) else {
            dlog!(
                self.log,
                Info,
                "message tag {} from {} to unknown task {} dropped",
                h.tag,
                tid::fmt(h.src),
                tid::fmt(h.dst)
            );
            return;
        };
        match task.conn {
            Some(c) => self.send_frame(c, frame),
            None => task.held.push_back(frame.to_bytes()),
        }
    }

    // ---- requests -------------------------------------------------------

    pub(super) fn request(&mut self, token: Token, frame: Frame) {
        let h = frame.header;
        if let Some(req @ (Req::RouteAdd | Req::RouteDelete)) = Req::from_i32(h.tag) {
            self.route_report(token, req, &frame.body);
            return;
        }
        if !self.is_remote_token(token) {
            if self.rm_redirect(token, &frame) {
                // Answered when the resource manager's answer comes (rm.rs).
                return;
            }
            if let Some(host) = self.forward_host(&frame) {
                self.forward(token, &frame, host);
                return;
            }
        }
        let mut r = Reader::new(&frame.body);
        let result = match Req::from_i32(h.tag) {
            Some(Req::Connect) => {
                let res = self.req_connect(token, &mut r);
                if res.is_ok() && self.connect_waits(token, h.wid) {
                    return;
                }
                res
            }
            Some(Req::Exit) => self.req_exit(token),
            Some(Req::Spawn) => self.req_spawn(token, h.wid, &frame.body, &mut r),
            Some(Req::Kill) => r.int().and_then(|t| self.req_signal(t, libc::SIGTERM)),
            Some(Req::SendSig) => r.int().and_then(|t| Ok((t, r.int()?))).and_then(|(t, s)| {
                if !(1..=64).contains(&s) {
                    return Err(Error::BadParam);
                }
                self.req_signal(t, s)
            }),
            Some(Req::Config) => Ok(self.config_body()),
            Some(Req::DaemonAddr) => self.req_daemon_addr(&mut r),
            Some(Req::Tasks) => r.int().and_then(|w| {
                if w == 0 {
                    if let Some(res) = self.tasks_all(token, h.wid) {
                        return res;
                    }
                }
                self.req_tasks(w)
            }),
            Some(Req::Pstat) => r.int().and_then(|t| self.req_pstat(t)),
            Some(Req::AddHosts) => self.req_add_hosts(token, h.wid, &mut r),
            Some(Req::DelHosts) => self.req_del_hosts(&mut r),
            Some(Req::Mstat) => r.str().and_then(|n| {
                if self.host_known(&n) {
                    Ok(Vec::new())
                } else {
                    Err(Error::NoHost)
                }
            }),
            Some(Req::Halt) => Ok(Vec::new()),
            Some(Req::NewContext) => self.req_new_context(),
            Some(Req::Notify) => self.req_notify(token, &mut r),
            Some(Req::SetOutput) => self.req_set_output(token, &mut r),
            Some(Req::FreeContext) => r.int().and_then(|c| {
                if self.contexts.remove(&c) {
                    Ok(Vec::new())
                } else {
                    Err(Error::BadParam)
                }
            }),
            Some(req @ (Req::MboxPut | Req::MboxRecv | Req::MboxDel | Req::MboxInfo)) => {
                let from = self.requester(token).unwrap_or(0);
                match self.mbox.request(req, from, token, h.wid, &mut r) {
                    Outcome::Reply(res) => res,
                    // Answered when a matching entry is put (or forgotten with its task).
                    Outcome::Wait => return,
                }
            }
            Some(
                req @ (Req::HostSync
                | Req::Tickle
                | Req::NoReset
                | Req::GetNoResets
                | Req::RegTasker
                | Req::RegHoster
                | Req::RegRm),
            ) => self.misc_request(req, token, &mut r),
            Some(
                req @ (Req::GroupJoin
                | Req::GroupLeave
                | Req::GroupTid
                | Req::GroupInst
                | Req::GroupSize
                | Req::GroupBarrier
                | Req::GroupMembers
                | Req::GroupFreeze),
            ) => {
                // A task of another host asks through its daemon (a remote
                // token, no connection): its tid comes with the request.
                let from = self.requester(token).unwrap_or(0);
                self.group_request(req, from, &frame.body)
            }
            Some(Req::RouteAdd | Req::RouteDelete | Req::RouteHello) | None => {
                dlog!(
                    self.log,
                    Warn,
                    "unknown request {} from {}",
                    h.tag,
                    self.conn_name(token)
                );
                Err(Error::NotImpl)
            }
        };
        // A handler that answers later (forwarded parts, host starts) set this.
        if !std::mem::take(&mut self.multi.deferred) {
            self.reply(token, h.tag, h.wid, result);
        }
        let notes = std::mem::take(&mut self.pending_notes);
        self.deliver_all(notes);
        for w in self.mbox.take_woken() {
            self.reply(w.token, Req::MboxRecv as i32, w.wid, w.reply);
        }
        if h.tag == Req::Connect as i32 {
            self.rings_live(token);
            self.deliver_held(token);
        }
        if h.tag == Req::Halt as i32 {
            let who = self.conn_name(token);
            self.begin_halt(token, &who);
        }
    }

    /// Sends the reply to request `tag`/`wid` on `token`: the status, then
    /// the body of a success.
    pub(super) fn reply(
        &mut self,
        token: Token,
        tag: i32,
        wid: i32,
        result: Result<Vec<u8>, Error>,
    ) {
        let body = match result {
            Ok(mut rest) => {
                let mut b = Writer::new().int(0).finish();
                b.append(&mut rest);
                b
            }
            Err(e) => Writer::new().int(e.code()).finish(),
        };
        self.reply_raw(token, tag, wid, body);
    }

    /// Sends a reply whose body (status first) is ready: to a local
    /// connection, or back to the daemon a remote request came from.
    pub(super) fn reply_raw(&mut self, token: Token, tag: i32, wid: i32, body: Vec<u8>) {
        if self.reply_remote(token, tag, body.clone()) {
            return;
        }
        let dst = self.conns.get(&token).and_then(|c| c.tid).unwrap_or(0);
        let reply = Frame::new(
            Header {
                src: self.dtid,
                dst,
                tag,
                wid,
                ..Header::new(Kind::Reply)
            },
            body,
        );
        self.send_bytes(token, reply.to_bytes());
    }

    /// RouteAdd/RouteDelete: a task reports a direct link opened or closed
    /// (no reply).
    pub(super) fn route_report(&mut self, token: Token, req: Req, body: &[u8]) {
        let from = self.conns.get(&token).and_then(|c| c.tid);
        match self.routes.request(from, req, body) {
            Ok(Some(RouteChange::Added(a, b))) => {
                self.route_added(a, b);
                dlog!(
                    self.log,
                    Debug,
                    "route {} - {} added",
                    tid::fmt(a),
                    tid::fmt(b)
                );
            }
            Ok(Some(RouteChange::Deleted(a, b))) => {
                self.route_deleted(a, b);
                dlog!(
                    self.log,
                    Debug,
                    "route {} - {} deleted",
                    tid::fmt(a),
                    tid::fmt(b)
                );
            }
            Ok(None) => {}
            Err(e) => {
                let who = self.conn_name(token);
                dlog!(self.log, Debug, "bad route report from {who}: {e}");
            }
        }
    }

    pub(super) fn req_connect(
        &mut self,
        token: Token,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let pid = r.int()?;
        let spawned = r.int()?;
        let name = r.str()?;
        let offered = !r.is_empty() && r.int()? == 1;
        if self.conns.get(&token).is_some_and(|c| c.tid.is_some()) {
            return Err(Error::Already);
        }
        let claim = self
            .tasks
            .get(spawned)
            .is_some_and(|t| spawned != 0 && t.flags & TF_SPAWNED != 0 && t.conn.is_none());
        let t = if claim {
            let task = self.tasks.get_mut(spawned).ok_or(Error::NoTask)?;
            task.conn = Some(token);
            task.flags |= TF_CONNECTED;
            if pid > 0 {
                task.pid = pid;
            }
            spawned
        } else {
            let t = self.tasks.alloc_tid().ok_or(Error::OutOfRes)?;
            self.tasks.insert(Task {
                tid: t,
                ptid: 0,
                pid: pid.max(0),
                flags: TF_CONNECTED,
                aout: String::new(),
                siblings: Vec::new(),
                conn: Some(token),
                held: VecDeque::new(),
            });
            self.rm_task_new(t);
            t
        };
        if let Some(c) = self.conns.get_mut(&token) {
            c.tid = Some(t);
        }
        self.take_rings(token, offered);
        dlog!(
            self.log,
            Debug,
            "task {} connected (pid {pid}, {name})",
            tid::fmt(t)
        );
        self.connect_body(t)
    }

    /// The Connect reply body of task `t` (after the status).
    pub(super) fn connect_body(&self, t: i32) -> Result<Vec<u8>, Error> {
        let task = self.tasks.get(t).ok_or(Error::NoTask)?;
        let ptid = if task.ptid == 0 {
            Error::NoParent.code()
        } else {
            task.ptid
        };
        let mut w = Writer::new();
        w.int(t)
            .int(ptid)
            .int(self.dtid)
            .int(task.siblings.len() as i32);
        for s in &task.siblings {
            w.int(*s);
        }
        self.output.inherited(t).write(&mut w);
        // For direct routes to tasks of other hosts: the machine's secret
        // (only ever sent to local tasks, over the private Unix socket) and
        // this host's addresses as the host table advertises them.
        w.str(&self.multi.secret.to_hex());
        let me = self.multi.table.by_tid(self.dtid);
        let ips: Vec<String> = me
            .map(|e| e.addrs.iter().map(crate::net::addr::fmt_sockaddr).collect())
            .unwrap_or_default();
        w.int(ips.len() as i32);
        for ip in &ips {
            w.str(ip);
        }
        // Last: whether this task's rings were taken.
        let rings = task
            .conn
            .and_then(|c| self.conns.get(&c))
            .is_some_and(|c| c.rings.is_some());
        w.int(rings as i32);
        Ok(w.finish())
    }

    /// Hands a newly connected task the messages that arrived before it.
    pub(super) fn deliver_held(&mut self, token: Token) {
        let Some(t) = self.conns.get(&token).and_then(|c| c.tid) else {
            return;
        };
        let held: Vec<Vec<u8>> = match self.tasks.get_mut(t) {
            Some(task) => task.held.drain(..).collect(),
            None => return,
        };
        for bytes in held {
            self.send_bytes(token, bytes);
        }
    }

    pub(super) fn req_exit(&mut self, token: Token) -> Result<Vec<u8>, Error> {
        let t = self
            .conns
            .get_mut(&token)
            .and_then(|c| c.tid.take())
            .ok_or(Error::NoTask)?;
        self.tasks.remove(t);
        self.mbox.task_gone(t);
        dlog!(self.log, Debug, "task {} exited", tid::fmt(t));
        self.task_gone(t);
        Ok(Vec::new())
    }

    pub(super) fn req_spawn(
        &mut self,
        token: Token,
        wid: i32,
        body: &[u8],
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let req = SpawnRequest {
            file: r.str()?,
            flags: r.int()?,
            where_: r.str()?,
            ntask: r.int()?,
            argv: r.strs()?,
            env: r.strs()?,
        };
        let inherit = Inherit::read(r)?.unwrap_or_default();
        if req.ntask < 1 || req.ntask > MAX_NTASK {
            return Err(Error::BadParam);
        }
        let parent = self.requester(token).unwrap_or(0);
        let remote = self.is_remote_token(token);
        let results: Vec<Result<i32, Error>> = match self.placement(token, &req) {
            Some(plan) if !(plan.len() == 1 && plan[0].0 == self.host) => {
                return self.spawn_spread(token, wid, body, &req, inherit, plan);
            }
            Some(_) => self.spawn_here(parent, &req, inherit),
            None if remote => self.spawn_here(parent, &req, inherit),
            None => {
                let (host_or_arch, _) = crate::net::split_where(&req.where_);
                let selected =
                    spawn::host_selected(req.flags, host_or_arch, &self.opts.arch, |h| {
                        self.is_local_name(h)
                    });
                if selected {
                    self.spawn_here(parent, &req, inherit)
                } else {
                    vec![Err(Error::NoHost); req.ntask as usize]
                }
            }
        };
        let started: Vec<i32> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        for t in &started {
            if let Some(task) = self.tasks.get_mut(*t) {
                task.siblings = started.clone();
            }
        }
        if remote {
            // Part of a spawn spread over hosts: the full list follows.
            self.mark_sibling_wait(&started);
        }
        let mut w = Writer::new();
        w.int(started.len() as i32);
        for r in &results {
            w.int(match r {
                Ok(t) => *t,
                Err(e) => e.code(),
            });
        }
        Ok(w.finish())
    }

    /// Starts the `ntask` tasks of `req` on this host, for `parent`.
    pub(super) fn spawn_here(
        &mut self,
        parent: i32,
        req: &SpawnRequest,
        inherit: Inherit,
    ) -> Vec<Result<i32, Error>> {
        let ptid = if req.flags & spawn::NO_SPAWN_PARENT != 0 {
            Error::ParentNotSet.code()
        } else {
            parent
        };
        let (_, dir) = crate::net::split_where(&req.where_);
        let n = req.ntask as usize;
        let mut results: Vec<Result<i32, Error>> = Vec::with_capacity(n);
        match spawn::resolve(req, &self.opts) {
            Err(e) => results.resize(n, Err(e)),
            Ok((path, launch)) => {
                if req.flags & spawn::TASK_DEBUG != 0 && launch.program == path {
                    dlog!(
                        self.log,
                        Info,
                        "PvmTaskDebug: no $PVM_ROOT/lib/debugger, starting {} plainly",
                        path.display()
                    );
                }
                let cwd = match dir {
                    Some(d) if !d.is_empty() => self.opts.home.join(d),
                    _ => self.opts.home.clone(),
                };
                for _ in 0..n {
                    let r = self.spawn_one(parent, req, &launch, &cwd, ptid, inherit);
                    results.push(r);
                }
            }
        }
        results
    }

    pub(super) fn start_task(
        &mut self,
        req: &SpawnRequest,
        launch: &spawn::Launch,
        cwd: &std::path::Path,
        ptid: i32,
        inherit: Inherit,
    ) -> Result<i32, Error> {
        let t = self.tasks.alloc_tid().ok_or(Error::OutOfRes)?;
        let (child, out) = match spawn::start(launch, &self.opts, &req.env, t, cwd) {
            Ok(c) => c,
            Err(e) => {
                dlog!(
                    self.log,
                    Warn,
                    "can't start {}: {e}",
                    launch.program.display()
                );
                return Err(spawn::start_error_code(&e));
            }
        };
        let pid = child.id() as i32;
        let mut npipes = 0;
        let mut rx = Receiver::from(out);
        let token = self.token();
        if rx.set_nonblocking(true).is_ok()
            && self
                .poll
                .registry()
                .register(&mut rx, token, Interest::READABLE)
                .is_ok()
        {
            self.pipes.insert(
                token,
                Pipe {
                    tid: t,
                    rx,
                    partial: Vec::new(),
                },
            );
            npipes = 1;
        }
        let pidfd = os::pidfd_open(pid).ok();
        let proc_ = ChildProc {
            tid: t,
            child,
            pidfd,
        };
        match proc_.pidfd.as_ref().map(|fd| fd.as_raw_fd()) {
            Some(raw) => {
                let token = self.token();
                match self
                    .poll
                    .registry()
                    .register(&mut SourceFd(&raw), token, Interest::READABLE)
                {
                    Ok(()) => {
                        self.children.insert(token, proc_);
                    }
                    Err(_) => self.unwatched.push(proc_),
                }
            }
            None => self.unwatched.push(proc_),
        }
        self.tasks.insert(Task {
            tid: t,
            ptid,
            pid,
            flags: TF_SPAWNED,
            aout: req.file.clone(),
            siblings: Vec::new(),
            conn: None,
            held: VecDeque::new(),
        });
        for note in self.output.spawned(t, ptid, npipes, inherit) {
            self.deliver(note);
        }
        dlog!(
            self.log,
            Debug,
            "spawned {} as {} pid {pid}",
            launch.program.display(),
            tid::fmt(t)
        );
        Ok(t)
    }

    pub(super) fn req_signal(&mut self, t: i32, sig: i32) -> Result<Vec<u8>, Error> {
        if !tid::is_task(t) {
            return Err(Error::BadParam);
        }
        let task = self.tasks.get(t).ok_or(Error::NoTask)?;
        if task.pid <= 0 || !os::kill(task.pid, sig) {
            return Err(Error::DSysErr);
        }
        dlog!(
            self.log,
            Debug,
            "signal {sig} to {} (pid {})",
            tid::fmt(t),
            task.pid
        );
        Ok(Vec::new())
    }

    pub(super) fn req_tasks(&self, where_: i32) -> Result<Vec<u8>, Error> {
        self.tasks_body(where_)
    }

    /// The task list for `where_` (0, this host, or a local task).
    pub(super) fn tasks_body(&self, where_: i32) -> Result<Vec<u8>, Error> {
        let list: Vec<&Task> = if where_ == 0 || where_ == self.host || where_ == self.dtid {
            self.tasks.tasks.values().collect()
        } else if tid::is_daemon(where_)
            || (where_ > 0 && where_ & tid::LOCAL_MASK == 0 && where_ & tid::HOST_MASK != 0)
        {
            return Err(Error::NoHost);
        } else if tid::is_task(where_) {
            vec![self.tasks.get(where_).ok_or(Error::NoTask)?]
        } else {
            return Err(Error::BadParam);
        };
        let mut w = Writer::new();
        w.int(list.len() as i32);
        for t in list {
            w.int(t.tid)
                .int(t.ptid.max(0))
                .int(self.host)
                .int(t.flags | self.role_flags(t.tid))
                .str(&t.aout)
                .int(t.pid);
        }
        Ok(w.finish())
    }

    pub(super) fn req_pstat(&self, t: i32) -> Result<Vec<u8>, Error> {
        if t == self.dtid || t == self.host {
            return Ok(Vec::new());
        }
        if !tid::is_task(t) && !tid::is_daemon(t) {
            return Err(Error::BadParam);
        }
        self.tasks.get(t).map(|_| Vec::new()).ok_or(Error::NoTask)
    }

    pub(super) fn req_new_context(&mut self) -> Result<Vec<u8>, Error> {
        for _ in 0..tid::LOCAL_MASK {
            let n = self.next_ctx;
            self.next_ctx = if n >= tid::LOCAL_MASK { 1 } else { n + 1 };
            // Host part in the high bits keeps numbers unique across hosts later.
            let ctx = self.host | n;
            if self.contexts.insert(ctx) {
                return Ok(Writer::new().int(ctx).finish());
            }
        }
        Err(Error::OutOfRes)
    }

    /// Whether `name` denotes this host: its name (short or full),
    /// "localhost", ".", or one of its addresses.
    pub(super) fn is_local_name(&self, name: &str) -> bool {
        let n = name.trim();
        let bare = n
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(n);
        // A zone only says which link leads there: the address decides.
        let addr = bare.split_once('%').map_or(bare, |(a, _)| a);
        if let Ok(ip) = addr.parse::<IpAddr>() {
            let ip = match ip {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V6(v6)),
                v4 => v4,
            };
            return ip.is_loopback() || self.local_addrs.contains(&ip);
        }
        let lower = bare.to_ascii_lowercase();
        self.local_names.contains(&lower)
            || (!self.opts.hostname.contains('.')
                && lower.split('.').next() == Some(&self.opts.hostname.to_ascii_lowercase()))
    }

    // ---- children and their output -------------------------------------

    pub(super) fn read_pipe(&mut self, token: Token, finishing: bool) {
        let Some(pipe) = self.pipes.get_mut(&token) else {
            return;
        };
        let mut eof = false;
        loop {
            match pipe.rx.read(&mut self.buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => pipe.partial.extend_from_slice(&self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        let t = pipe.tid;
        let mut data = std::mem::take(&mut pipe.partial);
        if self.output.captured(t) {
            if let Some(note) = self.output.data(t, &data) {
                self.deliver(note);
            }
            data.clear();
        }
        let mut start = 0;
        let mut lines = Vec::new();
        while let Some(i) = data[start..].iter().position(|&b| b == b'\n') {
            lines.push(data[start..start + i].to_vec());
            start += i + 1;
        }
        let rest = data.split_off(start);
        if (eof || finishing) && !rest.is_empty() {
            lines.push(rest);
        } else if let Some(pipe) = self.pipes.get_mut(&token) {
            pipe.partial = rest;
        }
        self.task_lines(t, lines);
        if eof {
            if let Some(mut pipe) = self.pipes.remove(&token) {
                // The pipe is closed anyway; a failed deregister changes nothing.
                let _ = self.poll.registry().deregister(&mut pipe.rx);
            }
            if let Some(note) = self.output.pipe_closed(t) {
                self.deliver(note);
            }
        }
    }

    /// Reads what task `t`'s pipes hold now, so that its last output is
    /// passed on before it counts as gone.
    pub(super) fn drain_pipes_of(&mut self, t: i32) {
        let tokens: Vec<Token> = self
            .pipes
            .iter()
            .filter(|(_, p)| p.tid == t)
            .map(|(k, _)| *k)
            .collect();
        for k in tokens {
            self.read_pipe(k, false);
        }
    }

    pub(super) fn check_child(&mut self, token: Token) {
        let Some(c) = self.children.get_mut(&token) else {
            return;
        };
        let status = match c.child.try_wait() {
            Ok(None) => return,
            Ok(Some(s)) => Some(s),
            Err(_) => None,
        };
        if let Some(c) = self.children.remove(&token) {
            if let Some(fd) = c.pidfd.as_ref() {
                // The pidfd is closed right after; a failed deregister changes nothing.
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&fd.as_raw_fd()));
            }
            self.child_gone(c, status);
        }
    }

    pub(super) fn reap_unwatched(&mut self) {
        let mut i = 0;
        while i < self.unwatched.len() {
            let status = match self.unwatched[i].child.try_wait() {
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Ok(Some(s)) => Some(s),
                Err(_) => None,
            };
            let c = self.unwatched.swap_remove(i);
            self.child_gone(c, status);
        }
    }

    pub(super) fn child_gone(&mut self, c: ChildProc, status: Option<std::process::ExitStatus>) {
        let pid = c.child.id() as i32;
        if let Some(st) = status {
            use std::os::unix::process::ExitStatusExt;
            self.rm_child_exited(c.tid, st.into_raw());
        }
        dlog!(
            self.log,
            Debug,
            "task {} (pid {pid}) exited: {:?}",
            tid::fmt(c.tid),
            status
        );
        let ours = self
            .tasks
            .get(c.tid)
            .is_some_and(|t| t.flags & TF_SPAWNED != 0);
        if ours {
            if let Some(task) = self.tasks.remove(c.tid) {
                self.mbox.task_gone(c.tid);
                if !task.held.is_empty() {
                    dlog!(
                        self.log,
                        Info,
                        "{} message(s) for {} dropped: it exited unconnected",
                        task.held.len(),
                        tid::fmt(c.tid)
                    );
                }
                self.task_gone(c.tid);
            }
        }
        self.drain_pipes_of(c.tid);
    }

    pub(super) fn signal_children(&mut self, sig: i32) {
        for c in self.children.values().chain(self.unwatched.iter()) {
            os::kill(c.child.id() as i32, sig);
        }
    }

    // ---- notify and output ------------------------------------------------

    /// Sends a daemon-made message (notification, output) like a routed
    /// one: to the task's connection, held until it connects, or dropped.
    pub(super) fn deliver(&mut self, note: Note) {
        let frame = Frame::new(
            Header {
                src: note.src,
                dst: note.dst,
                tag: note.tag,
                ctx: note.ctx,
                enc: crate::msg::Encoding::Default.code(),
                ..Header::new(Kind::Msg)
            },
            note.body,
        );
        let Some(frame) = self.route_remote(frame) else {
            return;
        };
        let Some(task) = self.tasks.get_mut(note.dst) else {
            dlog!(
                self.log,
                Debug,
                "notice tag {} to unknown task {} dropped",
                note.tag,
                tid::fmt(note.dst)
            );
            return;
        };
        match task.conn {
            Some(c) => self.send_bytes(c, frame.to_bytes()),
            None => task.held.push_back(frame.to_bytes()),
        }
    }

    pub(super) fn deliver_all(&mut self, notes: Vec<Note>) {
        for n in notes {
            self.deliver(n);
        }
    }

    /// Task `t` left (exit, closed connection, process gone): its last
    /// output is read, then its TaskExit notifications go out.
    pub(super) fn task_gone(&mut self, t: i32) {
        self.drain_pipes_of(t);
        self.output.forget(t);
        self.multi_task_gone(t);
        self.rm_task_gone(t);
        let notes = self.notify.task_exited(t);
        self.deliver_all(notes);
        let released = self.groups.task_gone(t);
        self.deliver_releases(released);
    }

    /// Serves a group request (70-77) of task `from`: the reply is returned
    /// (sent through the generic reply path), barrier and freeze releases
    /// go out after it as messages to the waiting tids. Takes no connection,
    /// so a request forwarded from another host's daemon is served alike.
    pub fn group_request(&mut self, req: Req, from: i32, body: &[u8]) -> Result<Vec<u8>, Error> {
        let (res, released) = self.groups.request(req, from, &mut Reader::new(body));
        let dtid = self.dtid;
        self.pending_notes
            .extend(released.into_iter().map(|r| release_note(dtid, r)));
        res
    }

    /// Task `t` of another host is gone: it leaves its groups.
    pub fn groups_task_gone(&mut self, t: i32) {
        let released = self.groups.task_gone(t);
        self.deliver_releases(released);
    }

    /// Host `host` (host part) failed: its tasks leave their groups.
    pub fn groups_host_gone(&mut self, host: i32) {
        let released = self.groups.host_gone(host);
        self.deliver_releases(released);
    }

    pub(super) fn deliver_releases(&mut self, released: Vec<Release>) {
        let dtid = self.dtid;
        for r in released {
            self.deliver(release_note(dtid, r));
        }
    }

    pub(super) fn req_notify(
        &mut self,
        token: Token,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let owner = self.requester(token).ok_or(Error::NoTask)?;
        let what = r.int()?;
        let tag = r.int()?;
        let ctx = r.int()?;
        let cnt = r.int()?;
        let n = r.count(4)?;
        let tids = (0..n).map(|_| r.int()).collect::<Result<Vec<_>, _>>()?;
        let req = NotifyRequest {
            what,
            tag,
            ctx,
            cnt,
            tids,
        };
        let world = LocalWorld {
            tasks: &self.tasks,
            host: self.host,
            table: &self.multi.table,
        };
        let now = self.notify.request(owner, &req, &world)?;
        if what == super::notify::TASK_EXIT {
            // Remote tasks are watched at their daemons, which report exits.
            let remote: Vec<i32> = req.tids.clone();
            self.watch_remote(&remote);
        }
        dlog!(
            self.log,
            Debug,
            "notify {what:#x} tag {tag} from {}: {} now, {} held",
            tid::fmt(owner),
            now.len(),
            self.notify.len()
        );
        // Replied first, so the caller's pvm_notify has returned when the
        // notices it caused arrive (they follow the reply on the socket).
        self.pending_notes.extend(now);
        Ok(Vec::new())
    }

    pub(super) fn req_set_output(
        &mut self,
        token: Token,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let t = self
            .conns
            .get(&token)
            .and_then(|c| c.tid)
            .ok_or(Error::NoTask)?;
        let dest = Dest {
            tid: r.int()?,
            code: r.int()?,
            ctx: r.int()?,
        };
        self.output.set_dest(t, dest);
        Ok(Vec::new())
    }

    /// Host `dtid` left the machine: PvmHostDelete notifications (for the
    /// host table of multi-host machines).
    pub fn notify_host_delete(&mut self, dtid: i32) {
        let notes = self.notify.host_deleted(dtid);
        self.deliver_all(notes);
    }

    /// Hosts `dtids` joined the machine: PvmHostAdd notifications.
    pub fn notify_host_add(&mut self, dtids: &[i32]) {
        let notes = self.notify.hosts_added(dtids);
        self.deliver_all(notes);
    }

    /// A direct route between tasks `a` and `b` opened (fds unknown to the
    /// daemon are -1): PvmRouteAdd notifications to both ends.
    pub fn route_added(&mut self, a: i32, b: i32) {
        self.route_added_fds(a, -1, b, -1);
    }

    /// As [`Daemon::route_added`], with the descriptor each end uses.
    pub fn route_added_fds(&mut self, a: i32, fd_a: i32, b: i32, fd_b: i32) {
        let notes = self.notify.route_added(a, fd_a, b, fd_b);
        self.deliver_all(notes);
    }

    /// The direct route between tasks `a` and `b` closed: PvmRouteDelete
    /// notifications.
    pub fn route_deleted(&mut self, a: i32, b: i32) {
        let notes = self.notify.route_deleted(a, b);
        self.deliver_all(notes);
    }

    // ---- halt -------------------------------------------------------------

    /// SIGTERM or SIGINT arrived: halt as the console's halt does.
    pub(super) fn signalled(&mut self) {
        if let Some(mut pipe) = self.signals.as_ref() {
            use std::io::Read;
            let mut sink = [0u8; 64];
            // Non-blocking: ends with WouldBlock once the pipe is empty.
            while matches!(pipe.read(&mut sink), Ok(n) if n > 0) {}
        }
        self.begin_halt(SIGNALS, "a signal");
    }

    pub(super) fn begin_halt(&mut self, token: Token, who: &str) {
        if self.halting.is_some() {
            return;
        }
        dlog!(self.log, Info, "halt requested by {who}, halting");
        self.halt_slaves();
        let requester = self.conns.get(&token).and_then(|c| c.tid);
        for t in self.tasks.tasks.values() {
            if Some(t.tid) != requester && t.pid > 0 {
                os::kill(t.pid, libc::SIGTERM);
            }
        }
        self.signal_children(libc::SIGTERM);
        self.halting = Some((Instant::now() + self.opts.halt_grace, false));
    }
}

/// The message releasing a barrier or freeze waiter.
fn release_note(dtid: i32, r: Release) -> Note {
    Note {
        dst: r.tid,
        src: dtid,
        tag: r.tag,
        ctx: grp::GROUP_CTX,
        body: r.body(),
    }
}

/// This host's names (lower case: full, short, "localhost", ".") and
/// addresses (from resolving its name; loopback is always local).
fn local_identity(hostname: &str) -> (Vec<String>, Vec<IpAddr>) {
    let full = hostname.to_ascii_lowercase();
    let short = full.split('.').next().unwrap_or("").to_string();
    let mut names = vec![full, short, "localhost".to_string(), ".".to_string()];
    names.dedup();
    let mut addrs: Vec<IpAddr> = (hostname, 0u16)
        .to_socket_addrs()
        .map(|it| it.map(|a| a.ip()).collect())
        .unwrap_or_default();
    addrs.sort();
    addrs.dedup();
    (names, addrs)
}
