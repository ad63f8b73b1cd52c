//! Rooms: the one row per room a new event starts from, and memberships.

use super::prepared::Prepared;
use super::{Store, StoreError, Write};

/// A room as stored.
#[derive(Debug, Clone)]
pub struct RoomRow {
    pub room_nid: i64,
    pub room_id: String,
    pub room_version: String,
}

/// Where a room stands: what the next local event builds on.
#[derive(Debug, Clone)]
pub struct RoomHeadRow {
    pub state_root: i64,
    pub forward_extremities: Vec<i64>,
    pub max_depth: i64,
}

/// A room membership of a user, as the `memberships` table has it.
#[derive(Debug, Clone)]
pub struct MembershipRow {
    pub room_nid: i64,
    pub room_id: String,
    pub membership: String,
    pub event_nid: i64,
    /// The stream position of the membership event.
    pub event_position: i64,
    pub forgotten: bool,
}

const MEMBERSHIP_QUERY: &str =
    "SELECT m.room_nid, r.room_id, m.membership, m.event_nid, m.forgotten,
            COALESCE(e.stream_ordering, 0)
     FROM memberships m
     JOIN state_keys k ON k.state_key_nid = m.user_nid
     JOIN rooms r ON r.room_nid = m.room_nid
     JOIN events e ON e.event_nid = m.event_nid";

fn membership_from_row(row: &tokio_postgres::Row) -> MembershipRow {
    MembershipRow {
        room_nid: row.get(0),
        room_id: row.get(1),
        membership: row.get(2),
        event_nid: row.get(3),
        forgotten: row.get(4),
        event_position: row.get(5),
    }
}

