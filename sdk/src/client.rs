//! The client: one homeserver, and the access token of one device.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{Error, MatrixErrorBody};

/// The answer of GET /_matrix/client/versions.
#[derive(Debug, Clone, Deserialize)]
pub struct Versions {
    pub versions: Vec<String>,
    #[serde(default)]
    pub unstable_features: serde_json::Map<String, Value>,
}

/// A logged-in device, from registration, login or refresh.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginInfo {
    pub user_id: String,
    pub device_id: String,
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in_ms: Option<i64>,
}

/// A client of one homeserver.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    access_token: Option<String>,
}

impl Client {
    /// A client for the homeserver at `base_url` (e.g. `https://matrix.example.org`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            access_token: None,
        }
    }

    /// The same client acting with `access_token`.
    pub fn with_token(&self, access_token: impl Into<String>) -> Self {
        Self {
            access_token: Some(access_token.into()),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The spec versions the server supports.
    pub async fn versions(&self) -> Result<Versions, Error> {
        self.get("/_matrix/client/versions").await
    }

    /// The base URL the server announces for clients, from
    /// /.well-known/matrix/client.
    pub async fn discover_base_url(&self) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct WellKnown {
            #[serde(rename = "m.homeserver")]
            homeserver: Homeserver,
        }
        #[derive(Deserialize)]
        struct Homeserver {
            base_url: String,
        }
        let well_known: WellKnown = self.get("/.well-known/matrix/client").await?;
        Ok(well_known.homeserver.base_url)
    }

    /// Registers an account through user-interactive authentication, doing
    /// the stage the server offers: `m.login.dummy`, or
    /// `m.login.registration_token` with `token`.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        token: Option<&str>,
    ) -> Result<LoginInfo, Error> {
        self.register_with(json!({ "username": username, "password": password }), token)
            .await
    }

    /// Registers an account that cannot log in with a password: the
    /// registration's access token is its only session. Cheap for the
    /// server (no password hash), so benchmarks fill large rooms with it.
    pub async fn register_without_password(
        &self,
        username: &str,
        token: Option<&str>,
    ) -> Result<LoginInfo, Error> {
        self.register_with(json!({ "username": username }), token)
            .await
    }

    async fn register_with(
        &self,
        mut body: Value,
        token: Option<&str>,
    ) -> Result<LoginInfo, Error> {
        let challenge = match self
            .send_raw(Method::POST, "/_matrix/client/v3/register", &body)
            .await?
        {
            (200, value) => return Ok(serde_json::from_value(value)?),
            (401, challenge) => challenge,
            (status, value) => return Err(Error::from_response(status, value)),
        };
        let stage = match token {
            Some(token) => json!({ "type": "m.login.registration_token", "token": token }),
            None => json!({ "type": "m.login.dummy" }),
        };
        body["auth"] = stage;
        body["auth"]["session"] = challenge["session"].clone();
        self.post("/_matrix/client/v3/register", &body).await
    }

    /// Logs in with a password on a new device.
    pub async fn login(&self, user: &str, password: &str) -> Result<LoginInfo, Error> {
        self.post(
            "/_matrix/client/v3/login",
            &json!({
                "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": user },
                "password": password,
            }),
        )
        .await
    }

    /// GET /account/whoami: (user ID, device ID).
    pub async fn whoami(&self) -> Result<(String, String), Error> {
        #[derive(Deserialize)]
        struct WhoAmI {
            user_id: String,
            device_id: String,
        }
        let who: WhoAmI = self.get("/_matrix/client/v3/account/whoami").await?;
        Ok((who.user_id, who.device_id))
    }

    pub async fn logout(&self) -> Result<(), Error> {
        self.post::<Value>("/_matrix/client/v3/logout", &json!({}))
            .await?;
        Ok(())
    }

    /// Uploads `body` (POST /_matrix/media/v3/upload) and returns its
    /// `mxc://` URI. A [`reqwest::Body`] made from a stream is sent as it
    /// is produced, never held whole.
    pub async fn upload(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Uploaded {
            content_uri: String,
        }
        let mut request = self
            .request(Method::POST, "/_matrix/media/v3/upload")
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(filename) = filename {
            request = request.query(&[("filename", filename)]);
        }
        let (status, value) = self.finish(request).await?;
        if status != 200 {
            return Err(Error::from_response(status, value));
        }
        let uploaded: Uploaded = serde_json::from_value(value)?;
        Ok(uploaded.content_uri)
    }

    /// Starts downloading `mxc` (GET /_matrix/client/v1/media/download):
    /// the response, to read as a stream, once the server answered 200.
    pub async fn download(&self, mxc: &str) -> Result<reqwest::Response, Error> {
        let path = mxc.strip_prefix("mxc://").unwrap_or(mxc);
        let response = self
            .request(
                Method::GET,
                &format!("/_matrix/client/v1/media/download/{path}"),
            )
            .send()
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            let value = response.json().await.unwrap_or(Value::Null);
            return Err(Error::from_response(status, value));
        }
        Ok(response)
    }

    /// One /sync: changes since `since` (everything when `None`), waiting
    /// up to `timeout_ms` for some; `filter` is a filter ID or inline JSON.
    pub async fn sync(
        &self,
        since: Option<&str>,
        timeout_ms: u64,
        filter: Option<&str>,
    ) -> Result<Value, Error> {
        let mut query = vec![("timeout", timeout_ms.to_string())];
        query.extend(since.map(|since| ("since", since.to_owned())));
        query.extend(filter.map(|filter| ("filter", filter.to_owned())));
        let request = self
            .request(Method::GET, "/_matrix/client/v3/sync")
            .query(&query);
        let (status, value) = self.finish(request).await?;
        if status == 200 {
            Ok(value)
        } else {
            Err(Error::from_response(status, value))
        }
    }

    /// A GET of `path`, its answer parsed.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.call(Method::GET, path, None).await
    }

    /// A POST of `body` to `path`, its answer parsed.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, Error> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// A PUT of `body` to `path`, its answer parsed.
    pub async fn put<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, Error> {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let (status, value) = match body {
            Some(body) => self.send_raw(method, path, body).await?,
            None => self.send_raw_without_body(method, path).await?,
        };
        if (200..300).contains(&status) {
            Ok(serde_json::from_value(value)?)
        } else {
            Err(Error::from_response(status, value))
        }
    }

    /// Sends a request and returns the status and JSON body, whatever they
    /// are: for callers that handle error answers themselves.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<(u16, Value), Error> {
        self.finish(self.request(method, path).json(body)).await
    }

    async fn send_raw_without_body(
        &self,
        method: Method,
        path: &str,
    ) -> Result<(u16, Value), Error> {
        self.finish(self.request(method, path)).await
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match &self.access_token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn finish(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value), Error> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }
}

impl Error {
    fn from_response(status: u16, body: Value) -> Self {
        match serde_json::from_value::<MatrixErrorBody>(body) {
            Ok(body) => Error::Matrix { status, body },
            Err(_) => Error::Unexpected { status },
        }
    }
}
