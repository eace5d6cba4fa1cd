//! The console `pvm` driven as users and scripts drive it: through a pipe
//! (commands on stdin, no prompts, exit status 1 after a failed command)
//! and on a pseudo-terminal (`script` from util-linux gives it one:
//! prompt, line editing, history, help). Each test has its own sandbox
//! (PVM_TMP, HOME, PVM_ROOT with the examples-c programs in
//! `bin/LINUX64`); the console starts the daemon itself.

mod common;

use common::{RunOutput, Sandbox};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

fn pvm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pvm"))
}

/// Builds examples-c (hello, hello_other, ...) into the sandbox's
/// PVM_ROOT/bin/LINUX64 and links `sleep` there (a task that stays).
fn build_examples(sb: &Sandbox) {
    sb.build_examples();
    std::os::unix::fs::symlink("/bin/sleep", sb.bin.join("sleep")).expect("link sleep");
}

/// Runs the console with `input` on its stdin; stdout and stderr go to
/// files (the daemon it starts must not hold a pipe of ours).
fn console(sb: &Sandbox, args: &[&str], input: &str) -> RunOutput {
    let out_path = sb.out.join(format!("console-{}.out", unique()));
    let err_path = out_path.with_extension("err");
    let mut cmd = sb.command(&pvm_bin());
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"));
    let desc = format!("{cmd:?} <<< {input:?}");
    let start = Instant::now();
    let mut child = cmd.spawn().expect("run pvm");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write commands");
    }
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break Some(st);
        }
        if start.elapsed() > TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    RunOutput {
        desc,
        status,
        timed_out,
        elapsed: start.elapsed(),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        log: sb.daemon_log(),
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn lines_matching<'a>(text: &'a str, pred: impl Fn(&str) -> bool + 'a) -> Vec<&'a str> {
    text.lines().filter(|l| pred(l)).collect()
}

/// `[1:t40002] rest` → Some(("1", "t40002", "rest")).
fn framed(l: &str) -> Option<(&str, &str, &str)> {
    let rest = l.strip_prefix('[')?;
    let (head, text) = rest.split_once("] ")?;
    let (job, tid) = head.split_once(':')?;
    Some((job, tid, text))
}

fn is_tid(s: &str) -> bool {
    s.len() > 1 && s.starts_with('t') && s[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn process_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                == Some("Z")
        }
    }
}

