//! Batch systems (docs/LAUNCH.md): the machine a job's allocation makes
//! (Slurm's nodes, PBS/Torque's node file as the hostfile, CPUs as speeds
//! so that pvm_spawn's placement follows them), and starting many slaves
//! with one `srun` step inside a Slurm allocation: one task per node, the
//! secret broadcast on the step's stdin, each slave's reply line prefixed
//! with `@INDEX`. The step is the slaves' lifetime: when it ends (the
//! allocation ended, the step was cancelled) while its hosts are in the
//! machine, the master halts the machine.

use super::super::server::{Daemon, SIGNALS};
use super::work::Job;
use crate::daemon::log::dlog;
use crate::daemon::startup::{self, SlaveArgs};
use crate::hostfile::{self, HostOpts};
use crate::launch::alloc::{self, Allocation, Launcher, System};
use crate::msg::{Buffer, Encoding};
use crate::Error;
use mio::Token;
use std::collections::HashMap;
use std::ffi::OsString;
use std::process::{Child, Command};

/// A Slurm start waiting for its group's step.
pub(in crate::daemon) struct Queued {
    id: u64,
    /// The node, as the allocation spells it.
    node: String,
    index: i32,
    /// The program srun runs, then its words (the same for every node of
    /// a step but `hosts=`).
    argv: Vec<String>,
}

/// One `srun` step and the slaves it runs.
pub(in crate::daemon) struct Step {
    pub(super) child: Option<Child>,
    pipe: Option<Token>,
    partial: Vec<u8>,
    /// The starts still waiting for their reply line, by host index.
    waiting: HashMap<i32, u64>,
    /// The hosts it added to the machine (host parts).
    hosts: Vec<i32>,
    /// Its nodes, for the log.
    nodes: String,
    /// A one-node job's step of its own (watch_step): no slaves.
    watch: bool,
}

/// `$PVM6_LAUNCHER` and the batch job's allocation, from the daemon's
/// environment `env` (logged by the daemon when it uses them).
pub(super) fn from_env(env: &[(OsString, OsString)]) -> (Launcher, Option<Allocation>) {
    let get = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.to_str())
            .map(str::to_string)
    };
    let launcher = get("PVM6_LAUNCHER")
        .and_then(|v| Launcher::parse(&v).ok())
        .unwrap_or_default();
    let alloc = Allocation::slurm(&get)
        .or_else(|| Allocation::pbs(&get, &|p| std::fs::read_to_string(p)))
        .and_then(Result::ok);
    (launcher, alloc)
}

impl Daemon {
    /// The launcher that starts host `e`: its `launcher=`, else
    /// `$PVM6_LAUNCHER`, `auto` meaning Slurm inside a Slurm allocation.
    pub(super) fn launcher_of(&self, e: &hostfile::HostEntry) -> Launcher {
        let in_slurm = self
            .starting
            .alloc
            .as_ref()
            .is_some_and(|a| a.system == System::Slurm);
        e.opts
            .launcher
            .unwrap_or(self.starting.launcher)
            .resolve(in_slurm)
    }

    /// Whether Slurm can start `name`: it must be a node of the allocation.
    pub(super) fn slurm_check(&mut self, name: &str) -> Result<(), Error> {
        match &self.starting.alloc {
            Some(a) if a.system == System::Slurm => {
                if a.cpus_of(name).is_some() {
                    return Ok(());
                }
                dlog!(
                    self.log,
                    Warn,
                    "add {name}: not a node of {}; Slurm starts daemons only there (ask Slurm for the node, or add it with launcher=ssh)",
                    a.describe()
                );
            }
            _ => dlog!(
                self.log,
                Warn,
                "add {name}: launcher slurm, but this daemon does not run inside a Slurm allocation (no SLURM_JOB_ID and SLURM_JOB_NODELIST)"
            ),
        }
        Err(Error::CantStart)
    }

