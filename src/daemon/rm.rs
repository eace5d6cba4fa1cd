//! The resource manager (pvm_reg_rm; docs/PROTOCOL.md "Resource manager",
//! docs/COMPATIBILITY.md): which task it is, machine-wide, and the `SM_`
//! messages between it, the daemons and the other tasks.
//!
//! - Every daemon knows the resource manager (RM): the daemon of the
//!   registering task tells the master, which tells every slave (control
//!   frame `Rm`), and a slave added later learns it after its placement.
//! - A request of a connected task other than the RM that PVM 3.4's
//!   library sends to its scheduler (Spawn, Config, Tasks, AddHosts,
//!   DelHosts, Notify for task exit, host delete and host add) is not
//!   served: the task's daemon turns it into the `SM_` message libpvm 3.4.6
//!   sends (source the task, a fresh wait id) and sends it to the RM. The
//!   RM's answer, a message with the same tag and wait id to that task,
//!   is taken out of the stream by the task's daemon and becomes the
//!   request's reply. Notify has no answer: the task is answered at once.
//! - The RM asks the daemons with messages to a daemon's tid: `SM_EXEC`
//!   (start tasks, answered `SM_EXECACK`), `SM_ADD` (add hosts, answered
//!   `SM_ADDACK` by the master) and `SM_HANDOFF` (another task becomes the
//!   RM).
//! - Another task's pvm_reg_rm while an RM is connected is not served
//!   either: it goes to the RM as `SM_SCHED`, whose answer (status, then
//!   the host the caller is to see) is what the call returns.
//! - The daemons tell the RM of tasks that enroll on their own
//!   (`SM_EXECACK`), tasks that leave (`SM_TASKX`, with the exit status
//!   once the process of a spawned task is reaped) and hosts that leave
//!   (`SM_HOSTX`, sent by the master only), from t80000000.
//!
//! Formats were measured against PVM 3.4.6's pvmd and libpvm. A child
//! module of `daemon`; the messages' codec is sm.rs.

use super::server::Daemon;
use super::sm::{
    answered_req, parse_exec, reply_of, sm_request, Items, Packer, SM_ADD, SM_ADDACK, SM_EXEC,
    SM_EXECACK, SM_HANDOFF, SM_HOSTX, SM_NOTIFY, SM_TASKX,
};
use crate::daemon::log::dlog;
use crate::wire::{Frame, Header, Kind, Req, Writer};
use crate::{tid, Error};
use mio::Token;
use std::collections::{HashMap, HashSet};

/// A task's request handed to the RM, waiting for its answer.
struct Redirect {
    /// The requesting task's connection.
    token: Token,
    /// The requesting task.
    task: i32,
    /// The RM it was sent to.
    rm: i32,
    /// The request and its wait id.
    req: Req,
    wid: i32,
    /// How many names (AddHosts, DelHosts).
    count: usize,
}

/// Who the RM is and what waits for it.
#[derive(Default)]
pub(super) struct Rm {
    /// The machine's resource manager, as this daemon knows it.
    tid: Option<i32>,
    /// Requests of this daemon's tasks handed to the RM, by wait id.
    pending: HashMap<i32, Redirect>,
    /// The last wait id used for a handed-over request.
    last_wid: i32,
    /// Wait statuses of reaped child processes whose task is still in the
    /// table (its `SM_TASKX` carries the status).
    exit_status: HashMap<i32, i32>,
    /// Tasks that left while their process still ran: their `SM_TASKX`
    /// waits until it is reaped.
    taskx_wait: HashSet<i32>,
}

/// Where an `SM_ADDACK` goes once an `SM_ADD` is done.
#[derive(Clone, Copy, Debug)]
pub(super) struct AddAck {
    pub to: i32,
    pub wid: i32,
    pub ctx: i32,
}
impl Daemon {
    /// The resource manager, if one is registered (and, when it is a task
    /// of this host, still connected).
    pub(super) fn rm_tid(&self) -> Option<i32> {
        let t = self.rm.tid?;
        if tid::host_of(t) == self.me.host() {
            self.tasks.get(t).and_then(|task| task.conn).map(|_| t)
        } else {
            Some(t)
        }
    }

