//! Scenarios for tcpmss, following ng_tcpmss(4) and FreeBSD's sys/netgraph/ng_tcpmss.c.
//!
//! The frames are built here byte by byte and every TCP checksum is checked with this file's
//! own full computation (pseudo-header and segment, RFC 1071), not with the crate's views or
//! the node's incremental update.

use xdpgraph::errno::Errno;
use xdpgraph::graph::GraphError;
use xdpgraph::nodes::tcpmss;
use xdpgraph::testkit::{frame, mac, Lab};
use xdpgraph::value::Value;

const SRC: [u8; 4] = [192, 0, 2, 1];
const DST: [u8; 4] = [198, 51, 100, 2];
const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;
const QINQ: u16 = 0x88a8;
const DOT1Q: u16 = 0x8100;

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

// ----- the test's own checksum and frame builder ---------------------------------------------

/// RFC 1071 from scratch: the complement of the ones'-complement sum of big-endian words.
fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    for pair in data.chunks(2) {
        let hi = pair[0] as u64;
        let lo = pair.get(1).copied().unwrap_or(0) as u64;
        sum += (hi << 8) | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Where the IPv4 header starts: after the addresses, every 802.1Q/802.1ad tag and the type.
fn l3_start(f: &[u8]) -> usize {
    let mut at = 12;
    while [DOT1Q, QINQ].contains(&u16::from_be_bytes([f[at], f[at + 1]])) {
        at += 4;
    }
    at + 2
}

/// The TCP segment of a frame (IP header length and total length as the header says).
fn tcp_segment(f: &[u8]) -> &[u8] {
    let ip = l3_start(f);
    let ihl = (f[ip] & 0x0f) as usize * 4;
    let total = u16::from_be_bytes([f[ip + 2], f[ip + 3]]) as usize;
    &f[ip + ihl..ip + total]
}

/// Whether the TCP checksum is right: pseudo-header + segment, computed from scratch, sum to
/// all ones (the computed complement is zero).
fn tcp_checksum_ok(f: &[u8]) -> bool {
    let seg = tcp_segment(f);
    let mut all = Vec::new();
    all.extend_from_slice(&SRC);
    all.extend_from_slice(&DST);
    all.extend_from_slice(&[0, 6]);
    all.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    all.extend_from_slice(seg);
    inet_checksum(&all) == 0
}

/// The values of the well-formed MSS options of a frame's TCP header.
fn mss_of(f: &[u8]) -> Vec<u16> {
    let seg = tcp_segment(f);
    let hlen = (seg[12] >> 4) as usize * 4;
    let opts = &seg[20..hlen];
    let (mut i, mut out) = (0, Vec::new());
    while i < opts.len() {
        match opts[i] {
            0 => break,
            1 => i += 1,
            _ if i + 1 >= opts.len() || opts[i + 1] < 2 => break,
            k => {
                let len = opts[i + 1] as usize;
                if k == 2 && len == 4 && i + 4 <= opts.len() {
                    out.push(u16::from_be_bytes([opts[i + 2], opts[i + 3]]));
                }
                i += len;
            }
        }
    }
    out
}

/// An Ethernet frame with `tags` (TPIDs) carrying IPv4 TCP: flags, options (padded to words
/// by the caller), sequence number `seq`. Both checksums computed here.
fn tcp_frame(tags: &[u16], flags: u8, opts: &[u8], seq: u32) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0, "options are whole words");
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    for (i, tpid) in tags.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let tcp_len = 20 + opts.len();
    let total = (20 + tcp_len) as u16;
    let mut ip = vec![0x45, 0x00];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, 6, 0, 0]);
    ip.extend_from_slice(&SRC);
    ip.extend_from_slice(&DST);
    let c = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut tcp = vec![0xc0, 0x01, 0x00, 0x50];
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, if flags & ACK != 0 { 7 } else { 0 }]);
    tcp.extend_from_slice(&[((tcp_len / 4) as u8) << 4, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    tcp.extend_from_slice(opts);
    let mut ph = SRC.to_vec();
    ph.extend_from_slice(&DST);
    ph.extend_from_slice(&[0, 6]);
    ph.extend_from_slice(&(tcp_len as u16).to_be_bytes());
    ph.extend_from_slice(&tcp);
    let c = inet_checksum(&ph);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    assert!(tcp_checksum_ok(&f));
    f
}

/// MSS option of `mss`, then NOP NOP SACK-permitted: one word-aligned option block.
fn mss_opts(mss: u16) -> Vec<u8> {
    let [a, b] = mss.to_be_bytes();
    vec![2, 4, a, b, 1, 1, 4, 2]
}

/// p0 - m.in, m.out - p1; in -> out and out -> in, both with maxMSS `max`.
fn lab(max: u16) -> Lab {
    let mut l = Lab::new(3);
    l.graph.mkpeer("p0:", "tcpmss", "lower", "in").unwrap();
    l.graph.name("p0:lower", "m").unwrap();
    l.graph.connect("p1:", "m:", "lower", "out").unwrap();
    for (i, o) in [("in", "out"), ("out", "in")] {
        let arg = format!("{{ inHook=\"{i}\" outHook=\"{o}\" maxMSS={max} }}");
        l.graph.msg("m:", "config", Some(&v(&arg))).unwrap();
    }
    l
}

fn stats(l: &mut Lab, hook: &str) -> Value {
    let h = Value::Str(hook.into());
    l.graph.msg("m:", "getstats", Some(&h)).unwrap().unwrap()
}

fn stat(s: &Value, f: &str) -> u64 {
    s.field(f).map_or(0, |v| v.as_i128().unwrap() as u64)
}

fn assert_balanced(l: &Lab) {
    let (inn, out) = l.balance();
    assert_eq!(inn, out, "frames in = frames out + drops");
}

// ----- the tests -----------------------------------------------------------------------------

/// The checksum function above agrees with an independent implementation's value, and a
/// fixture SYN comes out with the exact expected bytes.
#[test]
fn fixture_syn_is_rewritten_to_the_exact_expected_bytes() {
    // IPv4 TCP SYN 10.0.0.1:12345 -> 10.0.0.2:80, MSS 1460, SACK-permitted, timestamps, NOP,
    // window scale 7; checksums from an independent implementation: IP 0x0a74, TCP 0xf249.
    let packet: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x0a, 0x74, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, 0x30, 0x39, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00,
        0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xf2, 0x49, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
        0x02, 0x08, 0x0a, 0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];
    assert_eq!(inet_checksum(&packet[..20]), 0, "IP header checksum");
    let mut ph = packet[12..20].to_vec();
    ph.extend_from_slice(&[0, 6, 0, 40]);
    ph.extend_from_slice(&packet[20..]);
    assert_eq!(inet_checksum(&ph), 0, "the fixture's TCP checksum");

    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    f.extend_from_slice(&packet);
    let mut l = lab(1452);
    l.send(0, std::slice::from_ref(&f));
    let out = l.tx(1);
    assert_eq!(out.len(), 1);
    let mut want = f.clone();
    // MSS 1460 (0x05b4) -> 1452 (0x05ac): the sum drops by 8, its complement rises by 8.
    want[14 + 36..14 + 38].copy_from_slice(&[0xf2, 0x51]);
    want[14 + 42..14 + 44].copy_from_slice(&[0x05, 0xac]);
    assert_eq!(out[0], want);
}