    /// Queues start `id` (host `e`, slave arguments `args`) for the Slurm
    /// step of group `gid` (started once the group's lookups are done).
    pub(super) fn queue_step(
        &mut self,
        gid: u64,
        id: u64,
        e: &hostfile::HostEntry,
        args: SlaveArgs,
        speed: Option<i32>,
    ) {
        let node = self
            .starting
            .alloc
            .as_ref()
            .and_then(|a| {
                a.nodes
                    .iter()
                    .find(|(n, _)| alloc::same_host(n, &e.name))
                    .map(|(n, _)| n.clone())
            })
            .unwrap_or_else(|| e.name.clone());
        let index = args.index;
        // What differs between nodes goes through hosts= (index, name) or
        // stays with the master (speed); the rest is the step's command.
        let words: Vec<String> = args
            .to_words()
            .into_iter()
            .filter(|w| {
                !w.starts_with("index=") && !w.starts_with("name=") && !w.starts_with("sp=")
            })
            .collect();
        let mut argv = match &e.opts.dx {
            Some(dx) => vec![dx.clone()],
            // As over ssh: $PVM_DPATH or $PVM_ROOT/lib/pvmd there, else ours.
            None => vec![
                "/bin/sh".into(),
                "-c".into(),
                startup::PICK_DAEMON.into(),
                "pvmd".into(),
                self.starting.dx().to_string(),
            ],
        };
        argv.push("-s".into());
        argv.extend(words);
        if let Some(sp) = speed {
            self.starting.speeds.insert(id, sp);
        }
        self.starting
            .step_wait
            .entry(gid)
            .or_default()
            .push(Queued {
                id,
                node,
                index,
                argv,
            });
    }

    /// Group `gid`'s lookups are done: one `srun` step per distinct
    /// command (usually one) for its queued Slurm starts.
    pub(super) fn flush_step(&mut self, gid: u64) {
        let Some(queued) = self.starting.step_wait.remove(&gid) else {
            return;
        };
        let Some(job) = self.starting.alloc.as_ref().map(|a| a.job.clone()) else {
            return;
        };
        let mut batches: Vec<(Vec<String>, Vec<Queued>)> = Vec::new();
        for q in queued {
            match batches.iter_mut().find(|(argv, _)| *argv == q.argv) {
                Some((_, v)) => v.push(q),
                None => batches.push((q.argv.clone(), vec![q])),
            }
        }
        for (argv, qs) in batches {
            // Starts that ended meanwhile (deadline) are left out.
            let qs: Vec<Queued> = qs
                .into_iter()
                .filter(|q| self.starting.starts.contains_key(&q.id))
                .collect();
            if qs.is_empty() {
                continue;
            }
            let nodes: Vec<String> = qs.iter().map(|q| q.node.clone()).collect();
            let map: Vec<String> = qs
                .iter()
                .map(|q| format!("{}:{}", q.node, q.index))
                .collect();
            let mut words = argv[1..].to_vec();
            words.push(format!("hosts={}", map.join(",")));
            let sargs = alloc::srun_args(&job, &nodes, &argv[0], &words);
            let c = self.srun_step(&sargs);
            let sid = self.multi.id();
            dlog!(
                self.log,
                Info,
                "starting {} slave(s) with one Slurm step: srun {}",
                nodes.len(),
                sargs.join(" ")
            );
            let mut step = Step {
                child: None,
                pipe: None,
                partial: Vec::new(),
                waiting: HashMap::new(),
                hosts: Vec::new(),
                nodes: nodes.join(","),
                watch: false,
            };
            for q in &qs {
                step.waiting.insert(q.index, q.id);
                self.starting.start_step.insert(q.id, sid);
            }
            self.starting.steps.insert(sid, step);
            let job = Job::Spawn {
                id: sid,
                cmd: Box::new(c),
                input: format!("{}\n", self.multi.secret().to_hex()),
            };
            if let Err(err) = self.submit_work(job) {
                self.step_spawned(sid, Err(err));
            }
        }
    }

