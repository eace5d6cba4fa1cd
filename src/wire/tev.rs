//! PVM 3.4's trace events as the task and the daemon both send them
//! (pvmtev.h): the event names and data identifiers, the markers and
//! types, and the packing of descriptors, records and the identifier list
//! (the layout is described in src/task/trace.rs and docs/TRACING.md).

use crate::msg::{Buffer, Encoding};
use std::ffi::CStr;

/// `TEV_EVENT_ENTRY`.
pub const ENTRY: i32 = 0x4000;
/// `TEV_EVENT_EXIT`.
pub const EXIT: i32 = 0x8000;

/// Event ids of pvmtev.h (`TEV_*`).
#[allow(missing_docs)]
pub mod ev {
    pub const ADDHOSTS: i32 = 0;
    pub const BARRIER: i32 = 1;
    pub const BCAST: i32 = 2;
    pub const BUFINFO: i32 = 3;
    pub const ARCHCODE: i32 = 78;
    pub const ADDMHF: i32 = 103;
    pub const DELMHF: i32 = 104;
    pub const MHF_INVOKE: i32 = 105;
    pub const USER_DEFINED: i32 = 108;
    pub const CONFIG: i32 = 4;
    pub const DELHOSTS: i32 = 6;
    pub const EXIT: i32 = 7;
    pub const FREEBUF: i32 = 8;
    pub const GETINST: i32 = 10;
    pub const GETOPT: i32 = 11;
    pub const GETRBUF: i32 = 12;
    pub const GETSBUF: i32 = 13;
    pub const GETTID: i32 = 14;
    pub const GSIZE: i32 = 15;
    pub const INITSEND: i32 = 17;
    pub const JOINGROUP: i32 = 19;
    pub const KILL: i32 = 20;
    pub const LVGROUP: i32 = 22;
    pub const MCAST: i32 = 23;
    pub const MKBUF: i32 = 24;
    pub const MSTAT: i32 = 25;
    pub const MYTID: i32 = 26;
    pub const NOTIFY: i32 = 27;
    pub const NRECV: i32 = 28;
    pub const PARENT: i32 = 29;
    pub const PKBYTE: i32 = 31;
    pub const PKINT: i32 = 36;
    pub const PKSTR: i32 = 42;
    pub const PKCPLX: i32 = 32;
    pub const UPKCPLX: i32 = 59;
    pub const PKDCPLX: i32 = 33;
    pub const UPKDCPLX: i32 = 60;
    pub const PKDOUBLE: i32 = 34;
    pub const UPKDOUBLE: i32 = 61;
    pub const PKFLOAT: i32 = 35;
    pub const UPKFLOAT: i32 = 62;
    pub const PKUINT: i32 = 37;
    pub const UPKUINT: i32 = 64;
    pub const PKLONG: i32 = 38;
    pub const UPKLONG: i32 = 65;
    pub const PKULONG: i32 = 39;
    pub const UPKULONG: i32 = 66;
    pub const PKSHORT: i32 = 40;
    pub const UPKSHORT: i32 = 67;
    pub const PKUSHORT: i32 = 41;
    pub const UPKUSHORT: i32 = 68;
    pub const PROBE: i32 = 43;
    pub const PSTAT: i32 = 44;
    pub const RECV: i32 = 45;
    pub const SEND: i32 = 47;
    pub const SENDSIG: i32 = 48;
    pub const SETOPT: i32 = 49;
    pub const SETRBUF: i32 = 50;
    pub const SETSBUF: i32 = 51;
    pub const SPAWN: i32 = 52;
    pub const TASKS: i32 = 54;
    pub const TRECV: i32 = 57;
    pub const UPKBYTE: i32 = 58;
    pub const UPKINT: i32 = 63;
    pub const UPKSTR: i32 = 69;
    pub const REG_TRACER: i32 = 74;
    pub const NEWTASK: i32 = 75;
    pub const ENDTASK: i32 = 76;
    pub const SPNTASK: i32 = 77;
    pub const PRECV: i32 = 84;
    pub const PSEND: i32 = 85;
    pub const SETTMASK: i32 = 88;
    pub const PUTINFO: i32 = 92;
    pub const GETINFO: i32 = 93;
    pub const DELINFO: i32 = 94;
    pub const NEWCONTEXT: i32 = 96;
    pub const FREECONTEXT: i32 = 97;
    pub const SETCONTEXT: i32 = 98;
    pub const GETCONTEXT: i32 = 99;
    pub const SIBLINGS: i32 = 100;
    pub const TIMING: i32 = 106;
    pub const PROFILING: i32 = 107;
}

