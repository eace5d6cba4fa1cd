//! Slave startup, the parts that are plain text: the command the master
//! runs through `$PVM_RSH` to start a slave daemon, the slave's private
//! argument syntax (`pvmd3 -s key=value ...`), and the one line a slave
//! prints when it is ready (`pvm6 <protocol> <port> <arch> <speed> <dsig>`).
//! The process handling lives in the daemon's event loop (server/multi.rs).

use crate::hostfile::HostOpts;
use std::path::PathBuf;

/// How long the master waits for a slave: the remote shell, the reply
/// line, the TCP connection and the handshake together.
pub const START_TIMEOUT_SECS: u64 = 30;

/// Version number in the slave's reply line (the daemon-link protocol).
pub const LINK_PROTOCOL: i32 = 1;

/// What a slave daemon is told on its command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlaveArgs {
    /// Its host index (2, 3, ...).
    pub index: i32,
    /// The master daemon's tid (the only peer it accepts before it is placed).
    pub master: i32,
    /// Its name in the host table.
    pub name: String,
    /// Debug mask.
    pub debug: u32,
    /// PVM_ROOT to use when the remote environment has none.
    pub root: Option<String>,
    /// `ep=`: executable search path (colon separated).
    pub ep: Option<String>,
    /// `wd=`: working directory of spawned tasks.
    pub wd: Option<String>,
    /// `bx=`: debugger.
    pub bx: Option<String>,
    /// `po=`: TCP port.
    pub port: Option<u16>,
    /// `sp=`: relative speed.
    pub speed: Option<i32>,
    /// The virtual machine id the slave joins (`id=` of its line, else the
    /// master's `$PVM_VMID`); `Some("")` for the machine without an id,
    /// whatever `$PVM_VMID` the remote login sets.
    pub vmid: Option<String>,
    /// `hosts=NAME:INDEX,...`: started by a launcher that runs the same
    /// command on many nodes (one `srun` step, docs/LAUNCH.md): each slave
    /// takes the index of its own node's name ([`SlaveArgs::pick`]), stays
    /// in the foreground (the step is its lifetime) and prefixes its reply
    /// line with `@INDEX `.
    pub hosts: Option<Vec<(String, i32)>>,
    /// The machine's protection level of links between hosts (src/seal.rs).
    pub protect: Option<crate::seal::Level>,
    /// `maxmsg=`: the machine's largest message body in bytes (the
    /// master's `PVM6_MAX_MESSAGE` or `pvmd3 -m`), so every host of the
    /// machine has one limit whatever the remote environment says.
    pub max_message: Option<usize>,
}

