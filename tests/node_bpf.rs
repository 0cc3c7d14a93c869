//! The `bpf` node (ng_bpf(4)) in the in-memory lab, following FreeBSD's sys/netgraph/ng_bpf.c:
//! a new hook drops everything, exact per-hook counters, frames cut to the program's return
//! value, programs refused as bpf_validate refuses them (EINVAL), `getprogram` printing what
//! was set, programs `tcpdump -dd` compiled classifying IPv4 and TCP frames, targets looked
//! up by name as hooks come and go, and mpd5's "limits" chain (a bpf node between `ppp` and
//! `iface` whose rules pass frames through hooks such as `0-0-n` connected back to itself).

use xdpgraph::ctl::exec::execute;
use xdpgraph::errno::Errno;
use xdpgraph::graph::GraphError;
use xdpgraph::nodes::bpf::reason;
use xdpgraph::testkit::{frame, mac, Lab};
use xdpgraph::value::Value;
use xdpgraph::wire::EtherType;

// ----- programs, as `tcpdump -dd -y EN10MB <expression>` prints them ---------------------
// (tcpdump 4.99.3, libpcap 1.10.3; each line is { code, jt, jf, k }.)

/// `tcpdump -dd ip`
const IP: &[(u16, u8, u8, u32)] = &[
    (0x28, 0, 0, 0x0000000c),
    (0x15, 0, 1, 0x00000800),
    (0x6, 0, 0, 0x00040000),
    (0x6, 0, 0, 0x00000000),
];

/// `tcpdump -dd -s 60 ip`: accepts IPv4 frames, asking for their first 60 bytes.
const IP_SNAPLEN_60: &[(u16, u8, u8, u32)] = &[
    (0x28, 0, 0, 0x0000000c),
    (0x15, 0, 1, 0x00000800),
    (0x6, 0, 0, 0x0000003c),
    (0x6, 0, 0, 0x00000000),
];

/// `tcpdump -dd tcp port 80` (IPv6 and IPv4, first fragments only, IPv4 options skipped with
/// `ldxb 4*([14]&0xf)`).
const TCP_PORT_80: &[(u16, u8, u8, u32)] = &[
    (0x28, 0, 0, 0x0000000c),
    (0x15, 0, 6, 0x000086dd),
    (0x30, 0, 0, 0x00000014),
    (0x15, 0, 15, 0x00000006),
    (0x28, 0, 0, 0x00000036),
    (0x15, 12, 0, 0x00000050),
    (0x28, 0, 0, 0x00000038),
    (0x15, 10, 11, 0x00000050),
    (0x15, 0, 10, 0x00000800),
    (0x30, 0, 0, 0x00000017),
    (0x15, 0, 8, 0x00000006),
    (0x28, 0, 0, 0x00000014),
    (0x45, 6, 0, 0x00001fff),
    (0xb1, 0, 0, 0x0000000e),
    (0x48, 0, 0, 0x0000000e),
    (0x15, 2, 0, 0x00000050),
    (0x48, 0, 0, 0x00000010),
    (0x15, 0, 1, 0x00000050),
    (0x6, 0, 0, 0x00040000),
    (0x6, 0, 0, 0x00000000),
];

/// `tcpdump -dd icmp`
const ICMP: &[(u16, u8, u8, u32)] = &[
    (0x28, 0, 0, 0x0000000c),
    (0x15, 0, 3, 0x00000800),
    (0x30, 0, 0, 0x00000017),
    (0x15, 0, 1, 0x00000001),
    (0x6, 0, 0, 0x00040000),
    (0x6, 0, 0, 0x00000000),
];

/// mpd5's `gMatchProg`: `ret #-1`, everything, whole.
const MATCH_ALL: &[(u16, u8, u8, u32)] = &[(0x6, 0, 0, 0xffff_ffff)];

// ----- helpers ---------------------------------------------------------------------------

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

/// The `bpf_prog=[ ... ]` text of a program.
fn prog_text(p: &[(u16, u8, u8, u32)]) -> String {
    let insns: Vec<String> = (p.iter())
        .map(|(c, jt, jf, k)| format!("{{ code={c:#x} jt={jt} jf={jf} k={k} }}"))
        .collect();
    format!("bpf_prog_len={} bpf_prog=[ {} ]", p.len(), insns.join(" "))
}

