//! How long a reader spins (yielding the CPU) before it blocks.

/// How long a reader (a task, or the daemon's event loop) polls without
/// sleeping before it blocks: longer than a reply takes to come back, even
/// through two daemons between hosts with four processes sharing two CPUs
/// (50 µs was not: every process then slept between messages), so a
/// ping-pong does not pay for the scheduler's wake-up of an idle CPU.
/// `PVM6_SPIN_US` sets it in microseconds (0 turns it off); on a single CPU
/// it is off, since the peer needs that CPU to answer. Bounded: an idle
/// reader sleeps after it and uses no CPU.
pub fn spin_budget() -> std::time::Duration {
    static BUDGET: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let default = if cpus > 1 { 1000 } else { 0 };
        let us = std::env::var("PVM6_SPIN_US")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(default);
        std::time::Duration::from_micros(us.min(10_000))
    })
}

/// Whether waits may spin at all (there is a budget).
pub fn spin_allowed() -> bool {
    !spin_budget().is_zero()
}

/// One pause of a spin: yields the CPU. Returns false when the yield took
/// more than 30 µs: a process that does not yield (one busy with real work,
/// or not PVM's) had this CPU, so this wait stops spinning and sleeps,
/// leaving the CPU to it and the scheduler free to move us. The next wait
/// spins again: skipping the spin of later waits as well (tried: the next
/// 200) cost a message through the daemon, where three processes spin on
/// two CPUs and such a yield comes every few hundred messages, 9 to 16 µs
/// instead of 6.
pub fn spin_pause() -> bool {
    let t = std::time::Instant::now();
    std::thread::yield_now();
    t.elapsed() <= std::time::Duration::from_micros(30)
}