#[test]
fn mss_above_max_is_lowered_below_and_equal_are_left_alone() {
    let mut l = lab(1452);
    let frames = vec![
        tcp_frame(&[], SYN, &mss_opts(1460), 1),
        tcp_frame(&[], SYN, &mss_opts(1452), 2),
        tcp_frame(&[], SYN, &mss_opts(536), 3),
        tcp_frame(&[], SYN, &mss_opts(65535), 4),
    ];
    l.send(0, &frames);
    let out = l.tx(1);
    assert_eq!(out.len(), 4);
    let got: Vec<_> = out.iter().map(|f| mss_of(f)).collect();
    assert_eq!(got, [[1452], [1452], [536], [1452]]);
    assert_eq!(out[1], frames[1], "equal: unchanged");
    assert_eq!(out[2], frames[2], "below: unchanged");
    for (o, f) in out.iter().zip(&frames) {
        assert!(tcp_checksum_ok(o));
        assert_eq!(o.len(), f.len());
    }
    let s = stats(&mut l, "in");
    assert_eq!(
        (
            stat(&s, "Packets"),
            stat(&s, "SYNPkts"),
            stat(&s, "FixedPkts")
        ),
        (4, 4, 2)
    );
    assert_eq!(stat(&s, "maxMSS"), 1452);
    assert_eq!(
        stat(&s, "Octets"),
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_balanced(&l);
}

#[test]
fn syn_ack_is_rewritten_too_in_the_other_direction() {
    let mut l = lab(1400);
    let f = tcp_frame(&[], SYN_ACK, &mss_opts(8960), 77);
    l.send(1, std::slice::from_ref(&f));
    let out = l.tx(0);
    assert_eq!(out.len(), 1);
    assert_eq!(mss_of(&out[0]), [1400]);
    assert!(tcp_checksum_ok(&out[0]));
    assert_eq!(out[0][14 + 33], SYN_ACK, "flags untouched");
    let s = stats(&mut l, "out");
    assert_eq!((stat(&s, "SYNPkts"), stat(&s, "FixedPkts")), (1, 1));
    assert_eq!(stats(&mut l, "in").to_string(), "{ maxMSS=1400 }");
}

#[test]
fn tagged_frames_dot1q_and_qinq() {
    let mut l = lab(1300);
    let frames = vec![
        tcp_frame(&[DOT1Q], SYN, &mss_opts(1460), 1),
        tcp_frame(&[QINQ, DOT1Q], SYN_ACK, &mss_opts(1460), 2),
        tcp_frame(&[QINQ, DOT1Q], SYN, &mss_opts(1200), 3),
    ];
    l.send(0, &frames);
    let out = l.tx(1);
    assert_eq!(out.len(), 3);
    assert_eq!(mss_of(&out[0]), [1300]);
    assert_eq!(mss_of(&out[1]), [1300]);
    assert_eq!(out[2], frames[2]);
    for (o, f) in out.iter().zip(&frames) {
        assert!(tcp_checksum_ok(o));
        assert_eq!(o[..l3_start(f)], f[..l3_start(f)], "tags untouched");
    }
    // The MSS moved by exactly the tags' length.
    assert_eq!(&out[0][18 + 40 + 2..18 + 40 + 4], &1300u16.to_be_bytes());
    assert_eq!(&out[1][22 + 40 + 2..22 + 40 + 4], &1300u16.to_be_bytes());
    let s = stats(&mut l, "in");
    assert_eq!((stat(&s, "SYNPkts"), stat(&s, "FixedPkts")), (3, 2));
}

/// The MSS value at an odd offset straddles two 16-bit words of the checksum: the update must
/// count it byte-swapped there (ng_tcpmss's does not). Many sequence numbers spread the
/// checksum's starting value (0x0000/0xffff edges included).
#[test]
fn mss_at_odd_alignments_keeps_the_checksum_right() {
    let layouts: [(&str, Vec<u8>); 4] = [
        ("after a NOP", vec![1, 2, 4, 0x05, 0xb4, 1, 1, 0]),
        ("after window scale", vec![3, 3, 7, 2, 4, 0x23, 0x29, 0]),
        ("after timestamps", {
            let mut o = vec![1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 0xff, 0xff, 0];
            o.extend_from_slice(&[0; 4]);
            o
        }),
        (
            "two, even and odd",
            vec![2, 4, 0x40, 0x00, 1, 2, 4, 0x11, 0x11, 0, 0, 0],
        ),
    ];
    for max in [1452u16, 1453, 536, 1] {
        let mut l = lab(max);
        for (what, opts) in &layouts {
            for base in (0..4096u32).step_by(64) {
                let flags = if base % 128 == 0 { SYN } else { SYN_ACK };
                let frames: Vec<_> = (base..base + 64)
                    .map(|s| tcp_frame(&[], flags, opts, s.wrapping_mul(0x9e37_79b9)))
                    .collect();
                l.send(0, &frames);
                let out = l.tx(1);
                assert_eq!(out.len(), 64);
                for o in &out {
                    assert!(tcp_checksum_ok(o), "{what}, maxMSS {max}");
                    assert!(
                        mss_of(o).iter().all(|&m| m == max),
                        "{what}: {:?}",
                        mss_of(o)
                    );
                }
            }
        }
        let s = stats(&mut l, "in");
        let n = 4 * 4096;
        assert_eq!((stat(&s, "SYNPkts"), stat(&s, "FixedPkts")), (n, n));
    }
}

#[test]
fn whatever_is_not_an_ipv4_tcp_syn_with_options_passes_unchanged() {
    let mut l = lab(1000);
    let mut udp = tcp_frame(&[], SYN, &mss_opts(1460), 1);
    udp[14 + 9] = 17;
    let mut ipv6 = tcp_frame(&[], SYN, &mss_opts(1460), 1);
    ipv6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let mut fragment = tcp_frame(&[], SYN, &mss_opts(1460), 1);
    fragment[14 + 6..14 + 8].copy_from_slice(&[0x00, 0x10]); // offset 128 bytes
    let frames = vec![
        frame(mac(2), mac(1), 0x0806, 60, 0), // ARP
        ipv6,
        udp,
        fragment,
        tcp_frame(&[], ACK, &mss_opts(1460), 1),   // not SYN
        tcp_frame(&[], SYN, &[], 1),               // SYN without options
        tcp_frame(&[QINQ], SYN, &[1, 1, 1, 1], 1), // SYN without MSS
    ];
    l.send(0, &frames);
    assert_eq!(l.tx(1), frames);
    let s = stats(&mut l, "in");
    assert_eq!(
        (
            stat(&s, "Packets"),
            stat(&s, "SYNPkts"),
            stat(&s, "FixedPkts")
        ),
        (7, 1, 0)
    );
    assert_balanced(&l);
}

/// As ng_tcpmss: an IP or TCP header it cannot make sense of is dropped (its EINVAL), with a
/// named reason; bytes too few to judge, and options that stop making sense, pass unchanged.
#[test]
fn truncated_and_malformed_headers() {
    let good = tcp_frame(&[DOT1Q], SYN, &mss_opts(1460), 9);
    let ip = l3_start(&good);
    let tcp = ip + 20;
    let with = |i: usize, b: u8| {
        let mut f = good.clone();
        f[i] = b;
        f
    };
    let dropped_ip = [
        with(ip, 0x44),   // IHL 4
        with(ip, 0x40),   // IHL 0
        with(ip, 0x65),   // version 6 behind an IPv4 EtherType
        with(ip, 0x4f),   // IHL 15: past the packet
        with(ip + 3, 19), // total length below the header
    ];
    let dropped_tcp = [
        with(tcp + 12, 0x40), // data offset 4
        with(tcp + 12, 0x00), // data offset 0
        with(tcp + 12, 0xf0), // data offset 15: past the segment
    ];
    let cut_ip = good[..ip + 19].to_vec(); // 19 bytes of IP
    let mut cut_tcp = good.clone(); // 19 bytes of TCP, the total length saying so
    cut_tcp.truncate(tcp + 19);
    cut_tcp[ip + 3] = 39;
    let passed = [
        cut_ip,
        cut_tcp,
        good[..15].to_vec(), // the tag cut short
        tcp_frame(&[], SYN, &[1, 8, 0, 2, 4, 0x05, 0xb4, 0], 1), // option length 0
        tcp_frame(&[], SYN, &[8, 1, 2, 4, 0x05, 0xb4, 0, 0], 1), // option length 1
        tcp_frame(&[], SYN, &[1, 1, 1, 8, 10, 0, 0, 0], 1), // option past the header
        tcp_frame(&[], SYN, &[1, 1, 1, 2], 1), // kind without its length
        tcp_frame(&[], SYN, &[1, 1, 1, 1, 1, 1, 2, 4], 1), // MSS cut by the header's end
    ];
    let mut l = lab(1000);
    let mut all = vec![good.clone()];
    all.extend(dropped_ip.iter().cloned());
    all.extend(dropped_tcp.iter().cloned());
    all.extend(passed.iter().cloned());
    l.send(0, &all);
    let out = l.tx(1);
    assert_eq!(out.len(), 1 + passed.len());
    assert_eq!(mss_of(&out[0]), [1000]);
    assert!(tcp_checksum_ok(&out[0]));
    assert_eq!(&out[1..], &passed[..], "passed unchanged, in order");
    assert_eq!(
        l.graph.drops_of("tcpmss", tcpmss::reason::BAD_IP_HEADER),
        dropped_ip.len() as u64
    );
    assert_eq!(
        l.graph.drops_of("tcpmss", tcpmss::reason::BAD_TCP_HEADER),
        dropped_tcp.len() as u64
    );
    let s = stats(&mut l, "in");
    assert_eq!(
        stat(&s, "Packets"),
        all.len() as u64,
        "every frame in counts"
    );
    assert_eq!(
        stat(&s, "Octets"),
        all.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    // SYNs whose options were walked: the good one and the five with odd options.
    assert_eq!((stat(&s, "SYNPkts"), stat(&s, "FixedPkts")), (6, 1));
    assert_balanced(&l);
}

/// maxMSS 0: the fix is off, every frame passes untouched, malformed ones included (ng_tcpmss
/// sends before it looks).
#[test]
fn max_mss_zero_passes_everything_unchanged() {
    let mut l = lab(0);
    let mut bad = tcp_frame(&[], SYN, &mss_opts(1460), 1);
    bad[14] = 0x44;
    let frames = vec![tcp_frame(&[], SYN, &mss_opts(1460), 1), bad];
    l.send(0, &frames);
    assert_eq!(l.tx(1), frames);
    let s = stats(&mut l, "in");
    assert_eq!(
        s.to_string(),
        format!("{{ Octets={} Packets=2 }}", frames[0].len() * 2)
    );
}

#[test]
fn unconfigured_hooks_drop_and_a_lost_out_hook_unconfigures() {
    let mut l = lab(1000);
    l.graph.connect("p2:", "m:", "lower", "spare").unwrap();
    let f = tcp_frame(&[], SYN, &mss_opts(1460), 1);
    l.send(2, &[f.clone(), f.clone()]);
    assert_eq!((l.tx(0).len(), l.tx(1).len()), (0, 0));
    assert_eq!(l.graph.drops_of("tcpmss", tcpmss::reason::UNCONFIGURED), 2);
    assert_eq!(stats(&mut l, "spare").to_string(), "{ }", "not counted");
    // in -> spare now; spare -> in too: the same hook may be both.
    let arg = v(r#"{ inHook="spare" outHook="spare" maxMSS=1200 }"#);
    l.graph.msg("m:", "config", Some(&arg)).unwrap();
    l.send(2, std::slice::from_ref(&f));
    assert_eq!(
        mss_of(&l.tx(2)[0]),
        [1200],
        "back out of the hook it came in on"
    );
    // Losing "out" unconfigures "in" (which sent to it); "spare" still works.
    l.graph.rmhook("m:", "out").unwrap();
    l.send(0, std::slice::from_ref(&f));
    assert_eq!(l.graph.drops_of("tcpmss", tcpmss::reason::UNCONFIGURED), 3);
    let s = stats(&mut l, "in");
    assert_eq!(stat(&s, "maxMSS"), 1000, "maxMSS kept");
    assert_eq!(stat(&s, "Packets"), 0);
    l.send(2, std::slice::from_ref(&f));
    assert_eq!(l.tx(2).len(), 1);
    // A new hook in the freed slot is not anyone's outHook.
    l.graph.connect("p1:", "m:", "lower", "again").unwrap();
    l.send(0, std::slice::from_ref(&f));
    assert_eq!(l.graph.drops_of("tcpmss", tcpmss::reason::UNCONFIGURED), 4);
    assert_eq!(l.tx(1).len(), 0);
    assert_balanced(&l);
}

#[test]
fn config_errors() {
    let mut l = lab(1000);
    let err = |l: &mut Lab, cmd: &str, arg: Option<&str>| -> GraphError {
        let a = arg.map(v);
        l.graph.msg("m:", cmd, a.as_ref()).unwrap_err()
    };
    for (arg, errno) in [
        (r#"{ inHook="nope" outHook="out" maxMSS=1 }"#, Errno::ENOENT),
        (r#"{ inHook="in" outHook="nope" maxMSS=1 }"#, Errno::ENOENT),
        (r#"{ outHook="out" maxMSS=1 }"#, Errno::ENOENT),
        (r#"{ inHook="in" maxMSS=1 }"#, Errno::ENOENT),
        (
            r#"{ inHook="in" outHook="out" maxMSS=65536 }"#,
            Errno::EINVAL,
        ),
        (r#"{ inHook="in" outHook="out" maxMSS=-1 }"#, Errno::EINVAL),
        (r#"{ inHook="in" outHook="out" mss=1 }"#, Errno::EINVAL),
        (r#"{ inHook=[ 1 ] outHook="out" }"#, Errno::EINVAL),
        ("1452", Errno::EINVAL),
    ] {
        let e = err(&mut l, "config", Some(arg));
        assert_eq!(e.errno(), errno, "{arg}: {e}");
    }
    assert_eq!(err(&mut l, "config", None).errno(), Errno::EINVAL);
    assert!(matches!(
        err(&mut l, "config", Some(r#"{ inHook="in" outHook="nope" }"#)),
        GraphError::NoHook { .. }
    ));
    // A refused config changed nothing.
    assert_eq!(stat(&stats(&mut l, "in"), "maxMSS"), 1000);
    // The stats messages: a hook name is required and must exist.
    for cmd in ["getstats", "clrstats", "getclrstats"] {
        assert_eq!(err(&mut l, cmd, None).errno(), Errno::EINVAL);
        assert_eq!(err(&mut l, cmd, Some("\"nope\"")).errno(), Errno::ENOENT);
        assert_eq!(err(&mut l, cmd, Some("{ a=1 }")).errno(), Errno::EINVAL);
    }
    assert_eq!(err(&mut l, "setconfig", None).errno(), Errno::EINVAL);
    // maxMSS 65535 is the largest, bare words are hook names.
    let ok = v("{ inHook=in outHook=out maxMSS=65535 }");
    l.graph.msg("m:", "config", Some(&ok)).unwrap();
    assert_eq!(stat(&stats(&mut l, "in"), "maxMSS"), 65535);
}

#[test]
fn getstats_clrstats_getclrstats() {
    let mut l = lab(1000);
    let frames = vec![
        tcp_frame(&[], SYN, &mss_opts(1460), 1),
        tcp_frame(&[], SYN, &mss_opts(900), 2),
        tcp_frame(&[], ACK, &[], 3),
    ];
    l.send(0, &frames);
    let octets: usize = frames.iter().map(Vec::len).sum();
    let h = Value::Str("in".into());
    let s = l.graph.msg("m:", "getclrstats", Some(&h)).unwrap().unwrap();
    assert_eq!(
        s.to_string(),
        format!("{{ Octets={octets} Packets=3 maxMSS=1000 SYNPkts=2 FixedPkts=1 }}")
    );
    assert_eq!(stats(&mut l, "in").to_string(), "{ maxMSS=1000 }");
    l.send(0, &frames[..1]);
    assert_eq!(stat(&stats(&mut l, "in"), "FixedPkts"), 1);
    assert_eq!(l.graph.msg("m:", "clrstats", Some(&h)).unwrap(), None);
    assert_eq!(stats(&mut l, "in").to_string(), "{ maxMSS=1000 }");
    // clrstats keeps maxMSS in force (ng_tcpmss's zeroes it).
    l.send(0, &frames[..1]);
    assert_eq!(mss_of(&l.tx(1).pop().unwrap()), [1000]);
    // The counters are also the hooks' own counters in node stats.
    let ns = l.graph.node_stats("m:").unwrap();
    let (_, counters) = ns.hooks.iter().find(|(n, _)| n == "in").unwrap();
    assert!(counters.contains(&("FixedPkts", 1)) && counters.contains(&("SYNPkts", 1)));
}

#[test]
fn saved_config_recreates_both_directions() {
    let mut l = lab(1452);
    l.graph.connect("p2:", "m:", "lower", "idle").unwrap();
    let id = l.graph.resolve("m:").unwrap();
    let msgs: Vec<String> = (l.graph.node_config(id).msgs.iter())
        .map(|(c, a)| format!("{c} {}", a.as_ref().unwrap()))
        .collect();
    assert_eq!(
        msgs,
        [
            r#"config { inHook="in" outHook="out" maxMSS=1452 }"#,
            r#"config { inHook="out" outHook="in" maxMSS=1452 }"#,
        ]
    );
    // Replayed on a fresh node, they configure it the same way.
    let mut m = Lab::new(2);
    m.graph.mkpeer("p0:", "tcpmss", "lower", "in").unwrap();
    m.graph.name("p0:lower", "m").unwrap();
    m.graph.connect("p1:", "m:", "lower", "out").unwrap();
    for (c, a) in l.graph.node_config(id).msgs {
        m.graph.msg("m:", &c, a.as_ref()).unwrap();
    }
    m.send(1, &[tcp_frame(&[], SYN_ACK, &mss_opts(9000), 1)]);
    assert_eq!(mss_of(&m.tx(0)[0]), [1452]);
}
