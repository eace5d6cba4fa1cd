//! Output formats of the console's listings, column for column as PVM
//! 3.4.6's console prints them (scripts parse them): `conf`, `ps` (short
//! and long), `pstat`, `mstat`, the results of `add`/`delete`/`spawn`,
//! `names`, `getopt`/`setopt`. Pure functions of the values.

use crate::task::{HostInfo, MboxClass, TaskInfo};
use crate::{tid, Error};

/// Task flag bits (`ti_flag`, PVM 3.4.6's task states) and the letters
/// `ps` shows for them, in display order (highest bit first): tasker,
/// hoster, resource manager, shared-memory deadlock, connection closing,
/// waiting for authentication, connected, started by its pvmd.
const FLAG_LETTERS: &[(i32, &str)] = &[
    (0x400, "T"),
    (0x200, "H"),
    (0x100, "R"),
    (0x20, "s"),
    (0x10, "o"),
    (0x8, "a"),
    (0x4, "c"),
    (0x2, "f"),
];

/// `conf`: `N host(s), M data format(s)`, the header and one line per host.
pub fn conf(narch: i32, hosts: &[HostInfo]) -> String {
    conf_suspects(narch, hosts, 0, &[])
}

/// [`conf`] with the hosts the daemon suspects marked at the end of their
/// line: `suspected (silent 12 s; dead after 60 s)`. `suspects` lists
/// (daemon tid, seconds silent), `timeout` is the host timeout (seconds).
pub fn conf_suspects(
    narch: i32,
    hosts: &[HostInfo],
    timeout: u32,
    suspects: &[(i32, u32)],
) -> String {
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("{n} {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    let mut s = format!(
        "{}, {}\n",
        plural(hosts.len(), "host"),
        plural(narch.max(0) as usize, "data format")
    );
    s.push_str(&format!(
        "{:>24} {:>8} {:>8} {:>7} {:>10}\n",
        "HOST", "DTID", "ARCH", "SPEED", "DSIG"
    ));
    for h in hosts {
        s.push_str(&format!(
            "{:>24} {:>8x} {:>8} {:>7} 0x{:08x}\n",
            h.name,
            tid::host_of(h.tid),
            h.arch,
            h.speed,
            h.dsig
        ));
        if let Some((_, secs)) = suspects
            .iter()
            .find(|(t, _)| tid::host_of(*t) == tid::host_of(h.tid))
        {
            s.pop();
            s.push_str(&format!(
                "  suspected (silent {secs} s; dead after {timeout} s)\n"
            ));
        }
    }
    s
}

/// The FLAG column: hex value, then `/` and the letters of the bits set,
/// comma-separated (`6/c,f`); the hex value alone when no lettered bit is
/// set (`0`, `1`), as PVM 3.4.6's console prints it.
pub fn flag(f: i32) -> String {
    let letters: Vec<&str> = FLAG_LETTERS
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, l)| *l)
        .collect();
    if letters.is_empty() {
        format!("{f:x}")
    } else {
        format!("{:x}/{}", f, letters.join(","))
    }
}

/// The `ps` header line.
pub fn ps_header(long: bool) -> String {
    if long {
        format!(
            "{:>24} {:>8} {:>8} {:>6} {:>9} COMMAND\n",
            "HOST", "TID", "PTID", "PID", "FLAG 0x"
        )
    } else {
        format!("{:>24} {:>8} {:>9} COMMAND\n", "HOST", "TID", "FLAG 0x")
    }
}

/// One `ps` line: `me` is the console's tid (shown as `(cons)`).
pub fn ps_row(host: &str, t: &TaskInfo, me: i32, long: bool) -> String {
    let tidcol = if t.tid == me {
        "(cons)".to_string()
    } else {
        format!("{:x}", t.tid)
    };
    let cmd = if t.name.is_empty() { "-" } else { &t.name };
    if long {
        let ptid = if t.ptid == 0 {
            "-".to_string()
        } else if t.ptid == me {
            // A child of the console, as the original marks it.
            "(cons)".to_string()
        } else {
            format!("{:x}", t.ptid)
        };
        format!(
            "{:>24} {:>8} {:>8} {:>6} {:>9} {:<12}\n",
            host,
            tidcol,
            ptid,
            t.pid,
            flag(t.flag),
            cmd
        )
    } else {
        format!(
            "{:>24} {:>8} {:>9} {:<12}\n",
            host,
            tidcol,
            flag(t.flag),
            cmd
        )
    }
}

