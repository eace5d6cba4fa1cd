//! Output of child tasks on the task side: the output and trace settings
//! passed to children at spawn and inherited from the parent at enrollment,
//! telling the daemon when PvmSelfOutput* change, and pvm_catchout.
//!
//! pvm_catchout makes the task its children's output destination with a
//! reserved tag and context (0x80030005 and 0x7ffff, the values PVM 3.4.6
//! uses). From then on every frame filed (that is, inside any PVM call that
//! reads from the daemon) is checked: output messages are taken out of the
//! stream and written to the sink, as PVM 3.4.6 prints them:
//! `[t40002] BEGIN`, one `[t40002] text` line per line of output (a last
//! unterminated line is ended at end of output), `[t40002] EOF`; with
//! PvmShowTids 0 only the text lines, without prefixes. pvm_exit waits (after
//! saying `child task(s) still running.  waiting...`) until every child that
//! began has ended its output, unless pvm_catchout(0) turned collection off.

use super::{report_line, rt, Runtime, State};
use crate::msg::{Buffer, MsgInfo};
use crate::sync::Locked;
use crate::task::conn::Conn;
use crate::task::options::Options;
use crate::wire::output::Inherit;
use crate::wire::vocabulary::PVMD_SRC;
use crate::wire::{Frame, Req, Writer};
use crate::{tid, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, MutexGuard};

/// The message tag pvm_catchout sets as PvmOutputCode (PVM 3.4.6's value).
pub const CATCHOUT_CODE: i32 = 0x8003_0005_u32 as i32;
/// The context pvm_catchout sets as PvmOutputContext (PVM 3.4.6's value).
pub const CATCHOUT_CTX: i32 = 0x7ffff;

/// Where pvm_catchout writes (a C `FILE*` behind the FFI).
pub trait OutputSink: Send {
    /// Writes all of `data`.
    fn write(&mut self, data: &[u8]);
    /// Flushes what was written.
    fn flush(&mut self);
}

/// Output of one child, as far as it arrived.
#[derive(Default)]
struct Child {
    partial: Vec<u8>,
}

/// Output collection (pvm_catchout); lives in the runtime ([`super::rt`]).
#[derive(Default)]
pub(super) struct Catch {
    sink: Option<Box<dyn OutputSink>>,
    /// Collection on (pvm_exit waits for the children).
    active: bool,
    /// Children that began and have not ended their output.
    children: BTreeMap<i32, Child>,
}

fn catch() -> MutexGuard<'static, Catch> {
    rt().catch.locked()
}

/// pvm_catchout: `Some(sink)` collects the output of children spawned from
/// now on into `sink`; `None` stops collecting for later children (output
/// of running ones still arrives and is written to the previous sink).
pub fn catchout(sink: Option<Box<dyn OutputSink>>) -> Result<()> {
    let me = rt().mytid()?;
    let on = sink.is_some();
    {
        let mut st = rt().lock();
        let (t, code, ctx) = if on {
            (me, CATCHOUT_CODE, CATCHOUT_CTX)
        } else {
            (0, 0, 0)
        };
        st.opts.output_tid = t;
        st.opts.output_code = code;
        st.opts.output_ctx = ctx;
    }
    let mut c = catch();
    if let Some(s) = sink {
        c.sink = Some(s);
    }
    c.active = on;
    Ok(())
}

/// The settings a Spawn request passes to the children.
pub(super) fn spawn_settings(o: &Options, context: i32) -> Inherit {
    Inherit {
        context,
        out_tid: o.output_tid,
        out_code: o.output_code,
        out_ctx: o.output_ctx,
        trace_tid: o.trace_tid,
        trace_code: o.trace_code,
        trace_ctx: o.trace_ctx,
        trace_buffer: o.trace_buffer,
        trace_options: o.trace_options,
    }
}

/// A spawned task takes its parent's settings as its own and its children's
/// defaults (man pvm_setopt: "inherited from the parent task").
pub(super) fn apply_inherited(o: &mut Options, i: &Inherit) {
    o.output_tid = i.out_tid;
    o.self_output_tid = i.out_tid;
    o.output_code = i.out_code;
    o.self_output_code = i.out_code;
    o.output_ctx = i.out_ctx;
    o.self_output_ctx = i.out_ctx;
    o.trace_tid = i.trace_tid;
    o.self_trace_tid = i.trace_tid;
    o.trace_code = i.trace_code;
    o.self_trace_code = i.trace_code;
    o.trace_ctx = i.trace_ctx;
    o.self_trace_ctx = i.trace_ctx;
    o.trace_buffer = i.trace_buffer;
    o.self_trace_buffer = i.trace_buffer;
    if i.trace_options != 0 {
        o.trace_options = i.trace_options;
        o.self_trace_options = i.trace_options;
    }
}

/// Option codes whose change moves the task's own output.
const SELF_OUTPUT_OPTS: [i32; 3] = [12, 13, 23];

/// Whether setting option `what` must be told to the daemon.
pub(super) fn moves_own_output(what: i32) -> bool {
    SELF_OUTPUT_OPTS.contains(&what)
}

