//! `xdpgraph`: the daemon (`run`), its client (`ctl`), the veth lab (`lab`) and the traffic
//! generator (`gen`). A thin layer over the library; errors become messages and exit codes.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use xdpgraph::afxdp::{SocketConfig, XdpMode};
use xdpgraph::ctl::{self, client, exec, server};
use xdpgraph::dataplane::{Dataplane, DataplaneConfig};
use xdpgraph::lab::{Lab, LabConfig};

#[derive(Parser)]
#[command(
    name = "xdpgraph",
    version,
    about = "FreeBSD's netgraph on Linux: a userspace packet graph over AF_XDP"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the data plane and the control socket in the foreground.
    Run(RunArgs),
    /// Send commands to a running daemon (ngctl's verbs).
    Ctl(CtlArgs),
    /// Create or remove the built-in veth lab.
    #[command(subcommand)]
    Lab(LabCmd),
    /// The traffic generator.
    Gen(xdpgraph_gen_args::GenArgs),
}

mod xdpgraph_gen_args {
    pub use xdpgraph::gen::cli::GenArgs;
}

#[derive(Args)]
struct RunArgs {
    /// Interface to attach (repeatable); `IF:N` uses only its first N queues.
    #[arg(long = "iface", short = 'i')]
    ifaces: Vec<String>,
    /// Cores to run one pinned worker each on, e.g. 0,1 or 2-5.
    #[arg(long, default_value = "0")]
    cores: String,
    /// XDP attach mode.
    #[arg(long, default_value = "auto", value_parser = ["auto", "native", "generic"])]
    xdp_mode: String,
    /// Control socket (default /run/xdpgraph/ctl.sock, or $XDPGRAPH_SOCKET).
    #[arg(long)]
    socket: Option<String>,
    /// Apply a script of ctl commands at start.
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Serve Prometheus metrics on this loopback address (e.g. 127.0.0.1:9469).
    #[arg(long)]
    metrics: Option<String>,
    /// Add an in-memory port with this name (repeatable; for tests and demos).
    #[arg(long = "mem-port")]
    mem_ports: Vec<String>,
    /// Generate traffic into the first in-memory port at this rate (frames/s).
    #[arg(long = "mem-gen")]
    mem_gen: Option<u64>,
    /// Stop generating after this many frames (with --mem-gen; default: no limit).
    #[arg(long = "mem-count", requires = "mem_gen")]
    mem_count: Option<u64>,
    /// UMEM frames per worker.
    #[arg(long, default_value_t = 16384)]
    frames: usize,
    /// Busy-poll instead of sleeping in poll(2) when idle.
    #[arg(long)]
    busy_poll: bool,
    /// Do not create TAP mirrors for the ether nodes' upper hooks.
    #[arg(long)]
    no_tap: bool,
    /// Use copy mode even where the driver has zero-copy.
    #[arg(long)]
    no_zero_copy: bool,
    /// Also run DPDK: every ethdev the EAL finds becomes a port with an ether node named
    /// after it (needs a build with --features dpdk).
    #[arg(long)]
    dpdk: bool,
    /// DPDK EAL arguments as testpmd takes them, e.g. "--vdev net_af_xdp0,iface=eth1"
    /// (implies --dpdk; memory, lcore and file-prefix defaults are added when absent).
    #[arg(long = "dpdk-eal", value_name = "ARGS", allow_hyphen_values = true)]
    dpdk_eal: Option<String>,
    /// RX and TX descriptors per DPDK queue (0: the driver's preferred ring size, as
    /// testpmd uses; 1024 for a driver without one).
    #[arg(long, default_value_t = 0)]
    dpdk_desc: u16,
}