fn setprog(
    l: &mut Lab,
    node: &str,
    hook: &str,
    yes: &str,
    no: &str,
    p: &[(u16, u8, u8, u32)],
) -> Result<(), GraphError> {
    let arg = format!(
        "{{ thisHook=\"{hook}\" ifMatch=\"{yes}\" ifNotMatch=\"{no}\" {} }}",
        prog_text(p)
    );
    l.graph.msg(node, "setprogram", Some(&v(&arg))).map(|_| ())
}

fn getprogram(l: &mut Lab, node: &str, hook: &str) -> String {
    let arg = Value::Str(hook.into());
    let r = l.graph.msg(node, "getprogram", Some(&arg)).unwrap();
    r.unwrap().to_string()
}

/// `getstats` of a hook, printed (zero counters left out, as netgraph prints them).
fn stats(l: &mut Lab, node: &str, hook: &str) -> String {
    let arg = Value::Str(hook.into());
    let r = l.graph.msg(node, "getstats", Some(&arg)).unwrap();
    r.unwrap().to_string()
}

fn drops(l: &Lab) -> (u64, u64) {
    (
        l.graph.drops_of("bpf", reason::MATCH_NO_HOOK),
        l.graph.drops_of("bpf", reason::NOMATCH_NO_HOOK),
    )
}

fn ok(l: &mut Lab, line: &str) {
    let r = execute(&mut l.graph, line);
    assert!(r.ok, "{line}: {:?}", r.error);
}

/// p0 on hook `in` of bpf node `f`, p1 on `m`, p2 on `n`.
fn lab() -> Lab {
    let mut l = Lab::new(3);
    ok(&mut l, "mkpeer p0: bpf lower in");
    ok(&mut l, "name p0:lower f");
    ok(&mut l, "connect f: p1: m lower");
    ok(&mut l, "connect f: p2: n lower");
    l
}

// ----- frames, byte by byte --------------------------------------------------------------

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP_PROTO: u8 = 1;

/// An IPv4 frame of `len` bytes: IHL `ihl` (options are NOPs), protocol `proto`, fragment
/// offset `frag` (in 8-byte units), then the two ports (for ICMP: type and code, checksum).
fn ipv4_full(proto: u8, sport: u16, dport: u16, len: usize, ihl: u8, frag: u16) -> Vec<u8> {
    let mut f = frame(mac(2), mac(1), EtherType::IPV4, 14, 0);
    let hlen = ihl as usize * 4;
    let total = (len - 14) as u16;
    f.extend_from_slice(&[0x40 | ihl, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1]);
    f.extend_from_slice(&(frag & 0x1fff).to_be_bytes());
    f.extend_from_slice(&[64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2]);
    f.resize(14 + hlen, 1); // options: NOP
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    let mut b = 0u8;
    while f.len() < len {
        f.push(b);
        b = b.wrapping_add(1);
    }
    f.truncate(len);
    f
}

fn ipv4(proto: u8, sport: u16, dport: u16, len: usize) -> Vec<u8> {
    ipv4_full(proto, sport, dport, len, 5, 0)
}

/// An IPv6 frame: next header `nh`, then the two ports.
fn ipv6(nh: u8, sport: u16, dport: u16, len: usize) -> Vec<u8> {
    let mut f = frame(mac(2), mac(1), EtherType::IPV6, 14, 0);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((len - 54) as u16).to_be_bytes());
    f.extend_from_slice(&[nh, 64]);
    f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    f.resize(54, 7); // the rest of both addresses
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.resize(len, 0);
    f
}

