//! A virtual machine from a PBS/Torque job (issue 30, docs/LAUNCH.md): a
//! master started without a hostfile inside a job (PBS_NODEFILE set) takes
//! the node file as its hostfile, starting the other nodes with the remote
//! shell; a node's repeated lines are its CPU slots, which pvm_spawn's
//! default placement follows; the console's `conf` names the job.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use machine::{text, Machine, PVMD3};
use netns::HostSpec;
use std::fs;
use std::time::Duration;

const CONSOLE: &str = env!("CARGO_BIN_EXE_pvm");

#[test]
fn the_node_file_is_the_hostfile_and_its_slots_the_placement() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let src = common::repo_root().join("c-tests/launch/ln_place.c");
    let Some(m) = Machine::new("ln-pbs", &specs, &[src]) else {
        return;
    };
    // As Torque writes it: one line per slot, a node's lines together or not.
    let nodefile = m.work.join("nodefile");
    fs::write(&nodefile, "node3\nnode1\nnode2\nnode3\nnode2\nnode3\n").unwrap();
    let o = m.c.exec_timeout(
        "node1",
        &format!(
            "PBS_NODEFILE='{}' PBS_JOBID=17.server {PVMD3} -d1 </dev/null >/dev/null 2>&1",
            nodefile.display()
        ),
        Duration::from_secs(40),
    );
    assert!(o.status.success(), "pvmd3: {o:?}");
    let out = m.run("node1", "ln_place", "6", Duration::from_secs(60));
    let t = text(&out);
    let log = m.log("node1");
    assert!(
        out.status.success() && !t.contains("not ok"),
        "ln_place failed:\n{t}\n--- master log ---\n{log}"
    );
    let mut speeds: Vec<&str> = t
        .lines()
        .filter(|l| l.starts_with("result speed "))
        .collect();
    speeds.sort();
    assert_eq!(
        speeds,
        [
            "result speed node1 1000",
            "result speed node2 2000",
            "result speed node3 3000"
        ],
        "{t}\n{log}"
    );
    let mut on: Vec<&str> = t.lines().filter(|l| l.starts_with("result on ")).collect();
    on.sort();
    assert_eq!(
        on,
        [
            "result on node1 1",
            "result on node2 2",
            "result on node3 3"
        ],
        "{t}"
    );
    // Started with the remote shell (the harness's ssh wrapper).
    let rsh = m.c.ssh_command().display().to_string();
    assert!(
        log.contains(&format!("add node2: {rsh} node2")),
        "node2 not started with {rsh}:\n{log}"
    );
    assert!(
        log.contains("building the machine from PBS job 17.server"),
        "{log}"
    );
    let conf = m.c.exec_ok("node1", &format!("echo conf | {CONSOLE}"));
    assert!(
        conf.contains(&format!(
            "allocation: PBS job 17.server: {} (3 nodes, 6 slots)",
            nodefile.display()
        )),
        "{conf}"
    );
    let h = m.c.exec("node1", &format!("echo halt | {CONSOLE}"));
    assert!(h.status.success(), "{}", text(&h));
    let left = m.wait_no_daemons(Duration::from_secs(10));
    assert!(left.is_empty(), "daemons left after halt: {left:?}");
}
