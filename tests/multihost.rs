//! The virtual machine across hosts (issue 4), on hosts made of network
//! namespaces with real sshds (tests/common/netns.rs): slave startup from a
//! hostfile over ssh, IPv6-only / IPv4-only / dual-stack mixes, spawning
//! and messaging across hosts, failure of a slave (kill -9, link down),
//! authentication of the daemon port, unreachable hosts, the classic demos
//! and pvm_halt. Every test builds its own cluster and stops every daemon it
//! started (checked: no pvmd3 left on any host). C programs are
//! c-tests/multihost/mh_*.c and examples-c/.

mod common;
#[path = "common/netns.rs"]
mod netns;

use netns::{Cluster, HostSpec};
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PVMD3: &str = env!("CARGO_BIN_EXE_pvmd3");

/// A cluster plus the shared directory its programs live in; stops every
/// daemon on every host when dropped.
struct Machine {
    c: Cluster,
    work: PathBuf,
    bin: PathBuf,
}

impl Machine {
    /// Creates the hosts and builds `programs` (paths of C files) into a
    /// bin directory every host sees.
    fn new(prefix: &str, specs: &[HostSpec], programs: &[PathBuf]) -> Option<Machine> {
        let c = netns::require(prefix, specs)?;
        let work = c.dir().join("work");
        let bin = work.join("bin");
        let lib = work.join("lib");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&lib).unwrap();
        let libdir = common::lib_dir();
        for name in ["libpvm3.so", "libpvm3.so.3"] {
            symlink(libdir.join("libpvm3.so"), lib.join(name)).unwrap();
        }
        for src in programs {
            let out = bin.join(src.file_stem().unwrap());
            let mut cmd = Command::new("gcc");
            cmd.args(["-Wall", "-Wextra", "-Werror", "-I"])
                .arg(common::include_dir())
                .arg("-I")
                .arg(common::repo_root().join("c-tests"))
                .arg("-o")
                .arg(&out)
                .arg(src)
                .arg("-L")
                .arg(&lib)
                .arg(format!("-Wl,-rpath,{}", lib.display()))
                .arg("-lpvm3");
            common::run_build(cmd, &format!("compile {}", src.display()));
        }
        Some(Machine { c, work, bin })
    }

    /// Writes a hostfile (the `*` line sets ep= and dx= for every host).
    fn hostfile(&self, lines: &[&str]) -> PathBuf {
        let p = self.work.join("hostfile");
        let mut text = format!(
            "# written by tests/multihost.rs\n* ep={} dx={}\n",
            self.bin.display(),
            PVMD3
        );
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        fs::write(&p, text).unwrap();
        p
    }

    /// Starts the master daemon on `host` with `hostfile` (pvmd3 returns
    /// once the daemon answers; hosts are added before tasks are served).
    fn start_master(&self, host: &str, hostfile: Option<&Path>) {
        let hf = hostfile
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let out = self.c.exec_timeout(
            host,
            &format!("{PVMD3} -d1 {hf} </dev/null >/dev/null 2>&1"),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "pvmd3 on {host} failed: {out:?}");
    }

    /// Runs a program of bin/ on `host`, bounded.
    fn run(&self, host: &str, prog: &str, args: &str, limit: Duration) -> Output {
        self.c.exec_timeout(
            host,
            &format!("{}/{prog} {args} 2>&1", self.bin.display()),
            limit,
        )
    }

    /// The master's daemon log (on `host`'s private /tmp).
    fn log(&self, host: &str) -> String {
        let h = self.c.host(host);
        fs::read_dir(h.tmp())
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("pvml."))
                    .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("")
            })
            .unwrap_or_default()
    }

    /// Pids of pvmd3 processes on `host`.
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

    /// Waits up to `limit` until no pvmd3 runs on any host.
    fn wait_no_daemons(&self, limit: Duration) -> Vec<(String, Vec<u32>)> {
        let deadline = Instant::now() + limit;
        loop {
            let left: Vec<(String, Vec<u32>)> = self
                .c
                .hosts()
                .iter()
                .map(|h| (h.spec.name.clone(), self.daemons_on(&h.spec.name)))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        for h in self.c.hosts() {
            self.c.kill_in(&h.spec.name, "pvmd3");
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_tap(o: &Output, what: &str, log: &str) {
    let t = text(o);
    assert!(
        o.status.success() && !t.contains("not ok"),
        "{what} failed ({}):\n{t}\n--- master log ---\n{log}",
        o.status
    );
}

fn mh(name: &str) -> PathBuf {
    common::repo_root()
        .join("c-tests/multihost")
        .join(format!("{name}.c"))
}

fn example(name: &str) -> PathBuf {
    common::repo_root()
        .join("examples-c")
        .join(format!("{name}.c"))
}

/// Halts the machine from `host` and checks no daemon is left anywhere.
fn halt_all(m: &Machine, host: &str) {
    let out = m.run(host, "mh_halt", "", Duration::from_secs(30));
    assert_tap(&out, "mh_halt", &m.log(host));
    let left = m.wait_no_daemons(Duration::from_secs(10));
    assert!(left.is_empty(), "daemons left after pvm_halt: {left:?}");
}

#[test]
fn three_ipv6_hosts_from_a_hostfile() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let Some(m) = Machine::new("mh-v6", &specs, &[mh("mh_hosts"), mh("mh_halt")]) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3"]);
    let t0 = Instant::now();
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "3 spread", Duration::from_secs(60));
    let log = m.log("node1");
    assert_tap(&out, "mh_hosts", &log);
    eprintln!("3 IPv6 hosts up and answering in {:?}", t0.elapsed());
    if std::env::var_os("MH_VERBOSE").is_some() {
        eprintln!("{}\n--- log ---\n{log}", text(&out));
    }
    let t = text(&out);
    for n in ["node1", "node2", "node3"] {
        assert!(
            t.contains(&format!("# host {n} ")),
            "config lacks {n}:\n{t}"
        );
        assert!(
            t.contains(&format!("answered from {n}")),
            "no answer from {n}:\n{t}"
        );
    }
    // The links run over IPv6: the master logs the slaves' [v6]:port addresses.
    let a2 = m.c.host("node2").addr6.unwrap();
    let a3 = m.c.host("node3").addr6.unwrap();
    for a in [a2, a3] {
        assert!(
            log.contains(&format!("at [{a}]:")),
            "no IPv6 link to {a} in the log:\n{log}"
        );
    }
    halt_all(&m, "node1");
}

/// Runs mh_fail on node1 with node3 failing through `break_it` once the
/// program is ready; asserts the notices came within 5 s and the rest of
/// the machine works.
fn survive(prefix: &str, break_it: impl FnOnce(&Machine)) {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let Some(m) = Machine::new(prefix, &specs, &[mh("mh_fail"), mh("mh_halt")]) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3"]);
    m.start_master("node1", Some(&hf));
    let mut child = m.c.spawn(
        "node1",
        &format!(
            "exec timeout 90 {}/mh_fail node3 node2 2>&1",
            m.bin.display()
        ),
    );
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(String, Instant)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send((line, Instant::now())).is_err() {
                break;
            }
        }
    });
    let transcript = std::cell::RefCell::new(String::new());
    let wait_for = |word: &str, limit: Duration| -> Option<Instant> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok((l, at)) => {
                    let mut t = transcript.borrow_mut();
                    t.push_str(&l);
                    t.push('\n');
                    if l == word {
                        return Some(at);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    };
    let ready = wait_for("ready", Duration::from_secs(60));
    assert!(
        ready.is_some(),
        "mh_fail never got ready:\n{}\n{}",
        transcript.borrow(),
        m.log("node1")
    );
    let broken = Instant::now();
    break_it(&m);
    let notified = wait_for("notified", Duration::from_secs(40));
    let at = notified.unwrap_or_else(|| {
        panic!(
            "no notices:\n{}\n--- log ---\n{}",
            transcript.borrow(),
            m.log("node1")
        )
    });
    let took = at.duration_since(broken);
    eprintln!("{prefix}: notices {took:?} after the failure");
    let _ = wait_for("<end>", Duration::from_secs(40));
    let status = child.wait().unwrap();
    let transcript = transcript.into_inner();
    assert!(
        status.success() && !transcript.contains("not ok"),
        "mh_fail failed ({status}):\n{transcript}\n--- log ---\n{}",
        m.log("node1")
    );
    assert!(
        took <= Duration::from_secs(5),
        "notices took {took:?} (more than 5 s):\n{transcript}"
    );
    // The failed host's daemon is gone too (killed, or it lost its master).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !m.daemons_on("node3").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(m.daemons_on("node3").is_empty(), "node3's daemon survived");
    halt_all(&m, "node1");
}

