//! The syntax tree: statements of tokens with optional blocks, with spans.
//!
//! `parse` never fails and never panics: it returns the statements it could read
//! and a diagnostic for each problem. Before pest runs, a linear scan checks the
//! brace structure (unclosed or stray braces, unterminated strings, nesting deeper
//! than [`MAX_DEPTH`]), so the recursive-descent parser only ever sees input of
//! bounded depth. After a syntax error on a line, that line is blanked and parsing
//! resumes, so several errors are reported at once.

use crate::diag::{Code, Diagnostic, FileId, Span};
use pest::Parser;
use pest_derive::Parser;

/// Blocks may nest this deep; real policies use four levels at most.
pub const MAX_DEPTH: usize = 16;
/// At most this many syntax errors are reported per file.
const MAX_SYNTAX_ERRORS: usize = 20;

#[derive(Parser)]
#[grammar = "halo.pest"]
struct HaloParser;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Word,
    Str,
    Op,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// The word or operator, or the string's value with escapes resolved.
    pub text: String,
    pub span: Span,
}

impl Token {
    pub fn is_word(&self, w: &str) -> bool {
        self.kind == TokenKind::Word && self.text == w
    }

    pub fn is_op(&self, o: &str) -> bool {
        self.kind == TokenKind::Op && self.text == o
    }

    /// The token for a message: its source form, cut short when very long.
    pub fn shown(&self) -> String {
        let full = self.source_form();
        match full.char_indices().nth(40) {
            Some((i, _)) => format!("{}…", &full[..i]),
            None => full,
        }
    }

    /// The token as written in source (strings quoted and escaped).
    pub fn source_form(&self) -> String {
        match self.kind {
            TokenKind::Str => quote(&self.text),
            _ => self.text.clone(),
        }
    }
}

/// Quotes a string value as the grammar reads it back.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    pub tokens: Vec<Token>,
    pub block: Option<Block>,
    pub span: Span,
}

impl Stmt {
    /// The first token if it is a word: the statement's keyword.
    pub fn keyword(&self) -> Option<&Token> {
        self.tokens.first().filter(|t| t.kind == TokenKind::Word)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

/// Parses one file's text into statements.
pub fn parse(file: FileId, text: &str) -> (Vec<Stmt>, Vec<Diagnostic>) {
    // A byte-order mark is not content: parse it as three spaces (offsets kept).
    let unmarked;
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => {
            unmarked = format!("   {rest}");
            unmarked.as_str()
        }
        None => text,
    };
    let diags = prescan(file, text);
    if !diags.is_empty() {
        return (Vec::new(), diags);
    }
    let mut text = text.to_string();
    let mut diags = Vec::new();
    loop {
        match HaloParser::parse(Rule::file, &text) {
            Ok(mut pairs) => {
                let stmts = pairs
                    .next()
                    .map(|f| body(file, f.into_inner()))
                    .unwrap_or_default();
                // Statements from a text with blanked lines are incomplete: only
                // return them when the file parsed cleanly.
                let stmts = if diags.is_empty() { stmts } else { Vec::new() };
                return (stmts, diags);
            }
            Err(e) => {
                let pos = match e.location {
                    pest::error::InputLocation::Pos(p) => p,
                    pest::error::InputLocation::Span((s, _)) => s,
                };
                diags.push(syntax_error(file, &text, pos));
                if diags.len() >= MAX_SYNTAX_ERRORS || !blank_line(&mut text, pos) {
                    return (Vec::new(), diags);
                }
            }
        }
    }
}

/// Replaces the line holding `pos` with spaces (keeping offsets); false when the
/// line was blank already, so the loop makes progress.
fn blank_line(text: &mut String, pos: usize) -> bool {
    let pos = pos.min(text.len());
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
    if text[start..end].trim().is_empty() {
        return false;
    }
    // Braces must stay balanced: keep them, blank everything else.
    let kept: String = text[start..end]
        .chars()
        .flat_map(|c| {
            let keep = if c == '{' || c == '}' { c } else { ' ' };
            std::iter::repeat_n(keep, c.len_utf8())
        })
        .collect();
    text.replace_range(start..end, &kept);
    true
}

fn syntax_error(file: FileId, text: &str, pos: usize) -> Diagnostic {
    let found = text[pos.min(text.len())..].chars().next();
    let span = Span::new(file, pos..pos + found.map_or(0, char::len_utf8));
    match found {
        None => Diagnostic::error(Code::Syntax, span, "unexpected end of file")
            .label("the file ends here")
            .help("a statement or block is incomplete"),
        Some('\0') => Diagnostic::error(Code::Syntax, span, "NUL byte in policy text")
            .label("NUL")
            .help("policy files are UTF-8 text; is this a binary file?"),
        Some(c) if c.is_control() => Diagnostic::error(
            Code::Syntax,
            span,
            format!("unexpected control character U+{:04X}", u32::from(c)),
        )
        .label("here")
        .help("policy files are plain UTF-8 text"),
        Some(c) => Diagnostic::error(Code::Syntax, span, format!("unexpected character `{c}`"))
            .label("not allowed here")
            .help("names are letters, digits, `_`, `-` and `.`; put other text in double quotes"),
    }
}

/// A character at byte `i` that a terminal does not show as what it is: DEL,
/// the C1 controls, and the bidirectional overrides and isolates that make
/// text read differently from what it holds ("trojan source").
fn hidden_char(text: &str, i: usize) -> Option<char> {
    let c = text.get(i..)?.chars().next()?;
    let hidden = c == '\u{7f}'
        || ('\u{80}'..='\u{9f}').contains(&c)
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c);
    hidden.then_some(c)
}

