//! Whether XDP frames redirected into a veth can be delivered, read from outside: the driver
//! (ethtool), the peer and its namespace (rtnetlink), and the peer's XDP, GRO and up state
//! (rtnetlink and ethtool inside the peer's namespace, on a short-lived thread).
//!
//! # The kernel's condition (drivers/net/veth.c)
//!
//! A frame redirected into veth X goes through X's `ndo_xdp_xmit`, `veth_xdp_xmit()`, which
//! puts it on a receive queue of X's **peer** P and drops it when that queue has no NAPI:
//!
//! ```c
//! rcv = rcu_dereference(priv->peer);                     /* P */
//! rq = &rcv_priv->rq[veth_select_rxq(rcv)];
//! /* The napi pointer is set if NAPI is enabled, which ensures that
//!  * xdp_ring is initialized on receive side and the peer device is up. */
//! if (!rcu_access_pointer(rq->napi))
//!         goto out;                                      /* ret = -ENXIO: all n dropped */
//! ```
//!
//! `rq->napi` is set (for every real RX queue of P) only by `__veth_napi_enable_range()` and
//! `veth_enable_xdp()`, and cleared by `veth_napi_del_range()`. Their callers, read in a
//! 6.12 tree (the 6.16 backpressure patches touch `veth_xmit`/`veth_xdp_rcv` only, not
//! these; `tests/veth_napi.rs` checks the rule end to end on the running kernel):
//!
//! * `veth_open(P)`: `if (priv->_xdp_prog) veth_enable_xdp(dev); else if
//!   (veth_gro_requested(dev)) veth_napi_enable(dev);` and `veth_close(P)` deletes the NAPI:
//!   nothing while P is down.
//! * `veth_set_features(P)`: `if (!(changed & NETIF_F_GRO) || !(dev->flags & IFF_UP) ||
//!   priv->_xdp_prog) return 0;` then enables NAPI when GRO turns on, deletes it when GRO
//!   turns off (so `ethtool -K P gro on` works at once on an up P, and at the next open on
//!   a down one).
//! * `veth_xdp_set(P)` (native XDP only: `ndo_bpf`): `if (dev->flags & IFF_UP)
//!   veth_enable_xdp(dev);`; on removal `veth_disable_xdp()` keeps NAPI only when
//!   `netif_running(dev) && veth_gro_requested(dev)`.
//! * `veth_gro_requested(dev)` is `dev->wanted_features & NETIF_F_GRO`: the *requested* GRO
//!   bit (ETHTOOL_GFEATURES `requested`), not the active one.
//!
//! So frames redirected into X are delivered iff **P is up (IFF_UP) and (P has a native /
//! driver-mode XDP program, or P's requested features include GRO)**. What this implies:
//! * A generic (skb-mode, `xdpgeneric`) program on P does not count: it is installed by the
//!   core (`generic_xdp_install`), never reaches veth's `ndo_bpf`, and leaves `_xdp_prog`
//!   NULL. Only IFLA_XDP_ATTACHED = DRV, or a non-zero IFLA_XDP_DRV_PROG_ID, counts here.
//! * Attaching XDP no longer turns GRO on (a ~6.5 tree still did, in `veth_enable_xdp` and
//!   `veth_fix_features`; the 6.12 tree does not; 6.18 shows GRO off on a peer with native
//!   XDP): `ethtool -k P` can say GRO off while NAPI runs. Both must be checked.
//! * Still dropped even with NAPI on: frames longer than P's MTU + hard header + VLAN_HLEN,
//!   and frames that find P's 256-slot ring full. Neither is checked here.

use std::collections::HashSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Whether XDP frames redirected into `ifname` can be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectTarget {
    /// Not a veth: the driver decides (treated as able).
    NotVeth,
    /// A veth whose peer runs NAPI (native XDP program attached, or GRO requested, and up).
    PeerNapi { peer: String },
    /// A veth whose peer has neither: every redirected frame would be dropped. `hint` is the
    /// command that fixes it, e.g. "ip netns exec NS ethtool -K eth0 gro on".
    PeerWithoutNapi { peer: String, hint: String },
    /// Could not tell (why).
    Unknown(String),
}

