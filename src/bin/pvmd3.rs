//! pvmd3: the PVM daemon.
fn main() {}