/// Tells the daemon where this task's own output goes now.
pub(super) fn send_own_output() -> Result<()> {
    let (t, code, ctx) = {
        let st = rt().lock();
        (
            st.opts.self_output_tid,
            st.opts.self_output_code,
            st.opts.self_output_ctx,
        )
    };
    let body = Writer::new().int(t).int(code).int(ctx).finish();
    rt().request(Req::SetOutput, &body).map(|_| ())
}

/// Takes an output message for pvm_catchout out of the stream and writes
/// it; false for every other frame.
pub(super) fn intercept(f: &Frame, show_tids: bool) -> bool {
    let h = &f.header;
    if h.tag != CATCHOUT_CODE || h.ctx != CATCHOUT_CTX || h.src != PVMD_SRC {
        return false;
    }
    let mut c = catch();
    if c.sink.is_none() {
        return false;
    }
    let mut b = Buffer::from_received(f.body.clone(), MsgInfo::default());
    let mut head = [0i32; 2];
    if b.unpack(&mut head, 2, 1).is_err() {
        return false;
    }
    let [t, count] = head;
    let mut data = Vec::new();
    if count > 0 {
        data = vec![0u8; count as usize];
        if b.unpack(&mut data, count as usize, 1).is_err() {
            return false;
        }
    }
    let prefix = format!("[{}] ", tid::fmt(t));
    let mut out: Vec<u8> = Vec::new();
    let line = |out: &mut Vec<u8>, text: &[u8]| {
        if show_tids {
            out.extend_from_slice(prefix.as_bytes());
        }
        out.extend_from_slice(text);
        out.push(b'\n');
    };
    match count {
        n if n > 0 => {
            let child = c.children.entry(t).or_default();
            child.partial.extend_from_slice(&data);
            let mut start = 0;
            while let Some(i) = child.partial[start..].iter().position(|&x| x == b'\n') {
                line(&mut out, &child.partial[start..start + i]);
                start += i + 1;
            }
            child.partial.drain(..start);
        }
        0 => {
            let rest = c
                .children
                .remove(&t)
                .map(|ch| ch.partial)
                .unwrap_or_default();
            if !rest.is_empty() {
                line(&mut out, &rest);
            }
            if show_tids {
                line(&mut out, b"EOF");
            }
        }
        -1 => {
            c.children.entry(t).or_default();
            if show_tids {
                line(&mut out, b"BEGIN");
            }
        }
        _ => {
            c.children.entry(t).or_default();
        }
    }
    if !out.is_empty() {
        if let Some(s) = c.sink.as_mut() {
            s.write(&out);
            s.flush();
        }
    }
    true
}

/// Children whose output has begun and not ended.
fn pending() -> usize {
    catch().children.len()
}

/// pvm_exit with collection on: waits until every child's output ended.
pub(super) fn wait_children(runtime: &Runtime, conn: &Arc<Conn>) {
    if !catch().active || pending() == 0 {
        return;
    }
    report_line("child task(s) still running.  waiting...");
    // An error means the daemon is gone: nothing more will arrive.
    let _ = runtime.wait_for(conn, None, |_st: &mut State| (pending() == 0).then_some(()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::output::pack_output;
    use crate::wire::{Header, Kind};
    use std::sync::Mutex;

    struct Vecsink(Arc<Mutex<Vec<u8>>>);
    impl OutputSink for Vecsink {
        fn write(&mut self, d: &[u8]) {
            self.0.lock().unwrap().extend_from_slice(d);
        }
        fn flush(&mut self) {}
    }

    fn frame(t: i32, n: i32, d: &[u8]) -> Frame {
        Frame::new(
            Header {
                src: PVMD_SRC,
                tag: CATCHOUT_CODE,
                ctx: CATCHOUT_CTX,
                ..Header::new(Kind::Msg)
            },
            pack_output(t, n, d),
        )
    }

    #[test]
    fn catchout_framing_as_pvm346() {
        let got = Arc::new(Mutex::new(Vec::new()));
        catch().sink = Some(Box::new(Vecsink(got.clone())));
        let t = 0x40002;
        let other = Frame::new(Header::new(Kind::Msg), vec![]);
        assert!(!intercept(&other, true));
        assert!(intercept(&frame(t, -2, &[]), true));
        assert!(intercept(&frame(t, -1, &[]), true));
        assert_eq!(pending(), 1);
        assert!(intercept(&frame(t, 12, b"hello one\nhe"), true));
        assert!(intercept(&frame(t, 13, b"llo two\nno nl"), true));
        assert!(intercept(&frame(t, 0, &[]), true));
        assert_eq!(pending(), 0);
        assert_eq!(
            String::from_utf8(got.lock().unwrap().clone()).unwrap(),
            "[t40002] BEGIN\n[t40002] hello one\n[t40002] hello two\n\
             [t40002] no nl\n[t40002] EOF\n"
        );
        got.lock().unwrap().clear();
        assert!(intercept(&frame(t, -1, &[]), false));
        assert!(intercept(&frame(t, 3, b"raw"), false));
        assert!(intercept(&frame(t, 0, &[]), false));
        assert_eq!(got.lock().unwrap().as_slice(), b"raw\n");
        catch().sink = None;
    }
}