impl RedirectTarget {
    /// Some(true) when redirected frames are delivered (or the driver decides), Some(false)
    /// when the kernel drops them all, None when unknown.
    pub fn deliverable(&self) -> Option<bool> {
        match self {
            RedirectTarget::NotVeth | RedirectTarget::PeerNapi { .. } => Some(true),
            RedirectTarget::PeerWithoutNapi { .. } => Some(false),
            RedirectTarget::Unknown(_) => None,
        }
    }
}

/// Why [`probe`] could not tell.
#[derive(Debug, thiserror::Error)]
pub enum VethError {
    #[error("bad interface name {0:?}")]
    BadName(String),
    #[error("{what}: {source}")]
    Os { what: String, source: io::Error },
    #[error("{0}: malformed or missing netlink reply")]
    Malformed(String),
    #[error("{0} is a veth without a peer (IFLA_LINK absent or 0)")]
    NoPeer(String),
    #[error(
        "no network namespace file has nsid {0} (looked in /run/netns, /var/run/netns, \
         /proc/*/ns/net)"
    )]
    NamespaceNotFound(i32),
    #[error("peer ifindex {index} in its namespace links to ifindex {back:?}, not to {ours}")]
    PeerMismatch {
        index: u32,
        back: Option<u32>,
        ours: u32,
    },
    #[error("ethtool on {0} lists no rx-gro feature")]
    NoGroFeature(String),
    #[error("the namespace thread panicked")]
    ThreadPanicked,
}

fn os(what: impl Into<String>) -> impl FnOnce(io::Error) -> VethError {
    let what = what.into();
    move |source| VethError::Os { what, source }
}

/// Whether XDP frames redirected into `ifname` (of the calling thread's namespace) can be
/// delivered; see the module documentation for the kernel's rule. Never panics: anything
/// that fails is [`RedirectTarget::Unknown`] with the reason.
pub fn redirect_target(ifname: &str) -> RedirectTarget {
    match probe(ifname) {
        Ok(t) => t,
        Err(e) => RedirectTarget::Unknown(format!("{ifname}: {e}")),
    }
}

/// How many receive queues interface `ifname` of this thread's network namespace uses, as
/// ETHTOOL_GCHANNELS says (`rx_count + combined_count`: the active ones, what AF_XDP can bind
/// to). Unlike /sys/class/net, which shows the namespace /sys was mounted in, this is right in a
/// thread that entered another namespace. `Ok(None)`: the driver does not report channels.
pub fn active_rx_queues(ifname: &str) -> Result<Option<u32>, VethError> {
    let sock = inet_socket()?;
    // struct ethtool_channels { u32 cmd; u32 max_rx, max_tx, max_other, max_combined;
    //                           u32 rx_count, tx_count, other_count, combined_count; }
    let mut ch = [0u8; 36];
    ch[0..4].copy_from_slice(&ETHTOOL_GCHANNELS.to_ne_bytes());
    match ethtool(&sock, ifname, &mut ch) {
        Ok(()) => {
            let n = u32_at(&ch, 20).unwrap_or(0) + u32_at(&ch, 32).unwrap_or(0);
            Ok((n > 0).then_some(n))
        }
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => Err(os(format!("ETHTOOL_GCHANNELS {ifname}"))(e)),
    }
}

/// [`redirect_target`] with the typed error.
pub fn probe(ifname: &str) -> Result<RedirectTarget, VethError> {
    let sock = inet_socket()?;
    if driver(&sock, ifname)?.as_deref() != Some("veth") {
        return Ok(RedirectTarget::NotVeth);
    }
    let mut nl = Netlink::open()?;
    let link = get_link(&mut nl, LinkKey::Name(ifname))?;
    let peer_index = link
        .peer_index
        .filter(|i| *i != 0)
        .ok_or_else(|| VethError::NoPeer(ifname.to_string()))?;
    let (ns_fd, ns_label) = match link.peer_nsid {
        None => (None, None),
        Some(nsid) => {
            let ns = find_netns(&mut nl, nsid)?;
            (Some(ns.fd), Some(ns.label))
        }
    };
    let peer = peer_state_in(ns_fd, peer_index)?;
    if peer.peer_index != Some(link.index) {
        return Err(VethError::PeerMismatch {
            index: peer_index,
            back: peer.peer_index,
            ours: link.index,
        });
    }
    Ok(classify(peer, ns_label.as_ref()))
}

