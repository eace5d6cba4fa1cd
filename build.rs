//! Build script: sets the shared library's SONAME, compiles the C part of
//! the library (c/varargs.c: pvm_packf and friends) into it, and makes the
//! thin libgpvm3 beside the libraries (docs/ARCHITECTURE.md, "libgpvm3").
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // libpvm3.so carries SONAME libpvm3.so.3 like PVM 3.4.6's library.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpvm3.so.3");
    println!("cargo:rerun-if-changed=build.rs");
    // What it exports is an allow-list: PVM 3.4.6's symbols that pvm6
    // implements and nothing of pvm6's own (tests/symbols.rs).
    let map = Path::new(env!("CARGO_MANIFEST_DIR")).join("c/libpvm3.map");
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        map.display()
    );
    println!("cargo:rerun-if-changed=c/libpvm3.map");

    // The C-variadic functions; src/ffi/varargs.rs exports them.
    cc::Build::new()
        .file("c/varargs.c")
        .include("include")
        .define("PVM6_VARARGS_BEHIND_RUST", None)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("pvm6varargs");
    println!("cargo:rerun-if-changed=c/varargs.c");
    println!("cargo:rerun-if-changed=include/pvm3.h");

    gpvm3();
}

/// Makes libgpvm3.a, libgpvm3.so.3 and the libgpvm3.so link in the profile
/// directory (target/<profile>/, where libpvm3 lands). The group calls live
/// in libpvm3; libgpvm3 holds one data-only object, and the shared one
/// names libpvm3.so.3 as needed (DT_NEEDED), so `-lgpvm3 -lpvm3` links and
/// programs built against PVM's libgpvm3.so.3 load libpvm3 through it.
fn gpvm3() {
    println!("cargo:rerun-if-changed=c/gpvm3.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
    let Some(profile) = out.ancestors().nth(3).map(Path::to_path_buf) else {
        println!(
            "cargo:warning=libgpvm3 not made: unexpected OUT_DIR {}",
            out.display()
        );
        return;
    };
    let objs = cc::Build::new()
        .file("c/gpvm3.c")
        .pic(true)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .cargo_metadata(false)
        .compile_intermediates();
    let cc = cc::Build::new().cargo_metadata(false).get_compiler();
    let run = |cmd: &mut Command| {
        let st = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(st.success(), "{cmd:?} failed: {st}");
    };
    // A stand-in libpvm3.so.3 (same SONAME, no symbols) to record the
    // dependency: the real one is linked after this script runs.
    let stub_dir = out.join("pvm3-stub");
    std::fs::create_dir_all(&stub_dir).expect("stub dir");
    let stub = stub_dir.join("libpvm3.so");
    run(cc
        .to_command()
        .args(["-shared", "-o"])
        .arg(&stub)
        .arg("-Wl,-soname,libpvm3.so.3")
        .args(&objs));
    let so = profile.join("libgpvm3.so.3");
    run(cc
        .to_command()
        .args(["-shared", "-o"])
        .arg(&so)
        .arg("-Wl,-soname,libgpvm3.so.3")
        .args(&objs)
        .arg("-Wl,--no-as-needed")
        .arg(&stub));
    let link = profile.join("libgpvm3.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("libgpvm3.so.3", &link).expect("libgpvm3.so link");
    let a = profile.join("libgpvm3.a");
    let _ = std::fs::remove_file(&a);
    run(
        Command::new(std::env::var("AR").unwrap_or_else(|_| "ar".into()))
            .arg("crs")
            .arg(&a)
            .args(&objs),
    );
}