#[test]
fn kill_9_of_a_slave_daemon() {
    survive("mh-kill", |m| {
        assert!(m.c.kill_in("node3", "pvmd3") >= 1, "no pvmd3 on node3");
    });
}

#[test]
fn link_down_on_a_slave() {
    survive("mh-link", |m| m.c.link_down("node3"));
}

#[test]
fn classic_demos_across_three_hosts() {
    let specs = [
        HostSpec::v6("node1"),
        HostSpec::v6("node2"),
        HostSpec::v6("node3"),
    ];
    let progs = [
        example("master"),
        example("slave"),
        example("spmd"),
        mh("mh_halt"),
    ];
    let Some(m) = Machine::new("mh-demo", &specs, &progs) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "master", "", Duration::from_secs(60));
    let t = text(&out);
    assert!(
        out.status.success() && t.contains("master: starting 9 workers"),
        "master failed:\n{t}\n{}",
        m.log("node1")
    );
    assert!(
        t.contains("master: total 500500 (expected 500500) OK"),
        "{t}"
    );
    // Default placement spread the nine workers over the three hosts.
    for host in ["(t4", "(t8", "(tc"] {
        assert!(t.contains(host), "no worker on host {host}:\n{t}");
    }
    let out = m.run("node1", "spmd", "", Duration::from_secs(60));
    let t = text(&out);
    assert!(
        out.status.success() && t.contains("spmd: token ring done, token 4 (expected 4)"),
        "spmd failed:\n{t}\n{}",
        m.log("node1")
    );
    halt_all(&m, "node1");
}

