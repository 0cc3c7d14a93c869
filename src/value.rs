//! Control-message arguments and replies in netgraph's ASCII form, and their JSON form.
//!
//! ASCII grammar (as `ngctl msg` takes it): structures `{ name=value ... }`, arrays
//! `[ v v ... ]` or with explicit indices `[ 3=v ]`, C strings `"..."` with escapes, integers in
//! decimal, octal (`0` prefix) or hex (`0x`), MAC addresses `aa:bb:cc:dd:ee:ff`, and bare words
//! (read as strings). Replies print in the same form; like netgraph, structure fields and array
//! elements equal to zero are left out when printing (an array then names the indices it keeps).

use crate::wire::MacAddr;
use std::fmt::Write as _;

/// A message argument or reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Uint(u64),
    /// An integer shown in hex (netgraph's `hint` types, e.g. an EtherType).
    Hex(u64),
    Str(String),
    /// Text written without quotes (ksocket's socket addresses, `inet/127.0.0.1:5000`, as
    /// ng_ksocket's sockaddr type writes them).
    Word(String),
    Mac(MacAddr),
    Struct(Vec<(String, Value)>),
    Array(Vec<Value>),
}

/// A malformed ASCII argument, with the byte offset where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad argument at offset {offset}: {what}")]
pub struct ParseError {
    pub offset: usize,
    pub what: String,
}

/// A value of the wrong shape for a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

impl Value {
    pub fn is_zero(&self) -> bool {
        match self {
            Value::Int(0) | Value::Uint(0) | Value::Hex(0) => true,
            Value::Str(s) | Value::Word(s) => s.is_empty(),
            Value::Mac(m) => *m == MacAddr::ZERO,
            Value::Struct(f) => f.iter().all(|(_, v)| v.is_zero()),
            Value::Array(a) => a.is_empty(),
            _ => false,
        }
    }

