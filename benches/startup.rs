//! The start-up part of `make bench` (a `cargo bench --bench startup`
//! target without the test harness, never run by `cargo test`;
//! docs/LAUNCH.md "Start-up speed"). On namespace hosts of the test harness
//! (tests/common/netns.rs: a real sshd per host) it measures, in one run:
//!
//! - the floor: `$PVM_RSH nodeK true` for every host at once, and five at a
//!   time (what PVM 3.4.6's pvmd runs in parallel): what ssh alone costs;
//!   and all at once with the options pvm6 gives ssh (`launch::ssh`);
//! - one `pvm_addhosts` call adding `ADDHOSTS` hosts (default 64) on pvm6
//!   (pvmd3 over IPv6) and on PVM 3.4.6 (Debian's pvmd), seconds until the
//!   call returns and until pvm_config lists them all;
//! - the same with the tree start-up (`PVM6_TREE=FANOUT`, default 4): the
//!   time and the rounds the hosts joined in (from the master's log);
//! - the tree's rounds for 1 .. `TREE` hosts (default 256), from the plan
//!   of `pvm3::launch::tree` (each started daemon starting FANOUT more per
//!   round), against the master alone, FANOUT at a time.
//!
//! Prints a table with the ratios against PVM 3.4.6 and writes
//! `startup.csv` into the output directory (first argument, default
//! `target/bench`). `ORIG=0` skips PVM 3.4.6. When namespace hosts cannot
//! be made it says SKIP and exits 0.

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
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ADD_LIMIT: Duration = Duration::from_secs(300);

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn compile(exe: &Path, pvm6: bool, lib: &Path) {
    let mut cmd = Command::new("gcc");
    cmd.args(["-O2", "-Wall", "-Wextra", "-Werror"]);
    if pvm6 {
        cmd.arg("-I").arg(common::include_dir());
    }
    cmd.arg("-o")
        .arg(exe)
        .arg(common::repo_root().join("benches/netpipe/pvmbench.c"));
    if pvm6 {
        cmd.arg("-L")
            .arg(lib)
            .arg(format!("-Wl,-rpath,{}", lib.display()));
    }
    cmd.arg("-lpvm3");
    common::run_build(cmd, &format!("compile {}", exe.display()));
}

/// `addhosts,requested,added,call_seconds,config_seconds,hosts`.
#[derive(Default, Clone)]
struct Add {
    added: usize,
    call: f64,
    config: f64,
}

fn parse_add(out: &str) -> Option<Add> {
    let l = out.lines().find(|l| l.starts_with("addhosts,"))?;
    let f: Vec<&str> = l.split(',').collect();
    Some(Add {
        added: f.get(2)?.parse().ok()?,
        call: f.get(3)?.parse().ok()?,
        config: f.get(4)?.parse().ok()?,
    })
}

/// Where pvm6's start-up time went, from the master's log lines `host ...
/// added ... in T s (R s to its reply line, L s to link)`: printed as the
/// median and the largest of each.
fn phases(log: &str) {
    let mut t = Vec::new();
    let mut r = Vec::new();
    let mut l = Vec::new();
    for line in log.lines().filter(|l| l.contains(" added as ")) {
        let Some(rest) = line.split(" in ").last() else {
            continue;
        };
        let nums: Vec<f64> = rest
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|w| w.parse().ok())
            .collect();
        if let [a, b, c, ..] = nums[..] {
            t.push(a);
            r.push(b);
            l.push(c);
        }
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        match v.len() {
            0 => "-".to_string(),
            n => format!("median {:.3} s, largest {:.3} s", v[n / 2], v[n - 1]),
        }
    };
    eprintln!(
        "startup: pvm6 per host: whole start {}; to the reply line {}; reply to link {}",
        stat(&mut t),
        stat(&mut r),
        stat(&mut l)
    );
}

struct Bench {
    out: PathBuf,
    m: Machine,
    add: usize,
    pb6: PathBuf,
    pb_orig: Option<PathBuf>,
}