#[test]
fn dual_stack_master_with_v6_only_and_v4_only_slaves() {
    let specs = [
        HostSpec::dual("node1"),
        HostSpec::v6("node2"),
        HostSpec::v4("node3"),
    ];
    let Some(m) = Machine::new("mh-mix", &specs, &[mh("mh_hosts"), mh("mh_halt")]) else {
        return;
    };
    let hf = m.hostfile(&["node1", "node2", "node3"]);
    m.start_master("node1", Some(&hf));
    let out = m.run("node1", "mh_hosts", "3", Duration::from_secs(60));
    let log = m.log("node1");
    assert_tap(&out, "mh_hosts", &log);
    let a2 = m.c.host("node2").addr6.unwrap();
    let a3 = m.c.host("node3").addr4.unwrap();
    assert!(
        log.contains(&format!("at [{a2}]:")),
        "node2 not over IPv6:\n{log}"
    );
    assert!(
        log.contains(&format!("at {a3}:")),
        "node3 not over IPv4:\n{log}"
    );
    // The same program started on the IPv4-only slave (its daemon forwards to the master).
    let out = m.run("node3", "mh_hosts", "3", Duration::from_secs(60));
    assert_tap(&out, "mh_hosts on the IPv4-only slave", &m.log("node1"));
    halt_all(&m, "node1");
}
