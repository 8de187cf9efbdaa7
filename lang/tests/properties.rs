//! Properties of the language: compiling arbitrary text never panics; formatting
//! is idempotent and keeps every token and comment; a formatted policy compiles to
//! the same IR as the original.

// Tests fail by panicking; helpers outside #[test] functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use halo_lang::{fmt::format, syntax, FileId};
use proptest::prelude::*;

fn compile_text(text: &str) -> (Option<String>, usize) {
    let (_, compiled, diags) = halo_lang::compile_text("p.ha", text, halo_stdlib::FILES);
    (compiled.map(|c| format!("{:?}", c.policy)), diags.len())
}

/// Words, strings, operators, separators and comments in any order.
fn token_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z][a-z0-9_-]{0,8}",
        "[0-9]{1,4}(s|m|ms)?",
        "\"[a-z #{}]{0,6}\"",
        Just("{".to_string()),
        Just("}".to_string()),
        Just(";".to_string()),
        Just("\n".to_string()),
        Just(":".to_string()),
        Just("=".to_string()),
        Just("==".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("# note\n".to_string()),
        Just("ocf:heartbeat:Dummy".to_string()),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.join(" "))
}

/// Well-formed policies built from the language's statements.
fn policy_text() -> impl Strategy<Value = String> {
    let node = "[a-z][a-z0-9]{0,4}";
    (
        proptest::collection::btree_set(node, 1..4),
        proptest::collection::vec((0usize..3, any::<bool>(), 0i64..100), 0..5),
        proptest::collection::vec((0usize..8, 0usize..8, 0u8..4), 0..5),
        proptest::collection::vec(any::<bool>(), 0..8),
    )
        .prop_map(|(nodes, rscs, cons, comments)| {
            let nodes: Vec<String> = nodes.into_iter().collect();
            let mut out = String::from("cluster c {\n");
            for (i, n) in nodes.iter().enumerate() {
                if comments.get(i).copied().unwrap_or(false) {
                    out += "  # a node\n";
                }
                out += &format!("node {n} ; ");
            }
            out += "fencing off }\n";
            let mut names = Vec::new();
            for (i, (kind, sticky, prio)) in rscs.iter().enumerate() {
                let name = format!("r{i}");
                match kind {
                    0 => out += &format!("resource {name} : ocf:heartbeat:Dummy {{ monitor every {}s\n", prio % 50 + 1),
                    1 => out += &format!("clone {name}: ocf:heartbeat:Dummy {{ clone-max 2 ; monitor every 10s\n"),
                    _ => out += &format!("group {name} {{ resource {name}a: ocf:heartbeat:Dummy {{ monitor every 10s }}\n"),
                }
                if *sticky {
                    out += &format!("stickiness {prio}  # sticky\n");
                }
                out += &format!("priority {prio} }}\n");
                names.push(name);
            }
            if !names.is_empty() {
                for (a, b, k) in cons {
                    // Orders only go forward: cycles are (rightly) errors.
                    let (a, b) = ((a % names.len()).min(b % names.len()), (a % names.len()).max(b % names.len()));
                    let (a, b) = (&names[a], &names[b]);
                    let n = &nodes[0];
                    out += &match k {
                        0 => format!("prefer {a} on {n} score {}\n", a.len()),
                        1 => format!("avoid {a} where name == {n} or (defined rack and rack != x)\n"),
                        2 if a != b => format!("colocate {a} with {b} score -inf\n"),
                        3 if a != b => format!("order {a} then {b} optional\n"),
                        _ => String::new(),
                    };
                }
            }
            out
        })
}

fn tokens(text: &str) -> Vec<(syntax::TokenKind, String)> {
    fn walk(stmts: &[syntax::Stmt], out: &mut Vec<(syntax::TokenKind, String)>) {
        for s in stmts {
            out.extend(s.tokens.iter().map(|t| (t.kind, t.text.clone())));
            if let Some(b) = &s.block {
                out.push((syntax::TokenKind::Op, "{".into()));
                walk(&b.stmts, out);
                out.push((syntax::TokenKind::Op, "}".into()));
            }
        }
    }
    let (stmts, _) = syntax::parse(FileId(0), text);
    let mut out = Vec::new();
    walk(&stmts, &mut out);
    out
}

