//! `halo fmt`: one canonical layout for every policy, comments kept.
//!
//! One statement per line, two-space indents, a block's `{` on its statement's line
//! and `}` on its own. Blank lines from the source are kept (at most one in a row);
//! top-level statements with blocks are separated by one. Formatting a formatted
//! file changes nothing.

use crate::diag::{Diagnostic, FileId};
use crate::syntax::{self, Comment, Stmt, Token, TokenKind};

/// Lines are kept within this many columns where a choice exists.
const WIDTH: usize = 80;

/// Formats a policy's text. Fails with the syntax errors if it does not parse.
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    format_file(FileId(0), text)
}

/// As [`format`], with diagnostics located in `file`.
pub fn format_file(file: FileId, text: &str) -> Result<String, Vec<Diagnostic>> {
    let (stmts, diags) = syntax::parse(file, text);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let mut f = Fmt {
        text,
        comments: syntax::comments(text),
        next: 0,
        out: String::with_capacity(text.len()),
        last_end: 0,
    };
    f.stmts(&stmts, 0, usize::MAX);
    f.own_line_comments(text.len(), 0);
    while f.out.ends_with("\n\n") {
        f.out.pop();
    }
    if !f.out.is_empty() && !f.out.ends_with('\n') {
        f.out.push('\n');
    }
    Ok(f.out)
}

struct Fmt<'a> {
    text: &'a str,
    comments: Vec<Comment>,
    next: usize,
    out: String,
    /// Source offset of the last thing written.
    last_end: usize,
}

impl Fmt<'_> {
    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    /// Whether the source has an empty line between `from` and `to`.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let gap = self.text.get(from.min(to)..to).unwrap_or("");
        let lines: Vec<&str> = gap.split('\n').collect();
        // Lines strictly between the first and the last newline-separated piece.
        lines.len() > 2
            && lines[1..lines.len() - 1]
                .iter()
                .any(|l| l.trim().is_empty())
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") && !self.out.ends_with("{\n") {
            self.out.push('\n');
        }
    }

    fn comment_text(&self, c: &Comment) -> String {
        self.text
            .get(c.range.clone())
            .unwrap_or("#")
            .trim_end()
            .to_string()
    }

    /// Writes the comments that stand on their own lines before `until`.
    fn own_line_comments(&mut self, until: usize, depth: usize) {
        while let Some(c) = self.comments.get(self.next).cloned() {
            if c.range.start >= until {
                break;
            }
            self.next += 1;
            if self.blank_between(self.last_end, c.range.start) {
                self.blank_line();
            }
            self.indent(depth);
            let t = self.comment_text(&c);
            self.out.push_str(&t);
            self.out.push('\n');
            self.last_end = c.range.end;
        }
    }

    /// Appends a comment that follows on the same source line as `last_end`.
    fn trailing_comment(&mut self, limit: usize) {
        if let Some(c) = self.comments.get(self.next).cloned() {
            let gap = self.text.get(self.last_end..c.range.start).unwrap_or("\n");
            // Only whitespace (or the `{` that opened a block) may separate the
            // comment from what was just written.
            let gap_is_blank = !gap.contains('\n')
                && gap
                    .chars()
                    .all(|c| c.is_whitespace() || matches!(c, '{' | ';' | ','));
            if c.trailing && c.range.start >= self.last_end && c.range.start < limit && gap_is_blank
            {
                self.next += 1;
                if self.out.ends_with('\n') {
                    self.out.pop();
                }
                let t = self.comment_text(&c);
                self.out.push(' ');
                self.out.push_str(&t);
                self.out.push('\n');
                self.last_end = c.range.end;
            }
        }
    }

    /// A block with a single plain statement and no comments is written on its
    /// statement's line when that line stays within [`WIDTH`] columns.
    fn fits_on_one_line(&self, s: &Stmt, depth: usize) -> bool {
        let Some(b) = &s.block else { return false };
        let [only] = b.stmts.as_slice() else {
            return false;
        };
        if only.block.is_some() || only.tokens.is_empty() || s.tokens.is_empty() {
            return false;
        }
        let has_comment = self
            .comments
            .iter()
            .any(|c| c.range.start > b.span.range.start && c.range.start < b.span.range.end);
        let len = depth * 2 + join(&s.tokens).len() + join(&only.tokens).len() + 6;
        !has_comment && len <= WIDTH
    }

    fn stmts(&mut self, stmts: &[Stmt], depth: usize, limit: usize) {
        let mut prev_block = false;
        for (i, s) in stmts.iter().enumerate() {
            let start = s.span.range.start;
            let had_comment = self
                .comments
                .get(self.next)
                .is_some_and(|c| c.range.start < start);
            let separate = depth == 0 && i > 0 && (prev_block || s.block.is_some());
            if separate {
                self.blank_line();
            }
            self.own_line_comments(start, depth);
            if (had_comment || !separate) && self.blank_between(self.last_end, start) {
                self.blank_line();
            }
            self.indent(depth);
            self.out.push_str(&join(&s.tokens));
            self.last_end = s.tokens.last().map_or(start, |t| t.span.range.end);
            match &s.block {
                Some(b) if self.fits_on_one_line(s, depth) => {
                    let inner = b.stmts.first().map(|x| join(&x.tokens)).unwrap_or_default();
                    self.out.push_str(&format!(" {{ {inner} }}\n"));
                    self.last_end = b.span.range.end;
                }
                Some(b) => {
                    if !s.tokens.is_empty() {
                        self.out.push(' ');
                    }
                    self.out.push_str("{\n");
                    self.last_end = b.span.range.start + 1;
                    let first = b
                        .stmts
                        .first()
                        .map_or(b.span.range.end, |s| s.span.range.start);
                    self.trailing_comment(first);
                    self.stmts(&b.stmts, depth + 1, b.span.range.end.saturating_sub(1));
                    let close = b.span.range.end.saturating_sub(1);
                    self.own_line_comments(close, depth + 1);
                    self.indent(depth);
                    self.out.push_str("}\n");
                    self.last_end = b.span.range.end;
                }
                None => self.out.push('\n'),
            }
            self.trailing_comment(limit);
            prev_block = s.block.is_some();
        }
    }
}

