//! `xdpgraph`: the daemon (`run`), its client (`ctl`), the veth lab (`lab`) and the traffic
//! generator (`gen`), plus `completions` and `man` for packagers. A thin command-line layer over the library (`xdpgraph::daemon`,
//! `xdpgraph::ctl::client`, `xdpgraph::lab`, `xdpgraph::gen`); errors become messages and exit
//! codes. The argument definitions live here and in `src/cli/`: the library has no clap.

mod cli {
    pub mod caps;
    pub mod gen;
    pub mod ops;
}

use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;
use xdpgraph::ctl::{self, client};
use xdpgraph::daemon::{Daemon, DaemonConfig, IfaceSpec, MemGenSpec, Outcome};
use xdpgraph::dataplane::afxdp::{SocketConfig, XdpMode};
use xdpgraph::dataplane::{DataplaneConfig, DpdkConfig};
use xdpgraph::lab::{Lab, LabConfig};

/// `-V`: the version and the git revision of the build (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("XDPGRAPH_GIT_REV"),
    ")"
);
/// `--version`: also the cargo features the binary was built with.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nrevision: ",
    env!("XDPGRAPH_GIT_REV"),
    "\nfeatures: ",
    env!("XDPGRAPH_FEATURES")
);

#[derive(Parser)]
#[command(
    name = "xdpgraph",
    version = VERSION,
    long_version = LONG_VERSION,
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
    Gen(cli::gen::GenArgs),
    /// Print a shell completion script (e.g. `xdpgraph completions bash >
    /// /usr/share/bash-completion/completions/xdpgraph`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages, one per command and subcommand, into DIR (without DIR: print the
    /// main page, xdpgraph(8), on stdout).
    Man {
        #[arg(value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
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
    /// Give the control socket to this group (a name or a number), so that its members can
    /// use `xdpgraph ctl` without root (mode 0660 unless --socket-mode says otherwise).
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,
    /// The control socket's mode, in octal [default: 0660 with --socket-group, else 0600:
    /// root and the daemon's user only].
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    socket_mode: Option<u32>,
    /// The boot script: ctl commands applied at start; `ctl save -w` writes the running graph
    /// back to it.
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
    /// Buffer chunks per worker [default: 32768 for AF_XDP (128 MiB), 16384 for DPDK].
    #[arg(long)]
    frames: Option<usize>,
    /// Busy-poll instead of sleeping in poll(2) when idle.
    #[arg(long)]
    busy_poll: bool,
    /// The workers' nice value (default: -10 when some core has no worker, so they preempt
    /// anything else landing on their cores; 0 when every core has one, as the other threads).
    #[arg(long, allow_negative_numbers = true)]
    worker_nice: Option<i32>,
    /// Do not create TAP mirrors for the ether nodes' upper hooks.
    #[arg(long)]
    no_tap: bool,
    /// Forward learned bridge flows inside the XDP program (known unicast between interfaces
    /// whose ether `lower` hooks are links of the same bridge); `off` sends every frame to the
    /// workers.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
    fast_path: String,
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
    /// MTU of every DPDK device (0: the Linux interface's for af_packet / af_xdp devices, the
    /// driver's largest for other software devices (net_ring, net_null), 1500 for NICs).
    /// Above one mbuf (2030; 3630 with --dpdk-mbuf-size 3776) the device needs RX scatter and
    /// TX multi-segs (net_ring has them); a device that cannot take it is refused, naming its
    /// limit.
    #[arg(long, value_name = "MTU", default_value_t = 0)]
    dpdk_mtu: u32,
    /// Bytes of each DPDK mbuf's buffer, headroom included (as testpmd's --mbuf-size): 2176,
    /// DPDK's default (frames of up to 2048 bytes per mbuf, longer ones chained), or 3776
    /// (up to 3648 per mbuf: MTU 3630 on drivers without RX scatter, 3694 for AF_XDP
    /// interfaces beside DPDK devices, against 2030 and 2094; the af_xdp driver 3374 against
    /// 1774; ~8% slower over net_null).
    #[arg(long, value_name = "BYTES", default_value = "2176", value_parser = ["2176", "3776"])]
    dpdk_mbuf_size: String,
    /// A worker whose heartbeat stops for this many milliseconds is a fault: the daemon
    /// detaches everything and exits non-zero (for its supervisor to restart it).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    stall_timeout: u64,
    /// Log format on stderr: text (no colours unless stderr is a terminal) or json (one
    /// object per line, for log collectors). The level comes from RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = cli::ops::LogFormat::Text)]
    log_format: cli::ops::LogFormat,
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
        /// Leave GRO off at the namespace ends (veth then has no NAPI there, and xdpgraph's
        /// XDP fast path cannot redirect frames to those ports: the workers carry them).
        #[arg(long)]
        no_gro: bool,
        /// MTU of both ends of every pair (e.g. 9000 for jumbo frames; veth's default: 1500).
        #[arg(long)]
        mtu: Option<u32>,
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

/// `--socket-mode`: octal permission bits (0600, 660, 0o666).
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        Ok(_) => Err("permission bits only (at most 0777)".into()),
        Err(_) => Err(format!("{s:?} is not an octal mode such as 0660")),
    }
}

