//! The PVM console `pvm`: attaches to the running virtual machine (or
//! starts its daemon), then reads commands from the terminal (line editing
//! and history through rustyline) or from a pipe or file, as PVM 3.4.6's
//! console does. Built only on the library's safe task API.
//!
//! - [`parse`]: the command parser (pure: `parse_line(&str)`).
//! - [`help`]: the command table and help texts.
//! - [`format`]: the listings, in PVM 3.4.6's columns.
//! - [`jobs`]: spawn jobs, the output thread, daemon-gone detection.
//!
//! - `startup`: attaching to (or starting) the daemon, the hostfile.
//! - `commands`: one method per console command.
//!
//! This file: command-line options, `$HOME/.pvmrc`, the input loop and the
//! dispatch of each command. Behaviour and the
//! choices made where PVM 3.4.6 gives none are documented in
//! docs/CONSOLE.md.

mod commands;
pub mod format;
pub mod help;
pub mod jobs;
pub mod parse;
mod startup;
pub mod trace;

pub use parse::{parse_line, Command, ParseError};
pub use startup::host_line;
use startup::Started;

use crate::hostfile::{self, HostEntry};
use crate::msg::Encoding;
use crate::paths::DaemonFiles;
use crate::task::{self, HostInfo, TaskInfo};
use crate::{tid, Error};
use jobs::{Printer, Shared, Sink, JOB_TAG_BASE};
use parse::{JobOutput, PsOpts, SpawnSpec};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// pvm_spawn flags the console uses.
const TASK_HOST: i32 = 1;
const TASK_ARCH: i32 = 2;
const TASK_DEBUG: i32 = 4;
/// The console's tasks get no parent (as PVM 3.4.6's console spawns them).
const NO_SPAWN_PARENT: i32 = 64;
/// pvm_setopt codes the console sets.
const OPT_OUTPUT_TID: i32 = 4;
const OPT_OUTPUT_CODE: i32 = 5;
/// PvmTraceTid, PvmTraceCode and PvmTraceBuffer (the children's trace settings).
const OPT_TRACE_TID: i32 = 6;
const OPT_TRACE_CODE: i32 = 7;
const OPT_TRACE_BUFFER: i32 = 8;
const OPT_NO_RESET: i32 = 25;
/// Aliases may refer to aliases this deep.
const ALIAS_DEPTH: usize = 16;
/// Lines kept in the history.
const HISTORY_MAX: usize = 1000;

/// Command-line options of `pvm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `-d<mask>`: the daemon's debug mask (when the console starts it).
    pub debug_mask: Option<String>,
    /// `-n<name>`: the daemon's host name (when the console starts it).
    pub name: Option<String>,
    /// The hostfile.
    pub hostfile: Option<PathBuf>,
}

/// The usage line.
pub const USAGE: &str = "usage: pvm [-n<hostname>] [-d<debugmask>] [hostfile]";

/// Parses the command line (without the program name).
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(m) = a.strip_prefix("-d") {
            if m.is_empty() {
                return Err("-d needs a mask (-d<mask>)".into());
            }
            if crate::daemon::parse_debug_mask(m).is_none() {
                return Err(format!(
                    "bad debug mask \"{m}\" (hex 0x.., octal 0.. or decimal)"
                ));
            }
            o.debug_mask = Some(m.to_string());
        } else if let Some(n) = a.strip_prefix("-n") {
            let n = if n.is_empty() {
                it.next().cloned().unwrap_or_default()
            } else {
                n.to_string()
            };
            if n.is_empty() {
                return Err("-n needs a host name".into());
            }
            o.name = Some(n);
        } else if a.starts_with('-') && a.len() > 1 {
            return Err(format!("unknown option \"{a}\""));
        } else if o.hostfile.is_some() {
            return Err(format!("more than one hostfile (\"{a}\")"));
        } else {
            o.hostfile = Some(PathBuf::from(a));
        }
    }
    Ok(o)
}

/// What the input loop should do after a command.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Leave; the machine keeps running.
    Quit,
    /// The machine was halted: leave.
    Halted,
}

