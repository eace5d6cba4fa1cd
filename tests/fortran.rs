//! The Fortran 77 interface: include/fpvm3.h against PVM 3.4.6's header and
//! src/consts.rs, the f-tests/*.f programs, the Fortran examples of the PVM
//! 3.4.6 distribution built unchanged with gfortran, and Debian's prebuilt
//! Fortran examples run on our libpvm3.
//!
//! Programs are compiled with `gfortran -fallow-argument-mismatch` (F77
//! code passes arrays of any type to pvmfpack; modern gfortran refuses that
//! within one file without the flag) against `include/` and linked with
//! `-lfpvm3 -lgpvm3 -lpvm3` exactly as PVM 3.4 documents, from a directory
//! holding the empty libfpvm3.a/libgpvm3.a tools/mkthinlib.sh makes.
//!
//! Without gfortran the compiling tests skip loudly, unless CI=true, where
//! a missing gfortran fails. Parts needing the group calls (pvmfjoingroup
//! ..., libgpvm3) skip loudly while libpvm3 does not export them yet: they
//! depend on the groups branch.

mod common;

use common::{loud_skip, repo_root, RunOutput, Sandbox, RUN_TIMEOUT};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---- fpvm3.h ------------------------------------------------------------------

/// `PARAMETER (NAME = value)` statements of a fixed-form header, names
/// upper-cased (Fortran ignores case).
fn parameters(text: &str) -> BTreeMap<String, i64> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with(['c', 'C', '*', '!']) {
            continue;
        }
        let l = line.trim().to_ascii_lowercase();
        let Some(rest) = l.strip_prefix("parameter") else {
            continue;
        };
        let inner = rest
            .trim()
            .trim_start_matches('(')
            .trim_end()
            .trim_end_matches(')');
        for item in inner.split(',') {
            let (name, value) = item.split_once('=').expect("NAME = value");
            let v: i64 = value.trim().parse().expect("integer value");
            let prev = map.insert(name.trim().to_ascii_uppercase(), v);
            assert!(prev.is_none(), "{} defined twice", name.trim());
        }
    }
    map
}

fn our_header() -> BTreeMap<String, i64> {
    let text = fs::read_to_string(repo_root().join("include/fpvm3.h")).expect("read fpvm3.h");
    for (i, line) in text.lines().enumerate() {
        assert!(
            line.len() <= 72,
            "fpvm3.h line {} is longer than 72 columns",
            i + 1
        );
        assert!(
            line.is_empty() || line.starts_with("c") || line.starts_with("      "),
            "fpvm3.h line {} is not fixed form: {line:?}",
            i + 1
        );
    }
    parameters(&text)
}

#[test]
fn fpvm3_h_equals_pvm_3_4_6() {
    let ours = our_header();
    let reference = Path::new("/usr/include/fpvm3.h");
    if !reference.is_file() {
        loud_skip(
            "fpvm3_h_equals_pvm_3_4_6",
            "/usr/include/fpvm3.h is absent (apt-get install pvm-dev)",
        );
        return;
    }
    let orig = parameters(&fs::read_to_string(reference).expect("read the reference"));
    assert_eq!(orig.len(), 109, "the reference has 109 parameters");
    assert_eq!(ours, orig, "include/fpvm3.h differs from PVM 3.4.6's");
}

