//! PVM 3.4's trace events on the task side (pvmtev.h; docs/TRACING.md).
//!
//! A task traces when its own trace destination (`PvmSelfTraceTid`, set
//! by pvm_setopt, inherited at spawn or from a registered tracer) is a tid
//! other than its own. Then every PVM call whose event is in the task's
//! trace mask (`pvm_settmask(PvmTaskSelf)`, from `$PVMTMASK` at start)
//! produces an entry event and, for calls that return, an exit event,
//! with PVM 3.4.6's event ids (`kind | 0x4000` entry, `kind | 0x8000`
//! exit), data identifiers and layout, as ordinary PvmDataDefault messages
//! to the tracer with the trace code as tag and the trace context:
//!
//! - the first event of each (kind, entry/exit) to a tracer is a
//!   descriptor: `int -5, int id, string name`, then per field `int did,
//!   int type [| 0x80 for arrays], [int count,] values`, `int -6`;
//! - later ones are records: `int -7, int id`, per field `[int count,]
//!   values`, `int -8`;
//! - every event starts with the fields TS, TU (time of day) and TID; a
//!   string is an int (its length with the NUL) and the bytes, as PVM's
//!   `PACK_STRING` packs it;
//! - with a trace buffer (`PvmSelfTraceBuffer` > 0) events collect in one
//!   message between `int -1` and `int -2`, sent when it holds that many
//!   bytes and at pvm_exit; without one each event is its own message;
//! - `PvmTraceTime` and `PvmTraceCount` send no events but, at pvm_exit
//!   (or `tev_flush`), one `timing` (106) or `profiling` (107) descriptor
//!   with the calls' counts (and total times).
//!
//! Before its first event to a tracer the task sends it the data
//! identifier list (`int -3`, per identifier `int index, string name,
//! string description`, `int -4`), as PVM's daemons do for the tasks they
//! start: the tracer needs it to read the events.
//!
//! Tracing off costs one relaxed atomic load and a branch per call
//! ([`armed`]); everything else is out of line.

use super::{rt, State};
use crate::msg::{Buffer, Encoding};
use crate::sync::Locked;
pub use crate::wire::tev::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The task's tracing state; lives in the runtime ([`super::rt`]).
#[derive(Default)]
pub(super) struct Trace {
    /// Whether the task traces now (its own trace tid is another task).
    armed: AtomicBool,
    /// This task is the registered tracer: its mailbox entry's index.
    registered: Mutex<Option<i32>>,
    col: Mutex<Collector>,
}

/// Events being collected.
#[derive(Default)]
struct Collector {
    /// Descriptors sent, per destination: bit 1 entry, bit 2 exit.
    described: Vec<u8>,
    /// The destination (tid, tag, ctx) the descriptors went to.
    dest: Option<(i32, i32, i32)>,
    /// Destinations that have the data identifier list.
    told: HashSet<(i32, i32, i32)>,
    /// A buffer of events not sent yet.
    pending: Option<Buffer>,
    /// PvmTraceTime / PvmTraceCount: per event, when the call began, time
    /// spent and calls.
    began: Vec<Option<SystemTime>>,
    total: Vec<Duration>,
    count: Vec<i32>,
}

/// The settings an event is made with (snapshot of the state).
#[derive(Clone, Copy)]
struct Cfg {
    me: i32,
    tid: i32,
    code: i32,
    ctx: i32,
    buffer: i32,
    opt: i32,
}

/// Whether the task traces now: one relaxed load.
#[inline(always)]
pub fn armed() -> bool {
    rt().trace.armed.load(Ordering::Relaxed)
}

/// Re-reads whether the task traces from its options (after enrollment,
/// pvm_setopt and pvm_exit). Takes no lock of its own.
pub(super) fn rearm(st: &State) {
    let t = st.opts.self_trace_tid;
    let on = st.mytid > 0 && t > 0 && t != st.mytid;
    rt().trace.armed.store(on, Ordering::Relaxed);
}

fn cfg() -> Option<Cfg> {
    let st = rt().lock();
    let o = &st.opts;
    let c = Cfg {
        me: st.mytid,
        tid: o.self_trace_tid,
        code: o.self_trace_code,
        ctx: o.self_trace_ctx,
        buffer: o.self_trace_buffer,
        opt: o.self_trace_options,
    };
    (c.me > 0 && c.tid > 0 && c.tid != c.me).then_some(c)
}

/// Whether event `kind` is in the task's mask.
pub fn in_mask(kind: i32) -> bool {
    let mask = super::misc::gettmask(super::misc::TASK_SELF).unwrap_or_default();
    mask_has(mask.as_bytes(), kind)
}

