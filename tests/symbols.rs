//! Checks what the built libpvm3.so exports: every function of PVM 3.4.6's
//! libpvm3.so.3 interface that pvm3.h declares (the group functions belong
//! to libgpvm3), the data symbols pvm_errno / pvm_nerr / pvm_errlist, and the
//! SONAME libpvm3.so.3; that the export list is exactly the allow-list
//! c/libpvm3.map; and, against Debian's PVM 3.4.6 when installed, that every
//! symbol its libpvm3.so.3 exports is ours or listed as deliberately
//! absent with the reason (tests/abi/abidiff.expected), and that every
//! libpvm3 symbol Debian's libgpvm3, console and tools need is ours.

use std::collections::BTreeMap;
mod common;

use std::path::PathBuf;
use std::process::Command;

/// Functions of pvm3.h that libpvm3.so.3 of PVM 3.4.6 exports, plus the
/// four it exports without pvm3.h declaring them there.
const FUNCTIONS: &[&str] = &[
    "pvmgetrsh",
    "pvmgettmp",
    "pvm_strerror",
    "pvm_addhosts",
    "pvm_addmhf",
    "pvm_archcode",
    "pvm_bufinfo",
    "pvm_catchout",
    "pvm_config",
    "pvm_delhosts",
    "pvm_delinfo",
    "pvm_delmhf",
    "pvm_exit",
    "pvm_export",
    "pvm_freebuf",
    "pvm_freecontext",
    "pvm_getcontext",
    "pvm_getfds",
    "pvm_getminfo",
    "pvm_getnoresets",
    "pvm_getopt",
    "pvm_getrbuf",
    "pvm_getsbuf",
    "pvm_halt",
    "pvm_hostsync",
    "pvm_initsend",
    "pvm_kill",
    "pvm_getmboxinfo",
    "pvm_mcast",
    "pvm_mkbuf",
    "pvm_mstat",
    "pvm_mytid",
    "pvm_newcontext",
    "pvm_notify",
    "pvm_nrecv",
    "pvm_packf",
    "pvm_parent",
    "pvm_perror",
    "pvm_pkbyte",
    "pvm_pkcplx",
    "pvm_pkdcplx",
    "pvm_pkdouble",
    "pvm_pkfloat",
    "pvm_pkint",
    "pvm_pklong",
    "pvm_pkshort",
    "pvm_pkstr",
    "pvm_pkuint",
    "pvm_pkulong",
    "pvm_pkushort",
    "pvm_pkmesg",
    "pvm_pkmesgbody",
    "pvm_precv",
    "pvm_probe",
    "pvm_psend",
    "pvm_pstat",
    "pvm_putinfo",
    "pvm_recv",
    "pvm_recvf",
    "pvm_recvinfo",
    "pvm_reg_hoster",
    "pvm_reg_rm",
    "pvm_reg_tasker",
    "pvm_reg_tracer",
    "pvm_send",
    "pvm_sendsig",
    "pvm_setcontext",
    "pvm_setminfo",
    "pvm_setopt",
    "pvm_setrbuf",
    "pvm_setsbuf",
    "pvm_siblings",
    "pvm_spawn",
    "pvm_start_pvmd",
    "pvm_tasks",
    "pvm_tickle",
    "pvm_tidtohost",
    "pvm_trecv",
    "pvm_unexport",
    "pvm_unpackf",
    "pvm_upkbyte",
    "pvm_upkcplx",
    "pvm_upkdcplx",
    "pvm_upkdouble",
    "pvm_upkfloat",
    "pvm_upkint",
    "pvm_upklong",
    "pvm_upkshort",
    "pvm_upkstr",
    "pvm_upkuint",
    "pvm_upkulong",
    "pvm_upkushort",
    "pvm_upkmesg",
    "pvm_version",
    "pvm_delete",
    "pvm_insert",
    "pvm_lookup",
    // exported by the original, declared by our pvm3.h
    "pvm_gettmask",
    "pvm_settmask",
    "pvm_vpackf",
    "pvm_vunpackf",
];

const DATA: &[&str] = &["pvm_errno", "pvm_nerr", "pvm_errlist"];

/// .../target/<profile>/libpvm3.so, found from this test's own path
/// (.../target/<profile>/deps/<test>).
fn library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().unwrap().parent().unwrap().join("libpvm3.so");
    assert!(so.exists(), "{} not built", so.display());
    so
}

