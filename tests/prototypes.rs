//! The C signatures of libpvm3.so, checked from the Rust code.
//!
//! cbindgen (as a library, settings in cbindgen.toml) writes the C prototype
//! of every `extern "C"` function the Rust code of `src/ffi/` defines or
//! declares; each one whose symbol c/libpvm3.map exports is compared with
//! the declaration of the same name in the hand-written include/pvm3.h, the
//! header users get. The comparison is on types and arity only: parameter
//! names, `const`, spacing, `(void)` and the spelling of a C type
//! (`int32_t` / `int`, `size_t` / `unsigned long`, Rust's nullable
//! `Option<fn>` / a C function pointer) do not matter; a wrong type, a
//! missing or extra argument, or a different return type does.
//!
//! What cannot match is listed with its reason in tests/abi/prototypes.expected
//! (read here; an entry that no longer applies fails the test too):
//! `differs` (pvm3.h keeps PVM 3.4's declarator), `c-body` (the entry point
//! is a trampoline to C code, whose own prototypes in c/varargs.c are
//! compared instead) and `no-header` (exported internals that no installed
//! header declares, and the Fortran entry points, which tests/symbols.rs
//! checks against Debian's libfpvm3.a).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The tree whose sources are checked: this one, or the copy
/// `PVM6_ABI_TREE` names (how a deliberately wrong signature in a scratch
/// copy is tried without building that copy).
fn root() -> std::path::PathBuf {
    std::env::var_os("PVM6_ABI_TREE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf())
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// cbindgen's C text for src/ffi (functions and the typedefs they use).
fn generated() -> String {
    let cfg = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_src(root().join("src/ffi/mod.rs"))
        .with_config(cfg)
        .generate()
        .expect("cbindgen generates the prototypes");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("UTF-8 from cbindgen")
}

/// C text without comments, preprocessor lines (continuations included)
/// and `extern "C" {` / `}` wrappers, cut into `;`-terminated declarations.
fn declarations(c: &str) -> Vec<String> {
    let mut text = String::new();
    let mut rest = c;
    while let Some(i) = rest.find("/*") {
        text.push_str(&rest[..i]);
        rest = rest[i + 2..].split_once("*/").map_or("", |(_, r)| r);
    }
    text.push_str(rest);
    let mut kept = String::new();
    let mut continued = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        let directive = continued || line.trim_start().starts_with('#');
        continued = directive && line.trim_end().ends_with('\\');
        if !directive {
            kept.push_str(line);
            kept.push(' ');
        }
    }
    kept.split(';')
        .map(|d| {
            // drop anything up to the last brace (extern "C" {, struct bodies)
            let d = d.rsplit(['{', '}']).next().unwrap_or(d);
            d.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|d| d.contains('(') && !d.starts_with("typedef"))
        .collect()
}

fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    w.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(w);
        } else if c == '.' {
            while chars.peek() == Some(&'.') {
                chars.next();
            }
            out.push("...".into());
        } else {
            out.push(c.to_string());
            chars.next();
        }
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
}

/// Words that are part of a C type, never a parameter name.
const TYPE_WORDS: &[&str] = &[
    "int", "char", "short", "long", "unsigned", "signed", "float", "double", "void", "const",
    "volatile", "struct", "union", "enum",
];

/// Function-pointer typedefs of the generated text: name -> (return
/// tokens, parameter tokens, both normalised).
type FnTypedefs = BTreeMap<String, (Vec<String>, Vec<String>)>;

/// Simple typedefs (`typedef size_t FLen;`) and function-pointer ones.
fn typedefs(c: &str) -> (BTreeMap<String, Vec<String>>, FnTypedefs) {
    let mut simple = BTreeMap::new();
    let mut fns = FnTypedefs::new();
    for d in c.split(';').map(str::trim) {
        let Some(body) = d.strip_prefix("typedef ") else {
            continue;
        };
        let t = tokens(body);
        if let Some(star) = t.windows(2).position(|w| w[0] == "(" && w[1] == "*") {
            // R ( * Name ) ( P )
            let name = t[star + 2].clone();
            let ret = t[..star].to_vec();
            let params = t[star + 5..t.len() - 1].to_vec();
            fns.insert(name, (ret, params));
        } else if let Some((name, ty)) = t.split_last() {
            simple.insert(name.clone(), ty.to_vec());
        }
    }
    (simple, fns)
}

