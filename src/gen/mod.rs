//! The traffic generator (`xdpgraph gen`).
//!
//! * Engines ([`tx`]): `afxdp` builds every frame in an AF_XDP UMEM (sequence number, TX time,
//!   UDP checksum per frame) and paces evenly; `replay` has the kernel replay a template
//!   through an XDP program with `BPF_PROG_RUN` and live frames (the xdp-trafficgen technique:
//!   several Mpps from one thread), the program stamping each frame.
//! * Receivers ([`rx`]): `afxdp` matches every frame (received, lost, reordered, duplicated,
//!   latency histogram); `xdp` counts with an XDP program (for rates above what AF_XDP copy
//!   mode can take).
//! * [`frame`]: Ethernet/IPv4/UDP frames, flows, 802.1Q, sizes and IMIX; [`rate`]: rates and
//!   pacing; [`xdp`]: the helper XDP programs.
//! * [`rfc2889`]: RFC 2889's address caching capacity and learning rate of a bridge.
//!
//! "Sent" is what the device accepted (issue 16): the replay engine counts what the driver's
//! XDP transmit counter took (veth: `tx_queue_N_xdp_xmit`) and reports the rest of what its
//! program handed over as `refused`; the AF_XDP engine counts completions less the device's
//! transmit drops (`tx_dropped`: a veth drops frames its peer's ring has no room for).
//!
//! Pacing is even at the microsecond scale: the replay engine's program waits for each
//! frame's due time (groups of at most 16 frames), the AF_XDP engine sleeps between bursts.
//! The XDP counting receiver measures the rate at the sink over the window frames arrived in,
//! and how evenly they came per millisecond ([`rx::Arrivals`]).
//!
//! A run is described by a plain [`GenConfig`] and made by [`run`] (or [`search`]); the
//! `xdpgraph gen` command line is the binary's (`src/cli/gen.rs`).

pub mod frame;
pub mod packet;
pub mod rate;
pub mod rfc2889;
pub mod rx;
pub mod tx;
pub mod xdp;

use crate::errno::Errno;
use frame::{FrameSpec, Sizes};
use rate::Rate;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which transmit engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Afxdp,
    Replay,
    /// AF_PACKET, one frame per due time, stamped by the kernel ([`packet`]).
    Packet,
}

/// Which receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxEngine {
    Afxdp,
    Xdp,
    /// AF_PACKET, every frame stamped by the kernel as it arrives ([`packet`]).
    Packet,
}

/// A generator run.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub tx: String,
    pub tx_netns: Option<String>,
    pub rx: Option<String>,
    pub rx_netns: Option<String>,
    pub engine: Engine,
    pub rx_engine: RxEngine,
    pub rate: Rate,
    pub sizes: Sizes,
    pub spec: FrameSpec,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub tx_core: Option<usize>,
    pub rx_core: Option<usize>,
    /// Time to keep receiving after the last frame is sent.
    pub drain: Duration,
}

/// Live counters shared by the engine, the receiver and the reporter.
#[derive(Debug, Default)]
pub struct Live {
    pub tx: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub rx: AtomicU64,
    /// p99 latency of the last second, ns (0: none).
    pub p99_ns: AtomicU64,
}

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub engine: &'static str,
    pub seconds: f64,
    /// Frames the device accepted.
    pub tx_frames: u64,
    /// Frames the device refused after the engine handed them over (not in `tx_frames`);
    /// None where the driver does not count them (see `tx::TxResult::refused`).
    pub tx_refused: Option<u64>,
    /// Bytes on the wire including FCS.
    pub tx_bytes: u64,
    pub tx_pps: f64,
    /// Bits per second counting preamble and inter-frame gap (20 B per frame).
    pub tx_l1_bps: f64,
    pub rx_frames: Option<u64>,
    /// Bytes received, with FCS.
    pub rx_bytes: Option<u64>,
    pub rx_pps: Option<f64>,
    pub lost: Option<u64>,
    pub reordered: Option<u64>,
    pub duplicated: Option<u64>,
    pub loss_ratio: Option<f64>,
    pub latency: Option<Latency>,
    /// Where the latency's stamps come from: "kernel" (the `packet` engine and receiver: the
    /// sending driver's and the receiving stack's software stamps) or "frame" (the TX time the
    /// engine wrote into the frame just before handing it over, against the receiver's clock
    /// when it reads the frame).
    pub latency_source: Option<&'static str>,
    /// Frames the `packet` receiver's socket had no room for: lost at the receiver, not on
    /// the path (they are in `lost`).
    pub rx_socket_dropped: Option<u64>,
    /// The XDP counting receiver: the rate at the sink over the window frames came in, and how
    /// evenly they came (per millisecond).
    pub arrivals: Option<rx::Arrivals>,
}

