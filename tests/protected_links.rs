//! Protected links between hosts (issue 28, item 1; docs/HARDENING.md
//! "Protected links"), on namespace hosts with real sshds
//! (tests/common/netns.rs):
//!
//! * a relay the test puts between the master and a slave daemon (the
//!   slave is started by hand, `so=ms`, and the reply line the master reads
//!   names the relay's port instead of the slave's) flips one byte, replays
//!   a recorded record, injects a Spawn request and a Halt: each time the
//!   link ends with a log line saying why, nothing is spawned or halted,
//!   and the machine goes on over a new link (round trips afterwards);
//! * the relay sees what each protection level shows of the traffic
//!   (program names of spawn requests only without encryption);
//! * tasks on two hosts exchange messages on direct routes (and on feeds)
//!   at each level.
//!
//! The C program is c-tests/trust/pl_ping.c; the relay is
//! [`relay_helper`], this test binary run again inside the slave's host.

mod common;
#[path = "common/machine.rs"]
mod machine;
#[path = "common/netns.rs"]
mod netns;

use machine::{text, Machine};
use netns::HostSpec;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn prog(dir: &str, name: &str) -> PathBuf {
    common::repo_root()
        .join("c-tests")
        .join(dir)
        .join(format!("{name}.c"))
}

fn programs() -> Vec<PathBuf> {
    vec![
        prog("trust", "pl_ping"),
        prog("multihost", "mh_add"),
        prog("multihost", "mh_halt"),
    ]
}

fn assert_tap(o: &Output, what: &str, log: &str) {
    let t = text(o);
    assert!(
        o.status.success() && !t.contains("not ok"),
        "{what} failed ({}):\n{t}\n--- log ---\n{log}",
        o.status
    );
}

/// Halts the machine from `host` and checks no daemon is left anywhere.
fn halt_all(m: &Machine, host: &str) {
    let out = m.run(host, "mh_halt", "", Duration::from_secs(30));
    assert_tap(&out, "mh_halt", &m.log(host));
    let left = m.wait_no_daemons(Duration::from_secs(10));
    assert!(left.is_empty(), "daemons left after pvm_halt: {left:?}");
}

/// Waits (bounded) until `f` gives Some.
fn wait_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Round trips between node1 and a child on node2, checked.
fn round_trips(m: &Machine, rounds: u32, direct: bool, why: &str) -> String {
    let args = format!("node2 {rounds}{}", if direct { " direct" } else { "" });
    let out = m.run("node1", "pl_ping", &args, Duration::from_secs(90));
    let log = format!(
        "--- node1 ---\n{}\n--- node2 ---\n{}",
        m.log("node1"),
        m.log("node2")
    );
    assert_tap(&out, &format!("pl_ping ({why})"), &log);
    let t = text(&out);
    assert!(
        t.contains(&format!("roundtrips ok={rounds} of {rounds}")) && t.contains("stray=0"),
        "{why}:\n{t}"
    );
    t
}

/// A machine of node1 (master) and node2, node2 started by hand (`so=ms`)
/// behind a relay in node2: the master reaches the slave's daemon only
/// through it. `star` is the hostfile's `*` line options beyond ep=/dx=.
struct Relayed {
    m: Machine,
    relay: Child,
    /// The relay's control file: the test writes an attack's name there;
    /// the relay renames it to `<ctl>.done` once it carried it out.
    ctl: PathBuf,
    /// What the relay reports (one line per event).
    report: PathBuf,
    slave_pid: Vec<u32>,
}

impl Drop for Relayed {
    fn drop(&mut self) {
        let _ = self.relay.kill();
        let _ = self.relay.wait();
    }
}

