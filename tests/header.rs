//! Checks the C header contract: include/pvm3.h against the Rust constants
//! and structures, against PVM 3.4.6's own pvm3.h when it is installed, the
//! prototype list of the original interface, and c/varargs.c (pvm_packf and
//! friends) against a recording test double.

use pvm3::consts;
use pvm3::ffi::types::{PvmHostInfo, PvmMInfo, PvmMboxInfo, PvmTaskInfo};
use std::collections::{BTreeMap, BTreeSet};
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

const REFERENCE: &str = "/usr/include/pvm3.h";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pvm6-header-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a compiler and panics with its output when it fails.
fn compile(cc: &str, args: &[&str]) {
    let out = Command::new(cc).args(args).output().expect("run compiler");
    assert!(
        out.status.success(),
        "{cc} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(exe: &Path) -> String {
    let out = Command::new(exe).output().expect("run program");
    assert!(out.status.success(), "{} failed: {:?}", exe.display(), out);
    String::from_utf8(out.stdout).unwrap()
}

// ---- (a) the header's integer #defines equal consts::ALL -----------------

/// Tiny evaluator for the integer expressions of the header's #defines.
struct Eval<'a> {
    toks: Vec<String>,
    at: usize,
    known: &'a BTreeMap<String, i64>,
}

impl Eval<'_> {
    fn tokenize(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let b: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_whitespace() {
                i += 1;
            } else if c.is_ascii_alphanumeric() || c == '_' {
                let st = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                out.push(b[st..i].iter().collect());
            } else if (c == '<' || c == '>') && b.get(i + 1) == Some(&c) {
                out.push(format!("{c}{c}"));
                i += 2;
            } else {
                out.push(c.to_string());
                i += 1;
            }
        }
        out
    }
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.at).map(|s| s.as_str())
    }
    fn next(&mut self) -> Option<String> {
        self.at += 1;
        self.toks.get(self.at - 1).cloned()
    }
    fn binary(&mut self, level: usize) -> Option<i64> {
        const LEVELS: [&[&str]; 5] = [&["|"], &["&"], &["<<", ">>"], &["+", "-"], &["*", "/"]];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut v = self.binary(level + 1)?;
        while let Some(op) = self.peek().filter(|t| LEVELS[level].contains(t)) {
            let op = op.to_string();
            self.next();
            let r = self.binary(level + 1)?;
            v = match op.as_str() {
                "|" => v | r,
                "&" => v & r,
                "<<" => v << r,
                ">>" => v >> r,
                "+" => v + r,
                "-" => v - r,
                "*" => v * r,
                _ => v / r,
            };
        }
        Some(v)
    }
    fn unary(&mut self) -> Option<i64> {
        match self.next()?.as_str() {
            "-" => Some(-self.unary()?),
            "~" => Some(!self.unary()?),
            "(" => {
                if matches!(self.peek(), Some("unsigned" | "int" | "long")) {
                    while self.next()? != ")" {}
                    return self.unary();
                }
                let v = self.binary(0)?;
                (self.next()? == ")").then_some(v)
            }
            t if t.starts_with(|c: char| c.is_ascii_digit()) => {
                let t = t.trim_end_matches(['u', 'U', 'l', 'L']);
                match t.strip_prefix("0x") {
                    Some(h) => i64::from_str_radix(h, 16).ok(),
                    None => t.parse().ok(),
                }
            }
            t => self.known.get(t).copied(),
        }
    }
}

/// Every `#define NAME <integer expression>` of a header file.
fn integer_defines(text: &str) -> BTreeMap<String, i64> {
    let joined = text.replace("\\\n", " ");
    let mut known = BTreeMap::new();
    for line in joined.lines() {
        let Some(rest) = line.trim_start().strip_prefix("#define") else {
            continue;
        };
        let rest = match rest.find("/*") {
            Some(i) => &rest[..i],
            None => rest,
        };
        let rest = rest.trim();
        let (name, expr) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if name.contains('(') || expr.trim().is_empty() || expr.trim().starts_with('"') {
            continue;
        }
        let mut ev = Eval {
            toks: Eval::tokenize(expr),
            at: 0,
            known: &known,
        };
        let Some(v) = ev.binary(0).filter(|_| ev.at == ev.toks.len()) else {
            continue; // not an integer expression (e.g. L_tmpnam)
        };
        if let Some(old) = known.insert(name.to_string(), v) {
            assert_eq!(old, v, "{name} defined twice with different values");
        }
    }
    known
}

