//! The request body size limits, set once by the server for the whole app:
//! one for JSON bodies, read into memory, and one for uploads, which their
//! handlers stream to disk.

use actix_web::HttpRequest;

/// Largest request body accepted, in bytes. Stored as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    /// Used when the server registered no limit (only in tests of single
    /// extractors): the documented default of `max_request_body_bytes`.
    pub const DEFAULT: usize = 1024 * 1024;

    pub fn of(req: &HttpRequest) -> usize {
        req.app_data::<BodyLimit>()
            .map_or(Self::DEFAULT, |limit| limit.0)
    }
}

/// Requests whose path starts with `path_prefix` are uploads: their
/// handlers stream the body to disk and enforce this limit as they go, so
/// the JSON limit does not apply to them. Stored as app data.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimit {
    pub path_prefix: &'static str,
    pub bytes: u64,
}

/// The largest body `req` may have: the upload limit on upload paths, the
/// JSON limit elsewhere.
pub fn body_limit_for(req: &HttpRequest) -> u64 {
    match req.app_data::<UploadLimit>() {
        Some(upload) if req.path().starts_with(upload.path_prefix) => upload.bytes,
        _ => BodyLimit::of(req) as u64,
    }
}
