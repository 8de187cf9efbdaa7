//! Parse, lower, check and format arbitrary bytes: nothing may panic, and a
//! formatted file formats to itself.
#![no_main]

use halo_lang::{compile, fmt::format, Library, Sources};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn library() -> &'static Library {
    static LIB: OnceLock<Library> = OnceLock::new();
    LIB.get_or_init(|| {
        let mut sources = Sources::default();
        let files: Vec<_> = halo_stdlib::FILES.iter().map(|(n, t)| sources.add(*n, *t)).collect();
        Library::load(&sources, &files).0
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut sources = Sources::default();
    let file = sources.add("fuzz.ha", text);
    let (_, diags) = compile(&sources, file, library());
    for d in &diags {
        let _ = d.render(&sources, false);
    }
    if let Ok(once) = format(text) {
        assert_eq!(format(&once).ok().as_deref(), Some(once.as_str()), "fmt is not idempotent");
    }
});
