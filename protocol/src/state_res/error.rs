//! Why a set of states could not be resolved.

use crate::identifiers::EventId;

/// A failure of [`super::resolve`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateResError {
    /// An event named in a state set or an auth chain is not available.
    #[error("event {0} is needed for state resolution but not available")]
    MissingEvent(EventId),
    /// The room version resolves state with the original algorithm
    /// (room version 1), which is not implemented.
    #[error("the room version uses state resolution v1, which is not supported")]
    UnsupportedAlgorithm,
}
