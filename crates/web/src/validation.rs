//! Turning request bodies and queries into domain values, reporting every
//! problem at once in FastAPI's 422 shape:
//! `{"detail": [{"loc": ["body", "email"], "msg": "...", "type": "..."}]}`.
//!
//! A request body is declared once, with [`request_body!`]; [`Valid`] is
//! the extractor that runs its parser.

use std::{collections::HashMap, future::Future, marker::PhantomData, pin::Pin};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest, dev::Payload, http::StatusCode, web::Bytes,
};
use domain::{Email, InvalidValue, Password, Username};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::openapi::{
    KnownFormat, SchemaFormat, Type,
    schema::{Object, ObjectBuilder},
};

use crate::ApiError;

/// One entry of a 422 `detail` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where the problem is: `["body", "email"]`, `["query", "limit"]`, or
    /// an index for a position in the body (`["body", 1]`).
    #[schema(value_type = Vec<LocItem>, example = json!(["body", "email"]))]
    pub loc: Vec<Value>,
    /// What is wrong, for people.
    #[schema(example = "Field required")]
    pub msg: String,
    /// What is wrong, for programs (Pydantic's error codes).
    #[serde(rename = "type")]
    #[schema(example = "missing")]
    pub kind: String,
}

/// One step of a 422 location: a field name or a position.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documents the items of `FieldError::loc`.
enum LocItem {
    Name(String),
    Index(u64),
}

impl FieldError {
    pub fn new(loc: Vec<Value>, kind: impl Into<String>, msg: impl Into<String>) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind: kind.into(),
        }
    }

    fn body(kind: &str, msg: &str) -> Self {
        Self::new(vec!["body".into()], kind, msg)
    }
}

/// A type a request field can hold: how it is read from a JSON value (a
/// body) or a string (a query, `in_query`), with Pydantic's error codes, and
/// how the document describes it, with the same rules (lengths and patterns
/// come from the domain types' constants).
pub trait FieldValue: Sized {
    fn read(value: Value, in_query: bool) -> Result<Self, InvalidValue>;

    /// The schema of a present value (not `null`).
    fn schema() -> Object;
}

impl FieldValue for bool {
    fn read(value: Value, in_query: bool) -> Result<Self, InvalidValue> {
        match value {
            Value::Bool(b) => Ok(b),
            Value::String(s) if in_query => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(InvalidValue::new(
                    "bool_parsing",
                    "Input should be a valid boolean, unable to interpret input",
                )),
            },
            _ => Err(InvalidValue::new(
                "bool_type",
                "Input should be a valid boolean",
            )),
        }
    }

    fn schema() -> Object {
        typed(Type::Boolean, None)
    }
}

/// A whole number as wide as a body or a query can write it, so that one
/// out of range is refused by its bound, not as unreadable. The one integer
/// reader: [`i64`] fields and [`Fields::integer`] both check its result.
fn whole_number(value: Value, in_query: bool) -> Result<i128, InvalidValue> {
    let int_type = || InvalidValue::new("int_type", "Input should be a valid integer");
    match value {
        Value::Number(n) => n.as_i128().ok_or_else(int_type),
        Value::String(s) if in_query => s.trim().parse().map_err(|_| {
            InvalidValue::new(
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )
        }),
        _ => Err(int_type()),
    }
}

/// `number` if it is within `min..=max`.
fn within(number: i128, min: i128, max: i128) -> Result<i128, InvalidValue> {
    if number < min {
        Err(InvalidValue::new(
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
        ))
    } else if number > max {
        Err(InvalidValue::new(
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
        ))
    } else {
        Ok(number)
    }
}

impl FieldValue for i64 {
    fn read(value: Value, in_query: bool) -> Result<Self, InvalidValue> {
        let number = within(
            whole_number(value, in_query)?,
            Self::MIN.into(),
            Self::MAX.into(),
        )?;
        Ok(Self::try_from(number).unwrap_or_default())
    }

    fn schema() -> Object {
        typed(Type::Integer, Some(KnownFormat::Int64))
    }
}

impl FieldValue for String {
    fn read(value: Value, _: bool) -> Result<Self, InvalidValue> {
        match value {
            Value::String(s) => Ok(s),
            _ => Err(InvalidValue::new(
                "string_type",
                "Input should be a valid string",
            )),
        }
    }

    fn schema() -> Object {
        typed(Type::String, None)
    }
}

/// The schema of a `ty`, in `format` if given.
fn typed(ty: Type, format: Option<KnownFormat>) -> Object {
    ObjectBuilder::new()
        .schema_type(ty)
        .format(format.map(SchemaFormat::KnownFormat))
        .build()
}

/// Reads a string, then parses it.
fn from_string<T>(
    value: Value,
    parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
) -> Result<T, InvalidValue> {
    parse(&String::read(value, false)?)
}

