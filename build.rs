//! Build script: sets the shared library's SONAME.
fn main() {
    // libpvm3.so carries SONAME libpvm3.so.3 like PVM 3.4.6's library.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpvm3.so.3");
    println!("cargo:rerun-if-changed=build.rs");
}