#[test]
fn pipe_session_formats_and_commands() {
    let sb = Sandbox::new("console-pipe");
    build_examples(&sb);
    let input = "\
conf
spawn -3 -> hello
spawn -2 sleep 30
ps -a
ps -axl
mstat nohost.invalid
pstat t7ffff
version
id
echo hello   \"big world\"
alias ll ps -a
alias
ll
unalias ll
alias
export FOO
export BAR
export
unexport FOO
export
setenv MYVAR some value
setenv MYVAR
put cls 1 stored text
names
get cls
getopt PvmRoute
help
help spawn
";
    let out = console(&sb, &[], input);
    out.assert_success();
    let so = &out.stdout;
    let dump = out.dump();

    // conf: one host, in PVM 3.4.6's columns.
    assert!(so.contains("1 host, 1 data format\n"), "{dump}");
    assert!(
        so.contains("\n                    HOST     DTID     ARCH   SPEED       DSIG\n"),
        "{dump}"
    );
    let rows = lines_matching(so, |l| l.ends_with(" 0x00408c41"));
    assert_eq!(rows.len(), 1, "{dump}");
    let f: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(
        &f[1..],
        ["40000", "LINUX64", "1000", "0x00408c41"],
        "{dump}"
    );
    assert_eq!(rows[0].len(), 61, "conf row width: {dump}");

    // spawn -3 -> hello: three tasks, three greetings, framed, then finished.
    assert!(so.contains("[1]\n3 successful\n"), "{dump}");
    let greetings = lines_matching(so, |l| {
        framed(l).is_some_and(|(j, t, text)| {
            j == "1"
                && is_tid(t)
                && text.starts_with("from t")
                && text.contains(": hello, world from ")
        })
    });
    assert_eq!(greetings.len(), 3, "{dump}");
    let im = lines_matching(so, |l| {
        framed(l).is_some_and(|(j, t, text)| j == "1" && text == format!("i'm {t}"))
    });
    assert_eq!(im.len(), 3, "{dump}");
    // Each hello and each hello_other ends its output.
    let eofs = lines_matching(so, |l| {
        framed(l).is_some_and(|(j, _, t)| j == "1" && t == "EOF")
    });
    assert_eq!(eofs.len(), 6, "{dump}");
    assert!(so.contains("[1] finished\n"), "{dump}");

    // spawn without redirection: no job number, the tids.
    assert!(so.contains("2 successful\nt4"), "{dump}");

    // ps -a: the two sleeps, in the original's columns; the console hidden.
    assert!(
        so.contains("                    HOST      TID   FLAG 0x COMMAND\n"),
        "{dump}"
    );
    let sleeps = lines_matching(so, |l| l.ends_with(" 2/f sleep       "));
    assert!(
        sleeps.len() >= 4,
        "ps -a and ps -axl list both sleeps: {dump}"
    );
    assert!(
        so.contains("                    HOST      TID     PTID    PID   FLAG 0x COMMAND\n"),
        "{dump}"
    );
    let cons = lines_matching(so, |l| l.contains("   (cons)        - "));
    assert_eq!(cons.len(), 1, "ps -axl shows the console once: {dump}");
    assert!(cons[0].ends_with("       4/c -           "), "{dump}");

    assert!(
        so.contains("         nohost.invalid  No such host\n"),
        "{dump}"
    );
    assert!(so.contains("t   7ffff  No such task\n"), "{dump}");
    assert!(so.contains("\n3.4.6\n"), "{dump}");
    assert!(so.contains("\nt40001\n"), "id: {dump}");
    assert!(so.contains("\nhello big world\n"), "{dump}");
    assert!(so.contains("\nll\tps -a\n"), "{dump}");
    assert_eq!(so.matches("ll\tps -a").count(), 1, "unalias: {dump}");
    assert!(so.contains("\nPVM_EXPORT=FOO:BAR\n"), "{dump}");
    assert!(so.contains("\nPVM_EXPORT=BAR\n"), "{dump}");
    assert!(so.contains("\nsome value\n"), "{dump}");
    assert!(
        so.contains("<cls>:\n\tindex=0 owner=0x40001/262145 flags=0x1\n\n"),
        "{dump}"
    );
    assert!(so.contains("\nstored text\n"), "{dump}");
    assert!(so.contains("PvmRoute Currently Set to "), "{dump}");
    assert!(so.contains("Commands are:\n  add "), "{dump}");
    assert!(
        so.contains("spawn       Start tasks\nSyntax:  spawn [ options ] file"),
        "{dump}"
    );
    assert!(!so.contains("pvm> "), "no prompt on a pipe: {dump}");
    assert!(out.stderr.contains("pvmd still running."), "{dump}");

    // The machine keeps running after the console left: the next one
    // attaches; reset kills the sleeps (a task is gone once its pvmd
    // reaped it).
    let reset = console(&sb, &[], "reset\nquit\n");
    reset.assert_success();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = console(&sb, &[], "ps -a\n");
        again.assert_success();
        assert!(
            again.stderr.contains("pvmd already running."),
            "{}",
            again.dump()
        );
        if !again.stdout.contains("sleep") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reset left tasks\n{}",
            again.dump()
        );
        thread::sleep(Duration::from_millis(200));
    }

    // An unknown command: its error, the console goes on, exit status 1.
    let bad = console(&sb, &[], "foo bar\necho still here\nspawn -> nosuch\n");
    assert_eq!(bad.code(), 1, "{}", bad.dump());
    assert!(bad.stderr.contains("foo: not found"), "{}", bad.dump());
    assert!(bad.stdout.contains("still here\n"), "{}", bad.dump());
    assert!(
        bad.stdout.contains("0 successful\nNo such file\n"),
        "{}",
        bad.dump()
    );

    // halt stops the daemon: its process is gone when the console exits.
    let pid = sb.daemon_pid().expect("daemon pid file");
    let halt = console(&sb, &[], "halt\n");
    halt.assert_success();
    assert!(
        process_gone(pid),
        "pvmd {pid} survived halt\n{}",
        halt.dump()
    );
}

