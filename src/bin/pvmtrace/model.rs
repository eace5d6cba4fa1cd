//! What a trace says happened: the tasks (with their hosts and lifetimes),
//! the PVM calls each made (entry to exit), and the messages between them
//! (a send matched to the receive that took it, in order per sender,
//! receiver and tag).

use crate::sddf::Event;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// One task.
#[derive(Clone, Debug)]
pub struct Task {
    pub tid: i64,
    pub ptid: i64,
    pub name: String,
    /// First and last time seen (µs).
    pub start: i64,
    pub end: i64,
}

impl Task {
    /// The task's host part (`tid & 0x3ffc0000`), the host's daemon tid
    /// without its daemon bit.
    pub fn host(&self) -> i64 {
        self.tid & 0x3ffc_0000
    }
}

/// One PVM call of a task, from its entry event to its exit event.
#[derive(Clone, Debug)]
pub struct Slice {
    pub tid: i64,
    pub name: String,
    pub start: i64,
    pub end: i64,
    /// A call that waits for a message (recv, trecv, precv).
    pub waits: bool,
    /// The fields of both events, as text, for the viewer.
    pub args: BTreeMap<String, String>,
}

/// A message from a send to the receive that took it.
#[derive(Clone, Debug)]
pub struct Message {
    pub from: i64,
    pub to: i64,
    pub tag: i64,
    pub bytes: i64,
    pub sent: i64,
    /// When the receive call that took it began and ended.
    pub recv_start: i64,
    pub received: i64,
}

/// A call without an exit event (pvm_exit).
#[derive(Clone, Debug)]
pub struct Instant {
    pub tid: i64,
    pub name: String,
    pub at: i64,
}

/// The whole trace.
#[derive(Default, Debug)]
pub struct Model {
    pub tasks: Vec<Task>,
    pub slices: Vec<Slice>,
    pub messages: Vec<Message>,
    pub instants: Vec<Instant>,
    /// Host part -> host name (from host_add).
    pub hosts: BTreeMap<i64, String>,
    pub t0: i64,
    pub t1: i64,
}

/// Calls that wait for a message.
const WAITING: &[&str] = &["recv", "trecv", "precv"];
/// Calls that take a message off the queue (their exit has SRC and MC).
const RECEIVING: &[&str] = &["recv", "trecv", "nrecv", "precv"];

fn args_of(e: &Event, into: &mut BTreeMap<String, String>) {
    for (k, v) in &e.fields {
        if matches!(k.as_str(), "TS" | "TU" | "TID") {
            continue;
        }
        let s = match v {
            crate::sddf::Value::Num(n) => n.to_string(),
            crate::sddf::Value::Str(s) => s.clone(),
            crate::sddf::Value::Nums(n) => format!("{n:?}"),
            crate::sddf::Value::Strs(s) => format!("{s:?}"),
        };
        into.insert(k.clone(), s);
    }
}

impl Model {
    /// Builds the model from the events of a trace file.
    pub fn build(events: &[Event]) -> Model {
        let mut m = Model::default();
        let mut index: HashMap<i64, usize> = HashMap::new();
        let mut open: HashMap<(i64, String), Event> = HashMap::new();
        // Sends not received yet, per (sender, receiver, tag).
        let mut pending: HashMap<(i64, i64, i64), VecDeque<(i64, i64)>> = HashMap::new();
        let mut first = i64::MAX;
        let mut last = i64::MIN;
        for e in events {
            let t = e.micros();
            // Time runs from the first to the last event of a task (the
            // tracer's host events come when it starts).
            if e.name == "output" {
                // Task output (the tracer's own time stamps); not drawn.
                continue;
            }
            if t > 0 && !e.name.starts_with("host_") {
                first = first.min(t);
                last = last.max(t);
            }
            if e.name == "host_add" {
                let host = e.tid() & 0x3ffc_0000;
                m.hosts
                    .insert(host, e.text("HN").unwrap_or("?").to_string());
                continue;
            }
            let tid = e.tid();
            if tid <= 0 || e.name == "host_del" {
                continue;
            }
            let k = *index.entry(tid).or_insert_with(|| {
                m.tasks.push(Task {
                    tid,
                    ptid: -1,
                    name: String::new(),
                    start: t,
                    end: t,
                });
                m.tasks.len() - 1
            });
            let task = &mut m.tasks[k];
            task.start = task.start.min(t);
            task.end = task.end.max(t);
            match (e.name.as_str(), e.exit) {
                ("newtask", _) => {
                    task.ptid = e.num("PT").unwrap_or(-1);
                    let n = e.text("TN").unwrap_or("");
                    task.name = n.rsplit('/').next().unwrap_or(n).to_string();
                    task.start = t;
                }
                ("endtask", _) => task.end = t,
                (_, None) => {}
                (name, Some(false)) => {
                    match name {
                        "send" | "psend" => {
                            let dst = e.num("DST").unwrap_or(0);
                            let tag = e.num("MC").unwrap_or(0);
                            let bytes = e.num("MNB").unwrap_or(e.num("PC").unwrap_or(0));
                            pending
                                .entry((tid, dst, tag))
                                .or_default()
                                .push_back((t, bytes));
                        }
                        "mcast" => {
                            let tag = e.num("MC").unwrap_or(0);
                            let bytes = e.num("MNB").unwrap_or(0);
                            for dst in e.nums("MDL") {
                                pending
                                    .entry((tid, dst, tag))
                                    .or_default()
                                    .push_back((t, bytes));
                            }
                        }
                        "exit" => m.instants.push(Instant {
                            tid,
                            name: name.to_string(),
                            at: t,
                        }),
                        _ => {}
                    }
                    open.insert((tid, name.to_string()), e.clone());
                }
                (name, Some(true)) => {
                    let Some(entry) = open.remove(&(tid, name.to_string())) else {
                        continue;
                    };
                    let start = entry.micros();
                    let mut args = BTreeMap::new();
                    args_of(&entry, &mut args);
                    args_of(e, &mut args);
                    if RECEIVING.contains(&name) {
                        let src = e.num("SRC").unwrap_or(0);
                        let tag = e.num("MC").unwrap_or(0);
                        let got = e.num("MB").map_or(src > 0, |b| b > 0) || name == "precv";
                        if got && src > 0 {
                            if let Some((sent, bytes)) = pending
                                .get_mut(&(src, tid, tag))
                                .and_then(|q| q.pop_front())
                            {
                                m.messages.push(Message {
                                    from: src,
                                    to: tid,
                                    tag,
                                    bytes: e.num("MNB").unwrap_or(bytes),
                                    sent,
                                    recv_start: start,
                                    received: t,
                                });
                            }
                        }
                    }
                    m.slices.push(Slice {
                        tid,
                        name: name.to_string(),
                        start,
                        end: t.max(start),
                        waits: WAITING.contains(&name),
                        args,
                    });
                }
            }
        }
        if first == i64::MAX {
            first = 0;
            last = 0;
        }
        m.t0 = first;
        m.t1 = last.max(first + 1);
        m
    }

    /// Row of task `tid` (its index), if known.
    pub fn row(&self, tid: i64) -> Option<usize> {
        self.tasks.iter().position(|t| t.tid == tid)
    }

    /// A label for a task: `t40003 hello`.
    pub fn label(&self, t: &Task) -> String {
        if t.name.is_empty() {
            format!("t{:x}", t.tid)
        } else {
            format!("t{:x} {}", t.tid, t.name)
        }
    }
}
