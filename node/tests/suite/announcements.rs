//! A member announcing transactions without end: each member journals at most 120 new
//! transactions a minute from another (180 at once); the rest are dropped before the journal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{cluster, start_all};
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
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let flood_began = Instant::now();
    let sent = runtime.block_on(async {
        let (handle, _events) = common::impostor(&nodes[2], 2).await;
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
        1000
    });
    // The flood reaches the members over a few seconds (the impostor's gossip queue backs up),
    // while each member's budget refills at 2 a second: wait until only the refill adds more.
    for n in &nodes[..2] {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut taken = history_len(n, "flooded") - before;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let now = history_len(n, "flooded") - before;
            let settled = now >= 150 && now - taken <= 2;
            taken = now;
            if settled || Instant::now() > deadline {
                break;
            }
        }
        let refilled = 2 * flood_began.elapsed().as_secs() as usize + 2;
        eprintln!("node {} journaled {taken} of {sent} announced transactions ({refilled} by refill)", n.party);
        assert!(
            (150..=180 + refilled).contains(&taken),
            "node {} journaled {taken} of {sent} announced transactions; its budget is 180 at once and {refilled} refilled since",
            n.party
        );
    }
    // The members still sign together.
    let signed = nodes[0]
        .call("sign", json!({ "wallet": "flooded", "message": "00ff", "signers": [0, 1], "wait_ms": 60_000 }))
        .unwrap();
    assert_eq!(signed["status"], "signed", "{signed}");
}