fn arp(seq: u8) -> Vec<u8> {
    frame(mac(2), mac(1), EtherType::ARP, 60, seq)
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

// ----- tests -----------------------------------------------------------------------------

#[test]
fn bpf_a_new_hook_drops_everything() {
    let mut l = lab();
    assert_eq!(
        getprogram(&mut l, "f:", "in"),
        r#"{ thisHook="in" bpf_prog_len=1 bpf_prog=[ { code=0x6 } ] }"#
    );
    let frames = [ipv4(TCP, 1, 80, 60), arp(1), ipv4(UDP, 2, 53, 100)];
    for p in 0..3 {
        l.send(p, &frames);
    }
    for p in 0..3 {
        assert!(l.tx(p).is_empty(), "nothing leaves by p{p}");
    }
    assert_eq!(drops(&l), (0, 9), "every frame dropped as not matched");
    for h in ["in", "m", "n"] {
        assert_eq!(stats(&mut l, "f:", h), "{ recvFrames=3 recvOctets=220 }");
    }
    assert_eq!(l.balance().0, l.balance().1);
    // A program whose targets are both empty drops too, matched or not.
    setprog(&mut l, "f:", "in", "", "", IP).unwrap();
    l.send(0, &frames);
    assert_eq!(drops(&l), (2, 10));
    assert!(l.tx(1).is_empty() && l.tx(2).is_empty());
}

#[test]
fn bpf_counts_exactly_per_hook() {
    let mut l = lab();
    setprog(&mut l, "f:", "in", "m", "n", IP).unwrap();
    let (a, b, c) = (
        ipv4(UDP, 1, 2, 60),
        ipv4(TCP, 3, 4, 100),
        ipv4(ICMP_PROTO, 8, 0, 200),
    );
    l.send(0, &[a.clone(), arp(1), b.clone(), arp(2), c.clone()]);
    assert_eq!(l.tx(1), vec![a, b, c]);
    assert_eq!(l.tx(2), vec![arp(1), arp(2)]);
    assert_eq!(
        stats(&mut l, "f:", "in"),
        "{ recvFrames=5 recvOctets=480 recvMatchFrames=3 recvMatchOctets=360 }"
    );
    assert_eq!(stats(&mut l, "f:", "m"), "{ xmitFrames=3 xmitOctets=360 }");
    assert_eq!(stats(&mut l, "f:", "n"), "{ xmitFrames=2 xmitOctets=120 }");
    // Frames into m run m's program (the default: dropped); counted as received there.
    l.send(1, &[arp(3)]);
    assert_eq!(
        stats(&mut l, "f:", "m"),
        "{ recvFrames=1 recvOctets=60 xmitFrames=3 xmitOctets=360 }"
    );
    assert_eq!(drops(&l), (0, 1));
    // getclrstats answers, then clears; clrstats answers nothing.
    let arg = Value::Str("in".into());
    let r = l.graph.msg("f:", "getclrstats", Some(&arg)).unwrap();
    assert_eq!(
        r.unwrap().to_string(),
        "{ recvFrames=5 recvOctets=480 recvMatchFrames=3 recvMatchOctets=360 }"
    );
    assert_eq!(stats(&mut l, "f:", "in"), "{ }");
    let r = l.graph.msg("f:", "clrstats", Some(&Value::Str("m".into())));
    assert_eq!(r.unwrap(), None);
    assert_eq!(stats(&mut l, "f:", "m"), "{ }");
    assert_eq!(stats(&mut l, "f:", "n"), "{ xmitFrames=2 xmitOctets=120 }");
    // The graph's own hook counters agree, with the match counters by name.
    let s = l.graph.node_stats("f:").unwrap();
    let n = &s.hooks.iter().find(|(h, _)| h == "n").unwrap().1;
    assert!(n.contains(&("outFrames", 2)) && n.contains(&("recvMatchFrames", 0)));
    // Unknown hooks: ENOENT; a missing or unquoted argument: EINVAL.
    for cmd in ["getstats", "clrstats", "getclrstats", "getprogram"] {
        let e = (l.graph.msg("f:", cmd, Some(&Value::Str("nosuch".into())))).unwrap_err();
        assert_eq!(e.errno(), Errno::ENOENT, "{cmd}: {e}");
        assert_eq!(
            l.graph.msg("f:", cmd, None).unwrap_err().errno(),
            Errno::EINVAL
        );
        let e = l.graph.msg("f:", cmd, Some(&Value::Int(1))).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL, "{cmd}");
    }
    assert_eq!(l.balance().0, l.balance().1);
}

