//! The OpenAPI 3.1 document of the API, `GET /api/v1/openapi.json`.
//!
//! It is generated from the code, so it cannot drift: every API route is registered through
//! [`utoipa_axum::routes!`] from a handler annotated with `#[utoipa::path]`, whose request and
//! response bodies are the handler's own types (`ToSchema`). The registration gives the router
//! and the document at once. This module adds what is common to every operation: the bearer
//! security scheme, and the error answers in the `{"error_code","message","details"}` shape
//! with the codes of SPEC §3 (`4XX`, `5XX`; an operation lists its specific ones too).

use std::borrow::Cow;

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, RefOr, ResponseBuilder, ServerBuilder, Tag,
};
use utoipa::{PartialSchema, ToSchema};

use crate::error::ErrorCode;

/// The error body every failure answers with.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// What went wrong, as a stable code.
    error_code: ErrorCode,
    /// The same in words, for people.
    message: String,
    /// Facts about the failure (the field at fault, the seats taken…); an object, maybe empty.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .description(Some("A stable error code (SPEC §3)."))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// `seat_ids` of a request: 1 to 100 distinct seat labels such as `A1`.
pub fn seat_ids() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9]{1,16}$")),
        )
        .min_items(Some(1))
        .max_items(Some(crate::inventory::MAX_SEATS_PER_REQUEST))
        .unique_items(true)
        .description(Some("Seat labels such as `A1` (1 to 100, no repeats)."))
        .build()
}

/// `roles` asked for at sign-up.
pub fn requested_roles() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["user", "organiser", "venue_owner"])),
        )
        .description(Some(
            "Roles beside `user`: `organiser`, `venue_owner` (`admin` only from the CLI).",
        ))
        .build()
}

/// A list of short texts (tags, artists): at most 30, each 1 to 80 characters, not blank.
pub fn short_texts() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(80))
                .pattern(Some(NOT_BLANK)),
        )
        .max_items(Some(30))
        .build()
}

/// Seat numbers of a row (whole numbers from 0 to 4294967295).
pub fn seat_numbers() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(u32::MAX)),
        )
        .build()
}

/// [`short_texts`], or `null` (left unchanged).
pub fn optional_short_texts() -> utoipa::openapi::schema::Array {
    let mut array = short_texts();
    array.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Array, Type::Null]);
    array
}

/// A text that is not only spaces.
pub const NOT_BLANK: &str = "\\S";

/// The name of the bearer security scheme (`security(("bearer" = []))` on an operation).
pub const BEARER: &str = "bearer";

/// Completes the document the routes gave: information, security, shared error answers.
pub fn document(mut api: OpenApi) -> OpenApi {
    api.openapi = utoipa::openapi::OpenApiVersion::Version31;
    api.info = InfoBuilder::new()
        .title("boxoffice")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Ticket booking for movies and concerts: venues and their seat layouts, events and \
             shows, live seat availability, a waiting room for onsales, seat holds, idempotent \
             bookings with payment, QR tickets and check-in. Errors answer \
             `{\"error_code\",\"message\",\"details\"}`. Times are RFC 3339 in the venue's \
             time zone; money is in minor units of the show's currency.",
        ))
        .build();
    api.servers = Some(vec![ServerBuilder::new().url("/").build()]);
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "The access token of `POST /api/v1/auth/login` (15 minutes; renew with \
                     `POST /api/v1/auth/refresh_token`).",
                ))
                .build(),
        ),
    );
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    components
        .schemas
        .insert(ErrorCode::name().into_owned(), ErrorCode::schema());
    let error = || {
        ResponseBuilder::new()
            .description("An error in the shape `{\"error_code\",\"message\",\"details\"}`.")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "ErrorBody",
                    ))))
                    .build(),
            )
            .build()
    };
    let mut tags = std::collections::BTreeSet::new();
    for item in api.paths.paths.values_mut() {
        for operation in operations(item) {
            for range in ["4XX", "5XX"] {
                operation
                    .responses
                    .responses
                    .entry(range.to_owned())
                    .or_insert_with(|| RefOr::T(error()));
            }
            tags.extend(operation.tags.iter().flatten().cloned());
        }
    }
    api.tags = Some(tags.into_iter().map(Tag::new).collect());
    api
}

/// Every operation of a path item.
fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}
