//! Rooms: creation, sending, membership and reading.

pub mod create;
pub mod directory;
pub mod membership;
pub mod read;
pub mod receipts;
pub mod relations;
pub mod reports;
pub mod send;
pub mod typing;
pub mod upgrade;

use hanse_core::Error;
use hanse_http::MatrixError;
use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};

use serde_json::{Map, Value};

pub(crate) use hanse_http::{event_id, room_id, user_id};

/// Event content as canonical JSON: events may not carry floats or
/// integers beyond 2^53 (M_BAD_JSON).
fn content(object: Map<String, Value>) -> Result<CanonicalJsonObject, MatrixError> {
    match CanonicalJsonValue::try_from(Value::Object(object)) {
        Ok(CanonicalJsonValue::Object(object)) => Ok(object),
        Ok(_) => unreachable!("an object converts to an object"),
        Err(error) => {
            Err(Error::BadJson(format!("the content is not valid in an event: {error}")).into())
        }
    }
}