fn relayed(prefix: &str, star: &str) -> Option<Relayed> {
    let specs = [HostSpec::v6("node1"), HostSpec::v6("node2")];
    let m = Machine::new(prefix, &specs, &programs())?;
    let hf = m.hostfile(&[
        &format!("* ep={} dx={} {star}", m.bin.display(), machine::PVMD3),
        "node1",
    ]);
    m.start_master("node1", Some(&hf));
    let mut add = m.c.spawn(
        "node1",
        &format!(
            "exec timeout 120 {}/mh_add 'node2 so=ms' 2>&1",
            m.bin.display()
        ),
    );
    let dir = m.c.host("node1").tmp().join("pvm6.0");
    let secret = wait_until(Duration::from_secs(30), "the secret file", || {
        fs::read_to_string(dir.join("pvmd.secret"))
            .ok()
            .filter(|s| s.ends_with('\n'))
            .map(|s| s.trim().to_string())
    });
    let cmd = wait_until(Duration::from_secs(30), "the manual start command", || {
        m.log("node1")
            .lines()
            .find(|l| l.contains("manual start of node2"))
            .and_then(|l| l.split('`').nth(1).map(str::to_string))
    });
    assert!(
        cmd.contains("protect="),
        "the slave is told the level: {cmd}"
    );
    let reply = m.c.exec_ok("node2", &format!("echo {secret} | {cmd}"));
    // "pvm6 <proto> <port> <arch> <speed> <dsig>"
    let words: Vec<&str> = reply.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"pvm6"), "slave reply: {reply}");
    let port = words[2];
    let work = m.work.clone();
    let ctl = work.join("relay.ctl");
    let report = work.join("relay.report");
    let mut relay =
        m.c.command("node2", std::env::current_exe().unwrap().to_str().unwrap())
            .args(["--ignored", "--exact", "relay_helper", "--nocapture"])
            .env("PL_RELAY_TARGET", format!("[::1]:{port}"))
            .env("PL_RELAY_CTL", &ctl)
            .env("PL_RELAY_REPORT", &report)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    let mut lines = BufReader::new(relay.stdout.take().unwrap()).lines();
    let rport = loop {
        let l = lines.next().expect("relay output").unwrap();
        if let Some(p) = l.strip_prefix("relay listening on ") {
            break p.trim().to_string();
        }
    };
    let mut w = words.clone();
    w[2] = &rport;
    fs::write(dir.join("reply.node2"), format!("{}\n", w.join(" "))).unwrap();
    let status = add.wait().unwrap();
    let mut o = String::new();
    add.stdout.take().unwrap().read_to_string(&mut o).unwrap();
    assert!(
        status.success() && o.contains("added 1") && o.contains("hosts 2"),
        "manual add behind the relay failed:\n{o}\n{}",
        m.log("node1")
    );
    let slave_pid = m.daemons_on("node2");
    assert_eq!(slave_pid.len(), 1, "one slave daemon on node2");
    Some(Relayed {
        m,
        relay,
        ctl,
        report,
        slave_pid,
    })
}

impl Relayed {
    fn report(&self) -> String {
        fs::read_to_string(&self.report).unwrap_or_default()
    }

    /// Has the relay carry out `attack` once; returns its report line.
    fn attack(&self, attack: &str) -> String {
        let done = self.ctl.with_extension("done");
        let _ = fs::remove_file(&done);
        fs::write(&self.ctl, attack).unwrap();
        wait_until(
            Duration::from_secs(15),
            &format!("the relay to {attack}"),
            || done.exists().then_some(()),
        );
        self.report()
            .lines()
            .rev()
            .find(|l| l.starts_with(&format!("did {attack} ")))
            .unwrap_or_else(|| panic!("no report of {attack}:\n{}", self.report()))
            .to_string()
    }

    /// Waits until the logs of both hosts grew by lines containing each of
    /// `want` (node, text); returns the new parts.
    fn logs_after(&self, before: &(String, String), want: &[(&str, &str)]) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let l1 = self.m.log("node1");
            let l2 = self.m.log("node2");
            let n1 = l1.get(before.0.len()..).unwrap_or("").to_string();
            let n2 = l2.get(before.1.len()..).unwrap_or("").to_string();
            let ok = want.iter().all(|(node, text)| {
                if *node == "node1" {
                    n1.contains(text)
                } else {
                    n2.contains(text)
                }
            });
            if ok {
                for (node, l) in [("node1", &n1), ("node2", &n2)] {
                    for line in l.lines().filter(|l| l.contains("protected frame")) {
                        eprintln!("{node} log: {line}");
                    }
                }
                return (n1, n2);
            }
            assert!(
                Instant::now() < deadline,
                "log lines {want:?} missing:\n--- node1 ---\n{n1}\n--- node2 ---\n{n2}\n--- relay ---\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> (String, String) {
        (self.m.log("node1"), self.m.log("node2"))
    }