/// `--socket-group`/`--socket-mode`: the control socket's group and mode.
fn socket_access(a: &RunArgs) -> Result<ctl::server::SocketAccess> {
    let gid = match &a.socket_group {
        Some(g) => Some(
            xdpgraph::sys::users::group_id(g)
                .with_context(|| format!("--socket-group {g}"))?
                .with_context(|| format!("--socket-group {g}: no such group"))?,
        ),
        None => None,
    };
    Ok(ctl::server::SocketAccess::new(gid, a.socket_mode))
}

/// An `--iface` argument: `IF` or `IF:N` (only its first N queues).
fn iface_spec(spec: &str) -> Result<IfaceSpec> {
    let (name, queues) = match spec.split_once(':') {
        Some((n, q)) => (
            n,
            Some(
                q.parse::<u32>()
                    .with_context(|| format!("--iface {spec}: queues must be a number"))?,
            ),
        ),
        None => (spec, None),
    };
    Ok(IfaceSpec {
        name: name.into(),
        queues,
    })
}

/// The daemon's configuration from `run`'s arguments.
fn daemon_config(a: &RunArgs) -> Result<DaemonConfig> {
    let want_dpdk = a.dpdk || a.dpdk_eal.is_some();
    Ok(DaemonConfig {
        dataplane: DataplaneConfig {
            cores: parse_cores(&a.cores)?,
            xdp_mode: a.xdp_mode.parse::<XdpMode>()?,
            socket: SocketConfig {
                zero_copy: !a.no_zero_copy,
                ..SocketConfig::default()
            },
            frames_per_worker: a.frames,
            busy_poll: a.busy_poll,
            worker_nice: a.worker_nice,
            taps: !a.no_tap,
            fast_path: a.fast_path == "on",
            dpdk: want_dpdk.then(|| DpdkConfig {
                eal: a.dpdk_eal.clone().unwrap_or_default(),
                desc: a.dpdk_desc,
                rx_queues: 0,
                require_device: true,
                mbuf_size: a.dpdk_mbuf_size.parse().unwrap_or(0),
            }),
            stall_timeout: std::time::Duration::from_millis(a.stall_timeout.max(1)),
            dpdk_mtu: a.dpdk_mtu,
            ..DataplaneConfig::default()
        },
        ifaces: a
            .ifaces
            .iter()
            .map(|s| iface_spec(s))
            .collect::<Result<_>>()?,
        mem_ports: a.mem_ports.clone(),
        mem_gen: a.mem_gen.map(|pps| MemGenSpec {
            pps,
            count: a.mem_count,
        }),
        socket: ctl::socket_path(a.socket.as_deref()),
        socket_access: socket_access(a)?,
        boot_script: a.file.clone().filter(|f| f != "-"),
        metrics: a.metrics.clone(),
        // hidden: the tests' `debug worker N panic|stall` (docs/TESTING.md)
        test_hooks: std::env::var("XDPGRAPH_TEST_HOOKS").is_ok_and(|v| v == "1"),
    })
}

fn run(a: RunArgs) -> Result<()> {
    let r = run_daemon(a);
    // after the data plane is gone: DPDK's EAL releases its memory and files
    xdpgraph::dataplane::cleanup_at_exit();
    r
}

/// The capability check (src/cli/caps.rs): fails naming what is missing; warns about the
/// optional ones and does without them.
fn preflight(cfg: &mut DaemonConfig) -> Result<()> {
    let dp = &cfg.dataplane;
    let workers = dp.cores.len() as u64;
    let frames = (dp.frames_per_worker).unwrap_or(xdpgraph::dataplane::AFXDP_DEFAULT_FRAMES);
    let every_core = {
        let mut c = dp.cores.clone();
        c.sort();
        c.dedup();
        c.len() >= xdpgraph::sys::cpu::online_cores()
    };
    let plan = cli::caps::Plan {
        interfaces: !cfg.ifaces.is_empty() || dp.dpdk.is_some(),
        dpdk: dp.dpdk.is_some(),
        umem_bytes: workers * frames as u64 * xdpgraph::frame::CHUNK_SIZE as u64,
        nice: dp.worker_nice,
        default_nice: if every_core {
            0
        } else {
            xdpgraph::dataplane::WORKER_NICE
        },
    };
    let have = cli::caps::Have::now().context("reading this process's capabilities")?;
    let v = cli::caps::check(&have, &plan);
    for w in &v.warnings {
        tracing::warn!("{w}");
    }
    if !v.missing.is_empty() {
        bail!(
            "missing {}:\n  {}\nrun as root, or give xdpgraph these capabilities: {} (AmbientCapabilities= in its systemd unit; see README, \"Running as a service\")",
            if v.missing.len() == 1 { "a capability" } else { "capabilities" },
            v.missing.join("\n  "),
            cli::caps::required_names()
        );
    }
    if v.nice_zero {
        cfg.dataplane.worker_nice = Some(0);
    }
    Ok(())
}

