//! The libp2p transport between parties: TCP + Noise + Yamux; broadcast rounds over gossipsub
//! (author-signed, strictly validated, then checked by us); private rounds over a direct
//! request-response protocol to the one recipient. The swarm runs in one task behind
//! [`NetworkHandle`]; commands go in and [`NetEvent`]s come out, in our own types.
//!
//! Only committee members are talked to: a connection from any other peer is closed, and a
//! message whose author is not a member, or whose envelope claims another sender than the
//! member that signed it, is rejected (and counted, and lowers the peer's gossip score).

mod codec;
mod identity;
mod quiet;
mod swarm;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use identity::peer_id;
use protocol::{Envelope, PartyIndex};
use tokio::sync::mpsc;

/// Why the network could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The identity file is unusable.
    #[error("identity: {0}")]
    Identity(String),
    /// The configuration is unusable (which field, why).
    #[error("config: {0}")]
    Config(String),
    /// The swarm task has stopped.
    #[error("network stopped")]
    Stopped,
    /// Filesystem.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// One committee member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Party index.
    pub party: PartyIndex,
    /// libp2p peer id, base58.
    pub peer_id: String,
    /// Where it listens, a multiaddr such as `/ip4/127.0.0.1/tcp/7001`.
    pub address: String,
}

/// How to run the transport.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// This node's party index.
    pub me: PartyIndex,
    /// The Ed25519 identity file (created on first start, mode 0600).
    pub identity_file: PathBuf,
    /// Listen multiaddr.
    pub listen: String,
    /// Every member, this node included.
    pub committee: Vec<Member>,
    /// Largest encoded envelope accepted.
    pub max_message_bytes: usize,
    /// First wait before a missing member is dialed again (doubles, at most 30 s).
    pub redial_interval: Duration,
}

/// Why a message or a peer was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The author or the connection is not a committee member.
    NotAMember,
    /// The envelope names another sender than the member that sent it.
    SenderMismatch {
        /// Party claimed in the envelope.
        claimed: PartyIndex,
        /// Party that actually sent it.
        actual: PartyIndex,
    },
    /// Over the size limit.
    Oversized(usize),
    /// Not a valid envelope.
    Undecodable(String),
    /// A private envelope sent as a broadcast, or one for someone else.
    WrongRecipient,
}

/// What the network reports.
#[derive(Clone, Debug)]
pub enum NetEvent {
    /// A valid envelope from a member.
    Message {
        /// The member it came from (checked against the envelope's sender).
        from: PartyIndex,
        /// The envelope.
        envelope: Envelope,
    },
    /// Something refused, with the peer and the reason.
    Rejected {
        /// Peer id, base58.
        peer: String,
        /// Why.
        reason: RejectReason,
    },
    /// A member connected.
    PeerUp(PartyIndex),
    /// A member's last connection closed.
    PeerDown(PartyIndex),
    /// Listening on an address.
    Listening(String),
    /// A private message could not be delivered.
    SendFailed {
        /// The recipient.
        to: PartyIndex,
        /// Why.
        error: String,
    },
}

/// Counters for metrics.
#[derive(Default, Debug)]
pub struct NetStats {
    /// Messages or connections refused because the peer is not a member.
    pub rejected_non_member: AtomicU64,
    /// Messages refused for another reason.
    pub rejected_invalid: AtomicU64,
    /// Valid messages delivered.
    pub delivered: AtomicU64,
}

impl NetStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) enum Command {
    Broadcast(Envelope),
    SendTo(PartyIndex, Envelope),
    Connected(tokio::sync::oneshot::Sender<Vec<PartyIndex>>),
    Scores(tokio::sync::oneshot::Sender<Vec<(PartyIndex, f64)>>),
}

/// Talks to the swarm task.
#[derive(Clone)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
    peer_id: String,
    stats: Arc<NetStats>,
    signer: Arc<Signer>,
}

/// This node's identity key and the committee's public keys, for statements that must be
/// signed with the node key (a coordinated abort) rather than only carried authenticated.
pub(crate) struct Signer {
    pub(crate) key: libp2p::identity::Keypair,
    pub(crate) members: std::collections::HashMap<PartyIndex, libp2p::identity::PublicKey>,
}

impl NetworkHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Signs `message` with this node's identity key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, NetError> {
        self.signer.key.sign(message).map_err(|e| NetError::Identity(e.to_string()))
    }

    /// True if `signature` is member `party`'s identity key signing `message`.
    pub fn verify(&self, party: PartyIndex, message: &[u8], signature: &[u8]) -> bool {
        self.signer.members.get(&party).is_some_and(|k| k.verify(message, signature))
    }

    /// Counters.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// Publishes a broadcast envelope to every member.
    pub async fn broadcast(&self, envelope: Envelope) -> Result<(), NetError> {
        self.commands.send(Command::Broadcast(envelope)).await.map_err(|_| NetError::Stopped)
    }

    /// Sends a private envelope to one member only.
    pub async fn send_to(&self, party: PartyIndex, envelope: Envelope) -> Result<(), NetError> {
        self.commands.send(Command::SendTo(party, envelope)).await.map_err(|_| NetError::Stopped)
    }

    /// Members currently connected.
    pub async fn connected(&self) -> Result<Vec<PartyIndex>, NetError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands.send(Command::Connected(tx)).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }
}

impl NetworkHandle {
    /// Each connected member's gossipsub score here (rejected messages lower it; below -80 a
    /// member's gossip is ignored).
    pub async fn scores(&self) -> Result<Vec<(PartyIndex, f64)>, NetError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands.send(Command::Scores(tx)).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }
}

/// Starts the transport on the current tokio runtime. The task stops when every handle is
/// dropped.
pub fn start(config: P2pConfig) -> Result<(NetworkHandle, mpsc::Receiver<NetEvent>), NetError> {
    swarm::start(config)
}
