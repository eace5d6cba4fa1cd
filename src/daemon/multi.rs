//! The multi-host side of the daemon (docs/PROTOCOL.md "Daemon links",
//! "Host table", "Slave startup"; docs/ARCHITECTURE.md "Multi-host"):
//! TCP links to other daemons (authenticated, one per pair, slave-to-slave
//! ones opened lazily), the host table (owned by the master, pushed to the
//! slaves), starting slaves through `$PVM_RSH`, requests forwarded to the
//! daemon that can serve them (and their replies routed back), spawns and
//! task lists spread over hosts, remote TaskExit watches, heartbeats and
//! the removal of failed hosts.
//!
//! This file holds the multi-host state ([`Multi`], private fields, named
//! operations) and its helpers; the work is in host_start.rs, links.rs,
//! link_events.rs, machine.rs, succession.rs and forward.rs.

use super::rm::AddAck;
use super::server::Daemon;
use crate::daemon::hosts::{HostEntry, HostTable};
use crate::daemon::startup::{self};
use crate::net::addr::{self, fmt_sockaddr};
use crate::tid;
use crate::wire::vocabulary::DSIG_LINUX64;
use crate::wire::{Reader, Req};
use mio::Token;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// How a link that sent an undecodable frame is reported closed.
pub(super) const MALFORMED: &str = "malformed frame";
/// How long a manual start (so=ms) waits for the reply line.
pub(super) const MANUAL_TIMEOUT: Duration = Duration::from_secs(300);
/// Request codes served by the master only (forwarded there by slaves):
/// the mailbox, addhosts/delhosts, halt, the no-reset list, and the group
/// service's range.
pub(super) fn master_only(code: i32) -> bool {
    matches!(code, 10 | 20..=23 | 42 | 43 | 60 | 61 | 70..=79)
}

/// A request being answered elsewhere.
pub(super) enum PendingKind {
    /// The reply passes through to the task's connection.
    Forward { token: Token, tag: i32, wid: i32 },
    /// A part of a spawn spread over hosts: the reply fills `slots`.
    SpawnPart { agg: u64, slots: Vec<usize> },
    /// A part of a machine-wide task list.
    TasksPart { agg: u64 },
}

pub(super) struct Pending {
    pub(super) host: i32,
    pub(super) kind: PendingKind,
    /// When the request fails with PvmHostFail if no reply came (None: it
    /// may wait without bound, see [`forward_deadline`]).
    pub(super) deadline: Option<Instant>,
}

/// How long a request served by another daemon may stay unanswered while
/// the link to that daemon stays up (a dead link fails it sooner).
pub(super) const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The deadline of a request with code `tag` and body `body` forwarded now:
/// AddHosts (its own per-host deadlines, and manual starts wait for a
/// person) and a MboxRecv with PvmMboxWaitForInfo (it waits for a put by
/// design) have none; every other request must be answered within
/// [`FORWARD_TIMEOUT`].
pub(super) fn forward_deadline(tag: i32, body: &[u8], now: Instant) -> Option<Instant> {
    const MBOX_WAIT_FOR_INFO: i32 = 32;
    let waits = match Req::from_i32(tag) {
        Some(Req::AddHosts) => true,
        Some(Req::MboxRecv) => {
            let mut r = Reader::new(body);
            let flags = r.str().and_then(|_| r.int()).and_then(|_| r.int());
            flags.is_ok_and(|f| f & MBOX_WAIT_FOR_INFO != 0)
        }
        _ => false,
    };
    (!waits).then(|| now + FORWARD_TIMEOUT)
}

/// The requests of `pending` whose deadline passed at `now`, oldest id first.
pub(super) fn overdue(pending: &HashMap<i32, Pending>, now: Instant) -> Vec<i32> {
    let mut v: Vec<i32> = pending
        .iter()
        .filter(|(_, p)| p.deadline.is_some_and(|d| now > d))
        .map(|(k, _)| *k)
        .collect();
    v.sort();
    v
}

/// A remote task's request being served here (under a pseudo token).
pub(super) struct RemoteReq {
    pub host: i32,
    pub dwid: i32,
    pub tid: i32,
}

pub(super) struct SpawnAgg {
    pub(super) token: Token,
    pub(super) wid: i32,
    pub(super) results: Vec<Option<i32>>,
    pub(super) hosts: BTreeSet<i32>,
}

pub(super) struct TasksAgg {
    pub(super) token: Token,
    pub(super) wid: i32,
    pub(super) count: i32,
    pub(super) entries: Vec<u8>,
    pub(super) remaining: usize,
}

