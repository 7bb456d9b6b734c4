//! Code generators for this workspace, run through cargo so they need
//! nothing installed: `cargo run -p xtask -- new-resource NAME field:type ...`
//! (`just new-resource`). They write ordinary code into the crates, which is
//! then yours: nothing is generated at build time or hidden in macros.

mod resource;

use std::{path::PathBuf, process::ExitCode};

const USAGE: &str = "\
usage: cargo run -p xtask -- new-resource NAME [--singular WORD] FIELD...

  NAME     the resource, plural snake_case: its table, route and modules
           (projects, line_items)
  FIELD    name:type, or name:type? for a nullable field, where type is one
           of string, text, int, bool, datetime, uuid, decimal

  e.g. just new-resource projects title:string description:text? done:bool due:datetime?";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((command, rest)) if command == "new-resource" => {
            let Some(root) = workspace_root() else {
                eprintln!(
                    "new-resource: run it inside the workspace (no Cargo.toml with [workspace] above here)"
                );
                return ExitCode::from(2);
            };
            match resource::new_resource(&root, rest, chrono::Utc::now()) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("new-resource: {error}\nnothing was written\n\n{USAGE}");
                    ExitCode::from(2)
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The workspace around the current directory (where `cargo run` and `just`
/// were started), so the generator writes into the checkout it is run in.
fn workspace_root() -> Option<PathBuf> {
    let here = std::env::current_dir().ok()?;
    here.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|manifest| manifest.lines().any(|line| line.trim() == "[workspace]"))
        })
        .map(PathBuf::from)
}
