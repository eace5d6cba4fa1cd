//! The host table of a multi-host virtual machine: who is in it (index,
//! daemon tid, name as added, architecture, speed, data signature, the TCP
//! addresses and port of its daemon), its version, its wire encoding (the
//! master pushes the whole table to every slave after each change) and the
//! allocation of host indices (the master is index 1; slaves get 2, 3, ...,
//! and freed indices are reused only after the numbers wrap, like tids).
//! Pure data: no I/O.

use crate::net::addr::{fmt_sockaddr, parse_sockaddr};
use crate::tid;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};
use std::net::SocketAddr;

/// One host of the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    /// Host index (1 = master).
    pub index: i32,
    /// Name as given to pvm_addhosts / the hostfile (IPv6 literals bare).
    pub name: String,
    pub arch: String,
    pub speed: i32,
    pub dsig: i32,
    /// The daemon's TCP addresses (with its port), best first.
    pub addrs: Vec<SocketAddr>,
}

impl HostEntry {
    /// The host part of its tids (0x40000 for index 1).
    pub fn host(&self) -> i32 {
        tid::host_tid(self.index)
    }
    /// Its daemon's tid.
    pub fn dtid(&self) -> i32 {
        tid::daemon_tid(self.host())
    }
}

/// The whole table, versioned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostTable {
    /// Bumped at every change (by the master).
    pub version: i32,
    /// Hosts by ascending index.
    pub hosts: Vec<HostEntry>,
    /// Next index to try (master only).
    next_index: i32,
}

impl HostTable {
    /// A table holding only `me`.
    pub fn new(me: HostEntry) -> HostTable {
        HostTable {
            version: 1,
            hosts: vec![me],
            next_index: 2,
        }
    }

    /// The entry of the host with host part (or any tid of) `t`.
    pub fn by_tid(&self, t: i32) -> Option<&HostEntry> {
        let h = tid::host_of(t);
        self.hosts.iter().find(|e| e.host() == h)
    }

    /// Whether a host with the host part of `t` is in the machine.
    pub fn contains(&self, t: i32) -> bool {
        self.by_tid(t).is_some()
    }