/// Quotes `s` for a POSIX shell (single quotes).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl SlaveArgs {
    /// The arguments after `-s`, as words.
    pub fn to_words(&self) -> Vec<String> {
        let mut v = vec![
            format!("index={}", self.index),
            format!("master={:#x}", self.master as u32),
            format!("name={}", self.name),
            format!("debug={:#x}", self.debug),
        ];
        let mut opt = |k: &str, val: &Option<String>| {
            if let Some(x) = val {
                v.push(format!("{k}={x}"));
            }
        };
        opt("root", &self.root);
        opt("ep", &self.ep);
        opt("wd", &self.wd);
        opt("bx", &self.bx);
        if let Some(p) = self.port {
            v.push(format!("po={p}"));
        }
        if let Some(s) = self.speed {
            v.push(format!("sp={s}"));
        }
        if let Some(id) = &self.vmid {
            v.push(format!("vmid={id}"));
        }
        if let Some(h) = &self.hosts {
            let m: Vec<String> = h.iter().map(|(n, i)| format!("{n}:{i}")).collect();
            v.push(format!("hosts={}", m.join(",")));
        }
        if let Some(l) = self.protect {
            v.push(format!("protect={l}"));
        }
        if let Some(m) = self.max_message {
            v.push(format!("maxmsg={m}"));
        }
        v
    }

    /// Step mode: takes the index and name of node `me` from `hosts`.
    pub fn pick(&mut self, me: &str) -> Result<(), String> {
        let Some(h) = &self.hosts else {
            return Ok(());
        };
        let (name, index) = h
            .iter()
            .find(|(n, _)| crate::launch::alloc::same_host(n, me))
            .ok_or_else(|| format!("node {me} is not among the hosts of this start"))?;
        self.name = name.clone();
        self.index = *index;
        Ok(())
    }

    /// Parses the words after `-s`.
    pub fn parse(words: &[String]) -> Result<SlaveArgs, String> {
        let mut a = SlaveArgs::default();
        for w in words {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("slave argument \"{w}\" is not key=value"))?;
            let num = |v: &str| -> Result<i64, String> {
                let r = match v.strip_prefix("0x") {
                    Some(h) => i64::from_str_radix(h, 16),
                    None => v.parse(),
                };
                r.map_err(|_| format!("bad number in \"{w}\""))
            };
            match k {
                "index" => a.index = num(v)? as i32,
                "master" => a.master = num(v)? as u32 as i32,
                "name" => a.name = v.to_string(),
                "debug" => a.debug = num(v)? as u32,
                "root" => a.root = Some(v.to_string()),
                "ep" => a.ep = Some(v.to_string()),
                "wd" => a.wd = Some(v.to_string()),
                "bx" => a.bx = Some(v.to_string()),
                "po" => a.port = Some(num(v)? as u16),
                "sp" => a.speed = Some(num(v)? as i32),
                "vmid" => {
                    if v.contains('/') || v == "." || v == ".." {
                        return Err(format!("bad virtual machine id in \"{w}\""));
                    }
                    a.vmid = Some(v.to_string());
                }
                "hosts" => {
                    let mut m = Vec::new();
                    for item in v.split(',') {
                        let (n, i) = item
                            .rsplit_once(':')
                            .filter(|(n, _)| !n.is_empty())
                            .ok_or_else(|| format!("bad host in \"{w}\""))?;
                        m.push((n.to_string(), num(i)? as i32));
                    }
                    a.hosts = Some(m);
                }
                "protect" => {
                    a.protect = Some(
                        crate::seal::Level::parse(v)
                            .ok_or_else(|| format!("bad protection level in \"{w}\""))?,
                    )
                }
                "maxmsg" => {
                    a.max_message = Some(
                        crate::wire::parse_size(v)
                            .ok_or_else(|| format!("bad largest message in \"{w}\""))?,
                    )
                }
                _ => return Err(format!("unknown slave argument \"{w}\"")),
            }
        }
        if a.hosts.is_some() && a.name.is_empty() {
            // Step mode: index and name come from the node (pick).
            a.name = "-".into();
            a.index = 2;
        }
        if !(2..=crate::tid::MAX_HOSTS).contains(&a.index) {
            return Err("slave needs index=2..4095".into());
        }
        if !crate::tid::is_daemon(a.master) || a.name.is_empty() {
            return Err("slave needs master=<daemon tid> and name=".into());
        }
        Ok(a)
    }

    /// The slave arguments for host `name` with hostfile options `o`, in
    /// the machine of the master's VMID `vmid` (unless `o` has `id=`).
    pub fn for_host(
        index: i32,
        master: i32,
        name: &str,
        debug: u32,
        root: Option<&PathBuf>,
        vmid: Option<&str>,
        o: &HostOpts,
    ) -> SlaveArgs {
        SlaveArgs {
            index,
            master,
            name: name.to_string(),
            debug,
            root: root.map(|r| r.display().to_string()),
            ep: o.ep.clone(),
            wd: o.wd.clone(),
            bx: o.bx.clone(),
            port: o.po,
            speed: o.sp,
            vmid: Some(
                o.id.clone()
                    .filter(|i| !i.is_empty())
                    .or_else(|| vmid.map(str::to_string))
                    .unwrap_or_default(),
            ),
            hosts: None,
            protect: None,
            max_message: None,
        }
    }
}

/// The remote command line: `exec DX -s key=value ...`, every word quoted.
pub fn remote_command(dx: &str, args: &SlaveArgs) -> String {
    let mut s = format!("exec {} -s", shell_quote(dx));
    for w in args.to_words() {
        s.push(' ');
        s.push_str(&shell_quote(&w));
    }
    s
}

