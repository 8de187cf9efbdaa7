//! A small element tree read with quick-xml: names, attributes and children.
//! CIBs are data, not documents: text content and namespaces do not matter.

use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;

/// An attribute's key and value as (start, end) offsets into its tag's text.
type Span = [u16; 4];

/// Elements nest at most this deep in a CIB; deeper input is refused.
const MAX_DEPTH: usize = 64;

/// An element borrowing from the text it was read from: its name and attribute
/// values are slices of the input. A CIB of hundreds of megabytes is read
/// without copying its strings, in about 8 bytes per attribute.
#[derive(Clone, Debug, Default)]
pub struct Element<'a> {
    pub name: &'a str,
    attrs: Attrs<'a>,
    pub children: Vec<Element<'a>>,
}

/// Where an element's attributes are.
#[derive(Clone, Debug)]
enum Attrs<'a> {
    /// Key and value as (start, end) offsets into the tag's text.
    Spans(&'a str, Cow<'a, [Span]>),
    /// Values with entities to unescape, or tags too long for 16-bit offsets.
    Owned(Vec<(&'a str, String)>),
}

impl Default for Attrs<'_> {
    fn default() -> Self {
        Attrs::Spans("", Cow::Borrowed(&[]))
    }
}

impl<'a> Element<'a> {
    pub fn attr(&self, name: &str) -> Option<&str> {
        match &self.attrs {
            Attrs::Spans(tag, spans) => {
                // Length and first byte rule out most keys without a
                // comparison call.
                let (want, first) = (name.len(), name.as_bytes().first());
                spans.iter().find_map(|&[ks, ke, vs, ve]| {
                    let (ks, ke) = (usize::from(ks), usize::from(ke));
                    (ke - ks == want
                        && tag.as_bytes().get(ks) == first
                        && tag.get(ks..ke) == Some(name))
                    .then(|| tag.get(usize::from(vs)..usize::from(ve)))
                    .flatten()
                })
            }
            Attrs::Owned(v) => v.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str()),
        }
    }

    /// Every attribute, key and value, in order.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let (tag, spans, owned): (&str, &[Span], &[(&str, String)]) = match &self.attrs {
            Attrs::Spans(tag, spans) => (tag, spans, &[]),
            Attrs::Owned(owned) => ("", &[], owned),
        };
        let text = |a: u16, b: u16| tag.get(usize::from(a)..usize::from(b)).unwrap_or("");
        spans
            .iter()
            .map(move |&[ks, ke, vs, ve]| (text(ks, ke), text(vs, ve)))
            .chain(owned.iter().map(|(k, v)| (*k, v.as_str())))
    }

    pub fn id(&self) -> &str {
        self.attr("id").unwrap_or("")
    }

    /// Direct children with this name.
    pub fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn first(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Element<'a>> {
        names.iter().try_fold(self, |e, n| e.first(n))
    }
}

fn too_deep(pos: u64) -> String {
    format!("elements nest more than {MAX_DEPTH} deep at byte {pos}")
}

/// Builds a tree from a document's tags in order: an element's children are
/// attached to it when it closes.
#[derive(Default)]
struct Tree<'a> {
    stack: Vec<Element<'a>>,
    root: Option<Element<'a>>,
}

impl<'a> Tree<'a> {
    fn open(&mut self, e: Element<'a>, pos: u64) -> Result<(), String> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(pos));
        }
        self.stack.push(e);
        Ok(())
    }

    fn attach(&mut self, e: Element<'a>) {
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(e),
            None => self.root = Some(e),
        }
    }

    fn close(&mut self, pos: u64) -> Result<(), String> {
        let done = self
            .stack
            .pop()
            .ok_or_else(|| format!("unbalanced closing tag at byte {pos}"))?;
        self.attach(done);
        Ok(())
    }

    fn finish(self) -> Result<Element<'a>, String> {
        if !self.stack.is_empty() {
            return Err("the XML ends inside an element".to_string());
        }
        self.root.ok_or_else(|| "no XML element found".to_string())
    }
}