    /// The integer value, if this is an integer (or a string holding one).
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(*i as i128),
            Value::Uint(u) | Value::Hex(u) => Some(*u as i128),
            Value::Str(s) => parse_int(s).map(|v| v as i128),
            _ => None,
        }
    }

    /// The integer value, checked against `[min, max]`, with `what` naming it in errors.
    pub fn int_in(&self, what: &str, min: i128, max: i128) -> Result<i128, ShapeError> {
        let v = self
            .as_i128()
            .ok_or_else(|| ShapeError(format!("{what}: expected an integer, got {self}")))?;
        if v < min || v > max {
            return Err(ShapeError(format!(
                "{what}: {v} is out of range {min}..={max}"
            )));
        }
        Ok(v)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Word(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_mac(&self) -> Option<MacAddr> {
        match self {
            Value::Mac(m) => Some(*m),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A field of a structure (None when absent: netgraph treats absent fields as zero).
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(f) => f.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Checks that a structure has only fields from `allowed`.
    pub fn check_fields(&self, allowed: &[&str]) -> Result<(), ShapeError> {
        match self {
            Value::Struct(f) => {
                for (n, _) in f {
                    if !allowed.contains(&n.as_str()) {
                        return Err(ShapeError(format!(
                            "unknown field \"{n}\" (fields: {})",
                            allowed.join(" ")
                        )));
                    }
                }
                Ok(())
            }
            other => Err(ShapeError(format!(
                "expected a structure {{ {} }}, got {other}",
                allowed
                    .iter()
                    .map(|a| format!("{a}=..."))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
        }
    }

    /// Builds a structure from (name, value) pairs.
    pub fn record<const N: usize>(fields: [(&str, Value); N]) -> Value {
        Value::Struct(
            fields
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
        )
    }

    /// Parses the ASCII form.
    pub fn parse(s: &str) -> Result<Value, ParseError> {
        let mut p = Parser {
            s: s.as_bytes(),
            i: 0,
            cells: MAX_CELLS,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(p.err("unexpected text after the value"));
        }
        Ok(v)
    }

    /// The JSON form (every field kept, zeros included).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Int(i) => J::from(*i),
            Value::Uint(u) | Value::Hex(u) => J::from(*u),
            Value::Str(s) | Value::Word(s) => J::from(s.clone()),
            Value::Mac(m) => J::from(m.to_string()),
            Value::Struct(f) => {
                J::Object(f.iter().map(|(n, v)| (n.clone(), v.to_json())).collect())
            }
            Value::Array(a) => J::Array(a.iter().map(|v| v.to_json()).collect()),
        }
    }

    /// Reads the JSON form (numbers become integers, strings that look like MACs stay strings).
    pub fn from_json(j: &serde_json::Value) -> Result<Value, ShapeError> {
        use serde_json::Value as J;
        Ok(match j {
            J::Null => Value::Struct(vec![]),
            J::Bool(b) => Value::Int(*b as i64),
            J::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::Uint(u)
                } else {
                    return Err(ShapeError(format!("{n}: only integers are accepted")));
                }
            }
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::Array(a.iter().map(Value::from_json).collect::<Result<_, _>>()?),
            J::Object(o) => Value::Struct(
                o.iter()
                    .map(|(k, v)| Ok((k.clone(), Value::from_json(v)?)))
                    .collect::<Result<_, ShapeError>>()?,
            ),
        })
    }

    fn write_ascii(&self, out: &mut String) {
        match self {
            Value::Int(i) => write!(out, "{i}").unwrap(),
            Value::Uint(u) => write!(out, "{u}").unwrap(),
            Value::Hex(u) => write!(out, "0x{u:x}").unwrap(),
            Value::Mac(m) => write!(out, "{m}").unwrap(),
            Value::Str(s) => quote(s, out),
            Value::Word(s) => out.push_str(s),
            Value::Struct(f) => {
                out.push('{');
                for (n, v) in f.iter().filter(|(_, v)| !v.is_zero()) {
                    write!(out, " {n}=").unwrap();
                    v.write_ascii(out);
                }
                out.push_str(" }");
            }
            Value::Array(a) => {
                out.push('[');
                let mut next = 0;
                for (i, v) in a.iter().enumerate() {
                    if v.is_zero() && !matches!(v, Value::Struct(_)) {
                        continue;
                    }
                    out.push(' ');
                    if i != next {
                        write!(out, "{i}=").unwrap();
                    }
                    next = i + 1;
                    v.write_ascii(out);
                }
                out.push_str(" ]");
            }
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        self.write_ascii(&mut s);
        f.write_str(&s)
    }
}

/// Quotes `s` as a C string.
pub fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => write!(out, "\\x{:02x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses a netgraph integer: decimal, `0x` hex, leading-`0` octal, optional sign.
pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.is_empty() {
        return None;
    }
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        u64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<u64>().ok()?
    };
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// Array cells the value may still add ([`MAX_CELLS`]).
    cells: usize,
}

const MAX_DEPTH: usize = 32;
/// Largest array index (`[ 4095=1 ]`): netgraph's biggest arrays are BPF programs
/// (BPF_MAXINSNS, 4096 instructions on Linux).
pub const MAX_ARRAY_INDEX: usize = 4095;
/// Array cells one value may have in all (nested arrays included), so that a short request
/// cannot make the parser allocate much: explicit indexes fill the gaps with zeros.
pub const MAX_CELLS: usize = 65_536;

impl Parser<'_> {
    fn err(&self, what: &str) -> ParseError {
        ParseError {
            offset: self.i,
            what: what.to_string(),
        }
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn value(&mut self) -> Result<Value, ParseError> {
        self.value_at(0)
    }
    fn value_at(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.ws();
        match self.peek() {
            None => Err(self.err("expected a value")),
            Some(b'{') => self.structure(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b'}' | b']' | b'=') => Err(self.err("expected a value")),
            Some(_) => Ok(word_value(self.word())),
        }
    }
    fn word(&mut self) -> &str {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || matches!(c, b'{' | b'}' | b'[' | b']' | b'=' | b'"') {
                break;
            }
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }
    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'\\' => out.push(b'\\'),
                        b'"' => out.push(b'"'),
                        b'x' => {
                            let h = self
                                .s
                                .get(self.i..self.i + 2)
                                .ok_or_else(|| self.err("bad \\x escape"))?;
                            let v = u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16)
                                .map_err(|_| self.err("bad \\x escape"))?;
                            self.i += 2;
                            out.push(v);
                        }
                        b'0'..=b'7' => {
                            let mut v: u32 = (e - b'0') as u32;
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + (d - b'0') as u32;
                                        self.i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(v as u8);
                        }
                        _ => return Err(self.err("unknown escape")),
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }
    fn structure(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.i += 1;
        let mut fields: Vec<(String, Value)> = Vec::new();
        loop {
            self.ws();
            match self.peek() {
                None => return Err(self.err("unterminated structure: missing '}'")),
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Struct(fields));
                }
                _ => {}
            }
            let name = self.word().to_string();
            if name.is_empty() {
                return Err(self.err("expected a field name"));
            }
            self.ws();
            if self.peek() != Some(b'=') {
                return Err(self.err(&format!("expected '=' after field \"{name}\"")));
            }
            self.i += 1;
            let v = self.value_at(depth + 1)?;
            if let Some(slot) = fields.iter_mut().find(|(n, _)| *n == name) {
                slot.1 = v;
            } else {
                fields.push((name, v));
            }
        }
    }
    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.i += 1;
        let mut items: Vec<Value> = Vec::new();
        let mut next = 0usize;
        loop {
            self.ws();
            match self.peek() {
                None => return Err(self.err("unterminated array: missing ']'")),
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => {}
            }
            // An explicit index: `N=value`.
            let save = self.i;
            let w = self.word().to_string();
            self.ws();
            if self.peek() == Some(b'=') && !w.is_empty() {
                let idx = parse_int(&w)
                    .filter(|v| (0..=MAX_ARRAY_INDEX as i64).contains(v))
                    .ok_or_else(|| self.err("array index must be 0..=4095"))?;
                self.i += 1;
                next = idx as usize;
            } else {
                self.i = save;
            }
            if next > MAX_ARRAY_INDEX {
                return Err(self.err("array longer than 4096 elements"));
            }
            let v = self.value_at(depth + 1)?;
            if items.len() <= next {
                let grow = next + 1 - items.len();
                self.cells = (self.cells.checked_sub(grow))
                    .ok_or_else(|| self.err("value has more than 65536 array elements in all"))?;
                items.resize(next + 1, Value::Int(0));
            }
            items[next] = v;
            next += 1;
        }
    }
}