/// The C name (src/consts.rs) of each fpvm3.h parameter whose name is not
/// the C name in upper case.
const C_NAMES: &[(&str, &str)] = &[
    ("PVMHOST", "PvmTaskHost"),
    ("PVMARCH", "PvmTaskArch"),
    ("PVMDEBUG", "PvmTaskDebug"),
    ("PVMTRACE", "PvmTaskTrace"),
    ("PVMDEFAULT", "PvmDataDefault"),
    ("PVMRAW", "PvmDataRaw"),
    ("PVMINPLACE", "PvmDataInPlace"),
    ("PVMSOUTPUTTID", "PvmSelfOutputTid"),
    ("PVMSOUTPUTCODE", "PvmSelfOutputCode"),
    ("PVMSTRACETID", "PvmSelfTraceTid"),
    ("PVMSTRACECODE", "PvmSelfTraceCode"),
    ("PVMSTRACEBUFFER", "PvmSelfTraceBuffer"),
    ("PVMSTRACEOPTIONS", "PvmSelfTraceOptions"),
    ("PVMOUTPUTCTX", "PvmOutputContext"),
    ("PVMTRACECTX", "PvmTraceContext"),
    ("PVMSOUTPUTCTX", "PvmSelfOutputContext"),
    ("PVMSTRACECTX", "PvmSelfTraceContext"),
    ("STRING", "PVM_STR"),
    ("BYTE1", "PVM_BYTE"),
    ("INTEGER2", "PVM_SHORT"),
    ("INTEGER4", "PVM_INT"),
    ("REAL4", "PVM_FLOAT"),
    ("COMPLEX8", "PVM_CPLX"),
    ("REAL8", "PVM_DOUBLE"),
    ("COMPLEX16", "PVM_DCPLX"),
    ("INTEGER8", "PVM_LONG"),
];

#[test]
fn fpvm3_h_equals_consts() {
    let ours = our_header();
    let by_upper: BTreeMap<String, (&str, i64)> = pvm3::consts::ALL
        .iter()
        .map(|&(n, v)| (n.to_ascii_uppercase(), (n, v)))
        .collect();
    for (name, value) in &ours {
        let c_name = C_NAMES
            .iter()
            .find(|(f, _)| f == name)
            .map(|&(_, c)| c.to_ascii_uppercase())
            .unwrap_or_else(|| name.clone());
        let (cn, cv) = by_upper
            .get(&c_name)
            .unwrap_or_else(|| panic!("fpvm3.h's {name} has no C twin {c_name} in consts::ALL"));
        if name == "PVMDUPENTRY" {
            // PVM 3.4.6's headers disagree: pvm3.h aliases PvmDupEntry to
            // PvmDenied (-8), fpvm3.h gives it PvmExists' value (-33).
            assert_eq!((*value, *cv), (-33, -8), "PvmDupEntry");
            continue;
        }
        assert_eq!(value, cv, "fpvm3.h's {name} differs from consts::{cn}");
    }
}

// ---- the entry points ---------------------------------------------------------

/// Every entry point of PVM 3.4.6's libfpvm3.a (its `T` symbols but the two
/// C string helpers ctofstr/ftocstr), with where pvm6 defines it.
const ENTRY_POINTS: &[(&str, Part)] = &[
    ("pvmfaddhost_", Part::Hosts),
    ("pvmfaddmhf_", Part::Core),
    ("pvmfarchcode_", Part::Core),
    ("pvmfbarrier_", Part::Groups),
    ("pvmfbcast_", Part::Groups),
    ("pvmfbufinfo_", Part::Core),
    ("pvmfcatchout_", Part::Core),
    ("pvmfconfig_", Part::Core),
    ("pvmfdelhost_", Part::Hosts),
    ("pvmfdelinfo_", Part::Core),
    ("pvmfdelmhf_", Part::Core),
    ("pvmfexit_", Part::Core),
    ("pvmffreebuf_", Part::Core),
    ("pvmffreecontext_", Part::Core),
    ("pvmffreezegroup_", Part::Groups),
    ("pvmfgather_", Part::Groups),
    ("pvmfgetcontext_", Part::Core),
    ("pvmfgetinst_", Part::Groups),
    ("pvmfgetmboxinfo_", Part::Core),
    ("pvmfgetopt_", Part::Core),
    ("pvmfgetrbuf_", Part::Core),
    ("pvmfgetsbuf_", Part::Core),
    ("pvmfgettid_", Part::Groups),
    ("pvmfgsize_", Part::Groups),
    ("pvmfhalt_", Part::Core),
    ("pvmfhostsync_", Part::Core),
    ("pvmfinitsend_", Part::Core),
    ("pvmfjoingroup_", Part::Groups),
    ("pvmfkill_", Part::Core),
    ("pvmflvgroup_", Part::Groups),
    ("pvmfmcast_", Part::Core),
    ("pvmfmkbuf_", Part::Core),
    ("pvmfmstat_", Part::Core),
    ("pvmfmytid_", Part::Core),
    ("pvmfnewcontext_", Part::Core),
    ("pvmfnotify_", Part::Core),
    ("pvmfnrecv_", Part::Core),
    ("pvmfpack_", Part::Core),
    ("pvmfparent_", Part::Core),
    ("pvmfperror_", Part::Core),
    ("pvmfprecv_", Part::Core),
    ("pvmfprobe_", Part::Core),
    ("pvmfpsend_", Part::Core),
    ("pvmfpstat_", Part::Core),
    ("pvmfputinfo_", Part::Core),
    ("pvmfrecv_", Part::Core),
    ("pvmfrecvinfo_", Part::Core),
    ("pvmfreduce_", Part::Groups),
    ("pvmfscatter_", Part::Groups),
    ("pvmfsend_", Part::Core),
    ("pvmfsendsig_", Part::Core),
    ("pvmfsetcontext_", Part::Core),
    ("pvmfsetopt_", Part::Core),
    ("pvmfsetrbuf_", Part::Core),
    ("pvmfsetsbuf_", Part::Core),
    ("pvmfsiblings_", Part::Core),
    ("pvmfsleep_", Part::Core),
    ("pvmfspawn_", Part::Core),
    ("pvmfstartpvmd_", Part::Core),
    ("pvmftasks_", Part::Core),
    ("pvmftidtohost_", Part::Core),
    ("pvmftrecv_", Part::Core),
    ("pvmfunpack_", Part::Core),
    ("pvmmax_", Part::Groups),
    ("pvmmin_", Part::Groups),
    ("pvmproduct_", Part::Groups),
    ("pvmsum_", Part::Groups),
];

