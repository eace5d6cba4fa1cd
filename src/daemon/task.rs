//! The task table of this host: who is running, their parents, processes,
//! connections, and the messages held for spawned tasks not yet connected.

use crate::tid;
use mio::Token;
use std::collections::BTreeMap;

/// `ti_flag` bit: the daemon started this task (shown as `f` by the console).
pub const TF_SPAWNED: i32 = 0x2;
/// `ti_flag` bit: the task is connected to the daemon (shown as `c`).
pub const TF_CONNECTED: i32 = 0x4;
/// `ti_flag` bit: the task is the resource manager (shown as `R`).
pub const TF_RM: i32 = 0x100;
/// `ti_flag` bit: the task is the hoster (shown as `H`).
pub const TF_HOSTER: i32 = 0x200;
/// `ti_flag` bit: the task is the tasker of its daemon (shown as `T`).
pub const TF_TASKER: i32 = 0x400;
// PVM 3.4.6's other bits (0x8 `a` waiting for authentication, 0x10 `o`
// connection being closed, 0x20 `s` shared-memory deadlock) name states
// pvm6's daemon has no such moment for; it never sets them.

/// One task of this host.
#[derive(Debug)]
pub struct Task {
    pub tid: i32,
    /// Parent tid; 0 for none, `PvmParentNotSet` for a child spawned with PvmNoSpawnParent.
    pub ptid: i32,
    /// Process id (0 when unknown).
    pub pid: i32,
    pub flags: i32,
    /// Executable name as given to pvm_spawn; empty for tasks started by hand.
    pub aout: String,
    /// The tasks started by the same pvm_spawn call (itself included).
    pub siblings: Vec<i32>,
    /// Its connection, once connected.
    pub conn: Option<Token>,
    /// Frames (encoded) that arrived before the task connected.
    pub held: super::outq::Held,
}

/// The tasks of this host, by tid, and the allocator of local tids.
pub struct TaskTable {
    host: i32,
    next_local: i32,
    tasks: BTreeMap<i32, Task>,
}

impl TaskTable {
    /// An empty table for the host with host part `host` (e.g. 0x40000).
    pub fn new(host: i32) -> TaskTable {
        TaskTable {
            host,
            next_local: 1,
            tasks: BTreeMap::new(),
        }
    }

    /// The next free tid, `None` when every local number is in use.
    /// Numbers count up and are not reused until the local field wraps.
    pub fn alloc_tid(&mut self) -> Option<i32> {
        for _ in 0..tid::LOCAL_MASK {
            let local = self.next_local;
            self.next_local = if local >= tid::LOCAL_MASK {
                1
            } else {
                local + 1
            };
            let t = self.host | local;
            if !self.tasks.contains_key(&t) {
                return Some(t);
            }
        }
        None
    }

    /// Adds a task.
    pub fn insert(&mut self, task: Task) {
        self.tasks.insert(task.tid, task);
    }

    /// The task with `tid`.
    pub fn get(&self, t: i32) -> Option<&Task> {
        self.tasks.get(&t)
    }

    /// The task with `tid`, mutable.
    pub fn get_mut(&mut self, t: i32) -> Option<&mut Task> {
        self.tasks.get_mut(&t)
    }

    /// Removes and returns the task with `tid`.
    pub fn remove(&mut self, t: i32) -> Option<Task> {
        self.tasks.remove(&t)
    }

    /// The tasks, by tid.
    pub fn iter(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    /// How many tasks the table holds.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(t: i32) -> Task {
        Task {
            tid: t,
            ptid: 0,
            pid: 0,
            flags: 0,
            aout: String::new(),
            siblings: vec![],
            conn: None,
            held: Default::default(),
        }
    }

    #[test]
    fn tids_count_up_and_skip_live_ones_after_wrap() {
        let mut t = TaskTable::new(0x40000);
        assert_eq!(t.alloc_tid(), Some(0x40001));
        t.insert(task(0x40002));
        assert_eq!(t.alloc_tid(), Some(0x40003));
        t.next_local = tid::LOCAL_MASK;
        assert_eq!(t.alloc_tid(), Some(0x40000 | tid::LOCAL_MASK));
        assert_eq!(t.alloc_tid(), Some(0x40001));
        assert_eq!(t.alloc_tid(), Some(0x40003), "0x40002 is live and skipped");
    }
}
