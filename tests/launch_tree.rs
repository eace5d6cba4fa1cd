//! Tree start-up (docs/LAUNCH.md): with PVM6_TREE=1 the master runs one
//! remote shell at a time and every slave already in the machine runs one
//! more for it (Ctl StartHost / Started), so hosts started by slaves join
//! in later rounds. Five namespace hosts with sshd: all four slaves join,
//! some in round 2 or later (started by a slave, which the master's log
//! says), and a task spawned on every host answers from each.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use machine::{text, Machine, PVMD3};
use netns::HostSpec;
use std::time::Duration;

#[test]
fn slaves_start_slaves() {
    let specs: Vec<HostSpec> = (1..=5).map(|i| HostSpec::v6(format!("node{i}"))).collect();
    let src = common::repo_root().join("c-tests/launch/ln_place.c");
    let Some(m) = Machine::new("ln-tree", &specs, &[src]) else {
        return;
    };
    let hf = m.hostfile(&["node2", "node3", "node4", "node5"]);
    let o = m.c.exec_timeout(
        "node1",
        &format!(
            "PVM6_TREE=1 {PVMD3} -d1 {} </dev/null >/dev/null 2>&1",
            hf.display()
        ),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "pvmd3: {o:?}");
    let out = m.run("node1", "ln_place", "5", Duration::from_secs(60));
    let t = text(&out);
    assert!(
        out.status.success() && !t.contains("not ok"),
        "ln_place:\n{t}\n{}",
        m.log("node1")
    );
    let log = m.log("node1");
    let rounds: Vec<usize> = log
        .lines()
        .filter_map(|l| l.split("tree round ").nth(1))
        .filter_map(|r| r.trim_end_matches(')').parse().ok())
        .collect();
    assert_eq!(rounds.len(), 4, "four hosts joined:\n{log}");
    assert!(rounds.contains(&1), "{rounds:?}\n{log}");
    assert!(
        rounds.iter().any(|&r| r >= 2),
        "no host was started by a slave: {rounds:?}\n{log}"
    );
    let mut on: Vec<&str> = t.lines().filter(|l| l.starts_with("result on ")).collect();
    on.sort();
    assert_eq!(
        on,
        [
            "result on node1 1",
            "result on node2 1",
            "result on node3 1",
            "result on node4 1",
            "result on node5 1"
        ],
        "{t}"
    );
    eprintln!("tree rounds {rounds:?}");
}

/// A slave that cannot reach the other hosts (its remote shell fails):
/// the master starts those hosts itself, and every host still joins.
#[test]
fn hosts_a_slave_cannot_start_are_started_by_the_master() {
    let specs: Vec<HostSpec> = (1..=4).map(|i| HostSpec::v6(format!("node{i}"))).collect();
    let src = common::repo_root().join("c-tests/launch/ln_place.c");
    let Some(m) = Machine::new("ln-tree2", &specs, &[src]) else {
        return;
    };
    // The slaves' daemon: pvmd3 with a remote shell that always fails.
    let fail = m.work.join("fail-rsh");
    std::fs::write(&fail, "#!/bin/sh\necho 'no ssh from here' >&2\nexit 1\n").unwrap();
    let dx = m.work.join("slave-pvmd3");
    std::fs::write(
        &dx,
        format!(
            "#!/bin/sh\nPVM_RSH='{}' exec {PVMD3} \"$@\"\n",
            fail.display()
        ),
    )
    .unwrap();
    let _ = std::process::Command::new("chmod")
        .arg("755")
        .arg(&fail)
        .arg(&dx)
        .status();
    let hf = m.work.join("hostfile-tree");
    std::fs::write(
        &hf,
        format!(
            "* ep={} dx={}\nnode2\nnode3\nnode4\n",
            m.bin.display(),
            dx.display()
        ),
    )
    .unwrap();
    let o = m.c.exec_timeout(
        "node1",
        &format!(
            "PVM6_TREE=1 {PVMD3} -d1 {} </dev/null >/dev/null 2>&1",
            hf.display()
        ),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "pvmd3: {o:?}");
    let out = m.run("node1", "ln_place", "4", Duration::from_secs(60));
    let t = text(&out);
    let log = m.log("node1");
    assert!(
        out.status.success() && !t.contains("not ok") && t.contains("result nhost 4"),
        "ln_place:\n{t}\n{log}"
    );
    let rounds: Vec<usize> = log
        .lines()
        .filter_map(|l| l.split("tree round ").nth(1))
        .filter_map(|r| r.trim_end_matches(')').parse().ok())
        .collect();
    assert_eq!(rounds, [1, 1, 1], "the master started them all:\n{log}");
    if log.contains("could not start it") {
        assert!(log.contains("starting it from here"), "{log}");
    } else {
        eprintln!("(no slave was asked: the master kept up alone)");
    }
}
