//! Typed, validated input. Bodies must be `application/json`, deserialise into
//! structs that reject unknown fields, and then pass their own [`Validate`] checks.
//! Rejections become problem documents that name the field but never echo values.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldError};

/// Input that checks itself after deserialisation, normalising where needed.
pub trait Validate: Sized {
    fn validate(self) -> Result<Self, Vec<FieldError>>;
}

/// A JSON body, deserialised strictly and validated.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T, S> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        let value: T = parse_json(&bytes)?;
        value
            .validate()
            .map(ValidJson)
            .map_err(ApiError::Validation)
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

pub fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::Malformed("the request body could not be read".into())
    }
}

/// Deserialises JSON, turning serde's messages (which may quote input) into safe,
/// field-level problems.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if nesting_depth(bytes) > MAX_JSON_DEPTH {
        return Err(ApiError::Malformed(format!(
            "the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => {
            deserializer
                .end()
                .map_err(|_| ApiError::Malformed("trailing data after the JSON value".into()))?;
            Ok(value)
        }
        Err(err) => Err(json_problem(&err)),
    }
}

/// No request of this API nests deeper; anything more is refused before parsing.
pub const MAX_JSON_DEPTH: usize = 16;

/// The deepest nesting of arrays and objects, counting only brackets outside strings.
fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in bytes {
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
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn json_problem(err: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = err.inner();
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return ApiError::Malformed(format!(
            "the body is not valid JSON (line {}, column {})",
            inner.line(),
            inner.column()
        ));
    }
    let message = inner.to_string();
    let path = safe_path(&err.path().to_string());
    let (field, code, text) = if message.starts_with("unknown field") {
        (path, "unknown_field", "is not an accepted field")
    } else if let Some(name) = message.strip_prefix("missing field `") {
        let name = safe_path(name.split('`').next().unwrap_or(""));
        let field = if path == "." {
            name
        } else {
            format!("{path}.{name}")
        };
        (field, "required", "is required")
    } else if message.starts_with("invalid type") {
        (path, "wrong_type", "has the wrong type")
    } else if message.starts_with("invalid length") {
        (path, "wrong_length", "has the wrong number of elements")
    } else {
        (path, "invalid", "has an invalid value")
    };
    ApiError::Validation(vec![FieldError::new(field, code, text)])
}

/// Keeps a field path printable and short: it is built from the client's keys.
fn safe_path(path: &str) -> String {
    path.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'))
        .take(100)
        .collect()
}

/// Query string parameters, strictly typed.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ValidQuery<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(query_rejection)?;
        value
            .validate()
            .map(ValidQuery)
            .map_err(ApiError::Validation)
    }
}

fn query_rejection(_: QueryRejection) -> ApiError {
    ApiError::field(
        "query",
        "invalid",
        "the query string has an invalid or unknown parameter",
    )
}

/// Path parameters; a malformed one is a 404-free 400. Identifiers and handles never
/// hold control characters, and PostgreSQL refuses NUL in text, so a parameter with
/// one is malformed rather than a database error.
#[derive(Debug)]
pub struct ValidPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ValidPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| malformed_path())?;
        if raw
            .iter()
            .any(|(_, value)| value.chars().any(char::is_control))
        {
            return Err(malformed_path());
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ValidPath(v))
            .map_err(path_rejection)
    }
}

fn path_rejection(_: PathRejection) -> ApiError {
    malformed_path()
}

fn malformed_path() -> ApiError {
    ApiError::Malformed("a path parameter is malformed".into())
}

/// Checks shared by many request types.
pub mod check {
    use unicode_normalization::UnicodeNormalization;

    use super::FieldError;

    /// NFC-normalises and trims free text, then bounds its length in characters and
    /// refuses control characters.
    pub fn text(
        errors: &mut Vec<FieldError>,
        field: &str,
        value: &str,
        min: usize,
        max: usize,
    ) -> String {
        let normalised: String = value.nfc().collect::<String>().trim().to_owned();
        let length = normalised.chars().count();
        if length < min {
            let message = if min <= 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be at least {min} characters")
            };
            errors.push(FieldError::new(field, "too_short", message));
        } else if length > max {
            errors.push(FieldError::new(
                field,
                "too_long",
                format!("must be at most {max} characters"),
            ));
        }
        if ironcart_dlp::contains_card_number(&normalised) {
            errors.push(FieldError::new(
                field,
                "card_number",
                "must not contain a payment card number; card data is never stored",
            ));
        }
        if normalised.chars().any(char::is_control) {
            errors.push(FieldError::new(
                field,
                "control_characters",
                "must not contain control characters",
            ));
        }
        normalised
    }

    pub fn range(errors: &mut Vec<FieldError>, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            errors.push(FieldError::new(
                field,
                "out_of_range",
                format!("must be between {min} and {max}"),
            ));
        }
    }

    /// Finishes a validation: the value if no check failed.
    pub fn finish<T>(errors: Vec<FieldError>, value: T) -> Result<T, Vec<FieldError>> {
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nesting_depth;

    #[test]
    fn nesting_is_measured_outside_strings_only() {
        assert_eq!(nesting_depth(br#"{"a":[1,{"b":2}]}"#), 3);
        assert_eq!(nesting_depth(br#"{"a":"[[[[{{{{"}"#), 1);
        assert_eq!(nesting_depth(br#"{"a":"\"[[["}"#), 1);
        assert_eq!(nesting_depth("[".repeat(10_000).as_bytes()), 10_000);
    }
}
