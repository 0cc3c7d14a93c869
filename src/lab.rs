//! The veth lab: `xdpgraph lab up` makes N veth pairs, one end in the root namespace for
//! xdpgraph to attach, the other (`eth0`) in its own namespace with an address in one subnet,
//! so hosts in the namespaces can ping each other once xdpgraph bridges them.
//!
//! Names (prefix P, default `xg`): root ends `P0`…, namespaces `Pns0`…, addresses
//! 10.77.0.1… (`--subnet`). Root ends get MAC 02:77:00:00:00:NN, namespace ends
//! 02:77:00:00:01:NN. IPv6 is off on both ends so the only traffic is what you send.

use crate::errno::Errno;
use std::process::Command;

/// Lab layout.
#[derive(Debug, Clone)]
pub struct LabConfig {
    pub prefix: String,
    pub ports: usize,
    /// RX/TX queues per veth (at least the number of xdpgraph workers).
    pub queues: u32,
    /// First three octets of the /24.
    pub subnet: [u8; 3],
    /// Give the namespace ends IPv4 addresses.
    pub addresses: bool,
    /// Turn GRO on at the namespace ends (`ethtool -K eth0 gro on`): veth then runs NAPI
    /// there, which frames the XDP fast path redirects to the root end need to be delivered
    /// (without it the kernel drops them, and xdpgraph's fast path leaves that interface to
    /// the workers). `xdpgraph lab up` does unless `--no-gro`.
    pub gro: bool,
    /// MTU of both ends of every pair (`xdpgraph lab up --mtu`); None: veth's default (1500).
    pub mtu: Option<u32>,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            prefix: "xg".into(),
            ports: 3,
            queues: crate::sys::cpu::online_cores().max(1) as u32,
            subnet: [10, 77, 0],
            addresses: true,
            gro: false,
            mtu: None,
        }
    }
}

/// A lab command failed.
#[derive(Debug, thiserror::Error)]
#[error("lab: `{cmd}` failed: {err}")]
pub struct LabError {
    pub cmd: String,
    pub err: String,
}

impl LabError {
    /// The errno: EINVAL for a bad layout, EIO for a command that failed.
    pub fn errno(&self) -> Errno {
        if self.cmd == "lab up" {
            Errno::EINVAL
        } else {
            Errno::EIO
        }
    }
}