/// The shell script that picks the daemon on a host whose line has no
/// `dx=` (man pvmd3: `$PVM_ROOT/lib/pvmd`, or `$PVM_DPATH`): in the remote
/// login's environment, `$PVM_DPATH`, else `$PVM_ROOT/lib/pvmd`, each only
/// when it is executable and pvm6's (its bytes hold "pvm6": our pvmd3, or
/// the lib/pvmd script `make install` puts in a PVM_ROOT tree; PVM 3.4's
/// own daemon speaks another protocol), else `$1`, the master's own daemon
/// path (so a host without PVM_ROOT works when the path is shared).
pub const PICK_DAEMON: &str = "d=$1; shift; for c in \"${PVM_DPATH:-}\" \"${PVM_ROOT:+$PVM_ROOT/lib/pvmd}\"; do if [ -n \"$c\" ] && [ -f \"$c\" ] && [ -x \"$c\" ] && grep -qsF pvm6 \"$c\"; then d=$c; break; fi; done; exec \"$d\" \"$@\"";

/// The remote command line for a host without `dx=`: `/bin/sh` runs
/// [`PICK_DAEMON`] with the master's daemon path `fallback` and the slave's
/// arguments (whatever the login shell is, csh included).
pub fn remote_command_default_dx(fallback: &str, args: &SlaveArgs) -> String {
    let mut s = format!(
        "exec /bin/sh -c {} pvmd {} -s",
        shell_quote(PICK_DAEMON),
        shell_quote(fallback)
    );
    for w in args.to_words() {
        s.push(' ');
        s.push_str(&shell_quote(&w));
    }
    s
}

/// The line a ready slave prints.
pub fn reply_line(port: u16, arch: &str, speed: i32, dsig: i32) -> String {
    format!("pvm6 {LINK_PROTOCOL} {port} {arch} {speed} {dsig:#x}")
}

/// What a slave reported: port, arch, speed, dsig.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub port: u16,
    pub arch: String,
    pub speed: i32,
    pub dsig: i32,
}

/// Parses a slave's line. `pvm6 error <text>` and anything malformed are
/// errors carrying the text to log.
pub fn parse_reply(line: &str) -> Result<Reply, String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.first() != Some(&"pvm6") {
        return Err(format!("not a pvm6 slave reply: \"{line}\""));
    }
    if w.get(1) == Some(&"error") {
        return Err(format!("slave failed: {}", w[2..].join(" ")));
    }
    if w.len() != 6 {
        return Err(format!("malformed slave reply \"{line}\""));
    }
    if w[1].parse::<i32>().ok() != Some(LINK_PROTOCOL) {
        return Err(format!("slave speaks link protocol {}", w[1]));
    }
    let port = w[2]
        .parse()
        .map_err(|_| format!("bad port in \"{line}\""))?;
    let speed = w[4]
        .parse()
        .map_err(|_| format!("bad speed in \"{line}\""))?;
    let dsig = w[5]
        .strip_prefix("0x")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or_else(|| format!("bad dsig in \"{line}\""))? as i32;
    Ok(Reply {
        port,
        arch: w[3].to_string(),
        speed,
        dsig,
    })
}

