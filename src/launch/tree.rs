//! The tree start-up's plan: which daemon starts which host, in which
//! round, when every daemon already started starts up to `fanout` more
//! hosts per round. The number of sequential rounds for `n` hosts is the
//! smallest `r` with `(1 + fanout)^r >= n + 1`, so it grows as log N where
//! the master alone, `fanout` at a time, needs `n / fanout` rounds.
//! docs/LAUNCH.md "Tree start-up".

/// How many hosts each started daemon starts per round by default.
pub const DEFAULT_FANOUT: usize = 4;

/// One host's place in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Who starts it: `None` for the master, else the index (into the
    /// host list) of an already started host.
    pub parent: Option<usize>,
    /// The round it is started in, 1-based.
    pub round: usize,
}

/// The plan for hosts `0..n` (in their list order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    /// The number of sequential rounds (0 for no host).
    pub fn rounds(&self) -> usize {
        self.steps.iter().map(|s| s.round).max().unwrap_or(0)
    }

    /// The hosts started in round `r` with their starters.
    pub fn round(&self, r: usize) -> Vec<(usize, Option<usize>)> {
        self.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.round == r)
            .map(|(i, s)| (i, s.parent))
            .collect()
    }
}

/// Plans the start of `n` hosts with `fanout` starts per daemon and round
/// (`fanout` 0 counts as 1). Hosts are given out in list order, the
/// master's first in each round, then the started hosts' in their order.
pub fn plan(n: usize, fanout: usize) -> Plan {
    let fanout = fanout.max(1);
    let mut steps = Vec::with_capacity(n);
    // The starters of the round: the master (None) and every host started so far.
    let mut starters: Vec<Option<usize>> = vec![None];
    let mut round = 0;
    while steps.len() < n {
        round += 1;
        let mut new = Vec::new();
        'round: for &s in &starters {
            for _ in 0..fanout {
                if steps.len() == n {
                    break 'round;
                }
                new.push(Some(steps.len()));
                steps.push(Step { parent: s, round });
            }
        }
        starters.extend(new);
    }
    Plan { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_grow_as_log_n() {
        assert_eq!(plan(0, 4).rounds(), 0);
        assert_eq!(plan(1, 4).rounds(), 1);
        assert_eq!(plan(4, 4).rounds(), 1);
        // 5^2 - 1 = 24 hosts in two rounds, 124 in three, 624 in four.
        assert_eq!(plan(24, 4).rounds(), 2);
        assert_eq!(plan(25, 4).rounds(), 3);
        assert_eq!(plan(124, 4).rounds(), 3);
        assert_eq!(plan(256, 4).rounds(), 4);
        assert_eq!(plan(256, 1).rounds(), 9); // 2^9 - 1 = 511 >= 256
        for n in [1usize, 7, 64, 255, 256, 1000, 4094] {
            for f in 1..=8 {
                let p = plan(n, f);
                let mut r = 0;
                while (1 + f).pow(r as u32) < n + 1 {
                    r += 1;
                }
                assert_eq!(p.rounds(), r, "n={n} fanout={f}");
            }
        }
    }

    #[test]
    fn each_starter_is_up_before_it_starts_others_and_starts_at_most_fanout() {
        let p = plan(256, 4);
        assert_eq!(p.steps.len(), 256);
        for r in 1..=p.rounds() {
            let mut per: std::collections::HashMap<Option<usize>, usize> = Default::default();
            for (i, parent) in p.round(r) {
                if let Some(par) = parent {
                    assert!(p.steps[par].round < r, "host {i}'s starter {par} is up");
                }
                *per.entry(parent).or_default() += 1;
            }
            assert!(per.values().all(|&c| c <= 4));
        }
        // Round 1 is the master's alone.
        assert!(p.round(1).iter().all(|(_, s)| s.is_none()));
        assert_eq!(p.round(1).len(), 4);
        // Round 2: the master and the 4 started hosts, 4 each.
        assert_eq!(p.round(2).len(), 20);
    }
}
