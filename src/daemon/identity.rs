//! This daemon's identity, fixed at start: the host part of its tids, its
//! own tid, the names and addresses that denote this host; and the message
//! contexts it hands out (numbered within its host part). Private state:
//! the others read it through the methods below.

use crate::tid;
use std::collections::BTreeSet;
use std::net::{IpAddr, ToSocketAddrs};

pub(super) struct Identity {
    /// Host part of this host's tids (0x40000).
    host: i32,
    /// The daemon's own tid (0x80040000).
    dtid: i32,
    /// The host's name as the daemon was given it.
    hostname: String,
    /// Lower case: full, short, "localhost", ".".
    names: Vec<String>,
    /// From resolving the host's name (loopback is always local).
    addrs: Vec<IpAddr>,
    /// Contexts given by pvm_newcontext and not freed.
    contexts: BTreeSet<i32>,
    next_ctx: i32,
}

impl Identity {
    /// The identity of the daemon of host index `index` named `hostname`.
    pub fn new(index: i32, hostname: &str) -> Identity {
        let host = tid::host_tid(index);
        let full = hostname.to_ascii_lowercase();
        let short = full.split('.').next().unwrap_or("").to_string();
        let mut names = vec![full, short, "localhost".to_string(), ".".to_string()];
        names.dedup();
        let mut addrs: Vec<IpAddr> = (hostname, 0u16)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect())
            .unwrap_or_default();
        addrs.sort();
        addrs.dedup();
        Identity {
            host,
            dtid: tid::daemon_tid(host),
            hostname: hostname.to_string(),
            names,
            addrs,
            contexts: BTreeSet::new(),
            next_ctx: 1,
        }
    }

    /// Host part of this host's tids.
    pub fn host(&self) -> i32 {
        self.host
    }

    /// The daemon's own tid.
    pub fn dtid(&self) -> i32 {
        self.dtid
    }

    /// Whether `name` denotes this host: its name (short or full),
    /// "localhost", ".", or one of its addresses.
    pub fn is_local_name(&self, name: &str) -> bool {
        let n = name.trim();
        let bare = n
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(n);
        // A zone only says which link leads there: the address decides.
        let addr = bare.split_once('%').map_or(bare, |(a, _)| a);
        if let Ok(ip) = addr.parse::<IpAddr>() {
            let ip = match ip {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V6(v6)),
                v4 => v4,
            };
            return ip.is_loopback() || self.addrs.contains(&ip);
        }
        let lower = bare.to_ascii_lowercase();
        self.names.contains(&lower)
            || (!self.hostname.contains('.')
                && lower.split('.').next() == Some(&self.hostname.to_ascii_lowercase()))
    }

    /// A new message context (pvm_newcontext), None when all are in use.
    pub fn new_context(&mut self) -> Option<i32> {
        for _ in 0..tid::LOCAL_MASK {
            let n = self.next_ctx;
            self.next_ctx = if n >= tid::LOCAL_MASK { 1 } else { n + 1 };
            // Host part in the high bits keeps numbers unique across hosts.
            let ctx = self.host | n;
            if self.contexts.insert(ctx) {
                return Some(ctx);
            }
        }
        None
    }

    /// Frees context `c` (pvm_freecontext); false if it was not given.
    pub fn free_context(&mut self, c: i32) -> bool {
        self.contexts.remove(&c)
    }

    /// How many contexts are in use.
    pub fn contexts(&self) -> usize {
        self.contexts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_addresses_and_contexts() {
        let me = Identity::new(1, "node1");
        assert_eq!((me.host(), me.dtid()), (0x40000, 0x80040000u32 as i32));
        for n in [
            "node1",
            "NODE1",
            "node1.example.org",
            "localhost",
            ".",
            "127.0.0.1",
            "[::1]",
        ] {
            assert!(me.is_local_name(n), "{n}");
        }
        assert!(!me.is_local_name("node2"));
        let mut me = me;
        let (a, b) = (me.new_context().unwrap(), me.new_context().unwrap());
        assert_eq!((a, b, me.contexts()), (0x40001, 0x40002, 2));
        assert!(me.free_context(a));
        assert!(!me.free_context(a));
        assert_eq!(me.contexts(), 1);
    }
}
