//! Netgraph addresses: `name:`, `[1f]:` (hex ID), `name:hook1.hook2` (walk hooks from a node),
//! `.` (the control node), and relative `hook1.hook2`.

use super::GraphError;

/// Longest node or hook name (netgraph's NG_NODESIZ / NG_HOOKSIZ minus the NUL).
pub const MAX_NAME: usize = 31;

/// Where an address starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `.`, or a relative path: the node the command is relative to.
    Current,
    Name(String),
    Id(u32),
}

/// A parsed address: a starting node and hooks to walk through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub base: Base,
    pub hops: Vec<String>,
}

impl Addr {
    pub fn parse(path: &str) -> Result<Addr, GraphError> {
        let bad = |why: &str| GraphError::BadPath(path.to_string(), why.to_string());
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        if path.len() > 512 {
            return Err(bad("longer than 512 characters"));
        }
        let (base, rest) = match path.find(':') {
            Some(i) => {
                let head = &path[..i];
                let rest = &path[i + 1..];
                if rest.contains(':') {
                    return Err(bad("more than one ':'"));
                }
                let base = if head == "." {
                    Base::Current
                } else if let Some(hex) = head.strip_prefix('[') {
                    let hex = hex
                        .strip_suffix(']')
                        .ok_or_else(|| bad("an ID is written [hex]"))?;
                    let id = u32::from_str_radix(hex, 16)
                        .map_err(|_| bad("an ID is written [hex], e.g. [1f]"))?;
                    Base::Id(id)
                } else {
                    check_node_name(head).map_err(|e| bad(&e.to_string()))?;
                    Base::Name(head.to_string())
                };
                (base, rest)
            }
            None if path == "." => (Base::Current, ""),
            // `.hook`: ngctl's relative path written from the current node (`msg .ks getname`)
            None => (Base::Current, path.strip_prefix('.').unwrap_or(path)),
        };
        let mut hops = Vec::new();
        if !rest.is_empty() && rest != "." {
            for h in rest.split('.') {
                check_hook_name(h).map_err(|e| bad(&e.to_string()))?;
                hops.push(h.to_string());
            }
        }
        Ok(Addr { base, hops })
    }
}

fn check_common(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    if s.len() > MAX_NAME {
        return Err("longer than 31 characters");
    }
    if s.contains(['.', ':']) {
        return Err("contains '.' or ':'");
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err("contains whitespace, a quote or a control character");
    }
    Ok(())
}

/// Checks a node name: 1..=31 characters, no `.`, `:`, whitespace, and not of the ID form `[..]`.
pub fn check_node_name(s: &str) -> Result<(), GraphError> {
    check_common(s).map_err(|w| GraphError::BadName(s.to_string(), w))?;
    if s.contains(['[', ']']) {
        return Err(GraphError::BadName(
            s.to_string(),
            "contains '[' or ']' (reserved for [ID] addresses)",
        ));
    }
    Ok(())
}

/// Checks a hook name: 1..=31 characters, no `.`, `:` or whitespace.
pub fn check_hook_name(s: &str) -> Result<(), GraphError> {
    check_common(s).map_err(|w| GraphError::BadHookName(s.to_string(), w))
}

/// A node name made from a device name: characters netgraph forbids in names (`.`, `:`,
/// `[`, `]`, whitespace, quotes, control characters) become `_`, cut to 31 characters
/// (`0000:03:00.0` → `0000_03_00_0`).
pub fn node_name_for(device: &str) -> String {
    device
        .chars()
        .map(|c| {
            if matches!(c, '.' | ':' | '[' | ']' | '"') || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(MAX_NAME)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        assert_eq!(
            Addr::parse("br0:").unwrap(),
            Addr {
                base: Base::Name("br0".into()),
                hops: vec![]
            }
        );
        assert_eq!(Addr::parse("[1f]:").unwrap().base, Base::Id(0x1f));
        // ngctl's relative forms from the current node: `.:ks`, `.path_1`, `ks`
        for p in [".:ks", ".ks", "ks"] {
            let a = Addr::parse(p).unwrap();
            assert_eq!(
                (a.base, a.hops),
                (Base::Current, vec!["ks".to_string()]),
                "{p}"
            );
        }
        assert!(Addr::parse("..ks").is_err());
        assert_eq!(
            Addr::parse("em0:lower.link2").unwrap(),
            Addr {
                base: Base::Name("em0".into()),
                hops: vec!["lower".into(), "link2".into()]
            }
        );
        assert_eq!(
            Addr::parse(".").unwrap(),
            Addr {
                base: Base::Current,
                hops: vec![]
            }
        );
        assert_eq!(
            Addr::parse(".:").unwrap(),
            Addr {
                base: Base::Current,
                hops: vec![]
            }
        );
        assert_eq!(
            Addr::parse("left.right").unwrap(),
            Addr {
                base: Base::Current,
                hops: vec!["left".into(), "right".into()]
            }
        );
    }

    #[test]
    fn bad_addresses_say_why() {
        for (p, why) in [
            ("", "empty"),
            ("a:b:c", "more than one"),
            ("[zz]:", "[hex]"),
            ("[12:", "[hex]"),
            ("a.b..c", "empty"),
            ("this_name_is_far_too_long_for_netgraph:", "31"),
        ] {
            let e = Addr::parse(p).unwrap_err().to_string();
            assert!(e.contains(why), "{p}: {e}");
        }
    }

    #[test]
    fn names() {
        assert!(check_node_name("br0").is_ok());
        assert!(check_node_name(&"x".repeat(31)).is_ok());
        assert!(check_node_name(&"x".repeat(32)).is_err());
        for bad in ["", "a.b", "a:b", "a b", "[1]"] {
            assert!(check_node_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_hook_name("link0").is_ok());
        assert!(check_hook_name("a.b").is_err());
    }

    #[test]
    fn device_names_become_node_names() {
        assert_eq!(node_name_for("0000:03:00.0"), "0000_03_00_0");
        assert_eq!(node_name_for("net_af_xdp0"), "net_af_xdp0");
        assert_eq!(node_name_for("a b\"[c]"), "a_b__c_");
        let long = node_name_for(&"x".repeat(40));
        assert_eq!(long.len(), 31);
        assert!(check_node_name(&long).is_ok());
        assert!(check_node_name(&node_name_for("dev:0.1 [x]")).is_ok());
    }
}
