//! Exports the C-variadic entry points `pvm_packf`, `pvm_unpackf`,
//! `pvm_vpackf` and `pvm_vunpackf`, whose bodies are C (c/varargs.c, built by
//! build.rs under the internal names `pvm6_c_*`).
//!
//! A cdylib exports only symbols that Rust itself defines, so each entry point
//! is a Rust naked function that jumps straight to its C body: arguments,
//! registers and the stack reach the C function untouched, which is the only
//! way to forward C varargs and `va_list` from stable Rust.

use core::arch::naked_asm;

extern "C" {
    fn pvm6_c_packf();
    fn pvm6_c_unpackf();
    fn pvm6_c_vpackf();
    fn pvm6_c_vunpackf();
}

/// Defines one exported trampoline.
macro_rules! trampoline {
    ($name:ident => $target:ident) => {
        /// Tail-jumps to the C body of the same name in c/varargs.c.
        ///
        /// # Safety
        /// Called from C with the arguments `pvm3.h` declares; they are
        /// passed on unchanged.
        #[no_mangle]
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name() {
            // SAFETY: a bare jump keeps every argument register, the stack
            // and the return address as the caller set them, so the C body
            // runs as if it had been called directly.
            #[cfg(target_arch = "x86_64")]
            naked_asm!("jmp {f}", f = sym $target);
            #[cfg(target_arch = "aarch64")]
            naked_asm!("b {f}", f = sym $target);
        }
    };
}

trampoline!(pvm_packf => pvm6_c_packf);
trampoline!(pvm_unpackf => pvm6_c_unpackf);
trampoline!(pvm_vpackf => pvm6_c_vpackf);
trampoline!(pvm_vunpackf => pvm6_c_vunpackf);
