//! The OpenAPI document, served at `/openapi.json` and rendered at `/docs`.

use serde_json::Value;
use utoipa::{
    OpenApi,
    openapi::{
        RefOr, Schema, Type,
        schema::{Object, ObjectBuilder, SchemaType},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::validation::FieldValue;

/// The document's frame: its title and description. Each handler module
/// adds its own paths and tags (`handlers::openapi`).
#[derive(Debug, OpenApi)]
#[openapi(info(
    title = "Rust Production Template",
    description = "A production-ready API: users, authentication, tasks. \
        Errors are `{\"error_code\", \"message\"}`; validation errors are 422 `{\"detail\": [...]}`."
))]
struct ApiDoc;

/// Every endpoint, schema and error of the API.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    for part in crate::handlers::openapi() {
        document.merge(part);
    }
    let components = document.components.get_or_insert_with(Default::default);
    // The scheme the secured paths refer to.
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    qualify_operation_ids(&mut document);
    document
}

/// Prefixes each operation's id with its tag (`tasks_list`, `users_list`).
/// Handlers are named for what they do, so `list` or `get` repeat across
/// resources; the specification requires ids unique, and client generators
/// name their functions and types after them. Doing it here, once, gives
/// every handler (generated ones too) the same stable scheme.
fn qualify_operation_ids(document: &mut utoipa::openapi::OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            if let (Some(id), Some([tag, ..])) =
                (&mut operation.operation_id, operation.tags.as_deref())
            {
                *id = format!("{tag}_{id}");
            }
        }
    }
}

/// Panics when `methods` on `path` are served but not documented (debug
/// builds only: see `handlers::resource`). Paths compare without their
/// trailing slash, as routing does.
#[cfg(debug_assertions)]
pub(crate) fn assert_documented<'a>(
    path: &str,
    methods: impl Iterator<Item = &'a actix_web::http::Method>,
) {
    static PATHS: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        serde_json::to_value(document().paths).expect("the document serializes")
    });
    let path = path.trim_end_matches('/');
    for method in methods {
        let name = method.as_str().to_ascii_lowercase();
        let documented = [path.to_owned(), format!("{path}/")]
            .iter()
            .any(|path| PATHS[path][&name].is_object());
        assert!(
            documented,
            "{method} {path} is served but not in the OpenAPI document: give its handler a \
             #[utoipa::path] and list it in `paths(...)` of its module's `Api`"
        );
    }
}

/// A schema's description (its `///` lines) and example, as
/// [`request_body!`](crate::validation::request_body) collects them.
#[derive(Debug, Default)]
pub(crate) struct Doc {
    lines: Vec<&'static str>,
    example: Option<Value>,
}

impl Doc {
    /// A line of the description (a `///` line, its leading space dropped).
    pub fn doc(mut self, line: &'static str) -> Self {
        self.lines
            .push(line.strip_prefix(' ').unwrap_or(line).trim_end());
        self
    }

    /// The example value.
    pub fn example(mut self, example: impl Into<Value>) -> Self {
        self.example = Some(example.into());
        self
    }

    fn apply(self, object: &mut Object) {
        if !self.lines.is_empty() {
            object.description = Some(self.lines.join("\n"));
        }
        object.example = self.example;
    }
}

/// The schema of a request body. Each method documents a field as the
/// [`Fields`](crate::validation::Fields) method of the same name reads it,
/// so the document is exactly as strict as the server: a client or fuzzer
/// that follows it is never refused for a value it allows, nor accepted
/// for one it forbids.
pub(crate) struct BodySchema(Object);

impl BodySchema {
    pub fn new(doc: Doc) -> Self {
        let mut object = Object::with_type(Type::Object);
        doc.apply(&mut object);
        Self(object)
    }

    fn field<T: FieldValue>(mut self, name: &str, doc: Doc, nullable: bool) -> Self {
        let mut property = T::schema();
        if nullable && let SchemaType::Type(single) = property.schema_type {
            property.schema_type = SchemaType::from_iter([single, Type::Null]);
        }
        doc.apply(&mut property);
        self.0.properties.insert(name.to_owned(), property.into());
        self
    }

    pub fn required<T: FieldValue>(mut self, name: &str, doc: Doc) -> Self {
        self.0.required.push(name.to_owned());
        self.field::<T>(name, doc, false)
    }

    pub fn optional<T: FieldValue>(self, name: &str, doc: Doc) -> Self {
        self.field::<T>(name, doc, false)
    }

    #[allow(dead_code)] // The template's own bodies have no nullable field; generated ones do.
    pub fn nullable<T: FieldValue>(self, name: &str, doc: Doc) -> Self {
        self.field::<T>(name, doc, true)
    }

