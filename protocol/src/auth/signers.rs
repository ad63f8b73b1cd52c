//! The servers whose signatures an event needs.
//!
//! The authorisation rules start from "events must be signed by the
//! sender's server" and, from version 8, require the signature of the
//! server vouching for a restricted join. Verifying signatures needs
//! server keys, which this crate does not fetch, so that part of the rules
//! is done by the caller's signature check (step 2 of the checks on
//! receipt) for the servers listed here; [`authorize`](super::authorize)
//! assumes it passed.

use crate::canonical_json::CanonicalJsonValue;
use crate::identifiers::{ServerName, UserId};
use crate::pdu::Pdu;
use crate::room_versions::{EventIdFormat, RoomVersion};

/// The servers that must have validly signed `pdu`, without duplicates.
///
/// * The sender's server; except for an invite made from a third-party
///   invite, which the invited user's server may send on the inviter's
///   behalf (the rules check instead that the sender issued the
///   third-party invite).
/// * Versions 1–2: the server named in the event ID.
/// * Versions 8 on: for a member event with
///   `join_authorised_via_users_server`, that user's server.
pub fn required_signers(pdu: &Pdu, version: &RoomVersion) -> Vec<ServerName> {
    let content = pdu.content();
    let is_member = pdu.event_type() == "m.room.member";
    let membership = content
        .get("membership")
        .and_then(CanonicalJsonValue::as_str);
    let from_third_party_invite =
        is_member && membership == Some("invite") && content.contains_key("third_party_invite");

    let mut servers = Vec::new();
    let mut add = |server: &ServerName| {
        if !servers.contains(server) {
            servers.push(server.clone());
        }
    };
    if !from_third_party_invite {
        add(pdu.sender().server_name());
    }
    if version.event_id_format == EventIdFormat::ServerAssigned {
        if let Some(server) = pdu.event_id().server_name() {
            add(server);
        }
    }
    if is_member && version.restricted_join_allowed {
        let authoriser = content
            .get("join_authorised_via_users_server")
            .and_then(CanonicalJsonValue::as_str)
            .and_then(|user| UserId::parse(user).ok());
        if let Some(authoriser) = authoriser {
            add(authoriser.server_name());
        }
    }
    servers
}