fn word_value(w: &str) -> Value {
    if let Some(i) = parse_int(w) {
        return Value::Int(i);
    }
    if let Some(stripped) = w.strip_prefix("0x") {
        if let Ok(u) = u64::from_str_radix(stripped, 16) {
            return Value::Uint(u);
        }
    }
    if let Ok(u) = w.parse::<u64>() {
        return Value::Uint(u);
    }
    if w.matches(':').count() == 5 {
        if let Ok(m) = w.parse::<MacAddr>() {
            return Value::Mac(m);
        }
    }
    Value::Str(w.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_netgraph_forms() {
        let v = Value::parse("{ loopTimeout=30 maxStaleness=0x10 debugLevel=010 }").unwrap();
        assert_eq!(v.field("loopTimeout"), Some(&Value::Int(30)));
        assert_eq!(v.field("maxStaleness"), Some(&Value::Int(16)));
        assert_eq!(v.field("debugLevel"), Some(&Value::Int(8)));
        let v = Value::parse(r#"{ hook="v10" vid=10 pcp=3 }"#).unwrap();
        assert_eq!(v.field("hook").and_then(Value::as_str), Some("v10"));
        let v = Value::parse("{ xmitAlg=1 enabledLinks=[ 1 1 3=1 ] }").unwrap();
        assert_eq!(
            v.field("enabledLinks"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Int(1),
                Value::Int(0),
                Value::Int(1)
            ]))
        );
        assert_eq!(
            Value::parse("00:11:22:aa:bb:cc")
                .unwrap()
                .as_mac()
                .unwrap()
                .to_string(),
            "00:11:22:aa:bb:cc"
        );
        assert_eq!(Value::parse("-1").unwrap(), Value::Int(-1));
        assert_eq!(Value::parse("link0").unwrap(), Value::Str("link0".into()));
        assert_eq!(
            Value::parse(r#""a\"b\n\x41\101""#).unwrap(),
            Value::Str("a\"b\nAA".into())
        );
    }

    #[test]
    fn prints_like_netgraph_and_round_trips() {
        let v = Value::record([
            ("debugLevel", Value::Int(1)),
            ("loopTimeout", Value::Int(0)),
            ("name", Value::Str("br0".into())),
            (
                "links",
                Value::Array(vec![Value::Int(1), Value::Int(0), Value::Int(1)]),
            ),
            ("proto", Value::Hex(0x8100)),
        ]);
        let s = v.to_string();
        assert_eq!(
            s,
            r#"{ debugLevel=1 name="br0" links=[ 1 2=1 ] proto=0x8100 }"#
        );
        let back = Value::parse(&s).unwrap();
        assert_eq!(back.field("links").unwrap().to_string(), "[ 1 2=1 ]");
        assert_eq!(back.field("proto").unwrap().as_i128(), Some(0x8100));
    }

    #[test]
    fn array_sizes_are_bounded() {
        assert!(Value::parse("[ 4095=1 ]").is_ok());
        let e = Value::parse("[ 4096=1 ]").unwrap_err();
        assert!(e.to_string().contains("0..=4095"), "{e}");
        let e = Value::parse("[ 65535=1 ]").unwrap_err();
        assert!(e.to_string().contains("0..=4095"), "{e}");
        // nested arrays cannot multiply the allocation
        let nested = format!("[ {} ]", vec!["[ 4095=1 ]"; 40].join(" "));
        let e = Value::parse(&nested).unwrap_err();
        assert!(e.to_string().contains("65536"), "{e}");
        // counting on past the last index is refused too
        let long = format!("[ 4095=1 {} ]", "1 ".repeat(2));
        assert!(Value::parse(&long).is_err());
    }

    #[test]
    fn errors_name_the_problem() {
        for (bad, what) in [
            ("{ a=1", "missing '}'"),
            ("{ a 1 }", "expected '='"),
            ("[ 1 2", "missing ']'"),
            ("\"abc", "unterminated string"),
            ("{ a=1 } x", "unexpected text"),
            ("[ 99999999=1 ]", "array index"),
        ] {
            let e = Value::parse(bad).unwrap_err();
            assert!(e.what.contains(what), "{bad}: {e}");
        }
        let deep = "[".repeat(100);
        assert!(Value::parse(&deep).unwrap_err().what.contains("deeply"));
    }

    #[test]
    fn json_round_trip() {
        let v = Value::parse(r#"{ a=1 b="x" c=[ 1 2 ] }"#).unwrap();
        let j = v.to_json();
        assert_eq!(j.to_string(), r#"{"a":1,"b":"x","c":[1,2]}"#);
        assert_eq!(Value::from_json(&j).unwrap(), v);
    }

    #[test]
    fn ints_in_range() {
        assert_eq!(Value::Int(7).int_in("pcp", 0, 7).unwrap(), 7);
        assert!(Value::Int(8)
            .int_in("pcp", 0, 7)
            .unwrap_err()
            .0
            .contains("pcp: 8 is out of range"));
        assert!(Value::Str("x".into()).int_in("vid", 0, 4095).is_err());
    }

    #[cfg(not(miri))]
    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,64}") {
            let _ = Value::parse(&s);
        }
        #[test]
        fn ints_round_trip(i in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(Value::parse(&Value::Int(i).to_string()).unwrap(), Value::Int(i));
        }
    }
}
