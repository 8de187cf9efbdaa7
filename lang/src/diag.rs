//! Diagnostics: located errors and warnings, rendered in the miette style.
//!
//! A diagnostic always has a file, a byte span, a stable code and a message; most
//! have a help line. Rendering shows `file:line:col`, the source line and a marker.
//! Very long lines are shown as a window around the span, so a multi-megabyte line
//! never floods the terminal.

pub use crate::code::Code;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan, SpanContents};
use std::fmt;
use std::ops::Range;

/// Index of a file in a [`Sources`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Span {
    pub file: FileId,
    pub range: Range<usize>,
}

impl Span {
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        Span { file, range }
    }

    /// The smallest span covering both.
    pub fn to(&self, other: &Span) -> Span {
        Span {
            file: self.file,
            range: self.range.start.min(other.range.start)..self.range.end.max(other.range.end),
        }
    }
}

/// A source file's name and text. The language crate never reads files: callers
/// hand it text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    lines: LineIndex,
}

/// Where each line of a text starts, for offset → line:column in O(log n).
#[derive(Clone, Debug, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// 1-based line and column (in characters) of a byte offset in `text`.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0).min(offset);
        (line, text[start..offset].chars().count() + 1)
    }
}

/// The files of one compilation.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let text = text.into();
        self.files.push(SourceFile {
            name: name.into(),
            lines: LineIndex::new(&text),
            text,
        });
        FileId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn ids(&self) -> impl Iterator<Item = FileId> {
        (0..self.files.len()).map(|i| FileId(u32::try_from(i).unwrap_or(u32::MAX)))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let Some(f) = self.get(file) else {
            return (1, 1);
        };
        f.lines.line_col(&f.text, offset)
    }

    /// `file:line:col` of the start of a span.
    pub fn locate(&self, span: &Span) -> String {
        let name = self.get(span.file).map_or("<unknown>", |f| f.name.as_str());
        let (l, c) = self.line_col(span.file, span.range.start);
        format!("{name}:{l}:{c}")
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i.min(text.len())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One located problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable and documented, e.g. `halo::unknown-resource`.
    pub code: Code,
    pub message: String,
    pub span: Span,
    /// Text under the marker.
    pub label: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        debug_assert_ne!(
            code.severity(),
            Some(Severity::Warning),
            "{code} is a warning"
        );
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        debug_assert_ne!(code.severity(), Some(Severity::Error), "{code} is an error");
        Diagnostic {
            severity: Severity::Warning,
            code,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic as the user sees it: a header, the located source line with a
    /// marker, and the help line. `color` adds ANSI colors.
    pub fn render(&self, sources: &Sources, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_context_lines(0)
            .with_links(false);
        let file = sources.get(self.span.file);
        let report = Report {
            diag: self,
            source: Window {
                text: file.map_or("", |f| f.text.as_str()),
                lines: file.map(|f| &f.lines),
            },
            location: sources.locate(&self.span),
        };
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            out = format!("{}: {}\n", report.location, self.message);
        }
        out
    }
}

/// A diagnostic bound to its source, in the shape miette renders.
struct Report<'a> {
    diag: &'a Diagnostic,
    source: Window<'a>,
    location: String,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let r = &self.diag.span.range;
        let text = self.source.text;
        let start = floor_char_boundary(text, r.start.min(text.len()));
        // Labels never cross a line: the marker stays under the line shown.
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let end = ceil_char_boundary(text, r.end.clamp(start, line_end));
        let label = (!self.diag.label.is_empty()).then(|| self.diag.label.clone());
        Some(Box::new(std::iter::once(LabeledSpan::new(
            label,
            start,
            end - start,
        ))))
    }
}

/// Serves miette the one line a span starts on, cut to a window of at most
/// [`Window::WIDTH`] bytes around the span when the line is long.
struct Window<'a> {
    text: &'a str,
    lines: Option<&'a LineIndex>,
}

impl Window<'_> {
    const WIDTH: usize = 160;
}

impl miette::SourceCode for Window<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        _before: usize,
        _after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, miette::MietteError> {
        let text = self.text;
        let start = floor_char_boundary(text, span.offset().min(text.len()));
        let (line, _) = match self.lines {
            Some(l) => l.line_col(text, start),
            None => line_col(text, start),
        };
        let line_start = self
            .lines
            .and_then(|l| l.starts.get(line - 1).copied())
            .unwrap_or(0)
            .min(start);
        let mut line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        if text[..line_end].ends_with('\r') {
            line_end -= 1;
        }
        let line_end = line_end.max(start);
        let (mut from, mut to) = (line_start, line_end);
        if to - from > Self::WIDTH {
            from = floor_char_boundary(text, start.saturating_sub(Self::WIDTH / 2).max(from));
            to = ceil_char_boundary(text, (from + Self::WIDTH).min(line_end));
        }
        let col = text[line_start..from].chars().count() + 1;
        // Unnamed: the report's first line already says `file:line:col`.
        Ok(Box::new(miette::MietteSpanContents::new(
            &text.as_bytes()[from..to],
            SourceSpan::from(from..to),
            line - 1,
            col - 1,
            1,
        )))
    }
}

/// Renders several diagnostics, errors and warnings in source order.
pub fn render_all(diags: &[Diagnostic], sources: &Sources, color: bool) -> String {
    diags
        .iter()
        .map(|d| d.render(sources, color))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_col("", 10), (1, 1));
    }

    #[test]
    fn long_lines_are_windowed() {
        let mut sources = Sources::default();
        let text = format!("{}$\n", "x".repeat(1_000_000));
        let file = sources.add("big.ha", text);
        let d = Diagnostic::error(Code::Syntax, Span::new(file, 1_000_000..1_000_001), "bad")
            .label("here");
        let out = d.render(&sources, false);
        assert!(out.contains("big.ha:1:1000001"), "{out}");
        assert!(out.len() < 2_000, "rendered {} bytes", out.len());
    }
}
