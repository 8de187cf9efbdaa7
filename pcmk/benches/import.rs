//! The streamed reader (`xml::Stream`, `Parts`: a CIB read in parts, so that a
//! large status is never held whole) against quick-xml reading the whole CIB
//! into one tree, reading and importing the same CIB side by side. The CIBs come
//! from `gen_cib.py` (the same shapes as `scripts/bench-vs-pacemaker`) and are
//! kept in `target/bench-cibs`.
//!
//!   cargo bench -p halo-pcmk --bench import
//!   HALO_BENCH_SIZES=16x1000,64x10000 cargo bench -p halo-pcmk --bench import
//!
//! Both tokenize with quick-xml. A hand-written tokenizer under the streamed
//! reader read 64 x 10,000 in 403 ms against quick-xml's 714 ms: 1.8 times as
//! fast, short of the twice that would have justified keeping it, so it was
//! replaced by quick-xml's reader (`halo simulate --cib` at that size: 0.76 s
//! before, 0.87 s after, the same 121 MB).
//!
//! Both run on one thread; `halo simulate --cib` also overlaps the streamed
//! reading with the import on a second thread.

// A benchmark stops on input it cannot use.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

fn main() {
    divan::main();
}

/// The sizes measured, `NODESxRESOURCES`.
fn sizes() -> Vec<String> {
    std::env::var("HALO_BENCH_SIZES")
        .unwrap_or_else(|_| "16x1000,64x10000".to_string())
        .split(',')
        .map(str::to_string)
        .collect()
}

/// A generated CIB of that size, made once and kept.
fn cib(size: &str) -> &'static str {
    static CIBS: OnceLock<std::sync::Mutex<Vec<(String, &'static str)>>> = OnceLock::new();
    let cibs = CIBS.get_or_init(Default::default);
    let mut cibs = cibs.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, text)) = cibs.iter().find(|(s, _)| s == size) {
        return text;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("target/bench-cibs");
    let path = dir.join(format!("cib-{size}.xml"));
    if !path.exists() {
        let (n, r) = size.split_once('x').expect("sizes are NODESxRESOURCES");
        let r: usize = r.parse().expect("a number of resources");
        std::fs::create_dir_all(&dir).expect("target/bench-cibs");
        let generator = root.join("../shared/tools/gen_cib.py");
        let status = std::process::Command::new("python3")
            .arg(&generator)
            .args(["--nodes", n, "--resources", &r.to_string()])
            .args(["--groups", &(r / 15).to_string(), "--clones", "4"])
            .args(["--colocations", &(r / 10).to_string()])
            .args(["--orders", &(r / 10).to_string()])
            .args(["--locations", &(r / 5).to_string()])
            .args(["--stickiness", "100", "--running", "0.8", "--failed", "10"])
            .args(["--offline", "1", "--seed", "1", "-o"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("python3 runs ../shared/tools/gen_cib.py");
        assert!(status.success(), "gen_cib.py failed for {size}");
    }
    let text: &'static str = std::fs::read_to_string(&path).expect("the CIB").leak();
    cibs.push((size.to_string(), text));
    text
}

const NOW: Option<i64> = Some(1_700_000_000);

#[divan::bench(args = sizes(), sample_count = 5)]
fn streamed(b: divan::Bencher, size: &str) {
    let text = cib(size);
    b.bench(|| {
        let imported = halo_pcmk::import_from(text.as_bytes(), NOW, NOW)
            .expect("the CIB imports")
            .expect("the CIB is read in parts");
        divan::black_box(imported.policy.resources.len())
    });
}

#[divan::bench(args = sizes(), sample_count = 5)]
fn quick_xml_whole(b: divan::Bencher, size: &str) {
    let text = cib(size);
    b.bench(|| {
        let imported = halo_pcmk::import_whole(text, NOW, NOW).expect("the CIB imports");
        divan::black_box(imported.policy.resources.len())
    });
}

/// Reading alone, without importing: the streamed reader's parts and the
/// elements the importer builds from them.
#[divan::bench(args = sizes(), sample_count = 5)]
fn read_streamed(b: divan::Bencher, size: &str) {
    use halo_pcmk::Part;
    let text = cib(size);
    b.bench(|| {
        let mut parts = halo_pcmk::Parts::new(text.as_bytes());
        let mut elements = 0usize;
        while let Some(part) = parts.next() {
            let pieces = match part.expect("the CIB reads") {
                Part::Configuration {
                    mut root,
                    mut configuration,
                } => {
                    elements += usize::from(root.element().is_ok());
                    elements += usize::from(configuration.element().is_ok());
                    vec![root, configuration]
                }
                Part::Node(mut p) | Part::Attributes(mut p) => {
                    elements += usize::from(p.element().is_ok());
                    vec![p]
                }
                Part::Histories(mut p) => {
                    elements += p.shallow().expect("histories read").0.len();
                    vec![p]
                }
                Part::NodeEnd => vec![],
                Part::Whole => panic!("the generated CIB is read in parts"),
            };
            pieces.into_iter().for_each(|p| parts.recycle(p));
        }
        divan::black_box(elements)
    });
}

/// Reading alone with quick-xml: the whole CIB into one element tree.
#[divan::bench(args = sizes(), sample_count = 5)]
fn read_quick_xml(b: divan::Bencher, size: &str) {
    let text = cib(size);
    b.bench(|| {
        let root = halo_pcmk::parse_xml(text).expect("the CIB reads");
        divan::black_box(root.children.len())
    });
}