/// Defined dynamic symbols of the library: name -> nm type letter.
fn dynamic_symbols() -> BTreeMap<String, char> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(library())
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm failed: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().rev();
            let name = w.next()?;
            let kind = w.next()?.chars().next()?;
            Some((name.split('@').next().unwrap().to_string(), kind))
        })
        .collect()
}

#[test]
fn every_libpvm3_function_is_exported() {
    let syms = dynamic_symbols();
    let missing: Vec<&str> = FUNCTIONS
        .iter()
        .copied()
        .filter(|f| syms.get(*f) != Some(&'T'))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} functions of libpvm3.so.3 are not exported as T by {}:\n  {}",
        missing.len(),
        FUNCTIONS.len(),
        library().display(),
        missing.join("\n  ")
    );
}

#[test]
fn error_data_symbols_are_exported_as_data() {
    let syms = dynamic_symbols();
    for d in DATA {
        let k = syms.get(*d).copied();
        assert!(
            matches!(k, Some('B' | 'D')),
            "{d} must be a data symbol (B or D), nm says {k:?}"
        );
    }
}

#[test]
fn soname_is_libpvm3_so_3() {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(library())
        .output()
        .expect("run readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("(SONAME)") && l.contains("[libpvm3.so.3]")),
        "no SONAME libpvm3.so.3 in:\n{text}"
    );
}

#[test]
fn exports_are_exactly_the_allow_list() {
    let ours: std::collections::BTreeSet<String> = dynamic_symbols().into_keys().collect();
    let allowed = common::export_allow_list();
    let extra: Vec<&String> = ours.difference(&allowed).collect();
    let lacking: Vec<&String> = allowed.difference(&ours).collect();
    assert!(
        extra.is_empty() && lacking.is_empty(),
        "libpvm3.so exports what c/libpvm3.map does not allow: {extra:?}; \
         allowed but not exported: {lacking:?}"
    );
    assert!(
        !ours.contains("pvm6_lib_error"),
        "pvm6's own internal is exported"
    );
}

/// Symbols of Debian's libpvm3.so.3 that pvm6's does not export, and why:
/// the `removed` groups of tests/abi/abidiff.expected (shared with
/// tests/abidiff.rs), as name -> reason.
fn absent() -> BTreeMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/abi/abidiff.expected");
    let text = std::fs::read_to_string(&path).expect("read tests/abi/abidiff.expected");
    let mut out = BTreeMap::new();
    let mut reason: Option<String> = None;
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        if line.starts_with(char::is_whitespace) {
            if let Some(why) = &reason {
                for name in line.split_whitespace() {
                    out.insert(name.to_string(), why.clone());
                }
            }
        } else {
            reason = line.strip_prefix("removed:").map(|r| r.trim().to_string());
        }
    }
    assert!(
        out.len() > 100,
        "too few removed names in {}",
        path.display()
    );
    out
}

const DEBIAN_LIB: &str = "/usr/lib/x86_64-linux-gnu/libpvm3.so.3";

/// Skips (loudly) when Debian's PVM is not installed; fails under CI.
fn debian_installed(test: &str, paths: &[&str]) -> bool {
    let missing: Vec<&&str> = paths
        .iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{missing:?} absent (apt-get install pvm pvm-dev libpvm3 pvm-examples)");
    let ci = matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"));
    assert!(!ci, "{test}: {why}");
    eprintln!("\n*****************************************************************");
    eprintln!("SKIP {test}: {why}");
    eprintln!("*****************************************************************\n");
    false
}

