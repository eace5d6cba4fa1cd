//! The PVM 3.4 hostfile (`man pvmd3`, section HOST FILE FORMAT) and the
//! single host lines the console's `add` accepts: parsing, defaults lines
//! (`*`), not-started hosts (`&`), overload flags (`$`), option merging and
//! `$VAR` expansion. Pure code: no I/O, no environment access. The format as
//! pvm6 accepts it is documented in docs/HOSTFILE.md.

use std::fmt;

use crate::net::addr::HostName;

/// Lowest and highest relative speed `sp=` accepts.
pub const SPEED_RANGE: std::ops::RangeInclusive<i32> = 1..=1_000_000;
/// The values `to=` accepts (seconds; the daemon raises one below its
/// minimum to that minimum).
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 1..=86_400;

/// The options of one host line (or of a `*` defaults line). `None`/`false`
/// means "not given": the daemon then uses its built-in default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostOpts {
    /// `lo=NAME`: login name on the host.
    pub lo: Option<String>,
    /// `so=pw`: ask for a password when starting the host.
    pub so_pw: bool,
    /// `so=ms`: manual startup (the user starts the slave daemon by hand).
    pub manual: bool,
    /// `dx=FILE`: path of the daemon executable on the host.
    pub dx: Option<String>,
    /// `ep=PATH`: colon-separated search path for spawned executables.
    pub ep: Option<String>,
    /// `wd=PATH`: working directory of spawned tasks.
    pub wd: Option<String>,
    /// `sp=VALUE`: relative speed, 1..=1000000.
    pub sp: Option<i32>,
    /// `bx=PATH`: debugger program.
    pub bx: Option<String>,
    /// `ip=NAME`: alternate name or address to reach the host by.
    pub ip: Option<String>,
    /// `id=VMID`: virtual machine id.
    pub id: Option<String>,
    /// `po=PORT` (pvm6 extension): fixed TCP port of the slave daemon.
    pub po: Option<u16>,
    /// `launcher=ssh|slurm|auto` (pvm6 extension): how the slave is
    /// started (docs/LAUNCH.md); `None` follows `$PVM6_LAUNCHER`.
    pub launcher: Option<crate::launch::alloc::Launcher>,
    /// `to=SECONDS` (pvm6 extension): the machine's host timeout, how long
    /// a silent daemon is only suspected before it is declared dead. Read
    /// from the `*` line or the master's own line (docs/HOSTFILE.md).
    pub to: Option<u32>,
    /// `protect=LEVEL` (pvm6 extension, `*` lines only): how the machine's
    /// links between hosts are protected (`encrypted`, `integrity`, `none`).
    pub protect: Option<crate::seal::Level>,
}

/// One host of a hostfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    /// The host: a DNS name as written, or an address literal in canonical
    /// form (IPv6 without brackets, with `%zone` if given).
    pub name: String,
    /// Its options, with the defaults of the `*` line in force merged in.
    pub opts: HostOpts,
    /// `&`: known but not started until added (pvm_addhosts / console add).
    pub no_start: bool,
    /// `$`: a daemon may be started on this host even if one of this
    /// virtual machine already runs there (overloading).
    pub overload_ok: bool,
    /// 1-based line number in the hostfile (1 for [`parse_line`]).
    pub line: usize,
}

/// A parsed hostfile: its hosts and the defaults of its last `*` line,
/// which also apply to hosts added later.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hostfile {
    /// The host lines, in file order (including `&` ones).
    pub hosts: Vec<HostEntry>,
    /// The options of the last `*` line (empty if none).
    pub defaults: HostOpts,
}

/// A hostfile line that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostfileError {
    /// 1-based line number; 0 for a line given on its own ([`parse_line`]).
    pub line: usize,
    /// The line's text (trimmed).
    pub text: String,
    /// What is wrong, quoting the offending field.
    pub msg: String,
}

impl fmt::Display for HostfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "host line \"{}\": {}", self.text, self.msg)
        } else {
            write!(f, "hostfile line {}: {}", self.line, self.msg)
        }
    }
}

impl std::error::Error for HostfileError {}