impl Report {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "engine": self.engine,
            "seconds": self.seconds,
            "tx": {"frames": self.tx_frames, "refused": self.tx_refused, "bytes": self.tx_bytes, "pps": self.tx_pps, "l1_bps": self.tx_l1_bps},
            "rx": self.rx_frames.map(|f| serde_json::json!({
                "frames": f, "bytes": self.rx_bytes, "pps": self.rx_pps, "lost": self.lost, "reordered": self.reordered,
                "duplicated": self.duplicated, "loss_ratio": self.loss_ratio,
                "socket_dropped": self.rx_socket_dropped,
            })),
            "latency_us": self.latency.map(|l| serde_json::json!({
                "min": l.min, "p50": l.p50, "p90": l.p90, "p99": l.p99, "p99.9": l.p999, "max": l.max, "mean": l.mean,
                "stamps": self.latency_source,
            })),
            "sink": self.arrivals.map(|a| serde_json::json!({
                "seconds": a.seconds, "frames": a.frames, "pps": a.pps,
                "per_ms": {"p1": a.per_ms_p1, "p50": a.per_ms_p50, "p99": a.per_ms_p99, "idle_share": a.idle_ms_share},
            })),
        })
    }
}

/// Why a run failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenError {
    /// A bad setting (a rate, a size, an address).
    #[error("{0}")]
    Invalid(String),
    /// Sockets, programs or threads could not be set up.
    #[error("{0}")]
    Setup(String),
    #[error(
        "frames sent on {0} are refused: a veth delivers XDP_TX/redirected frames only when its peer runs NAPI \
         (a native XDP program on the peer — xdpgraph run attaches one — or GRO on: ethtool -K PEER gro on), \
         or use --engine afxdp"
    )]
    Refused(String),
}

impl GenError {
    /// The errno `ctl` reports for it.
    pub fn errno(&self) -> Errno {
        match self {
            GenError::Invalid(_) => Errno::EINVAL,
            GenError::Setup(_) => Errno::EIO,
            GenError::Refused(_) => Errno::EOPNOTSUPP,
        }
    }
}

/// The MAC address of `ifname` in network namespace `ns` (None when there is no such
/// interface).
pub fn interface_mac(ns: Option<&str>, ifname: &str) -> Option<crate::wire::MacAddr> {
    let n = ifname.to_string();
    xdp::in_netns(ns, move || crate::sys::netdev::mac(&n).ok())
        .ok()
        .flatten()
}

