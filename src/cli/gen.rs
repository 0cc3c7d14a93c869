//! `xdpgraph gen`: its arguments, their translation into the library's
//! [`GenConfig`](xdpgraph::gen::GenConfig), and the output. Compiled into the binary (and into
//! `tests/gen.rs`, which drives the generator with command lines); the library has no clap.

use std::time::Duration;
use xdpgraph::gen::frame::{FrameSpec, Sizes};
use xdpgraph::gen::rate::Rate;
use xdpgraph::gen::{self, Engine, GenConfig, GenError, Report, RxEngine};
use xdpgraph::wire::MacAddr;

/// Traffic generator options.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Interface to send on.
    #[arg(long)]
    pub tx: String,
    /// Network namespace of --tx.
    #[arg(long)]
    pub tx_netns: Option<String>,
    /// Interface to receive and match frames on.
    #[arg(long)]
    pub rx: Option<String>,
    /// Network namespace of --rx.
    #[arg(long)]
    pub rx_netns: Option<String>,
    /// Transmit engine: afxdp (per-frame stamps, even pacing), replay (BPF_PROG_RUN live
    /// frames, several Mpps) or packet (AF_PACKET, one frame per due time, stamped by the
    /// driver: the latency probe, with --rx-engine packet).
    #[arg(long, default_value = "afxdp", value_parser = ["afxdp", "replay", "packet"])]
    pub engine: String,
    /// Receiver: afxdp (matches frames: loss, reordering, latency), xdp (counts, for high
    /// rates) or packet (AF_PACKET, frames stamped by the kernel as they arrive: with
    /// --engine packet, latency between the two kernels' stamps).
    #[arg(long, default_value = "afxdp", value_parser = ["afxdp", "xdp", "packet"])]
    pub rx_engine: String,
    /// Rate: frames/s (1000, 1.5M, 500kpps), bits/s on the wire (1Gbps, 100Mbit), or max.
    #[arg(long, default_value = "max")]
    pub rate: String,
    /// Frame size on the wire with FCS (64..MTU+18; jumbo frames up to 9018 and beyond with
    /// the afxdp engine), a range A-B, `imix` or `imix-jumbo` (7 x 64, 4 x 594, 1 x 1518,
    /// 1 x 9018).
    #[arg(long, default_value = "64")]
    pub size: String,
    /// Simple IMIX (7 x 64, 4 x 594, 1 x 1518) instead of --size.
    #[arg(long)]
    pub imix: bool,
    /// Vary MACs, IPs and UDP ports over N flows.
    #[arg(long, default_value_t = 1)]
    pub flows: u32,
    /// 802.1Q tag: VID or VID:PCP.
    #[arg(long)]
    pub vlan: Option<String>,
    /// Seconds to send.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Frames to send.
    #[arg(long)]
    pub count: Option<u64>,
    /// Destination MAC (default: the --rx interface's, else broadcast).
    #[arg(long)]
    pub dst_mac: Option<String>,
    /// Source MAC (default: the --tx interface's).
    #[arg(long)]
    pub src_mac: Option<String>,
    #[arg(long, default_value = "198.18.0.1")]
    pub src_ip: String,
    #[arg(long, default_value = "198.18.0.2")]
    pub dst_ip: String,
    /// Core for the transmit thread.
    #[arg(long)]
    pub core: Option<usize>,
    /// Core for the receive thread.
    #[arg(long)]
    pub rx_core: Option<usize>,
    /// Find the highest rate with loss at most --loss (RFC 2544 style).
    #[arg(long)]
    pub search: bool,
    /// Loss threshold for --search, in percent.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Seconds per --search trial.
    #[arg(long, default_value_t = 2.0)]
    pub trial: f64,
    /// RFC 2889 test against a learning bridge: `caching` (address caching capacity) or
    /// `learning` (address learning rate). --tx is the learning port, --rx the test port,
    /// --monitor the monitor port; see --addresses, --rate, --between.
    #[arg(long, value_name = "TEST")]
    pub rfc2889: Option<String>,
    /// RFC 2889: the monitor port (flooded test frames show up there).
    #[arg(long)]
    pub monitor: Option<String>,
    /// Network namespace of --monitor.
    #[arg(long)]
    pub monitor_netns: Option<String>,
    /// RFC 2889: addresses (the caching test's upper bound, the learning test's count).
    #[arg(long, default_value_t = 1024)]
    pub addresses: u32,
    /// RFC 2889: a shell command that clears the bridge's table, run before each trial
    /// (e.g. "xdpgraph ctl msg br0: reset", "bridge fdb flush dev br0").
    #[arg(long, value_name = "CMD")]
    pub between: Option<String>,
    /// Send nothing: count what arrives on --rx (the XDP counting sink) for --duration seconds,
    /// e.g. from another sender; the rate is over the window frames came in.
    #[arg(long)]
    pub rx_only: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// No per-second lines.
    #[arg(long)]
    pub quiet: bool,
}

