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

/// Every program in c-tests/; `every_c_test_has_a_runner` keeps this in sync.
const PROGRAMS: &[&str] = &["t_big", "t_buffers", "t_msg", "t_opts", "t_pack", "t_task"];

/// Builds every program (children are spawned by name, so a program's own
/// binary must be in bin/LINUX64; the others are there too, as in the
/// original-PVM script), then runs `name`.
fn run_c_test(name: &str, link: Link) {
    let sb = Sandbox::new(name);
    let src_dir = repo_root().join("c-tests");
    for prog in PROGRAMS {
        let link_this = if *prog == name { link } else { Link::Shared };
        sb.compile(
            &src_dir.join(format!("{prog}.c")),
            &sb.bin.join(prog),
            link_this,
        );
    }
    let timeout = if name == "t_big" {
        Duration::from_secs(180)
    } else {
        RUN_TIMEOUT
    };
    let out = sb.run(&sb.bin.join(name), &[], timeout);
    out.assert_tap_ok();
}

macro_rules! c_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_c_test(stringify!($name), Link::Shared);
            }
        )*
    };
}

c_tests!(t_big, t_buffers, t_msg, t_opts, t_pack, t_task);

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
    assert_eq!(
        found, PROGRAMS,
        "c-tests/*.c and PROGRAMS (and the c_tests! list) differ"
    );
}
