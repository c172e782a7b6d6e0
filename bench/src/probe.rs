//! What a bench message carries in its content: its number in the run and the moment its send
//! started, so a receiver can tell missing, duplicated and late messages apart.

use std::sync::OnceLock;
use std::time::Instant;

use crate::num;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The instant all bench timestamps count from.
pub fn epoch() -> Instant {
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds since `epoch()`.
pub fn now_micros() -> u64 {
    num::micros(epoch().elapsed())
}

pub fn micros_of(at: Instant) -> u64 {
    num::micros(at.saturating_duration_since(epoch()))
}

/// `bench k=<k> t=<micros> ` padded with `x` to `len` bytes (longer if the header needs it).
pub fn encode(k: u64, sent_micros: u64, len: usize) -> String {
    let mut s = format!("bench k={k} t={sent_micros} ");
    while s.len() < len {
        s.push('x');
    }
    s
}

/// (k, sent_micros) from a bench message's content.
pub fn decode(content: &str) -> Option<(u64, u64)> {
    let rest = content.strip_prefix("bench k=")?;
    let (k, rest) = rest.split_once(" t=")?;
    let t = rest.split(' ').next()?;
    Some((k.parse().ok()?, t.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = encode(42, 123_456, 64);
        assert_eq!(s.len(), 64);
        assert_eq!(decode(&s), Some((42, 123_456)));
        assert_eq!(decode(encode(7, 9, 0).trim()), Some((7, 9)));
        assert_eq!(decode("hello"), None);
    }
}
