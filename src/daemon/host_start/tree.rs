//! Tree start-up (docs/LAUNCH.md "Tree start-up"): with `PVM6_TREE=F`
//! the master runs at most F remote shells at once, and every slave already
//! in the machine runs up to F more for it (Ctl StartHost): the slave runs
//! `$PVM_RSH` itself, writes the machine's secret to its stdin and relays
//! the reply line (Ctl Started); the master then connects to the new slave
//! as usual. A host started by a host of round r is in round r + 1 (the
//! master's own are round 1), so N hosts take about log(N)/log(F + 1)
//! sequential rounds. Without `PVM6_TREE` the master runs every remote
//! shell itself, [`MASTER_SHELLS`] at once.

use super::super::multi::Shell;
use super::super::server::Daemon;
use super::work::Job;
use crate::daemon::log::dlog;
use crate::wire::{ctl_frame, Ctl, Reader, Writer};
use crate::{tid, Error};
use mio::Token;
use std::collections::HashMap;
use std::process::{Child, Command};

/// Remote shells the master runs at once without the tree: more at once
/// only slow each other down where the hosts share the master's CPUs (64
/// at once on two CPUs let some miss the 30 s start deadline), and a start
/// waiting here has not begun its deadline yet.
const MASTER_SHELLS: usize = 16;

/// The master's side: the queue of starts waiting for a starter.
#[derive(Default)]
pub(in crate::daemon) struct Tree {
    /// Remote shells per starter at once (0: no tree, no limit).
    pub(super) fanout: usize,
    queue: std::collections::VecDeque<u64>,
    /// Starts in flight per starter (host part; 0 for the master).
    busy: HashMap<i32, usize>,
    /// The starter and round of each start handed out.
    starter: HashMap<u64, (i32, usize)>,
    /// The round of each host started this way.
    rounds: HashMap<i32, usize>,
    /// Starts a slave could not run (its remote shell failed there): the
    /// master runs them itself; and the slaves that failed so.
    master_only: std::collections::HashSet<u64>,
    no_relay: std::collections::HashSet<i32>,
    /// Slave side: remote shells run for the master, by local id, and
    /// their stdout pipes.
    relays: HashMap<u64, Relay>,
    relay_pipes: HashMap<Token, u64>,
}

/// A remote shell a slave runs for the master.
struct Relay {
    /// The master's start id.
    start: String,
    child: Option<Child>,
    partial: Vec<u8>,
}

impl Tree {
    /// `PVM6_TREE` (a fan-out; 0 or unset: off).
    pub(super) fn from_env(v: Option<&str>) -> Tree {
        Tree {
            fanout: v.and_then(|v| v.trim().parse().ok()).unwrap_or(0),
            ..Tree::default()
        }
    }

    pub(super) fn is_relay_pipe(&self, t: Token) -> bool {
        self.relay_pipes.contains_key(&t)
    }

    pub(super) fn is_relay(&self, id: u64) -> bool {
        self.relays.contains_key(&id)
    }

    /// The round of start `id` (tree start-up only).
    pub(super) fn round_of(&self, id: u64) -> Option<usize> {
        if self.fanout == 0 {
            return None;
        }
        self.starter.get(&id).map(|&(_, r)| r)
    }

    /// Start `id` ended: its entry goes.
    pub(super) fn forget(&mut self, id: u64) {
        self.starter.remove(&id);
    }
}

impl Daemon {
    /// Start `id` (its shell ready) goes to a starter now or waits.
    pub(super) fn tree_queue(&mut self, id: u64) {
        self.starting.tree.queue.push_back(id);
        self.tree_dispatch();
    }

