//! `new-resource`: a CRUD resource owned by its author, in every layer.
//!
//! Everything is checked and rendered in memory first (names, fields, that
//! no file or module of that name exists, that every insertion point is
//! found); only then is anything written, so a refusal leaves the tree as
//! it was. New files come from `xtask/templates`; existing files get one
//! line each, either among their `mod` lines (in order) or above a
//! `// new-resource: ...` marker comment.

// Rendering is a string per field, collected; clarity beats the allocations.
#![allow(clippy::format_collect)]

use std::{
    fmt::{self, Write as _},
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use chrono::{DateTime, Utc};

/// A field's type, as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 1 to 255 characters.
    String,
    /// 1 to 10,000 characters, stored as `TEXT`.
    Text,
    /// A signed 64-bit integer.
    Int,
    Bool,
    /// A point in time with its zone (RFC 3339 on the wire).
    Datetime,
    Uuid,
    /// An exact decimal, `NUMERIC(19, 4)`.
    Decimal,
}

impl Kind {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "string" => Self::String,
            "text" => Self::Text,
            "int" => Self::Int,
            "bool" => Self::Bool,
            "datetime" => Self::Datetime,
            "uuid" => Self::Uuid,
            "decimal" => Self::Decimal,
            _ => return None,
        })
    }

    fn is_text(self) -> bool {
        matches!(self, Self::String | Self::Text)
    }

    /// Kinds whose domain type is a checked value type of its own
    /// (`Text<1, 255>`, `Numeric<19, 4>`), converted to and from the column.
    fn is_checked(self) -> bool {
        self.is_text() || self == Self::Decimal
    }

    /// The most characters of a text kind.
    fn max_len(self) -> usize {
        if self == Self::String { 255 } else { 10_000 }
    }

    /// The type on the wire and in the entity, for non-text kinds.
    fn wire(self) -> &'static str {
        match self {
            Self::String | Self::Text => "String",
            Self::Int => "i64",
            Self::Bool => "bool",
            Self::Datetime => "chrono::DateTime<chrono::Utc>",
            Self::Uuid => "Uuid",
            Self::Decimal => "rust_decimal::Decimal",
        }
    }

    fn entity(self) -> &'static str {
        match self {
            Self::Datetime => "DateTimeUtc",
            Self::Decimal => "Decimal",
            other => other.wire(),
        }
    }

    /// The sea-orm-migration column function and its extra arguments.
    fn column(self, nullable: bool) -> (String, &'static str) {
        let (name, args) = match self {
            Self::String => ("string_len", ", 255"),
            Self::Text => ("text", ""),
            Self::Int => ("big_integer", ""),
            Self::Bool => ("boolean", ""),
            Self::Datetime => ("timestamp_with_time_zone", ""),
            Self::Uuid => ("uuid", ""),
            Self::Decimal => ("decimal_len", ", 19, 4"),
        };
        let name = if nullable {
            format!("{name}_null")
        } else {
            name.to_owned()
        };
        (name, args)
    }

    /// Lists may be sorted by every kind but long text.
    fn sortable(self) -> bool {
        self != Self::Text
    }

    /// Lists get an equality filter for these kinds.
    fn filterable(self) -> bool {
        matches!(self, Self::Bool | Self::Int | Self::Uuid)
    }

    /// Two valid JSON values, for a create and a patch in the tests.
    fn samples(self, field: &str) -> (String, String) {
        let (a, b) = match self {
            Self::String => (format!("\"first {field}\""), format!("\"second {field}\"")),
            Self::Text => (
                format!("\"The first {field}, a longer text.\""),
                format!("\"The second {field}.\""),
            ),
            Self::Int => ("42".into(), "-7".into()),
            Self::Bool => ("true".into(), "false".into()),
            Self::Datetime => (
                "\"2030-01-02T03:04:05Z\"".into(),
                "\"2031-06-07T08:09:10Z\"".into(),
            ),
            Self::Uuid => (
                "\"0b7c3f4e-2d8a-4c55-9f0e-1a2b3c4d5e6f\"".into(),
                "\"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\"".into(),
            ),
            Self::Decimal => ("\"12.5\"".into(), "\"0.25\"".into()),
        };
        (a, b)
    }

    /// A JSON value this kind refuses, and the error code it gets.
    fn wrong(self) -> (&'static str, &'static str) {
        match self {
            // NUL: what Postgres cannot store, refused on every backend.
            Self::String | Self::Text => ("\"nul \\u{0} inside\"", "string_pattern_mismatch"),
            Self::Int => ("\"many\"", "int_type"),
            Self::Bool => ("\"maybe\"", "bool_type"),
            Self::Datetime => ("\"yesterday\"", "datetime_parsing"),
            Self::Uuid => ("\"nope\"", "uuid_parsing"),
            Self::Decimal => ("\"a lot\"", "decimal_parsing"),
        }
    }
}

