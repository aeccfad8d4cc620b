//! Named VNC targets: the only addresses the gateway ever dials.

use std::collections::BTreeMap;

/// What is wrong with a target given on the command line or in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    #[error("expected NAME=HOST:PORT, for example desk=127.0.0.1:5901")]
    Syntax,
    #[error("expected HOST:PORT, for example 127.0.0.1:5901 or [::1]:5900")]
    AddrSyntax,
    #[error("the name may use only letters, digits, '-', '_' and '.', at most 64 of them")]
    Name,
    #[error("the port must be a number from 1 to 65535")]
    Port,
}

/// Where a named target lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Whether `name` may name a target (it appears in URLs and logs, so it is kept plain).
pub fn valid_target_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Parses `HOST:PORT` (HOST may be `[v6]`).
pub fn parse_target_addr(addr: &str) -> Result<TargetAddr, TargetProblem> {
    let (host, port) = addr.rsplit_once(':').ok_or(TargetProblem::AddrSyntax)?;
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or(TargetProblem::AddrSyntax)?,
        // An unbracketed host with a colon is an IPv6 address without its brackets.
        None if host.contains(':') => return Err(TargetProblem::AddrSyntax),
        None => host,
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(TargetProblem::AddrSyntax);
    }
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(TargetProblem::Port),
    };
    Ok(TargetAddr {
        host: host.to_owned(),
        port,
    })
}

/// Parses `NAME=HOST:PORT`.
pub fn parse_target(given: &str) -> Result<(String, TargetAddr), TargetProblem> {
    let (name, addr) = given.split_once('=').ok_or(TargetProblem::Syntax)?;
    if !valid_target_name(name) {
        return Err(TargetProblem::Name);
    }
    let addr = parse_target_addr(addr).map_err(|p| match p {
        TargetProblem::AddrSyntax => TargetProblem::Syntax,
        other => other,
    })?;
    Ok((name.to_owned(), addr))
}

/// The VNC servers the gateway may relay to, by name. Nothing else is ever dialled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets(BTreeMap<String, TargetAddr>);

impl Targets {
    /// Adds or replaces `name` (a later layer of configuration overrides an earlier one).
    pub fn insert(&mut self, name: String, addr: TargetAddr) -> Option<TargetAddr> {
        self.0.insert(name, addr)
    }

    pub fn get(&self, name: &str) -> Option<&TargetAddr> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &TargetAddr)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let (n, a) = parse_target("desk=127.0.0.1:5901").expect("valid");
        assert_eq!(
            (n.as_str(), a.host.as_str(), a.port),
            ("desk", "127.0.0.1", 5901)
        );
        let (_, a) = parse_target("v6=[::1]:5900").expect("valid");
        assert_eq!(a.to_string(), "[::1]:5900");
        let a = parse_target_addr("vnc.example.org:5900").expect("valid");
        assert_eq!(a.to_string(), "vnc.example.org:5900");
    }

    #[test]
    fn rejects_bad_targets_with_the_reason() {
        assert_eq!(parse_target("desk"), Err(TargetProblem::Syntax));
        assert_eq!(parse_target("de sk=h:1"), Err(TargetProblem::Name));
        assert_eq!(parse_target("=h:1"), Err(TargetProblem::Name));
        assert_eq!(parse_target("d=h:0"), Err(TargetProblem::Port));
        assert_eq!(parse_target("d=h:x"), Err(TargetProblem::Port));
        assert_eq!(parse_target("d=h:70000"), Err(TargetProblem::Port));
        assert_eq!(parse_target("d=a/b:1"), Err(TargetProblem::Syntax));
        assert_eq!(parse_target("d=::1:1"), Err(TargetProblem::Syntax));
        assert_eq!(parse_target_addr("[::1:1"), Err(TargetProblem::AddrSyntax));
        assert_eq!(parse_target_addr("u@h:1"), Err(TargetProblem::AddrSyntax));
        assert!(!valid_target_name(&"a".repeat(65)));
    }
}