/// Which source file of src/ffi defines an entry point.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Part {
    /// fortran.rs, always built.
    Core,
    /// fortran_groups.rs, built with the group library.
    Groups,
    /// fortran_hosts.rs, built with pvm_addhosts/pvm_delhosts.
    Hosts,
}

fn defined_dynamic_symbols() -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(common::lib_dir().join("libpvm3.so"))
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" T "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

#[test]
fn entry_point_list_is_pvm_3_4_6s() {
    let lib = Path::new("/usr/lib/x86_64-linux-gnu/libfpvm3.a");
    if !lib.is_file() {
        loud_skip(
            "entry_point_list_is_pvm_3_4_6s",
            "libfpvm3.a of pvm-dev is absent",
        );
        return;
    }
    let out = Command::new("nm").arg(lib).output().expect("run nm");
    let mut orig: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" T "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .filter(|n| n != "ctofstr" && n != "ftocstr")
        .collect();
    orig.sort();
    let ours: Vec<String> = ENTRY_POINTS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(ours, orig);
}

#[test]
fn fortran_entry_points_are_exported() {
    let syms = defined_dynamic_symbols();
    let has = |n: &str| syms.iter().any(|s| s == n);
    let missing: Vec<&str> = ENTRY_POINTS
        .iter()
        .filter(|(n, p)| *p == Part::Core && !has(n))
        .map(|(n, _)| *n)
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    assert!(has("pvmsleep"), "pvmsleep (libpvm3's helper) not exported");
    for (part, witness) in [
        (Part::Groups, "pvm_joingroup"),
        (Part::Hosts, "pvm_addhosts"),
    ] {
        let absent: Vec<&str> = ENTRY_POINTS
            .iter()
            .filter(|(n, p)| *p == part && !has(n))
            .map(|(n, _)| *n)
            .collect();
        if has(witness) {
            assert!(
                absent.is_empty(),
                "{witness} is exported but not the Fortran wrappers {absent:?}: \
                 add `pub mod fortran_{}s;` to src/ffi/mod.rs",
                if part == Part::Groups {
                    "group"
                } else {
                    "host"
                }
            );
        } else if !absent.is_empty() {
            loud_skip(
                "fortran_entry_points_are_exported",
                &format!(
                    "{} entry points wait for {witness}: {absent:?}",
                    absent.len()
                ),
            );
        }
    }
}

// ---- building Fortran programs --------------------------------------------------

