//! What PVM 3.4's libpvm did for its own tools through internal functions
//! (the console's `reset`, leaving without a goodbye, finding the group
//! service), and its debug output (`pvmdebmask`).

use super::{api, mailbox, misc, rt};
use crate::{tid, Error, Result};

/// Bits of PVM 3.4's debug mask (`pvmdebmask`, `PvmDebugMask`) that the
/// library acts on; the others are accepted and ignored.
pub mod debug {
    /// Messages sent and received ("msg").
    pub const MESSAGE: i32 = 0x2;
    /// Enrollment, exit and spawn ("tsk").
    pub const TASK: i32 = 0x4;
    /// Mailbox operations ("mbx").
    pub const MBOX: i32 = 0x8000;
}

/// Leaves PVM without telling the daemon (PVM's `pvmendtask`): the
/// connection is dropped (the daemon sees the task go when it closes) and
/// the task forgets its identity; the next call enrolls anew.
pub fn end_task() {
    let mut st = rt().lock();
    st.conn = None;
    st.set_mytid(0);
    st.parent = Error::NoParent.code();
    st.siblings.clear();
}

/// PVM's `pvmreset(mytid, killtasks, class, index)`, what the console's
/// `reset` does: with `kill`, every task but `me` and those that set
/// PvmNoReset is killed; then the persistent mailbox entries whose owner
/// has exited (of `class` when given, at `index` when >= 0) are deleted.
/// Returns how many such entries the daemon refused to delete.
pub fn reset(me: i32, kill: bool, class: Option<&[u8]>, index: i32) -> Result<usize> {
    if kill {
        let spare = misc::getnoresets().unwrap_or_default();
        for t in api::tasks(0)? {
            if t.tid != me && t.tid != 0 && !spare.contains(&t.tid) {
                match api::kill(t.tid) {
                    Ok(()) | Err(Error::NoTask) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let mut kept = 0;
    for c in mailbox::getmboxinfo(class.unwrap_or(b""))? {
        if class.is_some_and(|n| !n.is_empty() && n != c.name.as_slice()) {
            continue;
        }
        for (&i, &o) in c.indices.iter().zip(&c.owners) {
            if o != 0 || (index >= 0 && i != index) {
                continue;
            }
            match mailbox::delinfo(&c.name, i, 0) {
                Ok(_) | Err(Error::NotFound) => {}
                Err(Error::Denied) => kept += 1,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(kept)
}

/// The tid to which PVM 3.4's group tools (pvm_gstat, pvmgroups) send their
/// requests (`gs_getgstid`): the group service lives in the master daemon,
/// so this is the master daemon as pvm_config names it (the first entry's
/// tid, a bare host part such as 0x40000: positive, as the tools expect of
/// a group server's tid).
pub fn group_server_tid() -> Result<i32> {
    let (_, hosts) = api::config()?;
    hosts
        .first()
        .map(|h| tid::host_of(h.tid))
        .filter(|&t| tid::is_host(t))
        .ok_or(Error::SysErr)
}
