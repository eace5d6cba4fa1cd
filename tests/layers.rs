//! The layering rule of docs/ARCHITECTURE.md, checked on the sources: every
//! `crate::` path (in `use` lines and in code) is an arrow from the module
//! that writes it to the top-level module it names; an arrow may only go
//! down the layers, and the modules of one layer must not import each other
//! in a cycle. The arrows up that are allowed are listed, with their reason,
//! in [`EXCEPTIONS`]: from `task` to `daemon` only `daemon::embedded`, which
//! starts the embedded daemon.
//!
//! Inside `daemon`, the components (the types of `Daemon`'s fields defined
//! there) keep their fields private to their file; the ones still open are
//! listed in [`OPEN_COMPONENTS`] with their reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first. A module may import only modules of its own layer
/// (without a cycle) or of a lower one.
const LAYERS: &[&[&str]] = &[
    &["ffi", "console", "fuzzing"],
    &["task"],
    &["daemon"],
    &["wire"],
    &[
        "msg", "ring", "auth", "seal", "net", "hostfile", "launch", "paths", "tid", "error",
        "consts", "sync",
    ],
    &["os"],
];

/// Arrows that go up and are allowed, each with its reason: (from, the
/// path prefix it may use).
const EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "task",
    "daemon::embedded",
    "starting the embedded daemon (and the options it takes)",
)];

/// Arrows down that are narrow: allowed only through the paths listed in
/// [`EXCEPTIONS`] (task runs on the daemon's protocol, not on its code).
const NARROW: &[(&str, &str)] = &[("task", "daemon")];

/// Names the crate root re-exports, and the module they come from.
const ROOT_REEXPORTS: &[(&str, &str)] = &[("Error", "error"), ("Result", "error")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without comments, string and character literals (replaced by
/// spaces, so nothing in them reads as a path).
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !prev_ident(&b, i) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' {
            // A character literal ('x', '\n', '\''), or a lifetime.
            if next == Some('\\') {
                let mut j = i + 3;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push(' ');
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Every `crate::` path of `code`, as the text after `crate::` up to the end
/// of the path (`daemon::embedded::start_background`), a `{ ... }` group
/// expanded into one path per member.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        expand("", rest, &mut out);
    }
    out
}

/// Expands the path starting at `s` (after `prefix`) into `out`.
fn expand(prefix: &str, s: &str, out: &mut Vec<String>) {
    let s = s.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        for member in split_group(group) {
            expand(prefix, member, out);
        }
        return;
    }
    let mut path = prefix.to_string();
    let mut s = s;
    loop {
        let id = ident_at(s);
        if id.is_empty() {
            break;
        }
        if !path.is_empty() {
            path.push_str("::");
        }
        path.push_str(id);
        s = &s[id.len()..];
        match s.strip_prefix("::") {
            Some(r) if r.trim_start().starts_with('{') => {
                return expand(&path, r, out);
            }
            Some(r) => s = r,
            None => break,
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The members of a `{ ... }` group whose text starts after the `{`.
fn split_group(s: &str) -> Vec<&str> {
    let mut members = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                members.push(&s[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                members.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    members
        .into_iter()
        .filter(|m| !m.trim().is_empty())
        .collect()
}

/// The top-level module a path names (`self` and re-exports resolved).
fn target(path: &str) -> Option<String> {
    let first = path.split("::").next()?;
    if let Some((_, m)) = ROOT_REEXPORTS.iter().find(|(n, _)| *n == first) {
        return Some(m.to_string());
    }
    if first == "self" || first.chars().next()?.is_uppercase() {
        return None;
    }
    Some(first.to_string())
}

/// Every arrow of the crate: (from, to) -> the places that make it.
fn arrows() -> BTreeMap<(String, String), Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut arrows: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let mut parts = rel.iter().map(|p| p.to_string_lossy().into_owned());
        let first = parts.next().unwrap();
        if first == "bin" || first == "lib.rs" {
            // The binaries are their own crates (they use `pvm6::`); the
            // crate root only declares the modules.
            continue;
        }
        let from = first.trim_end_matches(".rs").to_string();
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for path in crate_paths(&code) {
            let Some(to) = target(&path) else { continue };
            if to != from {
                arrows
                    .entry((from.clone(), to))
                    .or_default()
                    .push(format!("{}: crate::{path}", rel.display()));
            }
        }
    }
    arrows
}

/// Whether the place (`file: crate::path`) of an arrow from `from` is one
/// of the [`EXCEPTIONS`].
fn excepted(from: &str, place: &str) -> bool {
    let path = place.split("crate::").nth(1).unwrap_or("");
    EXCEPTIONS.iter().any(|(f, prefix, _)| {
        *f == from && (path == *prefix || path.starts_with(&format!("{prefix}::")))
    })
}

#[test]
fn the_sample_parser_reads_groups_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::{tid, wire::{self, Frame}};\n// crate::task\nlet s = \"crate::ffi\";\n\
         let c = '\"'; let q = '\\''; x = crate::daemon::embedded::start_background(); /* crate::os */",
    );
    let paths = crate_paths(&code);
    assert_eq!(
        paths,
        [
            "tid",
            "wire::self",
            "wire::Frame",
            "daemon::embedded::start_background"
        ]
    );
}

#[test]
fn every_module_is_in_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for e in std::fs::read_dir(&src).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let m = name.trim_end_matches(".rs");
        if m == "bin" || m == "lib" {
            continue;
        }
        assert!(
            layer_of(m).is_some(),
            "src/{name}: module `{m}` is in no layer of tests/layers.rs (and docs/ARCHITECTURE.md)"
        );
    }
}