/// What [`probe`] learns about the peer, in its namespace.
#[derive(Debug, Clone)]
struct PeerState {
    name: String,
    /// The peer's own IFLA_LINK: our interface's index (a sanity check of the namespace).
    peer_index: Option<u32>,
    up: bool,
    xdp_native: bool,
    gro_requested: bool,
}

/// How the peer's namespace was found, for the hint's command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NsLabel {
    /// /run/netns/NAME: `ip netns exec NAME ...`
    Named(String),
    /// /proc/PID/ns/net: `nsenter --net=/proc/PID/ns/net ...`
    Pid(u32),
}

fn classify(p: PeerState, ns: Option<&NsLabel>) -> RedirectTarget {
    if p.up && (p.xdp_native || p.gro_requested) {
        return RedirectTarget::PeerNapi { peer: p.name };
    }
    let mut fixes = Vec::new();
    if !p.xdp_native && !p.gro_requested {
        let exec = match ns {
            None => String::new(),
            Some(NsLabel::Named(n)) => format!("ip netns exec {n} "),
            Some(NsLabel::Pid(pid)) => format!("nsenter --net=/proc/{pid}/ns/net "),
        };
        fixes.push(format!("{exec}ethtool -K {} gro on", p.name));
    }
    if !p.up {
        let ip = match ns {
            None => "ip".to_string(),
            Some(NsLabel::Named(n)) => format!("ip -n {n}"),
            Some(NsLabel::Pid(pid)) => format!("nsenter --net=/proc/{pid}/ns/net ip"),
        };
        fixes.push(format!("{ip} link set dev {} up", p.name));
    }
    RedirectTarget::PeerWithoutNapi {
        hint: fixes.join(" && "),
        peer: p.name,
    }
}

// ---- ethtool ----------------------------------------------------------------------------

const ETHTOOL_GDRVINFO: u32 = 0x03;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETHTOOL_GCHANNELS: u32 = 0x3c;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;
/// sizeof(struct ethtool_drvinfo): cmd, five 32-byte strings, 12 reserved, five u32.
const DRVINFO_LEN: usize = 196;

