//! The machine's registered tracer (pvm_reg_tracer) and the daemon's own
//! trace events, as PVM 3.4.6's pvmd sends them (docs/TRACING.md).
//!
//! - A tracer registers with its trace context and tag, output context and
//!   tag, trace mask, buffer and options. From then on a task spawned here
//!   without a trace destination of its own gets the tracer's (and its
//!   output goes to the tracer when the spawner set no output destination),
//!   with `PVMTMASK`, `PVMTRCBUF` and `PVMTRCOPT` in its environment; a task
//!   that enrolls on its own is given the tracer in its Connect reply (and
//!   reads mask, buffer and options from the tracer's mailbox entry).
//! - For each traced task the tracer gets, from this daemon's tid:
//!   `newtask` (75: TID, PT, TF, TN) when it starts, `spntask` (77: TID, PT)
//!   when its spawn completes and `endtask` (76: TID, TST, TUS, TUU, TSS,
//!   TSU) when it is gone (a task this daemon started: once its process is
//!   reaped, with its wait status and user and system CPU time), each
//!   preceded, the first time, by the data identifier list and the event's
//!   descriptor.
//!
//! The registration is machine-wide, as in PVM 3.4.6 (whose daemons pass
//! it on in `DM_SLCONF_TRACE`): the daemon that registers (or loses) the
//! tracer tells the others in a control frame **Tracer** (docs/PROTOCOL.md
//! "Daemon links"; a slave tells the master, the master every slave, and
//! a host added later is told when it joins), so tasks started on any host
//! get the tracer's settings and every daemon sends its own events to it.
//! When the tracer's host leaves the machine, the registration goes.

use super::log::dlog;
use super::notify::Note;
use super::output::Inherit;
use super::server::Daemon;
use crate::tid;
use crate::wire::tev::{self, did, Field, Val};
use crate::wire::{ctl_frame, Ctl, Reader, Writer};
use crate::Error;
use std::collections::{HashMap, HashSet};

/// Event ids of the daemon's events.
const NEWTASK: i32 = 75;
const ENDTASK: i32 = 76;
const SPNTASK: i32 = 77;

/// Characters of a trace mask (pvmtev.h's `TEV_MASK_LENGTH` less the NUL).
const MASK_CHARS: usize = 35;

/// Where a task's events go: (tid, tag, context).
type Dest = (i32, i32, i32);

/// The registered tracer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tracer {
    tid: i32,
    tctx: i32,
    ttag: i32,
    octx: i32,
    otag: i32,
    mask: String,
    buf: i32,
    opt: i32,
}

impl Tracer {
    /// The settings after `tid` in a RegTracer request or a Tracer frame.
    fn read(tid: i32, r: &mut Reader<'_>) -> Result<Tracer, Error> {
        Ok(Tracer {
            tid,
            tctx: r.int()?,
            ttag: r.int()?,
            octx: r.int()?,
            otag: r.int()?,
            mask: String::from_utf8_lossy(r.bytes()?)
                .trim_end_matches('\0')
                .chars()
                .take(MASK_CHARS)
                .collect(),
            buf: r.int()?,
            opt: r.int()?,
        })
    }

    fn write(&self, w: &mut Writer) {
        w.int(self.tctx)
            .int(self.ttag)
            .int(self.octx)
            .int(self.otag);
        w.bytes(self.mask.as_bytes()).int(self.buf).int(self.opt);
    }
}

/// The body of a Tracer control frame: the tracer's tid and 1 with its
/// settings, or the tid that gave the role up (or left) and 0.
fn tracer_body(change: Result<&Tracer, i32>) -> Vec<u8> {
    let mut w = Writer::new();
    match change {
        Ok(t) => {
            w.int(t.tid).int(1);
            t.write(&mut w);
        }
        Err(gone) => {
            w.int(gone).int(0);
        }
    }
    w.finish()
}

/// The tracer and the trace destinations of this host's tasks.
#[derive(Default, Debug)]
pub struct Tracing {
    tracer: Option<Tracer>,
    /// Trace destination of each traced task of this host (for endtask).
    dests: HashMap<i32, Dest>,
    /// Destinations that have the data identifier list.
    told: HashSet<Dest>,
    /// (destination, event) pairs whose descriptor went out.
    described: HashSet<(Dest, i32)>,
    /// Traced tasks whose process was reaped before they left: endtask's
    /// status, user and system time (s, us).
    exits: HashMap<i32, [i32; 5]>,
    /// Traced tasks that left while their process still runs: endtask
    /// waits for its reaping (as PVM 3.4.6's pvmd sends it then).
    awaiting: HashSet<i32>,
}

