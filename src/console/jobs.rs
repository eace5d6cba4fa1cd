//! Spawn jobs and their output. `spawn ->`, `->file` and `->>file` make a
//! job: its tasks get the console as output destination (PvmOutputTid) with
//! a tag of their own (PvmOutputCode = [`JOB_TAG_BASE`] + job number), so
//! the daemon sends their output to the console as messages `(tid, count,
//! bytes)` (count -2: spawned, -1: begun, 0: end of output). Children of the
//! job's tasks inherit the destination and belong to the job too.
//!
//! A background thread ([`Receiver`]) receives those messages through the
//! library's thread-safe API (trecv with a short timeout, holding the
//! [`Session`] lock so that it never races `halt`, `restart` or the mailbox
//! commands that use the receive buffer) and prints them as PVM 3.4.6's
//! console does: `[1:t40002] text` per line, `[1:t40002] EOF` at a task's
//! end of output, `[1] finished` when the last task of the job ended. The
//! begin announcements are not printed.

use crate::sync::Locked;
use crate::task;
use crate::tid;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Output tags of jobs are this plus the job number.
pub const JOB_TAG_BASE: i32 = 0x0500_0000;
/// How long one receive waits before the thread looks at its flags again.
const POLL: Duration = Duration::from_millis(50);

/// Where lines for the user go (stdout, or rustyline's printer on a tty).
pub type Printer = Box<dyn FnMut(&str) + Send>;

/// The state shared by the console and the receiver thread.
pub struct Session {
    /// Enrolled and the daemon answers: the receiver may call PVM.
    pub attached: bool,
    /// The daemon went away (the receiver or a command noticed).
    pub gone: bool,
}

/// Where one job's output goes.
pub enum Sink {
    Console,
    File(File),
}

/// One spawn job.
pub struct Job {
    pub sink: Sink,
    /// The spawn call returned and its tids were added.
    pub registered: bool,
    /// Tasks whose output has begun and not ended.
    pub live: BTreeSet<i32>,
    /// Tasks whose output ended.
    pub ended: BTreeSet<i32>,
    /// Partial last lines, per task.
    partial: BTreeMap<i32, Vec<u8>>,
}

/// Jobs with output still open, by number.
#[derive(Default)]
pub struct Jobs {
    pub jobs: BTreeMap<i32, Job>,
    pub next: i32,
}

impl Jobs {
    /// Opens job number `next` (1, 2, ...) writing to `sink`.
    pub fn open(&mut self, sink: Sink) -> i32 {
        self.next += 1;
        let n = self.next;
        self.jobs.insert(
            n,
            Job {
                sink,
                registered: false,
                live: BTreeSet::new(),
                ended: BTreeSet::new(),
                partial: BTreeMap::new(),
            },
        );
        n
    }
}

/// The console's shared pieces.
#[derive(Clone)]
pub struct Shared {
    pub session: Arc<Mutex<Session>>,
    pub jobs: Arc<Mutex<Jobs>>,
    pub printer: Arc<Mutex<Printer>>,
    /// On a terminal: notices go through the printer (above the prompt);
    /// otherwise to stderr.
    pub interactive: bool,
    /// Held by the console while it runs a command: the output thread
    /// prints task output only between commands (as PVM 3.4.6's console,
    /// which reads task output while it waits for input), so a command's
    /// own lines are never split by it.
    pub busy: Arc<Mutex<()>>,
    stop: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.locked()
}

impl Shared {
    pub fn new(printer: Printer, interactive: bool) -> Shared {
        Shared {
            session: Arc::new(Mutex::new(Session {
                attached: false,
                gone: false,
            })),
            jobs: Arc::new(Mutex::new(Jobs::default())),
            printer: Arc::new(Mutex::new(printer)),
            interactive,
            busy: Arc::new(Mutex::new(())),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn session(&self) -> MutexGuard<'_, Session> {
        lock(&self.session)
    }

    pub fn jobs(&self) -> MutexGuard<'_, Jobs> {
        lock(&self.jobs)
    }

    /// Prints text (whole lines) for the user.
    pub fn print(&self, text: &str) {
        (lock(&self.printer))(text);
    }

    /// Prints task output from the output thread: waits until no command
    /// runs.
    fn print_between_commands(&self, text: &str) {
        let _quiet = lock(&self.busy);
        self.print(text);
    }

