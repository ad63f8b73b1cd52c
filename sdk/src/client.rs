//! The client: one homeserver, one (eventually logged-in) user.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::{Error, MatrixErrorBody};

/// The answer of GET /_matrix/client/versions.
#[derive(Debug, Clone, Deserialize)]
pub struct Versions {
    pub versions: Vec<String>,
    #[serde(default)]
    pub unstable_features: serde_json::Map<String, serde_json::Value>,
}

/// A client of one homeserver.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
}

impl Client {
    /// A client for the homeserver at `base_url` (e.g. `https://matrix.example.org`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
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

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        match response.json::<MatrixErrorBody>().await {
            Ok(body) => Err(Error::Matrix {
                status: status.as_u16(),
                body,
            }),
            Err(_) => Err(Error::Unexpected {
                status: status.as_u16(),
            }),
        }
    }
}
