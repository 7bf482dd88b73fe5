//! The limiter actor over a real store and journal: a flood of refusals fills no journal,
//! grants survive a restart of the actor, and a refund gives a grant back for good.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actors::journal::JournalActor;
use actors::limiter::{LimiterActor, LimiterArgs, LimiterMsg, SigningCheck};
use actors::supervisor::Slot;
use protocol::limits::{Limit, LimitsConfig};
use protocol::{SessionId, WalletId};
use ractor::Actor;
use store::limits::GrantLog;
use store::{Db, DomainEvent, Journal, StreamId};

fn config() -> LimitsConfig {
    LimitsConfig { per_key_per_min: 2, per_wallet_per_day: 2, ..Default::default() }
}

async fn limiter(db: &Db, journal: &Arc<Journal>) -> ractor::ActorRef<LimiterMsg> {
    let (j, _) = Actor::spawn(None, JournalActor, journal.clone()).await.unwrap();
    let args = LimiterArgs {
        config: config(),
        grants: Some(GrantLog::new(db.clone())),
        journal: Some(Slot::holding(j)),
        listeners: Vec::new(),
    };
    Actor::spawn(None, LimiterActor, args).await.unwrap().0
}

fn signing(i: u8) -> SigningCheck {
    SigningCheck {
        wallet: WalletId::new("w-1").unwrap(),
        session: SessionId::from_bytes([i; 32]),
        payloads: vec![vec![i; 32]],
        raw: false,
    }
}

#[tokio::test]
async fn a_flood_of_refusals_is_one_journal_entry_and_grants_outlive_the_actor() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let journal = Arc::new(Journal::open(db.clone()).unwrap());
    let l = limiter(&db, &journal).await;
    let ip = IpAddr::from([10, 0, 0, 7]);
    let mut refused = 0;
    for _ in 0..1000 {
        let r =
            ractor::call!(l, |reply| LimiterMsg::Client { key: "app".into(), rate: None, ip, cost: 1, reply }).unwrap();
        if let Err(refusal) = r {
            assert_eq!(refusal.limit, Limit::ApiKey);
            assert!(refusal.retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 30_000), "{refusal}");
            refused += 1;
        }
    }
    assert_eq!(refused, 1000 - 3, "capacity 1.5 x 2 a minute");

    // Two signatures a day: granted, granted, refused; a refund frees one slot for good.
    for i in 1..=2 {
        ractor::call!(l, |reply| LimiterMsg::Signing(signing(i), reply)).unwrap().unwrap();
    }
    let over = ractor::call!(l, |reply| LimiterMsg::Signing(signing(3), reply)).unwrap().unwrap_err();
    assert_eq!(over.limit, Limit::Velocity);
    l.cast(LimiterMsg::Refund(SessionId::from_bytes([2; 32]))).unwrap();
    let used = ractor::call!(l, LimiterMsg::Usage, WalletId::new("w-1").unwrap()).unwrap();
    assert_eq!(used, (1, 0));

    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = journal.read_stream(&StreamId::Limits, 0, 100).unwrap();
    assert_eq!(events.len(), 2, "one entry per limit and subject a minute, not one per refusal");
    assert!(matches!(&events[0].event, DomainEvent::LimitRefused { limit, subject, refused: 1, .. }
        if limit == "api_key" && subject == "app"));

    // A new limiter over the same store counts what was granted and not refunded.
    l.stop(None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = limiter(&db, &journal).await;
    let used = ractor::call!(again, LimiterMsg::Usage, WalletId::new("w-1").unwrap()).unwrap();
    assert_eq!(used, (1, 0), "the refunded grant stays refunded");
    ractor::call!(again, |reply| LimiterMsg::Signing(signing(4), reply)).unwrap().unwrap();
    let over = ractor::call!(again, |reply| LimiterMsg::Signing(signing(5), reply)).unwrap().unwrap_err();
    assert_eq!((over.limit, over.level, over.max), (Limit::Velocity, 2, 2));
}