    /// Held while a command runs (see [`Shared::busy`]).
    pub fn running_command(&self) -> MutexGuard<'_, ()> {
        lock(&self.busy)
    }

    /// Prints a notice (not command output): stderr unless on a terminal.
    pub fn notice(&self, text: &str) {
        if self.interactive {
            self.print(text);
        } else {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(text.as_bytes());
            let _ = e.flush();
        }
    }

    /// Records the tids a job's spawn returned; closes the job when none
    /// started or all already ended.
    pub fn register(&self, job: i32, tids: &[i32]) {
        let mut out = String::new();
        {
            let mut jobs = self.jobs();
            if let Some(j) = jobs.jobs.get_mut(&job) {
                for &t in tids.iter().filter(|&&t| t > 0) {
                    if !j.ended.contains(&t) {
                        j.live.insert(t);
                    }
                }
                j.registered = true;
                let never_started = j.ended.is_empty() && j.live.is_empty();
                if j.live.is_empty() {
                    jobs.jobs.remove(&job);
                    if !never_started {
                        out = format!("[{job}] finished\n");
                    }
                }
            }
        }
        if !out.is_empty() {
            self.print(&out);
        }
    }

    /// Starts the receiver thread.
    pub fn start_receiver(&self) -> JoinHandle<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("pvm-console-output".into())
            .spawn(move || me.receive_loop())
            .expect("spawn the console's output thread")
    }

    /// Asks the receiver to stop (it does within [`POLL`]).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn receive_loop(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            let mut s = self.session();
            if !s.attached {
                drop(s);
                std::thread::sleep(POLL);
                continue;
            }
            match task::trecv(-1, -1, Some(POLL)) {
                Ok(0) => {}
                Ok(id) => {
                    let text = self.handle(id);
                    drop(s);
                    if !text.is_empty() {
                        self.print_between_commands(&text);
                    }
                }
                Err(e) => {
                    s.attached = false;
                    s.gone = true;
                    drop(s);
                    self.jobs().jobs.clear();
                    self.notice(&gone_message(e));
                }
            }
        }
    }

    /// One received message: job output, or something unexpected. Returns
    /// what to print on the console.
    fn handle(&self, id: i32) -> String {
        let info = task::bufinfo(id);
        if let Ok((len, tag, _)) = info {
            let job = tag - super::trace::TRACE_TAG_BASE;
            if job > 0 && job < JOB_TAG_BASE {
                return self.trace_event(id, job, len);
            }
        }
        let body = task::with_bufs(|t| {
            let b = t.get_mut(id)?;
            let mut head = [0i32; 2];
            b.unpack(&mut head, 2, 1)?;
            let mut data = Vec::new();
            if head[1] > 0 {
                data = vec![0u8; head[1] as usize];
                b.unpack(&mut data, head[1] as usize, 1)?;
            }
            Ok((head[0], head[1], data))
        });
        let _ = task::with_bufs(|t| {
            let _ = t.freebuf(id);
            t.set_rbuf(0).map(|_| ())
        });
        let Ok((_, tag, src)) = info else {
            return String::new();
        };
        let job = tag - JOB_TAG_BASE;
        match body {
            Ok((t, count, data)) if job > 0 && src & tid::DAEMON_BIT != 0 => {
                self.output(job, t, count, &data)
            }
            _ => {
                log::info!("console: message from {} tag {tag} ignored", tid::fmt(src));
                String::new()
            }
        }
    }

    /// A trace event of `job` (buffer `id` of `len` bytes): one line for
    /// the job's sink, `[job:tid] name(e.x)`.
    fn trace_event(&self, id: i32, job: i32, len: i32) -> String {
        let n = (len.max(0) as usize / 4).min(64);
        let ints = task::with_bufs(|t| {
            let b = t.get_mut(id)?;
            let mut v = vec![0i32; n];
            // The leading ints; a string in a descriptor is read as ints
            // too (its words are skipped by `describe`).
            let _ = b.unpack(&mut v, n, 1);
            Ok(v)
        })
        .unwrap_or_default();
        let _ = task::with_bufs(|t| {
            let _ = t.freebuf(id);
            t.set_rbuf(0).map(|_| ())
        });
        let Some((t, event)) = super::trace::describe(&ints) else {
            return String::new();
        };
        let line = format!("[{job}:{}] {event}\n", tid::fmt(t));
        let mut jobs = self.jobs();
        match jobs.jobs.get_mut(&job).map(|j| &mut j.sink) {
            Some(Sink::File(f)) => {
                let _ = f.write_all(line.as_bytes());
                String::new()
            }
            Some(Sink::Console) => line,
            None => String::new(),
        }
    }

    /// Output event of task `t` of `job`; returns the console's text.
    fn output(&self, job: i32, t: i32, count: i32, data: &[u8]) -> String {
        let mut console = String::new();
        {
            let mut jobs = self.jobs();
            let Some(j) = jobs.jobs.get_mut(&job) else {
                return String::new();
            };
            let prefix = format!("[{job}:{}] ", tid::fmt(t));
            let mut text = Vec::new();
            let line = |text: &mut Vec<u8>, l: &[u8]| {
                text.extend_from_slice(prefix.as_bytes());
                text.extend_from_slice(l);
                text.push(b'\n');
            };
            match count {
                n if n > 0 => {
                    if !j.ended.contains(&t) {
                        j.live.insert(t);
                    }
                    let p = j.partial.entry(t).or_default();
                    p.extend_from_slice(data);
                    let mut start = 0;
                    while let Some(i) = p[start..].iter().position(|&b| b == b'\n') {
                        line(&mut text, &p[start..start + i]);
                        start += i + 1;
                    }
                    p.drain(..start);
                }
                0 => {
                    if let Some(rest) = j.partial.remove(&t).filter(|r| !r.is_empty()) {
                        line(&mut text, &rest);
                    }
                    line(&mut text, b"EOF");
                    j.live.remove(&t);
                    j.ended.insert(t);
                }
                _ => {
                    if !j.ended.contains(&t) {
                        j.live.insert(t);
                    }
                }
            }
            match &mut j.sink {
                Sink::Console => console.push_str(&String::from_utf8_lossy(&text)),
                Sink::File(f) => {
                    if let Err(e) = f.write_all(&text) {
                        console.push_str(&format!("[{job}] cannot write output: {e}\n"));
                    }
                }
            }
            if j.registered && j.live.is_empty() {
                jobs.jobs.remove(&job);
                console.push_str(&format!("[{job}] finished\n"));
            }
        }
        console
    }
}

/// What the console says when the daemon went away.
pub fn gone_message(e: crate::Error) -> String {
    format!(
        "pvm: lost pvmd ({}): the virtual machine is gone.\n\
         pvm: type \"restart\" to start a new one, or \"quit\".\n",
        e.text()
    )
}
