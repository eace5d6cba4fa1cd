//! The master's terminal dialogs of man pvmd3, for hosts started with
//! `so=ms` (MANUAL STARTUP: the master prints the command to type on the
//! other host and reads the line the slave prints there) and `so=pw` (the
//! master asks the host's password, echo off, and gives it to ssh through
//! an askpass helper). Only when the daemon has the user's terminal
//! (`DaemonOptions::dialog`); one question at a time, in the order the
//! hosts were started. Lines are read by a helper thread, one line per
//! question (so nothing typed after the last question is taken from the
//! shell), which wakes the event loop through a `mio::Waker`.

use super::server::Daemon;
use crate::daemon::log::dlog;
use crate::daemon::Dialog;
use crate::Error;
use mio::{Token, Waker};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

/// The event-loop token of the dialog reader's waker.
pub(super) const DIALOG: Token = Token(usize::MAX - 2);

/// A question for the user.
pub(super) enum Ask {
    /// so=ms: type `cmd` on `host`, then its reply here.
    Manual { host: String, cmd: String },
    /// so=pw: the password, asked with `prompt`.
    Password { prompt: String },
}

/// The reader thread: one request, one line (None at end of input).
struct LineReader {
    ask: Sender<()>,
    lines: Receiver<Option<String>>,
}

/// The questions waiting and the one being answered.
#[derive(Default)]
pub(super) struct Dialogs {
    queue: VecDeque<(u64, Ask)>,
    current: Option<(u64, Ask)>,
    reader: Option<LineReader>,
}

/// Reads one line from fd 0 a byte at a time (no read-ahead).
fn read_line() -> Option<String> {
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match stdin.read(&mut b) {
            Ok(0) => return (!line.is_empty()).then(|| String::from_utf8_lossy(&line).into()),
            Ok(_) if b[0] == b'\n' => return Some(String::from_utf8_lossy(&line).into()),
            Ok(_) => line.push(b[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn say(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.flush();
}

impl Daemon {
    /// Queues a question for start `id`.
    pub(super) fn dialog_ask(&mut self, id: u64, ask: Ask) {
        self.dialogs.queue.push_back((id, ask));
        if self.dialogs.current.is_none() {
            self.dialog_next();
        }
    }

    /// Asks the next question whose start still waits.
    fn dialog_next(&mut self) {
        while let Some((id, ask)) = self.dialogs.queue.pop_front() {
            if !self.starting.start_waits(id) {
                continue;
            }
            if self.dialogs.reader.is_none() {
                match self.dialog_reader() {
                    Ok(r) => self.dialogs.reader = Some(r),
                    Err(e) => {
                        dlog!(self.log, Warn, "no terminal dialog: {e}");
                        self.start_done(id, Err(Error::CantStart));
                        continue;
                    }
                }
            }
            match &ask {
                Ask::Manual { host, cmd } => say(&format!(
                    "*** Manual startup ***\nLogin to \"{host}\" and type:\n{cmd}\nType response: "
                )),
                Ask::Password { prompt } => {
                    let _ = crate::os::set_echo(std::io::stdin().as_fd(), false);
                    say(prompt);
                }
            }
            if let Some(r) = &self.dialogs.reader {
                let _ = r.ask.send(());
            }
            self.dialogs.current = Some((id, ask));
            return;
        }
    }

    /// Starts the reader thread.
    fn dialog_reader(&mut self) -> std::io::Result<LineReader> {
        let waker = Arc::new(Waker::new(self.poll.registry(), DIALOG)?);
        let (ask_tx, ask_rx) = mpsc::channel::<()>();
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("pvmd-dialog".into())
            .spawn(move || {
                while ask_rx.recv().is_ok() {
                    let l = read_line();
                    let end = l.is_none();
                    if line_tx.send(l).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                    if end {
                        return;
                    }
                }
            })?;
        Ok(LineReader {
            ask: ask_tx,
            lines: line_rx,
        })
    }

    /// The reader has a line (or end of input) for the current question.
    pub(super) fn dialog_event(&mut self) {
        loop {
            let got = match &self.dialogs.reader {
                Some(r) => r.lines.try_recv(),
                None => return,
            };
            let Ok(line) = got else {
                return;
            };
            let Some((id, ask)) = self.dialogs.current.take() else {
                continue;
            };
            match (ask, line) {
                (Ask::Password { .. }, pw) => {
                    let _ = crate::os::set_echo(std::io::stdin().as_fd(), true);
                    say("\n");
                    match pw {
                        Some(pw) if self.starting.start_waits(id) => {
                            if let Err(e) = self.spawn_shell(id, Some(pw)) {
                                self.start_done(id, Err(e));
                            }
                        }
                        Some(_) => {}
                        None => self.dialog_eof(id),
                    }
                }
                (Ask::Manual { host, cmd }, Some(l)) => {
                    let l = l.trim().to_string();
                    if !self.starting.start_waits(id) {
                        say("(that host's start has timed out)\n");
                    } else if l.is_empty() {
                        // An empty line: ask again.
                        say("Type response: ");
                        self.dialogs.current = Some((id, Ask::Manual { host, cmd }));
                        if let Some(r) = &self.dialogs.reader {
                            let _ = r.ask.send(());
                        }
                        return;
                    } else {
                        match crate::daemon::startup::parse_reply(&l) {
                            Ok(_) => say("Thanks\n"),
                            Err(e) => say(&format!("pvmd: {host}: {e}\n")),
                        }
                        self.start_line(id, &l);
                    }
                }
                (Ask::Manual { .. }, None) => self.dialog_eof(id),
            }
            self.dialog_next();
        }
    }

    /// End of input: no more questions can be answered.
    fn dialog_eof(&mut self, id: u64) {
        dlog!(
            self.log,
            Warn,
            "end of input on the terminal: so=pw / so=ms hosts not started"
        );
        self.dialogs.reader = None;
        self.start_done(id, Err(Error::CantStart));
        let rest: Vec<u64> = self.dialogs.queue.drain(..).map(|(i, _)| i).collect();
        for i in rest {
            self.start_done(i, Err(Error::CantStart));
        }
        self.opts.dialog = Dialog::Off;
    }

    /// A detached master's hostfile hosts are in: it lets the terminal go
    /// (stdio to /dev/null); later so=ms hosts use the reply file.
    pub(super) fn dialogs_release(&mut self) {
        if self.opts.dialog == Dialog::Detached {
            self.opts.dialog = Dialog::Off;
            self.dialogs.reader = None;
            let _ = crate::os::stdio_to_dev_null();
        }
    }
}
