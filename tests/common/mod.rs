//! Shared helpers for the test runners that build and run C programs against
//! this package's `libpvm3.so` / `libpvm3.a`: locating the library built by
//! the same cargo invocation, private sandboxes (PVM_TMP, HOME, PVM_ROOT) that
//! stop their daemon and remove themselves on drop, compiling with gcc,
//! running with a timeout, and checking TAP-style `ok` / `not ok` output.
//!
//! Every helper panics with a clear message when something it needs is
//! missing: a missing library is a failure, never a skip.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Native libraries a Rust staticlib needs on Linux, as
/// `cargo rustc -- --print native-static-libs` reports them.
pub const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// Default time a C program may run before it is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root (where Cargo.toml, include/, c-tests/ live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The names the export allow-list `c/libpvm3.map` (the version script)
/// makes global.
pub fn export_allow_list() -> std::collections::BTreeSet<String> {
    let path = repo_root().join("c/libpvm3.map");
    let text = fs::read_to_string(&path).expect("read c/libpvm3.map");
    let global = text
        .split("global:")
        .nth(1)
        .and_then(|g| g.split("local:").next())
        .expect("a global: section before local:");
    global
        .split(';')
        .map(str::trim)
        .filter(|w| !w.is_empty() && !w.starts_with("/*"))
        .map(String::from)
        .collect()
}

/// Directory holding the project's `pvm3.h`.
pub fn include_dir() -> PathBuf {
    let dir = repo_root().join("include");
    assert!(
        dir.join("pvm3.h").is_file(),
        "pvm3.h not found in {}: the project's C header is missing",
        dir.display()
    );
    dir
}

/// The directory holding `libpvm3.so` and `libpvm3.a` built by the same
/// cargo invocation as this test executable (`.../target/<profile>/deps/x`).
/// `cargo test` leaves the library's cdylib and staticlib in `deps/` (named
/// without a hash) and only `cargo build` copies them up to
/// `.../target/<profile>/`, so `deps/` is tried first, then its parent.
/// Panics if neither has both files: a missing library is a failure.
/// Where build.rs put libgpvm3: the profile directory (target/release),
/// which is lib_dir() or, when that is deps/, its parent.
pub fn gpvm3_dir() -> PathBuf {
    let dir = lib_dir();
    if dir.join("libgpvm3.so.3").is_file() {
        return dir;
    }
    dir.parent().map(Path::to_path_buf).unwrap_or(dir)
}

pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("test executable has a directory")
        .to_path_buf();
    let profile = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.clone()
    };
    let has_both = |d: &Path| d.join("libpvm3.so").is_file() && d.join("libpvm3.a").is_file();
    for dir in [&deps, &profile] {
        if has_both(dir) {
            return dir.clone();
        }
    }
    panic!(
        "libpvm3.so and libpvm3.a not found in {} or {}: the pvm3 library was not built \
         by this cargo invocation (the library target must have crate types cdylib and staticlib)",
        deps.display(),
        profile.display()
    );
}

/// How a C program is linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// `libpvm3.so` through a directory that also has `libpvm3.so.3`, with rpath.
    Shared,
    /// `libpvm3.a` plus [`NATIVE_LIBS`].
    Static,
}

static SANDBOX_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A private PVM world for one test: `<dir>/pvmtmp` (PVM_TMP), `<dir>/home`
/// (HOME), `<dir>/root` (PVM_ROOT) with `root/bin/LINUX64` for spawnable
/// programs, `<dir>/lib` with libpvm3 symlinks, `<dir>/out` for captured
/// output.  Dropping it stops the daemon started in it and removes `<dir>`.
pub struct Sandbox {
    pub dir: PathBuf,
    pub pvm_tmp: PathBuf,
    pub home: PathBuf,
    pub pvm_root: PathBuf,
    pub bin: PathBuf,
    pub lib: PathBuf,
    pub out: PathBuf,
}