#[test]
fn bpf_cuts_frames_to_the_value_the_program_returns() {
    let mut l = lab();
    setprog(&mut l, "f:", "in", "m", "n", IP_SNAPLEN_60).unwrap();
    let long = ipv4(TCP, 1, 2, 100);
    let exact = ipv4(TCP, 3, 4, 60);
    let short = ipv4(TCP, 5, 6, 42);
    l.send(0, &[long.clone(), exact.clone(), short.clone(), arp(1)]);
    assert_eq!(l.tx(1), vec![long[..60].to_vec(), exact, short]);
    assert_eq!(l.tx(2), vec![arp(1)], "not matched: not cut");
    // Received and matched octets before cutting, sent octets after.
    assert_eq!(
        stats(&mut l, "f:", "in"),
        "{ recvFrames=4 recvOctets=262 recvMatchFrames=3 recvMatchOctets=202 }"
    );
    assert_eq!(stats(&mut l, "f:", "m"), "{ xmitFrames=3 xmitOctets=162 }");
    // Whole-burst programs: `ret #20` cuts every frame, `ret #-1` none.
    for (k, cut) in [("20", 20), ("-1", 100), ("4294967295", 100), ("0x64", 100)] {
        let arg = format!(
            "{{ thisHook=\"in\" ifMatch=\"m\" bpf_prog_len=1 bpf_prog=[ {{ code=6 k={k} }} ] }}"
        );
        l.graph.msg("f:", "setprogram", Some(&v(&arg))).unwrap();
        l.send(0, &[long.clone(), arp(2)]);
        assert_eq!(
            l.tx(1),
            vec![long[..cut].to_vec(), arp(2)[..cut.min(60)].to_vec()]
        );
    }
    // A length computed from the frame: `ld len; sub #4; ret a` drops the last 4 bytes.
    let arg = "{ thisHook=\"in\" ifMatch=\"m\" ifNotMatch=\"n\" bpf_prog_len=3 \
               bpf_prog=[ { code=0x80 } { code=0x14 k=4 } { code=0x16 } ] }";
    l.graph.msg("f:", "setprogram", Some(&v(arg))).unwrap();
    l.send(0, &[long.clone(), arp(3)]);
    assert_eq!(l.tx(1), vec![long[..96].to_vec(), arp(3)[..56].to_vec()]);
    assert_eq!(l.balance().0, l.balance().1);
}

/// Programs `setprogram` refuses (EINVAL), with a word of the reason it gives.
const INVALID: &[(&str, &str)] = &[
    // a jump past the last instruction (jt, jf, ja)
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x15 jt=1 } { code=6 } ]",
        "jumps past",
    ),
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x15 jf=1 } { code=6 } ]",
        "jumps past",
    ),
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x05 k=1 } { code=6 } ]",
        "jumps past",
    ),
    // no final RET
    (
        "bpf_prog_len=2 bpf_prog=[ { code=6 } { code=0x28 k=12 } ]",
        "not a RET",
    ),
    ("bpf_prog_len=1 bpf_prog=[ { code=0x05 } ]", "jumps past"),
    // bpf_prog_len is not the number of instructions, or 0
    ("bpf_prog_len=2 bpf_prog=[ { code=6 } ]", "bpf_prog_len=2"),
    (
        "bpf_prog_len=1 bpf_prog=[ { code=6 } { code=6 } ]",
        "bpf_prog_len=1",
    ),
    ("bpf_prog=[ { code=6 } ]", "bpf_prog_len=0"),
    ("bpf_prog_len=0 bpf_prog=[ ]", "at least one"),
    ("bpf_prog_len=-1 bpf_prog=[ ]", "bpf_prog_len=-1"),
    // division or modulus by the constant 0
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x34 } { code=6 } ]",
        "constant 0",
    ),
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x94 } { code=6 } ]",
        "constant 0",
    ),
    // scratch memory M[16] and beyond
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x02 k=16 } { code=6 } ]",
        "M[16]",
    ),
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x03 k=100 } { code=6 } ]",
        "M[100]",
    ),
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x60 k=16 } { code=6 } ]",
        "M[16]",
    ),
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x61 k=16 } { code=6 } ]",
        "M[16]",
    ),
    // opcodes FreeBSD does not know
    (
        "bpf_prog_len=2 bpf_prog=[ { code=0x08 } { code=6 } ]",
        "opcode 0x8",
    ),
    ("bpf_prog_len=1 bpf_prog=[ { code=0x0e } ]", "opcode 0xe"),
    ("bpf_prog_len=1 bpf_prog=[ { code=0x106 } ]", "opcode 0x106"),
    // values out of the parse types' ranges, unknown fields, wrong shapes
    ("bpf_prog_len=1 bpf_prog=[ { code=0x10000 } ]", "code"),
    ("bpf_prog_len=1 bpf_prog=[ { code=6 jt=256 } ]", "jt"),
    ("bpf_prog_len=1 bpf_prog=[ { code=6 k=0x100000000 } ]", "k"),
    (
        "bpf_prog_len=1 bpf_prog=[ { code=6 op=1 } ]",
        "unknown field",
    ),
    ("bpf_prog_len=1 bpf_prog=[ 6 ]", "bpf_prog[0]"),
    ("bpf_prog_len=1 bpf_prog=6", "expected an array"),
    (
        "bpf_prog_len=1 bpf_prog=[ { code=6 } ] len=1",
        "unknown field",
    ),
];

