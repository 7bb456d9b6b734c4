//! The layering rules of ARCHITECTURE.md, checked against the manifests:
//! a new dependency edge that breaks them fails the build's tests.

#![allow(clippy::unwrap_used)]

use std::{collections::BTreeMap, process::Command};

use serde_json::Value;

/// Direct dependencies (normal, not dev) of every workspace package.
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
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
    let allowed = ["thiserror", "uuid", "chrono", "serde"];
    for dep in &deps["domain"] {
        assert!(
            allowed.contains(&dep.as_str()),
            "domain depends on {dep}; allowed: {allowed:?}"
        );
    }
}

#[test]
fn binaries_are_thin() {
    // Behaviour lives in the library crates; binaries only compose them, so
    // they have no business importing the ORM or HTTP framework directly.
    let deps = workspace_dependencies();
    for bin in ["api", "worker"] {
        for dep in &deps[bin] {
            assert!(
                !["sea-orm", "actix-web"].contains(&dep.as_str()),
                "{bin} depends on {dep} directly"
            );
        }
    }
}