/// Parses XML text into its root element, or says where it is malformed.
pub fn parse(text: &str) -> Result<Element<'_>, String> {
    let mut reader = Reader::from_str(text);
    let mut tree = Tree::default();
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {pos}: {e}"))?;
        match event {
            Event::Start(s) => {
                let (tag, name_len) = tag_of(text, &s, pos)?;
                tree.open(element(tag, name_len, pos, None)?, pos)?;
            }
            Event::Empty(s) => {
                let (tag, name_len) = tag_of(text, &s, pos)?;
                tree.attach(element(tag, name_len, pos, None)?);
            }
            Event::End(_) => tree.close(pos)?,
            Event::Eof => break,
            _ => {}
        }
    }
    tree.finish()
}

/// What a recorded tag is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Open,
    Empty,
    Close,
}

/// A tag of a piece: where its text is in the piece's buffer (name and
/// attributes, without `<`, `/` and `>`), how long its name is, and where it
/// was in the document.
#[derive(Clone, Copy, Debug)]
struct Mark {
    kind: Kind,
    start: usize,
    end: usize,
    name_len: usize,
    pos: u64,
    /// Its attributes' spans in the piece's `spans`, when they could be
    /// found that way.
    attrs: Option<(u32, u32)>,
}

/// One element of a document read in pieces, with everything inside it: the
/// text of its tags and where each tag is. Its tree is built on demand and
/// borrows from it.
#[derive(Debug, Default)]
pub struct Piece {
    buf: Vec<u8>,
    marks: Vec<Mark>,
    spans: Vec<Span>,
    /// Whether `spans` and the marks' `attrs` have been filled in.
    found: bool,
}

impl Piece {
    /// The element, or what is wrong with its text.
    pub fn element(&mut self) -> Result<Element<'_>, String> {
        let pos = self.marks.first().map_or(0, |m| m.pos);
        if !self.found {
            self.find_attributes();
        }
        let text = std::str::from_utf8(&self.buf)
            .map_err(|_| format!("the element at byte {pos} is not valid UTF-8"))?;
        let mut tree = Tree::default();
        for m in &self.marks {
            let tag = || {
                text.get(m.start..m.end)
                    .ok_or_else(|| format!("unreadable tag at byte {}", m.pos))
            };
            let known = m.attrs.and_then(|(a, b)| {
                let index = |i: u32| usize::try_from(i).ok();
                self.spans.get(index(a)?..index(b)?)
            });
            match m.kind {
                Kind::Open => tree.open(element(tag()?, m.name_len, m.pos, known)?, m.pos)?,
                Kind::Empty => tree.attach(element(tag()?, m.name_len, m.pos, known)?),
                Kind::Close => tree.close(m.pos)?,
            }
        }
        tree.finish()
    }

    /// Finds where the attributes of every tag are, into one list the
    /// elements share; [`Piece::element`] does it if it has not been done.
    /// Whoever reads pieces can take on this share of the work.
    pub fn find_attributes(&mut self) {
        self.spans.clear();
        for m in &mut self.marks {
            if let Some(tag) = self.buf.get(m.start..m.end) {
                let first = self.spans.len();
                let found = spans(tag, m.name_len, &mut self.spans);
                let index = |i: usize| u32::try_from(i).ok();
                m.attrs = index(first).zip(index(self.spans.len())).filter(|_| found);
            }
        }
        self.found = true;
    }

    /// Whether the piece's text contains `needle` anywhere.
    pub fn contains(&self, needle: &[u8]) -> bool {
        memchr::memmem::find(&self.buf, needle).is_some()
    }
}

/// A document read element by element from any buffered source: elements
/// at a chosen path are read into a [`Piece`] of their own, everything else
/// is passed over, so that a large section (a CIB's status) is processed
/// piece by piece and never held whole.
pub struct Stream<R> {
    reader: Reader<R>,
    /// The piece last read.
    piece: Piece,
    /// Names of the open elements above the reading position.
    open: Vec<Vec<u8>>,
    /// The root element's own tag.
    root: Option<Piece>,
    /// Names of the root's children opened so far, in order.
    sections: Vec<String>,
    /// Pieces given back to be read into again.
    spare: Vec<Piece>,
}