/// One field of the resource.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    kind: Kind,
    nullable: bool,
}

/// Words a field may not be called: Rust's keywords, the columns every
/// resource has, the list's own query parameters, and names the generated
/// code uses for its locals.
const RESERVED_FIELDS: &[&str] = &[
    "id",
    "uuid",
    "author_id",
    "created_at",
    "updated_at",
    "skip",
    "limit",
    "sort",
    "fields",
    "row",
    "conn",
    "now",
    "author",
];

/// Resources the template has, and names its routes and tables already use.
const RESERVED_NAMES: &[&str] = &[
    "users",
    "tasks",
    "refresh_tokens",
    "jobs",
    "auth",
    "monitoring",
    "health",
    "ready",
    "docs",
    "metrics",
    "openapi",
    "seaql_migrations",
];

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// A snake_case identifier that survives the round trip through CamelCase
/// (what sea-orm's derives do to it): no digit right after an underscore.
fn check_ident(what: &str, raw: &str) -> Result<(), String> {
    let bytes = raw.as_bytes();
    let well_formed = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        && !raw.ends_with('_')
        && !raw.contains("__")
        && !bytes
            .windows(2)
            .any(|pair| pair[0] == b'_' && pair[1].is_ascii_digit());
    if !well_formed {
        return Err(format!(
            "{what} {raw:?} is not snake_case (a-z, 0-9 and single underscores, starting with a \
             letter, no digit right after an underscore)"
        ));
    }
    if KEYWORDS.contains(&raw) {
        return Err(format!("{what} {raw:?} is a Rust keyword"));
    }
    Ok(())
}

impl Field {
    fn parse(raw: &str) -> Result<Self, String> {
        let (name, kind) = raw
            .split_once(':')
            .ok_or_else(|| format!("field {raw:?} has no type: write name:type"))?;
        let (kind, nullable) = match kind.strip_suffix('?') {
            Some(kind) => (kind, true),
            None => (kind, false),
        };
        check_ident("field", name)?;
        if RESERVED_FIELDS.contains(&name) {
            return Err(format!(
                "field {name:?} is reserved: every resource has id, uuid, author_id, \
                 created_at and updated_at, lists read skip, limit and sort, and the \
                 generated code names its locals fields, row, conn, now and author"
            ));
        }
        let kind = Kind::parse(kind).ok_or_else(|| {
            format!(
                "field {name:?} has unknown type {kind:?}: use string, text, int, bool, \
                 datetime, uuid or decimal, with ? for nullable"
            )
        })?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            nullable,
        })
    }

    fn camel(&self) -> String {
        camel(&self.name)
    }

    /// `expr` converted between the field's domain type and its column or
    /// wire type: checked types (`Text`, `Numeric`) go through `Into`,
    /// the rest are the same type on both sides.
    fn convert(&self, expr: &str) -> String {
        match (self.kind.is_checked(), self.nullable) {
            (true, false) => format!("{expr}.into()"),
            (true, true) => format!("{expr}.map(Into::into)"),
            (false, _) => expr.to_owned(),
        }
    }
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The singular of an English plural, for the common cases.
fn singular(plural: &str) -> Option<String> {
    if let Some(stem) = plural.strip_suffix("ies") {
        return Some(format!("{stem}y"));
    }
    for suffix in ["sses", "shes", "ches", "xes", "zes", "uses"] {
        if plural.ends_with(suffix) {
            return Some(plural[..plural.len() - 2].to_owned());
        }
    }
    if plural.ends_with("ss") {
        return None;
    }
    plural.strip_suffix('s').map(str::to_owned)
}

/// What the generator was asked for, with every spelling of its name.
#[derive(Debug)]
struct Resource {
    /// `line_items`: table, route, service and handler modules.
    names: String,
    /// `line_item`: domain, entity and repository modules.
    name: String,
    /// `LineItem`.
    camel: String,
    /// `LineItems`.
    camel_plural: String,
    fields: Vec<Field>,
    /// `m20261130_172500_create_line_items`.
    migration: String,
}