fn inet_socket() -> Result<OwnedFd, VethError> {
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(os("AF_INET socket")(io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// SIOCETHTOOL with the command structure in `cmd`.
fn ethtool(sock: &OwnedFd, ifname: &str, cmd: &mut [u8]) -> Result<(), io::Error> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ || ifname.contains('\0') {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    r.ifr_ifru.ifru_data = cmd.as_mut_ptr().cast();
    // SAFETY: SIOCETHTOOL takes an ifreq whose ifru_data points to an ethtool command; the
    // kernel writes no more than the command and the lengths written in it declare, and the
    // callers size `cmd` for exactly that.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL as libc::Ioctl, &mut r) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The interface's driver (ETHTOOL_GDRVINFO), or None when it reports none (EOPNOTSUPP:
/// no `get_drvinfo`, no parent driver, no link kind, as `lo`; veth has `get_drvinfo`).
fn driver(sock: &OwnedFd, ifname: &str) -> Result<Option<String>, VethError> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ || ifname.contains('\0') {
        return Err(VethError::BadName(ifname.to_string()));
    }
    let mut info = [0u8; DRVINFO_LEN];
    info[0..4].copy_from_slice(&ETHTOOL_GDRVINFO.to_ne_bytes());
    match ethtool(sock, ifname, &mut info) {
        Ok(()) => Ok(Some(c_string(&info[4..4 + 32]))),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        Err(e) => Err(os(format!("ETHTOOL_GDRVINFO {ifname}"))(e)),
    }
}

/// Whether `ifname` requests GRO: the `requested` bit of "rx-gro" in ETHTOOL_GFEATURES (the
/// kernel's `wanted_features`, what `veth_gro_requested()` reads).
fn gro_requested(sock: &OwnedFd, ifname: &str) -> Result<bool, VethError> {
    let what = |c: &str| format!("{c} {ifname}");
    // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[1]; }
    let mut info = [0u8; 24];
    info[0..4].copy_from_slice(&ETHTOOL_GSSET_INFO.to_ne_bytes());
    info[8..16].copy_from_slice(&(1u64 << ETH_SS_FEATURES).to_ne_bytes());
    ethtool(sock, ifname, &mut info).map_err(os(what("ETHTOOL_GSSET_INFO")))?;
    let mask = u64::from_ne_bytes(info[8..16].try_into().unwrap_or_default());
    let n = u32_at(&info, 16).unwrap_or(0) as usize;
    if mask & (1 << ETH_SS_FEATURES) == 0 || n == 0 || n > 4096 {
        return Err(VethError::NoGroFeature(ifname.to_string()));
    }
    // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }
    let mut strings = vec![0u8; 12 + n * ETH_GSTRING_LEN];
    strings[0..4].copy_from_slice(&ETHTOOL_GSTRINGS.to_ne_bytes());
    strings[4..8].copy_from_slice(&ETH_SS_FEATURES.to_ne_bytes());
    strings[8..12].copy_from_slice(&(n as u32).to_ne_bytes());
    ethtool(sock, ifname, &mut strings).map_err(os(what("ETHTOOL_GSTRINGS")))?;
    let bit = strings[12..]
        .chunks(ETH_GSTRING_LEN)
        .position(|s| c_string(s) == "rx-gro")
        .ok_or_else(|| VethError::NoGroFeature(ifname.to_string()))?;
    // struct ethtool_gfeatures { u32 cmd; u32 size; struct { u32 available, requested,
    // active, never_changed; } features[size]; }
    let blocks = n.div_ceil(32);
    let mut feats = vec![0u8; 8 + blocks * 16];
    feats[0..4].copy_from_slice(&ETHTOOL_GFEATURES.to_ne_bytes());
    feats[4..8].copy_from_slice(&(blocks as u32).to_ne_bytes());
    ethtool(sock, ifname, &mut feats).map_err(os(what("ETHTOOL_GFEATURES")))?;
    let requested = u32_at(&feats, 8 + (bit / 32) * 16 + 4)
        .ok_or_else(|| VethError::NoGroFeature(ifname.to_string()))?;
    Ok(requested & (1 << (bit % 32)) != 0)
}

// ---- rtnetlink --------------------------------------------------------------------------

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
/// struct rtgenmsg, padded to NLMSG_ALIGNTO.
const RTGENMSG_LEN: usize = 4;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const XDP_ATTACHED_DRV: u8 = 1;
const NETNSA_NSID: u16 = 1;
const NETNSA_FD: u16 = 3;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
/// Datagrams read without finding the reply before giving up (each read waits ≤ 2 s).
const MAX_STRAY: usize = 16;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_attr(msg: &mut Vec<u8>, kind: u16, data: &[u8]) {
    msg.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(data);
    msg.resize(align4(msg.len()), 0);
}

/// The (type, payload) netlink attributes in `b`, up to the first malformed one.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(b.get(2..4)?.try_into().ok()?) & libc::NLA_TYPE_MASK as u16;
        let data = b.get(4..len)?;
        b = b.get(align4(len)..).unwrap_or(&[]);
        Some((kind, data))
    })
}

/// A NETLINK_ROUTE socket of the namespace it was made in, for request/reply exchanges.
struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    fn open() -> Result<Netlink, VethError> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(os("netlink socket")(io::Error::last_os_error()));
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: SO_RCVTIMEO reads one timeval of the size given.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os("netlink SO_RCVTIMEO")(io::Error::last_os_error()));
        }
        Ok(Netlink {
            fd,
            seq: 0,
            buf: vec![0; 32 << 10],
        })
    }

    /// Sends request `kind` with `body` (fixed header and attributes) and returns the body of
    /// the kernel's reply; an NLMSG_ERROR reply is the error it carries.
    fn request(&mut self, kind: u16, body: &[u8], what: &str) -> Result<Vec<u8>, VethError> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + body.len());
        msg.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        // SAFETY: sends msg.len() bytes from `msg` (unconnected netlink: to the kernel).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(os(format!("{what}: send"))(io::Error::last_os_error()));
        }
        for _ in 0..MAX_STRAY {
            // SAFETY: receives at most buf.len() bytes into `buf` (MSG_TRUNC: returns the
            // datagram's real length, checked below).
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                return Err(os(format!("{what}: recv"))(io::Error::last_os_error()));
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(VethError::Malformed(format!("{what} (truncated)")));
            }
            if let Some(reply) = find_reply(&self.buf[..n], self.seq, what)? {
                return Ok(reply);
            }
        }
        Err(VethError::Malformed(what.to_string()))
    }
}

