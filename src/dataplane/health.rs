//! Worker health. Each worker bumps its [`Heartbeat`] once per loop iteration (it waits at
//! most 10 ms in poll(2) when idle, `worker::IDLE_WAIT`, so a running worker beats about a
//! hundred times a second at least) and records a panic it caught. The management thread watches the
//! heartbeats ([`Watch`]): a worker that panicked, or whose heartbeat stood still for the stall
//! timeout, is a [`WorkerFault`]; the daemon then detaches everything and exits non-zero.
//!
//! A standing heartbeat counts only when the watcher saw it stand: over at least
//! [`MIN_STALE_OBSERVATIONS`] observations, none of them more than [`MAX_GAP`] after the one
//! before, spanning the timeout. So a stop of the whole process (SIGSTOP, a suspended VM) is
//! not a stall, even when the management thread is the first to run again: the gap restarts
//! the count, and the workers beat again before it completes.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The default stall timeout ([`DataplaneConfig::stall_timeout`](super::DataplaneConfig)).
pub const STALL_TIMEOUT: Duration = Duration::from_millis(100);
/// Observations of a standing heartbeat, in a row, before it can be a stall.
pub const MIN_STALE_OBSERVATIONS: u32 = 3;
/// Observations further apart than this do not show that a worker stood still in between
/// (the watcher itself was not running): the count starts again.
pub const MAX_GAP: Duration = Duration::from_millis(250);

const RUNNING: u8 = 0;
const STOPPED: u8 = 1;
const PANICKED: u8 = 2;

/// What a worker publishes about itself (one writer: the worker).
#[derive(Default)]
pub(crate) struct Heartbeat {
    beats: CachePadded<AtomicU64>,
    state: AtomicU8,
    free_frames: AtomicU64,
    frames: AtomicU64,
    double_frees: AtomicU64,
    panic: Mutex<Option<String>>,
}

impl Heartbeat {
    /// One loop iteration (`n`: the worker's own count).
    #[inline]
    pub fn beat(&self, n: u64) {
        self.beats.store(n, Relaxed);
    }
    pub fn beats(&self) -> u64 {
        self.beats.load(Relaxed)
    }
    /// The worker's pool: free chunks, of how many, and frees of a chunk already free.
    pub fn set_frames(&self, free: usize, total: usize, double_frees: u64) {
        self.free_frames.store(free as u64, Relaxed);
        self.frames.store(total as u64, Relaxed);
        self.double_frees.store(double_frees, Relaxed);
    }
    pub fn frames(&self) -> (u64, u64, u64) {
        let d = self.double_frees.load(Relaxed);
        (self.free_frames.load(Relaxed), self.frames.load(Relaxed), d)
    }
    pub fn stopped(&self) {
        let _ = self
            .state
            .compare_exchange(RUNNING, STOPPED, Relaxed, Relaxed);
    }
    pub fn panicked(&self, msg: String) {
        *self.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg);
        self.state.store(PANICKED, Relaxed);
    }
    /// The panic message, when the worker panicked.
    pub fn panic(&self) -> Option<String> {
        if self.state.load(Relaxed) != PANICKED {
            return None;
        }
        let m = self.panic.lock().unwrap_or_else(|e| e.into_inner());
        Some(m.clone().unwrap_or_default())
    }
    pub fn is_stopped(&self) -> bool {
        self.state.load(Relaxed) == STOPPED
    }
}

/// The text of a caught panic.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// The management thread's view of one worker's heartbeat.
#[derive(Debug, Default, Clone)]
pub(crate) struct Watch {
    last: Option<u64>,
    prev: Option<Instant>,
    /// First observation of the current standing heartbeat.
    since: Option<Instant>,
    stale: u32,
}

impl Watch {
    /// One observation of heartbeat `beats` at `now`: how long it has stood still when that is
    /// a stall (see the module documentation).
    pub fn observe(&mut self, beats: u64, now: Instant, timeout: Duration) -> Option<Duration> {
        let gap = self.prev.map(|p| now.saturating_duration_since(p));
        self.prev = Some(now);
        if self.last != Some(beats) {
            self.last = Some(beats);
            (self.since, self.stale) = (None, 0);
            return None;
        }
        if gap.is_none_or(|g| g > MAX_GAP) || self.since.is_none() {
            (self.since, self.stale) = (Some(now), 1);
            return None;
        }
        self.stale += 1;
        let stood = now.saturating_duration_since(self.since?);
        (self.stale >= MIN_STALE_OBSERVATIONS && stood >= timeout).then_some(stood)
    }