impl<R: std::io::BufRead> Stream<R> {
    pub fn new(source: R) -> Stream<R> {
        Stream {
            reader: Reader::from_reader(source),
            piece: Piece::default(),
            open: Vec::new(),
            root: None,
            sections: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Gives back a piece that is no longer needed: the next pieces are read
    /// into its buffers rather than into new ones (whose pages the system
    /// must hand out again).
    pub fn recycle(&mut self, mut piece: Piece) {
        piece.buf.clear();
        piece.marks.clear();
        piece.spans.clear();
        piece.found = false;
        self.spare.push(piece);
    }

    /// The outermost element's tag (without its children), once it has been
    /// read; taken out.
    pub fn take_root(&mut self) -> Option<Piece> {
        self.root.take()
    }

    /// Whether a child of the root with this name has been opened so far.
    pub fn passed(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }

    /// The piece last read, taken out to be kept. The next piece is read
    /// into a piece given back, or else into new buffers as large as this
    /// one's: pieces at one path (a CIB's node states) tend to be alike.
    pub fn take(&mut self) -> Piece {
        let next = self.spare.pop().unwrap_or_else(|| Piece {
            buf: Vec::with_capacity(self.piece.buf.len()),
            marks: Vec::with_capacity(self.piece.marks.len()),
            ..Piece::default()
        });
        std::mem::replace(&mut self.piece, next)
    }

    /// The source, as far as it has been read.
    pub fn into_inner(self) -> R {
        self.reader.into_inner()
    }

    /// Reads on to the next element whose path (its ancestors' names and its
    /// own) is `path`, into the stream's piece. `false` at the end of the
    /// document.
    pub fn next_at(&mut self, path: &[&str]) -> Result<bool, String> {
        self.piece.buf.clear();
        self.piece.marks.clear();
        self.piece.found = false;
        // How deep inside the piece being read; 0 when not in one.
        let mut depth = 0usize;
        loop {
            let pos = self.reader.buffer_position();
            let before = self.piece.buf.len();
            let event = self
                .reader
                .read_event_into(&mut self.piece.buf)
                .map_err(|e| format!("malformed XML at byte {pos}: {e}"))?;
            let (kind, at, len, name_len) = match &event {
                Event::Start(s) => (
                    Kind::Open,
                    s.as_ptr() as usize,
                    s.len(),
                    s.name().as_ref().len(),
                ),
                Event::Empty(s) => (
                    Kind::Empty,
                    s.as_ptr() as usize,
                    s.len(),
                    s.name().as_ref().len(),
                ),
                Event::End(_) => (Kind::Close, 0, 0, 0),
                Event::Eof => {
                    if !self.open.is_empty() || depth > 0 {
                        return Err("the XML ends inside an element".to_string());
                    }
                    return Ok(false);
                }
                _ => {
                    // Text, comments, declarations: nothing to keep.
                    self.piece.buf.truncate(before);
                    continue;
                }
            };
            let start = at
                .checked_sub(self.piece.buf.as_ptr() as usize)
                .unwrap_or(before);
            let mark = Mark {
                kind,
                start,
                end: start + len,
                name_len,
                pos,
                attrs: None,
            };
            if depth > 0 {
                if self.open.len() + depth >= MAX_DEPTH && kind == Kind::Open {
                    return Err(too_deep(pos));
                }
                self.piece.marks.push(mark);
                match kind {
                    Kind::Open => depth += 1,
                    Kind::Empty => {}
                    Kind::Close => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(true);
                        }
                    }
                }
                continue;
            }
            let name = self
                .piece
                .buf
                .get(start..start + name_len)
                .unwrap_or_default();
            let at_path = kind != Kind::Close
                && self.open.len() + 1 == path.len()
                && self.open.iter().zip(path).all(|(o, p)| o == p.as_bytes())
                && path.last().is_some_and(|p| p.as_bytes() == name);
            if at_path {
                self.piece.marks.push(mark);
                if kind == Kind::Empty {
                    return Ok(true);
                }
                depth = 1;
                continue;
            }
            match kind {
                Kind::Open | Kind::Empty => {
                    if self.open.len() == 1 {
                        self.sections
                            .push(String::from_utf8_lossy(name).into_owned());
                    }
                    if self.open.is_empty() {
                        // The root: keep its tag.
                        self.root = Some(Piece {
                            buf: self
                                .piece
                                .buf
                                .get(start..start + len)
                                .unwrap_or_default()
                                .to_vec(),
                            marks: vec![Mark {
                                kind: Kind::Empty,
                                start: 0,
                                end: len,
                                ..mark
                            }],
                            ..Piece::default()
                        });
                    }
                    if kind == Kind::Open {
                        if self.open.len() >= MAX_DEPTH {
                            return Err(too_deep(pos));
                        }
                        self.open.push(name.to_vec());
                    }
                }
                Kind::Close => {
                    self.open
                        .pop()
                        .ok_or_else(|| format!("unbalanced closing tag at byte {pos}"))?;
                }
            }
            self.piece.buf.clear();
        }
    }
}

