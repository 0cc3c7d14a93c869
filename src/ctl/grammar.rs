//! The ctl grammar: every verb, its arguments, usage and help, in one table.
//!
//! Verbs are matched case-insensitively by unique prefix, as ngctl does (`ls` and `exit` are
//! aliases). Arguments are whitespace-separated words; `msg` takes the rest of its line as
//! the ASCII argument.

/// What a verb does with its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerbId {
    Mkpeer,
    Connect,
    Name,
    Rmhook,
    Shutdown,
    Msg,
    List,
    Show,
    Status,
    Types,
    Dot,
    Read,
    Help,
    Quit,
    Attach,
    Detach,
    Interfaces,
    Stats,
    Errors,
    Save,
    Capture,
}

/// One row of the grammar.
#[derive(Debug)]
pub struct Verb {
    pub id: VerbId,
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
    /// Words after the verb, at least and at most (`msg`: the argument counts as one).
    pub min: usize,
    pub max: usize,
}

/// The grammar.
pub const VERBS: &[Verb] = &[
    Verb { id: VerbId::Mkpeer, name: "mkpeer", aliases: &[], usage: "mkpeer [path] <type> <hook> <peerhook>", help: "Create a node of <type> and connect it to <path>'s <hook> by its <peerhook> (<path> defaults to \".\").", min: 3, max: 4 },
    Verb { id: VerbId::Connect, name: "connect", aliases: &[], usage: "connect [path] <relpath> <hook> <peerhook>", help: "Connect <path>'s <hook> to <peerhook> of the node at <relpath> (absolute, or relative to <path>).", min: 3, max: 4 },
    Verb { id: VerbId::Name, name: "name", aliases: &[], usage: "name <path> <name>", help: "Name (or rename) a node: 1..31 characters, no '.' or ':'.", min: 2, max: 2 },
    Verb { id: VerbId::Rmhook, name: "rmhook", aliases: &[], usage: "rmhook [path] <hook>", help: "Disconnect a hook; nodes left without hooks shut down unless persistent.", min: 1, max: 2 },
    Verb { id: VerbId::Shutdown, name: "shutdown", aliases: &["kill"], usage: "shutdown <path>", help: "Shut down a node (an interface's ether node only resets).", min: 1, max: 1 },
    Verb { id: VerbId::Msg, name: "msg", aliases: &[], usage: "msg <path> <command> [argument]", help: "Send a control message; the argument and reply use netgraph's ASCII form, e.g. msg br0: setconfig { loopTimeout=30 }.", min: 2, max: 3 },
    Verb { id: VerbId::List, name: "list", aliases: &["ls"], usage: "list [-l] [-n]", help: "List nodes (-l: with their hooks; -n: named nodes only).", min: 0, max: 2 },
    Verb { id: VerbId::Show, name: "show", aliases: &[], usage: "show [-n] <path>", help: "Show a node and its hooks (-n: without hooks).", min: 1, max: 2 },
    Verb { id: VerbId::Status, name: "status", aliases: &[], usage: "status [path]", help: "A node's status: its counters and drops. Without a path, the daemon's: its workers (running, or the fault found) and interfaces.", min: 0, max: 1 },
    Verb { id: VerbId::Types, name: "types", aliases: &[], usage: "types", help: "List node types and how many nodes of each exist.", min: 0, max: 0 },
    Verb { id: VerbId::Dot, name: "dot", aliases: &[], usage: "dot [-c] [file]", help: "Graphviz of the live graph (to a file, or printed); -c adds frame counters per hook and drops per node.", min: 0, max: 2 },
    Verb { id: VerbId::Read, name: "read", aliases: &["source"], usage: "read <file>", help: "Run the commands in a file ('#' starts a comment).", min: 1, max: 1 },
    Verb { id: VerbId::Help, name: "help", aliases: &["?"], usage: "help [command | type | msg <type>]", help: "List commands, show one command's usage, or a node type's hooks, messages (with their arguments), counters and drop reasons.", min: 0, max: 2 },
    Verb { id: VerbId::Quit, name: "quit", aliases: &["exit"], usage: "quit", help: "Leave the interactive shell.", min: 0, max: 0 },
    Verb { id: VerbId::Attach, name: "attach", aliases: &[], usage: "attach <interface> [--queues N]", help: "Attach an interface: XDP program, AF_XDP sockets and an ether node named after it (using its first N RX queues).", min: 1, max: 3 },
    Verb { id: VerbId::Detach, name: "detach", aliases: &[], usage: "detach <interface>", help: "Detach an interface: its node goes, its XDP program is removed, the host gets it back.", min: 1, max: 1 },
    Verb { id: VerbId::Interfaces, name: "interfaces", aliases: &["ifaces"], usage: "interfaces", help: "List attached interfaces.", min: 0, max: 0 },
    Verb { id: VerbId::Stats, name: "stats", aliases: &[], usage: "stats [path]", help: "Counters of one node and its hooks, or of every node.", min: 0, max: 1 },
    Verb { id: VerbId::Errors, name: "errors", aliases: &[], usage: "errors", help: "Every drop reason with its count, per node and in total (like VPP's show errors).", min: 0, max: 0 },
    Verb { id: VerbId::Capture, name: "capture", aliases: &[], usage: "capture <path> <hook> [-w file|-] [-c count] [-s snaplen] [-d in|out|inout]", help: "Copy the frames crossing <hook> of the node at <path> (in: entering the node through it, out: leaving by it; both by default) until Ctrl-C or <count> frames: one line per frame, or pcapng to <file> (-: standard output, for tcpdump -r -); -s keeps the first <snaplen> bytes. Runs from the command line (xdpgraph ctl capture ...); the graph is left as it was.", min: 2, max: 10 },
    Verb { id: VerbId::Save, name: "save", aliases: &[], usage: "save [-w | file]", help: "A script of commands that recreates the topology and node settings (printed, or written to <file>); -w writes it to the daemon's boot script, the file it was started with (run -f), atomically, so that a restart brings this graph back.", min: 0, max: 1 },
];

