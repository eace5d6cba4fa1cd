//! Slurm hostlist expressions (`node[1-4,7],gpu[01-02]`) and Slurm's
//! per-node count lists (`2(x3),1`), expanded the way Slurm expands them.
//!
//! What Slurm does, and so what [`expand`] does:
//! - The expression is split into items at `,`, space and tab, but only
//!   outside brackets; empty items are ignored (`a,,b` is `a b`).
//! - An item without brackets is one host name, taken literally.
//! - An item with brackets is `text[ranges]text[ranges]...`: each bracket
//!   group is a comma-separated list of `N` or `LO-HI` (decimal, `LO <= HI`,
//!   at most 65536 numbers per range); the number is printed zero-padded to
//!   the width `LO` is written with (`[01-10]` gives `01`..`10`, `[1-010]`
//!   gives `1`..`10`, `[010-12]` gives `010`..`012`). Nothing may follow the
//!   last `]` of an item (`n[1-2]x` is invalid in Slurm too).
//! - Order: items in the order written; inside an item the last bracket group
//!   varies fastest, then the first, second, ... group, the one just before
//!   the last varying slowest. With one or two groups this is the obvious
//!   order (`rack[1-2]-n[01-02]` gives `rack1-n01 rack1-n02 rack2-n01
//!   rack2-n02`); with three it is Slurm's peculiar one
//!   (`a[1-2]b[1-2]c[1-2]` gives `a1b1c1 a1b1c2 a2b1c1 a2b1c2 a1b2c1 ...`).
//! - Duplicates are kept (`n[1-3,2]` gives `n1 n2 n3 n2`).
//!
//! Where Slurm 22.05 accepts input only by accident and produces names no
//! node has, this module refuses it instead: an unclosed `[` (Slurm turns
//! `n[1-2` into `n]`), a stray `]` outside brackets, whitespace, a sign or
//! an empty upper bound inside brackets (Slurm reads `n[ 1-2]` as `n01 n02`
//! and `n[1-]` as `n1`), numbers beyond 64 bits (Slurm saturates them),
//! control characters in names. An expansion of more than [`MAX_HOSTS`]
//! names is refused too (Slurm's own limit is on the product of the
//! bracket groups, about the same size).

use std::fmt;

/// Most numbers one `LO-HI` range may hold (Slurm's limit too).
pub const MAX_RANGE: u64 = 65_536;

/// Most host names one expression (or count list) may expand to.
pub const MAX_HOSTS: usize = 1 << 20;

/// Why an expression or count list was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The whole input.
    pub input: String,
    /// What is wrong, in words.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.input, self.reason)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(input: &str, reason: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        input: input.to_string(),
        reason: reason.into(),
    })
}

fn is_separator(c: char) -> bool {
    matches!(c, ',' | ' ' | '\t')
}

/// Expands a Slurm hostlist expression into host names, in Slurm's order,
/// duplicates kept. An empty (or separators-only) expression gives an empty
/// list.
pub fn expand(expr: &str) -> Result<Vec<String>, ParseError> {
    let mut hosts = Vec::new();
    for item in split_items(expr)? {
        expand_item(expr, item, &mut hosts)?;
    }
    Ok(hosts)
}

