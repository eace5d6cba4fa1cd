//! PBS/Torque node files (`$PBS_NODEFILE`): one host name per line, a host
//! listed once per CPU slot the job holds on it.

use super::hostlist::ParseError;

/// Turns a node file's text into `(host, slots)` pairs: hosts in the order
/// they first appear, slots the number of lines naming them. Surrounding
/// whitespace and empty lines are ignored; a line holding whitespace inside
/// the name, or a file naming no host, is an error.
pub fn parse_nodefile(text: &str) -> Result<Vec<(String, u32)>, ParseError> {
    let mut hosts: Vec<(String, u32)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() {
            continue;
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ParseError {
                input: line.to_string(),
                reason: format!("line {} is not a single host name", n + 1),
            });
        }
        match hosts.iter_mut().find(|(h, _)| h == name) {
            Some((_, slots)) => *slots += 1,
            None => hosts.push((name.to_string(), 1)),
        }
    }
    if hosts.is_empty() {
        return Err(ParseError {
            input: String::new(),
            reason: "the node file names no host".to_string(),
        });
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, u32)]) -> Vec<(String, u32)> {
        v.iter().map(|(h, s)| (h.to_string(), *s)).collect()
    }

    #[test]
    fn duplicate_lines_are_slots_first_appearance_order() {
        let text = "n2\nn2\nn1\nn2\nn3\nn1\n";
        assert_eq!(
            parse_nodefile(text).unwrap(),
            pairs(&[("n2", 3), ("n1", 2), ("n3", 1)])
        );
    }

    #[test]
    fn whitespace_and_blank_lines() {
        let text = "  node1.cluster \r\n\nnode1.cluster\n\t\nnode2.cluster";
        assert_eq!(
            parse_nodefile(text).unwrap(),
            pairs(&[("node1.cluster", 2), ("node2.cluster", 1)])
        );
    }

    #[test]
    fn errors() {
        assert!(parse_nodefile("").is_err());
        assert!(parse_nodefile("\n \n").is_err());
        let e = parse_nodefile("n1\nn2 n3\n").unwrap_err();
        assert!(e.reason.contains("line 2"), "{e}");
    }
}