impl Sandbox {
    /// Creates the directories and the libpvm3 symlink directory.
    pub fn new(name: &str) -> Sandbox {
        let seq = SANDBOX_SEQ.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("pvm6-test-{name}-{}-{seq}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("remove stale sandbox");
        }
        let sb = Sandbox {
            pvm_tmp: dir.join("pvmtmp"),
            home: dir.join("home"),
            pvm_root: dir.join("root"),
            bin: dir.join("root").join("bin").join("LINUX64"),
            lib: dir.join("lib"),
            out: dir.join("out"),
            dir,
        };
        for d in [&sb.pvm_tmp, &sb.home, &sb.bin, &sb.lib, &sb.out] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        }
        let libdir = lib_dir();
        for (link, target) in [
            ("libpvm3.so.3", "libpvm3.so"),
            ("libpvm3.so", "libpvm3.so"),
            ("libpvm3.a", "libpvm3.a"),
        ] {
            symlink(libdir.join(target), sb.lib.join(link)).expect("symlink libpvm3");
        }
        // Debian's group-using binaries load libgpvm3.so.3 (ours forwards to libpvm3).
        let gpvm3 = gpvm3_dir().join("libgpvm3.so.3");
        if gpvm3.is_file() {
            symlink(&gpvm3, sb.lib.join("libgpvm3.so.3")).expect("symlink libgpvm3");
        }
        sb
    }

    /// A command with the sandbox's private environment: nothing inherited
    /// but PATH (and PVM_LOG / RUST_LOG for debugging); PVM_TMP, HOME,
    /// PVM_ROOT and PVM_ARCH point into the sandbox.  No daemon is started:
    /// the library starts one itself.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("PVM_TMP", &self.pvm_tmp)
            .env("HOME", &self.home)
            .env("PVM_ROOT", &self.pvm_root)
            .env("PVM_ARCH", "LINUX64")
            .current_dir(&self.dir);
        for var in ["PVM_LOG", "RUST_LOG"] {
            if let Ok(v) = std::env::var(var) {
                cmd.env(var, v);
            }
        }
        cmd
    }

    /// Our uid, read from a directory we created (std has no getuid).
    pub fn uid(&self) -> u32 {
        fs::metadata(&self.home).expect("stat home").uid()
    }

    /// `<PVM_TMP>/pvm6.<uid>`, the daemon's directory.
    pub fn daemon_dir(&self) -> PathBuf {
        self.pvm_tmp.join(format!("pvm6.{}", self.uid()))
    }

    /// Pid of the daemon running for this sandbox, from its pid file.
    pub fn daemon_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.daemon_dir().join("pvmd.pid")).ok()?;
        text.trim().parse().ok()
    }

    /// The daemon's log `<PVM_TMP>/pvml.<uid>` (empty if absent).
    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.pvm_tmp.join(format!("pvml.{}", self.uid()))).unwrap_or_default()
    }

    /// Stops this sandbox's daemon: SIGTERM, up to 5 s for it to go, then SIGKILL.
    pub fn stop_daemon(&self) {
        if let Some(pid) = self.daemon_pid() {
            signal(pid, "TERM");
            if !wait_gone(pid, Duration::from_secs(5)) {
                signal(pid, "KILL");
                wait_gone(pid, Duration::from_secs(5));
            }
        }
    }

    /// Kills the daemon with SIGKILL (a crash) and waits until it is gone.
    pub fn crash_daemon(&self) -> u32 {
        let pid = self
            .daemon_pid()
            .unwrap_or_else(|| panic!("no pvmd.pid in {}", self.daemon_dir().display()));
        signal(pid, "KILL");
        assert!(
            wait_gone(pid, Duration::from_secs(10)),
            "daemon {pid} survived SIGKILL"
        );
        pid
    }

    /// Compiles one C file into `out` with `gcc -Wall -Wextra -Werror`.
    pub fn compile(&self, src: &Path, out: &Path, link: Link) {
        let mut cmd = Command::new("gcc");
        cmd.args(["-Wall", "-Wextra", "-Werror", "-I"])
            .arg(include_dir())
            .arg("-I")
            .arg(src.parent().expect("source dir"))
            .arg("-o")
            .arg(out)
            .arg(src);
        self.add_link_args(&mut cmd, link);
        run_build(cmd, &format!("compile {}", src.display()));
    }

    /// Appends the arguments that link against our libpvm3.
    pub fn add_link_args(&self, cmd: &mut Command, link: Link) {
        match link {
            Link::Shared => {
                cmd.arg("-L")
                    .arg(&self.lib)
                    .arg(format!("-Wl,-rpath,{}", self.lib.display()))
                    .arg("-lpvm3");
            }
            Link::Static => {
                cmd.arg(self.lib.join("libpvm3.a")).args(NATIVE_LIBS);
            }
        }
    }

    /// Copies examples-c into the sandbox and runs `make install-bin` there, so
    /// the programs end up in PVM_ROOT/bin/LINUX64 where pvm_spawn finds them.
    pub fn build_examples(&self) {
        let build = self.dir.join("build");
        fs::create_dir_all(&build).expect("build dir");
        for entry in fs::read_dir(repo_root().join("examples-c")).expect("read examples-c") {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".c") || name == "Makefile" {
                fs::copy(&path, build.join(&name)).expect("copy example source");
            }
        }
        let mut make = Command::new("make");
        make.arg("-C")
            .arg(&build)
            .arg(format!("PVM_INC={}", include_dir().display()))
            .arg(format!("PVM_LIB={}", self.lib.display()))
            .arg(format!("BINDIR={}", self.bin.display()))
            .arg("CFLAGS=-O2 -Wall -Wextra -Werror")
            .arg("install-bin");
        run_build(make, "make install-bin in examples-c");
    }

    /// Runs a program of the sandbox with its environment and a timeout.
    pub fn run(&self, program: &Path, args: &[&str], timeout: Duration) -> RunOutput {
        let mut cmd = self.command(program);
        cmd.args(args);
        self.run_command(cmd, timeout)
    }

    /// Runs a prepared command with a timeout.  stdout/stderr go to files,
    /// not pipes: an autostarted daemon may inherit them and keep them open.
    pub fn run_command(&self, cmd: Command, timeout: Duration) -> RunOutput {
        self.run_command_with_input(cmd, b"", timeout)
    }

    /// As [`Sandbox::run_command`], with `input` on the program's stdin
    /// (from a file, for the same reason).
    pub fn run_command_with_input(
        &self,
        mut cmd: Command,
        input: &[u8],
        timeout: Duration,
    ) -> RunOutput {
        let seq = SANDBOX_SEQ.fetch_add(1, Ordering::SeqCst);
        let in_path = self.out.join(format!("{seq}.stdin"));
        let out_path = self.out.join(format!("{seq}.stdout"));
        let err_path = self.out.join(format!("{seq}.stderr"));
        fs::write(&in_path, input).expect("create stdin file");
        let in_file = fs::File::open(&in_path).expect("open stdin file");
        let out_file = fs::File::create(&out_path).expect("create stdout file");
        let err_file = fs::File::create(&err_path).expect("create stderr file");
        let desc = format!("{cmd:?}");
        cmd.stdin(in_file).stdout(out_file).stderr(err_file);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
        let start = Instant::now();
        let mut status = None;
        let mut timed_out = false;
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                status = Some(st);
                break;
            }
            if start.elapsed() > timeout {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        RunOutput {
            desc,
            status,
            timed_out,
            elapsed: start.elapsed(),
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
            log: self.daemon_log(),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop_daemon();
        if std::env::var_os("PVM6_KEEP_SANDBOX").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// What a program run produced.
pub struct RunOutput {
    pub desc: String,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
    /// The daemon log at the end of the run.
    pub log: String,
}

impl RunOutput {
    /// Everything, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "command: {}\nstatus: {:?} (timed out: {}, {:?})\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- daemon log ---\n{}",
            self.desc, self.status, self.timed_out, self.elapsed, self.stdout, self.stderr, self.log
        )
    }

    /// Exit code, panicking with the full dump on timeout or signal.
    pub fn code(&self) -> i32 {
        assert!(!self.timed_out, "program timed out\n{}", self.dump());
        match self.status.and_then(|s| s.code()) {
            Some(c) => c,
            None => panic!("program killed by a signal\n{}", self.dump()),
        }
    }

    /// Asserts exit status 0.
    pub fn assert_success(&self) {
        assert_eq!(self.code(), 0, "program failed\n{}", self.dump());
    }

    /// Asserts that stdout contains `needle`.
    pub fn assert_stdout_has(&self, needle: &str) {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.dump()
        );
    }

    /// Asserts a TAP-style run: exit 0, at least one `ok` line, no `not ok`.
    pub fn assert_tap_ok(&self) {
        let not_ok: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| l.starts_with("not ok"))
            .collect();
        assert!(
            not_ok.is_empty(),
            "failed checks: {not_ok:#?}\n{}",
            self.dump()
        );
        assert!(
            self.stdout.lines().any(|l| l.starts_with("ok ")),
            "no check ran\n{}",
            self.dump()
        );
        self.assert_success();
    }
}

/// Runs a build command, panicking with its output if it fails.
pub fn run_build(mut cmd: Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({:?})\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends a signal with kill(1) (the tests use no unsafe code).
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits until `/proc/<pid>` is gone or is a zombie, at most `limit`.
fn wait_gone(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                // state is the field after the ")" closing the command name
                let state = stat
                    .rsplit(')')
                    .next()
                    .and_then(|s| s.split_whitespace().next());
                if state == Some("Z") {
                    return true;
                }
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Prints a loud skip notice on stderr: written to the process's stderr
/// directly, not through `eprintln!`, which the test runner captures and
/// hides for tests that pass.
pub fn loud_skip(test: &str, why: &str) {
    use std::io::Write;
    let notice = format!(
        "\n*****************************************************************\n\
         SKIP {test}: {why}\n\
         *****************************************************************\n\n"
    );
    let _ = std::io::stderr().write_all(notice.as_bytes());
}
