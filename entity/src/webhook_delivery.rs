//! A webhook delivery as received from GitHub, and its processing state (the durable queue).

use sea_orm::entity::prelude::*;

pub use crate::states::DeliveryStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    /// The `X-GitHub-Delivery` GUID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub guid: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`.
    pub action: Option<String>,
    /// The installation id from the payload.
    pub installation_id: Option<i64>,
    /// The JSON document exactly as received (form bodies: the decoded `payload` field).
    pub payload: Option<Vec<u8>>,
    /// Hex SHA-256 of `payload`, kept when the bytes are dropped by retention.
    pub payload_sha256: String,
    /// Processing state.
    pub status: DeliveryStatus,
    /// Processing tries since the delivery was (re)queued.
    pub attempts: i32,
    /// Claims ever taken (never reset): a worker's claim token.
    pub claims: i32,
    /// When it is due (next try).
    pub next_attempt_at: DateTimeUtc,
    /// A worker's lease.
    pub locked_until: Option<DateTimeUtc>,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// When it arrived.
    pub received_at: DateTimeUtc,
    /// When it was settled.
    pub processed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
