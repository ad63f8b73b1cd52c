//! Request authentication between servers: the `X-Matrix` Authorization
//! header.
//!
//! The sending server signs a JSON object made of the request's method,
//! target (path and query), both server names and the JSON body, and puts
//! the signature in the header with its key ID. The receiver rebuilds the
//! same object with *its own* name as the destination (older servers leave
//! the header's `destination` out, yet always signed it) and verifies the
//! signature with the origin's key.
//!
//! The header follows RFC 9110's auth-param grammar: names are
//! case-insensitive, values are tokens or quoted strings with backslash
//! escapes, and unknown parameters are ignored. For older senders a colon
//! is accepted in an unquoted value.

use std::fmt;

use crate::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use crate::identifiers::{IdError, KeyId, ServerName};
use crate::signing::{verify_json, ServerSigningKey, SignJsonError, VerifyError, VerifyingKey};

const SCHEME: &str = "X-Matrix";

/// The parameters of an `X-Matrix` Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XMatrix {
    pub origin: ServerName,
    /// Absent from requests of servers older than spec v1.3.
    pub destination: Option<ServerName>,
    pub key: KeyId,
    /// Unpadded base64.
    pub sig: String,
}

/// Why a header or the request it signs is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XMatrixError {
    #[error("the Authorization header does not use the X-Matrix scheme")]
    NotXMatrix,
    #[error("the X-Matrix header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the X-Matrix header has no {0} parameter")]
    MissingParameter(&'static str),
    #[error("the X-Matrix header gives {0} twice")]
    RepeatedParameter(&'static str),
    #[error("the X-Matrix header's {parameter} is invalid: {error}")]
    InvalidParameter {
        parameter: &'static str,
        error: IdError,
    },
    #[error("the request is addressed to {0}, not this server")]
    WrongDestination(String),
    #[error("the request's signature does not verify: {0}")]
    BadSignature(VerifyError),
    #[error("the request cannot be signed: {0}")]
    CannotSign(SignJsonError),
}

/// What a request signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path with the query string, as sent (`/_matrix/...?...`).
    pub uri: &'a str,
    pub origin: &'a str,
    pub destination: &'a str,
    /// The JSON body, if the request has one.
    pub content: Option<&'a CanonicalJsonValue>,
}

impl SignedRequest<'_> {
    fn object(&self) -> CanonicalJsonObject {
        let mut object = CanonicalJsonObject::new();
        let mut put = |name: &str, value: &str| {
            object.insert(
                name.to_owned(),
                CanonicalJsonValue::String(value.to_owned()),
            );
        };
        put("method", self.method);
        put("uri", self.uri);
        put("origin", self.origin);
        put("destination", self.destination);
        if let Some(content) = self.content {
            object.insert("content".to_owned(), content.clone());
        }
        object
    }

    /// Signs the request with this server's key: the header to send.
    pub fn sign(&self, key: &ServerSigningKey) -> Result<XMatrix, XMatrixError> {
        let origin =
            ServerName::parse(self.origin).map_err(|error| XMatrixError::InvalidParameter {
                parameter: "origin",
                error,
            })?;
        let destination = ServerName::parse(self.destination).map_err(|error| {
            XMatrixError::InvalidParameter {
                parameter: "destination",
                error,
            }
        })?;
        let mut object = self.object();
        key.sign_json(self.origin, &mut object)
            .map_err(XMatrixError::CannotSign)?;
        let sig = object
            .get("signatures")
            .and_then(|s| s.as_object())
            .and_then(|s| s.get(self.origin))
            .and_then(|s| s.as_object())
            .and_then(|s| s.get(key.key_id().as_str()))
            .and_then(|s| s.as_str())
            .map(str::to_owned)
            .ok_or(XMatrixError::Malformed("the signature went missing"))?;
        Ok(XMatrix {
            origin,
            destination: Some(destination),
            key: key.key_id().clone(),
            sig,
        })
    }
}

