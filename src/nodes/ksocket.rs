//! `ksocket`: a UDP/IPv4 socket as a node (ng_ksocket), so a graph can tunnel frames over UDP.
//!
//! `mkpeer ... ksocket HOOK inet/dgram/udp` (also `2/2/17`; each part a name or a number).
//! Exactly one hook, named family/type/protocol; we do UDP over IPv4 only: another family is
//! refused with EAFNOSUPPORT, another type or protocol with EPROTONOSUPPORT (a second hook:
//! EISCONN; a name that is not three parts: EINVAL). The socket is opened with the node;
//! removing the hook closes the socket and the node. A frame written to the hook is one
//! datagram to the connected peer, the whole frame its payload (one send per frame on the
//! worker carrying it: the socket is this node's output device; not connected: dropped,
//! `not_connected_peer`, ENOTCONN); a datagram received is one frame out of the hook (read by
//! the input worker; up to 64 KiB, chained over several chunks when longer than one).
//!
//! Messages: `bind inet/A.B.C.D:P`, `connect inet/A.B.C.D:P`, `getname`, `getpeername`
//! (replies `inet/A.B.C.D:P`, the `:P` left out when 0; netgraph's generic form
//! `{ family=2 len=16 data=[ port-hi port-lo a b c d ... ] }` is accepted too), `setopt` /
//! `getopt { level=L name=N value=[ bytes ] }` (Linux numbers: SOL_SOCKET is 1, SO_RCVBUF 8;
//! FreeBSD's SOL_SOCKET 0xffff with its SO_* numbers is translated; `data=` is taken for
//! `value=`, as the man page's example writes it).
//! `listen` and `accept` are stream-socket messages: EOPNOTSUPP.
//! Hook counters: `sent`, `received`, `errors` (sends the socket refused), `truncated`
//! (datagrams longer than the longest chained frame the pool makes, cut to it). Drops:
//! `not_connected_peer`, `send_error`, `rx_no_buffers`, `empty_datagram`.

use crate::buf::io::{read_burst, write_frame};
use crate::buf::Burst;
use crate::errno::Errno;
use crate::graph::{
    hook_stat, BurstBox, Create, Cx, DropReason, GraphError, HookCx, HookError, HookSpec, MsgCx,
    MsgSpec, NodeType, Slot, TypeInfo,
};
use crate::sys::udp::Udp;
use crate::value::Value;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

crate::drop_reasons! {
    pub mod reason {
        /// A frame written while the socket has no peer (ENOTCONN).
        NOT_CONNECTED_PEER = "not_connected_peer": "the socket is not connected: no peer to send the datagram to (ENOTCONN)",
        /// The socket refused a datagram for another reason.
        SEND_ERROR = "send_error": "the socket refused the datagram (send failed)",
        /// A datagram that did not fit the pool.
        RX_NO_BUFFERS = "rx_no_buffers": "a datagram received did not fit the pool",
        /// A datagram of no bytes is no frame.
        EMPTY_DATAGRAM = "empty_datagram": "a datagram of zero bytes was received",
    }
}

const HOOK: Slot = 0;
const SENT: usize = hook_stat::GENERIC;
const RECEIVED: usize = hook_stat::GENERIC + 1;
const ERRORS: usize = hook_stat::GENERIC + 2;
const TRUNCATED: usize = hook_stat::GENERIC + 3;
/// The longest datagram read (UDP's limit).
const MAX_DATAGRAM: usize = 65535;

const ADDR: &str = "inet/A.B.C.D:P";
const OPT: &str = "{ level=L name=N value=[ ... ] }";

