//! pvmd3: the PVM daemon of one host.
//!
//! `pvmd3 [-d<mask>] [-n<name>] [-t<seconds>] [-f] [-v] [hostfile]`: `-d`
//! sets the debug mask (hex 0x.., octal 0.. or decimal, as man pvmd3;
//! non-zero also logs debug messages), `-n` an alternate host name, `-t`
//! the machine's host timeout (docs/PROTOCOL.md "Liveness"), `-f` keeps the daemon in the
//! foreground; otherwise it detaches and this process exits once the daemon
//! answers. `-v` prints the version. A hostfile (man pvmd3) names the hosts
//! to add at start (`&` ones are only remembered); the master takes the
//! options of its own line. The options are parsed by
//! `daemon::MasterArgs`, which `pvm_start_pvmd` uses too. When a daemon of
//! this user (and `$PVM_VMID`) runs already, `pvmd3` says so on stderr:
//! with `-f` it exits 1, else 0 (the running daemon answers, which is what
//! a program starting one needs). `pvmd3 -s key=value ...` is the
//! private form the master runs on another host to start a slave (see
//! `daemon::startup`; it reads the machine's secret from stdin first).
//! Logging: `PVM_LOG` (or `RUST_LOG`) filters the messages printed to
//! stderr; the daemon's own log is `$PVM_TMP/pvml.<uid>`.

use pvm3::daemon::{self, DaemonOptions, Dialog, MasterArgs};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

fn fail(msg: &str) -> ExitCode {
    eprintln!("pvmd: {msg}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(pvm3::task::logging::env()).init();

    let mut opts = DaemonOptions::from_env();
    opts.log_facade = true;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("-s") {
        return slave(opts, &argv[1..]);
    }
    let args = match MasterArgs::parse(&argv) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    if args.version {
        println!(
            "{} {}",
            daemon::embedded::PVMD3_MARKER,
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    let hostfile = match args.read_hostfile() {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    args.apply(&mut opts, hostfile);
    // so=pw / so=ms lines: the dialogs of man pvmd3 on this terminal.
    let asks = opts.hostfile.as_ref().is_some_and(|h| {
        h.hosts
            .iter()
            .any(|e| !e.no_start && (e.opts.so_pw || e.opts.manual))
    });
    let on_terminal = std::io::stdin().is_terminal();
    opts.dialog = match (on_terminal, args.foreground, asks) {
        (true, true, _) => Dialog::Foreground,
        (true, false, true) => Dialog::Detached,
        _ => Dialog::Off,
    };

    if args.foreground {
        return match daemon::run(opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string()),
        };
    }
    // Report directory problems here, while stderr still reaches the user.
    if let Err(e) = daemon::prepare_dir(&opts.files) {
        return fail(&e.to_string());
    }
    if std::os::unix::net::UnixStream::connect(&opts.files.sock).is_ok() {
        let pid = std::fs::read_to_string(&opts.files.pid)
            .map(|p| format!(" (pid {})", p.trim()))
            .unwrap_or_default();
        eprintln!("pvmd: pvmd already running{pid}; this one is not started");
        return ExitCode::SUCCESS;
    }
    let files = opts.files.clone();
    let dialog = opts.dialog;
    if let Err(e) = daemon::embedded::detach_and_run(opts) {
        return fail(&format!("can't detach: {e}"));
    }
    if daemon::wait_ready(&files, Duration::from_secs(10)) {
        if dialog == Dialog::Detached {
            // The daemon has the terminal for its questions: give it back
            // to the shell only once the hostfile's hosts are in (the
            // daemon serves tasks only then). Never start another daemon
            // for that (this process has no other threads yet).
            std::env::set_var("PVM6_NOAUTOSTART", "1");
            let _ = pvm3::task::mytid();
            let _ = pvm3::task::exit();
        }
        ExitCode::SUCCESS
    } else {
        fail(&format!(
            "daemon did not start; see {}",
            files.log.display()
        ))
    }
}

/// `pvmd3 -s ...`: a slave daemon started by a master. Reads the secret
/// line from stdin, then detaches; the detached daemon prints its one
/// reply line on stdout once it listens and closes its stdio. Started by
/// a launcher's step (`hosts=`), it stays in the foreground.
fn slave(mut opts: DaemonOptions, words: &[String]) -> ExitCode {
    use std::io::BufRead;
    let mut args = match daemon::startup::SlaveArgs::parse(words) {
        Ok(a) => a,
        Err(e) => {
            println!("pvm6 error {e}");
            return fail(&e);
        }
    };
    // A launcher's step (`hosts=`): this node's line of it. Slurm names the
    // node in SLURMD_NODENAME; else the host name.
    let me = std::env::var("SLURMD_NODENAME").unwrap_or_else(|_| opts.hostname.clone());
    if let Err(e) = args.pick(&me) {
        println!("pvm6 error {e}");
        return fail(&e);
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        println!("pvm6 error no secret on stdin");
        return fail("no secret on stdin");
    }
    match pvm3::auth::Secret::from_hex(line.trim()) {
        Ok(s) => opts.secret = Some(s),
        Err(e) => {
            println!("pvm6 error {e}");
            return fail(&e.to_string());
        }
    }
    opts.apply_slave(&args);
    opts.log_facade = false;
    if let Err(e) = daemon::prepare_dir(&opts.files) {
        println!("pvm6 error {e}");
        return fail(&e.to_string());
    }
    if args.hosts.is_some() {
        // In a step the daemon stays the step's task: when the step or
        // the allocation ends, the batch system ends it and its tasks.
        return match daemon::run(opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string()),
        };
    }
    match daemon::embedded::detach_slave(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("pvm6 error can't detach: {e}");
            fail(&format!("can't detach: {e}"))
        }
    }
}
