//! The layering rules of ARCHITECTURE.md, checked against the manifests,
//! the resolved dependency graph and the sources: a new dependency edge,
//! re-export or binary-to-binary link that breaks them fails the tests.

#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// Runs cargo (the one running these tests) in the workspace, offline.
fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn workspace_metadata() -> Value {
    serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"])).unwrap()
}

/// Direct dependencies (normal, not dev) of every workspace package.
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    workspace_metadata()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let deps = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dep| dep["kind"].is_null())
                .map(|dep| dep["name"].as_str().unwrap().to_owned())
                .collect();
            (package["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

/// Crates that tie a layer to a database, HTTP framework or Redis client.
const DATABASE: &[&str] = &["sea-orm", "sea-orm-migration", "sqlx"];
const HTTP: &[&str] = &[
    "actix-web",
    "actix-cors",
    "utoipa-swagger-ui",
    "tracing-actix-web",
];
const REDIS: &[&str] = &["fred", "deadpool-redis", "redis"];

#[test]
fn layers_depend_only_downwards() {
    let deps = workspace_dependencies();
    let forbidden: &[(&str, Vec<&str>)] = &[
        (
            "domain",
            [
                DATABASE,
                HTTP,
                REDIS,
                &["persistence", "application", "web", "infra"],
            ]
            .concat(),
        ),
        (
            "persistence",
            [HTTP, REDIS, &["application", "web", "infra"]].concat(),
        ),
        (
            "infra",
            [DATABASE, HTTP, &["persistence", "application", "web"]].concat(),
        ),
        ("application", [HTTP, &["web", "sea-orm", "sqlx"]].concat()),
        ("web", [DATABASE, &["persistence", "migration"]].concat()),
        (
            "migration",
            vec!["domain", "persistence", "application", "web", "infra"],
        ),
    ];
    let mut violations = Vec::new();
    for (krate, banned) in forbidden {
        let Some(actual) = deps.get(*krate) else {
            violations.push(format!("{krate} is not a workspace member"));
            continue;
        };
        for dep in actual {
            if banned.contains(&dep.as_str()) {
                violations.push(format!("{krate} must not depend on {dep}"));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn domain_stays_plain() {
    let deps = workspace_dependencies();
    // Value types only: ids, times, exact decimals.
    let allowed = ["thiserror", "uuid", "chrono", "rust_decimal", "serde"];
    for dep in &deps["domain"] {
        assert!(
            allowed.contains(&dep.as_str()),
            "domain depends on {dep}; allowed: {allowed:?}"
        );
    }
}

/// A newcomer with an older toolchain than README names gets a build
/// error before anything else: README must name the workspace's
/// `rust-version`.
#[test]
fn readme_asks_for_the_toolchain_the_workspace_needs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let rust_version = manifest
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let line = format!("Rust toolchain ({rust_version} or newer)");
    assert!(readme.contains(&line), "README.md must say {line:?}");
}

#[test]
fn binaries_are_thin() {
    // Behaviour lives in the library crates; binaries only compose them, so
    // they have no business importing the ORM or HTTP framework directly.
    let deps = workspace_dependencies();
    for bin in ["api", "worker"] {
        for dep in &deps[bin] {
            assert!(
                !["sea-orm", "actix-web", "persistence", "migration"].contains(&dep.as_str()),
                "{bin} depends on {dep} directly"
            );
        }
    }
}

#[test]
fn no_binary_crate_depends_on_another() {
    // A binary is composed from library crates; one binary reaching into
    // another makes the second one a library nobody designed as such.
    let metadata = workspace_metadata();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let binaries: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|package| {
            Path::new(package["manifest_path"].as_str().unwrap()).starts_with(root.join("bins"))
        })
        .map(|package| package["name"].as_str().unwrap())
        .collect();
    assert!(binaries.contains(&"api") && binaries.contains(&"worker"));
    let mut violations = Vec::new();
    for (krate, deps) in workspace_dependencies() {
        for dep in deps.iter().filter(|dep| binaries.contains(&dep.as_str())) {
            violations.push(format!("{krate} depends on the binary crate {dep}"));
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_worker_links_no_web_framework() {
    // Its whole graph, not just its manifest: a library it uses that pulls
    // in actix would put the HTTP stack back into the worker.
    let tree = cargo(&[
        "tree", "-p", "worker", "--edges", "normal", "--prefix", "none",
    ]);
    let linked: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| HTTP.contains(name) || *name == "web" || *name == "utoipa")
        .collect();
    assert!(linked.is_empty(), "the worker links {linked:?}");
}

#[test]
fn infra_links_no_database_driver() {
    // Settings, cache and mail have no business with storage: its whole
    // normal graph, since River alone once pulled sqlx in to parse a cron
    // schedule (now parsed in `application`, where workers are built).
    const DRIVERS: &[&str] = &[
        "sqlx",
        "sea-orm",
        "libsqlite3-sys",
        "rusqlite",
        "tokio-postgres",
        "postgres",
        "pq-sys",
        "mysql",
        "diesel",
        "riverqueue",
    ];
    let tree = cargo(&[
        "tree", "-p", "infra", "--edges", "normal", "--prefix", "none",
    ]);
    let linked: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| DRIVERS.iter().any(|driver| name.starts_with(driver)))
        .collect();
    assert!(linked.is_empty(), "infra links {linked:?}");
}

/// `.rs` files under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn storage_types_do_not_leak_past_persistence() {
    // Only persistence (and the migration crate under it) may hand out
    // SeaORM or repository types. Anything above that re-exports them, or
    // hands out the pools, lets web reach the database without a manifest
    // edge, which the rules above could not see.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let storage = ["persistence", "sea_orm", "sea_orm_migration", "migration"];
    let mut violations = Vec::new();
    for package in workspace_metadata()["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if ["persistence", "migration"].contains(&name) {
            continue;
        }
        let dir = Path::new(package["manifest_path"].as_str().unwrap())
            .parent()
            .unwrap()
            .join("src");
        for file in sources(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            // Joined lines, so a `pub use` split over lines is one statement.
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let shown = file.strip_prefix(root).unwrap().display();
            for keyword in ["pub use ", "pub type "] {
                for (at, _) in flat.match_indices(keyword) {
                    let rest = &flat[at + keyword.len()..];
                    let statement = rest.split(';').next().unwrap_or(rest);
                    // `pub type Alias = path`: the path is on the right.
                    let path = statement.split_once('=').map_or(statement, |(_, rhs)| rhs);
                    let path = path.trim().trim_start_matches("::");
                    if storage
                        .iter()
                        .any(|krate| path.starts_with(&format!("{krate}::")))
                    {
                        violations.push(format!("{shown} re-exports {path}"));
                    }
                }
            }
            if name == "application" {
                let public_fns = text
                    .lines()
                    .filter(|line| line.trim_start().starts_with("pub") && line.contains("fn "));
                for line in public_fns {
                    let returns_db = line.split_once("->").is_some_and(|(_, ret)| {
                        ret.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .any(|word| word == "Db")
                    });
                    if returns_db {
                        violations.push(format!("{shown} hands out the pool: {}", line.trim()));
                    }
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}
