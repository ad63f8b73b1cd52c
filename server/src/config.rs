//! Configuration: defaults < TOML file < HANSE_* environment < flags.
//!
//! The defaults are the commented file `hanse generate-config` prints, so the
//! documentation of a key and its default cannot drift apart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Environment, File, FileFormat};
use hanse_core::federation::{FederationPolicy, FederationSettings, ServerGlob, TrustedKeyServer};
use hanse_core::rate_limits::{Rate, RateLimits, RateSettings};
use hanse_core::{
    FederationSenderSettings, MediaSettings, PushSettings, RegistrationPolicy, UrlPreviewSettings,
};
use hanse_protocol::identifiers::{KeyId, ServerName};
use hanse_protocol::signing::verifying_key_from_base64;
use serde::Deserialize;

/// The commented default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("default-config.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server_name: String,
    pub data_dir: PathBuf,
    pub client_listen: SocketAddr,
    pub federation_listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub public_baseurl: Option<String>,
    pub well_known_server: Option<String>,
    pub registration: RegistrationPolicy,
    pub refreshable_token_lifetime_secs: u64,
    pub presence: bool,
    pub max_request_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    pub database: DatabaseConfig,
    pub media: MediaConfig,
    pub push: PushConfig,
    pub federation_sender: FederationSenderConfig,
    pub log: LogConfig,
    pub rate_limits: RateLimitsConfig,
    pub federation: FederationConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationConfig {
    pub enabled: bool,
    pub ca_file: Option<PathBuf>,
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub max_response_bytes: u64,
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub trusted_key_servers: Vec<TrustedKeyServerConfig>,
    pub server_acl_for_new_rooms: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKeyServerConfig {
    pub server_name: String,
    pub verify_keys: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    pub enabled: bool,
    pub message: Rate,
    pub registration: Rate,
    pub login: Rate,
    pub room_creation: Rate,
    pub join: Rate,
    pub invite: Rate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    pub max_upload_bytes: u64,
    pub quota_bytes_per_user: u64,
    pub max_pending_uploads: u32,
    pub pending_upload_lifetime_secs: u64,
    pub max_thumbnail_source_pixels: u64,
    pub url_preview: bool,
    pub url_preview_allow_private_addresses: bool,
    pub url_preview_max_page_bytes: u64,
    pub url_preview_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    pub allow_private_gateways: bool,
    pub retry_initial_ms: u64,
    pub retry_max_secs: u64,
    pub give_up_after_secs: u64,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSenderConfig {
    pub retry_initial_secs: u64,
    pub retry_max_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: Option<String>,
    pub pool_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "configuration: {0} (settings come from the --config file, HANSE_* environment \
         variables and flags; `hanse generate-config` lists every key)"
    )]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Settings given as command-line flags; each overrides the key of the same
/// name.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub server_name: Option<String>,
    pub client_listen: Option<String>,
    pub federation_listen: Option<String>,
    pub database_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub federation_ca: Option<PathBuf>,
}

