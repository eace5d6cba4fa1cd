//! A cluster of namespace hosts (common/netns.rs) with C programs built into
//! a directory every host sees, for the multi-host tests. Included with
//! `#[path = "common/machine.rs"] mod machine;` beside `mod common;` and
//! `mod netns;`.
#![allow(dead_code)]

use crate::netns::{self, Cluster, HostSpec};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The daemon every host runs.
pub const PVMD3: &str = env!("CARGO_BIN_EXE_pvmd3");

/// A cluster plus the shared directory its programs live in; stops every
/// daemon on every host when dropped.
pub struct Machine {
    pub c: Cluster,
    pub work: PathBuf,
    pub bin: PathBuf,
}

impl Machine {
    /// Creates the hosts and builds `programs` (paths of C files) into a
    /// bin directory every host sees.
    pub fn new(prefix: &str, specs: &[HostSpec], programs: &[PathBuf]) -> Option<Machine> {
        let c = netns::require(prefix, specs)?;
        let work = c.dir().join("work");
        let bin = work.join("bin");
        let lib = work.join("lib");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&lib).unwrap();
        let libdir = crate::common::lib_dir();
        for name in ["libpvm3.so", "libpvm3.so.3"] {
            symlink(libdir.join("libpvm3.so"), lib.join(name)).unwrap();
        }
        for src in programs {
            let out = bin.join(src.file_stem().unwrap());
            let mut cmd = Command::new("gcc");
            cmd.args(["-Wall", "-Wextra", "-Werror", "-I"])
                .arg(crate::common::include_dir())
                .arg("-I")
                .arg(crate::common::repo_root().join("c-tests"))
                .arg("-o")
                .arg(&out)
                .arg(src)
                .arg("-L")
                .arg(&lib)
                .arg(format!("-Wl,-rpath,{}", lib.display()))
                .arg("-lpvm3");
            crate::common::run_build(cmd, &format!("compile {}", src.display()));
        }
        Some(Machine { c, work, bin })
    }

    /// Writes a hostfile (the `*` line sets ep= and dx= for every host).
    pub fn hostfile(&self, lines: &[&str]) -> PathBuf {
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
    pub fn start_master(&self, host: &str, hostfile: Option<&Path>) {
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
    pub fn run(&self, host: &str, prog: &str, args: &str, limit: Duration) -> Output {
        self.c.exec_timeout(
            host,
            &format!("{}/{prog} {args} 2>&1", self.bin.display()),
            limit,
        )
    }

    /// The master's daemon log (on `host`'s private /tmp).
    pub fn log(&self, host: &str) -> String {
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

    /// Waits up to `limit` until `host`'s daemon log contains `what`.
    pub fn wait_log(&self, host: &str, what: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.log(host).contains(what) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }

    /// Pids of pvmd3 processes on `host`.
    pub fn daemons_on(&self, host: &str) -> Vec<u32> {
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
    pub fn wait_no_daemons(&self, limit: Duration) -> Vec<(String, Vec<u32>)> {
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

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A C program of the multi-host tests: c-tests/`dir`/`name`.c.
pub fn program(dir: &str, name: &str) -> PathBuf {
    crate::common::repo_root()
        .join("c-tests")
        .join(dir)
        .join(format!("{name}.c"))
}

/// The value a test program printed as `result <what> <value>`.
pub fn result_of(out: &str, what: &str) -> Option<i32> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("result {what} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits up to `limit` for the file `path` to contain `what`; its text.
pub fn wait_for(path: &Path, what: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let t = fs::read_to_string(path).unwrap_or_default();
        if t.contains(what) || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