#[test]
fn output_to_file_jobs_and_rc_file() {
    let sb = Sandbox::new("console-file");
    build_examples(&sb);
    fs::write(
        sb.home.join(".pvmrc"),
        "# aliases for this user\nalias j jobs\necho rc read\n",
    )
    .expect("write .pvmrc");
    let file = sb.dir.join("job.out");
    let appended = sb.dir.join("job-append.out");
    fs::write(&file, "old text, truncated by ->file\n").unwrap();
    fs::write(&appended, "kept by ->>file\n").unwrap();
    let input = format!(
        "spawn ->{} hello\nspawn -> sleep 2\nj\nspawn ->>{} hello\n",
        file.display(),
        appended.display()
    );
    let out = console(&sb, &[], &input);
    out.assert_success();
    let so = &out.stdout;
    assert!(so.starts_with("rc read\n"), "{}", out.dump());
    assert!(so.contains("[1]\n1 successful\n"), "{}", out.dump());
    // `j` (jobs) while the sleep runs lists job 2 and its task.
    let jobs = lines_matching(so, |l| l.starts_with(" 2: t4"));
    assert_eq!(jobs.len(), 1, "{}", out.dump());
    // EOF waited for every job: both finished.
    for n in 1..=3 {
        assert!(
            so.contains(&format!("[{n}] finished\n")),
            "job {n}\n{}",
            out.dump()
        );
    }
    let greeting = |text: &str, job: &str| {
        lines_matching(text, |l| {
            framed(l).is_some_and(|(j, _, t)| j == job && t.contains(": hello, world from "))
        })
        .len()
    };
    let text = fs::read_to_string(&file).expect("job output file");
    assert!(text.starts_with("[1:t4"), "->file truncates: {text}");
    assert_eq!(greeting(&text, "1"), 1, "{text}");
    assert!(text.ends_with(" EOF\n"), "{text}");
    let text = fs::read_to_string(&appended).expect("appended job output file");
    assert!(
        text.starts_with("kept by ->>file\n[3:t4"),
        "->>file appends: {text}"
    );
    assert_eq!(greeting(&text, "3"), 1, "{text}");
}

#[test]
fn trace_and_bad_arguments_fail_clearly() {
    let sb = Sandbox::new("console-errors");
    let out = console(
        &sb,
        &[],
        "trace nosuch\nkill xyz\nconf x\nsetopt PvmFoo 1\nhelp nothere\necho ok\n",
    );
    assert_eq!(out.code(), 1, "{}", out.dump());
    let e = &out.stderr;
    assert!(
        e.contains("trace: no such event \"nosuch\""),
        "{}",
        out.dump()
    );
    assert!(e.contains("kill: bad task id \"xyz\""), "{}", out.dump());
    assert!(e.contains("conf: wrong #args"), "{}", out.dump());
    assert!(
        out.stdout.contains("PVM Option \"PvmFoo\" Unknown."),
        "{}",
        out.dump()
    );
    assert!(e.contains("help: no command \"nothere\""), "{}", out.dump());
    assert!(out.stdout.ends_with("ok\n"), "{}", out.dump());
    let usage = console(&sb, &["-z"], "");
    assert_eq!(usage.code(), 2, "{}", usage.dump());
    assert!(usage.stderr.contains("usage: pvm"), "{}", usage.dump());
}

/// `trace` edits the mask the console's children get; `spawn -@` shows the
/// job's trace events (`[job:tid] name(e.x)`) with its output.
#[test]
fn trace_mask_and_traced_spawn() {
    let sb = Sandbox::new("console-trace");
    build_examples(&sb);
    let out = console(
        &sb,
        &[],
        "trace\ntrace - * + send mytid exit\ntrace\nspawn -@ hello\n",
    );
    out.assert_success();
    let so = &out.stdout;
    assert!(so.contains("Trace mask: none\n"), "{}", out.dump());
    assert!(
        so.contains("Trace mask: exit mytid send\n"),
        "{}",
        out.dump()
    );
    for event in [
        "newtask(0)",
        "mytid(0.0)",
        "mytid(1.1)",
        "send(0.0)",
        "exit(0.0)",
        "endtask(0)",
    ] {
        assert!(
            so.lines()
                .any(|l| l.starts_with("[1:t4") && l.ends_with(event)),
            "{event} shown\n{}",
            out.dump()
        );
    }
    assert!(
        !so.contains("recv(0.0)"),
        "recv is not in the mask\n{}",
        out.dump()
    );
    assert!(so.contains("hello, world from"), "{}", out.dump());
    assert!(so.contains("[1] finished"), "{}", out.dump());
}

