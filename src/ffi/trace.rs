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
//!   macros call between `tev_begin` and `tev_fin`: ints, longs and
//!   strings (scalars and arrays) become the event's fields; bytes, shorts,
//!   floats, doubles and complex values are not kept (PVM's own libraries
//!   pack none of them);
//! - `int tev_begin(int kind, int entry_exit)`: opens the event (1) when
//!   the task traces (the macro checked its tracer and mask), else 0;
//!   `int tev_fin(void)`: sends it, into the trace buffer or the timing or
//!   count summary, like pvm6's own events (1); `int tev_do_trace(int,
//!   int)`: the macro's check for user code, then `tev_begin`;
//!   `void tev_flush(int)`: sends the task's buffered events (or its
//!   timing or profiling summary) to its tracer. So the group calls of
//!   Debian's libgpvm3, compiled with these macros, are traced on pvm6;
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
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering;

/// 1 at the top level of a PVM call (PVM's `pvmtoplvl`; it lives in
/// `os::cvars`, as the message handler runs of `task` set it too).
pub use crate::os::cvars::pvmtoplvl;

/// One encoder of `struct pvmtrcencvec`: (data id, array flag, data,
/// count, stride) -> status.
type Encoder = extern "C" fn(c_int, c_int, *mut c_void, c_int, c_int) -> c_int;

/// `struct pvmtrcencvec`: byte, cplx, dcplx, double, float, int, uint,
/// long, ulong, short, ushort, str.
#[repr(C)]
pub struct TraceEncoders {
    pub enc: [Encoder; 12],
}

/// A value a C library packed into the open event.
enum CVal {
    Int(i32),
    Ints(Vec<i32>),
    Long(i64),
    Longs(Vec<i64>),
    Str(Vec<u8>),
    Strs(Vec<Vec<u8>>),
}

/// The event a C library opened with `tev_begin` (PVM's trace macros):
/// its kind, whether it is the exit event, and the fields packed so far.
struct CEvent {
    kind: c_int,
    exit: bool,
    fields: Vec<(c_int, CVal)>,
}

/// The open event (one at a time, as PVM's single trace buffer). Bounded:
/// at most [`MAX_CFIELDS`] fields are kept.
static CEVENT: std::sync::Mutex<Option<CEvent>> = std::sync::Mutex::new(None);

/// Most fields one event of a C library keeps (PVM's events have ten at most).
const MAX_CFIELDS: usize = 64;
/// Most elements of one array field kept.
const MAX_CARRAY: usize = 1 << 16;

fn with_event(f: impl FnOnce(&mut CEvent)) {
    let mut g = CEVENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(ev) = g.as_mut() {
        if ev.fields.len() < MAX_CFIELDS {
            f(ev);
        }
    }
}

/// The `cnt` elements of `data`, every `std`-th (PVM's packing arguments).
///
/// # Safety
/// `data` points at `(cnt - 1) * std + 1` readable elements of `T` (or
/// is NULL, or `cnt` < 1: nothing is read).
unsafe fn elements<T: Copy>(data: *const T, cnt: c_int, std: c_int) -> Vec<T> {
    if data.is_null() || cnt < 1 || std < 1 {
        return Vec::new();
    }
    let n = (cnt as usize).min(MAX_CARRAY);
    // SAFETY: the caller's contract: element i * std is readable for i < cnt.
    (0..n)
        .map(|i| unsafe { *data.add(i * std as usize) })
        .collect()
}

/// Adds field `did` of numbers `v`: all of them when `array` has PVM's
/// array bit (0x80), else the first (0 when there is none).
fn push_numbers<T: Copy + Default>(
    did: c_int,
    array: c_int,
    v: Vec<T>,
    one: fn(T) -> CVal,
    many: fn(Vec<T>) -> CVal,
) {
    with_event(|ev| {
        let val = if array & 0x80 != 0 {
            many(v)
        } else {
            one(v.first().copied().unwrap_or_default())
        };
        ev.fields.push((did, val));
    });
}

/// `enc_int` (and `enc_uint`) of `pvmtrccodef`: an int, or an array of them.
extern "C" fn encode_int(
    did: c_int,
    array: c_int,
    data: *mut c_void,
    cnt: c_int,
    std: c_int,
) -> c_int {
    // SAFETY: PVM's TEV_PACK_INT passes `cnt` ints every `std` at `data`.
    let v = unsafe { elements(data as *const c_int, cnt, std) };
    push_numbers(did, array, v, CVal::Int, CVal::Ints);
    0
}

/// `enc_long` (and `enc_ulong`).
extern "C" fn encode_long(
    did: c_int,
    array: c_int,
    data: *mut c_void,
    cnt: c_int,
    std: c_int,
) -> c_int {
    // SAFETY: PVM's TEV_PACK_LONG passes `cnt` longs every `std` at `data`.
    let v = unsafe { elements(data as *const std::ffi::c_long, cnt, std) };
    push_numbers(did, array, v, CVal::Long, CVal::Longs);
    0
}