    /// The task flag PVM 3.4.6's pvm_tasks shows for the resource manager
    /// (0x100, "is the scheduler"), or 0 for any other task.
    pub(super) fn rm_flag(&self, t: i32) -> i32 {
        if self.rm.tid == Some(t) {
            crate::daemon::task::TF_RM
        } else {
            0
        }
    }

    /// RegRm of task `t`: registers (`on`) or unregisters it; PvmAlready
    /// while another task is the RM, PvmNoTask when `t` unregisters but is
    /// not the RM.
    pub(super) fn rm_register(&mut self, t: i32, on: bool) -> Result<(), Error> {
        let holder = self.rm_tid();
        let new = match (on, holder) {
            (true, Some(h)) if h != t => return Err(Error::Already),
            (true, _) => Some(t),
            (false, Some(h)) if h != t => return Err(Error::NoTask),
            (false, _) => None,
        };
        self.rm_set(new);
        self.rm_announce();
        Ok(())
    }

    /// Makes `new` the RM this daemon knows; requests handed to an RM
    /// that is gone fail.
    fn rm_set(&mut self, new: Option<i32>) {
        let old = self.rm.tid;
        self.rm.tid = new.filter(|&t| t != 0);
        if old != self.rm.tid {
            dlog!(
                self.log,
                Info,
                "resource manager: {}",
                self.rm.tid.map(tid::fmt).unwrap_or_else(|| "none".into())
            );
        }
        if let Some(o) = old {
            if new.is_none() && !self.task_alive_anywhere(o) {
                self.rm_fail_pending(o);
            }
        }
    }

    /// Requests handed to RM `rm` fail with PvmSysErr (it left).
    fn rm_fail_pending(&mut self, rm: i32) {
        let dead: Vec<i32> = self
            .rm
            .pending
            .iter()
            .filter(|(_, p)| p.rm == rm)
            .map(|(w, _)| *w)
            .collect();
        for w in dead {
            if let Some(p) = self.rm.pending.remove(&w) {
                self.reply(p.token, p.req as i32, p.wid, Err(Error::SysErr));
            }
        }
    }

    /// Tells the other daemons who the RM is: a slave tells the master,
    /// the master every slave.
    fn rm_announce(&mut self) {
        let v = self.rm.tid.unwrap_or(0);
        if self.multi.is_master() {
            for h in self.other_hosts() {
                self.rm_ctl_to(h, v);
            }
        } else if self.multi.placed() {
            let master = self.multi.master_host();
            self.rm_ctl_to(master, v);
        }
    }

    /// Sends the control frame `Rm` (the RM's tid or 0) to host `host`.
    pub(super) fn rm_ctl_to(&mut self, host: i32, v: i32) {
        let f = Frame::new(
            Header {
                src: self.me.dtid(),
                dst: tid::daemon_tid(host),
                tag: crate::wire::Ctl::Rm as i32,
                ..Header::new(Kind::Ctl)
            },
            Writer::new().int(v).finish(),
        );
        self.send_to_host(host, f.to_bytes());
    }

    /// Master: a slave just placed learns the RM.
    pub(super) fn rm_tell_new_host(&mut self, host: i32) {
        if let Some(t) = self.rm.tid {
            self.rm_ctl_to(host, t);
        }
    }

    /// The control frame `Rm` from another daemon: the RM is now `v` (0:
    /// none). The master passes it on to every slave.
    pub(super) fn rm_ctl(&mut self, v: i32) {
        self.rm_set((v != 0).then_some(v));
        if self.multi.is_master() {
            self.rm_announce();
        }
    }

