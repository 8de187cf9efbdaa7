//! The architecture invariants of ARCHITECTURE.md, enforced: the language and the
//! engine do no I/O, read no clock, use no randomness and iterate no hash maps;
//! the engine never sees source text (it does not depend on the language); the
//! model is plain data. Each crate's dependencies are an allow-list.

// Tests fail by panicking; helpers outside #[test] functions may too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source lines outside `#[cfg(test)]` modules (tests may do what they like).
fn library_lines(file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        out.push((i + 1, code.to_string()));
    }
    out
}

const FORBIDDEN: &[(&str, &str)] = &[
    ("std::fs", "file I/O"),
    ("std::net", "network I/O"),
    ("std::process", "processes"),
    ("std::env", "the environment"),
    ("std::io::std", "standard streams"),
    ("println!", "printing"),
    ("eprintln!", "printing"),
    ("print!", "printing"),
    ("SystemTime", "a clock"),
    ("Instant", "a clock"),
    ("rand::", "randomness"),
    ("thread_rng", "randomness"),
    ("HashMap", "hash-order iteration"),
    ("HashSet", "hash-order iteration"),
    ("std::thread", "threads"),
    ("unsafe ", "unsafe code"),
];

fn assert_pure(krate: &str) {
    let mut files = Vec::new();
    rust_files(&root().join(krate).join("src"), &mut files);
    assert!(!files.is_empty());
    let mut violations = Vec::new();
    for f in files {
        for (n, line) in library_lines(&f) {
            for (pat, what) in FORBIDDEN {
                if line.contains(pat) {
                    violations.push(format!("{}:{n}: {what} (`{pat}`)", f.display()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{krate} must be pure:\n{}",
        violations.join("\n")
    );
}

fn dependencies(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once(['=', '.']) {
                if !name.trim().is_empty() {
                    deps.push(name.trim().to_string());
                }
            }
        }
    }
    deps
}

fn assert_deps(krate: &str, allowed: &[&str]) {
    for d in dependencies(krate) {
        assert!(
            allowed.contains(&d.as_str()),
            "{krate} must not depend on `{d}` (allowed: {allowed:?})"
        );
    }
}

#[test]
fn lang_is_pure() {
    assert_pure("lang");
    assert_deps(
        "lang",
        &[
            "halo-model",
            "pest",
            "pest_derive",
            "miette",
            "strsim",
            "petgraph",
        ],
    );
}

#[test]
fn engine_is_pure_and_never_sees_source_text() {
    assert_pure("engine");
    // No halo-lang: the engine sees the IR with origins, never spans or text.
    assert_deps("engine", &["halo-model", "petgraph", "serde"]);
}

#[test]
fn model_is_plain_data() {
    assert_pure("model");
    assert_deps("model", &["serde"]);
}

#[test]
fn pacemaker_import_is_pure() {
    assert_pure("pcmk");
    assert_deps("pcmk", &["halo-model", "md-5", "quick-xml", "memchr"]);
}

#[test]
fn proto_is_plain_data() {
    assert_deps("proto", &["serde", "rmp-serde"]);
}

#[test]
fn runner_knows_nothing_of_the_language() {
    // Concrete actions in, results out: no policy, no engine, no language.
    assert_deps(
        "runner",
        &[
            "halo-proto",
            "halo-net",
            "tokio",
            "nix",
            "quick-xml",
            "quinn",
            "rustls",
            "tracing",
        ],
    );
}

#[test]
fn the_transport_knows_nothing_of_the_language() {
    assert_deps(
        "net",
        &[
            "halo-proto",
            "serde",
            "quinn",
            "rustls",
            "rustls-pki-types",
            "rcgen",
            "x509-parser",
            "tokio",
            "toml",
            "tracing",
        ],
    );
}

#[test]
fn the_controller_drives_runners_only_through_the_wire() {
    // The controller plans with the engine and talks to runners over the
    // transport; it never runs agents itself, and never reads CIBs.
    assert_deps(
        "controller",
        &[
            "halo-model",
            "halo-lang",
            "halo-stdlib",
            "halo-engine",
            "halo-proto",
            "halo-net",
            "serde",
            "serde_json",
            "openraft",
            // openraft's election timeouts, seedable (controller/src/runtime.rs).
            "rand",
            "rmp-serde",
            // Checksums of the Raft log's frames and the vote and snapshot files.
            "crc32c",
            "petgraph",
            "tokio",
            "quinn",
            "tracing",
            // The metrics endpoint and status page (http.rs, metrics.rs).
            "prometheus",
            "axum",
            "hyper-util",
            "tokio-rustls",
        ],
    );
}

#[test]
fn the_controller_document_is_pure() {
    // Every replica applies the same log to the same document: no clock, no
    // I/O, no randomness in `doc.rs`.
    let text = std::fs::read_to_string(root().join("controller/src/doc.rs")).unwrap();
    for (pat, what) in FORBIDDEN {
        assert!(
            !text.contains(pat),
            "controller/src/doc.rs: {what} (`{pat}`)"
        );
    }
}

#[test]
fn stdlib_is_text() {
    assert_deps("stdlib", &[]);
}