#[test]
fn no_module_imports_upward() {
    let mut bad = Vec::new();
    for ((from, to), places) in arrows() {
        let (Some(lf), Some(lt)) = (layer_of(&from), layer_of(&to)) else {
            bad.push(format!(
                "{from} -> {to}: a module in no layer ({})",
                places[0]
            ));
            continue;
        };
        let narrow = NARROW.contains(&(from.as_str(), to.as_str()));
        if lt >= lf && !narrow {
            continue;
        }
        let how = if narrow {
            "is narrow (only through EXCEPTIONS)"
        } else {
            "goes up the layers"
        };
        for p in places.iter().filter(|p| !excepted(&from, p)) {
            bad.push(format!("{from} -> {to} {how}: {p}"));
        }
    }
    assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
}

#[test]
fn no_cycle_between_modules() {
    let arrows = arrows();
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ((from, to), places) in &arrows {
        if places.iter().any(|p| !excepted(from, p)) {
            next.entry(from).or_default().insert(to);
        }
    }
    // A path from `to` back to `from` closes a cycle with the arrow.
    for ((from, to), places) in &arrows {
        if !next
            .get(from.as_str())
            .is_some_and(|n| n.contains(to.as_str()))
        {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![to.as_str()];
        while let Some(m) = stack.pop() {
            if m == from {
                panic!(
                    "{from} -> {to} ({}) closes a cycle: {to} reaches {from} back",
                    places[0]
                );
            }
            if seen.insert(m) {
                stack.extend(next.get(m).into_iter().flatten());
            }
        }
    }
}

/// Daemon components whose fields may still be reached from other files,
/// each with its reason (docs/ARCHITECTURE.md, "Daemon").
const OPEN_COMPONENTS: &[(&str, &str)] = &[(
    "DaemonOptions",
    "the daemon's settings, fixed at start and only read",
)];

/// The body of `struct name { ... }` in `code` (comments removed), without
/// the braces.
fn struct_body<'a>(code: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = code;
    while let Some(at) = rest.find("struct ") {
        let after = &rest[at + "struct ".len()..];
        let before = rest[..at].chars().next_back();
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') || ident_at(after) != name {
            continue;
        }
        let open = after.find(['{', ';', '('])?;
        if !after[open..].starts_with('{') {
            return None;
        }
        let body = &after[open + 1..];
        let mut depth = 0;
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => return Some(&body[..i]),
                '}' => depth -= 1,
                _ => {}
            }
        }
        return None;
    }
    None
}