/// The remote shell program: `$PVM_RSH`, else `ssh`.
pub fn rsh_program(env_rsh: Option<String>) -> String {
    env_rsh
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "ssh".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip_through_words() {
        let a = SlaveArgs {
            index: 3,
            master: 0x80040000u32 as i32,
            name: "fd00::3".into(),
            debug: 0x10,
            root: Some("/opt/pvm root".into()),
            ep: Some("/a:/b".into()),
            wd: None,
            bx: None,
            port: Some(4711),
            speed: Some(2000),
            vmid: Some("blue".into()),
            hosts: None,
            protect: Some(crate::seal::Level::Integrity),
            max_message: Some(1 << 20),
        };
        assert_eq!(SlaveArgs::parse(&a.to_words()).unwrap(), a);
        // Step mode: one command for many nodes, each picks its own line.
        let mut step = a.clone();
        step.hosts = Some(vec![("node2".into(), 2), ("node3".into(), 7)]);
        let mut w: Vec<String> = step
            .to_words()
            .into_iter()
            .filter(|w| !w.starts_with("index=") && !w.starts_with("name="))
            .collect();
        assert!(w.contains(&"hosts=node2:2,node3:7".to_string()));
        let mut p = SlaveArgs::parse(&w).unwrap();
        p.pick("node3").unwrap();
        assert_eq!((p.index, p.name.as_str()), (7, "node3"));
        assert!(p.pick("node9").unwrap_err().contains("node9"));
        w.push("hosts=:2".into());
        assert!(SlaveArgs::parse(&w).is_err());
        assert_eq!(SlaveArgs::parse(&a.to_words()).unwrap(), a);
        assert!(a.to_words().contains(&"protect=integrity".to_string()));
        assert!(a.to_words().contains(&"maxmsg=1048576".to_string()));
        let mut w = a.to_words();
        w.push("maxmsg=12".into());
        assert!(SlaveArgs::parse(&w)
            .unwrap_err()
            .contains("largest message"));
        let mut w = a.to_words();
        w.push("protect=weak".into());
        assert!(SlaveArgs::parse(&w)
            .unwrap_err()
            .contains("protection level"));
        let cmd = remote_command("/x/pvmd3", &a);
        assert!(cmd.starts_with("exec '/x/pvmd3' -s 'index=3' 'master=0x80040000'"));
        assert!(cmd.contains("'root=/opt/pvm root'"));
        assert!(SlaveArgs::parse(&["index=1".into()]).is_err());
        let mut none = a.clone();
        none.vmid = Some(String::new());
        assert_eq!(SlaveArgs::parse(&none.to_words()).unwrap(), none);
        let mut w = a.to_words();
        w.push("vmid=../x".into());
        assert!(SlaveArgs::parse(&w).is_err());
    }

    #[test]
    fn slaves_inherit_the_vmid_unless_their_line_has_id() {
        let mut o = HostOpts::default();
        let a = SlaveArgs::for_host(2, 0x80040000u32 as i32, "n2", 0, None, Some("red"), &o);
        assert_eq!(a.vmid.as_deref(), Some("red"));
        let a = SlaveArgs::for_host(2, 0x80040000u32 as i32, "n2", 0, None, None, &o);
        assert_eq!(a.vmid.as_deref(), Some(""));
        o.id = Some("green".into());
        let a = SlaveArgs::for_host(2, 0x80040000u32 as i32, "n2", 0, None, Some("red"), &o);
        assert_eq!(a.vmid.as_deref(), Some("green"));
    }

    /// Runs the default-dx command with `sh -c` in an environment `env`
    /// (a fake `pvmd` prints its path and arguments); what it printed.
    fn pick(env: &[(&str, &str)], fallback: &str) -> String {
        let a = SlaveArgs {
            index: 2,
            master: 0x80040000u32 as i32,
            name: "n2".into(),
            ..SlaveArgs::default()
        };
        let cmd = remote_command_default_dx(fallback, &a);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn default_dx_prefers_the_remotes_pvm6_daemon() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pvm6-dx-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("lib")).unwrap();
        let fake = |p: &std::path::Path, what: &str, ours: bool| {
            let mark = if ours { "# pvm6\n" } else { "# another pvmd\n" };
            std::fs::write(p, format!("#!/bin/sh\n{mark}echo {what} \"$@\"\n")).unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        let master = dir.join("master-pvmd3");
        let dpath = dir.join("dpath-pvmd");
        let other = dir.join("other-root");
        std::fs::create_dir_all(other.join("lib")).unwrap();
        fake(&master, "master", true);
        fake(&dpath, "dpath", true);
        fake(&root.join("lib/pvmd"), "root", true);
        fake(&other.join("lib/pvmd"), "original", false);
        let m = master.to_str().unwrap();
        let r = root.to_str().unwrap();
        let d = dpath.to_str().unwrap();
        let args = "-s index=2 master=0x80040000 name=n2 debug=0x0\n";
        assert_eq!(pick(&[], m), format!("master {args}"));
        assert_eq!(pick(&[("PVM_ROOT", r)], m), format!("root {args}"));
        assert_eq!(
            pick(&[("PVM_ROOT", r), ("PVM_DPATH", d)], m),
            format!("dpath {args}")
        );
        // Not executable, missing, or not pvm6's: the master's path.
        assert_eq!(
            pick(&[("PVM_DPATH", "/nonexistent")], m),
            format!("master {args}")
        );
        assert_eq!(
            pick(&[("PVM_ROOT", other.to_str().unwrap())], m),
            format!("master {args}")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn reply_lines() {
        let l = reply_line(4000, "LINUX64", 1000, 0x408c41);
        assert_eq!(l, "pvm6 1 4000 LINUX64 1000 0x408c41");
        let r = parse_reply(&l).unwrap();
        assert_eq!((r.port, r.speed, r.dsig), (4000, 1000, 0x408c41));
        assert!(parse_reply("pvm6 error already running").is_err());
        assert!(parse_reply("hello").is_err());
        assert!(parse_reply("pvm6 2 4000 LINUX64 1000 0x408c41").is_err());
    }
}
