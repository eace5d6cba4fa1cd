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

use super::conn::{Conn, ConnTable, ReadOutcome};
use super::groups::Groups;
use super::log::{dlog, DaemonLog};
use super::mailbox::Mailbox;
use super::notify::{Note, NotifyTable, World};
use super::output::OutputTable;
use super::routes::RouteTable;
use super::task::TaskTable;
use super::DaemonOptions;
use super::{dialog, links, misc, multi, rm};
use crate::wire::{Frame, Kind};
use crate::{os, tid};
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::SocketAddr;
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

/// The daemon's state.
pub struct Daemon {
    pub(super) opts: DaemonOptions,
    pub(super) log: DaemonLog,
    pub(super) poll: Poll,
    pub(super) unix: UnixListener,
    pub(super) tcp: TcpListener,
    /// This host's task connections by token (conn.rs; private state).
    pub(super) conns: ConnTable,
    /// Child processes and their output pipes (children.rs; private
    /// state).
    pub(super) children: super::children::Children,
    pub(super) tasks: TaskTable,
    /// The message mailbox (pvm_putinfo & co.).
    pub(super) mbox: Mailbox,
    next_token: usize,
    /// Host part, tid, this host's names, message contexts (identity.rs;
    /// private state).
    pub(super) me: super::identity::Identity,
    /// Set once halting: when the next escalation is due, and whether SIGKILL was sent.
    halting: Option<(Instant, bool)>,
    pub(super) buf: Vec<u8>,
    /// Direct routes between tasks, as they report them (routes.rs).
    pub(super) routes: RouteTable,
    /// pvm_notify registrations.
    pub(super) notify: NotifyTable,
    /// Notices caused by the request being handled, sent after its reply.
    pending_notes: Vec<Note>,
    /// Where spawned tasks' output goes.
    pub(super) output: OutputTable,
    /// Registrations and the no-reset list (misc.rs).
    pub(super) misc: misc::Misc,
    /// The resource manager and the requests handed to it (rm.rs).
    pub(super) rm: rm::Rm,
    /// The group service (this daemon is the master of a one-host machine).
    pub(super) groups: Groups,
    /// The registered tracer and the daemon's trace events (trace.rs;
    /// private state).
    pub(super) tracing: super::trace::Tracing,
    /// Host table, master/slave identity, request ids (multi.rs;
    /// private state).
    pub(super) multi: multi::Multi,
    /// Replicas to the successor, the copy of the master's state, a
    /// take-over in progress (succession.rs; private state).
    pub(super) succession: super::succession::Succession,
    /// Set by a handler whose reply is sent later (`defer_reply`).
    deferred: bool,
    /// Whether the Unix listener is being served (a master holds it back
    /// while its hostfile's hosts start).
    pub(super) unix_open: bool,
    /// Connections to other daemons and their liveness (links.rs;
    /// private state; their events in link_events.rs).
    pub(super) links: super::links::Links,
    /// Slaves being started and the AddHosts they answer (host_start.rs;
    /// private state).
    pub(super) starting: super::host_start::HostStarts,
    /// so=pw / so=ms questions on the master's terminal (dialog.rs;
    /// private state).
    pub(super) dialogs: dialog::Dialogs,
    /// Requests forwarded to other daemons and served for them (forward.rs;
    /// private state).
    pub(super) forwards: super::forward::Forwards,
    /// Spawns and task lists spread over hosts (forward.rs; private state).
    pub(super) spreads: super::forward::Spreads,
    /// Feeds of other hosts' tasks (feeds.rs; private state).
    pub(super) feeds: super::feeds::Feeds,
    /// A descriptor held in reserve (/dev/null): when the table is full,
    /// closing it lets the daemon accept a pending connection and close it
    /// at once, so the client sees the refusal instead of hanging in the
    /// listen queue (see `shed_connections`).
    spare_fd: Option<std::fs::File>,
    /// Read end of the signal pipe: SIGTERM or SIGINT halts like `halt`.
    signals: Option<std::fs::File>,
    /// Connections closed since the heap was last trimmed: once the daemon
    /// is quiet for TRIM_AFTER, freed memory goes back to the system.
    trim_due: bool,
    /// Connections whose task's rings were taken (`crate::ring`), looked
    /// at on every turn of the loop (rings.rs; private state).
    pub(super) rings: super::rings::RingConns,
    /// Back-pressure, TCP admission, listening and refusal lines
    /// (bounds.rs; private state).
    pub(super) pacing: super::bounds::Pacing,
    /// Flow control between daemons (flow.rs; private state).
    pub(super) flow: super::flow::Flow,
}