/// `setprogram` of `prog` on hook `in` of `f:`, which must fail with EINVAL; the message.
fn refused(l: &mut Lab, prog: &str) -> String {
    let arg = format!("{{ thisHook=\"in\" ifMatch=\"m\" {prog} }}");
    let e = l.graph.msg("f:", "setprogram", Some(&v(&arg))).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL, "{prog}: {e}");
    e.to_string()
}

#[test]
fn bpf_refuses_invalid_programs_with_einval() {
    let mut l = lab();
    setprog(&mut l, "f:", "in", "m", "n", IP).unwrap();
    let before = getprogram(&mut l, "f:", "in");
    for (prog, why) in INVALID {
        let e = refused(&mut l, prog);
        assert!(e.contains(why), "{prog}: {e}");
    }
    // 512 instructions are accepted, 513 not (ng_bpf's bpf_maxinsns).
    let long = |n: usize| format!("bpf_prog_len={n} bpf_prog=[ {} ]", "{ code=6 } ".repeat(n));
    assert!(refused(&mut l, &long(513)).contains("at most 512"));
    let after = getprogram(&mut l, "f:", "in");
    assert_eq!(after, before, "refusals change nothing");
    let arg = v(&format!("{{ thisHook=\"in\" {} }}", long(512)));
    l.graph.msg("f:", "setprogram", Some(&arg)).unwrap();
}

#[test]
fn bpf_setprogram_finds_its_hook_by_a_quoted_name() {
    let mut l = lab();
    // An unknown hook is ENOENT (the program being valid); so is the empty name.
    let e = setprog(&mut l, "f:", "nosuch", "m", "n", IP).unwrap_err();
    assert_eq!(e.errno(), Errno::ENOENT, "{e}");
    let e = setprog(&mut l, "f:", "", "m", "n", IP).unwrap_err();
    assert_eq!(e.errno(), Errno::ENOENT, "no hook has the empty name: {e}");
    // A name longer than a hook name, or not a string: EINVAL.
    let e = setprog(&mut l, "f:", "in", &"x".repeat(32), "n", IP).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL, "{e}");
    let arg = v("{ thisHook=\"in\" ifMatch=7 bpf_prog_len=1 bpf_prog=[ { code=6 } ] }");
    let e = l.graph.msg("f:", "setprogram", Some(&arg)).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL, "{e}");
    let e = l.graph.msg("f:", "setprogram", None).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL, "{e}");
    // Any name the graph accepts for a hook, as mpd5's `0-0-n`.
    ok(&mut l, "connect f: f: 0-0-n 0-0-ni");
    setprog(&mut l, "f:", "0-0-ni", "m", "n", IP).unwrap();
    setprog(&mut l, "f:", "in", "0-0-n", "", MATCH_ALL).unwrap();
    let x = ipv4(UDP, 1, 2, 60);
    l.send(0, &[x.clone(), arp(1)]);
    assert_eq!((l.tx(1), l.tx(2)), (vec![x], vec![arp(1)]));
}