#[test]
fn header_integer_defines_equal_consts_all() {
    let text = std::fs::read_to_string(repo().join("include/pvm3.h")).unwrap();
    let header = integer_defines(&text);
    let rust: BTreeMap<String, i64> = consts::ALL
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
    assert_eq!(
        rust.len(),
        consts::ALL.len(),
        "duplicate names in consts::ALL"
    );
    let only_h: Vec<_> = header.keys().filter(|k| !rust.contains_key(*k)).collect();
    let only_r: Vec<_> = rust.keys().filter(|k| !header.contains_key(*k)).collect();
    assert!(
        only_h.is_empty(),
        "in pvm3.h but not consts::ALL: {only_h:?}"
    );
    assert!(
        only_r.is_empty(),
        "in consts::ALL but not pvm3.h: {only_r:?}"
    );
    for (k, v) in &header {
        assert_eq!(rust[k], *v, "value of {k}");
    }
    // The evaluator itself.
    assert_eq!(header["PvmMboxMaxDirectIndex"], 1 << 21);
    assert_eq!(header["PvmNoEntry"], -32);
}

// ---- (b), (c) constant and layout dumper -----------------------------------

/// (C struct, Rust size, [(field, Rust offset)]) of one structure.
type Layout = (&'static str, usize, Vec<(&'static str, usize)>);

/// Layouts of the four structures as Rust sees them.
fn layouts() -> Vec<Layout> {
    macro_rules! layout {
        ($c:literal, $t:ty, $($f:ident),*) => {
            ($c, size_of::<$t>(), vec![$((stringify!($f), offset_of!($t, $f))),*])
        };
    }
    vec![
        layout!(
            "pvmhostinfo",
            PvmHostInfo,
            hi_tid,
            hi_name,
            hi_arch,
            hi_speed,
            hi_dsig
        ),
        layout!(
            "pvmtaskinfo",
            PvmTaskInfo,
            ti_tid,
            ti_ptid,
            ti_host,
            ti_flag,
            ti_a_out,
            ti_pid
        ),
        layout!("pvmminfo", PvmMInfo, len, ctx, tag, wid, enc, crc, src, dst),
        layout!(
            "pvmmboxinfo",
            PvmMboxInfo,
            mi_name,
            mi_nentries,
            mi_indices,
            mi_owners,
            mi_flags
        ),
    ]
}

/// Source of a C program printing "key value" lines for every constant,
/// string, struct size and field offset, each guarded by #ifdef.
fn dumper_source() -> String {
    let mut s = String::from(
        "#include <pvm3.h>\n#include <stdio.h>\n#include <stddef.h>\nint main(void)\n{\n",
    );
    for (st, _, fields) in layouts() {
        s += &format!("\tprintf(\"sizeof {st} %zu\\n\", sizeof(struct {st}));\n");
        for (f, _) in fields {
            s += &format!("\tprintf(\"offsetof {st}.{f} %zu\\n\", offsetof(struct {st}, {f}));\n");
        }
    }
    for (n, _) in consts::ALL {
        s += &format!("#ifdef {n}\n\tprintf(\"const {n} %ld\\n\", (long)({n}));\n#endif\n");
    }
    for (n, _) in consts::STRINGS {
        s += &format!("#ifdef {n}\n\tprintf(\"str {n} %s\\n\", {n});\n#endif\n");
    }
    s += "\tprintf(\"macro PvmMboxDirectIndex(5) %ld\\n\", (long)PvmMboxDirectIndex(5));\n";
    s += "\tprintf(\"macro PvmMboxDirectIndexOf(7<<10|2) %ld\\n\", (long)PvmMboxDirectIndexOf((7 << 10) | 2));\n";
    s += "\treturn 0;\n}\n";
    s
}

