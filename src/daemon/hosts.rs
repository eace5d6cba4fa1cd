//! The host table of a multi-host virtual machine: who is in it (index,
//! daemon tid, name as added, architecture, speed, data signature, the TCP
//! addresses and port of its daemon), its version, its wire encoding (the
//! master pushes the whole table to every slave after each change) and the
//! allocation of host indices (the master is index 1; slaves get 2, 3, ...,
//! and freed indices are reused only after the numbers wrap, like tids).
//! Pure data: no I/O.

use crate::net::addr::{fmt_sockaddr, parse_sockaddr_zone, same_host, LocalAddr, ZoneMap};
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
    /// The machine's host timeout in seconds, as the master set it (0 in a
    /// table from a master that did not say).
    pub timeout: u32,
    /// The master's epoch: 1 for the master that started the machine, one
    /// more at each take-over by a successor (docs/PROTOCOL.md
    /// "Succession"); anything from an older epoch is refused.
    pub epoch: i32,
    /// Next index to try (master only).
    next_index: i32,
}

impl HostTable {
    /// A table holding only `me`.
    pub fn new(me: HostEntry) -> HostTable {
        HostTable {
            version: 1,
            hosts: vec![me],
            timeout: 0,
            epoch: 1,
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

    /// The entry named `name`, by name as added: names without regard to
    /// case, address literals by value, bare or bracketed (see
    /// [`same_host`]).
    pub fn by_name(&self, name: &str) -> Option<&HostEntry> {
        self.hosts.iter().find(|e| same_host(name, &e.name))
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

    /// The host that takes over when the master `master` is lost: the next
    /// one in the table after it (by index, wrapping round).
    pub fn successor_of(&self, master: i32) -> Option<i32> {
        self.line_of(master).first().copied()
    }

    /// The line of succession after the master `master`: every other host,
    /// those after it in the table first (by index), then those before it
    /// (wrapping round). The first is its successor, the second takes over
    /// when the successor is lost too.
    pub fn line_of(&self, master: i32) -> Vec<i32> {
        let m = tid::host_index(tid::host_of(master));
        let after = self.hosts.iter().filter(|e| e.index > m);
        let before = self.hosts.iter().filter(|e| e.index < m);
        after.chain(before).map(|e| e.host()).collect()
    }

    /// Removes the host with host part of `t`; bumps the version if it was there.
    pub fn remove(&mut self, t: i32) -> Option<HostEntry> {
        let h = tid::host_of(t);
        let pos = self.hosts.iter().position(|e| e.host() == h)?;
        self.version += 1;
        Some(self.hosts.remove(pos))
    }

    /// The table as a control body: version, count, then per host index,
    /// name, arch, speed, dsig, and the list of addresses (`[v6]:port`
    /// text); then the host timeout in seconds, the epoch and the next
    /// host index to try (so a successor never gives an index again).
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
        w.int(self.timeout as i32)
            .int(self.epoch)
            .int(self.next_index);
    }

    /// Reads a table written by [`HostTable::encode`], zones of link-local
    /// addresses taken as names of this host's interfaces (an address whose
    /// zone is no interface here is left out).
    pub fn decode(r: &mut Reader<'_>) -> Result<HostTable> {
        HostTable::decode_for(r, 0, &[])
    }

    /// Reads a table the master wrote, for host index `me` with interfaces
    /// `locals`: the zones of link-local addresses (the master's interface
    /// names) become this host's scope ids by a [`ZoneMap`] learnt from
    /// how the table lists `me`'s own addresses. Addresses that cannot be
    /// placed here are left out.
    pub fn decode_for(r: &mut Reader<'_>, me: i32, locals: &[LocalAddr]) -> Result<HostTable> {
        let version = r.int()?;
        let n = r.count(24)?;
        let mut hosts = Vec::with_capacity(n);
        let mut raw = Vec::with_capacity(n);
        for _ in 0..n {
            let index = r.int()?;
            if !(1..=tid::MAX_HOSTS).contains(&index) {
                return Err(Error::BadMsg);
            }
            let name = r.str()?;
            let arch = r.str()?;
            let speed = r.int()?;
            let dsig = r.int()?;
            let addrs: Vec<(SocketAddr, Option<String>)> = r
                .strs()?
                .iter()
                .filter_map(|s| parse_sockaddr_zone(s).ok())
                .collect();
            raw.push(addrs);
            hosts.push(HostEntry {
                index,
                name,
                arch,
                speed,
                dsig,
                addrs: Vec::new(),
            });
        }
        let mine: &[(SocketAddr, Option<String>)] = hosts
            .iter()
            .position(|h| h.index == me)
            .map(|i| raw[i].as_slice())
            .unwrap_or(&[]);
        let zones = ZoneMap::new(mine, locals);
        for (h, addrs) in hosts.iter_mut().zip(&raw) {
            h.addrs = addrs
                .iter()
                .filter_map(|(sa, z)| zones.localize(*sa, z.as_deref()))
                .collect();
        }
        hosts.sort_by_key(|h| h.index);
        let timeout = r.int().map_or(0, |t| t.max(0) as u32);
        let epoch = r.int().unwrap_or(1);
        let next_index = r.int().unwrap_or(2).clamp(2, tid::MAX_HOSTS);
        Ok(HostTable {
            version,
            hosts,
            timeout,
            epoch,
            next_index,
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
    fn table_carries_timeout_epoch_and_next_index_and_names_the_successor() {
        let mut t = HostTable::new(entry(1, "node1", 1000));
        for i in [2, 3, 4] {
            let e = entry(t.alloc_index(&[]).unwrap(), &format!("node{i}"), 1000);
            t.insert(e);
        }
        t.timeout = 45;
        t.epoch = 3;
        let mut w = Writer::new();
        t.encode(&mut w);
        let body = w.finish();
        let mut back = HostTable::decode(&mut Reader::new(&body)).unwrap();
        assert_eq!((back.timeout, back.epoch), (45, 3));
        // A successor never gives an index again (the next is 5).
        assert_eq!(back.alloc_index(&[]), Some(5));
        // The next host after the master, wrapping round.
        let d = |i: i32| tid::daemon_tid(tid::host_tid(i));
        assert_eq!(t.successor_of(d(1)), Some(tid::host_tid(2)));
        assert_eq!(t.successor_of(d(3)), Some(tid::host_tid(4)));
        assert_eq!(t.successor_of(d(4)), Some(tid::host_tid(1)));
        t.remove(tid::host_tid(2));
        assert_eq!(t.successor_of(d(1)), Some(tid::host_tid(3)));
        assert_eq!(
            t.line_of(d(3)),
            [tid::host_tid(4), tid::host_tid(1)],
            "after 3: 4, then wrapping round to 1"
        );
        // A table of a master that said nothing more.
        let old = Writer::new().int(1).int(0).finish();
        let o = HostTable::decode(&mut Reader::new(&old)).unwrap();
        assert_eq!((o.timeout, o.epoch), (0, 1));
    }

    fn ll(addr: &str, ifname: &str, scope_id: u32) -> LocalAddr {
        LocalAddr {
            addr: addr.parse().unwrap(),
            ifname: ifname.into(),
            scope_id,
            v6: true,
            link_local: true,
            loopback: false,
        }
    }

    /// A table as the master writes it: zones are the master's interface
    /// names (`mst0`, which no host here has).
    fn master_table() -> Vec<u8> {
        let mut w = Writer::new();
        w.int(7).int(3);
        for (i, name, addrs) in [
            (1, "node1", vec!["[fe80::1%mst0]:4000", "[fd00::1]:4000"]),
            (2, "fe80::2%mst0", vec!["[fe80::2%mst0]:5000"]),
            (
                3,
                "fe80::3%mst0",
                vec!["[fe80::3%mst0]:6000", "[fe80::33%9]:6000"],
            ),
        ] {
            let addrs: Vec<String> = addrs.into_iter().map(String::from).collect();
            w.int(i).str(name).str("LINUX64").int(1000).int(0x408c41);
            w.strs(&addrs);
        }
        w.finish()
    }

    fn scopes(t: &HostTable, index: i32) -> Vec<(String, u32)> {
        t.hosts[index as usize - 1]
            .addrs
            .iter()
            .map(|a| match a {
                SocketAddr::V6(a) => (a.ip().to_string(), a.scope_id()),
                SocketAddr::V4(a) => (a.ip().to_string(), 0),
            })
            .collect()
    }

    #[test]
    fn link_local_zones_become_this_hosts_interfaces() {
        let body = master_table();
        // Host 2 has fe80::2 on its interface 42 (and another link, 43):
        // the master's mst0 is our 42, for every host of the table.
        let locals = [ll("fe80::2", "lan0", 42), ll("fe80::99", "lan1", 43)];
        let t = HostTable::decode_for(&mut Reader::new(&body), 2, &locals).unwrap();
        assert_eq!(
            scopes(&t, 1),
            vec![("fe80::1".into(), 42), ("fd00::1".into(), 0)]
        );
        assert_eq!(scopes(&t, 2), vec![("fe80::2".into(), 42)]);
        // mst0 learnt; the zone "9" (the master's interface number) is not,
        // and we have two links: that address is left out.
        assert_eq!(scopes(&t, 3), vec![("fe80::3".into(), 42)]);
        assert_eq!(t.hosts[2].name, "fe80::3%mst0");
        // Nothing learnt (we are reached by a routable address), one link:
        // every link-local address goes to it.
        let locals = [ll("fe80::77", "only0", 5)];
        let t = HostTable::decode_for(&mut Reader::new(&body), 2, &locals).unwrap();
        assert_eq!(
            scopes(&t, 3),
            vec![("fe80::3".into(), 5), ("fe80::33".into(), 5)]
        );
        // Nothing learnt, two links, zones naming no interface here: the
        // link-local addresses are left out, the others kept.
        let locals = [ll("fe80::77", "a0", 5), ll("fe80::78", "b0", 6)];
        let t = HostTable::decode_for(&mut Reader::new(&body), 2, &locals).unwrap();
        assert_eq!(scopes(&t, 1), vec![("fd00::1".into(), 0)]);
        assert!(scopes(&t, 2).is_empty());
    }

    #[test]
    fn names_match_in_every_literal_spelling() {
        let mut t = HostTable::new(entry(1, "Node1", 1000));
        t.insert(entry(2, "fd42::2", 1000));
        t.insert(entry(3, "10.42.0.3", 1000));
        t.insert(entry(4, "fe80::4%eth0", 1000));
        for (given, index) in [
            ("node1", 1),
            ("fd42::2", 2),
            ("[fd42::2]", 2),
            ("FD42:0:0::2", 2),
            ("10.42.0.3", 3),
            ("fe80::4%eth0", 4),
            ("[fe80::4%eth0]", 4),
            ("fe80::4", 4),
        ] {
            assert_eq!(t.by_name(given).map(|e| e.index), Some(index), "{given}");
        }
        for given in ["fd42::3", "10.42.0.33", "fe80::4%eth1", "[node1]x", ""] {
            assert!(t.by_name(given).is_none(), "{given}");
        }
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