pub static TYPE: TypeInfo = TypeInfo {
    name: "ksocket",
    summary: "a UDP/IPv4 socket as a node (ng_ksocket)",
    hooks: "one, named family/type/protocol: inet/dgram/udp (or 2/2/17). Frames written to it \
            are sent as datagrams to the connected peer; datagrams received come out of it",
    messages: &[
        MsgSpec {
            name: "bind",
            args: ADDR,
            help: "bind the socket (port 0: one the system chooses; getname tells)",
        },
        MsgSpec {
            name: "connect",
            args: ADDR,
            help: "set the peer datagrams go to (and the only one they are read from)",
        },
        MsgSpec {
            name: "getname",
            args: "",
            help: "the local address, inet/A.B.C.D:P",
        },
        MsgSpec {
            name: "getpeername",
            args: "",
            help: "the peer's address (ENOTCONN when not connected)",
        },
        MsgSpec {
            name: "setopt",
            args: OPT,
            help: "setsockopt(2) with Linux numbers; value is the option's bytes",
        },
        MsgSpec {
            name: "getopt",
            args: "{ level=L name=N }",
            help: "getsockopt(2): { level name value=[ ... ] }",
        },
        MsgSpec {
            name: "listen",
            args: "<backlog>",
            help: "stream sockets only: EOPNOTSUPP here",
        },
        MsgSpec {
            name: "accept",
            args: "",
            help: "stream sockets only: EOPNOTSUPP here",
        },
    ],
    hook_counters: &["sent", "received", "errors", "truncated"],
    drop_reasons: reason::ALL,
    persistent: false,
    splice_on_shutdown: None,
    create: Create::Open(|_| Ok(Box::new(Ksocket::open()?))),
};

pub struct Ksocket {
    sock: Udp,
    gone: AtomicBool,
}

/// The parts of a hook name: (family, type, protocol), each a name or a number.
fn parse_hook(name: &str) -> Result<(), HookError> {
    let parts: Vec<&str> = name.split('/').collect();
    let &[fam, ty, proto] = parts.as_slice() else {
        return Err("a ksocket hook is named family/type/protocol, e.g. inet/dgram/udp".into());
    };
    let num = |s: &str| s.parse::<i64>().ok();
    let family = match fam {
        "inet" => 2,
        "inet6" => 10,
        "local" | "unix" => 1,
        "routing" => 16,
        _ => num(fam).ok_or_else(|| HookError::from(format!("unknown family \"{fam}\"")))?,
    };
    if family != 2 {
        let why = format!("family {fam}: only inet (2) is supported");
        return Err(HookError::Errno(Errno::EAFNOSUPPORT, why.into()));
    }
    let ty_n = match ty {
        "dgram" => 2,
        "stream" => 1,
        "raw" => 3,
        "rdm" => 4,
        "seqpacket" => 5,
        _ => num(ty).ok_or_else(|| HookError::from(format!("unknown type \"{ty}\"")))?,
    };
    let proto_n = match proto {
        "udp" => 17,
        "tcp" => 6,
        "ip" => 0,
        "icmp" => 1,
        "divert" => 258,
        _ => num(proto).ok_or_else(|| HookError::from(format!("unknown protocol \"{proto}\"")))?,
    };
    if ty_n != 2 || !(proto_n == 17 || proto_n == 0) {
        let why = format!("{ty}/{proto}: only dgram/udp (2/17) is supported");
        return Err(HookError::Errno(Errno::EPROTONOSUPPORT, why.into()));
    }
    Ok(())
}

/// FreeBSD's SOL_SOCKET (0xffff, never a Linux level) and its SO_* numbers, as the man
/// pages' examples write them, in Linux numbers; anything else is taken as Linux numbers.
fn freebsd_sockopt(level: i32, name: i32) -> (i32, i32) {
    const FREEBSD_SOL_SOCKET: i32 = 0xffff;
    if level != FREEBSD_SOL_SOCKET {
        return (level, name);
    }
    let linux = match name {
        0x0004 => libc::SO_REUSEADDR,
        0x0008 => libc::SO_KEEPALIVE,
        0x0010 => libc::SO_DONTROUTE,
        0x0020 => libc::SO_BROADCAST,
        0x0080 => libc::SO_LINGER,
        0x0200 => libc::SO_REUSEPORT,
        0x1001 => libc::SO_SNDBUF,
        0x1002 => libc::SO_RCVBUF,
        0x1003 => libc::SO_SNDLOWAT,
        0x1004 => libc::SO_RCVLOWAT,
        0x1007 => libc::SO_ERROR,
        0x1008 => libc::SO_TYPE,
        n => n,
    };
    (libc::SOL_SOCKET, linux)
}

