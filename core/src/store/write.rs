//! A transaction held across several store calls: the room writer's unit
//! of group commit.

use deadpool_postgres::Object;

use super::{Store, StoreError};

/// An open transaction on a pooled connection.
///
/// Dropped without [`Write::commit`], the connection is detached from the
/// pool and closed, which makes PostgreSQL roll the transaction back: a
/// half-done write never returns to the pool.
pub struct Write {
    client: Option<Object>,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Write")
    }
}

impl Store {
    /// Begins a transaction.
    pub async fn begin(&self) -> Result<Write, StoreError> {
        let client = self.client().await?;
        client.batch_execute("BEGIN").await?;
        Ok(Write {
            client: Some(client),
        })
    }
}

impl Write {
    pub(crate) fn client(&self) -> &Object {
        self.client
            .as_ref()
            .expect("the client is only taken by commit and drop")
    }

    /// Commits and returns the connection to the pool.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let client = self.client.take().expect("commit runs once");
        client.batch_execute("COMMIT").await?;
        Ok(())
    }

    /// Marks a point [`Write::rollback_to_savepoint`] returns to.
    pub async fn savepoint(&self) -> Result<(), StoreError> {
        self.client().batch_execute("SAVEPOINT job").await?;
        Ok(())
    }

    /// Undoes everything since the last [`Write::savepoint`].
    pub async fn rollback_to_savepoint(&self) -> Result<(), StoreError> {
        self.client()
            .batch_execute("ROLLBACK TO SAVEPOINT job")
            .await?;
        Ok(())
    }
}

impl Drop for Write {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Closing the connection aborts the open transaction.
            drop(Object::take(client));
        }
    }
}
