//! PVM 3.4's group tools on pvm6's group service: `pvm_gstat` and
//! `pvmgroups` (Debian's pvm-dev) ask the group server, whose tid they get
//! from libgpvm3's `gs_getgstid`, with messages in the dynamic-group system
//! context (`SYSCTX_DG`, 0x7fffc). In pvm6 `gs_getgstid` (exported by
//! libpvm3) names the master daemon by its host tid (0x40000, as pvm_config
//! does), and the daemon answers here, from that tid:
//!
//! - tag `GSLS` (10): a message back with the same tag and context, in
//!   PvmDataDefault: the number of groups, then per group the name's
//!   length, the name, the size, the length of the instance table, the
//!   barrier count, the number of members waiting in it, the table (tid per
//!   instance number, -1 where none) and the waiting members' tids;
//! - tag `DUMP` (9): the groups written to the daemon log, as PVM 3.4's
//!   pvmgs wrote them to its output (which went to the pvmd log).
//!
//! This is a child module of `server` (declared there).

use super::server::Daemon;
use crate::daemon::log::dlog;
use crate::daemon::notify::Note;
use crate::msg::{Buffer, Encoding};
use crate::tid;
use crate::wire::Frame;

/// pvmproto.h's `SYSCTX_DG`: the context of the group server's messages.
pub const SYSCTX_DG: i32 = 0x7fffc;
/// The group server's request for its state in its output.
pub const GS_DUMP: i32 = 9;
/// The group server's request for the list of groups.
pub const GS_LS: i32 = 10;

impl Daemon {
    /// A message to the daemon from PVM's group tools; whether consumed.
    pub(super) fn group_tool_message(&mut self, frame: &Frame) -> bool {
        let h = frame.header;
        if h.ctx != SYSCTX_DG || !matches!(h.tag, GS_LS | GS_DUMP) {
            return false;
        }
        let groups = self.groups.listing();
        if h.tag == GS_DUMP {
            let dtid = self.me.dtid();
            dlog!(
                self.log,
                Info,
                "DUMP 0x{dtid:x}, {} groups (asked by {}):",
                groups.len(),
                tid::fmt(h.src)
            );
            for g in &groups {
                let members: Vec<String> = (0..)
                    .zip(&g.tids)
                    .filter(|(_, &t)| t > 0)
                    .map(|(i, t)| format!("({i}, 0x{t:x})"))
                    .collect();
                dlog!(
                    self.log,
                    Info,
                    "group: {}  size: {} barrier_count: {} barrier_reached {} tids: {}",
                    String::from_utf8_lossy(&g.name),
                    g.size,
                    g.barrier_count,
                    g.waiting.len(),
                    members.join(" ")
                );
            }
            return true;
        }
        let mut b = Buffer::new(Encoding::Default);
        // Packing ints and strings into a fresh Default buffer cannot fail.
        let _ = b.pack(&[groups.len() as i32], 1, 1);
        for g in &groups {
            let _ = b.pack(&[g.name.len() as i32], 1, 1);
            let _ = b.pack_str(&g.name);
            let head = [
                g.size,
                g.tids.len() as i32,
                g.barrier_count,
                g.waiting.len() as i32,
            ];
            let _ = b.pack(&head, head.len(), 1);
            let _ = b.pack(&g.tids, g.tids.len(), 1);
            if !g.waiting.is_empty() {
                let _ = b.pack(&g.waiting, g.waiting.len(), 1);
            }
        }
        // From the tid the tool addressed (it receives from that tid).
        self.deliver(Note {
            dst: h.src,
            src: h.dst,
            tag: GS_LS,
            ctx: SYSCTX_DG,
            body: b.into_bytes(),
        });
        true
    }
}
