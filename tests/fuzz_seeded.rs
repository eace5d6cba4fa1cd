//! A bounded, seeded fuzz run of every target of `pvm3::fuzzing` in the
//! normal test suite (docs/FUZZING.md): inputs are the kept ones of
//! `fuzz/regressions/<target>/`, mutated (bit flips, byte changes,
//! insertions, deletions, splices of two inputs) and random, from a fixed
//! seed, so a failure reproduces. Each target runs for
//! `PVM6_FUZZ_SECS` seconds (default 1; a longer run is the same test with
//! a larger value) or `PVM6_FUZZ_ITERS` inputs, whichever ends first;
//! `PVM6_FUZZ_SEED` changes the seed. A failing input is written to
//! `target/fuzz-seeded/<target>-<n>` and named in the failure.

use std::path::Path;
use std::time::{Duration, Instant};

/// xorshift64*: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.below(8) == 0 {
        let n = rng.below(512);
        return (0..n).map(|_| rng.next() as u8).collect();
    }
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(6) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0, 1, 0x7f, 0x80, 0xff][rng.below(5)];
            }
            2 => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(16) + 1;
                let ins: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(i..i, ins);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = rng.below(v.len() - i) + 1;
                v.drain(i..i + n);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(v.len() + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ if v.len() >= 4 => {
                // An interesting 32-bit word (lengths, positions, counts).
                let i = rng.below(v.len() - 3);
                let w: u32 =
                    [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x4000, 0x20000][rng.below(7)];
                v[i..i + 4].copy_from_slice(&w.to_le_bytes());
            }
            _ => {}
        }
    }
    v
}

#[test]
fn seeded_fuzz_of_every_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let secs = env_num("PVM6_FUZZ_SECS", 1);
    let iters = env_num("PVM6_FUZZ_ITERS", u64::MAX);
    let seed = env_num("PVM6_FUZZ_SEED", 0x5eed_2026);
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut report = Vec::new();
    for (ti, (name, target)) in pvm3::fuzzing::TARGETS.iter().enumerate() {
        let dir = root.join("fuzz/regressions").join(name);
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        seeds.sort();
        let mut rng = Rng(seed ^ ((ti as u64 + 1) * 0x9e37_79b9_7f4a_7c15));
        let end = Instant::now() + Duration::from_secs(secs);
        let mut n = 0u64;
        // The request handlers: one daemon for many inputs (building one
        // costs most of the time), a fresh one every 200 or after a failure.
        let mut session: Option<pvm3::daemon::fuzz::Session> = None;
        while n < iters && Instant::now() < end {
            let input = mutate(&mut rng, &seeds);
            let run = |s: &mut Option<pvm3::daemon::fuzz::Session>| {
                if *name != "requests" {
                    return target(&input);
                }
                if s.is_none() || n.is_multiple_of(200) {
                    *s = pvm3::daemon::fuzz::Session::new();
                }
                if let Some(s) = s.as_mut() {
                    s.feed(&input);
                    s.check();
                }
            };
            let failed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut session)))
                    .is_err();
            if failed {
                std::panic::set_hook(quiet);
                let out = root.join("target/fuzz-seeded");
                let _ = std::fs::create_dir_all(&out);
                let path = out.join(format!("{name}-{n}"));
                let _ = std::fs::write(&path, &input);
                // Run it again with the panic message shown.
                target(&input);
                panic!("{name}: input {n} failed (kept in {})", path.display());
            }
            n += 1;
        }
        report.push(format!("{name} {n}"));
    }
    std::panic::set_hook(quiet);
    eprintln!("seeded fuzz inputs per target: {}", report.join(", "));
}
