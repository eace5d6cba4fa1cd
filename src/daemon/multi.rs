//! The multi-host side of the daemon (docs/PROTOCOL.md "Daemon links",
//! "Host table", "Slave startup"; docs/ARCHITECTURE.md "Multi-host"):
//! TCP links to other daemons (authenticated, one per pair, slave-to-slave
//! ones opened lazily), the host table (owned by the master, pushed to the
//! slaves), starting slaves through `$PVM_RSH`, requests forwarded to the
//! daemon that can serve them (and their replies routed back), spawns and
//! task lists spread over hosts, remote TaskExit watches, heartbeats and
//! the removal of failed hosts.
//!
//! A child module of `server` (declared there) so it can use the daemon's
//! state directly.

use super::rm::AddAck;
use super::server::Daemon;
use crate::auth::Role;
use crate::daemon::hosts::{HostEntry, HostTable};
use crate::daemon::link::{Event, Link};
use crate::daemon::log::dlog;
use crate::daemon::output::Inherit;
use crate::daemon::spawn::{self, SpawnRequest};
use crate::daemon::startup::{self, SlaveArgs};
use crate::hostfile;
use crate::net::addr::{self, fmt_sockaddr, HostName};
use crate::wire::vocabulary::DSIG_LINUX64;
use crate::wire::{ctl_frame, Ctl, Frame, Header, Kind, Reader, Req, Writer};
use crate::{tid, Error};
use mio::unix::pipe::Receiver;
use mio::{Interest, Token};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a link that sent an undecodable frame is reported closed.
const MALFORMED: &str = "malformed frame";
/// Heartbeat on a link that sent nothing for this long.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A link that received nothing for this long is dead.
const DEAD_AFTER: Duration = Duration::from_secs(3);
/// Connect plus handshake of a link.
const LINK_SETUP: Duration = Duration::from_secs(10);
/// How long frames wait for a lazily connected link before being dropped.
const WAIT_FOR_LINK: Duration = Duration::from_secs(10);
/// Between attempts to connect a lazy link.
const RETRY: Duration = Duration::from_secs(1);
/// How long a manual start (so=ms) waits for the reply line.
const MANUAL_TIMEOUT: Duration = Duration::from_secs(300);
/// Tick of the loop while multi-host work is going on.
pub(super) const TICK: Duration = Duration::from_millis(200);
/// Request codes served by the master only (forwarded there by slaves):
/// the mailbox, addhosts/delhosts, halt, the no-reset list, and the group
/// service's range.
fn master_only(code: i32) -> bool {
    matches!(code, 10 | 20..=23 | 42 | 43 | 60 | 61 | 70..=79)
}

/// A request being answered elsewhere.
enum PendingKind {
    /// The reply passes through to the task's connection.
    Forward { token: Token, tag: i32, wid: i32 },
    /// A part of a spawn spread over hosts: the reply fills `slots`.
    SpawnPart { agg: u64, slots: Vec<usize> },
    /// A part of a machine-wide task list.
    TasksPart { agg: u64 },
}

struct Pending {
    host: i32,
    kind: PendingKind,
    /// When the request fails with PvmHostFail if no reply came (None: it
    /// may wait without bound, see [`forward_deadline`]).
    deadline: Option<Instant>,
}

/// How long a request served by another daemon may stay unanswered while
/// the link to that daemon stays up (a dead link fails it sooner).
pub(super) const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The deadline of a request with code `tag` and body `body` forwarded now:
/// AddHosts (its own per-host deadlines, and manual starts wait for a
/// person) and a MboxRecv with PvmMboxWaitForInfo (it waits for a put by
/// design) have none; every other request must be answered within
/// [`FORWARD_TIMEOUT`].
fn forward_deadline(tag: i32, body: &[u8], now: Instant) -> Option<Instant> {
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
fn overdue(pending: &HashMap<i32, Pending>, now: Instant) -> Vec<i32> {
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

struct SpawnAgg {
    token: Token,
    wid: i32,
    results: Vec<Option<i32>>,
    hosts: BTreeSet<i32>,
}

struct TasksAgg {
    token: Token,
    wid: i32,
    count: i32,
    entries: Vec<u8>,
    remaining: usize,
}

/// An AddHosts request (or the hostfile at start) in progress.
struct AddGroup {
    token: Option<Token>,
    wid: i32,
    /// For an `SM_ADD` of the resource manager: where the answer goes.
    rm: Option<AddAck>,
    results: Vec<Option<i32>>,
}

/// One slave being started.
struct Start {
    group: u64,
    slot: usize,
    index: i32,
    name: String,
    /// Its addresses (port 0), from its name; link-local ones with the
    /// scope id of our interface that reaches them.
    ips: Vec<SocketAddr>,
    child: Option<Child>,
    pipe: Option<Token>,
    partial: Vec<u8>,
    deadline: Instant,
    manual: Option<PathBuf>,
    candidates: VecDeque<SocketAddr>,
    link: Option<Token>,
    reply: Option<startup::Reply>,
    /// The remote shell command, while it waits for a terminal dialog.
    shell: Option<Shell>,
}

/// How a slave's remote shell is run: `$PVM_RSH [-l lo] reach cmd`.
#[derive(Clone)]
struct Shell {
    reach: String,
    lo: Option<String>,
    cmd: String,
}

/// Frames for a host that has no link yet.
struct Waiting {
    frames: VecDeque<Vec<u8>>,
    deadline: Instant,
    next_try: Instant,
}

/// The multi-host state of a daemon.
pub(super) struct Multi {
    pub secret: crate::auth::Secret,
    pub table: HostTable,
    pub master: i32,
    pub is_master: bool,
    pub placed: bool,
    pub links: HashMap<Token, Link>,
    /// Link token by peer host part.
    by_host: HashMap<i32, Token>,
    /// Links of slaves being started (not in `by_host` yet), to their start id.
    link_start: HashMap<Token, u64>,
    waiting: HashMap<i32, Waiting>,
    starts: HashMap<u64, Start>,
    pipe_start: HashMap<Token, u64>,
    groups: HashMap<u64, AddGroup>,
    next_id: u64,
    next_dwid: i32,
    pending: HashMap<i32, Pending>,
    pub remote: HashMap<Token, RemoteReq>,
    watchers: HashMap<i32, BTreeSet<i32>>,
    spawn_aggs: HashMap<u64, SpawnAgg>,
    tasks_aggs: HashMap<u64, TasksAgg>,
    /// Local tasks whose sibling list is still being gathered, by origin host.
    sib_pending: HashMap<i32, i32>,
    deferred_connect: HashMap<i32, (Token, i32)>,
    rr: usize,
    last_tick: Instant,
    slave_deadline: Option<Instant>,
    /// `&` hosts of the hostfile, and its defaults for later additions.
    known: hostfile::Hostfile,
    /// Children (remote shells) to reap.
    reap: Vec<Child>,
    /// Set by a handler whose reply is sent later.
    pub deferred: bool,
    /// Whether the Unix listener is being served (a master holds it back
    /// while its hostfile's hosts start).
    pub unix_open: bool,
    dx: String,
    /// The remote shells' stdout pipes, by token.
    start_pipes: HashMap<Token, Receiver>,
    /// Remote tasks whose TaskGone waits for the end of their feed, with
    /// the time it waits until (src/daemon/feeds.rs).
    pub gone_waiting: HashMap<i32, Instant>,
    /// Messages of remote tasks that came through their daemon after a
    /// fence, held until their feed caught up (src/daemon/feeds.rs).
    pub feed_holds: super::feeds::Holds,
    /// Messages going back on feeds (src/daemon/feeds.rs).
    pub returns: super::feeds::Returns,
    /// While a remote Spawn of a spread spawn is served: its origin host.
    sibling_origin: i32,
    /// so=pw / so=ms questions on the master's terminal.
    pub dialogs: super::dialog::Dialogs,
}

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
        Multi {
            secret: opts
                .secret
                .clone()
                .unwrap_or_else(|| crate::auth::Secret::from_bytes([0; crate::auth::SECRET_LEN])),
            table: HostTable::new(me),
            master: slave.map(|s| s.master).unwrap_or(tid::daemon_tid(host)),
            is_master: slave.is_none(),
            placed: slave.is_none(),
            links: HashMap::new(),
            by_host: HashMap::new(),
            link_start: HashMap::new(),
            waiting: HashMap::new(),
            starts: HashMap::new(),
            pipe_start: HashMap::new(),
            groups: HashMap::new(),
            next_id: 1,
            next_dwid: 1,
            pending: HashMap::new(),
            remote: HashMap::new(),
            watchers: HashMap::new(),
            spawn_aggs: HashMap::new(),
            tasks_aggs: HashMap::new(),
            sib_pending: HashMap::new(),
            deferred_connect: HashMap::new(),
            rr: 0,
            last_tick: Instant::now(),
            slave_deadline: slave
                .map(|_| Instant::now() + Duration::from_secs(startup::START_TIMEOUT_SECS)),
            known: opts.hostfile.clone().unwrap_or_default(),
            reap: Vec::new(),
            deferred: false,
            unix_open: false,
            dx: own_pvmd3(),
            start_pipes: HashMap::new(),
            gone_waiting: HashMap::new(),
            feed_holds: Default::default(),
            returns: Default::default(),
            sibling_origin: 0,
            dialogs: Default::default(),
        }
    }

    /// Whether the loop needs its tick (anything multi-host going on).
    pub fn active(&self) -> bool {
        !self.links.is_empty()
            || !self.starts.is_empty()
            || !self.waiting.is_empty()
            || !self.reap.is_empty()
            || self.slave_deadline.is_some()
    }

    pub fn is_link(&self, t: Token) -> bool {
        self.links.contains_key(&t)
    }

    /// Whether start `id` is still in progress.
    pub fn start_waits(&self, id: u64) -> bool {
        self.starts.contains_key(&id)
    }

    pub fn is_start_pipe(&self, t: Token) -> bool {
        self.pipe_start.contains_key(&t)
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn dwid(&mut self) -> i32 {
        self.next_dwid = if self.next_dwid >= i32::MAX - 1 {
            1
        } else {
            self.next_dwid + 1
        };
        self.next_dwid
    }
}

/// The daemon executable to run on other hosts: this process's own when it
/// is our pvmd3, else one the embedded runner would find, else `pvmd3`.
fn own_pvmd3() -> String {
    let me = std::env::current_exe().ok();
    if let Some(p) = me.filter(|p| crate::daemon::embedded::is_our_pvmd3(p)) {
        return p.display().to_string();
    }
    crate::daemon::embedded::pvmd3_executable()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "pvmd3".into())
}

