//! /pushrules: the session user's push rules.

use actix_web::{web, HttpResponse};
use hanse_core::accounts::push_rules::{rule_kind, rule_to_edit};
use hanse_core::accounts::Session;
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use hanse_protocol::push_rules::{Action, Position, PushRule};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authenticated;

/// GET /pushrules/: the whole ruleset, under its scope.
pub async fn all(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    let ruleset = homeserver.push_rules(&session.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "global": *ruleset })))
}

/// GET /pushrules/global/.
pub async fn global(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(&*homeserver.push_rules(&session.user_id).await?))
}

/// The rule a `{kind}/{ruleId}` path names.
async fn named_rule(
    homeserver: &Homeserver,
    session: &Session,
    path: web::Path<(String, String)>,
) -> Result<PushRule, MatrixError> {
    let (kind, rule_id) = path.into_inner();
    Ok(homeserver
        .push_rule(session, rule_kind(&kind)?, &rule_id)
        .await?)
}

pub async fn get(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let rule = named_rule(&homeserver, &session, path).await?;
    Ok(HttpResponse::Ok().json(rule))
}

#[derive(Debug, Deserialize)]
pub struct Placement {
    before: Option<String>,
    after: Option<String>,
}

pub async fn put(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    placement: web::Query<Placement>,
    Json(body): Json<Value>,
) -> Result<HttpResponse, MatrixError> {
    let (kind, rule_id) = path.into_inner();
    let kind = rule_kind(&kind)?;
    let rule = PushRule::from_request(kind, &rule_id, &body)
        .map_err(|e| hanse_core::Error::InvalidParam(e.to_string()))?;
    let position = Position::from_query(placement.before.as_deref(), placement.after.as_deref());
    homeserver
        .edit_push_rules(&session, |ruleset| {
            ruleset.insert_user_rule(kind, rule.clone(), position)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn delete(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (kind, rule_id) = path.into_inner();
    let kind = rule_kind(&kind)?;
    homeserver
        .edit_push_rules(&session, |ruleset| {
            ruleset.remove_user_rule(kind, &rule_id).map(drop)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn get_enabled(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let rule = named_rule(&homeserver, &session, path).await?;
    Ok(HttpResponse::Ok().json(json!({ "enabled": rule.enabled })))
}

#[derive(Debug, Deserialize)]
pub struct EnabledBody {
    enabled: bool,
}

pub async fn set_enabled(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    Json(body): Json<EnabledBody>,
) -> Result<HttpResponse, MatrixError> {
    let (kind, rule_id) = path.into_inner();
    let kind = rule_kind(&kind)?;
    homeserver
        .edit_push_rules(&session, |ruleset| {
            rule_to_edit(ruleset, kind, &rule_id)?.enabled = body.enabled;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn get_actions(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let rule = named_rule(&homeserver, &session, path).await?;
    Ok(HttpResponse::Ok().json(json!({ "actions": rule.actions })))
}

#[derive(Debug, Deserialize)]
pub struct ActionsBody {
    actions: Value,
}

pub async fn set_actions(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    Json(body): Json<ActionsBody>,
) -> Result<HttpResponse, MatrixError> {
    let (kind, rule_id) = path.into_inner();
    let kind = rule_kind(&kind)?;
    let actions: Vec<Action> = Action::list_from_request(&body.actions)
        .map_err(|e| hanse_core::Error::InvalidParam(e.to_string()))?;
    homeserver
        .edit_push_rules(&session, |ruleset| {
            rule_to_edit(ruleset, kind, &rule_id)?.actions = actions.clone();
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
