//! pvm_reg_rm across hosts (network namespaces with real sshds,
//! tests/common/netns.rs): a resource manager registered on the master
//! host is known to the slave's daemon too, so a task of the slave has its
//! pvm_spawn, pvm_addhosts, pvm_config, pvm_tasks, pvm_delhosts and
//! pvm_notify handed to the manager (SM_SPAWN, SM_ADDHOST, SM_CONFIG,
//! SM_TASK, SM_DELHOST, SM_NOTIFY); the manager starts the task with
//! SM_EXEC sent to the slave's daemon and its answers come back as the
//! calls' results. The manager's SM_ADD sent to the slave's daemon reaches
//! the master, and a second SM_ADD while it runs is answered PvmAlready.
//! A task of the slave registering as manager goes to the manager as
//! SM_SCHED, which hands off to it (SM_HANDOFF across hosts): a task of
//! the master then has its pvm_config served by the new manager on the
//! slave. Program: c-tests/rm/rm_mh.c.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use netns::HostSpec;
use std::fs;
use std::time::{Duration, Instant};

use machine::{program, result_of, text, wait_for, Machine};

#[test]
fn a_slaves_requests_go_to_the_resource_manager() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
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
            "exec {}/rm_mh rm 6 add node3 >{} 2>&1",
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
    let served = wait_for(&rout, "SM_NOTIFY", Duration::from_secs(10));
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
    // pvm_config, pvm_tasks, pvm_delhosts, pvm_notify of the slave's task.
    assert!(served.contains("served SM_CONFIG from t80001"), "{ctx}");
    assert_eq!(result_of(&o, "config"), Some(0), "{ctx}");
    assert_eq!(result_of(&o, "confighost"), Some(1), "{ctx}");
    assert!(
        served.contains("served SM_TASK from t80001 where 0"),
        "{ctx}"
    );
    assert_eq!(result_of(&o, "tasks"), Some(0), "{ctx}");
    assert_eq!(result_of(&o, "tasklist"), Some(1), "{ctx}");
    assert!(served.contains("served SM_DELHOST from t80001"), "{ctx}");
    assert_eq!(result_of(&o, "delhosts"), Some(1), "{ctx}");
    assert_eq!(result_of(&o, "delstatus"), Some(0), "{ctx}");
    assert_eq!(result_of(&o, "notify"), Some(0), "{ctx}");
    assert!(
        served.contains("served SM_NOTIFY from t80001 what 1 tag 9 cnt 1 tid t8"),
        "{ctx}"
    );

    // SM_ADD to the slave's daemon (passed to the master) and one to the
    // master at once: one adds node3 (host tid 0xc0000), the other is
    // refused with PvmAlready (-30), as PVM 3.4.6 answers.
    let deadline = Instant::now() + Duration::from_secs(90);
    let acks = loop {
        let t = fs::read_to_string(&rout).unwrap_or_default();
        if t.matches("addack ").count() >= 2 || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let ctx = format!("manager:\n{acks}\nlog:\n{}", m.log("node1"));
    let mut got: Vec<&str> = acks.lines().filter(|l| l.starts_with("addack ")).collect();
    got.sort();
    assert_eq!(got, ["addack -30 0", "addack 1 786432"], "{ctx}");

    // A task of the slave asks to be the manager: SM_SCHED, answered, then
    // SM_HANDOFF to it; a task of the master is served by it.
    let r2out = m.work.join("rm2.out");
    let mut rm2 = m.c.spawn(
        "node2",
        &format!(
            "exec {}/rm_mh rm2 >{} 2>&1",
            m.bin.display(),
            r2out.display()
        ),
    );
    let t = wait_for(&rout, "handed off", Duration::from_secs(30));
    let r2 = wait_for(&r2out, "registered", Duration::from_secs(10));
    let ctx = format!("manager:\n{t}\nrm2:\n{r2}\nlog:\n{}", m.log("node1"));
    assert!(t.contains("handed off to t8"), "{ctx}");
    assert!(r2.contains("rm2 registered 0 master"), "{ctx}");
    let out2 = m.run("node1", "rm_mh", "client2", Duration::from_secs(60));
    let o2 = text(&out2);
    let r2 = wait_for(&r2out, "served", Duration::from_secs(10));
    let _ = rm.kill();
    let _ = rm.wait();
    let _ = rm2.kill();
    let _ = rm2.wait();
    let ctx = format!("client2:\n{o2}\nrm2:\n{r2}\nlog:\n{}", m.log("node1"));
    assert_eq!(result_of(&o2, "config2"), Some(3), "{ctx}");
    assert!(r2.contains("rm2 served SM_CONFIG from t4"), "{ctx}");
    let halt = m.run("node1", "mh_halt", "", Duration::from_secs(30));
    assert!(halt.status.success(), "mh_halt: {}", text(&halt));
    let left = m.wait_no_daemons(Duration::from_secs(10));
    assert!(left.is_empty(), "daemons left after pvm_halt: {left:?}");
}