/// This user's login name (`$USER`, `$LOGNAME`), for the password prompt.
fn login_name() -> String {
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
fn canon(sa: &SocketAddr) -> String {
    fmt_sockaddr(&with_port(*sa, sa.port()))
}

/// `sa` at `port`, IPv4-mapped addresses as IPv4, keeping the scope id of
/// an IPv6 address (a link-local address is unusable without it).
fn with_port(sa: SocketAddr, port: u16) -> SocketAddr {
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
fn order_addrs(theirs: &[SocketAddr]) -> VecDeque<SocketAddr> {
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
fn shares_family(theirs: &[SocketAddr]) -> bool {
    let ips: Vec<IpAddr> = theirs.iter().map(|a| a.ip()).collect();
    addr::pick_family(&addr::local_addresses(), &ips).is_some()
}

impl Daemon {
    // ---- identity helpers -------------------------------------------------

    /// The tid of the task a request on `token` comes from (a local task's
    /// connection, or a remote task's request served under a pseudo token).
    pub(super) fn requester(&self, token: Token) -> Option<i32> {
        match self.conns.get(&token) {
            Some(c) => c.tid,
            None => self.multi.remote.get(&token).map(|r| r.tid),
        }
    }

    pub(super) fn is_remote_token(&self, token: Token) -> bool {
        self.multi.remote.contains_key(&token)
    }

    /// Whether host part `host` is another host of the machine.
    fn other_host(&self, host: i32) -> bool {
        host != self.host && self.multi.table.contains(host)
    }

    /// Whether task `t` counts as alive: a local task, or any tid of
    /// another host of the machine (its daemon knows better).
    pub(super) fn task_alive_anywhere(&self, t: i32) -> bool {
        if tid::host_of(t) == self.host {
            self.tasks.get(t).is_some()
        } else {
            self.multi.table.contains(t)
        }
    }

    // ---- start ------------------------------------------------------------

    /// Called once when the loop starts: a master starts its hostfile's
    /// hosts (holding back local tasks until they are in), a slave waits
    /// for its master.
    pub(super) fn multi_start(&mut self) {
        let hf = self.multi.known.clone();
        let mut lines = Vec::new();
        for e in &hf.hosts {
            if self.is_local_name(&e.name) {
                // The master's own line: its options apply to this daemon.
                if let Some(ep) = &e.opts.ep {
                    self.opts.search_path = super::split_path(ep, &self.opts.home);
                }
                if let Some(sp) = e.opts.sp {
                    self.opts.speed = sp;
                    if let Some(me) = self.multi.table.hosts.first_mut() {
                        me.speed = sp;
                    }
                }
                // wd= and bx= as a slave applies them (DaemonOptions::apply_slave):
                // tasks start in wd (relative to $HOME), PvmTaskDebug runs bx.
                if let Some(wd) = &e.opts.wd {
                    self.opts.home = self.opts.home.join(wd);
                }
                if let Some(bx) = &e.opts.bx {
                    self.opts.debugger = Some(std::path::PathBuf::from(bx));
                }
                continue;
            }
            if !e.no_start {
                lines.push(e.clone());
            }
        }
        if lines.is_empty() {
            self.open_unix();
            return;
        }
        dlog!(
            self.log,
            Info,
            "starting {} host(s) of the hostfile",
            lines.len()
        );
        let parsed = lines.into_iter().map(Ok).collect();
        self.add_hosts(None, 0, None, parsed);
    }

    pub(super) fn open_unix(&mut self) {
        if self.multi.unix_open {
            return;
        }
        match self.poll.registry().register(
            &mut self.unix,
            super::server::UNIX_LISTENER,
            Interest::READABLE,
        ) {
            Ok(()) => self.multi.unix_open = true,
            Err(e) => dlog!(self.log, Error, "can't watch the task socket: {e}"),
        }
        // Connections that queued meanwhile are waiting in the backlog.
        self.accept_unix();
    }

    // ---- adding hosts -----------------------------------------------------

    /// AddHosts (master): host lines in hostfile syntax.
    pub(super) fn req_add_hosts(
        &mut self,
        token: Token,
        wid: i32,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        if !self.multi.is_master {
            return Err(Error::NotImpl);
        }
        // As PvmAlready in man pvm_addhosts: another task is adding hosts.
        // (A single task's pvm_addhosts blocks, so a second one in progress
        // is another task's or another thread's; the hostfile's own start
        // at boot has no token and ends before tasks are served.)
        if self.adding_hosts() {
            dlog!(
                self.log,
                Info,
                "addhosts refused: another add is in progress"
            );
            return Err(Error::Already);
        }
        let lines = r.strs()?;
        if lines.is_empty() {
            return Err(Error::BadParam);
        }
        let parsed: Vec<Result<hostfile::HostEntry, Error>> = lines
            .iter()
            .map(|l| match hostfile::parse_line(l) {
                Ok(Some(e)) => {
                    let e = match self.multi.known.find(&e.name) {
                        // A host known from the hostfile (`&`) keeps its options.
                        Some(k) if e.opts.is_empty() => k.clone(),
                        _ => hostfile::HostEntry {
                            opts: e.opts.merged_over(&self.multi.known.defaults),
                            ..e
                        },
                    };
                    Ok(e.expand(|n| std::env::var(n).ok()))
                }
                Ok(None) => Err(Error::BadParam),
                Err(err) => {
                    dlog!(self.log, Info, "addhosts: {err}");
                    Err(Error::BadParam)
                }
            })
            .collect();
        self.add_hosts(Some(token), wid, None, parsed);
        self.multi.deferred = true;
        Ok(Vec::new())
    }

    /// Whether a task's pvm_addhosts or the resource manager's `SM_ADD` is
    /// in progress (the hostfile's own adds at boot do not count).
    pub(super) fn adding_hosts(&self) -> bool {
        self.multi
            .groups
            .values()
            .any(|g| g.token.is_some() || g.rm.is_some())
    }

    /// Master: the hosts named in the resource manager's `SM_ADD`; the
    /// answer goes to `ack` (rm.rs `rm_add_done`).
    pub(super) fn add_hosts_for_rm(&mut self, ack: AddAck, names: &[String]) {
        let parsed = names
            .iter()
            .map(|n| match hostfile::parse_line(n) {
                Ok(Some(e)) => Ok(hostfile::HostEntry {
                    opts: e.opts.merged_over(&self.multi.known.defaults),
                    ..e
                }
                .expand(|v| std::env::var(v).ok())),
                _ => Err(Error::BadParam),
            })
            .collect();
        self.add_hosts(None, 0, Some(ack), parsed);
    }

    fn add_hosts(
        &mut self,
        token: Option<Token>,
        wid: i32,
        rm: Option<AddAck>,
        hosts: Vec<Result<hostfile::HostEntry, Error>>,
    ) {
        let gid = self.multi.id();
        self.multi.groups.insert(
            gid,
            AddGroup {
                token,
                wid,
                rm,
                results: vec![None; hosts.len()],
            },
        );
        let mut taken: Vec<String> = Vec::new();
        for (slot, h) in hosts.into_iter().enumerate() {
            let res = match h {
                Err(e) => Err(e),
                Ok(e) => {
                    let key = e.name.to_ascii_lowercase();
                    if taken.contains(&key) {
                        Err(Error::DupHost)
                    } else {
                        taken.push(key);
                        self.start_host(gid, slot, e)
                    }
                }
            };
            if let Err(e) = res {
                self.group_result(gid, slot, Err(e));
            }
        }
        self.hoster_flush();
    }

    /// Begins starting host `e` for slot `slot` of group `gid`.
    fn start_host(&mut self, gid: u64, slot: usize, e: hostfile::HostEntry) -> Result<(), Error> {
        let name = e.name.clone();
        if self.is_local_name(&name)
            || self.multi.table.by_name(&name).is_some()
            || self
                .multi
                .starts
                .values()
                .any(|s| s.name.eq_ignore_ascii_case(&name))
        {
            return Err(Error::DupHost);
        }
        let reach = e.opts.ip.clone().unwrap_or_else(|| name.clone());
        let hn = HostName::parse(&reach).map_err(|_| Error::BadParam)?;
        let ips: Vec<SocketAddr> = match addr::resolve(&hn, 0) {
            Ok(v) => v,
            Err(err) => {
                dlog!(self.log, Info, "add {name}: {err}");
                return Err(Error::NoHost);
            }
        };
        let dup = self.multi.table.hosts.iter().any(|h| {
            h.addrs.iter().any(|a| {
                ips.iter()
                    .any(|i| i.ip().to_canonical() == a.ip().to_canonical())
            })
        });
        if dup {
            return Err(Error::DupHost);
        }
        let reserved: Vec<i32> = self.multi.starts.values().map(|s| s.index).collect();
        let index = self
            .multi
            .table
            .alloc_index(&reserved)
            .ok_or(Error::OutOfRes)?;
        let args = SlaveArgs::for_host(
            index,
            self.dtid,
            &name,
            self.opts.debug_mask,
            self.opts.pvm_root.as_ref(),
            self.opts.vmid.as_deref(),
            &e.opts,
        );
        // No dx=: the remote's $PVM_DPATH or $PVM_ROOT/lib/pvmd, else ours.
        let cmd = match &e.opts.dx {
            Some(dx) => startup::remote_command(dx, &args),
            None => startup::remote_command_default_dx(&self.multi.dx, &args),
        };
        let id = self.multi.id();
        let mut st = Start {
            group: gid,
            slot,
            index,
            name: name.clone(),
            ips,
            child: None,
            pipe: None,
            partial: Vec::new(),
            deadline: Instant::now() + Duration::from_secs(startup::START_TIMEOUT_SECS),
            manual: None,
            candidates: VecDeque::new(),
            link: None,
            reply: None,
            shell: None,
        };
        let dialog = self.opts.dialog != super::Dialog::Off;
        if e.opts.manual && dialog {
            // man pvmd3 MANUAL STARTUP, on the master's terminal. The slave
            // reads the machine's secret first, so the command carries it.
            let line = format!(
                "echo {} | {}",
                self.multi.secret.to_hex(),
                cmd.strip_prefix("exec ").unwrap_or(&cmd)
            );
            st.deadline = Instant::now() + MANUAL_TIMEOUT;
            self.multi.starts.insert(id, st);
            self.dialog_ask(
                id,
                super::dialog::Ask::Manual {
                    host: name,
                    cmd: line,
                },
            );
            return Ok(());
        }
        if e.opts.manual {
            let secret_file = self.opts.files.dir.join("pvmd.secret");
            let reply_file = self.opts.files.dir.join(format!("reply.{name}"));
            let _ = std::fs::remove_file(&reply_file);
            if let Err(err) =
                crate::os::write_private(&secret_file, &format!("{}\n", self.multi.secret.to_hex()))
            {
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't write {}: {err}",
                    secret_file.display()
                );
                return Err(Error::CantStart);
            }
            dlog!(
                self.log,
                Info,
                "manual start of {name}: on {name} run `{cmd}` with the line of {} on its standard input, then write the line it prints to {} (waiting {} s)",
                secret_file.display(),
                reply_file.display(),
                MANUAL_TIMEOUT.as_secs()
            );
            st.manual = Some(reply_file);
            st.deadline = Instant::now() + MANUAL_TIMEOUT;
            self.multi.starts.insert(id, st);
            return Ok(());
        }
        // A registered hoster starts the slave instead (misc.rs).
        let job = super::misc::HostJob {
            tid: tid::host_tid(index),
            options: if e.opts.so_pw { "pw" } else { "" }.to_string(),
            login: match &e.opts.lo {
                Some(lo) => format!("{lo}@{reach}"),
                None => reach.clone(),
            },
            command: cmd.clone(),
        };
        if self.hoster_take(id, job) {
            self.multi.starts.insert(id, st);
            return Ok(());
        }
        st.shell = Some(Shell {
            reach: reach.clone(),
            lo: e.opts.lo.clone(),
            cmd,
        });
        if e.opts.so_pw && dialog {
            let login = e.opts.lo.clone().unwrap_or_else(login_name);
            st.deadline = Instant::now() + MANUAL_TIMEOUT;
            self.multi.starts.insert(id, st);
            self.dialog_ask(
                id,
                super::dialog::Ask::Password {
                    prompt: format!("Password ({reach}:{login}): "),
                },
            );
            return Ok(());
        }
        if e.opts.so_pw {
            dlog!(
                self.log,
                Warn,
                "add {name}: so=pw, but the master has no terminal to ask on (start it as `pvmd3 hostfile` or `pvmd3 -f hostfile` on a terminal); starting without a password"
            );
        }
        self.multi.starts.insert(id, st);
        if let Err(err) = self.spawn_shell(id, None) {
            self.multi.starts.remove(&id);
            return Err(err);
        }
        Ok(())
    }

    /// Runs the remote shell of start `id` (its `shell`), with `password`
    /// for ssh's askpass when the user typed one (so=pw).
    pub(super) fn spawn_shell(&mut self, id: u64, password: Option<String>) -> Result<(), Error> {
        let Some(sh) = self
            .multi
            .starts
            .get_mut(&id)
            .and_then(|st| st.shell.take())
        else {
            return Err(Error::CantStart);
        };
        let name = self.multi.starts[&id].name.clone();
        let Shell { reach, lo, cmd } = sh;
        let mut c = Command::new(&self.opts.rsh);
        if let Some(lo) = &lo {
            c.arg("-l").arg(lo);
        }
        c.arg(&reach).arg(&cmd);
        if let Some(pw) = password {
            let askpass = self.opts.files.dir.join("askpass");
            let script = "#!/bin/sh\nprintf '%s\\n' \"$PVM6_PASSWORD\"\n";
            if let Err(err) = crate::os::write_private(&askpass, script).and_then(|()| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700))
            }) {
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't write {}: {err}",
                    askpass.display()
                );
                return Err(Error::CantStart);
            }
            // ssh asks the helper, which prints the password from its
            // environment (readable by this user only), never a file.
            c.env("SSH_ASKPASS", &askpass)
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env("PVM6_PASSWORD", pw);
        }
        let log_err = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.opts.files.log)
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null());
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_err);
        dlog!(
            self.log,
            Debug,
            "add {name}: {} {reach} {cmd}",
            self.opts.rsh
        );
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(err) => {
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't run {}: {err}",
                    self.opts.rsh
                );
                return Err(Error::CantStart);
            }
        };
        // The secret travels on the remote shell's stdin, never on a command line.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(format!("{}\n", self.multi.secret.to_hex()).as_bytes());
        }
        if let Some(out) = child.stdout.take() {
            let mut rx = Receiver::from(out);
            let tok = self.token();
            if rx.set_nonblocking(true).is_ok()
                && self
                    .poll
                    .registry()
                    .register(&mut rx, tok, Interest::READABLE)
                    .is_ok()
            {
                if let Some(st) = self.multi.starts.get_mut(&id) {
                    st.pipe = Some(tok);
                }
                self.multi.pipe_start.insert(tok, id);
                self.multi.start_pipes.insert(tok, rx);
            }
        }
        if let Some(st) = self.multi.starts.get_mut(&id) {
            st.child = Some(child);
        }
        Ok(())
    }

    /// The remote shell's stdout of a start is readable.
    pub(super) fn start_pipe_event(&mut self, tok: Token) {
        let Some(&id) = self.multi.pipe_start.get(&tok) else {
            return;
        };
        let mut eof = false;
        let mut data = Vec::new();
        if let Some(rx) = self.multi.start_pipes.get_mut(&tok) {
            let mut buf = [0u8; 1024];
            loop {
                match rx.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => data.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
        }
        let line = {
            let Some(st) = self.multi.starts.get_mut(&id) else {
                self.close_start_pipe(tok);
                return;
            };
            st.partial.extend_from_slice(&data);
            if st.reply.is_some() {
                None
            } else {
                st.partial.iter().position(|&b| b == b'\n').map(|i| {
                    let l = String::from_utf8_lossy(&st.partial[..i]).trim().to_string();
                    st.partial.drain(..=i);
                    l
                })
            }
        };
        if let Some(l) = line {
            self.start_line(id, &l);
        }
        if eof {
            self.close_start_pipe(tok);
            let no_reply = self
                .multi
                .starts
                .get(&id)
                .is_some_and(|s| s.reply.is_none());
            if no_reply {
                let name = self.multi.starts[&id].name.clone();
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: the remote shell ended without the slave's reply line"
                );
                self.start_done(id, Err(Error::CantStart));
            }
        }
    }

    fn close_start_pipe(&mut self, tok: Token) {
        self.multi.pipe_start.remove(&tok);
        if let Some(mut rx) = self.multi.start_pipes.remove(&tok) {
            let _ = self.poll.registry().deregister(&mut rx);
        }
    }

    /// The slave's reply line arrived: connect to it.
    pub(super) fn start_line(&mut self, id: u64, line: &str) {
        let Some(st) = self.multi.starts.get_mut(&id) else {
            return;
        };
        let name = st.name.clone();
        match startup::parse_reply(line) {
            Ok(reply) => {
                st.candidates = order_addrs(
                    &st.ips
                        .iter()
                        .map(|a| with_port(*a, reply.port))
                        .collect::<Vec<_>>(),
                );
                st.reply = Some(reply);
                dlog!(self.log, Debug, "add {name}: slave says \"{line}\"");
                self.start_connect(id);
            }
            Err(e) => {
                dlog!(self.log, Warn, "add {name}: {e}");
                self.start_done(id, Err(Error::CantStart));
            }
        }
    }

    /// Connects to the next candidate address of a start.
    fn start_connect(&mut self, id: u64) {
        loop {
            let Some(st) = self.multi.starts.get_mut(&id) else {
                return;
            };
            let Some(a) = st.candidates.pop_front() else {
                let name = st.name.clone();
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: can't connect to its daemon at any address"
                );
                self.start_done(id, Err(Error::CantStart));
                return;
            };
            let index = st.index;
            let deadline = st.deadline;
            match self.connect_link(a, tid::host_tid(index), deadline) {
                Ok(tok) => {
                    self.multi.link_start.insert(tok, id);
                    if let Some(st) = self.multi.starts.get_mut(&id) {
                        st.link = Some(tok);
                    }
                    return;
                }
                Err(e) => dlog!(self.log, Info, "connect to {}: {e}", canon(&a)),
            }
        }
    }

    /// The end of a start: the host's tid or an error, into its group.
    pub(super) fn start_done(&mut self, id: u64, res: Result<i32, Error>) {
        let Some(mut st) = self.multi.starts.remove(&id) else {
            return;
        };
        if let Some(tok) = st.pipe.take() {
            self.close_start_pipe(tok);
        }
        if let Some(mut ch) = st.child.take() {
            if res.is_err() {
                let _ = ch.kill();
            }
            self.multi.reap.push(ch);
        }
        if res.is_err() {
            if let Some(tok) = st.link.take() {
                self.multi.link_start.remove(&tok);
                self.drop_link(tok);
            }
        }
        if let Some(f) = st.manual.take() {
            let _ = std::fs::remove_file(f);
        }
        self.group_result(st.group, st.slot, res);
    }

    fn group_result(&mut self, gid: u64, slot: usize, res: Result<i32, Error>) {
        let Some(g) = self.multi.groups.get_mut(&gid) else {
            return;
        };
        if let Some(s) = g.results.get_mut(slot) {
            *s = Some(res.unwrap_or_else(|e| e.code()));
        }
        if g.results.iter().any(Option::is_none) {
            return;
        }
        let Some(g) = self.multi.groups.remove(&gid) else {
            return;
        };
        let codes: Vec<i32> = g.results.into_iter().map(|r| r.unwrap_or(0)).collect();
        let ok = codes.iter().filter(|&&c| c > 0).count();
        if let Some(ack) = g.rm {
            self.rm_add_done(ack, &codes);
            return;
        }
        match g.token {
            Some(tok) => {
                let mut w = Writer::new();
                w.int(ok as i32).int(codes.len() as i32);
                for c in &codes {
                    w.int(*c);
                }
                self.reply(tok, Req::AddHosts as i32, g.wid, Ok(w.finish()));
            }
            None => {
                dlog!(
                    self.log,
                    Info,
                    "hostfile: {ok} of {} host(s) added; {} host(s) in the machine",
                    codes.len(),
                    self.multi.table.hosts.len()
                );
                self.dialogs_release();
                self.open_unix();
            }
        }
    }

    /// A start's link is up: the host joins the machine.
    fn start_linked(&mut self, id: u64, tok: Token) {
        let Some(st) = self.multi.starts.get(&id) else {
            return;
        };
        let Some(reply) = st.reply.clone() else {
            return;
        };
        let Some(link) = self.multi.links.get(&tok) else {
            return;
        };
        let mut addrs = vec![with_port(link.peer_addr, reply.port)];
        for ip in &st.ips {
            let a = with_port(*ip, reply.port);
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        let entry = HostEntry {
            index: st.index,
            name: st.name.clone(),
            arch: reply.arch.clone(),
            speed: reply.speed,
            dsig: reply.dsig,
            addrs,
        };
        let host = entry.host();
        let dtid = entry.dtid();
        dlog!(
            self.log,
            Info,
            "host {} ({}) added as {} at {}",
            entry.name,
            reply.arch,
            tid::fmt(dtid),
            canon(&link.peer_addr)
        );
        self.multi.link_start.remove(&tok);
        self.multi.by_host.insert(host, tok);
        self.multi.table.insert(entry);
        // The new slave learns its place first, then everyone the new table.
        let mut w = Writer::new();
        w.int(tid::host_index(host));
        self.multi.table.encode(&mut w);
        let place = ctl_frame(self.dtid, dtid, Ctl::Place, w.finish());
        self.send_link(tok, place.to_bytes());
        self.push_table(Some(host));
        self.rm_tell_new_host(host);
        self.notify_host_add(&[dtid]);
        self.start_done(id, Ok(host));
    }

    /// Master: sends the table to every slave (but `skip`).
    fn push_table(&mut self, skip: Option<i32>) {
        let mut w = Writer::new();
        self.multi.table.encode(&mut w);
        let body = w.finish();
        let hosts: Vec<i32> = self
            .multi
            .table
            .hosts
            .iter()
            .map(|h| h.host())
            .filter(|&h| h != self.host && Some(h) != skip)
            .collect();
        for h in hosts {
            let f = ctl_frame(self.dtid, tid::daemon_tid(h), Ctl::Table, body.clone());
            self.send_to_host(h, f.to_bytes());
        }
    }

    /// DelHosts (master): stops the named slaves.
    pub(super) fn req_del_hosts(&mut self, r: &mut Reader<'_>) -> Result<Vec<u8>, Error> {
        if !self.multi.is_master {
            return Err(Error::NotImpl);
        }
        let names = r.strs()?;
        if names.is_empty() {
            return Err(Error::BadParam);
        }
        let mut codes = Vec::new();
        for n in &names {
            let code = match self.multi.table.by_name(n).map(|e| e.host()) {
                None if self.is_local_name(n) => Error::BadParam.code(),
                None => Error::NoHost.code(),
                Some(h) if h == self.host => Error::BadParam.code(),
                Some(h) => {
                    let f = ctl_frame(self.dtid, tid::daemon_tid(h), Ctl::Halt, Vec::new());
                    self.send_to_host(h, f.to_bytes());
                    dlog!(self.log, Info, "host {n} deleted");
                    self.remove_host(h, "deleted");
                    0
                }
            };
            codes.push(code);
        }
        let ok = codes.iter().filter(|&&c| c == 0).count();
        let mut w = Writer::new();
        w.int(ok as i32).int(codes.len() as i32);
        for c in codes {
            w.int(c);
        }
        Ok(w.finish())
    }

    // ---- links --------------------------------------------------------------

    /// Opens an outgoing link to `addr` expecting host `host`.
    fn connect_link(
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
        let mut link = Link::outgoing(stream, addr, &self.multi.secret, self.dtid, deadline)
            .map_err(|e| io::Error::other(e.to_string()))?;
        link.peer = tid::daemon_tid(host);
        self.multi.links.insert(tok, link);
        Ok(tok)
    }

    /// Accepts pending TCP connections (each starts its handshake).
    pub(super) fn accept_links(&mut self) {
        loop {
            match self.tcp.accept() {
                Ok((mut stream, peer)) => {
                    let tok = self.token();
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        tok,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        dlog!(self.log, Error, "can't watch TCP connection: {e}");
                        continue;
                    }
                    let link = Link::incoming(
                        stream,
                        peer,
                        &self.multi.secret,
                        Instant::now() + LINK_SETUP,
                    );
                    dlog!(self.log, Debug, "TCP connection from {}", canon(&peer));
                    self.multi.links.insert(tok, link);
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
        let mut events = Vec::new();
        if let Some(link) = self.multi.links.get_mut(&tok) {
            if writable {
                events.push(link.writable());
            }
            if readable {
                events.push(link.readable(&mut self.buf));
            }
        }
        for ev in events {
            match ev {
                Event::Nothing => {}
                Event::Failed(why) => {
                    self.link_failed(tok, &why);
                    return;
                }
                Event::Authenticated { claimed, role } => {
                    if !self.link_authenticated(tok, claimed, role) {
                        return;
                    }
                }
            }
        }
        self.link_frames(tok);
    }

    /// Decodes and handles the frames a link has received.
    fn link_frames(&mut self, tok: Token) {
        loop {
            let next = match self.multi.links.get_mut(&tok) {
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
    fn link_authenticated(&mut self, tok: Token, claimed: i32, role: Role) -> bool {
        let Some(link) = self.multi.links.get(&tok) else {
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
        let known = if self.multi.placed {
            tid::is_daemon(claimed) && host != self.host && self.multi.table.contains(host)
        } else {
            claimed == self.multi.master
        };
        if !known {
            return refuse(self, &format!("unknown daemon {}", tid::fmt(claimed)));
        }
        if let Some(&other) = self.multi.by_host.get(&host) {
            let other_up = self.multi.links.get(&other).is_some_and(|l| l.is_up());
            if other_up || tid::host_index(self.host) < tid::host_index(host) {
                // One link per pair: ours stays (it is up, or we have the lower index).
                return refuse(self, "a link to that daemon exists");
            }
            // Both connected at once and the peer has the lower index: its link wins;
            // what we held for ours moves over.
            let held: Vec<Vec<u8>> = self
                .multi
                .links
                .get_mut(&other)
                .map(|l| l.held.drain(..).collect())
                .unwrap_or_default();
            self.drop_link(other);
            if let Some(l) = self.multi.links.get_mut(&tok) {
                l.held.extend(held);
            }
        }
        self.multi.by_host.insert(host, tok);
        let ok = ctl_frame(self.dtid, claimed, Ctl::LinkOk, Vec::new());
        let mut failed = false;
        if let Some(l) = self.multi.links.get_mut(&tok) {
            l.peer = claimed;
            let mut held: VecDeque<Vec<u8>> = std::mem::take(&mut l.held);
            held.push_front(ok.to_bytes());
            l.held = held;
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
    fn flush_waiting(&mut self, host: i32) {
        let Some(w) = self.multi.waiting.remove(&host) else {
            return;
        };
        for f in w.frames {
            self.send_to_host(host, f);
        }
    }

    /// Sends encoded frame bytes on link `tok`.
    fn send_link(&mut self, tok: Token, bytes: Vec<u8>) {
        let failed = match self.multi.links.get_mut(&tok) {
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
        let failed = match self.multi.links.get_mut(&tok) {
            Some(l) => l.send_frame(frame).is_err(),
            None => false,
        };
        if failed {
            self.link_failed(tok, "write failed");
        }
    }

    /// Sends a frame to the daemon of `host`, over its link (opened lazily).
    pub(super) fn send_to_host(&mut self, host: i32, bytes: Vec<u8>) {
        if let Some(&tok) = self.multi.by_host.get(&host) {
            self.send_link(tok, bytes);
            return;
        }
        if let Some(w) = self.multi.waiting.get_mut(&host) {
            w.frames.push_back(bytes);
            return;
        }
        let Some(entry) = self.multi.table.by_tid(host).cloned() else {
            dlog!(
                self.log,
                Debug,
                "frame for host {} not in the machine dropped",
                tid::fmt(host)
            );
            return;
        };
        let master = tid::host_of(self.multi.master);
        if !self.multi.is_master && host != master && !shares_family(&entry.addrs) {
            // No common address family with that host: the master relays.
            self.send_to_host(master, bytes);
            return;
        }
        let now = Instant::now();
        let mut frames = VecDeque::new();
        frames.push_back(bytes);
        self.multi.waiting.insert(
            host,
            Waiting {
                frames,
                deadline: now + WAIT_FOR_LINK,
                next_try: now,
            },
        );
        self.try_link(&entry);
    }

    /// Tries to open a link to `entry` (frames wait in `waiting`).
    fn try_link(&mut self, entry: &HostEntry) {
        let host = entry.host();
        if self.multi.by_host.contains_key(&host) || !self.multi.placed {
            return;
        }
        for a in order_addrs(&entry.addrs) {
            match self.connect_link(a, host, Instant::now() + LINK_SETUP) {
                Ok(tok) => {
                    self.multi.by_host.insert(host, tok);
                    if let Some(w) = self.multi.waiting.remove(&host) {
                        if let Some(l) = self.multi.links.get_mut(&tok) {
                            l.held.extend(w.frames);
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
        if let Some(w) = self.multi.waiting.get_mut(&host) {
            w.next_try = Instant::now() + RETRY;
        }
    }

    /// Closes a link without further consequences.
    fn drop_link(&mut self, tok: Token) {
        if let Some(mut l) = self.multi.links.remove(&tok) {
            let _ = self.poll.registry().deregister(&mut l.stream);
            let host = tid::host_of(l.peer);
            if self.multi.by_host.get(&host) == Some(&tok) {
                self.multi.by_host.remove(&host);
            }
        }
    }

    /// A link failed: what that means depends on whose it was.
    fn link_failed(&mut self, tok: Token, why: &str) {
        let Some(link) = self.multi.links.get(&tok) else {
            return;
        };
        if link.feed {
            self.feed_closed(tok, why, why.starts_with(MALFORMED));
            return;
        }
        let peer = link.peer;
        let addr_s = canon(&link.peer_addr);
        let authenticated =
            link.is_up() || matches!(link.phase, crate::daemon::link::Phase::AwaitOk);
        let outgoing = link.outgoing;
        let held: Vec<Vec<u8>> = self
            .multi
            .links
            .get_mut(&tok)
            .map(|l| l.held.drain(..).collect())
            .unwrap_or_default();
        let was_current = self.multi.by_host.get(&tid::host_of(peer)) == Some(&tok);
        self.drop_link(tok);
        if let Some(id) = self.multi.link_start.remove(&tok) {
            dlog!(self.log, Info, "link to new host at {addr_s}: {why}");
            if let Some(st) = self.multi.starts.get_mut(&id) {
                st.link = None;
            }
            self.start_connect(id);
            return;
        }
        if !authenticated && !outgoing {
            dlog!(self.log, Warn, "refused connection from {addr_s}: {why}");
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
        if !self.multi.is_master && peer == self.multi.master {
            dlog!(
                self.log,
                Warn,
                "lost the master {} ({why}); killing tasks, exiting",
                tid::fmt(peer)
            );
            self.halt_now("loss of the master");
            return;
        }
        if self.multi.is_master && self.multi.table.contains(host) {
            dlog!(
                self.log,
                Warn,
                "lost host {} at {addr_s}: {why}",
                tid::fmt(peer)
            );
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
        if outgoing && !held.is_empty() && self.multi.table.contains(host) {
            let now = Instant::now();
            let w = self.multi.waiting.entry(host).or_insert(Waiting {
                frames: VecDeque::new(),
                deadline: now + WAIT_FOR_LINK,
                next_try: now + RETRY,
            });
            w.frames.extend(held);
        }
    }

    /// A frame arrived on an authenticated link.
    fn link_frame(&mut self, tok: Token, f: Frame) {
        let Some(link) = self.multi.links.get(&tok) else {
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
        if self.multi.is_master
            && matches!(h.kind, Kind::DReq | Kind::DReply | Kind::Ctl)
            && to != 0
            && to != self.host
        {
            if self.multi.table.contains(to) {
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
            Kind::Msg => self.link_msg(f),
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
        if self.multi.is_master {
            for l in &lines {
                self.log.task_line(t, l);
            }
            return;
        }
        let body = Writer::new().int(t).bytes(&lines.join(&b'\n')).finish();
        let master = self.multi.master;
        let f = ctl_frame(self.dtid, master, Ctl::Output, body);
        self.send_to_host(tid::host_of(master), f.to_bytes());
    }

    /// Whether daemon `peer` may send a message from `src`: a task or the
    /// daemon of its own host, the daemons' notice sender t80000000, or
    /// anything when `peer` is the master (it relays between hosts). A
    /// slave cannot speak for another host's tasks.
    fn plausible_src(&self, peer: i32, src: i32) -> bool {
        peer == self.multi.master
            || tid::host_of(src) == tid::host_of(peer)
            || src == tid::daemon_tid(0)
    }

    fn on_ctl(&mut self, tok: Token, peer: i32, f: Frame) {
        let mut r = Reader::new(&f.body);
        // The daemon that sent it (the link's peer, unless the master relayed it).
        let sender = if tid::is_daemon(f.header.src) {
            f.header.src
        } else {
            peer
        };
        match Ctl::from_i32(f.header.tag) {
            Some(Ctl::Heartbeat) => {}
            Some(Ctl::LinkOk) => {
                let failed = self
                    .multi
                    .links
                    .get_mut(&tok)
                    .is_some_and(|l| l.set_up().is_err());
                if failed {
                    self.link_failed(tok, "write failed");
                    return;
                }
                if let Some(&id) = self.multi.link_start.get(&tok) {
                    self.start_linked(id, tok);
                } else {
                    let host = tid::host_of(peer);
                    dlog!(self.log, Debug, "link to {} up", tid::fmt(peer));
                    self.flush_waiting(host);
                }
            }
            Some(Ctl::Place) if peer == self.multi.master && !self.multi.is_master => {
                let index = r.int().unwrap_or(0);
                match HostTable::decode_for(&mut r, index, &addr::local_interfaces()) {
                    Ok(t) if index == tid::host_index(self.host) => {
                        self.multi.by_host.insert(tid::host_of(peer), tok);
                        self.multi.table = t;
                        self.multi.placed = true;
                        self.multi.slave_deadline = None;
                        dlog!(
                            self.log,
                            Info,
                            "joined the machine of {} as host {} ({} hosts)",
                            tid::fmt(peer),
                            index,
                            self.multi.table.hosts.len()
                        );
                    }
                    _ => {
                        dlog!(self.log, Error, "bad placement from the master; exiting");
                        self.halt_now("bad placement");
                    }
                }
            }
            Some(Ctl::Table) if peer == self.multi.master && !self.multi.is_master => {
                let me = tid::host_index(self.host);
                if let Ok(t) = HostTable::decode_for(&mut r, me, &addr::local_interfaces()) {
                    self.apply_table(t);
                }
            }
            Some(Ctl::Halt) if peer == self.multi.master && !self.multi.is_master => {
                dlog!(self.log, Info, "halted by the master");
                self.halt_now("the master");
            }
            Some(Ctl::Watch) => {
                if let Ok(t) = r.int() {
                    if self.tasks.get(t).is_some() {
                        self.multi
                            .watchers
                            .entry(t)
                            .or_default()
                            .insert(tid::host_of(sender));
                    } else {
                        let g = ctl_frame(
                            self.dtid,
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
            Some(Ctl::Output) if self.multi.is_master => {
                if let (Ok(t), Ok(data)) = (r.int(), r.bytes()) {
                    for line in data.split(|&b| b == b'\n') {
                        self.log.task_line(t, line);
                    }
                }
            }
            Some(Ctl::Rm) if peer == self.multi.master || self.multi.is_master => {
                if let Ok(v) = r.int() {
                    self.rm_ctl(v);
                }
            }
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

    /// Slave: the master's new table; hosts gone are removed here too.
    fn apply_table(&mut self, t: HostTable) {
        if t.version <= self.multi.table.version && self.multi.placed {
            return;
        }
        let old: Vec<i32> = self.multi.table.hosts.iter().map(|h| h.host()).collect();
        let new: Vec<i32> = t.hosts.iter().map(|h| h.host()).collect();
        self.multi.table = t;
        for h in old.iter().filter(|h| !new.contains(h)) {
            self.host_gone(*h);
        }
        let added: Vec<i32> = new
            .iter()
            .filter(|h| !old.contains(h))
            .map(|h| tid::daemon_tid(*h))
            .collect();
        if !added.is_empty() {
            self.notify_host_add(&added);
        }
    }

    /// Master: host `host` leaves the machine (failed or deleted).
    pub(super) fn remove_host(&mut self, host: i32, why: &str) {
        if self.multi.table.remove(host).is_none() {
            return;
        }
        dlog!(self.log, Info, "host {} removed: {why}", tid::fmt(host));
        self.push_table(None);
        self.host_gone(host);
    }

    /// Every daemon: host `host` is no longer in the machine.
    fn host_gone(&mut self, host: i32) {
        self.rm_host_gone(host);
        self.feeds_host_gone(host);
        if let Some(tok) = self.multi.by_host.remove(&host) {
            self.drop_link(tok);
        }
        if self.multi.is_master {
            // Its tasks leave their groups (a barrier waiting on them fails)
            // and their mailbox entries go.
            self.groups_host_gone(host);
            self.mbox.host_gone(host);
        }
        if let Some(w) = self.multi.waiting.remove(&host) {
            dlog!(
                self.log,
                Info,
                "{} frame(s) for {} dropped",
                w.frames.len(),
                tid::fmt(host)
            );
        }
        // Requests waiting for that daemon fail.
        let dead: Vec<i32> = self
            .multi
            .pending
            .iter()
            .filter(|(_, p)| p.host == host)
            .map(|(k, _)| *k)
            .collect();
        for dwid in dead {
            let code = match self.multi.pending.get(&dwid).map(|p| &p.kind) {
                Some(PendingKind::Forward { tag, .. })
                    if [Req::Pstat as i32, Req::Kill as i32, Req::SendSig as i32].contains(tag) =>
                {
                    Error::NoTask
                }
                _ => Error::NoHost,
            };
            let body = Writer::new().int(code.code()).finish();
            self.dreply_arrived(dwid, body);
        }
        self.multi.remote.retain(|_, r| r.host != host);
        for w in self.multi.watchers.values_mut() {
            w.remove(&host);
        }
        let orphans: Vec<i32> = self
            .multi
            .sib_pending
            .iter()
            .filter(|(_, o)| **o == host)
            .map(|(t, _)| *t)
            .collect();
        for t in orphans {
            self.multi.sib_pending.remove(&t);
            self.release_connect(t);
        }
        let dtid = tid::daemon_tid(host);
        self.notify_host_delete(dtid);
        for t in self.notify.exit_targets_on(host) {
            let notes = self.notify.task_exited(t);
            self.deliver_all(notes);
        }
    }

    // ---- heartbeat and deadlines -------------------------------------------

    /// Heartbeats, dead links, start deadlines, lazy-link retries.
    pub(super) fn multi_tick(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.multi.last_tick) < TICK / 2 {
            return;
        }
        self.multi.last_tick = now;
        let mut beats = Vec::new();
        let mut dead = Vec::new();
        for (tok, l) in &self.multi.links {
            if l.feed {
                // Only the task writes on its feed; it ends with the task.
                continue;
            }
            if l.is_up() {
                if now.duration_since(l.last_rx) > DEAD_AFTER {
                    dead.push((*tok, "no heartbeat for 3 s".to_string()));
                } else if now.duration_since(l.last_tx) >= HEARTBEAT && l.idle_out() {
                    beats.push((*tok, l.peer));
                }
            } else if now > l.deadline {
                dead.push((*tok, "handshake timed out".to_string()));
            }
        }
        for (tok, peer) in beats {
            let f = ctl_frame(self.dtid, peer, Ctl::Heartbeat, Vec::new());
            self.send_link(tok, f.to_bytes());
        }
        for (tok, why) in dead {
            self.link_failed(tok, &why);
        }
        self.feeds_tick(now);
        // Requests another daemon left unanswered too long (its link alive).
        for dwid in overdue(&self.multi.pending, now) {
            let Some(p) = self.multi.pending.get(&dwid) else {
                continue;
            };
            let tag = match p.kind {
                PendingKind::Forward { tag, .. } => tag,
                PendingKind::SpawnPart { .. } => Req::Spawn as i32,
                PendingKind::TasksPart { .. } => Req::Tasks as i32,
            };
            let host = p.host;
            dlog!(
                self.log,
                Warn,
                "request {tag} to {} unanswered for {} s: failed (PvmHostFail)",
                tid::fmt(tid::daemon_tid(host)),
                FORWARD_TIMEOUT.as_secs()
            );
            let body = Writer::new().int(Error::HostFail.code()).finish();
            self.dreply_arrived(dwid, body);
        }
        // Starts past their deadline; manual starts whose reply file appeared.
        let ids: Vec<u64> = self.multi.starts.keys().copied().collect();
        for id in ids {
            let Some(st) = self.multi.starts.get(&id) else {
                continue;
            };
            if now > st.deadline {
                let name = st.name.clone();
                dlog!(self.log, Warn, "add {name}: no answer within the deadline");
                self.start_done(id, Err(Error::CantStart));
                continue;
            }
            if let (Some(f), None) = (st.manual.clone(), st.reply.as_ref()) {
                if let Ok(text) = std::fs::read_to_string(&f) {
                    if let Some(line) = text.lines().next().filter(|_| text.ends_with('\n')) {
                        let line = line.to_string();
                        self.start_line(id, &line);
                    }
                }
            }
        }
        // Lazy links: retry or give up.
        let hosts: Vec<i32> = self.multi.waiting.keys().copied().collect();
        for h in hosts {
            let Some(w) = self.multi.waiting.get(&h) else {
                continue;
            };
            if now > w.deadline {
                let n = w.frames.len();
                self.multi.waiting.remove(&h);
                dlog!(
                    self.log,
                    Warn,
                    "no link to {}: {n} frame(s) dropped",
                    tid::fmt(h)
                );
            } else if now >= w.next_try && !self.multi.by_host.contains_key(&h) {
                if let Some(e) = self.multi.table.by_tid(h).cloned() {
                    self.try_link(&e);
                }
            }
        }
        self.multi
            .reap
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        if let Some(d) = self.multi.slave_deadline {
            if now > d {
                dlog!(self.log, Warn, "the master never connected; exiting");
                self.multi.slave_deadline = None;
                self.halt_now("no master");
            }
        }
    }

    /// Stops this daemon (tasks killed) without a requester.
    fn halt_now(&mut self, who: &str) {
        self.begin_halt(Token(usize::MAX), who);
    }

    /// The host fields of every other host of the machine.
    pub(super) fn other_hosts(&self) -> Vec<i32> {
        self.multi
            .table
            .hosts
            .iter()
            .map(|h| h.host())
            .filter(|&h| h != self.host)
            .collect()
    }

    /// Master halting: every slave is told to stop too.
    pub(super) fn halt_slaves(&mut self) {
        if !self.multi.is_master {
            return;
        }
        for h in self.other_hosts() {
            let f = ctl_frame(self.dtid, tid::daemon_tid(h), Ctl::Halt, Vec::new());
            self.send_to_host(h, f.to_bytes());
        }
        for (tok, st) in self.multi.starts.iter_mut() {
            let _ = tok;
            if let Some(c) = st.child.as_mut() {
                let _ = c.kill();
            }
        }
    }

    /// Writes what links still hold (at exit).
    pub(super) fn flush_links(&mut self) {
        for l in self.multi.links.values_mut() {
            let _ = l.flush();
        }
        for c in self.multi.reap.iter_mut() {
            let _ = c.try_wait();
        }
    }

    // ---- routing ----------------------------------------------------------

    /// Sends a Msg frame to a task of another host; gives the frame back
    /// when `dst` is not another host's.
    pub(super) fn route_remote(&mut self, frame: Frame) -> Option<Frame> {
        let host = tid::host_of(frame.header.dst);
        if host == self.host || host == 0 {
            return Some(frame);
        }
        if !self.multi.table.contains(host) {
            dlog!(
                self.log,
                Info,
                "message tag {} from {} to {} dropped: no such host",
                frame.header.tag,
                tid::fmt(frame.header.src),
                tid::fmt(frame.header.dst)
            );
            return None;
        }
        let frame = self.route_back(frame)?;
        match self.multi.by_host.get(&host) {
            // The usual case, as in send_to_host, but the body is not copied.
            Some(&tok) => self.send_link_frame(tok, frame),
            None => self.send_to_host(host, frame.to_bytes()),
        }
        None
    }

    /// A local task exited: the daemons watching it are told.
    pub(super) fn multi_task_gone(&mut self, t: i32) {
        let mut tell = self.multi.watchers.remove(&t).unwrap_or_default();
        if !self.multi.is_master && self.multi.placed {
            // The master's services (groups, mailbox) forget the task too.
            tell.insert(tid::host_of(self.multi.master));
        }
        {
            let ws = tell;
            for h in ws {
                let g = ctl_frame(
                    self.dtid,
                    tid::daemon_tid(h),
                    Ctl::TaskGone,
                    Writer::new().int(t).finish(),
                );
                self.send_gone(h, g.to_bytes());
            }
        }
        self.multi.sib_pending.remove(&t);
        self.multi.deferred_connect.remove(&t);
    }

    /// After a Notify(TaskExit) registration: remote tids are watched at
    /// their daemons.
    pub(super) fn watch_remote(&mut self, tids: &[i32]) {
        for &t in tids {
            let h = tid::host_of(t);
            if self.other_host(h) {
                let f = ctl_frame(
                    self.dtid,
                    tid::daemon_tid(h),
                    Ctl::Watch,
                    Writer::new().int(t).finish(),
                );
                self.send_to_host(h, f.to_bytes());
            }
        }
    }

    // ---- forwarding ---------------------------------------------------------

    /// The host that must serve request `frame` of a local task, if not this one.
    pub(super) fn forward_host(&self, frame: &Frame) -> Option<i32> {
        let code = frame.header.tag;
        if master_only(code) && !self.multi.is_master {
            return Some(tid::host_of(self.multi.master));
        }
        let mut r = Reader::new(&frame.body);
        let target = match Req::from_i32(code) {
            Some(Req::Kill | Req::SendSig | Req::Pstat | Req::HostSync) => r.int().ok()?,
            Some(Req::Tasks) => r.int().ok().filter(|&w| w != 0)?,
            _ => return None,
        };
        let host = tid::host_of(target);
        self.other_host(host).then_some(host)
    }

    /// Forwards a local task's request to the daemon of `host`.
    pub(super) fn forward(&mut self, token: Token, frame: &Frame, host: i32) {
        let from = self.requester(token).unwrap_or(0);
        let h = frame.header;
        let dwid = self.multi.dwid();
        self.multi.pending.insert(
            dwid,
            Pending {
                host,
                kind: PendingKind::Forward {
                    token,
                    tag: h.tag,
                    wid: h.wid,
                },
                deadline: forward_deadline(h.tag, &frame.body, Instant::now()),
            },
        );
        self.send_dreq(host, from, h.tag, dwid, 0, frame.body.clone());
    }

    fn send_dreq(&mut self, host: i32, from: i32, tag: i32, dwid: i32, enc: i32, body: Vec<u8>) {
        let f = Frame::new(
            Header {
                src: from,
                dst: tid::daemon_tid(host),
                tag,
                wid: dwid,
                enc,
                ..Header::new(Kind::DReq)
            },
            body,
        );
        self.send_to_host(host, f.to_bytes());
    }

    /// A request from a task of another host.
    fn on_dreq(&mut self, peer: i32, f: Frame) {
        let h = f.header;
        let tok = self.token();
        // The requester's host (the link's peer, unless the master relayed it).
        let origin = if tid::host_of(h.src) != 0 {
            tid::host_of(h.src)
        } else {
            tid::host_of(peer)
        };
        self.multi.remote.insert(
            tok,
            RemoteReq {
                host: origin,
                dwid: h.wid,
                tid: h.src,
            },
        );
        let allowed = matches!(
            Req::from_i32(h.tag),
            Some(
                Req::Spawn
                    | Req::Kill
                    | Req::SendSig
                    | Req::Tasks
                    | Req::Pstat
                    | Req::HostSync
                    | Req::Halt
                    | Req::MboxPut
                    | Req::MboxRecv
                    | Req::MboxDel
                    | Req::MboxInfo
                    | Req::NoReset
                    | Req::GetNoResets
                    | Req::AddHosts
                    | Req::DelHosts
            )
        ) || (70..=79).contains(&h.tag);
        if !allowed {
            self.reply(tok, h.tag, h.wid, Err(Error::NotImpl));
            return;
        }
        if h.tag == Req::Spawn as i32 && h.enc == 1 {
            self.multi.sibling_origin = origin;
        }
        let req = Frame::new(
            Header {
                kind: Kind::Req,
                enc: 0,
                ..h
            },
            f.body,
        );
        self.request(tok, req);
        self.multi.sibling_origin = 0;
    }

    /// A reply from another daemon.
    fn on_dreply(&mut self, f: Frame) {
        self.dreply_arrived(f.header.wid, f.body);
    }

    fn dreply_arrived(&mut self, dwid: i32, body: Vec<u8>) {
        let Some(p) = self.multi.pending.remove(&dwid) else {
            return;
        };
        match p.kind {
            PendingKind::Forward { token, tag, wid } => self.reply_raw(token, tag, wid, body),
            PendingKind::SpawnPart { agg, slots } => {
                let mut r = Reader::new(&body);
                let status = r.int().unwrap_or(Error::BadMsg.code());
                let mut vals = Vec::new();
                if status >= 0 && r.int().is_ok() {
                    vals = (0..slots.len())
                        .map(|_| r.int().unwrap_or(Error::BadMsg.code()))
                        .collect();
                }
                if let Some(a) = self.multi.spawn_aggs.get_mut(&agg) {
                    for (i, s) in slots.iter().enumerate() {
                        a.results[*s] = Some(if status < 0 { status } else { vals[i] });
                    }
                }
                self.spawn_agg_check(agg);
            }
            PendingKind::TasksPart { agg } => {
                let mut r = Reader::new(&body);
                if let Some(a) = self.multi.tasks_aggs.get_mut(&agg) {
                    if r.int().unwrap_or(-1) == 0 {
                        if let Ok(n) = r.int() {
                            a.count += n;
                            a.entries.extend_from_slice(&body[8..]);
                        }
                    }
                    a.remaining -= 1;
                }
                self.tasks_agg_check(agg);
            }
        }
    }

    // ---- host-aware requests ------------------------------------------------

    /// Config: the host table.
    pub(super) fn config_body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let hosts = &self.multi.table.hosts;
        let mut archs: Vec<&str> = hosts.iter().map(|h| h.arch.as_str()).collect();
        archs.sort();
        archs.dedup();
        w.int(hosts.len() as i32).int(archs.len() as i32);
        for h in hosts {
            w.int(h.host())
                .str(&h.name)
                .str(&h.arch)
                .int(h.speed)
                .int(h.dsig);
        }
        w.finish()
    }

    /// Mstat: whether `name` is a host of the machine.
    pub(super) fn host_known(&self, name: &str) -> bool {
        self.is_local_name(name) || self.host_by_name(name).is_some()
    }

    /// The host part of the host `name` denotes (name as added, an
    /// address of it, or this host's names).
    fn host_by_name(&self, name: &str) -> Option<i32> {
        if self.is_local_name(name) {
            return Some(self.host);
        }
        if let Some(e) = self.multi.table.by_name(name) {
            return Some(e.host());
        }
        let ip = HostName::parse(name.trim()).ok().and_then(|h| match h {
            HostName::V4(a) => Some(IpAddr::V4(a)),
            HostName::V6 { addr, .. } => Some(IpAddr::V6(addr)),
            HostName::Name(_) => None,
        })?;
        self.multi
            .table
            .hosts
            .iter()
            .find(|e| {
                e.addrs
                    .iter()
                    .any(|a| a.ip().to_canonical() == ip.to_canonical())
            })
            .map(|e| e.host())
    }

    /// Tasks(0) on a machine of several hosts: every daemon's list.
    pub(super) fn tasks_all(&mut self, token: Token, wid: i32) -> Option<Result<Vec<u8>, Error>> {
        let others = self.other_hosts();
        if others.is_empty() || self.is_remote_token(token) {
            return None;
        }
        let local = match self.tasks_body(self.host) {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let agg = self.multi.id();
        let count = Reader::new(&local).int().unwrap_or(0);
        self.multi.tasks_aggs.insert(
            agg,
            TasksAgg {
                token,
                wid,
                count,
                entries: local[4..].to_vec(),
                remaining: others.len(),
            },
        );
        let from = self.requester(token).unwrap_or(0);
        for h in others {
            let dwid = self.multi.dwid();
            self.multi.pending.insert(
                dwid,
                Pending {
                    host: h,
                    kind: PendingKind::TasksPart { agg },
                    deadline: Some(Instant::now() + FORWARD_TIMEOUT),
                },
            );
            let body = Writer::new().int(tid::daemon_tid(h)).finish();
            self.send_dreq(h, from, Req::Tasks as i32, dwid, 0, body);
        }
        self.multi.deferred = true;
        Some(Ok(Vec::new()))
    }

    fn tasks_agg_check(&mut self, agg: u64) {
        if self
            .multi
            .tasks_aggs
            .get(&agg)
            .is_none_or(|a| a.remaining > 0)
        {
            return;
        }
        let Some(a) = self.multi.tasks_aggs.remove(&agg) else {
            return;
        };
        let mut body = Writer::new().int(0).int(a.count).finish();
        body.extend_from_slice(&a.entries);
        self.reply_raw(a.token, Req::Tasks as i32, a.wid, body);
    }

    /// Where the tasks of a Spawn go: per host of the table, a count.
    /// `None` means "all here, as on one host".
    pub(super) fn placement(
        &mut self,
        token: Token,
        req: &SpawnRequest,
    ) -> Option<Vec<(i32, usize)>> {
        if self.is_remote_token(token) || self.multi.table.hosts.len() < 2 {
            return None;
        }
        let (host_or_arch, _) = crate::net::split_where(&req.where_);
        let flags = req.flags;
        let hosts = &self.multi.table.hosts;
        let mut chosen: Vec<usize> = if flags & spawn::TASK_HOST != 0 {
            let h = self.host_by_name(host_or_arch);
            (0..hosts.len())
                .filter(|&i| Some(hosts[i].host()) == h)
                .collect()
        } else if flags & spawn::TASK_ARCH != 0 {
            (0..hosts.len())
                .filter(|&i| hosts[i].arch == host_or_arch)
                .collect()
        } else {
            (0..hosts.len()).collect()
        };
        if flags & (spawn::TASK_HOST | spawn::TASK_ARCH) != 0 && flags & spawn::HOST_COMPL != 0 {
            chosen = (0..hosts.len()).filter(|i| !chosen.contains(i)).collect();
        }
        if chosen.is_empty() {
            return Some(Vec::new());
        }
        let n = req.ntask as usize;
        let counts = self
            .multi
            .table
            .spread(&chosen, n, self.multi.rr % chosen.len());
        self.multi.rr = self.multi.rr.wrapping_add(n);
        Some(
            chosen
                .iter()
                .zip(counts)
                .filter(|(_, c)| *c > 0)
                .map(|(&i, c)| (hosts[i].host(), c))
                .collect(),
        )
    }

    /// A Spawn placed on other hosts (maybe this one too). Returns the
    /// reply now (all on one remote host: forwarded as is) or defers it.
    pub(super) fn spawn_spread(
        &mut self,
        token: Token,
        wid: i32,
        frame_body: &[u8],
        req: &SpawnRequest,
        inherit: Inherit,
        plan: Vec<(i32, usize)>,
    ) -> Result<Vec<u8>, Error> {
        let n = req.ntask as usize;
        if plan.is_empty() {
            let mut w = Writer::new();
            w.int(0);
            for _ in 0..n {
                w.int(Error::NoHost.code());
            }
            return Ok(w.finish());
        }
        let from = self.requester(token).unwrap_or(0);
        if plan.len() == 1 && plan[0].0 != self.host {
            let host = plan[0].0;
            let dwid = self.multi.dwid();
            self.multi.pending.insert(
                dwid,
                Pending {
                    host,
                    kind: PendingKind::Forward {
                        token,
                        tag: Req::Spawn as i32,
                        wid,
                    },
                    deadline: Some(Instant::now() + FORWARD_TIMEOUT),
                },
            );
            self.send_dreq(host, from, Req::Spawn as i32, dwid, 0, frame_body.to_vec());
            self.multi.deferred = true;
            return Ok(Vec::new());
        }
        let agg = self.multi.id();
        self.multi.spawn_aggs.insert(
            agg,
            SpawnAgg {
                token,
                wid,
                results: vec![None; n],
                hosts: BTreeSet::new(),
            },
        );
        let mut slot = 0;
        for (host, count) in plan {
            let slots: Vec<usize> = (slot..slot + count).collect();
            slot += count;
            if host == self.host {
                let sub = SpawnRequest {
                    ntask: count as i32,
                    ..req.clone()
                };
                let res = self.spawn_here(from, &sub, inherit);
                for (i, r) in slots.iter().zip(res) {
                    if let Ok(t) = r {
                        self.multi.sib_pending.insert(t, self.host);
                    }
                    if let Some(a) = self.multi.spawn_aggs.get_mut(&agg) {
                        a.results[*i] = Some(r.unwrap_or_else(|e| e.code()));
                    }
                }
            } else {
                let mut w = Writer::new();
                w.str(&req.file)
                    .int(req.flags)
                    .str(&req.where_)
                    .int(count as i32)
                    .strs(&req.argv)
                    .strs(&req.env);
                inherit.write(&mut w);
                let dwid = self.multi.dwid();
                self.multi.pending.insert(
                    dwid,
                    Pending {
                        host,
                        kind: PendingKind::SpawnPart { agg, slots },
                        deadline: Some(Instant::now() + FORWARD_TIMEOUT),
                    },
                );
                if let Some(a) = self.multi.spawn_aggs.get_mut(&agg) {
                    a.hosts.insert(host);
                }
                // enc 1: the sibling list follows in a Siblings control frame.
                self.send_dreq(host, from, Req::Spawn as i32, dwid, 1, w.finish());
            }
        }
        self.multi.deferred = true;
        self.spawn_agg_check(agg);
        Ok(Vec::new())
    }

    fn spawn_agg_check(&mut self, agg: u64) {
        if self
            .multi
            .spawn_aggs
            .get(&agg)
            .is_none_or(|a| a.results.iter().any(Option::is_none))
        {
            return;
        }
        let Some(a) = self.multi.spawn_aggs.remove(&agg) else {
            return;
        };
        let results: Vec<i32> = a.results.iter().map(|r| r.unwrap_or(0)).collect();
        let started: Vec<i32> = results.iter().copied().filter(|&t| t > 0).collect();
        let mut w = Writer::new();
        w.int(started.len() as i32);
        for t in &started {
            w.int(*t);
        }
        let sib = w.finish();
        for h in a.hosts {
            if self.multi.table.contains(h) {
                let f = ctl_frame(self.dtid, tid::daemon_tid(h), Ctl::Siblings, sib.clone());
                self.send_to_host(h, f.to_bytes());
            }
        }
        self.set_siblings(&started);
        let mut w = Writer::new();
        w.int(started.len() as i32);
        for r in &results {
            w.int(*r);
        }
        self.reply(a.token, Req::Spawn as i32, a.wid, Ok(w.finish()));
    }

    /// The full sibling list of a spread spawn: local tasks of it learn it
    /// and the Connect replies held for it go out.
    fn set_siblings(&mut self, list: &[i32]) {
        for &t in list {
            if tid::host_of(t) != self.host {
                continue;
            }
            if let Some(task) = self.tasks.get_mut(t) {
                task.siblings = list.to_vec();
            }
            self.multi.sib_pending.remove(&t);
            self.release_connect(t);
        }
    }

    /// Marks tasks just spawned for a remote spread spawn as waiting for
    /// their sibling list.
    pub(super) fn mark_sibling_wait(&mut self, started: &[i32]) {
        let origin = self.multi.sibling_origin;
        if origin != 0 {
            for &t in started {
                self.multi.sib_pending.insert(t, origin);
            }
        }
    }

    /// Whether the Connect of the task on `token` must wait for its
    /// sibling list (then it is answered by [`Daemon::release_connect`]).
    pub(super) fn connect_waits(&mut self, token: Token, wid: i32) -> bool {
        let Some(t) = self.conns.get(&token).and_then(|c| c.tid) else {
            return false;
        };
        if self.multi.sib_pending.contains_key(&t) {
            self.multi.deferred_connect.insert(t, (token, wid));
            return true;
        }
        false
    }

    fn release_connect(&mut self, t: i32) {
        let Some((token, wid)) = self.multi.deferred_connect.remove(&t) else {
            return;
        };
        let body = self.connect_body(t);
        self.reply(token, Req::Connect as i32, wid, body);
        self.rings_live(token);
        self.deliver_held(token);
    }

    /// Sends a reply for a remote request served under pseudo token `token`.
    /// Returns false when `token` is not one.
    pub(super) fn reply_remote(&mut self, token: Token, tag: i32, body: Vec<u8>) -> bool {
        let Some(rr) = self.multi.remote.remove(&token) else {
            return false;
        };
        let f = Frame::new(
            Header {
                src: self.dtid,
                dst: rr.tid,
                tag,
                wid: rr.dwid,
                ..Header::new(Kind::DReply)
            },
            body,
        );
        self.send_to_host(rr.host, f.to_bytes());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
