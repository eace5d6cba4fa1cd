//! C entry points for sending and receiving messages, message contexts and
//! the receive matcher.

use super::boundary::{call, guard, ok, put, slice};
use super::globals::{FDS, MATCHER};
use super::trace::{self, Tev};
use crate::sync::Locked;
use crate::task;
use crate::task::trace::{did, ev, Val};
use crate::Error;
use std::ffi::c_int;
use std::time::Duration;

/// Sends the active send buffer to `tid` with `msgtag`.
#[no_mangle]
pub extern "C" fn pvm_send(tid: c_int, msgtag: c_int) -> c_int {
    let tev = Tev::top(ev::SEND);
    if let Some(t) = &tev {
        t.entry(&[
            (did::MNB, Val::Int(trace::sbuf_bytes())),
            (did::DST, Val::Int(tid)),
            (did::MC, Val::Int(msgtag)),
            (did::MCX, Val::Int(trace::context())),
        ]);
    }
    Tev::cc(tev, call("pvm_send", || ok(task::send(tid, msgtag))))
}

/// Sends the active send buffer to the `ntask` tasks in `tids`.
///
/// # Safety
/// `tids` is valid for `ntask` ints.
#[no_mangle]
pub unsafe extern "C" fn pvm_mcast(tids: *mut c_int, ntask: c_int, msgtag: c_int) -> c_int {
    let tev = Tev::top(ev::MCAST);
    let cc = call("pvm_mcast", || {
        // SAFETY: the contract above.
        let list = unsafe { slice(tids as *const c_int, ntask, 1) }?;
        if let Some(t) = &tev {
            t.entry(&[
                (did::MNB, Val::Int(trace::sbuf_bytes())),
                (did::MC, Val::Int(msgtag)),
                (did::MCX, Val::Int(trace::context())),
                (did::MDL, Val::Ints(list)),
            ]);
        }
        ok(task::mcast(list, msgtag))
    });
    Tev::cc(tev, cc)
}

/// Blocks until a message from `tid` with `msgtag` (-1: any) arrives.
#[no_mangle]
pub extern "C" fn pvm_recv(tid: c_int, msgtag: c_int) -> c_int {
    let tev = Tev::top(ev::RECV);
    trace::recv_entry(&tev, tid, msgtag);
    trace::recv_exit(tev, call("pvm_recv", || task::recv(tid, msgtag)))
}

/// A matching message's buffer id, or 0 when none has arrived.
#[no_mangle]
pub extern "C" fn pvm_nrecv(tid: c_int, msgtag: c_int) -> c_int {
    let tev = Tev::top(ev::NRECV);
    trace::recv_entry(&tev, tid, msgtag);
    trace::recv_exit(tev, call("pvm_nrecv", || task::nrecv(tid, msgtag)))
}

/// Like pvm_recv, giving up (0) after `tmout` (NULL: wait forever).
///
/// # Safety
/// `tmout` is NULL or points at a valid `struct timeval`.
#[no_mangle]
pub unsafe extern "C" fn pvm_trecv(tid: c_int, msgtag: c_int, tmout: *mut libc::timeval) -> c_int {
    let tev = Tev::top(ev::TRECV);
    let id = call("pvm_trecv", || {
        let timeout = if tmout.is_null() {
            None
        } else {
            // SAFETY: non-NULL and readable per the contract.
            let tv = unsafe { tmout.read() };
            if tv.tv_sec < 0 || tv.tv_usec < 0 {
                return Err(Error::BadParam);
            }
            Some(Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64))
        };
        if let Some(t) = &tev {
            let (s, u) = timeout.map_or((-1, -1), |d| {
                (d.as_secs() as c_int, d.subsec_micros() as c_int)
            });
            t.entry(&[
                (did::RST, Val::Int(tid)),
                (did::RMC, Val::Int(msgtag)),
                (did::RCX, Val::Int(trace::context())),
                (did::MTS, Val::Int(s)),
                (did::MTU, Val::Int(u)),
            ]);
        }
        task::trecv(tid, msgtag, timeout)
    });
    trace::recv_exit(tev, id)
}

