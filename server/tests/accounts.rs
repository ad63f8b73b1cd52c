//! Accounts over HTTP against a real server and database: registration,
//! login, tokens, devices, passwords, deactivation, profiles.

use std::time::Duration;

use hanse_core::RegistrationPolicy;
use hanse_sdk::{Client, Method};
use hanse_server::testing::{TestOptions, TestServer};
use serde_json::{json, Value};

mod common;

use common::{outcome, PASSWORD};

async fn server_with(registration: RegistrationPolicy, token_lifetime: Duration) -> TestServer {
    let mut options = TestOptions::default();
    options.settings.registration = registration;
    options.settings.refreshable_token_lifetime = token_lifetime;
    TestServer::start_with(options).await
}

#[tokio::test]
async fn register_login_whoami_logout() {
    let server = TestServer::start().await;
    let anonymous = Client::new(&server.client_url);

    // The first call asks for authentication, naming the flow.
    let (status, challenge) = anonymous
        .send_raw(
            Method::POST,
            "/_matrix/client/v3/register",
            &json!({ "username": "alice", "password": PASSWORD }),
        )
        .await
        .expect("request");
    assert_eq!(status, 401);
    assert_eq!(challenge["flows"], json!([{ "stages": ["m.login.dummy"] }]));
    assert!(challenge["session"].as_str().is_some_and(|s| !s.is_empty()));

    let registered = anonymous
        .register("Alice", PASSWORD, None)
        .await
        .expect("register");
    let server_name = server.homeserver.identity.server_name.as_str();
    assert_eq!(
        registered.user_id,
        format!("@alice:{server_name}"),
        "user names are lowercased"
    );
    let alice = anonymous.with_token(&registered.access_token);
    assert_eq!(
        alice.whoami().await.expect("whoami"),
        (registered.user_id.clone(), registered.device_id.clone())
    );

    let laptop = anonymous
        .login("alice", PASSWORD)
        .await
        .expect("login by localpart");
    assert_ne!(laptop.device_id, registered.device_id);
    let by_full_id = anonymous
        .login(&registered.user_id, PASSWORD)
        .await
        .expect("login by user ID");
    let laptop_client = anonymous.with_token(&laptop.access_token);

    laptop_client.logout().await.expect("logout");
    let error = laptop_client.whoami().await.expect_err("logged out");
    assert_eq!(error.errcode(), Some("M_UNKNOWN_TOKEN"));
    assert!(alice.whoami().await.is_ok(), "other devices stay logged in");

    let third = anonymous.with_token(&by_full_id.access_token);
    third
        .post::<Value>("/_matrix/client/v3/logout/all", &json!({}))
        .await
        .expect("logout all");
    for client in [&alice, &third] {
        assert_eq!(
            client.whoami().await.expect_err("all out").errcode(),
            Some("M_UNKNOWN_TOKEN")
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes() {
    let server = TestServer::start().await;
    let client = Client::new(&server.client_url);
    let login = client
        .register("bob", PASSWORD, None)
        .await
        .expect("register");
    let refreshing = client
        .post::<Value>(
            "/_matrix/client/v3/login",
            &json!({ "type": "m.login.password", "user": "bob", "password": PASSWORD, "refresh_token": true }),
        )
        .await
        .expect("login");
    let hash: String = server.query("SELECT password_hash FROM accounts").await[0].get(0);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    let dump = server
        .query(
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM access_tokens UNION ALL
         SELECT token_hash, user_id, device_id, created_ts, NULL, NULL, FALSE FROM refresh_tokens) t",
    )
    .await[0]
        .get::<_, String>(0);
    for secret in [
        login.access_token.as_str(),
        refreshing["access_token"].as_str().expect("token"),
        refreshing["refresh_token"].as_str().expect("refresh token"),
    ] {
        assert!(!dump.contains(secret), "a token is stored in clear");
        let hex: String = sha256_hex(secret);
        assert!(dump.contains(&hex), "its hash is stored");
    }
    server.stop().await;
}

fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn registration_follows_the_policy() {
    let closed = server_with(RegistrationPolicy::Closed, Duration::from_secs(300)).await;
    let client = Client::new(&closed.client_url);
    let error = client
        .register("carol", PASSWORD, None)
        .await
        .expect_err("closed");
    assert_eq!(error.errcode(), Some("M_FORBIDDEN"));
    closed.stop().await;

    let server = server_with(RegistrationPolicy::Token, Duration::from_secs(300)).await;
    let client = Client::new(&server.client_url);
    let (status, challenge) = client
        .send_raw(
            Method::POST,
            "/_matrix/client/v3/register",
            &json!({ "username": "carol", "password": PASSWORD }),
        )
        .await
        .expect("request");
    assert_eq!(
        (status, &challenge["flows"]),
        (401, &json!([{ "stages": ["m.login.registration_token"] }]))
    );
    // A dummy stage is not what this flow asks for.
    let (status, refused) = client
        .send_raw(
            Method::POST,
            "/_matrix/client/v3/register",
            &json!({ "username": "carol", "password": PASSWORD, "auth": { "type": "m.login.dummy", "session": challenge["session"] } }),
        )
        .await
        .expect("request");
    assert_eq!(
        (status, refused["errcode"].as_str()),
        (401, Some("M_FORBIDDEN"))
    );

    let error = client
        .register("carol", PASSWORD, Some("nonsense"))
        .await
        .expect_err("unknown token");
    assert_eq!(error.errcode(), Some("M_FORBIDDEN"));
    let token = server
        .homeserver
        .create_registration_token(None, Some(1), None)
        .await
        .expect("token");
    let validity =
        format!("/_matrix/client/v1/register/m.login.registration_token/validity?token={token}");
    assert_eq!(
        client.get::<Value>(&validity).await.expect("validity"),
        json!({ "valid": true })
    );
    client
        .register("carol", PASSWORD, Some(&token))
        .await
        .expect("registered with the token");
    assert_eq!(
        client.get::<Value>(&validity).await.expect("validity"),
        json!({ "valid": false })
    );
    let error = client
        .register("dave", PASSWORD, Some(&token))
        .await
        .expect_err("used up");
    assert_eq!(error.errcode(), Some("M_FORBIDDEN"));
    server.stop().await;
}

#[tokio::test]
async fn user_names_are_checked_before_authentication() {
    let server = TestServer::start().await;
    let client = Client::new(&server.client_url);
    client
        .register("erin", PASSWORD, None)
        .await
        .expect("register");
    let register = "/_matrix/client/v3/register";
    for (username, errcode) in [
        ("erin", "M_USER_IN_USE"),
        ("ERIN", "M_USER_IN_USE"),
        ("not valid", "M_INVALID_USERNAME"),
        ("_reserved", "M_INVALID_USERNAME"),
        ("12345", "M_INVALID_USERNAME"),
        ("", "M_INVALID_USERNAME"),
    ] {
        let body = json!({ "username": username, "password": PASSWORD });
        assert_eq!(
            outcome(&client, Method::POST, register, body).await,
            (400, errcode.to_owned()),
            "{username:?}"
        );
        let available = format!(
            "/_matrix/client/v3/register/available?username={}",
            urlencode(username)
        );
        let error = client
            .get::<Value>(&available)
            .await
            .expect_err("unavailable");
        assert_eq!(error.errcode(), Some(errcode), "{username:?}");
    }
    let free: Value = client
        .get("/_matrix/client/v3/register/available?username=frank")
        .await
        .expect("free");
    assert_eq!(free, json!({ "available": true }));
    let guest = outcome(
        &client,
        Method::POST,
        "/_matrix/client/v3/register?kind=guest",
        json!({}),
    )
    .await;
    assert_eq!(guest, (403, "M_GUEST_ACCESS_FORBIDDEN".to_owned()));
    let accounts = server.query("SELECT count(*) FROM accounts").await[0].get::<_, i64>(0);
    assert_eq!(accounts, 1, "nothing else was created");
    server.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn bad_logins_and_tokens_are_refused() {
    let server = TestServer::start().await;
    let client = Client::new(&server.client_url);
    let login = client
        .register("gina", PASSWORD, None)
        .await
        .expect("register");
    let flows: Value = client.get("/_matrix/client/v3/login").await.expect("flows");
    assert_eq!(flows, json!({ "flows": [{ "type": "m.login.password" }] }));

    let path = "/_matrix/client/v3/login";
    let cases = [
        (
            json!({ "type": "m.login.password", "user": "gina", "password": "wrong" }),
            403,
            "M_FORBIDDEN",
        ),
        (
            json!({ "type": "m.login.password", "user": "nobody", "password": PASSWORD }),
            403,
            "M_FORBIDDEN",
        ),
        (
            json!({ "type": "m.login.password", "user": "@gina:elsewhere.example", "password": PASSWORD }),
            403,
            "M_FORBIDDEN",
        ),
        (
            json!({ "type": "m.login.token", "token": "x" }),
            400,
            "M_UNKNOWN",
        ),
        (
            json!({ "type": "m.login.password", "identifier": { "type": "m.id.thirdparty", "medium": "email", "address": "g@example.org" }, "password": PASSWORD }),
            400,
            "M_UNKNOWN",
        ),
        (
            json!({ "type": "m.login.password", "password": PASSWORD }),
            400,
            "M_MISSING_PARAM",
        ),
        (
            json!({ "type": "m.login.password", "user": "gina" }),
            400,
            "M_MISSING_PARAM",
        ),
        (
            json!({ "type": 7, "user": "gina", "password": PASSWORD }),
            400,
            "M_BAD_JSON",
        ),
        (
            json!({ "user": "gina", "password": PASSWORD }),
            400,
            "M_BAD_JSON",
        ),
        (
            json!({ "type": "m.login.password", "user": "gina", "password": PASSWORD, "device_id": "" }),
            400,
            "M_INVALID_PARAM",
        ),
    ];
    for (body, status, errcode) in cases {
        assert_eq!(
            outcome(&client, Method::POST, path, body.clone()).await,
            (status, errcode.to_owned()),
            "{body}"
        );
    }
    let raw = reqwest::Client::new()
        .post(format!("{}{path}", server.client_url))
        .body("{\"type\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), 400);
    assert_eq!(
        raw.json::<Value>().await.expect("json")["errcode"],
        "M_NOT_JSON"
    );
    assert_eq!(
        client.devices_count(&server).await,
        1,
        "failed logins made no device"
    );

    let whoami = "/_matrix/client/v3/account/whoami";
    assert_eq!(
        outcome(&client, Method::GET, whoami, Value::Null).await,
        (401, "M_MISSING_TOKEN".to_owned())
    );
    let forged = client.with_token("hat_forged");
    let (status, body) = forged
        .send_raw(Method::GET, whoami, &Value::Null)
        .await
        .expect("request");
    assert_eq!(
        (
            status,
            body["errcode"].as_str(),
            body["soft_logout"].as_bool()
        ),
        (401, Some("M_UNKNOWN_TOKEN"), Some(false))
    );
    // The deprecated query parameter still works.
    let by_query: Value = client
        .get(&format!("{whoami}?access_token={}", login.access_token))
        .await
        .expect("token in the query");
    assert_eq!(by_query["user_id"], login.user_id);
    server.stop().await;
}

trait CountDevices {
    async fn devices_count(&self, server: &TestServer) -> i64;
}

impl CountDevices for Client {
    async fn devices_count(&self, server: &TestServer) -> i64 {
        server.query("SELECT count(*) FROM devices").await[0].get(0)
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_expired_tokens_soft_logout() {
    let server = server_with(RegistrationPolicy::Open, Duration::from_secs(1)).await;
    let client = Client::new(&server.client_url);
    client
        .register("hal", PASSWORD, None)
        .await
        .expect("register");
    let first: Value = client
        .post(
            "/_matrix/client/v3/login",
            &json!({ "type": "m.login.password", "user": "hal", "password": PASSWORD, "refresh_token": true }),
        )
        .await
        .expect("login");
    assert_eq!(first["expires_in_ms"], 1000);
    let first_refresh = first["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let device = client.with_token(first["access_token"].as_str().expect("token"));
    device.whoami().await.expect("fresh token works");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = device
        .send_raw(
            Method::GET,
            "/_matrix/client/v3/account/whoami",
            &Value::Null,
        )
        .await
        .expect("request");
    assert_eq!(
        (status, body["soft_logout"].as_bool()),
        (401, Some(true)),
        "{body}"
    );

    let refresh = |token: &str| {
        let client = client.clone();
        let body = json!({ "refresh_token": token });
        async move {
            client
                .post::<Value>("/_matrix/client/v3/refresh", &body)
                .await
        }
    };
    let second = refresh(&first_refresh).await.expect("refresh");
    // The old refresh token still works until the new pair is used: a lost
    // answer does not log the device out.
    let second_again = refresh(&first_refresh).await.expect("refresh again");
    let renewed = client.with_token(second_again["access_token"].as_str().expect("token"));
    let (_, device_id) = renewed.whoami().await.expect("new token works");
    assert_eq!(
        device_id,
        first
            .get("device_id")
            .and_then(Value::as_str)
            .expect("device")
    );
    assert_eq!(
        refresh(&first_refresh).await.expect_err("spent").errcode(),
        Some("M_UNKNOWN_TOKEN")
    );
    assert_eq!(
        refresh(second["refresh_token"].as_str().expect("refresh"))
            .await
            .expect_err("superseded")
            .errcode(),
        Some("M_UNKNOWN_TOKEN")
    );
    refresh(second_again["refresh_token"].as_str().expect("refresh"))
        .await
        .expect("the live one refreshes");
    server.stop().await;
}

#[tokio::test]
async fn devices_are_listed_renamed_and_deleted_with_a_password() {
    let server = TestServer::start().await;
    let client = Client::new(&server.client_url);
    let phone = client
        .register("ida", PASSWORD, None)
        .await
        .expect("register");
    let laptop = client.login("ida", PASSWORD).await.expect("login");
    let ida = client.with_token(&phone.access_token);

    let devices: Value = ida
        .get("/_matrix/client/v3/devices")
        .await
        .expect("devices");
    let ids: Vec<&str> = devices["devices"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["device_id"].as_str())
        .collect();
    assert_eq!(ids, [phone.device_id.as_str(), laptop.device_id.as_str()]);
    assert!(devices["devices"][0]["last_seen_ts"].is_i64(), "{devices}");

    let laptop_path = format!("/_matrix/client/v3/devices/{}", laptop.device_id);
    ida.put::<Value>(&laptop_path, &json!({ "display_name": "Work laptop" }))
        .await
        .expect("rename");
    let renamed: Value = ida.get(&laptop_path).await.expect("get");
    assert_eq!(renamed["display_name"], "Work laptop");
    assert_eq!(
        ida.get::<Value>("/_matrix/client/v3/devices/NOPE")
            .await
            .expect_err("unknown")
            .errcode(),
        Some("M_NOT_FOUND")
    );
    let rename_unknown = outcome(
        &ida,
        Method::PUT,
        "/_matrix/client/v3/devices/NOPE",
        json!({ "display_name": "x" }),
    )
    .await;
    assert_eq!(rename_unknown, (404, "M_NOT_FOUND".to_owned()));
    let bad_rename = outcome(
        &ida,
        Method::PUT,
        &laptop_path,
        json!({ "display_name": 5 }),
    )
    .await;
    assert_eq!(bad_rename, (400, "M_BAD_JSON".to_owned()));

    // Deleting asks for the password; a wrong one is refused and changes nothing.
    let (status, challenge) = ida
        .send_raw(Method::DELETE, &laptop_path, &json!({}))
        .await
        .expect("request");
    assert_eq!(
        (status, &challenge["flows"]),
        (401, &json!([{ "stages": ["m.login.password"] }]))
    );
    let attempt = |password: &str| {
        json!({ "auth": {
            "type": "m.login.password", "session": challenge["session"], "password": password,
            "identifier": { "type": "m.id.user", "user": "ida" },
        } })
    };
    let (status, wrong) = ida
        .send_raw(Method::DELETE, &laptop_path, &attempt("wrong"))
        .await
        .expect("request");
    assert_eq!(
        (status, wrong["errcode"].as_str()),
        (401, Some("M_FORBIDDEN"))
    );
    assert!(client
        .with_token(&laptop.access_token)
        .whoami()
        .await
        .is_ok());
    let (status, _) = ida
        .send_raw(Method::DELETE, &laptop_path, &attempt(PASSWORD))
        .await
        .expect("request");
    assert_eq!(status, 200);
    assert_eq!(
        client
            .with_token(&laptop.access_token)
            .whoami()
            .await
            .expect_err("deleted")
            .errcode(),
        Some("M_UNKNOWN_TOKEN")
    );

    // A session completed for one user cannot be used by another.
    let other = client
        .register("jan", PASSWORD, None)
        .await
        .expect("register");
    let jan = client.with_token(&other.access_token);
    let body = json!({ "devices": [other.device_id], "auth": { "type": "m.login.dummy", "session": challenge["session"] } });
    let (status, _) = jan
        .send_raw(Method::POST, "/_matrix/client/v3/delete_devices", &body)
        .await
        .expect("request");
    assert_eq!(status, 400);
    assert!(jan.whoami().await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn changing_the_password_logs_out_other_devices() {
    let server = TestServer::start().await;
    let client = Client::new(&server.client_url);
    let main = client
        .register("kim", PASSWORD, None)
        .await
        .expect("register");
    let other = client.login("kim", PASSWORD).await.expect("login");
    let kim = client.with_token(&main.access_token);
    let path = "/_matrix/client/v3/account/password";
    let (status, challenge) = kim
        .send_raw(Method::POST, path, &json!({ "new_password": "n3w" }))
        .await
        .expect("request");
    assert_eq!(status, 401);
    let body = json!({
        "new_password": "n3w",
        "auth": { "type": "m.login.password", "session": challenge["session"], "user": "kim", "password": PASSWORD },
    });
    kim.post::<Value>(path, &body).await.expect("changed");
    assert!(
        kim.whoami().await.is_ok(),
        "the device that changed it stays"
    );
    assert_eq!(
        client
            .with_token(&other.access_token)
            .whoami()
            .await
            .expect_err("out")
            .errcode(),
        Some("M_UNKNOWN_TOKEN")
    );
    assert_eq!(
        client
            .login("kim", PASSWORD)
            .await
            .expect_err("old password")
            .errcode(),
        Some("M_FORBIDDEN")
    );
    client.login("kim", "n3w").await.expect("new password");
    server.stop().await;
}

#[tokio::test]
async fn deactivated_accounts_cannot_log_in_and_keep_their_name() {
    let server = TestServer::start().await;
    let client = Client::new(&server.client_url);
    let login = client
        .register("lea", PASSWORD, None)
        .await
        .expect("register");
    let lea = client.with_token(&login.access_token);
    let path = "/_matrix/client/v3/account/deactivate";
    // No body at all starts the authentication, as some clients do.
    let raw = reqwest::Client::new()
        .post(format!("{}{path}", server.client_url))
        .bearer_auth(&login.access_token)
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), 401);
    let session = raw.json::<Value>().await.expect("json")["session"].clone();
    let body = json!({ "auth": { "type": "m.login.password", "session": session, "user": "lea", "password": PASSWORD } });
    let done: Value = lea.post(path, &body).await.expect("deactivated");
    assert_eq!(done["id_server_unbind_result"], "no-support");
    assert_eq!(
        lea.whoami().await.expect_err("gone").errcode(),
        Some("M_UNKNOWN_TOKEN")
    );
    assert_eq!(
        client
            .login("lea", PASSWORD)
            .await
            .expect_err("deactivated")
            .errcode(),
        Some("M_USER_DEACTIVATED")
    );
    assert_eq!(
        client
            .register("lea", PASSWORD, None)
            .await
            .expect_err("taken")
            .errcode(),
        Some("M_USER_IN_USE")
    );
    server.stop().await;
}

#[tokio::test]
async fn profiles_are_set_read_and_checked() {
    let server = TestServer::start().await;
    let client = Client::new(&server.client_url);
    let login = client
        .register("max", PASSWORD, None)
        .await
        .expect("register");
    let other = client
        .register("nia", PASSWORD, None)
        .await
        .expect("register");
    let max = client.with_token(&login.access_token);
    let profile = format!("/_matrix/client/v3/profile/{}", login.user_id);

    max.put::<Value>(
        &format!("{profile}/displayname"),
        &json!({ "displayname": "Max M." }),
    )
    .await
    .expect("set name");
    max.put::<Value>(
        &format!("{profile}/avatar_url"),
        &json!({ "avatar_url": "mxc://example.org/abc" }),
    )
    .await
    .expect("set avatar");
    max.put::<Value>(
        &format!("{profile}/org.example.pronouns"),
        &json!({ "org.example.pronouns": ["he"] }),
    )
    .await
    .expect("custom");
    let whole: Value = client.get(&profile).await.expect("profile");
    assert_eq!(
        whole,
        json!({ "displayname": "Max M.", "avatar_url": "mxc://example.org/abc", "org.example.pronouns": ["he"] })
    );
    let name: Value = client
        .get(&format!("{profile}/displayname"))
        .await
        .expect("field");
    assert_eq!(name, json!({ "displayname": "Max M." }));

    let refusals = [
        (
            Method::PUT,
            format!("/_matrix/client/v3/profile/{}/displayname", other.user_id),
            json!({ "displayname": "x" }),
            403,
            "M_FORBIDDEN",
        ),
        (
            Method::PUT,
            format!("{profile}/displayname"),
            json!({ "displayname": 5 }),
            400,
            "M_INVALID_PARAM",
        ),
        (
            Method::PUT,
            format!("{profile}/displayname"),
            json!({ "other": "x" }),
            400,
            "M_MISSING_PARAM",
        ),
        (
            Method::PUT,
            format!("{profile}/avatar_url"),
            json!({ "avatar_url": "https://x" }),
            400,
            "M_INVALID_PARAM",
        ),
        (
            Method::PUT,
            format!("{profile}/NotNamespaced"),
            json!({ "NotNamespaced": 1 }),
            400,
            "M_INVALID_PARAM",
        ),
        (
            Method::PUT,
            format!("{profile}/com.example.{}", "k".repeat(260)),
            json!({}),
            400,
            "M_KEY_TOO_LARGE",
        ),
        (
            Method::PUT,
            format!("{profile}/displayname"),
            json!(["not", "an", "object"]),
            400,
            "M_BAD_JSON",
        ),
        (
            Method::GET,
            "/_matrix/client/v3/profile/@nobody:elsewhere.example".to_owned(),
            Value::Null,
            404,
            "M_NOT_FOUND",
        ),
        (
            Method::GET,
            "/_matrix/client/v3/profile/not-a-user-id".to_owned(),
            Value::Null,
            400,
            "M_INVALID_PARAM",
        ),
        (
            Method::GET,
            format!("{profile}/com.example.unset"),
            Value::Null,
            404,
            "M_NOT_FOUND",
        ),
    ];
    for (method, path, body, status, errcode) in refusals {
        let key_too_large = errcode == "M_KEY_TOO_LARGE";
        let body = if key_too_large {
            json!({ path.rsplit('/').next().expect("key"): 1 })
        } else {
            body
        };
        assert_eq!(
            outcome(&max, method.clone(), &path, body).await,
            (status, errcode.to_owned()),
            "{method} {path}"
        );
    }
    let unchanged: Value = client.get(&profile).await.expect("profile");
    assert_eq!(unchanged, whole, "refused changes stored nothing");

    // Each request fits the body limit; together they pass the 64 KiB
    // profile limit, so the second is refused and not stored.
    let half = "x".repeat(40_000);
    assert_eq!(
        outcome(
            &max,
            Method::PUT,
            &format!("{profile}/com.example.first"),
            json!({ "com.example.first": half }),
        )
        .await,
        (200, String::new()),
        "the first large field fits"
    );
    assert_eq!(
        outcome(
            &max,
            Method::PUT,
            &format!("{profile}/com.example.second"),
            json!({ "com.example.second": half }),
        )
        .await,
        (400, "M_PROFILE_TOO_LARGE".to_owned())
    );
    let after_large: Value = client.get(&profile).await.expect("profile");
    assert!(after_large.get("com.example.second").is_none());

    max.send_raw(
        Method::DELETE,
        &format!("{profile}/org.example.pronouns"),
        &Value::Null,
    )
    .await
    .expect("delete");
    let after: Value = client.get(&profile).await.expect("profile");
    assert!(after.get("org.example.pronouns").is_none());
    server.stop().await;
}

#[tokio::test]
async fn capabilities_describe_the_server() {
    let server = TestServer::start().await;
    let anonymous = Client::new(&server.client_url);
    assert_eq!(
        outcome(
            &anonymous,
            Method::GET,
            "/_matrix/client/v3/capabilities",
            Value::Null
        )
        .await,
        (401, "M_MISSING_TOKEN".to_owned())
    );
    let login = anonymous
        .register("cap", PASSWORD, None)
        .await
        .expect("registration");
    let client = anonymous.with_token(&login.access_token);
    let answer: Value = client
        .get("/_matrix/client/v3/capabilities")
        .await
        .expect("capabilities");
    let capabilities = &answer["capabilities"];
    assert_eq!(capabilities["m.change_password"]["enabled"], true);
    assert_eq!(capabilities["m.room_versions"]["default"], "12");
    // Every version offered can be created.
    let versions = capabilities["m.room_versions"]["available"]
        .as_object()
        .expect("available versions");
    for (version, stability) in versions {
        assert_eq!(stability, "stable");
        let created: Value = client
            .post(
                "/_matrix/client/v3/createRoom",
                &json!({ "room_version": version }),
            )
            .await
            .expect("a room of an offered version");
        assert!(created["room_id"].is_string());
    }
    assert_eq!(capabilities["m.3pid_changes"]["enabled"], false);
}
