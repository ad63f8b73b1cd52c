//! The shared middleware and JSON extractor on a real server over loopback:
//! a panicking handler, malformed and oversize JSON bodies.

use std::net::TcpListener;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use hanse_http::{endpoint, middleware, unrecognized_path, BodyLimit, Json};
use serde::Deserialize;
use serde_json::{json, Value};

const LIMIT: usize = 1024;

#[derive(Debug, Deserialize)]
struct Greeting {
    name: String,
    times: u8,
}

async fn greet(Json(greeting): Json<Greeting>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "greeting": greeting.name.repeat(greeting.times.into()) }))
}

async fn explode() -> HttpResponse {
    panic!("a handler bug");
}

async fn explode_before_awaiting() -> HttpResponse {
    let numbers: Vec<u32> = Vec::new();
    HttpResponse::Ok().json(numbers[3])
}

/// Starts a server on a loopback port; returns its base URL.
fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = HttpServer::new(|| {
        App::new()
            .app_data(BodyLimit(LIMIT))
            .wrap(from_fn(middleware::reject_oversize_bodies))
            .wrap(from_fn(middleware::cors))
            .service(endpoint("/greet").route(web::post().to(greet)))
            .service(endpoint("/explode").route(web::get().to(explode)))
            .service(endpoint("/explode-early").route(web::get().to(explode_before_awaiting)))
            .default_service(web::to(unrecognized_path))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    base
}

async fn post(base: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/greet"))
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_server_lives_on() {
    let base = start();
    for path in ["/explode", "/explode-early", "/explode"] {
        let response = reqwest::get(format!("{base}{path}"))
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 500);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["errcode"], "M_UNKNOWN");
    }
    let (status, body) = post(&base, r#"{"name":"hi","times":2}"#).await;
    assert_eq!((status, body), (200, json!({ "greeting": "hihi" })));
}

#[tokio::test]
async fn json_bodies_are_checked() {
    let base = start();
    let cases: &[(&str, u16, &str)] = &[
        ("{", 400, "M_NOT_JSON"),
        ("", 400, "M_NOT_JSON"),
        ("name=x", 400, "M_NOT_JSON"),
        (r#"{"name":"x","times":1} {}"#, 400, "M_NOT_JSON"),
        (r#"{"name":"x"}"#, 400, "M_BAD_JSON"),
        (r#"{"name":"x","times":"1"}"#, 400, "M_BAD_JSON"),
        (r#"{"name":"x","times":300}"#, 400, "M_BAD_JSON"),
        ("[]", 400, "M_BAD_JSON"),
    ];
    for (body, status, errcode) in cases {
        let (got_status, got) = post(&base, *body).await;
        assert_eq!(
            (got_status, got["errcode"].as_str()),
            (*status, Some(*errcode)),
            "{body}"
        );
    }
    let (_, wrong_type) = post(&base, r#"{"name":"x","times":"1"}"#).await;
    assert!(
        wrong_type["error"]
            .as_str()
            .expect("error")
            .contains("times"),
        "{wrong_type}"
    );
}

#[tokio::test]
async fn oversize_bodies_are_refused_with_or_without_a_length() {
    let base = start();
    let big = format!(r#"{{"name":"{}","times":1}}"#, "x".repeat(LIMIT));
    let (status, body) = post(&base, big.clone()).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (413, Some("M_TOO_LARGE"))
    );

    // Chunked, so no Content-Length: refused while reading.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(100)
        .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
        .collect();
    let stream = futures_util::stream::iter(chunks);
    let (status, body) = post(&base, reqwest::Body::wrap_stream(stream)).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (413, Some("M_TOO_LARGE"))
    );
}
