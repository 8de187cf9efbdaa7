//! A small element tree read with quick-xml: names, attributes and children.
//! CIBs are data, not documents: text content and namespaces do not matter.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Elements nest at most this deep in a CIB; deeper input is refused.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Debug, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn id(&self) -> &str {
        self.attr("id").unwrap_or("")
    }

    /// Direct children with this name.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.first(n))
    }
}

/// Parses XML text into its root element, or says where it is malformed.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
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
                stack.push(element(&s, pos)?);
            }
            Event::Empty(s) => {
                let e = element(&s, pos)?;
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

fn element(s: &BytesStart<'_>, pos: u64) -> Result<Element, String> {
    let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| format!("malformed attribute in <{name}> at byte {pos}: {e}"))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|e| format!("bad attribute value in <{name}> at byte {pos}: {e}"))?
            .into_owned();
        attrs.push((key, value));
    }
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
    fn malformed_input_is_an_error() {
        assert!(parse("<cib><a></cib>").is_err());
        assert!(parse("").is_err());
        assert!(parse(&"<a>".repeat(1000)).is_err());
    }
}