#[derive(Args)]
struct CtlArgs {
    /// Control socket (default /run/xdpgraph/ctl.sock, or $XDPGRAPH_SOCKET).
    #[arg(long)]
    socket: Option<String>,
    /// Print replies as JSON.
    #[arg(long)]
    json: bool,
    /// Run a script of commands.
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// A command and its arguments (none: interactive shell, or commands from stdin).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
enum LabCmd {
    /// Create N veth pairs, each with its far end in a namespace.
    Up {
        #[arg(long, default_value_t = 3)]
        ports: usize,
        #[arg(long, default_value = "xg")]
        prefix: String,
        /// Queues per veth (default: the number of CPUs).
        #[arg(long)]
        queues: Option<u32>,
        /// Leave the namespace ends without IPv4 addresses.
        #[arg(long)]
        no_addresses: bool,
    },
    /// Remove the lab.
    Down {
        #[arg(long, default_value = "xg")]
        prefix: String,
    },
}

fn parse_cores(s: &str) -> Result<Vec<usize>> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (usize, usize) =
                (a.parse().context("--cores")?, b.parse().context("--cores")?);
            if a > b {
                bail!("--cores: range {part} is backwards");
            }
            v.extend(a..=b);
        } else {
            v.push(
                part.parse()
                    .with_context(|| format!("--cores: {part:?} is not a core number"))?,
            );
        }
    }
    if v.is_empty() {
        bail!("--cores: no core given");
    }
    let mut d = v.clone();
    d.sort();
    d.dedup();
    if d.len() != v.len() {
        bail!("--cores: a core is listed twice");
    }
    Ok(v)
}

fn run(a: RunArgs) -> Result<()> {
    let r = run_inner(a);
    // after the data plane is gone: DPDK's EAL releases its memory and files
    #[cfg(feature = "dpdk")]
    xdpgraph::dpdk::eal::cleanup();
    r
}