#[test]
fn bpf_getprogram_prints_what_was_set() {
    let mut l = lab();
    // Decimal codes in, hex out; zero fields left out; k=-1 is 4294967295.
    let arg = "{ thisHook=\"in\" ifMatch=\"m\" ifNotMatch=\"n\" bpf_prog_len=4 bpf_prog=[ \
               { code=40 jt=0 jf=0 k=12 } { code=21 jt=0 jf=1 k=2048 } \
               { code=6 jt=0 jf=0 k=-1 } { code=6 jt=0 jf=0 k=0 } ] }";
    l.graph.msg("f:", "setprogram", Some(&v(arg))).unwrap();
    let want = "{ thisHook=\"in\" ifMatch=\"m\" ifNotMatch=\"n\" bpf_prog_len=4 bpf_prog=[ \
                { code=0x28 k=12 } { code=0x15 jf=1 k=2048 } { code=0x6 k=4294967295 } \
                { code=0x6 } ] }";
    assert_eq!(getprogram(&mut l, "f:", "in"), want);
    // What it prints is what it takes: setting it again changes nothing.
    l.graph.msg("f:", "setprogram", Some(&v(want))).unwrap();
    assert_eq!(getprogram(&mut l, "f:", "in"), want);
    // A tcpdump program, every field as given.
    setprog(&mut l, "f:", "n", "", "in", TCP_PORT_80).unwrap();
    let got = v(&getprogram(&mut l, "f:", "n"));
    assert_eq!(got.field("thisHook"), Some(&Value::Str("n".into())));
    assert_eq!(got.field("ifMatch"), None, "empty: left out");
    assert_eq!(got.field("ifNotMatch"), Some(&Value::Str("in".into())));
    assert_eq!(got.field("bpf_prog_len").unwrap().as_i128(), Some(20));
    let Some(Value::Array(insns)) = got.field("bpf_prog") else {
        panic!("{got}")
    };
    let back: Vec<(u16, u8, u8, u32)> = (insns.iter())
        .map(|i| {
            let f = |n: &str| i.field(n).map_or(0, |x| x.as_i128().unwrap());
            (
                f("code") as u16,
                f("jt") as u8,
                f("jf") as u8,
                f("k") as u32,
            )
        })
        .collect();
    assert_eq!(back, TCP_PORT_80);
    let text = getprogram(&mut l, "f:", "n");
    assert!(
        text.contains("{ code=0xb1 k=14 } { code=0x48 k=14 }"),
        "{text}"
    );
    // Explicit indexes: a gap is an all-zero instruction (`ld #0`), printed `{ }` (netgraph
    // would leave it out and number the next one).
    let arg = "{ thisHook=\"m\" bpf_prog_len=2 bpf_prog=[ 1={ code=0x16 } ] }";
    l.graph.msg("f:", "setprogram", Some(&v(arg))).unwrap();
    assert_eq!(
        getprogram(&mut l, "f:", "m"),
        "{ thisHook=\"m\" bpf_prog_len=2 bpf_prog=[ { } { code=0x16 } ] }"
    );
    // The JSON form carries every field.
    let j = l
        .graph
        .msg("f:", "getprogram", Some(&v("\"m\"")))
        .unwrap()
        .unwrap();
    assert_eq!(
        j.to_json().to_string(),
        r#"{"thisHook":"m","ifMatch":"","ifNotMatch":"","bpf_prog_len":2,"bpf_prog":[{"code":0,"jt":0,"jf":0,"k":0},{"code":22,"jt":0,"jf":0,"k":0}]}"#
    );
}

#[test]
fn bpf_tcpdump_programs_classify_ipv4_and_tcp() {
    let http_to = ipv4(TCP, 40000, 80, 80);
    let http_from = ipv4(TCP, 80, 40000, 80);
    let https = ipv4(TCP, 40000, 443, 80);
    let udp80 = ipv4(UDP, 40000, 80, 80);
    let with_options = ipv4_full(TCP, 40000, 80, 84, 6, 0);
    let with_options_443 = ipv4_full(TCP, 40000, 443, 84, 6, 0);
    let later_fragment = ipv4_full(TCP, 40000, 80, 80, 5, 1);
    let v6_http = ipv6(TCP, 40000, 80, 90);
    let v6_udp = ipv6(UDP, 40000, 80, 90);
    let icmp = ipv4(ICMP_PROTO, 0x0800, 0, 70);
    // Cut after the source port: the program's load of the destination port falls outside
    // the frame, so it returns 0.
    let cut = ipv4(TCP, 40000, 80, 80)[..37].to_vec();
    let header_only = frame(mac(2), mac(1), EtherType::IPV4, 14, 0);
    let mut tagged = frame(mac(2), mac(1), 0x8100, 14, 0);
    tagged.extend_from_slice(&[0, 10, 0x08, 0]);
    tagged.extend_from_slice(&ipv4(TCP, 1, 80, 60)[14..]);
    let all = vec![
        http_to.clone(),
        http_from.clone(),
        https.clone(),
        udp80.clone(),
        with_options.clone(),
        with_options_443.clone(),
        later_fragment.clone(),
        v6_http.clone(),
        v6_udp.clone(),
        icmp.clone(),
        cut.clone(),
        header_only.clone(),
        tagged.clone(),
        arp(1),
    ];
    let matched = |p: &[(u16, u8, u8, u32)]| {
        let mut l = lab();
        setprog(&mut l, "f:", "in", "m", "n", p).unwrap();
        l.send(0, &all);
        let (yes, no) = (l.tx(1), l.tx(2));
        assert_eq!(yes.len() + no.len(), all.len());
        yes
    };
    assert_eq!(
        matched(IP),
        vec![
            http_to.clone(),
            http_from.clone(),
            https,
            udp80,
            with_options.clone(),
            with_options_443,
            later_fragment,
            icmp.clone(),
            cut,
            header_only,
        ],
        "ip: every IPv4 EtherType (not IPv6, not the VLAN-tagged one, not ARP)"
    );
    assert_eq!(
        matched(TCP_PORT_80),
        vec![http_to, http_from, with_options, v6_http],
        "tcp port 80: either port, past IPv4 options, IPv6 too; no later fragment, no UDP"
    );
    assert_eq!(matched(ICMP), vec![icmp]);
}

