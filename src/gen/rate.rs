//! Rates (`--rate 1.5M`, `500kpps`, `1Gbps`, `100Mbit`) and even pacing.

use super::GenError;
use std::time::Instant;

/// A requested rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as possible.
    Max,
    Pps(f64),
    /// Bits per second on the wire, counting preamble, SFD and inter-frame gap (20 bytes) and
    /// the FCS, as link rates are quoted.
    Bps(f64),
}

impl Rate {
    pub fn parse(s: &str) -> Result<Rate, GenError> {
        let t = s.trim().to_ascii_lowercase();
        if t == "max" || t.is_empty() {
            return Ok(Rate::Max);
        }
        let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
        let bad = |why: &str| GenError::Invalid(format!("bad rate {s:?}{why}"));
        let v: f64 = num
            .parse()
            .map_err(|_| bad(": expected e.g. 1000, 1.5M, 500kpps, 1Gbps"))?;
        if v <= 0.0 || !v.is_finite() {
            return Err(bad(": must be positive"));
        }
        let (mult, bits) = match unit {
            "" | "pps" => (1.0, false),
            "k" | "kpps" => (1e3, false),
            "m" | "mpps" => (1e6, false),
            "g" | "gpps" => (1e9, false),
            "bps" | "bit" | "b" => (1.0, true),
            "kbps" | "kbit" | "kb" => (1e3, true),
            "mbps" | "mbit" | "mb" => (1e6, true),
            "gbps" | "gbit" | "gb" => (1e9, true),
            _ => {
                return Err(GenError::Invalid(format!(
                    "bad rate unit in {s:?} (pps, kpps, Mpps, bps, Mbps, Gbps)"
                )))
            }
        };
        Ok(if bits {
            Rate::Bps(v * mult)
        } else {
            Rate::Pps(v * mult)
        })
    }

    /// Frames per second for frames of `mean_size` bytes on the wire (with FCS).
    pub fn pps(&self, mean_size: f64) -> Option<f64> {
        match self {
            Rate::Max => None,
            Rate::Pps(p) => Some(*p),
            Rate::Bps(b) => Some(b / ((mean_size + 20.0) * 8.0)),
        }
    }
}

/// Even pacing: frame k is due at start + k / pps.
pub struct Pacer {
    start: Instant,
    pps: Option<f64>,
    sent: u64,
}

impl Pacer {
    pub fn new(pps: Option<f64>) -> Pacer {
        Pacer {
            start: Instant::now(),
            pps,
            sent: 0,
        }
    }
    /// Frames due now, at most `max`.
    #[inline]
    pub fn due(&self, max: u64) -> u64 {
        match self.pps {
            None => max,
            Some(p) => {
                let should = (self.start.elapsed().as_secs_f64() * p) as u64 + 1;
                should.saturating_sub(self.sent).min(max)
            }
        }
    }
    pub fn sent(&mut self, n: u64) {
        self.sent += n;
    }
    /// Seconds until the next frame is due (0 when one is due or unpaced).
    pub fn wait(&self) -> f64 {
        match self.pps {
            None => 0.0,
            Some(p) => ((self.sent as f64) / p - self.start.elapsed().as_secs_f64()).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(Rate::parse("1000").unwrap(), Rate::Pps(1000.0));
        assert_eq!(Rate::parse("1.5M").unwrap(), Rate::Pps(1.5e6));
        assert_eq!(Rate::parse("500kpps").unwrap(), Rate::Pps(5e5));
        assert_eq!(Rate::parse("1Gbps").unwrap(), Rate::Bps(1e9));
        assert_eq!(Rate::parse("max").unwrap(), Rate::Max);
        assert!(Rate::parse("fast").is_err());
        assert!(Rate::parse("-1").is_err());
        // 10 Gbit/s of 64-byte frames is 14.88 Mpps.
        let p = Rate::parse("10Gbps").unwrap().pps(64.0).unwrap();
        assert!((p - 14_880_952.0).abs() < 1.0);
    }

    #[test]
    fn pacer_spreads_frames() {
        let p = Pacer::new(Some(1000.0));
        assert_eq!(p.due(64), 1, "one due at the start");
        let mut p = Pacer::new(None);
        assert_eq!(p.due(64), 64);
        p.sent(64);
        assert_eq!(p.wait(), 0.0);
    }
}