impl Resource {
    fn parse(args: &[String], now: DateTime<Utc>) -> Result<Self, String> {
        let mut args = args.iter();
        let names = args
            .next()
            .ok_or("give the resource's name and its fields")?
            .clone();
        check_ident("name", &names)?;
        if RESERVED_NAMES.contains(&names.as_str()) || names.starts_with("river_") {
            return Err(format!(
                "{names:?} is taken by the template (its resources, routes or tables)"
            ));
        }
        let mut name = None;
        let mut fields: Vec<Field> = Vec::new();
        while let Some(arg) = args.next() {
            if arg == "--singular" {
                name = Some(args.next().ok_or("--singular needs a word")?.clone());
            } else {
                let field = Field::parse(arg)?;
                if fields.iter().any(|f| f.name == field.name) {
                    return Err(format!("field {:?} is given twice", field.name));
                }
                fields.push(field);
            }
        }
        let name = match name {
            Some(name) => name,
            None => singular(&names).ok_or_else(|| {
                format!(
                    "cannot tell the singular of {names:?}: give the plural (projects), or \
                     --singular WORD"
                )
            })?,
        };
        check_ident("singular", &name)?;
        if name == names {
            return Err(format!(
                "{names:?} and its singular are the same word: pass --singular"
            ));
        }
        if fields.is_empty() {
            return Err("give at least one field (title:string)".into());
        }
        Ok(Self {
            camel: camel(&name),
            camel_plural: camel(&names),
            migration: format!("m{}_create_{names}", now.format("%Y%m%d_%H%M%S")),
            names,
            name,
            fields,
        })
    }

    fn label(&self) -> String {
        self.name.replace('_', " ")
    }