/// Semantic data identifiers of pvmtev.h (`TEV_DID_*`).
#[allow(missing_docs)]
pub mod did {
    pub const AN: i32 = 0;
    pub const AC: i32 = 1;
    pub const CC: i32 = 4;
    pub const CN: i32 = 5;
    pub const CI: i32 = 6;
    pub const CF: i32 = 7;
    pub const CD: i32 = 8;
    pub const CR: i32 = 9;
    pub const CXC: i32 = 17;
    pub const CXF: i32 = 18;
    pub const CXN: i32 = 19;
    pub const CXS: i32 = 20;
    pub const GN: i32 = 25;
    pub const GI: i32 = 26;
    pub const GT: i32 = 27;
    pub const GS: i32 = 28;
    pub const GBC: i32 = 29;
    pub const HN: i32 = 30;
    pub const HS: i32 = 41;
    pub const INB: i32 = 42;
    pub const IMC: i32 = 43;
    pub const IST: i32 = 44;
    pub const MC: i32 = 45;
    pub const MCX: i32 = 46;
    pub const MB: i32 = 47;
    pub const MNB: i32 = 48;
    pub const SRC: i32 = 49;
    pub const DST: i32 = 50;
    pub const MDL: i32 = 51;
    pub const MTS: i32 = 52;
    pub const MTU: i32 = 53;
    pub const MRB: i32 = 55;
    pub const MHI: i32 = 58;
    pub const MSB: i32 = 56;
    pub const ME: i32 = 57;
    pub const NE: i32 = 62;
    pub const NMC: i32 = 63;
    pub const NTL: i32 = 65;
    pub const NH: i32 = 66;
    pub const NA: i32 = 67;
    pub const OPT: i32 = 68;
    pub const OPV: i32 = 69;
    pub const PDA: i32 = 71;
    pub const PDT: i32 = 72;
    pub const PC: i32 = 73;
    pub const PSD: i32 = 74;
    pub const PRF: i32 = 77;
    pub const RST: i32 = 78;
    pub const RMC: i32 = 79;
    pub const RCX: i32 = 80;
    pub const SN: i32 = 81;
    pub const SE: i32 = 82;
    pub const SF: i32 = 83;
    pub const SW: i32 = 84;
    pub const SC: i32 = 85;
    pub const STL: i32 = 86;
    pub const SIB: i32 = 87;
    pub const TID: i32 = 88;
    pub const PT: i32 = 89;
    pub const MT: i32 = 90;
    pub const TF: i32 = 91;
    pub const TN: i32 = 92;
    pub const TT: i32 = 94;
    pub const TW: i32 = 95;
    pub const TNT: i32 = 97;
    pub const TST: i32 = 98;
    pub const TUS: i32 = 99;
    pub const TUU: i32 = 100;
    pub const TSS: i32 = 101;
    pub const TSU: i32 = 102;
    pub const TS: i32 = 106;
    pub const TU: i32 = 107;
    pub const TGS: i32 = 108;
    pub const TGU: i32 = 109;
    pub const TRC: i32 = 112;
    pub const TRT: i32 = 113;
    pub const TRX: i32 = 114;
    pub const TRO: i32 = 115;
    pub const TRM: i32 = 116;
    pub const TRB: i32 = 117;
    pub const TRL: i32 = 118;
    pub const VCT: i32 = 120;
    pub const VID: i32 = 121;
}

/// Trace markers (`TEV_MARK_*`).
pub mod mark {
    /// Start of a buffer of events.
    pub const BUFFER: i32 = -1;
    /// End of a buffer of events.
    pub const BUFFER_END: i32 = -2;
    /// Start of the data identifier list.
    pub const DATA_ID: i32 = -3;
    /// End of the data identifier list.
    pub const DATA_ID_END: i32 = -4;
    /// Start of an event descriptor.
    pub const DESC: i32 = -5;
    /// End of an event descriptor.
    pub const DESC_END: i32 = -6;
    /// Start of an event record.
    pub const RECORD: i32 = -7;
    /// End of an event record.
    pub const RECORD_END: i32 = -8;
}