/// `inet/A.B.C.D[:P]`, or netgraph's generic `{ family=2 len=16 data=[ ... ] }`.
fn parse_addr(v: &Value) -> Result<SocketAddrV4, (Errno, String)> {
    let inval = |w: String| (Errno::EINVAL, w);
    if let Value::Struct(_) = v {
        v.check_fields(&["family", "len", "data"])
            .map_err(|e| inval(e.0))?;
        let fam = v.field("family").and_then(Value::as_i128).unwrap_or(0);
        if fam != 2 {
            return Err((Errno::EAFNOSUPPORT, format!("family {fam}: only 2 (inet)")));
        }
        let mut b = [0u8; 6];
        if let Some(Value::Array(d)) = v.field("data") {
            for (o, x) in b.iter_mut().zip(d) {
                *o = x.int_in("data", 0, 255).map_err(|e| inval(e.0))? as u8;
            }
        }
        let ip = Ipv4Addr::new(b[2], b[3], b[4], b[5]);
        return Ok(SocketAddrV4::new(ip, u16::from_be_bytes([b[0], b[1]])));
    }
    let s = v
        .as_str()
        .ok_or_else(|| inval(format!("expected {ADDR}, got {v}")))?;
    let Some((fam, rest)) = s.split_once('/') else {
        return Err(inval(format!("expected {ADDR}, got {s}")));
    };
    if fam != "inet" {
        return Err((Errno::EAFNOSUPPORT, format!("family {fam}: only inet")));
    }
    let (ip, port) = match rest.split_once(':') {
        Some((ip, p)) => (
            ip,
            p.parse::<u16>()
                .map_err(|_| inval(format!("bad port {p}")))?,
        ),
        None => (rest, 0),
    };
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| inval(format!("bad IPv4 address {ip}")))?;
    Ok(SocketAddrV4::new(ip, port))
}

/// `inet/A.B.C.D:P`, the port left out when 0 (as ng_ksocket writes it).
fn show_addr(a: SocketAddrV4) -> Value {
    Value::Word(match a.port() {
        0 => format!("inet/{}", a.ip()),
        p => format!("inet/{}:{p}", a.ip()),
    })
}

fn os_err(cx: &MsgCx<'_>, cmd: &str, e: std::io::Error) -> GraphError {
    GraphError::Errno {
        node: cx.node().to_string(),
        cmd: cmd.to_string(),
        errno: Errno::of_io(&e),
        why: e.to_string(),
    }
}

impl Ksocket {
    pub fn open() -> Result<Ksocket, GraphError> {
        let sock = Udp::open().map_err(|e| GraphError::Errno {
            node: "ksocket".into(),
            cmd: "mkpeer".into(),
            errno: Errno::of_io(&e),
            why: format!("cannot open a UDP socket: {e}"),
        })?;
        Ok(Ksocket {
            sock,
            gone: AtomicBool::new(false),
        })
    }

    fn addr_msg(
        &self,
        cx: &MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let a = parse_addr(cx.need(cmd, arg)?).map_err(|(errno, why)| GraphError::Errno {
            node: cx.node().to_string(),
            cmd: cmd.to_string(),
            errno,
            why,
        })?;
        let r = if cmd == "bind" {
            self.sock.bind(a)
        } else {
            self.sock.connect(a)
        };
        r.map_err(|e| os_err(cx, cmd, e))?;
        Ok(None)
    }

