//! Rendering user-interactive authentication challenges.

use actix_web::HttpResponse;
use hanse_core::accounts::uia::{Authorised, Challenge, UiaOutcome};
use hanse_http::MatrixError;
use serde_json::{json, Value};

/// The session's authorisation, or the 401 challenge to send back (boxed:
/// a response is large and the challenge is the uncommon path).
pub fn authorised(outcome: UiaOutcome) -> Result<Authorised, Box<HttpResponse>> {
    match outcome {
        UiaOutcome::Authorised(authorised) => Ok(authorised),
        UiaOutcome::Challenge(challenge) => Err(Box::new(challenge_response(challenge))),
    }
}

fn challenge_response(challenge: Challenge) -> HttpResponse {
    let flows: Vec<Value> = challenge
        .flows
        .iter()
        .map(|stages| json!({ "stages": stages }))
        .collect();
    let mut body = json!({
        "flows": flows,
        "params": {},
        "session": challenge.session,
    });
    if !challenge.completed.is_empty() {
        body["completed"] = json!(challenge.completed);
    }
    if let Some(error) = challenge.error {
        let error = MatrixError::from(error);
        body["errcode"] = json!(error.errcode.as_str());
        body["error"] = json!(error.error);
    }
    HttpResponse::Unauthorized().json(body)
}
