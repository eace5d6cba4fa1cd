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
//! This file: command-line options, startup (`$HOME/.pvmrc`, a hostfile),
//! the input loop and the execution of each command. Behaviour and the
//! choices made where PVM 3.4.6 gives none are documented in
//! docs/CONSOLE.md.

pub mod format;
pub mod help;
pub mod jobs;
pub mod parse;

pub use parse::{parse_line, Command, ParseError};

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

/// Whether a daemon answers on this user's socket.
fn daemon_running(files: &DaemonFiles) -> bool {
    std::os::unix::net::UnixStream::connect(&files.sock).is_ok()
}

/// Waits until process `pid` is gone (or a zombie), at most `limit`.
fn wait_process_gone(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                let state = stat
                    .rsplit(')')
                    .next()
                    .and_then(|s| s.split_whitespace().next());
                if state == Some("Z") {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Whether hostfile name `name` is the master `me` (the daemon skips the
/// line naming its own host; names may be given with or without a domain).
fn same_host(name: &str, me: &str) -> bool {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let bare = bare.split('%').next().unwrap_or(bare);
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        let ip = ip.to_canonical();
        return ip.is_loopback()
            || crate::net::addr::local_addresses()
                .iter()
                .any(|a| a.to_canonical() == ip);
    }
    let short = |s: &str| s.split('.').next().unwrap_or("").to_ascii_lowercase();
    name.eq_ignore_ascii_case(me)
        || short(name) == short(me)
        || name.eq_ignore_ascii_case("localhost")
}

/// A host line (hostfile syntax) for `e`, its options merged with the
/// defaults it was read with.
pub fn host_line(e: &HostEntry) -> String {
    let o = &e.opts;
    let mut s = String::new();
    if e.overload_ok {
        s.push('$');
    }
    s.push_str(&e.name);
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            s.push_str(&format!(" {k}={v}"));
        }
    };
    opt("lo", o.lo.clone());
    opt("so", o.so_pw.then(|| "pw".to_string()));
    opt("so", o.manual.then(|| "ms".to_string()));
    opt("dx", o.dx.clone());
    opt("ep", o.ep.clone());
    opt("wd", o.wd.clone());
    opt("sp", o.sp.map(|v| v.to_string()));
    opt("bx", o.bx.clone());
    opt("ip", o.ip.clone());
    opt("id", o.id.clone());
    opt("po", o.po.map(|v| v.to_string()));
    s
}

/// How the console found its daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Started {
    /// It started the daemon, with the hostfile when one was given (the
    /// daemon then added its hosts and took the master's own line).
    WithHostfile,
    /// A daemon was running already.
    Attached,
}

impl Console {
    /// Attaches to the running daemon or starts one (as `pvmd3 [-d] [-n]
    /// [hostfile]` would, so the master takes its own hostfile line and the
    /// `*` options before it); enrolls.
    fn attach(&mut self, opts: &Options) -> Result<Started, String> {
        let files = DaemonFiles::current();
        let mut started = Started::Attached;
        if daemon_running(&files) {
            stderr_text("pvmd already running.\n");
            if opts.debug_mask.is_some() || opts.name.is_some() {
                stderr_text("pvm: -d and -n apply only when the console starts pvmd: ignored\n");
            }
        } else {
            let mut args = Vec::new();
            if let Some(m) = &opts.debug_mask {
                args.push(format!("-d{m}"));
            }
            if let Some(n) = &opts.name {
                args.push(format!("-n{n}"));
            }
            if let Some(hf) = &opts.hostfile {
                args.push(hf.display().to_string());
            }
            match task::start_pvmd(&args, true) {
                Ok(()) => started = Started::WithHostfile,
                // Another program started one meanwhile: attach to it.
                Err(Error::DupHost) => stderr_text("pvmd already running.\n"),
                Err(e) => return Err(format!("cannot start pvmd: {}", e.text())),
            }
        }
        self.enroll()?;
        Ok(started)
    }

