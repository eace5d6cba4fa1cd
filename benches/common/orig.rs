//! PVM 3.4.6's daemon (Debian's `pvm` package) as the master on node1 of a
//! bench machine, for the side-by-side figures of the multi-host benches.
//! Its slaves are started by it over the harness's ssh with a `dx=`
//! wrapper that sets PVM_ROOT and PVM_ALLOW_ROOT (ssh does not carry them).

use crate::machine::Machine;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Debian's pvmd.
pub const ORIG_PVMD: &str = "/usr/lib/pvm3/lib/pvmd";

/// Waits up to `limit` for `child` to exit, then kills it.
pub fn wait_bounded(child: &mut Child, limit: Duration) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The original master daemon of a bench machine.
pub struct OrigMaster {
    child: Child,
    /// Its output.
    log: PathBuf,
    /// Whether it came up (its address file appeared within 15 s).
    pub up: bool,
}

impl OrigMaster {
    /// Starts it on node1 with its hostfile naming only node1 (`env`:
    /// assignments put before its command, e.g. `PVM_RSH='...' `).
    pub fn start(m: &Machine, env: &str) -> OrigMaster {
        let w = &m.work;
        let dx = w.join("orig-pvmd");
        fs::write(
            &dx,
            format!("#!/bin/sh\nPVM_ROOT=/usr/lib/pvm3 PVM_ALLOW_ROOT=1 exec {ORIG_PVMD} \"$@\"\n"),
        )
        .unwrap();
        let _ = Command::new("chmod").arg("755").arg(&dx).status();
        let hf = w.join("hostfile-orig");
        fs::write(
            &hf,
            format!("* dx={} ep={}\nnode1\n", dx.display(), m.bin.display()),
        )
        .unwrap();
        let log = w.join("orig-master.log");
        let child = m.c.spawn(
            "node1",
            &format!(
                "cd '{}' && {env}exec '{}' '{}' >'{}' 2>&1",
                w.display(),
                dx.display(),
                hf.display(),
                log.display()
            ),
        );
        // Up once its address file exists (bounded).
        let addr_file = m.c.host("node1").tmp().join("pvmd.0");
        let end = Instant::now() + Duration::from_secs(15);
        while !addr_file.exists() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
        OrigMaster {
            child,
            log,
            up: addr_file.exists(),
        }
    }

    /// Its output so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Gives it `grace` to exit (after a halt), kills it then, and kills
    /// every original daemon left on the machine's hosts.
    pub fn stop(mut self, m: &Machine, grace: Duration) {
        wait_bounded(&mut self.child, grace);
        for h in m.c.hosts() {
            m.c.kill_in(&h.spec.name, ORIG_PVMD);
        }
    }
}
