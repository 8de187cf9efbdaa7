//! The promotion-score shim on its own: what agents reach as `crm_attribute`
//! or `crm_master` when the runner's `shim_program` is this binary rather than
//! `halo` itself (the runner's tests use it).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let called = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("crm_attribute")
        .to_string();
    std::process::exit(halo_runner::shim::main(
        &called,
        args.get(1..).unwrap_or_default(),
    ));
}