    /// After starting the daemon with a hostfile: says which of its hosts
    /// (not `&`, not this host) are not in the machine; the daemon's log
    /// tells why.
    fn check_hostfile(&mut self, path: &Path) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let Ok(hf) = hostfile::Hostfile::parse(&text) else {
            return;
        };
        let Ok((_, hosts)) = task::config() else {
            return;
        };
        let me = hosts.first().map(|h| h.name.clone()).unwrap_or_default();
        let missing: Vec<&str> = hf
            .hosts
            .iter()
            .filter(|e| !e.no_start)
            .filter(|e| !hosts.iter().any(|h| h.name.eq_ignore_ascii_case(&e.name)))
            .filter(|e| !same_host(&e.name, &me))
            .map(|e| e.name.as_str())
            .collect();
        if !missing.is_empty() {
            self.error(&format!(
                "pvm: hostfile {}: not added: {} (see {})",
                path.display(),
                missing.join(" "),
                DaemonFiles::current().log.display()
            ));
        }
    }

    fn enroll(&mut self) -> Result<(), String> {
        let me = task::mytid().map_err(|e| format!("cannot contact pvmd: {}", e.text()))?;
        self.me = me;
        // Like PVM 3.4.6's console: `reset` (from any console) spares it.
        let _ = task::setopt(OPT_NO_RESET, 1);
        let mut s = self.shared.session();
        s.attached = true;
        s.gone = false;
        Ok(())
    }

    /// Adds the hosts of a hostfile (those not marked `&` and not in the
    /// machine yet).
    fn add_hostfile(&mut self, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.error(&format!(
                    "pvm: cannot read hostfile {}: {e}",
                    path.display()
                ));
                return;
            }
        };
        let hf = match hostfile::Hostfile::parse(&text) {
            Ok(h) => h,
            Err(e) => {
                self.error(&format!("pvm: hostfile {}: {e}", path.display()));
                return;
            }
        };
        let known: Vec<String> = task::config()
            .map(|(_, h)| h.into_iter().map(|h| h.name).collect())
            .unwrap_or_default();
        let me = known.first().cloned().unwrap_or_default();
        if let Some(own) = hf
            .hosts
            .iter()
            .find(|e| same_host(&e.name, &me) && !e.opts.is_empty())
        {
            stderr_text(&format!(
                "pvm: options of hostfile line \"{}\" ignored: they apply when pvm starts pvmd\n",
                own.name
            ));
        }
        let entries: Vec<&HostEntry> = hf
            .hosts
            .iter()
            .filter(|e| !e.no_start && !known.contains(&e.name) && !same_host(&e.name, &me))
            .collect();
        if entries.is_empty() {
            return;
        }
        let lines: Vec<String> = entries.iter().map(|e| host_line(e)).collect();
        let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
        self.do_add(&names, &lines);
    }

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
            C::Trace(_) => self.error(
                "trace: tracing is not implemented in pvm6 (PvmNotImpl; see docs/COMPATIBILITY.md)",
            ),
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

    fn alias(&mut self, name: Option<String>, body: Vec<String>) {
        match name {
            None => {
                let mut s = String::new();
                for (n, b) in &self.aliases {
                    s.push_str(&format!("{n}\t{}\n", b.join(" ")));
                }
                self.out(&s);
            }
            Some(n) if body.is_empty() => {
                if let Some(b) = self.aliases.get(&n) {
                    self.out(&format!("{n}\t{}\n", b.join(" ")));
                }
            }
            Some(n) => {
                self.aliases.insert(n, body);
            }
        }
    }

    fn conf(&mut self) {
        match task::config() {
            Ok((narch, hosts)) => self.out(&format::conf(narch, &hosts)),
            Err(e) => self.call_failed("pvm_config", e),
        }
    }

    fn add(&mut self, args: &[String]) {
        let mut lines = Vec::new();
        let mut names = Vec::new();
        for a in args {
            match hostfile::parse_line(a) {
                Ok(Some(e)) => {
                    names.push(e.name.clone());
                    lines.push(host_line(&e));
                }
                Ok(None) => {}
                Err(e) => {
                    self.error(&format!("add: {e}"));
                    return;
                }
            }
        }
        if !lines.is_empty() {
            self.do_add(&names, &lines);
        }
    }

    fn do_add(&mut self, names: &[String], lines: &[String]) {
        match task::addhosts(lines) {
            Ok((_, results)) => {
                if results.iter().any(|&r| format::is_error_code(r)) {
                    self.failed = true;
                }
                self.out(&format::add_result(names, &results));
            }
            Err(e) => self.call_failed("pvm_addhosts", e),
        }
    }

    fn delete(&mut self, names: &[String]) {
        match task::delhosts(names) {
            Ok((_, results)) => {
                if results.iter().any(|&r| format::is_error_code(r)) {
                    self.failed = true;
                }
                self.out(&format::delete_result(names, &results));
            }
            Err(e) => self.call_failed("pvm_delhosts", e),
        }
    }

    fn export(&mut self, names: &[String]) {
        if names.is_empty() {
            let cur = std::env::var("PVM_EXPORT").unwrap_or_default();
            self.out(&format!("PVM_EXPORT={cur}\n"));
        }
        for n in names {
            let _ = task::export(n);
        }
    }

    fn setenv(&mut self, name: Option<String>, value: Option<String>) {
        match (name, value) {
            (None, _) => {
                let mut s = String::new();
                for (k, v) in std::env::vars_os() {
                    s.push_str(&format!(
                        "{}={}\n",
                        k.to_string_lossy(),
                        v.to_string_lossy()
                    ));
                }
                self.out(&s);
            }
            (Some(n), None) => {
                if let Some(v) = std::env::var_os(&n) {
                    self.out(&format!("{}\n", v.to_string_lossy()));
                }
            }
            (Some(n), Some(v)) => {
                if n.is_empty() || n.contains('=') || n.contains('\0') || v.contains('\0') {
                    self.error(&format!("setenv: bad variable name \"{n}\""));
                } else {
                    std::env::set_var(n, v);
                }
            }
        }
    }

    fn getopt(&mut self, name: Option<&str>) {
        let list: Vec<(&str, i32)> = match name {
            None => format::OPTIONS.to_vec(),
            Some(n) => match format::option_code(n) {
                Some(c) => vec![(n, c)],
                None => {
                    self.failed = true;
                    self.out(&format::option_unknown(n));
                    return;
                }
            },
        };
        let mut s = String::new();
        for (n, c) in list {
            match task::getopt(c) {
                Ok(v) => s.push_str(&format::option_value(n, v)),
                Err(e) => s.push_str(&format!("{n}: {}\n", e.text())),
            }
        }
        self.out(&s);
    }

    fn setopt(&mut self, name: &str, value: i32) {
        let Some(code) = format::option_code(name) else {
            self.failed = true;
            self.out(&format::option_unknown(name));
            return;
        };
        match task::setopt(code, value) {
            Ok(old) => self.out(&format::option_changed(name, old, value)),
            Err(e) => self.call_failed("pvm_setopt", e),
        }
    }

    /// Host names by host tid, from pvm_config.
    fn host_names(&mut self) -> Option<(Vec<HostInfo>, BTreeMap<i32, String>)> {
        match task::config() {
            Ok((_, hosts)) => {
                let m = hosts
                    .iter()
                    .map(|h| (tid::host_of(h.tid), h.name.clone()))
                    .collect();
                Some((hosts, m))
            }
            Err(e) => {
                self.call_failed("pvm_config", e);
                None
            }
        }
    }

    fn ps(&mut self, o: &PsOpts) {
        let Some((hosts, names)) = self.host_names() else {
            return;
        };
        let where_ = if let Some(h) = o.host_tid {
            tid::host_of(h)
        } else if let Some(n) = &o.host_name {
            match hosts
                .iter()
                .find(|h| crate::net::addr::same_host(n, &h.name))
            {
                Some(h) => tid::host_of(h.tid),
                None => {
                    self.error(&format!("ps: {n}: {}", Error::NoHost.text()));
                    return;
                }
            }
        } else if o.all {
            0
        } else {
            tid::host_of(self.me)
        };
        let list = match task::tasks(where_) {
            Ok(l) => l,
            Err(e) => return self.call_failed("pvm_tasks", e),
        };
        let mut s = format::ps_header(o.long);
        for t in list.iter().filter(|t| o.extra || t.tid != self.me) {
            s.push_str(&self.ps_line(&names, t, o.long));
        }
        self.out(&s);
    }

    fn ps_line(&self, names: &BTreeMap<i32, String>, t: &TaskInfo, long: bool) -> String {
        let host = names
            .get(&tid::host_of(t.host))
            .or_else(|| names.get(&tid::host_of(t.tid)))
            .cloned()
            .unwrap_or_else(|| format!("{:x}", tid::host_of(t.tid)));
        format::ps_row(&host, t, self.me, long)
    }

    fn jobs(&mut self, long: bool) {
        let list: Vec<(i32, Vec<i32>)> = self
            .shared
            .jobs()
            .jobs
            .iter()
            .map(|(n, j)| (*n, j.live.iter().copied().collect()))
            .collect();
        if !long {
            let mut s = String::new();
            for (n, tids) in list {
                let t: Vec<String> = tids.iter().map(|&t| tid::fmt(t)).collect();
                s.push_str(&format!("{n:2}: {}\n", t.join(" ")));
            }
            return self.out(&s);
        }
        let Some((_, names)) = self.host_names() else {
            return;
        };
        let all = match task::tasks(0) {
            Ok(l) => l,
            Err(e) => return self.call_failed("pvm_tasks", e),
        };
        let mut s = format::ps_header(false);
        for (n, tids) in list {
            s.push_str(&format!("{n:2}:\n"));
            for t in all.iter().filter(|t| tids.contains(&t.tid)) {
                s.push_str(&self.ps_line(&names, t, false));
            }
        }
        self.out(&s);
    }

    fn kill(&mut self, children: bool, tids: &[i32]) {
        let targets: Vec<i32> = if children {
            match task::tasks(0) {
                Ok(all) => all
                    .iter()
                    .filter(|t| tids.contains(&t.ptid) && t.tid != self.me)
                    .map(|t| t.tid)
                    .collect(),
                Err(e) => return self.call_failed("pvm_tasks", e),
            }
        } else {
            tids.to_vec()
        };
        for t in targets {
            if t == self.me {
                self.error("kill: not killing the console (use quit or halt)");
                continue;
            }
            if let Err(e) = task::kill(t) {
                self.call_failed("pvm_kill", e);
            }
        }
    }

    fn spawn(&mut self, s: &SpawnSpec) {
        if s.trace.is_some() {
            return self.error(
                "spawn: tracing (-@) is not implemented in pvm6 (PvmNotImpl; see docs/COMPATIBILITY.md)",
            );
        }
        let mut flags = NO_SPAWN_PARENT;
        if s.debug {
            flags |= TASK_DEBUG;
        }
        if let Some(w) = &s.where_ {
            let (place, _) = crate::net::split_where(w);
            if !place.is_empty() {
                let is_arch = !s.force_host
                    && task::config()
                        .map(|(_, hosts)| hosts.iter().any(|h| h.arch == place))
                        .unwrap_or(false);
                flags |= if is_arch { TASK_ARCH } else { TASK_HOST };
            }
        }
        let sink = match &s.output {
            JobOutput::None => None,
            JobOutput::Console => Some(Sink::Console),
            JobOutput::File(p) | JobOutput::Append(p) => {
                let append = matches!(s.output, JobOutput::Append(_));
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(append)
                    .truncate(!append)
                    .open(p);
                match f {
                    Ok(f) => Some(Sink::File(f)),
                    Err(e) => return self.error(&format!("spawn: cannot open {p}: {e}")),
                }
            }
        };
        let job = sink.map(|k| self.shared.jobs().open(k));
        let mut saved = None;
        if let Some(n) = job {
            self.out(&format!("[{n}]\n"));
            let old_tid = task::setopt(OPT_OUTPUT_TID, self.me);
            let old_code = task::setopt(OPT_OUTPUT_CODE, JOB_TAG_BASE + n);
            saved = Some((old_tid.unwrap_or(0), old_code.unwrap_or(0)));
        }
        let r = task::spawn(&s.file, &s.args, flags, s.where_.as_deref(), s.count);
        if let Some((t, c)) = saved {
            let _ = task::setopt(OPT_OUTPUT_TID, t);
            let _ = task::setopt(OPT_OUTPUT_CODE, c);
        }
        match r {
            Ok(results) => {
                if results.iter().any(|&t| t <= 0) {
                    self.failed = true;
                }
                self.out(&format::spawn_result(&results));
                if let Some(n) = job {
                    self.shared.register(n, &results);
                }
            }
            Err(e) => {
                if let Some(n) = job {
                    self.shared.register(n, &[]);
                }
                self.call_failed("pvm_spawn", e);
            }
        }
    }

    fn put(&mut self, name: &str, flags: i32, value: &str) {
        let _s = self.shared.session();
        let r = task::with_bufs(|t| {
            let id = t.mkbuf(Encoding::Default);
            t.get_mut(id)?.pack_str(value.as_bytes())?;
            Ok(id)
        })
        .and_then(|id| {
            let r = task::putinfo(name.as_bytes(), id, flags);
            let _ = task::with_bufs(|t| t.freebuf(id));
            r
        });
        drop(_s);
        if let Err(e) = r {
            self.call_failed("pvm_putinfo", e);
        }
    }

    fn get(&mut self, name: &str, index: i32) {
        let s = self.shared.session();
        let r = task::recvinfo(name.as_bytes(), index, 0).and_then(|id| {
            let v = task::with_bufs(|t| t.get_mut(id)?.unpack_str());
            let _ = task::with_bufs(|t| {
                let _ = t.freebuf(id);
                t.set_rbuf(0).map(|_| ())
            });
            v
        });
        drop(s);
        match r {
            Ok(v) => self.out(&format!("{}\n", String::from_utf8_lossy(&v))),
            Err(e) => self.call_failed("pvm_recvinfo", e),
        }
    }

    fn reset(&mut self) {
        let spare = task::getnoresets().unwrap_or_default();
        match task::tasks(0) {
            Ok(all) => {
                let me = self.me;
                let victims: Vec<i32> = all
                    .iter()
                    .filter(|t| t.tid != me && !spare.contains(&t.tid))
                    .map(|t| t.tid)
                    .collect();
                for t in victims {
                    if let Err(e) = task::kill(t) {
                        if e != Error::NoTask {
                            self.call_failed("pvm_kill", e);
                        }
                    }
                }
            }
            Err(e) => return self.call_failed("pvm_tasks", e),
        }
        self.in_reset = true;
        self.reset_info(None, None);
        self.in_reset = false;
    }

    /// Removes persistent mailbox entries whose owner has exited. pvm6's
    /// pvmd refuses to delete them (PvmDenied): those are counted and
    /// reported, a failure only for `reset info` itself.
    fn reset_info(&mut self, class: Option<&str>, index: Option<i32>) {
        let explicit = class.is_some() || index.is_some() || !self.in_reset;
        let classes = match task::getmboxinfo(class.unwrap_or("").as_bytes()) {
            Ok(c) => c,
            Err(e) => return self.call_failed("pvm_getmboxinfo", e),
        };
        let mut kept = 0;
        for c in classes {
            if class.is_some_and(|n| n.as_bytes() != c.name.as_slice()) {
                continue;
            }
            for (&i, &o) in c.indices.iter().zip(&c.owners) {
                if o != 0 || index.is_some_and(|x| x != i) {
                    continue;
                }
                match task::delinfo(&c.name, i, 0) {
                    Ok(_) | Err(Error::NotFound) => {}
                    Err(Error::Denied) => kept += 1,
                    Err(e) => self.call_failed("pvm_delinfo", e),
                }
            }
        }
        if kept > 0 {
            let msg = format!(
                "reset: {kept} orphaned persistent mailbox entr{} kept (pvmd refuses to delete them)",
                if kept == 1 { "y" } else { "ies" }
            );
            if explicit {
                self.error(&msg);
            } else {
                stderr_text(&format!("{msg}\n"));
            }
        }
    }

    fn halt(&mut self) -> Flow {
        let pid: Option<u32> = std::fs::read_to_string(&DaemonFiles::current().pid)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let mut s = self.shared.session();
        s.attached = false;
        let r = task::halt();
        drop(s);
        self.shared.jobs().jobs.clear();
        match r {
            // The daemon may close the connection before its reply arrives.
            Ok(()) | Err(Error::SysErr) => {}
            Err(e) => {
                self.call_failed("pvm_halt", e);
                self.shared.session().attached = true;
                return Flow::Continue;
            }
        }
        if let Some(pid) = pid {
            if !wait_process_gone(pid, Duration::from_secs(10)) {
                self.error(&format!("halt: pvmd (pid {pid}) still running"));
            }
        }
        Flow::Halted
    }

    fn restart(&mut self) {
        let s = self.shared.session();
        if s.attached && !s.gone {
            drop(s);
            return self.error("restart: pvmd is running (halt it first)");
        }
        drop(s);
        let _ = task::exit();
        if !daemon_running(&DaemonFiles::current()) {
            match task::start_pvmd(&[], true) {
                Ok(()) | Err(Error::DupHost) => {}
                Err(e) => return self.error(&format!("restart: cannot start pvmd: {}", e.text())),
            }
        }
        match self.enroll() {
            Ok(()) => self.out(&format!(
                "pvmd restarted, console is {}\n",
                tid::fmt(self.me)
            )),
            Err(msg) => self.error(&format!("restart: {msg}")),
        }
    }
}

#[cfg(test)]
mod tests {
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
