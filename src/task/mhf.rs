//! Message handlers (`pvm_addmhf` / `pvm_delmhf`): functions the library
//! calls for incoming messages whose source, tag and context match, instead
//! of queueing them for `pvm_recv`.
//!
//! How it fits the runtime: when a frame is filed ([`claim`], called by
//! `State::file` under the state lock) a message that matches a handler is
//! not queued but put on this module's pending list. The thread that read
//! it runs the pending handlers ([`run_pending`]) right after, with the
//! state lock released, so handlers may call PVM functions (pack, send,
//! buffer calls). Only one thread runs handlers at a time, and a handler
//! that itself waits for a message (which the man page forbids, but which
//! cannot be prevented) never runs handlers recursively: messages claimed
//! meanwhile stay pending until the outer handler has returned.
//!
//! While a handler runs, the message is the active receive buffer; the
//! caller's send and receive buffers are saved before and restored after
//! (when they still exist), and the message is freed unless the handler
//! freed it already.
//!
//! Handler ids are PVM 3.4.6's: counted from 0, the most recently freed id
//! is reused first, else the next never used one. PVM 3.4.6's library
//! installs nine handlers of its own (ids 0-8) when the task enrolls; pvm6 has none
//! but takes nine ids then ([`enrolled`]), so an enrolled program's first
//! handler is 9 as with the original (ids it never sees). pvm_exit removes
//! the program's handlers ([`exit`]), not those nine.

use super::Runtime;
use crate::msg::MsgInfo;
use crate::os::cvars::pvmtoplvl;
use crate::sync::Locked;
use crate::wire::tev::{did, ev, Val};
use crate::{Error, Result};
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

/// A handler: called with the buffer id of the message; its return value is
/// ignored, as in PVM.
pub type HandlerFn = Arc<dyn Fn(i32) -> i32 + Send + Sync>;

struct Handler {
    id: i32,
    src: i32,
    tag: i32,
    ctx: i32,
    func: HandlerFn,
}

impl Handler {
    fn matches(&self, info: &MsgInfo) -> bool {
        (self.src == -1 || self.src == info.src)
            && (self.tag == -1 || self.tag == info.tag)
            && (self.ctx == -1 || self.ctx == info.ctx)
    }
}

/// How many handlers PVM 3.4.6's library installs for itself when a task
/// enrolls (their ids are taken here too; see the module doc).
const LIBRARY_HANDLERS: usize = 9;

/// The message handlers (pvm_addmhf); lives in the runtime ([`super::rt`]).
#[derive(Default)]
pub(super) struct Table {
    handlers: Vec<Handler>,
    /// Ids taken in place of PVM 3.4.6's own handlers.
    reserved: Vec<i32>,
    /// Freed ids, the most recently freed last (reused first).
    free: Vec<i32>,
    /// The next id never handed out.
    next: i32,
    /// Claimed messages waiting for their handler: (buffer id, handler,
    /// the handler's source, tag and context).
    pending: VecDeque<(i32, HandlerFn, [i32; 3])>,
    /// A thread is running handlers.
    running: bool,
}

thread_local! {
    /// This thread is inside a handler.
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
}

fn table() -> MutexGuard<'static, Table> {
    super::rt().mhf.locked()
}

