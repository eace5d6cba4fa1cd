//! pvm: the PVM console (see `pvm3::console` and docs/CONSOLE.md).
//!
//! `pvm [-n<hostname>] [-d<debugmask>] [hostfile]`

use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(pvm3::task::logging::env()).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = pvm3::console::run(&args);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