    /// Hands queued starts to starters with room: the master first, then
    /// the slaves in the table.
    pub(super) fn tree_dispatch(&mut self) {
        let fanout = self.starting.tree.fanout;
        // Without the tree the master alone runs them, MASTER_SHELLS at once.
        let f = if fanout > 0 { fanout } else { MASTER_SHELLS };
        loop {
            let Some(&id) = self.starting.tree.queue.front() else {
                return;
            };
            if !self.starting.starts.contains_key(&id) {
                self.starting.tree.queue.pop_front();
                continue;
            }
            let busy = |h: i32, t: &super::tree::Tree| t.busy.get(&h).copied().unwrap_or(0);
            let mut starter = None;
            if busy(0, &self.starting.tree) < f {
                starter = Some(0);
            } else if fanout > 0 && !self.starting.tree.master_only.contains(&id) {
                for e in &self.multi.table().hosts {
                    let h = e.host();
                    if h != self.me.host()
                        && self.links.of_host(h).is_some()
                        && !self.starting.tree.no_relay.contains(&h)
                        && busy(h, &self.starting.tree) < f
                    {
                        starter = Some(h);
                        break;
                    }
                }
            }
            let Some(h) = starter else {
                return;
            };
            self.starting.tree.queue.pop_front();
            if let Some(st) = self.starting.starts.get_mut(&id) {
                // Its time starts now, not when it was queued.
                st.deadline = std::time::Instant::now()
                    + std::time::Duration::from_secs(crate::daemon::startup::START_TIMEOUT_SECS);
            }
            let round = match h {
                0 => 1,
                h => self.starting.tree.rounds.get(&h).copied().unwrap_or(1) + 1,
            };
            *self.starting.tree.busy.entry(h).or_default() += 1;
            self.starting.tree.starter.insert(id, (h, round));
            if h == 0 {
                if self.spawn_shell(id, None).is_err() {
                    self.start_done(id, Err(Error::CantStart));
                }
                continue;
            }
            // The shell stays with the start: if the slave cannot run it,
            // the master will.
            let Some(Shell { reach, lo, cmd }) = self
                .starting
                .starts
                .get(&id)
                .and_then(|st| st.shell.clone())
            else {
                self.start_done(id, Err(Error::CantStart));
                continue;
            };
            let mut w = Writer::new();
            w.str(&id.to_string())
                .str(&reach)
                .str(lo.as_deref().unwrap_or(""))
                .str(&cmd);
            let frame = ctl_frame(
                self.me.dtid(),
                tid::daemon_tid(h),
                Ctl::StartHost,
                w.finish(),
            );
            self.send_to_host(h, frame.to_bytes());
        }
    }

    /// Start `id` no longer needs its starter (reply line or end).
    pub(super) fn tree_release(&mut self, id: u64) {
        if let Some((h, _)) = self.starting.tree.starter.get(&id).copied() {
            if let Some(b) = self.starting.tree.busy.get_mut(&h) {
                *b = b.saturating_sub(1);
            }
            // Keep the round for the join; free the starter only once.
            if let Some(e) = self.starting.tree.starter.get_mut(&id) {
                e.0 = i32::MIN;
            }
            if h != i32::MIN {
                self.tree_dispatch();
            }
        }
    }

    /// Host `host` joined through start `id`: it starts others from now on.
    pub(super) fn tree_joined(&mut self, id: u64, host: i32) -> Option<usize> {
        let round = self.starting.tree.starter.remove(&id).map(|(_, r)| r)?;
        self.starting.tree.rounds.insert(host, round);
        self.tree_dispatch();
        Some(round)
    }

    /// Master: a slave relays the reply line of a start it ran.
    pub(in crate::daemon) fn relay_started(&mut self, peer: i32, r: &mut Reader<'_>) {
        let (Ok(id), Ok(line)) = (r.str(), r.str()) else {
            return;
        };
        let Ok(id) = id.parse::<u64>() else {
            return;
        };
        let from = tid::host_of(peer);
        let ours = self
            .starting
            .tree
            .starter
            .get(&id)
            .is_some_and(|&(h, _)| h == from);
        if !ours {
            return;
        }
        self.tree_release(id);
        if line.starts_with("pvm6 error") {
            // The slave could not reach it (no remote shell to other hosts
            // there, say): the master tries it itself, and gives that slave
            // no more starts.
            let name = self
                .starting
                .starts
                .get(&id)
                .map(|st| st.name.clone())
                .unwrap_or_default();
            dlog!(
                self.log,
                Warn,
                "add {name}: {} could not start it ({line}); starting it from here",
                tid::fmt(peer)
            );
            self.starting.tree.no_relay.insert(from);
            self.starting.tree.master_only.insert(id);
            self.starting.tree.starter.remove(&id);
            self.starting.tree.queue.push_front(id);
            self.tree_dispatch();
            return;
        }
        self.start_line(id, &line);
    }

