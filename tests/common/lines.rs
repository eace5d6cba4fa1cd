//! The lines a program prints, as they come (tests/survive*.rs). Included with
//! `#[path = "common/lines.rs"] mod lines;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// The lines a child prints on its stdout, read by a thread.
pub struct Lines {
    pub rx: Receiver<String>,
    /// Every line read so far.
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
        self.wait_line(|l| l == word, limit).is_some()
    }

    /// Waits up to `limit` for a line that `want` takes; that line.
    pub fn wait_line(&mut self, want: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    self.transcript.push_str(&l);
                    self.transcript.push('\n');
                    if want(&l) {
                        return Some(l);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }
}