    fn opt_msg(
        &self,
        cx: &MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let v = cx.need(cmd, arg)?;
        v.check_fields(&["level", "name", "value", "data"])
            .map_err(|e| cx.bad(cmd, e.0))?;
        let int = |f: &str| -> Result<i32, GraphError> {
            let x = v
                .field(f)
                .map_or(Ok(0), |x| x.int_in(f, -1, i32::MAX as i128));
            x.map(|x| x as i32).map_err(|e| cx.bad(cmd, e.0))
        };
        let (level, name) = freebsd_sockopt(int("level")?, int("name")?);
        if cmd == "getopt" {
            let b = self
                .sock
                .getopt(level, name)
                .map_err(|e| os_err(cx, cmd, e))?;
            let bytes = b.iter().map(|&x| Value::Uint(x as u64)).collect();
            return Ok(Some(Value::Struct(vec![
                ("level".into(), Value::Int(level as i64)),
                ("name".into(), Value::Int(name as i64)),
                ("value".into(), Value::Array(bytes)),
            ])));
        }
        let mut bytes = Vec::new();
        // `data=` as the man page's example writes it, `value=` as the parse type names it
        if let Some(Value::Array(a)) = v.field("value").or_else(|| v.field("data")) {
            for x in a {
                bytes.push(x.int_in("value", 0, 255).map_err(|e| cx.bad(cmd, e.0))? as u8);
            }
        }
        self.sock
            .setopt(level, name, &bytes)
            .map_err(|e| os_err(cx, cmd, e))?;
        Ok(None)
    }

    fn send_burst(&self, cx: &mut Cx<'_>, frames: &mut BurstBox) {
        let (mut sent, mut errors) = (0u64, 0u64);
        for mut f in frames.drain() {
            if let Some(tci) = f.oob_tag() {
                f.set_oob_tag(None);
                let tpid = crate::wire::EtherType::VLAN;
                if cx.pool().insert_vlan_tag(&mut f, tpid, tci).is_err() {
                    cx.drop_frame(f, DropReason::NoBufs);
                    continue;
                }
            }
            match write_frame(cx.pool(), &f, |iov| self.sock.send_vectored(iov)) {
                Ok(()) => {
                    cx.pool().free(f);
                    sent += 1;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::EDESTADDRREQ)) => {
                    cx.drop_frame(f, reason::NOT_CONNECTED_PEER)
                }
                Err(_) => {
                    errors += 1;
                    cx.drop_frame(f, reason::SEND_ERROR);
                }
            }
        }
        if let Some(h) = cx.hook(HOOK) {
            cx.count(h, SENT, sent);
            cx.count(h, ERRORS, errors);
        }
        cx.delivered(sent);
    }
}

impl NodeType for Ksocket {
    fn new_hook(&self, name: &str, cx: &HookCx<'_>) -> Result<HookSpec, HookError> {
        if cx.slot_used(HOOK) {
            let why = "a ksocket node has one hook, and it is connected";
            return Err(HookError::Errno(Errno::EISCONN, why.into()));
        }
        parse_hook(name)?;
        Ok(HookSpec { slot: HOOK, tag: 0 })
    }

    fn rcv(&self, cx: &mut Cx<'_>, _slot: Slot, frames: &mut BurstBox) {
        if self.gone.load(Relaxed) {
            return cx.drop_all(frames, DropReason::NodeGone);
        }
        self.send_burst(cx, frames);
    }

    fn input_fd(&self) -> Option<RawFd> {
        Some(self.sock.fd())
    }

