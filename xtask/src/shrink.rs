//! Shrinks a CIB on which Halo and crm_simulate disagree to a smaller one on
//! which they still disagree: whole elements (a resource, a constraint, a
//! node's state, an operation history entry, an attribute) are taken out one
//! at a time, outermost first, and each removal is kept when the two still
//! disagree. It works on the line structure both generators write (one
//! element per line, or an opening and a closing line around its children),
//! so the result is a CIB a reader can take in at a glance.

/// Elements that hold the CIB's skeleton: never removed themselves (their
/// children are).
const SKELETON: &[&str] = &[
    "cib",
    "configuration",
    "status",
    "crm_config",
    "cluster_property_set",
    "nodes",
    "resources",
    "constraints",
    "lrm",
    "lrm_resources",
];

/// An element's lines: `start..=end`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Span {
    start: usize,
    end: usize,
}

/// The tag an opening line starts, if it starts one.
fn opening(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let rest = t.strip_prefix('<')?;
    if rest.starts_with(['/', '?', '!']) {
        return None;
    }
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Whether the line opens an element that it also closes.
fn closes_itself(line: &str, tag: &str) -> bool {
    let t = line.trim_end();
    t.ends_with("/>") || t.contains(&format!("</{tag}>"))
}

/// Every removable element, in document order (outer before inner).
fn spans(lines: &[&str]) -> Vec<Span> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(tag) = opening(line) else {
            continue;
        };
        if SKELETON.contains(&tag) {
            continue;
        }
        if closes_itself(line, tag) {
            out.push(Span { start: i, end: i });
            continue;
        }
        let mut depth = 1usize;
        for (j, next) in lines.iter().enumerate().skip(i + 1) {
            if next.trim_start().starts_with("</") {
                depth -= 1;
            } else if let Some(t) = opening(next) {
                if !closes_itself(next, t) {
                    depth += 1;
                }
            }
            if depth == 0 {
                out.push(Span { start: i, end: j });
                break;
            }
        }
    }
    out
}

fn without(lines: &[&str], s: Span) -> String {
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i < s.start || i > s.end {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The smallest CIB found from `cib` on which `disagrees` still holds,
/// trying at most `budget` candidates. Passes repeat until one removes
/// nothing.
pub fn shrink(cib: &str, budget: usize, disagrees: &mut dyn FnMut(&str) -> bool) -> String {
    let mut current = cib.to_string();
    let mut tries = 0;
    loop {
        let mut removed = false;
        let mut i = 0;
        loop {
            let lines: Vec<&str> = current.lines().collect();
            let all = spans(&lines);
            let Some(&s) = all.get(i) else {
                break;
            };
            if tries >= budget {
                return current;
            }
            tries += 1;
            let candidate = without(&lines, s);
            if disagrees(&candidate) {
                current = candidate;
                removed = true;
            } else {
                i += 1;
            }
        }
        if !removed {
            return current;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CIB: &str = "<cib>\n  <configuration>\n    <resources>\n      <primitive id=\"a\">\n        <op id=\"a-m\"/>\n      </primitive>\n      <primitive id=\"b\"/>\n    </resources>\n    <constraints>\n      <rsc_location id=\"l\" rsc=\"a\"/>\n    </constraints>\n  </configuration>\n</cib>\n";

    #[test]
    fn elements_are_found_with_their_children() {
        let lines: Vec<&str> = CIB.lines().collect();
        assert_eq!(
            spans(&lines),
            vec![
                Span { start: 3, end: 5 },
                Span { start: 4, end: 4 },
                Span { start: 6, end: 6 },
                Span { start: 9, end: 9 },
            ]
        );
    }

    #[test]
    fn only_what_the_disagreement_needs_is_kept() {
        // The "disagreement" needs resource b and the location constraint.
        let out = shrink(CIB, 100, &mut |c| {
            c.contains("id=\"b\"") && c.contains("rsc_location")
        });
        assert!(!out.contains("id=\"a\""), "{out}");
        assert!(out.contains("<primitive id=\"b\"/>"), "{out}");
        assert!(out.contains("rsc_location"), "{out}");
        assert!(
            out.contains("</resources>") && out.contains("</cib>"),
            "{out}"
        );
    }

    #[test]
    fn the_budget_bounds_the_tries() {
        let mut n = 0;
        let _ = shrink(CIB, 2, &mut |_| {
            n += 1;
            false
        });
        assert_eq!(n, 2);
    }
}
