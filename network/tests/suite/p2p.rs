//! The libp2p transport on loopback: broadcasts reach every member, private messages only
//! their recipient, and an outsider or a member lying about the sender gets nothing through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use network::p2p::{self, Member, NetEvent, NetworkHandle, P2pConfig, RejectReason};
use protocol::{Envelope, PartyIndex, Recipient, SessionId};
use tokio::sync::mpsc::Receiver;

fn free_port() -> u16 {
    network::ports::free_loopback_port().unwrap()
}

struct Node {
    handle: NetworkHandle,
    events: Receiver<NetEvent>,
}

fn envelope(sender: PartyIndex, recipient: Recipient, tag: u8) -> Envelope {
    Envelope { session: SessionId::derive("p2p-test", &[tag]), round: 1, sender, recipient, payload: vec![tag; 100] }
}

/// Starts `ids.len()` nodes; the first `members` form the committee. Node `k >= members` is an
/// outsider that believes it is party `k` of a committee listing everyone.
fn start(dir: &std::path::Path, count: usize, members: usize) -> Vec<Node> {
    let ids: Vec<_> = (0..count).map(|i| dir.join(format!("id{i}.key"))).collect();
    let peers: Vec<String> = ids.iter().map(|p| p2p::peer_id(p).unwrap()).collect();
    let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
    let member = |i: usize| Member {
        party: i as PartyIndex,
        peer_id: peers[i].clone(),
        address: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
    };
    (0..count)
        .map(|i| {
            let committee =
                if i < members { (0..members).map(member).collect() } else { (0..count).map(member).collect() };
            let config = P2pConfig {
                me: i as PartyIndex,
                identity_file: ids[i].clone(),
                listen: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
                committee,
                max_message_bytes: 64 * 1024,
                redial_interval: Duration::from_millis(300),
            };
            let (handle, events) = p2p::start(config).unwrap();
            Node { handle, events }
        })
        .collect()
}

/// Waits for the next `Message` event, skipping others; `None` after `wait`.
async fn next_message(node: &mut Node, wait: Duration) -> Option<(PartyIndex, Envelope)> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, node.events.recv()).await {
            Ok(Some(NetEvent::Message { from, envelope })) => return Some((from, envelope)),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

async fn wait_connected(nodes: &[Node], members: usize) {
    for _ in 0..100 {
        let mut all = true;
        for n in &nodes[..members] {
            all &= n.handle.connected().await.unwrap().len() == members - 1;
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("members did not connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_and_private_messages_reach_exactly_their_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start(dir.path(), 3, 3);
    wait_connected(&nodes, 3).await;
    // Let gossipsub exchange subscriptions.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    nodes[0].handle.broadcast(envelope(0, Recipient::Broadcast, 1)).await.unwrap();
    for k in [1, 2] {
        let (from, e) = next_message(&mut nodes[k], Duration::from_secs(10)).await.expect("broadcast arrives");
        assert_eq!((from, e.payload[0]), (0, 1));
    }

    nodes[1].handle.send_to(2, envelope(1, Recipient::Party(2), 2)).await.unwrap();
    let (from, e) = next_message(&mut nodes[2], Duration::from_secs(10)).await.expect("private message arrives");
    assert_eq!((from, e.recipient), (1, Recipient::Party(2)));
    assert!(next_message(&mut nodes[0], Duration::from_millis(500)).await.is_none(), "party 0 must not see it");

    // A member that signs an envelope claiming another sender is refused.
    nodes[1].handle.broadcast(envelope(0, Recipient::Broadcast, 3)).await.unwrap();
    nodes[1].handle.send_to(2, envelope(0, Recipient::Party(2), 4)).await.unwrap();
    assert!(next_message(&mut nodes[2], Duration::from_secs(2)).await.is_none());
    assert!(nodes[2].handle.stats().rejected_invalid.load(std::sync::atomic::Ordering::Relaxed) >= 2);

    // Its gossip score at the receiver falls with every rejected message: a member that keeps
    // it up is graylisted (below -80), and the honest sender keeps a score of at least 0.
    for tag in 5..10 {
        nodes[1].handle.broadcast(envelope(0, Recipient::Broadcast, tag)).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let scores = nodes[2].handle.scores().await.unwrap();
        let of = |p: u16| scores.iter().find(|(q, _)| *q == p).map(|(_, s)| *s);
        if of(1).is_some_and(|s| s < -80.0) {
            assert!(of(0).is_some_and(|s| s >= 0.0), "{scores:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the junk sender's score did not fall: {scores:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_cannot_inject_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start(dir.path(), 4, 3);
    wait_connected(&nodes, 3).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    nodes[3].handle.broadcast(envelope(3, Recipient::Broadcast, 9)).await.unwrap();
    nodes[3].handle.send_to(0, envelope(3, Recipient::Party(0), 9)).await.unwrap();
    for (k, node) in nodes.iter_mut().take(3).enumerate() {
        assert!(
            next_message(node, Duration::from_millis(1500)).await.is_none(),
            "member {k} got an outsider's message"
        );
    }
    let refused: u64 = nodes[..3]
        .iter()
        .map(|n| n.handle.stats().rejected_non_member.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert!(refused > 0, "outsider connections are refused and counted");
    assert!(nodes[0].handle.connected().await.unwrap().iter().all(|p| *p < 3));
}

#[tokio::test]
async fn identity_persists_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let a = p2p::peer_id(&path).unwrap();
    assert_eq!(p2p::peer_id(&path).unwrap(), a, "same identity after a restart");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(p2p::peer_id(&path).is_err(), "a key file others can read is refused");
}

#[tokio::test]
async fn a_committee_that_does_not_list_this_node_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let me = dir.path().join("me.key");
    let other = dir.path().join("other.key");
    let config = P2pConfig {
        me: 0,
        identity_file: me,
        listen: "/ip4/127.0.0.1/tcp/0".into(),
        committee: vec![Member {
            party: 0,
            peer_id: p2p::peer_id(&other).unwrap(),
            address: "/ip4/127.0.0.1/tcp/1".into(),
        }],
        max_message_bytes: 1024,
        redial_interval: Duration::from_secs(1),
    };
    match p2p::start(config) {
        Err(p2p::NetError::Config(m)) => assert!(m.contains("identity"), "{m}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started with a foreign identity"),
    }
    let bad = P2pConfig {
        me: 0,
        identity_file: dir.path().join("x.key"),
        listen: "not-a-multiaddr".into(),
        committee: vec![],
        max_message_bytes: 1024,
        redial_interval: Duration::from_secs(1),
    };
    assert!(matches!(p2p::start(bad), Err(p2p::NetError::Config(_))));
    let _ = RejectReason::NotAMember;
}

#[tokio::test]
async fn a_listen_port_in_use_is_refused_naming_the_address_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let me = dir.path().join("me.key");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = P2pConfig {
        me: 0,
        identity_file: me.clone(),
        listen: format!("/ip4/127.0.0.1/tcp/{port}"),
        committee: vec![Member {
            party: 0,
            peer_id: p2p::peer_id(&me).unwrap(),
            address: format!("/ip4/127.0.0.1/tcp/{port}"),
        }],
        max_message_bytes: 1024,
        redial_interval: Duration::from_secs(1),
    };
    match p2p::start(config) {
        Err(p2p::NetError::Config(m)) => {
            assert!(m.contains(&port.to_string()) && m.to_lowercase().contains("in use"), "{m}")
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("listened on a port already taken"),
    }
}
