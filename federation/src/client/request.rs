//! One signed request and the reading of its answer.

use std::error::Error as _;

use hanse_core::remote::{RemoteError, RemoteMethod, RemoteRequest};
use hanse_core::ServerIdentity;
use hanse_protocol::canonical_json::CanonicalJsonValue;
use hanse_protocol::identifiers::ServerName;
use hanse_protocol::x_matrix::SignedRequest;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use reqwest::{Method, Response, Url};

use super::discovery::Target;

/// A request ready to send: signed, its body serialized as signed.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub method: Method,
    pub url: Url,
    pub authorization: String,
    /// The canonical JSON of the body: the bytes that were signed.
    pub body: Option<String>,
}

/// Signs `request` from `identity` to `destination` (the server name, not
/// the host it resolves to: the receiver checks its own name), to be sent
/// to `target`.
pub(crate) fn prepare(
    identity: &ServerIdentity,
    destination: &ServerName,
    target: &Target,
    request: RemoteRequest,
) -> Result<Prepared, RemoteError> {
    let invalid = |reason: String| RemoteError::InvalidRequest {
        server: destination.as_str().to_owned(),
        reason,
    };
    let content = request
        .body
        .map(CanonicalJsonValue::try_from)
        .transpose()
        .map_err(|e| invalid(format!("the body is not canonical JSON: {e}")))?;
    let method = match request.method {
        RemoteMethod::Get => Method::GET,
        RemoteMethod::Put => Method::PUT,
        RemoteMethod::Post => Method::POST,
    };
    let url = Url::parse(&format!(
        "https://{}:{}{}",
        target.host, target.port, request.path
    ))
    .map_err(|e| invalid(format!("{:?} makes no URL: {e}", request.path)))?;
    // The target as it will be sent, which the receiver verifies: the URL
    // parser percent-encodes what the path left unencoded.
    let uri = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let header = SignedRequest {
        method: method.as_str(),
        uri: &uri,
        origin: identity.server_name.as_str(),
        destination: destination.as_str(),
        content: content.as_ref(),
    }
    .sign(&identity.signing_key)
    .map_err(|e| invalid(e.to_string()))?;
    Ok(Prepared {
        method,
        url,
        authorization: header.to_string(),
        body: content.map(|c| c.to_canonical_string()),
    })
}

/// Sends `prepared` to `target` and reads the JSON answer of a 2xx
/// response, at most `max_bytes` of it.
pub(crate) async fn send(
    http: &reqwest::Client,
    destination: &ServerName,
    target: &Target,
    prepared: Prepared,
    max_bytes: u64,
) -> Result<serde_json::Value, RemoteError> {
    let server = || destination.as_str().to_owned();
    let unreachable = |reason: String| RemoteError::Unreachable {
        server: server(),
        reason,
    };
    let invalid = |reason: String| RemoteError::InvalidResponse {
        server: server(),
        reason,
    };
    let mut builder = http
        .request(prepared.method, prepared.url)
        .header(HOST, &target.host_header)
        .header(AUTHORIZATION, prepared.authorization);
    if let Some(body) = prepared.body {
        builder = builder.header(CONTENT_TYPE, "application/json").body(body);
    }
    let response = builder
        .send()
        .await
        .map_err(|e| unreachable(describe(&e)))?;
    let status = response.status();
    let body = read_body(response, max_bytes).await.map_err(|e| match e {
        BodyError::TooLarge => invalid(format!(
            "the answer is larger than {max_bytes} bytes (federation.max_response_bytes)"
        )),
        BodyError::Transport(e) => unreachable(describe(&e)),
    })?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|e| invalid(format!("{status} with a body that is not JSON: {e}")));
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(error) if error.get("errcode").is_some_and(|c| c.is_string()) => {
            let text = |key: &str| {
                error
                    .get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            Err(RemoteError::Matrix {
                server: server(),
                status: status.as_u16(),
                errcode: text("errcode"),
                message: text("error"),
            })
        }
        _ => Err(invalid(format!("{status} without a Matrix error"))),
    }
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// It is larger than the limit; nothing past the limit was read.
    TooLarge,
    Transport(reqwest::Error),
}

/// The body of `response`, refused as soon as it is known to pass
/// `max_bytes`: from its Content-Length, or while it streams in.
pub(crate) async fn read_body(
    mut response: Response,
    max_bytes: u64,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|len| len > max_bytes) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What went wrong with a request, with the causes reqwest keeps out of
/// its own message (the refused connection, the certificate error).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