impl Config {
    /// Loads the layers in order of priority. `env` is the process
    /// environment (a parameter so tests need not change the real one).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut builder =
            config::Config::builder().add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(File::from(file).format(FileFormat::Toml).required(true));
        }
        let env = env
            .into_iter()
            .filter(|(key, _)| key.starts_with("HANSE_"))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("HANSE")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let flags = [
            ("data_dir", path(&overrides.data_dir)),
            ("server_name", overrides.server_name.clone()),
            ("client_listen", overrides.client_listen.clone()),
            ("federation_listen", overrides.federation_listen.clone()),
            ("database.url", overrides.database_url.clone()),
            ("tls_cert", path(&overrides.tls_cert)),
            ("tls_key", path(&overrides.tls_key)),
            ("federation.ca_file", path(&overrides.federation_ca)),
        ];
        for (key, value) in flags {
            builder = builder.set_override_option(key, value)?;
        }
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ServerName::parse(&self.server_name).map_err(|error| {
            ConfigError::Invalid(format!(
                "server_name {:?} is not a valid server name: {error}",
                self.server_name
            ))
        })?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key (flags --tls-cert, --tls-key) must be given together".into(),
            ));
        }
        RateLimits::new(self.rate_settings().as_ref())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.database.pool_size < 2 {
            return Err(ConfigError::Invalid(
                "database.pool_size must be at least 2: a room write holds one connection \
                 while it reads through another"
                    .into(),
            ));
        }
        if self.refreshable_token_lifetime_secs == 0 {
            return Err(ConfigError::Invalid(
                "refreshable_token_lifetime_secs must be at least 1".into(),
            ));
        }
        if self.media.max_upload_bytes == 0 {
            return Err(ConfigError::Invalid(
                "media.max_upload_bytes must be at least 1".into(),
            ));
        }
        let federation = &self.federation;
        if federation.connect_timeout_secs == 0
            || federation.request_timeout_secs == 0
            || federation.max_response_bytes == 0
        {
            return Err(ConfigError::Invalid(
                "federation.connect_timeout_secs, federation.request_timeout_secs and \
                 federation.max_response_bytes must be at least 1"
                    .into(),
            ));
        }
        self.federation_settings()?;
        if self.max_request_body_bytes == 0 {
            return Err(ConfigError::Invalid(
                "max_request_body_bytes must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The client base URL announced in /.well-known/matrix/client.
    pub fn client_base_url(&self) -> String {
        self.public_baseurl
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.client_listen))
    }

    /// The delegation target announced in /.well-known/matrix/server.
    pub fn delegated_server(&self) -> String {
        self.well_known_server.clone().unwrap_or_else(|| {
            let host = match self.server_name.rsplit_once(':') {
                // An IPv6 literal's colons sit inside brackets.
                Some((host, port)) if !port.contains(']') => host,
                _ => self.server_name.as_str(),
            };
            format!("{host}:{}", self.federation_listen.port())
        })
    }

    /// The settings hanse-core takes from the configuration.
    pub fn core_settings(&self) -> hanse_core::Settings {
        let media = &self.media;
        hanse_core::Settings {
            registration: self.registration,
            refreshable_token_lifetime: Duration::from_secs(self.refreshable_token_lifetime_secs),
            media: MediaSettings {
                dir: self.media_dir(),
                max_upload_bytes: media.max_upload_bytes,
                quota_bytes_per_user: Some(media.quota_bytes_per_user).filter(|&q| q > 0),
                max_pending_uploads: media.max_pending_uploads,
                pending_upload_lifetime: Duration::from_secs(media.pending_upload_lifetime_secs),
                max_thumbnail_source_pixels: media.max_thumbnail_source_pixels,
                url_preview: media.url_preview.then(|| UrlPreviewSettings {
                    allow_private_addresses: media.url_preview_allow_private_addresses,
                    max_page_bytes: media.url_preview_max_page_bytes,
                    timeout: Duration::from_secs(media.url_preview_timeout_secs),
                }),
            },
            presence: self.presence,
            rate_limits: self.rate_settings(),
            push: PushSettings {
                allow_private_gateways: self.push.allow_private_gateways,
                retry_initial: Duration::from_millis(self.push.retry_initial_ms),
                retry_max: Duration::from_secs(self.push.retry_max_secs),
                give_up_after: Duration::from_secs(self.push.give_up_after_secs),
                timeout: Duration::from_secs(self.push.timeout_secs),
            },
            federation_sender: FederationSenderSettings {
                retry_initial: Duration::from_secs(self.federation_sender.retry_initial_secs),
                retry_max: Duration::from_secs(self.federation_sender.retry_max_secs),
                ..FederationSenderSettings::default()
            },
            federation: self
                .federation_settings()
                .expect("checked when the configuration was loaded"),
        }
    }

    /// The federation policy and notaries, checked.
    pub fn federation_settings(&self) -> Result<FederationSettings, ConfigError> {
        let federation = &self.federation;
        let globs = |list: &[String]| list.iter().map(|p| ServerGlob::new(p)).collect();
        let policy = match (&federation.allow, &federation.deny) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "federation.allow and federation.deny cannot both be set: list either the \
                     servers to federate with or those to refuse"
                        .into(),
                ))
            }
            (Some(allow), None) => FederationPolicy::Allow(globs(allow)),
            (None, Some(deny)) => FederationPolicy::Deny(globs(deny)),
            (None, None) => FederationPolicy::Open,
        };
        let policy = if federation.enabled {
            policy
        } else {
            FederationPolicy::Disabled
        };
        let mut trusted_key_servers = Vec::new();
        for notary in &federation.trusted_key_servers {
            let invalid = |what: String| {
                ConfigError::Invalid(format!(
                    "federation.trusted_key_servers: {what} (each entry needs a server_name and \
                     verify_keys mapping key IDs such as \"ed25519:abc\" to unpadded base64 \
                     public keys)"
                ))
            };
            let server_name = ServerName::parse(&notary.server_name)
                .map_err(|e| invalid(format!("{:?}: {e}", notary.server_name)))?;
            let mut verify_keys = std::collections::BTreeMap::new();
            for (key_id, key) in &notary.verify_keys {
                let parsed =
                    KeyId::parse(key_id).map_err(|e| invalid(format!("{key_id:?}: {e}")))?;
                verifying_key_from_base64(key)
                    .map_err(|_| invalid(format!("the key {key_id} is not an ed25519 key")))?;
                verify_keys.insert(parsed, key.clone());
            }
            if verify_keys.is_empty() {
                return Err(invalid(format!("{server_name} has no verify_keys")));
            }
            trusted_key_servers.push(TrustedKeyServer {
                server_name,
                verify_keys,
            });
        }
        Ok(FederationSettings {
            policy,
            trusted_key_servers,
            server_acl_for_new_rooms: federation.server_acl_for_new_rooms,
        })
    }

    /// The settings of the client that sends requests to other servers.
    pub fn federation_client_settings(&self) -> hanse_federation::ClientSettings {
        let federation = &self.federation;
        hanse_federation::ClientSettings {
            ca_file: federation.ca_file.clone(),
            connect_timeout: Duration::from_secs(federation.connect_timeout_secs),
            request_timeout: Duration::from_secs(federation.request_timeout_secs),
            max_response_bytes: federation.max_response_bytes,
            dns_overrides: HashMap::new(),
        }
    }

    /// Where media files are stored.
    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }

    fn rate_settings(&self) -> Option<RateSettings> {
        let limits = &self.rate_limits;
        limits.enabled.then_some(RateSettings {
            message: limits.message,
            registration: limits.registration,
            login: limits.login,
            room_creation: limits.room_creation,
            join: limits.join,
            invite: limits.invite,
        })
    }

    /// Where the managed PostgreSQL cluster lives.
    pub fn managed_database_dir(&self) -> PathBuf {
        self.data_dir.join("postgres")
    }

    /// Where the server's signing key is kept.
    pub fn signing_key_path(&self) -> PathBuf {
        self.data_dir.join("signing.key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(
        file: Option<&str>,
        env: &[(&str, &str)],
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hanse.toml");
        if let Some(contents) = file {
            std::fs::write(&path, contents).expect("write config");
        }
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(file.map(|_| path.as_path()), env, overrides)
    }

    #[test]
    fn defaults_come_from_the_documented_file() {
        let config = load(None, &[], &Overrides::default()).expect("defaults load");
        assert_eq!(config.server_name, "localhost");
        assert_eq!(config.client_listen.to_string(), "127.0.0.1:8008");
        assert_eq!(config.registration, RegistrationPolicy::Closed);
        assert_eq!(config.database.url, None);
        assert_eq!(config.database.pool_size, 16);
        assert_eq!(config.log.format, LogFormat::Pretty);
        assert_eq!(config.delegated_server(), "localhost:8448");
        assert_eq!(config.client_base_url(), "http://127.0.0.1:8008");
        let media = config.core_settings().media;
        assert_eq!(media.max_upload_bytes, 50 * 1024 * 1024);
        assert_eq!(media.quota_bytes_per_user, None);
        assert!(
            media.url_preview.is_none(),
            "URL previews are off by default"
        );
        assert_eq!(media.dir, Path::new("./hanse-data/media"));
    }

    #[test]
    fn layers_override_in_order() {
        let file =
            "server_name = \"file.example\"\nregistration = \"token\"\n[database]\npool_size = 4\n";
        let env = [
            ("HANSE_REGISTRATION", "open"),
            ("HANSE_DATABASE__POOL_SIZE", "7"),
            ("OTHER", "x"),
        ];
        let overrides = Overrides {
            server_name: Some("flag.example".into()),
            database_url: Some("postgresql://h@db/h".into()),
            ..Overrides::default()
        };
        let config = load(Some(file), &env, &overrides).expect("loads");
        assert_eq!(config.server_name, "flag.example");
        assert_eq!(config.registration, RegistrationPolicy::Open);
        assert_eq!(config.database.pool_size, 7);
        assert_eq!(config.database.url.as_deref(), Some("postgresql://h@db/h"));

        let config = load(Some(file), &[], &Overrides::default()).expect("loads");
        assert_eq!(config.server_name, "file.example");
        assert_eq!(config.registration, RegistrationPolicy::Token);
        assert_eq!(config.database.pool_size, 4);
    }

    #[test]
    fn mistakes_are_refused_with_the_key_named() {
        let unknown =
            load(Some("server_nam = \"x\"\n"), &[], &Overrides::default()).expect_err("typo");
        assert!(unknown.to_string().contains("server_nam"), "{unknown}");
        let bad_policy = load(
            Some("registration = \"sometimes\"\n"),
            &[],
            &Overrides::default(),
        )
        .expect_err("bad enum");
        assert!(bad_policy.to_string().contains("sometimes"), "{bad_policy}");
        let bad_name = load(
            None,
            &[("HANSE_SERVER_NAME", "bad name!")],
            &Overrides::default(),
        )
        .expect_err("bad server name");
        assert!(bad_name.to_string().contains("server_name"), "{bad_name}");
        let half_tls =
            load(Some("tls_cert = \"c.pem\"\n"), &[], &Overrides::default()).expect_err("half tls");
        assert!(half_tls.to_string().contains("tls_key"), "{half_tls}");
    }

    #[test]
    fn tls_and_federation_files_come_from_flags_too() {
        let file = "tls_cert = \"file.crt\"\ntls_key = \"file.key\"\n[federation]\nca_file = \"file-ca.pem\"\n";
        let config = load(Some(file), &[], &Overrides::default()).expect("loads");
        assert_eq!(config.tls_cert.as_deref(), Some(Path::new("file.crt")));
        assert_eq!(
            config.federation.ca_file.as_deref(),
            Some(Path::new("file-ca.pem"))
        );
        let overrides = Overrides {
            tls_cert: Some("flag.crt".into()),
            tls_key: Some("flag.key".into()),
            federation_ca: Some("flag-ca.pem".into()),
            ..Overrides::default()
        };
        let config = load(Some(file), &[], &overrides).expect("loads");
        assert_eq!(config.tls_cert.as_deref(), Some(Path::new("flag.crt")));
        assert_eq!(config.tls_key.as_deref(), Some(Path::new("flag.key")));
        let settings = config.federation_client_settings();
        assert_eq!(settings.ca_file.as_deref(), Some(Path::new("flag-ca.pem")));

        let defaults = load(None, &[], &Overrides::default()).expect("defaults load");
        assert!(defaults.federation.enabled);
        let settings = defaults.federation_client_settings();
        assert_eq!(settings.ca_file, None);
        assert_eq!(settings.request_timeout, Duration::from_secs(60));
        assert_eq!(settings.max_response_bytes, 64 * 1024 * 1024);
        assert!(
            settings.dns_overrides.is_empty(),
            "overrides are for tests only"
        );
    }

    #[test]
    fn delegation_keeps_ipv6_literals_whole() {
        let overrides = Overrides {
            server_name: Some("[::1]".into()),
            ..Overrides::default()
        };
        let config = load(None, &[], &overrides).expect("loads");
        assert_eq!(config.delegated_server(), "[::1]:8448");
    }
}
