//! The slow calls of host start-up, off the event loop: name lookups
//! (getaddrinfo, which may wait on a slow DNS server for many seconds) and
//! starting the launcher's process (fork/exec of the remote shell or
//! `srun`, and writing the machine's secret to its stdin). A few worker
//! threads do them; each result comes back through a channel and wakes the
//! loop through a `mio::Waker` on [`WORK`], as an event
//! ([`Daemon::work_event`]). Nothing the loop serves waits meanwhile.

use super::super::server::Daemon;
use crate::net::addr::{self, HostName};
use mio::{Registry, Token, Waker};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// The loop's token for finished work.
pub(in crate::daemon) const WORK: Token = Token(usize::MAX - 3);
/// At most this many worker threads (each holds one lookup or spawn).
const MAX_WORKERS: usize = 16;

/// Work for a thread.
pub(super) enum Job {
    /// Look `name` up (port 0).
    Lookup { id: u64, name: HostName },
    /// Run `cmd` (stdin, stdout piped) and write `input` to its stdin,
    /// then close it.
    Spawn {
        id: u64,
        cmd: Box<Command>,
        input: String,
    },
}

/// A finished job.
pub(super) enum Done {
    Lookup {
        id: u64,
        res: io::Result<Vec<SocketAddr>>,
    },
    Spawn {
        id: u64,
        res: io::Result<Child>,
    },
}

/// The worker threads: created on first use, they end when this is dropped
/// (their job channel closes).
pub(super) struct Workers {
    jobs: mpsc::Sender<Job>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    done_tx: mpsc::Sender<Done>,
    done: mpsc::Receiver<Done>,
    waker: Arc<Waker>,
    threads: usize,
    idle: Arc<AtomicUsize>,
}

impl Workers {
    pub(super) fn new(registry: &Registry) -> io::Result<Workers> {
        let (jobs, rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        Ok(Workers {
            jobs,
            queue: Arc::new(Mutex::new(rx)),
            done_tx,
            done,
            waker: Arc::new(Waker::new(registry, WORK)?),
            threads: 0,
            idle: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Queues `job`, starting a thread when none is idle (up to the limit).
    pub(super) fn submit(&mut self, job: Job) -> io::Result<()> {
        if self.idle.load(Ordering::SeqCst) == 0 && self.threads < MAX_WORKERS {
            let queue = Arc::clone(&self.queue);
            let done = self.done_tx.clone();
            let waker = Arc::clone(&self.waker);
            let idle = Arc::clone(&self.idle);
            std::thread::Builder::new()
                .name("pvmd-start".into())
                .spawn(move || worker(&queue, &done, &waker, &idle))?;
            self.threads += 1;
        }
        self.jobs
            .send(job)
            .map_err(|_| io::Error::other("start workers gone"))
    }

    /// The results that arrived.
    pub(super) fn take(&self) -> Vec<Done> {
        self.done.try_iter().collect()
    }
}

fn worker(
    queue: &Mutex<mpsc::Receiver<Job>>,
    done: &mpsc::Sender<Done>,
    waker: &Waker,
    idle: &AtomicUsize,
) {
    loop {
        idle.fetch_add(1, Ordering::SeqCst);
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        idle.fetch_sub(1, Ordering::SeqCst);
        let Ok(job) = job else {
            return;
        };
        let out = match job {
            Job::Lookup { id, name } => Done::Lookup {
                id,
                res: addr::resolve(&name, 0),
            },
            Job::Spawn { id, mut cmd, input } => Done::Spawn {
                id,
                res: cmd.spawn().map(|mut child| {
                    // The secret travels on stdin, never on a command line.
                    if let Some(mut stdin) = child.stdin.take() {
                        let _ = stdin.write_all(input.as_bytes());
                    }
                    child
                }),
            },
        };
        if done.send(out).is_err() {
            return;
        }
        let _ = waker.wake();
    }
}

impl Daemon {
    /// A launcher's (remote shell, srun) standard streams: the secret goes
    /// in on stdin, the reply lines come back on stdout, and what it says
    /// on stderr goes to the daemon's log.
    pub(super) fn launcher_stdio(&self, c: &mut Command) {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(self.log.for_child());
    }

    /// Queues a job for the workers (made on first use). An error means
    /// the work cannot be done (no thread, no waker).
    pub(super) fn submit_work(&mut self, job: Job) -> io::Result<()> {
        if self.starting.work.is_none() {
            self.starting.work = Some(Workers::new(self.poll.registry())?);
        }
        match self.starting.work.as_mut() {
            Some(w) => w.submit(job),
            None => Err(io::Error::other("no start workers")),
        }
    }

    /// [`WORK`] fired: the results go on where they were left.
    pub(in crate::daemon) fn work_event(&mut self) {
        let done = self
            .starting
            .work
            .as_ref()
            .map(Workers::take)
            .unwrap_or_default();
        for d in done {
            match d {
                Done::Lookup { id, res } => self.looked_up(id, res),
                Done::Spawn { id, res } => self.spawned(id, res),
            }
        }
    }
}
