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
//! module of `server` (declared there) so it can use the daemon's state.

use super::server::Daemon;
use crate::daemon::log::dlog;
use crate::daemon::output::Inherit;
use crate::daemon::spawn::SpawnRequest;
use crate::msg::{Buffer, Encoding, MsgInfo};
use crate::wire::{Frame, Header, Kind, Reader, Req, Writer};
use crate::{tid, Error};
use mio::Token;
use std::collections::{HashMap, HashSet};

/// The first tag of the scheduler messages (PVM 3.4's `SM_FIRST`).
pub(super) const SM_FIRST: i32 = 0x8004_0001_u32 as i32;
/// A task's pvm_spawn, to the RM, and the RM's answer.
pub(super) const SM_SPAWN: i32 = SM_FIRST;
/// The RM asks a daemon to start tasks.
pub(super) const SM_EXEC: i32 = SM_FIRST + 1;
/// A daemon's answer to `SM_EXEC`; also "a task enrolled".
pub(super) const SM_EXECACK: i32 = SM_FIRST + 2;
/// A task's pvm_tasks, to the RM, and the answer.
pub(super) const SM_TASK: i32 = SM_FIRST + 3;
/// A task's pvm_config, to the RM, and the answer.
pub(super) const SM_CONFIG: i32 = SM_FIRST + 4;
/// A task's pvm_addhosts, to the RM, and the answer.
pub(super) const SM_ADDHOST: i32 = SM_FIRST + 5;
/// A task's pvm_delhosts, to the RM, and the answer.
pub(super) const SM_DELHOST: i32 = SM_FIRST + 6;
/// The RM asks the master to add hosts.
pub(super) const SM_ADD: i32 = SM_FIRST + 7;
/// The master's answer to `SM_ADD`.
pub(super) const SM_ADDACK: i32 = SM_FIRST + 8;
/// A task's pvm_notify, to the RM (no answer).
pub(super) const SM_NOTIFY: i32 = SM_FIRST + 9;
/// A task left (to the RM); from a tasker, a task it started ended.
pub(super) const SM_TASKX: i32 = SM_FIRST + 10;
/// A host left the machine (to the RM).
pub(super) const SM_HOSTX: i32 = SM_FIRST + 11;
/// The RM hands its role to another task.
pub(super) const SM_HANDOFF: i32 = SM_FIRST + 12;
/// Another task's pvm_reg_rm, to the RM, and the RM's answer.
pub(super) const SM_SCHED: i32 = SM_FIRST + 13;

/// Largest count accepted in an `SM_` message.
const MAX_COUNT: i32 = 4096;

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

/// Reads the items of a received message body, in its encoding.
struct Items(Buffer);

impl Items {
    fn of(frame: &Frame) -> Option<Items> {
        let enc = Encoding::from_code(frame.header.enc).ok()?;
        Some(Items(Buffer::from_received_with_encoding(
            frame.body.clone(),
            MsgInfo::of(&frame.header),
            enc,
        )))
    }
    fn int(&mut self) -> Option<i32> {
        let mut v = [0i32];
        self.0.unpack(&mut v, 1, 1).ok()?;
        Some(v[0])
    }
    fn count(&mut self) -> Option<usize> {
        self.int()
            .filter(|n| (0..=MAX_COUNT).contains(n))
            .map(|n| n as usize)
    }
    fn str(&mut self) -> Option<String> {
        self.0
            .unpack_str()
            .ok()
            .map(|s| String::from_utf8_lossy(&s).into_owned())
    }
    fn strs(&mut self, n: usize) -> Option<Vec<String>> {
        (0..n).map(|_| self.str()).collect()
    }
}

/// Packs ints and strings into a PvmDataDefault body.
#[derive(Default)]
struct Packer(Option<Buffer>);

