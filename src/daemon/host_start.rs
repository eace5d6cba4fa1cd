//! The host table's growth: starting slaves, adding them to the machine and
//! deleting hosts (pvm_addhosts, pvm_delhosts). (Part of the daemon's
//! multi-host side.) Its state is [`HostStarts`], a field of the daemon
//! whose fields only this module reaches; the links, the loop and the
//! machine's tick ask it through its methods. By launcher, in the files
//! below this one: the remote shell (shell.rs), one Slurm step for many
//! hosts and the machine a batch job's allocation makes (step.rs); the
//! slow calls of both (name lookups, fork/exec) run on worker threads
//! (work.rs) and come back as loop events. The manual and password
//! dialogs are dialog.rs's, the hoster misc.rs's.

mod boot;
mod shell;
mod step;
mod tree;
mod work;

pub(super) use work::WORK;

use super::multi::{
    canon, login_name, own_pvmd3, with_port, AddGroup, Shell, Start, MANUAL_TIMEOUT,
};
use super::rm::AddAck;
use super::server::Daemon;
use crate::daemon::hosts::HostEntry;
use crate::daemon::log::dlog;
use crate::daemon::startup::{self, SlaveArgs};
use crate::hostfile;
use crate::launch::alloc::{Allocation, Launcher};
use crate::net::addr::{self, HostName};
use crate::wire::{ctl_frame, Ctl, Reader, Req, Writer};
use crate::{tid, Error};
use mio::unix::pipe::Receiver;
use mio::Token;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};
use work::{Job, Workers};

/// A host whose name is being looked up (off the loop).
struct Lookup {
    group: u64,
    slot: usize,
    /// The host index it will have.
    index: i32,
    entry: hostfile::HostEntry,
    deadline: Instant,
}

/// Slaves being started and the AddHosts requests they answer. Its fields
/// are private to this file.
pub(super) struct HostStarts {
    /// `&` hosts of the hostfile, and its defaults for later additions.
    known: hostfile::Hostfile,
    /// The daemon executable to run on other hosts, found on first use
    /// (finding it reads this program's file, tens of MB with debug info:
    /// a slave, which never starts hosts itself, must not pay that before
    /// its reply line).
    dx: Option<String>,
    /// The starts in progress, by start id.
    starts: HashMap<u64, Start>,
    /// The remote shells' stdout pipes to their start id.
    pipe_start: HashMap<Token, u64>,
    /// The remote shells' stdout pipes, by token.
    start_pipes: HashMap<Token, Receiver>,
    /// Links of slaves being started (not in the link table's `by_host`
    /// yet), to their start id.
    link_start: HashMap<Token, u64>,
    /// The AddHosts requests (or the hostfile at start) in progress.
    groups: HashMap<u64, AddGroup>,
    /// Children (remote shells) to reap.
    reap: Vec<Child>,
    /// Hosts whose names are being looked up, by start id.
    lookups: HashMap<u64, Lookup>,
    /// The threads doing lookups and spawns (made on first use).
    work: Option<Workers>,
    /// `$PVM6_LAUNCHER` (hosts without `launcher=` follow it).
    launcher: Launcher,
    /// The batch job's allocation this daemon runs in, if any.
    alloc: Option<Allocation>,
    /// Slurm steps, by id (step.rs).
    steps: HashMap<u64, step::Step>,
    /// Their stdout pipes, to their id.
    step_pipes: HashMap<Token, u64>,
    /// Slurm starts waiting for their group's step, by group.
    step_wait: HashMap<u64, Vec<step::Queued>>,
    /// Start id to its step's id.
    start_step: HashMap<u64, u64>,
    /// Speeds the master gives hosts itself (a step's hosts: their CPUs).
    speeds: HashMap<u64, i32>,
    /// When each start began, and when its reply line came (for the log:
    /// where start-up time goes).
    began: HashMap<u64, Instant>,
    replied: HashMap<u64, Instant>,
    /// Tree start-up (`PVM6_TREE`).
    tree: tree::Tree,
    /// A pvm_addhosts sent again to this new master (its old one was lost
    /// while starting them), by group: until when a start that finds a
    /// daemon of ours already there (the old master's, not placed: it exits
    /// after [`startup::START_TIMEOUT_SECS`]) is tried again, and the
    /// hosts by slot.
    again: HashMap<u64, (Instant, Vec<Option<hostfile::HostEntry>>)>,
    /// Starts whose slave said a daemon of ours already runs there.
    occupied: std::collections::HashSet<u64>,
    /// Slots to start again: when, group, slot.
    later: Vec<(Instant, u64, usize)>,
}

