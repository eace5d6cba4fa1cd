//! The machine survives (issue 27; docs/PROTOCOL.md "Liveness" and
//! "Succession"): a stalled daemon is suspected, not declared dead, and
//! loses nothing (SIGSTOP of the master's daemon and of a slave's, longer
//! than the heartbeat, shorter than the host timeout); the master killed
//! (twice) is replaced by its successor and the machine goes on; a
//! partition leaves the majority going and the minority halted, and the
//! halted host can be added again. On namespace hosts with real sshds
//! (tests/common/netns.rs), with the C programs c-tests/multihost/sv_pong.c
//! (ping-pong pairs), sv_take.c (what a program sees of a loss) and
//! sv_put.c (a reply that waits for the successor's copy). Each
//! scenario builds its own cluster, so cargo runs them in parallel. The
//! slave whose link goes down (declared dead after the host timeout, not
//! before) is tests/multihost.rs `link_down_on_a_slave`.

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
use std::fs;
use std::time::{Duration, Instant};

/// A console on `host`, run as a user would, logged in there over ssh
/// from node1 (the ssh client does not need node1's daemon), its input
/// a pipe.
struct Console {
    child: std::process::Child,
    lines: Lines,
}

impl Console {
    fn start(m: &Machine, host: &str) -> Console {
        let mut child =
            m.c.command("node1", "sh")
                .args([
                    "-c",
                    &format!("exec $PVM_RSH {host} {} 2>&1", env!("CARGO_BIN_EXE_pvm")),
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
        let lines = Lines::of(&mut child);
        let mut c = Console { child, lines };
        c.type_line("id");
        c
    }

    fn type_line(&mut self, l: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{l}").unwrap();
        stdin.flush().unwrap();
    }

    /// `conf`, and its lines once `want` hosts are listed (bounded).
    fn conf(&mut self, want: usize) -> String {
        self.lines.transcript.clear();
        self.type_line("conf");
        let head = format!("{want} hosts, ");
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut rows: Option<Vec<String>> = None;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(l) = self.lines.rx.recv_timeout(left) else {
                break;
            };
            match &mut rows {
                None if l.starts_with(&head) => rows = Some(vec![l]),
                Some(r) => {
                    r.push(l);
                    if r.len() == want + 2 {
                        return r.join("\n");
                    }
                }
                None => {}
            }
        }
        rows.map(|r| r.join("\n")).unwrap_or_default()
    }

    fn quit(mut self) {
        self.type_line("quit");
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// One stall: ping-pong pairs (`pairs`, host names two by two) run from
/// `runner`; `victim`'s daemon is stopped for `stall` once they all go;
/// meanwhile the console on `observer` shows it suspected and lists every
/// host. Then the pairs stop and must have lost nothing.
fn stall_phase(
    m: &Machine,
    runner: &str,
    victim: &str,
    observer: &str,
    pairs: &[&str],
    stall: Duration,
) {
    let stop = m.work.join(format!("stop-{victim}"));
    // A console the user has open on `observer`.
    let mut console = Console::start(m, observer);
    let before = console.conf(3);
    assert!(
        before.contains("node3"),
        "console on {observer} before the stall:\n{before}\n{}",
        console.lines.transcript
    );
    // Run over ssh, as a user logged in there would (a program started
    // in the namespace alone would not find the slave's daemon: sshd gives
    // the login environment the daemons were started with).
    let mut child = m.c.spawn(
        "node1",
        &format!(
            "exec $PVM_RSH {runner} timeout 200 {}/sv_pong {} {} 2>&1",
            m.bin.display(),
            stop.display(),
            pairs.join(" ")
        ),
    );
    let mut lines = Lines::of(&mut child);
    assert!(
        lines.wait_for("ready", Duration::from_secs(60)),
        "sv_pong never got ready:\n{}\n{}",
        lines.transcript,
        m.log("node1")
    );
    let daemons = m.daemons_on(victim);
    let cmdlines: Vec<String> = daemons
        .iter()
        .map(|p| fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default())
        .collect();
    assert_eq!(
        daemons.len(),
        1,
        "one daemon on {victim}: {cmdlines:?}\n{}",
        lines.transcript
    );
    let pid = daemons[0].to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} of {victim}'s daemon failed");
    };
    signal("-STOP");
    let stopped = Instant::now();
    // Past the suspicion (3 s), the console shows it; pvm_config still
    // lists every host.
    std::thread::sleep(Duration::from_secs(6));
    let conf = console.conf(3);
    let waited = stall.saturating_sub(stopped.elapsed());
    std::thread::sleep(waited);
    signal("-CONT");
    let held = stopped.elapsed();
    eprintln!("{victim}'s daemon stopped for {held:?}");
    assert!(
        conf.contains("3 hosts"),
        "conf on {observer} while {victim} stalls:\n{conf}"
    );
    let row = conf
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{victim} ")))
        .unwrap_or_else(|| panic!("no row for {victim}:\n{conf}"));
    assert!(
        row.contains("suspected (silent "),
        "{victim} not shown suspected on {observer}:\n{conf}"
    );
    console.quit();
    // The pairs go on after the stall, then stop.
    std::thread::sleep(Duration::from_secs(3));
    fs::write(&stop, "").unwrap();
    let ended = lines.wait_for("<end>", Duration::from_secs(120));
    let status = child.wait().unwrap();
    let t = lines.transcript.clone();
    for l in t.lines().filter(|l| l.starts_with("pair ")) {
        eprintln!("{victim} stalled {held:?}: {l}");
    }
    assert!(
        ended && status.success() && !t.contains("not ok"),
        "sv_pong across the stall of {victim} failed ({status}):\n{t}\n--- master log ---\n{}",
        m.log("node1")
    );
    assert!(t.contains("hosts 3\n"), "pvm_config after the stall:\n{t}");
    for h in ["node1", "node2", "node3"] {
        assert!(t.contains(&format!("host {h}\n")), "{h} listed:\n{t}");
    }
    // Seen as a stall, not as a death: suspected, then back.
    let log = m.log(observer) + &m.log("node1");
    assert!(
        log.contains("suspected: silent for 3 s") && log.contains("answers again after"),
        "no suspicion and return in the logs:\n{log}"
    );
    assert!(
        !log.contains("removed"),
        "a host was removed for a stall:\n{log}"
    );
}

#[test]
fn stalled_daemons_lose_nothing() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let programs = [mh("sv_pong"), mh("sv_put"), mh("mh_hosts"), mh("mh_halt")];
    let Some(m) = Machine::new("sv-stall", &specs, &programs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3"]);
    m.start_master("node1", Some(&hf));
    // The master serves its tasks once the hostfile's hosts are in.
    let out = m.run("node1", "mh_hosts", "3", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 3: {}", text(&out));
    let t0 = Instant::now();
    let stall = Duration::from_secs(20);
    // The master's daemon: a pair on the two slaves, a pair with the master.
    stall_phase(
        &m,
        "node2",
        "node1",
        "node2",
        &["node2", "node3", "node3", "node1"],
        stall,
    );
    // A slave's daemon: a pair on the two others, a pair with it.
    stall_phase(
        &m,
        "node1",
        "node3",
        "node1",
        &["node1", "node2", "node2", "node3"],
        stall,
    );
    eprintln!("two stalls survived in {:?}", t0.elapsed());
    successor_confirms_before_the_reply(&m);
    halt_machine(&m, "node1");
}

/// The successor (node2) holds a change before any task is told of it:
/// with node2's daemon stopped, a pvm_putinfo on node1 is not answered
/// (the master's log shows the reply held for the replica); once node2
/// runs again and acknowledges the replica, it is.
fn successor_confirms_before_the_reply(m: &Machine) {
    let pid = m.daemons_on("node2")[0].to_string();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} of node2's daemon failed");
    };
    // Stopped before sv_put starts (it enrolls with node1's daemon alone):
    // stopped after, its pvm_putinfo could be answered before the stop.
    signal("-STOP");
    let mut child = m.c.spawn(
        "node1",
        &format!("exec timeout 120 {}/sv_put svp-held 2>&1", m.bin.display()),
    );
    let mut lines = Lines::of(&mut child);
    assert!(
        lines.wait_for("enrolled", Duration::from_secs(60)),
        "sv_put never enrolled:
{}
--- node1's log ---
{}",
        lines.transcript,
        m.log("node1")
    );
    // sv_put goes on to pvm_putinfo; the master holds its reply.
    let held = "reply to request 20 held until replica";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !m.log("node1").contains(held) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let early = lines.wait_for("put 0", Duration::from_millis(500));
    signal("-CONT");
    let log1 = m.log("node1");
    assert!(
        log1.contains(held),
        "no reply held on the master:
{log1}"
    );
    assert!(
        !early,
        "pvm_putinfo returned while the successor was stopped:
{}",
        lines.transcript
    );
    let answered = lines.wait_for("put 0", Duration::from_secs(60));
    let ended = lines.wait_for("# 4 checks, 0 failed", Duration::from_secs(30));
    let status = child.wait().unwrap();
    assert!(
        answered && ended && status.success(),
        "sv_put after the successor resumed ({status}):
{}
{log1}",
        lines.transcript
    );
}

