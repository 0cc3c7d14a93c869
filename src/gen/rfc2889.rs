//! RFC 2889 (benchmarking LAN switching devices): address caching capacity (§5.7) and address
//! learning rate (§5.8) of a learning bridge (`xdpgraph gen --rfc2889 caching|learning`).
//!
//! Three ports of the device under test: the learning port (`--tx`), the test port (`--rx`)
//! and the monitor port (`--monitor`). A trial with N addresses at rate R:
//! 1. the table is cleared (`--between CMD`, e.g. `xdpgraph ctl msg br0: reset` or
//!    `bridge fdb flush dev br0`: the generator cannot reach into the device), and the test
//!    port's own address is made known (one broadcast from it);
//! 2. learning frames: N frames from the learning port, each from another source address
//!    (02:89:00:00:00:00 + i), to the test port's address, at R frames/s;
//! 3. test frames: N frames from the test port to those N addresses, at a moderate rate
//!    ([`TEST_PPS`]);
//! 4. the trial passes when the learning port received all N test frames and the monitor port
//!    none (a test frame flooded there was sent to an address the device had not learned).
//!
//! Caching capacity: the most addresses (up to `--addresses`) whose trial passes at the given
//! rate (default [`CACHING_PPS`]), by bisection. Learning rate: the highest rate (up to the
//! unpaced sender's) at which `--addresses` addresses are all learned, by bisection to 1%.
//! Frame counts are the interfaces' own receive counters (`/proc/net/dev` in their namespaces).
//! Only the AF_XDP engine builds frames to many destinations.

use super::frame::{FrameSpec, Sizes};
use super::rate::Rate;
use super::{Engine, GenConfig, GenError};
use crate::wire::MacAddr;
use std::time::Duration;

/// The test frames' rate (frames/s): slow enough for any device to forward.
pub const TEST_PPS: f64 = 20_000.0;
/// The caching test's learning rate when none is given.
pub const CACHING_PPS: f64 = 10_000.0;
/// The first learned address; address i is this + i (low 16 bits).
pub const BASE_MAC: MacAddr = MacAddr([0x02, 0x89, 0, 0, 0, 0]);

/// Which RFC 2889 test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// §5.7, address caching capacity.
    Caching,
    /// §5.8, address learning rate.
    Learning,
}

impl Test {
    pub fn parse(s: &str) -> Result<Test, GenError> {
        match s {
            "caching" => Ok(Test::Caching),
            "learning" => Ok(Test::Learning),
            _ => Err(GenError::Invalid(format!(
                "--rfc2889 {s}: caching or learning"
            ))),
        }
    }
}

/// An interface, in a network namespace or not.
#[derive(Debug, Clone)]
pub struct Port {
    pub ifname: String,
    pub netns: Option<String>,
}

/// An RFC 2889 run. `base` describes the learning port (`tx`), the test port (`rx`), the
/// engine's cores; its rate, sizes, count and flows are the test's.
#[derive(Debug, Clone)]
pub struct Rfc2889Config {
    pub test: Test,
    pub base: GenConfig,
    pub monitor: Port,
    /// Addresses: the caching test's upper bound, the learning test's count (1..=65536).
    pub addresses: u32,
    /// The caching test's learning rate; the learning test's upper bound (None: unpaced).
    pub rate: Option<f64>,
    /// A shell command run before each trial to clear the device's table.
    pub between: Option<String>,
}

/// One trial.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    pub addresses: u32,
    /// Learning frames per second the sender reached.
    pub rate: f64,
    /// Test frames received at the learning port / at the monitor port.
    pub delivered: u64,
    pub flooded: u64,
    pub pass: bool,
}

/// The result: caching capacity (addresses) or learning rate (addresses per second), with the
/// trials that found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rfc2889Report {
    pub test: Test,
    pub result: f64,
    pub trials: Vec<Trial>,
}

impl Rfc2889Report {
    pub fn to_json(&self) -> serde_json::Value {
        let trials: Vec<_> = (self.trials.iter())
            .map(|t| serde_json::json!({"addresses": t.addresses, "rate": t.rate, "delivered": t.delivered, "flooded": t.flooded, "pass": t.pass}))
            .collect();
        let (k, unit) = match self.test {
            Test::Caching => ("caching_capacity", "addresses"),
            Test::Learning => ("learning_rate", "addresses/s"),
        };
        serde_json::json!({"rfc2889": {k: self.result, "unit": unit, "trials": trials}})
    }
}