impl HostStarts {
    /// The daemon executable to run on other hosts (found on first use).
    pub(super) fn dx(&mut self) -> &str {
        self.dx.get_or_insert_with(own_pvmd3)
    }

    /// The hostfile's `&` hosts and defaults (a master ships them to its
    /// successor, succession.rs).
    pub(super) fn known(&self) -> &hostfile::Hostfile {
        &self.known
    }

    /// Takes the `&` hosts and defaults of the master this daemon replaces.
    pub(super) fn set_known(&mut self, known: hostfile::Hostfile) {
        self.known = known;
    }

    /// The state for a daemon with `opts`.
    pub(super) fn new(opts: &super::DaemonOptions) -> HostStarts {
        let (launcher, alloc) = step::from_env(&opts.env);
        HostStarts {
            lookups: HashMap::new(),
            work: None,
            launcher,
            alloc,
            steps: HashMap::new(),
            step_pipes: HashMap::new(),
            step_wait: HashMap::new(),
            start_step: HashMap::new(),
            speeds: HashMap::new(),
            began: HashMap::new(),
            replied: HashMap::new(),
            tree: tree::Tree::from_env(
                opts.env
                    .iter()
                    .find(|(k, _)| k == "PVM6_TREE")
                    .and_then(|(_, v)| v.to_str()),
            ),
            known: opts.hostfile.clone().unwrap_or_default(),
            dx: None,
            starts: HashMap::new(),
            pipe_start: HashMap::new(),
            start_pipes: HashMap::new(),
            link_start: HashMap::new(),
            groups: HashMap::new(),
            reap: Vec::new(),
            again: HashMap::new(),
            occupied: std::collections::HashSet::new(),
            later: Vec::new(),
        }
    }

    /// Whether the loop needs its tick for starts or shells to reap.
    pub(super) fn active(&self) -> bool {
        !self.starts.is_empty()
            || !self.reap.is_empty()
            || !self.lookups.is_empty()
            || !self.later.is_empty()
    }

    /// Whether start `id` is still in progress.
    pub(super) fn start_waits(&self, id: u64) -> bool {
        self.starts.contains_key(&id)
    }

    /// Whether `t` is a remote shell's stdout pipe.
    pub(super) fn is_start_pipe(&self, t: Token) -> bool {
        self.pipe_start.contains_key(&t)
            || self.step_pipes.contains_key(&t)
            || self.tree.is_relay_pipe(t)
    }

    /// The start whose link is `tok`, if it is one.
    pub(super) fn start_of_link(&self, tok: Token) -> Option<u64> {
        self.link_start.get(&tok).copied()
    }

    /// Link `tok` closed: if it was a start's, that start has no link now;
    /// returns the start.
    pub(super) fn link_closed(&mut self, tok: Token) -> Option<u64> {
        let id = self.link_start.remove(&tok)?;
        if let Some(st) = self.starts.get_mut(&id) {
            st.link = None;
        }
        Some(id)
    }

    /// Kills the remote shells of the starts in progress (halt).
    pub(super) fn kill_shells(&mut self) {
        for st in self.starts.values_mut() {
            if let Some(c) = st.child.as_mut() {
                let _ = c.kill();
            }
        }
        // srun ends its step (and the slaves in it) on SIGTERM.
        for s in self.steps.values() {
            if let Some(c) = &s.child {
                crate::os::kill(c.id() as i32, libc::SIGTERM);
            }
        }
    }

