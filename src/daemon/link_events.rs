//! The links' events (`impl Daemon` for [`super::links::Links`]): connects,
//! accepts and authenticates links, reads their frames and control codes,
//! sends to a host (opening its link lazily) and handles a link's failure;
//! the machine's host timeout. The component itself, its private state and
//! liveness, is in links.rs.

use super::links::{dead_after, LINK_SETUP, RETRY, SILENT};
use super::multi::{canon, order_addrs, shares_family, MALFORMED};
use super::server::Daemon;
use crate::auth::Role;
use crate::daemon::hosts::{HostEntry, HostTable};
use crate::daemon::link::{Event, Link};
use crate::daemon::log::dlog;
use crate::net::addr::{self};
use crate::tid;
use crate::wire::{ctl_frame, Ctl, Frame, Kind, Reader, Writer};
use mio::{Interest, Token};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

impl Daemon {
    /// The machine's host timeout becomes `secs` seconds (at least
    /// [`MIN_DEAD_AFTER`](super::links::MIN_DEAD_AFTER)): a master's own
    /// hostfile line, or a slave's table from the master. The master's
    /// table carries it to the slaves.
    pub(super) fn set_host_timeout(&mut self, secs: u32) {
        let d = dead_after(secs);
        if d != self.links.dead_after() {
            dlog!(self.log, Info, "host timeout {} s", d.as_secs());
        }
        self.links.set_dead_after(d);
        self.multi.set_timeout(d.as_secs() as u32);
    }