/// Why a word names no verb.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("unknown command \"{0}\" (try \"help\")")]
    Unknown(String),
    #[error("ambiguous command \"{0}\": could be {1}")]
    Ambiguous(String, String),
}

/// Finds a verb by its full name or an alias (case-insensitive).
pub fn lookup_exact(word: &str) -> Option<&'static Verb> {
    let w = word.to_ascii_lowercase();
    VERBS
        .iter()
        .find(|v| v.name == w || v.aliases.contains(&w.as_str()))
}

/// Finds a verb by name, alias or unique prefix (case-insensitive).
pub fn lookup(word: &str) -> Result<&'static Verb, LookupError> {
    if let Some(v) = lookup_exact(word) {
        return Ok(v);
    }
    let w = word.to_ascii_lowercase();
    let c: Vec<&Verb> = VERBS
        .iter()
        .filter(|v| !w.is_empty() && v.name.starts_with(&w))
        .collect();
    match c.len() {
        1 => Ok(c[0]),
        0 => Err(LookupError::Unknown(word.to_string())),
        _ => Err(LookupError::Ambiguous(
            word.to_string(),
            c.iter().map(|v| v.name).collect::<Vec<_>>().join(", "),
        )),
    }
}

/// Splits a command line into the verb word, its argument words, and (for `msg`) the raw
/// argument text. Returns None for blank and comment lines.
pub fn split(line: &str) -> Option<(&str, Vec<&str>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut it = line.splitn(2, char::is_whitespace);
    let verb = it.next().unwrap();
    let rest = it.next().unwrap_or("").trim_start();
    if matches!(lookup(verb), Ok(v) if v.id == VerbId::Msg) {
        // msg <path> <cmd> <argument...>: the argument keeps its spaces.
        let mut p = rest
            .splitn(3, char::is_whitespace)
            .filter(|s| !s.is_empty());
        let mut words: Vec<&str> = Vec::new();
        if let Some(a) = p.next() {
            words.push(a);
        }
        if let Some(b) = p.next() {
            words.push(b);
        }
        if let Some(c) = p.next() {
            let c = c.trim();
            if !c.is_empty() {
                words.push(c);
            }
        }
        return Some((verb, words));
    }
    Some((verb, rest.split_whitespace().collect()))
}

/// The help text: every verb, or one (node types' help is `super::render::type_help`).
pub fn help(which: Option<&str>) -> Result<String, LookupError> {
    if let Some(w) = which {
        let v = lookup(w)?;
        let aka = if v.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", v.aliases.join(", "))
        };
        return Ok(format!("Usage: {}{}\n  {}\n", v.usage, aka, v.help));
    }
    let mut s = String::from("Available commands:\n");
    for v in VERBS {
        s += &format!(
            "  {:<44} {}\n",
            v.usage,
            v.help.split(". ").next().unwrap_or("")
        );
    }
    s += "Commands may be abbreviated to a unique prefix.\n";
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_aliases() {
        assert_eq!(lookup("mk").unwrap().id, VerbId::Mkpeer);
        assert_eq!(lookup("LS").unwrap().id, VerbId::List);
        assert_eq!(
            lookup("sh").unwrap_err(),
            LookupError::Ambiguous("sh".into(), "shutdown, show".into())
        );
        assert_eq!(lookup("sho").unwrap().id, VerbId::Show);
        assert!(matches!(lookup("frob"), Err(LookupError::Unknown(_))));
        assert_eq!(lookup("exit").unwrap().id, VerbId::Quit);
    }

    #[test]
    fn msg_keeps_its_argument_whole() {
        let (v, w) = split("msg br0: setconfig { loopTimeout=30  maxStaleness=5 }").unwrap();
        assert_eq!(v, "msg");
        assert_eq!(
            w,
            vec!["br0:", "setconfig", "{ loopTimeout=30  maxStaleness=5 }"]
        );
        assert_eq!(split("  # comment"), None);
        assert_eq!(split(""), None);
        assert_eq!(split("mkpeer p0: bridge lower link0").unwrap().1.len(), 4);
    }

    #[test]
    fn every_verb_has_help() {
        for v in VERBS {
            assert!(help(Some(v.name)).unwrap().contains(v.usage));
        }
        assert!(help(None).unwrap().contains("mkpeer"));
    }
}
