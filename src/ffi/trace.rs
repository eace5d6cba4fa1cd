//! The trace internals of PVM 3.4's libpvm that other libraries compiled
//! against it reference: Debian's libgpvm3.so.3 (its group calls wrap
//! themselves in PVM's trace macros), the console `pvm` and `tracer`
//! (they read the event and data-identifier tables).
//!
//! pvm6's own calls make their events in Rust (`Tev` below, and
//! src/task/trace.rs); these are what C code compiled against PVM 3.4's
//! trace macros reaches:
//!
//! - `int pvmtoplvl` (1: the caller is at the top level of a PVM call; a
//!   traced call sets it to 0 meanwhile, as PVM's `TEV_EXCLUSIVE` macro
//!   does, and restores it, so calls made inside it are not traced);
//! - `struct pvmtrcencvec *pvmtrccodef`: the encoders PVM's `TEV_PACK_*`
//!   macros call; they are only reached after `tev_begin` accepted an
//!   event, which it does not (events of C libraries are not produced:
//!   docs/COMPATIBILITY.md), and pack nothing;
//! - `int tev_begin(int kind, int entry_exit)`: 0 (no event started);
//!   `int tev_fin(void)`: 0; `int tev_do_trace(int, int)`: 0;
//!   `void tev_flush(int)`: sends the task's buffered events (or its
//!   timing or profiling summary) to its tracer;
//! - `struct Pvmtevinfo pvmtevinfo[TEV_MAX + 1]`: the event names of
//!   pvmtev.h (`addhosts` .. `user_defined`), with zero marks and counts;
//! - `struct Pvmtevdid pvmtevdidlist[TEV_DID_MAX + 1]`: the semantic data
//!   identifiers (`AN` "PVM Architecture Name" ..).

use crate::task;
use crate::task::trace::{did, Field, Val};
use std::cell::UnsafeCell;
#[cfg(test)]
use std::ffi::CStr;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::Ordering;
use std::sync::atomic::{AtomicI32, AtomicPtr};

/// 1 at the top level of a PVM call (PVM's `pvmtoplvl`).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmtoplvl: AtomicI32 = AtomicI32::new(1);

/// One encoder of `struct pvmtrcencvec`: (data id, array flag, data,
/// count, stride) -> status.
type Encoder = extern "C" fn(c_int, c_int, *mut c_void, c_int, c_int) -> c_int;

/// `struct pvmtrcencvec`: byte, cplx, dcplx, double, float, int, uint,
/// long, ulong, short, ushort, str.
#[repr(C)]
pub struct TraceEncoders {
    pub enc: [Encoder; 12],
}

/// Packs nothing: no event is ever open (see the module docs).
extern "C" fn encode_nothing(
    _did: c_int,
    _array: c_int,
    _data: *mut c_void,
    _count: c_int,
    _stride: c_int,
) -> c_int {
    0
}

static ENCODERS: TraceEncoders = TraceEncoders {
    enc: [encode_nothing; 12],
};

/// `struct pvmtrcencvec *pvmtrccodef`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmtrccodef: AtomicPtr<TraceEncoders> =
    AtomicPtr::new(&ENCODERS as *const TraceEncoders as *mut TraceEncoders);

/// Starts trace event `kind`: 0, no event started (module docs).
#[no_mangle]
pub extern "C" fn tev_begin(_kind: c_int, _entry_exit: c_int) -> c_int {
    0
}

/// Ends the event `tev_begin` started: there is none; 0.
#[no_mangle]
pub extern "C" fn tev_fin() -> c_int {
    0
}

/// Whether event `kind` is traced now: 0.
#[no_mangle]
pub extern "C" fn tev_do_trace(_kind: c_int, _entry_exit: c_int) -> c_int {
    0
}

/// Sends the task's buffered trace events to its tracer.
#[no_mangle]
pub extern "C" fn tev_flush(_force: c_int) {
    super::boundary::guard("tev_flush", (), task::trace::flush);
}

