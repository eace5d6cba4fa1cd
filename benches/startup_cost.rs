//! Where one host's start-up spends CPU (docs/LAUNCH.md "Start-up speed"):
//! a `cargo bench --bench startup_cost` target without the test harness,
//! never run by `cargo test` nor by `make bench`. On two namespace hosts
//! (node1 starts, node2 is started; a real sshd each) it runs every step
//! `ROUNDS` times (default 10) one after another, never two at once, and
//! reads the CPU each side used from two cpuacct cgroups: node1's commands
//! (the master daemon, its ssh clients) in one, node2's sshd with
//! everything it starts (the login shell, the slave daemon) in the other.
//! Serial runs on an idle host pair measure cost, not contention: the sum
//! of both sides is what 64 hosts on two shared CPUs pay 64 times.
//!
//! Steps: `$PVM_RSH node2 true` with ssh's defaults and with cheaper
//! options; the login's own start-up (bash with and without root's
//! `.bashrc`); each PVM's slave daemon started without ssh, until its reply
//! line; one pvm_addhosts + pvm_delhosts of node2 on pvm6 and on PVM 3.4.6
//! (the whole per-host cost, ssh included). Prints a table (ms of CPU per
//! round, client / server / total, and wall ms). Needs root (namespaces,
//! cgroups); says SKIP otherwise.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/machine.rs"]
mod machine;
#[path = "../tests/common/netns.rs"]
mod netns;
#[path = "common/orig.rs"]
mod orig;

use machine::Machine;
use netns::HostSpec;
use orig::{OrigMaster, ORIG_PVMD};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CG_ROOT: &str = "/sys/fs/cgroup/cpuacct";

/// One cpuacct cgroup: its CPU so far in ns.
struct Cg(PathBuf);

