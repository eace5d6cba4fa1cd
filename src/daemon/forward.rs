//! Forwarding between hosts: messages for tasks of other hosts, requests served
//! by another daemon (DReq/DReply), remote TaskExit watches, task lists and
//! spawns spread over hosts.
//! (Part of the daemon's multi-host side.) Its state is [`Forwards`] and
//! [`Spreads`], fields of the daemon whose fields only this file reaches;
//! the request ids come from [`super::multi::Multi`].

use super::multi::{
    forward_deadline, master_only, overdue, Pending, PendingKind, RemoteReq, SpawnAgg, TasksAgg,
    FORWARD_TIMEOUT,
};
use super::server::Daemon;
use crate::daemon::log::dlog;
use crate::daemon::spawn::{self, SpawnRequest};
use crate::wire::output::Inherit;
use crate::wire::{ctl_frame, Ctl, Frame, Header, Kind, Reader, Req, Writer};
use crate::{tid, Error};
use mio::Token;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// Requests served by other daemons, remote requests served here, remote
/// TaskExit watches. Its fields are private to this file.
#[derive(Default)]
pub(super) struct Forwards {
    /// Requests being answered elsewhere, by daemon request id.
    pending: HashMap<i32, Pending>,
    /// Remote tasks' requests served here, by pseudo token.
    remote: HashMap<Token, RemoteReq>,
    /// Hosts watching a local task's exit, by task.
    watchers: HashMap<i32, BTreeSet<i32>>,
    /// Local tasks whose sibling list is still being gathered, by origin host.
    sib_pending: HashMap<i32, i32>,
    /// Requests for the master held while it may be being replaced
    /// (served once the old master answers the probe, this daemon follows
    /// the new master, or is it), with the request id of an earlier try.
    for_master: Vec<(Token, Frame, Option<i32>)>,
    /// Requests sent to the master that go to its successor if it is lost
    /// before it answers (succession.rs `forward_again`), by request id.
    to_master: HashMap<i32, (Token, Frame)>,
    /// While a request sent again to a new master is served here.
    retrying: bool,
}

/// At most this many requests wait for a new master (one per local task
/// at most: a task has one request in progress); beyond, PvmOutOfRes.
const MAX_FOR_MASTER: usize = 16_384;

impl Forwards {
    /// The task whose request is served under pseudo token `token`.
    pub(super) fn remote_tid(&self, token: Token) -> Option<i32> {
        self.remote.get(&token).map(|r| r.tid)
    }

    /// The task and request id of the remote request served under `token`.
    pub(super) fn remote_req(&self, token: Token) -> Option<(i32, i32)> {
        self.remote.get(&token).map(|r| (r.tid, r.dwid))
    }

    /// Whether `token` is a remote task's request served here.
    pub(super) fn is_remote(&self, token: Token) -> bool {
        self.remote.contains_key(&token)
    }

    /// Host `host` watches the exit of our task `t`.
    pub(super) fn watch(&mut self, t: i32, host: i32) {
        self.watchers.entry(t).or_default().insert(host);
    }
}

/// Spawns and task lists spread over hosts being gathered, and Connects
/// waiting for their task's sibling list. Its fields are private to this
/// file.
#[derive(Default)]
pub(super) struct Spreads {
    spawn_aggs: HashMap<u64, SpawnAgg>,
    tasks_aggs: HashMap<u64, TasksAgg>,
    /// Connects answered once the task's sibling list is in: (token, wid)
    /// by task.
    deferred_connect: HashMap<i32, (Token, i32)>,
    /// Where the next spread spawn starts among the chosen hosts.
    rr: usize,
    /// While a remote Spawn of a spread spawn is served: its origin host.
    sibling_origin: i32,
}

