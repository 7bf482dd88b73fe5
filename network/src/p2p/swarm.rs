//! The swarm task: owns the libp2p swarm, turns commands into publishes and requests, and
//! swarm events into checked [`NetEvent`]s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, ValidationMode};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, Swarm, SwarmBuilder};
use protocol::{Envelope, PartyIndex, Recipient};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::codec::{DirectCodec, DIRECT};
use super::quiet::{Loudness, RefusalLog};
use super::{identity, Command, NetError, NetEvent, NetStats, NetworkHandle, P2pConfig, RejectReason};

const TOPIC: &str = "mpc-node/rounds/1";
/// How long a broadcast waits for subscribed peers before it is dropped.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(10);

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossip: gossipsub::Behaviour,
    direct: request_response::Behaviour<DirectCodec>,
}

struct Task {
    swarm: Swarm<Behaviour>,
    me: PartyIndex,
    members: HashMap<PeerId, PartyIndex>,
    parties: HashMap<PartyIndex, (PeerId, Multiaddr)>,
    events: mpsc::Sender<NetEvent>,
    stats: Arc<NetStats>,
    max_bytes: usize,
    topic: IdentTopic,
    pending: Vec<(Vec<u8>, Instant)>,
    connected: HashSet<PartyIndex>,
    /// Per missing member: when to dial next, and the wait after that (doubling, capped).
    backoff: HashMap<PeerId, (Instant, Duration)>,
    redial_every: Duration,
    /// Which refusals reach the log at warn.
    refusals: RefusalLog<PeerId>,
}

/// The longest wait between two dials of a member that stays away.
const MAX_REDIAL: Duration = Duration::from_secs(30);

fn config_error(what: impl ToString) -> NetError {
    NetError::Config(what.to_string())
}

