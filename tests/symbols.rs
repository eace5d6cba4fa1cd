//! Checks what the built libpvm3.so exports: every function of PVM 3.4.6's
//! libpvm3.so.3 interface that pvm3.h declares (the group functions belong
//! to libgpvm3), the data symbols pvm_errno / pvm_nerr / pvm_errlist, and the
//! SONAME libpvm3.so.3.

use std::collections::BTreeMap;
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
