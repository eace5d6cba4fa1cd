//! The Chrome trace-event JSON (what chrome://tracing and Perfetto open):
//! each host is a process, each task a thread of it, each PVM call a
//! complete ("X") slice, pvm_exit an instant, and each message a flow
//! arrow from the send to the receive that took it.

use crate::model::Model;
use serde_json::{json, Value};

/// The JSON document for `m`.
pub fn document(m: &Model) -> Value {
    let mut ev: Vec<Value> = Vec::new();
    let us = |t: i64| (t - m.t0) as f64;
    let mut hosts: Vec<i64> = m.tasks.iter().map(|t| t.host()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    for h in &hosts {
        let name = match m.hosts.get(h) {
            Some(n) => format!("host {n} (t{:x})", h),
            None => format!("host t{:x}", h),
        };
        ev.push(json!({"ph": "M", "name": "process_name", "pid": h >> 18,
            "args": {"name": name}}));
        ev.push(
            json!({"ph": "M", "name": "process_sort_index", "pid": h >> 18,
            "args": {"sort_index": h >> 18}}),
        );
    }
    for (i, t) in m.tasks.iter().enumerate() {
        ev.push(
            json!({"ph": "M", "name": "thread_name", "pid": t.host() >> 18,
            "tid": t.tid, "args": {"name": m.label(t)}}),
        );
        ev.push(
            json!({"ph": "M", "name": "thread_sort_index", "pid": t.host() >> 18,
            "tid": t.tid, "args": {"sort_index": i}}),
        );
    }
    let pid = |tid: i64| (tid & 0x3ffc_0000) >> 18;
    for s in &m.slices {
        ev.push(
            json!({"ph": "X", "cat": if s.waits { "wait" } else { "pvm" },
            "name": s.name, "pid": pid(s.tid), "tid": s.tid,
            "ts": us(s.start), "dur": (s.end - s.start) as f64, "args": s.args}),
        );
    }
    for i in &m.instants {
        ev.push(json!({"ph": "i", "s": "t", "cat": "pvm", "name": i.name,
            "pid": pid(i.tid), "tid": i.tid, "ts": us(i.at)}));
    }
    for (n, msg) in m.messages.iter().enumerate() {
        let args = json!({"tag": msg.tag, "bytes": msg.bytes});
        ev.push(
            json!({"ph": "s", "cat": "message", "name": "message", "id": n,
            "pid": pid(msg.from), "tid": msg.from, "ts": us(msg.sent), "args": args}),
        );
        // The arrow ends inside the receive call's slice.
        let end = (msg.received - 1).max(msg.recv_start);
        ev.push(
            json!({"ph": "f", "bp": "e", "cat": "message", "name": "message",
            "id": n, "pid": pid(msg.to), "tid": msg.to, "ts": us(end), "args": args}),
        );
    }
    json!({"traceEvents": ev, "displayTimeUnit": "ms",
        "otherData": {"producer": "pvmtrace (pvm6)", "t0_us": m.t0}})
}