pub(super) fn start(config: P2pConfig) -> Result<(NetworkHandle, mpsc::Receiver<NetEvent>), NetError> {
    let key = identity::load_or_create(&config.identity_file)?;
    let my_peer = key.public().to_peer_id();
    let mut members = HashMap::new();
    let mut parties = HashMap::new();
    for m in &config.committee {
        let peer: PeerId =
            m.peer_id.parse().map_err(|e| config_error(format!("member {}: peer id {}: {e}", m.party, m.peer_id)))?;
        let addr: Multiaddr =
            m.address.parse().map_err(|e| config_error(format!("member {}: address {}: {e}", m.party, m.address)))?;
        if members.insert(peer, m.party).is_some() || parties.insert(m.party, (peer, addr)).is_some() {
            return Err(config_error(format!("member {} ({}) is listed twice", m.party, m.peer_id)));
        }
    }
    match parties.get(&config.me) {
        Some((peer, _)) if *peer == my_peer => {}
        Some((peer, _)) => {
            return Err(config_error(format!(
                "committee lists party {} as {peer}, but this node's identity is {my_peer}",
                config.me
            )))
        }
        None => return Err(config_error(format!("party {} is not in the committee", config.me))),
    }
    let keys: HashMap<PartyIndex, libp2p::identity::PublicKey> =
        parties.iter().filter_map(|(party, (peer, _))| public_key_of(peer).map(|k| (*party, k))).collect();
    let signer = Arc::new(super::Signer { key: key.clone(), members: keys });
    let listen: Multiaddr =
        config.listen.parse().map_err(|e| config_error(format!("listen {}: {e}", config.listen)))?;

    let max_bytes = config.max_message_bytes;
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(max_bytes + 1024)
        .heartbeat_interval(Duration::from_millis(500))
        .message_id_fn(|m: &gossipsub::Message| {
            let mut h = Sha256::new();
            h.update(m.source.map(|p| p.to_bytes()).unwrap_or_default());
            h.update(&m.data);
            gossipsub::MessageId::from(h.finalize().to_vec())
        })
        .build()
        .map_err(config_error)?;
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(config_error)?
        .with_behaviour(|key| {
            let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gossip_config)?;
            let (params, thresholds) = peer_scoring(IdentTopic::new(TOPIC).hash());
            gossip.with_peer_score(params, thresholds)?;
            let direct = request_response::Behaviour::with_codec(
                DirectCodec { max_bytes },
                [(DIRECT, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
            );
            Ok(Behaviour { gossip, direct })
        })
        .map_err(config_error)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let topic = IdentTopic::new(TOPIC);
    swarm.behaviour_mut().gossip.subscribe(&topic).map_err(config_error)?;
    swarm.listen_on(listen.clone()).map_err(|e| {
        // The transport's own text for an OS error is empty: name the cause.
        let cause = match e {
            libp2p::TransportError::Other(io) => io.to_string(),
            other => other.to_string(),
        };
        config_error(format!("listen on {listen}: {cause}"))
    })?;
    for (party, (peer, addr)) in &parties {
        if *party != config.me {
            swarm.add_peer_address(*peer, addr.clone());
        }
    }

    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    let stats = Arc::new(NetStats::default());
    let task = Task {
        swarm,
        me: config.me,
        members,
        parties,
        events: ev_tx,
        stats: stats.clone(),
        max_bytes,
        topic,
        pending: Vec::new(),
        connected: HashSet::new(),
        backoff: HashMap::new(),
        redial_every: config.redial_interval,
        refusals: RefusalLog::new(),
    };
    tokio::spawn(task.run(cmd_rx, config.redial_interval));
    Ok((NetworkHandle { commands: cmd_tx, peer_id: my_peer.to_base58(), stats, signer }, ev_rx))
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>, redial_every: Duration) {
        let mut redial = tokio::time::interval(redial_every);
        let mut retry = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                event = self.swarm.select_next_some() => self.event(event).await,
                _ = redial.tick() => self.redial(),
                _ = retry.tick() => self.retry_pending(),
            }
        }
    }

    async fn emit(&mut self, event: NetEvent) {
        let _ = self.events.send(event).await;
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Broadcast(envelope) => match envelope.encode() {
                Ok(bytes) => self.publish(bytes, Instant::now()),
                Err(e) => self.emit(NetEvent::SendFailed { to: self.me, error: e.to_string() }).await,
            },
            Command::SendTo(party, envelope) => {
                let Some((peer, _)) = self.parties.get(&party).cloned() else {
                    self.emit(NetEvent::SendFailed { to: party, error: "not a member".into() }).await;
                    return;
                };
                match envelope.encode() {
                    Ok(bytes) => {
                        self.swarm.behaviour_mut().direct.send_request(&peer, bytes);
                    }
                    Err(e) => self.emit(NetEvent::SendFailed { to: party, error: e.to_string() }).await,
                }
            }
            Command::Connected(reply) => {
                let mut list: Vec<PartyIndex> = self.connected.iter().copied().collect();
                list.sort_unstable();
                let _ = reply.send(list);
            }
            Command::Scores(reply) => {
                let gossip = &self.swarm.behaviour().gossip;
                let mut list: Vec<(PartyIndex, f64)> = self
                    .members
                    .iter()
                    .filter(|(_, party)| self.connected.contains(party))
                    .filter_map(|(peer, party)| gossip.peer_score(peer).map(|s| (*party, s)))
                    .collect();
                list.sort_by_key(|(p, _)| *p);
                let _ = reply.send(list);
            }
        }
    }

    fn publish(&mut self, bytes: Vec<u8>, since: Instant) {
        match self.swarm.behaviour_mut().gossip.publish(self.topic.clone(), bytes.clone()) {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
            // Nobody subscribed yet (start-up, reconnect): try again shortly.
            Err(_) if since.elapsed() < PUBLISH_PATIENCE => self.pending.push((bytes, since)),
            Err(e) => tracing::warn!(error = %e, "broadcast dropped: no member subscribed in time"),
        }
    }

    fn retry_pending(&mut self) {
        for (bytes, since) in std::mem::take(&mut self.pending) {
            self.publish(bytes, since);
        }
    }

    fn redial(&mut self) {
        let missing: Vec<(PeerId, Multiaddr)> = self
            .parties
            .iter()
            .filter(|(party, (peer, _))| **party != self.me && !self.swarm.is_connected(peer))
            .map(|(_, (peer, addr))| (*peer, addr.clone()))
            .collect();
        let now = Instant::now();
        for (peer, addr) in missing {
            let (next, wait) = self.backoff.entry(peer).or_insert((now, self.redial_every));
            if *next > now {
                continue;
            }
            let _ = self.swarm.dial(addr.with(Protocol::P2p(peer)));
            // Back off while it stays away: base interval, doubling, at most MAX_REDIAL.
            *next = now + *wait;
            *wait = (*wait * 2).min(MAX_REDIAL.max(self.redial_every));
        }
    }

    /// Checks an envelope from `peer`: a member, within size, decodable, sender = that member,
    /// recipient as the channel requires.
    fn check(&self, peer: &PeerId, bytes: &[u8], broadcast: bool) -> Result<(PartyIndex, Envelope), RejectReason> {
        let Some(&party) = self.members.get(peer) else { return Err(RejectReason::NotAMember) };
        if bytes.len() > self.max_bytes {
            return Err(RejectReason::Oversized(bytes.len()));
        }
        let envelope = Envelope::decode(bytes).map_err(|e| RejectReason::Undecodable(e.to_string()))?;
        if envelope.sender != party {
            return Err(RejectReason::SenderMismatch { claimed: envelope.sender, actual: party });
        }
        let recipient_ok = match envelope.recipient {
            Recipient::Broadcast => broadcast,
            Recipient::Party(to) => !broadcast && to == self.me,
        };
        if !recipient_ok {
            return Err(RejectReason::WrongRecipient);
        }
        Ok((party, envelope))
    }

    async fn reject(&mut self, peer: &PeerId, reason: RejectReason) {
        self.log_refusal(peer, &reason);
        if reason == RejectReason::NotAMember {
            NetStats::bump(&self.stats.rejected_non_member);
        } else {
            NetStats::bump(&self.stats.rejected_invalid);
        }
        self.emit(NetEvent::Rejected { peer: peer.to_base58(), reason }).await;
    }

    fn log_refusal(&mut self, peer: &PeerId, reason: &RejectReason) {
        match self.refusals.refused(*peer, Instant::now()) {
            Loudness::Warn { quieted } => {
                tracing::warn!(%peer, ?reason, since_last = quieted, "message or connection refused")
            }
            Loudness::Quiet => tracing::debug!(%peer, ?reason, "message or connection refused"),
        }
    }

    async fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.emit(NetEvent::Listening(address.to_string())).await
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => match self.members.get(&peer_id) {
                Some(&party) => {
                    self.backoff.remove(&peer_id);
                    if self.connected.insert(party) {
                        tracing::info!(party, %peer_id, "member connected");
                        self.emit(NetEvent::PeerUp(party)).await;
                    }
                }
                None => {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    self.reject(&peer_id, RejectReason::NotAMember).await;
                }
            },
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                if let Some(&party) = self.members.get(&peer_id) {
                    if self.connected.remove(&party) {
                        tracing::warn!(party, %peer_id, "member disconnected");
                        self.emit(NetEvent::PeerDown(party)).await;
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let author = message.source.unwrap_or(propagation_source);
                let verdict = self.check(&author, &message.data, true);
                let acceptance = if verdict.is_ok() { MessageAcceptance::Accept } else { MessageAcceptance::Reject };
                self.swarm.behaviour_mut().gossip.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
                match verdict {
                    Ok((from, envelope)) => {
                        NetStats::bump(&self.stats.delivered);
                        self.emit(NetEvent::Message { from, envelope }).await;
                    }
                    Err(reason) => self.reject(&author, reason).await,
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Direct(request_response::Event::Message {
                peer,
                message: request_response::Message::Request { request, channel, .. },
                ..
            })) => match self.check(&peer, &request, false) {
                Ok((from, envelope)) => {
                    let _ = self.swarm.behaviour_mut().direct.send_response(channel, 1);
                    NetStats::bump(&self.stats.delivered);
                    self.emit(NetEvent::Message { from, envelope }).await;
                }
                Err(reason) => self.reject(&peer, reason).await,
            },
            SwarmEvent::Behaviour(BehaviourEvent::Direct(request_response::Event::OutboundFailure {
                peer,
                error,
                ..
            })) => {
                let to = self.members.get(&peer).copied().unwrap_or(PartyIndex::MAX);
                self.emit(NetEvent::SendFailed { to, error: error.to_string() }).await;
            }
            _ => {}
        }
    }
}

