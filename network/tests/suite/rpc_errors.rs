//! What real nodes cannot be made to do: a small local HTTP stub returns malformed JSON, huge
//! bodies, gateway errors, silence, wrong chains and odd values; every one becomes a typed
//! error (never a panic), and transient failures are retried with backoff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use network::chain_rpc::{BitcoinCoreRpc, ClientConfig, EthereumRpc, JsonRpcClient};
use protocol::chains::rpc::{ChainRpc, RpcError, TxStatus};
use protocol::chains::{ChainContext, TransferRequest, Utxo};
use serde_json::{json, Value};

type Handler = dyn Fn(usize, &Value) -> Option<(u16, String)> + Send + Sync;

/// Serves JSON-RPC requests with `handler(call_number, request)`; `None` means stay silent.
fn stub(handler: Arc<Handler>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let n = counter.fetch_add(1, Ordering::SeqCst);
            match handler(n, &request) {
                Some((status, reply)) => {
                    let head =
                        format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", reply.len());
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(reply.as_bytes());
                }
                None => std::thread::sleep(Duration::from_secs(3)),
            }
        }
    });
    (url, calls)
}

fn ok(result: Value) -> Option<(u16, String)> {
    Some((200, json!({ "jsonrpc": "2.0", "id": 1, "result": result }).to_string()))
}

fn fast(url: &str) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_millis(500),
        retries: 2,
        backoff: Duration::from_millis(10),
        ..ClientConfig::new(url)
    }
}

#[test]
fn malformed_json_is_a_bad_response() {
    let (url, _) = stub(Arc::new(|_, _| Some((200, "{\"result\": [1, 2".into()))));
    assert!(matches!(JsonRpcClient::new(fast(&url)).call("x", json!([])), Err(RpcError::BadResponse(_))));
    let (url, _) = stub(Arc::new(|_, _| Some((200, "<html>gateway</html>".into()))));
    assert!(matches!(JsonRpcClient::new(fast(&url)).call("x", json!([])), Err(RpcError::BadResponse(_))));
}