/// The function name of a declaration: the first identifier followed by `(`.
fn function_name(t: &[String]) -> Option<String> {
    t.windows(2)
        .find(|w| is_ident(&w[0]) && !TYPE_WORDS.contains(&w[0].as_str()) && w[1] == "(")
        .map(|w| w[0].clone())
}

/// The canonical form of a declaration: `name` -> type tokens, with the
/// parameter names removed and C spellings of one type made one.
fn normalise(
    decl: &str,
    simple: &BTreeMap<String, Vec<String>>,
    fns: &FnTypedefs,
) -> Option<(String, String)> {
    let mut t = tokens(decl);
    let name = function_name(&t)?;
    // storage class and qualifiers do not change the ABI
    t.retain(|w| w != "extern" && w != "const");
    // Option<F> is F: a nullable function pointer
    while let Some(i) = t.windows(2).position(|w| w[0] == "Option" && w[1] == "<") {
        let close = t[i..].iter().position(|w| w == ">").map(|p| p + i)?;
        t.remove(close);
        t.drain(i..i + 2);
    }
    // parameter names: an identifier after a type word or `*`, before `,`, `)` or `[`
    let mut i = 1;
    while i + 1 < t.len() {
        let (prev, cur, next) = (&t[i - 1], &t[i], &t[i + 1]);
        let named = is_ident(cur)
            && *cur != name
            && !TYPE_WORDS.contains(&cur.as_str())
            && prev != "struct"
            && (is_ident(prev) || prev == "*")
            && matches!(next.as_str(), "," | ")" | "[");
        if named {
            t.remove(i);
        } else {
            i += 1;
        }
    }
    // typedefs of the generated text, spelled out: first where they are
    // a parameter's type, then a returned one (whose arguments are then plain)
    let mut out: Vec<String> = Vec::new();
    for (k, w) in t.iter().enumerate() {
        if let Some(ty) = simple.get(w) {
            out.extend(ty.iter().cloned());
        } else if let (true, Some((ret, params))) = (k > 0, fns.get(w)) {
            out.extend(ret.iter().cloned());
            out.extend(["(", "*", ")", "("].map(String::from));
            out.extend(params.iter().cloned());
            out.push(")".into());
        } else {
            out.push(w.clone());
        }
    }
    if let Some((ret, params)) = fns.get(&out[0]) {
        // R ( * name ( args ) ) ( P )
        let close = matching(&out, 2)?;
        let mut spelled = ret.clone();
        spelled.extend(["(", "*"].map(String::from));
        spelled.extend(out[1..=close].iter().cloned());
        spelled.extend([")", "("].map(String::from));
        spelled.extend(params.iter().cloned());
        spelled.push(")".into());
        spelled.extend(out[close + 1..].iter().cloned());
        out = spelled;
    }
    let mut canon: Vec<String> = Vec::new();
    for (j, w) in out.iter().enumerate() {
        let next = out.get(j + 1).map(String::as_str);
        let prev = canon.last().map(String::as_str);
        let spelled: &[&str] = match w.as_str() {
            "const" | "extern" => &[],
            "int8_t" => &["signed", "char"],
            "uint8_t" => &["unsigned", "char"],
            "int16_t" => &["short"],
            "uint16_t" => &["unsigned", "short"],
            "int32_t" => &["int"],
            "uint32_t" => &["unsigned", "int"],
            "int64_t" | "intptr_t" | "ssize_t" | "ptrdiff_t" => &["long"],
            "uint64_t" | "uintptr_t" | "size_t" => &["unsigned", "long"],
            // libc::timeval is the C struct
            "timeval" if prev != Some("struct") => &["struct", "timeval"],
            "unsigned" if !matches!(next, Some("int" | "char" | "short" | "long")) => {
                &["unsigned", "int"]
            }
            "int" if matches!(prev, Some("short" | "long" | "signed")) => &[],
            "signed" if next == Some("int") => &[],
            _ => {
                canon.push(w.clone());
                continue;
            }
        };
        canon.extend(spelled.iter().map(|s| s.to_string()));
    }
    // (void) is ()
    let mut j = 0;
    while j + 2 < canon.len() {
        if canon[j] == "(" && canon[j + 1] == "void" && canon[j + 2] == ")" {
            canon.remove(j + 1);
        }
        j += 1;
    }
    Some((name, canon.join(" ")))
}