impl HostOpts {
    /// These options over `defaults`: every option given here wins, the
    /// others come from `defaults`. The flags `so=pw`/`so=ms` are set if set
    /// in either (the format has no way to clear them).
    pub fn merged_over(&self, defaults: &HostOpts) -> HostOpts {
        fn pick<T: Clone>(mine: &Option<T>, dflt: &Option<T>) -> Option<T> {
            mine.clone().or_else(|| dflt.clone())
        }
        HostOpts {
            lo: pick(&self.lo, &defaults.lo),
            so_pw: self.so_pw || defaults.so_pw,
            manual: self.manual || defaults.manual,
            dx: pick(&self.dx, &defaults.dx),
            ep: pick(&self.ep, &defaults.ep),
            wd: pick(&self.wd, &defaults.wd),
            sp: self.sp.or(defaults.sp),
            bx: pick(&self.bx, &defaults.bx),
            ip: pick(&self.ip, &defaults.ip),
            id: pick(&self.id, &defaults.id),
            po: self.po.or(defaults.po),
            launcher: self.launcher.or(defaults.launcher),
            to: self.to.or(defaults.to),
            protect: self.protect.or(defaults.protect),
        }
    }

    /// These options with `$NAME` and `${NAME}` in every text option
    /// replaced by `env(NAME)`; an undefined variable expands to nothing. A
    /// `$` not followed by a name (or an unclosed `${`) stays as it is.
    pub fn expand(&self, env: impl Fn(&str) -> Option<String>) -> HostOpts {
        let x = |v: &Option<String>| v.as_deref().map(|s| expand_vars(s, &env));
        HostOpts {
            lo: x(&self.lo),
            dx: x(&self.dx),
            ep: x(&self.ep),
            wd: x(&self.wd),
            bx: x(&self.bx),
            ip: x(&self.ip),
            id: x(&self.id),
            ..self.clone()
        }
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == HostOpts::default()
    }

    /// The options as hostfile words, each after a space (` lo=joe sp=2`).
    pub fn words(&self) -> String {
        let mut s = String::new();
        let mut opt = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                s.push_str(&format!(" {k}={v}"));
            }
        };
        opt("lo", self.lo.clone());
        opt("so", self.so_pw.then(|| "pw".to_string()));
        opt("so", self.manual.then(|| "ms".to_string()));
        opt("dx", self.dx.clone());
        opt("ep", self.ep.clone());
        opt("wd", self.wd.clone());
        opt("sp", self.sp.map(|v| v.to_string()));
        opt("bx", self.bx.clone());
        opt("ip", self.ip.clone());
        opt("id", self.id.clone());
        opt("po", self.po.map(|v| v.to_string()));
        opt("to", self.to.map(|v| v.to_string()));
        s
    }
}

impl Hostfile {
    /// The hostfile as text that parses back to it: the `*` line of its
    /// defaults, then every host line (`&` and `$` kept). The daemon ships
    /// it to the master's successor, which adds hosts with the same
    /// defaults.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if !self.defaults.is_empty() {
            s.push_str(&format!("*{}\n", self.defaults.words()));
        }
        for e in &self.hosts {
            if e.no_start {
                s.push('&');
            }
            if e.overload_ok {
                s.push('$');
            }
            s.push_str(&format!("{}{}\n", e.name, e.opts.words()));
        }
        s
    }
}

impl HostEntry {
    /// The entry with its options expanded (see [`HostOpts::expand`]).
    pub fn expand(&self, env: impl Fn(&str) -> Option<String>) -> HostEntry {
        HostEntry {
            opts: self.opts.expand(env),
            ..self.clone()
        }
    }

    /// The host name parsed as a name or address literal.
    pub fn host(&self) -> HostName {
        // `name` was produced by HostName's canonical display, so it parses.
        HostName::parse(&self.name).unwrap_or_else(|_| HostName::Name(self.name.clone()))
    }
}

impl Hostfile {
    /// Parses a whole hostfile (see [`parse`]), keeping the last defaults.
    pub fn parse(text: &str) -> Result<Hostfile, HostfileError> {
        let (hf, mut errors) = Hostfile::parse_lenient(text);
        if errors.is_empty() {
            Ok(hf)
        } else {
            Err(errors.swap_remove(0))
        }
    }