/// The part of `text` that `part` (a slice of it) covers, as a `&str` with
/// `text`'s lifetime.
fn within<'a>(text: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    text.get(start..start.checked_add(part.len())?)
}

/// The text of a start tag read from `text` (a slice of it).
fn tag_of<'a>(text: &'a str, s: &BytesStart<'_>, pos: u64) -> Result<(&'a str, usize), String> {
    // Reading from a &str, quick-xml hands out slices of the input.
    let tag = within(text, s).ok_or_else(|| format!("unreadable tag at byte {pos}"))?;
    Ok((tag, s.name().as_ref().len()))
}

/// Where the attributes of a tag are, appended to `out` as offsets into the
/// tag's text (`tag`, whose name is its first `name_len` bytes). `false`, with
/// `out` as it was, when they cannot be kept as offsets (a value with an
/// entity to unescape, a tag too long for 16-bit offsets) or are not in the
/// plain `key="value"` form this scan reads.
///
/// This is the hot loop of a large import: a CIB's status is mostly
/// attributes. Everything it declines goes to quick-xml's attribute reader
/// (see [`element`]), which reads every form XML allows, unescapes values and
/// names what is malformed.
fn spans(tag: &[u8], name_len: usize, out: &mut Vec<Span>) -> bool {
    let first = out.len();
    let found = tag.len() <= usize::from(u16::MAX) && scan(tag, name_len, out).is_some();
    if !found {
        out.truncate(first);
    }
    found
}

fn scan(tag: &[u8], name_len: usize, out: &mut Vec<Span>) -> Option<()> {
    // Values are what lies between pairs of double quotes: one vectorized
    // pass finds them all. Single-quoted values and entities are left to
    // quick-xml.
    if memchr::memchr2(b'\'', b'&', tag).is_some() {
        return None;
    }
    let separator = |b: &u8| b.is_ascii_whitespace();
    let mut at = name_len;
    let mut quotes = Quotes::new(tag);
    while let Some(open) = quotes.next() {
        let close = quotes.next()?;
        // Between the last value (or the name) and this one: whitespace,
        // then the key, then `=`.
        let eq = open
            .checked_sub(1)
            .filter(|&eq| eq > at && tag.get(eq) == Some(&b'='))?;
        // The key is what follows the last byte that is no part of a key
        // (found by one comparison per byte); before it, only whitespace.
        let gap = tag.get(at..eq)?;
        let last = gap.iter().rposition(|&b| b <= b' ')?;
        let key = at + last + 1;
        if key == eq || !gap.get(..=last)?.iter().all(separator) {
            return None;
        }
        let o = |x: usize| u16::try_from(x).ok();
        out.push([o(key)?, o(eq)?, o(open + 1)?, o(close)?]);
        at = close + 1;
    }
    // Nothing but whitespace after the last value.
    tag.get(at..)?.iter().all(separator).then_some(())
}