/// Index of the `)` matching the `(` at `open`.
fn matching(t: &[String], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, w) in t.iter().enumerate().skip(open) {
        match w.as_str() {
            "(" => depth += 1,
            ")" => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Prototypes of C text: name -> canonical form.
fn prototypes(c: &str, typedef_source: &str) -> BTreeMap<String, String> {
    let (simple, fns) = typedefs(typedef_source);
    declarations(c)
        .iter()
        .filter_map(|d| normalise(d, &simple, &fns))
        .collect()
}

/// The generated prototypes: the functions Rust defines, and the C
/// functions Rust declares in `extern "C"` blocks (to call them).
fn rust_prototypes() -> (BTreeMap<String, String>, Vec<(String, String)>) {
    let text = generated();
    let (simple, fns) = typedefs(&text);
    let mut defined = BTreeMap::new();
    let mut declared = Vec::new();
    for d in declarations(&text) {
        if let Some((name, proto)) = normalise(&d, &simple, &fns) {
            if d.starts_with("extern ") {
                declared.push((name, proto));
            } else {
                defined.insert(name, proto);
            }
        }
    }
    (defined, declared)
}

/// tests/abi/prototypes.expected: `kind name: reason` lines, `name` being
/// a symbol or a pattern with one `*` (`pvmf*_`).
fn expected() -> Vec<(String, String, String)> {
    read("tests/abi/prototypes.expected")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (head, why) = l.split_once(':').expect("`kind name: reason`");
            let (kind, name) = head.split_once(' ').expect("`kind name: reason`");
            assert!(
                matches!(kind, "differs" | "c-body" | "no-header"),
                "unknown kind {kind} in prototypes.expected"
            );
            assert!(!why.trim().is_empty(), "{name}: no reason given");
            (
                kind.to_string(),
                name.trim().to_string(),
                why.trim().to_string(),
            )
        })
        .collect()
}

fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((pre, post)) => {
            name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post)
        }
        None => pattern == name,
    }
}

/// The kind prototypes.expected gives `name`, if any.
fn expected_kind<'a>(expected: &'a [(String, String, String)], name: &str) -> Option<&'a str> {
    expected
        .iter()
        .find(|(_, pattern, _)| matches_pattern(pattern, name))
        .map(|(kind, _, _)| kind.as_str())
}