    /// A request of a local task: handed to the RM when one is registered
    /// and the requester is another connected task (see the module doc).
    /// Returns whether it was taken.
    pub(super) fn rm_redirect(&mut self, token: Token, frame: &Frame) -> bool {
        let Some(rm) = self.rm_tid() else {
            return false;
        };
        let h = frame.header;
        let Some(req) = Req::from_i32(h.tag) else {
            return false;
        };
        let Some(task) = self.conns.tid_of(token) else {
            return false;
        };
        if task == rm {
            return false;
        }
        let Some((tag, body, count)) = sm_request(req, &frame.body) else {
            return false;
        };
        let wid = if tag == SM_NOTIFY {
            0
        } else {
            self.rm.last_wid = self.rm.last_wid.wrapping_add(1).max(1);
            self.rm.last_wid
        };
        if wid != 0 {
            self.rm.pending.insert(
                wid,
                Redirect {
                    token,
                    task,
                    rm,
                    req,
                    wid: h.wid,
                    count,
                },
            );
        }
        dlog!(
            self.log,
            Debug,
            "{req:?} of {} handed to the resource manager {}",
            tid::fmt(task),
            tid::fmt(rm)
        );
        let msg = Frame::new(
            Header {
                src: task,
                dst: rm,
                tag,
                wid,
                ..Header::new(Kind::Msg)
            },
            body,
        );
        self.deliver_frame(msg);
        if tag == SM_NOTIFY {
            // pvm_notify does not wait for the RM.
            self.reply(token, h.tag, h.wid, Ok(Vec::new()));
        }
        true
    }

    /// A message on its way: the RM's answer to a request of a task of this
    /// daemon becomes that request's reply. Returns whether it was consumed.
    pub(super) fn rm_answer(&mut self, frame: &Frame) -> bool {
        let h = frame.header;
        let Some(req) = answered_req(h.tag) else {
            return false;
        };
        match self.rm.pending.get(&h.wid) {
            Some(p) if p.task == h.dst && p.rm == h.src && p.req == req => {}
            _ => return false,
        }
        let Some(p) = self.rm.pending.remove(&h.wid) else {
            return false;
        };
        let res = match Items::of(frame) {
            Some(mut m) => reply_of(req, &mut m, p.count),
            None => Err(Error::BadMsg),
        };
        if let Err(e) = &res {
            dlog!(
                self.log,
                Info,
                "answer of the resource manager to {req:?} of {}: {e}",
                tid::fmt(p.task)
            );
        }
        self.reply(p.token, req as i32, p.wid, res);
        true
    }

    /// A message to this daemon from the RM: `SM_EXEC`, `SM_ADD` or
    /// `SM_HANDOFF`. Returns whether it was one (consumed).
    pub(super) fn rm_daemon_message(&mut self, frame: &Frame) -> bool {
        let h = frame.header;
        if !matches!(h.tag, SM_EXEC | SM_ADD | SM_HANDOFF) {
            return false;
        }
        // A slave passes the RM's SM_ADD on to the master from its own tid
        // (frames from a slave's link must come from its host).
        let from_slave = h.tag == SM_ADD
            && self.multi.is_master()
            && tid::is_daemon(h.src)
            && h.src != self.me.dtid()
            && self.rm.tid.is_some();
        if self.rm.tid != Some(h.src) && !from_slave {
            dlog!(
                self.log,
                Warn,
                "scheduler message {h_tag:#x} from {}, which is not the resource manager, dropped",
                tid::fmt(h.src),
                h_tag = h.tag
            );
            return true;
        }
        match h.tag {
            SM_EXEC => self.rm_exec(frame),
            SM_ADD => self.rm_add(frame),
            _ => {
                let new = Items::of(frame).and_then(|mut m| m.int());
                match new {
                    Some(t) if t == 0 || tid::is_task(t) => {
                        dlog!(
                            self.log,
                            Info,
                            "resource manager {} hands off to {}",
                            tid::fmt(h.src),
                            tid::fmt(t)
                        );
                        self.rm_set((t != 0).then_some(t));
                        self.rm_announce();
                    }
                    _ => dlog!(self.log, Warn, "malformed SM_HANDOFF dropped"),
                }
            }
        }
        true
    }

    /// `SM_EXEC`: starts the tasks here as a spawn of the given parent and
    /// answers `SM_EXECACK` (count, then a tid or error code per task).
    fn rm_exec(&mut self, frame: &Frame) {
        let h = frame.header;
        let Some(x) = parse_exec(frame) else {
            dlog!(
                self.log,
                Warn,
                "malformed SM_EXEC from {} dropped",
                tid::fmt(h.src)
            );
            return;
        };
        let results = self.spawn_here(x.ptid, &x.req, x.inherit);
        let started: Vec<i32> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .copied()
            .collect();
        for t in &started {
            if let Some(task) = self.tasks.get_mut(*t) {
                task.siblings = started.clone();
            }
        }
        dlog!(
            self.log,
            Debug,
            "SM_EXEC of {}: {} of {} started",
            x.req.file,
            started.len(),
            results.len()
        );
        let mut p = Packer::new();
        p.int(results.len() as i32);
        for r in &results {
            p.int(match r {
                Ok(t) => *t,
                Err(e) => e.code(),
            });
        }
        if let Some(body) = p.finish() {
            self.rm_send(h.src, SM_EXECACK, h.wid, h.ctx, body);
        }
    }

