//! The request body size limit, set once by the server for the whole app.

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
