//! Hardening across hosts (issue 10, items 2-3), on namespace hosts with
//! real sshds (tests/common/netns.rs): 200 tasks on three hosts exchanging
//! 100 000 messages of random sizes with checksums (every daemon's memory
//! back near idle afterwards), a slave daemon killed (SIGKILL) while
//! messages flow through it, a slave's link cut and restored (the host
//! removed, then added again), and a slave host deleted while its tasks
//! wait in a barrier. Every wait is bounded; every daemon started is killed
//! on drop. C programs: c-tests/hardening/hd_*.c.

mod common;
#[path = "common/netns.rs"]
mod netns;

use netns::{Cluster, HostSpec};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const PVMD3: &str = env!("CARGO_BIN_EXE_pvmd3");

/// A three-host machine (node1 master, node2, node3) with the hardening
/// programs in a shared bin directory; kills every daemon when dropped.
struct Machine {
    c: Cluster,
    bin: PathBuf,
}

impl Machine {
    fn new(prefix: &str) -> Option<Machine> {
        let specs = [
            HostSpec::v6("node1"),
            HostSpec::v6("node2"),
            HostSpec::v6("node3"),
        ];
        let c = netns::require(prefix, &specs)?;
        let work = c.dir().join("work");
        let bin = work.join("bin");
        let lib = work.join("lib");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&lib).unwrap();
        for name in ["libpvm3.so", "libpvm3.so.3"] {
            symlink(common::lib_dir().join("libpvm3.so"), lib.join(name)).unwrap();
        }
        for p in ["hd_load", "hd_relay", "hd_bar"] {
            let src = hd(p);
            let mut cmd = Command::new("gcc");
            cmd.args(["-Wall", "-Wextra", "-Werror", "-I"])
                .arg(common::include_dir())
                .arg("-I")
                .arg(common::repo_root().join("c-tests"))
                .arg("-o")
                .arg(bin.join(p))
                .arg(&src)
                .arg("-L")
                .arg(&lib)
                .arg(format!("-Wl,-rpath,{}", lib.display()))
                .arg("-lpvm3");
            common::run_build(cmd, &format!("compile {}", src.display()));
        }
        let hf = work.join("hostfile");
        // A short host timeout (to=6, the default is 60 s): a cut link is
        // silence, declared a death after it (docs/PROTOCOL.md "Liveness").
        fs::write(
            &hf,
            format!(
                "* ep={} dx={PVMD3} to=6\nnode1\nnode2\nnode3\n",
                bin.display()
            ),
        )
        .unwrap();
        let out = c.exec_timeout(
            "node1",
            &format!("{PVMD3} {} </dev/null >/dev/null 2>&1", hf.display()),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "master did not start: {out:?}");
        Some(Machine { c, bin })
    }

    fn run(&self, host: &str, args: &str, limit: Duration) -> Output {
        self.c
            .exec_timeout(host, &format!("{}/{args} 2>&1", self.bin.display()), limit)
    }

    /// Starts a program on node1, its output lines arriving on the receiver.
    fn start(&self, args: &str) -> (Child, Receiver<String>) {
        let mut child = self.c.spawn(
            "node1",
            &format!("exec timeout 200 {}/{args} 2>&1", self.bin.display()),
        );
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    fn log(&self, host: &str) -> String {
        fs::read_dir(self.c.host(host).tmp())
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("pvml."))
                    .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn daemons_on(&self, host: &str) -> Vec<u32> {
        self.c
            .pids_in(host)
            .into_iter()
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains("pvmd3"))
                    .unwrap_or(false)
            })
            .collect()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        for h in self.c.hosts() {
            self.c.kill_in(&h.spec.name, "pvmd3");
        }
    }
}