fn run_inner(a: RunArgs) -> Result<()> {
    xdpgraph::sys::netdev::catch_stop_signals();
    let want_dpdk = a.dpdk || a.dpdk_eal.is_some();
    #[cfg(not(feature = "dpdk"))]
    if want_dpdk {
        bail!("this xdpgraph was built without DPDK: rebuild with `cargo build --release --features dpdk` (needs libdpdk-dev)");
    }
    let cfg = DataplaneConfig {
        cores: parse_cores(&a.cores)?,
        xdp_mode: a.xdp_mode.parse::<XdpMode>().map_err(anyhow::Error::msg)?,
        socket: SocketConfig {
            zero_copy: !a.no_zero_copy,
            ..SocketConfig::default()
        },
        frames_per_worker: a.frames,
        busy_poll: a.busy_poll,
        taps: !a.no_tap,
        #[cfg(feature = "dpdk")]
        dpdk: want_dpdk.then(|| xdpgraph::dpdk::DpdkConfig {
            eal: a.dpdk_eal.clone().unwrap_or_default(),
            desc: a.dpdk_desc,
            rx_queues: 0,
        }),
        ..DataplaneConfig::default()
    };
    let mut dp = Dataplane::start(cfg).context("starting the workers")?;
    #[cfg(feature = "dpdk")]
    if want_dpdk && dp.dpdk_devices().is_empty() {
        bail!(
            "DPDK found no device: give the EAL a virtual device (--dpdk-eal \"--vdev \
             net_af_xdp0,iface=eth1\") or bind a NIC to vfio-pci (see docs/DPDK.md)"
        );
    }
    for spec in &a.ifaces {
        let (name, q) = match spec.split_once(':') {
            Some((n, q)) => (
                n,
                Some(
                    q.parse::<u32>()
                        .with_context(|| format!("--iface {spec}: queues must be a number"))?,
                ),
            ),
            None => (spec.as_str(), None),
        };
        dp.attach(name, q)
            .with_context(|| format!("attaching {name}"))?;
    }
    for (i, name) in a.mem_ports.iter().enumerate() {
        let gen = (i == 0).then_some(a.mem_gen).flatten().map(|pps| {
            (
                vec![xdpgraph::testkit::eth(2, 1), xdpgraph::testkit::eth(1, 2)],
                a.mem_count.unwrap_or(u64::MAX),
                pps,
            )
        });
        dp.add_mem_port(name, xdpgraph::testkit::mac(0x100 + i as u64), gen)
            .with_context(|| format!("--mem-port {name}"))?;
    }
    if let Some(f) = &a.file {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
        for (n, line) in text.lines().enumerate() {
            let r = exec::execute(&mut dp, line);
            if !r.ok {
                bail!("{f}:{}: {}", n + 1, r.error.unwrap_or_default());
            }
            if !r.text.is_empty() {
                eprint!("{}", r.text);
            }
        }
    }
    let (tx, rx) = mpsc::sync_channel::<server::Request>(256);
    let path = ctl::socket_path(a.socket.as_deref());
    let srv = server::Server::start(&path, tx.clone())
        .with_context(|| format!("control socket {path}"))?;
    if let Some(m) = &a.metrics {
        ctl::metrics::serve(m, tx.clone()).context("--metrics")?;
    }
    drop(tx);
    tracing::info!(socket = %path, cores = ?dp.cores(), "xdpgraph running");
    let mut last_tick = Instant::now();
    loop {
        if let Some(sig) = xdpgraph::sys::netdev::stop_signal() {
            tracing::info!(signal = sig, "stopping");
            break;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(req) => {
                let r = match req.work {
                    server::Work::Line(l) => exec::execute(&mut dp, &l),
                    server::Work::Metrics => exec::Reply::ok(
                        ctl::metrics::render(dp.graph_ref()),
                        serde_json::Value::Null,
                    ),
                };
                let _ = req.reply.send(r);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if last_tick.elapsed() >= Duration::from_millis(100) {
            dp.tick();
            last_tick = Instant::now();
        }
    }
    drop(srv);
    let report = dp.shutdown();
    #[cfg(feature = "dpdk")]
    if let Some(c) = report.dpdk_frames {
        if c.home == c.total && c.double_freed == 0 {
            tracing::info!(
                frames = c.total,
                "DPDK devices closed; every frame back in its pool"
            );
        } else {
            tracing::warn!(
                home = c.home,
                total = c.total,
                double_freed = c.double_freed,
                kept_by_drivers = c.kept_by_drivers,
                "DPDK devices closed; not every frame came back by itself"
            );
        }
    }
    let _ = report;
    tracing::info!("stopped; XDP programs detached");
    Ok(())
}

fn ctl_main(a: CtlArgs) -> ExitCode {
    let path = ctl::socket_path(a.socket.as_deref());
    let mut c = match client::Client::connect(&path) {
        Ok(c) => c,
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"error": e.to_string(), "errno": "ECONNREFUSED"})
                );
            } else {
                eprintln!("xdpgraph ctl: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut p = client::Printer {
        json: a.json,
        out: &mut out,
        err: &mut err,
    };
    let r = if let Some(f) = &a.file {
        client::run_file(&mut c, &mut p, f, 0)
    } else if !a.command.is_empty() {
        client::run_line(&mut c, &mut p, &a.command.join(" "), 0).map(|s| s != client::Step::Failed)
    } else if std::io::stdin().is_terminal() {
        client::shell(&mut c, &mut p)
    } else {
        let mut ok = true;
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) => break Ok(ok),
                Ok(_) => match client::run_line(&mut c, &mut p, &line, 0) {
                    Ok(client::Step::Quit) => break Ok(ok),
                    Ok(client::Step::Failed) => ok = false,
                    Ok(client::Step::Ok) => {}
                    Err(e) => break Err(e),
                },
                Err(e) => break Err(e),
            }
        }
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("xdpgraph ctl: {e}");
            ExitCode::from(2)
        }
    }
}

fn lab(cmd: LabCmd) -> Result<()> {
    match cmd {
        LabCmd::Up {
            ports,
            prefix,
            queues,
            no_addresses,
        } => {
            let mut cfg = LabConfig {
                prefix,
                ports,
                addresses: !no_addresses,
                ..LabConfig::default()
            };
            if let Some(q) = queues {
                cfg.queues = q;
            }
            let l = Lab::up(cfg)?;
            for i in 0..l.cfg.ports {
                println!(
                    "{}  <->  {}:eth0 {}{}",
                    l.iface(i),
                    l.ns(i),
                    l.host_mac(i),
                    if l.cfg.addresses {
                        format!(" {}/24", l.addr(i))
                    } else {
                        String::new()
                    }
                );
            }
            Ok(())
        }
        LabCmd::Down { prefix } => Ok(Lab::down(&prefix)?),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let r = match cli.cmd {
        Cmd::Ctl(a) => return ctl_main(a),
        Cmd::Run(a) => run(a),
        Cmd::Lab(c) => lab(c),
        Cmd::Gen(g) => xdpgraph::gen::cli::main(g).map_err(anyhow::Error::from),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xdpgraph: {e:#}");
            ExitCode::from(1)
        }
    }
}