/// One traced call (PVM's `TEV_DECLS` / `TEV_EXCLUSIVE`): made by
/// [`Tev::top`] only when the task traces and the call is at the top level
/// (not inside another traced PVM call), so with tracing off a call costs
/// one load and a branch. Its entry and exit events go to
/// `task::trace::event`, which checks the mask.
pub struct Tev {
    kind: c_int,
}

impl Tev {
    /// Starts traced call `kind`, or None (not tracing, or nested).
    #[inline(always)]
    pub fn top(kind: c_int) -> Option<Tev> {
        if !task::trace::armed() {
            return None;
        }
        Tev::top_slow(kind)
    }

    #[cold]
    fn top_slow(kind: c_int) -> Option<Tev> {
        pvmtoplvl
            .compare_exchange(1, 0, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| Tev { kind })
    }

    /// The entry event.
    pub fn entry(&self, fields: &[Field<'_>]) {
        task::trace::event(self.kind, false, fields);
    }

    /// The exit event; ends the call.
    pub fn exit(self, fields: &[Field<'_>]) {
        task::trace::event(self.kind, true, fields);
    }

    /// Ends an untraced-exit call (pvm_exit) without an exit event.
    pub fn end(self) {}

    /// The exit event with the condition code `cc` alone; returns `cc`.
    pub fn cc(tev: Option<Tev>, cc: c_int) -> c_int {
        if let Some(t) = tev {
            t.exit(&[(did::CC, Val::Int(cc))]);
        }
        cc
    }
}

impl Drop for Tev {
    fn drop(&mut self) {
        pvmtoplvl.store(1, Ordering::Relaxed);
    }
}

/// The active send buffer's length in bytes (0 without one).
pub fn sbuf_bytes() -> c_int {
    task::with_bufs(|t| {
        let id = t.sbuf();
        Ok(t.get(id).map(|b| b.reported_len() as c_int).unwrap_or(0))
    })
    .unwrap_or(0)
}

/// The current message context.
pub fn context() -> c_int {
    task::getcontext().unwrap_or(0)
}

/// (bytes, tag, context, source) of buffer `id`; -1s when there is none.
pub fn msg_info(id: c_int) -> [c_int; 4] {
    if id <= 0 {
        return [-1; 4];
    }
    task::with_bufs(|t| {
        let b = t.get(id)?;
        let i = b.info();
        Ok([b.reported_len() as c_int, i.tag, i.ctx, i.src])
    })
    .unwrap_or([-1; 4])
}

/// The exit event of a receive call that returned buffer `id` (MB, MNB,
/// MC, MCX, SRC).
pub fn recv_exit(tev: Option<Tev>, id: c_int) -> c_int {
    if let Some(t) = tev {
        let [n, tag, ctx, src] = msg_info(id);
        t.exit(&[
            (did::MB, Val::Int(id)),
            (did::MNB, Val::Int(n)),
            (did::MC, Val::Int(tag)),
            (did::MCX, Val::Int(ctx)),
            (did::SRC, Val::Int(src)),
        ]);
    }
    id
}

/// The entry event of a receive call (RST, RMC, RCX).
pub fn recv_entry(tev: &Option<Tev>, tid: c_int, tag: c_int) {
    if let Some(t) = tev {
        t.entry(&[
            (did::RST, Val::Int(tid)),
            (did::RMC, Val::Int(tag)),
            (did::RCX, Val::Int(context())),
        ]);
    }
}

/// `struct timeval` of the C library (two longs on LP64).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Timeval {
    pub sec: std::ffi::c_long,
    pub usec: std::ffi::c_long,
}

/// `struct Pvmtevinfo` of pvmtev.h (56 bytes on LP64).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pvmtevinfo {
    pub name: *const c_char,
    pub desc_status: c_int,
    pub mark: Timeval,
    pub total: Timeval,
    pub count: c_int,
}