impl Tracing {
    /// No tracer.
    pub fn new() -> Tracing {
        Tracing::default()
    }

    /// The tracer's settings for a task that has none of its own.
    fn fill(&self, inherit: &mut Inherit, env: Option<&mut Vec<String>>) {
        let Some(t) = &self.tracer else {
            return;
        };
        if inherit.trace_tid == 0 && t.ttag != 0 {
            inherit.trace_tid = t.tid;
            inherit.trace_ctx = t.tctx;
            inherit.trace_code = t.ttag;
            inherit.trace_buffer = t.buf;
            inherit.trace_options = t.opt;
            if let Some(env) = env {
                env.retain(|kv| {
                    !kv.starts_with("PVMTMASK=")
                        && !kv.starts_with("PVMTRCBUF=")
                        && !kv.starts_with("PVMTRCOPT=")
                });
                env.push(format!("PVMTMASK={}", t.mask));
                env.push(format!("PVMTRCBUF={}", t.buf));
                env.push(format!("PVMTRCOPT={}", t.opt));
            }
        }
        if inherit.out_tid == 0 && t.otag != 0 {
            inherit.out_tid = t.tid;
            inherit.out_ctx = t.octx;
            inherit.out_code = t.otag;
        }
    }

    /// One event to `d`, from `src`, with what must precede it.
    fn event(&mut self, src: i32, d: Dest, kind: i32, fields: &[Field<'_>]) -> Vec<Note> {
        let note = |body| Note {
            dst: d.0,
            src,
            tag: d.1,
            ctx: d.2,
            body,
        };
        let mut out = Vec::new();
        if self.told.insert(d) {
            out.push(note(tev::did_list()));
        }
        let desc = self.described.insert((d, kind));
        let (ts, tu) = now();
        let mut all: Vec<Field<'_>> = vec![(did::TS, Val::Int(ts)), (did::TU, Val::Int(tu))];
        all.extend_from_slice(fields);
        out.push(note(tev::event_body(kind, tev::name(kind), desc, &all)));
        out
    }
}

fn now() -> (i32, i32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i32, d.subsec_micros() as i32)
}

fn dest_of(i: &Inherit) -> Option<Dest> {
    (i.trace_tid > 0).then_some((i.trace_tid, i.trace_code, i.trace_ctx))
}

impl Daemon {
    /// RegTracer of task `from`: registers it (int 1, settings) or gives
    /// the role up (int 0), machine-wide. Another tracer already
    /// registered anywhere: PvmAlready.
    pub(super) fn req_reg_tracer(
        &mut self,
        from: i32,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let on = r.int()? != 0;
        let current = self.tracing.tracer.as_ref().map(|t| t.tid);
        if !on {
            if current == Some(from) {
                self.tracer_set(None);
                self.tracer_announce(Err(from));
            }
            return Ok(Vec::new());
        }
        if current.is_some_and(|t| t != from) {
            return Err(Error::Already);
        }
        let t = Tracer::read(from, r)?;
        self.tracer_set(Some(t.clone()));
        self.tracer_announce(Ok(&t));
        Ok(Vec::new())
    }

    /// Makes `t` the tracer this daemon knows (logged when it changes).
    fn tracer_set(&mut self, t: Option<Tracer>) {
        if self.tracing.tracer != t {
            let who = t.as_ref().map(|t| tid::fmt(t.tid));
            dlog!(
                self.log,
                Info,
                "tracer: {}",
                who.unwrap_or_else(|| "none".into())
            );
        }
        self.tracing.tracer = t;
    }

    /// Tells the other daemons of a registration (`Ok`) or of the tracer
    /// `Err(tid)` gone: a slave tells the master, the master every slave.
    fn tracer_announce(&mut self, change: Result<&Tracer, i32>) {
        let body = tracer_body(change);
        let hosts = if self.multi.is_master() {
            self.other_hosts()
        } else if self.multi.placed() {
            vec![tid::host_of(self.multi.master())]
        } else {
            Vec::new()
        };
        for h in hosts {
            let f = ctl_frame(
                self.me.dtid(),
                tid::daemon_tid(h),
                Ctl::Tracer,
                body.clone(),
            );
            self.send_to_host(h, f.to_bytes());
        }
    }

    /// Master: a slave just placed learns the tracer.
    pub(super) fn tracer_tell_new_host(&mut self, host: i32) {
        if let Some(t) = self.tracing.tracer.clone() {
            let f = ctl_frame(
                self.me.dtid(),
                tid::daemon_tid(host),
                Ctl::Tracer,
                tracer_body(Ok(&t)),
            );
            self.send_to_host(host, f.to_bytes());
        }
    }