/// The console.
struct Console {
    shared: Shared,
    aliases: BTreeMap<String, Vec<String>>,
    /// A command failed (the exit status is then 1).
    failed: bool,
    me: i32,
    /// `reset` is cleaning the mailbox (not `reset info`).
    in_reset: bool,
    /// The batch allocation the master published (looked up by the first
    /// `conf`: it is there before any console attaches, and a later `conf`
    /// must not wait on a stalled master for it).
    allocation: Option<Option<String>>,
}

fn stdout_text(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

fn stderr_text(s: &str) {
    let mut o = std::io::stderr().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Runs the console with `args` (without the program name); returns the
/// exit status.
pub fn run(args: &[String]) -> i32 {
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            stderr_text(&format!("pvm: {e}\n{USAGE}\n"));
            return 2;
        }
    };
    let interactive = std::io::stdin().is_terminal();
    let mut editor = if interactive {
        match new_editor() {
            Ok(e) => Some(e),
            Err(e) => {
                stderr_text(&format!("pvm: no line editing ({e})\n"));
                None
            }
        }
    } else {
        None
    };
    let printer: Printer = match editor.as_mut().map(|e| e.create_external_printer()) {
        Some(Ok(mut p)) => Box::new(move |s: &str| {
            use rustyline::ExternalPrinter;
            let _ = p.print(s.to_string());
        }),
        _ => Box::new(stdout_text),
    };
    let shared = Shared::new(printer, editor.is_some());
    let mut con = Console {
        shared,
        aliases: BTreeMap::new(),
        failed: false,
        me: 0,
        in_reset: false,
        allocation: None,
    };
    let started = match con.attach(&opts) {
        Ok(s) => s,
        Err(msg) => {
            stderr_text(&format!("pvm: {msg}\n"));
            return 2;
        }
    };
    let receiver = con.shared.start_receiver();
    if let Some(hf) = &opts.hostfile {
        match started {
            Started::WithHostfile => con.check_hostfile(hf),
            Started::Attached => con.add_hostfile(hf),
        }
    }
    let mut flow = Flow::Continue;
    let rc = paths_rc();
    if let Ok(text) = std::fs::read_to_string(&rc) {
        for line in text.lines() {
            flow = con.line(line);
            if flow != Flow::Continue {
                break;
            }
        }
    }
    if flow == Flow::Continue {
        flow = match editor.as_mut() {
            Some(ed) => con.interactive(ed),
            None => con.script(),
        };
    }
    con.shared.stop();
    let _ = receiver.join();
    if flow == Flow::Quit {
        // Leave the machine as it is (pvm_exit), say so.
        let _ = task::exit();
        stderr_text("pvmd still running.\n");
    }
    i32::from(con.failed)
}

fn paths_rc() -> PathBuf {
    crate::paths::home().join(".pvmrc")
}

fn history_path() -> PathBuf {
    crate::paths::home().join(".pvm_history")
}

type Editor = rustyline::Editor<(), rustyline::history::FileHistory>;

fn new_editor() -> rustyline::Result<Editor> {
    let cfg = rustyline::Config::builder()
        .max_history_size(HISTORY_MAX)?
        .auto_add_history(false)
        .build();
    let mut ed = Editor::with_config(cfg)?;
    let _ = ed.load_history(&history_path());
    Ok(ed)
}