/// `tickle how [args]` as PVM 3.4.6's console has it (results in
/// parentheses, actions written to the pvmd log, unknown actions logged
/// with no result), and `ps` showing the H and T letters of a task
/// registered as hoster and tasker.
#[test]
fn tickle_and_ps_flag_letters() {
    let sb = Sandbox::new("console-tickle");
    let roles = sb.bin.join("roles");
    sb.compile(
        &common::repo_root().join("tests/c/roles.c"),
        &roles,
        common::Link::Shared,
    );
    // The hoster/tasker runs by hand (it starts the daemon); the console
    // attaches once it said it registered.
    let roles_out = sb.out.join("roles.out");
    let mut child = sb
        .command(&roles)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&roles_out).expect("roles stdout"))
        .stderr(Stdio::null())
        .spawn()
        .expect("run roles");
    let deadline = Instant::now() + TIMEOUT;
    let flag = loop {
        let text = fs::read_to_string(&roles_out).unwrap_or_default();
        if let Some(f) = text.strip_prefix("ready ") {
            break f.trim().to_string();
        }
        if let Some(st) = child.try_wait().expect("try_wait") {
            panic!("roles exited with {st} before it was ready: {text}");
        }
        assert!(Instant::now() < deadline, "roles never ready");
        thread::sleep(Duration::from_millis(20));
    };
    // pvm_tasks' ti_flag: connected (4), hoster (0x200), tasker (0x400).
    assert_eq!(flag, "604", "roles' own ti_flag");

    let input = "\
ps -a
ps -axl
tickle 5
tickle 6 0x3
tickle 5
tickle 6 0
tickle 4242
tickle 1
tickle 2
tickle 4
tickle 9 1
tickle 0
tickle 7 3
tickle 100
tickle 8 0x123
tickle 8 0x40000
help tickle
help
";
    let out = console(&sb, &[], input);
    let _ = child.kill();
    let _ = child.wait();
    out.assert_success();
    let so = &out.stdout;
    let dump = out.dump();

    // ps: PVM 3.4.6 prints this task as `604/T,H,c -` (its FLAG column
    // right-aligned in 9 characters).
    let rows = lines_matching(so, |l| l.contains(" 604/T,H,c -"));
    assert_eq!(
        rows.len(),
        2,
        "ps -a and ps -axl show the roles task: {dump}"
    );
    assert!(
        rows[0].ends_with("    40001 604/T,H,c -           "),
        "{dump}"
    );
    assert!(rows[1].contains("    40001        - "), "{dump}");
    let cons = lines_matching(so, |l| l.contains("   (cons)"));
    assert_eq!(cons.len(), 1, "{dump}");
    assert!(cons[0].ends_with("       4/c -           "), "{dump}");

    // tickle's results, in order: mask 0, set, mask 3, set, unknown (no
    // result, no error), 1/2/4/9/0/7/100 (to the log), host failure of no
    // host and of the console's own host (result 0 each).
    let results: Vec<&str> = lines_matching(so, |l| l.starts_with('(') && l.ends_with(')'));
    assert_eq!(
        results,
        [
            "( 0 )", "( )", "( 3 )", "( )", "( )", "( )", "( )", "( )", "( )", "( )", "( )", "( )",
            "( 0 )", "( 0 )"
        ],
        "{dump}"
    );
    let log = &out.log;
    assert!(log.contains("debug mask is 0x3"), "{dump}");
    assert!(log.contains("tickle: don't know #4242"), "{dump}");
    assert!(log.contains("host table: 1 host(s)"), "{dump}");
    assert!(log.contains("task table: 2 task(s)"), "{dump}");
    assert!(log.contains("mailbox: "), "{dump}");
    assert!(log.contains("stats: "), "{dump}");
    assert!(log.contains("tickle #8: no such host 123"), "{dump}");
    assert!(log.contains("tickle #8: can't fail "), "{dump}");

    // help tickle explains it; the command list leaves it out, as the
    // original's does.
    assert!(
        so.contains(
            "tickle      Ask the pvmd for a debugging action\nSyntax:  tickle how [ arg ... ]\n"
        ),
        "{dump}"
    );
    assert!(so.contains("  6 mask     set the debug mask"), "{dump}");
    assert!(
        !so.contains("\n  tickle "),
        "tickle not in the list: {dump}"
    );

    // Wrong arguments: the original's `wrong #args`, and a bad number.
    let bad = console(
        &sb,
        &[],
        "tickle\ntickle 1 2 3 4 5 6 7 8 9 10 11\ntickle x\necho ok\n",
    );
    assert_eq!(bad.code(), 1, "{}", bad.dump());
    assert_eq!(
        bad.stderr.matches("tickle: wrong #args").count(),
        2,
        "{}",
        bad.dump()
    );
    assert!(
        bad.stderr.contains("tickle: bad number \"x\""),
        "{}",
        bad.dump()
    );
    assert!(bad.stdout.ends_with("ok\n"), "{}", bad.dump());
}

