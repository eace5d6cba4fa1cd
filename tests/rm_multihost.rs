//! pvm_reg_rm across hosts (network namespaces with real sshds,
//! tests/common/netns.rs): a resource manager registered on the master
//! host is known to the slave's daemon too, so a task of the slave has its
//! pvm_spawn and pvm_addhosts handed to the manager (SM_SPAWN, SM_ADDHOST);
//! the manager starts the task with SM_EXEC sent to the slave's daemon and
//! its answers come back as the calls' results. Program:
//! c-tests/rm/rm_mh.c.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use netns::HostSpec;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use machine::{text, Machine};

fn program(dir: &str, name: &str) -> PathBuf {
    common::repo_root()
        .join("c-tests")
        .join(dir)
        .join(format!("{name}.c"))
}

fn result_of(out: &str, what: &str) -> Option<i32> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("result {what} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits up to `limit` for `path` to contain `what`.
fn wait_for(path: &PathBuf, what: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let t = fs::read_to_string(path).unwrap_or_default();
        if t.contains(what) || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_slaves_spawn_and_addhosts_go_to_the_resource_manager() {
    let specs = [HostSpec::v6("node1"), HostSpec::v6("node2")];
    let progs = [program("rm", "rm_mh"), program("multihost", "mh_halt")];
    let Some(m) = Machine::new("rm-mh", &specs, &progs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2"]);
    m.start_master("node1", Some(&hf));
    let rout = m.work.join("rm.out");
    let mut rm = m.c.spawn(
        "node1",
        &format!(
            "exec {}/rm_mh rm 2 >{} 2>&1",
            m.bin.display(),
            rout.display()
        ),
    );
    let t = wait_for(&rout, "registered", Duration::from_secs(20));
    assert!(
        t.contains("registered t40001"),
        "manager:\n{t}\n{}",
        m.log("node1")
    );
    let out = m.run("node2", "rm_mh", "client", Duration::from_secs(60));
    let o = text(&out);
    let served = wait_for(&rout, "SM_ADDHOST", Duration::from_secs(10));
    let _ = rm.kill();
    let _ = rm.wait();
    let ctx = format!("client:\n{o}\nmanager:\n{served}\nlog:\n{}", m.log("node1"));
    assert!(out.status.success(), "{ctx}");
    // The slave's task asked the manager (host 2: tids t8xxxx).
    assert!(served.contains("served SM_SPAWN from t80001"), "{ctx}");
    assert!(
        served.contains("exec on t80000: 1 task(s), first t8"),
        "{ctx}"
    );
    assert!(served.contains("served SM_ADDHOST from t80001"), "{ctx}");
    assert_eq!(result_of(&o, "spawn"), Some(1), "{ctx}");
    assert_eq!(result_of(&o, "samehost"), Some(1), "{ctx}");
    assert_eq!(result_of(&o, "childparent"), Some(1), "{ctx}");
    assert_eq!(result_of(&o, "addhosts"), Some(0), "{ctx}");
    assert_eq!(result_of(&o, "addstatus"), Some(-6), "{ctx}");
    let halt = m.run("node1", "mh_halt", "", Duration::from_secs(30));
    assert!(halt.status.success(), "mh_halt: {}", text(&halt));
    let left = m.wait_no_daemons(Duration::from_secs(10));
    assert!(left.is_empty(), "daemons left after pvm_halt: {left:?}");
}
