//! pvmtrace: turns a trace file written by PVM 3.4's `tracer` (on pvm6 or
//! on the original) into a timeline people can look at (docs/TRACING.md):
//!
//! ```text
//! pvmtrace [--json OUT.json] [--png OUT.png] [--svg OUT.svg]
//!          [--size WIDTHxHEIGHT] [--title TEXT] [--follow SECS] TRACEFILE
//! ```
//!
//! - `--json`: Chrome trace-event JSON (chrome://tracing, Perfetto): hosts
//!   as processes, tasks as threads, PVM calls as slices, messages as flow
//!   arrows from sender to receiver;
//! - `--png`, `--svg`: a space-time picture as XPVM drew it (tasks down the
//!   side, time across; computing green, in PVM yellow, waiting white,
//!   messages red);
//! - with none of them, a summary: tasks, calls, messages;
//! - `--follow SECS`: a live session: the trace file a running `tracer`
//!   writes is read again whenever it grows, the outputs rewritten and a
//!   summary line printed each time, until it has not changed for SECS
//!   seconds.

mod chrome;
mod model;
mod picture;
mod sddf;

use std::process::ExitCode;

const USAGE: &str = "usage: pvmtrace [--json OUT.json] [--png OUT.png] [--svg OUT.svg] \
[--size WIDTHxHEIGHT] [--title TEXT] [--follow SECS] TRACEFILE";

#[derive(Default)]
struct Args {
    json: Option<String>,
    png: Option<String>,
    svg: Option<String>,
    size: Option<(u32, u32)>,
    title: Option<String>,
    input: Option<String>,
    follow: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| it.next().ok_or(format!("{what} needs a value"));
        match arg.as_str() {
            "--json" => a.json = Some(value("--json")?),
            "--png" => a.png = Some(value("--png")?),
            "--svg" => a.svg = Some(value("--svg")?),
            "--title" => a.title = Some(value("--title")?),
            "--follow" => {
                let v: u64 = value("--follow")?.parse().map_err(|_| "--follow SECS")?;
                if !(1..=86_400).contains(&v) {
                    return Err("--follow: 1 to 86400 seconds".into());
                }
                a.follow = Some(v);
            }
            "--size" => {
                let v = value("--size")?;
                let (w, h) = v.split_once('x').ok_or("--size is WIDTHxHEIGHT")?;
                let w: u32 = w.parse().map_err(|_| "bad width")?;
                let h: u32 = h.parse().map_err(|_| "bad height")?;
                if !(100..=20000).contains(&w) || !(100..=20000).contains(&h) {
                    return Err("--size: 100 to 20000 pixels each way".into());
                }
                a.size = Some((w, h));
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ if a.input.is_none() => a.input = Some(arg),
            _ => return Err("one trace file only".into()),
        }
    }
    if a.input.is_none() {
        return Err("no trace file".into());
    }
    Ok(a)
}

/// `--follow`: renders `a` again each time the trace file changes, until
/// it has been still for `secs` seconds (or never appeared in that time).
fn follow(a: &Args, secs: u64) -> Result<(), String> {
    use std::time::{Duration, Instant};
    let input = a.input.clone().unwrap_or_default();
    let quiet = Duration::from_secs(secs);
    let mut last: Option<(u64, std::time::SystemTime)> = None;
    let mut changed = Instant::now();
    let mut rendered = 0;
    loop {
        let now = std::fs::metadata(&input)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)));
        if now.is_some() && now != last {
            last = now;
            changed = Instant::now();
            let text = std::fs::read_to_string(&input).unwrap_or_default();
            if !sddf::parse(&text).is_empty() {
                render(a, &text, true)?;
                rendered += 1;
            }
        } else if changed.elapsed() >= quiet {
            return if rendered > 0 {
                Ok(())
            } else {
                Err(format!("{input}: no trace events within {secs} s"))
            };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run(a: Args) -> Result<(), String> {
    if let Some(secs) = a.follow {
        return follow(&a, secs);
    }
    let input = a.input.clone().unwrap_or_default();
    let text = std::fs::read_to_string(&input).map_err(|e| format!("{input}: {e}"))?;
    render(&a, &text, false)
}

/// Writes the outputs `a` asks for from trace `text` (`live`: one summary
/// line, whatever the outputs).
fn render(a: &Args, text: &str, live: bool) -> Result<(), String> {
    let input = a.input.clone().unwrap_or_default();
    let events = sddf::parse(text);
    if events.is_empty() {
        return Err(format!("{input}: no trace events"));
    }
    let m = model::Model::build(&events);
    let title = a
        .title
        .clone()
        .unwrap_or_else(|| format!("PVM space-time: {}", input.rsplit('/').next().unwrap_or("")));
    if let Some(p) = &a.json {
        let doc = chrome::document(&m);
        let s = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
        std::fs::write(p, s).map_err(|e| format!("{p}: {e}"))?;
    }
    if a.png.is_some() || a.svg.is_some() {
        let size = a.size.unwrap_or_else(|| picture::default_size(&m));
        let fonts = picture::load_font();
        if !fonts {
            eprintln!("pvmtrace: no TrueType font found (set PVMTRACE_FONT): picture without text");
        }
        if let Some(p) = &a.png {
            picture::png(&m, p, size, &title, fonts).map_err(|e| format!("{p}: {e}"))?;
        }
        if let Some(p) = &a.svg {
            picture::svg(&m, p, size, &title, fonts).map_err(|e| format!("{p}: {e}"))?;
        }
    }
    if live {
        println!(
            "{} events, {} tasks, {} calls, {} messages",
            events.len(),
            m.tasks.len(),
            m.slices.len(),
            m.messages.len()
        );
        return Ok(());
    }
    if a.json.is_none() && a.png.is_none() && a.svg.is_none() {
        println!(
            "{} events, {} tasks, {} calls, {} messages, {:.6} s",
            events.len(),
            m.tasks.len(),
            m.slices.len(),
            m.messages.len(),
            (m.t1 - m.t0) as f64 / 1e6
        );
        for t in &m.tasks {
            let calls = m.slices.iter().filter(|s| s.tid == t.tid).count();
            println!(
                "  {:<24} parent t{:x}  {calls} calls",
                m.label(t),
                t.ptid.max(0)
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args() {
        Err(e) => {
            if !e.is_empty() {
                eprintln!("pvmtrace: {e}");
            }
            eprintln!("{USAGE}");
            ExitCode::from(if e.is_empty() { 0 } else { 2 })
        }
        Ok(a) => match run(a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pvmtrace: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