fn parse_dump(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Compiles and runs the dumper; `include` None means the system's pvm3.h.
fn dump(dir: &Path, include: Option<&Path>, strict: bool) -> BTreeMap<String, String> {
    let src = dir.join("dump.c");
    std::fs::write(&src, dumper_source()).unwrap();
    let exe = dir.join("dump");
    let mut args = vec!["-o", exe.to_str().unwrap(), src.to_str().unwrap()];
    let inc;
    if let Some(i) = include {
        inc = format!("-I{}", i.display());
        args.push(&inc);
    }
    if strict {
        args.extend(["-Wall", "-Wextra", "-Werror"]);
    }
    compile("gcc", &args);
    parse_dump(&run(&exe))
}

fn expected_dump() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (st, size, fields) in layouts() {
        m.insert(format!("sizeof {st}"), size.to_string());
        for (f, off) in fields {
            m.insert(format!("offsetof {st}.{f}"), off.to_string());
        }
    }
    for (n, v) in consts::ALL {
        m.insert(format!("const {n}"), v.to_string());
    }
    for (n, v) in consts::STRINGS {
        m.insert(format!("str {n}"), v.to_string());
    }
    m.insert(
        "macro PvmMboxDirectIndex(5)".into(),
        consts::mbox_direct_index(5).unwrap().to_string(),
    );
    m.insert(
        "macro PvmMboxDirectIndexOf(7<<10|2)".into(),
        consts::mbox_direct_index_of((7 << 10) | 2).to_string(),
    );
    m
}

#[test]
fn c_side_of_header_equals_rust_side() {
    let dir = scratch("ours");
    let got = dump(&dir, Some(&repo().join("include")), true);
    let want = expected_dump();
    let keys: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
    let diff: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| format!("{k}: C {:?}, Rust {:?}", got.get(k), want.get(k)))
        .collect();
    assert!(
        diff.is_empty(),
        "C view of include/pvm3.h differs from the Rust side:\n{}",
        diff.join("\n")
    );
}

#[test]
fn header_conforms_to_pvm_3_4_6_reference() {
    if !Path::new(REFERENCE).exists() {
        eprintln!("SKIP!!! {REFERENCE} (Debian pvm-dev) is not installed: conformance NOT checked");
        return;
    }
    let dir = scratch("reference");
    let theirs = dump(&dir, None, false);
    let ours = dump(&dir, Some(&repo().join("include")), true);
    let mut compared = 0;
    for (k, v) in &theirs {
        if let Some(o) = ours.get(k) {
            assert_eq!(o, v, "{k}: ours {o}, PVM 3.4.6 {v}");
            compared += 1;
        }
    }
    let missing: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(missing.is_empty(), "defined by PVM 3.4.6 only: {missing:?}");
    assert!(compared > 150, "only {compared} items compared");

    // Every object-like macro of the reference exists in ours too.
    let text = std::fs::read_to_string(REFERENCE).unwrap();
    let ours_text = std::fs::read_to_string(repo().join("include/pvm3.h")).unwrap();
    let names = |t: &str| -> BTreeSet<String> {
        t.lines()
            .filter_map(|l| l.trim_start().strip_prefix('#'))
            .filter_map(|l| l.trim_start().strip_prefix("define"))
            .filter_map(|l| {
                l.split(|c: char| c.is_whitespace() || c == '(')
                    .find(|w| !w.is_empty())
            })
            .map(str::to_string)
            .collect()
    };
    let internal = ["__ProtoGlarp__"];
    let ours_names = names(&ours_text);
    let absent: Vec<_> = names(&text)
        .into_iter()
        .filter(|n| !internal.contains(&n.as_str()) && !ours_names.contains(n))
        .collect();
    assert!(
        absent.is_empty(),
        "macros of PVM 3.4.6 missing from ours: {absent:?}"
    );
}

// ---- (d) prototypes -----------------------------------------------------------