/// Words a single statement may hold; real statements hold a few dozen.
pub const MAX_WORDS_PER_STATEMENT: usize = 10_000;

/// Checks braces, strings and statement length in one linear pass, without
/// recursion, so the parser only sees input of bounded depth and size.
fn prescan(file: FileId, text: &str) -> Vec<Diagnostic> {
    let mut open: Vec<usize> = Vec::new();
    let bytes = text.as_bytes();
    let err = |code, at: usize, len: usize, msg: String, label: &str, help: &str| {
        vec![Diagnostic::error(code, Span::new(file, at..at + len), msg)
            .label(label)
            .help(help)]
    };
    let (mut words, mut in_word) = (0usize, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let blank = matches!(b, b' ' | b'\t' | b'\r');
        if matches!(b, b'\n' | b';' | b',' | b'{' | b'}') {
            words = 0;
        } else if !blank && !in_word {
            words += 1;
            if words > MAX_WORDS_PER_STATEMENT {
                return err(
                    Code::StatementTooLong,
                    i,
                    1,
                    format!("a statement of more than {MAX_WORDS_PER_STATEMENT} words"),
                    "too long",
                    "is a line break missing? statements end at a newline, `;` or `,`",
                );
            }
        }
        in_word = !blank && !matches!(b, b'\n' | b';' | b',' | b'{' | b'}');
        match b {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                in_word = false;
                continue;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        let next = text[i + 1..].chars().next();
                        if !matches!(next, Some('"' | '\\' | 'n' | 't')) {
                            let len = 1 + next.map_or(0, char::len_utf8);
                            let shown: String = text[i..i + len].to_string();
                            return err(
                                Code::BadEscape,
                                i,
                                len,
                                format!("unknown escape `{shown}` in a string"),
                                "not an escape",
                                "the escapes are \\\" \\\\ \\n \\t; write `\\\\` for a backslash",
                            );
                        }
                        i += 1 + next.map_or(0, char::len_utf8);
                    } else if bytes[i] == 0 || (bytes[i] < 0x20 && bytes[i] != b'\t') {
                        // No agent can receive a NUL (environment and
                        // arguments are C strings); other control
                        // characters are mistakes too.
                        return err(
                            Code::ControlInString,
                            i,
                            1,
                            format!("control character U+{:04X} inside a string", bytes[i]),
                            "here",
                            "strings are text: write a tab as \\t and a newline as \\n; a NUL byte cannot be passed to an agent",
                        );
                    } else if let Some(c) = hidden_char(text, i) {
                        return err(
                            Code::ControlInString,
                            i,
                            c.len_utf8(),
                            format!("invisible control character U+{:04X} inside a string", u32::from(c)),
                            "here",
                            "a text-direction or control character shows the string differently from what it holds; remove it",
                        );
                    } else {
                        i += 1;
                    }
                }
                if i >= bytes.len() || bytes[i] == b'\n' {
                    return err(
                        Code::UnterminatedString,
                        start,
                        1,
                        "string is never closed".to_string(),
                        "this string",
                        "add a closing `\"` on the same line",
                    );
                }
            }
            b'{' => {
                open.push(i);
                if open.len() > MAX_DEPTH {
                    return err(
                        Code::TooDeep,
                        i,
                        1,
                        format!("blocks nest more than {MAX_DEPTH} levels deep"),
                        "too deep",
                        "a policy needs a few levels at most; is a `}` missing?",
                    );
                }
            }
            b'}' if open.pop().is_none() => {
                return err(
                    Code::UnbalancedBrace,
                    i,
                    1,
                    "`}` without a matching `{`".to_string(),
                    "nothing to close",
                    "remove this `}` or add the `{` it closes",
                );
            }
            _ => {}
        }
        i += 1;
    }
    match open.last() {
        Some(&p) => err(
            Code::UnbalancedBrace,
            p,
            1,
            "`{` is never closed".to_string(),
            "this block",
            "add the matching `}`",
        ),
        None => Vec::new(),
    }
}

