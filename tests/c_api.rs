//! Runs the C API test programs of `c-tests/` against this package's
//! libpvm3: each program is compiled with `gcc -Wall -Wextra -Werror` (shared
//! library with rpath; `t_pack` and `t_task` also statically against
//! libpvm3.a) into a private `PVM_ROOT/bin/LINUX64`, run with a private
//! PVM_TMP/HOME/PVM_ROOT and no daemon started by hand (the library starts
//! one), and must exit 0 without any `not ok` line.  One `#[test]` per
//! program; the sandbox stops its daemon and removes itself afterwards.

mod common;

use common::{repo_root, Link, Sandbox, RUN_TIMEOUT};
use std::fs;
use std::time::Duration;

/// Builds program `name` into bin/LINUX64 (children are spawned by the
/// program's own name, so pvm_spawn must find it there), then runs it.
fn run_c_test(name: &str, link: Link) {
    let sb = Sandbox::new(name);
    let src_dir = repo_root().join("c-tests");
    sb.compile(&src_dir.join(format!("{name}.c")), &sb.bin.join(name), link);
    let timeout = if name == "t_big" {
        Duration::from_secs(180)
    } else {
        RUN_TIMEOUT
    };
    let mut cmd = sb.command(&sb.bin.join(name));
    if name == "t_hostsync" {
        // The autostarted daemon answers pvm_hostsync 2.5 s ahead.
        cmd.env("PVM6_CLOCK_SKEW_US", "2500000");
    }
    let out = sb.run_command(cmd, timeout);
    out.assert_tap_ok();
    if name == "t_hostsync" {
        out.assert_stdout_has("# daemon clock offset 2500000 us\n");
        out.assert_stdout_has("delta -2.5 s is { -3, ~500000 }\n");
    }
    if name == "t_ring" {
        // The daemon says why it dropped the task that corrupted its ring.
        assert!(
            out.log
                .contains("bad shared ring: consumer position out of range from t40002"),
            "{}",
            out.dump()
        );
    }
}

/// One `#[test]` per program, and `PROGRAMS`, the list
/// `every_c_test_has_a_runner` compares with the directory.
macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        const PROGRAMS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_c_test(stringify!($name), Link::Shared);
            }
        )*
    };
}

c_tests!(
    t_big,
    t_buffers,
    t_direct_ring,
    t_env,
    t_groups,
    t_held,
    t_hostsync,
    t_internals,
    t_logging,
    t_longs,
    t_mbox,
    t_mhf,
    t_msg,
    t_notify,
    t_opts,
    t_output,
    t_pack,
    t_rm,
    t_rm2,
    t_ring,
    t_route,
    t_sizes,
    t_start,
    t_stride,
    t_task,
    t_tasker,
    t_threads
);

#[test]
fn t_pack_static() {
    run_c_test("t_pack", Link::Static);
}

#[test]
fn t_task_static() {
    run_c_test("t_task", Link::Static);
}

#[test]
fn every_c_test_has_a_runner() {
    let mut found: Vec<String> = fs::read_dir(repo_root().join("c-tests"))
        .expect("read c-tests")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".c").map(str::to_owned))
        .collect();
    found.sort();
    let mut listed: Vec<&str> = PROGRAMS.to_vec();
    listed.sort();
    assert_eq!(
        found, listed,
        "c-tests/*.c and PROGRAMS (and the c_tests! list) differ"
    );
}