    #[allow(dead_code)] // As `nullable`.
    pub fn optional_nullable<T: FieldValue>(self, name: &str, doc: Doc) -> Self {
        self.nullable::<T>(name, doc)
    }

    pub fn build(self) -> RefOr<Schema> {
        Schema::Object(self.0).into()
    }
}

/// The schema of a list's `limit` parameter: 1 to [`domain::MAX_PAGE_SIZE`],
/// which is also the default.
pub fn page_limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(domain::MAX_PAGE_SIZE))
        .default(Some(domain::MAX_PAGE_SIZE.into()))
        .build()
}

/// The schema of a list's `sort` parameter: each sortable column, and the
/// same with `-` for descending.
pub fn sort(sortable: &[&str]) -> RefOr<Schema> {
    let values = sortable
        .iter()
        .flat_map(|column| [(*column).to_owned(), format!("-{column}")]);
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values))
            .build(),
    )
    .into()
}

/// Declares `$name`, the named schema of a list's `sort` parameter
/// ([`sort`] of the `$sortable` columns), to use as the parameter's
/// `value_type`. Named, it becomes one type in a generated client
/// (`TaskSort`); inline enums are named after their operation by the
/// generators and collide.
macro_rules! sort_schema {
    ($(#[$doc:meta])* $name:ident = $sortable:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                $crate::openapi::sort($sortable)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use sort_schema;

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    fn document() -> Value {
        serde_json::to_value(super::document()).unwrap()
    }

    #[test]
    fn the_schemas_carry_the_parsers_rules() {
        let doc = document();
        let property = |schema: &str, field: &str| {
            doc["components"]["schemas"][schema]["properties"][field].clone()
        };
        let password = property("RegisterUserRequest", "password");
        assert_eq!(password["pattern"], domain::Password::PATTERN);
        assert_eq!(password["minLength"], domain::Password::MIN_LEN);
        assert_eq!(password["maxLength"], domain::Password::MAX_LEN);
        assert_eq!(
            property("UpdateUserRequest", "username")["pattern"],
            domain::Username::PATTERN
        );
        assert_eq!(
            property("LoginUserRequest", "email")["pattern"],
            domain::Email::PATTERN
        );
        assert_eq!(
            property("UpdateTaskRequest", "title")["maxLength"],
            domain::TaskTitle::MAX_LEN
        );
        assert_eq!(
            property("CreateTaskRequest", "title")["pattern"],
            domain::TaskTitle::PATTERN
        );
        assert_eq!(
            property("CreateTaskRequest", "description")["pattern"],
            domain::TaskDescription::PATTERN
        );
        // Absent means unchanged; null is refused, so the schema says so.
        assert_eq!(
            property("UpdateUserRequest", "current_password")["type"],
            "string"
        );
        assert_eq!(
            property("UpdateTaskRequest", "is_completed")["type"],
            "boolean"
        );
        // 422 locations name a field or an array index.
        let loc = &doc["components"]["schemas"]["FieldError"]["properties"]["loc"]["items"];
        assert_eq!(loc["$ref"], "#/components/schemas/LocItem");
        let item = doc["components"]["schemas"]["LocItem"]["oneOf"].to_string();
        assert!(
            item.contains("integer") && item.contains("string"),
            "{item}"
        );
    }

    #[test]
    fn list_parameters_take_the_page_size_and_sortable_columns_from_the_domain() {
        let doc = document();
        for (path, sortable, name) in [
            ("/v1/users/", domain::user::SORTABLE, "UserSort"),
            ("/v1/tasks/", domain::task::SORTABLE, "TaskSort"),
        ] {
            let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let limit = parameters.iter().find(|p| p["name"] == "limit").unwrap();
            assert_eq!(limit["schema"]["maximum"], domain::MAX_PAGE_SIZE, "{path}");
            assert_eq!(limit["schema"]["default"], domain::MAX_PAGE_SIZE, "{path}");
            let sort = parameters.iter().find(|p| p["name"] == "sort").unwrap();
            let reference = format!("#/components/schemas/{name}");
            assert_eq!(sort["schema"]["$ref"], reference.as_str(), "{path}");
            let values = doc["components"]["schemas"][name]["enum"]
                .as_array()
                .unwrap();
            assert_eq!(values.len(), sortable.len() * 2, "{path}");
            for column in sortable {
                assert!(
                    values.contains(&json!(column))
                        && values.contains(&json!(format!("-{column}")))
                );
            }
        }
    }
}
