//! The console's command parser: splits a line into words (quotes and
//! backslashes as a shell does, no variable expansion) and turns the words
//! into a [`Command`]. Pure code: no I/O, no PVM calls, so it can be tested
//! and fuzzed on its own. Alias expansion happens between the two steps
//! (see [`tokenize`] and [`parse_words`]); [`parse_line`] does both without
//! aliases.

use std::fmt;

/// Where the output of a spawned job goes (`->`, `->file`, `->>file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutput {
    /// No redirection: output goes to the daemon's log.
    None,
    /// `->`: printed by the console, framed `[job:tid] text`.
    Console,
    /// `->file`: written to the file (truncated first).
    File(String),
    /// `->>file`: appended to the file.
    Append(String),
}

/// What `spawn` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnSpec {
    /// Number of tasks (`-N`), default 1.
    pub count: i32,
    /// `-host`, `-ARCH`, `-host:wd`, `-:wd`: the `where` argument of
    /// pvm_spawn as written (host or architecture, optional `:dir`).
    pub where_: Option<String>,
    /// `--host=ADDR`: `where_` names a host even if it looks like an arch.
    pub force_host: bool,
    /// `-?`: PvmTaskDebug.
    pub debug: bool,
    /// `-@` / `-@file`: tracing asked for (not available in pvm6).
    pub trace: Option<String>,
    /// Output redirection.
    pub output: JobOutput,
    /// The executable.
    pub file: String,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Options of `ps`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PsOpts {
    /// `-a`: every host (default: the console's host).
    pub all: bool,
    /// `-l`: long listing (parent tid and process id).
    pub long: bool,
    /// `-x`: also the console itself.
    pub extra: bool,
    /// `-h<tid>`: one host, by its tid (hex).
    pub host_tid: Option<i32>,
    /// `-n<name>`: one host, by name.
    pub host_name: Option<String>,
}

/// One parsed console command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A blank line or a comment (`# ...`).
    Empty,
    Add(Vec<String>),
    /// `alias`: list; `alias name`: show one; `alias name cmd args`: define.
    Alias {
        name: Option<String>,
        body: Vec<String>,
    },
    Conf,
    Delete(Vec<String>),
    Echo(Vec<String>),
    Export(Vec<String>),
    /// pvm6 addition: prints the string stored by `put`.
    Get {
        name: String,
        index: i32,
    },
    Getopt(Option<String>),
    Halt,
    Help(Option<String>),
    Id,
    Jobs {
        long: bool,
    },
    Kill {
        children: bool,
        tids: Vec<i32>,
    },
    Mstat(Vec<String>),
    Names(Option<String>),
    Ps(PsOpts),
    Pstat(Vec<i32>),
    Put {
        name: String,
        flags: i32,
        value: String,
    },
    Quit,
    Reset,
    /// `reset info [class [index]]`: removes orphaned persistent entries.
    ResetInfo {
        class: Option<String>,
        index: Option<i32>,
    },
    /// pvm6 addition: starts a new daemon after the old one died.
    Restart,
    Setenv {
        name: Option<String>,
        value: Option<String>,
    },
    Setopt {
        name: String,
        value: i32,
    },
    Sig {
        sig: i32,
        tids: Vec<i32>,
    },
    Spawn(SpawnSpec),
    /// `tickle how [arg ...]`: pvm_tickle with 1 to 10 numbers.
    Tickle(Vec<i32>),
    Trace(Vec<String>),
    Unalias(Vec<String>),
    Unexport(Vec<String>),
    Version,
}

