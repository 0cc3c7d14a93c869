//! The `ksocket` node (ng_ksocket(4)) as a UDP/IPv4 socket, in the in-memory lab (worker 0
//! on the test's thread reads the sockets): frames tunnelled between two ksockets over
//! 127.0.0.1, datagrams to and from a plain socket, bind to port 0 and getname, getpeername,
//! the generic sockaddr form, options, hook names and their errors, the unconnected drop, and
//! the port free again once the hook is removed. As FreeBSD's tests/sys/netgraph/ksocket.c:
//! `udp_connect` and `udp_bind`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};
use xdpgraph::ctl::exec::execute;
use xdpgraph::graph::GraphError;
use xdpgraph::nodes::ksocket::reason;
use xdpgraph::testkit::{frame, mac, Lab};
use xdpgraph::value::Value;

fn v(s: &str) -> Value {
    Value::parse(s).unwrap()
}

fn msg(l: &mut Lab, path: &str, cmd: &str, arg: Option<&str>) -> Result<Option<Value>, GraphError> {
    let a = arg.map(v);
    l.graph.msg(path, cmd, a.as_ref())
}

/// `getname`/`getpeername` as text (`inet/127.0.0.1:5000`).
fn name(l: &mut Lab, path: &str, cmd: &str) -> String {
    msg(l, path, cmd, None).unwrap().unwrap().to_string()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// A ksocket on port `i`'s `lower`, bound to 127.0.0.1 (a port the system picks), named
/// `ks{i}`: its address.
fn ksocket(l: &mut Lab, i: usize) -> String {
    l.graph
        .mkpeer(&format!("p{i}:"), "ksocket", "lower", "inet/dgram/udp")
        .unwrap();
    l.graph
        .name(&format!("p{i}:lower"), &format!("ks{i}"))
        .unwrap();
    msg(l, &format!("ks{i}:"), "bind", Some("inet/127.0.0.1:0")).unwrap();
    let a = name(l, &format!("ks{i}:"), "getname");
    assert!(a.starts_with("inet/127.0.0.1:") && port_of(&a) != 0, "{a}");
    a
}

/// Polls the worker until port `i` transmitted `n` frames (2 s at most).
fn poll_tx(l: &mut Lab, i: usize, n: usize) -> Vec<Vec<u8>> {
    let until = Instant::now() + Duration::from_secs(2);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < until {
        l.worker.poll();
        got.extend(l.tx(i));
        std::thread::sleep(Duration::from_millis(1));
    }
    got
}

fn frames(n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| frame(mac(2), mac(1), 0x88b5, len, k as u8))
        .collect()
}

fn hook_counter(l: &mut Lab, node: &str, counter: &str) -> u64 {
    let st = l.graph.node_stats(node).unwrap();
    let (_, c) = &st.hooks[0];
    c.iter().find(|(k, _)| *k == counter).map_or(0, |(_, v)| *v)
}

fn drops(l: &mut Lab, node: &str, name: &str) -> u64 {
    let st = l.graph.node_stats(node).unwrap();
    st.drops
        .iter()
        .find(|d| d.0.name == name)
        .map_or(0, |d| d.1)
}

#[test]
fn two_ksockets_tunnel_frames_between_two_ports_both_ways() {
    let mut l = Lab::new(2);
    let a0 = ksocket(&mut l, 0);
    let a1 = ksocket(&mut l, 1);
    msg(&mut l, "ks0:", "connect", Some(&a1)).unwrap();
    msg(&mut l, "ks1:", "connect", Some(&a0)).unwrap();
    assert_eq!(name(&mut l, "ks0:", "getpeername"), a1);
    let f = frames(40, 300);
    l.send(0, &f);
    assert_eq!(poll_tx(&mut l, 1, 40), f, "frames from p0 out of p1");
    let g = frames(10, 1514);
    l.send(1, &g);
    assert_eq!(poll_tx(&mut l, 0, 10), g, "frames from p1 out of p0");
    assert_eq!(hook_counter(&mut l, "ks0:", "sent"), 40);
    assert_eq!(hook_counter(&mut l, "ks1:", "received"), 40);
    assert_eq!(hook_counter(&mut l, "ks0:", "received"), 10);
    let (inn, out) = l.balance();
    assert_eq!(inn, out, "frames in = out + drops");
}

