//! Every `static` and `thread_local!` of `src/` sits where docs/ARCHITECTURE.md
//! allows it, so a new process-wide global cannot slip in unnoticed.
//!
//! The sources are read and tokenized (comments, strings and character
//! literals skipped, `'static` lifetimes told apart); `#[cfg(test)]` items,
//! `const`s and the foreign statics of `extern` blocks (declarations of C's
//! objects, not state of ours) do not count. Anything in `src/ffi/globals.rs`
//! is allowed: it is the documented home of the FFI's legacy state. Every
//! other static must be in [`ALLOWED`], with the reason ARCHITECTURE.md gives.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The one file where new per-process FFI state belongs.
const GLOBALS: &str = "ffi/globals.rs";

/// Statics allowed outside `ffi/globals.rs`: (file under src/, name, reason).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "task/mod.rs",
        "RUNTIME",
        "the runtime singleton behind task::rt() itself",
    ),
    (
        "task/logging.rs",
        "TID",
        "the logger runs under the state lock and before rt() exists",
    ),
    (
        "task/logging.rs",
        "ONCE",
        "installs the process-wide `log` logger once",
    ),
    (
        "task/mhf.rs",
        "IN_HANDLER",
        "thread-local: whether this thread runs a message handler",
    ),
    (
        "msg/spare.rs",
        "SPARE",
        "below task: one reusable frame body for the receive path",
    ),
    (
        "os/spin.rs",
        "BUDGET",
        "below task: spin budget read once from the environment",
    ),
    (
        "os/signal.rs",
        "SIGNAL_PIPE",
        "below task: only an atomic is async-signal-safe",
    ),
    (
        "os/cvars.rs",
        "pvmmytid",
        "C-exported variable of PVM 3.4 the task runtime uses, sits at its symbol",
    ),
    (
        "os/cvars.rs",
        "pvmdebmask",
        "C-exported variable of PVM 3.4 the task runtime uses, sits at its symbol",
    ),
    (
        "ffi/lpvm.rs",
        "pvmgs_tmout",
        "C-exported variable of PVM 3.4, sits at its symbol",
    ),
    (
        "ffi/internals.rs",
        "pvmmyctx",
        "C-exported variable of PVM 3.4, sits at its symbol",
    ),
    (
        "ffi/internals.rs",
        "pvmctrc",
        "C-exported variable of PVM 3.4, sits at its symbol",
    ),
    (
        "ffi/internals.rs",
        "pvmtrc",
        "C-exported variable of PVM 3.4, sits at its symbol",
    ),
    (
        "os/cvars.rs",
        "pvmtoplvl",
        "C-exported variable of PVM 3.4 the task runtime uses (message handler runs), sits at its symbol",
    ),
    (
        "ffi/trace.rs",
        "CEVENT",
        "the one trace event PVM 3.4's C macros have open (tev_begin .. tev_fin), as libpvm's own",
    ),
    (
        "ffi/trace.rs",
        "pvmtrccodef",
        "C-exported variable of PVM 3.4, sits at its symbol",
    ),
    (
        "ffi/trace.rs",
        "pvmtevinfo",
        "C-exported table of PVM 3.4, sits at its symbol",
    ),
    (
        "ffi/trace.rs",
        "pvmtevdidlist",
        "C-exported table of PVM 3.4, sits at its symbol",
    ),
    (
        "ffi/trace.rs",
        "ENCODERS",
        "the encoder table pvmtrccodef points at (immutable)",
    ),
    (
        "ffi/process.rs",
        "STRERROR",
        "thread-local scratch for pvm_strerror's string",
    ),
    (
        "ffi/internals.rs",
        "DECIMAL",
        "thread-local scratch for a number returned to C",
    ),
];

/// Files of `src/daemon/` allowed to hold statics, by file name only (that
/// tree is being restructured; names inside may move). None has one today.
const DAEMON_FILES: &[&str] = &[];

/// One `static` found in the sources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    file: String,
    name: String,
    thread_local: bool,
    line: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
    /// A string, char or number literal (content irrelevant here).
    Lit,
}

