//! `halo generate --out DIR`: shell completions (bash, zsh, fish) and man
//! pages (`halo.1`, and `halo-SUBCOMMAND.1` for each command), made from the
//! command line's own definition, so they never fall behind it. The package
//! build (`cargo xtask deb`) runs it.

use crate::load::InputError;
use crate::Exit;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct GenerateArgs {
    /// The directory to write `completions/` and `man/` into.
    #[arg(long)]
    out: PathBuf,
}

fn io(p: &Path, e: std::io::Error) -> InputError {
    InputError::usage(format!("cannot write {}: {e}", p.display()))
}

pub fn run(a: &GenerateArgs, mut cmd: clap::Command) -> Result<Exit, InputError> {
    let completions = a.out.join("completions");
    let man = a.out.join("man");
    for d in [&completions, &man] {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    cmd.build();
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let path = clap_complete::generate_to(shell, &mut cmd, "halo", &completions)
            .map_err(|e| io(&completions, e))?;
        outln!("{}", path.display());
    }
    let mut pages = vec![("halo".to_string(), cmd.clone())];
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("halo-{}", sub.get_name());
        pages.push((name, sub.clone()));
    }
    for (name, page) in pages {
        let path = man.join(format!("{name}.1"));
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .title(name.clone())
            .render(&mut text)
            .map_err(|e| io(&path, e))?;
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        outln!("{}", path.display());
    }
    Ok(Exit::Ok)
}
