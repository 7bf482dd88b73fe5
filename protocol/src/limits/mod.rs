//! Rate limits, pure and with the clock passed in: token buckets per API key, client address
//! and wallet ([`bucket`], [`keyed`]), and each wallet's signing windows ([`window`]): daily
//! velocity, raw signatures, and how often one message is signed in an hour. Every party runs
//! its own; a refusal says which limit, how full it is, and when to retry.

pub mod bucket;
pub mod keyed;
pub mod window;

use serde::{Deserialize, Serialize};

pub use bucket::{Bucket, Rate, Shortfall};
pub use keyed::{KeyedBuckets, KeyedShortfall};
pub use window::{Grant, Usage, WalletLimits, WindowLimit, WindowShortfall};

/// Which limit refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Limit {
    /// The caller's API key bucket.
    ApiKey,
    /// The client address bucket.
    ClientIp,
    /// The wallet's request bucket.
    Wallet,
    /// The wallet's signatures in a day.
    Velocity,
    /// The wallet's raw signatures in a day.
    RawVelocity,
    /// The same message signed too often in an hour.
    Diversity,
    /// Too many clients tracked at once.
    Tracking,
}

impl Limit {
    /// Stable name (metrics label, journal, RPC error data).
    pub fn name(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::ClientIp => "client_ip",
            Self::Wallet => "wallet",
            Self::Velocity => "velocity",
            Self::RawVelocity => "raw_velocity",
            Self::Diversity => "diversity",
            Self::Tracking => "tracking",
        }
    }

    fn counts_used(self) -> bool {
        matches!(self, Self::Velocity | Self::RawVelocity | Self::Diversity | Self::Tracking)
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A refusal: which limit, for whom, how full, and when to retry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Refusal {
    /// Which limit.
    pub limit: Limit,
    /// Who or what is limited (API key name, address, wallet).
    pub subject: String,
    /// Tokens left (buckets) or used (windows) now.
    pub level: u64,
    /// Capacity (buckets) or the limit (windows).
    pub max: u64,
    /// Milliseconds until the same request would pass; `None` if it never can.
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    fn describe(&self) -> String {
        let level = if self.limit.counts_used() {
            format!("{} of {} used", self.level, self.max)
        } else {
            format!("{} of {} tokens left", self.level, self.max)
        };
        let retry = match self.retry_after_ms {
            Some(ms) => format!("retry after {ms} ms"),
            None => "never passes at this size".to_owned(),
        };
        format!("limit {} for {}: {level}; {retry}", self.limit, self.subject)
    }

    /// From a bucket's shortfall.
    pub fn bucket(limit: Limit, subject: impl Into<String>, s: KeyedShortfall) -> Self {
        let subject = subject.into();
        match s {
            KeyedShortfall::Bucket(s) => {
                Self { limit, subject, level: s.level, max: s.capacity, retry_after_ms: s.retry_after_ms }
            }
            KeyedShortfall::Saturated { tracked, retry_after_ms } => Self {
                limit: Limit::Tracking,
                subject,
                level: tracked as u64,
                max: tracked as u64,
                retry_after_ms: Some(retry_after_ms),
            },
        }
    }

    /// From a wallet window's shortfall.
    pub fn window(subject: impl Into<String>, s: WindowShortfall) -> Self {
        let limit = match s.limit {
            WindowLimit::Velocity => Limit::Velocity,
            WindowLimit::RawVelocity => Limit::RawVelocity,
            WindowLimit::Diversity => Limit::Diversity,
        };
        Self { limit, subject: subject.into(), level: s.level, max: s.max, retry_after_ms: s.retry_after_ms }
    }
}

/// What each operation costs from a client's buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Costs {
    /// A raw or message signing.
    pub sign: u32,
    /// A transfer.
    pub transfer: u32,
    /// A wallet's keygen.
    pub keygen: u32,
    /// A committee setup.
    pub setup: u32,
    /// A read (info, lists, status).
    pub read: u32,
}

impl Default for Costs {
    fn default() -> Self {
        Self { sign: 1, transfer: 1, keygen: 5, setup: 5, read: 0 }
    }
}

/// One node's limits (the `[limits]` config section).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per minute per API key (capacity 1.5 ×), unless the key sets its own.
    pub per_key_per_min: u32,
    /// Requests per minute per client address (capacity 1.5 ×); unauthenticated requests
    /// cost 1 here.
    pub per_ip_per_min: u32,
    /// Signing proposals per minute per wallet, at every member (capacity 1.5 ×).
    pub per_wallet_per_min: u32,
    /// Signatures per wallet in any 24 hours, at every member.
    pub per_wallet_per_day: u32,
    /// Raw signatures (a digest or message the member cannot read) per wallet a day.
    pub raw_per_wallet_per_day: u32,
    /// Times one message may be signed by a wallet in any hour.
    pub same_message_per_hour: u32,
    /// Clients (keys and addresses) tracked at once: bounds the limiter's memory.
    pub max_tracked: usize,
    /// Cost per operation.
    pub costs: Costs,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let w = WalletLimits::default();
        Self {
            per_key_per_min: 100,
            per_ip_per_min: 300,
            per_wallet_per_min: 120,
            per_wallet_per_day: w.per_day,
            raw_per_wallet_per_day: w.raw_per_day,
            same_message_per_hour: w.same_message_per_hour,
            max_tracked: 100_000,
            costs: Costs::default(),
        }
    }
}

impl LimitsConfig {
    /// The wallet windows.
    pub fn wallet(&self) -> WalletLimits {
        WalletLimits {
            per_day: self.per_wallet_per_day,
            raw_per_day: self.raw_per_wallet_per_day,
            same_message_per_hour: self.same_message_per_hour,
        }
    }
}
