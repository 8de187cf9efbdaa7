//! A cursor over one statement's tokens, with errors that say what was expected.

use crate::diag::{Code, Diagnostic, Span};
use crate::syntax::{Stmt, Token, TokenKind};
use halo_model::{Duration, Score};

pub(crate) type Res<T> = Result<T, Diagnostic>;

pub(crate) struct Cursor<'s> {
    pub stmt: &'s Stmt,
    toks: &'s [Token],
    pos: usize,
}

impl<'s> Cursor<'s> {
    pub fn new(stmt: &'s Stmt) -> Cursor<'s> {
        Cursor {
            stmt,
            toks: &stmt.tokens,
            pos: 0,
        }
    }

    pub fn peek(&self) -> Option<&'s Token> {
        self.toks.get(self.pos)
    }

    pub fn peek_word(&self) -> Option<&'s str> {
        self.peek()
            .filter(|t| t.kind == TokenKind::Word)
            .map(|t| t.text.as_str())
    }

    pub fn next(&mut self) -> Option<&'s Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// Where a missing token would go: just after the last token read.
    pub fn here(&self) -> Span {
        match self.toks.get(self.pos) {
            Some(t) => t.span.clone(),
            None => {
                let end = self
                    .toks
                    .last()
                    .map_or(self.stmt.span.range.start, |t| t.span.range.end);
                Span::new(self.stmt.span.file, end..end)
            }
        }
    }

    /// An error at the current position: "expected X, found Y".
    pub fn expected(&self, what: &str) -> Diagnostic {
        let found = match self.peek() {
            Some(t) => format!("found `{}`", t.shown()),
            None => "found the end of the statement".to_string(),
        };
        Diagnostic::error(
            Code::Syntax,
            self.here(),
            format!("expected {what}, {found}"),
        )
        .label(format!("expected {what}"))
        .help(match self.stmt.keyword() {
            Some(k) => format!("see the `{}` statement in docs/language.md", k.text),
            None => "see docs/language.md for the statements of the language".to_string(),
        })
    }

    pub fn eat_word(&mut self, w: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_word(w)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn eat_op(&mut self, o: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_op(o)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn word(&mut self, w: &str) -> Res<()> {
        if self.eat_word(w) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{w}`")))
        }
    }

    pub fn op(&mut self, o: &str) -> Res<()> {
        if self.eat_op(o) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{o}`")))
        }
    }

    /// A name: a bare word or a quoted string.
    pub fn name(&mut self, what: &str) -> Res<&'s Token> {
        match self.peek() {
            Some(t) if t.kind != TokenKind::Op => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A value: a word or string (numbers and addresses are words).
    pub fn value(&mut self, what: &str) -> Res<&'s Token> {
        self.name(what)
    }

    pub fn duration(&mut self) -> Res<(Duration, Span)> {
        let t = self.name("a duration such as `30s` or `5m`")?;
        Duration::parse(&t.text)
            .map(|d| (d, t.span.clone()))
            .map_err(|m| {
                Diagnostic::error(Code::BadDuration, t.span.clone(), m)
                    .label("not a duration")
                    .help("write a number with a unit: `500ms`, `30s`, `5m`, `2h`")
            })
    }

    /// A timeout: a duration above zero (a zero timeout ends every action as it
    /// starts).
    pub fn timeout(&mut self) -> Res<Duration> {
        let (d, span) = self.duration()?;
        if d == Duration::ZERO {
            return Err(Diagnostic::error(
                Code::BadValue,
                span,
                "a timeout of 0 ends every action at once",
            )
            .label("zero timeout")
            .help("give the time the action may take, e.g. `20s`"));
        }
        Ok(d)
    }

    pub fn score(&mut self) -> Res<Score> {
        let t = self.name("a score (an integer, `inf` or `-inf`)")?;
        t.text.parse::<Score>().map_err(|m| {
            Diagnostic::error(Code::BadScore, t.span.clone(), m)
                .label("not a score")
                .help("scores are integers, `inf` or `-inf`")
        })
    }

    pub fn integer(&mut self, what: &str) -> Res<(i64, Span)> {
        let t = self.name(what)?;
        t.text
            .parse::<i64>()
            .map(|n| (n, t.span.clone()))
            .map_err(|_| {
                Diagnostic::error(
                    Code::BadNumber,
                    t.span.clone(),
                    format!("`{}` is not a whole number", t.text),
                )
                .label("expected a whole number")
                .help(format!("write {what} as digits, e.g. `1`"))
            })
    }

    /// A count: a non-negative integer, or `inf` for "no limit".
    pub fn count(&mut self, what: &str) -> Res<u32> {
        if self.eat_word("inf") {
            return Ok(halo_model::FailCount::INFINITE);
        }
        let (n, span) = self.integer(what)?;
        u32::try_from(n).map_err(|_| {
            Diagnostic::error(
                Code::BadNumber,
                span,
                format!("{what} must be between 0 and {}", u32::MAX),
            )
            .label("out of range")
            .help(format!(
                "write a whole number of zero or more, or `inf`, for {what}"
            ))
        })
    }

    pub fn boolean(&mut self) -> Res<bool> {
        let t = self.name("`on` or `off`")?;
        match t.text.as_str() {
            "yes" | "true" | "on" => Ok(true),
            "no" | "false" | "off" => Ok(false),
            _ => Err(Diagnostic::error(
                Code::BadValue,
                t.span.clone(),
                format!("`{}` is neither on nor off", t.text),
            )
            .label("expected `on` or `off`")
            .help("write `on` or `off` (`yes`/`no` and `true`/`false` work too)")),
        }
    }

    /// Errors unless every token was read.
    pub fn end(&self) -> Res<()> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(Diagnostic::error(
                Code::Syntax,
                t.span.clone(),
                format!("unexpected `{}` at the end of the statement", t.shown()),
            )
            .label("not expected here")
            .help("put one statement per line, or separate statements with `;`")),
        }
    }

    /// Errors if the statement has a block where none is allowed.
    pub fn no_block(&self) -> Res<()> {
        match &self.stmt.block {
            None => Ok(()),
            Some(b) => Err(Diagnostic::error(
                Code::UnexpectedBlock,
                Span::new(b.span.file, b.span.range.start..b.span.range.start + 1),
                "this statement takes no `{ ... }` block",
            )
            .label("unexpected block")
            .help("remove the `{ ... }`, or put its content on the statement's line")),
        }
    }
}

