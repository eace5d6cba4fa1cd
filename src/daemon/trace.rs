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
//!   TSU) when it is gone, each preceded, the first time, by the data
//!   identifier list and the event's descriptor.
//!
//! Limits: a spawn spread over several hosts gives the tracer's settings
//! only to tasks of the hosts whose daemon knows the tracer (this one).

use super::notify::Note;
use super::output::Inherit;
use super::server::Daemon;
use crate::wire::tev::{self, did, Field, Val};
use crate::wire::Reader;
use crate::Error;
use std::collections::{HashMap, HashSet};

/// Event ids of the daemon's events.
const NEWTASK: i32 = 75;
const ENDTASK: i32 = 76;
const SPNTASK: i32 = 77;

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
    /// the role up (int 0). Another tracer already registered: PvmAlready.
    pub(super) fn req_reg_tracer(
        &mut self,
        from: i32,
        r: &mut Reader<'_>,
    ) -> Result<Vec<u8>, Error> {
        let on = r.int()? != 0;
        let current = self.tracing.tracer.as_ref().map(|t| t.tid);
        if !on {
            if current == Some(from) {
                self.tracing.tracer = None;
            }
            return Ok(Vec::new());
        }
        if current.is_some_and(|t| t != from) {
            return Err(Error::Already);
        }
        let t = Tracer {
            tid: from,
            tctx: r.int()?,
            ttag: r.int()?,
            octx: r.int()?,
            otag: r.int()?,
            mask: String::from_utf8_lossy(r.bytes()?)
                .trim_end_matches('\0')
                .to_string(),
            buf: r.int()?,
            opt: r.int()?,
        };
        self.tracing.tracer = Some(t);
        Ok(Vec::new())
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
    /// no tracer any more.
    pub(super) fn trace_task_gone(&mut self, t: i32) {
        if self.tracing.tracer.as_ref().is_some_and(|tr| tr.tid == t) {
            self.tracing.tracer = None;
        }
        let Some(d) = self.tracing.dests.remove(&t) else {
            return;
        };
        let f = [
            (did::TID, Val::Int(t)),
            (did::TST, Val::Int(0)),
            (did::TUS, Val::Int(0)),
            (did::TUU, Val::Int(0)),
            (did::TSS, Val::Int(0)),
            (did::TSU, Val::Int(0)),
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