    /// The control frame Tracer from daemon `peer` (only the master's, or
    /// any slave's at the master). The master keeps a tracer it knows of
    /// against a second registration made meanwhile elsewhere (and tells
    /// everyone again), and passes every change on to the slaves.
    pub(super) fn tracer_ctl(&mut self, peer: i32, r: &mut Reader<'_>) {
        if !(self.multi.is_master() || peer == self.multi.master()) {
            return;
        }
        let (Ok(t), Ok(on)) = (r.int(), r.int()) else {
            return;
        };
        let current = self.tracing.tracer.clone();
        if on == 0 {
            if current.as_ref().is_some_and(|c| c.tid == t) {
                self.tracer_set(None);
                if self.multi.is_master() {
                    self.tracer_announce(Err(t));
                }
            }
            return;
        }
        let Ok(new) = Tracer::read(t, r) else {
            return;
        };
        if !tid::is_task(t) {
            return;
        }
        match current {
            Some(c) if self.multi.is_master() && c.tid != t => self.tracer_announce(Ok(&c)),
            _ => {
                self.tracer_set(Some(new.clone()));
                if self.multi.is_master() {
                    self.tracer_announce(Ok(&new));
                }
            }
        }
    }

    /// Host `host` left the machine: a tracer of that host is no more.
    pub(super) fn trace_host_gone(&mut self, host: i32) {
        if self
            .tracing
            .tracer
            .as_ref()
            .is_some_and(|t| tid::host_of(t.tid) == host)
        {
            self.tracer_set(None);
        }
    }

    /// A spawn without trace (or output) destination gets the registered
    /// tracer's.
    pub(super) fn trace_spawn_defaults(&self, inherit: &mut Inherit, env: &mut Vec<String>) {
        self.tracing.fill(inherit, Some(env));
    }

    /// Task `t` started here for `ptid` with `flags` (file `name`).
    pub(super) fn trace_newtask(&mut self, t: i32, ptid: i32, flags: i32, name: &str, i: &Inherit) {
        let Some(d) = dest_of(i) else {
            return;
        };
        self.tracing.dests.insert(t, d);
        let f = [
            (did::TID, Val::Int(t)),
            (did::PT, Val::Int(ptid)),
            (did::TF, Val::Int(flags)),
            (did::TN, Val::Str(name.as_bytes())),
        ];
        let notes = self.tracing.event(self.me.dtid(), d, NEWTASK, &f);
        self.deliver_all(notes);
    }

    /// The spawn by `ptid` that started `t` completed.
    pub(super) fn trace_spntask(&mut self, t: i32, ptid: i32, i: &Inherit) {
        let Some(d) = dest_of(i) else {
            return;
        };
        let f = [(did::TID, Val::Int(t)), (did::PT, Val::Int(ptid))];
        let notes = self.tracing.event(self.me.dtid(), d, SPNTASK, &f);
        self.deliver_all(notes);
    }

    /// Task `t` enrolled on its own (not spawned by a daemon): with a
    /// tracer registered, it is traced and its output announced to it, and
    /// the tracer gets `newtask` (parent and flags -1, as PVM 3.4.6 sends).
    pub(super) fn trace_connected(&mut self, t: i32, name: &str) {
        if self.tracing.tracer.is_none() {
            return;
        }
        let mut i = Inherit::default();
        self.tracing.fill(&mut i, None);
        let notes = self.output.spawned(t, 0, 0, i);
        self.deliver_all(notes);
        let name = if name.is_empty() { "-" } else { name };
        self.trace_newtask(t, -1, -1, name, &i);
    }

    /// Task `t` is gone: `endtask` to its tracer; a tracer that leaves is
    /// no tracer any more. A task whose process this daemon started and
    /// still runs gets its endtask when the process is reaped, with its
    /// exit status and CPU times; any other, status and times 0 (PVM
    /// 3.4.6's values for a task it did not start).
    pub(super) fn trace_task_gone(&mut self, t: i32) {
        if self.tracing.tracer.as_ref().is_some_and(|tr| tr.tid == t) {
            self.tracer_set(None);
            self.tracer_announce(Err(t));
        }
        if !self.tracing.dests.contains_key(&t) {
            return;
        }
        let vals = match self.tracing.exits.remove(&t) {
            Some(v) => v,
            None if self.child_of_ours_runs(t) => {
                self.tracing.awaiting.insert(t);
                return;
            }
            None => [0; 5],
        };
        self.trace_endtask(t, vals);
    }