impl Packer {
    fn new() -> Packer {
        Packer(Some(Buffer::new(Encoding::Default)))
    }
    fn int(&mut self, v: i32) -> &mut Packer {
        if let Some(b) = &mut self.0 {
            if b.pack(&[v], 1, 1).is_err() {
                self.0 = None;
            }
        }
        self
    }
    fn str(&mut self, s: &str) -> &mut Packer {
        if let Some(b) = &mut self.0 {
            if b.pack_str(s.as_bytes()).is_err() {
                self.0 = None;
            }
        }
        self
    }
    fn finish(&mut self) -> Option<Vec<u8>> {
        self.0.take().map(Buffer::into_bytes)
    }
}

/// The body of the `SM_` message for request `req` of a task (its pvm6
/// request body in `body`), as libpvm 3.4.6 packs it, with the count of
/// names it carries; None when `req` is not handed to the RM.
fn sm_request(req: Req, body: &[u8]) -> Option<(i32, Vec<u8>, usize)> {
    let mut r = Reader::new(body);
    let mut p = Packer::new();
    match req {
        Req::Spawn => {
            let file = r.str().ok()?;
            let flags = r.int().ok()?;
            let where_ = r.str().ok()?;
            let ntask = r.int().ok()?;
            let argv = r.strs().ok()?;
            let mut env = r.strs().ok()?;
            let inherit = Inherit::read(&mut r).ok()?.unwrap_or_default();
            if !(1..=0x3ffff).contains(&ntask) {
                // Refused by the daemon itself (PvmBadParam).
                return None;
            }
            p.str(&file)
                .int(flags)
                .str(&where_)
                .int(ntask)
                .int(argv.len() as i32);
            for a in &argv {
                p.str(a);
            }
            // The spawner's settings for its children: output and trace
            // tid, context, tag; and in the environment, as libpvm 3.4.6
            // adds them, the trace mask, buffer and options and the context.
            let i = inherit;
            for v in [
                i.out_tid,
                i.out_ctx,
                i.out_code,
                i.trace_tid,
                i.trace_ctx,
                i.trace_code,
            ] {
                p.int(v);
            }
            let mut add = |name: &str, value: String| {
                if !env.iter().any(|e| e.starts_with(&format!("{name}="))) {
                    env.push(format!("{name}={value}"));
                }
            };
            add(
                "PVMTMASK",
                "@".repeat(crate::wire::vocabulary::TMASK_LEN - 1),
            );
            add("PVMTRCBUF", i.trace_buffer.to_string());
            add("PVMTRCOPT", i.trace_options.to_string());
            add("PVMCTX", format!("{:#x}", i.context));
            p.int(env.len() as i32);
            for e in &env {
                p.str(e);
            }
            Some((SM_SPAWN, p.finish()?, 0))
        }
        Req::Config => Some((SM_CONFIG, p.finish()?, 0)),
        // pvm_reg_rm of another task: SM_SCHED, empty (unregistering is
        // the daemon's own business).
        Req::RegRm if r.int().ok()? != 0 => Some((SM_SCHED, p.finish()?, 0)),
        Req::Tasks => {
            let w = r.int().ok()?;
            Some((SM_TASK, p.int(w).finish()?, 0))
        }
        Req::AddHosts | Req::DelHosts => {
            let names = r.strs().ok()?;
            if names.is_empty() {
                return None;
            }
            p.int(names.len() as i32);
            for n in &names {
                p.str(n);
            }
            let tag = if req == Req::AddHosts {
                SM_ADDHOST
            } else {
                SM_DELHOST
            };
            Some((tag, p.finish()?, names.len()))
        }
        Req::Notify => {
            // what, tag, context, cnt, list of tids (the daemon's order);
            // the message has what, context, tag, cnt, tids.
            let what = r.int().ok()?;
            let tag = r.int().ok()?;
            let ctx = r.int().ok()?;
            let cnt = r.int().ok()?;
            let n = r.count(4).ok()?;
            let tids = (0..n)
                .map(|_| r.int())
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            // PvmTaskExit, PvmHostDelete and PvmHostAdd go to the RM;
            // route notifications are the library's own in PVM 3.4.
            if !(1..=3).contains(&(what & 0xff)) {
                return None;
            }
            p.int(what).int(ctx).int(tag).int(cnt);
            for t in tids {
                p.int(t);
            }
            Some((SM_NOTIFY, p.finish()?, 0))
        }
        _ => None,
    }
}