    /// The entry named `name` (case-insensitive), by name as added.
    pub fn by_name(&self, name: &str) -> Option<&HostEntry> {
        let bare = name
            .trim()
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(name.trim());
        self.hosts
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(bare))
    }

    /// A free host index, counting up from the last one given and wrapping
    /// after [`tid::MAX_HOSTS`]; `reserved` lists indices being started.
    pub fn alloc_index(&mut self, reserved: &[i32]) -> Option<i32> {
        for _ in 0..tid::MAX_HOSTS {
            let i = self.next_index.max(2);
            self.next_index = if i >= tid::MAX_HOSTS { 2 } else { i + 1 };
            if !reserved.contains(&i) && !self.hosts.iter().any(|e| e.index == i) {
                return Some(i);
            }
        }
        None
    }

    /// Adds (or replaces) a host and bumps the version.
    pub fn insert(&mut self, e: HostEntry) {
        self.hosts.retain(|h| h.index != e.index);
        self.hosts.push(e);
        self.hosts.sort_by_key(|h| h.index);
        self.version += 1;
    }

    /// Removes the host with host part of `t`; bumps the version if it was there.
    pub fn remove(&mut self, t: i32) -> Option<HostEntry> {
        let h = tid::host_of(t);
        let pos = self.hosts.iter().position(|e| e.host() == h)?;
        self.version += 1;
        Some(self.hosts.remove(pos))
    }

    /// The table as a control body: version, count, then per host index,
    /// name, arch, speed, dsig, and the list of addresses (`[v6]:port` text).
    pub fn encode(&self, w: &mut Writer) {
        w.int(self.version).int(self.hosts.len() as i32);
        for e in &self.hosts {
            w.int(e.index)
                .str(&e.name)
                .str(&e.arch)
                .int(e.speed)
                .int(e.dsig);
            let addrs: Vec<String> = e.addrs.iter().map(fmt_sockaddr).collect();
            w.strs(&addrs);
        }
    }

    /// Reads a table written by [`HostTable::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Result<HostTable> {
        let version = r.int()?;
        let n = r.count(24)?;
        let mut hosts = Vec::with_capacity(n);
        for _ in 0..n {
            let index = r.int()?;
            if !(1..=tid::MAX_HOSTS).contains(&index) {
                return Err(Error::BadMsg);
            }
            let name = r.str()?;
            let arch = r.str()?;
            let speed = r.int()?;
            let dsig = r.int()?;
            let addrs = r
                .strs()?
                .iter()
                .filter_map(|s| parse_sockaddr(s).ok())
                .collect();
            hosts.push(HostEntry {
                index,
                name,
                arch,
                speed,
                dsig,
                addrs,
            });
        }
        hosts.sort_by_key(|h| h.index);
        Ok(HostTable {
            version,
            hosts,
            next_index: 2,
        })
    }

    /// Spreads `n` tasks over `hosts` (indices into `self.hosts`) in
    /// proportion to their speeds, round-robin (the first host of the list
    /// first). Returns the count per listed host.
    pub fn spread(&self, hosts: &[usize], n: usize, start: usize) -> Vec<usize> {
        let mut counts = vec![0usize; hosts.len()];
        if hosts.is_empty() {
            return counts;
        }
        // Weighted round robin: each step gives the next task to the host
        // with the lowest (tasks + 1) / speed, ties to the earlier one after
        // `start`.
        for _ in 0..n {
            let mut best: Option<(usize, f64)> = None;
            for k in 0..hosts.len() {
                let i = (start + k) % hosts.len();
                let speed = self.hosts[hosts[i]].speed.max(1) as f64;
                let load = (counts[i] + 1) as f64 / speed;
                if best.is_none_or(|(_, b)| load < b - 1e-12) {
                    best = Some((i, load));
                }
            }
            if let Some((i, _)) = best {
                counts[i] += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: i32, name: &str, speed: i32) -> HostEntry {
        HostEntry {
            index,
            name: name.into(),
            arch: "LINUX64".into(),
            speed,
            dsig: 0x408c41,
            addrs: vec!["[fd00::1]:4000".parse().unwrap()],
        }
    }

    #[test]
    fn table_round_trip_and_lookup() {
        let mut t = HostTable::new(entry(1, "node1", 1000));
        t.insert(entry(2, "fd00::2", 1000));
        let mut w = Writer::new();
        t.encode(&mut w);
        let body = w.finish();
        let back = HostTable::decode(&mut Reader::new(&body)).unwrap();
        assert_eq!(back.hosts, t.hosts);
        assert_eq!(back.version, t.version);
        assert_eq!(t.by_name("[FD00::2]").unwrap().index, 2);
        assert_eq!(t.by_tid(0x80080000u32 as i32).unwrap().name, "fd00::2");
        assert_eq!(t.by_tid(0x80001).unwrap().index, 2);
        assert!(!t.contains(0xc0000));
    }

    #[test]
    fn indices_are_not_reused_before_wrapping() {
        let mut t = HostTable::new(entry(1, "a", 1000));
        assert_eq!(t.alloc_index(&[]), Some(2));
        t.insert(entry(2, "b", 1000));
        assert_eq!(t.alloc_index(&[3]), Some(4));
        t.remove(0x80000);
        assert_eq!(t.alloc_index(&[]), Some(5));
    }

    #[test]
    fn spread_follows_speed() {
        let mut t = HostTable::new(entry(1, "a", 1000));
        t.insert(entry(2, "b", 2000));
        t.insert(entry(3, "c", 1000));
        // b is twice as fast: it gets twice the tasks.
        assert_eq!(t.spread(&[0, 1, 2], 4, 0), vec![1, 2, 1]);
        assert_eq!(t.spread(&[0, 1, 2], 8, 0), vec![2, 4, 2]);
        // Equal speeds: one each, starting where the round robin stands.
        assert_eq!(t.spread(&[0, 2], 3, 0), vec![2, 1]);
        assert_eq!(t.spread(&[0, 2], 1, 1), vec![0, 1]);
    }
}