/// One master kill: sv_take on `coord` (with a member on `other`) watches
/// a task of `victim` and its host; `victim`'s daemon is killed (-9) while
/// a ping-pong runs. With `in_flight`, a pvm_putinfo of a task on that
/// host is sent to the master just before: its daemon is stopped first, so
/// the request is in flight, never served, when the kill comes; the task's
/// daemon sends it again to the new master, and the call returns 0.
/// Returns how long the notices took.
#[allow(clippy::too_many_arguments)]
fn kill_phase(
    m: &Machine,
    coord: &str,
    other: &str,
    victim: &str,
    after: usize,
    fresh: &str,
    keeps: &[&str],
    in_flight: Option<&str>,
) -> Duration {
    let mut child = m.c.spawn(
        coord,
        &format!(
            "exec timeout 300 {}/sv_take {victim} {other} {after} '{fresh}' {} 2>&1",
            m.bin.display(),
            keeps.join(" ")
        ),
    );
    let mut lines = Lines::of(&mut child);
    assert!(
        lines.wait_for("ready", Duration::from_secs(60)),
        "sv_take never got ready:\n{}\n{}",
        lines.transcript,
        m.log(coord)
    );
    let mut put = in_flight.map(|h| {
        // The master's daemon is stopped first: sv_put enrolls with its own
        // daemon, then its pvm_putinfo is forwarded to the stopped master.
        let pid = m.daemons_on(victim)[0].to_string();
        let ok = std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -STOP of {victim}'s daemon failed");
        let mut child = m.c.spawn(
            h,
            &format!(
                "exec timeout 300 {}/sv_put svp-flight 2>&1",
                m.bin.display()
            ),
        );
        let mut lines = Lines::of(&mut child);
        assert!(
            lines.wait_for("enrolled", Duration::from_secs(60)),
            "sv_put never enrolled:\n{}",
            lines.transcript
        );
        let early = lines.wait_for("put 0", Duration::from_secs(2));
        assert!(
            !early && !lines.transcript.contains("put "),
            "pvm_putinfo returned from a stopped master:\n{}",
            lines.transcript
        );
        (h, child, lines)
    });
    let killed = Instant::now();
    assert!(m.c.kill_in(victim, "pvmd3") >= 1, "no pvmd3 on {victim}");
    let notified = lines.wait_for("notified", Duration::from_secs(160));
    let took = killed.elapsed();
    let ended = lines.wait_for("<end>", Duration::from_secs(120));
    let status = child.wait().unwrap();
    let t = lines.transcript.clone();
    assert!(
        notified && ended && status.success() && !t.contains("not ok"),
        "sv_take after the loss of {victim} failed ({status}):\n{t}\n--- {coord}'s log ---\n{}\n--- {other}'s log ---\n{}",
        m.log(coord),
        m.log(other)
    );
    if let Some((h, mut child, mut lines)) = put.take() {
        let answered = lines.wait_for("put 0", Duration::from_secs(120));
        let ended = lines.wait_for("# 4 checks, 0 failed", Duration::from_secs(60));
        let status = child.wait().unwrap();
        let log = m.log(h);
        assert!(
            answered && ended && status.success(),
            "pvm_putinfo in flight at the kill ({status}):\n{}\n--- {h}'s log ---\n{log}",
            lines.transcript
        );
        assert!(
            log.contains("request 20 of") && log.contains("goes to the new master"),
            "the put was not sent again to the new master:\n{log}"
        );
    }
    eprintln!("master {victim} killed: notices after {took:?}");
    took
}

