//! Number conversions for counting and reporting, in one place: std offers no `From` between
//! integers and floats beyond 32 bits, so the two `as` casts the bench needs live here, each
//! with the reason it is right.

use std::time::Duration;

/// A count as a float, for rates, averages and chart positions. Above 2^53 the result is
/// rounded to the nearest representable value, far below the precision any figure here is
/// reported with.
#[allow(
    clippy::as_conversions,
    reason = "no std conversion from u64 to f64; the rounding above 2^53 is harmless here"
)]
pub fn float(n: u64) -> f64 {
    n as f64
}

/// A length or index as a float.
pub fn float_usize(n: usize) -> f64 {
    float(count(n))
}

/// A length or index as a count. `usize` is at most 64 bits on every target Rust supports,
/// so the fallback is never taken.
pub fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A float rounded to a whole count: negative and NaN become 0, too large becomes `u64::MAX`.
#[allow(
    clippy::as_conversions,
    reason = "no std conversion from f64 to u64; `as` saturates (NaN is 0), the clamp wanted"
)]
pub fn whole(x: f64) -> u64 {
    x.round() as u64
}

/// Microseconds in `d`, saturating: `u64::MAX` µs is some 584,000 years.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_clamp() {
        assert_eq!(float(3), 3.0);
        assert_eq!(count(7), 7);
        assert_eq!(float_usize(7), 7.0);
        assert_eq!(whole(2.5), 3);
        assert_eq!(whole(-1.0), 0);
        assert_eq!(whole(f64::NAN), 0);
        assert_eq!(whole(1e30), u64::MAX);
        assert_eq!(micros(Duration::from_millis(2)), 2000);
        assert_eq!(micros(Duration::MAX), u64::MAX);
    }
}