    /// How long the heartbeat has been seen standing (None: it moved at the last look).
    pub fn standing(&self) -> Option<Duration> {
        Some(self.prev?.saturating_duration_since(self.since?))
    }
}

/// A worker's state, as `ctl status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    Running,
    /// Its heartbeat was seen standing this long (not yet a stall, or one being handled).
    Standing(Duration),
    Panicked(String),
    Stopped,
}

/// A worker, as `ctl status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    pub worker: usize,
    pub core: usize,
    pub state: WorkerState,
    /// Loop iterations so far.
    pub heartbeats: u64,
    /// Free chunks of its frame memory, of how many (as last published).
    pub free_frames: u64,
    pub frames: u64,
    /// Frees of a chunk that was free already (each one a bug somewhere).
    pub double_frees: u64,
}

/// What went wrong with a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// It panicked (the message), or its thread ended while it should run.
    Panicked(String),
    /// Its heartbeat stood still this long.
    Stalled(Duration),
}

/// A worker the management thread found dead or stuck.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("worker {worker} (core {core}) {}", match .kind {
    FaultKind::Panicked(m) => format!("panicked: {m}"),
    FaultKind::Stalled(d) => format!("stalled: no progress for {} ms", d.as_millis()),
})]
pub struct WorkerFault {
    pub worker: usize,
    pub core: usize,
    pub kind: FaultKind,
}

/// A fault a test makes a worker have (a hidden hook: [`Dataplane::debug_fault`](super::Dataplane::debug_fault)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestFault {
    /// The worker panics.
    Panic,
    /// The worker stops polling for good (a sleep loop that ignores the stop flag).
    Stall,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Observations at `at` (ms) of the heartbeats `beats`; the first stall seen.
    fn run(obs: &[(u64, u64)]) -> Option<(u64, Duration)> {
        let t0 = Instant::now();
        let mut w = Watch::default();
        obs.iter().find_map(|&(at, beats)| {
            w.observe(beats, t0 + MS * at as u32, 100 * MS)
                .map(|d| (at, d))
        })
    }

    #[test]
    fn a_standing_heartbeat_is_a_stall_after_the_timeout_and_three_looks() {
        // beats until 50, then stands: looks at 100, 150, 200 see it standing
        let obs = [(0, 1), (50, 2), (100, 2), (150, 2), (200, 2), (250, 2)];
        assert_eq!(run(&obs), Some((200, 100 * MS)));
        // a moving heartbeat never is
        assert_eq!(
            run(&(0..100).map(|i| (i * 50, i)).collect::<Vec<_>>()),
            None
        );
        // a heartbeat that resumes starts over
        let obs = [(0, 1), (50, 1), (100, 1), (149, 2), (200, 2), (250, 2)];
        assert_eq!(run(&obs), None);
        // many quick looks are not enough: the timeout must pass too
        let quick: Vec<_> = (0..50).map(|i| (i, 7)).collect();
        assert_eq!(run(&quick), None);
    }

    #[test]
    fn a_stopped_process_is_not_a_stall() {
        // SIGSTOP at 120 for 10 s; the management thread runs first after SIGCONT (10120),
        // the worker 2 ms later
        let obs = [
            (0, 1),
            (50, 2),
            (100, 3),
            (10_120, 3),
            (10_170, 4),
            (10_220, 5),
        ];
        assert_eq!(run(&obs), None);
        // the same with the worker already standing twice before the stop
        let obs = [(0, 1), (50, 1), (100, 1), (10_120, 1), (10_170, 2)];
        assert_eq!(run(&obs), None);
        // but a worker that stays stuck after the stop is caught, by looks after it
        let obs = [(0, 1), (50, 1), (10_120, 1), (10_170, 1), (10_220, 1)];
        assert_eq!(run(&obs), Some((10_220, 100 * MS)));
    }
}