/// Every function PVM 3.4.6's pvm3.h declares, with its type ({} = name).
const PROTOTYPES: &[(&str, &str)] = &[
    ("pvmgetrsh", "char *(*{})(void)"),
    ("pvmgettmp", "char *(*{})(void)"),
    ("pvm_strerror", "char *(*{})(void)"),
    ("pvm_addhosts", "int (*{})(char **, int, int *)"),
    ("pvm_addmhf", "int (*{})(int, int, int, int (*)(int))"),
    ("pvm_archcode", "int (*{})(char *)"),
    ("pvm_barrier", "int (*{})(char *, int)"),
    ("pvm_bcast", "int (*{})(char *, int)"),
    ("pvm_bufinfo", "int (*{})(int, int *, int *, int *)"),
    ("pvm_catchout", "int (*{})(FILE *)"),
    ("pvm_config", "int (*{})(int *, int *, struct pvmhostinfo **)"),
    ("pvm_delhosts", "int (*{})(char **, int, int *)"),
    ("pvm_delinfo", "int (*{})(char *, int, int)"),
    ("pvm_delmhf", "int (*{})(int)"),
    ("pvm_exit", "int (*{})(void)"),
    ("pvm_export", "int (*{})(char *)"),
    ("pvm_freebuf", "int (*{})(int)"),
    ("pvm_freecontext", "int (*{})(int)"),
    ("pvm_freezegroup", "int (*{})(char *, int)"),
    ("pvm_gather", "int (*{})(void *, void *, int, int, int, char *, int)"),
    ("pvm_getcontext", "int (*{})(void)"),
    ("pvm_getfds", "int (*{})(int **)"),
    ("pvm_getinst", "int (*{})(char *, int)"),
    ("pvm_getminfo", "int (*{})(int, struct pvmminfo *)"),
    ("pvm_getnoresets", "int (*{})(int **, int *)"),
    ("pvm_getopt", "int (*{})(int)"),
    ("pvm_getrbuf", "int (*{})(void)"),
    ("pvm_getsbuf", "int (*{})(void)"),
    ("pvm_gettid", "int (*{})(char *, int)"),
    ("pvm_gsize", "int (*{})(char *)"),
    ("pvm_halt", "int (*{})(void)"),
    ("pvm_hostsync", "int (*{})(int, struct timeval *, struct timeval *)"),
    ("pvm_initsend", "int (*{})(int)"),
    ("pvm_joingroup", "int (*{})(char *)"),
    ("pvm_kill", "int (*{})(int)"),
    ("pvm_lvgroup", "int (*{})(char *)"),
    ("pvm_getmboxinfo", "int (*{})(char *, int *, struct pvmmboxinfo **)"),
    ("pvm_mcast", "int (*{})(int *, int, int)"),
    ("pvm_mkbuf", "int (*{})(int)"),
    ("pvm_mstat", "int (*{})(char *)"),
    ("pvm_mytid", "int (*{})(void)"),
    ("pvm_newcontext", "int (*{})(void)"),
    ("pvm_notify", "int (*{})(int, int, int, int *)"),
    ("pvm_nrecv", "int (*{})(int, int)"),
    ("pvm_packf", "int (*{})(const char *, ...)"),
    ("pvm_parent", "int (*{})(void)"),
    ("pvm_perror", "int (*{})(char *)"),
    ("pvm_pkbyte", "int (*{})(char *, int, int)"),
    ("pvm_pkcplx", "int (*{})(float *, int, int)"),
    ("pvm_pkdcplx", "int (*{})(double *, int, int)"),
    ("pvm_pkdouble", "int (*{})(double *, int, int)"),
    ("pvm_pkfloat", "int (*{})(float *, int, int)"),
    ("pvm_pkint", "int (*{})(int *, int, int)"),
    ("pvm_pklong", "int (*{})(long *, int, int)"),
    ("pvm_pkshort", "int (*{})(short *, int, int)"),
    ("pvm_pkstr", "int (*{})(char *)"),
    ("pvm_pkuint", "int (*{})(unsigned int *, int, int)"),
    ("pvm_pkulong", "int (*{})(unsigned long *, int, int)"),
    ("pvm_pkushort", "int (*{})(unsigned short *, int, int)"),
    ("pvm_pkmesg", "int (*{})(int)"),
    ("pvm_pkmesgbody", "int (*{})(int)"),
    ("pvm_precv", "int (*{})(int, int, void *, int, int, int *, int *, int *)"),
    ("pvm_probe", "int (*{})(int, int)"),
    ("pvm_psend", "int (*{})(int, int, void *, int, int)"),
    ("pvm_pstat", "int (*{})(int)"),
    ("pvm_putinfo", "int (*{})(char *, int, int)"),
    ("pvm_recv", "int (*{})(int, int)"),
    ("pvm_recvf", "int (*(*{})(int (*)(int, int, int)))(int (*)(int, int, int))"),
    ("pvm_recvinfo", "int (*{})(char *, int, int)"),
    ("pvm_reduce", "int (*{})(void (*)(int *, void *, void *, int *, int *), void *, int, int, int, char *, int)"),
    ("PvmMax", "void (*{})(int *, void *, void *, int *, int *)"),
    ("PvmMin", "void (*{})(int *, void *, void *, int *, int *)"),
    ("PvmSum", "void (*{})(int *, void *, void *, int *, int *)"),
    ("PvmProduct", "void (*{})(int *, void *, void *, int *, int *)"),
    ("pvm_reg_hoster", "int (*{})(void)"),
    ("pvm_reg_rm", "int (*{})(struct pvmhostinfo **)"),
    ("pvm_reg_tasker", "int (*{})(void)"),
    ("pvm_reg_tracer", "int (*{})(int, int, int, int, char *, int, int)"),
    ("pvm_scatter", "int (*{})(void *, void *, int, int, int, char *, int)"),
    ("pvm_send", "int (*{})(int, int)"),
    ("pvm_sendsig", "int (*{})(int, int)"),
    ("pvm_setcontext", "int (*{})(int)"),
    ("pvm_setminfo", "int (*{})(int, struct pvmminfo *)"),
    ("pvm_setopt", "int (*{})(int, int)"),
    ("pvm_setrbuf", "int (*{})(int)"),
    ("pvm_setsbuf", "int (*{})(int)"),
    ("pvm_siblings", "int (*{})(int **)"),
    ("pvm_spawn", "int (*{})(char *, char **, int, char *, int, int *)"),
    ("pvm_start_pvmd", "int (*{})(int, char **, int)"),
    ("pvm_tasks", "int (*{})(int, int *, struct pvmtaskinfo **)"),
    ("pvm_tickle", "int (*{})(int, int *, int *, int *)"),
    ("pvm_tidtohost", "int (*{})(int)"),
    ("pvm_trecv", "int (*{})(int, int, struct timeval *)"),
    ("pvm_unexport", "int (*{})(char *)"),
    ("pvm_unpackf", "int (*{})(const char *, ...)"),
    ("pvm_upkbyte", "int (*{})(char *, int, int)"),
    ("pvm_upkcplx", "int (*{})(float *, int, int)"),
    ("pvm_upkdcplx", "int (*{})(double *, int, int)"),
    ("pvm_upkdouble", "int (*{})(double *, int, int)"),
    ("pvm_upkfloat", "int (*{})(float *, int, int)"),
    ("pvm_upkint", "int (*{})(int *, int, int)"),
    ("pvm_upklong", "int (*{})(long *, int, int)"),
    ("pvm_upkshort", "int (*{})(short *, int, int)"),
    ("pvm_upkstr", "int (*{})(char *)"),
    ("pvm_upkuint", "int (*{})(unsigned int *, int, int)"),
    ("pvm_upkulong", "int (*{})(unsigned long *, int, int)"),
    ("pvm_upkushort", "int (*{})(unsigned short *, int, int)"),
    ("pvm_upkmesg", "int (*{})(void)"),
    ("pvm_version", "char *(*{})(void)"),
    ("pvm_delete", "int (*{})(char *, int)"),
    ("pvm_insert", "int (*{})(char *, int, int)"),
    ("pvm_lookup", "int (*{})(char *, int, int *)"),
];