impl Bench {
    fn names(&self) -> String {
        (2..=self.add + 1)
            .map(|i| format!("node{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn on_node1(&self, script: &str, limit: Duration) -> (String, f64) {
        let t = Instant::now();
        let o = self.m.c.exec_timeout(
            "node1",
            &format!("cd '{}' && {script}", self.m.work.display()),
            limit,
        );
        let secs = t.elapsed().as_secs_f64();
        let err = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() || !err.trim().is_empty() {
            eprintln!("startup: `{script}` on node1: {}\n{err}", o.status);
        }
        (String::from_utf8_lossy(&o.stdout).into_owned(), secs)
    }

    /// Seconds for `$PVM_RSH [opts] nodeK true` to every host, `par` at a
    /// time.
    fn floor(&self, par: usize, opts: &str) -> f64 {
        let script = format!(
            "for h in {}; do echo $h; done | xargs -P {par} -I@ \"$PVM_RSH\" {opts} @ true",
            self.names()
        );
        self.on_node1(&script, ADD_LIMIT).1
    }

    /// pvm6's pvm_addhosts; with `tree` > 0 the master runs with
    /// PVM6_TREE=tree. Also returns the tree rounds the hosts joined in.
    fn pvm6(&self, tree: usize) -> (Option<Add>, Vec<usize>) {
        let hf = self.m.hostfile(&["node1"]);
        let o = self.m.c.exec_timeout(
            "node1",
            &format!(
                "PVM6_TREE={tree} {} -d1 {} </dev/null >/dev/null 2>&1",
                machine::PVMD3,
                hf.display()
            ),
            Duration::from_secs(30),
        );
        assert!(o.status.success(), "pvmd3 on node1 failed: {o:?}");
        let (out, _) = self.on_node1(
            &format!("'{}' addhosts {}", self.pb6.display(), self.names()),
            ADD_LIMIT,
        );
        let log = self.m.log("node1");
        fs::write(
            self.out.join(format!("startup-pvm6-tree{tree}-log.txt")),
            &log,
        )
        .unwrap();
        phases(&log);
        let rounds: Vec<usize> = log
            .lines()
            .filter_map(|l| l.split("tree round ").nth(1))
            .filter_map(|r| r.trim_end_matches(')').parse().ok())
            .collect();
        let _ = self.on_node1(
            &format!("'{}' halt >/dev/null 2>&1", self.pb6.display()),
            Duration::from_secs(30),
        );
        if !self.m.wait_no_daemons(Duration::from_secs(15)).is_empty() {
            eprintln!("startup: pvm6: daemons left after pvm_halt; killing them");
            for h in self.m.c.hosts() {
                self.m.c.kill_in(&h.spec.name, "pvmd3");
            }
        }
        // Each start appends to the same log: start the next with a fresh one.
        for e in fs::read_dir(self.m.c.host("node1").tmp())
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with("pvml.") {
                let _ = fs::remove_file(e.path());
            }
        }
        (parse_add(&out), rounds)
    }

    fn orig(&self, pb: &Path) -> Option<Add> {
        let master = OrigMaster::start(&self.m, "");
        let r = if master.up {
            let (out, _) = self.on_node1(
                &format!("'{}' addhosts {}", pb.display(), self.names()),
                ADD_LIMIT,
            );
            let _ = self.on_node1(
                &format!("'{}' halt >/dev/null 2>&1", pb.display()),
                Duration::from_secs(30),
            );
            parse_add(&out)
        } else {
            eprintln!(
                "startup: PVM 3.4.6's master did not start:\n{}",
                master.output()
            );
            None
        };
        master.stop(&self.m, Duration::from_secs(10));
        r
    }
}

fn main() {
    let out = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| common::repo_root().join("target/bench"));
    let add: usize = env_num("ADDHOSTS", 64).max(1);
    let tree: usize = env_num("TREE", 256).max(2);
    let fanout: usize = env_num("FANOUT", pvm3::launch::tree::DEFAULT_FANOUT).max(1);
    fs::create_dir_all(&out).unwrap_or_else(|e| panic!("cannot create {}: {e}", out.display()));
    for var in [
        "PVM_TMP",
        "PVM_ROOT",
        "PVM_VMID",
        "PVM_PATH",
        "PVM_EXPORT",
        "LD_LIBRARY_PATH",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("PVM_ALLOW_ROOT", "1");
    let mut report = String::new();
    let mut csv = String::from("what,hosts,seconds,ratio_to_orig\n");

    // The tree start-up's plan: rounds against hosts (pure, always runs).
    let _ = writeln!(
        report,
        "\n== tree start-up (fan-out {fanout}: each started daemon starts up to {fanout} more per round)"
    );
    let mut n = 1;
    while n <= tree {
        let plan = pvm3::launch::tree::plan(n, fanout);
        let flat = n; // one shell after another from the master alone
        let _ = writeln!(
            report,
            "{n:>5} hosts: {:>2} rounds (the master alone, {fanout} at a time: {} rounds)",
            plan.rounds(),
            flat.div_ceil(fanout)
        );
        let _ = writeln!(csv, "tree_rounds,{n},{},", plan.rounds());
        n *= 2;
    }

    if let Err(why) = netns::prerequisites() {
        println!("{report}\nSKIP start-up benchmark (namespace hosts): {why}");
        return;
    }
    let specs: Vec<HostSpec> = (1..=add + 1)
        .map(|i| HostSpec::dual(format!("node{i}")))
        .collect();
    let t0 = Instant::now();
    let Some(m) = Machine::new("bstart", &specs, &[]) else {
        println!("{report}\nSKIP start-up benchmark: the namespace hosts could not be made");
        return;
    };
    eprintln!(
        "startup: {} namespace hosts with sshd up in {:.1} s",
        specs.len(),
        t0.elapsed().as_secs_f64()
    );
    let pb6 = m.bin.join("pvmbench");
    compile(&pb6, true, &m.work.join("lib"));
    let want_orig = std::env::var("ORIG").map_or(true, |v| v != "0");
    let pb_orig = (want_orig && Path::new(ORIG_PVMD).exists()).then(|| {
        let p = m.bin.join("pvmbench-orig");
        compile(&p, false, Path::new("/"));
        p
    });
    let b = Bench {
        out: out.clone(),
        m,
        add,
        pb6,
        pb_orig,
    };
    let load0 = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("startup: ssh floor ...");
    let floor_all = b.floor(add, "");
    let floor5 = b.floor(5, "");
    // With the options pvm6 gives ssh (launch::ssh): its own floor.
    let floor_kex = b.floor(add, &pvm3::launch::ssh::options("ssh", None).join(" "));
    eprintln!("startup: pvm6 pvm_addhosts of {add} hosts ...");
    let (p6, _) = b.pvm6(0);
    eprintln!("startup: pvm6 with PVM6_TREE={fanout}, pvm_addhosts of {add} hosts ...");
    let (p6t, rounds) = b.pvm6(fanout);
    let orig = b.pb_orig.as_ref().and_then(|pb| {
        eprintln!("startup: PVM 3.4.6 pvm_addhosts of {add} hosts ...");
        b.orig(pb)
    });
    let load1 = fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let _ = writeln!(
        report,
        "\n== adding {add} namespace hosts with one pvm_addhosts call (load {} -> {})",
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
    let _ = writeln!(
        report,
        "ssh floor: `$PVM_RSH host true` to all {add} at once {floor_all:.2} s, five at a time {floor5:.2} s"
    );
    let _ = writeln!(
        report,
        "ssh floor with pvm6's ssh options ({}): all {add} at once {floor_kex:.2} s",
        pvm3::launch::ssh::options("ssh", None).join(" ")
    );
    let _ = writeln!(csv, "ssh_floor_all,{add},{floor_all:.3},");
    let _ = writeln!(csv, "ssh_floor_all_pvm6_options,{add},{floor_kex:.3},");
    let _ = writeln!(csv, "ssh_floor_5,{add},{floor5:.3},");
    let fmt = |a: &Option<Add>| match a {
        Some(a) => format!(
            "{} of {add} added; call {:.2} s; all in pvm_config {:.2} s",
            a.added, a.call, a.config
        ),
        None => "no result".into(),
    };
    let _ = writeln!(report, "pvm6      {}", fmt(&p6));
    let mut hist = std::collections::BTreeMap::new();
    for r in &rounds {
        *hist.entry(*r).or_insert(0) += 1;
    }
    let _ = writeln!(
        report,
        "pvm6 tree {} (PVM6_TREE={fanout}; hosts per round {:?}, {} rounds)",
        fmt(&p6t),
        hist,
        hist.keys().max().copied().unwrap_or(0)
    );
    if let Some(a) = &p6t {
        let _ = writeln!(csv, "addhosts_pvm6_tree{fanout},{add},{:.3},", a.config);
        let _ = writeln!(
            csv,
            "tree_rounds_measured,{add},{},",
            hist.keys().max().copied().unwrap_or(0)
        );
    }
    let _ = writeln!(report, "PVM 3.4.6 {}", fmt(&orig));
    if let (Some(a), Some(o)) = (&p6, &orig) {
        let r = a.config / o.config;
        let _ = writeln!(
            report,
            "pvm6 / PVM 3.4.6 = {r:.2} (target <= 0.8: {})",
            if r <= 0.8 { "met" } else { "NOT met" }
        );
        let _ = writeln!(csv, "addhosts_pvm6,{add},{:.3},{r:.3}", a.config);
        let _ = writeln!(csv, "addhosts_orig,{add},{:.3},1", o.config);
    } else if let Some(a) = &p6 {
        let _ = writeln!(csv, "addhosts_pvm6,{add},{:.3},", a.config);
    }
    fs::write(out.join("startup.csv"), csv).unwrap();
    println!("{report}");
}