/// `TEV_MASK_CHECK`: bit `kind & 3` of character `kind / 4`.
pub fn mask_has(mask: &[u8], kind: i32) -> bool {
    if !(0..NEVENTS as i32).contains(&kind) {
        return false;
    }
    mask.get(kind as usize / 4)
        .is_some_and(|c| c & (1 << (kind & 3)) != 0)
}

/// A mask with the events `kinds` set (the rest '@').
pub fn mask_of(kinds: &[i32]) -> String {
    let mut m = vec![b'@'; super::misc::TMASK_LEN - 1];
    for &k in kinds {
        if (0..NEVENTS as i32).contains(&k) {
            m[k as usize / 4] |= 1 << (k & 3);
        }
    }
    String::from_utf8(m).unwrap_or_default()
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn secs_usecs(t: SystemTime) -> (i32, i32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i32, d.subsec_micros() as i32)
}

impl Collector {
    fn reset_for(&mut self, dest: (i32, i32, i32)) {
        if self.dest != Some(dest) {
            self.dest = Some(dest);
            self.described = vec![0; NEVENTS];
            self.pending = None;
        }
        if self.began.len() != NEVENTS {
            self.began = vec![None; NEVENTS];
            self.total = vec![Duration::ZERO; NEVENTS];
            self.count = vec![0; NEVENTS];
        }
    }
}

/// Records event `kind` (entry when `exit` is false) with `fields` if the
/// task traces and the mask has it.
pub fn event(kind: i32, exit: bool, fields: &[Field<'_>]) {
    if !(0..NEVENTS as i32).contains(&kind) || !in_mask(kind) {
        return;
    }
    let Some(c) = cfg() else {
        return;
    };
    let dest = (c.tid, c.code, c.ctx);
    let mut out: Vec<Vec<u8>> = Vec::new();
    {
        let mut col = rt().trace.col.locked();
        col.reset_for(dest);
        match c.opt {
            crate::consts::PvmTraceTime | crate::consts::PvmTraceCount => {
                let k = kind as usize;
                if !exit {
                    col.began[k] = Some(now());
                } else {
                    if let Some(t0) = col.began[k].take() {
                        col.total[k] += now().duration_since(t0).unwrap_or_default();
                    }
                    col.count[k] += 1;
                }
                // An entry-only call (pvm_exit) counts at its entry.
                if !exit && kind == ev::EXIT {
                    col.count[k] += 1;
                }
                return;
            }
            _ => {}
        }
        if col.told.insert(dest) {
            out.push(did_list());
        }
        let bit = if exit { 2 } else { 1 };
        let desc = col.described[kind as usize] & bit == 0;
        col.described[kind as usize] |= bit;
        let (ts, tu) = secs_usecs(now());
        let mut all: Vec<Field<'_>> = vec![
            (did::TS, Val::Int(ts)),
            (did::TU, Val::Int(tu)),
            (did::TID, Val::Int(c.me)),
        ];
        all.extend_from_slice(fields);
        let id = kind | if exit { EXIT } else { ENTRY };
        if c.buffer <= 0 {
            out.push(event_body(id, name(kind), desc, &all));
        } else {
            let b = col.pending.get_or_insert_with(|| {
                let mut b = Buffer::new(Encoding::Default);
                pk_int(&mut b, mark::BUFFER);
                b
            });
            pk_event(b, id, name(kind), desc, &all);
            if b.len() >= c.buffer as usize {
                if let Some(mut b) = col.pending.take() {
                    pk_int(&mut b, mark::BUFFER_END);
                    out.push(b.into_bytes());
                }
            }
        }
    }
    for body in out {
        send(&c, &body);
    }
}

fn send(c: &Cfg, body: &[u8]) {
    if let Err(e) = rt().send_bytes(body, Encoding::Default.code(), c.tid, c.code, Some(c.ctx)) {
        log::debug!("trace event to {} not sent: {e:?}", crate::tid::fmt(c.tid));
    }
}

/// pvmtev.h's `PVM_TRACE_TID` and `PVM_TRACE_CODE`: pvm_send to them sends
/// the active send buffer (made with `pvm_mkbuf(PvmDataTrace)`) as a
/// user-defined event to the task's tracer.
pub const USER_TID: i32 = -1111;
pub const USER_CODE: i32 = -2222;