fn hd(name: &str) -> PathBuf {
    common::repo_root()
        .join("c-tests/hardening")
        .join(format!("{name}.c"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Collects lines until `word` (returns when it came, or None at `limit`).
fn wait_for(rx: &Receiver<String>, seen: &mut String, word: &str, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                seen.push_str(&l);
                seen.push('\n');
                if l == word {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

fn finish(mut child: Child, rx: &Receiver<String>, seen: &mut String, m: &Machine) {
    wait_for(rx, seen, "<end>", Duration::from_secs(120));
    let st = child.wait().unwrap();
    // Drain what is left.
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push_str(&l);
        seen.push('\n');
    }
    assert!(
        st.success() && !seen.contains("not ok"),
        "program failed ({st}):\n{seen}\n--- master log ---\n{}",
        m.log("node1")
    );
}

#[test]
fn load_200_tasks_100k_messages_three_hosts() {
    let Some(m) = Machine::new("hd-load3") else {
        return;
    };
    // Warm up (spawns on every host), then the idle sizes.
    let warm = m.run(
        "node1",
        "hd_load 3 30 1 node1 node2 node3",
        Duration::from_secs(60),
    );
    assert!(warm.status.success(), "{}", text(&warm));
    std::thread::sleep(Duration::from_secs(1));
    let pids: Vec<(String, u32)> = ["node1", "node2", "node3"]
        .iter()
        .map(|h| (h.to_string(), m.daemons_on(h)[0]))
        .collect();
    let idle: Vec<u64> = pids.iter().map(|(_, p)| rss_kib(*p)).collect();
    let t0 = Instant::now();
    let out = m.run(
        "node1",
        "hd_load 200 100000 7 node1 node2 node3",
        Duration::from_secs(400),
    );
    let t = text(&out);
    assert!(
        out.status.success() && !t.contains("not ok"),
        "{t}\n--- master log ---\n{}",
        m.log("node1")
    );
    assert!(t.contains("messages=100000 errors=0"), "{t}");
    std::thread::sleep(Duration::from_millis(1500));
    let after: Vec<u64> = pids.iter().map(|(_, p)| rss_kib(*p)).collect();
    let summary = t.lines().find(|l| l.starts_with("summary")).unwrap_or("");
    eprintln!("load three hosts ({:?}): {summary}", t0.elapsed());
    for (i, (h, _)) in pids.iter().enumerate() {
        eprintln!(
            "  {h}: daemon VmRSS idle {} KiB, after {} KiB",
            idle[i], after[i]
        );
        assert!(
            after[i] > 0 && after[i] < idle[i] + 64 * 1024,
            "{h}'s daemon memory did not come back: idle {} KiB, after {} KiB",
            idle[i],
            after[i]
        );
    }
}

#[test]
fn slave_daemon_killed_while_relaying() {
    let Some(m) = Machine::new("hd-kill3") else {
        return;
    };
    let (child, rx) = m.start("hd_relay fail node3 node2");
    let mut seen = String::new();
    assert!(
        wait_for(&rx, &mut seen, "ready", Duration::from_secs(60)),
        "not ready:\n{seen}\n{}",
        m.log("node1")
    );
    std::thread::sleep(Duration::from_millis(500));
    let killed = Instant::now();
    assert!(m.c.kill_in("node3", "pvmd3") >= 1, "no daemon on node3");
    assert!(
        wait_for(&rx, &mut seen, "notified", Duration::from_secs(60)),
        "no notices:\n{seen}"
    );
    let took = killed.elapsed();
    finish(child, &rx, &mut seen, &m);
    eprintln!("daemon killed: notices after {took:?}\n{seen}");
    assert!(took < Duration::from_secs(10), "notices took {took:?}");
    let log = m.log("node1");
    assert!(
        log.contains("lost host t800c0000") && log.contains("host tc0000 removed"),
        "the master log does not say node3 was lost:\n{log}"
    );
}

#[test]
fn link_cut_and_restored() {
    let Some(m) = Machine::new("hd-cut3") else {
        return;
    };
    let (child, rx) = m.start("hd_relay cut node3 node2");
    let mut seen = String::new();
    assert!(
        wait_for(&rx, &mut seen, "ready", Duration::from_secs(60)),
        "not ready:\n{seen}\n{}",
        m.log("node1")
    );
    std::thread::sleep(Duration::from_millis(500));
    let cut = Instant::now();
    m.c.link_down("node3");
    let notified = wait_for(&rx, &mut seen, "notified", Duration::from_secs(60));
    let took = cut.elapsed();
    m.c.link_up("node3");
    assert!(notified, "no notices:\n{seen}\n{}", m.log("node1"));
    finish(child, &rx, &mut seen, &m);
    eprintln!("link cut: notices after {took:?}\n{seen}");
    assert!(took < Duration::from_secs(10), "notices took {took:?}");
    let log = m.log("node1");
    assert!(
        log.contains("lost host t800c0000"),
        "the master log does not say node3 was lost:\n{log}"
    );
}

#[test]
fn slave_host_deleted_during_a_barrier() {
    let Some(m) = Machine::new("hd-bar3") else {
        return;
    };
    let t0 = Instant::now();
    let out = m.run("node1", "hd_bar node3 node2", Duration::from_secs(90));
    let t = text(&out);
    assert!(
        out.status.success() && !t.contains("not ok"),
        "{t}\n--- master log ---\n{}",
        m.log("node1")
    );
    eprintln!(
        "barrier failed after the delete in {:?}:\n{t}",
        t0.elapsed()
    );
    let log = m.log("node1");
    assert!(log.contains("host node3 deleted"), "{log}");
    let end = Instant::now() + Duration::from_secs(10);
    while !m.daemons_on("node3").is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(m.daemons_on("node3").is_empty(), "node3's daemon survived");
}
