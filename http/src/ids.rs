//! Identifiers from request paths, queries and bodies, parsed with the
//! error both APIs give for a malformed one (400 M_INVALID_PARAM).

use actix_web::HttpRequest;
use hanse_core::Error;
use hanse_protocol::identifiers::{EventId, RoomId, UserId};

use crate::MatrixError;

pub fn room_id(raw: &str) -> Result<RoomId, MatrixError> {
    RoomId::parse(raw)
        .map_err(|e| Error::InvalidParam(format!("invalid room ID {raw:?}: {e}")).into())
}

pub fn event_id(raw: &str) -> Result<EventId, MatrixError> {
    EventId::parse(raw)
        .map_err(|e| Error::InvalidParam(format!("invalid event ID {raw:?}: {e}")).into())
}

pub fn user_id(raw: &str) -> Result<UserId, MatrixError> {
    UserId::parse(raw)
        .map_err(|e| Error::InvalidParam(format!("invalid user ID {raw:?}: {e}")).into())
}

/// Every value of the query parameter `name`, which may repeat
/// (`?ver=10&ver=11`), percent-decoded.
pub fn query_values(req: &HttpRequest, name: &str) -> Result<Vec<String>, MatrixError> {
    let pairs: Vec<(String, String)> =
        actix_web::web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|e| Error::InvalidParam(format!("the query string is malformed: {e}")))?
            .into_inner();
    Ok(pairs
        .into_iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value)
        .collect())
}