/// pvm_send(PVM_TRACE_TID, PVM_TRACE_CODE): when the task traces and its
/// mask has `user_defined`, the active send buffer with the event's end
/// marker goes to the tracer (as a record of its own, not buffered, as in
/// PVM 3.4.6); otherwise nothing is sent. Both are success.
pub fn user_event() -> crate::Result<()> {
    if !armed() || !in_mask(ev::USER_DEFINED) {
        return Ok(());
    }
    let Some(c) = cfg() else {
        return Ok(());
    };
    let mut body = super::with_bufs(|t| {
        let id = t.sbuf();
        Ok(t.get(id)?.to_bytes())
    })?;
    body.extend_from_slice(&crate::msg::USER_EVENT_END.to_be_bytes());
    send(&c, &body);
    Ok(())
}

/// `tev_flush`: sends what is buffered (PvmTraceFull), or the timing or
/// profiling summary (PvmTraceTime, PvmTraceCount) and starts it anew.
pub fn flush() {
    let Some(c) = cfg() else {
        return;
    };
    let dest = (c.tid, c.code, c.ctx);
    let mut out = Vec::new();
    {
        let mut col = rt().trace.col.locked();
        col.reset_for(dest);
        match c.opt {
            crate::consts::PvmTraceTime | crate::consts::PvmTraceCount => {
                let timing = c.opt == crate::consts::PvmTraceTime;
                let mut ev_names: Vec<&[u8]> = Vec::new();
                let (mut secs, mut usecs, mut counts) = (Vec::new(), Vec::new(), Vec::new());
                for k in 0..NEVENTS {
                    if col.count[k] > 0 {
                        ev_names.push(name(k as i32));
                        secs.push(col.total[k].as_secs() as i32);
                        usecs.push(col.total[k].subsec_micros() as i32);
                        counts.push(col.count[k]);
                        col.count[k] = 0;
                        col.total[k] = Duration::ZERO;
                    }
                }
                if col.told.insert(dest) {
                    out.push(did_list());
                }
                let (ts, tu) = secs_usecs(now());
                let mut f: Vec<Field<'_>> = vec![
                    (did::TS, Val::Int(ts)),
                    (did::TU, Val::Int(tu)),
                    (did::TID, Val::Int(c.me)),
                    (did::VCT, Val::Int(ev_names.len() as i32)),
                    (did::VID, Val::Strs(&ev_names)),
                ];
                if timing {
                    f.push((did::TGS, Val::Ints(&secs)));
                    f.push((did::TGU, Val::Ints(&usecs)));
                }
                f.push((did::PRF, Val::Ints(&counts)));
                let kind = if timing { ev::TIMING } else { ev::PROFILING };
                out.push(event_body(kind, name(kind), true, &f));
            }
            _ => {
                if let Some(mut b) = col.pending.take() {
                    pk_int(&mut b, mark::BUFFER_END);
                    out.push(b.into_bytes());
                }
            }
        }
    }
    for body in out {
        send(&c, &body);
    }
}

/// Takes `$PVMTRCBUF` and `$PVMTRCOPT` (set by a spawn under a tracer) as
/// the task's own trace buffer and options, and its children's.
pub(super) fn settings_from_env(o: &mut super::Options) {
    let num = |n: &str| {
        std::env::var(n)
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
    };
    if let Some(b) = num(ENV_TRCBUF) {
        o.self_trace_buffer = b;
        o.trace_buffer = b;
    }
    if let Some(t) = num(ENV_TRCOPT).filter(|t| (1..=3).contains(t)) {
        o.self_trace_options = t;
        o.trace_options = t;
    }
    // A task started traced passes its mask on to its children.
    if let Ok(m) = std::env::var(super::misc::ENV_TMASK) {
        if super::misc::gettmask(super::misc::TASK_CHILD)
            .is_ok_and(|c| c == super::misc::empty_tmask())
        {
            let _ = super::misc::settmask(super::misc::TASK_CHILD, m.as_bytes());
        }
    }
}

/// `$PVMTRCBUF`: the trace buffer a tracer gives the tasks it traces.
pub const ENV_TRCBUF: &str = "PVMTRCBUF";
/// `$PVMTRCOPT`: the trace options a tracer gives the tasks it traces.
pub const ENV_TRCOPT: &str = "PVMTRCOPT";

