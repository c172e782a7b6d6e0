//! Latency histograms (microseconds in, milliseconds out) and tallies of what went wrong.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::num;

/// 1 µs to 10 minutes, 3 significant digits.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        // The bounds are constants that hdrhistogram accepts.
        Latency(
            Histogram::new_with_bounds(1, 600_000_000, 3)
                .unwrap_or_else(|_| unreachable!("valid histogram bounds")),
        )
    }

    pub fn record(&mut self, micros: u64) {
        self.0.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    fn ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        round3(num::float(self.0.value_at_quantile(q)) / 1000.0)
    }

    pub fn p50(&self) -> f64 {
        self.ms(0.50)
    }
    pub fn p99(&self) -> f64 {
        self.ms(0.99)
    }
    pub fn p999(&self) -> f64 {
        self.ms(0.999)
    }
    pub fn max(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        round3(num::float(self.0.max()) / 1000.0)
    }
    pub fn mean(&self) -> f64 {
        round3(self.0.mean() / 1000.0)
    }

    /// "p50 1.234 ms, p99 5.678 ms, max 9.999 ms".
    pub fn brief(&self) -> String {
        format!(
            "p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms (n={})",
            self.p50(),
            self.p99(),
            self.p999(),
            self.max(),
            self.count()
        )
    }

    /// Metrics named `{prefix}_p50_ms` and so on, for a JSON result.
    pub fn metrics(&self, prefix: &str, into: &mut BTreeMap<String, Value>) {
        into.insert(format!("{prefix}_p50_ms"), json!(self.p50()));
        into.insert(format!("{prefix}_p99_ms"), json!(self.p99()));
        into.insert(format!("{prefix}_p999_ms"), json!(self.p999()));
        into.insert(format!("{prefix}_max_ms"), json!(self.max()));
        into.insert(format!("{prefix}_mean_ms"), json!(self.mean()));
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// How many times each kind of failure happened ("503 database-unavailable": 12).
#[derive(Default, Debug, Clone)]
pub struct Tally(pub BTreeMap<String, u64>);

impl Tally {
    pub fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_insert(0) += 1;
    }

    pub fn add_n(&mut self, what: impl Into<String>, n: u64) {
        *self.0.entry(what.into()).or_insert(0) += n;
    }

    pub fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.0 {
            self.add_n(k.clone(), *v);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_json(&self) -> Value {
        json!(self.0)
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        write!(f, "{}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_in_ms() {
        let mut l = Latency::new();
        for us in 1..=1000u64 {
            l.record(us * 1000);
        }
        assert!((l.p50() - 500.0).abs() < 1.0);
        assert!((l.p99() - 990.0).abs() < 2.0);
        assert!((l.max() - 1000.0).abs() < 1.0);
        let mut t = Tally::default();
        t.add("409 room-full");
        t.add("409 room-full");
        assert_eq!(t.total(), 2);
        assert_eq!(t.to_string(), "409 room-full: 2");
    }
}