/// Counts what arrives on `cfg.rx` with the XDP counting sink for `cfg.duration`, sending
/// nothing (a sink for another sender, e.g. xdp-trafficgen, measured as the generator's own).
pub fn sink_only(cfg: &GenConfig) -> Result<Report, GenError> {
    let (Some(_), Some(d)) = (&cfg.rx, cfg.duration) else {
        return Err(GenError::Invalid(
            "--rx-only needs --rx and --duration".into(),
        ));
    };
    let mut c = cfg.clone();
    c.rx_engine = RxEngine::Xdp;
    let live = Arc::new(Live::default());
    let stop = Arc::new(AtomicBool::new(false));
    let h = rx::start(&c, live, stop.clone())?;
    let t0 = Instant::now();
    while t0.elapsed() < d && crate::sys::netdev::stop_signal().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let x = h
        .join()
        .map_err(|_| GenError::Setup("the receive thread panicked".into()))??;
    Ok(Report {
        engine: "none",
        seconds: t0.elapsed().as_secs_f64(),
        rx_frames: Some(x.frames),
        rx_bytes: Some(x.bytes),
        rx_pps: x.arrivals.map(|a| a.pps),
        arrivals: x.arrivals,
        ..Default::default()
    })
}

/// Runs the generator; `tick` is called about once a second with (elapsed, live counters).
pub fn run(cfg: &GenConfig, tick: &mut dyn FnMut(f64, &Live)) -> Result<Report, GenError> {
    let max_size = tx::max_wire_size(cfg)?;
    check_sizes(cfg, max_size)?;
    let live = Arc::new(Live::default());
    let stop_tx = Arc::new(AtomicBool::new(false));
    let stop_rx = Arc::new(AtomicBool::new(false));
    let receiver = match &cfg.rx {
        Some(_) => Some(rx::start(cfg, live.clone(), stop_rx.clone())?),
        None => None,
    };
    // (After the receiver is up: it may be what puts an XDP program on the peer.)
    if cfg.engine == Engine::Replay {
        if let Some(false) = xdp::veth_peer_has_xdp(cfg.tx_netns.as_deref(), &cfg.tx) {
            stop_rx.store(true, Ordering::SeqCst);
            if let Some(h) = receiver {
                let _ = h.join();
            }
            return Err(GenError::Refused(cfg.tx.clone()));
        }
    }
    let t0 = Instant::now();
    let tx = tx::start(cfg, max_size, live.clone(), stop_tx.clone())?;
    let mut next = 1.0;
    // The duration counts from the first frame, not from the engine's setup (the replay
    // engine's program load and first call take ~0.1-0.3 s); a run whose engine never sends is
    // stopped 10 s after the duration.
    let mut started: Option<Instant> = None;
    while !tx.is_finished() {
        std::thread::sleep(Duration::from_millis(if started.is_some() {
            20
        } else {
            1
        }));
        if started.is_none() && live.tx.load(Ordering::Relaxed) > 0 {
            started = Some(Instant::now());
        }
        let el = t0.elapsed().as_secs_f64();
        if el >= next {
            tick(el, &live);
            next += 1.0;
        }
        let over = cfg.duration.is_some_and(|d| match started {
            Some(s) => s.elapsed() >= d,
            None => t0.elapsed() >= d + Duration::from_secs(10),
        });
        if over || crate::sys::netdev::stop_signal().is_some() {
            stop_tx.store(true, Ordering::SeqCst);
        }
    }
    let txr = tx
        .join()
        .map_err(|_| GenError::Setup("the transmit thread panicked".into()))??;
    std::thread::sleep(cfg.drain);
    stop_rx.store(true, Ordering::SeqCst);
    let rxr = match receiver {
        Some(h) => Some(
            h.join()
                .map_err(|_| GenError::Setup("the receive thread panicked".into()))??,
        ),
        None => None,
    };
    report(cfg, txr, rxr)
}

