//! The trace internals of PVM 3.4's libpvm that other libraries compiled
//! against it reference: Debian's libgpvm3.so.3 (its group calls wrap
//! themselves in PVM's trace macros), the console `pvm` and `tracer`
//! (they read the event and data-identifier tables).
//!
//! pvm6 does not generate trace events yet (tracing is a later issue).
//! What is here is what a program linked against PVM 3.4 needs to run
//! with tracing off:
//!
//! - `int pvmtoplvl` (1: the caller is at the top level of a PVM call; a
//!   library call that wraps other calls sets it to 0 meanwhile, as PVM's
//!   `TEV_EXCLUSIVE` macro does, and restores it);
//! - `struct pvmtrcencvec *pvmtrccodef`: the encoders PVM's `TEV_PACK_*`
//!   macros call; they are only reached after `tev_begin` accepted an
//!   event, which it never does here, and pack nothing;
//! - `int tev_begin(int kind, int entry_exit)`: starts an event: 0 (none
//!   started); `int tev_fin(void)`: ends one: 0; `int tev_do_trace(int,
//!   int)`: whether to trace: 0; `void tev_flush(int)`: no buffered events
//!   to send;
//! - `struct Pvmtevinfo pvmtevinfo[TEV_MAX + 1]`: the event names of
//!   pvmtev.h (`addhosts` .. `user_defined`), with zero marks and counts;
//! - `struct Pvmtevdid pvmtevdidlist[TEV_DID_MAX + 1]`: the semantic data
//!   identifiers (`AN` "PVM Architecture Name" ..).
//!
//! PVM's macros call `tev_begin` only when `pvmtrc.trctid` names a tracer
//! other than the task itself (src/ffi/internals.rs keeps `pvmtrc` equal to
//! the task's own `PvmSelfTrace*` settings); with no tracer nothing is
//! called at all, and with one no event is generated either.

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void, CStr};
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

/// Sends the buffered events to the tracer: none are buffered.
#[no_mangle]
pub extern "C" fn tev_flush(_force: c_int) {}

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

/// pvmtev.h's TEV_MAX + 1.
const NEVENTS: usize = 109;
/// pvmtev.h's TEV_DID_MAX + 1.
const NDIDS: usize = 123;

/// Event names in pvmtev.h's `TEV_*` order.
const EVENT_NAMES: [&CStr; NEVENTS] = [
    c"addhosts",
    c"barrier",
    c"bcast",
    c"bufinfo",
    c"config",
    c"delete",
    c"delhosts",
    c"exit",
    c"freebuf",
    c"getfds",
    c"getinst",
    c"getopt",
    c"getrbuf",
    c"getsbuf",
    c"gettid",
    c"gsize",
    c"halt",
    c"initsend",
    c"insert",
    c"joingroup",
    c"kill",
    c"lookup",
    c"lvgroup",
    c"mcast",
    c"mkbuf",
    c"mstat",
    c"mytid",
    c"notify",
    c"nrecv",
    c"parent",
    c"perror",
    c"pkbyte",
    c"pkcplx",
    c"pkdcplx",
    c"pkdouble",
    c"pkfloat",
    c"pkint",
    c"pkuint",
    c"pklong",
    c"pkulong",
    c"pkshort",
    c"pkushort",
    c"pkstr",
    c"probe",
    c"pstat",
    c"recv",
    c"recvf",
    c"send",
    c"sendsig",
    c"setopt",
    c"setrbuf",
    c"setsbuf",
    c"spawn",
    c"start_pvmd",
    c"tasks",
    c"tickle",
    c"tidtohost",
    c"trecv",
    c"upkbyte",
    c"upkcplx",
    c"upkdcplx",
    c"upkdouble",
    c"upkfloat",
    c"upkint",
    c"upkuint",
    c"upklong",
    c"upkulong",
    c"upkshort",
    c"upkushort",
    c"upkstr",
    c"version",
    c"reg_hoster",
    c"reg_rm",
    c"reg_tasker",
    c"reg_tracer",
    c"newtask",
    c"endtask",
    c"spntask",
    c"archcode",
    c"catchout",
    c"getmwid",
    c"gettmask",
    c"hostsync",
    c"packf",
    c"precv",
    c"psend",
    c"reduce",
    c"setmwid",
    c"settmask",
    c"unpackf",
    c"gather",
    c"scatter",
    c"putinfo",
    c"getinfo",
    c"delinfo",
    c"getmboxinfo",
    c"newcontext",
    c"freecontext",
    c"setcontext",
    c"getcontext",
    c"siblings",
    c"getminfo",
    c"setminfo",
    c"addmhf",
    c"delmhf",
    c"mhf_invoke",
    c"timing",
    c"profiling",
    c"user_defined",
];