fn comment_texts(text: &str) -> Vec<String> {
    syntax::comments(text)
        .iter()
        .map(|c| text[c.range.clone()].trim_end().to_string())
        .collect()
}

/// The property tests' configuration: `PROPTEST_CASES` cases (default
/// 300), and a seed drawn fresh each run (or `PROPTEST_RNG_SEED`),
/// printed so that a failure can be replayed.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        });
    eprintln!("proptest seed {seed} (replay with PROPTEST_RNG_SEED={seed})");
    ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn compiling_anything_never_panics(text in token_soup()) {
        let _ = compile_text(&text);
        let _ = format(&text);
    }

    #[test]
    fn compiling_arbitrary_unicode_never_panics(text in "\\PC{0,200}") {
        let _ = compile_text(&text);
    }

    #[test]
    fn fmt_is_idempotent_and_keeps_tokens_and_comments(text in prop_oneof![policy_text(), token_soup()]) {
        if let Ok(once) = format(&text) {
            let twice = format(&once).expect("formatted text parses");
            prop_assert_eq!(&twice, &once);
            prop_assert_eq!(tokens(&once), tokens(&text));
            prop_assert_eq!(comment_texts(&once), comment_texts(&text));
        }
    }

    #[test]
    fn formatted_policy_means_the_same(text in policy_text()) {
        let (before, _) = compile_text(&text);
        let formatted = format(&text).expect("generated policies parse");
        let (after, _) = compile_text(&formatted);
        prop_assert!(before.is_some(), "generated policy does not compile:\n{text}");
        prop_assert_eq!(before, after);
    }
}

/// A policy with one resource named `name` and a parameter `fake = value`,
/// as `halo import` would hold it in the IR.
fn policy_with(name: &str, value: &str) -> halo_model::Policy {
    let base = "cluster c {\n  node n1\n  node n2\n  node n3\n  fencing off\n}\nresource r: ocf:heartbeat:Dummy {\n  fake = \"x\"\n  monitor every 10s\n}\n";
    let (_, compiled, _) = halo_lang::compile_text("p.ha", base, halo_stdlib::FILES);
    let mut p = compiled.expect("the base policy compiles").policy;
    let r = p.resources.first_mut().expect("one resource");
    r.name = name.to_string();
    if let halo_model::ResourceKind::Primitive(prim) = &mut r.kind {
        prim.params.insert(
            "fake".into(),
            halo_model::ParamValue::Text(value.to_string()),
        );
    }
    p
}

proptest! {
    #![proptest_config(config())]

    /// The printer quotes and escapes whatever a name or a value holds —
    /// quotes, newlines, braces, `&`, `#`, non-ASCII — so that the printed
    /// policy reads back with the same name and value and nothing more
    /// (an imported CIB cannot inject statements).
    #[test]
    fn printed_names_and_values_read_back_unchanged(
        name in "[a-zA-Z][a-zA-Z0-9 _.\"{}#&;:é\\\\-]{0,16}",
        value in "[ -~é\t\n]{0,24}",
    ) {
        let text = halo_lang::print::print_policy(&policy_with(&name, &value));
        let (_, compiled, diags) = halo_lang::compile_text("printed.ha", &text, halo_stdlib::FILES);
        let errors: Vec<String> = diags.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        prop_assert!(errors.is_empty(), "{errors:?} in:\n{text}");
        let p = compiled.expect("compiles").policy;
        prop_assert_eq!(p.resources.len(), 1, "{}", text);
        let r = &p.resources[0];
        prop_assert_eq!(&r.name, &name);
        let got = r.primitive().and_then(|x| x.params.get("fake")).cloned();
        prop_assert_eq!(got, Some(halo_model::ParamValue::Text(value.clone())));
    }
}
