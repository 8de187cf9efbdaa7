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
