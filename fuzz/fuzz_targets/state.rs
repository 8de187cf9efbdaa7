//! Read an arbitrary state file for the quickstart policy: deserializing
//! must not panic, and a state that reads must plan without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policy() -> Option<&'static halo_model::Policy> {
    static POL: OnceLock<Option<halo_model::Policy>> = OnceLock::new();
    POL.get_or_init(|| {
        let text = include_str!("../../examples/quickstart.ha");
        halo_lang::compile_text("quickstart.ha", text, halo_stdlib::FILES)
            .1
            .map(|c| c.policy)
    })
    .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(state) = serde_json::from_slice::<halo_model::ClusterState>(data) else {
        return;
    };
    if let Some(p) = policy() {
        let _ = halo_engine::plan(p, &state, halo_model::Timestamp(1_700_000_000));
    }
});
