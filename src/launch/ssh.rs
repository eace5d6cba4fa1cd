//! The options pvm6 adds to the remote shell when it is OpenSSH's `ssh`.
//!
//! Start-up on many hosts is CPU-bound, and the largest share of the
//! master's CPU per host was ssh's key exchange: OpenSSH 9.x prefers
//! `sntrup761x25519-sha512`, whose client side (a Streamlined NTRU Prime
//! key pair per connection) costs about 64 ms of CPU against 1 ms for
//! `curve25519-sha256` (benches/startup_cost.rs; docs/LAUNCH.md
//! "Start-up speed"). pvm6 therefore puts `curve25519-sha256` at the head
//! of ssh's own list (`KexAlgorithms=^...`): every other algorithm stays
//! allowed, so a server without it still works. `$PVM6_SSH_KEX` chooses:
//! unset, that preference; `default` (or empty), ssh's own choice (the
//! post-quantum hybrid, at that CPU cost); anything else, ssh's
//! `KexAlgorithms` value as given.

/// The environment variable choosing the key exchange.
pub const ENV_KEX: &str = "PVM6_SSH_KEX";

/// What pvm6 asks for when `$PVM6_SSH_KEX` is unset.
pub const PREFERRED_KEX: &str = "^curve25519-sha256";

/// Whether the remote shell `rsh` (a path or a program name) is `ssh`:
/// only then are ssh's options added (rsh, or a wrapper with another
/// name, gets the command line of PVM 3.4).
pub fn is_ssh(rsh: &str) -> bool {
    std::path::Path::new(rsh.trim())
        .file_name()
        .is_some_and(|n| n == "ssh")
}

/// The options to put before the host name on the remote shell's command
/// line, for remote shell `rsh` and `$PVM6_SSH_KEX` = `kex`.
pub fn options(rsh: &str, kex: Option<&str>) -> Vec<String> {
    if !is_ssh(rsh) {
        return Vec::new();
    }
    let value = match kex.map(str::trim) {
        None => PREFERRED_KEX,
        Some("") | Some("default") => return Vec::new(),
        Some(v) => v,
    };
    vec!["-o".to_string(), format!("KexAlgorithms={value}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ssh_gets_options() {
        let want = vec!["-o".to_string(), "KexAlgorithms=^curve25519-sha256".into()];
        assert_eq!(options("ssh", None), want);
        assert_eq!(options("/usr/bin/ssh", None), want);
        assert_eq!(options("/opt/x/ssh ", None), want);
        for other in ["rsh", "/usr/bin/rsh", "sshpass", "/tmp/ssh/rsh", "", "/"] {
            assert!(options(other, None).is_empty(), "{other:?}");
        }
    }

    #[test]
    fn the_environment_chooses() {
        assert!(options("ssh", Some("default")).is_empty());
        assert!(options("ssh", Some(" ")).is_empty());
        assert_eq!(
            options("ssh", Some("sntrup761x25519-sha512@openssh.com")),
            vec![
                "-o".to_string(),
                "KexAlgorithms=sntrup761x25519-sha512@openssh.com".into()
            ]
        );
        assert!(options("rsh", Some("curve25519-sha256")).is_empty());
    }
}
