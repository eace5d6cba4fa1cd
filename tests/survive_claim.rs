//! The claim (issue 27; docs/PROTOCOL.md "Succession"): the master and its
//! successor killed together, the next host in line takes over with the
//! replica it holds too; a task that exits while a claim waits for its
//! majority leaves its groups at the new master. On namespace hosts with
//! real sshds (tests/common/netns.rs), with the C programs
//! c-tests/multihost/sv_pong.c (ping-pong pairs), sv_take.c (what a
//! program sees of a loss) and sv_exit.c (an exit during the claim).

mod common;
#[path = "common/lines.rs"]
mod lines;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/pong.rs"]
mod pong;

use machine::{text, Machine};
use netns::HostSpec;
use pong::{halt_machine, mh, Lines, Pong};
use std::time::{Duration, Instant};

/// node1 (the master) and node2 (its successor) are killed at once during
/// a ping-pong on node3/node4: node3, next in line, finds node2's port
/// refused too and takes over with the replica it holds (a persistent
/// mailbox entry put before the kills is there), the ping-pong goes on,
/// pvm_config lists the two survivors and a fresh host is added.
#[test]
fn master_and_successor_killed_together() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
        HostSpec::v6("node4"),
        HostSpec::v6("node5"),
    ];
    let programs = [mh("sv_pong"), mh("sv_take"), mh("mh_hosts"), mh("mh_halt")];
    let Some(m) = Machine::new("svc-two", &specs, &programs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3", "node4"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "4", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 4: {}", text(&out));
    // The replica goes to the two next hosts in line.
    assert!(
        m.wait_log(
            "node1",
            "replica holders t80080000, t800c0000",
            Duration::from_secs(10)
        ),
        "the master does not name two replica holders:\n{}",
        m.log("node1")
    );
    let pong = Pong::start(&m, "node3", &["node3", "node4"], "two");
    let fresh = format!("node5 ep={} dx={}", m.bin.display(), machine::PVMD3);
    let mut child = m.c.spawn(
        "node4",
        &format!(
            "exec timeout 300 {}/sv_take node1 node3 2 '{fresh}' 2>&1",
            m.bin.display()
        ),
    );
    let mut lines = Lines::of(&mut child);
    assert!(
        lines.wait_for("ready", Duration::from_secs(60)),
        "sv_take never got ready:\n{}\n{}",
        lines.transcript,
        m.log("node1")
    );
    let killed = Instant::now();
    assert!(m.c.kill_in("node1", "pvmd3") >= 1, "no pvmd3 on node1");
    assert!(m.c.kill_in("node2", "pvmd3") >= 1, "no pvmd3 on node2");
    let notified = lines.wait_for("notified", Duration::from_secs(160));
    let took = killed.elapsed();
    let ended = lines.wait_for("<end>", Duration::from_secs(120));
    let status = child.wait().unwrap();
    let t = lines.transcript.clone();
    assert!(
        notified && ended && status.success() && !t.contains("not ok"),
        "sv_take after the loss of node1 and node2 failed ({status}):\n{t}\n--- node3's log ---\n{}\n--- node4's log ---\n{}",
        m.log("node3"),
        m.log("node4")
    );
    pong.finish("the loss of the master and its successor");
    // node3 takes over in place of both (node2's port refused too), or,
    // when node2 claimed in the moment it had, in place of node2.
    let log3 = m.log("node3");
    let both = log3.contains("the successor t80080000 is gone too")
        && log3.contains("in place of t80080000 too");
    let after = log3.contains("lost the master t80080000");
    assert!(
        (both || after) && log3.contains("master of the machine now (epoch 3)"),
        "node3 did not take over:\n{log3}"
    );
    eprintln!(
        "node3 took over {}",
        if both {
            "in place of both"
        } else {
            "after node2's claim"
        }
    );
    assert!(
        !log3.contains("no replica of the master's state came"),
        "node3 had no replica:\n{log3}"
    );
    eprintln!("master and successor killed: notices after {took:?}");
    // node5 was added (sv_take): three hosts, and the machine halts.
    let out = m.run("node4", "mh_hosts", "3", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 3 on node4: {}", text(&out));
    halt_machine(&m, "node3");
}