    fn input(&self, cx: &mut Cx<'_>) -> usize {
        let mut b = Burst::new();
        // a datagram longer than the longest chain the pool makes is cut (counted)
        let most = cx.pool().max_frame() * (crate::frame::MAX_SEGMENTS - 1);
        let st = read_burst(cx.pool(), &mut b, MAX_DATAGRAM.min(most), |iov| {
            self.sock.recv_vectored(iov)
        });
        if let Some(h) = cx.hook(HOOK) {
            cx.count(h, RECEIVED, st.frames as u64);
            cx.count(h, TRUNCATED, st.truncated as u64);
        }
        cx.lost(reason::RX_NO_BUFFERS, st.no_buffers as u64);
        cx.lost(reason::EMPTY_DATAGRAM, st.empty as u64);
        for f in b.drain() {
            cx.send(HOOK, f);
        }
        st.reads()
    }

    /// The socket closes when the last reference to it goes: the input worker waiting in
    /// poll(2) holds one for at most 1 ms. Waiting 2 ms here lets `shutdown` (or the `rmhook`
    /// that removes the node) return with the port free for the next bind.
    fn shutdown(&self) {
        self.gone.store(true, Relaxed);
        if let Err(e) = self.sock.retire() {
            tracing::warn!("ksocket: cannot close the socket: {e}");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }

    fn msg(
        &self,
        cx: &mut MsgCx<'_>,
        cmd: &str,
        arg: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        match cmd {
            "bind" | "connect" => self.addr_msg(cx, cmd, arg),
            "getname" | "getpeername" => {
                cx.none(cmd, arg)?;
                let a = if cmd == "getname" {
                    self.sock.local()
                } else {
                    self.sock.peer()
                };
                Ok(Some(show_addr(a.map_err(|e| os_err(cx, cmd, e))?)))
            }
            "setopt" | "getopt" => self.opt_msg(cx, cmd, arg),
            "listen" | "accept" => Err(GraphError::NotSupported {
                node: cx.node().to_string(),
                cmd: cmd.to_string(),
                why: "only datagram (UDP) sockets are supported".into(),
            }),
            _ => Err(cx.unknown(cmd)),
        }
    }

    /// For `ctl save`: the bound address (when bound to a port) and the peer.
    fn config_msgs(&self, _cx: &MsgCx<'_>) -> Vec<(String, Option<Value>)> {
        let mut v = Vec::new();
        if let Some(a) = self.sock.local().ok().filter(|a| a.port() != 0) {
            v.push(("bind".into(), Some(show_addr(a))));
        }
        if let Ok(p) = self.sock.peer() {
            v.push(("connect".into(), Some(show_addr(p))));
        }
        v
    }

    fn spare_hook(&self, used: &dyn Fn(&str) -> bool) -> Option<String> {
        (!used("inet/dgram/udp")).then(|| "inet/dgram/udp".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names() {
        assert!(parse_hook("inet/dgram/udp").is_ok());
        assert!(parse_hook("2/2/17").is_ok());
        let e = parse_hook("inet6/dgram/udp").unwrap_err();
        assert_eq!(e.errno(), Errno::EAFNOSUPPORT);
        let e = parse_hook("inet/stream/tcp").unwrap_err();
        assert_eq!(e.errno(), Errno::EPROTONOSUPPORT);
        assert_eq!(parse_hook("foo").unwrap_err().errno(), Errno::EINVAL);
    }

    #[test]
    fn addresses() {
        let a = parse_addr(&Value::parse("inet/127.0.0.1:5000").unwrap()).unwrap();
        assert_eq!(a, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(show_addr(a).to_string(), "inet/127.0.0.1:5000");
        let z = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 0);
        assert_eq!(show_addr(z).to_string(), "inet/10.0.0.1");
        let g = "{ family=2 len=16 data=[ 0x13 0x88 127 0 0 1 0 0 0 0 0 0 0 0 ] }";
        let b = parse_addr(&Value::parse(g).unwrap()).unwrap();
        assert_eq!(b, a);
        let e = parse_addr(&Value::parse("inet6/::1").unwrap()).unwrap_err();
        assert_eq!(e.0, Errno::EAFNOSUPPORT);
    }
}
