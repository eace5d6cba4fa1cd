//! libpvm 3.4 internals that some programs use although pvm3.h does not
//! declare them (Debian's /usr/bin/srm.pvm links against all three):
//!
//! - `int pvmmyctx`: the current message context;
//! - `struct Pvmtracer pvmctrc`: the trace and output settings children
//!   get (`struct Pvmtracer` of pvmtev.h: eight ints, then a 36-byte
//!   trace mask);
//! - `struct Pvmtracer pvmtrc`: the task's own trace and output settings
//!   (Debian's libgpvm3.so.3 reads it);
//! - `char *pvmnametag(int tag, int *found)`: the name of a reserved
//!   protocol tag (`TM_`, `DM_`, `TC_`, `SM_`), or the tag in decimal.
//!
//! The other internals of PVM 3.4's libpvm that programs and PVM's own
//! libraries reference are in [`super::lpvm`] and [`super::trace`].
//!
//! The two data symbols mirror the runtime's state: [`sync`] refreshes them
//! after the calls that can change it (enrollment, pvm_setopt,
//! pvm_settmask, pvm_setcontext, ...). They are read-only views: a C
//! program that writes them changes nothing in the library (in PVM 3.4 they
//! were the state itself).

use crate::task;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

/// The current message context, read by C as `extern int pvmmyctx`.
///
/// SAFETY of the layout: `AtomicI32` has the size, alignment and bit
/// validity of a C `int`; Rust writes it only atomically.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmmyctx: AtomicI32 = AtomicI32::new(0);

/// Length of a trace mask with its NUL (pvmtev.h's `TEV_MASK_LENGTH`).
const TMASK_BYTES: usize = 36;

/// `struct Pvmtracer` of pvmtev.h, field for field (68 bytes, align 4).
#[repr(C)]
pub struct Pvmtracer {
    pub trctid: AtomicI32,
    pub trcctx: AtomicI32,
    pub trctag: AtomicI32,
    pub outtid: AtomicI32,
    pub outctx: AtomicI32,
    pub outtag: AtomicI32,
    pub trcbuf: AtomicI32,
    pub trcopt: AtomicI32,
    pub tmask: [AtomicU8; TMASK_BYTES],
}

/// The settings children get, read by C as `extern struct Pvmtracer
/// pvmctrc`.
///
/// SAFETY of the layout: `#[repr(C)]` with atomics that have the layout of
/// `int` and `char`, so the struct matches pvmtev.h's (checked by a test);
/// Rust writes it only atomically.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmctrc: Pvmtracer = Pvmtracer::off();

/// The task's own trace and output settings, read by C as `extern struct
/// Pvmtracer pvmtrc` (Debian's libgpvm3 reads it in its trace macros: with
/// `trctid` 0, no tracer, it generates no events).
///
/// SAFETY of the layout: as [`pvmctrc`].
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static pvmtrc: Pvmtracer = Pvmtracer::off();

impl Pvmtracer {
    /// No tracer and no output destination: every setting 0, an empty mask.
    const fn off() -> Pvmtracer {
        Pvmtracer {
            trctid: AtomicI32::new(0),
            trcctx: AtomicI32::new(0),
            trctag: AtomicI32::new(0),
            outtid: AtomicI32::new(0),
            outctx: AtomicI32::new(0),
            outtag: AtomicI32::new(0),
            trcbuf: AtomicI32::new(0),
            trcopt: AtomicI32::new(0),
            tmask: [const { AtomicU8::new(0) }; TMASK_BYTES],
        }
    }

    /// Stores the eight settings and the mask (NUL-terminated, cut to fit).
    fn fill(&self, vals: [i32; 8], mask: &str) {
        let fields = [
            &self.trctid,
            &self.trcctx,
            &self.trctag,
            &self.outtid,
            &self.outctx,
            &self.outtag,
            &self.trcbuf,
            &self.trcopt,
        ];
        for (f, v) in fields.iter().zip(vals) {
            f.store(v, Ordering::Relaxed);
        }
        let m = mask.as_bytes();
        for (k, b) in self.tmask.iter().enumerate() {
            let v = if k < TMASK_BYTES - 1 {
                m.get(k).copied().unwrap_or(0)
            } else {
                0
            };
            b.store(v, Ordering::Relaxed);
        }
    }
}