impl Store {
    pub async fn room_by_id(&self, room_id: &str) -> Result<Option<RoomRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT room_nid, room_id, room_version FROM rooms WHERE room_id = $1",
                &[&room_id],
            )
            .await?;
        Ok(row.map(|row| RoomRow {
            room_nid: row.get(0),
            room_id: row.get(1),
            room_version: row.get(2),
        }))
    }

    /// The room a local alias points to.
    pub async fn alias_room(&self, alias: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT r.room_id FROM room_aliases a JOIN rooms r USING (room_nid)
                 WHERE a.alias = $1",
                &[&alias],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// The local aliases of the room.
    pub async fn room_aliases(&self, room_nid: i64) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT alias FROM room_aliases WHERE room_nid = $1 ORDER BY alias",
                &[&room_nid],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Maps a local alias to the room; `false` when it is taken.
    pub async fn insert_alias(
        &self,
        alias: &str,
        room_nid: i64,
        creator: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        insert_alias(&self.client().await?, alias, room_nid, creator, now_ms).await
    }

    /// Who made the alias, if it exists.
    pub async fn alias_creator(&self, alias: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT creator FROM room_aliases WHERE alias = $1",
                &[&alias],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Points every local alias of one room at another (a room upgrade).
    pub async fn move_aliases(&self, from_nid: i64, to_nid: i64) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "UPDATE room_aliases SET room_nid = $2 WHERE room_nid = $1",
                &[&from_nid, &to_nid],
            )
            .await?;
        Ok(())
    }

    pub async fn delete_alias(&self, alias: &str) -> Result<bool, StoreError> {
        let deleted = self
            .client()
            .await?
            .cached_execute("DELETE FROM room_aliases WHERE alias = $1", &[&alias])
            .await?;
        Ok(deleted == 1)
    }

    /// Lists the room in (or removes it from) the published directory.
    pub async fn set_published(&self, room_nid: i64, published: bool) -> Result<(), StoreError> {
        set_published(&self.client().await?, room_nid, published).await
    }

    pub async fn is_published(&self, room_nid: i64) -> Result<bool, StoreError> {
        self.query_value(
            "SELECT published FROM rooms WHERE room_nid = $1",
            &[&room_nid],
        )
        .await
    }

    /// The published rooms with their joined member counts, most members
    /// first (then by room ID, so pages are stable).
    pub async fn published_rooms(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT r.room_id,
                        (SELECT count(*) FROM memberships m
                         WHERE m.room_nid = r.room_nid AND m.membership = 'join')
                 FROM rooms r WHERE r.published
                 ORDER BY 2 DESC, r.room_id",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Users matching `term` (a lowercase substring of the user ID or
    /// display name) who share a room with `searcher` or are in a public
    /// room: (user ID, display name, avatar URL), at most `limit`.
    pub async fn search_user_directory(
        &self,
        searcher: &str,
        term: &str,
        limit: i64,
    ) -> Result<Vec<(String, Option<String>, Option<String>)>, StoreError> {
        let pattern = format!(
            "%{}%",
            term.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = self
            .client()
            .await?
            .cached_query(
                "WITH visible_rooms AS (
                     SELECT m.room_nid FROM memberships m
                     JOIN state_keys k ON k.state_key_nid = m.user_nid
                     WHERE k.state_key = $1 AND m.membership = 'join'
                     UNION
                     SELECT room_nid FROM rooms WHERE join_rule = 'public'
                 ),
                 candidates AS (
                     SELECT DISTINCT k.state_key AS user_id FROM memberships m
                     JOIN state_keys k ON k.state_key_nid = m.user_nid
                     WHERE m.membership = 'join'
                       AND m.room_nid IN (SELECT room_nid FROM visible_rooms)
                 )
                 SELECT c.user_id, dn.value #>> '{}', av.value #>> '{}'
                 FROM candidates c
                 LEFT JOIN profile_fields dn ON dn.user_id = c.user_id AND dn.field = 'displayname'
                 LEFT JOIN profile_fields av ON av.user_id = c.user_id AND av.field = 'avatar_url'
                 WHERE lower(c.user_id) LIKE $2 OR lower(dn.value #>> '{}') LIKE $2
                 ORDER BY (dn.value IS NULL), c.user_id
                 LIMIT $3",
                &[&searcher, &pattern, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    /// The room's current state root.
    pub async fn room_state_root(&self, room_nid: i64) -> Result<i64, StoreError> {
        self.query_value(
            "SELECT state_root FROM rooms WHERE room_nid = $1",
            &[&room_nid],
        )
        .await
    }

    /// The room's head as last committed, without locking it.
    pub async fn room_head(&self, room_nid: i64) -> Result<RoomHeadRow, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_one(
                "SELECT state_root, forward_extremities, max_depth FROM rooms WHERE room_nid = $1",
                &[&room_nid],
            )
            .await?;
        Ok(RoomHeadRow {
            state_root: row.get(0),
            forward_extremities: row.get(1),
            max_depth: row.get(2),
        })
    }

    /// The user's memberships, optionally only those of one kind.
    pub async fn memberships_of(
        &self,
        user_id: &str,
        membership: Option<&str>,
    ) -> Result<Vec<MembershipRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                &format!(
                    "{MEMBERSHIP_QUERY}
                     WHERE k.state_key = $1 AND ($2::text IS NULL OR m.membership = $2)
                     ORDER BY m.event_nid"
                ),
                &[&user_id, &membership],
            )
            .await?;
        Ok(rows.iter().map(membership_from_row).collect())
    }

    /// The user's current membership of the room, if any.
    pub async fn membership(
        &self,
        room_nid: i64,
        user_id: &str,
    ) -> Result<Option<MembershipRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                &format!("{MEMBERSHIP_QUERY} WHERE m.room_nid = $1 AND k.state_key = $2"),
                &[&room_nid, &user_id],
            )
            .await?;
        Ok(row.as_ref().map(membership_from_row))
    }

    /// Hides a room the user has left from their room lists; `false` when
    /// they are still joined, invited or knocking (or never were there).
    pub async fn forget_room(&self, room_nid: i64, user_id: &str) -> Result<bool, StoreError> {
        let changed = self
            .client()
            .await?
            .cached_execute(
                "UPDATE memberships m SET forgotten = TRUE
                 FROM state_keys k
                 WHERE k.state_key_nid = m.user_nid AND m.room_nid = $1 AND k.state_key = $2
                   AND m.membership IN ('leave', 'ban')",
                &[&room_nid, &user_id],
            )
            .await?;
        Ok(changed == 1)
    }
}

impl Write {
    /// As [`Store::insert_alias`], within this write.
    pub async fn insert_alias(
        &self,
        alias: &str,
        room_nid: i64,
        creator: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        insert_alias(self.client(), alias, room_nid, creator, now_ms).await
    }