/// A C string, cut at [`MAX_CARRAY`] bytes; empty for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn c_bytes(p: *const c_char) -> Vec<u8> {
    if p.is_null() {
        return Vec::new();
    }
    // SAFETY: the caller's contract.
    let b = unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes();
    b[..b.len().min(MAX_CARRAY)].to_vec()
}

/// `enc_str`: a string, or (array) `cnt` strings every `std` of a `char *`
/// array, as PVM's TEV_PACK_STRING passes them.
extern "C" fn encode_str(
    did: c_int,
    array: c_int,
    data: *mut c_void,
    cnt: c_int,
    std: c_int,
) -> c_int {
    let val = if array & 0x80 != 0 {
        // SAFETY: an array of `cnt` string pointers, every `std`.
        let ptrs = unsafe { elements(data as *const *const c_char, cnt, std) };
        // SAFETY: each is a NUL-terminated string (or NULL).
        CVal::Strs(ptrs.into_iter().map(|p| unsafe { c_bytes(p) }).collect())
    } else {
        // SAFETY: one NUL-terminated string (or NULL).
        CVal::Str(unsafe { c_bytes(data as *const c_char) })
    };
    with_event(|ev| ev.fields.push((did, val)));
    0
}

/// The encoders of types pvm6 does not carry in C-built events (bytes,
/// shorts, floats, doubles, complex): nothing is packed.
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
    // byte, cplx, dcplx, double, float, int, uint, long, ulong, short,
    // ushort, str
    enc: [
        encode_nothing,
        encode_nothing,
        encode_nothing,
        encode_nothing,
        encode_nothing,
        encode_int,
        encode_int,
        encode_long,
        encode_long,
        encode_nothing,
        encode_nothing,
        encode_str,
    ],
};

/// `struct pvmtrcencvec *pvmtrccodef`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmtrccodef: AtomicPtr<TraceEncoders> =
    AtomicPtr::new(&ENCODERS as *const TraceEncoders as *mut TraceEncoders);

/// Starts trace event `kind` (`entry_exit`: TEV_EVENT_ENTRY or _EXIT) for
/// the trace macros of a C library (PVM's TEV_DO_TRACE checked the task's
/// tracer and mask): 1, the event is open and `pvmtrccodef`'s encoders
/// add its fields; 0 when the task does not trace.
#[no_mangle]
pub extern "C" fn tev_begin(kind: c_int, entry_exit: c_int) -> c_int {
    if !task::trace::armed() || !(0..crate::wire::tev::NEVENTS as c_int).contains(&kind) {
        return 0;
    }
    let mut g = CEVENT.lock().unwrap_or_else(|e| e.into_inner());
    *g = Some(CEvent {
        kind,
        exit: entry_exit & crate::wire::tev::EXIT != 0,
        fields: Vec::new(),
    });
    1
}

/// Ends the event `tev_begin` opened: it goes to the tracer (or into the
/// trace buffer, or the timing or count summary) as pvm6's own do; 1.
#[no_mangle]
pub extern "C" fn tev_fin() -> c_int {
    let ev = CEVENT.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(ev) = ev else {
        return 0;
    };
    super::boundary::guard("tev_fin", (), || {
        let strs: Vec<Vec<&[u8]>> = ev
            .fields
            .iter()
            .map(|(_, v)| match v {
                CVal::Strs(s) => s.iter().map(|b| b.as_slice()).collect(),
                _ => Vec::new(),
            })
            .collect();
        let longs: Vec<Vec<i32>> = ev
            .fields
            .iter()
            .map(|(_, v)| match v {
                CVal::Longs(l) => l.iter().map(|&x| x as i32).collect(),
                _ => Vec::new(),
            })
            .collect();
        let fields: Vec<Field<'_>> = ev
            .fields
            .iter()
            .enumerate()
            .map(|(i, (did, v))| {
                let val = match v {
                    CVal::Int(x) => Val::Int(*x),
                    CVal::Ints(x) => Val::Ints(x),
                    CVal::Long(x) => Val::Long(*x),
                    CVal::Longs(_) => Val::Ints(&longs[i]),
                    CVal::Str(x) => Val::Str(x),
                    CVal::Strs(_) => Val::Strs(&strs[i]),
                };
                (*did, val)
            })
            .collect();
        task::trace::event(ev.kind, ev.exit, &fields);
    });
    1
}

/// PVM's TEV_DO_TRACE for user code: whether the task traces event `kind`
/// now (then the event is open, as after `tev_begin`); 0 or 1.
#[no_mangle]
pub extern "C" fn tev_do_trace(kind: c_int, entry_exit: c_int) -> c_int {
    if !task::trace::armed() || !task::trace::in_mask(kind) {
        return 0;
    }
    tev_begin(kind, entry_exit)
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
