//! The parts of the operator's configuration that shape core behaviour.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Who may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationPolicy {
    /// Only operators, through the admin CLI.
    Closed,
    /// Anyone holding a registration token.
    Token,
    /// Anyone.
    Open,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub registration: RegistrationPolicy,
    /// Lifetime of access tokens issued to clients that accept refresh
    /// tokens. Clients that do not get tokens that never expire.
    pub refreshable_token_lifetime: Duration,
    pub media: MediaSettings,
    /// Whether users' presence is kept and shown (off: everyone shows as
    /// offline, and setting presence does nothing).
    pub presence: bool,
    /// `None` lifts every rate limit.
    pub rate_limits: Option<crate::rate_limits::RateSettings>,
    pub push: PushSettings,
    pub federation: crate::federation::FederationSettings,
    pub federation_sender: FederationSenderSettings,
}

/// How events and EDUs are sent to other servers.
#[derive(Debug, Clone)]
pub struct FederationSenderSettings {
    /// After a failed transaction a destination waits `retry_initial`,
    /// doubling with each failure in a row up to `retry_max`; the wait is
    /// stored, so a restart keeps it.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// How long a process holds a destination after its last step, so that
    /// processes sharing the database never send to it at once; longer
    /// than one request to another server may take.
    pub lease: Duration,
    /// How often destinations with pending work are looked for, besides
    /// the wake-up of each enqueue (work left by a process that stopped).
    pub sweep_interval: Duration,
}

impl Default for FederationSenderSettings {
    fn default() -> Self {
        Self {
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl FederationSenderSettings {
    pub fn backoff(&self) -> crate::retry::Backoff {
        crate::retry::Backoff {
            initial: self.retry_initial,
            max: self.retry_max,
        }
    }
}

/// How notifications are sent to push gateways.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Whether gateways on private, loopback and other non-public
    /// addresses may be used (off: a pusher whose URL leads there is
    /// refused, and never contacted).
    pub allow_private_gateways: bool,
    /// The wait before the first retry of a failed delivery; it doubles
    /// with each failure up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// How long a notification is retried before it is given up.
    pub give_up_after: Duration,
    /// How long one request to a gateway may take.
    pub timeout: Duration,
}

impl PushSettings {
    pub fn backoff(&self) -> crate::retry::Backoff {
        crate::retry::Backoff {
            initial: self.retry_initial,
            max: self.retry_max,
        }
    }
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            allow_private_gateways: false,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The media repository's settings.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Where media files live (`<data_dir>/media`).
    pub dir: PathBuf,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Bytes of media one user may keep stored; `None`: no quota.
    pub quota_bytes_per_user: Option<u64>,
    /// Created but not yet uploaded mxc URIs one user may hold at a time.
    pub max_pending_uploads: u32,
    /// How long a created mxc URI waits for its upload.
    pub pending_upload_lifetime: Duration,
    /// Largest image (width times height) thumbnails are made from.
    pub max_thumbnail_source_pixels: u64,
    /// URL previews: off unless set.
    pub url_preview: Option<UrlPreviewSettings>,
}

/// How /preview_url fetches pages.
#[derive(Debug, Clone)]
pub struct UrlPreviewSettings {
    /// Whether pages on private, loopback, link-local and other
    /// non-public addresses may be fetched. Off, such addresses are refused
    /// whatever name leads to them.
    pub allow_private_addresses: bool,
    /// Most bytes read of a page.
    pub max_page_bytes: u64,
    pub timeout: Duration,
}

impl MediaSettings {
    /// Settings with the documented defaults, storing files in `dir`.
    pub fn defaults_in(dir: PathBuf) -> Self {
        Self {
            dir,
            max_upload_bytes: 50 * 1024 * 1024,
            quota_bytes_per_user: None,
            max_pending_uploads: 10,
            pending_upload_lifetime: Duration::from_secs(24 * 3600),
            max_thumbnail_source_pixels: 32 * 1024 * 1024,
            url_preview: None,
        }
    }
}

impl Settings {
    /// [`Settings::refreshable_token_lifetime`] in milliseconds.
    pub fn refreshable_token_lifetime_ms(&self) -> i64 {
        i64::try_from(self.refreshable_token_lifetime.as_millis()).unwrap_or(i64::MAX)
    }
}