fn run_daemon(a: RunArgs) -> Result<()> {
    xdpgraph::sys::netdev::catch_stop_signals();
    let mut cfg = daemon_config(&a)?;
    preflight(&mut cfg)?;
    let mut d = Daemon::start(cfg)?;
    if let Some(f) = &a.file {
        d.apply_file(f, &mut std::io::stderr())?;
    }
    let outcome = d.run();
    d.shutdown();
    if let Outcome::Fault(f) = outcome {
        bail!("{f}; every interface was detached; exiting for the supervisor to restart xdpgraph");
    }
    Ok(())
}

/// The errno name of a failed connection to the control socket.
fn connect_errno(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "EACCES",
        _ => "ECONNREFUSED",
    }
}

fn ctl_main(a: CtlArgs) -> ExitCode {
    let path = ctl::socket_path(a.socket.as_deref());
    let mut c = match client::Client::connect(&path) {
        Ok(c) => c,
        Err(e) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"error": e.to_string(), "errno": connect_errno(&e)})
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
    let verb = (a.command.first()).and_then(|w| ctl::grammar::lookup(w).ok());
    let r = if a.file.is_none() && verb.is_some_and(|v| v.id == ctl::grammar::VerbId::Capture) {
        capture(c, &a.command, &mut p)
    } else if let Some(f) = &a.file {
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

/// `ctl capture ...`: until COUNT frames, SIGINT/SIGTERM, or EPIPE on the output.
fn capture(
    c: client::Client,
    words: &[String],
    p: &mut client::Printer<'_>,
) -> std::io::Result<bool> {
    let args = match client::CaptureArgs::parse(words) {
        Ok(a) => a,
        Err(e) => {
            let r = ctl::exec::Reply::err(e, xdpgraph::errno::Errno::EINVAL);
            return Ok(p.reply(&r));
        }
    };
    xdpgraph::sys::netdev::catch_stop_signals();
    client::capture(c, &args, p)
}

fn lab(cmd: LabCmd) -> Result<()> {
    match cmd {
        LabCmd::Up {
            ports,
            prefix,
            queues,
            no_addresses,
            no_gro,
            mtu,
        } => {
            let mut cfg = LabConfig {
                prefix,
                ports,
                addresses: !no_addresses,
                gro: !no_gro,
                mtu,
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

/// `man [DIR]`: the pages, and the list of files written on stderr.
fn man(dir: Option<&std::path::Path>) -> Result<()> {
    let written = cli::ops::man(Cli::command(), dir).with_context(|| {
        format!(
            "writing the man pages into {}",
            dir.unwrap_or("-".as_ref()).display()
        )
    })?;
    for p in written {
        eprintln!("{}", p.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    // `ngctl -f-` (the man pages' `-f- <<EOF`): clap would read "-f-" as a command, not as
    // `-f` with the value "-"
    let cli = Cli::parse_from(std::env::args_os().flat_map(|a| {
        if a == "-f-" {
            vec!["-f".into(), "-".into()]
        } else {
            vec![a]
        }
    }));
    let log_format = match &cli.cmd {
        Cmd::Run(a) => a.log_format,
        _ => cli::ops::LogFormat::Text,
    };
    cli::ops::init_logs(log_format);
    let r = match cli.cmd {
        Cmd::Ctl(a) => return ctl_main(a),
        Cmd::Run(a) => run(a),
        Cmd::Lab(c) => lab(c),
        Cmd::Gen(g) => cli::gen::main(g).map_err(anyhow::Error::from),
        Cmd::Completions { shell } => {
            cli::ops::completions(Cli::command(), shell, &mut std::io::stdout())
                .context("writing the completion script")
        }
        Cmd::Man { dir } => man(dir.as_deref()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        // a collector reading JSON gets the reason for the exit as JSON too
        Err(e) if log_format == cli::ops::LogFormat::Json => {
            tracing::error!(error = format!("{e:#}"), "xdpgraph exits");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("xdpgraph: {e:#}");
            ExitCode::from(1)
        }
    }
}
