//! The daemon's log file `$PVM_TMP/pvml.<uid>`: daemon messages prefixed
//! `[t80040000] `, task output lines prefixed with the task's tid.
//!
//! Every line is written with one `write` on an `O_APPEND` file, so lines of
//! several writers never interleave. Messages also go to the `log` facade
//! when the daemon runs in its own process (not after a fork inside a user's
//! program, where the facade's logger could be holding a lock of the parent).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The log file of one daemon.
pub struct DaemonLog {
    file: Option<File>,
    prefix: String,
    debug: bool,
    facade: bool,
    /// Lines that could not be written (disk full, ...) since the last
    /// successful write, and the first error: reported in the log as soon
    /// as writing works again.
    lost: u64,
    lost_err: Option<String>,
    /// The failed write left part of a line (the notice starts a new one).
    cut: bool,
}

impl DaemonLog {
    /// Opens (appending, creating with mode 0600) the log at `path`.
    /// `debug` also writes debug-level messages to the file.
    pub fn open(path: &Path, daemon_tid: i32, debug: bool, facade: bool) -> DaemonLog {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .ok();
        DaemonLog {
            file,
            prefix: format!("[{}] ", crate::tid::fmt(daemon_tid)),
            debug,
            facade,
            lost: 0,
            lost_err: None,
            cut: false,
        }
    }

    fn write_line(&mut self, prefix: &str, text: &[u8]) {
        if let Some(f) = self.file.as_mut() {
            let mut line = Vec::with_capacity(prefix.len() + text.len() + 1);
            line.extend_from_slice(prefix.as_bytes());
            line.extend_from_slice(text);
            line.push(b'\n');
            if self.lost > 0 {
                let note = format!(
                    "{}{}{} log line(s) lost: {}\n",
                    if self.cut { "\n" } else { "" },
                    self.prefix,
                    self.lost,
                    self.lost_err.as_deref().unwrap_or("write failed")
                );
                if f.write_all(note.as_bytes()).is_ok() {
                    self.lost = 0;
                    self.lost_err = None;
                    self.cut = false;
                }
            }
            // A failing log write must not stop the daemon: the line is
            // counted and reported once writing works again.
            if self.lost > 0 {
                self.lost += 1;
                return;
            }
            let mut done = 0;
            while done < line.len() {
                match f.write(&line[done..]) {
                    Ok(0) => {
                        self.lost_err = Some("write returned 0".into());
                        break;
                    }
                    Ok(n) => done += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.lost_err = Some(e.to_string());
                        break;
                    }
                }
            }
            if done < line.len() {
                self.lost = 1;
                self.cut = done > 0;
            }
        }
    }

    /// A daemon message at `level`.
    pub fn msg(&mut self, level: log::Level, text: &str) {
        if self.facade {
            log::log!(target: "pvmd", level, "{text}");
        }
        if level <= log::Level::Info || self.debug {
            let prefix = self.prefix.clone();
            self.write_line(&prefix, text.as_bytes());
        }
    }

    /// One line of a task's output (without its newline).
    pub fn task_line(&mut self, tid: i32, line: &[u8]) {
        let prefix = format!("[{}] ", crate::tid::fmt(tid));
        self.write_line(&prefix, line);
    }
}

/// `dlog!(log, Level, "fmt", args..)`: a daemon log message.
macro_rules! dlog {
    ($log:expr, $lvl:ident, $($arg:tt)*) => {
        $log.msg(::log::Level::$lvl, &format!($($arg)*))
    };
}
pub(crate) use dlog;