    /// srun started (or not).
    pub(super) fn step_spawned(&mut self, sid: u64, res: std::io::Result<Child>) {
        match res {
            Ok(mut child) => {
                let tok = child.stdout.take().and_then(|out| self.watch_pipe(out));
                if let Some(t) = tok {
                    self.starting.step_pipes.insert(t, sid);
                }
                if let Some(s) = self.starting.steps.get_mut(&sid) {
                    s.child = Some(child);
                    s.pipe = tok;
                }
            }
            Err(err) => {
                dlog!(self.log, Warn, "can't run srun: {err}");
                if let Some(s) = self.starting.steps.get_mut(&sid).filter(|s| s.watch) {
                    // Nothing ran: the machine goes on, not tied to the job.
                    s.hosts.clear();
                }
                self.step_ended(sid);
            }
        }
    }

    /// srun's stdout: the slaves' reply lines, `@INDEX pvm6 ...`.
    pub(super) fn step_pipe_event(&mut self, tok: Token) {
        let Some(&sid) = self.starting.step_pipes.get(&tok) else {
            return;
        };
        let (data, eof) = self.read_pipe_now(tok);
        let mut lines = Vec::new();
        if let Some(s) = self.starting.steps.get_mut(&sid) {
            s.partial.extend_from_slice(&data);
            while let Some(i) = s.partial.iter().position(|&b| b == b'\n') {
                lines.push(String::from_utf8_lossy(&s.partial[..i]).trim().to_string());
                s.partial.drain(..=i);
            }
        }
        for l in lines {
            let start = l
                .strip_prefix('@')
                .and_then(|r| r.split_once(' '))
                .and_then(|(i, rest)| Some((i.parse::<i32>().ok()?, rest.to_string())));
            let id = start.as_ref().and_then(|(i, _)| {
                self.starting
                    .steps
                    .get(&sid)
                    .and_then(|s| s.waiting.get(i).copied())
            });
            match (id, start) {
                (Some(id), Some((_, rest))) => self.start_line(id, &rest),
                _ => dlog!(self.log, Info, "srun: {l}"),
            }
        }
        if eof {
            self.close_start_pipe(tok);
            self.starting.step_pipes.remove(&tok);
            self.step_ended(sid);
        }
    }

    /// A start of step `sid` ended with `res`.
    pub(super) fn step_start_done(&mut self, sid: u64, index: i32, res: &Result<i32, Error>) {
        if let Some(s) = self.starting.steps.get_mut(&sid) {
            s.waiting.remove(&index);
            if let Ok(host) = res {
                s.hosts.push(*host);
            }
        }
    }

    /// The step ended (srun exited, or never ran): its waiting starts fail;
    /// if it had started hosts not deleted since, the machine halts with it.
    fn step_ended(&mut self, sid: u64) {
        let Some(mut s) = self.starting.steps.remove(&sid) else {
            return;
        };
        if let Some(c) = s.child.take() {
            self.starting.reap.push(c);
        }
        for (_, id) in s.waiting.drain() {
            if let Some(st) = self.starting.starts.get(&id) {
                if st.reply.is_none() {
                    let name = st.name.clone();
                    dlog!(
                        self.log,
                        Warn,
                        "add {name}: the Slurm step ended without the slave's reply line"
                    );
                    self.start_done(id, Err(Error::CantStart));
                }
            }
        }
        // Its slaves may have gone first (Slurm ends the tasks, then srun):
        // any host it started that pvm_delhosts did not delete counts.
        if !s.hosts.is_empty() && !self.is_halting() {
            dlog!(
                self.log,
                Warn,
                "the Slurm step of {} ended (the allocation ended or the step was cancelled): halting the machine",
                s.nodes
            );
            self.begin_halt(SIGNALS, "the end of the Slurm step");
        }
    }

    /// Host `host` was deleted on purpose (pvm_delhosts): its step's end
    /// no longer concerns the machine.
    pub(super) fn step_host_deleted(&mut self, host: i32) {
        for s in self.starting.steps.values_mut() {
            s.hosts.retain(|&h| h != host);
        }
    }