/// The fields of a struct body: (visibility or "", name, type), attributes
/// skipped.
fn fields(body: &str) -> Vec<(String, String, String)> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in body.char_indices() {
        match c {
            '<' | '(' | '[' | '{' => depth += 1,
            '>' | ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&body[start..]);
    let mut out = Vec::new();
    for item in items {
        let mut s = item.trim();
        while s.starts_with("#[") {
            let end = s.find(']').map_or(s.len(), |e| e + 1);
            s = s[end..].trim_start();
        }
        if s.is_empty() {
            continue;
        }
        let mut vis = String::new();
        if s.starts_with("pub") && !s[3..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            let rest = s[3..].trim_start();
            let end = if rest.starts_with('(') {
                rest.find(')').map_or(0, |e| e + 1)
            } else {
                0
            };
            vis = format!("pub{}", &rest[..end]);
            s = rest[end..].trim_start();
        }
        let name = ident_at(s).to_string();
        let ty = s[name.len()..].trim_start().trim_start_matches(':').trim();
        out.push((vis, name, ty.to_string()));
    }
    out
}

/// Every struct of `src/daemon/`, by name: (file, its body).
fn daemon_structs() -> BTreeMap<String, (String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/daemon");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        let code = match code.find("#[cfg(test)]") {
            Some(at) => code[..at].to_string(),
            None => code,
        };
        let mut rest = code.as_str();
        while let Some(at) = rest.find("struct ") {
            let name = ident_at(&rest[at + "struct ".len()..]).to_string();
            rest = &rest[at + "struct ".len()..];
            if let Some(body) = struct_body(&code, &name) {
                let file = f.file_name().unwrap().to_string_lossy().into_owned();
                out.entry(name).or_insert((file, body.to_string()));
            }
        }
    }
    out
}

#[test]
fn the_field_parser_reads_visibility_names_and_types() {
    let code = code_only(
        "pub struct D {\n    /// doc\n    pub(super) tasks: TaskTable,\n    #[allow(x)]\n    \
         m: HashMap<Token, (i32, Vec<u8>)>,\n    pub feeds: super::feeds::Feeds,\n}",
    );
    let f = fields(struct_body(&code, "D").unwrap());
    assert_eq!(
        f,
        [
            ("pub(super)".into(), "tasks".into(), "TaskTable".into()),
            (
                "".into(),
                "m".into(),
                "HashMap<Token, (i32, Vec<u8>)>".into()
            ),
            ("pub".into(), "feeds".into(), "super::feeds::Feeds".into()),
        ]
    );
}