/// A task that enrolled on its own was given a registered tracer by the
/// daemon: its mask, buffer and options come from the tracer's mailbox
/// entry (`PVMTRACERCLASS`), as PVM 3.4 takes them, unless the
/// environment has them.
pub(super) fn settings_from_tracer() {
    let Ok(stored) = super::mailbox::recv_copy(crate::consts::PVMTRACERCLASS.as_bytes(), 0, 0)
    else {
        return;
    };
    let mut b = Buffer::from_received_with_encoding(
        stored.body,
        crate::msg::MsgInfo::default(),
        stored.enc,
    );
    let mut v = [0i32; 5];
    if b.unpack(&mut v, 5, 1).is_err() {
        return;
    }
    let Ok(mask) = b.unpack_str() else {
        return;
    };
    let mut bo = [0i32; 2];
    if b.unpack(&mut bo, 2, 1).is_err() {
        return;
    }
    let [tid, tctx, ttag, _, _] = v;
    {
        let mut st = rt().lock();
        let o = &mut st.opts;
        if o.self_trace_tid != tid || o.self_trace_ctx != tctx || o.self_trace_code != ttag {
            return;
        }
        if std::env::var(ENV_TRCBUF).is_err() {
            o.self_trace_buffer = bo[0];
            o.trace_buffer = bo[0];
        }
        if std::env::var(ENV_TRCOPT).is_err() && (1..=3).contains(&bo[1]) {
            o.self_trace_options = bo[1];
            o.trace_options = bo[1];
        }
    }
    if std::env::var(super::misc::ENV_TMASK).is_err() {
        let _ = super::misc::settmask(super::misc::TASK_SELF, &mask);
        let _ = super::misc::settmask(super::misc::TASK_CHILD, &mask);
    }
}

/// pvm_reg_tracer: the first call makes this task the machine's tracer
/// (the daemon gives its trace and output settings to the tasks that start
/// from then on, and the settings are published in the mailbox under
/// `PVMTRACERCLASS`); the next call gives the role up.
#[allow(clippy::too_many_arguments)]
pub fn reg_tracer(
    tctx: i32,
    ttag: i32,
    octx: i32,
    otag: i32,
    tmask: &[u8],
    tbuf: i32,
    topt: i32,
) -> crate::Result<()> {
    use crate::wire::{Req, Writer};
    let me = rt().mytid()?;
    let mut reg = rt().trace.registered.locked();
    let on = reg.is_none();
    let mut w = Writer::new();
    w.int(i32::from(on));
    if on {
        w.int(tctx)
            .int(ttag)
            .int(octx)
            .int(otag)
            .bytes(tmask)
            .int(tbuf)
            .int(topt);
    }
    rt().request(Req::RegTracer, &w.finish())?;
    let class = crate::consts::PVMTRACERCLASS.as_bytes();
    if on {
        let mut b = Buffer::new(Encoding::Default);
        let _ = b.pack(&[me, tctx, ttag, octx, otag], 5, 1);
        let _ = b.pack_str(tmask);
        let _ = b.pack(&[tbuf, topt], 2, 1);
        let index = super::mailbox::put_body(class, 0, -1, Encoding::Default, &b.into_bytes())?;
        *reg = Some(index);
    } else if let Some(index) = reg.take() {
        let _ = super::mailbox::delinfo(class, index, 0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_set_and_check_bits_as_pvmtev_h() {
        let m = mask_of(&[ev::SEND, ev::RECV, ev::MYTID]);
        assert_eq!(m.len(), 35);
        assert!(mask_has(m.as_bytes(), ev::SEND));
        assert!(mask_has(m.as_bytes(), ev::MYTID));
        assert!(!mask_has(m.as_bytes(), ev::PKINT));
        // send is 47: character 11 gets bit 3 ('@' | 8 = 'H').
        assert_eq!(m.as_bytes()[11], b'@' | 8 | 2);
        assert!(!mask_has(b"", ev::SEND));
    }

    #[test]
    fn descriptor_then_record_layout() {
        let d = event_body(ev::SEND | ENTRY, b"send", true, &[(did::MC, Val::Int(5))]);
        let r = event_body(ev::SEND | ENTRY, b"send", false, &[(did::MC, Val::Int(5))]);
        let ints = |b: &[u8]| -> Vec<i32> {
            b.chunks(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        // -5, id, strlen+1 = 5, "send\0" padded to 8, did, type, value, -6
        let di = ints(&d);
        assert_eq!(di[0], mark::DESC);
        assert_eq!(di[1], 47 | ENTRY);
        assert_eq!(di[2], 5);
        assert_eq!(&di[5..], &[did::MC, DATA_INT, 5, mark::DESC_END]);
        assert_eq!(
            ints(&r),
            vec![mark::RECORD, 47 | ENTRY, 5, mark::RECORD_END]
        );
    }
}