/// `struct Pvmtevdid` of pvmtev.h.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pvmtevdid {
    pub did: *const c_char,
    pub desc: *const c_char,
}

/// A C array in writable data (C declares these tables without const).
#[repr(transparent)]
pub struct CTable<T, const N: usize>(UnsafeCell<[T; N]>);

// SAFETY: the pointers inside point at 'static C strings; Rust only reads
// the tables (through `entry`); C may write them as it could PVM's.
unsafe impl<T, const N: usize> Sync for CTable<T, N> {}

impl<T: Copy, const N: usize> CTable<T, N> {
    /// Entry `i`, or None past the end.
    pub fn entry(&self, i: usize) -> Option<T> {
        // SAFETY: bounds-checked read of a plain array; no reference kept.
        (i < N).then(|| unsafe { (*self.0.get())[i] })
    }
}

use crate::wire::tev::{DIDS, EVENT_NAMES, NDIDS, NEVENTS};

/// `struct Pvmtevinfo pvmtevinfo[]`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmtevinfo: CTable<Pvmtevinfo, NEVENTS> = CTable(UnsafeCell::new({
    let zero = Timeval { sec: 0, usec: 0 };
    let mut t = [Pvmtevinfo {
        name: std::ptr::null(),
        desc_status: 0,
        mark: zero,
        total: zero,
        count: 0,
    }; NEVENTS];
    let mut i = 0;
    while i < NEVENTS {
        t[i].name = EVENT_NAMES[i].as_ptr();
        i += 1;
    }
    t
}));

/// `struct Pvmtevdid pvmtevdidlist[]`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmtevdidlist: CTable<Pvmtevdid, NDIDS> = CTable(UnsafeCell::new({
    let mut t = [Pvmtevdid {
        did: std::ptr::null(),
        desc: std::ptr::null(),
    }; NDIDS];
    let mut i = 0;
    while i < NDIDS {
        t[i].did = DIDS[i].0.as_ptr();
        t[i].desc = DIDS[i].1.as_ptr();
        i += 1;
    }
    t
}));

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: *const c_char) -> &'static str {
        // SAFETY: the tables point at 'static C strings.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn layouts_match_pvmtev_h() {
        assert_eq!(std::mem::size_of::<Pvmtevinfo>(), 56);
        assert_eq!(std::mem::size_of::<Pvmtevdid>(), 16);
        assert_eq!(std::mem::size_of_val(&pvmtevinfo), 0x17d8);
        assert_eq!(std::mem::size_of_val(&pvmtevdidlist), 0x7b0);
        assert_eq!(std::mem::size_of::<TraceEncoders>(), 12 * 8);
    }

    #[test]
    fn tables_name_the_events_and_ids() {
        let e = |i| text(pvmtevinfo.entry(i).unwrap().name);
        assert_eq!(e(0), "addhosts");
        assert_eq!(e(19), "joingroup"); // TEV_JOINGROUP
        assert_eq!(e(108), "user_defined"); // TEV_MAX
        assert!(pvmtevinfo.entry(109).is_none());
        let d = pvmtevdidlist.entry(25).unwrap(); // TEV_DID_GN
        assert_eq!((text(d.did), text(d.desc)), ("GN", "Group Name"));
        let d = pvmtevdidlist.entry(122).unwrap(); // TEV_DID_MAX
        assert_eq!(text(d.did), "WID");
    }

    #[test]
    fn tracing_is_off() {
        assert_eq!(tev_begin(19, 0x4000), 0);
        assert_eq!(tev_do_trace(19, 0x4000), 0);
        assert_eq!(tev_fin(), 0);
        let v = pvmtrccodef.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: it points at the static ENCODERS.
        let f = unsafe { (*v).enc[5] };
        assert_eq!(f(4, 0, std::ptr::null_mut(), 1, 1), 0);
    }
}