/// An AddHosts request (or the hostfile at start) in progress.
pub(super) struct AddGroup {
    pub(super) token: Option<Token>,
    pub(super) wid: i32,
    /// For an `SM_ADD` of the resource manager: where the answer goes.
    pub(super) rm: Option<AddAck>,
    pub(super) results: Vec<Option<i32>>,
}

/// One slave being started.
pub(super) struct Start {
    pub(super) group: u64,
    pub(super) slot: usize,
    pub(super) index: i32,
    pub(super) name: String,
    /// Its addresses (port 0), from its name; link-local ones with the
    /// scope id of our interface that reaches them.
    pub(super) ips: Vec<SocketAddr>,
    pub(super) child: Option<Child>,
    pub(super) pipe: Option<Token>,
    pub(super) partial: Vec<u8>,
    pub(super) deadline: Instant,
    pub(super) manual: Option<PathBuf>,
    pub(super) candidates: VecDeque<SocketAddr>,
    pub(super) link: Option<Token>,
    pub(super) reply: Option<startup::Reply>,
    /// The remote shell command, while it waits for a terminal dialog.
    pub(super) shell: Option<Shell>,
}

/// How a slave's remote shell is run: `$PVM_RSH [-l lo] reach cmd`.
#[derive(Clone)]
pub(super) struct Shell {
    pub(super) reach: String,
    pub(super) lo: Option<String>,
    pub(super) cmd: String,
}

/// The machine as this daemon sees it: the host table, which daemon is the
/// master (and whether it is this one), whether a slave has been placed,
/// the link secret and protection, and the ids of requests it starts.
/// Private state: the loop and the handlers read it through the accessors
/// below and change it only by the named operations (a table pushed by
/// the master, a host added or removed, a take-over).
pub(super) struct Multi {
    secret: crate::auth::Secret,
    /// How links between hosts are protected (the same on every host).
    protect: crate::seal::Level,
    table: HostTable,
    master: i32,
    is_master: bool,
    placed: bool,
    next_id: u64,
    next_dwid: i32,
    /// A slave not yet placed exits if its master has not come by then.
    slave_deadline: Option<Instant>,
    /// The names of the hosts that left the table last (at most
    /// [`MAX_REMOVED`]): a pvm_delhosts sent again to a new master counts
    /// those as deleted (succession/retry.rs).
    removed: VecDeque<String>,
}

/// How many names of removed hosts a daemon remembers.
const MAX_REMOVED: usize = 256;

impl Multi {
    /// The state for a daemon with `opts`, host part `host`, TCP port `port`.
    pub fn new(opts: &super::DaemonOptions, host: i32, port: u16) -> Multi {
        let me = HostEntry {
            index: opts.host_index,
            name: opts.hostname.clone(),
            arch: opts.arch.clone(),
            speed: opts.speed,
            dsig: DSIG_LINUX64,
            addrs: addr::local_interfaces()
                .iter()
                .map(|a| a.socket_addr(port))
                .collect(),
        };
        debug_assert_eq!(me.host(), host);
        let slave = opts.slave.as_ref();
        let mut table = HostTable::new(me);
        table.timeout = super::links::machine_timeout(opts).as_secs() as u32;
        Multi {
            secret: opts
                .secret
                .clone()
                .unwrap_or_else(|| crate::auth::Secret::from_bytes([0; crate::auth::SECRET_LEN])),
            protect: opts.protect,
            table,
            master: slave.map(|s| s.master).unwrap_or(tid::daemon_tid(host)),
            is_master: slave.is_none(),
            placed: slave.is_none(),
            next_id: 1,
            next_dwid: 1,
            slave_deadline: slave
                .map(|_| Instant::now() + Duration::from_secs(startup::START_TIMEOUT_SECS)),
            removed: VecDeque::new(),
        }
    }

    /// Whether host `name` left the table lately (see `removed`).
    pub fn was_removed(&self, name: &str) -> bool {
        self.removed.iter().any(|n| addr::same_host(name, n))
    }

    fn note_removed(&mut self, name: &str) {
        if self.removed.len() >= MAX_REMOVED {
            self.removed.pop_front();
        }
        self.removed.push_back(name.to_string());
    }

    // ---- reads ------------------------------------------------------------

    /// The machine's secret (links and slave start-up prove it).
    pub fn secret(&self) -> &crate::auth::Secret {
        &self.secret
    }

    /// How links between hosts are protected.
    pub fn protect(&self) -> crate::seal::Level {
        self.protect
    }

    /// The host table (the master's, or the copy it pushed here).
    pub fn table(&self) -> &HostTable {
        &self.table
    }

    /// The master daemon's tid.
    pub fn master(&self) -> i32 {
        self.master
    }

    /// The master's host part.
    pub fn master_host(&self) -> i32 {
        tid::host_of(self.master)
    }