/// The schema of a string of `min..=max` characters matching `pattern`.
fn text_schema(min: usize, max: usize, pattern: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

/// Domain values parsed from a string by their `parse`, and the bounds and
/// pattern their schema shows.
macro_rules! parsed_from_string {
    ($($ty:ty => ($min:expr, $max:expr, $pattern:expr);)+) => {
        $(impl FieldValue for $ty {
            fn read(value: Value, _: bool) -> Result<Self, InvalidValue> {
                from_string(value, Self::parse)
            }

            fn schema() -> Object {
                text_schema($min, $max, $pattern)
            }
        })+
    };
}

parsed_from_string! {
    // The parser's rules are in the pattern; 3 is the shortest address
    // the document has always promised to look at.
    Email => (3, Email::MAX_LEN, Email::PATTERN);
    Username => (Username::MIN_LEN, Username::MAX_LEN, Username::PATTERN);
    Password => (Password::MIN_LEN, Password::MAX_LEN, Password::PATTERN);
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> FieldValue
    for domain::Text<MIN, MAX, MULTILINE>
{
    fn read(value: Value, _: bool) -> Result<Self, InvalidValue> {
        from_string(value, Self::parse)
    }

    fn schema() -> Object {
        text_schema(MIN, MAX, Self::PATTERN)
    }
}

impl FieldValue for chrono::DateTime<chrono::Utc> {
    /// RFC 3339 with an offset (`2026-11-30T17:00:00Z`), as Pydantic writes.
    fn read(value: Value, _: bool) -> Result<Self, InvalidValue> {
        from_string(value, |s| {
            chrono::DateTime::parse_from_rfc3339(s.trim())
                .map(|at| at.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    InvalidValue::new(
                        "datetime_parsing",
                        "Input should be a valid datetime with a time zone (RFC 3339)",
                    )
                })
        })
    }

    fn schema() -> Object {
        typed(Type::String, Some(KnownFormat::DateTime))
    }
}

impl FieldValue for uuid::Uuid {
    fn read(value: Value, _: bool) -> Result<Self, InvalidValue> {
        from_string(value, |s| {
            uuid::Uuid::parse_str(s.trim())
                .map_err(|_| InvalidValue::new("uuid_parsing", "Input should be a valid UUID"))
        })
    }

    fn schema() -> Object {
        typed(Type::String, Some(KnownFormat::Uuid))
    }
}

impl FieldValue for rust_decimal::Decimal {
    /// A string (`"12.50"`, exact) or a JSON number.
    fn read(value: Value, _: bool) -> Result<Self, InvalidValue> {
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(InvalidValue::new(
                    "decimal_type",
                    "Decimal input should be an integer, float, string or Decimal object",
                ));
            }
        };
        let text = text.trim();
        text.parse::<Self>()
            .or_else(|_| Self::from_scientific(text))
            .map_err(|_| InvalidValue::new("decimal_parsing", "Input should be a valid decimal"))
    }

    /// A string, as the responses write it (a number is accepted too).
    fn schema() -> Object {
        typed(Type::String, None)
    }
}

impl<const PRECISION: u32, const SCALE: u32> FieldValue for domain::Numeric<PRECISION, SCALE> {
    fn read(value: Value, in_query: bool) -> Result<Self, InvalidValue> {
        Self::new(rust_decimal::Decimal::read(value, in_query)?)
    }

    fn schema() -> Object {
        rust_decimal::Decimal::schema()
    }
}

/// Reads the fields of one JSON object (or query string), collecting an
/// error per bad field instead of stopping at the first.
#[derive(Debug)]
pub struct Fields {
    source: &'static str,
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    /// The fields of a request body, which must be a JSON object.
    pub fn body(value: Value) -> Result<Self, Vec<FieldError>> {
        match value {
            Value::Object(map) => Ok(Self {
                source: "body",
                map,
                errors: Vec::new(),
            }),
            _ => Err(vec![FieldError::body(
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
            )]),
        }
    }

