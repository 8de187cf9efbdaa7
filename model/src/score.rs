//! Scores: saturating integers in [-inf, +inf] where inf is 1,000,000 (Pacemaker's INFINITY).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign};

/// A placement score. Arithmetic saturates at ±[`Score::INF`]; `-inf` beats `+inf`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Score(i64);

impl Score {
    /// The value that stands for infinity, as in Pacemaker.
    pub const INF_VALUE: i64 = 1_000_000;
    pub const INF: Score = Score(Self::INF_VALUE);
    pub const NEG_INF: Score = Score(-Self::INF_VALUE);
    pub const ZERO: Score = Score(0);

    /// A score from an integer, clamped into [-inf, +inf].
    pub fn new(v: i64) -> Score {
        Score(v.clamp(-Self::INF_VALUE, Self::INF_VALUE))
    }

    pub fn value(self) -> i64 {
        self.0
    }

    pub fn is_inf(self) -> bool {
        self.0 >= Self::INF_VALUE
    }

    pub fn is_neg_inf(self) -> bool {
        self.0 <= -Self::INF_VALUE
    }
}

impl Add for Score {
    type Output = Score;
    /// Saturating addition in which `-inf` wins over `+inf`.
    fn add(self, rhs: Score) -> Score {
        if self.is_neg_inf() || rhs.is_neg_inf() {
            return Score::NEG_INF;
        }
        if self.is_inf() || rhs.is_inf() {
            return Score::INF;
        }
        Score::new(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Score {
    fn add_assign(&mut self, rhs: Score) {
        *self = *self + rhs;
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_inf() {
            f.write_str("inf")
        } else if self.is_neg_inf() {
            f.write_str("-inf")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl fmt::Debug for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Score {
    type Err = String;
    fn from_str(s: &str) -> Result<Score, String> {
        match s.to_ascii_lowercase().as_str() {
            "inf" | "+inf" | "infinity" | "+infinity" => Ok(Score::INF),
            "-inf" | "-infinity" => Ok(Score::NEG_INF),
            other => other
                .parse::<i64>()
                .map(Score::new)
                .map_err(|_| format!("`{s}` is not a score")),
        }
    }
}

impl Score {
    /// A score as Pacemaker's `char2score` reads a text it does not check,
    /// such as a node attribute's value: `INFINITY` and its kin, `red` as
    /// minus infinity (`yellow` and `green` as 0: the default node-score-*
    /// settings), and otherwise the integer the text begins with (white
    /// space, a sign, digits: `pcmk__scan_ll`), 0 without digits, clipped
    /// to ±infinity.
    pub fn from_text(v: &str) -> Score {
        if let Ok(s) = v.trim().parse::<Score>() {
            return s;
        }
        if v.eq_ignore_ascii_case("red") {
            return Score::NEG_INF;
        }
        let t = v.trim_start();
        let (sign, rest) = match t.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, t.strip_prefix('+').unwrap_or(t)),
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = rest
            .get(..digits)
            .and_then(|d| d.parse().ok())
            .unwrap_or(if digits > 0 { i64::MAX } else { 0 });
        Score::new((sign * n).clamp(-Score::INF_VALUE, Score::INF_VALUE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reads_as_pacemaker_reads_a_score() {
        for (text, want) in [
            ("512", 512),
            (" -40", -40),
            ("16GB", 16),
            ("ram", 0),
            ("", 0),
            ("INFINITY", Score::INF_VALUE),
            ("-INFINITY", -Score::INF_VALUE),
            ("red", -Score::INF_VALUE),
            ("green", 0),
            ("99999999999999999999", Score::INF_VALUE),
        ] {
            assert_eq!(Score::from_text(text), Score::new(want), "{text:?}");
        }
    }

    #[test]
    fn neg_inf_beats_inf() {
        assert_eq!(Score::INF + Score::NEG_INF, Score::NEG_INF);
        assert_eq!(Score::NEG_INF + Score::INF, Score::NEG_INF);
    }

    #[test]
    fn saturates() {
        assert_eq!(Score::new(999_999) + Score::new(10), Score::INF);
        assert_eq!(Score::new(i64::MIN), Score::NEG_INF);
        assert_eq!(Score::new(-999_999) + Score::new(-10), Score::NEG_INF);
    }

    #[test]
    fn parses_and_prints() {
        for s in ["inf", "-inf", "0", "-50", "42"] {
            assert_eq!(s.parse::<Score>().unwrap().to_string(), s);
        }
        assert!("x".parse::<Score>().is_err());
    }
}
