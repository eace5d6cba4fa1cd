//! Nothing blocks the master daemon's loop while hosts are added (issue 27
//! item 1): a resolver that takes 10 s to answer, while hosts are added.
//! node1's resolver points at c-tests/launch/slowdns.c on its own loopback,
//! which answers every query 10 s late (NXDOMAIN). One pvm_addhosts names a
//! host the resolver must be asked about (`slow.invalid`) and node4 (found
//! in the hosts file at once); meanwhile a task calls pvm_config and passes
//! messages to node2 every 50 ms. Nothing of that is delayed, node4 joins
//! while the lookup still waits, no slave loses the master, and the slow
//! name fails with PvmNoHost once the resolver answers.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use machine::{result_of, text, Machine};
use netns::HostSpec;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn src(name: &str) -> PathBuf {
    common::repo_root()
        .join("c-tests/launch")
        .join(format!("{name}.c"))
}

#[test]
fn a_slow_resolver_delays_nothing_else() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
        HostSpec::v6("node4"),
    ];
    let progs = [
        src("ln_watch"),
        src("slowdns"),
        common::repo_root().join("c-tests/multihost/mh_add.c"),
    ];
    let Some(m) = Machine::new("ln-dns", &specs, &progs) else {
        return;
    };
    // node1 asks 127.0.0.1 and waits up to 30 s for an answer.
    let ns = &m.c.host("node1").ns;
    fs::write(
        format!("/etc/netns/{ns}/resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n",
    )
    .unwrap();
    let mut dns =
        m.c.spawn("node1", &format!("exec {}/slowdns 10", m.bin.display()));
    let mut ready = String::new();
    BufReader::new(dns.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready", "slowdns did not start");
    // The resolver really is slow (else this test would prove nothing).
    let t = Instant::now();
    let o = m.c.exec_timeout(
        "node1",
        "getent hosts slow.invalid",
        Duration::from_secs(20),
    );
    let slow = t.elapsed();
    assert!(
        !o.status.success() && slow >= Duration::from_secs(8),
        "the test's resolver answered in {slow:?}: {o:?}"
    );

    let hf = m.hostfile(&["node2", "node3"]);
    m.start_master("node1", Some(&hf));
    let t = Instant::now();
    let adder = m.c.spawn(
        "node1",
        &format!("exec {}/mh_add slow.invalid node4", m.bin.display()),
    );
    let watch = m.run("node1", "ln_watch", "6 node4", Duration::from_secs(40));
    let added = adder.wait_with_output().unwrap();
    let add_time = t.elapsed();
    let _ = dns.kill();
    let _ = dns.wait();
    let log = m.log("node1");
    let w = text(&watch);
    let a = text(&added);
    assert!(
        watch.status.success() && !w.contains("not ok"),
        "ln_watch failed:\n{w}\n--- add ---\n{a}\n--- master log ---\n{log}"
    );
    let maxlat = result_of(&w, "maxlat_ms").unwrap();
    let appeared = result_of(&w, "appeared_ms").unwrap();
    let rounds = result_of(&w, "rounds").unwrap();
    eprintln!(
        "slow lookup {slow:?}; add {add_time:?}; watcher: {rounds} rounds, slowest {maxlat} ms, node4 in after {appeared} ms"
    );
    // Every pvm_config and round trip to node2 is prompt (generous bound:
    // the lookup alone takes 10 s; before, the loop stood still for it).
    assert!(maxlat < 2000, "a call waited {maxlat} ms:\n{w}\n{log}");
    assert!(rounds >= 30, "only {rounds} rounds in 6 s:\n{w}");
    // node4 joined while slow.invalid was still being looked up.
    assert!(
        (0..6000).contains(&appeared),
        "node4 did not join during the lookup ({appeared} ms):\n{w}\n{log}"
    );
    // No slave lost the master meanwhile.
    assert_eq!(result_of(&w, "hosts"), Some(4), "{w}\n{log}");
    // The add answered once the resolver did: PvmNoHost (-6) for the slow
    // name, node4 added.
    assert!(added.status.success(), "mh_add: {a}");
    assert!(a.contains("result slow.invalid -6"), "{a}\n{log}");
    assert!(
        a.lines()
            .any(|l| l.starts_with("result node4 ") && !l.ends_with(" -6")),
        "{a}"
    );
    assert!(a.contains("added 1"), "{a}");
    assert!(
        add_time >= Duration::from_secs(8),
        "the add answered in {add_time:?}, before the resolver could"
    );
    assert!(!log.contains("lost"), "{log}");
}
