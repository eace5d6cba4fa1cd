//! Build script: sets the shared library's SONAME and compiles the C part of
//! the library (c/varargs.c: pvm_packf and friends) into it.
fn main() {
    // libpvm3.so carries SONAME libpvm3.so.3 like PVM 3.4.6's library.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpvm3.so.3");
    println!("cargo:rerun-if-changed=build.rs");

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
}