/// Whether gfortran can be used; without it the test skips loudly, or
/// fails under CI=true.
fn have_gfortran(test: &str) -> bool {
    let ok = Command::new("gfortran")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "gfortran is required under CI (apt-get install gfortran)"
        );
        loud_skip(test, "gfortran is not installed (apt-get install gfortran)");
    }
    ok
}

/// Whether our libpvm3 exports the Fortran group calls (the groups branch).
fn have_groups(test: &str) -> bool {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(common::lib_dir().join("libpvm3.so"))
        .output()
        .expect("run nm");
    let text = String::from_utf8_lossy(&out.stdout);
    let ok = text
        .lines()
        .any(|l| l.ends_with(" pvmfjoingroup_") || l.ends_with(" pvm_joingroup"));
    if !ok {
        loud_skip(
            test,
            "libpvm3 has no group calls yet (pvm_joingroup, pvmfjoingroup_): depends on the groups merge",
        );
    }
    ok
}

/// A sandbox whose lib/ also has libfpvm3.a and libgpvm3.a (the real ones
/// from the build directory when present, else made by tools/mkthinlib.sh)
/// and libgpvm3.so.3 for Debian's group examples (our libpvm3, which holds
/// the group calls).
fn fortran_sandbox(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    let built = common::lib_dir();
    let mut make = Vec::new();
    for lib in ["fpvm3", "gpvm3"] {
        let f = format!("lib{lib}.a");
        if built.join(&f).is_file() {
            symlink(built.join(&f), sb.lib.join(&f)).expect("symlink lib");
        } else {
            make.push(lib);
        }
    }
    if !make.is_empty() {
        let mut cmd = Command::new("sh");
        cmd.arg(repo_root().join("tools/mkthinlib.sh"))
            .arg(&sb.lib)
            .args(&make);
        common::run_build(cmd, "tools/mkthinlib.sh");
    }
    // Sandbox::new links the built libgpvm3.so.3; Debian's group-using
    // binaries need it.
    assert!(
        sb.lib.join("libgpvm3.so.3").exists(),
        "libgpvm3.so.3 not built"
    );
    sb
}

/// Compiles Fortran sources into `out`, linked the PVM 3.4 way.
fn gfortran(sb: &Sandbox, sources: &[PathBuf], include: &[&Path], out: &Path) {
    gfortran_with(sb, sources, include, out, &[]);
}

/// [`gfortran`] with extra compiler flags.
fn gfortran_with(sb: &Sandbox, sources: &[PathBuf], include: &[&Path], out: &Path, flags: &[&str]) {
    let mut cmd = Command::new("gfortran");
    cmd.args(["-fallow-argument-mismatch", "-w"]).args(flags);
    for dir in include {
        cmd.arg("-I").arg(dir);
    }
    cmd.args(sources)
        .arg("-o")
        .arg(out)
        .arg("-L")
        .arg(&sb.lib)
        .arg(format!("-Wl,-rpath,{}", sb.lib.display()))
        .args(["-lfpvm3", "-lgpvm3", "-lpvm3"]);
    common::run_build(cmd, &format!("gfortran {}", out.display()));
}

/// Builds f-tests/<name>.f (with the TAP helpers) into the sandbox's
/// bin/LINUX64, where spawned copies are found, and runs it.
fn run_ftest(name: &str) -> RunOutput {
    let sb = fortran_sandbox(name);
    let dir = repo_root().join("f-tests");
    let exe = sb.bin.join(name);
    gfortran(
        &sb,
        &[dir.join(format!("{name}.f")), dir.join("tap.f")],
        &[&repo_root().join("include"), &dir],
        &exe,
    );
    sb.run(&exe, &[], RUN_TIMEOUT)
}

/// [`run_ftest`] with extra environment variables (seen by the daemon the
/// program starts, too).
fn run_ftest_env(name: &str, env: &[(&str, &str)]) -> RunOutput {
    let sb = fortran_sandbox(name);
    let dir = repo_root().join("f-tests");
    let exe = sb.bin.join(name);
    gfortran(
        &sb,
        &[dir.join(format!("{name}.f")), dir.join("tap.f")],
        &[&repo_root().join("include"), &dir],
        &exe,
    );
    let mut cmd = sb.command(&exe);
    for (k, v) in env {
        cmd.env(k, v);
    }
    sb.run_command(cmd, RUN_TIMEOUT)
}

