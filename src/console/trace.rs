//! The console's tracing: `trace` shows or edits the trace mask the
//! console's children get (pvm_settmask(PvmTaskChild)), and `spawn -@`
//! makes a job whose tasks trace to the console (docs/CONSOLE.md): each
//! event arrives as one message with the job's trace tag and is shown as
//! `[job:tid] name(e.x)`, in the notation of PVM 3.4's tracer (`0.0` entry,
//! `1.1` exit, `0` the daemon's events).

use crate::task;
use crate::task::trace::{mark, ENTRY, EVENT_NAMES, EXIT, NEVENTS};

/// Trace tags of jobs are this plus the job number.
pub const TRACE_TAG_BASE: i32 = 0x0600_0000;

/// The mask events of a new console start with: PVM 3.4's tracer's default
/// (the message passing and task calls).
pub const DEFAULT_EVENTS: &[&str] = &[
    "barrier",
    "bcast",
    "exit",
    "joingroup",
    "kill",
    "lvgroup",
    "mcast",
    "mytid",
    "nrecv",
    "parent",
    "precv",
    "probe",
    "psend",
    "recv",
    "recvf",
    "send",
    "sendsig",
    "spawn",
    "trecv",
    "user_defined",
];

fn index(name: &str) -> Option<i32> {
    EVENT_NAMES
        .iter()
        .position(|n| n.to_bytes() == name.as_bytes())
        .map(|i| i as i32)
}

/// The events set in `mask`, by name.
pub fn names_in(mask: &str) -> Vec<&'static str> {
    (0..NEVENTS as i32)
        .filter(|&k| task::trace::mask_has(mask.as_bytes(), k))
        .filter_map(|k| EVENT_NAMES[k as usize].to_str().ok())
        .collect()
}

/// `trace [+|-] [event ... | *]`: with no argument shows the mask; names
/// (or `*`, every event) are added, or removed after `-`. Returns the text
/// to print or an error message.
pub fn command(args: &[String]) -> Result<String, String> {
    let current = task::gettmask(task::TASK_CHILD).map_err(|e| format!("trace: {}", e.text()))?;
    if args.is_empty() {
        let names = names_in(&current);
        return Ok(if names.is_empty() {
            "Trace mask: none\n".to_string()
        } else {
            format!("Trace mask: {}\n", names.join(" "))
        });
    }
    let mut add = true;
    let mut kinds: Vec<i32> = (0..NEVENTS as i32)
        .filter(|&k| task::trace::mask_has(current.as_bytes(), k))
        .collect();
    for a in args {
        match a.as_str() {
            "+" => add = true,
            "-" => add = false,
            "*" => {
                kinds = if add {
                    (0..NEVENTS as i32).collect()
                } else {
                    Vec::new()
                };
            }
            "default" => {
                kinds = DEFAULT_EVENTS.iter().filter_map(|n| index(n)).collect();
            }
            name => {
                let k = index(name).ok_or(format!("trace: no such event \"{name}\""))?;
                kinds.retain(|&x| x != k);
                if add {
                    kinds.push(k);
                }
            }
        }
    }
    let mask = task::trace::mask_of(&kinds);
    task::settmask(task::TASK_CHILD, mask.as_bytes())
        .map_err(|e| format!("trace: {}", e.text()))?;
    let names = names_in(&mask);
    Ok(format!(
        "Trace mask: {}\n",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(" ")
        }
    ))
}

/// One trace message (one event: console jobs trace without a buffer):
/// the task it is about and the event in tracer notation; None for the
/// data identifier list and anything else.
pub fn describe(ints: &[i32]) -> Option<(i32, String)> {
    let (&m, rest) = ints.split_first()?;
    let id = *rest.first()?;
    let kind = id & !(ENTRY | EXIT);
    let name = EVENT_NAMES
        .get(usize::try_from(kind).ok()?)?
        .to_str()
        .ok()?;
    let suffix = if id & EXIT != 0 {
        "1.1"
    } else if id & ENTRY != 0 {
        "0.0"
    } else {
        "0"
    };
    // After the id: TS, TU, TID; in a descriptor each with its id and type.
    let tid = match m {
        mark::RECORD => *rest.get(3)?,
        mark::DESC => {
            // id, then the name as a string (length, padded bytes).
            let len = usize::try_from(*rest.get(1)?).ok()?;
            let words = len.div_ceil(4);
            *rest.get(2 + words + 8)?
        }
        _ => return None,
    };
    Some((tid, format!("{name}({suffix})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_descriptors_name_their_task() {
        let rec = [mark::RECORD, 47 | ENTRY, 100, 5, 0x40003, 9];
        assert_eq!(describe(&rec), Some((0x40003, "send(0.0)".into())));
        // "newtask" is 8 bytes with its NUL: two words.
        let desc = [
            mark::DESC,
            75,
            8,
            0,
            0,
            106,
            6,
            1,
            107,
            6,
            2,
            88,
            6,
            0x40004,
        ];
        assert_eq!(describe(&desc), Some((0x40004, "newtask(0)".into())));
        assert_eq!(describe(&[mark::DATA_ID, 0]), None);
    }
}