/// Runs the test; `log` gets a line per trial.
pub fn run(c: &Rfc2889Config, log: &mut dyn FnMut(&str)) -> Result<Rfc2889Report, GenError> {
    check(c)?;
    let mut trials = Vec::new();
    let mut trial = |n: u32, rate: Rate| -> Result<Trial, GenError> {
        let t = self::trial(c, n, rate)?;
        log(&format!(
            "{n} addresses at {:.0} frames/s: {} of {n} test frames delivered, {} flooded: {}",
            t.rate,
            t.delivered,
            t.flooded,
            if t.pass { "pass" } else { "fail" }
        ));
        trials.push(t);
        Ok(t)
    };
    let result = match c.test {
        Test::Caching => {
            let rate = Rate::Pps(c.rate.unwrap_or(CACHING_PPS));
            caching(c.addresses, &mut |n| trial(n, rate))?
        }
        Test::Learning => learning(c.rate, &mut |r| trial(c.addresses, r))?,
    };
    Ok(Rfc2889Report {
        test: c.test,
        result,
        trials,
    })
}

fn check(c: &Rfc2889Config) -> Result<(), GenError> {
    if c.base.rx.is_none() {
        return Err(GenError::Invalid(
            "--rfc2889 needs --rx (the test port)".into(),
        ));
    }
    if c.base.engine != Engine::Afxdp {
        return Err(GenError::Invalid(
            "--rfc2889 builds frames to many addresses: --engine afxdp".into(),
        ));
    }
    if !(1..=65536).contains(&c.addresses) {
        return Err(GenError::Invalid("--addresses: 1..=65536".into()));
    }
    Ok(())
}

/// The most addresses in 1..=max whose trial passes (0 when even one fails).
pub fn caching(
    max: u32,
    trial: &mut dyn FnMut(u32) -> Result<Trial, GenError>,
) -> Result<f64, GenError> {
    if trial(max)?.pass {
        return Ok(max as f64);
    }
    let (mut lo, mut hi) = (0u32, max);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if trial(mid)?.pass {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo as f64)
}

/// The highest learning rate (frames/s) whose trial passes: the first trial at `max` (or
/// unpaced) gives the upper bound, then bisection to 1% of it. 0 when none passes.
pub fn learning(
    max: Option<f64>,
    trial: &mut dyn FnMut(Rate) -> Result<Trial, GenError>,
) -> Result<f64, GenError> {
    let first = trial(max.map_or(Rate::Max, Rate::Pps))?;
    if first.pass {
        return Ok(first.rate);
    }
    let top = first.rate;
    let (mut lo, mut hi, mut best) = (0.0f64, top, 0.0f64);
    while hi - lo > top * 0.01 {
        let mid = (lo + hi) / 2.0;
        let t = trial(Rate::Pps(mid))?;
        if t.pass {
            lo = mid;
            best = t.rate;
        } else {
            hi = mid;
        }
    }
    Ok(best)
}

/// One trial: the table cleared, `n` addresses learned at `rate`, `n` test frames to them.
fn trial(c: &Rfc2889Config, n: u32, rate: Rate) -> Result<Trial, GenError> {
    if let Some(cmd) = &c.between {
        let ok = std::process::Command::new("sh")
            .args(["-c", cmd])
            .status()
            .map_err(|e| GenError::Setup(format!("--between {cmd:?}: {e}")))?;
        if !ok.success() {
            return Err(GenError::Setup(format!("--between {cmd:?} failed: {ok}")));
        }
    }
    let (learn_port, test_port) = ports(c);
    let test_mac = super::interface_mac(test_port.netns.as_deref(), &test_port.ifname)
        .ok_or_else(|| GenError::Setup(format!("no interface {}", test_port.ifname)))?;
    // the test port's address known to the device (RFC 2889: learning frames go to it)
    send(
        c,
        &test_port,
        MacAddr::BROADCAST,
        test_mac,
        1,
        Rate::Pps(1000.0),
        false,
    )?;
    std::thread::sleep(Duration::from_millis(50));
    let r = send(c, &learn_port, test_mac, BASE_MAC, n, rate, false)?;
    std::thread::sleep(Duration::from_millis(100));
    let (d0, f0) = (rx_packets(&learn_port)?, rx_packets(&c.monitor)?);
    send(
        c,
        &test_port,
        BASE_MAC,
        test_mac,
        n,
        Rate::Pps(TEST_PPS),
        true,
    )?;
    std::thread::sleep(Duration::from_millis(300));
    let delivered = rx_packets(&learn_port)? - d0;
    let flooded = rx_packets(&c.monitor)? - f0;
    Ok(Trial {
        addresses: n,
        rate: r.tx_pps,
        delivered,
        flooded,
        pass: flooded == 0 && delivered >= n as u64,
    })
}

