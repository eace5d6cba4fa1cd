//! Hosts whose kernel default for IPv6 sockets is IPv6-only
//! (`net.ipv6.bindv6only=1`, set in each namespace host before its daemon
//! starts): every listening socket of ours must switch IPV6_V6ONLY off
//! itself, or IPv4 peers cannot reach what is advertised to them. Three
//! hosts, IPv4-only, IPv6-only and dual-stack, exchange messages on the
//! default route and on direct routes between every pair (c-tests/multihost/mh_stack.c):
//! a direct link opens between hosts that share a family (checked through
//! pvm_getfds), and between the IPv4-only and the IPv6-only host the
//! messages go through the daemons.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use netns::HostSpec;
use std::path::PathBuf;
use std::time::Duration;

use machine::{text, Machine};

fn mh(name: &str) -> PathBuf {
    common::repo_root()
        .join("c-tests/multihost")
        .join(format!("{name}.c"))
}

#[test]
fn v4_v6_and_dual_hosts_with_bindv6only() {
    let specs = [
        HostSpec::dual("node1"),
        HostSpec::v4("node2"),
        HostSpec::v6("node3"),
    ];
    let Some(m) = Machine::new("mh-v6only", &specs, &[mh("mh_stack"), mh("mh_halt")]) else {
        return;
    };
    for h in ["node1", "node2", "node3"] {
        m.c.exec_ok(h, "sysctl -qw net.ipv6.bindv6only=1");
        let v = m.c.exec_ok(h, "cat /proc/sys/net/ipv6/bindv6only");
        assert_eq!(v.trim(), "1", "bindv6only not set on {h}");
    }
    let hf = m.hostfile(&["node1", "node2", "node3"]);
    m.start_master("node1", Some(&hf));
    // From each host to the two others: the program's host listens for the
    // direct route, its children connect.
    for (from, to) in [
        ("node1", "node2:direct node3:direct"),
        ("node2", "node1:direct node3:daemon"),
        ("node3", "node1:direct node2:daemon"),
    ] {
        let out = m.run(from, "mh_stack", to, Duration::from_secs(120));
        let t = text(&out);
        assert!(
            out.status.success() && !t.contains("not ok"),
            "mh_stack on {from} ({to}) failed ({}):\n{t}\n--- master log ---\n{}",
            out.status,
            m.log("node1")
        );
        // Every check ran (3 + 4 per host + 3 + 1 + 1 per host).
        let oks = t.lines().filter(|l| l.starts_with("ok ")).count();
        assert_eq!(
            oks,
            1 + 2 * 2 + 2 * 4 + 1 + 2 + 1,
            "checks of mh_stack on {from}:\n{t}"
        );
    }
    let out = m.run("node1", "mh_halt", "", Duration::from_secs(30));
    let t = text(&out);
    assert!(
        out.status.success() && !t.contains("not ok"),
        "mh_halt:\n{t}"
    );
    let left = m.wait_no_daemons(Duration::from_secs(10));
    assert!(left.is_empty(), "daemons left after pvm_halt: {left:?}");
}
