//! Checks of the node library's own parts (API keys, error codes, the client's parameters
//! and tables), through its public API: kept here so the library has no test-harness build.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use actors::events::SessionFailure;
use actors::session::SessionError;
use jsonrpsee::types::ErrorObjectOwned;
use node::client::table::{table, time};
use node::client::{params_from_pairs, ClientError, EXIT_PROTOCOL, EXIT_UNREACHABLE};
use node::rpc::error::*;
use node::rpc::keys::{KeyFile, Keys, Role};
use protocol::proposal::Abandoned;
use protocol::{ProtocolError, SessionId};
use serde_json::json;

#[test]
fn keys_are_stored_hashed_and_found_by_their_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_keys.toml");
    let mut file = KeyFile::default();
    let secret = file.create("app", Role::Client, Some(vec!["w-1".into()]), Some(10)).unwrap();
    assert!(file.create("app", Role::Client, None, None).is_err(), "names are unique");
    assert!(file.create("admin", Role::Admin, None, None).is_err(), "admin is the token's name");
    file.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&secret[5..]), "the secret is never stored");
    let keys = Keys::open("the-admin-token-123", path.clone()).unwrap();
    let caller = keys.identify(&secret).unwrap();
    assert_eq!((caller.name.as_str(), caller.role), ("app", Role::Client));
    assert!(caller.may_use("w-1") && !caller.may_use("w-2"));
    assert_eq!(keys.identify("the-admin-token-123").unwrap().role, Role::Admin);
    assert!(keys.identify("mpck_00").is_none());
    let mut file = KeyFile::load(&path).unwrap();
    assert!(file.revoke("app"));
    std::thread::sleep(Duration::from_millis(20));
    file.save(&path).unwrap();
    keys.reload();
    assert!(keys.identify(&secret).is_none(), "revoked without a restart");
}

#[test]
fn each_kind_of_failure_has_its_own_code_and_names_the_parties() {
    let s = SessionId::derive("t", b"s");
    let declined = SessionFailure::Abandoned(Abandoned::Declined { party: 2, reason: "limit".into() });
    assert_eq!(RpcError::from_failure(&s, &declined).code(), REFUSED);
    let expired = RpcError::from_failure(&s, &SessionFailure::Abandoned(Abandoned::Expired { missing: vec![4] }));
    assert_eq!(expired.code(), EXPIRED);
    assert!(matches!(&expired, RpcError::Expired { missing, .. } if *missing == vec![4]));
    let silent = SessionError::Protocol(ProtocolError::Timeout { session: s, round: 1, missing: vec![3] });
    let timed_out = RpcError::from_failure(&s, &SessionFailure::Ceremony(silent));
    assert_eq!(timed_out.code(), CEREMONY_TIMEOUT);
    assert!(matches!(&timed_out, RpcError::CeremonyTimeout { blamed, .. } if *blamed == vec![3]));
    let cheat = SessionError::Protocol(ProtocolError::Equivocation { culprit: 1, round: 2 });
    let cheated = RpcError::from_failure(&s, &SessionFailure::Ceremony(cheat));
    assert_eq!(cheated.code(), CEREMONY_FAILED);
    assert!(matches!(&cheated, RpcError::CeremonyFailed { blamed, .. } if *blamed == vec![1]));
    let gone = SessionFailure::Ceremony(SessionError::Unreachable { party: 4 });
    let lost = RpcError::from_failure(&s, &gone);
    assert_eq!(lost.code(), UNREACHABLE);
    assert!(matches!(&lost, RpcError::Unreachable { blamed, .. } if *blamed == vec![4]));
    let data = ErrorObjectOwned::from(expired);
    assert_eq!(data.code(), EXPIRED);
    assert!(data.data().map(|d| d.get().contains("\"missing\":[4]")).unwrap_or(false));
}

#[test]
fn pairs_become_typed_params() {
    let p = params_from_pairs(&["threshold=3".into(), "scheme=frost-ed25519".into()], None).unwrap();
    assert_eq!(p, json!({ "threshold": 3, "scheme": "frost-ed25519" }));
    let p = params_from_pairs(&["wallet=w1".into()], Some(r#"{"wait_ms": 10}"#)).unwrap();
    assert_eq!(p, json!({ "wallet": "w1", "wait_ms": 10 }));
    assert!(params_from_pairs(&["nokey".into()], None).is_err());
    assert!(params_from_pairs(&[], Some("[1]")).is_err());
}

#[test]
fn exit_status_names_the_code() {
    let e = ClientError::Rpc { code: -32015, message: String::new(), data: None };
    assert_eq!(e.exit_status(), 15);
    let e = ClientError::Rpc { code: -32601, message: String::new(), data: None };
    assert_eq!(e.exit_status(), EXIT_PROTOCOL);
    assert_eq!(ClientError::Unreachable(String::new()).exit_status(), EXIT_UNREACHABLE);
}

#[test]
fn columns_line_up() {
    let t = table(&["a", "bb"], &[vec!["xxx".into(), "1".into()], vec!["y".into(), "22".into()]]);
    assert_eq!(t, "a    bb\nxxx  1\ny    22");
    assert!(table(&["a"], &[]).ends_with("(none)"));
}

#[test]
fn times_are_utc() {
    assert_eq!(time(&json!(0)), "1970-01-01 00:00:00");
    assert_eq!(time(&json!(1_796_515_200_000u64)), "2026-12-06 00:00:00");
    assert_eq!(time(&json!(951_782_400_000u64)), "2000-02-29 00:00:00");
}
