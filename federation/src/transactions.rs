//! PUT /_matrix/federation/v1/send/{txnId}: the transactions other
//! servers push, with a result per PDU.

use actix_web::{web, HttpResponse};
use hanse_core::federation::receive::Transaction;
use hanse_core::Homeserver;
use hanse_http::MatrixError;

use crate::auth::SignedJson;

pub async fn send_transaction(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
    request: SignedJson<Transaction>,
) -> Result<HttpResponse, MatrixError> {
    let txn_id = path.into_inner();
    let answer = homeserver
        .receive_transaction(&request.origin, &txn_id, request.body)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
