//! A committee of libp2p transports on loopback, for the actor tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use network::p2p::{self, Member, NetEvent, NetworkHandle, P2pConfig};
use protocol::PartyIndex;
use tokio::sync::mpsc::Receiver;

/// Starts `n` members on free loopback ports and waits until they are connected and gossip
/// subscriptions have spread.
pub async fn committee(dir: &std::path::Path, n: usize) -> Vec<(NetworkHandle, Receiver<NetEvent>)> {
    let ids: Vec<_> = (0..n).map(|i| dir.join(format!("{i}.key"))).collect();
    let ports: Vec<u16> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let members: Vec<Member> = (0..n)
        .map(|i| Member {
            party: i as PartyIndex,
            peer_id: p2p::peer_id(&ids[i]).unwrap(),
            address: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            p2p::start(P2pConfig {
                me: i as PartyIndex,
                identity_file: ids[i].clone(),
                listen: format!("/ip4/127.0.0.1/tcp/{}", ports[i]),
                committee: members.clone(),
                max_message_bytes: 4 * 1024 * 1024,
                redial_interval: Duration::from_millis(300),
            })
            .unwrap(),
        );
    }
    for _ in 0..100 {
        let mut all = true;
        for (h, _) in &out {
            all &= h.connected().await.unwrap().len() == n - 1;
        }
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    out
}