/// The body of the message answering `seq` in one datagram: Some(body), Err for an
/// NLMSG_ERROR carrying an error, None when the datagram holds no answer to `seq`.
fn find_reply(dgram: &[u8], seq: u32, what: &str) -> Result<Option<Vec<u8>>, VethError> {
    let mut off = 0;
    while off + NLMSG_HDRLEN <= dgram.len() {
        let bad = || VethError::Malformed(what.to_string());
        let len = u32_at(dgram, off).ok_or_else(bad)? as usize;
        let kind = u16::from_ne_bytes([dgram[off + 4], dgram[off + 5]]);
        let mseq = u32_at(dgram, off + 8).ok_or_else(bad)?;
        if len < NLMSG_HDRLEN || off + len > dgram.len() {
            return Err(bad());
        }
        let body = &dgram[off + NLMSG_HDRLEN..off + len];
        if mseq == seq {
            if kind == libc::NLMSG_ERROR as u16 {
                let err = u32_at(body, 0).ok_or_else(bad)? as i32;
                if err != 0 {
                    return Err(os(what)(io::Error::from_raw_os_error(-err)));
                }
            } else {
                return Ok(Some(body.to_vec()));
            }
        }
        off += align4(len);
    }
    Ok(None)
}

#[derive(Debug, Clone, Copy)]
enum LinkKey<'a> {
    Name(&'a str),
    Index(u32),
}

/// What RTM_GETLINK says of one interface.
#[derive(Debug, Clone, Default)]
struct Link {
    index: u32,
    flags: u32,
    name: String,
    /// IFLA_LINK: for a veth, the peer's index in the peer's namespace.
    peer_index: Option<u32>,
    /// IFLA_LINK_NETNSID: the peer's namespace as ours numbers it; None: the same namespace.
    peer_nsid: Option<i32>,
    /// A native (driver-mode) XDP program is attached.
    xdp_native: bool,
}

fn get_link(nl: &mut Netlink, key: LinkKey) -> Result<Link, VethError> {
    let mut body = vec![0u8; IFINFOMSG_LEN];
    match key {
        LinkKey::Index(i) => body[4..8].copy_from_slice(&(i as i32).to_ne_bytes()),
        LinkKey::Name(n) => {
            let c = CString::new(n).map_err(|_| VethError::BadName(n.to_string()))?;
            push_attr(&mut body, libc::IFLA_IFNAME, c.as_bytes_with_nul());
        }
    }
    push_attr(
        &mut body,
        libc::IFLA_EXT_MASK,
        &RTEXT_FILTER_SKIP_STATS.to_ne_bytes(),
    );
    let what = format!("RTM_GETLINK {key:?}");
    let reply = nl.request(libc::RTM_GETLINK, &body, &what)?;
    parse_link(&reply).ok_or(VethError::Malformed(what))
}

fn parse_link(reply: &[u8]) -> Option<Link> {
    let mut link = Link {
        index: u32_at(reply, 4)?,
        flags: u32_at(reply, 8)?,
        ..Link::default()
    };
    for (kind, data) in attrs(reply.get(IFINFOMSG_LEN..)?) {
        match kind {
            libc::IFLA_IFNAME => link.name = c_string(data),
            libc::IFLA_LINK => link.peer_index = u32_at(data, 0),
            libc::IFLA_LINK_NETNSID => link.peer_nsid = u32_at(data, 0).map(|v| v as i32),
            libc::IFLA_XDP => link.xdp_native = native_xdp(data),
            _ => {}
        }
    }
    Some(link)
}

