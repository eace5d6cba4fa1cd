//! Terminals: echo on and off for the password dialog of `so=pw`
//! (daemon/dialog.rs), through rustix's termios calls.

use std::io;
use std::os::fd::BorrowedFd;

use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};

/// Turns the terminal on `fd` echoing on or off; returns whether it echoed
/// before. `Err` when `fd` is not a terminal.
pub fn set_echo(fd: BorrowedFd<'_>, on: bool) -> io::Result<bool> {
    let mut t = tcgetattr(fd)?;
    let was = t.local_modes.contains(LocalModes::ECHO);
    t.local_modes.set(LocalModes::ECHO, on);
    tcsetattr(fd, OptionalActions::Now, &t)?;
    Ok(was)
}