/// "did you mean `x`?" for the closest candidate, if any is close.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    // Edit distance is quadratic: nothing that long is a typo of a keyword or name.
    if word.len() > 64 {
        return None;
    }
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d > 0 && d * 3 <= c.len().max(word.len()))
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// An "unknown keyword" error listing what is allowed in this place.
pub(crate) fn unknown_keyword(t: &Token, place: &str, allowed: &[&str]) -> Diagnostic {
    let help = suggest(&t.text, allowed.iter().copied())
        .unwrap_or_else(|| format!("allowed here: {}", allowed.join(", ")));
    Diagnostic::error(
        Code::UnknownKeyword,
        t.span.clone(),
        format!("unknown statement `{}` {place}", t.shown()),
    )
    .label("not understood here")
    .help(help)
}

/// The longest name a node or resource may have, in bytes: names become host
/// names, environment values and file names.
pub const MAX_NAME_BYTES: usize = 255;

/// Refuses a name that is empty, too long, or holds control characters (a
/// newline, a tab, NUL): such a name cannot be told apart in output, logs or
/// the state file, or passed to an agent as written. Other characters are
/// fine in a quoted name.
pub(crate) fn check_name(t: &Token, what: &str) -> Res<()> {
    let problem = if t.text.is_empty() {
        Some("is empty".to_string())
    } else if t.text.len() > MAX_NAME_BYTES {
        Some(format!(
            "is {} bytes long, more than the {MAX_NAME_BYTES} a name may have",
            t.text.len()
        ))
    } else {
        t.text
            .chars()
            .find(|c| c.is_control())
            .map(|c| format!("holds the character U+{:04X}", u32::from(c)))
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(Diagnostic::error(
            Code::BadName,
            t.span.clone(),
            format!("this {what} name {p}"),
        )
        .label("not a usable name")
        .help(
            "a name is up to 255 bytes of visible text; quote it if it holds spaces or punctuation",
        )),
    }
}

/// Refuses an address `HOST[:PORT]` whose port is not a port number.
pub(crate) fn check_address(t: &Token, what: &str) -> Res<()> {
    // An IPv6 address has colons of its own: only `[ADDR]:PORT` has a port.
    let port = match t.text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => port,
        _ => return Ok(()),
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(Diagnostic::error(
            Code::BadValue,
            t.span.clone(),
            format!("{what} has the port `{port}`, which is not a port number"),
        )
        .label("bad port")
        .help("write HOST or HOST:PORT with a port from 1 to 65535")),
    }
}