/// Data symbols of the built libpvm3.so (`nm -D` types B, D, R): they have
/// no prototype (tests/header.rs and tests/symbols.rs check them).
fn data_symbols() -> BTreeSet<String> {
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().unwrap().parent().unwrap().join("libpvm3.so");
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm {}: {out:?}", so.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().rev();
            let name = w.next()?;
            let kind = w.next()?;
            matches!(kind, "B" | "D" | "R").then(|| name.split('@').next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn every_exported_function_matches_pvm3_h() {
    let header_text = read("include/pvm3.h");
    let header = prototypes(&header_text, "");
    let (rust, _) = rust_prototypes();
    let expected = expected();
    let data = data_symbols();
    let functions: Vec<String> = common::export_allow_list()
        .difference(&data)
        .cloned()
        .collect();
    let mut wrong = Vec::new();
    for name in &functions {
        let kind = expected_kind(&expected, name);
        let ours = rust.get(name);
        let theirs = header.get(name);
        match (kind, ours, theirs) {
            (Some("c-body"), _, Some(_)) => {}
            (_, None, _) => wrong.push(format!("{name}: exported, but no Rust definition cbindgen sees")),
            (None, Some(o), Some(h)) if o != h => {
                wrong.push(format!("{name}:\n    Rust:   {o}\n    pvm3.h: {h}"))
            }
            (None, Some(_), Some(_)) => {}
            (None, Some(o), None) => wrong.push(format!(
                "{name}: exported ({o}) but not declared by pvm3.h nor listed in prototypes.expected"
            )),
            (Some("differs"), Some(o), Some(h)) if o == h => wrong.push(format!(
                "{name}: listed as differing in prototypes.expected, but matches pvm3.h now"
            )),
            (Some("differs" | "c-body"), Some(_), None) => {
                wrong.push(format!("{name}: listed in prototypes.expected, not declared by pvm3.h"))
            }
            (Some("no-header"), Some(_), Some(h)) => wrong.push(format!(
                "{name}: listed as no-header, but pvm3.h declares it ({h})"
            )),
            _ => {}
        }
    }
    for (kind, pattern, _) in &expected {
        if !functions.iter().any(|n| matches_pattern(pattern, n)) {
            wrong.push(format!(
                "{pattern}: in prototypes.expected ({kind}) but no exported function"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} exported functions disagree with include/pvm3.h:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}

/// The entry points whose bodies are C (varargs): c/varargs.c's
/// `pvm6_c_*` prototypes are pvm3.h's `pvm_*` ones.
#[test]
fn c_bodies_match_pvm3_h() {
    let header = prototypes(&read("include/pvm3.h"), "");
    let bodies = prototypes(&read("c/varargs.c"), "");
    let c_body: Vec<String> = expected()
        .into_iter()
        .filter(|(k, _, _)| k == "c-body")
        .map(|(_, n, _)| n)
        .collect();
    assert!(!c_body.is_empty(), "no c-body entry in prototypes.expected");
    for name in c_body {
        let inner = name.replacen("pvm_", "pvm6_c_", 1);
        let body = bodies
            .get(&inner)
            .unwrap_or_else(|| panic!("c/varargs.c declares no {inner} for {name}"));
        let h = &header[&name];
        assert_eq!(
            body.replacen(&inner, &name, 1),
            *h,
            "{inner} (c/varargs.c) and {name} (pvm3.h) differ"
        );
    }
}

/// Rust's own declarations of C entry points (`extern "C"` blocks, used to
/// call through the library's public symbols) agree with pvm3.h too.
#[test]
fn rust_declarations_of_c_entry_points_match_pvm3_h() {
    let header = prototypes(&read("include/pvm3.h"), "");
    let (_, declared) = rust_prototypes();
    let mut wrong = Vec::new();
    for (name, proto) in &declared {
        if let Some(h) = header.get(name) {
            if h != proto {
                wrong.push(format!("{name}:\n    Rust:   {proto}\n    pvm3.h: {h}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "extern \"C\" declarations disagree with pvm3.h:\n  {}",
        wrong.join("\n  ")
    );
}

/// The normaliser itself: what must compare equal and what must not.
#[test]
fn normalisation_ignores_names_and_spelling_but_not_types() {
    let td = "typedef int (*MatchFn)(int, int, int); typedef size_t FLen;";
    let p = |d: &str| prototypes(d, td).into_values().next().unwrap();
    assert_eq!(p("int f(const char *fmt, ...);"), p("int f(char *, ...);"));
    assert_eq!(p("int f(void);"), p("int f();"));
    assert_eq!(
        p("int f(int32_t a, uint32_t *b);"),
        p("int f(int, unsigned *);")
    );
    assert_eq!(p("int f(FLen n);"), p("int f(unsigned long);"));
    assert_eq!(
        p("int f(Option<MatchFn> m);"),
        p("int f(int (*)(int, int, int));")
    );
    assert_eq!(
        p("MatchFn f(MatchFn m);"),
        p("int (*f(int (*)(int, int, int)))(int, int, int);")
    );
    assert_eq!(p("int f(timeval *tv);"), p("int f(struct timeval *);"));
    assert_eq!(p("int f(long int x);"), p("int f(long);"));
    assert_ne!(p("int f(int a);"), p("int f(int, int);"));
    assert_ne!(p("int f(int *a);"), p("int f(int);"));
    assert_ne!(p("int f(long a);"), p("int f(int);"));
    assert_ne!(p("char *f(void);"), p("int f(void);"));
    assert_ne!(p("int f(char **a);"), p("int f(char *);"));
}
