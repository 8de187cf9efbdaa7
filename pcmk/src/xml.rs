//! A small element tree read with quick-xml: names, attributes and children.
//! CIBs are data, not documents: text content and namespaces do not matter.

use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

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
    Spans(&'a str, Vec<[u16; 4]>),
    /// Values with entities to unescape, or tags too long for 16-bit offsets.
    Owned(Vec<(&'a str, String)>),
}

impl Default for Attrs<'_> {
    fn default() -> Self {
        Attrs::Spans("", Vec::new())
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

/// Parses XML text into its root element, or says where it is malformed.
pub fn parse(text: &str) -> Result<Element<'_>, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element<'_>> = Vec::new();
    let mut root: Option<Element<'_>> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {pos}: {e}"))?;
        match event {
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "elements nest more than {MAX_DEPTH} deep at byte {pos}"
                    ));
                }
                stack.push(element(text, &s, pos)?);
            }
            Event::Empty(s) => {
                let e = element(text, &s, pos)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(format!("unbalanced closing tag at byte {pos}"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("the XML ends inside an element".to_string());
    }
    root.ok_or_else(|| "no XML element found".to_string())
}

/// A document read element by element: elements at a chosen path are handed
/// out as they close, detached from the tree, so that a large section (a CIB's
/// status) is processed piece by piece and its memory reused rather than held.
pub struct Stream<'a> {
    text: &'a str,
    reader: Reader<&'a [u8]>,
    stack: Vec<Element<'a>>,
    root: Option<Element<'a>>,
}

impl<'a> Stream<'a> {
    pub fn new(text: &'a str) -> Stream<'a> {
        Stream {
            text,
            reader: Reader::from_str(text),
            stack: Vec::new(),
            root: None,
        }
    }

    /// The outermost element, once it has been opened.
    pub fn root(&self) -> Option<&Element<'a>> {
        self.stack.first().or(self.root.as_ref())
    }

    /// Reads on until an element whose path (its ancestors' names and its own)
    /// is `path` closes, and returns it, detached. `None` at the end of the
    /// document.
    pub fn next_at(&mut self, path: &[&str]) -> Result<Option<Element<'a>>, String> {
        loop {
            let pos = self.reader.buffer_position();
            let event = self
                .reader
                .read_event()
                .map_err(|e| format!("malformed XML at byte {pos}: {e}"))?;
            let done = match event {
                Event::Start(s) => {
                    if self.stack.len() >= MAX_DEPTH {
                        return Err(format!(
                            "elements nest more than {MAX_DEPTH} deep at byte {pos}"
                        ));
                    }
                    self.stack.push(element(self.text, &s, pos)?);
                    continue;
                }
                Event::Empty(s) => element(self.text, &s, pos)?,
                Event::End(_) => self
                    .stack
                    .pop()
                    .ok_or_else(|| format!("unbalanced closing tag at byte {pos}"))?,
                Event::Eof => {
                    if !self.stack.is_empty() {
                        return Err("the XML ends inside an element".to_string());
                    }
                    return Ok(None);
                }
                _ => continue,
            };
            let at_path = self.stack.len() + 1 == path.len()
                && self.stack.iter().zip(path).all(|(e, p)| e.name == *p)
                && path.last() == Some(&done.name);
            if at_path {
                return Ok(Some(done));
            }
            match self.stack.last_mut() {
                Some(parent) => parent.children.push(done),
                None => self.root = Some(done),
            }
        }
    }
}

/// The part of `text` that `part` (a slice of it) covers, as a `&str` with
/// `text`'s lifetime.
fn within<'a>(text: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    text.get(start..start.checked_add(part.len())?)
}

/// Offsets of `part` (a slice of `tag`) within `tag`.
fn span(tag: &str, part: &[u8]) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).checked_sub(tag.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= tag.len()).then_some((start, end))
}

fn element<'a>(text: &'a str, s: &BytesStart<'_>, pos: u64) -> Result<Element<'a>, String> {
    // Reading from a &str, quick-xml hands out slices of the input.
    let tag = within(text, s).ok_or_else(|| format!("unreadable tag at byte {pos}"))?;
    let name_len = s.name().as_ref().len();
    let name = tag.get(..name_len).unwrap_or(tag);
    let malformed =
        |e: &dyn std::fmt::Display| format!("malformed attribute in <{name}> at byte {pos}: {e}");
    // Duplicate attributes are not looked for (the first one wins): checking
    // costs a comparison with every earlier attribute of the element.
    let mut iter = Attributes::new(tag, name_len);
    iter.with_checks(false);
    let mut compact = tag.len() <= usize::from(u16::MAX);
    let mut spans = Vec::new();
    if compact {
        spans.reserve(memchr::memchr_iter(b'=', tag.as_bytes()).count());
        for a in iter.clone() {
            let a = a.map_err(|e| malformed(&e))?;
            if memchr::memchr(b'&', &a.value).is_some() {
                // An entity to unescape: the value cannot be a slice.
                compact = false;
                break;
            }
            let (Some((ks, ke)), Some((vs, ve))) = (span(tag, a.key.as_ref()), span(tag, &a.value))
            else {
                return Err(malformed(&"unreadable attribute"));
            };
            let o = |x: usize| u16::try_from(x).unwrap_or(u16::MAX);
            spans.push([o(ks), o(ke), o(vs), o(ve)]);
        }
    }
    let attrs = if compact {
        Attrs::Spans(tag, spans)
    } else {
        let mut owned = Vec::new();
        for a in iter {
            let a = a.map_err(|e| malformed(&e))?;
            let key = within(tag, a.key.as_ref()).unwrap_or("");
            let raw = within(tag, &a.value).unwrap_or("");
            let value = quick_xml::escape::unescape(raw)
                .map_err(|e| format!("bad attribute value in <{name}> at byte {pos}: {e}"))?;
            owned.push((key, value.into_owned()));
        }
        Attrs::Owned(owned)
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
        let text = "<cib a=\"1\"><configuration><x id=\"c\"/></configuration><status><n id=\"1\"/><n id=\"2\"><m/></n></status><other/></cib>";
        let mut s = Stream::new(text);
        let cfg = s.next_at(&["cib", "configuration"]).unwrap().unwrap();
        assert_eq!(cfg.first("x").map(Element::id), Some("c"));
        assert_eq!(s.root().and_then(|r| r.attr("a")), Some("1"));
        let mut ids = Vec::new();
        while let Some(n) = s.next_at(&["cib", "status", "n"]).unwrap() {
            ids.push(n.id().to_string());
            assert_eq!(n.children.len(), usize::from(n.id() == "2"));
        }
        assert_eq!(ids, ["1", "2"]);
        let mut broken = Stream::new("<cib><status><n/>");
        assert!(broken.next_at(&["cib", "status", "n"]).unwrap().is_some());
        assert!(broken.next_at(&["cib", "status", "n"]).is_err());
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse("<cib><a></cib>").is_err());
        assert!(parse("").is_err());
        assert!(parse(&"<a>".repeat(1000)).is_err());
    }
}