    /// The parameters of a query string; every value is a string.
    pub fn query(params: HashMap<String, String>) -> Self {
        Self {
            source: "query",
            map: params
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, name: &str, kind: &str, msg: &str) {
        let loc = vec![self.source.into(), name.into()];
        self.errors.push(FieldError::new(loc, kind, msg));
    }

    /// Reads a present value as a `T`, recording why it is not one.
    fn read<T: FieldValue>(&mut self, name: &str, value: Value) -> Option<T> {
        let read = T::read(value, self.source == "query");
        self.check(name, read)
    }

    /// The value read, or `None` with the reason recorded.
    fn check<T>(&mut self, name: &str, read: Result<T, InvalidValue>) -> Option<T> {
        read.map_err(|invalid| self.fail(name, invalid.kind(), invalid.message()))
            .ok()
    }

    /// A required field of any [`FieldValue`] type; `null` is refused.
    pub fn required<T: FieldValue>(&mut self, name: &str) -> Option<T> {
        if let Some(value) = self.map.remove(name) {
            self.read(name, value)
        } else {
            self.fail(name, "missing", "Field required");
            None
        }
    }

    /// A field that may be absent or `null` (both `None`), as a nullable
    /// column is at creation.
    pub fn nullable<T: FieldValue>(&mut self, name: &str) -> Option<Option<T>> {
        self.optional_nullable(name).map(Option::flatten)
    }

    /// A field that may be absent (`None`: a patch leaves it unchanged);
    /// present, it must be a `T` (`null` is refused).
    pub fn optional<T: FieldValue>(&mut self, name: &str) -> Option<Option<T>> {
        match self.map.remove(name) {
            None => Some(None),
            Some(value) => self.read(name, value).map(Some),
        }
    }

    /// A patch of a nullable column: absent is `None` (unchanged), `null` is
    /// `Some(None)` (cleared), a value is `Some(Some(value))`.
    pub fn optional_nullable<T: FieldValue>(&mut self, name: &str) -> Option<Option<Option<T>>> {
        match self.map.remove(name) {
            None => Some(None),
            Some(Value::Null) => Some(Some(None)),
            Some(value) => self.read(name, value).map(|value| Some(Some(value))),
        }
    }

    /// An optional whole number within `min..=max`, `default` when absent.
    pub fn integer(&mut self, name: &str, default: u64, min: u64, max: u64) -> Option<u64> {
        let Some(value) = self.map.remove(name) else {
            return Some(default);
        };
        let number = whole_number(value, self.source == "query")
            .and_then(|number| within(number, min.into(), max.into()));
        self.check(name, number)
            .and_then(|number| u64::try_from(number).ok())
    }

    /// Ends reading: the value built from the fields, or every error seen.
    /// `build` runs only when no field failed.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty()
            && let Some(value) = build()
        {
            return Ok(value);
        }
        Err(self.errors)
    }
}

/// Parses a path segment as a UUID; a malformed one is a 422 like FastAPI's.
pub fn path_uuid(field: &'static str, raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|err| {
        ApiError::Validation(vec![FieldError::new(
            vec!["path".into(), field.into()],
            "uuid_parsing",
            format!("Input should be a valid UUID, {err}"),
        )])
    })
}

/// A request body: how to read it into the value a handler needs.
pub trait JsonRequest {
    /// What a valid body becomes (usually a domain command).
    type Parsed;

    /// Reads the fields; returns every problem found.
    fn parse(fields: Fields) -> Result<Self::Parsed, Vec<FieldError>>;
}

/// Declares a request body once: its schema (`ToSchema`, named like the
/// type) and its [`JsonRequest`] parser, both from one list of fields, each
/// read as its [`FieldValue`] type by the [`Fields`] method it is marked
/// with and documented by the `BodySchema` method of the same name. The
/// syntax, and why not serde's derive: ARCHITECTURE.md, "Request bodies are
/// read field by field".
macro_rules! request_body {
    (
        $(#[doc = $doc:expr])*
        $vis:vis struct $name:ident => $command:ident {
            $(
                $(#[$key:ident = $value:expr])*
                $read:ident $field:ident: $ty:ty
            ),+ $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug)]
        $vis struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::BodySchema::new($crate::openapi::Doc::default()$(.doc($doc))*)
                    $(.$read::<$ty>(
                        stringify!($field),
                        $crate::openapi::Doc::default()$(.$key($value))*,
                    ))+
                    .build()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $crate::validation::JsonRequest for $name {
            type Parsed = $command;

            fn parse(
                mut fields: $crate::validation::Fields,
            ) -> Result<$command, Vec<$crate::validation::FieldError>> {
                $(let $field = fields.$read::<$ty>(stringify!($field));)+
                fields.finish(|| Some($command { $($field: $field?),+ }))
            }
        }
    };
}

pub(crate) use request_body;

/// Extractor: the body of a request, parsed by `R` (a [`JsonRequest`]).
///
/// Malformed JSON, a body that is not an object, a wrong content type and bad
/// fields are all 422 with a `detail` list, as in FastAPI.
#[derive(Debug)]
pub struct Valid<R: JsonRequest>(pub R::Parsed, PhantomData<R>);

impl<R: JsonRequest> Valid<R> {
    pub fn into_inner(self) -> R::Parsed {
        self.0
    }
}

/// Whether the request says (or leaves open) that its body is JSON.
fn declares_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        // FastAPI parses a body without a content type as JSON.
        Ok(None) => true,
        Ok(Some(mime)) => mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"),
        Err(_) => false,
    }
}