    /// Nothing was halted or lost: the same slave daemon runs, both hosts
    /// are in the machine, and neither log speaks of a lost host.
    fn machine_intact(&self) {
        assert_eq!(
            self.m.daemons_on("node2"),
            self.slave_pid,
            "slave daemon replaced or gone"
        );
        let (l1, l2) = self.logs();
        for bad in ["lost host", "lost the master", "halted by the master"] {
            assert!(
                !l1.contains(bad) && !l2.contains(bad),
                "{bad:?} logged:\n{l1}\n{l2}"
            );
        }
    }
}

/// The relay between two hosts' daemons: flipped byte, replayed record,
/// injected Spawn and Halt. Each ends the link with a log line saying why;
/// nothing is spawned or halted; the machine goes on over a new link.
#[test]
fn tampering_relay_between_daemons() {
    let Some(r) = relayed("pl-relay", "") else {
        return;
    };
    let m = &r.m;
    round_trips(m, 3, false, "before any attack");
    let pwned = m.c.host("node2").tmp().join("pwned");

    // (a) One byte of a record from the master to the slave flipped: the
    // slave refuses it and ends the link; the master is told and re-links.
    let before = r.logs();
    let did = r.attack("flip-down");
    eprintln!("relay: {did}");
    let (n1, n2) = r.logs_after(
        &before,
        &[
            ("node2", "closed: refused protected frame: protected record"),
            (
                "node2",
                "failed authentication (tampered, replayed, reordered or injected)",
            ),
            (
                "node1",
                "closed by the peer: it refused a protected frame of ours; re-linking",
            ),
        ],
    );
    assert!(n2.contains("nothing of it delivered, re-linking"), "{n2}");
    assert!(!n1.contains("lost host"), "{n1}");
    round_trips(m, 3, false, "after a flipped byte");
    r.machine_intact();

    // (b) A record from the slave to the master recorded and sent again:
    // the master refuses the copy (its counter moved on).
    let before = r.logs();
    let did = r.attack("replay-up");
    eprintln!("relay: {did}");
    r.logs_after(
        &before,
        &[
            ("node1", "closed: refused protected frame: protected record"),
            (
                "node2",
                "closed by the peer: it refused a protected frame of ours; re-linking",
            ),
        ],
    );
    round_trips(m, 3, false, "after a replayed record");
    r.machine_intact();

    // (c) A Spawn request injected after the handshake, as the master
    // would send it in the clear: refused unopened, nothing runs.
    let before = r.logs();
    let did = r.attack("inject-spawn-down");
    eprintln!("relay: {did}");
    r.logs_after(
        &before,
        &[
            ("node2", "closed: refused protected frame: protected record"),
            ("node2", "tampered or not sealed"),
        ],
    );
    // (d) A Halt made to look like a record (length, bytes, a made-up tag).
    let before = r.logs();
    let did = r.attack("inject-halt-down");
    eprintln!("relay: {did}");
    r.logs_after(
        &before,
        &[(
            "node2",
            "failed authentication (tampered, replayed, reordered or injected)",
        )],
    );
    round_trips(m, 3, true, "after injected frames (direct route)");
    round_trips(m, 3, false, "after injected frames");
    r.machine_intact();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!pwned.exists(), "the injected spawn ran");
    let (l1, l2) = r.logs();
    assert!(
        !l2.contains("pwned") && !l1.contains("pwned"),
        "injected spawn seen:\n{l2}"
    );
    // The relay carried every link the master opened (a new one per attack).
    let links = r.report().matches("connection ").count();
    assert!(
        links >= 5,
        "the master re-linked through the relay:\n{}",
        r.report()
    );
    halt_all(m, "node1");
}