/// Data identifiers and their descriptions in `TEV_DID_*` order.
const DIDS: [(&CStr, &CStr); NDIDS] = [
    (c"AN", c"PVM Architecture Name"),
    (c"AC", c"PVM Architecture Code"),
    (c"AS", c"Argument Strings (Argc/Argv)"),
    (c"BF", c"Block Flag"),
    (c"CC", c"Condition Code"),
    (c"CN", c"Class Name"),
    (c"CI", c"Class Index"),
    (c"CF", c"Class Flags"),
    (c"CD", c"Class Data"),
    (c"CR", c"Returned Class Data"),
    (c"CL", c"Returned Class Names"),
    (c"CDA", c"Collective Data Address"),
    (c"CDT", c"Collective Data Type"),
    (c"CDX", c"Collective Data"),
    (c"CDC", c"Collective Count"),
    (c"CGI", c"Collective Group Result Instance"),
    (c"CRF", c"Collective Reduce Function"),
    (c"CXC", c"Current Message Context"),
    (c"CXF", c"Freed Message Context"),
    (c"CXN", c"New Message Context"),
    (c"CXS", c"Set Message Context"),
    (c"ERI", c"PVM Error Identifier"),
    (c"ERR", c"PVM Error String"),
    (c"FDS", c"File Descriptors"),
    (c"FP", c"File Pointer"),
    (c"GN", c"Group Name"),
    (c"GI", c"Group Instance Number"),
    (c"GT", c"Group Task ID"),
    (c"GS", c"Group Size"),
    (c"GBC", c"Group Barrier Count"),
    (c"HN", c"Host Name"),
    (c"HNL", c"Host Name List"),
    (c"HNA", c"Host Name Alias"),
    (c"HPT", c"Host PVMD Task ID"),
    (c"HA", c"Host Architecture"),
    (c"HSP", c"Host Speed"),
    (c"HIS", c"Host Information Structures"),
    (c"HCS", c"Host Clock Seconds"),
    (c"HCU", c"Host Clock Microseconds"),
    (c"HDS", c"Host Delta Seconds"),
    (c"HDU", c"Host Delta Microseconds"),
    (c"HS", c"Host Status"),
    (c"INB", c"Info Number of Message Bytes"),
    (c"IMC", c"Info Message Code"),
    (c"IST", c"Info Message Source Task"),
    (c"MC", c"Message Code"),
    (c"MCX", c"Message Context"),
    (c"MB", c"Message Buffer"),
    (c"MNB", c"Message Number of Bytes"),
    (c"SRC", c"Message Source Task ID"),
    (c"DST", c"Message Destination Task ID"),
    (c"MDL", c"Message Destination Task ID List"),
    (c"MTS", c"Message Timeout Seconds"),
    (c"MTU", c"Message Timeout Microseconds"),
    (c"MRF", c"Message Receive Function"),
    (c"MRB", c"Message Receive Buffer"),
    (c"MSB", c"Message Send Buffer"),
    (c"ME", c"Message Encoding"),
    (c"MHI", c"Message Handler Index"),
    (c"AST", c"Actual Message Sender Task ID"),
    (c"AMC", c"Actual Message Code"),
    (c"AML", c"Actual Message Length"),
    (c"NE", c"Notify Event ID"),
    (c"NMC", c"Notify Message Code"),
    (c"NCT", c"Notify Count"),
    (c"NTL", c"Notify Task ID List"),
    (c"NH", c"Number of Hosts"),
    (c"NA", c"Number of Architectures"),
    (c"OPT", c"PVM Option ID"),
    (c"OPV", c"PVM Option Value"),
    (c"OS", c"Output String"),
    (c"PDA", c"Pack Data Address"),
    (c"PDT", c"Pack Data Type"),
    (c"PC", c"Pack Count"),
    (c"PSD", c"Pack Stride"),
    (c"PSG", c"Pack String"),
    (c"PF", c"Pack Format"),
    (c"PRF", c"Profiling Count"),
    (c"RST", c"Receive Msg Source Task / Wildcard"),
    (c"RMC", c"Receive Msg Code / Wildcard"),
    (c"RCX", c"Receive Msg Context"),
    (c"SN", c"Signal Number"),
    (c"SE", c"Spawn Executable File"),
    (c"SF", c"Spawn Flags"),
    (c"SW", c"Spawn Where"),
    (c"SC", c"Spawn Count"),
    (c"STL", c"Spawned Task ID List"),
    (c"SIB", c"Sibling Task ID List"),
    (c"TID", c"Task ID"),
    (c"PT", c"Parent Task ID"),
    (c"MT", c"My Task ID"),
    (c"TF", c"Task Flags"),
    (c"TN", c"Task Name"),
    (c"PID", c"Task Process ID"),
    (c"TT", c"Target Task ID"),
    (c"TW", c"Tasks Where"),
    (c"TIS", c"Task Information Structures"),
    (c"TNT", c"Task Info - Number of Tasks"),
    (c"TST", c"Task Status"),
    (c"TUS", c"Task User Usage Seconds"),
    (c"TUU", c"Task User Usage Microseconds"),
    (c"TSS", c"Task System Usage Seconds"),
    (c"TSU", c"Task System Usage Microseconds"),
    (c"TES", c"Task Exit Status"),
    (c"TA", c"Tickle Arguments"),
    (c"TR", c"Tickle Responses"),
    (c"TS", c"Time Seconds"),
    (c"TU", c"Time Microseconds"),
    (c"TGS", c"Timing Seconds"),
    (c"TGU", c"Timing Microseconds"),
    (c"TMW", c"Trace Mask Who"),
    (c"TM", c"Trace Mask"),
    (c"TRC", c"Tracer Message Trace Context"),
    (c"TRT", c"Tracer Message Trace Tag"),
    (c"TRX", c"Tracer Message Output Context"),
    (c"TRO", c"Tracer Message Output Tag"),
    (c"TRM", c"Tracer Trace Mask"),
    (c"TRB", c"Tracer Trace Buffering"),
    (c"TRL", c"Tracer Trace Options"),
    (c"VER", c"PVM Version"),
    (c"VCT", c"Trace Event Count"),
    (c"VID", c"Trace Event ID"),
    (c"WID", c"Wait Identifier Number"),
];

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