/// The daemon's components are the types of `Daemon`'s fields defined in
/// `src/daemon/` (TaskTable, Mailbox, Feeds ...): each owns its state, so
/// none has a field another file can reach (a field without `pub` is
/// private to its file, every file being its own module). Records handed
/// between components (Task, Note, Conn ...) are not components.
#[test]
fn daemon_components_keep_their_fields_private() {
    let structs = daemon_structs();
    let (_, daemon) = structs.get("Daemon").expect("struct Daemon in src/daemon/");
    let mut components = BTreeSet::new();
    for (_, _, ty) in fields(daemon) {
        let last = ty.rsplit("::").next().unwrap_or(&ty);
        if ty.contains('<') || !structs.contains_key(last) {
            continue;
        }
        components.insert(last.to_string());
    }
    for must in ["TaskTable", "Mailbox", "NotifyTable", "Groups", "Feeds"] {
        assert!(
            components.contains(must),
            "{must} is not found as a component of Daemon: the parser missed it"
        );
    }
    let mut bad = Vec::new();
    for c in &components {
        if OPEN_COMPONENTS.iter().any(|(n, _)| n == c) {
            continue;
        }
        let (file, body) = &structs[c];
        for (vis, name, _) in fields(body) {
            if !vis.is_empty() {
                bad.push(format!("daemon/{file}: {c}.{name} is {vis}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "daemon components expose fields to other files (give the callers a \
         method instead, or list the component in OPEN_COMPONENTS with its reason):\n{}",
        bad.join("\n")
    );
}

/// The loop's own state: fields of `Daemon` that are not components but
/// are still reached from other files' `impl Daemon` blocks, each with its
/// reason (docs/ARCHITECTURE.md, "Daemon"). Every other field of `Daemon`
/// is private to server.rs or a component.
const LOOP_STATE: &[(&str, &str)] = &[
    (
        "opts",
        "the settings (DaemonOptions, open: fixed at start, read)",
    ),
    (
        "poll",
        "the poll registry: files register the sources they own",
    ),
    (
        "unix",
        "the task listener, watched once a master's hosts are in",
    ),
    ("tcp", "the TCP listener (links accepted, bounds)"),
    ("buf", "the read buffer shared by pipes and links"),
    (
        "unix_open",
        "whether the task listener is watched (host_start/boot.rs)",
    ),
];

/// `Daemon` (the context) exposes to the other files of the daemon only
/// its components (types of src/daemon/ whose fields the test above keeps
/// private) and the loop state listed in [`LOOP_STATE`] (an open component
/// too); plain state such as its identity or a map of connections is a
/// component or private.
#[test]
fn the_context_exposes_only_components_and_listed_loop_state() {
    let structs = daemon_structs();
    let (_, daemon) = structs.get("Daemon").expect("struct Daemon in src/daemon/");
    let mut bad = Vec::new();
    let mut seen = BTreeSet::new();
    for (vis, name, ty) in fields(daemon) {
        let last = ty.rsplit("::").next().unwrap_or(&ty);
        let component = !ty.contains('<') && structs.contains_key(last);
        let open = OPEN_COMPONENTS.iter().any(|(n, _)| *n == last);
        if vis.is_empty() || (component && !open) {
            continue;
        }
        seen.insert(name.clone());
        if !LOOP_STATE.iter().any(|(n, _)| *n == name) {
            bad.push(format!("Daemon.{name}: {ty} is {vis}"));
        }
    }
    for (n, _) in LOOP_STATE {
        assert!(
            seen.contains(*n),
            "LOOP_STATE lists {n}, which is no longer an open field of Daemon: remove it"
        );
    }
    assert!(
        bad.is_empty(),
        "Daemon exposes plain state to other files (make it a component with \
         private fields, keep it private to server.rs, or list it in LOOP_STATE \
         with its reason):\n{}",
        bad.join("\n")
    );
}

/// docs/ARCHITECTURE.md lists every arrow between top-level modules, in a
/// block after the line that names this test; the list must be the code's.
#[test]
fn the_documented_arrows_are_the_codes() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"))
            .unwrap();
    let at = doc
        .find("the_documented_arrows_are_the_codes")
        .expect("docs/ARCHITECTURE.md lists the arrows (see this test)");
    let block = doc[at..].split("```").nth(1).expect("a ``` block after it");
    let mut documented: BTreeSet<(String, String)> = BTreeSet::new();
    for line in block.lines().filter(|l| l.contains("->")) {
        let (from, tos) = line.split_once("->").unwrap();
        for to in tos.split_whitespace() {
            documented.insert((from.trim().to_string(), to.to_string()));
        }
    }
    let code: BTreeSet<(String, String)> = arrows().into_keys().collect();
    let mut by_from: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (f, t) in &code {
        by_from.entry(f).or_default().push(t);
    }
    let listing: Vec<String> = by_from
        .iter()
        .map(|(f, ts)| format!("{f:<9}-> {}", ts.join(" ")))
        .collect();
    assert_eq!(
        documented,
        code,
        "docs/ARCHITECTURE.md's arrows differ from the code's, which are:\n{}",
        listing.join("\n")
    );
}