/// Splits at separators outside brackets; checks bracket nesting and
/// characters.
fn split_items(expr: &str) -> Result<Vec<&str>, ParseError> {
    let mut items = Vec::new();
    let mut start: Option<usize> = None;
    let mut open: Option<usize> = None;
    for (i, c) in expr.char_indices() {
        match c {
            '[' if open.is_some() => {
                return err(expr, format!("nested '[' at offset {i}"));
            }
            '[' => open = Some(i),
            ']' if open.is_none() => {
                return err(expr, format!("']' without '[' at offset {i}"));
            }
            ']' => open = None,
            c if open.is_none() && is_separator(c) => {
                if let Some(s) = start.take() {
                    items.push(&expr[s..i]);
                }
                continue;
            }
            c if c.is_whitespace() || c.is_control() => {
                return err(
                    expr,
                    format!("character {c:?} at offset {i} is not allowed"),
                );
            }
            _ => {}
        }
        if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(o) = open {
        return err(expr, format!("'[' at offset {o} is never closed"));
    }
    if let Some(s) = start {
        items.push(&expr[s..]);
    }
    Ok(items)
}

/// One bracket group: every number it names, already formatted.
type Group = Vec<String>;

/// Appends the names of one item (no separators outside brackets, brackets
/// balanced and not nested).
fn expand_item(expr: &str, item: &str, out: &mut Vec<String>) -> Result<(), ParseError> {
    // texts[0] group[0] texts[1] group[1] ... texts[n]
    let mut texts: Vec<&str> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut rest = item;
    while let Some(open) = rest.find('[') {
        let close = open + rest[open..].find(']').expect("brackets were checked");
        texts.push(&rest[..open]);
        groups.push(parse_group(expr, &rest[open + 1..close])?);
        rest = &rest[close + 1..];
    }
    if groups.is_empty() {
        out.push(item.to_string());
        return Ok(());
    }
    if !rest.is_empty() {
        return err(
            expr,
            format!("`{rest}` follows the last ']' of `{item}` (Slurm allows nothing there)"),
        );
    }
    texts.push(rest);

    let mut total: usize = 1;
    for g in &groups {
        total = total.saturating_mul(g.len());
    }
    if total > MAX_HOSTS.saturating_sub(out.len()) {
        return err(expr, format!("expands to more than {MAX_HOSTS} hosts"));
    }

    // Nesting, outermost first: the group before the last, then down to the
    // first, then the last one (innermost). See the module documentation.
    let n = groups.len();
    let order: Vec<usize> = (0..n - 1).rev().chain(std::iter::once(n - 1)).collect();
    let mut index = vec![0usize; n];
    loop {
        let mut name = String::new();
        for (g, group) in groups.iter().enumerate() {
            name.push_str(texts[g]);
            name.push_str(&group[index[g]]);
        }
        out.push(name);
        // Advance the odometer from its innermost wheel.
        let mut level = n;
        loop {
            if level == 0 {
                return Ok(());
            }
            level -= 1;
            let g = order[level];
            index[g] += 1;
            if index[g] < groups[g].len() {
                break;
            }
            index[g] = 0;
        }
    }
}

/// Parses the inside of one bracket group: `N`, `LO-HI`, comma-separated.
fn parse_group(expr: &str, inner: &str) -> Result<Group, ParseError> {
    let mut values = Vec::new();
    for range in inner.split(',') {
        let (lo_text, hi_text) = match range.split_once('-') {
            Some((lo, hi)) => (lo, Some(hi)),
            None => (range, None),
        };
        let lo = parse_number(expr, range, lo_text)?;
        let hi = match hi_text {
            Some(h) => parse_number(expr, range, h)?,
            None => lo,
        };
        if lo > hi {
            return err(expr, format!("range `{range}` runs backwards"));
        }
        if hi - lo >= MAX_RANGE {
            return err(
                expr,
                format!("range `{range}` holds more than {MAX_RANGE} numbers"),
            );
        }
        if values.len() as u64 + (hi - lo + 1) > MAX_HOSTS as u64 {
            return err(expr, format!("expands to more than {MAX_HOSTS} hosts"));
        }
        let width = lo_text.len();
        values.extend((lo..=hi).map(|v| format!("{v:0width$}")));
    }
    Ok(values)
}

fn parse_number(expr: &str, range: &str, text: &str) -> Result<u64, ParseError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return err(
            expr,
            format!("`{range}` is not a number or a range LO-HI of decimal numbers"),
        );
    }
    text.parse::<u64>()
        .or_else(|_| err(expr, format!("number `{text}` is too large")))
}

/// Parses a Slurm per-node count list as in `SLURM_JOB_CPUS_PER_NODE` and
/// `SLURM_TASKS_PER_NODE`: comma-separated `N` or `N(xR)` (N repeated R
/// times, R at least 1). `2(x3),1` gives `[2, 2, 2, 1]`. Whitespace around
/// the whole list is ignored.
pub fn parse_counts(text: &str) -> Result<Vec<u32>, ParseError> {
    let body = text.trim();
    if body.is_empty() {
        return err(text, "empty count list");
    }
    let mut counts = Vec::new();
    for item in body.split(',') {
        let (value, repeat) = match item.split_once('(') {
            None => (item, "1"),
            Some((value, tail)) => match tail.strip_prefix('x').and_then(|t| t.strip_suffix(')')) {
                Some(r) => (value, r),
                None => return err(text, format!("`{item}` is not N or N(xR)")),
            },
        };
        let value = parse_count(text, item, value)?;
        let repeat = parse_count(text, item, repeat)?;
        if repeat == 0 {
            return err(text, format!("`{item}` repeats zero times"));
        }
        if counts.len() + repeat as usize > MAX_HOSTS {
            return err(text, format!("more than {MAX_HOSTS} counts"));
        }
        counts.extend(std::iter::repeat_n(value, repeat as usize));
    }
    Ok(counts)
}