/// Declared by ours in addition (the library exports them; pvmtev.h of
/// PVM 3.4.6 declares the tmask pair with `Pvmtmask`, a char array).
const EXTRA_PROTOTYPES: &[(&str, &str)] = &[
    ("pvm_gettmask", "int (*{})(int, char *)"),
    ("pvm_settmask", "int (*{})(int, char *)"),
    ("pvm_vpackf", "int (*{})(const char *, va_list)"),
    ("pvm_vunpackf", "int (*{})(const char *, va_list)"),
];

/// C source assigning every function to a pointer of the expected type.
fn prototype_check(list: &[&[(&str, &str)]], data: bool) -> String {
    let mut s = String::from("#include <stdio.h>\n#include <pvm3.h>\n");
    for (name, ty) in list.iter().flat_map(|l| l.iter()) {
        s += &format!("{} = {name};\n", ty.replace("{}", &format!("check_{name}")));
    }
    if data {
        s += "int *check_errno = &pvm_errno;\nint *check_nerr = &pvm_nerr;\nchar **check_errlist = pvm_errlist;\n";
    }
    s
}

#[test]
fn header_declares_every_prototype_of_the_original() {
    let dir = scratch("protos");
    let inc = format!("-I{}", repo().join("include").display());
    let src = dir.join("protos.c");
    std::fs::write(&src, prototype_check(&[PROTOTYPES, EXTRA_PROTOTYPES], true)).unwrap();
    let obj = dir.join("protos.o");
    let strict = [
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic-errors",
        "-std=c99",
    ];
    let mut args = vec![
        "-c",
        "-o",
        obj.to_str().unwrap(),
        src.to_str().unwrap(),
        &inc,
    ];
    args.extend(strict);
    compile("gcc", &args);

    // The same through a C++ compiler: extern "C" and C++-clean.
    if Command::new("g++").arg("--version").output().is_ok() {
        let cpp = dir.join("protos.cc");
        std::fs::write(&cpp, prototype_check(&[PROTOTYPES, EXTRA_PROTOTYPES], true)).unwrap();
        let args = [
            "-c",
            "-o",
            obj.to_str().unwrap(),
            cpp.to_str().unwrap(),
            &inc,
            "-Wall",
            "-Wextra",
            "-Werror",
        ];
        compile("g++", &args);
    } else {
        eprintln!("SKIP: g++ not installed, C++ check of pvm3.h not run");
    }

    // The list itself is the original's: it compiles against PVM 3.4.6's header.
    if Path::new(REFERENCE).exists() {
        let rsrc = dir.join("ref.c");
        std::fs::write(&rsrc, prototype_check(&[PROTOTYPES], false)).unwrap();
        let args = [
            "-c",
            "-o",
            obj.to_str().unwrap(),
            rsrc.to_str().unwrap(),
            "-Werror=incompatible-pointer-types",
        ];
        compile("gcc", &args);
    } else {
        eprintln!("SKIP!!! {REFERENCE} not installed: prototype list not checked against it");
    }

    // Ours declares no function outside the two lists.
    let text = std::fs::read_to_string(repo().join("include/pvm3.h")).unwrap();
    let known: BTreeSet<&str> = PROTOTYPES
        .iter()
        .chain(EXTRA_PROTOTYPES)
        .map(|(n, _)| *n)
        .collect();
    let compat = ["pvmtmpnam", "pvm_getmwid", "pvm_setmwid"];
    for line in text.lines() {
        let l = line.trim_start();
        let Some(rest) = ["int ", "char ", "void "]
            .iter()
            .find_map(|p| l.strip_prefix(p))
        else {
            continue;
        };
        let name: String = rest
            .trim_start_matches(['*', '('])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if rest.contains('(') && !name.is_empty() && !known.contains(name.as_str()) {
            assert!(
                compat.contains(&name.as_str()),
                "unlisted prototype: {line}"
            );
        }
    }
}

