//! What a program sees of the master's loss in the middle of a group sync
//! or a host change (issue 27; docs/PROTOCOL.md "Succession"): a barrier
//! waiter from before the loss is released by the new master, once; a
//! freeze the old master completed but its successor never saw is completed
//! again by the retried call, and released once; (survive_add) a
//! pvm_addhosts in flight at the loss reports what pvm_config then lists.
//! On namespace hosts with real sshds (tests/common/netns.rs), with
//! c-tests/multihost/sv_sync.c and mh_add.c.

mod common;
#[path = "common/lines.rs"]
mod lines;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use lines::Lines;
use machine::{program, Machine};
use netns::HostSpec;
use std::time::{Duration, Instant};

/// c-tests/multihost/`name`.c.
fn mh(name: &str) -> std::path::PathBuf {
    program("multihost", name)
}

fn signal(m: &Machine, host: &str, sig: &str) {
    let n = m.c.signal_in(host, "pvmd3", sig);
    assert_eq!(n, 1, "kill -{sig} of {host}'s daemon");
}

/// node1 is the master, node2 its successor; sv_sync runs on node4 with
/// its members W (in pvm_barrier) and F (in pvm_freezegroup) on node3.
/// node2's daemon is stopped, sv_sync's own pvm_freezegroup completes the
/// freeze at the master (whose release and reply wait for node2), the
/// master is killed -9 and node2 resumes: it takes over with a copy that
/// has W and F waiting, serves the freeze again (the retry), and the
/// barrier completes once everyone arrives, releasing each member once.
#[test]
fn syncs_in_progress_survive_the_master() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
        HostSpec::v6("node4"),
    ];
    let progs = [mh("sv_sync"), mh("mh_hosts")];
    let Some(m) = Machine::new("sv-sync", &specs, &progs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3", "node4"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "4", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 4: {}", machine::text(&out));
    let go = m.work.join("go");
    let mut child = m.c.spawn(
        "node4",
        &format!(
            "exec timeout 300 {}/sv_sync node3 {} 2>&1",
            m.bin.display(),
            go.display()
        ),
    );
    let mut lines = Lines::of(&mut child);
    assert!(
        lines.wait_for("waiting", Duration::from_secs(60)),
        "sv_sync never got its members waiting:\n{}\n{}",
        lines.transcript,
        m.log("node1")
    );
    signal(&m, "node2", "STOP");
    std::fs::write(&go, "").unwrap();
    assert!(
        lines.wait_for("arriving", Duration::from_secs(30)),
        "{}",
        lines.transcript
    );
    // The freeze completes at the master; its releases wait for node2.
    let held = m.wait_log(
        "node1",
        "release(s) held until replica",
        Duration::from_secs(20),
    );
    let early = lines.wait_line(|l| l.starts_with("frozen"), Duration::from_millis(500));
    let log1 = m.log("node1");
    signal(&m, "node1", "KILL");
    signal(&m, "node2", "CONT");
    assert!(held, "no release held on the master:\n{log1}");
    assert!(
        early.is_none(),
        "pvm_freezegroup returned while the successor was stopped:\n{}",
        lines.transcript
    );
    let ended = lines.wait_for("<end>", Duration::from_secs(150));
    let status = child.wait().unwrap();
    let t = lines.transcript.clone();
    assert!(
        ended && status.success() && !t.contains("not ok"),
        "sv_sync across the master's loss ({status}):\n{t}\n--- node2 ---\n{}\n--- node4 ---\n{}",
        m.log("node2"),
        m.log("node4")
    );
    eprintln!("{t}");
    let log2 = m.log("node2");
    eprintln!(
        "{}",
        log2.lines()
            .filter(|l| l.contains("release") || l.contains("request 7"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        log2.contains("master of the machine now (epoch 2)"),
        "node2 did not take over:\n{log2}"
    );
    let log4 = m.log("node4");
    assert!(
        log4.contains("request 77 of") && log4.contains("goes to the new master"),
        "the freeze was not sent again to the new master:\n{log4}"
    );
}

/// A pvm_addhosts of node4 from a task on node3, the master (node1) killed
/// -9 while node4's daemon is being started: the call completes on the new
/// master (node2), and what it reports is what pvm_config lists then
/// (node4 added with its tid: the old master's start dies with it, and its
/// daemon on node4, never placed, is waited for until it exits).
#[test]
fn addhosts_in_flight_at_the_masters_loss() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
        HostSpec::v6("node4"),
    ];
    let progs = [mh("mh_add"), mh("mh_hosts")];
    let Some(m) = Machine::new("sv-add", &specs, &progs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "3", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 3: {}", machine::text(&out));
    // The master's daemon (its remote shells to node4 name pvmd3 too).
    let master = m.daemons_on("node1");
    assert_eq!(master.len(), 1, "one daemon on node1");
    let line = format!("node4 ep={} dx={}", m.bin.display(), machine::PVMD3);
    let mut child = m.c.spawn(
        "node3",
        &format!("exec timeout 200 {}/mh_add '{line}' 2>&1", m.bin.display()),
    );
    let mut lines = Lines::of(&mut child);
    // The kill comes once node4's daemon runs (started, maybe not placed).
    let deadline = Instant::now() + Duration::from_secs(60);
    while m.daemons_on("node4").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!m.daemons_on("node4").is_empty(), "node4 never started");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &master[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -9 of node1's daemon");
    let ended = lines.wait_for("# 3 checks, 0 failed", Duration::from_secs(150));
    let status = child.wait().unwrap();
    let t = lines.transcript.clone();
    eprintln!("{t}");
    let code = machine::result_of(&t, &line).unwrap_or(0);
    let listed = t.lines().find_map(|l| {
        l.strip_prefix("config node4 ")
            .and_then(|v| v.trim().parse::<i32>().ok())
    });
    assert!(
        ended && status.success() && code > 0 && listed == Some(code) && t.contains("added 1"),
        "pvm_addhosts across the master's loss ({status}): {code:#x}, listed {listed:?}\n{t}\n--- node2 ---\n{}\n--- node3 ---\n{}",
        m.log("node2"),
        m.log("node3")
    );
    assert!(
        t.contains("hosts 3") && !t.contains("config node1 "),
        "pvm_config after the loss:\n{t}"
    );
    let log3 = m.log("node3");
    assert!(
        log3.contains("request 60 of") && log3.contains("goes to the new master"),
        "the add was not sent again to the new master:\n{log3}"
    );
}