    /// `SM_ADD`: the master adds the hosts (`int count, string
    /// names[count]`) and answers `SM_ADDACK`; a slave passes it on to
    /// the master. While another add (a task's or the RM's) is in progress
    /// the answer is `int PvmAlready` alone, at once (PVM 3.4.6's).
    fn rm_add(&mut self, frame: &Frame) {
        let h = frame.header;
        if !self.multi.is_master() {
            let master = self.multi.master();
            let f = Frame::new(
                Header {
                    src: self.me.dtid(),
                    dst: master,
                    ..h
                },
                frame.body.clone(),
            );
            self.send_to_host(tid::host_of(master), f.to_bytes());
            return;
        }
        let names = Items::of(frame).and_then(|mut m| {
            let n = m.count()?;
            m.strs(n)
        });
        // (Passed on by a slave: the answer goes to the RM itself.)
        let to = match self.rm.tid {
            Some(rm) if tid::is_daemon(h.src) => rm,
            _ => h.src,
        };
        let ack = AddAck {
            to,
            wid: h.wid,
            ctx: h.ctx,
        };
        if self.adding_hosts() {
            // As PVM 3.4.6: another add is in progress; the answer is the
            // error alone.
            dlog!(self.log, Info, "SM_ADD refused: another add is in progress");
            if let Some(body) = Packer::new().int(Error::Already.code()).finish() {
                self.rm_send(ack.to, SM_ADDACK, ack.wid, ack.ctx, body);
            }
            return;
        }
        match names {
            Some(n) if !n.is_empty() => self.add_hosts_for_rm(ack, &n),
            _ => {
                dlog!(self.log, Warn, "malformed SM_ADD dropped");
                let body = Packer::new().int(Error::BadParam.code()).finish();
                if let Some(body) = body {
                    self.rm_send(ack.to, SM_ADDACK, ack.wid, ack.ctx, body);
                }
            }
        }
    }

    /// The hosts of an `SM_ADD` are in or failed (`codes`: host tid or
    /// error code per name): `SM_ADDACK` with count, number of
    /// architectures, then per host tid, name, arch, speed, data signature
    /// (empty strings and zeros for a failed one), as PVM 3.4.6 answers.
    pub(super) fn rm_add_done(&mut self, ack: AddAck, codes: &[i32]) {
        let mut p = Packer::new();
        let mut archs: Vec<String> = Vec::new();
        let mut rows = Vec::new();
        for &c in codes {
            match self.multi.table().by_tid(c).filter(|_| c > 0) {
                Some(e) => {
                    if !archs.contains(&e.arch) {
                        archs.push(e.arch.clone());
                    }
                    rows.push((c, e.name.clone(), e.arch.clone(), e.speed, e.dsig));
                }
                None => rows.push((c, String::new(), String::new(), 0, 0)),
            }
        }
        p.int(codes.len() as i32).int(archs.len() as i32);
        for (c, name, arch, speed, dsig) in &rows {
            p.int(*c).str(name).str(arch).int(*speed).int(*dsig);
        }
        if let Some(body) = p.finish() {
            self.rm_send(ack.to, SM_ADDACK, ack.wid, ack.ctx, body);
        }
    }

    /// Sends the RM (or `to`) a message from the daemons' notice sender
    /// t80000000, as PVM 3.4.6 does.
    fn rm_send(&mut self, to: i32, tag: i32, wid: i32, ctx: i32, body: Vec<u8>) {
        let f = Frame::new(
            Header {
                src: tid::DAEMON_BIT,
                dst: to,
                tag,
                wid,
                ctx,
                ..Header::new(Kind::Msg)
            },
            body,
        );
        self.deliver_frame(f);
    }