type Pairs<'a> = pest::iterators::Pairs<'a, Rule>;
type Pair<'a> = pest::iterators::Pair<'a, Rule>;

fn body(file: FileId, pairs: Pairs<'_>) -> Vec<Stmt> {
    pairs
        .filter(|p| p.as_rule() == Rule::stmt)
        .map(|p| stmt(file, p))
        .collect()
}

fn span_of(file: FileId, p: &Pair<'_>) -> Span {
    let s = p.as_span();
    Span::new(file, s.start()..s.end())
}

fn stmt(file: FileId, p: Pair<'_>) -> Stmt {
    let span = span_of(file, &p);
    let mut tokens = Vec::new();
    let mut blk = None;
    for inner in p.into_inner() {
        let tspan = span_of(file, &inner);
        match inner.as_rule() {
            Rule::word => tokens.push(Token {
                kind: TokenKind::Word,
                text: inner.as_str().to_string(),
                span: tspan,
            }),
            Rule::op => tokens.push(Token {
                kind: TokenKind::Op,
                text: inner.as_str().to_string(),
                span: tspan,
            }),
            Rule::string => tokens.push(Token {
                kind: TokenKind::Str,
                text: unescape(inner.as_str()),
                span: tspan,
            }),
            Rule::block => {
                blk = Some(Block {
                    span: tspan,
                    stmts: body(file, inner.into_inner()),
                })
            }
            _ => {}
        }
    }
    Stmt {
        tokens,
        block: blk,
        span,
    }
}

fn unescape(quoted: &str) -> String {
    let inner = quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(quoted);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A comment in the source: its byte range and whether code precedes it on its line.
#[derive(Clone, Debug)]
pub struct Comment {
    pub range: std::ops::Range<usize>,
    pub trailing: bool,
}

/// Finds the comments of a file (text outside strings from `#` to the end of line).
pub fn comments(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut code_on_line = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => code_on_line = false,
            b'#' => {
                let start = i;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                out.push(Comment {
                    range: start..i,
                    trailing: code_on_line,
                });
                continue;
            }
            b'"' => {
                code_on_line = true;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b' ' | b'\t' | b'\r' => {}
            _ => code_on_line = true,
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &Stmt) -> Vec<&str> {
        s.tokens.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn statements_and_blocks() {
        let (stmts, diags) = parse(
            FileId(0),
            "resource vip: ocf:heartbeat:IPaddr2 {\n ip = 10.0.0.1; nic = \"eth0\"\n}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stmts.len(), 1);
        assert_eq!(
            words(&stmts[0]),
            ["resource", "vip", ":", "ocf:heartbeat:IPaddr2"]
        );
        let blk = stmts[0].block.as_ref().unwrap();
        assert_eq!(words(&blk.stmts[0]), ["ip", "=", "10.0.0.1"]);
        assert_eq!(words(&blk.stmts[1]), ["nic", "=", "eth0"]);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "{".repeat(100_000);
        let (_, diags) = parse(FileId(0), &text);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, Code::TooDeep);
    }

    #[test]
    fn several_syntax_errors_are_reported() {
        let (_, diags) = parse(FileId(0), "a $\nb\nc ^\n");
        assert_eq!(diags.len(), 2, "{diags:?}");
    }

    #[test]
    fn comments_are_found_outside_strings() {
        let c = comments("a \"#x\" # one\n# two\n");
        assert_eq!(c.len(), 2);
        assert!(c[0].trailing);
        assert!(!c[1].trailing);
    }
}