/// Whether an IFLA_XDP nest reports a driver-mode program: IFLA_XDP_ATTACHED is
/// XDP_ATTACHED_DRV, or (several modes: XDP_ATTACHED_MULTI) IFLA_XDP_DRV_PROG_ID is set.
/// A generic (skb-mode) program does not enable veth's NAPI, so it does not count.
fn native_xdp(nest: &[u8]) -> bool {
    attrs(nest).any(|(kind, data)| match kind {
        IFLA_XDP_ATTACHED => data.first() == Some(&XDP_ATTACHED_DRV),
        IFLA_XDP_DRV_PROG_ID => u32_at(data, 0).is_some_and(|id| id != 0),
        _ => false,
    })
}

/// The nsid our namespace gives the namespace of `fd` (RTM_GETNSID with NETNSA_FD; -1 when
/// it has none).
fn nsid_of(nl: &mut Netlink, fd: &OwnedFd) -> Result<i32, VethError> {
    let mut body = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    push_attr(&mut body, NETNSA_FD, &(fd.as_raw_fd() as u32).to_ne_bytes());
    let reply = nl.request(libc::RTM_GETNSID, &body, "RTM_GETNSID")?;
    let nsid = attrs(reply.get(RTGENMSG_LEN..).unwrap_or(&[]))
        .find(|(k, _)| *k == NETNSA_NSID)
        .and_then(|(_, d)| u32_at(d, 0));
    nsid.map(|v| v as i32)
        .ok_or_else(|| VethError::Malformed("RTM_GETNSID".to_string()))
}

// ---- the peer's namespace ---------------------------------------------------------------

struct NsFile {
    fd: OwnedFd,
    label: NsLabel,
}

/// Namespace files to try, named ones first; /proc is read only if they run out.
fn candidates() -> impl Iterator<Item = (PathBuf, NsLabel)> {
    let named = ["/run/netns", "/var/run/netns"]
        .into_iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (e.path(), NsLabel::Named(name))
        });
    let procs = std::iter::once(())
        .flat_map(|_| std::fs::read_dir("/proc").into_iter().flatten().flatten())
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((e.path().join("ns/net"), NsLabel::Pid(pid)))
        });
    named.chain(procs)
}

/// A descriptor of the namespace our namespace calls `nsid`: the first candidate file (one
/// per namespace inode) whose RTM_GETNSID answer is `nsid`.
fn find_netns(nl: &mut Netlink, nsid: i32) -> Result<NsFile, VethError> {
    let own =
        std::fs::metadata("/proc/thread-self/ns/net").map_err(os("/proc/thread-self/ns/net"))?;
    let mut seen = HashSet::from([(own.dev(), own.ino())]);
    for (path, label) in candidates() {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let fd = OwnedFd::from(file);
        // a candidate that is not a namespace (a stale /run/netns file) just fails
        if matches!(nsid_of(nl, &fd), Ok(id) if id == nsid) {
            return Ok(NsFile { fd, label });
        }
    }
    Err(VethError::NamespaceNotFound(nsid))
}

/// [`peer_state`] in namespace `ns` (None: ours), on a thread of its own that ends with the
/// query, so that no other thread ever changes namespace.
fn peer_state_in(ns: Option<OwnedFd>, index: u32) -> Result<PeerState, VethError> {
    let Some(ns) = ns else {
        return peer_state(index);
    };
    std::thread::Builder::new()
        .name("veth-peer-ns".to_string())
        .spawn(move || {
            // SAFETY: setns(2) on a namespace descriptor we own; it moves only this thread,
            // which ends when the query returns.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(os("setns")(io::Error::last_os_error()));
            }
            peer_state(index)
        })
        .map_err(os("spawning the namespace thread"))?
        .join()
        .map_err(|_| VethError::ThreadPanicked)?
}

