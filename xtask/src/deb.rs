//! `cargo xtask deb [--out DIR]`: the Debian package, built and checked.
//!
//! Builds `halo` (release), writes its shell completions and man pages with
//! `halo generate`, packages it all with cargo-deb, then checks the package
//! as an installer would see it: the files are where Debian expects them,
//! the packaged binary runs, the bash completion loads, and
//! `systemd-analyze verify` finds nothing to say about the units (run on
//! the extracted package, with this machine's own systemd units beside it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files the package must hold.
const EXPECTED: &[&str] = &[
    "./usr/bin/halo",
    "./lib/systemd/system/halo-runner.service",
    "./lib/systemd/system/halo-witness.service",
    "./usr/share/bash-completion/completions/halo",
    "./usr/share/zsh/vendor-completions/_halo",
    "./usr/share/fish/vendor_completions.d/halo.fish",
    "./usr/share/man/man1/halo.1.gz",
    "./usr/share/man/man1/halo-runner.1.gz",
    "./usr/share/man/man1/halo-witness.1.gz",
    "./usr/share/doc/halo/README.md",
];

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn deb(args: &[String]) -> Result<std::process::ExitCode, String> {
    let out = match args {
        [] => PathBuf::from("target/dist"),
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => return Err("deb: usage: cargo xtask deb [--out DIR]".into()),
    };
    if Command::new("cargo-deb").arg("--version").output().is_err() {
        return Err("deb: cargo-deb is missing: cargo install cargo-deb --locked".into());
    }
    run(Command::new(env!("CARGO")).args(["build", "--release", "--locked", "-p", "halo"]))?;
    run(Command::new("target/release/halo").args(["generate", "--out", "target/dist"]))?;
    let built = run(Command::new(env!("CARGO")).args([
        "deb",
        "-p",
        "halo",
        "--no-build",
        "--locked",
        // The release profile keeps line tables for profiling; a package
        // ships the binary without them.
        "--strip",
        "--output",
        &out.display().to_string(),
    ]))?;
    let deb = PathBuf::from(built.lines().last().unwrap_or_default().trim());
    check(&deb)?;
    println!(
        "{}: checked (files, binary, completion, systemd-analyze verify)",
        deb.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

fn check(deb: &Path) -> Result<(), String> {
    let listing = run(Command::new("dpkg-deb").arg("--contents").arg(deb))?;
    for f in EXPECTED {
        if !listing.lines().any(|l| l.ends_with(f)) {
            return Err(format!("{} lacks {f}:\n{listing}", deb.display()));
        }
    }
    let root = deb.with_extension("root");
    let _ = std::fs::remove_dir_all(&root);
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root))?;
    let version = run(Command::new(root.join("usr/bin/halo")).arg("--version"))?;
    if !version.starts_with("halo ") {
        return Err(format!("the packaged halo says {version:?}"));
    }
    run(Command::new("bash").arg("-c").arg(format!(
        "source {}/usr/share/bash-completion/completions/halo && complete -p halo",
        root.display()
    )))?;
    verify_units(&root)
}

/// `systemd-analyze verify` on the packaged units, inside the extracted
/// package (so `/usr/bin/halo` is the packaged binary), with this
/// machine's targets and services beside them.
fn verify_units(root: &Path) -> Result<(), String> {
    let units = root.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).map_err(|e| e.to_string())?;
    for dir in ["/lib/systemd/system", "/usr/lib/systemd/system"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let to = units.join(e.file_name());
            if e.path().is_file() && !to.exists() {
                let _ = std::fs::copy(e.path(), to);
            }
        }
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .args(["halo-runner.service", "halo-witness.service"])
        .output()
        .map_err(|e| format!("cannot run systemd-analyze (package systemd): {e}"))?;
    let said: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("halo"))
        .map(str::to_string)
        .collect();
    if !out.status.success() || !said.is_empty() {
        return Err(format!(
            "systemd-analyze verify on the units: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