/// `nm -D` names of `path`: defined (`true`) or undefined ones.
fn nm_names(path: &str, defined: bool) -> std::collections::BTreeSet<String> {
    let which = if defined {
        "--defined-only"
    } else {
        "--undefined-only"
    };
    let out = Command::new("nm")
        .args(["-D", which, path])
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm {path}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

#[test]
fn every_debian_export_is_ours_or_deliberately_absent() {
    if !debian_installed(
        "every_debian_export_is_ours_or_deliberately_absent",
        &[DEBIAN_LIB],
    ) {
        return;
    }
    let ours: std::collections::BTreeSet<String> = dynamic_symbols().into_keys().collect();
    let absent = absent();
    let unexplained: Vec<String> = nm_names(DEBIAN_LIB, true)
        .into_iter()
        .filter(|n| !ours.contains(n) && !absent.contains_key(n))
        .collect();
    assert!(
        unexplained.is_empty(),
        "exported by Debian's libpvm3.so.3, neither ours nor listed as absent: {unexplained:?}"
    );
    let listed_but_ours: Vec<&String> = absent.keys().filter(|n| ours.contains(*n)).collect();
    assert!(
        listed_but_ours.is_empty(),
        "listed as absent but exported: {listed_but_ours:?}"
    );
}

#[test]
fn what_debians_libraries_and_tools_need_is_ours() {
    let users = [
        "/usr/lib/x86_64-linux-gnu/libgpvm3.so.3",
        "/usr/bin/pvm",
        "/usr/bin/pvmgs",
        "/usr/bin/pvm_gstat",
        "/usr/bin/pvmgroups",
        "/usr/bin/tracer",
        "/usr/bin/trcsort",
    ];
    let mut need = users.to_vec();
    need.push(DEBIAN_LIB);
    if !debian_installed("what_debians_libraries_and_tools_need_is_ours", &need) {
        return;
    }
    let theirs = nm_names(DEBIAN_LIB, true);
    // pvm_gstat and pvmgroups take gs_getgstid and pvmgs_tmout from
    // libgpvm3; pvm6's are in libpvm3.
    let gpvm: std::collections::BTreeSet<String> =
        ["gs_getgstid", "pvmgs_tmout"].map(String::from).into();
    let ours: std::collections::BTreeSet<String> = dynamic_symbols().into_keys().collect();
    for user in users {
        let lacking: Vec<String> = nm_names(user, false)
            .into_iter()
            .filter(|n| (theirs.contains(n) || gpvm.contains(n)) && !ours.contains(n))
            .collect();
        assert!(lacking.is_empty(), "{user} needs {lacking:?} from libpvm3");
    }
}

const DEBIAN_FLIB: &str = "/usr/lib/x86_64-linux-gnu/libfpvm3.a";

/// Functions of Debian's libfpvm3.a that pvm6 does not export, and why.
const FORTRAN_ABSENT: &[(&str, &str)] = &[
    (
        "ctofstr",
        "string copy helper of PVM 3.4's Fortran wrappers, called only by them",
    ),
    (
        "ftocstr",
        "string copy helper of PVM 3.4's Fortran wrappers, called only by them",
    ),
];

/// The Fortran interface has no header to compare prototypes with
/// (tests/prototypes.rs), so its reference is Debian's libfpvm3.a: every
/// function it defines is exported by pvm6's libpvm3.so (where pvm6's
/// Fortran entry points live; its libfpvm3.a is an empty archive for the
/// link line), and pvm6 exports no Fortran-style `pvm*_` name it lacks.
#[test]
fn every_debian_fortran_function_is_ours() {
    if !debian_installed("every_debian_fortran_function_is_ours", &[DEBIAN_FLIB]) {
        return;
    }
    let out = Command::new("nm")
        .args(["--defined-only", DEBIAN_FLIB])
        .output()
        .expect("run nm");
    assert!(out.status.success(), "nm {DEBIAN_FLIB}: {out:?}");
    let theirs: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().rev();
            let name = w.next()?;
            (w.next()? == "T").then(|| name.to_string())
        })
        .collect();
    assert!(
        theirs.len() > 60,
        "only {} functions in {DEBIAN_FLIB}",
        theirs.len()
    );
    let syms = dynamic_symbols();
    let absent: BTreeMap<&str, &str> = FORTRAN_ABSENT.iter().copied().collect();
    let missing: Vec<&String> = theirs
        .iter()
        .filter(|n| syms.get(n.as_str()) != Some(&'T') && !absent.contains_key(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "functions of Debian's libfpvm3.a that libpvm3.so does not export as T: {missing:?}"
    );
    let extra: Vec<&String> = syms
        .keys()
        .filter(|n| n.starts_with("pvm") && n.ends_with('_') && !theirs.contains(*n))
        .collect();
    assert!(
        extra.is_empty(),
        "Fortran-style exports Debian's libfpvm3.a does not have: {extra:?}"
    );
    for name in absent.keys() {
        assert!(
            theirs.contains(*name),
            "{name} listed absent, not in {DEBIAN_FLIB}"
        );
        assert!(
            !syms.contains_key(*name),
            "{name} listed absent but exported"
        );
    }
}