    /// Sends the RM a notification of ints (PvmDataDefault).
    fn rm_notify(&mut self, tag: i32, ints: &[i32]) {
        let Some(rm) = self.rm_tid() else {
            return;
        };
        let mut p = Packer::new();
        for &v in ints {
            p.int(v);
        }
        if let Some(body) = p.finish() {
            self.rm_send(rm, tag, 0, 0, body);
        }
    }

    /// Task `t` enrolled on its own (not spawned): the RM gets
    /// `SM_EXECACK` (int count = 1, int tid), as from PVM 3.4.6.
    pub(super) fn rm_task_new(&mut self, t: i32) {
        if self.rm.tid != Some(t) {
            self.rm_notify(SM_EXECACK, &[1, t]);
        }
    }

    /// Task `t` of this daemon left: the RM gets `SM_TASKX` (tid, status,
    /// user s, user µs, system s, system µs), as PVM 3.4.6 sends it: for a
    /// task the daemon spawned, once its process is reaped, with the wait
    /// status (`exit(3)` gives 0x300, a signal its number); 0 for a task
    /// started otherwise; the times always 0 (PVM 3.4.6 sends zeros there
    /// too). When `t` was the RM, it is forgotten machine-wide and what
    /// waited for it fails.
    pub(super) fn rm_task_gone(&mut self, t: i32) {
        if self.rm.tid != Some(t) {
            let status = self.rm.exit_status.remove(&t);
            if self.rm_tid().is_none() {
                return;
            }
            match status {
                Some(st) => self.rm_notify(SM_TASKX, &[t, st, 0, 0, 0, 0]),
                None if self.child_running(t) => {
                    self.rm.taskx_wait.insert(t);
                }
                None => self.rm_notify(SM_TASKX, &[t, 0, 0, 0, 0, 0]),
            }
            return;
        }
        self.rm.tid = None;
        dlog!(self.log, Info, "resource manager {} left", tid::fmt(t));
        self.rm_fail_pending(t);
        self.rm_announce();
    }

    /// The process of task `t`, a child of this daemon, was reaped with
    /// wait status `status`: the `SM_TASKX` waiting for it goes out, or
    /// the status is kept for when the task leaves the table.
    pub(super) fn rm_child_exited(&mut self, t: i32, status: i32) {
        if self.rm.taskx_wait.remove(&t) {
            self.rm_notify(SM_TASKX, &[t, status, 0, 0, 0, 0]);
        } else if self.tasks.get(t).is_some() {
            self.rm.exit_status.insert(t, status);
        }
    }

    /// Whether a child process of this daemon runs task `t`.
    fn child_running(&self, t: i32) -> bool {
        self.children.runs(t)
    }

    /// Host `host` (its host part) left the machine: the master tells the
    /// RM with `SM_HOSTX` (int host); an RM of that host is forgotten.
    pub(super) fn rm_host_gone(&mut self, host: i32) {
        if let Some(t) = self.rm.tid.filter(|&t| tid::host_of(t) == host) {
            self.rm.tid = None;
            self.rm_fail_pending(t);
            return;
        }
        if self.multi.is_master() {
            self.rm_notify(SM_HOSTX, &[host]);
        }
    }