/// Refreshes [`pvmmyctx`], [`pvmctrc`] and [`pvmtrc`] from the runtime
/// (nothing before enrollment; never enrolls).
pub fn sync() {
    let Some(i) = task::internals() else {
        return;
    };
    pvmmyctx.store(i.context, Ordering::Relaxed);
    pvmctrc.fill(i.child, &i.child_tmask);
    pvmtrc.fill(i.own, &i.own_tmask);
}

/// Names of the task-daemon tags, from `TM_CONNECT` (0x80010001) on.
const TM_NAMES: &[&CStr] = &[
    c"TM_CONNECT",
    c"TM_CONN2",
    c"TM_EXIT",
    c"TM_ADDHOST",
    c"TM_DELHOST",
    c"TM_CONFIG",
    c"TM_MSTAT",
    c"TM_HALT",
    c"TM_TICKLE",
    c"TM_SPAWN",
    c"TM_PSTAT",
    c"TM_SENDSIG",
    c"TM_TASK",
    c"TM_MCA",
    c"TM_NOTIFY",
    c"TM_DB",
    c"TM_SCHED",
    c"TM_TASKER",
    c"TM_HOSTER",
    c"TM_TRACER",
    c"TM_HOSTSYNC",
    c"TM_SETOPT",
    c"TM_GETOPT",
    c"TM_CONTEXT",
    c"TM_SHMCONN",
];

/// Names of the daemon-daemon tags, from `DM_ADD` (0x80020001) on.
const DM_NAMES: &[&CStr] = &[
    c"DM_ADD",
    c"DM_ADDACK",
    c"DM_EXEC",
    c"DM_EXECACK",
    c"DM_SENDSIG",
    c"DM_HTUPD",
    c"DM_HTUPDACK",
    c"DM_HTCOMMIT",
    c"DM_SLCONF",
    c"DM_STARTACK",
    c"DM_TASK",
    c"DM_TASKACK",
    c"DM_DELHOST",
    c"DM_DELHOSTACK",
    c"DM_NULL",
    c"DM_TASKOUT",
    c"DM_PSTAT",
    c"DM_PSTATACK",
    c"DM_HALT",
    c"DM_MCA",
    c"DM_NOTIFY",
    c"DM_NOTIFYACK",
    c"DM_DB",
    c"DM_DBACK",
    c"DM_RESET",
    c"DM_RESETACK",
    c"DM_HTDEL",
    c"DM_HOSTSYNC",
    c"DM_HOSTSYNCACK",
];

/// Names of the task-task control tags, from `TC_CONREQ` (0x80030001) on.
const TC_NAMES: &[&CStr] = &[
    c"TC_CONREQ",
    c"TC_CONACK",
    c"TC_TASKEXIT",
    c"TC_NOOP",
    c"TC_OUTPUT",
    c"TC_SETTRACE",
    c"TC_SETTMASK",
    c"TC_SETTRCBUF",
    c"TC_SETTRCOPT",
    c"TC_SHMAT",
    c"TC_OUTPUTX",
    c"TC_SIBLINGS",
];

/// Names of the scheduler tags, from `SM_SPAWN` (0x80040001) on.
const SM_NAMES: &[&CStr] = &[
    c"SM_SPAWN",
    c"SM_EXEC",
    c"SM_EXECACK",
    c"SM_TASK",
    c"SM_CONFIG",
    c"SM_ADDHOST",
    c"SM_DELHOST",
    c"SM_ADD",
    c"SM_ADDACK",
    c"SM_NOTIFY",
    c"SM_TASKX",
    c"SM_HOSTX",
    c"SM_HANDOFF",
    c"SM_SCHED",
    c"SM_STHOST",
    c"SM_STHOSTACK",
    c"SM_STTASK",
];