/// A pvm_delhosts of node4 from a task on node3 while the successor
/// (node2) is stopped: the master deletes node4 and holds the reply for
/// node2's acknowledgement; it is killed -9 and node2 resumes. The call is
/// sent again to node2, now the master, and reports node4 deleted (0),
/// which pvm_config confirms.
#[test]
fn delhosts_in_flight_at_the_masters_loss() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
        HostSpec::v6("node4"),
    ];
    let progs = [mh("mh_add"), mh("mh_hosts")];
    let Some(m) = Machine::new("sv-del", &specs, &progs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3", "node4"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "4", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 4: {}", machine::text(&out));
    signal(&m, "node2", "STOP");
    let mut child = m.c.spawn(
        "node3",
        &format!("exec timeout 200 {}/mh_add -d node4 2>&1", m.bin.display()),
    );
    let mut lines = Lines::of(&mut child);
    let held = m.wait_log(
        "node1",
        "reply to request 61 held until replica",
        Duration::from_secs(30),
    );
    let early = lines.wait_line(|l| l.starts_with("result "), Duration::from_millis(500));
    let log1 = m.log("node1");
    signal(&m, "node1", "KILL");
    signal(&m, "node2", "CONT");
    assert!(held, "no delhosts reply held on the master:\n{log1}");
    assert!(
        early.is_none(),
        "pvm_delhosts returned while the successor was stopped:\n{}",
        lines.transcript
    );
    let ended = lines.wait_for("# 3 checks, 0 failed", Duration::from_secs(150));
    let status = child.wait().unwrap();
    let t = lines.transcript.clone();
    eprintln!("{t}");
    assert!(
        ended
            && status.success()
            && machine::result_of(&t, "node4") == Some(0)
            && t.contains("deleted 1")
            && t.contains("hosts 2")
            && !t.contains("config node4 "),
        "pvm_delhosts across the master's loss ({status}):\n{t}\n--- node2 ---\n{}\n--- node3 ---\n{}",
        m.log("node2"),
        m.log("node3")
    );
    let log2 = m.log("node2");
    for l in log2
        .lines()
        .filter(|l| l.contains("61") || l.contains("node4"))
    {
        eprintln!("node2: {l}");
    }
    let log3 = m.log("node3");
    assert!(
        log3.contains("request 61 of") && log3.contains("goes to the new master"),
        "the delete was not sent again to the new master:\n{log3}"
    );
}