/// Tokens of `src` with their line numbers.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if ch == '"' || raw_string_start(&c, i).is_some() || prefixed_string(&c, i) {
            let start_line = line;
            if let Some((hashes, body)) = raw_string_start(&c, i) {
                i = body;
                loop {
                    if i >= c.len() {
                        break;
                    }
                    if c[i] == '"' && (0..hashes).all(|k| at(i + 1 + k) == '#') {
                        i += 1 + hashes;
                        break;
                    }
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            } else {
                while c[i] != '"' {
                    i += 1; // the b / c prefix
                }
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        i += 1;
                    }
                    if at(i) == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            out.push((Tok::Lit, start_line));
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // Escaped char literal: up to the closing quote.
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push((Tok::Lit, line));
            } else if at(i + 2) == '\'' {
                i += 3;
                out.push((Tok::Lit, line));
            } else {
                // A lifetime such as 'static: skip it whole.
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(c[s..i].iter().collect()), line));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Lit, line));
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// `r"`, `r#"`, `br"`, `cr#"` ...: (number of hashes, index after the quote).
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if matches!(c.get(j), Some('b') | Some('c')) {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

/// `b"..."` or `c"..."`.
fn prefixed_string(c: &[char], i: usize) -> bool {
    (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
        && matches!(c[i], 'b' | 'c')
        && c.get(i + 1) == Some(&'"')
}

fn is_punct(t: Option<&(Tok, usize)>, p: char) -> bool {
    matches!(t, Some((Tok::Punct(q), _)) if *q == p)
}

fn is_ident(t: Option<&(Tok, usize)>, s: &str) -> bool {
    matches!(t, Some((Tok::Ident(q), _)) if q == s)
}

/// Index after the bracket group opening at `open` (`{`, `[` or `(`).
fn skip_group(toks: &[(Tok, usize)], open: usize) -> usize {
    let mut depth = 0i32;
    let mut i = open;
    while i < toks.len() {
        if let Tok::Punct(p) = toks[i].0 {
            match p {
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    toks.len()
}

/// Index after the item starting at `i`: its first `;` outside brackets, or
/// the end of its first top-level `{...}` block.
fn skip_item(toks: &[(Tok, usize)], mut i: usize) -> usize {
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return skip_group(toks, i),
            Tok::Punct('(') | Tok::Punct('[') => i = skip_group(toks, i),
            _ => i += 1,
        }
    }
    toks.len()
}

/// Whether the attribute `#[...]` at `i` is exactly `#[cfg(test)]`.
fn is_cfg_test(toks: &[(Tok, usize)], i: usize) -> bool {
    let want = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    toks.len() >= i + want.len() && toks[i..i + want.len()].iter().map(|t| &t.0).eq(want.iter())
}

/// The statics of one file's tokens.
fn statics_in(file: &str, toks: &[(Tok, usize)]) -> Vec<Found> {
    let mut found = Vec::new();
    // End index of the thread_local! blocks we are in.
    let mut tl_end: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        tl_end.retain(|&e| e > i);
        if is_cfg_test(toks, i) {
            // Skip this and further attributes, then the item.
            let mut j = i;
            while is_punct(toks.get(j), '#') && is_punct(toks.get(j + 1), '[') {
                j = skip_group(toks, j + 1);
            }
            i = skip_item(toks, j);
            continue;
        }
        if is_ident(toks.get(i), "extern") {
            // `extern "C" { static ...; }` declares C's objects: skip it.
            let mut j = i + 1;
            if matches!(toks.get(j), Some((Tok::Lit, _))) {
                j += 1;
            }
            if is_punct(toks.get(j), '{') {
                i = skip_group(toks, j);
                continue;
            }
        }
        if is_ident(toks.get(i), "thread_local")
            && is_punct(toks.get(i + 1), '!')
            && (is_punct(toks.get(i + 2), '{') || is_punct(toks.get(i + 2), '('))
        {
            tl_end.push(skip_group(toks, i + 2));
            i += 3;
            continue;
        }
        if is_ident(toks.get(i), "static") {
            let mut j = i + 1;
            if is_ident(toks.get(j), "mut") {
                j += 1;
            }
            if let (Some((Tok::Ident(name), line)), true) =
                (toks.get(j), is_punct(toks.get(j + 1), ':'))
            {
                found.push(Found {
                    file: file.to_string(),
                    name: name.clone(),
                    thread_local: !tl_end.is_empty(),
                    line: *line,
                });
            }
        }
        i += 1;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn all_statics() -> Vec<Found> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut all = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        all.extend(statics_in(&rel, &tokenize(&text)));
    }
    all
}

fn allowed(f: &Found) -> bool {
    f.file == GLOBALS
        || ALLOWED
            .iter()
            .any(|(file, name, _)| *file == f.file && *name == f.name)
        || f.file
            .strip_prefix("daemon/")
            .is_some_and(|rest| DAEMON_FILES.contains(&rest))
}

#[test]
fn every_static_is_where_architecture_md_allows() {
    let all = all_statics();
    let stray: Vec<String> = all
        .iter()
        .filter(|f| !allowed(f))
        .map(|f| {
            format!(
                "src/{}:{}: {}{}",
                f.file,
                f.line,
                if f.thread_local {
                    "thread-local "
                } else {
                    "static "
                },
                f.name
            )
        })
        .collect();
    assert!(
        stray.is_empty(),
        "statics outside the places docs/ARCHITECTURE.md allows (per-process FFI state \
         goes into src/ffi/globals.rs, task state into task::rt(); otherwise document \
         the exception in ARCHITECTURE.md and in ALLOWED of tests/statics.rs):\n  {}",
        stray.join("\n  ")
    );
}

#[test]
fn allow_list_is_current_and_documented() {
    let all = all_statics();
    let present: BTreeSet<(&str, &str)> = all
        .iter()
        .map(|f| (f.file.as_str(), f.name.as_str()))
        .collect();
    let arch =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"))
            .unwrap();
    for (file, name, reason) in ALLOWED {
        assert!(!reason.is_empty());
        assert!(
            present.contains(&(*file, *name)),
            "ALLOWED lists src/{file} {name}, which no longer exists: drop it here and in \
             docs/ARCHITECTURE.md"
        );
        assert!(
            arch.contains(&format!("`{name}`")) || arch.contains(&format!("::{name}`")),
            "src/{file} {name} is allowed here but docs/ARCHITECTURE.md does not name it"
        );
    }
    // The thread-locals are the ones documented as such.
    let tls: BTreeSet<&str> = all
        .iter()
        .filter(|f| f.thread_local)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        tls,
        ["DECIMAL", "IN_HANDLER", "STRERROR"].into_iter().collect(),
        "thread-locals of src/"
    );
}

/// The scanner itself: what counts and what does not.
#[test]
fn scanner_counts_statics_and_skips_the_rest() {
    let src = r##"
        // static COMMENTED: u8 = 0;
        /* static BLOCK: u8 = 0; /* nested */ static STILL_COMMENT: u8 = 0; */
        static A: u8 = 0;
        pub(crate) static mut B: u8 = 0;
        const C: u8 = 0;
        fn f() -> &'static str { static D: u8 = 0; "static E: u8 = 0;" }
        const S: &str = r#"static F: u8 = "x";"#;
        const Q: char = '"';
        const R: char = '\'';
        thread_local! { static G: u8 = const { 0 }; }
        extern "C" { static stdout: *mut u8; }
        #[cfg(test)]
        mod tests { static H: u8 = 0; }
        #[cfg(test)]
        #[allow(dead_code)]
        static I: u8 = 0;
        static J: &'static str = "";
    "##;
    let got: Vec<(String, bool)> = statics_in("x.rs", &tokenize(src))
        .into_iter()
        .map(|f| (f.name, f.thread_local))
        .collect();
    let want: Vec<(String, bool)> = [
        ("A", false),
        ("B", false),
        ("D", false),
        ("G", true),
        ("J", false),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), *t))
    .collect();
    assert_eq!(got, want);
}