fn run(args: &[&str]) -> Result<String, LabError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| LabError {
            cmd: args.join(" "),
            err: format!("{e} (is iproute2 installed?)"),
        })?;
    if !out.status.success() {
        return Err(LabError {
            cmd: args.join(" "),
            err: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A lab that exists (created by [`Lab::up`]).
#[derive(Debug, Clone)]
pub struct Lab {
    pub cfg: LabConfig,
}

impl Lab {
    /// Creates the lab (removing a previous one with the same prefix first).
    pub fn up(cfg: LabConfig) -> Result<Lab, LabError> {
        if cfg.prefix.is_empty()
            || cfg.prefix.len() > 10
            || !cfg.prefix.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(LabError {
                cmd: "lab up".into(),
                err: format!("prefix {:?}: 1..=10 letters and digits", cfg.prefix),
            });
        }
        if cfg.ports == 0 || cfg.ports > 99 {
            return Err(LabError {
                cmd: "lab up".into(),
                err: "--ports must be 1..=99".into(),
            });
        }
        Lab::down(&cfg.prefix)?;
        let lab = Lab { cfg };
        if let Err(e) = lab.create().and_then(|_| lab.set_mtu()) {
            let _ = Lab::down(&lab.cfg.prefix);
            return Err(e);
        }
        Ok(lab)
    }

    /// Both ends of every pair get the configured MTU (jumbo frames).
    fn set_mtu(&self) -> Result<(), LabError> {
        let Some(m) = self.cfg.mtu else {
            return Ok(());
        };
        let m = m.to_string();
        for i in 0..self.cfg.ports {
            let ns = self.ns(i);
            run(&["ip", "-n", &ns, "link", "set", "eth0", "mtu", &m])?;
            run(&["ip", "link", "set", &self.iface(i), "mtu", &m])?;
        }
        Ok(())
    }

    fn create(&self) -> Result<(), LabError> {
        let q = self.cfg.queues.max(1).to_string();
        for i in 0..self.cfg.ports {
            let (root, ns, peer) = (
                self.iface(i),
                self.ns(i),
                format!("{}{}p", self.cfg.prefix, i),
            );
            run(&["ip", "netns", "add", &ns])?;
            run(&[
                "ip",
                "link",
                "add",
                &root,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "numtxqueues",
                &q,
                "numrxqueues",
                &q,
                "netns",
                &ns,
            ])?;
            run(&["ip", "-n", &ns, "link", "set", &peer, "name", "eth0"])?;
            run(&[
                "ip",
                "-n",
                &ns,
                "link",
                "set",
                "eth0",
                "address",
                &format!("02:77:00:00:01:{i:02x}"),
            ])?;
            run(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])?;
            run(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.default.disable_ipv6=1",
            ])?;
            if self.cfg.addresses {
                run(&[
                    "ip",
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", self.addr(i)),
                    "dev",
                    "eth0",
                ])?;
            }
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            self.tune_ns_end(&ns);
            run(&[
                "ip",
                "link",
                "set",
                &root,
                "address",
                &format!("02:77:00:00:00:{i:02x}"),
            ])?;
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{root}/disable_ipv6"), "1");
            run(&["ip", "link", "set", &root, "up"])?;
        }
        Ok(())
    }

    /// Best-effort settings of a namespace end (`eth0` in `ns`): TX checksum offload off, GRO
    /// on when asked; a machine without ethtool still gets its lab, told why on stderr.
    fn tune_ns_end(&self, ns: &str) {
        // TX checksum offload off at the namespace ends: with it, the hosts' TCP/UDP
        // segments cross the veth with checksums left for a NIC to finish (CHECKSUM_PARTIAL),
        // and AF_XDP hands the graph those unfinished bytes, which leave unfinished
        // (best effort, as GRO)
        let tx = [
            "ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off",
        ];
        if let Err(e) = run(&tx) {
            eprintln!(
                "lab: TX checksum offload stays on at {ns}:eth0 ({e}; is ethtool installed?): \
                 TCP and UDP from that namespace cross xdpgraph with unfinished checksums"
            );
        }
        if self.cfg.gro {
            // best effort: without it the fast path leaves this port to the workers
            let gro = [
                "ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "gro", "on",
            ];
            if let Err(e) = run(&gro) {
                eprintln!(
                    "lab: GRO stays off at {ns}:eth0 ({e}; is ethtool installed?): xdpgraph's \
                     XDP fast path cannot redirect frames to that port, the workers carry them"
                );
            }
        }
    }

    /// Removes every namespace and root-side veth of the lab with `prefix`.
    pub fn down(prefix: &str) -> Result<(), LabError> {
        let nss = run(&["ip", "netns", "list"])?;
        for line in nss.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if let Some(rest) = name.strip_prefix(&format!("{prefix}ns")) {
                if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
                    run(&["ip", "netns", "del", name])?;
                }
            }
        }
        let links = run(&["ip", "-o", "link", "show", "type", "veth"])?;
        for line in links.lines() {
            let name = line.split(':').nth(1).unwrap_or("").trim();
            let name = name.split('@').next().unwrap_or("");
            if let Some(rest) = name.strip_prefix(prefix) {
                if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
                    let _ = run(&["ip", "link", "del", name]);
                }
            }
        }
        Ok(())
    }

    /// The root-side interface of port `i`.
    pub fn iface(&self, i: usize) -> String {
        format!("{}{}", self.cfg.prefix, i)
    }
    /// The namespace of port `i`.
    pub fn ns(&self, i: usize) -> String {
        format!("{}ns{}", self.cfg.prefix, i)
    }
    /// The IPv4 address of the host in namespace `i`.
    pub fn addr(&self, i: usize) -> String {
        let s = self.cfg.subnet;
        format!("{}.{}.{}.{}", s[0], s[1], s[2], i + 1)
    }
    /// The MAC of the namespace end of port `i`.
    pub fn host_mac(&self, i: usize) -> crate::wire::MacAddr {
        crate::wire::MacAddr([0x02, 0x77, 0, 0, 1, i as u8])
    }

    /// Pings host `to` from host `from` (`count` probes, each waiting up to `wait_s`); true when
    /// any reply came back.
    pub fn ping(&self, from: usize, to: usize, count: u32, wait_s: u32) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(from),
                "ping",
                "-n",
                "-q",
                "-c",
                &count.to_string(),
                "-W",
                &wait_s.to_string(),
                "-i",
                "0.2",
            ])
            .arg(self.addr(to))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }
}

/// A lab removed when dropped (tests: even when they fail).
pub struct LabGuard(pub Lab);

impl LabGuard {
    pub fn up(cfg: LabConfig) -> Result<LabGuard, LabError> {
        Ok(LabGuard(Lab::up(cfg)?))
    }
}

impl std::ops::Deref for LabGuard {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.0
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = Lab::down(&self.0.cfg.prefix) {
            eprintln!("lab down {}: {e}", self.0.cfg.prefix);
        }
    }
}