impl Daemon {
    /// Host `host` left: the requests waiting for its daemon fail, its
    /// requests and watches here are forgotten, Connects waiting for its
    /// sibling lists are answered.
    pub(super) fn forwards_host_gone(&mut self, host: i32) {
        // Requests for a master that was replaced meanwhile go to the new
        // one; other requests waiting for that daemon fail.
        let again: Vec<(i32, Token, Frame)> = if host == self.multi.master_host() {
            Vec::new()
        } else {
            let ids: Vec<i32> = self
                .forwards
                .to_master
                .keys()
                .copied()
                .filter(|d| self.forwards.pending.get(d).is_some_and(|p| p.host == host))
                .collect();
            ids.into_iter()
                .filter_map(|d| {
                    self.forwards.pending.remove(&d);
                    let (token, frame) = self.forwards.to_master.remove(&d)?;
                    Some((d, token, frame))
                })
                .collect()
        };
        let dead: Vec<i32> = self
            .forwards
            .pending
            .iter()
            .filter(|(_, p)| p.host == host)
            .map(|(k, _)| *k)
            .collect();
        for dwid in dead {
            let code = match self.forwards.pending.get(&dwid).map(|p| &p.kind) {
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
        self.forwards.remote.retain(|_, r| r.host != host);
        for w in self.forwards.watchers.values_mut() {
            w.remove(&host);
        }
        let orphans: Vec<i32> = self
            .forwards
            .sib_pending
            .iter()
            .filter(|(_, o)| **o == host)
            .map(|(t, _)| *t)
            .collect();
        for t in orphans {
            self.forwards.sib_pending.remove(&t);
            self.release_connect(t);
        }
        for (dwid, token, frame) in again {
            self.forward_again(token, frame, dwid);
        }
    }

    /// Requests another daemon left unanswered too long (its link alive)
    /// fail. Those of a suspected (silent) daemon wait for its verdict: it
    /// answers again (they get their full time again) or is declared dead
    /// (they fail, or go to the new master).
    pub(super) fn forwards_tick(&mut self, now: Instant) {
        for dwid in overdue(&self.forwards.pending, now) {
            let Some(p) = self.forwards.pending.get(&dwid) else {
                continue;
            };
            if self.links.suspected(tid::daemon_tid(p.host)).is_some() {
                continue;
            }
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
    }

    /// The master took this slave back on a new link after its old one
    /// closed (the probe of "Succession" step 0): the requests for the
    /// master that were in flight on the old link go again under their
    /// ids (a change the master made is answered as it was, see
    /// [`Daemon::answered_before`]), instead of waiting for a reply that
    /// was lost with the link.
    pub(super) fn forwards_relinked(&mut self, host: i32) {
        let ids: Vec<i32> = self
            .forwards
            .to_master
            .keys()
            .copied()
            .filter(|d| self.forwards.pending.get(d).is_some_and(|p| p.host == host))
            .collect();
        if !ids.is_empty() {
            dlog!(
                self.log,
                Info,
                "{} request(s) in flight on the closed link to the master go again",
                ids.len()
            );
        }
        for d in ids {
            self.forwards.pending.remove(&d);
            if let Some((token, frame)) = self.forwards.to_master.remove(&d) {
                self.forward_again(token, frame, d);
            }
        }
    }

    /// A new master is known (or this daemon is it): the requests held
    /// for the master meanwhile are handled again.
    pub(super) fn forwards_new_master(&mut self) {
        for (token, frame, dwid) in std::mem::take(&mut self.forwards.for_master) {
            match dwid {
                Some(d) => self.forward_again(token, frame, d),
                None => self.request(token, frame),
            }
        }
    }

    /// Host `host` spoke again after a silence: the requests it owes get
    /// their full time again from now (a stall is not a failure to serve).
    pub(super) fn forwards_resumed(&mut self, host: i32, now: Instant) {
        for p in self.forwards.pending.values_mut() {
            if p.host == host && p.deadline.is_some() {
                p.deadline = Some(now + FORWARD_TIMEOUT);
            }
        }
    }

    /// Sends a Msg frame to a task of another host; gives the frame back
    /// when `dst` is not another host's.
    pub(super) fn route_remote(&mut self, frame: Frame) -> Option<Frame> {
        let host = tid::host_of(frame.header.dst);
        if host == self.me.host() || host == 0 {
            return Some(frame);
        }
        if !self.multi.table().contains(host) {
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
        if !self.link_up(host) && self.refuse_for_host(host, &frame.header) {
            return None;
        }
        match self.links.of_host(host) {
            // The usual case, as in send_to_host, but the body is not copied.
            Some(tok) => self.send_link_frame(tok, frame),
            None => self.send_to_host(host, frame.to_bytes()),
        }
        None
    }

    /// A local task exited: the daemons watching it are told.
    pub(super) fn multi_task_gone(&mut self, t: i32) {
        let mut tell = self.forwards.watchers.remove(&t).unwrap_or_default();
        if !self.multi.is_master() && self.multi.placed() {
            // The master's services (groups, mailbox) forget the task too.
            tell.insert(self.multi.master_host());
        }
        {
            let ws = tell;
            for h in ws {
                let g = ctl_frame(
                    self.me.dtid(),
                    tid::daemon_tid(h),
                    Ctl::TaskGone,
                    Writer::new().int(t).finish(),
                );
                self.send_gone(h, g.to_bytes());
            }
        }
        self.forwards.sib_pending.remove(&t);
        self.spreads.deferred_connect.remove(&t);
    }

    /// After a Notify(TaskExit) registration: remote tids are watched at
    /// their daemons.
    pub(super) fn watch_remote(&mut self, tids: &[i32]) {
        for &t in tids {
            let h = tid::host_of(t);
            if self.other_host(h) {
                let f = ctl_frame(
                    self.me.dtid(),
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
        if master_only(code) && !self.multi.is_master() {
            return Some(self.multi.master_host());
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
        self.forward_as(token, frame, host, None);
    }

    /// Forwards a local task's request to the daemon of `host`, under the
    /// request id of an earlier try (`dwid`) or a new one. A request for
    /// the master waits while the master may be being replaced; one that
    /// can go to a successor is kept until answered.
    pub(super) fn forward_as(&mut self, token: Token, frame: &Frame, host: i32, dwid: Option<i32>) {
        let h = frame.header;
        let for_master = host == self.multi.master_host() && master_only(h.tag);
        if self.succession_pending() && for_master {
            if self.forwards.for_master.len() >= MAX_FOR_MASTER {
                dlog!(
                    self.log,
                    Warn,
                    "{MAX_FOR_MASTER} requests wait for a master already"
                );
                self.reply(token, h.tag, h.wid, Err(Error::OutOfRes));
                return;
            }
            self.forwards.for_master.push((token, frame.clone(), dwid));
            return;
        }
        let from = self.requester(token).unwrap_or(0);
        let retry = dwid;
        let dwid = dwid.unwrap_or_else(|| self.multi.dwid());
        let again = for_master && retry.is_some();
        if for_master && super::succession::goes_to_successor(h.tag) {
            self.forwards.to_master.insert(dwid, (token, frame.clone()));
        }
        self.forwards.pending.insert(
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
        // enc 2: a try again of a request sent to a master that was lost.
        let enc = if again { 2 } else { 0 };
        self.send_dreq(host, from, h.tag, dwid, enc, frame.body.clone());
    }

    /// Serves request `frame` on `token`, a try again of one sent to a
    /// master that was lost before it answered (succession/retry.rs).
    pub(super) fn request_again(&mut self, token: Token, frame: Frame) {
        self.forwards.retrying = true;
        self.request(token, frame);
        self.forwards.retrying = false;
    }

    /// Whether the request being served is a try again
    /// ([`Daemon::request_again`]).
    pub(super) fn retrying(&self) -> bool {
        self.forwards.retrying
    }

    pub(super) fn send_dreq(
        &mut self,
        host: i32,
        from: i32,
        tag: i32,
        dwid: i32,
        enc: i32,
        body: Vec<u8>,
    ) {
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
    pub(super) fn on_dreq(&mut self, peer: i32, f: Frame) {
        let h = f.header;
        let tok = self.token();
        // The requester's host (the link's peer, unless the master relayed it).
        let origin = if tid::host_of(h.src) != 0 {
            tid::host_of(h.src)
        } else {
            tid::host_of(peer)
        };
        self.forwards.remote.insert(
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
        if let Some(body) = self.answered_before(h.src, h.wid) {
            // A try again (its first master was lost) of a request served
            // already: what it was told then.
            self.reply_remote(tok, h.tag, body);
            return;
        }
        if h.tag == Req::Spawn as i32 && h.enc == 1 {
            self.spreads.sibling_origin = origin;
        }
        let req = Frame::new(
            Header {
                kind: Kind::Req,
                enc: 0,
                ..h
            },
            f.body,
        );
        if h.enc == 2 && master_only(h.tag) {
            self.request_again(tok, req);
        } else {
            self.request(tok, req);
        }
        self.spreads.sibling_origin = 0;
    }

    /// A reply from another daemon.
    pub(super) fn on_dreply(&mut self, f: Frame) {
        self.dreply_arrived(f.header.wid, f.body);
    }

    pub(super) fn dreply_arrived(&mut self, dwid: i32, body: Vec<u8>) {
        self.forwards.to_master.remove(&dwid);
        let Some(p) = self.forwards.pending.remove(&dwid) else {
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
                if let Some(a) = self.spreads.spawn_aggs.get_mut(&agg) {
                    for (i, s) in slots.iter().enumerate() {
                        a.results[*s] = Some(if status < 0 { status } else { vals[i] });
                    }
                }
                self.spawn_agg_check(agg);
            }
            PendingKind::TasksPart { agg } => {
                let mut r = Reader::new(&body);
                if let Some(a) = self.spreads.tasks_aggs.get_mut(&agg) {
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

    /// Tasks(0) on a machine of several hosts: every daemon's list.
    pub(super) fn tasks_all(&mut self, token: Token, wid: i32) -> Option<Result<Vec<u8>, Error>> {
        let others = self.other_hosts();
        if others.is_empty() || self.is_remote_token(token) {
            return None;
        }
        let local = match self.tasks_body(self.me.host()) {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let agg = self.multi.id();
        let count = Reader::new(&local).int().unwrap_or(0);
        self.spreads.tasks_aggs.insert(
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
            self.forwards.pending.insert(
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
        self.defer_reply();
        Some(Ok(Vec::new()))
    }

    pub(super) fn tasks_agg_check(&mut self, agg: u64) {
        if self
            .spreads
            .tasks_aggs
            .get(&agg)
            .is_none_or(|a| a.remaining > 0)
        {
            return;
        }
        let Some(a) = self.spreads.tasks_aggs.remove(&agg) else {
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
        if self.is_remote_token(token) || self.multi.table().hosts.len() < 2 {
            return None;
        }
        let (host_or_arch, _) = crate::net::split_where(&req.where_);
        let flags = req.flags;
        let hosts = &self.multi.table().hosts;
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
            .table()
            .spread(&chosen, n, self.spreads.rr % chosen.len());
        self.spreads.rr = self.spreads.rr.wrapping_add(n);
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
        if plan.len() == 1 && plan[0].0 != self.me.host() {
            let host = plan[0].0;
            let dwid = self.multi.dwid();
            self.forwards.pending.insert(
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
            self.defer_reply();
            return Ok(Vec::new());
        }
        let agg = self.multi.id();
        self.spreads.spawn_aggs.insert(
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
            if host == self.me.host() {
                let sub = SpawnRequest {
                    ntask: count as i32,
                    ..req.clone()
                };
                let res = self.spawn_here(from, &sub, inherit);
                for (i, r) in slots.iter().zip(res) {
                    if let Ok(t) = r {
                        self.forwards.sib_pending.insert(t, self.me.host());
                    }
                    if let Some(a) = self.spreads.spawn_aggs.get_mut(&agg) {
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
                self.forwards.pending.insert(
                    dwid,
                    Pending {
                        host,
                        kind: PendingKind::SpawnPart { agg, slots },
                        deadline: Some(Instant::now() + FORWARD_TIMEOUT),
                    },
                );
                if let Some(a) = self.spreads.spawn_aggs.get_mut(&agg) {
                    a.hosts.insert(host);
                }
                // enc 1: the sibling list follows in a Siblings control frame.
                self.send_dreq(host, from, Req::Spawn as i32, dwid, 1, w.finish());
            }
        }
        self.defer_reply();
        self.spawn_agg_check(agg);
        Ok(Vec::new())
    }

    pub(super) fn spawn_agg_check(&mut self, agg: u64) {
        if self
            .spreads
            .spawn_aggs
            .get(&agg)
            .is_none_or(|a| a.results.iter().any(Option::is_none))
        {
            return;
        }
        let Some(a) = self.spreads.spawn_aggs.remove(&agg) else {
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
            if self.multi.table().contains(h) {
                let f = ctl_frame(
                    self.me.dtid(),
                    tid::daemon_tid(h),
                    Ctl::Siblings,
                    sib.clone(),
                );
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
    pub(super) fn set_siblings(&mut self, list: &[i32]) {
        for &t in list {
            if tid::host_of(t) != self.me.host() {
                continue;
            }
            if let Some(task) = self.tasks.get_mut(t) {
                task.siblings = list.to_vec();
            }
            self.forwards.sib_pending.remove(&t);
            self.release_connect(t);
        }
    }

    /// Marks tasks just spawned for a remote spread spawn as waiting for
    /// their sibling list.
    pub(super) fn mark_sibling_wait(&mut self, started: &[i32]) {
        let origin = self.spreads.sibling_origin;
        if origin != 0 {
            for &t in started {
                self.forwards.sib_pending.insert(t, origin);
            }
        }
    }

    /// Whether the Connect of the task on `token` must wait for its
    /// sibling list (then it is answered by [`Daemon::release_connect`]).
    pub(super) fn connect_waits(&mut self, token: Token, wid: i32) -> bool {
        let Some(t) = self.conns.tid_of(token) else {
            return false;
        };
        if self.forwards.sib_pending.contains_key(&t) {
            self.spreads.deferred_connect.insert(t, (token, wid));
            return true;
        }
        false
    }

    pub(super) fn release_connect(&mut self, t: i32) {
        let Some((token, wid)) = self.spreads.deferred_connect.remove(&t) else {
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
        let Some(rr) = self.forwards.remote.remove(&token) else {
            return false;
        };
        let f = Frame::new(
            Header {
                src: self.me.dtid(),
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