/// What the relay sees of a spawn request at each level: the program's
/// name only without encryption; and every level carries messages on the
/// daemon route, on feeds and on direct routes.
#[test]
fn each_level_end_to_end() {
    for (level, readable) in [("encrypted", false), ("integrity", true), ("none", true)] {
        let Some(r) = relayed(&format!("pl-{}", &level[..3]), &format!("protect={level}")) else {
            return;
        };
        let m = &r.m;
        r.attack("watch-down");
        round_trips(m, 3, false, &format!("{level}: default route"));
        round_trips(m, 3, true, &format!("{level}: direct route"));
        // The spawn requests went from the master to the slave through the relay.
        let seen = r.attack("report-down");
        assert!(
            seen.contains(&format!("plain_name={readable}")),
            "{level}: relay saw {seen}"
        );
        if level != "none" {
            assert!(seen.contains("records=true"), "{level}: {seen}");
        } else {
            assert!(seen.contains("frames=true"), "{level}: {seen}");
        }
        r.machine_intact();
        halt_all(m, "node1");
    }
}

/// A host line cannot set its own level: the level is one per machine.
#[test]
fn level_is_one_per_machine() {
    let specs = [HostSpec::v6("node1"), HostSpec::v6("node2")];
    let Some(m) = Machine::new("pl-one", &specs, &programs()) else {
        return;
    };
    // A second `*` line replaces the first: ep= and dx= again.
    let star = format!(
        "* ep={} dx={} protect=integrity",
        m.bin.display(),
        machine::PVMD3
    );
    let hf = m.hostfile(&[&star, "node1"]);
    m.start_master("node1", Some(&hf));
    let out = m.run(
        "node1",
        "mh_add",
        "'node2 protect=none'",
        Duration::from_secs(60),
    );
    let t = text(&out);
    assert!(
        t.contains(&format!(
            "result node2 protect=none {}",
            pvm3::Error::BadParam.code()
        )),
        "a host line with protect= must be refused:\n{t}"
    );
    let out = m.run("node1", "mh_add", "node2", Duration::from_secs(60));
    assert!(text(&out).contains("added 1"), "{}", text(&out));
    // The master passes its level to the slave it starts.
    assert!(
        m.log("node1").contains("'protect=integrity'"),
        "{}",
        m.log("node1")
    );
    round_trips(&m, 2, true, "integrity");
    halt_all(&m, "node1");
}

// ---------------------------------------------------------------------------
// The relay.

/// What one direction of the relay knows.
#[derive(Default)]
struct Dir {
    /// Handshake bytes still to pass before records (or frames) start.
    handshake: usize,
    buf: Vec<u8>,
    last_record: Option<Vec<u8>>,
    /// Sealed records seen (their length fields were plausible).
    records: bool,
    /// Clear frame headers seen at the start of the stream.
    frames: bool,
    /// The spawned program's name seen in the clear.
    plain_name: bool,
}

struct Shared {
    ctl: PathBuf,
    report: PathBuf,
    seen: Mutex<(bool, bool, bool)>,
}

impl Shared {
    fn say(&self, line: &str) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.report)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }

    /// The attack asked for in this direction, if any (taken once done).
    fn wanted(&self, dir: &str) -> Option<String> {
        let a = fs::read_to_string(&self.ctl).ok()?;
        a.ends_with(dir).then_some(a)
    }

    fn done(&self, attack: &str, detail: &str) {
        self.say(&format!("did {attack} {detail}"));
        let _ = fs::rename(&self.ctl, self.ctl.with_extension("done"));
    }
}

const REC_HEAD: usize = 4;
const REC_TAG: usize = 16;