#[test]
fn f_basic() {
    if !have_gfortran("f_basic") {
        return;
    }
    let out = run_ftest("t_fbasic");
    out.assert_tap_ok();
    out.assert_stdout_has("# 63 passed, 0 failed\n");
}

#[test]
fn f_pack_and_strings() {
    if !have_gfortran("f_pack_and_strings") {
        return;
    }
    let out = run_ftest("t_fpack");
    out.assert_tap_ok();
    out.assert_stdout_has("# 55 passed, 0 failed\n");
}

#[test]
fn f_spawn() {
    if !have_gfortran("f_spawn") {
        return;
    }
    let out = run_ftest("t_fspawn");
    out.assert_tap_ok();
    out.assert_stdout_has("# 27 passed, 0 failed\n");
    // pvmfcatchout(1): the children's output, tagged with their tids
    for (n, tid) in [(1, "t40002"), (2, "t40003"), (3, "t40004")] {
        out.assert_stdout_has(&format!("[{tid}] child {n} here\n"));
        out.assert_stdout_has(&format!("[{tid}] EOF\n"));
    }
}

#[test]
fn f_hostsync() {
    if !have_gfortran("f_hostsync") {
        return;
    }
    // The daemon's clock answers 1.25 s behind: delta is +1.25 s.
    let out = run_ftest_env("t_fhostsync", &[("PVM6_CLOCK_SKEW_US", "-1250000")]);
    out.assert_tap_ok();
    out.assert_stdout_has("# 12 passed, 0 failed\n");
}

#[test]
fn f_groups() {
    if !have_gfortran("f_groups") || !have_groups("f_groups") {
        return;
    }
    let out = run_ftest("t_fgroup");
    out.assert_tap_ok();
    out.assert_stdout_has("# 22 passed, 0 failed\n");
}

// ---- the PVM 3.4.6 distribution's Fortran examples ------------------------------

const EXAMPLES: &str = "/usr/share/doc/pvm-examples/examples.tar.gz";
const GEXAMPLES: &str = "/usr/share/doc/pvm-examples/gexamples.tar.gz";

/// A sandbox with the distribution's Fortran sources unpacked under
/// `<dir>/src`, or None (after a loud skip).
fn distribution(test: &str) -> Option<Sandbox> {
    if !have_gfortran(test) {
        return None;
    }
    if !Path::new(EXAMPLES).is_file() || !Path::new(GEXAMPLES).is_file() {
        loud_skip(test, "the pvm-examples sources are absent");
        return None;
    }
    let sb = fortran_sandbox(test);
    let src = sb.dir.join("src");
    fs::create_dir_all(&src).expect("mkdir src");
    for tarball in [EXAMPLES, GEXAMPLES] {
        let mut cmd = Command::new("tar");
        cmd.arg("xzf").arg(tarball).arg("-C").arg(&src);
        common::run_build(cmd, "unpack the examples");
    }
    Some(sb)
}

/// Builds one unchanged example (`include '../include/fpvm3.h'` resolves
/// through `-I include`) into bin/LINUX64/<exe>.
fn build_example(sb: &Sandbox, source: &str, exe: &str) -> PathBuf {
    build_example_with(sb, source, exe, &[])
}

/// [`build_example`] with extra compiler flags.
fn build_example_with(sb: &Sandbox, source: &str, exe: &str, flags: &[&str]) -> PathBuf {
    let out = sb.bin.join(exe);
    gfortran_with(
        sb,
        &[sb.dir.join("src").join(source)],
        &[&repo_root().join("include")],
        &out,
        flags,
    );
    out
}