#[test]
fn bpf_targets_are_hook_names_looked_up_as_hooks_come_and_go() {
    let mut l = Lab::new(3);
    ok(&mut l, "mkpeer p0: bpf lower in");
    ok(&mut l, "name p0:lower f");
    // Targets that do not exist yet.
    setprog(&mut l, "f:", "in", "later", "n", IP).unwrap();
    let x = ipv4(UDP, 1, 2, 60);
    l.send(0, &[x.clone(), arp(1)]);
    assert_eq!(drops(&l), (1, 1));
    ok(&mut l, "connect f: p1: later lower");
    ok(&mut l, "connect f: p2: n lower");
    l.send(0, &[x.clone(), arp(2)]);
    assert_eq!((l.tx(1), l.tx(2)), (vec![x.clone()], vec![arp(2)]));
    // Gone: dropped; back (on another port): found again.
    ok(&mut l, "rmhook f: later");
    l.send(0, std::slice::from_ref(&x));
    assert_eq!(drops(&l), (2, 1));
    ok(&mut l, "rmhook f: n");
    ok(&mut l, "connect f: p2: later lower");
    l.send(0, &[x.clone(), arp(3)]);
    assert_eq!(l.tx(2), vec![x.clone()]);
    assert!(l.tx(1).is_empty());
    assert_eq!(drops(&l), (2, 2));
    // A hook may be its own target: IPv4 goes back out p0.
    setprog(&mut l, "f:", "in", "in", "later", IP).unwrap();
    l.send(0, &[x.clone(), arp(4)]);
    assert_eq!((l.tx(0), l.tx(2)), (vec![x.clone()], vec![arp(4)]));
    // A hook's program goes with it: reconnected, `in` drops everything again.
    ok(&mut l, "rmhook f: in");
    ok(&mut l, "connect p0: f: lower in");
    assert!(getprogram(&mut l, "f:", "in").contains("bpf_prog=[ { code=0x6 } ]"));
    l.send(0, std::slice::from_ref(&x));
    assert!(l.tx(2).is_empty());
    assert_eq!(drops(&l), (2, 3));
    // The node goes with its last hook (ng_bpf_disconnect).
    ok(&mut l, "rmhook f: in");
    ok(&mut l, "rmhook f: later");
    assert!(l.graph.msg("f:", "getprogram", Some(&v("\"in\""))).is_err());
    assert_eq!(l.balance().0, l.balance().1);
}

/// mpd5's traffic limits (`set iface limits`, IfaceSetupLimits in mpd's iface.c): a bpf node
/// "limits" between the `ppp` and `iface` hooks. Rules in the ppp → iface direction:
///  0: `flt1 deny`   (flt1 = tcp port 80): match → "deny" (no such hook: dropped), nomatch →
///     `0-0-n`, connected back to the node's `0-0-ni`, where rule 1 runs;
///  1: `flt2 shape`  (flt2 = icmp): match → `0-1-m`, through a rate limiter (ng_car in mpd; a
///     two-hook hub stands in for it here) back into `0-1-mi`; nomatch → iface (the last rule);
///  then `0-1-mi` passes everything to iface (mpd's "connect left hooks to output").
///
/// From iface towards ppp there are no rules: iface passes everything to ppp.
fn mpd_limits(l: &mut Lab) {
    ok(l, "mkpeer p0: bpf lower ppp");
    ok(l, "name p0:lower limits");
    ok(l, "connect limits: p1: iface lower");
    setprog(l, "limits:", "ppp", "deny", "0-0-n", TCP_PORT_80).unwrap();
    ok(l, "connect limits: limits: 0-0-n 0-0-ni");
    ok(l, "mkpeer limits: hub 0-1-m lower");
    ok(l, "connect limits:0-1-m limits: upper 0-1-mi");
    setprog(l, "limits:", "0-0-ni", "0-1-m", "iface", ICMP).unwrap();
    setprog(l, "limits:", "0-1-mi", "iface", "iface", MATCH_ALL).unwrap();
    setprog(l, "limits:", "iface", "ppp", "ppp", MATCH_ALL).unwrap();
}