    /// Slave: the master asks it to run a remote shell.
    pub(in crate::daemon) fn relay_start(&mut self, r: &mut Reader<'_>) {
        let (Ok(start), Ok(reach), Ok(lo), Ok(cmd)) = (r.str(), r.str(), r.str(), r.str()) else {
            return;
        };
        let mut c = Command::new(&self.opts.rsh);
        c.args(crate::launch::ssh::options(
            &self.opts.rsh,
            std::env::var(crate::launch::ssh::ENV_KEX).ok().as_deref(),
        ));
        if !lo.is_empty() {
            c.arg("-l").arg(&lo);
        }
        c.arg(&reach).arg(&cmd);
        self.launcher_stdio(&mut c);
        dlog!(
            self.log,
            Debug,
            "starting {reach} for the master: {} {reach} {cmd}",
            self.opts.rsh
        );
        let id = self.multi.id();
        self.starting.tree.relays.insert(
            id,
            Relay {
                start: start.clone(),
                child: None,
                partial: Vec::new(),
            },
        );
        let job = Job::Spawn {
            id,
            cmd: Box::new(c),
            input: format!("{}\n", self.multi.secret().to_hex()),
        };
        if let Err(e) = self.submit_work(job) {
            self.relay_spawned(id, Err(e));
        }
    }

    /// Slave: the relayed remote shell started (or not).
    pub(super) fn relay_spawned(&mut self, id: u64, res: std::io::Result<Child>) {
        match res {
            Ok(mut child) => {
                let tok = child.stdout.take().and_then(|o| self.watch_pipe(o));
                if let Some(t) = tok {
                    self.starting.tree.relay_pipes.insert(t, id);
                }
                if let Some(r) = self.starting.tree.relays.get_mut(&id) {
                    r.child = Some(child);
                }
            }
            Err(e) => self.relay_answer(id, &format!("pvm6 error can't run the remote shell: {e}")),
        }
    }

    /// Slave: the relayed remote shell's stdout.
    pub(super) fn relay_pipe_event(&mut self, tok: Token) {
        let Some(&id) = self.starting.tree.relay_pipes.get(&tok) else {
            return;
        };
        let (data, eof) = self.read_pipe_now(tok);
        let line = self.starting.tree.relays.get_mut(&id).and_then(|r| {
            r.partial.extend_from_slice(&data);
            let i = r.partial.iter().position(|&b| b == b'\n')?;
            Some(String::from_utf8_lossy(&r.partial[..i]).trim().to_string())
        });
        match line {
            Some(l) => {
                self.close_start_pipe(tok);
                self.starting.tree.relay_pipes.remove(&tok);
                self.relay_answer(id, &l);
            }
            None if eof => {
                self.close_start_pipe(tok);
                self.starting.tree.relay_pipes.remove(&tok);
                self.relay_answer(
                    id,
                    "pvm6 error the remote shell ended without the slave's reply line",
                );
            }
            None => {}
        }
    }

    /// Slave: sends the master the line of relay `id` and forgets it (the
    /// remote shell ends by itself, as the slave it started detaches).
    fn relay_answer(&mut self, id: u64, line: &str) {
        let Some(mut r) = self.starting.tree.relays.remove(&id) else {
            return;
        };
        if let Some(c) = r.child.take() {
            self.starting.reap.push(c);
        }
        let mut w = Writer::new();
        w.str(&r.start).str(line);
        let master = self.multi.master();
        let frame = ctl_frame(self.me.dtid(), master, Ctl::Started, w.finish());
        self.send_to_host(tid::host_of(master), frame.to_bytes());
    }
}