/// The request an `SM_` answer tag answers.
fn answered_req(tag: i32) -> Option<Req> {
    Some(match tag {
        SM_SPAWN => Req::Spawn,
        SM_CONFIG => Req::Config,
        SM_TASK => Req::Tasks,
        SM_ADDHOST => Req::AddHosts,
        SM_DELHOST => Req::DelHosts,
        SM_SCHED => Req::RegRm,
        _ => return None,
    })
}

/// The pvm6 reply body (after the status) for the RM's answer `m` to
/// request `req` (`count` names asked for AddHosts/DelHosts), as libpvm
/// 3.4.6 reads such an answer.
fn reply_of(req: Req, m: &mut Items, count: usize) -> Result<Vec<u8>, Error> {
    let bad = Error::BadMsg;
    let mut w = Writer::new();
    match req {
        Req::Spawn => {
            let n = m.count().filter(|&n| n > 0).ok_or(bad)?;
            let tids = (0..n).map(|_| m.int()).collect::<Option<Vec<_>>>();
            let tids = tids.ok_or(bad)?;
            w.int(tids.iter().filter(|&&t| t > 0).count() as i32);
            for t in tids {
                w.int(t);
            }
        }
        Req::Config => {
            let n = m.count().ok_or(bad)?;
            let narch = m.int().ok_or(bad)?;
            w.int(n as i32).int(narch);
            for _ in 0..n {
                let (t, name, arch) = (m.int(), m.str(), m.str());
                let (speed, dsig) = (m.int(), m.int());
                w.int(t.ok_or(bad)?)
                    .str(&name.ok_or(bad)?)
                    .str(&arch.ok_or(bad)?)
                    .int(speed.ok_or(bad)?)
                    .int(dsig.ok_or(bad)?);
            }
        }
        Req::Tasks => {
            let status = m.int().ok_or(bad)?;
            if status < 0 {
                return Err(Error::from_code(status).unwrap_or(Error::SysErr));
            }
            // Entries as long as they unpack (libpvm's way).
            let mut entries = Writer::new();
            let mut n = 0;
            while let Some(t) = m.int() {
                let (ptid, host, flag) = (m.int(), m.int(), m.int());
                let (aout, pid) = (m.str(), m.int());
                entries
                    .int(t)
                    .int(ptid.ok_or(bad)?)
                    .int(host.ok_or(bad)?)
                    .int(flag.ok_or(bad)?)
                    .str(&aout.ok_or(bad)?)
                    .int(pid.ok_or(bad)?);
                n += 1;
            }
            w.int(n);
            let mut rest = entries.finish();
            let mut head = w.finish();
            head.append(&mut rest);
            return Ok(head);
        }
        Req::AddHosts | Req::DelHosts => {
            let n = m.int().ok_or(bad)?;
            if n < 0 {
                return Err(Error::from_code(n).unwrap_or(Error::SysErr));
            }
            if n as usize != count {
                // libpvm 3.4.6: "sent count %d received count %d".
                return Err(Error::OutOfRes);
            }
            let mut codes = Vec::with_capacity(count);
            if req == Req::AddHosts {
                m.int().ok_or(bad)?; // narch
                for _ in 0..count {
                    codes.push(m.int().ok_or(bad)?);
                    // name, arch, speed, dsig
                    m.str().ok_or(bad)?;
                    m.str().ok_or(bad)?;
                    m.int().ok_or(bad)?;
                    m.int().ok_or(bad)?;
                }
            } else {
                for _ in 0..count {
                    codes.push(m.int().ok_or(bad)?);
                }
            }
            w.int(codes.iter().filter(|&&c| c >= 0).count() as i32)
                .int(count as i32);
            for c in codes {
                w.int(c);
            }
        }
        Req::RegRm => {
            // `int status` (< 0: the error pvm_reg_rm returns), then the
            // host: `int tid, string name, arch, int speed`.
            let status = m.int().ok_or(bad)?;
            if status < 0 {
                return Err(Error::from_code(status).unwrap_or(Error::SysErr));
            }
            let (t, name, arch, speed) = (m.int(), m.str(), m.str(), m.int());
            w.int(t.ok_or(bad)?)
                .str(&name.ok_or(bad)?)
                .str(&arch.ok_or(bad)?)
                .int(speed.ok_or(bad)?);
        }
        _ => return Err(Error::NotImpl),
    }
    Ok(w.finish())
}