/// The results of `tickle`, as PVM 3.4.6's console prints them: `( )`
/// for none, `( 3 )` for the debug mask.
pub fn tickle(results: &[i32]) -> String {
    let mut s = String::from("(");
    for v in results {
        s.push_str(&format!(" {v}"));
    }
    s.push_str(" )\n");
    s
}

/// One `pstat` line: `t   40002  run` or the error's text.
pub fn pstat(t: i32, r: Result<(), Error>) -> String {
    match r {
        Ok(()) => format!("t{t:>8x}  run\n"),
        Err(e) => format!("t{t:>8x}  {}\n", e.text()),
    }
}

/// One `mstat` line: `node2  ok` or the error's text.
pub fn mstat(name: &str, r: Result<(), Error>) -> String {
    match r {
        Ok(()) => format!("{name:>24}  ok\n"),
        Err(e) => format!("{name:>24}  {}\n", e.text()),
    }
}

/// Whether an `add`/`delete` result is an error code (a small negative
/// number; a daemon tid has the sign bit set too).
pub fn is_error_code(r: i32) -> bool {
    r < 0 && Error::from_code(r).is_some()
}

fn error_text(code: i32) -> String {
    Error::from_code(code)
        .map(|e| e.text().to_string())
        .unwrap_or_else(|| format!("error {code}"))
}

/// The result of `add`: count, header, one line per host (its daemon's
/// tid base, or the error).
pub fn add_result(names: &[String], results: &[i32]) -> String {
    let ok = results.iter().filter(|&&r| !is_error_code(r)).count();
    let mut s = format!("{ok} successful\n{:>24} {:>8}\n", "HOST", "DTID");
    for (n, &r) in names.iter().zip(results) {
        if !is_error_code(r) {
            s.push_str(&format!("{n:>24} {:>8x}\n", tid::host_of(r)));
        } else {
            s.push_str(&format!("{n:>24} {}\n", error_text(r)));
        }
    }
    s
}

/// The result of `delete`: count, header, one status line per host.
pub fn delete_result(names: &[String], results: &[i32]) -> String {
    let ok = results.iter().filter(|&&r| !is_error_code(r)).count();
    let mut s = format!("{ok} successful\n{:>24}  STATUS\n", "HOST");
    for (n, &r) in names.iter().zip(results) {
        if !is_error_code(r) {
            s.push_str(&format!("{n:>24}  deleted\n"));
        } else {
            s.push_str(&format!("{n:>24}  {}\n", error_text(r)));
        }
    }
    s
}

/// The result of `spawn`: `N successful` then a tid or an error per task.
pub fn spawn_result(results: &[i32]) -> String {
    let ok = results.iter().filter(|&&r| r > 0).count();
    let mut s = format!("{ok} successful\n");
    for &r in results {
        if r > 0 {
            s.push_str(&tid::fmt(r));
        } else {
            s.push_str(&error_text(r));
        }
        s.push('\n');
    }
    s
}

/// `names`: each class as `<name>:`, one tab-indented line per entry, a
/// blank line.
pub fn names(classes: &[MboxClass]) -> String {
    let mut s = String::new();
    for c in classes {
        s.push_str(&format!("<{}>:\n", String::from_utf8_lossy(&c.name)));
        for ((i, o), f) in c.indices.iter().zip(&c.owners).zip(&c.flags) {
            s.push_str(&format!("\tindex={i} owner=0x{o:x}/{o} flags=0x{f:x}\n"));
        }
        s.push('\n');
    }
    s
}