#[test]
fn master_killed_twice_the_machine_goes_on() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
        HostSpec::v6("node4"),
        HostSpec::v6("node5"),
    ];
    let programs = [
        mh("sv_pong"),
        mh("sv_take"),
        mh("sv_put"),
        mh("mh_hosts"),
        mh("mh_halt"),
    ];
    let Some(m) = Machine::new("sv-kill", &specs, &programs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3", "node4"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "4", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 4: {}", text(&out));
    let t0 = Instant::now();
    // The master (node1) is killed during a ping-pong on node2/node3; node2
    // (next in the table) takes over; node5 is added afterwards.
    let pong = Pong::start(&m, "node2", &["node2", "node3"], "kill1");
    let fresh = format!("node5 ep={} dx={}", m.bin.display(), machine::PVMD3);
    let first = kill_phase(&m, "node2", "node3", "node1", 3, &fresh, &[], Some("node4"));
    pong.finish("the first master kill");
    let log2 = m.log("node2");
    assert!(
        log2.contains("master of the machine now (epoch 2)"),
        "node2 did not take over:\n{log2}"
    );
    // A console started on a surviving host attaches to the new master.
    let con = m.c.exec_timeout(
        "node1",
        &format!(
            "printf 'conf\\nquit\\n' | $PVM_RSH node3 {} 2>&1",
            env!("CARGO_BIN_EXE_pvm")
        ),
        Duration::from_secs(30),
    );
    let con = text(&con);
    assert!(
        con.contains("4 hosts") && con.contains("node5") && !con.contains("node1 "),
        "console on node3 after the take-over:\n{con}"
    );
    // The new master (node2) is killed in turn; node3 takes over.
    let pong = Pong::start(&m, "node3", &["node3", "node4"], "kill2");
    let second = kill_phase(&m, "node3", "node4", "node2", 3, "-", &["keep-node1"], None);
    pong.finish("the second master kill");
    let log3 = m.log("node3");
    assert!(
        log3.contains("master of the machine now (epoch 3)"),
        "node3 did not take over:\n{log3}"
    );
    eprintln!(
        "two master kills survived in {:?} (notices {first:?}, {second:?})",
        t0.elapsed()
    );
    // No host index (so no tid) given twice: node5 got a new one.
    let out = m.run("node3", "mh_hosts", "3", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 3 on node3: {}", text(&out));
    halt_machine(&m, "node3");
}