#[test]
fn daemon_gone_and_restart() {
    let sb = Sandbox::new("console-gone");
    let mut child = {
        let mut cmd = sb.command(&pvm_bin());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().expect("run pvm")
    };
    let mut stdin = child.stdin.take().expect("stdin");
    let stderr = Reader::new(child.stderr.take().expect("stderr"));
    let stdout = Reader::new(child.stdout.take().expect("stdout"));
    stdin.write_all(b"id\n").unwrap();
    stdout.wait_for("t40001\n", TIMEOUT);
    sb.crash_daemon();
    stderr.wait_for("type \"restart\"", TIMEOUT);
    stdin.write_all(b"conf\nrestart\nconf\nhalt\n").unwrap();
    drop(stdin);
    stdout.wait_for("pvmd restarted, console is t4", TIMEOUT);
    stdout.wait_for("1 host, 1 data format", TIMEOUT);
    let status = wait_child(&mut child, TIMEOUT);
    // `conf` failed while the daemon was gone.
    assert_eq!(status, Some(1), "stderr: {}", stderr.text());
    assert!(
        stderr
            .text()
            .contains("pvm_config(): Can't contact local daemon"),
        "{}",
        stderr.text()
    );
}

fn wait_child(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("console did not exit");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Collects a stream in a thread; lets a test wait for text in it.
struct Reader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: std::cell::RefCell<Vec<u8>>,
}

impl Reader {
    fn new(mut r: impl Read + Send + 'static) -> Reader {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut b = [0u8; 4096];
            while let Ok(n) = r.read(&mut b) {
                if n == 0 || tx.send(b[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Reader {
            rx,
            buf: Default::default(),
        }
    }

    fn text(&self) -> String {
        while let Ok(d) = self.rx.try_recv() {
            self.buf.borrow_mut().extend(d);
        }
        String::from_utf8_lossy(&self.buf.borrow()).into_owned()
    }

    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }

    /// Waits until `needle` appears (once more than `already` times).
    fn wait_count(&self, needle: &str, n: usize, limit: Duration) {
        let start = Instant::now();
        while self.count(needle) < n {
            if start.elapsed() > limit {
                panic!(
                    "timed out waiting for {needle:?} x{n}; got:\n{}",
                    self.text()
                );
            }
            if let Ok(d) = self.rx.recv_timeout(Duration::from_millis(50)) {
                self.buf.borrow_mut().extend(d);
            }
        }
    }

    fn wait_for(&self, needle: &str, limit: Duration) {
        self.wait_count(needle, 1, limit)
    }
}

#[test]
fn terminal_prompt_history_and_help() {
    let sb = Sandbox::new("console-pty");
    // `script` (util-linux) runs the console on a pseudo-terminal and
    // passes our bytes to it as typed keys.
    let mut cmd = sb.command(Path::new("script"));
    cmd.args(["-qfec"])
        .arg(pvm_bin())
        .arg("/dev/null")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run script");
    let mut keys = child.stdin.take().expect("stdin");
    let screen = Reader::new(child.stdout.take().expect("stdout"));
    screen.wait_for("pvm> ", TIMEOUT);
    keys.write_all(b"echo first-command\r").unwrap();
    screen.wait_count("\nfirst-command", 1, TIMEOUT);
    screen.wait_count("pvm> ", 2, TIMEOUT);
    // Up arrow recalls the previous line; Enter runs it again.
    keys.write_all(b"\x1b[A").unwrap();
    screen.wait_count("echo first-command", 2, TIMEOUT);
    keys.write_all(b"\r").unwrap();
    screen.wait_count("\nfirst-command", 2, TIMEOUT);
    keys.write_all(b"help\r").unwrap();
    screen.wait_for("Commands are:", TIMEOUT);
    screen.wait_for("  version     Show the libpvm version", TIMEOUT);
    keys.write_all(b"quit\r").unwrap();
    let status = wait_child(&mut child, TIMEOUT);
    drop(keys);
    assert_eq!(status, Some(0), "screen:\n{}", screen.text());
    let history = fs::read_to_string(sb.home.join(".pvm_history")).expect("history file");
    assert!(history.contains("echo first-command"), "{history}");
    assert!(history.contains("help"), "{history}");
}
