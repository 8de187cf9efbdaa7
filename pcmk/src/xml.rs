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

/// Builds trees from a document's tags in order: an element's children are
/// attached to it when it closes.
#[derive(Default)]
struct Tree<'a> {
    stack: Vec<Element<'a>>,
    /// The outermost elements, in order.
    roots: Vec<Element<'a>>,
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
            None => self.roots.push(e),
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

    fn finish(self) -> Result<Vec<Element<'a>>, String> {
        if !self.stack.is_empty() {
            return Err("the XML ends inside an element".to_string());
        }
        if self.roots.is_empty() {
            return Err("no XML element found".to_string());
        }
        Ok(self.roots)
    }
}

/// A DOCTYPE that declares entities or elements: a CIB has none, and Halo
/// reads none (no entity is ever expanded, from a file or otherwise).
fn doctype(pos: u64) -> String {
    format!(
        "a DOCTYPE with declarations at byte {pos}: a CIB has none, and Halo does not read them"
    )
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
            Event::DocType(d) if d.contains(&b'[') => return Err(doctype(pos)),
            Event::Eof => break,
            _ => {}
        }
    }
    // Of several top-level elements (not well-formed XML), the last.
    let mut roots = tree.finish()?;
    roots
        .pop()
        .ok_or_else(|| "no XML element found".to_string())
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

impl Mark {
    fn new(kind: Kind, start: usize, end: usize, name_len: usize, pos: u64) -> Mark {
        Mark {
            kind,
            start,
            end,
            name_len,
            pos,
            attrs: None,
        }
    }
}

/// Elements of a document read in pieces, each with everything inside it:
/// the text of their tags and where each tag is. Their trees are built on
/// demand and borrow from it.
#[derive(Debug, Default)]
pub struct Piece {
    buf: Vec<u8>,
    marks: Vec<Mark>,
    spans: Vec<Span>,
    /// Whether `spans` and the marks' `attrs` have been filled in.
    found: bool,
}

impl Piece {
    /// The piece's (last) element, or what is wrong with its text.
    pub fn element(&mut self) -> Result<Element<'_>, String> {
        let mut all = self.elements()?;
        all.pop().ok_or_else(|| "no XML element found".to_string())
    }

    /// The piece's elements, in order, or what is wrong with their text.
    pub fn elements(&mut self) -> Result<Vec<Element<'_>>, String> {
        let (text, spans, marks) = self.read()?;
        let mut tree = Tree::default();
        for m in marks {
            match m.kind {
                Kind::Open => tree.open(element_at(text, spans, m)?, m.pos)?,
                Kind::Empty => tree.attach(element_at(text, spans, m)?),
                Kind::Close => tree.close(m.pos)?,
            }
        }
        tree.finish()
    }

    /// The piece's text, its attributes' spans (found now if they were not)
    /// and its tags.
    fn read(&mut self) -> Result<(&str, &[Span], &[Mark]), String> {
        let pos = self.marks.first().map_or(0, |m| m.pos);
        if !self.found {
            self.find_attributes();
        }
        let text = std::str::from_utf8(&self.buf)
            .map_err(|_| format!("the element at byte {pos} is not valid UTF-8"))?;
        Ok((text, &self.spans, &self.marks))
    }

    /// The piece's elements and their children, without deeper descendants
    /// (read, and refused if malformed, but not kept), in one flat list:
    /// each outermost element followed by its children; and where the
    /// outermost ones are in it. For pieces of many small elements (a node's
    /// resource histories) this makes no list per element, as
    /// [`Piece::elements`] does.
    pub fn shallow(&mut self) -> Result<(Vec<Element<'_>>, Vec<usize>), String> {
        let (text, spans, marks) = self.read()?;
        let mut all = Vec::with_capacity(marks.len());
        let mut tops = Vec::new();
        let mut depth = 0usize;
        for m in marks {
            if m.kind == Kind::Close {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced closing tag at byte {}", m.pos))?;
                continue;
            }
            let e = element_at(text, spans, m)?;
            if depth == 0 {
                tops.push(all.len());
            }
            if depth <= 1 {
                all.push(e);
            }
            if m.kind == Kind::Open {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(m.pos));
                }
            }
        }
        if depth != 0 {
            return Err("the XML ends inside an element".to_string());
        }
        Ok((all, tops))
    }

    /// Finds where the attributes of every tag are, into one list the
    /// elements share; [`Piece::elements`] does it if it has not been done.
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

    fn clear(&mut self) {
        self.buf.clear();
        self.clear_tags();
    }

    /// Forgets the piece's tags, keeping its text.
    fn clear_tags(&mut self) {
        self.marks.clear();
        self.spans.clear();
        self.found = false;
    }
}