// ---- varargs.c ---------------------------------------------------------------

/// .../target/<profile>/ of this test binary.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

#[test]
fn packf_and_unpackf_make_the_expected_typed_calls() {
    let dir = scratch("varargs");
    let r = repo();
    let exe = dir.join("driver");
    let inc = format!("-I{}", r.join("include").display());
    let files = [
        r.join("c/varargs.c"),
        r.join("tests/c/fake_pk.c"),
        r.join("tests/c/varargs_driver.c"),
    ];
    let mut args = vec![
        "-Wall",
        "-Wextra",
        "-Werror",
        "-DFAKE_DEFINES_ERRNO",
        &inc,
        "-o",
        exe.to_str().unwrap(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    compile("gcc", &args);
    let want = std::fs::read_to_string(r.join("tests/c/varargs_expected.txt")).unwrap();
    let got = run(&exe);
    assert_eq!(
        got, want,
        "transcript of c/varargs.c against the test double"
    );
}

#[test]
fn packf_exported_by_libpvm3_so_behaves_the_same() {
    let so = profile_dir().join("libpvm3.so");
    assert!(so.exists(), "{} not built", so.display());
    let dir = scratch("varargs-so");
    // The program needs libpvm3.so.3 (the SONAME) at run time.
    std::os::unix::fs::symlink(&so, dir.join("libpvm3.so.3")).unwrap();
    std::os::unix::fs::symlink(&so, dir.join("libpvm3.so")).unwrap();
    let r = repo();
    let exe = dir.join("driver");
    let inc = format!("-I{}", r.join("include").display());
    let libdir = format!("-L{}", dir.display());
    let rpath = format!("-Wl,-rpath,{}", dir.display());
    let fake = r.join("tests/c/fake_pk.c");
    let drv = r.join("tests/c/varargs_driver.c");
    let args = [
        "-Wall",
        "-Wextra",
        "-Werror",
        &inc,
        "-o",
        exe.to_str().unwrap(),
        fake.to_str().unwrap(),
        drv.to_str().unwrap(),
        &libdir,
        "-lpvm3",
        &rpath,
    ];
    compile("gcc", &args);
    // The library's error hook (pvm6_lib_error) is pvm6's own and not
    // exported (c/libpvm3.map), so the double cannot record its calls here:
    // the "error" lines drop out; the return codes and pvm_errno stay.
    let want: String = std::fs::read_to_string(r.join("tests/c/varargs_expected.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("  error pvm_"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        run(&exe),
        want,
        "pvm_packf of libpvm3.so against the test double"
    );
}

// ---- include/pvmproto.h: the SM_ tags of PVM 3.4.6 ----------------------

/// Every name include/pvmproto.h defines, printed by a C program.
const PROTO_NAMES: &[&str] = &[
    "SDPROTOCOL",
    "SM_FIRST",
    "SM_SPAWN",
    "SM_EXEC",
    "SM_EXECACK",
    "SM_TASK",
    "SM_CONFIG",
    "SM_ADDHOST",
    "SM_DELHOST",
    "SM_ADD",
    "SM_ADDACK",
    "SM_NOTIFY",
    "SM_TASKX",
    "SM_HOSTX",
    "SM_HANDOFF",
    "SM_SCHED",
    "SM_STHOST",
    "SM_STHOSTACK",
    "SM_STTASK",
    "SM_LAST",
];

/// The values of PROTO_NAMES as `header` (a path) defines them.
fn proto_values(dir: &Path, tag: &str, header: &Path) -> String {
    // PVM 3.4.6's pvmproto.h needs its pvm3.h first (ours does not mind).
    let pvm3 = header.with_file_name("pvm3.h");
    let mut src = format!(
        "#include <stdio.h>\n#include \"{}\"\n#include \"{}\"\nint main(void)\n{{\n",
        pvm3.display(),
        header.display()
    );
    for n in PROTO_NAMES {
        src.push_str(&format!("\tprintf(\"{n} %d\\n\", (int)({n}));\n"));
    }
    src.push_str("\treturn 0;\n}\n");
    let c = dir.join(format!("{tag}.c"));
    let exe = dir.join(tag);
    std::fs::write(&c, src).unwrap();
    compile(
        "gcc",
        &[
            // The original's headers are not warning-free; ours must be.
            if tag == "ours" { "-Werror" } else { "-w" },
            "-Wall",
            "-Wextra",
            "-o",
            exe.to_str().unwrap(),
            c.to_str().unwrap(),
        ],
    );
    run(&exe)
}

#[test]
fn pvmproto_h_gives_the_sm_tags_of_pvm_3_4_6() {
    let dir = scratch("proto");
    let ours = proto_values(&dir, "ours", &repo().join("include/pvmproto.h"));
    assert!(ours.contains("SM_FIRST -2147221503\n"), "{ours}");
    assert!(ours.contains("SM_STTASK -2147221487\n"), "{ours}");
    let reference = Path::new("/usr/include/pvmproto.h");
    if !reference.exists() {
        eprintln!(
            "SKIP!!! {} (Debian pvm-dev) is not installed: SM_ tags NOT compared",
            reference.display()
        );
        return;
    }
    assert_eq!(ours, proto_values(&dir, "theirs", reference));
}