#[test]
fn udp_connect_datagrams_reach_a_plain_socket_from_the_bound_address() {
    // ksocket.c udp_connect: the node connects to a socket of the test's
    let mut l = Lab::new(1);
    let us = UdpSocket::bind("127.0.0.1:0").unwrap();
    us.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let ours = us.local_addr().unwrap();
    let a = ksocket(&mut l, 0);
    msg(&mut l, "ks0:", "connect", Some(&format!("inet/{ours}"))).unwrap();
    let f = frames(3, 100);
    l.send(0, &f);
    let mut buf = [0u8; 2048];
    for want in &f {
        let (n, from) = us.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &want[..], "the datagram is the whole frame");
        assert_eq!(format!("inet/{from}"), a, "from the bound address");
    }
}

#[test]
fn udp_bind_datagrams_from_a_plain_socket_come_out_of_the_hook() {
    // ksocket.c udp_bind: bind, getname, a socket of the test's connects to it and sends
    let mut l = Lab::new(1);
    let a = ksocket(&mut l, 0);
    let us = UdpSocket::bind("127.0.0.1:0").unwrap();
    us.connect(format!("127.0.0.1:{}", port_of(&a))).unwrap();
    let f = frames(5, 200);
    for x in &f {
        us.send(x).unwrap();
    }
    assert_eq!(poll_tx(&mut l, 0, 5), f);
    // a jumbo datagram comes out whole (a chained frame)
    let big = frame(mac(2), mac(1), 0x88b5, 9000, 7);
    us.send(&big).unwrap();
    assert_eq!(poll_tx(&mut l, 0, 1), vec![big]);
    let (inn, out) = l.balance();
    assert_eq!(inn, out);
}

#[test]
fn unconnected_frames_are_dropped_and_counted_and_getpeername_says_enotconn() {
    let mut l = Lab::new(1);
    ksocket(&mut l, 0);
    let e = msg(&mut l, "ks0:", "getpeername", None).unwrap_err();
    assert_eq!(e.errno().name(), "ENOTCONN", "{e}");
    l.send(0, &frames(7, 100));
    assert_eq!(drops(&mut l, "ks0:", "not_connected_peer"), 7);
    let name = xdpgraph::nodes::ksocket::TYPE
        .reason(reason::NOT_CONNECTED_PEER)
        .unwrap()
        .name;
    assert_eq!(name, "not_connected_peer");
    let (inn, out) = l.balance();
    assert_eq!(inn, out);
}

#[test]
fn hook_names_say_which_family_type_and_protocol_are_refused() {
    let mut l = Lab::new(1);
    let g = &mut l.graph;
    g.mkpeer(".", "ksocket", "a", "2/2/17").unwrap();
    let e = g
        .mkpeer(".", "ksocket", "b", "inet6/dgram/udp")
        .unwrap_err();
    assert_eq!(e.errno().name(), "EAFNOSUPPORT", "{e}");
    assert!(e.to_string().contains("inet6"), "{e}");
    let e = g
        .mkpeer(".", "ksocket", "b", "inet/stream/tcp")
        .unwrap_err();
    assert_eq!(e.errno().name(), "EPROTONOSUPPORT", "{e}");
    assert!(e.to_string().contains("stream/tcp"), "{e}");
    let e = g.mkpeer(".", "ksocket", "b", "udp").unwrap_err();
    assert_eq!(e.errno().name(), "EINVAL", "{e}");
    // a second hook
    g.mkpeer(".", "hole", "h", "x").unwrap();
    let e = g.connect(".", ".a", "h2", "inet/dgram/udp").unwrap_err();
    assert_eq!(e.errno().name(), "EISCONN", "{e}");
    // a listen is for stream sockets
    let e = g.msg(".:a", "listen", Some(&Value::Int(5))).unwrap_err();
    assert_eq!(e.errno().name(), "EOPNOTSUPP", "{e}");
}