    /// Records the room's current join rule.
    pub async fn set_join_rule(&self, room_nid: i64, join_rule: &str) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "UPDATE rooms SET join_rule = $2 WHERE room_nid = $1",
                &[&room_nid, &join_rule],
            )
            .await?;
        Ok(())
    }

    /// Records that the room has turned encryption on.
    pub async fn set_encrypted(&self, room_nid: i64) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "UPDATE rooms SET encrypted = TRUE WHERE room_nid = $1",
                &[&room_nid],
            )
            .await?;
        Ok(())
    }

    /// As [`Store::set_published`], within this write.
    pub async fn set_published(&self, room_nid: i64, published: bool) -> Result<(), StoreError> {
        set_published(self.client(), room_nid, published).await
    }

    /// Creates the room's row; its state starts empty at `state_root`.
    pub async fn insert_room(
        &self,
        room_id: &str,
        room_version: &str,
        state_root: i64,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let row = self
            .client()
            .cached_query_one(
                "INSERT INTO rooms (room_id, room_version, state_root, forward_extremities,
                                    max_depth, created_ts)
                 VALUES ($1, $2, $3, '{}', 0, $4) RETURNING room_nid",
                &[&room_id, &room_version, &state_root, &now_ms],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Locks the room's row until commit (serialising writers across
    /// processes) and reads where it stands.
    pub async fn lock_room_head(&self, room_nid: i64) -> Result<RoomHeadRow, StoreError> {
        let row = self
            .client()
            .cached_query_one(
                "SELECT state_root, forward_extremities, max_depth FROM rooms
                 WHERE room_nid = $1 FOR UPDATE",
                &[&room_nid],
            )
            .await?;
        Ok(RoomHeadRow {
            state_root: row.get(0),
            forward_extremities: row.get(1),
            max_depth: row.get(2),
        })
    }

    pub async fn update_room_head(
        &self,
        room_nid: i64,
        head: &RoomHeadRow,
    ) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "UPDATE rooms SET state_root = $2, forward_extremities = $3, max_depth = $4
                 WHERE room_nid = $1",
                &[
                    &room_nid,
                    &head.state_root,
                    &head.forward_extremities,
                    &head.max_depth,
                ],
            )
            .await?;
        Ok(())
    }

    /// Records the new memberships of several users in the room at once
    /// (`(user, membership, event)`); returns each one's membership before,
    /// in the same order.
    pub async fn set_memberships(
        &self,
        room_nid: i64,
        changes: &[(i64, String, i64)],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let users: Vec<i64> = changes.iter().map(|(user, _, _)| *user).collect();
        let memberships: Vec<&str> = changes.iter().map(|(_, m, _)| m.as_str()).collect();
        let events: Vec<i64> = changes.iter().map(|(_, _, event)| *event).collect();
        let rows = self
            .client()
            .cached_query(
                "WITH new AS (
                     SELECT * FROM unnest($2::bigint[], $3::text[], $4::bigint[])
                         WITH ORDINALITY AS n(user_nid, membership, event_nid, position)
                 ), before AS (
                     SELECT m.user_nid, m.membership FROM memberships m
                     JOIN new ON new.user_nid = m.user_nid WHERE m.room_nid = $1
                 ), upsert AS (
                     INSERT INTO memberships (room_nid, user_nid, membership, event_nid)
                     SELECT $1, user_nid, membership, event_nid FROM new
                     ON CONFLICT (room_nid, user_nid) DO UPDATE
                     SET membership = EXCLUDED.membership, event_nid = EXCLUDED.event_nid,
                         forgotten = FALSE
                 )
                 SELECT before.membership FROM new
                 LEFT JOIN before ON before.user_nid = new.user_nid
                 ORDER BY new.position",
                &[&room_nid, &users, &memberships, &events],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Records the user's new membership in the room; returns the one before.
    pub async fn set_membership(
        &self,
        room_nid: i64,
        user_nid: i64,
        membership: &str,
        event_nid: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .cached_query_one(
                "WITH before AS (
                     SELECT membership FROM memberships WHERE room_nid = $1 AND user_nid = $2
                 ), upsert AS (
                     INSERT INTO memberships (room_nid, user_nid, membership, event_nid)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (room_nid, user_nid) DO UPDATE
                     SET membership = EXCLUDED.membership, event_nid = EXCLUDED.event_nid,
                         forgotten = FALSE
                 )
                 SELECT (SELECT membership FROM before)",
                &[&room_nid, &user_nid, &membership, &event_nid],
            )
            .await?;
        Ok(row.get(0))
    }
}

async fn insert_alias(
    client: &deadpool_postgres::Object,
    alias: &str,
    room_nid: i64,
    creator: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let inserted = client
        .cached_execute(
            "INSERT INTO room_aliases (alias, room_nid, creator, created_ts)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&alias, &room_nid, &creator, &now_ms],
        )
        .await?;
    Ok(inserted == 1)
}

async fn set_published(
    client: &deadpool_postgres::Object,
    room_nid: i64,
    published: bool,
) -> Result<(), StoreError> {
    client
        .cached_execute(
            "UPDATE rooms SET published = $2 WHERE room_nid = $1",
            &[&room_nid, &published],
        )
        .await?;
    Ok(())
}