/// The role byte of the Hello at the head of `s` (left unread), if it
/// comes within 5 s.
fn hello_role(s: &TcpStream) -> Option<u8> {
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut head = [0u8; 5];
    let mut role = None;
    for _ in 0..50 {
        match s.peek(&mut head) {
            Ok(5) => {
                role = Some(head[4]);
                break;
            }
            Ok(0) => break,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    let _ = s.set_read_timeout(None);
    role
}

/// Forwards `from` to `to`: whole records at a time once the handshake
/// passed, applying the attacks asked for in direction `name` ("down":
/// master to slave, "up": slave to master) when `attackable` (the
/// daemons' link, not a task's feed).
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    name: &str,
    handshake: usize,
    attackable: bool,
    sh: Arc<Shared>,
) {
    let mut d = Dir {
        handshake,
        ..Dir::default()
    };
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut data = &chunk[..n];
        if d.handshake > 0 {
            let k = d.handshake.min(data.len());
            if to.write_all(&data[..k]).is_err() {
                break;
            }
            d.handshake -= k;
            data = &data[k..];
        }
        d.buf.extend_from_slice(data);
        if d.buf.windows(7).any(|w| w == b"pl_ping") {
            d.plain_name = true;
        }
        if !d.records && !d.frames && d.buf.len() >= 2 {
            // The first bytes after the handshake: a clear frame header
            // (level none) or a record's length.
            d.frames = d.buf.starts_with(b"P6");
        }
        let mut out = Vec::new();
        if d.frames {
            out.append(&mut d.buf);
        }
        while d.buf.len() >= REC_HEAD {
            let len = u32::from_le_bytes([d.buf[0], d.buf[1], d.buf[2], d.buf[3]]) as usize;
            let whole = REC_HEAD + len + REC_TAG;
            if d.buf.len() < whole {
                break;
            }
            d.records = true;
            let rec: Vec<u8> = d.buf.drain(..whole).collect();
            let attack = if attackable { sh.wanted(name) } else { None };
            let what = attack
                .as_deref()
                .map(|a| a.trim_end_matches(name).trim_end_matches('-'));
            match what {
                Some("flip") => {
                    let mut bad = rec.clone();
                    let at = REC_HEAD + len / 2;
                    bad[at] ^= 0x01;
                    out.extend_from_slice(&bad);
                    sh.done(
                        attack.as_deref().unwrap(),
                        &format!("byte {at} of a {len}-byte record"),
                    );
                }
                Some("replay") if d.last_record.is_some() => {
                    out.extend_from_slice(&rec);
                    out.extend_from_slice(d.last_record.as_ref().unwrap());
                    sh.done(attack.as_deref().unwrap(), "the record before it, again");
                }
                Some("inject-spawn") => {
                    out.extend_from_slice(&spawn_frame());
                    out.extend_from_slice(&rec);
                    sh.done(attack.as_deref().unwrap(), "a clear DReq Spawn of touch");
                }
                Some("inject-halt") => {
                    let halt = halt_frame();
                    out.extend_from_slice(&(halt.len() as u32).to_le_bytes());
                    out.extend_from_slice(&halt);
                    out.extend_from_slice(&[0x42; REC_TAG]);
                    out.extend_from_slice(&rec);
                    sh.done(
                        attack.as_deref().unwrap(),
                        "a Ctl Halt as a record with a made-up tag",
                    );
                }
                _ => out.extend_from_slice(&rec),
            }
            d.last_record = Some(rec);
        }
        if name == "down" {
            let mut seen = sh.seen.lock().unwrap();
            seen.0 |= d.records;
            seen.1 |= d.frames;
            seen.2 |= d.plain_name;
            match sh.wanted(name).as_deref() {
                Some("watch-down") => {
                    *seen = (false, false, false);
                    d.plain_name = false;
                    drop(seen);
                    sh.done("watch-down", "");
                }
                Some("report-down") => {
                    let v = *seen;
                    drop(seen);
                    sh.done(
                        "report-down",
                        &format!("records={} frames={} plain_name={}", v.0, v.1, v.2),
                    );
                }
                _ => {}
            }
        }
        if to.write_all(&out).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn spawn_frame() -> Vec<u8> {
    pvm3::wire::Frame::new(
        pvm3::wire::Header {
            src: 0x80040000u32 as i32,
            dst: 0x80080000u32 as i32,
            tag: pvm3::wire::Req::Spawn as i32,
            wid: 77,
            ..pvm3::wire::Header::new(pvm3::wire::Kind::DReq)
        },
        pvm3::wire::Writer::new()
            .str("/usr/bin/touch")
            .int(0)
            .str("")
            .int(1)
            .strs(&["/tmp/pwned"])
            .strs::<&str>(&[])
            .finish(),
    )
    .to_bytes()
}

fn halt_frame() -> Vec<u8> {
    pvm3::wire::ctl_frame(
        0x80040000u32 as i32,
        0x80080000u32 as i32,
        pvm3::wire::Ctl::Halt,
        Vec::new(),
    )
    .to_bytes()
}

/// Run inside node2 by the tests above: listens on a port of its own
/// (printed), and relays each connection to `PL_RELAY_TARGET` (the slave
/// daemon), carrying out the attacks written to `PL_RELAY_CTL`.
#[test]
#[ignore = "helper run inside a network namespace by tests/protected_links.rs"]
fn relay_helper() {
    let Ok(target) = std::env::var("PL_RELAY_TARGET") else {
        return;
    };
    let sh = Arc::new(Shared {
        ctl: std::env::var("PL_RELAY_CTL").unwrap().into(),
        report: std::env::var("PL_RELAY_REPORT").unwrap().into(),
        seen: Mutex::new((false, false, false)),
    });
    let l = TcpListener::bind("[::]:0").unwrap();
    println!("relay listening on {}", l.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    for (i, c) in l.incoming().enumerate() {
        let Ok(down_in) = c else { continue };
        let Ok(up_in) = TcpStream::connect(&target) else {
            sh.say(&format!("connection {i}: target refused"));
            continue;
        };
        // Attacks go to the daemons' link only: tasks' feeds to the slave
        // pass the relay too. The Hello's fifth byte is the connector's
        // role (src/auth.rs).
        let role = hello_role(&down_in);
        let link = role == Some(pvm3::auth::Role::Daemon as u8);
        sh.say(&format!(
            "connection {i} from {:?}, role {role:?}",
            down_in.peer_addr()
        ));
        let _ = down_in.set_nodelay(true);
        let _ = up_in.set_nodelay(true);
        let (a, b) = (down_in.try_clone().unwrap(), up_in.try_clone().unwrap());
        let s1 = sh.clone();
        let s2 = sh.clone();
        // The master connects: Hello (44) and Proof (32) go down, the
        // Challenge (68) comes up.
        std::thread::spawn(move || pump(down_in, up_in, "down", 44 + 32, link, s1));
        std::thread::spawn(move || pump(b, a, "up", 68, link, s2));
    }
}

/// A slave started by hand with another level than its master's (the
/// manual start's command edited): the slave refuses the master's link
/// with a log line naming both levels, and the add fails; nothing else of
/// the machine changes.
#[test]
fn level_mismatch_is_refused_by_name() {
    let specs = [HostSpec::v6("node1"), HostSpec::v6("node2")];
    let Some(m) = Machine::new("pl-mis", &specs, &programs()) else {
        return;
    };
    let hf = m.hostfile(&["node1"]);
    m.start_master("node1", Some(&hf));
    let mut add = m.c.spawn(
        "node1",
        &format!(
            "exec timeout 120 {}/mh_add 'node2 so=ms' 2>&1",
            m.bin.display()
        ),
    );
    let dir = m.c.host("node1").tmp().join("pvm6.0");
    let secret = wait_until(Duration::from_secs(30), "the secret file", || {
        fs::read_to_string(dir.join("pvmd.secret"))
            .ok()
            .filter(|s| s.ends_with('\n'))
            .map(|s| s.trim().to_string())
    });
    let cmd = wait_until(Duration::from_secs(30), "the manual start command", || {
        m.log("node1")
            .lines()
            .find(|l| l.contains("manual start of node2"))
            .and_then(|l| l.split('`').nth(1).map(str::to_string))
    });
    assert!(cmd.contains("'protect=encrypted'"), "{cmd}");
    let cmd = cmd.replace("'protect=encrypted'", "'protect=none'");
    let reply = m.c.exec_ok("node2", &format!("echo {secret} | {cmd}"));
    fs::write(dir.join("reply.node2"), reply).unwrap();
    let status = add.wait().unwrap();
    let mut o = String::new();
    add.stdout.take().unwrap().read_to_string(&mut o).unwrap();
    assert!(
        status.success()
            && o.contains(&format!(
                "result node2 so=ms {}",
                pvm3::Error::CantStart.code()
            )),
        "the add must fail with PvmCantStart:\n{o}\n{}",
        m.log("node1")
    );
    assert!(o.contains("hosts 1"), "{o}");
    let log2 = wait_until(Duration::from_secs(10), "the slave's refusal", || {
        let l = m.log("node2");
        l.contains("protection level mismatch").then_some(l)
    });
    assert!(
        log2.contains("refused connection from ")
            && log2.contains("protection level mismatch: peer uses encrypted, this machine none"),
        "{log2}"
    );
    for h in ["node1", "node2"] {
        m.c.kill_in(h, "pvmd3");
    }
}