    /// Reaps the remote shells that exited.
    pub(super) fn reap_exited(&mut self) {
        self.reap.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }
}

impl Daemon {
    /// AddHosts (master): host lines in hostfile syntax.
    pub(super) fn req_add_hosts(
        &mut self,
        token: Token,
        wid: i32,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        if !self.multi.is_master() {
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
                    let e = match self.starting.known.find(&e.name) {
                        // A host known from the hostfile (`&`) keeps its options.
                        Some(k) if e.opts.is_empty() => k.clone(),
                        _ => hostfile::HostEntry {
                            opts: e.opts.merged_over(&self.starting.known.defaults),
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
        self.defer_reply();
        Ok(Vec::new())
    }

    /// Whether a task's pvm_addhosts or the resource manager's `SM_ADD` is
    /// in progress (the hostfile's own adds at boot do not count).
    pub(super) fn adding_hosts(&self) -> bool {
        self.starting
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
                    opts: e.opts.merged_over(&self.starting.known.defaults),
                    ..e
                }
                .expand(|v| std::env::var(v).ok())),
                _ => Err(Error::BadParam),
            })
            .collect();
        self.add_hosts(None, 0, Some(ack), parsed);
    }

    pub(super) fn add_hosts(
        &mut self,
        token: Option<Token>,
        wid: i32,
        rm: Option<AddAck>,
        hosts: Vec<Result<hostfile::HostEntry, Error>>,
    ) {
        let gid = self.multi.id();
        self.starting.groups.insert(
            gid,
            AddGroup {
                token,
                wid,
                rm,
                results: vec![None; hosts.len()],
            },
        );
        if self.retrying() {
            // Sent again after the master was lost: the old master's start
            // of a host may leave its daemon there for a while.
            let until = Instant::now() + Duration::from_secs(startup::START_TIMEOUT_SECS + 5);
            let entries = hosts.iter().map(|h| h.as_ref().ok().cloned()).collect();
            self.starting.again.insert(gid, (until, entries));
        }
        let mut taken: Vec<String> = Vec::new();
        for (slot, h) in hosts.into_iter().enumerate() {
            let res = match h {
                Err(e) => Err(e),
                Ok(e) => {
                    let key = e.name.to_ascii_lowercase();
                    let added = self.multi.table().by_name(&e.name).map(|h| h.host());
                    if taken.contains(&key) {
                        Err(Error::DupHost)
                    } else if let (true, Some(h)) = (self.retrying(), added) {
                        // A try again after the master was lost: the old
                        // master added this host (succession/retry.rs).
                        taken.push(key);
                        self.group_result(gid, slot, Ok(h));
                        continue;
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
    pub(super) fn start_host(
        &mut self,
        gid: u64,
        slot: usize,
        e: hostfile::HostEntry,
    ) -> Result<(), Error> {
        let name = e.name.clone();
        if self.is_local_name(&name)
            || self.multi.table().by_name(&name).is_some()
            || self
                .starting
                .starts
                .values()
                .any(|s| s.name.eq_ignore_ascii_case(&name))
            || self
                .starting
                .lookups
                .values()
                .any(|l| l.entry.name.eq_ignore_ascii_case(&name))
        {
            return Err(Error::DupHost);
        }
        let reach = e.opts.ip.clone().unwrap_or_else(|| name.clone());
        let hn = HostName::parse(&reach).map_err(|_| Error::BadParam)?;
        let id = self.multi.id();
        self.starting.began.insert(id, Instant::now());
        // Indices follow the request's order, whatever order lookups end in.
        let reserved: Vec<i32> = (self.starting.starts.values().map(|s| s.index))
            .chain(self.starting.lookups.values().map(|l| l.index))
            .collect();
        let index = self.multi.alloc_index(&reserved).ok_or(Error::OutOfRes)?;
        if !matches!(hn, HostName::Name(_)) {
            // A literal: nothing to look up.
            let ips = addr::resolve(&hn, 0);
            return self.start_resolved(id, gid, slot, index, e, ips);
        }
        // The lookup may wait on a slow resolver: off the loop (work.rs),
        // the start goes on in `looked_up`.
        self.starting.lookups.insert(
            id,
            Lookup {
                group: gid,
                slot,
                index,
                entry: e,
                deadline: Instant::now() + Duration::from_secs(startup::START_TIMEOUT_SECS),
            },
        );
        if let Err(err) = self.submit_work(Job::Lookup { id, name: hn }) {
            self.starting.lookups.remove(&id);
            dlog!(self.log, Warn, "add {name}: can't look it up: {err}");
            return Err(Error::CantStart);
        }
        Ok(())
    }

    /// A lookup came back (work.rs): the start goes on, or fails.
    pub(super) fn looked_up(&mut self, id: u64, res: std::io::Result<Vec<SocketAddr>>) {
        let Some(l) = self.starting.lookups.remove(&id) else {
            return; // past its deadline already
        };
        let (gid, slot) = (l.group, l.slot);
        if let Err(e) = self.start_resolved(id, gid, slot, l.index, l.entry, res) {
            self.group_result(gid, slot, Err(e));
        }
        self.lookups_settled(gid);
    }

    /// Whether lookups of group `gid` are still out.
    fn lookups_pending(&self, gid: u64) -> bool {
        self.starting.lookups.values().any(|l| l.group == gid)
    }

    /// After a lookup of group `gid` ended: once all of them did, the
    /// group's batched starts go (the hoster's list, the Slurm step).
    fn lookups_settled(&mut self, gid: u64) {
        if !self.lookups_pending(gid) {
            self.hoster_flush();
            self.flush_step(gid);
        }
    }

    /// Start `id` of host `e` (slot `slot` of group `gid`) with its
    /// addresses looked up: checks, then the launcher.
    fn start_resolved(
        &mut self,
        id: u64,
        gid: u64,
        slot: usize,
        index: i32,
        e: hostfile::HostEntry,
        ips: std::io::Result<Vec<SocketAddr>>,
    ) -> Result<(), Error> {
        let name = e.name.clone();
        let reach = e.opts.ip.clone().unwrap_or_else(|| name.clone());
        let ips: Vec<SocketAddr> = match ips {
            Ok(v) => v,
            Err(err) => {
                dlog!(self.log, Info, "add {name}: {err}");
                return Err(Error::NoHost);
            }
        };
        if self.multi.table().by_name(&name).is_some() {
            return Err(Error::DupHost);
        }
        let dup = self.multi.table().hosts.iter().any(|h| {
            h.addrs.iter().any(|a| {
                ips.iter()
                    .any(|i| i.ip().to_canonical() == a.ip().to_canonical())
            })
        });
        if dup {
            return Err(Error::DupHost);
        }
        let mut args = SlaveArgs::for_host(
            index,
            self.me.dtid(),
            &name,
            self.opts.debug_mask,
            self.opts.pvm_root.as_ref(),
            self.opts.vmid.as_deref(),
            &e.opts,
        );
        args.protect = Some(self.multi.protect());
        args.max_message = Some(self.opts.max_message);
        // No dx=: the remote's $PVM_DPATH or $PVM_ROOT/lib/pvmd, else ours.
        let cmd = match &e.opts.dx {
            Some(dx) => startup::remote_command(dx, &args),
            None => startup::remote_command_default_dx(self.starting.dx(), &args),
        };
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
                self.multi.secret().to_hex(),
                cmd.strip_prefix("exec ").unwrap_or(&cmd)
            );
            st.deadline = Instant::now() + MANUAL_TIMEOUT;
            self.starting.starts.insert(id, st);
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
            if let Err(err) = crate::os::write_private(
                &secret_file,
                &format!("{}\n", self.multi.secret().to_hex()),
            ) {
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
            self.starting.starts.insert(id, st);
            return Ok(());
        }
        if self.launcher_of(&e) == Launcher::Slurm {
            // One `srun` step for the group's Slurm hosts (step.rs).
            self.slurm_check(&name)?;
            let speed = e.opts.sp;
            self.starting.starts.insert(id, st);
            self.queue_step(gid, id, &e, args, speed);
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
            self.starting.starts.insert(id, st);
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
            self.starting.starts.insert(id, st);
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
        self.starting.starts.insert(id, st);
        // The master or (tree start-up) a slave runs it when one has room.
        self.tree_queue(id);
        Ok(())
    }

    /// The end of a start: the host's tid or an error, into its group.
    pub(super) fn start_done(&mut self, id: u64, res: Result<i32, Error>) {
        let Some(mut st) = self.starting.starts.remove(&id) else {
            return;
        };
        self.starting.speeds.remove(&id);
        self.starting.began.remove(&id);
        self.starting.replied.remove(&id);
        self.tree_release(id);
        self.starting.tree.forget(id);
        if let Some(step) = self.starting.start_step.remove(&id) {
            self.step_start_done(step, st.index, &res);
        }
        if let Some(tok) = st.pipe.take() {
            self.close_start_pipe(tok);
        }
        if let Some(mut ch) = st.child.take() {
            if res.is_err() {
                let _ = ch.kill();
            }
            self.starting.reap.push(ch);
        }
        if res.is_err() {
            if let Some(tok) = st.link.take() {
                self.starting.link_start.remove(&tok);
                self.drop_link(tok);
            }
        }
        let occupied = self.starting.occupied.remove(&id);
        let again = self
            .starting
            .again
            .get(&st.group)
            .is_some_and(|(until, _)| Instant::now() < *until);
        if let Some(f) = st.manual.take() {
            let _ = std::fs::remove_file(f);
            // The secret has been read (the slave replied) or is no longer
            // wanted: it does not stay on disk (issue 28).
            if !self.starting.starts.values().any(|s| s.manual.is_some()) {
                let _ = std::fs::remove_file(self.opts.files.dir.join("pvmd.secret"));
            }
        }
        if res.is_err() && occupied && again {
            dlog!(
                self.log,
                Info,
                "add {}: the lost master's daemon is still there; trying again in 1 s",
                st.name
            );
            let at = Instant::now() + Duration::from_secs(1);
            self.starting.later.push((at, st.group, st.slot));
            return;
        }
        self.group_result(st.group, st.slot, res);
    }

    /// The starts of a retried pvm_addhosts that found the lost master's
    /// daemon go again when due.
    pub(super) fn starts_again(&mut self, now: Instant) {
        let (due, wait): (Vec<_>, Vec<_>) = self
            .starting
            .later
            .drain(..)
            .partition(|(at, _, _)| now >= *at);
        self.starting.later = wait;
        for (_, gid, slot) in due {
            let entry = self
                .starting
                .again
                .get(&gid)
                .and_then(|(_, v)| v.get(slot).cloned().flatten());
            let res = match entry {
                Some(e) => self.start_host(gid, slot, e),
                None => Err(Error::CantStart),
            };
            if let Err(e) = res {
                self.group_result(gid, slot, Err(e));
            }
        }
        self.hoster_flush();
    }

    pub(super) fn group_result(&mut self, gid: u64, slot: usize, res: Result<i32, Error>) {
        let Some(g) = self.starting.groups.get_mut(&gid) else {
            return;
        };
        if let Some(s) = g.results.get_mut(slot) {
            *s = Some(res.unwrap_or_else(|e| e.code()));
        }
        if g.results.iter().any(Option::is_none) {
            return;
        }
        let Some(g) = self.starting.groups.remove(&gid) else {
            return;
        };
        self.starting.again.remove(&gid);
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
                self.reply_host_change(tok, Req::AddHosts as i32, g.wid, Ok(w.finish()));
            }
            None => {
                dlog!(
                    self.log,
                    Info,
                    "hostfile: {ok} of {} host(s) added; {} host(s) in the machine",
                    codes.len(),
                    self.multi.table().hosts.len()
                );
                self.dialogs_release();
                self.open_unix();
            }
        }
    }

    /// A start's link is up: the host joins the machine.
    pub(super) fn start_linked(&mut self, id: u64, tok: Token) {
        let Some(st) = self.starting.starts.get(&id) else {
            return;
        };
        let Some(reply) = st.reply.clone() else {
            return;
        };
        let Some(link) = self.links.get(tok) else {
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
            speed: self
                .starting
                .speeds
                .get(&id)
                .copied()
                .unwrap_or(reply.speed),
            dsig: reply.dsig,
            addrs,
        };
        let host = entry.host();
        let dtid = entry.dtid();
        let tree = match self.starting.tree.round_of(id) {
            Some(r) => format!(", tree round {r}"),
            None => String::new(),
        };
        let now = Instant::now();
        let secs = |t: Option<&Instant>| t.map_or(0.0, |t| now.duration_since(*t).as_secs_f64());
        let (total, linked) = (
            secs(self.starting.began.get(&id)),
            secs(self.starting.replied.get(&id)),
        );
        dlog!(
            self.log,
            Info,
            "host {} ({}) added as {} at {} in {total:.3} s ({:.3} s to its reply line, {linked:.3} s to link{tree})",
            entry.name,
            reply.arch,
            tid::fmt(dtid),
            canon(&link.peer_addr),
            total - linked
        );
        self.starting.link_start.remove(&tok);
        self.links.bind(host, tok);
        self.multi.add_host(entry);
        // The new slave learns its place first, then everyone the new table.
        let mut w = Writer::new();
        w.int(tid::host_index(host));
        self.multi.table().encode(&mut w);
        let place = ctl_frame(self.me.dtid(), dtid, Ctl::Place, w.finish());
        self.send_link(tok, place.to_bytes());
        // A new successor gets its copy now, behind its placement.
        self.replicate(false);
        // Tree start-up: the new slave starts others from now on.
        self.tree_joined(id, host);
        self.push_table(Some(host));
        self.rm_tell_new_host(host);
        self.tracer_tell_new_host(host);
        self.notify_host_add(&[dtid]);
        self.start_done(id, Ok(host));
    }

    /// Master: sends the table to every slave (but `skip`).
    pub(super) fn push_table(&mut self, skip: Option<i32>) {
        let mut w = Writer::new();
        self.multi.table().encode(&mut w);
        let body = w.finish();
        let hosts: Vec<i32> = self
            .multi
            .table()
            .hosts
            .iter()
            .map(|h| h.host())
            .filter(|&h| h != self.me.host() && Some(h) != skip)
            .collect();
        for h in hosts {
            let f = ctl_frame(self.me.dtid(), tid::daemon_tid(h), Ctl::Table, body.clone());
            self.send_to_host(h, f.to_bytes());
        }
    }

    /// DelHosts (master): stops the named slaves.
    pub(super) fn req_del_hosts(&mut self, r: &mut Reader<'_>) -> Result<Vec<u8>, Error> {
        if !self.multi.is_master() {
            return Err(Error::NotImpl);
        }
        let names = r.strs()?;
        if names.is_empty() {
            return Err(Error::BadParam);
        }
        let mut codes = Vec::new();
        for n in &names {
            let code = match self.multi.table().by_name(n).map(|e| e.host()) {
                None if self.is_local_name(n) => Error::BadParam.code(),
                // A try again after the master was lost: the old master (or
                // a failure) removed it (succession/retry.rs).
                None if self.retrying() && self.multi.was_removed(n) => 0,
                None => Error::NoHost.code(),
                Some(h) if h == self.me.host() => Error::BadParam.code(),
                Some(h) => {
                    let f = ctl_frame(self.me.dtid(), tid::daemon_tid(h), Ctl::Halt, Vec::new());
                    self.send_to_host(h, f.to_bytes());
                    dlog!(self.log, Info, "host {n} deleted");
                    self.step_host_deleted(h);
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
}