/// The buffer id of an arrived matching message (left queued), or 0.
#[no_mangle]
pub extern "C" fn pvm_probe(tid: c_int, msgtag: c_int) -> c_int {
    let tev = Tev::top(ev::PROBE);
    trace::recv_entry(&tev, tid, msgtag);
    Tev::cc(tev, call("pvm_probe", || task::probe(tid, msgtag)))
}

/// A C matching function for pvm_recvf.
pub type MatchFn = Option<unsafe extern "C" fn(c_int, c_int, c_int) -> c_int>;

/// Installs `new` as the receive matcher (NULL restores the default);
/// returns the previous one (NULL for the default).
///
/// # Safety
/// `new` is NULL or a function that may be called with (bufid, tid, tag)
/// from any later receive call.
#[no_mangle]
pub unsafe extern "C" fn pvm_recvf(new: MatchFn) -> MatchFn {
    guard("pvm_recvf", None, || {
        let mut m = MATCHER.locked();
        let old = std::mem::replace(&mut *m, new);
        task::recvf(new.map(|f| {
            let matcher: task::Matcher = std::sync::Arc::new(move |bufid, tid, tag| {
                // SAFETY: the user installed f for exactly this call shape.
                unsafe { f(bufid, tid, tag) }
            });
            matcher
        }));
        old
    })
}

/// A new message context, unique on the machine.
#[no_mangle]
pub extern "C" fn pvm_newcontext() -> c_int {
    let tev = Tev::top(ev::NEWCONTEXT);
    if let Some(t) = &tev {
        t.entry(&[]);
    }
    let c = call("pvm_newcontext", task::newcontext);
    if let Some(t) = tev {
        t.exit(&[(did::CXN, Val::Int(c))]);
    }
    c
}

/// Makes `ctx` the current context; returns the previous one.
#[no_mangle]
pub extern "C" fn pvm_setcontext(ctx: c_int) -> c_int {
    let tev = Tev::top(ev::SETCONTEXT);
    if let Some(t) = &tev {
        t.entry(&[(did::CXS, Val::Int(ctx))]);
    }
    let r = call("pvm_setcontext", || task::setcontext(ctx));
    super::internals::sync();
    Tev::cc(tev, r)
}

/// The current context.
#[no_mangle]
pub extern "C" fn pvm_getcontext() -> c_int {
    let tev = Tev::top(ev::GETCONTEXT);
    if let Some(t) = &tev {
        t.entry(&[]);
    }
    let r = call("pvm_getcontext", task::getcontext);
    super::internals::sync();
    if let Some(t) = tev {
        t.exit(&[(did::CXC, Val::Int(r))]);
    }
    r
}

/// Gives context `ctx` back.
#[no_mangle]
pub extern "C" fn pvm_freecontext(ctx: c_int) -> c_int {
    let tev = Tev::top(ev::FREECONTEXT);
    if let Some(t) = &tev {
        t.entry(&[(did::CXF, Val::Int(ctx))]);
    }
    Tev::cc(tev, call("pvm_freecontext", || ok(task::freecontext(ctx))))
}

/// The descriptors a program can select() on for incoming messages: the
/// daemon connection, then the direct-route listener and links. Returns
/// their number.
///
/// # Safety
/// `fds` is NULL or valid for one write; `*fds` stays valid until the next call.
#[no_mangle]
pub unsafe extern "C" fn pvm_getfds(fds: *mut *mut c_int) -> c_int {
    call("pvm_getfds", || {
        let list = task::fds()?;
        let mut g = FDS.locked();
        *g = list;
        // SAFETY: out-pointer per the contract; the pointer is into the static FDS vector,
        // which is replaced only by the next call (the documented lifetime).
        unsafe { put(fds, g.as_mut_ptr()) };
        Ok(g.len() as c_int)
    })
}