    /// The master host as pvm_reg_rm returns it: host tid, name, arch,
    /// speed.
    pub(super) fn rm_master_info(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self.multi.table().by_tid(self.multi.master()) {
            Some(e) => w.int(e.host()).str(&e.name).str(&e.arch).int(e.speed),
            None => w
                .int(self.me.host())
                .str(&self.opts.hostname)
                .str(&self.opts.arch)
                .int(super::DEFAULT_SPEED),
        };
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::sm::*;
    use crate::wire::Reader;

    fn msg(tag: i32, body: Vec<u8>) -> Frame {
        Frame::new(
            Header {
                tag,
                ..Header::new(Kind::Msg)
            },
            body,
        )
    }

    #[test]
    fn tags_are_pvm_3_4s() {
        assert_eq!(SM_SPAWN as u32, 0x8004_0001);
        assert_eq!(SM_EXECACK as u32, 0x8004_0003);
        assert_eq!(SM_ADDACK as u32, 0x8004_0009);
        assert_eq!(SM_HANDOFF as u32, 0x8004_000d);
    }

    #[test]
    fn notify_request_becomes_what_ctx_tag_cnt_tids() {
        let body = Writer::new()
            .int(1)
            .int(77)
            .int(5)
            .int(2)
            .int(2)
            .int(0x40001)
            .int(0x40099)
            .finish();
        let (tag, b, _) = sm_request(Req::Notify, &body).unwrap();
        assert_eq!(tag, SM_NOTIFY);
        let mut m = Items::of(&msg(tag, b)).unwrap();
        let got: Vec<i32> = std::iter::from_fn(|| m.int()).collect();
        assert_eq!(got, [1, 5, 77, 2, 0x40001, 0x40099]);
        // Route notifications stay with the daemon.
        let route = Writer::new().int(4).int(1).int(0).int(1).int(0).finish();
        assert!(sm_request(Req::Notify, &route).is_none());
    }

    #[test]
    fn addhost_answer_counts_nonnegative_results() {
        let b = Packer::new()
            .int(2)
            .int(1)
            .int(0x80000)
            .str("h1")
            .str("A")
            .int(1000)
            .int(7)
            .int(-6)
            .str("")
            .str("")
            .int(0)
            .int(0)
            .finish()
            .unwrap();
        let mut m = Items::of(&msg(SM_ADDHOST, b)).unwrap();
        let r = reply_of(Req::AddHosts, &mut m, 2).unwrap();
        let mut rd = Reader::new(&r);
        let v: Vec<i32> = (0..4).map(|_| rd.int().unwrap()).collect();
        assert_eq!(v, [1, 2, 0x80000, -6]);
        let b = Packer::new().int(1).int(0).finish().unwrap();
        let mut m = Items::of(&msg(SM_DELHOST, b)).unwrap();
        assert_eq!(reply_of(Req::DelHosts, &mut m, 2), Err(Error::OutOfRes));
    }

    #[test]
    fn sched_request_and_answer() {
        let on = Writer::new().int(1).finish();
        let (tag, body, _) = sm_request(Req::RegRm, &on).unwrap();
        assert_eq!(tag as u32, 0x8004_000e);
        assert!(body.is_empty());
        let off = Writer::new().int(0).finish();
        assert!(sm_request(Req::RegRm, &off).is_none());
        let b = Packer::new()
            .int(0)
            .int(0x40000)
            .str("h")
            .str("A")
            .int(1000)
            .finish()
            .unwrap();
        let mut m = Items::of(&msg(SM_SCHED, b)).unwrap();
        let r = reply_of(Req::RegRm, &mut m, 0).unwrap();
        let mut rd = Reader::new(&r);
        assert_eq!(rd.int().unwrap(), 0x40000);
        assert_eq!(rd.str().unwrap(), "h");
        let b = Packer::new().int(Error::Denied.code()).finish().unwrap();
        let mut m = Items::of(&msg(SM_SCHED, b)).unwrap();
        assert_eq!(reply_of(Req::RegRm, &mut m, 0), Err(Error::Denied));
        let b = Packer::new().int(0).finish().unwrap();
        let mut m = Items::of(&msg(SM_SCHED, b)).unwrap();
        assert_eq!(reply_of(Req::RegRm, &mut m, 0), Err(Error::BadMsg));
    }

    #[test]
    fn exec_fields_and_context() {
        let mut p = Packer::new();
        p.int(0x40001).str("prog").int(0).int(2).int(1).str("a");
        for v in [0x40001, 3, 4, 0, 0, 0] {
            p.int(v);
        }
        p.int(2).str("PVMCTX=0x40005").str("X=1").int(0).int(2);
        let x = parse_exec(&msg(SM_EXEC, p.finish().unwrap())).unwrap();
        assert_eq!(x.ptid, 0x40001);
        assert_eq!(x.req.ntask, 2);
        assert_eq!(x.req.argv, ["a"]);
        assert_eq!(x.inherit.out_tid, 0x40001);
        assert_eq!(x.inherit.out_ctx, 3);
        assert_eq!(x.inherit.out_code, 4);
        assert_eq!(x.inherit.context, 0x40005);
    }
}