impl Console {
    /// Reads commands from a terminal, with line editing and history.
    fn interactive(&mut self, ed: &mut Editor) -> Flow {
        use rustyline::error::ReadlineError;
        let flow = loop {
            match ed.readline("pvm> ") {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = ed.add_history_entry(line.as_str());
                    }
                    let f = self.line(&line);
                    if f != Flow::Continue {
                        break f;
                    }
                }
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => {
                    stdout_text("quit\n");
                    break Flow::Quit;
                }
                Err(e) => {
                    self.error(&format!("pvm: reading input: {e}"));
                    break Flow::Quit;
                }
            }
        };
        let _ = ed.save_history(&history_path());
        flow
    }

    /// Reads commands from a pipe or file until EOF, without prompts; at
    /// EOF waits for the jobs whose output is still open.
    fn script(&mut self) -> Flow {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut line = String::new();
        loop {
            line.clear();
            match input.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {
                    let f = self.line(line.trim_end_matches(['\n', '\r']));
                    if f != Flow::Continue {
                        return f;
                    }
                }
                Err(e) => {
                    self.error(&format!("pvm: reading input: {e}"));
                    break;
                }
            }
        }
        self.wait_jobs();
        Flow::Quit
    }

    /// Waits until every job's output ended (or the daemon went away).
    fn wait_jobs(&self) {
        loop {
            if self.shared.jobs().jobs.is_empty() || self.shared.session().gone {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one input line.
    fn line(&mut self, line: &str) -> Flow {
        let words = match parse::tokenize(line) {
            Ok(w) => w,
            Err(e) => {
                self.error(&e.to_string());
                return Flow::Continue;
            }
        };
        let words = match self.expand_alias(words) {
            Ok(w) => w,
            Err(msg) => {
                self.error(&msg);
                return Flow::Continue;
            }
        };
        match parse::parse_words(&words) {
            Ok(c) => {
                let shared = self.shared.clone();
                let _busy = shared.running_command();
                self.exec(c)
            }
            Err(e) => {
                self.error(&e.to_string());
                Flow::Continue
            }
        }
    }

    fn expand_alias(&self, mut words: Vec<String>) -> Result<Vec<String>, String> {
        for _ in 0..ALIAS_DEPTH {
            let Some(body) = words.first().and_then(|w| self.aliases.get(w)) else {
                return Ok(words);
            };
            // An alias of a command of the same name stops there.
            let same = body.first() == words.first();
            let mut v = body.clone();
            v.extend(words.drain(1..));
            words = v;
            if same {
                return Ok(words);
            }
        }
        Err(format!(
            "{}: alias loop",
            words.first().cloned().unwrap_or_default()
        ))
    }

    /// Prints an error line and marks the run as failed.
    fn error(&mut self, msg: &str) {
        self.failed = true;
        stderr_text(&format!("{msg}\n"));
    }

    /// A failed PVM call, reported as libpvm reports them.
    fn call_failed(&mut self, func: &str, e: Error) {
        self.failed = true;
        task::report_line(&format!("{func}(): {}", e.text()));
        if e == Error::SysErr {
            let mut s = self.shared.session();
            if s.attached {
                s.attached = false;
                s.gone = true;
                drop(s);
                self.shared.jobs().jobs.clear();
                stderr_text(&jobs::gone_message(e));
            }
        }
    }

    fn out(&self, s: &str) {
        stdout_text(s);
    }

    fn exec(&mut self, c: Command) -> Flow {
        use Command as C;
        match c {
            C::Empty => {}
            C::Add(lines) => self.add(&lines),
            C::Alias { name, body } => self.alias(name, body),
            C::Conf => self.conf(),
            C::Delete(names) => self.delete(&names),
            C::Echo(words) => self.out(&format!("{}\n", words.join(" "))),
            C::Export(names) => self.export(&names),
            C::Get { name, index } => self.get(&name, index),
            C::Getopt(name) => self.getopt(name.as_deref()),
            C::Halt => return self.halt(),
            C::Help(None) => self.out(&help::general_help()),
            C::Help(Some(name)) => match help::command_help(&name) {
                Some(t) => self.out(&t),
                None => self.error(&format!("help: no command \"{name}\"")),
            },
            C::Id => match task::mytid() {
                Ok(t) => self.out(&format!("{}\n", tid::fmt(t))),
                Err(e) => self.call_failed("pvm_mytid", e),
            },
            C::Jobs { long } => self.jobs(long),
            C::Kill { children, tids } => self.kill(children, &tids),
            C::Mstat(names) => {
                for n in names {
                    match task::mstat(&n) {
                        Err(Error::SysErr) => self.call_failed("pvm_mstat", Error::SysErr),
                        r => self.out(&format::mstat(&n, r)),
                    }
                }
            }
            C::Names(pat) => match task::getmboxinfo(pat.unwrap_or_default().as_bytes()) {
                Ok(classes) => self.out(&format::names(&classes)),
                Err(e) => self.call_failed("pvm_getmboxinfo", e),
            },
            C::Ps(o) => self.ps(&o),
            C::Pstat(tids) => {
                for t in tids {
                    match task::pstat(t) {
                        Err(Error::SysErr) => self.call_failed("pvm_pstat", Error::SysErr),
                        r => self.out(&format::pstat(t, r)),
                    }
                }
            }
            C::Put { name, flags, value } => self.put(&name, flags, &value),
            C::Quit => return Flow::Quit,
            C::Reset => self.reset(),
            C::ResetInfo { class, index } => self.reset_info(class.as_deref(), index),
            C::Restart => self.restart(),
            C::Setenv { name, value } => self.setenv(name, value),
            C::Setopt { name, value } => self.setopt(&name, value),
            C::Sig { sig, tids } => {
                for t in tids {
                    if let Err(e) = task::sendsig(t, sig) {
                        self.call_failed("pvm_sendsig", e);
                    }
                }
            }
            C::Spawn(s) => self.spawn(&s),
            C::Tickle(args) => match task::tickle(&args) {
                Ok(res) => self.out(&format::tickle(&res)),
                Err(e) => self.call_failed("pvm_tickle", e),
            },
            C::Trace(args) => match trace::command(&args) {
                Ok(text) => self.out(&text),
                Err(e) => self.error(&e),
            },
            C::Unalias(names) => {
                for n in names {
                    self.aliases.remove(&n);
                }
            }
            C::Unexport(names) => {
                for n in names {
                    let _ = task::unexport(&n);
                }
            }
            C::Version => self.out(&format!("{}\n", crate::consts::PVM_VER)),
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::startup::same_host;
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_line() {
        assert_eq!(
            parse_args(&s(&["-d0x41", "-nfoo", "hosts"])).unwrap(),
            Options {
                debug_mask: Some("0x41".into()),
                name: Some("foo".into()),
                hostfile: Some("hosts".into()),
            }
        );
        assert_eq!(
            parse_args(&s(&["-n", "bar"])).unwrap().name.as_deref(),
            Some("bar")
        );
        assert!(parse_args(&s(&["-z"])).is_err());
        assert!(parse_args(&s(&["a", "b"])).is_err());
        assert!(parse_args(&s(&["-d"])).is_err());
    }

    #[test]
    fn the_masters_own_line_is_recognised() {
        assert!(same_host("node1", "node1"));
        assert!(same_host("NODE1.example.org", "node1"));
        assert!(same_host("node1", "node1.example.org"));
        assert!(same_host("localhost", "node1"));
        assert!(same_host("::1", "node1"));
        assert!(same_host("[::1]", "node1"));
        assert!(same_host("127.0.0.1", "node1"));
        assert!(!same_host("node2", "node1"));
        assert!(!same_host("2001:db8::99", "node1"));
    }

    #[test]
    fn host_lines_from_hostfile() {
        let hf = hostfile::Hostfile::parse("* lo=joe sp=2\nnode2 wd=/tmp\n$node3 so=pw\n").unwrap();
        assert_eq!(host_line(&hf.hosts[0]), "node2 lo=joe wd=/tmp sp=2");
        assert_eq!(host_line(&hf.hosts[1]), "$node3 lo=joe so=pw sp=2");
    }

    #[test]
    fn aliases_expand() {
        let mut c = Console {
            shared: Shared::new(Box::new(|_| {}), false),
            aliases: BTreeMap::new(),
            failed: false,
            me: 0,
            in_reset: false,
            allocation: None,
        };
        c.aliases.insert("ll".into(), s(&["ps", "-a"]));
        c.aliases.insert("p".into(), s(&["ll", "-l"]));
        c.aliases.insert("ps".into(), s(&["ps", "-x"]));
        c.aliases.insert("loop".into(), s(&["loop2"]));
        c.aliases.insert("loop2".into(), s(&["loop"]));
        assert_eq!(
            c.expand_alias(s(&["p", "x"])).unwrap(),
            s(&["ps", "-x", "-a", "-l", "x"])
        );
        assert!(c.expand_alias(s(&["loop"])).is_err());
        assert_eq!(c.expand_alias(s(&["conf"])).unwrap(), s(&["conf"]));
    }
}
