//! Durations and timestamps. Time is always an input: nothing here reads a clock.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A length of time in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration {
    ms: u64,
}

impl Duration {
    pub const ZERO: Duration = Duration { ms: 0 };

    pub fn from_ms(ms: u64) -> Duration {
        Duration { ms }
    }

    pub fn from_secs(secs: u64) -> Duration {
        Duration {
            ms: secs.saturating_mul(1000),
        }
    }

    pub fn as_ms(self) -> u64 {
        self.ms
    }

    pub fn as_secs(self) -> u64 {
        self.ms / 1000
    }

    /// Parses `500ms`, `10s`, `5m`, `2h`, `1d` or a bare number of seconds (as
    /// Pacemaker's `interval="30"`). Returns a message saying what is wrong.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        if digits.is_empty() {
            return Err(format!(
                "`{text}` is not a duration: it must start with a number"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}` is too large for a duration"))?;
        let factor: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other => {
                return Err(format!(
                    "`{other}` is not a unit of time (use ms, s, m, h or d)"
                ))
            }
        };
        n.checked_mul(factor)
            .map(Duration::from_ms)
            .ok_or_else(|| format!("`{text}` is too large for a duration"))
    }
}

impl fmt::Display for Duration {
    /// The shortest exact form: `90s`, `5m`, `1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.ms;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms.is_multiple_of(size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A point in time, in seconds since the Unix epoch. The engine takes it as a
/// parameter (`now`); the live controller passes its clock, tests pass a number.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn plus(self, d: Duration) -> Timestamp {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(secs))
    }

    /// Time elapsed since `earlier`; zero if `earlier` is in the future.
    pub fn since(self, earlier: Timestamp) -> Duration {
        let secs = self.0.saturating_sub(earlier.0).max(0);
        Duration::from_secs(u64::try_from(secs).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(Duration::parse("10s").unwrap().as_ms(), 10_000);
        assert_eq!(Duration::parse("5m").unwrap().as_ms(), 300_000);
        assert_eq!(Duration::parse("30").unwrap().as_ms(), 30_000);
        assert_eq!(Duration::parse("250ms").unwrap().as_ms(), 250);
        assert!(Duration::parse("10x").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("99999999999999999999s").is_err());
    }

    #[test]
    fn prints_shortest_exact_form() {
        for s in ["0s", "90s", "5m", "1500ms", "2h", "1d"] {
            assert_eq!(Duration::parse(s).unwrap().to_string(), s);
        }
    }
}