/// Joins tokens with single spaces, attaching `:` and parentheses as written.
pub fn join(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut prev: Option<&Token> = None;
    for t in tokens {
        if let Some(p) = prev {
            let tight = t.is_op(":")
                || t.is_op(")")
                || p.is_op("(")
                || (t.is_op("(") && p.is_word("secret"))
                || (t.kind == TokenKind::Word
                    && t.text.starts_with('.')
                    && p.kind == TokenKind::Str);
            if !tight {
                out.push(' ');
            }
        }
        out.push_str(&t.source_form());
        prev = Some(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_layout() {
        let src = "cluster c {node a;node b\n\n\n  fencing off}\nresource x : ocf:heartbeat:Dummy { monitor every 10s } # trailing\n# lead\nprefer x on a score 5\n";
        let out = format(src).unwrap();
        insta::assert_snapshot!(out, @r"
        cluster c {
          node a
          node b

          fencing off
        }

        resource x: ocf:heartbeat:Dummy { monitor every 10s } # trailing

        # lead
        prefer x on a score 5
        ");
        assert_eq!(format(&out).unwrap(), out);
    }

    #[test]
    fn secrets_and_quoted_names() {
        let out = format(
            "resource \"a.b\": lsb:x { key = secret ( \"k\" ) }\ncolocate \"a.b\" .promoted with c",
        )
        .unwrap();
        assert!(out.contains("key = secret(\"k\")"), "{out}");
        assert!(out.contains("colocate \"a.b\".promoted with c"), "{out}");
    }
}