    /// A master without a hostfile inside a batch job builds the machine
    /// from the allocation: Slurm's nodes (when the launcher is Slurm) or
    /// PBS's node file, each node's CPUs (slots) as its speed.
    pub(super) fn alloc_machine(&mut self) {
        let Some(a) = self.starting.alloc.clone() else {
            return;
        };
        if !self.starting.known.hosts.is_empty() {
            return;
        }
        if a.system == System::Slurm && self.starting.launcher.resolve(true) != Launcher::Slurm {
            dlog!(
                self.log,
                Info,
                "in {}, but PVM6_LAUNCHER={}: the machine is this host",
                a.describe(),
                self.starting.launcher
            );
            return;
        }
        dlog!(self.log, Info, "building the machine from {}", a.describe());
        let mut hosts = Vec::new();
        for (node, cpus) in &a.nodes {
            let speed = alloc::speed_for_cpus(*cpus);
            if self.is_local_name(node) {
                self.opts.speed = speed;
                self.multi.set_own_speed(self.me.host(), speed);
                continue;
            }
            let opts = HostOpts {
                sp: Some(speed),
                ..HostOpts::default()
            };
            hosts.push(hostfile::HostEntry {
                name: node.clone(),
                opts: opts.merged_over(&self.starting.known.defaults),
                no_start: false,
                overload_ok: false,
                line: 0,
            });
        }
        let lone = a.system == System::Slurm && hosts.is_empty();
        self.starting.known.hosts = hosts;
        if lone {
            self.watch_step(&a);
        }
        // The console's `conf` (and any program) finds it in the mailbox.
        let mut b = Buffer::new(Encoding::Default);
        if b.pack_str(a.describe().as_bytes()).is_ok() {
            let persistent = 1;
            let _ = self.mbox.put(
                self.me.dtid(),
                alloc::MBOX_CLASS.as_bytes(),
                persistent,
                -1,
                0,
                b.into_bytes(),
            );
        }
    }

    /// A one-node Slurm job has no slave, so no slaves' step ties the
    /// machine to the job: the master runs a step of `sleep infinity` on
    /// its own node instead. Its end (the allocation ended, the step was
    /// cancelled) halts the machine as a slaves' step's end does; a halt
    /// of the machine ends it (kill_shells).
    fn watch_step(&mut self, a: &Allocation) {
        let Some((node, _)) = a.nodes.first() else {
            return;
        };
        let sargs = alloc::srun_args(
            &a.job,
            std::slice::from_ref(node),
            "sleep",
            &["infinity".into()],
        );
        let c = self.srun_step(&sargs);
        let sid = self.multi.id();
        dlog!(
            self.log,
            Info,
            "a one-node job: the machine ends with a Slurm step of its own: srun {}",
            sargs.join(" ")
        );
        // The master's own host stands for the machine: never deleted.
        let me = crate::tid::host_of(self.me.dtid());
        self.starting.steps.insert(
            sid,
            Step {
                child: None,
                pipe: None,
                partial: Vec::new(),
                waiting: HashMap::new(),
                hosts: vec![me],
                nodes: node.clone(),
                watch: true,
            },
        );
        let job = Job::Spawn {
            id: sid,
            cmd: Box::new(c),
            input: String::new(),
        };
        if let Err(err) = self.submit_work(job) {
            self.step_spawned(sid, Err(err));
        }
    }
}

impl Daemon {
    /// `srun` with `sargs`, its stdio as every launcher's. Memory options of
    /// the job's environment would clash with the step's own; the step
    /// takes the job's defaults.
    fn srun_step(&mut self, sargs: &[String]) -> Command {
        let mut c = Command::new("srun");
        c.args(sargs);
        for v in [
            "SLURM_MEM_PER_CPU",
            "SLURM_MEM_PER_NODE",
            "SLURM_MEM_PER_GPU",
        ] {
            c.env_remove(v);
        }
        self.launcher_stdio(&mut c);
        c
    }
}
