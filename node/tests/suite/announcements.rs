//! A member announcing transactions without end: each member journals at most 120 new
//! transactions a minute from another (180 at once); the rest are dropped before the journal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{cluster, start_all};
use network::p2p::{self, Member, P2pConfig};
use protocol::proposal::{Control, CONTROL_ROUND};
use protocol::wallet::{TransferNotice, TransferStage};
use protocol::{Envelope, Recipient, SessionId, WalletId};
use serde_json::json;

/// Entries of `wallet`'s history at `node`, every page.
fn history_len(node: &common::NodeProc, wallet: &str) -> usize {
    let (mut total, mut before) = (0, None::<u64>);
    loop {
        let page = node.call("wallet_history", json!({ "wallet": wallet, "before": before, "limit": 500 })).unwrap();
        total += page["entries"].as_array().unwrap().len();
        match page["next_before"].as_u64() {
            Some(b) => before = Some(b),
            None => return total,
        }
    }
}

#[test]
fn a_member_announcing_transactions_without_end_fills_no_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 3);
    start_all(&mut nodes);
    common::create_wallet(&nodes[0], "frost-ed25519", "flooded");
    for n in &nodes[1..] {
        n.call_until("wallet_get", json!({ "wallet": "flooded" }), 30);
    }
    let before = history_len(&nodes[0], "flooded");

    // Member 2 turns hostile: its process is replaced by one speaking with its identity.
    nodes[2].kill();
    let config = nodes[2].config.clone();
    let committee = config
        .committee
        .iter()
        .map(|m| Member { party: m.party, peer_id: m.peer_id.clone(), address: m.address.clone() })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sent = runtime.block_on(async {
        let (handle, _events) = p2p::start(P2pConfig {
            me: 2,
            identity_file: config.node.data_dir.join(node::init::IDENTITY_FILE),
            listen: config.network.listen.clone(),
            committee,
            max_message_bytes: config.network.max_message_bytes,
            redial_interval: Duration::from_millis(200),
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while handle.connected().await.unwrap().len() < 2 {
            assert!(Instant::now() < deadline, "the impostor never reached the members");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for k in 0..1000u32 {
            let notice = TransferNotice {
                tx: format!("tx-2-flood{k:05}"),
                wallet: WalletId::new("flooded").unwrap(),
                chain: "ethereum".into(),
                stage: TransferStage::Initiated { to: "0x00".into(), amount: 1, fee_ceiling: None },
            };
            let session = SessionId::derive("transfer-notice", notice.tx.as_bytes());
            let payload = Control::Notice(Box::new(notice)).encode().unwrap();
            let e = Envelope { session, round: CONTROL_ROUND, sender: 2, recipient: Recipient::Broadcast, payload };
            handle.broadcast(e).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        1000
    });
    for n in &nodes[..2] {
        let taken = history_len(n, "flooded") - before;
        eprintln!("node {} journaled {taken} of {sent} announced transactions", n.party);
        assert!((150..=200).contains(&taken), "node {} journaled {taken} of {sent} announced transactions", n.party);
    }
    // The members still sign together.
    let signed = nodes[0]
        .call("sign", json!({ "wallet": "flooded", "message": "00ff", "signers": [0, 1], "wait_ms": 60_000 }))
        .unwrap();
    assert_eq!(signed["status"], "signed", "{signed}");
}