#[test]
fn generic_sockaddr_options_and_the_port_freed_with_the_hook() {
    let mut l = Lab::new(1);
    l.graph
        .mkpeer(".", "ksocket", "ks", "inet/dgram/udp")
        .unwrap();
    // netgraph's generic sockaddr: port 0, 127.0.0.1
    let gen = "{ family=2 len=16 data=[ 0 0 127 0 0 1 0 0 0 0 0 0 0 0 ] }";
    msg(&mut l, ".:ks", "bind", Some(gen)).unwrap();
    let a = name(&mut l, ".:ks", "getname");
    let port = port_of(&a);
    assert!(
        UdpSocket::bind(format!("127.0.0.1:{port}")).is_err(),
        "{port} not bound"
    );
    // SO_RCVBUF (SOL_SOCKET 1, name 8): 65536 as 4 little-endian bytes; Linux doubles it
    msg(
        &mut l,
        ".:ks",
        "setopt",
        Some("{ level=1 name=8 value=[ 0 0 1 0 ] }"),
    )
    .unwrap();
    let o = msg(&mut l, ".:ks", "getopt", Some("{ level=1 name=8 }"))
        .unwrap()
        .unwrap();
    let Some(Value::Array(b)) = o.field("value") else {
        panic!("{o}")
    };
    let b: Vec<u8> = b.iter().map(|x| x.as_i128().unwrap() as u8).collect();
    assert_eq!(
        u32::from_le_bytes(b[..4].try_into().unwrap()),
        131072,
        "{o}"
    );
    // FreeBSD's numbers (SOL_SOCKET 0xffff, SO_SNDBUF 0x1001) and the man page's `data=`
    msg(
        &mut l,
        ".:ks",
        "setopt",
        Some("{ level=0xffff name=0x1001 data=[ 0 0 1 0 ] }"),
    )
    .unwrap();
    let o = msg(&mut l, ".:ks", "getopt", Some("{ level=1 name=7 }"))
        .unwrap()
        .unwrap();
    let Some(Value::Array(b)) = o.field("value") else {
        panic!("{o}")
    };
    assert_eq!(b.len(), 4, "{o}");
    assert_eq!(b[2].as_i128(), Some(2), "SO_SNDBUF 65536 doubled: {o}");
    // the text interface, as ngctl writes it
    let r = execute(&mut l.graph, "msg .ks getname");
    assert!(r.ok, "{:?}", r.error);
    assert!(
        r.text.contains(&a) && !r.text.contains(&format!("\"{a}\"")),
        "{}",
        r.text
    );
    let r = execute(&mut l.graph, "msg .:ks bind inet6/::1");
    assert_eq!(r.errno, Some("EAFNOSUPPORT"), "{:?}", r.error);
    // removing the hook closes the socket and the node: the port is free again
    l.graph.rmhook(".", "ks").unwrap();
    assert!(
        !l.graph.list().iter().any(|n| n.ty == "ksocket"),
        "the node outlived its hook"
    );
    UdpSocket::bind(format!("127.0.0.1:{port}")).expect("the port is free after rmhook");
}

#[test]
fn mkpeer_without_a_path_and_the_man_pages_forms() {
    // `mkpeer ksocket myhook inet/dgram/udp` (path left out: the current node)
    let mut l = Lab::new(0);
    let r = execute(&mut l.graph, "mkpeer ksocket myhook inet/dgram/udp");
    assert!(r.ok, "{:?}", r.error);
    let r = execute(&mut l.graph, "msg .:myhook bind inet/127.0.0.1");
    assert!(r.ok, "{:?}", r.error);
    let r = execute(&mut l.graph, "msg myhook getname");
    assert!(r.ok && r.text.contains("inet/127.0.0.1:"), "{}", r.text);
    // an address in use: the kernel's EADDRINUSE
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = execute(&mut l.graph, "mkpeer ksocket k2 2/2/17");
    assert!(r.ok, "{:?}", r.error);
    let r = execute(
        &mut l.graph,
        &format!("msg .k2 bind inet/{}", taken.local_addr().unwrap()),
    );
    assert_eq!(r.errno, Some("EADDRINUSE"), "{:?}", r.error);
}
