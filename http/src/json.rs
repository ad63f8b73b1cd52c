//! JSON request bodies: read up to the configured limit, then parsed with
//! the error the spec asks for: M_TOO_LARGE, M_NOT_JSON for bytes that are
//! not JSON, M_BAD_JSON naming the field for JSON of the wrong shape.

use actix_web::dev::Payload;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::{BodyLimit, MatrixError};

/// A request body deserialised from JSON.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = MatrixError;
    type Future = LocalBoxFuture<'static, Result<Self, MatrixError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move { parse(&body.await?).map(Json) })
    }
}

/// A JSON request body that clients may leave out altogether, as some do
/// on the first step of user-interactive authentication; an empty body
/// reads as `T::default()`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = MatrixError;
    type Future = LocalBoxFuture<'static, Result<Self, MatrixError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(T::default()));
            }
            parse(&body).map(OptionalJson)
        })
    }
}

/// Reads the whole body, refusing it once it passes the configured limit.
pub fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl std::future::Future<Output = Result<BytesMut, MatrixError>> {
    let limit = BodyLimit::of(req);
    let mut payload = payload.take();
    async move {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(MatrixError::not_json)?;
            if body.len() + chunk.len() > limit {
                return Err(MatrixError::too_large(limit as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Parses `body` as a `T`, telling bytes that are not JSON apart from JSON
/// that does not fit `T`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, MatrixError> {
    // Syntax first, so a body that is no JSON at all is called that even
    // when its beginning already fails to fit `T`.
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(MatrixError::not_json)?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            if path == "." {
                MatrixError::bad_json(format!("Invalid request body: {inner}"))
            } else {
                MatrixError::bad_json(format!("Invalid field `{path}`: {inner}"))
            }
        } else {
            MatrixError::not_json(inner)
        }
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        user: String,
        device: Device,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Device {
        id: String,
        count: u32,
    }

    fn error_of(body: &str) -> MatrixError {
        parse::<Login>(body.as_bytes()).expect_err("should be refused")
    }

    #[test]
    fn well_formed_body_parses() {
        let ok: Login = parse(br#"{"user":"a","device":{"id":"D","count":2}}"#).expect("parses");
        assert_eq!(ok.device.count, 2);
    }

    #[test]
    fn syntax_errors_are_not_json() {
        for body in [
            "",
            "{",
            "{\"user\":}",
            "not json",
            "{} trailing",
            "\u{feff}{}",
        ] {
            assert_eq!(error_of(body).errcode, ErrorCode::NotJson, "{body:?}");
        }
    }

    #[test]
    fn shape_errors_are_bad_json_and_name_the_field() {
        let wrong_type = error_of(r#"{"user":"a","device":{"id":"D","count":"two"}}"#);
        assert_eq!(wrong_type.errcode, ErrorCode::BadJson);
        assert!(
            wrong_type.error.contains("device.count"),
            "{}",
            wrong_type.error
        );

        let missing = error_of(r#"{"user":"a"}"#);
        assert_eq!(missing.errcode, ErrorCode::BadJson);
        assert!(missing.error.contains("device"), "{}", missing.error);

        let not_object = error_of("[1,2]");
        assert_eq!(not_object.errcode, ErrorCode::BadJson);
    }
}