    /// The process of task `t` was reaped (`r`): its endtask, if it left
    /// already, or its values for the endtask when it leaves.
    pub(super) fn trace_reaped(&mut self, t: i32, r: crate::os::Reaped) {
        if !self.tracing.dests.contains_key(&t) {
            return;
        }
        let i = |v: i64| v.clamp(0, i32::MAX as i64) as i32;
        let vals = [
            r.status,
            i(r.user.0),
            i(r.user.1),
            i(r.system.0),
            i(r.system.1),
        ];
        if self.tracing.awaiting.remove(&t) {
            self.trace_endtask(t, vals);
        } else {
            self.tracing.exits.insert(t, vals);
        }
    }

    fn child_of_ours_runs(&self, t: i32) -> bool {
        self.children.runs(t)
    }

    /// endtask (TID, TST, TUS, TUU, TSS, TSU) of `t` to its tracer.
    fn trace_endtask(&mut self, t: i32, [st, us, uu, ss, su]: [i32; 5]) {
        let Some(d) = self.tracing.dests.remove(&t) else {
            return;
        };
        self.tracing.exits.remove(&t);
        let f = [
            (did::TID, Val::Int(t)),
            (did::TST, Val::Int(st)),
            (did::TUS, Val::Int(us)),
            (did::TUU, Val::Int(uu)),
            (did::TSS, Val::Int(ss)),
            (did::TSU, Val::Int(su)),
        ];
        let notes = self.tracing.event(self.me.dtid(), d, ENDTASK, &f);
        self.deliver_all(notes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracer_fills_only_what_the_spawner_left_empty() {
        let mut tr = Tracing::new();
        let mut i = Inherit::default();
        let mut env = vec!["PVMTMASK=x".to_string()];
        tr.fill(&mut i, Some(&mut env));
        assert_eq!(i, Inherit::default(), "no tracer: nothing changes");
        tr.tracer = Some(Tracer {
            tid: 0x40001,
            tctx: 0,
            ttag: 99,
            octx: 0,
            otag: 98,
            mask: "ABC".into(),
            buf: 4096,
            opt: 1,
        });
        tr.fill(&mut i, Some(&mut env));
        assert_eq!(
            (i.trace_tid, i.trace_code, i.trace_buffer),
            (0x40001, 99, 4096)
        );
        assert_eq!((i.out_tid, i.out_code), (0x40001, 98));
        assert_eq!(env, vec!["PVMTMASK=ABC", "PVMTRCBUF=4096", "PVMTRCOPT=1"]);
        let mut own = Inherit {
            trace_tid: 0x40009,
            trace_code: 5,
            ..Inherit::default()
        };
        tr.fill(&mut own, None);
        assert_eq!((own.trace_tid, own.trace_code), (0x40009, 5));
    }

    #[test]
    fn tracer_frames_carry_the_registration() {
        let t = Tracer {
            tid: 0x80001,
            tctx: 3,
            ttag: 99,
            octx: 4,
            otag: 98,
            mask: "ABCDEFGHIJKLMNOPQRSTUVWXYZ@@@@@@@@@".into(),
            buf: 4096,
            opt: 2,
        };
        let body = tracer_body(Ok(&t));
        let mut r = Reader::new(&body);
        assert_eq!((r.int().unwrap(), r.int().unwrap()), (0x80001, 1));
        assert_eq!(Tracer::read(0x80001, &mut r).unwrap(), t);
        let body = tracer_body(Err(0x80001));
        let mut r = Reader::new(&body);
        assert_eq!((r.int().unwrap(), r.int().unwrap()), (0x80001, 0));
        assert!(r.int().is_err(), "nothing follows a tracer gone");
        // A mask longer than pvmtev.h's is cut to its 35 characters.
        let long = Tracer {
            mask: "A".repeat(100),
            ..t
        };
        let body = tracer_body(Ok(&long));
        let mut r = Reader::new(&body);
        let _ = (r.int(), r.int());
        assert_eq!(Tracer::read(1, &mut r).unwrap().mask.len(), MASK_CHARS);
    }

    #[test]
    fn first_event_to_a_tracer_brings_ids_and_descriptor() {
        let mut tr = Tracing::new();
        let d = (0x40001, 99, 0);
        let first = tr.event(0x80040000u32 as i32, d, SPNTASK, &[(did::TID, Val::Int(7))]);
        assert_eq!(first.len(), 2);
        assert_eq!(&first[0].body[..4], &(-3i32).to_be_bytes());
        assert_eq!(&first[1].body[..4], &(-5i32).to_be_bytes());
        let next = tr.event(0x80040000u32 as i32, d, SPNTASK, &[(did::TID, Val::Int(8))]);
        assert_eq!(next.len(), 1);
        assert_eq!(&next[0].body[..4], &(-7i32).to_be_bytes());
        assert_eq!((next[0].dst, next[0].tag, next[0].ctx), d);
    }
}