    /// Parses a hostfile the way PVM 3.4.6's daemon reads one: a bad line
    /// is reported and skipped, the others are used. The errors come in
    /// line order.
    pub fn parse_lenient(text: &str) -> (Hostfile, Vec<HostfileError>) {
        let mut hf = Hostfile::default();
        let mut errors = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            match parse_fields(raw, i + 1) {
                Ok(Line::Empty) => {}
                Ok(Line::Defaults(d)) => hf.defaults = d,
                Ok(Line::Host(mut e)) => {
                    e.opts = e.opts.merged_over(&hf.defaults);
                    hf.hosts.push(e);
                }
                Err(e) => errors.push(e),
            }
        }
        (hf, errors)
    }

    /// The entry for host `name` (compared case-insensitively, as DNS
    /// names are; literals in canonical form), e.g. the stored `&` line of a
    /// host being added.
    pub fn find(&self, name: &str) -> Option<&HostEntry> {
        let want = HostName::parse(name)
            .map(|h| h.to_string())
            .unwrap_or_else(|_| name.to_string());
        self.hosts
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(&want))
    }
}

/// Parses a hostfile: one host per line, `#` comment lines and blank lines
/// ignored, `*` lines setting the defaults for the lines after them (until
/// the next `*` line, which replaces them). Each entry's options already
/// include the defaults in force at its line. The first bad line is an
/// error naming its line number.
pub fn parse(text: &str) -> Result<Vec<HostEntry>, HostfileError> {
    Hostfile::parse(text).map(|h| h.hosts)
}

/// Parses one line in hostfile syntax, as the console's `add` takes it:
/// `Ok(None)` for a blank or comment line; a `*` line is an error here.
pub fn parse_line(line: &str) -> Result<Option<HostEntry>, HostfileError> {
    match parse_fields(line, 1) {
        Ok(Line::Empty) => Ok(None),
        Ok(Line::Host(e)) => Ok(Some(e)),
        Ok(Line::Defaults(_)) => Err(HostfileError {
            line: 0,
            text: line.trim().to_string(),
            msg: "a defaults line (\"*\") is only allowed in a hostfile".into(),
        }),
        Err(e) => Err(HostfileError { line: 0, ..e }),
    }
}

enum Line {
    Empty,
    Defaults(HostOpts),
    Host(HostEntry),
}

fn parse_fields(raw: &str, lineno: usize) -> Result<Line, HostfileError> {
    let err = |msg: String| HostfileError {
        line: lineno,
        text: raw.trim().to_string(),
        msg,
    };
    // A field starting with '#' ends the line (a whole-line comment when it
    // is the first field).
    let mut fields = raw
        .split_ascii_whitespace()
        .take_while(|f| !f.starts_with('#'));
    let Some(mut first) = fields.next() else {
        return Ok(Line::Empty);
    };
    if first == "*" {
        return Ok(Line::Defaults(parse_opts(fields, &err)?));
    }
    let mut no_start = false;
    let mut overload_ok = false;
    loop {
        let flag = if let Some(rest) = first.strip_prefix('&') {
            if no_start {
                return Err(err(format!("\"&\" given twice in \"{first}\"")));
            }
            no_start = true;
            rest
        } else if let Some(rest) = first.strip_prefix('$') {
            if overload_ok {
                return Err(err(format!("\"$\" given twice in \"{first}\"")));
            }
            overload_ok = true;
            rest
        } else {
            break;
        };
        first = if flag.is_empty() {
            fields
                .next()
                .ok_or_else(|| err("missing host name".to_string()))?
        } else {
            flag
        };
    }
    if first.starts_with('*') {
        return Err(err(format!("bad host name \"{first}\"")));
    }
    if first.contains('=') {
        return Err(err(format!("missing host name before \"{first}\"")));
    }
    let host = HostName::parse(first).map_err(err)?;
    let opts = parse_opts(fields, &err)?;
    if opts.protect.is_some() {
        return Err(err(
            "protect= is one per machine: give it on a \"*\" line".to_string()
        ));
    }
    Ok(Line::Host(HostEntry {
        name: host.to_string(),
        opts,
        no_start,
        overload_ok,
        line: lineno,
    }))
}

#[cfg(test)]
mod survive_tests {
    use super::*;

