//! PostgreSQL storage. Every SQL statement of hanse lives below this module.

mod account_data;
mod accounts;
mod cluster;
mod cross_signing;
mod database;
mod dehydrated_devices;
mod devices;
mod events;
mod federation;
mod federation_sender;
mod filters;
mod interning;
mod key_backup;
mod keys;
mod media;
mod migrate;
mod out_of_band;
mod prepared;
mod presence;
mod pushers;
mod receipts;
mod remote_keys;
mod reports;
mod rooms;
mod search;
mod server_keys;
mod state_nodes;
mod sync;
mod to_device;
mod tokens;
mod uia;
mod write;

pub use accounts::{AccountRow, NewAccount};
pub use cluster::{socket_config, ClusterError, ClusterOptions, ManagedCluster, SUPERUSER};
pub use cross_signing::{CrossSigningKeyRow, KeySignature};
pub use database::{create_database, DatabaseError};
pub use dehydrated_devices::{DehydrationRefused, NewDehydratedDevice};
pub use devices::DeviceRow;
pub use events::{
    Direction, EventRow, InsertedEvent, NewEventRow, NewOutlierRow, ThreadSummaryRow,
};
pub use federation_sender::{Dropped, LeasedDestination, PendingTransaction};
pub use key_backup::{BackedUpKey, BackupScope, BackupVersionRow, BackupWriteRefused};
pub use keys::{ClaimedKey, KeyConflict, NewKey};
pub use media::{MediaContent, MediaRow, ThumbnailRow};
pub use migrate::{migrate, MigrationError, SCHEMA_VERSION};
pub use out_of_band::OutOfBandRow;
pub use presence::PresenceRow;
pub use pushers::PusherRow;
pub use receipts::NewReceipt;
pub use remote_keys::{RemoteKeyDocument, RemoteKeyRow};
pub use reports::NewReport;
pub use rooms::{MembershipRow, RoomHeadRow, RoomRow};
pub use search::{SearchFrom, SearchHit};
pub use server_keys::RetiredKey;
pub use sync::{MemberCounts, ReceiptRow};
pub use to_device::{NewToDevice, ToDeviceRow, ToDeviceSent};
pub use tokens::{NewTokens, RefreshTokenRow, TokenOwner};
pub use uia::{RegistrationTokenRow, UiaSessionRow};
pub use write::Write;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
}

/// Handle to hanse's database: a connection pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// A pool of at most `size` connections made with `config`.
    ///
    /// Connections are opened lazily; [`Store::ping`] checks that the
    /// database answers.
    pub fn connect(config: tokio_postgres::Config, size: usize) -> Self {
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size)
            .build()
            .expect("a pool without a runtime-dependent setting always builds");
        Self { pool }
    }

    /// One round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.get().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> usize {
        self.pool.status().max_size
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}
