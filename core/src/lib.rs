//! hanse-core: what happens on this server. Storage lives here and only
//! here (see [`store`]); HTTP does not.

pub mod accounts;
pub mod clock;
pub mod e2ee;
mod error;
pub mod federation;
pub mod filters;
mod identity;
pub mod media;
mod outbound;
pub mod presence;
pub mod push;
pub mod rate_limits;
pub mod remote;
pub mod retry;
pub mod rooms;
pub mod settings;
pub mod store;
pub mod streams;
pub mod sync;

use std::sync::Arc;

pub use error::{Error, Result};
pub use identity::ServerIdentity;
pub use settings::{
    FederationSenderSettings, MediaSettings, PushSettings, RegistrationPolicy, Settings,
    UrlPreviewSettings,
};
pub use store::{Store, StoreError};

/// Everything a request handler needs to act for this server. Cheap to
/// clone: the parts are shared.
#[derive(Debug, Clone)]
pub struct Homeserver {
    pub identity: Arc<ServerIdentity>,
    pub settings: Arc<Settings>,
    pub store: Store,
    pub rooms: Arc<rooms::Rooms>,
    /// Turns at password hashing, one per CPU, and their working memory.
    pub password_hashing: Arc<accounts::PasswordHashing>,
    pub rate_limits: Arc<rate_limits::RateLimits>,
    /// Media files and the bound on thumbnails made at once.
    pub media: media::MediaRepo,
    /// Stream positions and the notifier waking waiting syncs.
    pub streams: Arc<streams::Streams>,
    /// Unread counts kept between syncs.
    pub unread: Arc<push::UnreadCounts>,
    /// Users' push rules once read.
    pub push_rule_cache: Arc<accounts::push_rules::PushRuleCache>,
    /// The tasks sending notifications to push gateways.
    pub push_delivery: Arc<push::PushDelivery>,
    /// How far devices have acknowledged their to-device inboxes.
    pub to_device_acks: Arc<e2ee::Acknowledged>,
    /// Other servers, reached through the federation crate.
    pub remote: Arc<dyn remote::Remote>,
    /// Other servers' signing keys once fetched.
    pub server_keys: Arc<federation::ServerKeys>,
    /// The tasks sending queued events and EDUs to other servers.
    pub federation_sender: Arc<federation::FederationSender>,
}

impl Homeserver {
    /// Fails on settings that make no sense (rate limits of zero).
    pub fn new(identity: ServerIdentity, settings: Settings, store: Store) -> Result<Self> {
        let rate_limits = rate_limits::RateLimits::new(settings.rate_limits.as_ref())?;
        Ok(Self {
            media: media::MediaRepo::new(&settings.media),
            identity: Arc::new(identity),
            settings: Arc::new(settings),
            rooms: Arc::new(rooms::Rooms::new(store.max_connections())),
            password_hashing: Arc::new(accounts::PasswordHashing::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            rate_limits: Arc::new(rate_limits),
            streams: Arc::default(),
            unread: Arc::default(),
            push_rule_cache: Arc::default(),
            push_delivery: Arc::default(),
            to_device_acks: Arc::default(),
            remote: Arc::new(remote::NoFederation),
            server_keys: Arc::default(),
            federation_sender: Arc::default(),
            store,
        })
    }

    /// This server with `remote` as its way to other servers.
    pub fn with_remote(mut self, remote: Arc<dyn remote::Remote>) -> Self {
        self.remote = remote;
        self
    }
}

/// Locks `mutex`, whether or not a holder panicked: the mutexes here guard
/// caches and bookkeeping that every write leaves whole, so a panic
/// elsewhere must not take them down with it.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
