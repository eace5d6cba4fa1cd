//! Replays every input kept under `fuzz/regressions/<target>/` (inputs that
//! once crashed or hung a fuzz target, and seeds worth keeping) through the
//! same functions the fuzz targets call, so a fixed bug stays fixed.

use std::path::Path;

#[test]
fn every_kept_fuzz_input_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for (name, target) in pvm3::fuzzing::TARGETS {
        let dir = root.join(name);
        assert!(dir.is_dir(), "missing {}", dir.display());
        for entry in std::fs::read_dir(&dir).expect("read regressions") {
            let path = entry.expect("dir entry").path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let data = std::fs::read(&path).expect("read input");
            let r = std::panic::catch_unwind(|| target(&data));
            assert!(r.is_ok(), "{name}: {} fails again", path.display());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} kept fuzz inputs");
}

#[test]
fn every_fuzz_target_has_a_regression_directory_and_a_target_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in pvm3::fuzzing::TARGETS {
        assert!(root.join("regressions").join(name).is_dir(), "{name}");
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "{name}"
        );
    }
}
