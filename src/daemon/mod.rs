//! placeholder until the daemon branch is merged
pub fn start_background() -> crate::Result<()> {
    Err(crate::Error::SysErr)
}