/// A task exits while the successor's claim waits for its majority: the
/// master (node1) is cut off; node4's daemon is stopped (shorter than the
/// host timeout) so that node2's claim after silence has node3 alone; the
/// child of sv_exit on node3 is killed then. When node4 runs again and
/// follows, node2 takes over: the child's PvmTaskExit fired, and it is no
/// longer in its group (node3 named it alive in its Follow).
#[test]
fn a_task_exit_during_a_silent_claim() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
        HostSpec::v6("node4"),
    ];
    let programs = [mh("sv_exit"), mh("mh_hosts"), mh("mh_halt")];
    let Some(m) = Machine::new("svc-exit", &specs, &programs) else {
        return;
    };
    // A host timeout of 20 s: the claim comes 20 s after the cut, and
    // node4's daemon can be stopped 12 s without stalling out (18 s).
    let star = format!("* ep={} dx={} to=20", m.bin.display(), machine::PVMD3);
    let hf = m.hostfile(&[&star, "node1", "node2", "node3", "node4"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "4", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 4: {}", text(&out));
    let mut child = m.c.spawn(
        "node2",
        &format!("exec timeout 300 {}/sv_exit node3 2>&1", m.bin.display()),
    );
    let mut lines = Lines::of(&mut child);
    assert!(
        lines.wait_for("ready", Duration::from_secs(60)),
        "sv_exit never got ready:\n{}\n{}",
        lines.transcript,
        m.log("node1")
    );
    let cut = Instant::now();
    m.c.link_down("node1");
    // node4 stops before the claim (20 s after the cut).
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(
        m.c.signal_in("node4", "pvmd3", "STOP"),
        1,
        "stop node4's daemon"
    );
    let stopped = Instant::now();
    let claimed = m.wait_log("node3", "following t80080000", Duration::from_secs(20));
    let log2 = m.log("node2");
    if !claimed {
        m.c.signal_in("node4", "pvmd3", "CONT");
        panic!(
            "node3 did not follow node2's claim:\n{}\n--- node2 ---\n{log2}",
            m.log("node3")
        );
    }
    let killed = m.c.kill_in("node3", "sv_exit -child");
    // Its TaskGone reaches node2 while the claim waits.
    std::thread::sleep(Duration::from_secs(2));
    let during = m.log("node2");
    m.c.signal_in("node4", "pvmd3", "CONT");
    let held = stopped.elapsed();
    eprintln!(
        "node4 stopped {held:?}, from {:?} to {:?} after the cut",
        stopped - cut,
        stopped - cut + held
    );
    assert_eq!(killed, 1, "the child on node3 was not found");
    assert!(
        during.contains("taking over") && !during.contains("master of the machine now"),
        "the child was not killed during the claim:\n{during}"
    );
    let ended = lines.wait_for("<end>", Duration::from_secs(120));
    let status = child.wait().unwrap();
    let t = lines.transcript.clone();
    let log2 = m.log("node2");
    assert!(
        ended && status.success() && !t.contains("not ok"),
        "sv_exit across the claim failed ({status}):\n{t}\n--- node2's log ---\n{log2}\n--- node4's log ---\n{}",
        m.log("node4")
    );
    assert!(
        log2.contains("master of the machine now (epoch 2)"),
        "node2 did not take over:\n{log2}"
    );
    let out = m.run("node2", "mh_hosts", "3", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 3 on node2: {}", text(&out));
    let out = m.run("node2", "mh_halt", "", Duration::from_secs(30));
    assert!(out.status.success(), "mh_halt: {}", text(&out));
    m.c.link_up("node1");
    let left = m.wait_no_daemons(Duration::from_secs(40));
    assert!(left.is_empty(), "daemons left after pvm_halt: {left:?}");
}

/// A slave's end of its link to the master closes while the master runs
/// (`ss -K` in node2, with a rule dropping what node2 sends on that
/// connection, so the reset never reaches the master): node2 probes the
/// master, which takes it back on the new link; a pvm_putinfo whose reply
/// was lost with the closed link goes again and is answered at once (the
/// master's recorded answer); ping-pongs of node2 with the master's host and with
/// node3 lose nothing, pvm_config lists three hosts, and a pvm_putinfo on
/// node2 afterwards is answered.
#[test]
fn a_probe_finds_the_master_alive() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let programs = [mh("sv_pong"), mh("sv_put"), mh("mh_hosts"), mh("mh_halt")];
    let Some(m) = Machine::new("svc-probe", &specs, &programs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "3", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 3: {}", text(&out));
    let pong = Pong::start(&m, "node2", &["node2", "node1", "node2", "node3"], "probe");
    // The master's end of the link, as node2 logged it.
    let log2 = m.log("node2");
    let peer = log2
        .lines()
        .find_map(|l| {
            let rest = l.split("link from t80040000 at ").nth(1)?;
            rest.strip_suffix(" up").map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no link from the master in node2's log:\n{log2}"));
    // node2's own port (its first log line: "node2 ([::]:PORT) ...").
    let port2 = log2
        .split("([::]:")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no port in node2's log:\n{log2}"))
        .to_string();
    let port1 = &peer[peer.rfind(':').unwrap() + 1..];
    // Packets of that connection from node2 go nowhere from now on (the
    // reset of `ss -K`, and those answering the master's heartbeats): the
    // master sees nothing; node2's probe (other ports) passes.
    // A pvm_putinfo of node2 whose reply is lost with the link: node3's
    // daemon (a replica holder) is stopped, so the master holds the reply;
    // node2's daemon is stopped, then node3 runs again and the reply goes
    // into node2's socket, which `ss -K` then closes unread.
    let signal = |host: &str, sig: &str| {
        assert_eq!(
            m.c.signal_in(host, "pvmd3", sig),
            1,
            "{sig} of {host}'s daemon"
        );
    };
    signal("node3", "STOP");
    let mut put = m.c.spawn(
        "node2",
        &format!(
            "exec timeout 120 {}/sv_put svc-flight 2>&1",
            m.bin.display()
        ),
    );
    let mut lines = Lines::of(&mut put);
    assert!(
        lines.wait_for("enrolled", Duration::from_secs(60)),
        "sv_put never enrolled:\n{}",
        lines.transcript
    );
    let held = m.wait_log(
        "node1",
        "reply to request 20 held until replica",
        Duration::from_secs(20),
    );
    signal("node2", "STOP");
    signal("node3", "CONT");
    std::thread::sleep(Duration::from_millis(500));
    let early = lines.wait_for("put 0", Duration::from_millis(100));
    assert!(held, "no reply held on the master:\n{}", m.log("node1"));
    let cut = m.c.exec_timeout(
        "node2",
        &format!(
            "ip -6 rule add ipproto tcp sport {port2} dport {port1} blackhole && ss -K -tn dst '{peer}'"
        ),
        Duration::from_secs(10),
    );
    assert!(
        cut.status.success() && text(&cut).contains(&format!(":{port1}")),
        "ss -K of node2's link to the master: {}",
        text(&cut)
    );
    signal("node2", "CONT");
    let resumed = Instant::now();
    assert!(
        !early,
        "pvm_putinfo returned while node2's daemon was stopped"
    );
    let relinked = m.wait_log(
        "node2",
        "linked to the master t80040000 again",
        Duration::from_secs(10),
    );
    // The request in flight on the closed link goes again at once: answered
    // long before the 30 s after which it would fail (PvmHostFail).
    let answered = lines.wait_for("put 0", Duration::from_secs(20));
    let took = resumed.elapsed();
    let ended = lines.wait_for("# 4 checks, 0 failed", Duration::from_secs(20));
    let status = put.wait().unwrap();
    assert!(
        answered && ended && status.success() && took < Duration::from_secs(10),
        "pvm_putinfo in flight at the cut ({status}, {took:?}):\n{}\n--- node2's log ---\n{}",
        lines.transcript,
        m.log("node2")
    );
    eprintln!("the put in flight was answered {took:?} after node2's daemon resumed");
    assert!(
        m.log("node2")
            .contains("in flight on the closed link to the master go again"),
        "the put was not sent again:\n{}",
        m.log("node2")
    );
    let log1 = m.log("node1");
    assert!(
        relinked && log1.contains("slave t80080000 linked again"),
        "node2 did not link to the master again:\n{}\n--- node1's log ---\n{log1}",
        m.log("node2")
    );
    let out = m.run("node2", "sv_put svc-after", "", Duration::from_secs(30));
    assert!(out.status.success(), "sv_put on node2: {}", text(&out));
    let t = pong.finish("a closed link to the master");
    assert!(t.contains("hosts 3\n"), "pvm_config after the relink:\n{t}");
    let log1 = m.log("node1");
    assert!(
        !log1.contains("removed") && !m.log("node2").contains("killing tasks"),
        "a host was removed:\n{log1}"
    );
    halt_machine(&m, "node1");
}