impl Table {
    /// A free id: the most recently freed, else the next new one.
    fn alloc(&mut self) -> i32 {
        self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// The task enrolled: takes the ids of PVM 3.4.6's own handlers, once (a
/// task enrolling again after pvm_exit still holds them).
pub(super) fn enrolled() {
    let mut t = table();
    if t.reserved.is_empty() {
        for _ in 0..LIBRARY_HANDLERS {
            let id = t.alloc();
            t.reserved.push(id);
        }
    }
}

/// pvm_exit: removes the program's handlers (highest id first, so the
/// lowest is reused first).
pub(super) fn exit() {
    let mut t = table();
    let mut ids: Vec<i32> = t.handlers.drain(..).map(|h| h.id).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    t.free.extend(ids);
}

/// pvm_addmhf: installs `func` for messages from `src` with `tag` in
/// context `ctx` (each -1 for any). Returns the handler id;
/// `Err(Exists)` when a handler with the same three values exists.
pub fn add(src: i32, tag: i32, ctx: i32, func: HandlerFn) -> Result<i32> {
    let mut t = table();
    if t.handlers
        .iter()
        .any(|h| h.src == src && h.tag == tag && h.ctx == ctx)
    {
        return Err(Error::Exists);
    }
    let id = t.alloc();
    t.handlers.push(Handler {
        id,
        src,
        tag,
        ctx,
        func,
    });
    Ok(id)
}

/// pvm_delmhf: removes handler `id`; its id is the next one handed out.
/// `Err(BadParam)` for a negative id, `Err(NotFound)` for an unknown one.
/// One of the ids taken at enrollment can be deleted too (PVM 3.4.6 lets
/// a program delete its library's handlers the same way).
pub fn del(id: i32) -> Result<()> {
    if id < 0 {
        return Err(Error::BadParam);
    }
    let mut t = table();
    if let Some(pos) = t.handlers.iter().position(|h| h.id == id) {
        t.handlers.remove(pos);
    } else if let Some(pos) = t.reserved.iter().position(|&r| r == id) {
        t.reserved.remove(pos);
    } else {
        return Err(Error::NotFound);
    }
    t.free.push(id);
    Ok(())
}

/// Whether no handler is installed.
pub fn none() -> bool {
    table().handlers.is_empty()
}

/// The installed handlers as (id, src, tag, ctx), in id order (for
/// `pvmdisplaymhfinfo`).
pub fn list() -> Vec<(i32, i32, i32, i32)> {
    let mut v: Vec<_> = table()
        .handlers
        .iter()
        .map(|h| (h.id, h.src, h.tag, h.ctx))
        .collect();
    v.sort_unstable();
    v
}

/// Called while filing message `id` (state lock held): when a handler
/// matches, the message is put on the pending list and `true` returned
/// (the caller then does not queue it).
pub(super) fn claim(id: i32, info: &MsgInfo) -> bool {
    let mut t = table();
    let Some(func) = t
        .handlers
        .iter()
        .find(|h| h.matches(info))
        .map(|h| (h.func.clone(), [h.src, h.tag, h.ctx]))
    else {
        return false;
    };
    t.pending.push_back((id, func.0, func.1));
    true
}

/// Runs the pending handlers. Must be called WITHOUT the state lock held.
/// Does nothing inside a handler or while another thread runs handlers
/// (that thread takes the new ones too).
pub(super) fn run_pending(rt: &Runtime) {
    if IN_HANDLER.with(Cell::get) {
        return;
    }
    {
        let mut t = table();
        if t.running || t.pending.is_empty() {
            return;
        }
        t.running = true;
    }
    loop {
        let next = {
            let mut t = table();
            let n = t.pending.pop_front();
            if n.is_none() {
                t.running = false;
            }
            n
        };
        let Some((id, func, pattern)) = next else {
            return;
        };
        invoke(rt, id, &func, pattern);
    }
}

/// Forgets pending messages (pvm_exit: their buffers are freed).
pub(super) fn drop_pending(st: &mut super::State) {
    let pending: Vec<i32> = table().pending.drain(..).map(|(id, ..)| id).collect();
    for id in pending {
        // Already freed by someone else means nothing is left to do.
        let _ = st.bufs.freebuf(id);
    }
}

fn invoke(rt: &Runtime, id: i32, func: &HandlerFn, [hsrc, htag, hctx]: [i32; 3]) {
    let (old_s, old_r, msg) = {
        let mut st = rt.lock();
        let s = st.bufs.sbuf();
        let r = st.bufs.rbuf();
        if st.bufs.set_rbuf(id).is_err() {
            return;
        }
        let msg = st.bufs.get(id).ok().map(|b| {
            let i = b.info();
            [b.reported_len() as i32, i.tag, i.ctx, i.src]
        });
        (s, r, msg)
    };
    // PVM 3.4.6's mhf_invoke event (entry only): the handler's source, tag
    // and context, then the message's buffer, length, tag, context and
    // source; PVM calls inside the handler are traced as top-level calls.
    let mut pushed = None;
    if super::trace::armed() && super::trace::in_mask(ev::MHF_INVOKE) {
        let [len, tag, ctx, src] = msg.unwrap_or([-1; 4]);
        super::trace::event(
            ev::MHF_INVOKE,
            false,
            &[
                (did::RST, Val::Int(hsrc)),
                (did::RMC, Val::Int(htag)),
                (did::RCX, Val::Int(hctx)),
                (did::MB, Val::Int(id)),
                (did::MNB, Val::Int(len)),
                (did::MC, Val::Int(tag)),
                (did::MCX, Val::Int(ctx)),
                (did::SRC, Val::Int(src)),
            ],
        );
        pushed = Some(pvmtoplvl.swap(1, Ordering::Relaxed));
    }
    IN_HANDLER.with(|c| c.set(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| func(id)));
    IN_HANDLER.with(|c| c.set(false));
    if let Some(saved) = pushed {
        pvmtoplvl.store(saved, Ordering::Relaxed);
    }
    if outcome.is_err() {
        log::error!("message handler for buffer {id} panicked");
    }
    let mut st = rt.lock();
    if st.bufs.get(id).is_ok() {
        // The handler did not free it: it is ours to free.
        let _ = st.bufs.freebuf(id);
    }
    let live = |st: &super::State, b: i32| b == 0 || st.bufs.get(b).is_ok();
    if live(&st, old_s) {
        let _ = st.bufs.set_sbuf(old_s);
    }
    if live(&st, old_r) {
        let _ = st.bufs.set_rbuf(old_r);
    } else {
        let _ = st.bufs.set_rbuf(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(src: i32, tag: i32, ctx: i32) -> MsgInfo {
        MsgInfo {
            src,
            dst: 0,
            tag,
            ctx,
            wid: 0,
            crc: 0,
        }
    }

    #[test]
    fn add_match_delete() {
        let f: HandlerFn = Arc::new(|_| 0);
        let a = add(0x40001, 77_001, -1, f.clone()).unwrap();
        assert_eq!(add(0x40001, 77_001, -1, f.clone()), Err(Error::Exists));
        let b = add(-1, 77_002, 5, f.clone()).unwrap();
        assert_ne!(a, b);
        assert!(list()
            .iter()
            .any(|&(id, s, t, c)| id == a && s == 0x40001 && t == 77_001 && c == -1));
        let h = |i: &MsgInfo| table().handlers.iter().any(|h| h.matches(i));
        assert!(h(&info(0x40001, 77_001, 9)));
        assert!(!h(&info(0x40002, 77_001, 9)));
        assert!(h(&info(0x40009, 77_002, 5)));
        assert!(!h(&info(0x40009, 77_002, 6)));
        assert_eq!(del(-1), Err(Error::BadParam));
        del(a).unwrap();
        assert_eq!(del(a), Err(Error::NotFound));
        del(b).unwrap();
        assert!(!h(&info(0x40001, 77_001, 9)));
    }
}