    /// Whether this daemon is the master.
    pub fn is_master(&self) -> bool {
        self.is_master
    }

    /// Whether `peer` is the master of this slave (false on the master).
    pub fn is_my_master(&self, peer: i32) -> bool {
        !self.is_master && peer == self.master
    }

    /// Whether this daemon has its place in a machine (the master always; a
    /// slave once its master placed it).
    pub fn placed(&self) -> bool {
        self.placed
    }

    /// Whether the loop needs its tick for this state (a slave waiting
    /// for its master).
    pub fn active(&self) -> bool {
        self.slave_deadline.is_some()
    }

    // ---- ids ----------------------------------------------------------------

    /// A fresh id for a request this daemon starts (aggregates, starts).
    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh wid for a request forwarded to another daemon.
    pub(super) fn dwid(&mut self) -> i32 {
        self.next_dwid = if self.next_dwid >= i32::MAX - 1 {
            1
        } else {
            self.next_dwid + 1
        };
        self.next_dwid
    }

    // ---- the host table -----------------------------------------------------

    /// Master: a free index for a host being started (`reserved`: those
    /// of starts in progress).
    pub fn alloc_index(&mut self, reserved: &[i32]) -> Option<i32> {
        self.table.alloc_index(reserved)
    }

    /// Master: host `e` joined the machine (a new table version).
    pub fn add_host(&mut self, e: HostEntry) {
        self.table.insert(e);
    }

    /// Master: host `host` leaves the table; its entry if it was there.
    pub fn remove_host(&mut self, host: i32) -> Option<HostEntry> {
        let e = self.table.remove(host)?;
        self.note_removed(&e.name);
        Some(e)
    }

    /// Slave: the table `t` pushed by the master replaces ours unless it
    /// is older (once placed). Returns the host parts of the table it
    /// replaced, or None when `t` was stale.
    pub fn adopt_table(&mut self, t: HostTable) -> Option<Vec<i32>> {
        if t.version <= self.table.version && self.placed {
            return None;
        }
        let old: Vec<i32> = self.table.hosts.iter().map(|h| h.host()).collect();
        let gone: Vec<String> = self
            .table
            .hosts
            .iter()
            .filter(|h| !t.contains(h.host()))
            .map(|h| h.name.clone())
            .collect();
        for n in gone {
            self.note_removed(&n);
        }
        self.table = t;
        Some(old)
    }

    /// Slave: the master placed this daemon in its machine with table `t`.
    pub fn place(&mut self, t: HostTable) {
        self.table = t;
        self.placed = true;
        self.slave_deadline = None;
    }

    /// The host timeout in seconds: on the master its table carries it to
    /// the slaves; a slave keeps the master's.
    pub fn set_timeout(&mut self, secs: u32) {
        if self.is_master {
            self.table.timeout = secs;
        }
    }

    /// This daemon's speed as its table entry shows it (the master's own
    /// hostfile line or allocation).
    pub fn set_own_speed(&mut self, host: i32, speed: i32) {
        if let Some(me) = self.table.hosts.iter_mut().find(|e| e.host() == host) {
            me.speed = speed;
        }
    }

    // ---- master and slave ---------------------------------------------------

    /// A slave's master never connected: true once its deadline passed at
    /// `now` (and the deadline is forgotten).
    pub fn master_overdue(&mut self, now: Instant) -> bool {
        let due = self.slave_deadline.is_some_and(|d| now > d);
        if due {
            self.slave_deadline = None;
        }
        due
    }

    /// This daemon stops acting as master (it halts alone: lost the
    /// majority, or stalled past the host timeout), so it tells no slave.
    pub fn resign(&mut self) {
        self.is_master = false;
    }

    /// Another daemon, `from`, claimed the machine with `epoch`: it is the
    /// master from now on. Returns the old master.
    pub fn follow(&mut self, from: i32, epoch: i32) -> i32 {
        let old = self.master;
        self.master = from;
        self.is_master = false;
        self.table.epoch = epoch;
        old
    }

    /// This daemon, `me`, takes the master's place with `epoch`.
    pub fn take_over(&mut self, me: i32, epoch: i32) {
        self.is_master = true;
        self.master = me;
        self.placed = true;
        self.table.epoch = epoch;
    }
}

/// The daemon executable to run on other hosts: this process's own when it
/// is our pvmd3, else one the embedded runner would find, else `pvmd3`.
pub(super) fn own_pvmd3() -> String {
    let me = std::env::current_exe().ok();
    if let Some(p) = me.filter(|p| crate::daemon::embedded::is_our_pvmd3(p)) {
        return p.display().to_string();
    }
    crate::daemon::embedded::pvmd3_executable()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "pvmd3".into())
}