impl Cg {
    fn new(name: &str) -> Option<Cg> {
        let p = Path::new(CG_ROOT).join(name);
        fs::create_dir_all(&p).ok()?;
        Some(Cg(p))
    }
    fn usage(&self) -> u64 {
        fs::read_to_string(self.0.join("cpuacct.usage"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
    fn join(&self, pid: u32) {
        fs::write(self.0.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("cannot move {pid} into {}: {e}", self.0.display()));
    }
}

impl Drop for Cg {
    fn drop(&mut self) {
        // Whatever is left goes back to the root group first.
        if let Ok(pids) = fs::read_to_string(self.0.join("cgroup.procs")) {
            for p in pids.split_whitespace() {
                let _ = fs::write(Path::new(CG_ROOT).join("cgroup.procs"), p);
            }
        }
        let _ = fs::remove_dir(&self.0);
    }
}

struct Row {
    what: String,
    client_ms: f64,
    server_ms: f64,
    wall_ms: f64,
}

struct Bench {
    m: Machine,
    client: Cg,
    server: Cg,
    rounds: usize,
    rows: Vec<Row>,
}

impl Bench {
    /// Runs `script` on `host` `rounds` times inside cgroup `on_server`
    /// (or the client's), one after another; `between` after each round,
    /// not counted.
    fn step(&mut self, what: &str, host: &str, on_server: bool, script: &str, between: &str) {
        // Children inherit the cgroup: this process moves into the side's
        // group for the step (inside a host /sys is the host's own).
        if on_server {
            self.server.join(std::process::id());
        } else {
            self.client.join(std::process::id());
        }
        let (c0, s0) = (self.client.usage(), self.server.usage());
        let mut wall = Duration::ZERO;
        for _ in 0..self.rounds {
            let t = Instant::now();
            let o = self.m.c.exec_timeout(host, script, Duration::from_secs(60));
            wall += t.elapsed();
            if !o.status.success() {
                panic!(
                    "{what}: `{script}` failed ({}): {}{}",
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            if !between.is_empty() {
                self.m.c.exec(host, between);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let n = self.rounds as f64;
        let row = Row {
            what: what.to_string(),
            client_ms: (self.client.usage() - c0) as f64 / 1e6 / n,
            server_ms: (self.server.usage() - s0) as f64 / 1e6 / n,
            wall_ms: wall.as_secs_f64() * 1e3 / n,
        };
        eprintln!(
            "startup_cost: {:<58} client {:7.1} server {:7.1} total {:7.1} wall {:7.1} ms",
            row.what,
            row.client_ms,
            row.server_ms,
            row.client_ms + row.server_ms,
            row.wall_ms
        );
        self.rows.push(row);
    }
}

/// A C program: `ROUNDS` times pvm_addhosts(node2) then pvm_delhosts,
/// waiting until pvm_config no longer lists it.
const ADDDEL: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <pvm3.h>
int main(int argc, char **argv)
{
	int i, n = atoi(argv[2]), st, nh, na;
	struct pvmhostinfo *hi;
	char *h[1] = { argv[1] };
	if (pvm_mytid() < 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (pvm_addhosts(h, 1, &st) != 1 || st < 0) {
			fprintf(stderr, "add %s: %d\n", h[0], st);
			return 1;
		}
		if (pvm_delhosts(h, 1, &st) != 1 || st < 0) {
			fprintf(stderr, "del %s: %d\n", h[0], st);
			return 1;
		}
		do {
			usleep(20000);
			pvm_config(&nh, &na, &hi);
		} while (nh > 1);
		usleep(200000); /* the deleted slave's exit */
	}
	pvm_exit();
	return 0;
}
"#;

fn compile(src: &Path, exe: &Path, pvm6: bool, lib: &Path) {
    let mut cmd = Command::new("gcc");
    cmd.args(["-O2", "-Wall", "-Wextra"]);
    if pvm6 {
        cmd.arg("-I").arg(common::include_dir());
    } else {
        cmd.arg("-I/usr/include");
    }
    cmd.arg("-o").arg(exe).arg(src);
    if pvm6 {
        cmd.arg("-L")
            .arg(lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()));
    }
    cmd.arg("-lpvm3");
    common::run_build(cmd, &format!("compile {}", exe.display()));
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    for var in [
        "PVM_TMP",
        "PVM_ROOT",
        "PVM_VMID",
        "PVM_PATH",
        "LD_LIBRARY_PATH",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("PVM_ALLOW_ROOT", "1");
    if let Err(why) = netns::prerequisites() {
        println!("SKIP start-up cost (namespace hosts): {why}");
        return;
    }
    let tag = std::process::id();
    let (Some(client), Some(server)) = (
        Cg::new(&format!("pvm6cost.{tag}.client")),
        Cg::new(&format!("pvm6cost.{tag}.server")),
    ) else {
        println!("SKIP start-up cost: no cpuacct cgroup at {CG_ROOT}");
        return;
    };
    let specs = [HostSpec::dual("node1"), HostSpec::dual("node2")];
    let Some(m) = Machine::new("bcost", &specs, &[]) else {
        println!("SKIP start-up cost: the namespace hosts could not be made");
        return;
    };
    let sshd: u32 = fs::read_to_string(m.c.host("node2").dir.join("sshd.pid"))
        .expect("node2's sshd pid")
        .trim()
        .parse()
        .unwrap();
    server.join(sshd);
    let w = m.work.clone();
    let src = w.join("adddel.c");
    fs::write(&src, ADDDEL).unwrap();
    let ad6 = m.bin.join("adddel6");
    compile(&src, &ad6, true, &w.join("lib"));
    let orig = Path::new(ORIG_PVMD).exists();
    let ad_orig = m.bin.join("adddel-orig");
    if orig {
        compile(&src, &ad_orig, false, Path::new("/"));
    }
    // A logging PVM_RSH: what each PVM asks the remote shell to run.
    let rsh = m.c.ssh_command();
    // Named ssh, as the harness's wrapper is: pvm6 adds ssh's options.
    fs::create_dir_all(w.join("log")).unwrap();
    let logrsh = w.join("log/ssh");
    fs::write(
        &logrsh,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            w.join("rsh.log").display(),
            rsh.display()
        ),
    )
    .unwrap();
    let _ = Command::new("chmod").arg("755").arg(&logrsh).status();

    let mut b = Bench {
        m,
        client,
        server,
        rounds,
        rows: Vec::new(),
    };
    let load0 = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let r = rsh.display().to_string();
    b.step(
        "ssh node2 true (defaults)",
        "node1",
        false,
        &format!("'{r}' node2 true"),
        "",
    );
    b.step(
        "ssh -T -x -a node2 true",
        "node1",
        false,
        &format!("'{r}' -T -x -a node2 true"),
        "",
    );
    b.step(
        "ssh -o KexAlgorithms=curve25519-sha256 node2 true",
        "node1",
        false,
        &format!("'{r}' -o KexAlgorithms=curve25519-sha256 node2 true"),
        "",
    );
    b.step(
        "ssh -T -x -a, curve25519, aes128-gcm node2 true",
        "node1",
        false,
        &format!(
            "'{r}' -T -x -a -o KexAlgorithms=curve25519-sha256 -c aes128-gcm@openssh.com node2 true"
        ),
        "",
    );
    b.step(
        "login shell alone: bash -c true (no .bashrc)",
        "node2",
        true,
        "bash --norc -c true",
        "",
    );
    b.step(
        "login shell alone: bash -c '. ~/.bashrc; true'",
        "node2",
        true,
        "bash --norc -c '. ~/.bashrc; true'",
        "",
    );

    // Each PVM's master on node1, a host added and deleted `rounds` times.
    let hf6 = b.m.hostfile(&["node1"]);
    let pvmd3 = machine::PVMD3;
    let logrsh_s = logrsh.display().to_string();
    let ad6s = ad6.display().to_string();
    let n = rounds as f64;
    for (env, what) in [
        ("", "pvm6: pvm_addhosts + pvm_delhosts of node2"),
        (
            "PVM6_SSH_KEX=default ",
            "pvm6, PVM6_SSH_KEX=default: addhosts + delhosts",
        ),
    ] {
        b.client.join(std::process::id());
        let o = b.m.c.exec(
            "node1",
            &format!(
                "{env}PVM_RSH='{logrsh_s}' {pvmd3} -d1 {} </dev/null >/dev/null 2>&1",
                hf6.display()
            ),
        );
        assert!(o.status.success(), "pvm6 master: {o:?}");
        // PERF=DIR: a call-graph profile of node2's side (sshd and all it
        // starts) into DIR/startup-cost-<n>.perf.data.
        // And the master's: DIR/startup-cost-master-<n>.perf.data.
        let master_pid = fs::read_to_string(b.m.c.host("node1").tmp().join("pvm6.0/pvmd.pid"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let perf: Vec<_> = std::env::var("PERF")
            .ok()
            .map(|d| {
                [("", sshd.to_string()), ("master-", master_pid.clone())]
                    .into_iter()
                    .filter(|(_, pid)| !pid.is_empty())
                    .map(|(what, pid)| {
                        let f = Path::new(&d)
                            .join(format!("startup-cost-{what}{}.perf.data", env.len()));
                        Command::new("perf")
                            .args(["record", "-q", "-g", "-F", "4000", "-p", &pid, "-o"])
                            .arg(&f)
                            .spawn()
                            .expect("perf")
                    })
                    .collect()
            })
            .unwrap_or_default();
        std::thread::sleep(Duration::from_millis(500));
        let m0 = on_cpu_ns(&master_pid);
        let (c0, s0) = (b.client.usage(), b.server.usage());
        let t = Instant::now();
        let o = b.m.c.exec_timeout(
            "node1",
            &format!("'{ad6s}' node2 {rounds}"),
            Duration::from_secs(600),
        );
        let wall = t.elapsed();
        for mut p in perf {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(p.id().to_string())
                .status();
            let _ = p.wait();
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(o.status.success(), "pvm6 add/del: {o:?}");
        push(&mut b, what, c0, s0, wall, n);
        let m1 = on_cpu_ns(&master_pid);
        eprintln!(
            "startup_cost: of which the master daemon itself: {:.1} ms per round",
            m1.saturating_sub(m0) as f64 / 1e6 / n
        );
        b.m.c.kill_in("node1", pvmd3);
        std::thread::sleep(Duration::from_millis(300));
    }

    if orig {
        b.client.join(std::process::id());
        let master = OrigMaster::start(&b.m, &format!("PVM_RSH='{logrsh_s}' "));
        if !master.up {
            eprintln!("startup_cost: PVM 3.4.6's master is not up after 15 s");
        }
        let (c0, s0) = (b.client.usage(), b.server.usage());
        let t = Instant::now();
        let o = b.m.c.exec_timeout(
            "node1",
            &format!("'{}' node2 {rounds}", ad_orig.display()),
            Duration::from_secs(600),
        );
        let wall = t.elapsed();
        std::thread::sleep(Duration::from_millis(300));
        if o.status.success() {
            push(
                &mut b,
                "PVM 3.4.6: pvm_addhosts + pvm_delhosts of node2",
                c0,
                s0,
                wall,
                n,
            );
        } else {
            eprintln!(
                "startup_cost: PVM 3.4.6 add/del failed: {o:?}\n{}",
                master.output()
            );
        }
        master.stop(&b.m, Duration::ZERO);
    }
    let log = fs::read_to_string(w.join("rsh.log")).unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    for l in log.lines() {
        if seen.insert(l.split_whitespace().next().map(str::to_string)) || seen.len() < 4 {
            eprintln!("startup_cost: remote shell run as: {l}");
        }
    }
    let load1 = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n== CPU per round ({rounds} rounds each, one at a time; load {} -> {})",
        load0
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load1
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:<58} {:>9} {:>9} {:>9} {:>9}",
        "step", "node1 ms", "node2 ms", "total ms", "wall ms"
    );
    for r in &b.rows {
        println!(
            "{:<58} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            r.what,
            r.client_ms,
            r.server_ms,
            r.client_ms + r.server_ms,
            r.wall_ms
        );
    }
}

fn push(b: &mut Bench, what: &str, c0: u64, s0: u64, wall: Duration, n: f64) {
    let row = Row {
        what: what.to_string(),
        client_ms: (b.client.usage() - c0) as f64 / 1e6 / n,
        server_ms: (b.server.usage() - s0) as f64 / 1e6 / n,
        wall_ms: wall.as_secs_f64() * 1e3 / n,
    };
    eprintln!(
        "startup_cost: {:<58} client {:7.1} server {:7.1} total {:7.1} wall {:7.1} ms",
        row.what,
        row.client_ms,
        row.server_ms,
        row.client_ms + row.server_ms,
        row.wall_ms
    );
    b.rows.push(row);
}

/// Nanoseconds process `pid` (all its threads) has been on a CPU.
fn on_cpu_ns(pid: &str) -> u64 {
    fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}