/// True for "too many open files" (per process or system-wide).
pub(super) fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// The machine as the notify table sees it: this host's tasks, and the
/// host table (a task of another host counts as alive while its host is in
/// the machine; its daemon reports its exit).
pub(super) struct LocalWorld<'a> {
    pub(super) tasks: &'a TaskTable,
    pub(super) host: i32,
    pub(super) table: &'a super::hosts::HostTable,
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
        let mut log = DaemonLog::open(
            &opts.files.log,
            &opts.files.fallback_log(),
            dtid,
            opts.debug_mask != 0,
            opts.log_facade,
        );
        let poll = Poll::new()?;
        // The Unix listener is watched from the loop's start (multi_start),
        // after a master's hostfile hosts are in.
        let _ = &mut unix;
        // Watched once it listens (bounds.rs: a one-host machine listens
        // only when it needs to).
        let listening = os::is_listening(&tcp);
        if listening {
            poll.registry()
                .register(&mut tcp, TCP_LISTENER, Interest::READABLE)?;
        }
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
        let me = super::identity::Identity::new(opts.host_index, &opts.hostname);
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
        let starting = super::host_start::HostStarts::new(&opts);
        Ok(Daemon {
            links: super::links::Links::new(super::links::machine_timeout(&opts)),
            multi,
            succession: Default::default(),
            deferred: false,
            unix_open: false,
            feeds: Default::default(),
            starting,
            dialogs: Default::default(),
            spreads: Default::default(),
            forwards: Default::default(),
            opts,
            log,
            poll,
            unix,
            tcp,
            conns: ConnTable::default(),
            children: Default::default(),
            tasks: TaskTable::new(host),
            mbox: Mailbox::new(),
            next_token: FIRST_TOKEN,
            me,
            halting: None,
            buf: vec![0u8; 256 * 1024],
            routes: RouteTable::new(),
            notify: NotifyTable::new(),
            pending_notes: Vec::new(),
            output: OutputTable::new(),
            misc: misc::Misc::default(),
            rm: rm::Rm::default(),
            groups: Groups::new(),
            tracing: super::trace::Tracing::new(),
            spare_fd: std::fs::File::open("/dev/null").ok(),
            signals,
            trim_due: false,
            rings: Default::default(),
            pacing: super::bounds::Pacing::listening(listening),
            flow: Default::default(),
        })
    }

    /// The request being handled is answered later (forwarded parts,
    /// host starts): the loop sends no reply for it now.
    pub(super) fn defer_reply(&mut self) {
        self.deferred = true;
    }

    /// Whether the request just handled deferred its reply (and forgets it).
    pub(super) fn take_deferred(&mut self) -> bool {
        std::mem::take(&mut self.deferred)
    }

    /// Notices caused by the request being handled: sent after its reply.
    pub(super) fn note_after_reply(&mut self, notes: impl IntoIterator<Item = Note>) {
        self.pending_notes.extend(notes);
    }

    /// The notices held for after the reply just sent.
    pub(super) fn take_notes_after_reply(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.pending_notes)
    }

    /// Whether the daemon is halting.
    pub(super) fn is_halting(&self) -> bool {
        self.halting.is_some()
    }

    /// Halting from now: the loop kills what is left after the grace time.
    pub(super) fn arm_halt(&mut self) {
        self.halting = Some((Instant::now() + self.opts.halt_grace, false));
    }

    /// Empties the signal pipe (SIGTERM or SIGINT arrived).
    pub(super) fn drain_signals(&mut self) {
        if let Some(mut pipe) = self.signals.as_ref() {
            use std::io::Read;
            let mut sink = [0u8; 64];
            // Non-blocking: ends with WouldBlock once the pipe is empty.
            while matches!(pipe.read(&mut sink), Ok(n) if n > 0) {}
        }
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
        self.listen_when_needed();
        let spin = os::spin_budget();
        // When the last event came: for `spin` after it the loop polls
        // without sleeping (yielding the CPU), so a message relayed between
        // two tasks does not wait for this process to be woken.
        let mut last_event: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let spinning = last_event.is_some_and(|t| now.duration_since(t) < spin);
            let timeout = match self.halting {
                Some((due, _)) => Some(due.saturating_duration_since(now).min(links::TICK)),
                None if self.ticking() => Some(links::TICK),
                None if self.children.has_unwatched() => Some(REAP_INTERVAL),
                None if self.trim_due => Some(TRIM_AFTER),
                None => None,
            };
            let timeout = match (timeout, self.pacing_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut timeout = if spinning {
                Some(Duration::ZERO)
            } else if self.feeds.returns_waiting() {
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
                    super::host_start::WORK => self.work_event(),
                    TCP_LISTENER => self.accept_tcp(),
                    t if self.conns.contains(t) => {
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read_conn(t);
                        }
                        if ev.is_writable() {
                            self.flush_conn(t);
                        }
                    }
                    t if self.links.is_link(t) => self.link_event(
                        t,
                        ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                        ev.is_writable(),
                    ),
                    t if self.starting.is_start_pipe(t) => self.start_pipe_event(t),
                    t if self.children.is_pipe(t) => self.read_pipe(t, false),
                    t if self.children.is_watched(t) => self.check_child(t),
                    _ => {}
                }
            }
            self.listen_when_needed();
            self.resume_paced();
            self.accept_if_deferred();
            self.refusals_tick();
            self.reap_unwatched();
            if self.feeds.returns_waiting() {
                self.returns_tick(Instant::now());
            }
            if self.ticking() {
                self.multi_tick();
            }
            if let Some((due, killed)) = self.halting {
                if self.children.is_empty() {
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
        for t in self.children.pipe_tokens(None) {
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
                    self.conns
                        .insert(token, Conn::new(stream, pid, self.opts.max_message));
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
        let mut read = from_socket;
        loop {
            self.serve_conn_once(token, read);
            // Reading stops where a large body begins until it has room
            // (receiving.rs).
            if !self.budget_body(token) {
                return;
            }
            read = true;
        }
    }

    fn serve_conn_once(&mut self, token: Token, from_socket: bool) {
        if self.paused(token)
            && !(from_socket
                && self.conns.get(token).is_some_and(|c| {
                    os::wait_hangup(std::os::fd::AsFd::as_fd(&c.stream), Duration::ZERO)
                }))
        {
            // Not read while its last message's queue is over the cap
            // (bounds.rs); a task that hung up is read to its end. What
            // waits for it still goes out.
            let bad = self.conns.get_mut(token).map(|c| c.push_out());
            if let Some(Err(e)) = bad {
                let who = self.conn_name(token);
                dlog!(self.log, Warn, "{e} from {who}; connection closed");
                self.close_conn(token);
            } else {
                self.note_backlog(token);
            }
            return;
        }
        let Some(conn) = self.conns.get_mut(token) else {
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
            if !self.conns.contains(token) {
                return;
            }
            self.handle_frame(token, f);
        }
        if let Some(e) = bad {
            let who = self.conn_name(token);
            let over = self.conns.get(token).and_then(|c| c.decoder.oversize());
            let connected = self.conns.get(token).is_some_and(|c| c.tid.is_some());
            match over {
                Some(n) if !connected => dlog!(
                    self.log,
                    Warn,
                    "frame of {n} bytes from {who} before its Connect (at most {} then); connection closed",
                    super::conn::BEFORE_CONNECT
                ),
                Some(n) => dlog!(
                    self.log,
                    Warn,
                    "frame of {n} bytes from {who} is over the largest message ({} bytes, {} or pvmd3 -m); connection closed",
                    self.opts.max_message,
                    crate::wire::ENV_MAX_MESSAGE
                ),
                None => dlog!(
                    self.log,
                    Warn,
                    "malformed frame from {who} ({e}); connection closed"
                ),
            }
            self.close_conn(token);
        } else if matches!(outcome, ReadOutcome::Closed) {
            self.close_conn(token);
        }
    }

    pub(super) fn conn_name(&self, token: Token) -> String {
        match self.conns.get(token) {
            Some(Conn { tid: Some(t), .. }) => tid::fmt(*t),
            Some(c) => format!("pid {}", c.peer_pid),
            None => "?".into(),
        }
    }

    pub(super) fn flush_conn(&mut self, token: Token) {
        let failed = match self.conns.get_mut(token) {
            Some(c) => c.flush().is_err(),
            None => false,
        };
        if failed {
            self.close_conn(token);
        }
    }

    /// Queues `bytes` on a connection; closes it when the socket failed.
    pub(super) fn send_bytes(&mut self, token: Token, bytes: Vec<u8>) {
        let res = self.conns.get_mut(token).map(|c| c.send_bytes(bytes));
        self.sent(token, res);
    }

    /// [`Daemon::send_bytes`] for a frame we own: its body is not copied.
    pub(super) fn send_frame(&mut self, token: Token, frame: Frame) {
        let res = self.conns.get_mut(token).map(|c| c.send_frame(frame));
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

    pub(super) fn close_conn(&mut self, token: Token) {
        let Some(mut conn) = self.conns.remove(token) else {
            return;
        };
        self.body_gone(token, conn.body_reserved);
        self.rings.remove(token);
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
        let from = self.conns.tid_of(token);
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
        self.pace(token, h.dst);
    }

    /// Delivers a Msg frame whose sender was checked (or that came over a
    /// daemon link): to this daemon, another host, or a local task.
    pub(super) fn deliver_frame(&mut self, frame: Frame) {
        if self.rm_answer(&frame) {
            return;
        }
        let h = frame.header;
        if h.dst == self.me.dtid() || h.dst == self.me.host() {
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
            None => self.hold_for(frame),
        }
    }

    // ---- requests -------------------------------------------------------
}