#[test]
fn partition_the_majority_goes_on() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
        HostSpec::v6("node4"),
    ];
    let programs = [mh("sv_pong"), mh("mh_hosts"), mh("mh_halt")];
    let Some(m) = Machine::new("sv-part", &specs, &programs) else {
        return;
    };
    // A short host timeout (to=6): the partition is decided after 6 s of
    // silence.
    let star = format!("* ep={} dx={} to=6", m.bin.display(), machine::PVMD3);
    let hf = m.hostfile(&[&star, "node1", "node2", "node3", "node4"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "4", Duration::from_secs(60));
    assert!(out.status.success(), "mh_hosts 4: {}", text(&out));
    let pong = Pong::start(&m, "node2", &["node2", "node3", "node3", "node4"], "part");
    // The master is cut off from the three others.
    let cut = Instant::now();
    m.c.link_down("node1");
    let deadline = Instant::now() + Duration::from_secs(40);
    while !m.daemons_on("node1").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let halted = cut.elapsed();
    let log1 = m.log("node1");
    assert!(
        m.daemons_on("node1").is_empty(),
        "the master alone did not halt:\n{log1}"
    );
    assert!(
        log1.contains("no longer hears from half of the machine"),
        "the minority master's log:\n{log1}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !m
        .log("node2")
        .contains("master of the machine now (epoch 2)")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = cut.elapsed();
    let log2 = m.log("node2");
    assert!(
        log2.contains("master of the machine now (epoch 2)"),
        "node2 did not take over:\n{log2}"
    );
    eprintln!("partition: the master alone halted after {halted:?}; node2 took over by {took:?}");
    // The three go on: the pairs lost nothing, pvm_config lists three.
    let t = pong.finish("the partition");
    assert!(
        t.contains("hosts 3\n"),
        "pvm_config after the partition:\n{t}"
    );
    // Healed: the halted host is added again (from the new master's host).
    m.c.link_up("node1");
    let con = m.c.exec_timeout(
        "node2",
        &format!(
            "printf 'add node1\\nconf\\nquit\\n' | {} 2>&1",
            env!("CARGO_BIN_EXE_pvm")
        ),
        Duration::from_secs(60),
    );
    let con = text(&con);
    assert!(
        con.contains("4 hosts") && con.contains("node1 "),
        "node1 added again after the heal:\n{con}\n{}",
        m.log("node2")
    );
    let out = m.run("node2", "mh_hosts", "4", Duration::from_secs(60));
    assert!(
        out.status.success(),
        "mh_hosts 4 after the heal: {}\n--- node2's log ---\n{}\n--- the old master's log ---\n{log1}",
        text(&out),
        m.log("node2")
    );
    halt_machine(&m, "node2");
}