/// The positions of the double quotes in a text, in order, found a word at a
/// time: a tag's quotes are a few bytes apart, too close for a vectorized
/// search to pay for its start-up on each.
struct Quotes<'t> {
    text: &'t [u8],
    /// The quotes of the last word read not yet handed out: the top bit of
    /// each byte that is one.
    found: u64,
    /// Where the last word read starts.
    base: usize,
    /// Where reading goes on.
    next: usize,
}

impl<'t> Quotes<'t> {
    fn new(text: &'t [u8]) -> Quotes<'t> {
        Quotes {
            text,
            found: 0,
            base: 0,
            next: 0,
        }
    }
}

impl Iterator for Quotes<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        const QUOTES: u64 = 0x2222_2222_2222_2222;
        while self.found == 0 {
            let Some(word) = self.text.get(self.next..self.next + 8) else {
                // Fewer than eight bytes left: one at a time.
                let at = self.next
                    + self
                        .text
                        .get(self.next..)?
                        .iter()
                        .position(|&b| b == b'"')?;
                self.next = at + 1;
                return Some(at);
            };
            let bytes: [u8; 8] = word.try_into().ok()?;
            // Bytes equal to '"' become zero, and exactly those get their top
            // bit set (no carry crosses a byte).
            let x = u64::from_le_bytes(bytes) ^ QUOTES;
            self.found = !(((x & LOW7) + LOW7) | x | LOW7);
            self.base = self.next;
            self.next += 8;
        }
        let byte = usize::try_from(self.found.trailing_zeros() / 8).ok()?;
        self.found &= self.found - 1;
        Some(self.base + byte)
    }
}