    /// "a" or "an", by the first letter (as good as English spelling allows).
    fn article(&self) -> &'static str {
        if self.name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        }
    }

    fn labels(&self) -> String {
        self.names.replace('_', " ")
    }

    /// The domain type of a field (without `Option` for nullable ones).
    fn domain_type(&self, field: &Field) -> String {
        if field.kind.is_checked() {
            format!("{}{}", self.camel, field.camel())
        } else if field.kind == Kind::Datetime {
            "DateTime<Utc>".into()
        } else {
            field.kind.wire().into()
        }
    }

    fn nullable_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.nullable)
    }

    fn filters(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| f.kind.filterable() && !f.nullable)
    }

    /// Every placeholder of the templates and its text.
    #[allow(clippy::too_many_lines)] // One table, read top to bottom.
    fn placeholders(&self) -> Vec<(&'static str, String)> {
        let opt = |field: &Field, ty: String| {
            if field.nullable {
                format!("Option<{ty}>")
            } else {
                ty
            }
        };
        let mut p = vec![
            ("names", self.names.clone()),
            ("name", self.name.clone()),
            ("Names", self.camel_plural.clone()),
            ("Name", self.camel.clone()),
            ("labels", self.labels()),
            ("label", self.label()),
            ("Labels", capitalize(&self.labels())),
            ("a_label", format!("{} {}", self.article(), self.label())),
            (
                "A_label",
                format!("{} {}", capitalize(self.article()), self.label()),
            ),
            ("a_name", format!("{}_{}", self.article(), self.name)),
        ];
        let any_nullable = self.nullable_fields().next().is_some();
        p.push((
            "clear_doc",
            if any_nullable {
                ", and `Some(None)` clears a nullable one".into()
            } else {
                String::new()
            },
        ));
        p.push((
            "clear_doc_wire",
            if any_nullable {
                ", and `null` clears a nullable one".into()
            } else {
                String::new()
            },
        ));
        let each = |render: &dyn Fn(&Field) -> String| -> String {
            self.fields.iter().map(render).collect()
        };
        p.push((
            "domain_fields",
            each(&|f| format!("    pub {}: {},\n", f.name, opt(f, self.domain_type(f)))),
        ));
        p.push((
            "patch_fields",
            each(&|f| {
                format!(
                    "    pub {}: Option<{}>,\n",
                    f.name,
                    opt(f, self.domain_type(f))
                )
            }),
        ));
        p.push((
            "text_types",
            self.fields
                .iter()
                .filter(|f| f.kind.is_checked())
                .map(|f| {
                    if f.kind == Kind::Decimal {
                        format!(
                            "\n/// Up to 15 digits before the point and 4 after \
                             (`NUMERIC(19, 4)`).\npub type {} = crate::Numeric<19, 4>;\n",
                            self.domain_type(f)
                        )
                    } else if f.kind == Kind::Text {
                        format!(
                            "\n/// 1 to {max} characters; may span lines.\npub type {ty} = \
                             crate::MultilineText<1, {max}>;\n",
                            max = f.kind.max_len(),
                            ty = self.domain_type(f)
                        )
                    } else {
                        format!(
                            "\n/// One line of 1 to {max} characters.\npub type {ty} = \
                             crate::Text<1, {max}>;\n",
                            max = f.kind.max_len(),
                            ty = self.domain_type(f)
                        )
                    }
                })
                .collect(),
        ));
        let mut sortable = vec!["\"id\"".to_owned()];
        sortable.extend(
            self.fields
                .iter()
                .filter(|f| f.kind.sortable())
                .map(|f| format!("\"{}\"", f.name)),
        );
        sortable.extend(["\"created_at\"".into(), "\"updated_at\"".into()]);
        p.push(("sortable", sortable.join(", ")));
        p.push((
            "filter_fields",
            self.filters()
                .map(|f| format!("    pub {}: Option<{}>,\n", f.name, self.domain_type(f)))
                .collect(),
        ));
        // Entity.
        p.push((
            "entity_fields",
            each(&|f| {
                let column_type = match f.kind {
                    Kind::Text => "    #[sea_orm(column_type = \"Text\")]\n",
                    Kind::Decimal => "    #[sea_orm(column_type = \"Decimal(Some((19, 4)))\")]\n",
                    _ => "",
                };
                format!(
                    "{column_type}    pub {}: {},\n",
                    f.name,
                    opt(f, f.kind.entity().into())
                )
            }),
        ));
        // Migration.
        let mut functions = vec![
            "big_integer".to_owned(),
            "big_pk_auto".into(),
            "timestamp_with_time_zone".into(),
            "uuid_uniq".into(),
        ];
        let mut columns = String::new();
        for f in &self.fields {
            let (function, args) = f.kind.column(f.nullable);
            let _ = writeln!(
                columns,
                "                    .col({function}({}::{}{args}))",
                self.camel_plural,
                f.camel()
            );
            functions.push(function);
        }
        functions.sort();
        functions.dedup();
        p.push(("schema_fns", functions.join(", ")));
        p.push(("columns", columns));
        p.push(("idens", each(&|f| format!("    {},\n", f.camel()))));
        // Repository.
        p.push((
            "create_sets",
            each(&|f| {
                let value = f.convert(&f.name);
                format!("            {}: Set({value}),\n", f.name)
            }),
        ));
        let filters: Vec<&Field> = self.filters().collect();
        p.push(("mut", if filters.is_empty() { "" } else { "mut " }.into()));
        p.push((
            "filter_conditions",
            // Taken apart field by field, so a filter added to the domain
            // type does not compile until it reaches the query.
            format!(
                "        let {}Filter {{ {} }} = filter;\n",
                self.camel,
                filters
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ) + &filters
                .iter()
                .map(|f| {
                    format!(
                        "        if let Some(value) = {field} {{\n            condition = \
                         condition.add({name}::Column::{camel}.eq(value));\n        }}\n",
                        field = f.name,
                        name = self.name,
                        camel = f.camel()
                    )
                })
                .collect::<String>(),
        ));
        p.push((
            "update_sets",
            each(&|f| {
                let value = f.convert("value");
                format!(
                    "        if let Some(value) = {field} {{\n            row.{field} = \
                     Set({value});\n        }}\n",
                    field = f.name
                )
            }),
        ));
        // The fields, as the draft and the patch are destructured.
        p.push((
            "field_names",
            each(&|f| format!("            {},\n", f.name)),
        ));
        p.push((
            "corrupt",
            if self.fields.iter().any(|f| f.kind.is_checked()) {
                format!(
                    "    let corrupt = |reason: domain::InvalidValue| crate::Error::Corrupt {{\n        \
                     entity: ENTITY,\n        reason: format!(\"{} {{}}: {{reason}}\", \
                     model.id),\n    }};\n",
                    self.label()
                )
            } else {
                String::new()
            },
        ));
        p.push((
            "to_domain_attr",
            if self.fields.iter().any(|f| f.kind.is_checked()) {
                String::new()
            } else {
                "#[allow(clippy::unnecessary_wraps)] // Fallible once a field has a rule.\n"
                    .to_owned()
            },
        ));
        p.push((
            "to_domain_fields",
            each(&|f| {
                let value = match (f.kind, f.nullable) {
                    (Kind::Decimal, false) => {
                        format!("domain::Numeric::new(model.{}).map_err(corrupt)?", f.name)
                    }
                    (Kind::Decimal, true) => format!(
                        "model\n            .{}\n            .map(domain::Numeric::new)\n            \
                         .transpose()\n            .map_err(corrupt)?",
                        f.name
                    ),
                    (Kind::String | Kind::Text, false) => {
                        format!("domain::Text::parse(&model.{}).map_err(corrupt)?", f.name)
                    }
                    (Kind::String | Kind::Text, true) => format!(
                        "model\n            .{}\n            .as_deref()\n            \
                         .map(domain::Text::parse)\n            .transpose()\n            \
                         .map_err(corrupt)?",
                        f.name
                    ),
                    _ => format!("model.{}", f.name),
                };
                format!("        {}: {value},\n", f.name)
            }),
        ));
        // DTOs: each field read as its domain type, the one declaration of
        // both the parser and the schema.
        let body_fields = |update: bool| {
            each(&|f| {
                let read = match (update, f.nullable) {
                    (false, false) => "required",
                    (false, true) => "nullable",
                    (true, false) => "optional",
                    (true, true) => "optional_nullable",
                };
                let ty = if f.kind.is_checked() {
                    format!("domain::{}::{}", self.name, self.domain_type(f))
                } else {
                    f.kind.wire().to_owned()
                };
                format!("        {read} {}: {ty},\n", f.name)
            })
        };
        p.push(("create_fields", body_fields(false)));
        p.push(("update_fields", body_fields(true)));
        p.push((
            "response_fields",
            each(&|f| format!("    pub {}: {},\n", f.name, opt(f, f.kind.wire().into()))),
        ));
        p.push((
            "response_builds",
            each(&|f| {
                let value = f.convert(&format!("item.{}", f.name));
                format!("            {}: {value},\n", f.name)
            }),
        ));
        p.push((
            "filter_params",
            filters
                .iter()
                .map(|f| {
                    format!(
                        "    /// Only {} whose `{}` is this.\n    {}: Option<{}>,\n",
                        self.labels(),
                        f.name,
                        f.name,
                        f.kind.wire()
                    )
                })
                .collect(),
        ));
        p.push((
            "fields_arg",
            if filters.is_empty() { "_" } else { "fields" }.into(),
        ));
        p.push((
            "filter_reads",
            filters
                .iter()
                .map(|f| format!("        let {0} = fields.optional(\"{0}\");\n", f.name))
                .collect(),
        ));
        p.push((
            "filter_builds",
            filters
                .iter()
                .map(|f| format!(" {0}: {0}?,", f.name))
                .collect::<String>()
                + if filters.is_empty() { "" } else { " " },
        ));
        // Tests.
        p.push((
            "body",
            each(&|f| format!("        \"{}\": {},\n", f.name, f.kind.samples(&f.name).0)),
        ));
        p.push((
            "changes",
            each(&|f| format!("        \"{}\": {},\n", f.name, f.kind.samples(&f.name).1)),
        ));
        p.push(("clear_test", self.clear_test()));
        let required: Vec<&Field> = self.fields.iter().filter(|f| !f.nullable).collect();
        p.push(("missing_test", Self::missing_test(&required)));
        p.push((
            "wrong",
            each(&|f| format!("        \"{}\": {},\n", f.name, f.kind.wrong().0)),
        ));
        p.push((
            "wrong_kinds",
            each(&|f| format!("        (\"{}\", \"{}\"),\n", f.name, f.kind.wrong().1)),
        ));
        p.push(("filter_test", self.filter_test()));
        p
    }

    fn clear_test(&self) -> String {
        let nullable: Vec<&Field> = self.nullable_fields().collect();
        if nullable.is_empty() {
            return String::new();
        }
        let body: String = nullable
            .iter()
            .map(|f| format!("        \"{}\": null,\n", f.name))
            .collect();
        format!(
            "\n    let cleared = json!({{\n{body}    }});\n    let response = \
             app.patch_json(&path, &cleared, Some(&token)).await;\n    \
             assert_eq!(response.status(), 200);\n    assert_holds(&response.json().await.unwrap(), \
             &cleared);\n"
        )
    }

    fn missing_test(required: &[&Field]) -> String {
        if required.is_empty() {
            return "    let response = app.post_json(PATH, &json!({}), Some(&token)).await;\n    \
                    assert_eq!(response.status(), 201, \"every field may be left out\");\n"
                .into();
        }
        let names: Vec<String> = required.iter().map(|f| format!("\"{}\"", f.name)).collect();
        format!(
            "    let response = app.post_json(PATH, &json!({{}}), Some(&token)).await;\n    \
             assert_eq!(response.status(), 422);\n    let body: Value = \
             response.json().await.unwrap();\n    let missing: Vec<&str> = body[\"detail\"]\n        \
             .as_array()\n        .unwrap()\n        .iter()\n        .map(|e| \
             e[\"loc\"][1].as_str().unwrap())\n        .collect();\n    assert_eq!(missing, [{}], \
             \"{{body}}\");\n",
            names.join(", ")
        )
    }

    fn filter_test(&self) -> String {
        let Some(flag) = self.filters().find(|f| f.kind == Kind::Bool) else {
            return String::new();
        };
        format!(
            "    assert_eq!(page(\"?{0}=true\").await.1, \"3\");\n    \
             assert_eq!(page(\"?{0}=false\").await.1, \"0\");\n",
            flag.name
        )
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

fn render(template: &str, placeholders: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (key, value) in placeholders {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

#[cfg(test)]
/// Whether `{{word}}` (a placeholder, not Rust's `{{` in a format string)
/// is left in `text`.
fn has_placeholder(text: &str) -> bool {
    text.match_indices("{{").any(|(at, _)| {
        let rest = &text[at + 2..];
        rest.find("}}").is_some_and(|end| {
            let word = &rest[..end];
            !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    })
}

const TEMPLATES: &[(&str, &str)] = &[
    ("domain", include_str!("../templates/domain.rs.tmpl")),
    ("entity", include_str!("../templates/entity.rs.tmpl")),
    ("migration", include_str!("../templates/migration.rs.tmpl")),
    (
        "repository",
        include_str!("../templates/repository.rs.tmpl"),
    ),
    ("service", include_str!("../templates/service.rs.tmpl")),
    ("dto", include_str!("../templates/dto.rs.tmpl")),
    ("handlers", include_str!("../templates/handlers.rs.tmpl")),
    ("tests", include_str!("../templates/tests.rs.tmpl")),
];

/// A line to add to an existing file.
#[derive(Debug)]
enum Insert {
    /// A `mod` line, placed in order among the file's other ones.
    Module(String),
    /// A line placed just above the marker comment, indented like it.
    AboveMarker { marker: &'static str, line: String },
}

/// What the generator wrote, for the person who ran it.
#[derive(Debug, Default)]
pub struct Report {
    written: Vec<String>,
    added: Vec<(String, String)>,
    formatted: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote {} files:", self.written.len())?;
        for path in &self.written {
            writeln!(f, "  {path}")?;
        }
        writeln!(f, "added {} lines elsewhere:", self.added.len())?;
        for (path, line) in &self.added {
            writeln!(f, "  {path}: {line}")?;
        }
        if !self.formatted {
            writeln!(f, "rustfmt did not run: run `cargo fmt --all`")?;
        }
        writeln!(
            f,
            "next: `just test` (or `cargo test -p tests --test api`), `just client-ts` to \
             bring the clients' document up to date, then `just dev` and /docs; README \
             \"Adding a resource\" says what to change by hand"
        )
    }
}

/// The files a resource adds, each with its template.
fn files(r: &Resource) -> Vec<(String, &'static str)> {
    vec![
        (format!("migration/src/{}.rs", r.migration), "migration"),
        (format!("crates/domain/src/{}.rs", r.name), "domain"),
        (
            format!("crates/persistence/src/entities/{}.rs", r.name),
            "entity",
        ),
        (
            format!("crates/persistence/src/repositories/{}.rs", r.name),
            "repository",
        ),
        (
            format!("crates/application/src/services/{}.rs", r.names),
            "service",
        ),
        (format!("crates/web/src/dto/{}.rs", r.names), "dto"),
        (
            format!("crates/web/src/handlers/{}.rs", r.names),
            "handlers",
        ),
        (format!("tests/tests/api/{}.rs", r.names), "tests"),
    ]
}

/// The lines a resource adds to existing files.
fn inserts(r: &Resource) -> Vec<(&'static str, Insert)> {
    let module = |path, line: String| (path, Insert::Module(line));
    let above = |path, marker, line: String| (path, Insert::AboveMarker { marker, line });
    let service = format!("services::{}::{}Service", r.names, r.camel);
    let (name, names) = (&r.name, &r.names);
    vec![
        module("migration/src/lib.rs", format!("mod {};", r.migration)),
        above(
            "migration/src/lib.rs",
            "// new-resource: migrations",
            format!("Box::new({}::Migration),", r.migration),
        ),
        module("crates/domain/src/lib.rs", format!("pub mod {name};")),
        module(
            "crates/persistence/src/entities/mod.rs",
            format!("pub mod {name};"),
        ),
        module(
            "crates/persistence/src/repositories/mod.rs",
            format!("pub mod {name};"),
        ),
        module(
            "crates/application/src/services/mod.rs",
            format!("pub mod {names};"),
        ),
        above(
            "crates/application/src/lib.rs",
            "// new-resource: services",
            format!("pub {names}: {service},"),
        ),
        above(
            "crates/application/src/lib.rs",
            "// new-resource: build services",
            format!("{names}: {service}::new(db.clone(), cache.clone()),"),
        ),
        module("crates/web/src/dto/mod.rs", format!("pub mod {names};")),
        module(
            "crates/web/src/handlers/mod.rs",
            format!("pub mod {names};"),
        ),
        above(
            "crates/web/src/handlers/mod.rs",
            "// new-resource: routes",
            format!("{names}::routes(cfg);"),
        ),
        above(
            "crates/web/src/handlers/mod.rs",
            "// new-resource: openapi",
            format!("{names}::Api::openapi(),"),
        ),
        module("tests/tests/api/main.rs", format!("mod {names};")),
    ]
}

/// Generates the resource `args` describe under `root`, the workspace.
pub fn new_resource(root: &Path, args: &[String], now: DateTime<Utc>) -> Result<Report, String> {
    let resource = Resource::parse(args, now)?;
    let r = &resource;
    let placeholders = r.placeholders();
    let files = files(r);
    let inserts = inserts(r);
    // Plan everything before writing anything.
    let mut new_files = Vec::new();
    for (path, template) in &files {
        let full = root.join(path);
        if full.exists() {
            return Err(format!(
                "{path} exists: is there a {} resource already?",
                r.names
            ));
        }
        let text = TEMPLATES
            .iter()
            .find(|(name, _)| name == template)
            .map(|(_, text)| render(text, &placeholders))
            .expect("every template is listed");
        new_files.push((full, path.clone(), text));
    }
    let mut edited: Vec<(PathBuf, String, String)> = Vec::new();
    let mut report = Report::default();
    for (path, insert) in inserts {
        let full = root.join(path);
        let index = if let Some(index) = edited.iter().position(|(p, _, _)| *p == full) {
            index
        } else {
            let text =
                fs::read_to_string(&full).map_err(|err| format!("cannot read {path}: {err}"))?;
            edited.push((full.clone(), path.to_owned(), text));
            edited.len() - 1
        };
        let text = &mut edited[index].2;
        let line = match &insert {
            Insert::Module(line) | Insert::AboveMarker { line, .. } => line.clone(),
        };
        *text = apply(text, &insert).map_err(|err| format!("{path}: {err}"))?;
        report.added.push((path.to_owned(), line));
    }

    for (full, path, text) in &new_files {
        fs::write(full, text).map_err(|err| format!("cannot write {path}: {err}"))?;
        report.written.push(path.clone());
    }
    for (full, path, text) in &edited {
        fs::write(full, text).map_err(|err| format!("cannot write {path}: {err}"))?;
    }
    let touched = new_files
        .iter()
        .map(|(full, _, _)| full)
        .chain(edited.iter().map(|(full, _, _)| full));
    report.formatted = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(touched)
        .status()
        .is_ok_and(|status| status.success());
    Ok(report)
}

/// `text` with `insert` applied, or why it cannot be.
fn apply(text: &str, insert: &Insert) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match insert {
        Insert::Module(line) => {
            let prefix = if line.starts_with("pub ") {
                "pub mod "
            } else {
                "mod "
            };
            let name_of = |l: &str| {
                l.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_suffix(';'))
                    .map(str::to_owned)
            };
            let new = name_of(line).expect("a mod line");
            let modules: Vec<(usize, String)> = lines
                .iter()
                .enumerate()
                .filter_map(|(i, l)| name_of(l).map(|name| (i, name)))
                .collect();
            if modules.iter().any(|(_, name)| *name == new) {
                return Err(format!("module {new} exists already"));
            }
            let Some(last) = modules.last().map(|(i, _)| *i) else {
                return Err(format!("no `{prefix}...;` lines to add `{line}` among"));
            };
            let at = modules
                .iter()
                .find(|(_, name)| *name > new)
                .map_or(last + 1, |(i, _)| *i);
            lines.insert(at, line.clone());
        }
        Insert::AboveMarker { marker, line } => {
            let Some(at) = lines.iter().position(|l| l.trim() == *marker) else {
                return Err(format!(
                    "the marker `{marker}` is missing: put it back where `{line}` belongs"
                ));
            };
            let indent: String = lines[at].chars().take_while(|c| *c == ' ').collect();
            lines.insert(at, format!("{indent}{line}"));
        }
    }
    Ok(lines.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(raw: &str) -> Vec<String> {
        raw.split_whitespace().map(str::to_owned).collect()
    }

    fn parse(raw: &str) -> Result<Resource, String> {
        Resource::parse(&args(raw), Utc::now())
    }

    #[test]
    fn names_fields_and_types_are_parsed() {
        let r = parse("line_items sku:string note:text? qty:int paid:bool due:datetime?").unwrap();
        assert_eq!(
            (r.name.as_str(), r.camel.as_str(), r.camel_plural.as_str()),
            ("line_item", "LineItem", "LineItems")
        );
        assert_eq!(r.fields.len(), 5);
        assert!(r.fields[1].nullable && r.fields[1].kind == Kind::Text);
        assert!(r.migration.ends_with("_create_line_items"));
        assert_eq!(singular("categories").as_deref(), Some("category"));
        assert_eq!(singular("boxes").as_deref(), Some("box"));
        assert_eq!(singular("address"), None);
        let r = parse("news --singular news_item title:string").unwrap();
        assert_eq!(
            (r.name.as_str(), r.camel.as_str()),
            ("news_item", "NewsItem")
        );
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        for (input, reason) in [
            ("projects", "at least one field"),
            ("projects title", "no type"),
            ("projects title:str", "unknown type"),
            ("projects id:int", "reserved"),
            ("projects limit:int", "reserved"),
            ("projects type:string", "keyword"),
            ("projects a:int a:bool", "twice"),
            ("Projects title:string", "snake_case"),
            ("users title:string", "taken"),
            ("river_things title:string", "taken"),
            ("staff title:string", "singular"),
            ("projects x_1:int", "snake_case"),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.contains(reason), "{input}: {err}");
        }
    }

    #[test]
    fn templates_leave_no_placeholder() {
        let r = parse("projects title:string description:text? done:bool due:datetime? n:int? u:uuid d:decimal?")
            .unwrap();
        let placeholders = r.placeholders();
        for (name, template) in TEMPLATES {
            let text = render(template, &placeholders);
            assert!(!has_placeholder(&text), "{name}");
            assert!(
                text.contains("project") || text.contains("Project"),
                "{name}"
            );
        }
    }

    #[test]
    fn modules_go_in_order_and_lines_above_markers() {
        let text = "pub mod a;\npub mod c;\n\nfn f() {\n    x();\n    // new-resource: calls\n}\n";
        let with_b = apply(text, &Insert::Module("pub mod b;".into())).unwrap();
        assert!(with_b.starts_with("pub mod a;\npub mod b;\npub mod c;\n"));
        let with_d = apply(text, &Insert::Module("pub mod d;".into())).unwrap();
        assert!(with_d.starts_with("pub mod a;\npub mod c;\npub mod d;\n"));
        assert!(apply(text, &Insert::Module("pub mod a;".into())).is_err());
        let called = apply(
            text,
            &Insert::AboveMarker {
                marker: "// new-resource: calls",
                line: "y();".into(),
            },
        )
        .unwrap();
        assert!(called.contains("    x();\n    y();\n    // new-resource: calls\n"));
        let missing = apply(
            text,
            &Insert::AboveMarker {
                marker: "// new-resource: other",
                line: "z();".into(),
            },
        );
        assert!(missing.unwrap_err().contains("marker"));
    }

    #[test]
    fn an_existing_resource_is_refused_and_nothing_is_written() {
        let root = std::env::temp_dir().join(format!("xtask-{}", std::process::id()));
        let domain = root.join("crates/domain/src");
        fs::create_dir_all(&domain).unwrap();
        fs::write(domain.join("project.rs"), "// mine\n").unwrap();
        let err = new_resource(&root, &args("projects title:string"), Utc::now()).unwrap_err();
        assert!(err.contains("exists"), "{err}");
        let mut left = Vec::new();
        for entry in fs::read_dir(&domain).unwrap() {
            left.push(entry.unwrap().file_name());
        }
        assert_eq!(left, ["project.rs"]);
        assert!(!root.join("migration").exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