/// The name of reserved tag `tag`, if it has one.
pub fn tag_name(tag: c_int) -> Option<&'static CStr> {
    let families: [(u32, &[&CStr]); 4] = [
        (0x8001_0001, TM_NAMES),
        (0x8002_0001, DM_NAMES),
        (0x8003_0001, TC_NAMES),
        (0x8004_0001, SM_NAMES),
    ];
    let t = tag as u32;
    families.iter().find_map(|&(first, names)| {
        let k = t.wrapping_sub(first) as usize;
        (t >= first).then(|| names.get(k).copied()).flatten()
    })
}

thread_local! {
    /// The text pvmnametag returns for an unnamed tag (valid until the
    /// thread's next call, like PVM's static buffer).
    static DECIMAL: RefCell<[u8; 16]> = const { RefCell::new([0; 16]) };
}

/// The name of a reserved protocol tag, or `tag` in decimal; `*found` (when
/// not NULL) is set to whether it had a name.
///
/// # Safety
/// `found` is NULL or valid for one write of an int.
#[no_mangle]
pub unsafe extern "C" fn pvmnametag(tag: c_int, found: *mut c_int) -> *mut c_char {
    super::boundary::guard("pvmnametag", std::ptr::null_mut(), || {
        let name = tag_name(tag);
        if !found.is_null() {
            // SAFETY: non-NULL out-pointer per the contract above.
            unsafe { *found = c_int::from(name.is_some()) };
        }
        match name {
            // The names are 'static C strings; callers only read them.
            Some(n) => n.as_ptr().cast_mut(),
            None => DECIMAL.with(|b| {
                let mut b = b.borrow_mut();
                let text = tag.to_string();
                b.fill(0);
                b[..text.len()].copy_from_slice(text.as_bytes());
                b.as_mut_ptr().cast()
            }),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracer_has_pvmtev_layout() {
        assert_eq!(std::mem::size_of::<Pvmtracer>(), 68);
        assert_eq!(std::mem::align_of::<Pvmtracer>(), 4);
        assert_eq!(std::mem::offset_of!(Pvmtracer, tmask), 32);
    }

    #[test]
    fn names_of_each_family_and_their_ends() {
        let n = |t: u32| tag_name(t as i32).map(|c| c.to_str().unwrap());
        assert_eq!(n(0x8001_0001), Some("TM_CONNECT"));
        assert_eq!(n(0x8001_0019), Some("TM_SHMCONN"));
        assert_eq!(n(0x8001_001a), None);
        assert_eq!(n(0x8002_001d), Some("DM_HOSTSYNCACK"));
        assert_eq!(n(0x8002_001e), None);
        assert_eq!(n(0x8003_000c), Some("TC_SIBLINGS"));
        assert_eq!(n(0x8004_0005), Some("SM_CONFIG"));
        assert_eq!(n(0x8004_0011), Some("SM_STTASK"));
        assert_eq!(n(0x8004_0012), None);
        assert_eq!(n(0), None);
        assert_eq!(n(7), None);
    }

    #[test]
    fn unnamed_tags_in_decimal() {
        let mut f = 9;
        // SAFETY: `f` is a valid int.
        let p = unsafe { pvmnametag(-1, &mut f) };
        // SAFETY: pvmnametag returns a NUL-terminated string.
        assert_eq!(unsafe { CStr::from_ptr(p) }.to_str().unwrap(), "-1");
        assert_eq!(f, 0);
        // SAFETY: as above.
        let p = unsafe { pvmnametag(0x8004_0001_u32 as i32, &mut f) };
        // SAFETY: as above.
        assert_eq!(unsafe { CStr::from_ptr(p) }.to_str().unwrap(), "SM_SPAWN");
        assert_eq!(f, 1);
    }
}