    #[test]
    fn to_is_seconds_and_text_parses_back() {
        let hf = Hostfile::parse("* lo=joe to=45\nnode2 sp=2\n&node3 ep=/x\n$node4\n").unwrap();
        assert_eq!(hf.defaults.to, Some(45));
        assert_eq!(hf.hosts[0].opts.to, Some(45));
        let back = Hostfile::parse(&hf.to_text()).unwrap();
        assert_eq!(back.defaults, hf.defaults);
        let strip = |h: &Hostfile| {
            h.hosts
                .iter()
                .map(|e| (e.name.clone(), e.opts.clone(), e.no_start, e.overload_ok))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&back), strip(&hf));
        for bad in ["h to=0", "h to=x", "h to=86401", "h to=-1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

fn parse_opts<'a>(
    fields: impl Iterator<Item = &'a str>,
    err: &dyn Fn(String) -> HostfileError,
) -> Result<HostOpts, HostfileError> {
    let mut o = HostOpts::default();
    for f in fields {
        let Some((key, val)) = f.split_once('=') else {
            return Err(err(format!("unknown option \"{f}\"")));
        };
        let text = |v: &str| -> Result<Option<String>, HostfileError> {
            if v.is_empty() {
                Err(err(format!("empty value in \"{f}\"")))
            } else {
                Ok(Some(v.to_string()))
            }
        };
        match key {
            "lo" => o.lo = text(val)?,
            "so" => match val {
                "pw" => o.so_pw = true,
                "ms" => o.manual = true,
                _ => {
                    return Err(err(format!(
                        "bad value in \"{f}\" (so=pw or so=ms expected)"
                    )))
                }
            },
            "dx" => o.dx = text(val)?,
            "ep" => o.ep = text(val)?,
            "wd" => o.wd = text(val)?,
            "bx" => o.bx = text(val)?,
            "id" => o.id = text(val)?,
            "ip" => {
                // a value with variables is checked by the daemon after expansion
                if !val.contains('$') {
                    HostName::parse(val).map_err(|e| err(format!("bad value in \"{f}\": {e}")))?;
                }
                o.ip = text(val)?;
            }
            "sp" => {
                let sp = val
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| val.parse::<i32>().ok())
                    .flatten()
                    .filter(|v| SPEED_RANGE.contains(v))
                    .ok_or_else(|| {
                        err(format!(
                            "bad value in \"{f}\" (an integer 1..1000000 expected)"
                        ))
                    })?;
                o.sp = Some(sp);
            }
            "po" => {
                let po = val
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| val.parse::<u16>().ok())
                    .flatten()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| {
                        err(format!("bad value in \"{f}\" (a port 1..65535 expected)"))
                    })?;
                o.po = Some(po);
            }
            "launcher" => {
                let l = crate::launch::alloc::Launcher::parse(val)
                    .map_err(|e| err(format!("bad value in \"{f}\": {e}")))?;
                o.launcher = Some(l);
            }
            "to" => {
                let to = val
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| val.parse::<u32>().ok())
                    .flatten()
                    .filter(|v| TIMEOUT_RANGE.contains(v))
                    .ok_or_else(|| {
                        err(format!("bad value in \"{f}\" (seconds 1..86400 expected)"))
                    })?;
                o.to = Some(to);
            }
            "protect" => {
                o.protect = Some(crate::seal::Level::parse(val).ok_or_else(|| {
                    err(format!(
                        "bad value in \"{f}\" (encrypted, integrity or none expected)"
                    ))
                })?);
            }
            _ => return Err(err(format!("unknown option \"{f}\""))),
        }
    }
    Ok(o)
}

