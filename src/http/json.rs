//! Request extractors whose rejections come back in our error shape, naming the offending field.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::strict::{Strict, NUL_MESSAGE};
use crate::error::{ApiError, ErrorCode};

/// A JSON body. Malformed JSON, a wrong type or a missing field is a 400 naming the field
/// (`details.field`); a body over the limit is 413; a non-JSON content type is 415.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Expected a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON document, reporting the path of the first offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "Request body is empty; expected a JSON object",
        ));
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("Request body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|err| {
        let path = err.path().to_string();
        json_error(&path, &err.into_inner())
    })?;
    de.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

/// Turns a serde error at `path` into a 400 naming the field where there is one.
fn json_error(path: &str, inner: &serde_json::Error) -> ApiError {
    let message = inner.to_string();
    // serde_json appends " at line L column C"; the field path says more.
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    let known_path = path != "." && path != "?";
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::invalid(format!("Malformed JSON body: {message}"))
            .with_details(json!({ "field": if known_path { Some(path) } else { None } }));
    }
    // A missing field is reported at its parent; name the field itself.
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let field = if known_path {
            format!("{path}.{name}")
        } else {
            name.to_owned()
        };
        return ApiError::invalid_field(field.clone(), format!("Field `{field}` is required"));
    }
    if !known_path {
        return ApiError::invalid(format!("Invalid request body: {message}"));
    }
    ApiError::invalid_field(path, format!("Invalid field `{path}`: {message}"))
}

fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                ErrorCode::RequestTimeout,
                "The request body took too long to arrive",
            );
        }
        cause = error.source();
    }
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge, "Request body is too large")
    } else {
        ApiError::invalid(format!(
            "Cannot read request body: {}",
            rejection.body_text()
        ))
    }
}

/// Query parameters; a wrong type is a 400 naming the parameter. An empty value means the
/// parameter is absent (`?cat=&page=`), and text never contains a NUL character.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let mut pairs = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if name.contains('\0') || value.contains('\0') {
                let field = name.replace('\0', "");
                return Err(ApiError::invalid_field(
                    field.clone(),
                    format!("Invalid query parameter `{field}`: {NUL_MESSAGE}"),
                ));
            }
            if !value.is_empty() {
                pairs.push((name, value));
            }
        }
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                ApiError::invalid_field(
                    path.clone(),
                    format!("Invalid query parameter `{path}`: {}", err.into_inner()),
                )
            })
    }
}

/// Path parameters; a non-numeric id is a 400 naming it.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(ApiPath(p.0)),
            Err(rejection) => {
                let mut error = path_rejection(rejection);
                // A route with a single parameter: name it.
                if error.details.get("field").is_none() {
                    if let Ok(raw) =
                        axum::extract::RawPathParams::from_request_parts(parts, state).await
                    {
                        let names: Vec<&str> = raw.iter().map(|(k, _)| k).collect();
                        if let [only] = names.as_slice() {
                            error = error.with_details(json!({ "field": only }));
                        }
                    }
                }
                Err(error)
            }
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    let field = match &rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::InvalidUtf8InPathParam { key } => {
                Some(key.clone())
            }
            ErrorKind::ParseError { .. } | ErrorKind::ParseErrorAtIndex { .. } => None,
            _ => None,
        },
        _ => None,
    };
    let error = ApiError::invalid(format!("Invalid path parameter: {}", rejection.body_text()));
    match field {
        Some(field) => error.with_details(json!({ "field": field })),
        None => error,
    }
}