fn ip(s: &str) -> Result<[u8; 4], GenError> {
    s.parse::<std::net::Ipv4Addr>()
        .map(|a| a.octets())
        .map_err(|_| GenError::Invalid(format!("bad IPv4 address {s:?}")))
}

/// `--vlan VID[:PCP]`.
fn vlan(v: &str) -> Result<(u16, u8), GenError> {
    let (vid, pcp) = v.split_once(':').unwrap_or((v, "0"));
    let vid: u16 = vid
        .parse()
        .ok()
        .filter(|v| *v <= 4095)
        .ok_or_else(|| GenError::Invalid(format!("--vlan {v}: VID 0..4095")))?;
    let pcp: u8 = pcp
        .parse()
        .ok()
        .filter(|p| *p <= 7)
        .ok_or_else(|| GenError::Invalid(format!("--vlan {v}: PCP 0..7")))?;
    Ok((vid, pcp))
}

/// Turns arguments into a run configuration.
pub fn config(a: &GenArgs) -> Result<GenConfig, GenError> {
    if a.duration.is_none() && a.count.is_none() && !a.search && a.rfc2889.is_none() {
        return Err(GenError::Invalid(
            "give --duration SECS or --count N".into(),
        ));
    }
    let vlan = a.vlan.as_deref().map(vlan).transpose()?;
    let parse_mac = |s: &str| {
        s.parse::<MacAddr>()
            .map_err(|e| GenError::Invalid(e.to_string()))
    };
    let src_mac = match &a.src_mac {
        Some(m) => parse_mac(m)?,
        None => gen::interface_mac(a.tx_netns.as_deref(), &a.tx).ok_or_else(|| {
            GenError::Invalid(format!("no interface {} (netns {:?})", a.tx, a.tx_netns))
        })?,
    };
    let dst_mac = match (&a.dst_mac, &a.rx) {
        (Some(m), _) => parse_mac(m)?,
        (None, Some(rx)) => {
            gen::interface_mac(a.rx_netns.as_deref(), rx).unwrap_or(MacAddr::BROADCAST)
        }
        _ => MacAddr::BROADCAST,
    };
    if a.flows == 0 || a.flows > 65536 {
        return Err(GenError::Invalid("--flows: 1..=65536".into()));
    }
    Ok(GenConfig {
        tx: a.tx.clone(),
        tx_netns: a.tx_netns.clone(),
        rx: a.rx.clone(),
        rx_netns: a.rx_netns.clone(),
        engine: match a.engine.as_str() {
            "replay" => Engine::Replay,
            "packet" => Engine::Packet,
            _ => Engine::Afxdp,
        },
        rx_engine: match a.rx_engine.as_str() {
            "xdp" => RxEngine::Xdp,
            "packet" => RxEngine::Packet,
            _ => RxEngine::Afxdp,
        },
        rate: Rate::parse(&a.rate)?,
        sizes: if a.imix {
            Sizes::Imix
        } else {
            Sizes::parse(&a.size)?
        },
        spec: FrameSpec {
            src_mac,
            dst_mac,
            src_ip: ip(&a.src_ip)?,
            dst_ip: ip(&a.dst_ip)?,
            vlan,
            flows: a.flows,
            dst_flows: false,
        },
        duration: a.duration.map(Duration::from_secs_f64),
        count: a.count,
        tx_core: a.core,
        rx_core: a.rx_core,
        drain: Duration::from_millis(300),
    })
}

/// The final table.
pub fn table(r: &Report) -> String {
    let mut s = format!(
        "engine {}   {:.2} s\n  sent      {:>12} frames  {:>9.3} Mpps  {:>9.3} Gbit/s (L1)\n",
        r.engine,
        r.seconds,
        r.tx_frames,
        r.tx_pps / 1e6,
        r.tx_l1_bps / 1e9
    );
    if let Some(n) = r.tx_refused {
        s += &format!(
            "  refused   {n:>12} frames  by the device after the engine handed them over (not counted as sent)\n"
        );
    }
    if let Some(rx) = r.rx_frames {
        s += &format!(
            "  received  {:>12} frames  {:>9.3} Mpps\n",
            rx,
            r.rx_pps.unwrap_or(0.0) / 1e6
        );
        s += &format!(
            "  lost      {:>12} frames  ({:.4}%)\n",
            r.lost.unwrap_or(0),
            r.loss_ratio.unwrap_or(0.0) * 100.0
        );
        if let (Some(o), Some(d)) = (r.reordered, r.duplicated) {
            s += &format!("  reordered {:>12}         duplicated {}\n", o, d);
        }
        if let Some(n) = r.rx_socket_dropped.filter(|n| *n > 0) {
            s += &format!(
                "  of those lost, {n} were dropped by the receiving socket (its queue full), not on the path\n"
            );
        }
    }
    if let Some(a) = r.arrivals {
        s += &format!(
            "  at the sink {:>9} frames in {:.3} s: {:.3} Mpps; per ms p1 {:.0}  p50 {:.0}  p99 {:.0}  idle {:.1}% of ms\n",
            a.frames,
            a.seconds,
            a.pps / 1e6,
            a.per_ms_p1,
            a.per_ms_p50,
            a.per_ms_p99,
            a.idle_ms_share * 100.0
        );
    }
    if let Some(l) = r.latency {
        s += &format!(
            "  latency us  min {:.1}  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}  ({})\n",
            l.min, l.p50, l.p90, l.p99, l.p999, l.max, l.mean,
            match r.latency_source {
                Some("kernel") => "kernel stamps: sending driver to receiving stack",
                _ => "the TX time in the frame to the receiver's clock",
            }
        );
    }
    s
}

