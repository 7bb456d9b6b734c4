//! The OpenAPI document, served at `/openapi.json` and rendered at `/docs`.

use domain::{Email, Password, Text, Username};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        RefOr, Schema, Type,
        schema::{Object, ObjectBuilder},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

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
    BearerAuth.modify(&mut document);
    DomainRules.modify(&mut document);
    document
}

/// Panics when `methods` on `path` are served but not documented (debug
/// builds only: see `handlers::resource`). Paths compare without their
/// trailing slash, as routing does.
#[cfg(debug_assertions)]
pub(crate) fn assert_documented<'a>(
    path: &str,
    methods: impl Iterator<Item = &'a actix_web::http::Method>,
) {
    use std::{collections::HashSet, sync::LazyLock};

    static DOCUMENTED: LazyLock<HashSet<(String, String)>> = LazyLock::new(|| {
        let document = serde_json::to_value(document()).expect("the document serializes");
        let mut documented = HashSet::new();
        if let Some(paths) = document["paths"].as_object() {
            for (path, item) in paths {
                for method in item.as_object().into_iter().flat_map(|item| item.keys()) {
                    documented.insert((
                        path.trim_end_matches('/').to_owned(),
                        method.to_ascii_uppercase(),
                    ));
                }
            }
        }
        documented
    });
    for method in methods {
        let key = (
            path.trim_end_matches('/').to_owned(),
            method.as_str().to_owned(),
        );
        assert!(
            DOCUMENTED.contains(&key),
            "{method} {path} is served but not in the OpenAPI document: give its handler a \
             #[utoipa::path] and list it in `paths(...)` of its module's `Api`"
        );
    }
}

/// Declares the `bearer` scheme the secured paths refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The rules the parsers enforce, written into the schemas from the same
/// domain constants (derive attributes take literals only), so the
/// document is exactly as strict as the server: a client or fuzzer that
/// follows it is never refused for a value it allows, nor accepted for one
/// it forbids.
struct DomainRules;

/// A string of `min..=max` characters matching `pattern`.
struct Rules {
    min: usize,
    max: usize,
    pattern: Option<&'static str>,
}

impl Rules {
    fn apply(&self, object: &mut Object) {
        object.min_length = Some(self.min);
        object.max_length = Some(self.max);
        object.pattern = self.pattern.map(str::to_owned);
    }
}

impl Modify for DomainRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let email = Rules {
            min: 3,
            max: Email::MAX_LEN,
            pattern: Some(Email::PATTERN),
        };
        let username = Rules {
            min: Username::MIN_LEN,
            max: Username::MAX_LEN,
            pattern: Some(Username::PATTERN),
        };
        let password = Rules {
            min: Password::MIN_LEN,
            max: Password::MAX_LEN,
            pattern: Some(Password::PATTERN),
        };
        let fields: [(&str, &str, &Rules); 7] = [
            ("RegisterUserRequest", "email", &email),
            ("RegisterUserRequest", "username", &username),
            ("RegisterUserRequest", "password", &password),
            ("LoginUserRequest", "email", &email),
            ("UpdateUserRequest", "email", &email),
            ("UpdateUserRequest", "username", &username),
            ("UpdateUserRequest", "password", &password),
        ];
        let components = openapi.components.get_or_insert_with(Default::default);
        for (schema, field, rules) in fields {
            rules.apply(property(&mut components.schemas, schema, field));
        }
    }
}

/// The bounds of a [`Text`] type, for its schema.
pub trait Bounded {
    const MIN: usize;
    const MAX: usize;
}

impl<const MIN: usize, const MAX: usize> Bounded for Text<MIN, MAX> {
    const MIN: usize = MIN;
    const MAX: usize = MAX;
}

fn text_builder<T: Bounded>() -> ObjectBuilder {
    ObjectBuilder::new()
        .min_length(Some(T::MIN))
        .max_length(Some(T::MAX))
}

/// The schema of a request field holding text type `T`, its bounds read
/// from the type: `#[schema(schema_with = openapi::text::<TaskTitle>)]`.
/// (Derive attributes take literals only; this keeps one source of truth.)
pub fn text<T: Bounded>() -> Object {
    text_builder::<T>().schema_type(Type::String).build()
}

/// [`text`] for a nullable field.
pub fn nullable_text<T: Bounded>() -> Object {
    text_builder::<T>()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .build()
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
pub fn sort(sortable: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            sortable
                .iter()
                .flat_map(|column| [(*column).to_owned(), format!("-{column}")]),
        ))
        .build()
}

/// The schema of `schema.field`, which the document must have.
fn property<'a>(
    schemas: &'a mut std::collections::BTreeMap<String, RefOr<Schema>>,
    schema: &str,
    field: &str,
) -> &'a mut Object {
    let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(schema) else {
        panic!("schema {schema} is not an object in the document");
    };
    match object.properties.get_mut(field) {
        Some(RefOr::T(Schema::Object(property))) => property,
        _ => panic!("{schema}.{field} is not in the document"),
    }
}

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
        for (path, sortable) in [
            ("/v1/users/", domain::user::SORTABLE),
            ("/v1/tasks/", domain::task::SORTABLE),
        ] {
            let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let limit = parameters.iter().find(|p| p["name"] == "limit").unwrap();
            assert_eq!(limit["schema"]["maximum"], domain::MAX_PAGE_SIZE, "{path}");
            assert_eq!(limit["schema"]["default"], domain::MAX_PAGE_SIZE, "{path}");
            let sort = parameters.iter().find(|p| p["name"] == "sort").unwrap();
            let values = sort["schema"]["enum"].as_array().unwrap();
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