/// Deepest nesting of arrays and objects a body may have. Our requests are
/// flat; deep nesting only costs parse time and stack.
pub const MAX_JSON_DEPTH: usize = 32;

/// The byte position where `bytes` first nests deeper than
/// [`MAX_JSON_DEPTH`], looking past strings; a cheap scan before parsing.
fn too_deep(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (position, byte) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Some(position);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parses raw body bytes into the DTO's output.
pub(crate) fn parse_body<R: JsonRequest>(json: bool, bytes: &[u8]) -> Result<R::Parsed, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::Validation(vec![FieldError::body(
            "missing",
            "Field required",
        )]));
    }
    if !json {
        return Err(ApiError::Validation(vec![FieldError::body(
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
        )]));
    }
    if let Some(position) = too_deep(bytes) {
        return Err(ApiError::Validation(vec![FieldError::new(
            vec!["body".into(), position.into()],
            "json_invalid",
            format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"),
        )]));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError::Validation(vec![FieldError::new(
            vec!["body".into(), err.column().into()],
            "json_invalid",
            "JSON decode error",
        )])
    })?;
    R::parse(Fields::body(value).map_err(ApiError::Validation)?).map_err(ApiError::Validation)
}

/// The body deadline of an app built without settings (`BODY_TIMEOUT_SECONDS`'s default).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl<R: JsonRequest + 'static> FromRequest for Valid<R> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = declares_json(req);
        let bytes = Bytes::from_request(req, payload);
        // actix times out slow headers, not slow bodies: a client that
        // trickles a body would hold its connection open for ever.
        let deadline = req
            .app_data::<actix_web::web::Data<infra::Settings>>()
            .map_or(BODY_TIMEOUT, |settings| {
                std::time::Duration::from_secs(settings.http.body_timeout_seconds)
            });
        Box::pin(async move {
            let bytes = tokio::time::timeout(deadline, bytes)
                .await
                .map_err(|_| ApiError::BodyTimeout)?;
            let bytes = bytes.map_err(|err| {
                // The body limit's overflow, in this API's error shape.
                if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge.into()
                } else {
                    err
                }
            })?;
            Ok(Valid(parse_body::<R>(json, &bytes)?, PhantomData))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(result: Result<(), Vec<FieldError>>) -> Vec<(String, String)> {
        result
            .unwrap_err()
            .into_iter()
            .map(|e| (e.loc.last().unwrap().to_string(), e.kind))
            .collect()
    }

    #[test]
    fn collects_every_bad_field() {
        let mut fields = Fields::body(json!({"a": 1, "c": "x"})).unwrap();
        let _ = fields.required::<String>("a");
        let _ = fields.required::<String>("b");
        let _ = fields.required::<domain::Text<3, 5>>("c");
        let found = errors(fields.finish(|| Some(())));
        assert_eq!(
            found,
            vec![
                ("\"a\"".into(), "string_type".into()),
                ("\"b\"".into(), "missing".into()),
                ("\"c\"".into(), "string_too_short".into()),
            ]
        );
    }

    #[test]
    fn nesting_is_bounded_but_brackets_in_strings_do_not_count() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(too_deep(deep.as_bytes()), Some(MAX_JSON_DEPTH));
        let shallow = format!("{{\"a\": \"{}\\\"\"}}", "[".repeat(100));
        assert_eq!(too_deep(shallow.as_bytes()), None, "{shallow}");
        assert_eq!(too_deep(br#"{"a": [1, {"b": [2]}]}"#), None);
    }

    #[test]
    fn a_body_must_be_an_object() {
        let err = Fields::body(json!([1, 2])).unwrap_err();
        assert_eq!(err[0].kind, "model_attributes_type");
        assert_eq!(err[0].loc, vec![json!("body")]);
    }

    #[test]
    fn query_integers_are_parsed_and_bounded() {
        let params = |pairs: &[(&str, &str)]| {
            Fields::query(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let mut f = params(&[("limit", "20")]);
        assert_eq!(f.integer("limit", 100, 1, 100), Some(20));
        assert_eq!(f.integer("skip", 0, 0, u64::MAX), Some(0));

        for (raw, kind) in [
            ("abc", "int_parsing"),
            ("0", "greater_than_equal"),
            ("-3", "greater_than_equal"),
            ("101", "less_than_equal"),
        ] {
            let mut f = params(&[("limit", raw)]);
            assert_eq!(f.integer("limit", 100, 1, 100), None, "{raw}");
            assert_eq!(f.errors[0].kind, kind, "{raw}");
            assert_eq!(f.errors[0].loc, vec![json!("query"), json!("limit")]);
        }
    }
}