/// `--rfc2889`: the run's configuration.
pub fn rfc2889_config(
    a: &GenArgs,
    base: GenConfig,
) -> Result<gen::rfc2889::Rfc2889Config, GenError> {
    use gen::rfc2889::{Port, Rfc2889Config, Test};
    let test = Test::parse(a.rfc2889.as_deref().unwrap_or_default())?;
    let monitor = a
        .monitor
        .clone()
        .ok_or_else(|| GenError::Invalid("--rfc2889 needs --monitor (the monitor port)".into()))?;
    let rate = match Rate::parse(&a.rate)? {
        Rate::Max => None,
        Rate::Pps(p) => Some(p),
        Rate::Bps(_) => {
            return Err(GenError::Invalid(
                "--rfc2889: give --rate in frames/s".into(),
            ))
        }
    };
    Ok(Rfc2889Config {
        test,
        base,
        monitor: Port {
            ifname: monitor,
            netns: a.monitor_netns.clone(),
        },
        addresses: a.addresses,
        rate,
        between: a.between.clone(),
    })
}

/// Runs `xdpgraph gen --rfc2889`.
fn rfc2889(a: &GenArgs, cfg: GenConfig) -> Result<(), GenError> {
    let c = rfc2889_config(a, cfg)?;
    let quiet = a.quiet || a.json;
    let r = gen::rfc2889::run(&c, &mut |l| {
        if !quiet {
            eprintln!("  {l}");
        }
    })?;
    if a.json {
        println!("{}", r.to_json());
    } else {
        match r.test {
            gen::rfc2889::Test::Caching => println!(
                "RFC 2889 address caching capacity: {} addresses (of {} tried)",
                r.result, c.addresses
            ),
            gen::rfc2889::Test::Learning => println!(
                "RFC 2889 address learning rate: {:.0} addresses/s ({} addresses)",
                r.result, c.addresses
            ),
        }
    }
    Ok(())
}

/// Runs `xdpgraph gen`.
pub fn main(a: GenArgs) -> Result<(), GenError> {
    xdpgraph::sys::netdev::catch_stop_signals();
    let cfg = config(&a)?;
    if a.rfc2889.is_some() {
        return rfc2889(&a, cfg);
    }
    if a.rx_only {
        let r = gen::sink_only(&cfg)?;
        if a.json {
            println!("{}", r.to_json());
        } else {
            print!("{}", table(&r));
        }
        return Ok(());
    }
    if a.search {
        let trial = Duration::from_secs_f64(a.trial);
        let quiet = a.quiet || a.json;
        let (rate, r) = gen::search(&cfg, a.loss / 100.0, trial, &mut |l| {
            if !quiet {
                eprintln!("  {l}");
            }
        })?;
        if a.json {
            println!(
                "{}",
                serde_json::json!({"search": {"loss_threshold_pct": a.loss, "pps": rate}, "last": r.to_json()})
            );
        } else {
            println!(
                "highest rate with loss <= {}%: {:.3} Mpps",
                a.loss,
                rate / 1e6
            );
            print!("{}", table(&r));
        }
        return Ok(());
    }
    let (mut last_t, mut last_tx, mut last_rx) = (0.0, 0u64, 0u64);
    let quiet = a.quiet || a.json;
    let r = gen::run(&cfg, &mut |t, live| {
        use std::sync::atomic::Ordering::Relaxed;
        let (tx, rx, p99) = (
            live.tx.load(Relaxed),
            live.rx.load(Relaxed),
            live.p99_ns.load(Relaxed),
        );
        let dt = (t - last_t).max(1e-9);
        if !quiet {
            let mut l = format!("{t:6.1}s  tx {:8.3} Mpps", (tx - last_tx) as f64 / dt / 1e6);
            if cfg.rx.is_some() {
                let (dtx, drx) = (tx - last_tx, rx.saturating_sub(last_rx));
                let loss = if dtx > 0 {
                    (1.0 - drx as f64 / dtx as f64).max(0.0) * 100.0
                } else {
                    0.0
                };
                l += &format!("  rx {:8.3} Mpps  loss {loss:6.2}%", drx as f64 / dt / 1e6);
                if p99 > 0 {
                    l += &format!("  p99 {:.1} us", p99 as f64 / 1000.0);
                }
            }
            eprintln!("{l}");
        }
        (last_t, last_tx, last_rx) = (t, tx, rx);
    })?;
    if a.json {
        println!("{}", r.to_json());
    } else {
        print!("{}", table(&r));
    }
    Ok(())
}