impl XMatrix {
    /// Parses an Authorization header value.
    pub fn parse(header: &str) -> Result<Self, XMatrixError> {
        let (scheme, params) = header.split_once(' ').ok_or(XMatrixError::NotXMatrix)?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return Err(XMatrixError::NotXMatrix);
        }
        let mut origin = None;
        let mut destination = None;
        let mut key = None;
        let mut sig = None;
        for (name, value) in auth_params(params)? {
            let slot = match name.to_ascii_lowercase().as_str() {
                "origin" => (&mut origin, "origin"),
                "destination" => (&mut destination, "destination"),
                "key" => (&mut key, "key"),
                "sig" => (&mut sig, "sig"),
                _ => continue,
            };
            if slot.0.replace(value).is_some() {
                return Err(XMatrixError::RepeatedParameter(slot.1));
            }
        }
        let invalid = |parameter| move |error| XMatrixError::InvalidParameter { parameter, error };
        let origin = origin.ok_or(XMatrixError::MissingParameter("origin"))?;
        let key = key.ok_or(XMatrixError::MissingParameter("key"))?;
        Ok(Self {
            origin: ServerName::parse(&origin).map_err(invalid("origin"))?,
            destination: destination
                .map(|d| ServerName::parse(&d).map_err(invalid("destination")))
                .transpose()?,
            key: KeyId::parse(&key).map_err(invalid("key"))?,
            sig: sig.ok_or(XMatrixError::MissingParameter("sig"))?,
        })
    }

    /// Verifies that the header's origin signed this request (`uri`,
    /// `method`, `content`) to `this_server` with `key`, the origin's key
    /// named in the header.
    pub fn verify(
        &self,
        method: &str,
        uri: &str,
        this_server: &str,
        content: Option<&CanonicalJsonValue>,
        key: &VerifyingKey,
    ) -> Result<(), XMatrixError> {
        if let Some(destination) = &self.destination {
            if destination.as_str() != this_server {
                return Err(XMatrixError::WrongDestination(
                    destination.as_str().to_owned(),
                ));
            }
        }
        let request = SignedRequest {
            method,
            uri,
            origin: self.origin.as_str(),
            destination: this_server,
            content,
        };
        let mut object = request.object();
        let mut by_key = CanonicalJsonObject::new();
        by_key.insert(
            self.key.as_str().to_owned(),
            CanonicalJsonValue::String(self.sig.clone()),
        );
        let mut signatures = CanonicalJsonObject::new();
        signatures.insert(
            self.origin.as_str().to_owned(),
            CanonicalJsonValue::Object(by_key),
        );
        object.insert(
            "signatures".to_owned(),
            CanonicalJsonValue::Object(signatures),
        );
        verify_json(self.origin.as_str(), &self.key, key, &object)
            .map_err(XMatrixError::BadSignature)
    }
}

impl fmt::Display for XMatrix {
    /// The header value as older servers expect it: one space after the
    /// scheme, lower-case names, every value quoted, no spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME} origin=\"{}\"", self.origin.as_str())?;
        if let Some(destination) = &self.destination {
            write!(f, ",destination=\"{}\"", destination.as_str())?;
        }
        write!(f, ",key=\"{}\",sig=\"{}\"", self.key.as_str(), self.sig)
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_whitespace(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The comma-separated `name=value` pairs after the scheme, values
/// unquoted and unescaped.
fn auth_params(input: &str) -> Result<Vec<(String, String)>, XMatrixError> {
    let mut chars = input.chars().peekable();
    let mut params = Vec::new();
    loop {
        while chars.next_if(|c| is_whitespace(*c) || *c == ',').is_some() {}
        if chars.peek().is_none() {
            return Ok(params);
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| is_token_char(*c)) {
            name.push(c);
        }
        if name.is_empty() {
            return Err(XMatrixError::Malformed("a parameter name is expected"));
        }
        while chars.next_if(|c| is_whitespace(*c)).is_some() {}
        if chars.next() != Some('=') {
            return Err(XMatrixError::Malformed("a parameter has no value"));
        }
        while chars.next_if(|c| is_whitespace(*c)).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().ok_or(XMatrixError::Malformed(
                        "a quoted value ends in a backslash",
                    ))?),
                    Some(c) => value.push(c),
                    None => return Err(XMatrixError::Malformed("a quoted value is not closed")),
                }
            }
        } else {
            // Colons are not token characters, but older servers send
            // server names with ports unquoted.
            while let Some(c) = chars.next_if(|c| is_token_char(*c) || *c == ':') {
                value.push(c);
            }
            if value.is_empty() {
                return Err(XMatrixError::Malformed("a parameter value is empty"));
            }
        }
        while chars.next_if(|c| is_whitespace(*c)).is_some() {}
        match chars.peek() {
            None | Some(',') => params.push((name, value)),
            Some(_) => {
                return Err(XMatrixError::Malformed(
                    "parameters must be separated by commas",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