/// The tags of an XML text read from a buffered source by quick-xml, one at a
/// time, into a piece's buffer: where the text of each is, its kind and the
/// length of its name. Text, comments, processing instructions and
/// declarations are passed over. What quick-xml refuses, and a DOCTYPE with
/// declarations (never read: no entity is ever expanded), is an error, for the
/// caller to read the document whole, which names what is wrong.
struct Tags<R> {
    reader: Reader<R>,
}

impl<R: std::io::BufRead> Tags<R> {
    fn new(source: R) -> Tags<R> {
        let mut reader = Reader::from_reader(source);
        // The stream matches end tags itself, against its own open elements.
        reader.config_mut().check_end_names = false;
        Tags { reader }
    }

    /// The next tag, its text appended to `buf` (name and attributes,
    /// without `<`, `/` and `>`; for an end tag, `start` is where its text
    /// begins and the name follows a `/`); `None` at the end of the text.
    fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Mark>, String> {
        loop {
            let start = buf.len();
            let pos = self.reader.buffer_position();
            let event = self
                .reader
                .read_event_into(buf)
                .map_err(|e| format!("malformed XML at byte {pos}: {e}"))?;
            // What the event is; its text is what it appended to `buf`.
            let (kind, len, name_len) = match &event {
                Event::Start(s) => (Kind::Open, s.len(), s.name().as_ref().len()),
                Event::Empty(s) => (Kind::Empty, s.len(), s.name().as_ref().len()),
                Event::End(e) => (Kind::Close, 0, e.name().as_ref().len()),
                Event::DocType(d) if d.contains(&b'[') => return Err(doctype(pos)),
                Event::Eof => {
                    buf.truncate(start);
                    return Ok(None);
                }
                _ => {
                    buf.truncate(start);
                    continue;
                }
            };
            let text = buf.get(start..).unwrap_or_default();
            let mark = match kind {
                Kind::Close if text.first() == Some(&b'/') => {
                    Mark::new(kind, start, start + 1 + name_len, name_len, pos)
                }
                Kind::Open | Kind::Empty if name_len > 0 && text.len() >= len => {
                    Mark::new(kind, start, start + len, name_len, pos)
                }
                _ => return Err(format!("a tag read unlike XML at byte {pos}")),
            };
            return Ok(Some(mark));
        }
    }
}

/// Whether two short texts (element names) are the same: compared here
/// rather than by a call to the C library's `memcmp`, which costs more than
/// the comparison for a few bytes.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// How a [`Stream`] reads the elements at one path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Take {
    /// The start tag alone, as a piece; the element's end is reported too
    /// ([`Read::Closed`]), and what is inside it is read by the other rules.
    Enter,
    /// The element with everything inside it, as a piece of its own.
    Whole,
    /// Like `Whole`, but the elements that follow it at the same path join
    /// the same piece until its text reaches this many bytes: many small
    /// siblings travel together, and a large parent is never held whole.
    Batch(usize),
}

/// A path of element names from the root, and how the elements there are
/// read.
pub type Rule<'r> = (&'r [&'r str], Take);

/// What [`Stream::next`] came to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Read {
    /// A piece read by the rule with this index: [`Stream::take`] it.
    Piece(usize),
    /// The end of an element entered by the rule with this index.
    Closed(usize),
    /// The end of the document.
    End,
}