/// Gossipsub peer scoring for a configured committee: every message this node rejects (not
/// a member's, undecodable, sent as another member) counts against its author, squared and
/// decaying by half each second. A member that keeps sending junk is soon below the graylist
/// threshold, and everything it gossips is ignored until its score recovers; an honest member
/// is never rejected. Penalties meant for open networks (too few deliveries in the mesh, many
/// peers on one address) are off: the committee is fixed and often shares a host in tests.
fn peer_scoring(topic: gossipsub::TopicHash) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let mut t = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        invalid_message_deliveries_weight: -20.0,
        invalid_message_deliveries_decay: 0.5,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..Default::default()
    };
    t.time_in_mesh_weight = 0.0;
    let mut params =
        gossipsub::PeerScoreParams { ip_colocation_factor_weight: 0.0, app_specific_weight: 0.0, ..Default::default() };
    params.topics.insert(topic, t);
    (params, gossipsub::PeerScoreThresholds::default())
}

/// The public key an Ed25519 peer id carries inline (identity multihash).
fn public_key_of(peer: &PeerId) -> Option<libp2p::identity::PublicKey> {
    let hash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if hash.code() != 0 {
        return None;
    }
    libp2p::identity::PublicKey::try_decode_protobuf(hash.digest()).ok()
}