/// The options `getopt` lists, in its order, with their codes.
pub const OPTIONS: &[(&str, i32)] = &[
    ("PvmRoute", 1),
    ("PvmDebugMask", 2),
    ("PvmAutoErr", 3),
    ("PvmOutputTid", 4),
    ("PvmOutputCode", 5),
    ("PvmTraceTid", 6),
    ("PvmTraceCode", 7),
    ("PvmTraceBuffer", 8),
    ("PvmTraceOptions", 9),
    ("PvmFragSize", 10),
    ("PvmResvTids", 11),
    ("PvmSelfOutputTid", 12),
    ("PvmSelfOutputCode", 13),
    ("PvmSelfTraceTid", 14),
    ("PvmSelfTraceCode", 15),
    ("PvmSelfTraceBuffer", 16),
    ("PvmSelfTraceOptions", 17),
    ("PvmShowTids", 18),
    ("PvmOutputContext", 21),
    ("PvmTraceContext", 22),
    ("PvmSelfOutputContext", 23),
    ("PvmSelfTraceContext", 24),
    ("PvmNoReset", 25),
];

/// The code of option `name` (as spelled in pvm3.h).
pub fn option_code(name: &str) -> Option<i32> {
    OPTIONS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// `getopt` line.
pub fn option_value(name: &str, v: i32) -> String {
    format!("{name} Currently Set to {v}\n")
}

/// `setopt` line.
pub fn option_changed(name: &str, old: i32, new: i32) -> String {
    format!("{name} Changed from {old} to {new}\n")
}

/// The message for an unknown option name.
pub fn option_unknown(name: &str) -> String {
    format!("PVM Option \"{name}\" Unknown.\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The lines below were printed by PVM 3.4.6's console (Debian's pvm).
    const ORIG_CONF: &str = "1 host, 1 data format
                    HOST     DTID     ARCH   SPEED       DSIG
                      vm    40000  LINUX64    1000 0x00408c41
";
    const ORIG_PS: &str = "                    HOST      TID   FLAG 0x COMMAND
                      vm    40006     6/c,f slave1      
                      vm    40007     6/c,f timing_slave
";
    const ORIG_PS_LONG: &str = "                    HOST      TID     PTID    PID   FLAG 0x COMMAND
                      vm   (cons)        -  29840       4/c -           
                      vm    4000f ffffffdd  25638       2/f sleep       
";

    fn task(tid: i32, ptid: i32, flag: i32, name: &str, pid: i32) -> TaskInfo {
        TaskInfo {
            tid,
            ptid,
            host: 0x40000,
            flag,
            name: name.into(),
            pid,
        }
    }

    #[test]
    fn conf_columns_as_pvm346() {
        let h = HostInfo {
            tid: 0x40000,
            name: "vm".into(),
            arch: "LINUX64".into(),
            speed: 1000,
            dsig: 0x408c41,
        };
        assert_eq!(conf(1, std::slice::from_ref(&h)), ORIG_CONF);
        let three = conf(1, &[h.clone(), h.clone(), h]);
        assert!(three.starts_with("3 hosts, 1 data format\n"));
    }

    #[test]
    fn conf_marks_suspected_hosts() {
        let h = |t: i32, name: &str| HostInfo {
            tid: t,
            name: name.into(),
            arch: "LINUX64".into(),
            speed: 1000,
            dsig: 0x408c41,
        };
        let hosts = [h(0x40000, "node1"), h(0x80000, "node2")];
        let s = conf_suspects(1, &hosts, 60, &[(0x80080000u32 as i32, 12)]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(!lines[2].contains("suspected"), "{s}");
        assert!(
            lines[3].ends_with("0x00408c41  suspected (silent 12 s; dead after 60 s)"),
            "{s}"
        );
        assert_eq!(conf_suspects(1, &hosts, 60, &[]), conf(1, &hosts));
    }

    #[test]
    fn ps_columns_as_pvm346() {
        let mut s = ps_header(false);
        s.push_str(&ps_row(
            "vm",
            &task(0x40006, 0, 6, "slave1", 1),
            0x40001,
            false,
        ));
        s.push_str(&ps_row(
            "vm",
            &task(0x40007, 0, 6, "timing_slave", 1),
            0x40001,
            false,
        ));
        assert_eq!(s, ORIG_PS);
        let mut l = ps_header(true);
        l.push_str(&ps_row(
            "vm",
            &task(0x40001, 0, 4, "", 29840),
            0x40001,
            true,
        ));
        l.push_str(&ps_row(
            "vm",
            &task(0x4000f, 0xffffffdd_u32 as i32, 2, "sleep", 25638),
            0x40001,
            true,
        ));
        assert_eq!(l, ORIG_PS_LONG);
    }

    #[test]
    fn flag_letters_as_pvm346() {
        // PVM 3.4.6's console, `ps -axl` with a task registered as hoster
        // and tasker (pvm_reg_hoster, pvm_reg_tasker) and the console itself.
        const ORIG: &str = "                    HOST      TID     PTID    PID   FLAG 0x COMMAND
                      vm    40001        -  19264 604/T,H,c -           
                      vm   (cons)        -  19316       4/c -           
";
        let mut l = ps_header(true);
        l.push_str(&ps_row("vm", &task(0x40001, 0, 0x604, "", 19264), 0, true));
        l.push_str(&ps_row(
            "vm",
            &task(0x40002, 0, 4, "", 19316),
            0x40002,
            true,
        ));
        assert_eq!(l, ORIG);
        // Every letter the original shows, highest bit first; no letter: the
        // hex value alone (the original cuts the trailing '/').
        assert_eq!(flag(0x736), "736/T,H,R,s,o,c,f");
        assert_eq!(flag(0x10c), "10c/R,a,c");
        assert_eq!(flag(0x6), "6/c,f");
        assert_eq!(flag(0), "0");
        assert_eq!(flag(0x41), "41");
    }

    #[test]
    fn tickle_results_as_pvm346() {
        assert_eq!(tickle(&[]), "( )\n");
        assert_eq!(tickle(&[3]), "( 3 )\n");
        assert_eq!(tickle(&[0, -1]), "( 0 -1 )\n");
    }

    #[test]
    fn status_lines() {
        assert_eq!(pstat(0x40013, Ok(())), "t   40013  run\n");
        assert_eq!(
            pstat(0x40002, Err(Error::NoTask)),
            "t   40002  No such task\n"
        );
        assert_eq!(
            mstat("nohost", Err(Error::NoHost)),
            "                  nohost  No such host\n"
        );
        assert_eq!(mstat("vm", Ok(())), "                      vm  ok\n");
        assert_eq!(
            spawn_result(&[0x40002, Error::NoFile.code()]),
            "1 successful\nt40002\nNo such file\n"
        );
        assert_eq!(
            delete_result(&["nohost".into()], &[Error::NoHost.code()]),
            "0 successful\n                    HOST  STATUS\n                  nohost  No such host\n"
        );
        assert_eq!(
            add_result(&["node2".into()], &[0x80080000_u32 as i32]),
            "1 successful\n                    HOST     DTID\n                   node2    80000\n"
        );
    }

    #[test]
    fn names_layout() {
        let c = MboxClass {
            name: b"m".to_vec(),
            indices: vec![0, 1],
            owners: vec![0x4001b, 0],
            flags: vec![1, 3],
        };
        assert_eq!(
            names(&[c]),
            "<m>:\n\tindex=0 owner=0x4001b/262171 flags=0x1\n\tindex=1 owner=0x0/0 flags=0x3\n\n"
        );
    }

    #[test]
    fn options() {
        assert_eq!(option_code("PvmShowTids"), Some(18));
        assert_eq!(option_code("PvmFoo"), None);
        assert_eq!(
            option_changed("PvmRoute", 1, 3),
            "PvmRoute Changed from 1 to 3\n"
        );
        assert_eq!(option_unknown("1"), "PVM Option \"1\" Unknown.\n");
    }
}
