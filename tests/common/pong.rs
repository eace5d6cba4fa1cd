//! What the survival tests (tests/survive*.rs) share: the C programs of
//! c-tests/multihost, the lines a program prints as they come, and a
//! ping-pong (sv_pong) run until stopped. Included with
//! `#[path = "common/pong.rs"] mod pong;` beside `mod common;`,
//! `mod machine;` and `mod netns;`.
#![allow(dead_code)]

use crate::machine::Machine;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// The path of the C program c-tests/multihost/`name`.c.
pub fn mh(name: &str) -> PathBuf {
    crate::common::repo_root()
        .join("c-tests/multihost")
        .join(format!("{name}.c"))
}

/// The lines a program prints, as they come.
pub struct Lines {
    pub rx: Receiver<String>,
    pub transcript: String,
}

impl Lines {
    pub fn of(child: &mut std::process::Child) -> Lines {
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            transcript: String::new(),
        }
    }

    /// Waits up to `limit` for the line `word`.
    pub fn wait_for(&mut self, word: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    self.transcript.push_str(&l);
                    self.transcript.push('\n');
                    if l == word {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }
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