    /// Opens an outgoing link to `addr` expecting host `host`.
    pub(super) fn connect_link(
        &mut self,
        addr: SocketAddr,
        host: i32,
        deadline: Instant,
    ) -> io::Result<Token> {
        let mut stream = mio::net::TcpStream::from_std(crate::os::tcp_connect_nonblocking(addr)?);
        let tok = self.token();
        self.poll
            .registry()
            .register(&mut stream, tok, Interest::READABLE | Interest::WRITABLE)?;
        let mut link = Link::outgoing(
            stream,
            addr,
            self.multi.secret(),
            self.me.dtid(),
            self.multi.protect(),
            deadline,
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
        link.peer = tid::daemon_tid(host);
        link.decoder.set_limit(self.link_body_limit());
        self.links.insert(tok, link);
        Ok(tok)
    }

    /// Accepts pending TCP connections (each starts its handshake).
    pub(super) fn accept_links(&mut self) {
        loop {
            if !self.tcp_room() {
                return; // bounds.rs: accepted again when a handshake ends
            }
            match self.tcp.accept() {
                Ok((mut stream, peer)) => {
                    if let super::bounds::Admit::No(why) = self.admit_tcp(&peer) {
                        self.refused(&format!("refused connection from {}: {why}", canon(&peer)));
                        continue;
                    }
                    let tok = self.token();
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        tok,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        dlog!(self.log, Error, "can't watch TCP connection: {e}");
                        continue;
                    }
                    let mut link = Link::incoming(
                        stream,
                        peer,
                        self.multi.secret(),
                        self.multi.protect(),
                        Instant::now() + LINK_SETUP,
                    );
                    link.decoder.set_limit(self.link_body_limit());
                    dlog!(self.log, Debug, "TCP connection from {}", canon(&peer));
                    self.links.insert(tok, link);
                    self.handshake_started(tok, &peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if super::server::out_of_fds(&e) => {
                    self.shed_connections(false, &e);
                    return;
                }
                Err(e) => {
                    dlog!(self.log, Error, "TCP accept: {e}");
                    return;
                }
            }
        }
    }

    /// An event on a link.
    pub(super) fn link_event(&mut self, tok: Token, readable: bool, writable: bool) {
        let mut writable = writable;
        // A link reads at most READ_BURST bytes before its frames are
        // handled, then reads on (link.rs).
        loop {
            // A feed waiting for a full queue is not read (flow.rs).
            let readable = readable && !self.feed_paused(tok);
            if !self.link_event_once(tok, readable, writable) {
                return;
            }
            writable = false;
            let more = readable && self.links.get(tok).is_some_and(|l| l.cut());
            if !more {
                return;
            }
        }
    }

    /// One read (and write) of a link and the frames it brought; false
    /// when the link is gone or failed.
    fn link_event_once(&mut self, tok: Token, readable: bool, writable: bool) -> bool {
        let mut events = Vec::new();
        if let Some(link) = self.links.get_mut(tok) {
            if writable {
                events.push(link.writable());
            }
            if readable {
                events.push(link.readable(&mut self.buf));
            }
        }
        let connected = self
            .links
            .get(tok)
            .is_some_and(|l| !matches!(l.phase, crate::daemon::link::Phase::Connecting(_)));
        if connected && self.is_probe_ahead(tok) {
            // The successor's port took the connection: it runs.
            self.probe_ahead_result(tok, true, true, "");
            return false;
        }
        for ev in events {
            match ev {
                Event::Nothing => {}
                Event::Failed(why) => {
                    if self.links.get(tok).is_some_and(|l| l.feed) {
                        // What the feed brought before its end goes first
                        // (a feed not read for a while has its last frames
                        // and its end waiting together). While it waits
                        // for a full queue again, it is closed later: read
                        // again, its end is read again (flow.rs).
                        self.link_frames(tok);
                        if self.feed_paused(tok) {
                            return false;
                        }
                    }
                    self.link_failed(tok, &why);
                    return false;
                }
                Event::Refused(why) => {
                    // Whole frames before the refused record opened: they
                    // count; nothing of the refused record does.
                    self.link_frames(tok);
                    self.link_refused(tok, &why);
                    return false;
                }
                Event::Authenticated { claimed, role } => {
                    if !self.link_authenticated(tok, claimed, role) {
                        return false;
                    }
                }
            }
        }
        self.link_frames(tok);
        true
    }

    /// Decodes and handles the frames a link has received.
    pub(super) fn link_frames(&mut self, tok: Token) {
        loop {
            if self.feed_paused(tok) {
                return; // the frames read stay in the decoder, in order
            }
            let next = match self.links.get_mut(tok) {
                Some(l)
                    if matches!(
                        l.phase,
                        crate::daemon::link::Phase::Up | crate::daemon::link::Phase::AwaitOk
                    ) =>
                {
                    l.decoder.next_frame()
                }
                _ => return,
            };
            match next {
                Ok(Some(f)) => self.link_frame(tok, f),
                Ok(None) => return,
                Err(e) => {
                    self.link_failed(tok, &format!("{MALFORMED} ({e})"));
                    return;
                }
            }
        }
    }

    /// A handshake finished. Returns false when the link was refused.
    pub(super) fn link_authenticated(&mut self, tok: Token, claimed: i32, role: Role) -> bool {
        let Some(link) = self.links.get(tok) else {
            return false;
        };
        if link.outgoing {
            return true;
        }
        let peer_addr = canon(&link.peer_addr);
        let refuse = |d: &mut Daemon, why: &str| {
            dlog!(d.log, Warn, "refused connection from {peer_addr}: {why}");
            d.drop_link(tok);
            false
        };
        if role == Role::Feed {
            return self.feed_authenticated(tok, claimed);
        }
        if role != Role::Daemon {
            return refuse(self, "not a daemon link");
        }
        let host = tid::host_of(claimed);
        let known = if self.multi.placed() {
            tid::is_daemon(claimed) && host != self.me.host() && self.multi.table().contains(host)
        } else {
            claimed == self.multi.master()
        };
        if !known {
            return refuse(self, &format!("unknown daemon {}", tid::fmt(claimed)));
        }
        if let Some(other) = self.links.of_host(host).filter(|_| self.multi.is_master()) {
            // A slave never opens a link to its master but to probe it
            // after its own end of their link closed (docs/PROTOCOL.md
            // "Succession" step 0): the new link replaces the old one,
            // which is dead on the slave's side; what it had not sent yet
            // goes on the new one.
            let held: Vec<Vec<u8>> = self
                .links
                .get_mut(other)
                .map(|l| l.held.drain_all())
                .unwrap_or_default();
            dlog!(
                self.log,
                Warn,
                "slave {} linked again: its old link is closed",
                tid::fmt(claimed)
            );
            self.links.unbind(host);
            self.drop_link(other);
            if let Some(l) = self.links.get_mut(tok) {
                l.held.extend(held);
            }
        }
        if let Some(other) = self.links.of_host(host) {
            let other_up = self.links.get(other).is_some_and(|l| l.is_up());
            if other_up || tid::host_index(self.me.host()) < tid::host_index(host) {
                // One link per pair: ours stays (it is up, or we have the lower index).
                return refuse(self, "a link to that daemon exists");
            }
            // Both connected at once and the peer has the lower index: its link wins;
            // what we held for ours moves over.
            let held: Vec<Vec<u8>> = self
                .links
                .get_mut(other)
                .map(|l| l.held.drain_all())
                .unwrap_or_default();
            self.drop_link(other);
            if let Some(l) = self.links.get_mut(tok) {
                l.held.extend(held);
            }
        }
        self.links.bind(host, tok);
        let ok = ctl_frame(self.me.dtid(), claimed, Ctl::LinkOk, Vec::new());
        let mut failed = false;
        if let Some(l) = self.links.get_mut(tok) {
            l.peer = claimed;
            l.held.push_front(ok.to_bytes());
            failed = l.set_up().is_err();
        }
        dlog!(
            self.log,
            Info,
            "link from {} at {peer_addr} up",
            tid::fmt(claimed)
        );
        if failed {
            self.link_failed(tok, "write failed");
            return false;
        }
        self.flush_waiting(host);
        true
    }

    /// Moves frames waiting for a link to `host` onto its link.
    pub(super) fn flush_waiting(&mut self, host: i32) {
        let Some(frames) = self.links.take_waiting(host) else {
            return;
        };
        for f in frames {
            self.send_to_host(host, f);
        }
    }

    /// Sends encoded frame bytes on link `tok`.
    pub(super) fn send_link(&mut self, tok: Token, bytes: Vec<u8>) {
        let failed = match self.links.get_mut(tok) {
            Some(l) => l.send_bytes(bytes).is_err(),
            None => false,
        };
        if failed {
            self.link_failed(tok, "write failed");
        }
    }

    /// [`Daemon::send_link`] for a frame we own: its body is not copied
    /// while the link is up.
    pub(super) fn send_link_frame(&mut self, tok: Token, frame: Frame) {
        let failed = match self.links.get_mut(tok) {
            Some(l) => l.send_frame(frame).is_err(),
            None => false,
        };
        if failed {
            self.link_failed(tok, "write failed");
        }
    }

    /// Sends a frame to the daemon of `host`, over its link (opened lazily).
    pub(super) fn send_to_host(&mut self, host: i32, bytes: Vec<u8>) {
        if !self.link_up(host) && self.refuse_bytes_for_host(host, &bytes) {
            return;
        }
        if let Some(tok) = self.links.of_host(host) {
            self.send_link(tok, bytes);
            return;
        }
        let Err(bytes) = self.links.queue(host, bytes) else {
            return;
        };
        let Some(entry) = self.multi.table().by_tid(host).cloned() else {
            dlog!(
                self.log,
                Debug,
                "frame for host {} not in the machine dropped",
                tid::fmt(host)
            );
            return;
        };
        let master = self.multi.master_host();
        if !self.multi.is_master() && host != master && !shares_family(&entry.addrs) {
            // No common address family with that host: the master relays.
            self.send_to_host(master, bytes);
            return;
        }
        self.links.hold(host, vec![bytes], Instant::now());
        self.try_link(&entry);
    }

    /// Tries to open a link to `entry` (frames wait in `waiting`).
    pub(super) fn try_link(&mut self, entry: &HostEntry) {
        let host = entry.host();
        if self.links.of_host(host).is_some() || !self.multi.placed() || !self.may_link(host) {
            return;
        }
        for a in order_addrs(&entry.addrs) {
            let setup = Instant::now() + self.links.setup_time();
            match self.connect_link(a, host, setup) {
                Ok(tok) => {
                    self.links.bind(host, tok);
                    if let Some(frames) = self.links.take_waiting(host) {
                        if let Some(l) = self.links.get_mut(tok) {
                            l.held.extend(frames);
                        }
                    }
                    dlog!(
                        self.log,
                        Debug,
                        "connecting to {} at {}",
                        entry.name,
                        canon(&a)
                    );
                    return;
                }
                Err(e) => dlog!(self.log, Debug, "connect to {}: {e}", canon(&a)),
            }
        }
        self.links.retry_later(host);
    }

    /// Closes a link without further consequences.
    pub(super) fn drop_link(&mut self, tok: Token) {
        if let Some(mut l) = self.links.remove(tok) {
            let _ = self.poll.registry().deregister(&mut l.stream);
        }
    }

    /// A link failed: what that means depends on whose it was.
    pub(super) fn link_failed(&mut self, tok: Token, why: &str) {
        let Some(link) = self.links.get(tok) else {
            return;
        };
        if link.is_draining() {
            // It refused a protected frame (logged then): now that it is
            // gone, a new link may be opened.
            self.drained(tok);
            return;
        }
        if link.feed {
            self.feed_closed(tok, why, why.starts_with(MALFORMED));
            return;
        }
        let peer = link.peer;
        let addr_s = canon(&link.peer_addr);
        if self.is_probe(tok) {
            let answered = !matches!(link.phase, crate::daemon::link::Phase::Connecting(_));
            // Closed after the master proved the secret: its daemon runs
            // and refused this host.
            let proven = matches!(link.phase, crate::daemon::link::Phase::AwaitOk);
            self.probe_failed(tok, answered, proven, why);
            return;
        }
        if let Some(gap) = self.links.woke_after_stall(Instant::now()) {
            self.stalled_out(gap);
            return;
        }
        let authenticated =
            link.is_up() || matches!(link.phase, crate::daemon::link::Phase::AwaitOk);
        let outgoing = link.outgoing;
        let held: Vec<Vec<u8>> = self
            .links
            .get_mut(tok)
            .map(|l| l.held.drain_all())
            .unwrap_or_default();
        let was_current = self.links.of_host(tid::host_of(peer)) == Some(tok);
        self.drop_link(tok);
        if let Some(id) = self.starting.link_closed(tok) {
            dlog!(self.log, Info, "link to new host at {addr_s}: {why}");
            self.start_connect(id);
            return;
        }
        if !authenticated && !outgoing {
            self.refused(&format!("refused connection from {addr_s}: {why}"));
            return;
        }
        if !was_current {
            dlog!(
                self.log,
                Debug,
                "spare link to {} closed: {why}",
                tid::fmt(peer)
            );
            return;
        }
        let host = tid::host_of(peer);
        if self.multi.is_my_master(peer) {
            self.master_lost(why);
            return;
        }
        if self.multi.is_master() && self.multi.table().contains(host) {
            dlog!(
                self.log,
                Warn,
                "lost host {} at {addr_s}: {why}",
                tid::fmt(peer)
            );
            if why.starts_with(SILENT) && !self.master_keeps_quorum(host) {
                dlog!(
                    self.log,
                    Warn,
                    "this master no longer hears from half of the machine; \
                     the majority goes on without it: killing tasks, exiting"
                );
                // Not a halt of the machine: the slaves are not told.
                self.multi.resign();
                self.halt_now("loss of the majority");
                return;
            }
            self.remove_host(host, why);
            return;
        }
        // A slave-to-slave link: the master decides whether the host is gone.
        dlog!(
            self.log,
            Info,
            "link to {} at {addr_s} closed: {why}",
            tid::fmt(peer)
        );
        if outgoing && !held.is_empty() && self.multi.table().contains(host) {
            self.links.hold(host, held, Instant::now() + RETRY);
        }
        self.peer_link_lost(host, why);
    }

    /// A frame arrived on an authenticated link.
    pub(super) fn link_frame(&mut self, tok: Token, f: Frame) {
        let Some(link) = self.links.get(tok) else {
            return;
        };
        if link.feed {
            self.feed_frame(tok, f);
            return;
        }
        let peer = link.peer;
        let h = f.header;
        // The master relays between slaves that share no address family.
        let to = tid::host_of(h.dst);
        if self.multi.is_master()
            && matches!(h.kind, Kind::DReq | Kind::DReply | Kind::Ctl)
            && to != 0
            && to != self.me.host()
        {
            if self.multi.table().contains(to) {
                self.send_to_host(to, f.to_bytes());
            }
            return;
        }
        match h.kind {
            Kind::Ctl => self.on_ctl(tok, peer, f),
            Kind::Msg if !self.plausible_src(peer, h.src) => {
                dlog!(
                    self.log,
                    Warn,
                    "message from daemon {} claiming src {} dropped",
                    tid::fmt(peer),
                    tid::fmt(h.src)
                );
            }
            Kind::Msg => {
                self.link_msg(f);
                self.flow_after_msg(peer, h.dst);
            }
            Kind::DReq => self.on_dreq(peer, f),
            Kind::DReply => self.on_dreply(f),
            Kind::Req | Kind::Reply => {
                dlog!(
                    self.log,
                    Debug,
                    "{:?} frame from {} dropped",
                    h.kind,
                    tid::fmt(peer)
                );
            }
        }
    }

    /// Lines task `t` wrote while its output goes to the log: into the
    /// master's log (a slave forwards them in a Ctl Output frame).
    pub(super) fn task_lines(&mut self, t: i32, lines: Vec<Vec<u8>>) {
        if lines.is_empty() {
            return;
        }
        if self.multi.is_master() {
            for l in &lines {
                self.log.task_line(t, l);
            }
            return;
        }
        let body = Writer::new().int(t).bytes(&lines.join(&b'\n')).finish();
        let master = self.multi.master();
        let f = ctl_frame(self.me.dtid(), master, Ctl::Output, body);
        self.send_to_host(tid::host_of(master), f.to_bytes());
    }

    /// Whether daemon `peer` may send a message from `src`: a task or the
    /// daemon of its own host, the daemons' notice sender t80000000, or
    /// anything when `peer` is the master (it relays between hosts). A
    /// slave cannot speak for another host's tasks.
    pub(super) fn plausible_src(&self, peer: i32, src: i32) -> bool {
        peer == self.multi.master()
            || tid::host_of(src) == tid::host_of(peer)
            || src == tid::daemon_tid(0)
    }

    pub(super) fn on_ctl(&mut self, tok: Token, peer: i32, f: Frame) {
        let mut r = Reader::new(&f.body);
        // The daemon that sent it (the link's peer, unless the master relayed it).
        let sender = if tid::is_daemon(f.header.src) {
            f.header.src
        } else {
            peer
        };
        match Ctl::from_i32(f.header.tag) {
            Some(Ctl::Heartbeat) => {}
            // Tree start-up (host_start/tree.rs).
            Some(Ctl::StartHost) if self.multi.is_my_master(peer) => self.relay_start(&mut r),
            Some(Ctl::Started) if self.multi.is_master() => self.relay_started(peer, &mut r),
            Some(c @ (Ctl::Replica | Ctl::ReplicaAck | Ctl::Claim | Ctl::Follow)) => {
                self.on_succession_ctl(c, sender, &mut r);
            }
            Some(Ctl::Relink) => self.relink_asked(tok, peer),
            Some(c @ (Ctl::Busy | Ctl::Ready)) => {
                if let Ok(dst) = r.int() {
                    self.flow_ctl(peer, c, dst);
                }
            }
            Some(Ctl::LinkOk) => {
                let failed = self.links.get_mut(tok).is_some_and(|l| l.set_up().is_err());
                if failed {
                    self.link_failed(tok, "write failed");
                    return;
                }
                if let Some(id) = self.starting.start_of_link(tok) {
                    self.start_linked(id, tok);
                } else if self.is_probe(tok) {
                    self.probe_result(tok, true, true, "");
                } else {
                    let host = tid::host_of(peer);
                    dlog!(self.log, Debug, "link to {} up", tid::fmt(peer));
                    self.flush_waiting(host);
                }
            }
            Some(Ctl::Place) if self.multi.is_my_master(peer) => {
                let index = r.int().unwrap_or(0);
                match HostTable::decode_for(&mut r, index, &addr::local_interfaces()) {
                    Ok(t) if index == tid::host_index(self.me.host()) => {
                        self.links.bind(tid::host_of(peer), tok);
                        let timeout = t.timeout;
                        self.multi.place(t);
                        if timeout > 0 {
                            self.set_host_timeout(timeout);
                        }
                        dlog!(
                            self.log,
                            Info,
                            "joined the machine of {} as host {} ({} hosts)",
                            tid::fmt(peer),
                            index,
                            self.multi.table().hosts.len()
                        );
                    }
                    _ => {
                        dlog!(self.log, Error, "bad placement from the master; exiting");
                        self.halt_now("bad placement");
                    }
                }
            }
            Some(Ctl::Table) if self.multi.is_my_master(peer) => {
                let me = tid::host_index(self.me.host());
                if let Ok(t) = HostTable::decode_for(&mut r, me, &addr::local_interfaces()) {
                    self.apply_table(t);
                }
            }
            Some(Ctl::Halt) if self.multi.is_my_master(peer) => {
                dlog!(self.log, Info, "halted by the master");
                self.halt_now("the master");
            }
            Some(Ctl::Watch) => {
                if let Ok(t) = r.int() {
                    if self.tasks.get(t).is_some() {
                        self.forwards.watch(t, tid::host_of(sender));
                    } else {
                        let g = ctl_frame(
                            self.me.dtid(),
                            sender,
                            Ctl::TaskGone,
                            Writer::new().int(t).finish(),
                        );
                        self.send_to_host(tid::host_of(sender), g.to_bytes());
                    }
                }
            }
            Some(Ctl::TaskGone) => {
                if let Ok(t) = r.int() {
                    self.task_gone_remote(t);
                }
            }
            Some(Ctl::Output) if self.multi.is_master() => {
                if let (Ok(t), Ok(data)) = (r.int(), r.bytes()) {
                    for line in data.split(|&b| b == b'\n') {
                        self.log.task_line(t, line);
                    }
                }
            }
            Some(Ctl::Rm) if peer == self.multi.master() || self.multi.is_master() => {
                if let Ok(v) = r.int() {
                    self.rm_ctl(v);
                }
            }
            Some(Ctl::Tracer) => self.tracer_ctl(peer, &mut r),
            Some(Ctl::Siblings) => {
                if let Ok(n) = r.count(4) {
                    let list: Vec<i32> = (0..n).filter_map(|_| r.int().ok()).collect();
                    self.set_siblings(&list);
                }
            }
            _ => dlog!(
                self.log,
                Debug,
                "control {} from {} ignored",
                f.header.tag,
                tid::fmt(peer)
            ),
        }
    }
}
