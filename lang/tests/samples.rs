//! Data-driven tests of what users see: every file in `tests/diagnostics/` is
//! compiled and its rendered diagnostics are snapshotted; every file in
//! `tests/fmt/` and `examples/` is formatted, snapshotted, and checked to be
//! stable under a second formatting.

// Tests fail by panicking; helpers outside #[test] functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use halo_lang::{compile_text, diag::render_all, fmt::format};

fn compile_diags(name: &str, text: &str) -> Vec<halo_lang::Diagnostic> {
    compile_text(name, text, halo_stdlib::FILES).2
}

fn compile_rendered(name: &str, text: &str) -> String {
    let (sources, _, diags) = compile_text(name, text, halo_stdlib::FILES);
    render_all(&diags, &sources, false)
}

#[test]
fn diagnostics() {
    insta::glob!("../../tests/diagnostics", "*.ha", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = format!(
            "diagnostics/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let rendered = compile_rendered(&name, &text);
        assert!(!rendered.is_empty(), "{name} produced no diagnostics");
        for d in compile_diags(&name, &text) {
            assert!(d.help.is_some(), "{name}: `{}` has no help line", d.message);
            assert!(!d.label.is_empty(), "{name}: `{}` has no label", d.message);
        }
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn formatting() {
    insta::glob!("../../tests/fmt", "*.ha", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let once = format(&text).unwrap();
        assert_eq!(
            format(&once).unwrap(),
            once,
            "fmt is not idempotent on {}",
            path.display()
        );
        insta::assert_snapshot!(once);
    });
}

#[test]
fn examples_are_formatted_and_compile_cleanly() {
    insta::glob!("../../examples", "*.ha", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            format(&text).unwrap(),
            text,
            "{} is not in canonical layout",
            path.display()
        );
        let rendered = compile_rendered("example.ha", &text);
        assert!(!rendered.contains('×'), "{}:\n{rendered}", path.display());
    });
}

/// The cluster block every example in docs/diagnostics.md starts from.
const DOC_CLUSTER: &str = "cluster c {\n  node n1\n  node n2\n  node n3\n  fencing off\n}\n";

fn codes_raised(name: &str, text: &str) -> std::collections::BTreeSet<halo_lang::Code> {
    compile_diags(name, text).iter().map(|d| d.code).collect()
}

/// The sections of docs/diagnostics.md, by code name: (code, section text).
fn documented_codes() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string("../docs/diagnostics.md").unwrap();
    assert!(
        doc.contains(DOC_CLUSTER),
        "the docs' example cluster changed"
    );
    doc.split("\n### ")
        .skip(1)
        .map(|s| {
            let (head, body) = s.split_once('\n').unwrap();
            (head.trim().to_string(), body.to_string())
        })
        .collect()
}

#[test]
fn every_code_is_documented_with_an_example_that_raises_it() {
    let sections = documented_codes();
    let documented: Vec<&str> = sections.iter().map(|(c, _)| c.as_str()).collect();
    let registered: Vec<&str> = halo_lang::Code::ALL.iter().map(|c| c.as_str()).collect();
    let mut a = documented.clone();
    let mut b = registered.clone();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(
        a, b,
        "docs/diagnostics.md and the registry list different codes"
    );
    for (name, body) in &sections {
        let code = *halo_lang::Code::ALL
            .iter()
            .find(|c| c.as_str() == name)
            .unwrap();
        let examples: Vec<&str> = body
            .split("```ha\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap())
            .collect();
        let samples: Vec<&str> = body
            .split("`tests/diagnostics/")
            .skip(1)
            .map(|b| b.split('`').next().unwrap())
            .collect();
        assert!(
            !examples.is_empty() || !samples.is_empty(),
            "{name}: no example and no sample named"
        );
        for ex in examples {
            let text = format!("{DOC_CLUSTER}\n{ex}");
            let raised = codes_raised("doc.ha", &text);
            assert!(
                raised.contains(&code),
                "{name}: its example raises {raised:?}:\n{ex}"
            );
        }
        for s in samples {
            let text = std::fs::read_to_string(format!("../tests/diagnostics/{s}")).unwrap();
            let raised = codes_raised(s, &text);
            assert!(
                raised.contains(&code),
                "{name}: sample {s} raises {raised:?}"
            );
        }
    }
}

#[test]
fn every_code_has_a_sample_under_tests_diagnostics() {
    let mut raised = std::collections::BTreeSet::new();
    for f in std::fs::read_dir("../tests/diagnostics").unwrap() {
        let p = f.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        raised.extend(codes_raised(&p.display().to_string(), &text));
    }
    let missing: Vec<&str> = halo_lang::Code::ALL
        .iter()
        .filter(|c| !raised.contains(c))
        .map(|c| c.as_str())
        .collect();
    assert!(missing.is_empty(), "no sample raises {missing:?}");
}
