//! Import an arbitrary CIB: `import` must not panic, and what it imports
//! without naming anything unsupported must plan and print (and the printed
//! policy compile) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(imported) = halo_pcmk::import(text) else {
        return;
    };
    if !imported.unsupported.is_empty() {
        return;
    }
    let now = halo_model::Timestamp(imported.execution_date.unwrap_or(0));
    let _ = halo_engine::plan(&imported.policy, &imported.state, now);
    let printed = halo_lang::print::print_policy(&imported.policy);
    let _ = halo_lang::compile_text("imported.ha", &printed, halo_stdlib::FILES);
});