/// Refuses fixed sizes (or a range's start) the header or the interface cannot have.
fn check_sizes(cfg: &GenConfig, max_size: usize) -> Result<(), GenError> {
    if let Sizes::Fixed(n) | Sizes::Range(n, _) = cfg.sizes {
        if n < cfg.spec.min_size() {
            return Err(GenError::Invalid(format!(
                "--size {n}: the smallest frame with this header is {} bytes",
                cfg.spec.min_size()
            )));
        }
        if n > max_size && cfg.engine == Engine::Replay && max_size == tx::REPLAY_MAX_WIRE {
            return Err(GenError::Invalid(format!(
                "--size {n}: the replay engine sends at most {max_size} bytes (with FCS): the \
                 kernel's BPF_PROG_RUN refuses larger live frames; use --engine afxdp for jumbo \
                 frames"
            )));
        }
        if n > max_size {
            return Err(GenError::Invalid(format!(
                "--size {n}: larger than {} allows ({max_size} bytes with FCS: its MTU)",
                cfg.tx
            )));
        }
    }
    Ok(())
}

/// What was sent and received, as rates and losses.
fn report(
    cfg: &GenConfig,
    txr: tx::TxResult,
    rxr: Option<rx::RxResult>,
) -> Result<Report, GenError> {
    let seconds = txr.seconds;
    let mut r = Report {
        engine: match cfg.engine {
            Engine::Afxdp => "afxdp",
            Engine::Replay => "replay",
            Engine::Packet => "packet",
        },
        seconds,
        tx_frames: txr.frames,
        tx_refused: txr.refused,
        tx_bytes: txr.bytes,
        tx_pps: txr.frames as f64 / seconds.max(1e-9),
        tx_l1_bps: (txr.bytes + 20 * txr.frames) as f64 * 8.0 / seconds.max(1e-9),
        ..Default::default()
    };
    if txr.frames == 0 && txr.refused.unwrap_or(0) > 1000 {
        // the device took nothing it was handed
        return Err(GenError::Refused(cfg.tx.clone()));
    }
    let Some(x) = rxr else {
        return Ok(r);
    };
    r.rx_frames = Some(x.frames);
    r.rx_bytes = Some(x.bytes);
    r.rx_pps = Some(x.frames as f64 / seconds.max(1e-9));
    let lost = match x.unique {
        Some(u) => {
            r.reordered = Some(x.reordered);
            r.duplicated = Some(x.duplicated);
            txr.frames.saturating_sub(u)
        }
        None => txr.frames.saturating_sub(x.frames),
    };
    r.lost = Some(lost);
    r.loss_ratio = Some(if txr.frames == 0 {
        0.0
    } else {
        lost as f64 / txr.frames as f64
    });
    r.latency = match (&txr.stamps, &x.stamps) {
        (Some(t), Some(s)) => packet::latency(t, s)?,
        _ => x.latency,
    };
    r.latency_source = if r.latency.is_none() {
        None
    } else if txr.stamps.is_some() && x.stamps.is_some() {
        Some("kernel")
    } else {
        Some("frame")
    };
    r.rx_socket_dropped = x.socket_dropped;
    r.arrivals = x.arrivals;
    if txr.frames > 1000 && x.frames == 0 && cfg.engine == Engine::Replay {
        return Err(GenError::Refused(cfg.tx.clone()));
    }
    Ok(r)
}

/// RFC 2544-style search: the highest rate whose loss is at most `max_loss` (a ratio), by
/// bisection between 0 and the unpaced rate, each trial lasting `trial`.
pub fn search(
    cfg: &GenConfig,
    max_loss: f64,
    trial: Duration,
    log: &mut dyn FnMut(&str),
) -> Result<(f64, Report), GenError> {
    let mut c = cfg.clone();
    c.count = None;
    c.duration = Some(trial);
    if c.rx.is_none() {
        return Err(GenError::Invalid("--search needs --rx".into()));
    }
    search_by(
        max_loss,
        &mut |rate| {
            c.rate = rate;
            run(&c, &mut |_, _| {})
        },
        log,
    )
}