/// This user's login name (`$USER`, `$LOGNAME`), for the password prompt.
pub(super) fn login_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            let uid = crate::os::uid().to_string();
            std::fs::read_to_string("/etc/passwd")
                .ok()?
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
                })
        })
        .unwrap_or_else(|| format!("uid {}", crate::os::uid()))
}

/// `[addr%zone]:port` with IPv4-mapped addresses shown as IPv4.
pub(super) fn canon(sa: &SocketAddr) -> String {
    fmt_sockaddr(&with_port(*sa, sa.port()))
}

/// `sa` at `port`, IPv4-mapped addresses as IPv4, keeping the scope id of
/// an IPv6 address (a link-local address is unusable without it).
pub(super) fn with_port(sa: SocketAddr, port: u16) -> SocketAddr {
    match sa {
        SocketAddr::V6(mut a) if a.ip().to_ipv4_mapped().is_none() => {
            a.set_port(port);
            SocketAddr::V6(a)
        }
        other => SocketAddr::new(other.ip().to_canonical(), port),
    }
}

/// Orders the addresses of a peer for connecting: the pair `pick_family`
/// prefers first, then the others whose family we have, then the rest.
pub(super) fn order_addrs(theirs: &[SocketAddr]) -> VecDeque<SocketAddr> {
    let ours = addr::local_addresses();
    let ips: Vec<IpAddr> = theirs.iter().map(|a| a.ip()).collect();
    let mut out: VecDeque<SocketAddr> = VecDeque::new();
    if let Some((_, t)) = addr::pick_family(&ours, &ips) {
        if let Some(a) = theirs.iter().find(|a| a.ip().to_canonical() == t) {
            out.push_back(*a);
        }
    }
    let have = |ip: &IpAddr| {
        ours.iter()
            .any(|o| o.is_ipv6() == ip.to_canonical().is_ipv6())
    };
    for a in theirs.iter().filter(|a| have(&a.ip())) {
        if !out.contains(a) {
            out.push_back(*a);
        }
    }
    for a in theirs {
        if !out.contains(a) {
            out.push_back(*a);
        }
    }
    out
}

/// Whether this host has an address of a family `theirs` uses.
pub(super) fn shares_family(theirs: &[SocketAddr]) -> bool {
    let ips: Vec<IpAddr> = theirs.iter().map(|a| a.ip()).collect();
    addr::pick_family(&addr::local_addresses(), &ips).is_some()
}

impl Daemon {
    // ---- identity helpers -------------------------------------------------

    /// The tid of the task a request on `token` comes from (a local task's
    /// connection, or a remote task's request served under a pseudo token).
    pub(super) fn requester(&self, token: Token) -> Option<i32> {
        match self.conns.get(token) {
            Some(c) => c.tid,
            None => self.forwards.remote_tid(token),
        }
    }

    pub(super) fn is_remote_token(&self, token: Token) -> bool {
        self.forwards.is_remote(token)
    }

    /// Whether host part `host` is another host of the machine.
    pub(super) fn other_host(&self, host: i32) -> bool {
        host != self.me.host() && self.multi.table().contains(host)
    }

    /// Whether task `t` counts as alive: a local task, or any tid of
    /// another host of the machine (its daemon knows better).
    pub(super) fn task_alive_anywhere(&self, t: i32) -> bool {
        if tid::host_of(t) == self.me.host() {
            self.tasks.get(t).is_some()
        } else {
            self.multi.table().contains(t)
        }
    }

    // ---- start ------------------------------------------------------------
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Writer;

    #[test]
    fn forwarded_requests_have_deadlines_except_those_that_wait() {
        let now = Instant::now();
        let due = Some(now + FORWARD_TIMEOUT);
        assert_eq!(forward_deadline(Req::Pstat as i32, &[], now), due);
        assert_eq!(forward_deadline(Req::AddHosts as i32, &[], now), None);
        let recv = |flags: i32| Writer::new().str("name").int(0).int(flags).finish();
        assert_eq!(forward_deadline(Req::MboxRecv as i32, &recv(0), now), due);
        assert_eq!(forward_deadline(Req::MboxRecv as i32, &recv(32), now), None);
        let mut pending = HashMap::new();
        for (id, deadline) in [(3, due), (1, Some(now)), (2, None)] {
            pending.insert(
                id,
                Pending {
                    host: 0x80000,
                    kind: PendingKind::TasksPart { agg: 0 },
                    deadline,
                },
            );
        }
        assert_eq!(overdue(&pending, now + Duration::from_secs(1)), vec![1]);
        assert_eq!(overdue(&pending, now + FORWARD_TIMEOUT * 2), vec![1, 3]);
    }
}