/// Why a line is not a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No such command (printed `name: not found`, as PVM 3.4.6 does).
    NotFound(String),
    /// Wrong number of arguments (`name: wrong #args`).
    WrongArgs(&'static str),
    /// A bad argument: the command and what is wrong.
    Bad(&'static str, String),
    /// A quote was opened and not closed.
    Unterminated(char),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::NotFound(w) => write!(f, "{w}: not found"),
            ParseError::WrongArgs(c) => write!(f, "{c}: wrong #args"),
            ParseError::Bad(c, m) => write!(f, "{c}: {m}"),
            ParseError::Unterminated(q) => write!(f, "unterminated {q} quote"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Splits a line into words: blanks separate words; `'...'` is literal,
/// `"..."` is literal except that a backslash escapes `"` and `\`; outside
/// quotes a backslash takes the next character literally. A line whose
/// first word starts with `#` is a comment: no words.
pub fn tokenize(line: &str) -> Result<Vec<String>, ParseError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word && words.is_empty() => return Ok(Vec::new()),
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(ParseError::Unterminated('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(ParseError::Unterminated('"')),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(ParseError::Unterminated('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Parses one line (no alias expansion).
pub fn parse_line(line: &str) -> Result<Command, ParseError> {
    parse_words(&tokenize(line)?)
}

/// A task id as the console takes it: hexadecimal, with or without a
/// leading `t` (`t40002`, `40002`, `0x40002`).
pub fn parse_tid(s: &str) -> Option<i32> {
    let h = s
        .strip_prefix('t')
        .or_else(|| s.strip_prefix("0x"))
        .unwrap_or(s);
    if h.is_empty() || h.len() > 8 {
        return None;
    }
    u32::from_str_radix(h, 16).ok().map(|v| v as i32)
}

/// An integer: decimal, or hexadecimal with `0x`, optionally negative.
pub fn parse_int(s: &str) -> Option<i32> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    let v = if neg { -v } else { v };
    i32::try_from(v).ok()
}

fn tids(cmd: &'static str, words: &[String]) -> Result<Vec<i32>, ParseError> {
    words
        .iter()
        .map(|w| parse_tid(w).ok_or_else(|| ParseError::Bad(cmd, format!("bad task id \"{w}\""))))
        .collect()
}

/// Turns words (the first is the command name) into a command.
pub fn parse_words(words: &[String]) -> Result<Command, ParseError> {
    use Command as C;
    use ParseError::{Bad, WrongArgs};
    let Some((name, args)) = words.split_first() else {
        return Ok(C::Empty);
    };
    let n = args.len();
    let strings = || args.to_vec();
    Ok(match name.as_str() {
        "add" if n == 0 => return Err(WrongArgs("add")),
        "add" => C::Add(strings()),
        "alias" => C::Alias {
            name: args.first().cloned(),
            body: args.iter().skip(1).cloned().collect(),
        },
        "conf" if n > 0 => return Err(WrongArgs("conf")),
        "conf" => C::Conf,
        "delete" if n == 0 => return Err(WrongArgs("delete")),
        "delete" => C::Delete(strings()),
        "echo" => C::Echo(strings()),
        "export" => C::Export(strings()),
        "get" => match args {
            [name] => C::Get {
                name: name.clone(),
                index: 0,
            },
            [name, i] => C::Get {
                name: name.clone(),
                index: parse_int(i)
                    .filter(|&i| i >= 0)
                    .ok_or_else(|| Bad("get", format!("bad index \"{i}\"")))?,
            },
            _ => return Err(WrongArgs("get")),
        },
        "getopt" if n > 1 => return Err(WrongArgs("getopt")),
        "getopt" => C::Getopt(args.first().cloned()),
        "halt" if n > 0 => return Err(WrongArgs("halt")),
        "halt" => C::Halt,
        "help" if n > 1 => return Err(WrongArgs("help")),
        "help" => C::Help(args.first().cloned()),
        "id" if n > 0 => return Err(WrongArgs("id")),
        "id" => C::Id,
        "jobs" => match args {
            [] => C::Jobs { long: false },
            [l] if l == "-l" => C::Jobs { long: true },
            _ => return Err(WrongArgs("jobs")),
        },
        "kill" => {
            let (children, rest) = match args.first() {
                Some(f) if f == "-c" => (true, &args[1..]),
                _ => (false, args),
            };
            if rest.is_empty() {
                return Err(WrongArgs("kill"));
            }
            C::Kill {
                children,
                tids: tids("kill", rest)?,
            }
        }
        "mstat" if n == 0 => return Err(WrongArgs("mstat")),
        "mstat" => C::Mstat(strings()),
        "names" if n > 1 => return Err(WrongArgs("names")),
        "names" => C::Names(args.first().cloned()),
        "ps" => C::Ps(parse_ps(args)?),
        "pstat" if n == 0 => return Err(WrongArgs("pstat")),
        "pstat" => C::Pstat(tids("pstat", args)?),
        "put" if n < 3 => return Err(WrongArgs("put")),
        "put" => C::Put {
            name: args[0].clone(),
            flags: parse_int(&args[1])
                .filter(|&f| f >= 0)
                .ok_or_else(|| Bad("put", format!("bad flags \"{}\"", args[1])))?,
            value: args[2..].join(" "),
        },
        "quit" if n > 0 => return Err(WrongArgs("quit")),
        "quit" => C::Quit,
        "reset" => match args {
            [] => C::Reset,
            [info, rest @ ..] if info == "info" && rest.len() <= 2 => C::ResetInfo {
                class: rest.first().cloned(),
                index: match rest.get(1) {
                    None => None,
                    Some(i) => Some(
                        parse_int(i)
                            .filter(|&i| i >= 0)
                            .ok_or_else(|| Bad("reset", format!("bad index \"{i}\"")))?,
                    ),
                },
            },
            _ => return Err(WrongArgs("reset")),
        },
        "restart" if n > 0 => return Err(WrongArgs("restart")),
        "restart" => C::Restart,
        "setenv" => C::Setenv {
            name: args.first().cloned(),
            value: (n > 1).then(|| args[1..].join(" ")),
        },
        "setopt" if n != 2 => return Err(WrongArgs("setopt")),
        "setopt" => C::Setopt {
            name: args[0].clone(),
            value: parse_int(&args[1])
                .ok_or_else(|| Bad("setopt", format!("bad value \"{}\"", args[1])))?,
        },
        "sig" if n < 2 => return Err(WrongArgs("sig")),
        "sig" => C::Sig {
            sig: parse_int(&args[0])
                .filter(|s| (0..65).contains(s))
                .ok_or_else(|| Bad("sig", format!("bad signal number \"{}\"", args[0])))?,
            tids: tids("sig", &args[1..])?,
        },
        "spawn" => C::Spawn(parse_spawn(args)?),
        "tickle" if n == 0 || n > 10 => return Err(WrongArgs("tickle")),
        "tickle" => C::Tickle(
            args.iter()
                .map(|a| parse_int(a).ok_or_else(|| Bad("tickle", format!("bad number \"{a}\""))))
                .collect::<Result<_, _>>()?,
        ),
        "trace" => C::Trace(strings()),
        "unalias" if n == 0 => return Err(WrongArgs("unalias")),
        "unalias" => C::Unalias(strings()),
        "unexport" => C::Unexport(strings()),
        "version" if n > 0 => return Err(WrongArgs("version")),
        "version" => C::Version,
        _ => return Err(ParseError::NotFound(name.clone())),
    })
}

fn parse_ps(args: &[String]) -> Result<PsOpts, ParseError> {
    let mut o = PsOpts::default();
    for a in args {
        let Some(flags) = a.strip_prefix('-') else {
            return Err(ParseError::WrongArgs("ps"));
        };
        for (i, c) in flags.char_indices() {
            match c {
                'a' => o.all = true,
                'l' => o.long = true,
                'x' => o.extra = true,
                'h' => {
                    let v = &flags[i + 1..];
                    o.host_tid =
                        Some(parse_tid(v).ok_or_else(|| {
                            ParseError::Bad("ps", format!("bad host tid \"{v}\""))
                        })?);
                    break;
                }
                'n' => {
                    let v = &flags[i + 1..];
                    if v.is_empty() {
                        return Err(ParseError::Bad("ps", "-n needs a host name".into()));
                    }
                    o.host_name = Some(v.to_string());
                    break;
                }
                _ => return Err(ParseError::Bad("ps", format!("unknown option \"-{c}\""))),
            }
        }
    }
    Ok(o)
}

/// A bare IPv6 literal (`fd00::2`, `fe80::1%eth0`) gets brackets, so that
/// its colons are not taken for the `:dir` separator of `where`. Anything
/// else (`fd00::2:/tmp` included) is passed on as written: pvm_spawn's
/// `where` takes every form (see [`crate::net::addr::split_where`]).
fn bracket_v6(w: &str) -> String {
    match crate::net::addr::HostName::parse(w) {
        Ok(crate::net::addr::HostName::V6 { .. }) if !w.starts_with('[') => format!("[{w}]"),
        _ => w.to_string(),
    }
}

fn parse_spawn(args: &[String]) -> Result<SpawnSpec, ParseError> {
    let mut s = SpawnSpec {
        count: 1,
        where_: None,
        force_host: false,
        debug: false,
        trace: None,
        output: JobOutput::None,
        file: String::new(),
        args: Vec::new(),
    };
    let mut rest = args;
    while let Some((a, more)) = rest.split_first() {
        let Some(opt) = a.strip_prefix('-') else {
            break;
        };
        rest = more;
        if opt.is_empty() {
            return Err(ParseError::Bad("spawn", "empty option \"-\"".into()));
        } else if opt.bytes().all(|b| b.is_ascii_digit()) {
            s.count = opt
                .parse()
                .map_err(|_| ParseError::Bad("spawn", format!("bad count \"{opt}\"")))?;
        } else if opt == "?" {
            s.debug = true;
        } else if let Some(f) = opt.strip_prefix(">>") {
            if f.is_empty() {
                return Err(ParseError::Bad("spawn", "->> needs a file name".into()));
            }
            s.output = JobOutput::Append(f.to_string());
        } else if let Some(f) = opt.strip_prefix('>') {
            s.output = if f.is_empty() {
                JobOutput::Console
            } else {
                JobOutput::File(f.to_string())
            };
        } else if let Some(f) = opt.strip_prefix('@') {
            s.trace = Some(f.to_string());
        } else if let Some(h) = opt.strip_prefix("-host=") {
            if h.is_empty() {
                return Err(ParseError::Bad("spawn", "--host= needs an address".into()));
            }
            s.where_ = Some(bracket_v6(h));
            s.force_host = true;
        } else {
            s.where_ = Some(bracket_v6(opt));
            s.force_host = false;
        }
    }
    let Some((file, args)) = rest.split_first() else {
        return Err(ParseError::WrongArgs("spawn"));
    };
    s.file = file.clone();
    s.args = args.to_vec();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_and_quotes() {
        assert_eq!(tokenize("  echo a  b ").unwrap(), w(&["echo", "a", "b"]));
        assert_eq!(
            tokenize(r#"add 'node2 lo=x sp=2' "a \"b\"" c\ d"#).unwrap(),
            w(&["add", "node2 lo=x sp=2", "a \"b\"", "c d"])
        );
        assert_eq!(tokenize("# comment").unwrap(), Vec::<String>::new());
        assert_eq!(tokenize("   #x y").unwrap(), Vec::<String>::new());
        assert_eq!(tokenize("echo #x").unwrap(), w(&["echo", "#x"]));
        assert_eq!(tokenize("echo ''").unwrap(), w(&["echo", ""]));
        assert_eq!(
            tokenize("echo 'x").unwrap_err(),
            ParseError::Unterminated('\'')
        );
        assert_eq!(
            tokenize("echo \"x").unwrap_err(),
            ParseError::Unterminated('"')
        );
        assert_eq!(tokenize("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn simple_commands() {
        assert_eq!(parse_line("conf").unwrap(), Command::Conf);
        assert_eq!(parse_line("").unwrap(), Command::Empty);
        assert_eq!(
            parse_line("conf x").unwrap_err().to_string(),
            "conf: wrong #args"
        );
        assert_eq!(
            parse_line("foo bar").unwrap_err().to_string(),
            "foo: not found"
        );
        assert_eq!(
            parse_line("help spawn").unwrap(),
            Command::Help(Some("spawn".into()))
        );
        assert_eq!(
            parse_line("alias ll ps -a").unwrap(),
            Command::Alias {
                name: Some("ll".into()),
                body: w(&["ps", "-a"])
            }
        );
        assert_eq!(
            parse_line("setenv A b c").unwrap(),
            Command::Setenv {
                name: Some("A".into()),
                value: Some("b c".into())
            }
        );
        assert_eq!(
            parse_line("put k 3 some data").unwrap(),
            Command::Put {
                name: "k".into(),
                flags: 3,
                value: "some data".into()
            }
        );
        assert_eq!(
            parse_line("put k 3").unwrap_err(),
            ParseError::WrongArgs("put")
        );
        assert_eq!(
            parse_line("reset info cls 2").unwrap(),
            Command::ResetInfo {
                class: Some("cls".into()),
                index: Some(2)
            }
        );
        assert_eq!(
            parse_line("setopt PvmRoute 0x3").unwrap(),
            Command::Setopt {
                name: "PvmRoute".into(),
                value: 3
            }
        );
    }

    #[test]
    fn tids_and_signals() {
        assert_eq!(parse_tid("t40002"), Some(0x40002));
        assert_eq!(parse_tid("40002"), Some(0x40002));
        assert_eq!(parse_tid("0x4000a"), Some(0x4000a));
        assert_eq!(parse_tid("xyz"), None);
        assert_eq!(parse_tid("t"), None);
        assert_eq!(
            parse_line("kill -c t40001").unwrap(),
            Command::Kill {
                children: true,
                tids: vec![0x40001]
            }
        );
        assert_eq!(
            parse_line("kill -c").unwrap_err(),
            ParseError::WrongArgs("kill")
        );
        assert_eq!(
            parse_line("kill xyz").unwrap_err().to_string(),
            "kill: bad task id \"xyz\""
        );
        assert_eq!(
            parse_line("sig 15 t40003 40004").unwrap(),
            Command::Sig {
                sig: 15,
                tids: vec![0x40003, 0x40004]
            }
        );
        assert!(parse_line("sig 99 t40003").is_err());
        assert_eq!(
            parse_line("sig 9").unwrap_err(),
            ParseError::WrongArgs("sig")
        );
    }

    #[test]
    fn ps_options() {
        assert_eq!(parse_line("ps").unwrap(), Command::Ps(PsOpts::default()));
        assert_eq!(
            parse_line("ps -axl").unwrap(),
            Command::Ps(PsOpts {
                all: true,
                long: true,
                extra: true,
                ..PsOpts::default()
            })
        );
        assert_eq!(
            parse_line("ps -a -h40000").unwrap(),
            Command::Ps(PsOpts {
                all: true,
                host_tid: Some(0x40000),
                ..PsOpts::default()
            })
        );
        assert_eq!(
            parse_line("ps -nnode2").unwrap(),
            Command::Ps(PsOpts {
                host_name: Some("node2".into()),
                ..PsOpts::default()
            })
        );
        assert!(parse_line("ps a").is_err());
        assert!(parse_line("ps -q").is_err());
    }

    #[test]
    fn spawn_options() {
        let Command::Spawn(s) = parse_line("spawn -3 -> hello a -b").unwrap() else {
            panic!()
        };
        assert_eq!(s.count, 3);
        assert_eq!(s.output, JobOutput::Console);
        assert_eq!(s.file, "hello");
        assert_eq!(s.args, w(&["a", "-b"]));
        let Command::Spawn(s) = parse_line("spawn -node2:/tmp ->>/tmp/out -? -@ prog").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.where_.as_deref(), Some("node2:/tmp"));
        assert_eq!(s.output, JobOutput::Append("/tmp/out".into()));
        assert!(s.debug);
        assert_eq!(s.trace.as_deref(), Some(""));
        let Command::Spawn(s) = parse_line("spawn --host=fd00::2 ->out prog").unwrap() else {
            panic!()
        };
        assert!(s.force_host);
        assert_eq!(s.where_.as_deref(), Some("[fd00::2]"));
        assert_eq!(s.output, JobOutput::File("out".into()));
        let Command::Spawn(s) = parse_line("spawn -[fd00::2]:/tmp -fe80::1%eth0 prog").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.where_.as_deref(), Some("[fe80::1%eth0]"));
        let Command::Spawn(s) = parse_line("spawn -[fd00::2]:/tmp prog").unwrap() else {
            panic!()
        };
        assert_eq!(s.where_.as_deref(), Some("[fd00::2]:/tmp"));
        for (opt, want) in [
            ("-fe80::1%eth0:/tmp", "fe80::1%eth0:/tmp"),
            ("-fd00::2:/tmp", "fd00::2:/tmp"),
            ("-fe80::1%eth0", "[fe80::1%eth0]"),
            ("-10.0.0.3:/tmp", "10.0.0.3:/tmp"),
        ] {
            let Command::Spawn(s) = parse_line(&format!("spawn {opt} prog")).unwrap() else {
                panic!()
            };
            assert_eq!(s.where_.as_deref(), Some(want), "{opt}");
            let (host, dir) = crate::net::addr::split_where(want);
            assert!(
                !host.contains('/') && dir.is_none_or(|d| d == "/tmp"),
                "{opt}"
            );
        }
        assert_eq!(
            parse_line("spawn").unwrap_err(),
            ParseError::WrongArgs("spawn")
        );
        assert_eq!(
            parse_line("spawn -?").unwrap_err(),
            ParseError::WrongArgs("spawn")
        );
        assert!(parse_line("spawn ->> prog").is_err());
    }
}