/// The learning port (`tx`) and the test port (`rx`).
fn ports(c: &Rfc2889Config) -> (Port, Port) {
    let b = &c.base;
    (
        Port {
            ifname: b.tx.clone(),
            netns: b.tx_netns.clone(),
        },
        Port {
            ifname: b.rx.clone().unwrap_or_default(),
            netns: b.rx_netns.clone(),
        },
    )
}

/// Sends `n` 64-byte frames from `from`: flows over the source address (`to_many` false) or
/// the destination address (`to_many`), starting at `src`/`dst`.
fn send(
    c: &Rfc2889Config,
    from: &Port,
    dst: MacAddr,
    src: MacAddr,
    n: u32,
    rate: Rate,
    to_many: bool,
) -> Result<super::Report, GenError> {
    let b = &c.base;
    let g = GenConfig {
        tx: from.ifname.clone(),
        tx_netns: from.netns.clone(),
        rx: None,
        rx_netns: None,
        rate,
        sizes: Sizes::Fixed(64),
        spec: FrameSpec {
            src_mac: src,
            dst_mac: dst,
            flows: n,
            dst_flows: to_many,
            vlan: None,
            ..b.spec.clone()
        },
        duration: None,
        count: Some(n as u64),
        drain: Duration::from_millis(50),
        ..b.clone()
    };
    super::run(&g, &mut |_, _| {})
}

/// The receive counter of `p` (`/proc/net/dev` of its namespace).
fn rx_packets(p: &Port) -> Result<u64, GenError> {
    let name = p.ifname.clone();
    let read = move || -> Option<u64> {
        let s = std::fs::read_to_string("/proc/thread-self/net/dev").ok()?;
        let line = s
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")))?;
        line.split_once(':')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    super::xdp::in_netns(p.netns.as_deref(), read)
        .map_err(|e| GenError::Setup(e.to_string()))?
        .ok_or_else(|| GenError::Setup(format!("{}: no receive counter", p.ifname)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u32, rate: f64, pass: bool) -> Trial {
        Trial {
            addresses: n,
            rate,
            delivered: n as u64,
            flooded: (!pass) as u64,
            pass,
        }
    }

    #[test]
    fn caching_finds_the_table_size_by_bisection() {
        let mut asked = Vec::new();
        let cap = caching(4096, &mut |n| {
            asked.push(n);
            Ok(t(n, 1e4, n <= 1000))
        })
        .unwrap();
        assert_eq!(cap, 1000.0);
        assert_eq!(asked[0], 4096, "all addresses first");
        assert!(asked.len() <= 14, "{asked:?}");
        assert_eq!(caching(64, &mut |n| Ok(t(n, 1e4, true))).unwrap(), 64.0);
        assert_eq!(caching(64, &mut |n| Ok(t(n, 1e4, false))).unwrap(), 0.0);
    }

    #[test]
    fn learning_finds_the_highest_rate_that_learns_everything() {
        // the device learns up to 300k addresses/s; the sender reaches 1M unpaced
        let dev = |r: Rate| {
            let rate = match r {
                Rate::Max => 1e6,
                Rate::Pps(p) => p,
                Rate::Bps(_) => unreachable!(),
            };
            Ok(t(1000, rate, rate <= 300_000.0))
        };
        let got = learning(None, &mut { dev }).unwrap();
        assert!(
            (290_000.0..=300_000.0).contains(&got),
            "within 1% of the top: {got}"
        );
        assert_eq!(learning(Some(100_000.0), &mut { dev }).unwrap(), 100_000.0);
    }

    #[test]
    fn the_tests_parse_and_odd_ones_are_refused() {
        assert_eq!(Test::parse("caching").unwrap(), Test::Caching);
        assert_eq!(Test::parse("learning").unwrap(), Test::Learning);
        assert!(Test::parse("throughput").is_err());
    }
}
