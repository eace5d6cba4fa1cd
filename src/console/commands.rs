//! The console's commands, one method each (`add`, `delete`, `conf`, `ps`,
//! `spawn`, `kill`, `reset`, `halt` ...), called by `Console::exec`.

use super::startup::{daemon_running, wait_process_gone};
use super::*;

impl Console {
    pub(super) fn alias(&mut self, name: Option<String>, body: Vec<String>) {
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

    pub(super) fn conf(&mut self) {
        match task::config() {
            Ok((narch, hosts)) => {
                let (timeout, suspects) = task::host_suspicions().unwrap_or_default();
                self.out(&format::conf_suspects(narch, &hosts, timeout, &suspects));
                // A machine made from a batch job's allocation says which
                // (the master's mailbox entry, docs/LAUNCH.md).
                if self.allocation.is_none() {
                    self.allocation = Some(self.mailbox_text(crate::launch::alloc::MBOX_CLASS));
                }
                if let Some(Some(a)) = &self.allocation {
                    self.out(&format!("allocation: {a}\n"));
                }
            }
            Err(e) => self.call_failed("pvm_config", e),
        }
    }

    /// The text of mailbox entry `<name, 0>`, if there is one.
    fn mailbox_text(&mut self, name: &str) -> Option<String> {
        let s = self.shared.session();
        let r = task::recvinfo(name.as_bytes(), 0, 0).and_then(|id| {
            let v = task::with_bufs(|t| t.get_mut(id)?.unpack_str());
            let _ = task::with_bufs(|t| {
                let _ = t.freebuf(id);
                t.set_rbuf(0).map(|_| ())
            });
            v
        });
        drop(s);
        r.ok().map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    pub(super) fn add(&mut self, args: &[String]) {
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

    pub(super) fn do_add(&mut self, names: &[String], lines: &[String]) {
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

    pub(super) fn delete(&mut self, names: &[String]) {
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

    pub(super) fn export(&mut self, names: &[String]) {
        if names.is_empty() {
            let cur = std::env::var("PVM_EXPORT").unwrap_or_default();
            self.out(&format!("PVM_EXPORT={cur}\n"));
        }
        for n in names {
            let _ = task::export(n);
        }
    }

    pub(super) fn setenv(&mut self, name: Option<String>, value: Option<String>) {
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

    pub(super) fn getopt(&mut self, name: Option<&str>) {
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

    pub(super) fn setopt(&mut self, name: &str, value: i32) {
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
    pub(super) fn host_names(&mut self) -> Option<(Vec<HostInfo>, BTreeMap<i32, String>)> {
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

    pub(super) fn ps(&mut self, o: &PsOpts) {
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

    pub(super) fn ps_line(
        &self,
        names: &BTreeMap<i32, String>,
        t: &TaskInfo,
        long: bool,
    ) -> String {
        let host = names
            .get(&tid::host_of(t.host))
            .or_else(|| names.get(&tid::host_of(t.tid)))
            .cloned()
            .unwrap_or_else(|| format!("{:x}", tid::host_of(t.tid)));
        format::ps_row(&host, t, self.me, long)
    }

    pub(super) fn jobs(&mut self, long: bool) {
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

    pub(super) fn kill(&mut self, children: bool, tids: &[i32]) {
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

    pub(super) fn spawn(&mut self, s: &SpawnSpec) {
        let mut flags = NO_SPAWN_PARENT;
        if s.trace.is_some() {
            flags |= task::TASK_TRACE;
        }
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
        // `-@` shows output and events on the console, `-@file` writes
        // both to the file (PVM 3.4's console: "trace job").
        let output = match s.trace.as_deref() {
            Some("") => JobOutput::Console,
            Some(f) => JobOutput::File(f.to_string()),
            None => s.output.clone(),
        };
        let sink = match &output {
            JobOutput::None => None,
            JobOutput::Console => Some(Sink::Console),
            JobOutput::File(p) | JobOutput::Append(p) => {
                let append = matches!(output, JobOutput::Append(_));
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
        // A traced job: its events come to the console, one per message.
        let mut traced = None;
        if let (Some(n), Some(_)) = (job, &s.trace) {
            let keep = [OPT_TRACE_TID, OPT_TRACE_CODE, OPT_TRACE_BUFFER]
                .map(|o| task::getopt(o).unwrap_or(0));
            let _ = task::setopt(OPT_TRACE_TID, self.me);
            let _ = task::setopt(OPT_TRACE_CODE, super::trace::TRACE_TAG_BASE + n);
            let _ = task::setopt(OPT_TRACE_BUFFER, 0);
            traced = Some(keep);
        }
        let r = task::spawn(&s.file, &s.args, flags, s.where_.as_deref(), s.count);
        if let Some((t, c)) = saved {
            let _ = task::setopt(OPT_OUTPUT_TID, t);
            let _ = task::setopt(OPT_OUTPUT_CODE, c);
        }
        if let Some(keep) = traced {
            for (o, v) in [OPT_TRACE_TID, OPT_TRACE_CODE, OPT_TRACE_BUFFER]
                .into_iter()
                .zip(keep)
            {
                let _ = task::setopt(o, v);
            }
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

    pub(super) fn put(&mut self, name: &str, flags: i32, value: &str) {
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

    pub(super) fn get(&mut self, name: &str, index: i32) {
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

    pub(super) fn reset(&mut self) {
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
    pub(super) fn reset_info(&mut self, class: Option<&str>, index: Option<i32>) {
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

    pub(super) fn halt(&mut self) -> Flow {
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

    pub(super) fn restart(&mut self) {
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