/// Data types (`TEV_DATA_*`).
pub const DATA_INT: i32 = 6;
pub const DATA_LONG: i32 = 8;
pub const DATA_STRING: i32 = 12;
pub const DATA_ARRAY: i32 = 0x80;

/// One value of an event.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    /// `int`.
    Int(i32),
    /// `long` (an address: its low 32 bits travel, as PvmDataDefault
    /// carries a long).
    Long(i64),
    /// A string.
    Str(&'a [u8]),
    /// An array of ints.
    Ints(&'a [i32]),
    /// An array of strings.
    Strs(&'a [&'a [u8]]),
}

/// A field: data identifier and value.
pub type Field<'a> = (i32, Val<'a>);

pub fn pk_int(b: &mut Buffer, v: i32) {
    // Packing into a Default buffer fails only when out of memory.
    let _ = b.pack(&[v], 1, 1);
}

pub fn pk_str(b: &mut Buffer, s: &[u8]) {
    let _ = b.pack_str(s);
}

/// Packs one field: with its identifier and type when `desc`.
fn pk_field(b: &mut Buffer, desc: bool, (id, v): &Field<'_>) {
    let (ty, array) = match v {
        Val::Int(_) => (DATA_INT, false),
        Val::Long(_) => (DATA_LONG, false),
        Val::Str(_) => (DATA_STRING, false),
        Val::Ints(_) => (DATA_INT, true),
        Val::Strs(_) => (DATA_STRING, true),
    };
    if desc {
        pk_int(b, *id);
        pk_int(b, ty | if array { DATA_ARRAY } else { 0 });
    }
    match v {
        Val::Int(x) => pk_int(b, *x),
        Val::Long(x) => {
            let _ = b.pack(&[i64::from(*x as i32)], 1, 1);
        }
        Val::Str(s) => pk_str(b, s),
        Val::Ints(xs) => {
            pk_int(b, xs.len() as i32);
            let _ = b.pack(xs, xs.len(), 1);
        }
        Val::Strs(ss) => {
            pk_int(b, ss.len() as i32);
            for s in ss.iter() {
                pk_str(b, s);
            }
        }
    }
}

/// The data identifier list message (what PVM's daemon sends a tracer).
pub fn did_list() -> Vec<u8> {
    let mut b = Buffer::new(Encoding::Default);
    pk_int(&mut b, mark::DATA_ID);
    for (i, (name, desc)) in DIDS.iter().enumerate() {
        pk_int(&mut b, i as i32);
        pk_str(&mut b, name.to_bytes());
        pk_str(&mut b, desc.to_bytes());
    }
    pk_int(&mut b, mark::DATA_ID_END);
    b.into_bytes()
}

/// The name of event `kind` (empty past the table).
pub fn name(kind: i32) -> &'static [u8] {
    usize::try_from(kind)
        .ok()
        .and_then(|k| EVENT_NAMES.get(k))
        .map_or(&b""[..], |n| n.to_bytes())
}

/// One event as a whole message body (descriptor or record), as PVM's
/// daemon packs its newtask/spntask/endtask events.
pub fn event_body(kind: i32, name: &[u8], desc: bool, fields: &[Field<'_>]) -> Vec<u8> {
    let mut b = Buffer::new(Encoding::Default);
    pk_event(&mut b, kind, name, desc, fields);
    b.into_bytes()
}

pub fn pk_event(b: &mut Buffer, id: i32, name: &[u8], desc: bool, fields: &[Field<'_>]) {
    if desc {
        pk_int(b, mark::DESC);
        pk_int(b, id);
        pk_str(b, name);
    } else {
        pk_int(b, mark::RECORD);
        pk_int(b, id);
    }
    for f in fields {
        pk_field(b, desc, f);
    }
    pk_int(
        b,
        if desc {
            mark::DESC_END
        } else {
            mark::RECORD_END
        },
    );
}

/// pvmtev.h's TEV_MAX + 1.
pub const NEVENTS: usize = 109;
/// pvmtev.h's TEV_DID_MAX + 1.
pub const NDIDS: usize = 123;

/// Event names in pvmtev.h's `TEV_*` order.
pub const EVENT_NAMES: [&CStr; NEVENTS] = [
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
pub const DIDS: [(&CStr, &CStr); NDIDS] = [
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