/// `s` with `$NAME` / `${NAME}` replaced by `env(NAME)` (nothing when
/// undefined). NAME is a letter or `_` followed by letters, digits, `_`.
fn expand_vars(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    fn name_len(b: &[u8]) -> usize {
        match b.first() {
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => b
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count(),
            _ => 0,
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(braced) = after.strip_prefix('{') {
            let n = name_len(braced.as_bytes());
            if n > 0 && braced.as_bytes().get(n) == Some(&b'}') {
                out.push_str(&env(&braced[..n]).unwrap_or_default());
                rest = &braced[n + 1..];
                continue;
            }
        } else {
            let n = name_len(after.as_bytes());
            if n > 0 {
                out.push_str(&env(&after[..n]).unwrap_or_default());
                rest = &after[n..];
                continue;
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example hostfile of `man pvmd3`, in our own words but with the
    /// same shapes: plain names, a comment, dx=, a `*` line, a `&` line.
    const EXAMPLE: &str = "\
# host file for testing on various platforms
fonebone
refuge
# installed in /usr/local here
sigi.cs\t\tdx=/usr/local/pvm3/lib/pvmd
# borrowed accts, \"guest\", don't trust fonebone
*\t\tlo=guest  so=pw
sn666.jrandom.com
cubie.misc.edu
# really painful one, must start it by hand and share a homedir
& igor.firewall.com  lo=guest2  so=ms  ep=bob/pvm3/bin/$PVM_ARCH
";

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn man_page_example() {
        let hf = Hostfile::parse(EXAMPLE).unwrap();
        let names: Vec<&str> = hf.hosts.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "fonebone",
                "refuge",
                "sigi.cs",
                "sn666.jrandom.com",
                "cubie.misc.edu",
                "igor.firewall.com"
            ]
        );
        let lines: Vec<usize> = hf.hosts.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 5, 8, 9, 11]);
        assert!(hf.hosts[0].opts.is_empty());
        assert!(hf.hosts[1].opts.is_empty());
        assert_eq!(
            hf.hosts[2].opts,
            HostOpts {
                dx: s("/usr/local/pvm3/lib/pvmd"),
                ..Default::default()
            }
        );
        let guest = HostOpts {
            lo: s("guest"),
            so_pw: true,
            ..Default::default()
        };
        assert_eq!(hf.hosts[3].opts, guest);
        assert_eq!(hf.hosts[4].opts, guest);
        let igor = &hf.hosts[5];
        assert!(igor.no_start);
        assert!(!igor.overload_ok);
        assert_eq!(
            igor.opts,
            HostOpts {
                lo: s("guest2"),
                so_pw: true,
                manual: true,
                ep: s("bob/pvm3/bin/$PVM_ARCH"),
                ..Default::default()
            }
        );
        assert!(hf.hosts[..5].iter().all(|e| !e.no_start && !e.overload_ok));
        assert_eq!(hf.defaults, guest);
        assert_eq!(parse(EXAMPLE).unwrap(), hf.hosts);
        assert_eq!(hf.find("IGOR.firewall.com").map(|e| e.line), Some(11));
        assert_eq!(hf.find("nosuch"), None);
    }

    #[test]
    fn simple_host_list_and_comments() {
        let text = "  # my first host file\n\nthud\n\t\nfred  \n   # indented comment\nwilma\n";
        let v = parse(text).unwrap();
        let names: Vec<_> = v.iter().map(|e| (e.name.as_str(), e.line)).collect();
        assert_eq!(names, [("thud", 3), ("fred", 5), ("wilma", 7)]);
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("# only\n#comments").unwrap(), vec![]);
        // a field starting with '#' ends the line
        let v = parse("host1 lo=me # trailing words lo=x\n").unwrap();
        assert_eq!(v[0].opts.lo, s("me"));
        // CRLF line ends
        let v = parse("a\r\nb lo=x\r\n").unwrap();
        assert_eq!(v[1].opts.lo, s("x"));
    }

    #[test]
    fn every_option() {
        let line = "h dx=/opt/pvmd ep=/a:/b wd=/tmp/w sp=2500 bx=/usr/bin/gdb \
                    ip=h-eth1 id=vm7 po=40001 lo=me so=pw so=ms launcher=slurm to=30";
        let e = parse_line(line).unwrap().unwrap();
        assert_eq!(
            e.opts,
            HostOpts {
                lo: s("me"),
                so_pw: true,
                manual: true,
                dx: s("/opt/pvmd"),
                ep: s("/a:/b"),
                wd: s("/tmp/w"),
                sp: Some(2500),
                bx: s("/usr/bin/gdb"),
                ip: s("h-eth1"),
                id: s("vm7"),
                po: Some(40001),
                launcher: Some(crate::launch::alloc::Launcher::Slurm),
                to: Some(30),
                protect: None,
            }
        );
        assert_eq!(e.line, 1);
        // values may hold '=' (split at the first one)
        let e = parse_line("h wd=/x=y").unwrap().unwrap();
        assert_eq!(e.opts.wd, s("/x=y"));
        // a repeated option: the last one counts
        let e = parse_line("h lo=a lo=b").unwrap().unwrap();
        assert_eq!(e.opts.lo, s("b"));
        // sp limits
        assert_eq!(parse_line("h sp=1").unwrap().unwrap().opts.sp, Some(1));
        assert_eq!(
            parse_line("h sp=1000000").unwrap().unwrap().opts.sp,
            Some(1_000_000)
        );
        assert_eq!(
            parse_line("h po=65535").unwrap().unwrap().opts.po,
            Some(65535)
        );
        // ip= takes literals too in pvm6
        assert_eq!(
            parse_line("h ip=2001:db8::1").unwrap().unwrap().opts.ip,
            s("2001:db8::1")
        );
        assert_eq!(
            parse_line("h ip=$MYIP").unwrap().unwrap().opts.ip,
            s("$MYIP")
        );
    }

    #[test]
    fn protect_is_one_per_machine_on_a_star_line() {
        use crate::seal::Level;
        let h = Hostfile::parse("* protect=integrity\nh1\n").unwrap();
        assert_eq!(h.defaults.protect, Some(Level::Integrity));
        let h = Hostfile::parse("* protect=NONE lo=me\nh1\n").unwrap();
        assert_eq!(h.defaults.protect, Some(Level::None));
        assert_eq!(Hostfile::parse("h1\n").unwrap().defaults.protect, None);
        let e = Hostfile::parse("h1 protect=none\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "hostfile line 1: protect= is one per machine: give it on a \"*\" line"
        );
        let e = Hostfile::parse("* protect=weak\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("encrypted, integrity or none expected"),
            "{e}"
        );
    }

    #[test]
    fn defaults_lines_replace_each_other() {
        let text = "* lo=a sp=5\nh1\nh2 lo=b\n* wd=/w\nh3\n*\nh4 so=ms\n";
        let hf = Hostfile::parse(text).unwrap();
        let o: Vec<&HostOpts> = hf.hosts.iter().map(|e| &e.opts).collect();
        assert_eq!(
            *o[0],
            HostOpts {
                lo: s("a"),
                sp: Some(5),
                ..Default::default()
            }
        );
        assert_eq!(
            *o[1],
            HostOpts {
                lo: s("b"),
                sp: Some(5),
                ..Default::default()
            }
        );
        // the second '*' line replaces the first: no lo, no sp any more
        assert_eq!(
            *o[2],
            HostOpts {
                wd: s("/w"),
                ..Default::default()
            }
        );
        // a bare '*' clears the defaults
        assert_eq!(
            *o[3],
            HostOpts {
                manual: true,
                ..Default::default()
            }
        );
        assert!(hf.defaults.is_empty());
        let hf = Hostfile::parse("* so=pw id=x\n").unwrap();
        assert!(hf.hosts.is_empty());
        assert_eq!(
            hf.defaults,
            HostOpts {
                so_pw: true,
                id: s("x"),
                ..Default::default()
            }
        );
    }

    #[test]
    fn merging() {
        let d = HostOpts {
            lo: s("dl"),
            so_pw: true,
            dx: s("ddx"),
            sp: Some(10),
            po: Some(1000),
            ..Default::default()
        };
        let h = HostOpts {
            lo: s("hl"),
            manual: true,
            ep: s("hep"),
            po: Some(2000),
            ..Default::default()
        };
        assert_eq!(
            h.merged_over(&d),
            HostOpts {
                lo: s("hl"),
                so_pw: true,
                manual: true,
                dx: s("ddx"),
                ep: s("hep"),
                sp: Some(10),
                po: Some(2000),
                ..Default::default()
            }
        );
        assert_eq!(HostOpts::default().merged_over(&d), d);
        assert_eq!(h.merged_over(&HostOpts::default()), h);
    }

    #[test]
    fn not_started_and_overload_flags() {
        for (line, amp, dollar, name) in [
            ("&igor", true, false, "igor"),
            ("& igor", true, false, "igor"),
            ("$igor", false, true, "igor"),
            ("$ igor", false, true, "igor"),
            ("&$igor", true, true, "igor"),
            ("$&igor", true, true, "igor"),
            ("& $ igor", true, true, "igor"),
            ("&[2001:db8::7]", true, false, "2001:db8::7"),
            ("$fe80::1%eth0", false, true, "fe80::1%eth0"),
        ] {
            let e = parse_line(line).unwrap().unwrap();
            assert_eq!(
                (e.no_start, e.overload_ok, e.name.as_str()),
                (amp, dollar, name),
                "{line}"
            );
        }
    }

    #[test]
    fn host_name_forms() {
        for (line, name) in [
            ("node.example.org", "node.example.org"),
            ("192.0.2.7 sp=3", "192.0.2.7"),
            ("2001:db8::7", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("[2001:DB8:0:0::7] lo=x", "2001:db8::7"),
            ("fe80::1%eth0", "fe80::1%eth0"),
            ("[fe80::1%eth0]", "fe80::1%eth0"),
        ] {
            let e = parse_line(line).unwrap().unwrap();
            assert_eq!(e.name, name, "{line}");
            assert_eq!(e.host().to_string(), name);
        }
        let e = parse_line("[fe80::1%eth0]").unwrap().unwrap();
        assert_eq!(
            e.host(),
            HostName::V6 {
                addr: "fe80::1".parse().unwrap(),
                zone: s("eth0")
            }
        );
    }

    #[test]
    fn errors_name_line_and_text() {
        let text = "good\n# c\nbad foo=bar\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.text, "bad foo=bar");
        assert_eq!(e.to_string(), "hostfile line 3: unknown option \"foo=bar\"");
        let cases = [
            ("h lo", "unknown option \"lo\""),
            ("h LO=x", "unknown option \"LO=x\""),
            (
                "h so=xx",
                "bad value in \"so=xx\" (so=pw or so=ms expected)",
            ),
            ("h lo=", "empty value in \"lo=\""),
            (
                "h sp=0",
                "bad value in \"sp=0\" (an integer 1..1000000 expected)",
            ),
            (
                "h sp=1000001",
                "bad value in \"sp=1000001\" (an integer 1..1000000 expected)",
            ),
            (
                "h sp=-4",
                "bad value in \"sp=-4\" (an integer 1..1000000 expected)",
            ),
            (
                "h sp=+4",
                "bad value in \"sp=+4\" (an integer 1..1000000 expected)",
            ),
            (
                "h sp=fast",
                "bad value in \"sp=fast\" (an integer 1..1000000 expected)",
            ),
            ("h po=0", "bad value in \"po=0\" (a port 1..65535 expected)"),
            (
                "h launcher=tm",
                "bad value in \"launcher=tm\": unknown launcher \"tm\" (ssh, slurm or auto expected)",
            ),
            (
                "h po=70000",
                "bad value in \"po=70000\" (a port 1..65535 expected)",
            ),
            ("h:22", "bad IPv6 address \"h:22\""),
            (
                "[::1]:22",
                "bad bracketed address \"[::1]:22\" (no port allowed)",
            ),
            ("lo=x", "missing host name before \"lo=x\""),
            ("&", "missing host name"),
            ("&&h", "\"&\" given twice in \"&h\""),
            ("$$h", "\"$\" given twice in \"$h\""),
            ("*lo=x", "bad host name \"*lo=x\""),
            ("bad_name-", "bad host name \"bad_name-\""),
            (
                "h ip=a:b",
                "bad value in \"ip=a:b\": bad IPv6 address \"a:b\"",
            ),
        ];
        for (line, msg) in cases {
            let text = format!("ok1\nok2\n{line}\n");
            let e = parse(&text).unwrap_err();
            assert_eq!(e.to_string(), format!("hostfile line 3: {msg}"), "{line}");
            assert_eq!(e.line, 3);
        }
        // the first bad line is reported
        assert_eq!(parse("x y\nz w\n").unwrap_err().line, 1);
        // lenient parsing skips bad lines (bad defaults lines too) and lists them
        let (hf, errs) = Hostfile::parse_lenient("* lo=a\nx y\n* sp=0\nz\nw po=x\n");
        assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 3, 5]);
        assert_eq!(hf.hosts.len(), 1);
        assert_eq!(
            (hf.hosts[0].name.as_str(), hf.hosts[0].opts.lo.as_deref()),
            ("z", Some("a"))
        );
        assert_eq!(hf.defaults.lo.as_deref(), Some("a"));
        // parse_line errors carry no line number
        let e = parse_line("h foo=bar").unwrap_err();
        assert_eq!(e.line, 0);
        assert_eq!(
            e.to_string(),
            "host line \"h foo=bar\": unknown option \"foo=bar\""
        );
        let e = parse_line("* lo=x").unwrap_err();
        assert!(e.to_string().contains("only allowed in a hostfile"), "{e}");
        assert_eq!(parse_line("   ").unwrap(), None);
        assert_eq!(parse_line(" # x").unwrap(), None);
    }

    #[test]
    fn expansion() {
        let env = |k: &str| match k {
            "PVM_ARCH" => s("LINUX64"),
            "HOME" => s("/home/u"),
            "EMPTY" => s(""),
            _ => None,
        };
        let e = parse_line(
            "& igor ep=bob/pvm3/bin/$PVM_ARCH wd=${HOME}/w lo=$USER dx=a$ bx=${ARCH sp=3",
        )
        .unwrap()
        .unwrap();
        let x = e.expand(env);
        assert_eq!(x.opts.ep, s("bob/pvm3/bin/LINUX64"));
        assert_eq!(x.opts.wd, s("/home/u/w"));
        assert_eq!(x.opts.lo, s("")); // undefined: nothing
        assert_eq!(x.opts.dx, s("a$")); // no name: literal
        assert_eq!(x.opts.bx, s("${ARCH")); // unclosed: literal
        assert_eq!(x.opts.sp, Some(3));
        assert!(x.no_start);
        assert_eq!(x.name, "igor");
        assert_eq!(expand_vars("$HOME$PVM_ARCH", &env), "/home/uLINUX64");
        assert_eq!(expand_vars("${HOME}x$EMPTY.y", &env), "/home/ux.y");
        assert_eq!(expand_vars("$1$ $$", &env), "$1$ $$");
        assert_eq!(expand_vars("${}", &env), "${}");
        assert_eq!(expand_vars("é$HOMEé", &env), "é/home/u\u{e9}");
        // unexpanded original untouched
        assert_eq!(e.opts.ep, s("bob/pvm3/bin/$PVM_ARCH"));
    }

    /// Random lines built from hostfile-ish pieces and raw bytes: the parser
    /// always answers (never panics), errors name the right line, and every
    /// accepted name is a valid host.
    #[test]
    fn garbage_never_panics() {
        const PIECES: &[&str] = &[
            " ",
            "\t",
            "&",
            "$",
            "*",
            "#",
            "=",
            "lo=",
            "so=pw",
            "so=ms",
            "so=",
            "sp=",
            "po=",
            "ip=",
            "dx=",
            "ep=",
            "wd=",
            "bx=",
            "id=",
            "[",
            "]",
            "%",
            ":",
            "::",
            "fe80",
            "eth0",
            "host",
            ".",
            "-",
            "_",
            "192.0.2.1",
            "1",
            "99999999999",
            "${",
            "}",
            "é",
            "\u{0}",
            "\u{feff}",
            "\r",
            "x=y",
            "2001:db8::7",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let n = (next() % 12) as usize;
            let mut line = String::new();
            for _ in 0..n {
                let r = next();
                if r % 5 == 0 {
                    let c = char::from_u32((r >> 8) as u32 % 0x800).unwrap_or('?');
                    // a newline would make it two lines
                    line.push(if c == '\n' { '?' } else { c });
                } else {
                    line.push_str(PIECES[(r >> 8) as usize % PIECES.len()]);
                }
            }
            let text = format!("first\n{line}\nlast\n");
            match parse(&text) {
                Ok(v) => {
                    accepted += 1;
                    assert!(v.len() >= 2);
                    for e in &v {
                        assert!(HostName::parse(&e.name).is_ok(), "{:?}", e.name);
                        assert!(e.opts.sp.is_none_or(|sp| SPEED_RANGE.contains(&sp)));
                        assert_ne!(e.opts.po, Some(0));
                    }
                }
                Err(e) => {
                    assert_eq!(e.line, 2, "{text:?}: {e}");
                    assert!(e.to_string().starts_with("hostfile line 2: "));
                }
            }
            let _ = parse_line(&line).map(|o| o.map(|e| e.expand(|_| Some("$X".into()))));
        }
        assert!(accepted > 100, "only {accepted} lines accepted");
    }
}