/// The checks of fmaster1's output, as PVM 3.4.6 prints it:
/// "Spawning 3 tasks ... SUCCESSFUL" and one "I got X from N (expected X)"
/// per worker.
fn check_master1(out: &RunOutput) {
    out.assert_success();
    let words: Vec<String> = out.stdout.split_whitespace().map(str::to_string).collect();
    let text = words.join(" ");
    assert!(
        text.starts_with("Spawning 3 tasks ... SUCCESSFUL"),
        "{}",
        out.dump()
    );
    let mut seen = Vec::new();
    for part in text.split("I got ").skip(1) {
        let w: Vec<&str> = part.split_whitespace().collect();
        // X from N (expected X )
        assert_eq!(w[1], "from", "{}", out.dump());
        assert_eq!(w[3], "(expected", "{}", out.dump());
        assert_eq!(w[0], w[4], "a worker's sum is wrong\n{}", out.dump());
        seen.push(w[2].parse::<u32>().expect("worker number"));
    }
    seen.sort_unstable();
    assert_eq!(seen, [0, 1, 2], "{}", out.dump());
}

fn check_spmd_alone(out: &RunOutput) {
    out.assert_success();
    let lines: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "Pass a token through the 1 tid ring:",
            "262145 -> 262145",
            "token ring done"
        ],
        "{}",
        out.dump()
    );
}

/// hitc: one host, ten results from the one slave, the last task of size -1.
fn check_hitc(out: &RunOutput) {
    out.assert_success();
    let lines: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("1 hosts detected in configuration"),
        "{}",
        out.dump()
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Program Finished"),
        "{}",
        out.dump()
    );
    let got = lines
        .iter()
        .filter(|l| *l == "I got result from tid: 262146")
        .count();
    assert_eq!(got, 10, "ten results from t40002\n{}", out.dump());
    let sent: Vec<&String> = lines.iter().filter(|l| l.starts_with("sent ")).collect();
    assert_eq!(sent.len(), 10, "{}", out.dump());
    assert_eq!(
        sent[9].as_str(),
        "sent 262146 task of size: -1",
        "{}",
        out.dump()
    );
}

fn check_gexample(out: &RunOutput) {
    out.assert_success();
    let text = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "There are 1 machines in the configuration",
        "Starting 1 tasks",
        "--> using 2 processors <--",
        "The 1-Norm is 5050",
        "The product of column 1 is 9.3326215443944127E+157",
    ] {
        assert!(text.contains(want), "lacks {want:?}\n{}", out.dump());
    }
}