/// The search itself, over any trial function (a run at the given rate): one unpaced trial
/// gives the upper bound, then bisection until the interval is within 1% of it. Returns the
/// highest rate whose trial met `max_loss`, with that trial's report.
pub fn search_by(
    max_loss: f64,
    trial: &mut dyn FnMut(Rate) -> Result<Report, GenError>,
    log: &mut dyn FnMut(&str),
) -> Result<(f64, Report), GenError> {
    let first = trial(Rate::Max)?;
    let Some(first_loss) = first.loss_ratio else {
        return Err(GenError::Invalid("--search needs --rx".into()));
    };
    log(&format!(
        "unpaced: {:.3} Mpps sent, loss {:.4}%",
        first.tx_pps / 1e6,
        first_loss * 100.0
    ));
    if first_loss <= max_loss {
        return Ok((first.tx_pps, first));
    }
    let (mut lo, mut hi) = (0.0f64, first.tx_pps);
    let mut best: Option<(f64, Report)> = None;
    while hi - lo > first.tx_pps * 0.01 {
        let mid = (lo + hi) / 2.0;
        let r = trial(Rate::Pps(mid))?;
        let ok = r.loss_ratio.unwrap_or(1.0) <= max_loss;
        log(&format!(
            "{:.3} Mpps: loss {:.4}% {}",
            mid / 1e6,
            r.loss_ratio.unwrap_or(0.0) * 100.0,
            if ok { "ok" } else { "too much" }
        ));
        if ok {
            lo = mid;
            best = Some((r.tx_pps, r));
        } else {
            hi = mid;
        }
    }
    best.ok_or_else(|| GenError::Setup("no rate met the loss threshold".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device that carries `cap` pps and loses everything above it; unpaced, the sender
    /// manages `line` pps.
    fn device(
        cap: f64,
        line: f64,
        trials: &mut Vec<f64>,
    ) -> impl FnMut(Rate) -> Result<Report, GenError> + '_ {
        move |rate| {
            let sent = match rate {
                Rate::Max => line,
                Rate::Pps(p) => p,
                Rate::Bps(_) => unreachable!(),
            };
            trials.push(sent);
            let got = sent.min(cap);
            Ok(Report {
                tx_pps: sent,
                rx_pps: Some(got),
                loss_ratio: Some((sent - got) / sent),
                ..Default::default()
            })
        }
    }

    #[test]
    fn search_converges_on_the_capacity() {
        let mut trials = Vec::new();
        let mut lines = Vec::new();
        let (rate, r) = search_by(
            0.001,
            &mut device(370_000.0, 1_000_000.0, &mut trials),
            &mut |l| lines.push(l.to_string()),
        )
        .unwrap();
        assert!(rate <= 370_000.0 * 1.001, "{rate}");
        assert!(rate >= 370_000.0 - 10_000.0, "{rate}");
        assert!(r.loss_ratio.unwrap() <= 0.001);
        assert_eq!(trials[0], 1_000_000.0, "first trial is unpaced");
        assert!(trials.len() <= 9, "{trials:?}");
        assert_eq!(lines.len(), trials.len());
    }

    #[test]
    fn search_stops_at_once_when_unpaced_meets_the_threshold() {
        let mut trials = Vec::new();
        let (rate, _) = search_by(0.0, &mut device(2e6, 1e6, &mut trials), &mut |_| {}).unwrap();
        assert_eq!((rate, trials.len()), (1e6, 1));
    }

    #[test]
    fn search_reports_when_no_rate_meets_the_threshold() {
        // a constant 10% loss (a hole on one flow in ten) never meets 1%
        let mut n = 0;
        let e = search_by(
            0.01,
            &mut |rate| {
                n += 1;
                let sent = match rate {
                    Rate::Pps(p) => p,
                    _ => 1e6,
                };
                Ok(Report {
                    tx_pps: sent,
                    loss_ratio: Some(0.1),
                    ..Default::default()
                })
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("no rate met"), "{e}");
        assert!(n > 1);
    }

    #[test]
    fn search_needs_a_receiver() {
        let e = search_by(0.01, &mut |_| Ok(Report::default()), &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("--rx"), "{e}");
    }
}