/// A document read from any buffered source in pieces chosen by path (see
/// [`Take`]). Everything else is passed over, so that a large section (a
/// CIB's status) is processed piece by piece and never held whole.
pub struct Stream<R> {
    tags: Tags<R>,
    /// What is read as pieces, and how.
    rules: &'static [Rule<'static>],
    /// The piece being read, or last read.
    piece: Piece,
    /// Names of the open elements above the reading position.
    open: Vec<Vec<u8>>,
    /// Elements entered ([`Take::Enter`]) and still open: how many elements
    /// are open with it, and its rule.
    entered: Vec<(usize, usize)>,
    /// Names of the root's children opened so far, in order.
    sections: Vec<String>,
    /// Pieces given back to be read into again.
    spare: Vec<Piece>,
    /// A tag read just after a batch, still to be handled: its text is the
    /// last in the piece's buffer.
    pending: Option<Mark>,
    /// An entered element's end, to report before reading on.
    closed: Option<usize>,
    /// Where the names of the open elements of the piece are in its buffer.
    names: Vec<(usize, usize)>,
    /// The rules a tag can match below the open elements, while those stay
    /// open.
    here: Option<Vec<usize>>,
}

/// The piece being read: by which rule, and how deep inside its current
/// element (0 between the elements of a batch).
#[derive(Default)]
struct Reading {
    rule: Option<usize>,
    depth: usize,
}

