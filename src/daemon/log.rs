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
    /// `debug` also writes debug-level messages to the file. The file must
    /// be this user's own (see [`open_private_log`]); when it is not, the
    /// log goes to `fallback` (a file in the daemon's private directory)
    /// and its first line says why.
    pub fn open(
        path: &Path,
        fallback: &Path,
        daemon_tid: i32,
        debug: bool,
        facade: bool,
    ) -> DaemonLog {
        let (file, refused) = match open_private_log(path) {
            Ok(f) => (Some(f), None),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                (open_private_log(fallback).ok(), Some(e.to_string()))
            }
            Err(_) => (None, None),
        };
        let mut log = DaemonLog {
            file,
            prefix: format!("[{}] ", crate::tid::fmt(daemon_tid)),
            debug,
            facade,
            lost: 0,
            lost_err: None,
            cut: false,
        };
        if let Some(why) = refused {
            log.msg(
                log::Level::Warn,
                &format!("{why}; logging to {} instead", fallback.display()),
            );
        }
        log
    }

    /// The log file (the one checked at open) as a child's stderr, or
    /// nothing when there is none.
    pub fn for_child(&self) -> std::process::Stdio {
        self.file
            .as_ref()
            .and_then(|f| f.try_clone().ok())
            .map(std::process::Stdio::from)
            .unwrap_or_else(std::process::Stdio::null)
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

/// Opens a log file for appending without following a symbolic link
/// (O_NOFOLLOW), creating it with mode 0600, and checks what was opened: a
/// regular file, owned by this user, with one link, which group and others
/// cannot write. A file another user made there beforehand (to read the
/// log, or to have it written where they like) is refused with
/// `PermissionDenied` naming the path and its owner; nothing is written to
/// it. Read permission for others on a file of ours is taken away.
pub fn open_private_log(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let refuse = |why: String| {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("refusing the log file {}: {why}", path.display()),
        )
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                refuse("it is a symbolic link".into())
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    let me = crate::os::uid();
    if !meta.file_type().is_file() {
        return Err(refuse(format!(
            "not a regular file (owned by uid {})",
            meta.uid()
        )));
    }
    if meta.uid() != me {
        return Err(refuse(format!(
            "owned by uid {}{}, not by this user (uid {me})",
            meta.uid(),
            crate::paths::user_name(meta.uid())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        )));
    }
    if meta.nlink() != 1 {
        return Err(refuse(format!("it has {} hard links", meta.nlink())));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// `dlog!(log, Level, "fmt", args..)`: a daemon log message.
macro_rules! dlog {
    ($log:expr, $lvl:ident, $($arg:tt)*) => {
        $log.msg(::log::Level::$lvl, &format!($($arg)*))
    };
}
pub(crate) use dlog;