#[test]
fn bpf_mpd5_limits_chain_rules_through_hooks_of_its_own() {
    let mut l = Lab::new(2);
    mpd_limits(&mut l);
    let http = ipv4(TCP, 40000, 80, 80);
    let icmp = ipv4(ICMP_PROTO, 0x0800, 0, 70);
    let dns = ipv4(UDP, 40000, 53, 90);
    l.send(0, &[http.clone(), icmp.clone(), dns.clone(), arp(1)]);
    assert_eq!(
        sorted(l.tx(1)),
        sorted(vec![icmp.clone(), dns.clone(), arp(1)])
    );
    assert_eq!(drops(&l), (1, 0), "HTTP denied");
    let s = |l: &mut Lab, h: &str| stats(l, "limits:", h);
    assert_eq!(
        s(&mut l, "ppp"),
        "{ recvFrames=4 recvOctets=300 recvMatchFrames=1 recvMatchOctets=80 }"
    );
    assert_eq!(s(&mut l, "0-0-n"), "{ xmitFrames=3 xmitOctets=220 }");
    assert_eq!(
        s(&mut l, "0-0-ni"),
        "{ recvFrames=3 recvOctets=220 recvMatchFrames=1 recvMatchOctets=70 }"
    );
    assert_eq!(s(&mut l, "0-1-m"), "{ xmitFrames=1 xmitOctets=70 }");
    assert_eq!(
        s(&mut l, "0-1-mi"),
        "{ recvFrames=1 recvOctets=70 recvMatchFrames=1 recvMatchOctets=70 }"
    );
    assert_eq!(s(&mut l, "iface"), "{ xmitFrames=3 xmitOctets=220 }");
    // The other way everything passes.
    l.send(1, &[http.clone(), arp(2)]);
    assert_eq!(l.tx(0), vec![http.clone(), arp(2)]);
    // Without the limiter, shaped traffic has nowhere to go; with it back, it flows again.
    ok(&mut l, "shutdown limits:0-1-m");
    l.send(0, &[icmp.clone(), dns.clone()]);
    assert_eq!(l.tx(1), vec![dns.clone()]);
    assert_eq!(drops(&l), (2, 0));
    ok(&mut l, "mkpeer limits: hub 0-1-m lower");
    ok(&mut l, "connect limits:0-1-m limits: upper 0-1-mi");
    setprog(&mut l, "limits:", "0-1-mi", "iface", "iface", MATCH_ALL).unwrap();
    l.send(0, std::slice::from_ref(&icmp));
    assert_eq!(l.tx(1), vec![icmp.clone()]);
    let show = execute(&mut l.graph, "show limits:");
    assert!(show.ok && show.text.contains("0-0-ni"), "{}", show.text);
    assert_eq!(l.balance().0, l.balance().1);

    // `save` writes the programs; replayed, the graph behaves the same.
    let script = xdpgraph::ctl::save::save(&mut l.graph);
    assert!(
        script.contains("setprogram { thisHook=\"0-0-ni\""),
        "{script}"
    );
    let mut m = Lab::new(2);
    for line in script.lines() {
        ok(&mut m, line);
    }
    for h in ["ppp", "iface", "0-0-n", "0-0-ni", "0-1-m", "0-1-mi"] {
        assert_eq!(
            getprogram(&mut m, "limits:", h),
            getprogram(&mut l, "limits:", h),
            "{h}"
        );
    }
    m.send(0, &[http, icmp.clone(), dns.clone()]);
    assert_eq!(sorted(m.tx(1)), sorted(vec![icmp, dns]));
    assert_eq!(drops(&m), (1, 0));
}