/// An element from the text of its tag: its name (the first `name_len`
/// bytes) and its attributes, from `known` spans when they were found as the
/// tag was read.
fn element<'a>(
    tag: &'a str,
    name_len: usize,
    pos: u64,
    known: Option<&'a [Span]>,
) -> Result<Element<'a>, String> {
    let name = tag.get(..name_len).unwrap_or(tag);
    let malformed =
        |e: &dyn std::fmt::Display| format!("malformed attribute in <{name}> at byte {pos}: {e}");
    // Duplicate attributes are not looked for (the first one wins): checking
    // costs a comparison with every earlier attribute of the element.
    let attrs = match known {
        Some(known) => Attrs::Spans(tag, Cow::Borrowed(known)),
        None => {
            let mut found = Vec::new();
            if spans(tag.as_bytes(), name_len, &mut found) {
                Attrs::Spans(tag, Cow::Owned(found))
            } else {
                let mut owned = Vec::new();
                let mut iter = Attributes::new(tag, name_len);
                iter.with_checks(false);
                for a in iter {
                    let a = a.map_err(|e| malformed(&e))?;
                    let key = within(tag, a.key.as_ref()).unwrap_or("");
                    let raw = within(tag, &a.value).unwrap_or("");
                    let value = quick_xml::escape::unescape(raw).map_err(|e| {
                        format!("bad attribute value in <{name}> at byte {pos}: {e}")
                    })?;
                    owned.push((key, value.into_owned()));
                }
                Attrs::Owned(owned)
            }
        }
    };
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_and_attributes() {
        let e = parse("<cib a=\"1\"><configuration><nodes><node id=\"1\" uname=\"n&amp;1\"/></nodes></configuration></cib>").unwrap();
        assert_eq!(e.attr("a"), Some("1"));
        let node = e.path(&["configuration", "nodes", "node"]).unwrap();
        assert_eq!(node.attr("uname"), Some("n&1"));
    }

    #[test]
    fn a_stream_hands_out_elements_at_a_path() {
        let text = "<cib a=\"1\"><configuration><x id=\"c\"/></configuration><status><n id=\"1\"/><n id=\"2\"><!-- note --><m>text</m></n></status><other/></cib>";
        let mut s = Stream::new(text.as_bytes());
        assert!(s.next_at(&["cib", "configuration"]).unwrap());
        let mut cfg = s.take();
        assert_eq!(
            cfg.element().unwrap().first("x").map(Element::id),
            Some("c")
        );
        let mut root = s.take_root().unwrap();
        assert_eq!(root.element().unwrap().attr("a"), Some("1"));
        assert!(!s.passed("status"));
        let mut ids = Vec::new();
        while s.next_at(&["cib", "status", "n"]).unwrap() {
            let mut piece = s.take();
            let n = piece.element().unwrap();
            ids.push(n.id().to_string());
            assert_eq!(n.children.len(), usize::from(n.id() == "2"));
        }
        assert_eq!(ids, ["1", "2"]);
        assert!(s.passed("status") && s.passed("other"));
        let mut broken = Stream::new(&b"<cib><status><n/>"[..]);
        assert!(broken.next_at(&["cib", "status", "n"]).unwrap());
        assert!(broken.next_at(&["cib", "status", "n"]).is_err());
        let mut unbalanced = Stream::new(&b"<cib></status>"[..]);
        assert!(unbalanced.next_at(&["cib", "status", "n"]).is_err());
    }

    #[test]
    fn a_recycled_piece_holds_nothing_of_its_last_element() {
        let text =
            r#"<cib><status><n id="1" a="x"><m b="y"/></n><n id="2"/><n id="3"/></status></cib>"#;
        let mut s = Stream::new(text.as_bytes());
        assert!(s.next_at(&["cib", "status", "n"]).unwrap());
        let mut first = s.take();
        first.find_attributes();
        assert_eq!(first.element().unwrap().children.len(), 1);
        s.recycle(first);
        // The second is read into a new piece, the third into the first's.
        for id in ["2", "3"] {
            assert!(s.next_at(&["cib", "status", "n"]).unwrap());
            let mut piece = s.take();
            let n = piece.element().unwrap();
            assert_eq!((n.id(), n.attr("a"), n.children.len()), (id, None, 0));
        }
    }

    #[test]
    fn quotes_are_found_wherever_they_are() {
        for text in [
            "",
            "\"",
            "a=\"1\" b=\"22\" c=\"\"",
            "\"\"\"\"\"\"\"\"\"\"",
            "0123456\"89abcdef\"",
            "é\"ü\"\u{80}\"\u{ff}¢¢¢¢\"",
        ] {
            let want: Vec<usize> = text
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'"')
                .map(|(i, _)| i)
                .collect();
            assert_eq!(
                Quotes::new(text.as_bytes()).collect::<Vec<_>>(),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn the_fast_attribute_scan_agrees_with_quick_xml() {
        let tags = [
            "op",
            "op  ",
            r#"op id="a" rc-code="0""#,
            "op\tid=\"a\"\n  x=\"\"  ",
            r#"op a="1" b = "2""#,
            r#"op a='1'"#,
            r#"op a="x&amp;y""#,
            r#"op a="1"b="2""#,
            r#"op a"#,
            r#"op a="1" b"#,
            r#"op ="1""#,
            r#"op a="1"#,
            r#"op a="say 'hi'""#,
            r#"op a b="1""#,
        ];
        for tag in tags {
            let mut spans = Vec::new();
            let read: Vec<(String, String)> = Attributes::new(tag, 2)
                .map(|a| {
                    let a = a.map_err(|e| e.to_string())?;
                    let v = a.unescape_value().map_err(|e| e.to_string())?;
                    Ok((
                        String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                        v.into_owned(),
                    ))
                })
                .collect::<Result<_, String>>()
                .unwrap_or_default();
            if super::spans(tag.as_bytes(), 2, &mut spans) {
                let e = element(tag, 2, 0, Some(&spans)).unwrap();
                let found: Vec<(String, String)> = e
                    .attrs()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(found, read, "{tag}");
            } else {
                assert!(spans.is_empty(), "{tag}");
            }
            // Either way, the element reads as quick-xml reads it.
            if let Ok(e) = element(tag, 2, 0, None) {
                let found: Vec<(String, String)> = e
                    .attrs()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(found, read, "{tag}");
            }
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("<cib><a></cib>").is_err());
        assert!(parse("").is_err());
        assert!(parse(&"<a>".repeat(1000)).is_err());
    }
}