impl<R: std::io::BufRead> Stream<R> {
    pub fn new(source: R, rules: &'static [Rule<'static>]) -> Stream<R> {
        Stream {
            tags: Tags::new(source),
            rules,
            piece: Piece::default(),
            open: Vec::new(),
            entered: Vec::new(),
            sections: Vec::new(),
            spare: Vec::new(),
            pending: None,
            closed: None,
            names: Vec::new(),
            here: None,
        }
    }

    /// Gives back a piece that is no longer needed: the next pieces are read
    /// into its buffers rather than into new ones (whose pages the system
    /// must hand out again).
    pub fn recycle(&mut self, mut piece: Piece) {
        piece.clear();
        self.spare.push(piece);
    }

    /// Whether a child of the root with this name has been opened so far
    /// outside the pieces read.
    pub fn passed(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }

    /// The piece last read, taken out to be kept. The next piece is read
    /// into a piece given back, or else into new buffers as large as this
    /// one's: pieces read by one rule tend to be alike.
    pub fn take(&mut self) -> Piece {
        let next = self.spare.pop().unwrap_or_else(|| Piece {
            buf: Vec::with_capacity(self.piece.buf.len()),
            marks: Vec::with_capacity(self.piece.marks.len()),
            ..Piece::default()
        });
        let mut taken = std::mem::replace(&mut self.piece, next);
        // A tag read after the piece moves to the next one.
        if let Some(m) = &mut self.pending {
            let (start, end) = (m.start, m.end);
            self.piece
                .buf
                .extend_from_slice(taken.buf.get(start..end).unwrap_or_default());
            taken.buf.truncate(start);
            (m.start, m.end) = (0, end - start);
        }
        taken
    }

    /// The source, as far as it has been read.
    pub fn into_inner(self) -> R {
        self.tags.reader.into_inner()
    }

    /// Reads on to the next piece by the stream's rules, or the end of an
    /// entered element, or of the document. An element matched by no rule is
    /// passed over, but the rules apply to what is inside it.
    pub fn next(&mut self) -> Result<Read, String> {
        if let Some(rule) = self.closed.take() {
            return Ok(Read::Closed(rule));
        }
        let pending = self.pending.take();
        // A new piece: nothing in it but a tag still to be handled.
        let kept = pending.map_or(0..0, |m| m.start..m.end);
        self.piece.buf.copy_within(kept.clone(), 0);
        self.piece.buf.truncate(kept.len());
        self.piece.clear_tags();
        let mut reading = Reading::default();
        if let Some(m) = pending {
            let tag = Mark {
                start: 0,
                end: kept.len(),
                ..m
            };
            if let Some(read) = self.handle(tag, &mut reading)? {
                return Ok(read);
            }
        }
        while let Some(tag) = self.tags.next(&mut self.piece.buf)? {
            if let Some(read) = self.handle(tag, &mut reading)? {
                return Ok(read);
            }
        }
        if !self.open.is_empty() || reading.depth > 0 {
            return Err("the XML ends inside an element".to_string());
        }
        Ok(reading.rule.map_or(Read::End, Read::Piece))
    }

    /// Handles one tag, whose text is the last in the piece's buffer: what
    /// it brings the reading to, if anything to report.
    fn handle(&mut self, tag: Mark, reading: &mut Reading) -> Result<Option<Read>, String> {
        let pos = tag.pos;
        let rules = self.rules;
        if reading.depth > 0 {
            // Inside an element of the piece: everything is kept.
            if tag.kind == Kind::Open && self.open.len() + reading.depth >= MAX_DEPTH {
                return Err(too_deep(pos));
            }
            match tag.kind {
                Kind::Open => {
                    reading.depth += 1;
                    self.names.push((tag.start, tag.start + tag.name_len));
                    self.piece.marks.push(tag);
                }
                Kind::Empty => self.piece.marks.push(tag),
                Kind::Close => {
                    reading.depth -= 1;
                    let (a, b) = self.names.pop().unwrap_or_default();
                    let opened = self.piece.buf.get(a..b).unwrap_or_default();
                    self.closes(tag, opened)?;
                    self.piece.buf.truncate(tag.start);
                    self.piece.marks.push(Mark {
                        end: tag.start,
                        ..tag
                    });
                }
            }
            return Ok(self.element_read(reading));
        }
        if tag.kind == Kind::Close {
            let opened = self.open.last().map(Vec::as_slice).unwrap_or_default();
            self.closes(tag, opened)?;
            self.piece.buf.truncate(tag.start);
            let ended = self
                .entered
                .last()
                .filter(|(open, _)| *open == self.open.len())
                .map(|&(_, rule)| rule);
            self.open
                .pop()
                .ok_or_else(|| format!("unbalanced closing tag at byte {pos}"))?;
            self.here = None;
            if ended.is_some() {
                self.entered.pop();
            }
            // A batch ends with its elements' parent.
            if let Some(rule) = reading.rule {
                self.closed = ended;
                return Ok(Some(Read::Piece(rule)));
            }
            return Ok(ended.map(Read::Closed));
        }
        let name = self
            .piece
            .buf
            .get(tag.start..tag.start + tag.name_len)
            .unwrap_or_default();
        // The rules a tag here can match, found again only when the open
        // elements change: most tags are siblings.
        let open = &self.open;
        let candidates = self.here.get_or_insert_with(|| {
            (0..rules.len())
                .filter(|&r| {
                    rules.get(r).is_some_and(|(path, _)| {
                        open.len() + 1 == path.len()
                            && open.iter().zip(*path).all(|(o, p)| same(o, p.as_bytes()))
                    })
                })
                .collect()
        });
        let rule = candidates.iter().copied().find(|&r| {
            rules
                .get(r)
                .and_then(|(path, _)| path.last())
                .is_some_and(|last| same(last.as_bytes(), name))
        });
        if let Some(batch) = reading.rule.filter(|&r| Some(r) != rule) {
            // Not one more element of the batch: it ends before this tag.
            self.pending = Some(tag);
            return Ok(Some(Read::Piece(batch)));
        }
        if self.open.len() == 1 {
            self.sections
                .push(String::from_utf8_lossy(name).into_owned());
        }
        let open = tag.kind == Kind::Open;
        if open && self.open.len() >= MAX_DEPTH {
            return Err(too_deep(pos));
        }
        match rule.and_then(|r| Some((r, rules.get(r)?.1))) {
            None => {
                if open {
                    self.open.push(name.to_vec());
                    self.here = None;
                }
                self.piece.buf.truncate(tag.start);
                Ok(None)
            }
            Some((rule, Take::Enter)) => {
                // The tag alone, with no children of its own in the piece.
                self.piece.marks.push(Mark {
                    kind: Kind::Empty,
                    ..tag
                });
                if open {
                    self.open.push(name.to_vec());
                    self.here = None;
                    self.entered.push((self.open.len(), rule));
                } else {
                    self.closed = Some(rule);
                }
                Ok(Some(Read::Piece(rule)))
            }
            Some((rule, Take::Whole | Take::Batch(_))) => {
                self.piece.marks.push(tag);
                reading.rule = Some(rule);
                if open {
                    reading.depth = 1;
                    self.names.clear();
                    self.names.push((tag.start, tag.start + tag.name_len));
                    return Ok(None);
                }
                Ok(self.element_read(reading))
            }
        }
    }

    /// Whether an end tag closes the element named `opened`.
    fn closes(&self, tag: Mark, opened: &[u8]) -> Result<(), String> {
        let name = self.piece.buf.get(tag.start + 1..tag.end);
        if !name.is_some_and(|name| same(name, opened)) {
            return Err(format!(
                "the end tag at byte {} does not close <{}>",
                tag.pos,
                String::from_utf8_lossy(opened)
            ));
        }
        Ok(())
    }

    /// Once an element of the piece has been read whole: whether the piece
    /// is done.
    fn element_read(&self, reading: &Reading) -> Option<Read> {
        let rule = reading.rule.filter(|_| reading.depth == 0)?;
        match self.rules.get(rule)?.1 {
            Take::Batch(bytes) if self.piece.buf.len() < bytes => None,
            _ => Some(Read::Piece(rule)),
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
/// tag's text (`tag`, whose name is its first `name_len` bytes), as quick-xml's
/// attribute reader finds them. `false`, with `out` as it was, when they cannot
/// be kept as offsets (a value with an entity to unescape, a tag too long for
/// 16-bit offsets) or quick-xml finds them malformed: [`element`] then reads
/// them into owned values, and names what is malformed.
fn spans(tag: &[u8], name_len: usize, out: &mut Vec<Span>) -> bool {
    let first = out.len();
    let found = scan(tag, name_len, out).is_some();
    if !found {
        out.truncate(first);
    }
    found
}

fn scan(tag: &[u8], name_len: usize, out: &mut Vec<Span>) -> Option<()> {
    // An end tag's text is empty: it has no attributes to find.
    if tag.len() > usize::from(u16::MAX)
        || name_len > tag.len()
        || memchr::memchr(b'&', tag).is_some()
    {
        return None;
    }
    let text = std::str::from_utf8(tag).ok()?;
    let mut attrs = Attributes::new(text, name_len);
    attrs.with_checks(false);
    let offsets = |part: &[u8]| {
        let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
        let o = |x: usize| u16::try_from(x).ok();
        Some((o(start)?, o(start + part.len())?))
    };
    for a in attrs {
        let a = a.ok()?;
        let (ks, ke) = offsets(a.key.as_ref())?;
        // Without an entity quick-xml lends the value from the tag.
        let (vs, ve) = offsets(&a.value)?;
        out.push([ks, ke, vs, ve]);
    }
    Some(())
}

/// The element a piece's tag opens, from the piece's text and the spans of
/// its attributes.
fn element_at<'t>(text: &'t str, spans: &'t [Span], m: &Mark) -> Result<Element<'t>, String> {
    let tag = text
        .get(m.start..m.end)
        .ok_or_else(|| format!("unreadable tag at byte {}", m.pos))?;
    let known = m.attrs.and_then(|(a, b)| {
        let index = |i: u32| usize::try_from(i).ok();
        spans.get(index(a)?..index(b)?)
    });
    element(tag, m.name_len, m.pos, known)
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
    // XML allows no `<` inside a tag, not even in an attribute value (where
    // it is written `&lt;`); neither reader here checks that by itself.
    if let Some(i) = tag.find('<') {
        return Err(format!(
            "malformed XML at byte {}: `<` inside the tag of <{name}> (an attribute value writes it `&lt;`)",
            pos + i as u64 + 1
        ));
    }
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

    /// Everything a stream reads by `rules`, as text: `name#id` for each
    /// element of a piece (`+` before those that follow in a batch), `/name`
    /// for an entered element's end.
    fn read_all(text: &str, rules: &'static [Rule<'static>]) -> Result<Vec<String>, String> {
        let mut s = Stream::new(text.as_bytes(), rules);
        let mut seen = Vec::new();
        loop {
            match s.next()? {
                Read::End => return Ok(seen),
                Read::Closed(r) => seen.push(format!("/{}", rules[r].0.last().unwrap())),
                Read::Piece(_) => {
                    let mut piece = s.take();
                    let all = piece.elements()?;
                    let ids: Vec<String> = all
                        .iter()
                        .map(|e| format!("{}#{}", e.name, e.id()))
                        .collect();
                    seen.push(ids.join("+"));
                    drop(all);
                    s.recycle(piece);
                }
            }
        }
    }

    #[test]
    fn a_stream_reads_by_rules() {
        let rules: &'static [Rule<'static>] = &[
            (&["cib"], Take::Enter),
            (&["cib", "configuration"], Take::Whole),
            (&["cib", "status", "n"], Take::Enter),
            (&["cib", "status", "n", "a"], Take::Whole),
            (&["cib", "status", "n", "h", "r"], Take::Batch(30)),
        ];
        let text = r#"<?xml version="1.0"?><!-- a CIB --><cib id="c">
            <configuration id="cfg"><x id="x"/></configuration>
            <status>
              <n id="1"><h><r id="r1"/><r id="r2"><op id="o"/></r><!-- c --><r id="r3"/><r id="r4"/></h><a id="a1"/></n>
              <n id="2"/>
              <n id="3"><h><r id="r5"/><other id="z"/><r id="r6"/></h></n>
            </status>
            <other><n id="not-in-status"/></other>
        </cib>"#;
        assert_eq!(
            read_all(text, rules).unwrap(),
            [
                "cib#c",
                "configuration#cfg",
                "n#1",
                // A batch closes once it holds 30 bytes of tag text (without
                // `<` and `>`), or at its parent's end.
                "r#r1+r#r2+r#r3",
                "r#r4",
                "a#a1",
                "/n",
                "n#2",
                "/n",
                "n#3",
                // Another element ends a batch.
                "r#r5",
                "r#r6",
                "/n",
                "/cib",
            ]
        );
        let mut s = Stream::new(text.as_bytes(), rules);
        while s.next().unwrap() != Read::End {}
        assert!(s.passed("status") && s.passed("other") && !s.passed("x"));
        // A batch whose parent is entered: the batch, then the end.
        assert_eq!(
            read_all(
                r#"<cib><status><n id="1"><h><r id="a"/></h></n></status></cib>"#,
                &rules[..3]
            )
            .unwrap(),
            ["cib#", "n#1", "/n", "/cib"]
        );
        let batch_in_entered: &'static [Rule<'static>] =
            &[(&["n"], Take::Enter), (&["n", "r"], Take::Batch(1000))];
        assert_eq!(
            read_all(r#"<n id="1"><r id="a"/><r id="b"/></n>"#, batch_in_entered).unwrap(),
            ["n#1", "r#a+r#b", "/n"]
        );
    }

    #[test]
    fn a_stream_refuses_what_is_not_well_formed() {
        let rules: &'static [Rule<'static>] = &[(&["cib", "status", "n"], Take::Whole)];
        for text in [
            "<cib><status><n/>",
            "<cib></status>",
            "<cib><status><n><m></n></status></cib>",
            "<cib><status></cib></status>",
            "<cib><status><n a=\"1></n></status></cib>",
            "<cib><!DOCTYPE x [<!ENTITY e \"y\">]></cib>",
            "<cib>< n/></cib>",
            "<cib><!-- no end",
        ] {
            assert!(read_all(text, rules).is_err(), "{text}");
        }
    }

    #[test]
    fn a_shallow_read_keeps_elements_and_their_children() {
        let rules: &'static [Rule<'static>] = &[(&["h", "r"], Take::Batch(1 << 10))];
        let read = |text: &str| {
            let mut s = Stream::new(text.as_bytes(), rules);
            assert_eq!(s.next().unwrap(), Read::Piece(0));
            s.take()
        };
        let mut piece =
            read(r#"<h><r id="a"><op id="1"><x id="deep"/></op><op id="2"/></r><r id="b"/></h>"#);
        let (all, tops) = piece.shallow().unwrap();
        let ids: Vec<&str> = all.iter().map(Element::id).collect();
        assert_eq!((ids, tops), (vec!["a", "1", "2", "b"], vec![0, 3]));
        // What is not kept is still read: a malformed attribute is an error.
        let mut bad = read(r#"<h><r id="a"><op id="1"><x id=1/></op></r></h>"#);
        assert!(bad.shallow().is_err());
    }

    #[test]
    fn a_recycled_piece_holds_nothing_of_its_last_element() {
        let text =
            r#"<cib><status><n id="1" a="x"><m b="y"/></n><n id="2"/><n id="3"/></status></cib>"#;
        let rules: &'static [Rule<'static>] = &[(&["cib", "status", "n"], Take::Whole)];
        let mut s = Stream::new(text.as_bytes(), rules);
        assert_eq!(s.next().unwrap(), Read::Piece(0));
        let mut first = s.take();
        first.find_attributes();
        assert_eq!(first.element().unwrap().children.len(), 1);
        s.recycle(first);
        // The second is read into a new piece, the third into the first's.
        for id in ["2", "3"] {
            assert_eq!(s.next().unwrap(), Read::Piece(0));
            let mut piece = s.take();
            let n = piece.element().unwrap();
            assert_eq!((n.id(), n.attr("a"), n.children.len()), (id, None, 0));
        }
    }

    /// The tags quick-xml reads in a text: kind, and the text between `<`
    /// and `>` (without the `/` of an empty element's), or the name of an
    /// end tag.
    fn quick_xml_tags(text: &str) -> Result<Vec<(Kind, String)>, String> {
        let mut reader = Reader::from_str(text);
        let mut tags = Vec::new();
        loop {
            let owned = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            match reader.read_event().map_err(|e| e.to_string())? {
                Event::Start(s) => tags.push((Kind::Open, owned(&s))),
                Event::Empty(s) => tags.push((Kind::Empty, owned(&s))),
                Event::End(e) => tags.push((Kind::Close, owned(e.name().as_ref()))),
                Event::Eof => return Ok(tags),
                _ => {}
            }
        }
    }

    /// The same, as [`Tags`] reads them from a source `chunk` bytes at a
    /// time.
    fn our_tags(text: &str, chunk: usize) -> Result<Vec<(Kind, String)>, String> {
        let source = std::io::BufReader::with_capacity(chunk, text.as_bytes());
        let mut tags = Tags::new(source);
        let mut buf = Vec::new();
        let mut found = Vec::new();
        while let Some(m) = tags.next(&mut buf)? {
            let (a, b) = match m.kind {
                Kind::Close => (m.start + 1, m.end),
                _ => (m.start, m.end),
            };
            let name = &buf[m.start..m.start + m.name_len];
            if m.kind != Kind::Close && !name.iter().all(|b| !b.is_ascii_whitespace()) {
                return Err("name with whitespace".into());
            }
            found.push((m.kind, String::from_utf8_lossy(&buf[a..b]).into_owned()));
            buf.clear();
        }
        Ok(found)
    }

    #[test]
    fn tags_are_read_as_quick_xml_reads_them() {
        for text in [
            "<a/>",
            "\u{feff}<?xml version=\"1.0\"?>\n<!DOCTYPE cib>\n<a x=\"1\"><b/></a>",
            r#"<a x="1>2" y='say "hi"' z="it's"><b q=">"/></a >"#,
            "<a><!-- <b> --><![CDATA[<c>]]><?pi <d>?>text &amp; more</a>",
            "<a\tx=\"1\"\n/><b></b\n>",
            "<a><!----><!-- a - b --></a>",
        ] {
            let want = quick_xml_tags(text).unwrap();
            for chunk in [1, 2, 3, 7, 64] {
                assert_eq!(our_tags(text, chunk).unwrap(), want, "{text} by {chunk}");
            }
        }
    }

    proptest::proptest! {
        /// Tags with values holding quotes and `>`, comments and text between
        /// them, read in chunks of any size: the same tags as quick-xml's.
        #[test]
        fn tags_agree_with_quick_xml(
            parts in proptest::collection::vec(
                (0u8..6, "[a-c]{1,3}", "[ a>'/=]{0,6}", "[ a>\"/=]{0,6}"), 0..12),
            chunk in 1usize..40,
        ) {
            let mut text = String::new();
            let mut open = Vec::new();
            for (kind, name, v1, v2) in &parts {
                match kind {
                    0 => {
                        text += &format!("<{name} x=\"{v1}\" y='{v2}'>");
                        open.push(name.clone());
                    }
                    1 => text += &format!("<{name} x=\"{v1}\"/>"),
                    2 => text += &format!("<!--{}-->", v1.replace('-', "")),
                    3 => text += &format!("<![CDATA[{v1}{v2}]]>"),
                    4 => text += " \n",
                    _ => {
                        if let Some(n) = open.pop() {
                            text += &format!("</{n}>");
                        }
                    }
                }
            }
            while let Some(n) = open.pop() {
                text += &format!("</{n}>");
            }
            let want = quick_xml_tags(&text);
            proptest::prop_assume!(want.is_ok());
            proptest::prop_assert_eq!(our_tags(&text, chunk), want, "{}", text);
        }
    }

    #[test]
    fn attribute_spans_read_as_quick_xml_reads_them() {
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