#[test]
fn huge_bodies_are_refused() {
    let (url, _) = stub(Arc::new(|_, _| ok(json!("x".repeat(64 * 1024)))));
    let config = ClientConfig { max_response_bytes: 4096, ..fast(&url) };
    match JsonRpcClient::new(config).call("x", json!([])) {
        Err(RpcError::BadResponse(m)) => assert!(m.contains("larger than"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn node_errors_keep_their_code_and_message() {
    let (url, _) = stub(Arc::new(|_, _| {
        Some((
            500,
            json!({"result": null, "error": {"code": -26, "message": "non-mandatory-script-verify-flag"}, "id": 1})
                .to_string(),
        ))
    }));
    assert_eq!(
        JsonRpcClient::new(fast(&url)).call("sendrawtransaction", json!(["00"])),
        Err(RpcError::Node { code: -26, message: "non-mandatory-script-verify-flag".into() })
    );
}

#[test]
fn gateway_errors_are_retried_with_backoff() {
    let (url, calls) = stub(Arc::new(|n, _| if n < 2 { Some((503, "busy".into())) } else { ok(json!("0x7a69")) }));
    assert_eq!(JsonRpcClient::new(fast(&url)).call("eth_chainId", json!([])), Ok(json!("0x7a69")));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let (url, calls) = stub(Arc::new(|_, _| Some((502, "down".into()))));
    assert!(matches!(JsonRpcClient::new(fast(&url)).call("x", json!([])), Err(RpcError::Unreachable(_))));
    assert_eq!(calls.load(Ordering::SeqCst), 3, "one try and two retries");
}

#[test]
fn silence_times_out_and_nothing_listening_is_unreachable() {
    let (url, _) = stub(Arc::new(|_, _| None));
    let config = ClientConfig { retries: 0, timeout: Duration::from_millis(300), ..fast(&url) };
    let started = std::time::Instant::now();
    assert!(matches!(JsonRpcClient::new(config).call("x", json!([])), Err(RpcError::Unreachable(_))));
    assert!(started.elapsed() < Duration::from_secs(2));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    assert!(matches!(JsonRpcClient::new(fast(&url)).call("x", json!([])), Err(RpcError::Unreachable(_))));
}

#[test]
fn bad_credentials_are_said_plainly() {
    let (url, _) = stub(Arc::new(|_, _| Some((401, String::new()))));
    match JsonRpcClient::new(fast(&url)).call("x", json!([])) {
        Err(RpcError::Unreachable(m)) => assert!(m.contains("credentials"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn odd_ethereum_values_are_bad_responses() {
    let (url, _) = stub(Arc::new(|_, req| match req["method"].as_str() {
        Some("eth_chainId") => ok(json!("0x7a69")),
        Some("eth_getBalance") => ok(json!("0xZZ")),
        Some("eth_getTransactionCount") => ok(json!(7)),
        _ => ok(Value::Null),
    }));
    let rpc = EthereumRpc::new(fast(&url), 31337);
    rpc.check_chain().unwrap();
    assert!(matches!(rpc.balance("0x00"), Err(RpcError::BadResponse(_))));
    let request = TransferRequest { to: "0x00".into(), amount: 1, fee_ceiling: None };
    assert!(matches!(rpc.context("0x00", &request), Err(RpcError::BadResponse(_))));
}

fn bitcoin_stub(chain: &'static str) -> String {
    stub(Arc::new(move |_, req| match req["method"].as_str() {
        Some("getblockchaininfo") => ok(json!({ "chain": chain, "blocks": 101 })),
        Some("scantxoutset") => ok(json!({
            "success": true,
            "unspents": [
                { "txid": "aa".repeat(32), "vout": 1, "amount": 0.5, "height": 100 },
                { "txid": "bb".repeat(32), "vout": 0, "amount": 0.00012345, "height": 101 }
            ],
            "total_amount": 0.50012345
        })),
        Some("estimatesmartfee") => ok(json!({ "errors": ["Insufficient data or no feerate found"], "blocks": 2 })),
        Some("getrawtransaction") => Some((500, json!({"result": null, "error": {"code": -5, "message": "No such mempool or blockchain transaction"}, "id": 1}).to_string())),
        Some("testmempoolaccept") => ok(json!([{ "txid": "cc", "allowed": false, "reject-reason": "bad-txns-inputs-missingorspent" }])),
        _ => ok(Value::Null),
    }))
    .0
}

#[test]
fn bitcoin_core_adapter_reads_utxos_and_fees() {
    let rpc = BitcoinCoreRpc::new(fast(&bitcoin_stub("regtest")), "regtest", 3);
    let request = TransferRequest { to: "x".into(), amount: 1, fee_ceiling: None };
    let ctx = rpc.context("bcrt1qexample", &request).unwrap();
    assert_eq!(
        ctx,
        ChainContext::Utxos {
            utxos: vec![
                Utxo { txid: "aa".repeat(32), vout: 1, amount: 50_000_000 },
                Utxo { txid: "bb".repeat(32), vout: 0, amount: 12_345 },
            ],
            fee_rate_sat_vb: 3,
        }
    );
    assert_eq!(rpc.balance("bcrt1qexample").unwrap(), 50_012_345);
    assert_eq!(rpc.status(&"dd".repeat(32)).unwrap(), TxStatus::Unknown);
    assert!(matches!(rpc.test_mempool_accept(&[0]), Err(RpcError::Node { .. })));
}

#[test]
fn bitcoin_core_on_the_wrong_network_is_refused() {
    let rpc = BitcoinCoreRpc::new(fast(&bitcoin_stub("main")), "regtest", 3);
    assert_eq!(rpc.check_chain(), Err(RpcError::WrongChain { expected: "regtest".into(), actual: "main".into() }));
}