/// The peer (interface `index` of the calling thread's namespace): its name, link back, up
/// flag, native XDP and requested GRO. Sockets are made here, so they belong to the calling
/// thread's namespace.
fn peer_state(index: u32) -> Result<PeerState, VethError> {
    let mut nl = Netlink::open()?;
    let link = get_link(&mut nl, LinkKey::Index(index))?;
    let sock = inet_socket()?;
    let gro_requested = gro_requested(&sock, &link.name)?;
    Ok(PeerState {
        up: link.flags & libc::IFF_UP as u32 != 0,
        xdp_native: link.xdp_native,
        gro_requested,
        peer_index: link.peer_index,
        name: link.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(up: bool, xdp: bool, gro: bool) -> PeerState {
        PeerState {
            name: "eth0".into(),
            peer_index: Some(7),
            up,
            xdp_native: xdp,
            gro_requested: gro,
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn classify_follows_the_kernel_rule() {
        let napi = RedirectTarget::PeerNapi {
            peer: "eth0".into(),
        };
        assert_eq!(classify(peer(true, false, true), None), napi);
        assert_eq!(classify(peer(true, true, false), None), napi);
        let ns = NsLabel::Named("red".into());
        assert_eq!(
            classify(peer(true, false, false), Some(&ns)),
            RedirectTarget::PeerWithoutNapi {
                peer: "eth0".into(),
                hint: "ip netns exec red ethtool -K eth0 gro on".into()
            }
        );
        assert_eq!(
            classify(peer(false, false, true), None),
            RedirectTarget::PeerWithoutNapi {
                peer: "eth0".into(),
                hint: "ip link set dev eth0 up".into()
            }
        );
        let t = classify(peer(false, false, false), Some(&NsLabel::Pid(42)));
        let RedirectTarget::PeerWithoutNapi { hint, .. } = &t else {
            panic!("{t:?}")
        };
        assert_eq!(
            hint,
            "nsenter --net=/proc/42/ns/net ethtool -K eth0 gro on && \
             nsenter --net=/proc/42/ns/net ip link set dev eth0 up"
        );
        assert_eq!(t.deliverable(), Some(false));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn attributes_round_trip_and_stop_at_garbage() {
        let mut b = Vec::new();
        push_attr(&mut b, 3, b"ab\0");
        push_attr(&mut b, 5, &9u32.to_ne_bytes());
        b.extend_from_slice(&[200, 0, 1]); // a truncated attribute
        let got: Vec<_> = attrs(&b).collect();
        assert_eq!(got, vec![(3, &b"ab\0"[..]), (5, &9u32.to_ne_bytes()[..])]);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn xdp_nest_counts_driver_mode_only() {
        let nest = |mode: u8, drv: Option<u32>| {
            let mut b = Vec::new();
            push_attr(&mut b, IFLA_XDP_ATTACHED, &[mode]);
            if let Some(id) = drv {
                push_attr(&mut b, IFLA_XDP_DRV_PROG_ID, &id.to_ne_bytes());
            }
            b
        };
        assert!(!native_xdp(&nest(0, None)));
        assert!(native_xdp(&nest(1, Some(12))));
        assert!(!native_xdp(&nest(2, None))); // skb mode
        assert!(native_xdp(&nest(4, Some(12)))); // multi, with a driver program
        assert!(!native_xdp(&nest(4, None))); // multi, skb + hw
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn replies_are_matched_by_sequence_and_errors_surface() {
        let msg = |kind: u16, seq: u32, body: &[u8]| {
            let mut m = Vec::new();
            m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
            m.extend_from_slice(&kind.to_ne_bytes());
            m.extend_from_slice(&0u16.to_ne_bytes());
            m.extend_from_slice(&seq.to_ne_bytes());
            m.extend_from_slice(&0u32.to_ne_bytes());
            m.extend_from_slice(body);
            m
        };
        let mut d = msg(16, 1, &[1, 2, 3, 4]);
        d.extend(msg(16, 2, &[5, 6, 7, 8]));
        assert_eq!(find_reply(&d, 2, "t").unwrap(), Some(vec![5, 6, 7, 8]));
        assert_eq!(find_reply(&d, 3, "t").unwrap(), None);
        let e = msg(2, 4, &(-libc::ENODEV).to_ne_bytes());
        let err = find_reply(&e, 4, "t").unwrap_err();
        assert!(matches!(&err, VethError::Os { source, .. }
            if source.raw_os_error() == Some(libc::ENODEV)));
        assert!(find_reply(&[40, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], 1, "t").is_err());
    }
}