/// The fields of an `SM_EXEC` message (PVM 3.4's `DM_EXEC` layout).
struct Exec {
    ptid: i32,
    req: SpawnRequest,
    inherit: Inherit,
}

fn parse_exec(frame: &Frame) -> Option<Exec> {
    let mut m = Items::of(frame)?;
    let ptid = m.int()?;
    let file = m.str()?;
    let flags = m.int()?;
    let ntask = m.int().filter(|n| (1..=MAX_COUNT).contains(n))?;
    let nargs = m.count()?;
    let argv = m.strs(nargs)?;
    let mut o = [0i32; 6];
    for v in &mut o {
        *v = m.int()?;
    }
    let nenv = m.count()?;
    let env = m.strs(nenv)?;
    // Instance and "out of" follow (PVM's bookkeeping); not needed here.
    let context = env
        .iter()
        .find_map(|e| e.strip_prefix("PVMCTX="))
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(h) => i32::from_str_radix(h, 16).ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or(0);
    Some(Exec {
        ptid,
        req: SpawnRequest {
            file,
            flags,
            where_: String::new(),
            ntask,
            argv,
            env,
        },
        inherit: Inherit {
            out_tid: o[0],
            out_ctx: o[1],
            out_code: o[2],
            trace_tid: o[3],
            trace_ctx: o[4],
            trace_code: o[5],
            trace_buffer: 0,
            trace_options: 0,
            context,
        },
    })
}

impl Daemon {
    /// The resource manager, if one is registered (and, when it is a task
    /// of this host, still connected).
    pub(super) fn rm_tid(&self) -> Option<i32> {
        let t = self.rm.tid?;
        if tid::host_of(t) == self.host {
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
        if self.multi.is_master {
            for h in self.other_hosts() {
                self.rm_ctl_to(h, v);
            }
        } else if self.multi.placed {
            let master = tid::host_of(self.multi.master);
            self.rm_ctl_to(master, v);
        }
    }

    /// Sends the control frame `Rm` (the RM's tid or 0) to host `host`.
    pub(super) fn rm_ctl_to(&mut self, host: i32, v: i32) {
        let f = Frame::new(
            Header {
                src: self.dtid,
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
        if self.multi.is_master {
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
        let Some(task) = self.conns.get(&token).and_then(|c| c.tid) else {
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
            && self.multi.is_master
            && tid::is_daemon(h.src)
            && h.src != self.dtid
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
        if !self.multi.is_master {
            let master = self.multi.master;
            let f = Frame::new(
                Header {
                    src: self.dtid,
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
            match self.multi.table.by_tid(c).filter(|_| c > 0) {
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
        self.children.values().any(|c| c.tid == t) || self.unwatched.iter().any(|c| c.tid == t)
    }

    /// Host `host` (its host part) left the machine: the master tells the
    /// RM with `SM_HOSTX` (int host); an RM of that host is forgotten.
    pub(super) fn rm_host_gone(&mut self, host: i32) {
        if let Some(t) = self.rm.tid.filter(|&t| tid::host_of(t) == host) {
            self.rm.tid = None;
            self.rm_fail_pending(t);
            return;
        }
        if self.multi.is_master {
            self.rm_notify(SM_HOSTX, &[host]);
        }
    }

    /// The master host as pvm_reg_rm returns it: host tid, name, arch,
    /// speed.
    pub(super) fn rm_master_info(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self.multi.table.by_tid(self.multi.master) {
            Some(e) => w.int(e.host()).str(&e.name).str(&e.arch).int(e.speed),
            None => w
                .int(self.host)
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
