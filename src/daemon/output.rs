//! Where each spawned task's stdout/stderr goes (PvmOutputTid & co.), the
//! output and trace settings it inherits from its spawner, and the output
//! messages of PVM 3.4.6.
//!
//! A task whose output destination is a tid has its pipe data sent there as
//! messages with the destination's tag and context, from `t80000000`, each
//! packed as PvmDataDefault `int tid, int count[, bytes]`:
//! - at spawn, `(tid, -2, parent)` then `(tid, -1, parent)` (the original's
//!   "spawned" and "begin" announcements, in that order);
//! - for data, `(tid, n, n bytes)`, the chunks as read from the pipe
//!   (stdout and stderr both, not split into lines);
//! - at the end of output, `(tid, 0)`.
//!
//! Without a destination (tid 0, or negative: PVM 3.4's console sets -1)
//! output goes to the daemon log, line by line.

use super::notify::{Note, PVMD_SRC};
use crate::msg::{Buffer, Encoding};
pub use crate::wire::output::{pack_output, Inherit, INHERIT_INTS};
use std::collections::HashMap;

/// Where one task's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dest {
    pub tid: i32,
    pub code: i32,
    pub ctx: i32,
}

#[derive(Debug)]
struct Entry {
    inherit: Inherit,
    dest: Dest,
    /// Output pipes still open.
    pipes: u32,
}

/// Output routing of this host's tasks.
#[derive(Default, Debug)]
pub struct OutputTable {
    tasks: HashMap<i32, Entry>,
}

impl OutputTable {
    /// An empty table.
    pub fn new() -> OutputTable {
        OutputTable::default()
    }

    fn note(dest: Dest, body: Vec<u8>) -> Note {
        Note {
            dst: dest.tid,
            src: PVMD_SRC,
            tag: dest.code,
            ctx: dest.ctx,
            body,
        }
    }

    /// Task `t` (parent `ptid`) was started with `pipes` output pipes and
    /// the spawner's settings; returns the announcements to send.
    pub fn spawned(&mut self, t: i32, ptid: i32, pipes: u32, inherit: Inherit) -> Vec<Note> {
        let dest = Dest {
            tid: inherit.out_tid,
            code: inherit.out_code,
            ctx: inherit.out_ctx,
        };
        self.tasks.insert(
            t,
            Entry {
                inherit,
                dest,
                pipes,
            },
        );
        if dest.tid <= 0 {
            return Vec::new();
        }
        let p = ptid.max(0);
        [-2, -1]
            .iter()
            .map(|&c| Self::note(dest, pack_output(t, c, &[])).with_parent(p))
            .collect()
    }

    /// The settings task `t` inherited (zeros for a task not spawned here).
    pub fn inherited(&self, t: i32) -> Inherit {
        self.tasks.get(&t).map(|e| e.inherit).unwrap_or_default()
    }

    /// Task `t` set its own output destination (PvmSelfOutputTid & co.).
    pub fn set_dest(&mut self, t: i32, dest: Dest) {
        if let Some(e) = self.tasks.get_mut(&t) {
            e.dest = dest;
        }
    }

    /// Pipe data of task `t`: `Some(note)` when it goes to a task, `None`
    /// when it belongs in the log.
    pub fn data(&self, t: i32, data: &[u8]) -> Option<Note> {
        let e = self.tasks.get(&t)?;
        if e.dest.tid <= 0 || data.is_empty() {
            return None;
        }
        Some(Self::note(e.dest, pack_output(t, data.len() as i32, data)))
    }

    /// Whether task `t`'s output goes to a task.
    pub fn captured(&self, t: i32) -> bool {
        self.tasks.get(&t).is_some_and(|e| e.dest.tid > 0)
    }

    /// One of task `t`'s pipes closed; at the last one the entry goes and
    /// the end-of-output message (if captured) is returned.
    pub fn pipe_closed(&mut self, t: i32) -> Option<Note> {
        let e = self.tasks.get_mut(&t)?;
        e.pipes = e.pipes.saturating_sub(1);
        if e.pipes > 0 {
            return None;
        }
        let e = self.tasks.remove(&t)?;
        (e.dest.tid > 0).then(|| Self::note(e.dest, pack_output(t, 0, &[])))
    }

    /// Forgets a task that never had pipes or whose pipes are gone.
    pub fn forget(&mut self, t: i32) {
        if self.tasks.get(&t).is_some_and(|e| e.pipes == 0) {
            self.tasks.remove(&t);
        }
    }
}

impl Note {
    /// Appends the parent tid to an announcement's body.
    fn with_parent(mut self, ptid: i32) -> Note {
        if self.body.len() == 8 {
            let mut b = Buffer::new(Encoding::Default);
            let _ = b.pack(&[ptid], 1, 1);
            self.body.extend(b.into_bytes());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::MsgInfo;

    fn unpack(n: &Note) -> (i32, i32, Vec<u8>, Option<i32>) {
        let mut b = Buffer::from_received(n.body.clone(), MsgInfo::default());
        let mut h = [0i32; 2];
        b.unpack(&mut h, 2, 1).unwrap();
        if h[1] > 0 {
            let mut d = vec![0u8; h[1] as usize];
            b.unpack(&mut d, h[1] as usize, 1).unwrap();
            (h[0], h[1], d, None)
        } else if b.remaining() >= 4 {
            let mut p = [0i32; 1];
            b.unpack(&mut p, 1, 1).unwrap();
            (h[0], h[1], vec![], Some(p[0]))
        } else {
            (h[0], h[1], vec![], None)
        }
    }

    #[test]
    fn captured_task_announces_sends_chunks_and_eof_after_last_pipe() {
        let mut t = OutputTable::new();
        let inh = Inherit {
            out_tid: 0x40001,
            out_code: 77,
            out_ctx: 5,
            ..Inherit::default()
        };
        let a = t.spawned(0x40002, 0x40001, 2, inh);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].dst, a[0].src, a[0].tag, a[0].ctx),
            (0x40001, PVMD_SRC, 77, 5)
        );
        assert_eq!(unpack(&a[0]), (0x40002, -2, vec![], Some(0x40001)));
        assert_eq!(unpack(&a[1]), (0x40002, -1, vec![], Some(0x40001)));
        assert_eq!(t.inherited(0x40002), inh);
        let d = t.data(0x40002, b"hi\nthere").unwrap();
        assert_eq!(unpack(&d), (0x40002, 8, b"hi\nthere".to_vec(), None));
        assert!(t.pipe_closed(0x40002).is_none());
        let eof = t.pipe_closed(0x40002).unwrap();
        assert_eq!(unpack(&eof), (0x40002, 0, vec![], None));
        assert!(!t.captured(0x40002));
    }

    #[test]
    fn uncaptured_task_goes_to_the_log_until_redirected() {
        let mut t = OutputTable::new();
        assert!(t.spawned(0x40003, 0, 1, Inherit::default()).is_empty());
        assert!(t.data(0x40003, b"x").is_none());
        t.set_dest(
            0x40003,
            Dest {
                tid: 0x40001,
                code: 9,
                ctx: 0,
            },
        );
        assert_eq!(t.data(0x40003, b"x").unwrap().tag, 9);
        assert_eq!(unpack(&t.pipe_closed(0x40003).unwrap()).1, 0);
    }
}
