//! What the survival tests (tests/survive*.rs) share: the C programs of
//! c-tests/multihost, the lines a program prints as they come, and a
//! ping-pong (sv_pong) run until stopped. Included with
//! `#[path = "common/pong.rs"] mod pong;` beside `mod common;`,
//! `mod machine;`, `mod netns;` and `mod lines;` (common/lines.rs).
#![allow(dead_code)]

pub use crate::lines::Lines;
use crate::machine::Machine;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

/// The path of the C program c-tests/multihost/`name`.c.
pub fn mh(name: &str) -> PathBuf {
    crate::common::repo_root()
        .join("c-tests/multihost")
        .join(format!("{name}.c"))
}

/// Halts the machine with mh_halt on `host`: it succeeds and no daemon is
/// left within 10 s.
pub fn halt_machine(m: &Machine, host: &str) {
    let out = m.run(host, "mh_halt", "", Duration::from_secs(30));
    assert!(
        out.status.success(),
        "mh_halt: {}",
        crate::machine::text(&out)
    );
    let left = m.wait_no_daemons(Duration::from_secs(10));
    assert!(left.is_empty(), "daemons left after pvm_halt: {left:?}");
}

/// A ping-pong pair running from `runner` until stopped.
pub struct Pong {
    child: std::process::Child,
    lines: Lines,
    stop: PathBuf,
}

impl Pong {
    pub fn start(m: &Machine, runner: &str, pairs: &[&str], tag: &str) -> Pong {
        let stop = m.work.join(format!("stop-{tag}"));
        let mut child = m.c.spawn(
            runner,
            &format!(
                "exec timeout 300 {}/sv_pong {} {} 2>&1",
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
        Pong { child, lines, stop }
    }

    /// Stops the pairs; returns the transcript (asserting nothing was lost).
    pub fn finish(mut self, what: &str) -> String {
        fs::write(&self.stop, "").unwrap();
        let ended = self.lines.wait_for("<end>", Duration::from_secs(120));
        let status = self.child.wait().unwrap();
        let t = self.lines.transcript.clone();
        for l in t.lines().filter(|l| l.starts_with("pair ")) {
            eprintln!("{what}: {l}");
        }
        assert!(
            ended && status.success() && !t.contains("not ok"),
            "ping-pong across {what} failed ({status}):\n{t}"
        );
        t
    }
}