/// frsg's checks. Its first sum (Sum1: the partial sums pvm_gather
/// brings to the root) starts each task's partial sum from a local
/// variable the example never sets (PSum), so it is right only where that
/// stack slot happens to hold 0: always when built with
/// `-finit-local-zero` (`psum_defined`), and for Debian's binary on some
/// machines only. The second (Sum2: pvm_reduce's) and the user-defined
/// reduce's result must be right in every case.
fn check_frsg(out: &RunOutput, psum_defined: bool) {
    out.assert_success();
    let text = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    let ok = "/ Test OK: Sum of Squares of first 40 integers is 22140";
    for want in [
        "INPUT values: nprocs = 4 , count = 10",
        "Test Ok: Received ( 10.000000000000000 , 2.0000000000000000 )",
    ] {
        assert!(text.contains(want), "lacks {want:?}\n{}", out.dump());
    }
    if psum_defined || text.contains(ok) {
        assert!(text.contains(ok), "lacks {ok:?}\n{}", out.dump());
        return;
    }
    let sum2 = text
        .split(" and by Sum2 as ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next());
    assert_eq!(
        sum2,
        Some("22140"),
        "pvm_reduce's sum of squares is wrong\n{}",
        out.dump()
    );
}

/// frsg asks for the number of tasks and of elements on stdin.
fn run_frsg(sb: &Sandbox, exe: &Path, env_lib: bool) -> RunOutput {
    let mut cmd = sb.command(Path::new("/bin/sh"));
    cmd.arg("-c")
        .arg(format!("printf '4\\n10\\n' | exec {}", exe.display()));
    if env_lib {
        cmd.env("LD_LIBRARY_PATH", &sb.lib);
    }
    sb.run_command(cmd, RUN_TIMEOUT)
}

#[test]
fn distribution_master1_slave1() {
    let Some(sb) = distribution("distribution_master1_slave1") else {
        return;
    };
    build_example(&sb, "examples/slave1.f", "fslave1");
    let master = build_example(&sb, "examples/master1.f", "fmaster1");
    check_master1(&sb.run(&master, &[], RUN_TIMEOUT));
}

#[test]
fn distribution_spmd() {
    let Some(sb) = distribution("distribution_spmd") else {
        return;
    };
    let spmd = build_example(&sb, "examples/spmd.f", "fspmd");
    check_spmd_alone(&sb.run(&spmd, &[], RUN_TIMEOUT));
}

#[test]
fn distribution_hitc() {
    let Some(sb) = distribution("distribution_hitc") else {
        return;
    };
    build_example(&sb, "examples/hitc_slave.f", "hitc_slave");
    let hitc = build_example(&sb, "examples/hitc.f", "hitc");
    check_hitc(&sb.run(&hitc, &[], RUN_TIMEOUT));
}

#[test]
fn distribution_gexample() {
    let Some(sb) = distribution("distribution_gexample") else {
        return;
    };
    if !have_groups("distribution_gexample") {
        return;
    }
    let g = build_example(&sb, "examples/gexample.f", "fgexample");
    check_gexample(&sb.run(&g, &[], RUN_TIMEOUT));
}

#[test]
fn distribution_frsg() {
    let Some(sb) = distribution("distribution_frsg") else {
        return;
    };
    if !have_groups("distribution_frsg") {
        return;
    }
    // frsg reads a local it never sets (see check_frsg): defined here.
    let f = build_example_with(&sb, "gexamples/frsg.f", "frsg", &["-finit-local-zero"]);
    check_frsg(&run_frsg(&sb, &f, false), true);
}

// ---- Debian's prebuilt Fortran examples on our libpvm3 --------------------------
//
// They carry PVM 3.4.6's own Fortran wrappers (libfpvm3 is linked into them
// statically) and load libpvm3.so.3 (and libgpvm3.so.3) dynamically: what
// is tested here is our C ABI under the original wrappers.

/// A sandbox with Debian's Fortran binaries linked into bin/LINUX64, or None.
fn debian(test: &str) -> Option<Sandbox> {
    if !Path::new("/usr/bin/fmaster1").is_file() {
        loud_skip(
            test,
            "/usr/bin/fmaster1 is absent (apt-get install pvm-examples)",
        );
        return None;
    }
    let sb = fortran_sandbox(test);
    for prog in ["fslave1", "fspmd", "hitc_slave", "fgexample", "frsg"] {
        symlink(Path::new("/usr/bin").join(prog), sb.bin.join(prog)).expect("symlink");
    }
    Some(sb)
}

fn run_debian(sb: &Sandbox, program: &str) -> RunOutput {
    let mut cmd = sb.command(Path::new(program));
    cmd.env("LD_LIBRARY_PATH", &sb.lib);
    sb.run_command(cmd, RUN_TIMEOUT)
}

#[test]
fn debian_fmaster1() {
    let Some(sb) = debian("debian_fmaster1") else {
        return;
    };
    check_master1(&run_debian(&sb, "/usr/bin/fmaster1"));
}

#[test]
fn debian_fspmd() {
    let Some(sb) = debian("debian_fspmd") else {
        return;
    };
    check_spmd_alone(&run_debian(&sb, "/usr/bin/fspmd"));
}

#[test]
fn debian_hitc() {
    let Some(sb) = debian("debian_hitc") else {
        return;
    };
    check_hitc(&run_debian(&sb, "/usr/bin/hitc"));
}

#[test]
fn debian_fgexample() {
    let Some(sb) = debian("debian_fgexample") else {
        return;
    };
    if !have_groups("debian_fgexample") {
        return;
    }
    check_gexample(&run_debian(&sb, "/usr/bin/fgexample"));
}

#[test]
fn debian_frsg() {
    let Some(sb) = debian("debian_frsg") else {
        return;
    };
    if !have_groups("debian_frsg") {
        return;
    }
    check_frsg(&run_frsg(&sb, Path::new("/usr/bin/frsg"), true), false);
}