fn parse_count(text: &str, item: &str, digits: &str) -> Result<u32, ParseError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return err(text, format!("`{item}` is not N or N(xR)"));
    }
    digits
        .parse::<u32>()
        .or_else(|_| err(text, format!("number `{digits}` in `{item}` is too large")))
}

/// The hosts of a Slurm allocation with their CPU counts, from
/// `SLURM_JOB_NODELIST` and `SLURM_JOB_CPUS_PER_NODE` (or a step's
/// `SLURM_STEP_NODELIST` and `SLURM_TASKS_PER_NODE`): one pair per node, in
/// the node list's order. The lists must be of the same length.
pub fn allocation(nodelist: &str, counts: &str) -> Result<Vec<(String, u32)>, ParseError> {
    let hosts = expand(nodelist)?;
    let counts = parse_counts(counts)?;
    if hosts.len() != counts.len() {
        return err(
            &format!("{nodelist} / {counts:?}"),
            format!(
                "the node list names {} hosts but the count list has {} entries",
                hosts.len(),
                counts.len()
            ),
        );
    }
    Ok(hosts.into_iter().zip(counts).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(expr: &str) -> Vec<String> {
        expand(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn names(list: &str) -> Vec<String> {
        list.split_whitespace().map(String::from).collect()
    }

    fn bad(expr: &str, why: &str) {
        match expand(expr) {
            Ok(v) => panic!("{expr:?} expanded to {v:?}, expected an error ({why})"),
            Err(e) => assert!(
                e.reason.contains(why),
                "{expr:?}: error {:?} does not mention {why:?}",
                e.reason
            ),
        }
    }

    #[test]
    fn issue_example() {
        assert_eq!(
            ok("node[1-4,7],gpu[01-02]"),
            names("node1 node2 node3 node4 node7 gpu01 gpu02")
        );
    }

    #[test]
    fn plain_names_and_separators() {
        assert_eq!(ok("node1"), names("node1"));
        assert_eq!(ok("a,b c\td"), names("a b c d"));
        assert_eq!(ok(" a , b "), names("a b"));
        assert_eq!(ok("a,,b"), names("a b"));
        assert_eq!(ok("node007"), names("node007"));
        assert_eq!(ok("n1.example.org,n-2_x"), names("n1.example.org n-2_x"));
        assert!(ok("").is_empty());
        assert!(ok(", \t,").is_empty());
    }

    #[test]
    fn zero_padding_follows_the_low_bound() {
        assert_eq!(ok("n[01-03]"), names("n01 n02 n03"));
        assert_eq!(ok("n[08-11]"), names("n08 n09 n10 n11"));
        assert_eq!(ok("n[9-11]"), names("n9 n10 n11"));
        assert_eq!(ok("n[1-010]"), ok("n[1-10]"));
        assert_eq!(ok("n[010-012]"), names("n010 n011 n012"));
        assert_eq!(ok("n[010-12]"), names("n010 n011 n012"));
        assert_eq!(ok("n[000-002]"), names("n000 n001 n002"));
        assert_eq!(ok("n[05]"), names("n05"));
        assert_eq!(ok("n[0]"), names("n0"));
        assert_eq!(ok("n[98-101]"), names("n98 n99 n100 n101"));
    }

    #[test]
    fn duplicates_and_order_are_kept() {
        assert_eq!(ok("n[1-3,2]"), names("n1 n2 n3 n2"));
        assert_eq!(ok("n[2,1]"), names("n2 n1"));
        assert_eq!(ok("a,a,b"), names("a a b"));
        assert_eq!(ok("n[1-3],n[2-4]"), names("n1 n2 n3 n2 n3 n4"));
    }

    #[test]
    fn several_bracket_groups() {
        assert_eq!(
            ok("rack[1-2]-n[01-02]"),
            names("rack1-n01 rack1-n02 rack2-n01 rack2-n02")
        );
        assert_eq!(ok("n[1-2][3-4]"), names("n13 n14 n23 n24"));
        assert_eq!(ok("[1-3]"), names("1 2 3"));
        assert_eq!(ok("n[1-2]b[3]"), names("n1b3 n2b3"));
        // Slurm's order with three groups: last fastest, then the first,
        // the middle one slowest.
        assert_eq!(
            ok("n[1-2]-m[1-2]-k[1-2]"),
            names(
                "n1-m1-k1 n1-m1-k2 n2-m1-k1 n2-m1-k2 \
                 n1-m2-k1 n1-m2-k2 n2-m2-k1 n2-m2-k2"
            )
        );
        let four = ok("a[1-2]b[3-4]c[5-6]d[7-8]");
        assert_eq!(four.len(), 16);
        assert_eq!(
            four[..8],
            names("a1b3c5d7 a1b3c5d8 a2b3c5d7 a2b3c5d8 a1b4c5d7 a1b4c5d8 a2b4c5d7 a2b4c5d8")[..]
        );
        assert_eq!(four[8], "a1b3c6d7");
        assert_eq!(ok("a[1-2]b[3-4],c"), names("a1b3 a1b4 a2b3 a2b4 c"));
    }

    #[test]
    fn limits() {
        assert_eq!(ok("n[1-65536]").len(), 65536);
        assert_eq!(ok("n[0-65535]").last().unwrap(), "n65535");
        bad("n[1-65537]", "more than 65536");
        assert_eq!(ok("n[1-40000,1-40000]").len(), 80000);
        assert_eq!(ok("a[0-9999].b[0-9]").len(), 100_000);
        assert_eq!(
            ok("n[18446744073709551615]"),
            names("n18446744073709551615")
        );
        bad("n[18446744073709551616]", "too large");
        bad("a[0-65535]b[0-65535]", "more than");
        bad("n[0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0-65535,0]", "more than");
    }

    #[test]
    fn malformed_input_is_refused() {
        bad("n[3-1]", "backwards");
        bad("n[]", "not a number");
        bad("n[a-b]", "not a number");
        bad("n[-1]", "not a number");
        bad("n[1--2]", "not a number");
        bad("n[1-2-3]", "not a number");
        bad("n[1,,2]", "not a number");
        bad("n[x]", "not a number");
        bad("n[0x1-2]", "not a number");
        bad("n[+1-2]", "not a number");
        bad("n[1-]", "not a number");
        bad("n[ 1-2]", "not allowed");
        bad("n[1- 2]", "not allowed");
        bad("n[1-2]x", "follows the last ']'");
        bad("node[1-2]*", "follows the last ']'");
        bad("a[1-2].b[1-2].c", "follows the last ']'");
        bad("n[1-3]x,y[1-2]", "follows the last ']'");
        bad("n[1-2", "never closed");
        bad("n[1,2", "never closed");
        bad("[", "never closed");
        bad("n[[1-2]]", "nested");
        bad("n[1-2]]", "without '['");
        bad("a]b", "without '['");
        bad("]", "without '['");
        bad("n\n1", "not allowed");
        bad("n[1\n]", "not allowed");
    }

    #[test]
    fn error_message_names_the_input() {
        let e = expand("n[3-1]").unwrap_err();
        assert_eq!(e.input, "n[3-1]");
        assert_eq!(e.to_string(), "`n[3-1]`: range `3-1` runs backwards");
    }

    #[test]
    fn counts() {
        assert_eq!(parse_counts("2(x3),1").unwrap(), vec![2, 2, 2, 1]);
        assert_eq!(parse_counts("4").unwrap(), vec![4]);
        assert_eq!(parse_counts(" 1,2,3 ").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_counts("36(x2)\n").unwrap(), vec![36, 36]);
        assert_eq!(parse_counts("1(x1)").unwrap(), vec![1]);
        assert_eq!(parse_counts("0,2").unwrap(), vec![0, 2]);
        for bad in [
            "",
            " ",
            "2(x0)",
            "2(3)",
            "2(x3",
            "2x3",
            "(x3)",
            "2(x)",
            "a",
            "1,,2",
            "-1",
            "2(x3),",
            "1,2 ,3",
            "4294967296",
            "1(x4294967296)",
            "1(x2000000)",
        ] {
            assert!(parse_counts(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn allocation_pairs_hosts_with_counts() {
        assert_eq!(
            allocation("node[1-3],gpu01", "2(x3),8").unwrap(),
            vec![
                ("node1".to_string(), 2),
                ("node2".to_string(), 2),
                ("node3".to_string(), 2),
                ("gpu01".to_string(), 8),
            ]
        );
        let e = allocation("node[1-3]", "2(x2)").unwrap_err();
        assert!(e.reason.contains("names 3 hosts"), "{e}");
        assert!(allocation("node[3-1]", "1").is_err());
        assert!(allocation("node1", "x").is_err());
    }
}
