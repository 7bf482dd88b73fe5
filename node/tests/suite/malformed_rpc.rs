//! Malformed admin calls against a real process, each sent with the right bearer token: bad
//! JSON, JSON that is no request, wrong parameter types, a body over the size limit, deep
//! nesting, a `wait_ms` over the cap and a batch of 1000 calls. Each gets the answer the
//! server really gives (jsonrpsee 0.26 behind `node::rpc::serve`), and the node keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::{agent, cluster, start_all, NodeProc};
use serde_json::{json, Value};

/// `max_request_body_size(1024 * 1024)` in `node::rpc::serve` (jsonrpsee's default would be 10 MiB).
const MAX_BODY: usize = 1024 * 1024;
/// JSON-RPC's and jsonrpsee's codes (jsonrpsee-types 0.26, `error.rs`).
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;
const OVERSIZED_REQUEST: i64 = -32007;
/// The node's own code for an unknown wallet or session (`node::rpc::error::NOT_FOUND`).
const NOT_FOUND: i64 = -32010;

/// POSTs `body` as it is to the node's admin address, with its token: the HTTP status and the
/// body of the answer.
fn post(node: &NodeProc, body: &str) -> (u16, String) {
    let mut resp = agent()
        .post(&format!("http://{}/", node.admin))
        .header("content-type", "application/json")
        .header("authorization", &format!("Bearer {}", node.token))
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    // ureq's default read limit is 10 MB; the batch answer stays far below, but do not depend on it.
    let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().unwrap();
    (status, text)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The answer is one JSON-RPC error object with `code` and `id`; returns its `error`.
fn single_error(status: u16, text: &str, want_status: u16, code: i64, id: Value) -> Value {
    assert_eq!(status, want_status, "{text}");
    let v = parse(text);
    assert_eq!(v["jsonrpc"], "2.0", "{text}");
    assert!(v.get("result").is_none(), "{text}");
    assert_eq!(v["error"]["code"], code, "{text}");
    assert_eq!(v["id"], id, "{text}");
    v["error"].clone()
}

/// A request with `params` spelled out as raw text.
fn request(id: u64, method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
}

/// What came back over a raw connection.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    body: String,
}

/// A whole HTTP/1.1 answer in `buf`, if there is one (`eof`: the peer closed, so an answer
/// without Content-Length ends here).
fn parse_answer(buf: &[u8], eof: bool) -> Option<RawAnswer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let length = head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse::<usize>().ok()
        } else {
            None
        }
    });
    let rest = &buf[end + 4..];
    let body = match length {
        Some(n) => rest.get(..n)?,
        None if eof => rest,
        None => return None,
    };
    Some(RawAnswer { status, body: String::from_utf8_lossy(body).into_owned() })
}

/// Reads one answer; an error (or EOF) before a whole answer is returned as is.
fn read_answer(stream: &mut TcpStream) -> std::io::Result<RawAnswer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(answer) = parse_answer(&buf, false) {
            return Ok(answer);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return parse_answer(&buf, true).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("closed after {} bytes: {}", buf.len(), String::from_utf8_lossy(&buf)),
                    )
                })
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // Data that arrived before a reset is still an answer.
            Err(e) => return parse_answer(&buf, true).ok_or(e),
        }
    }
}

/// A POST over a bare TCP connection (ureq writes the whole body before it reads, so it would
/// only see the broken pipe when the server answers early): the head announces
/// `content_length`; `body`, if any, is written by another thread while this one reads.
fn raw_post(node: &NodeProc, content_length: usize, body: Option<String>) -> std::io::Result<RawAnswer> {
    let mut stream = TcpStream::connect(&node.admin)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\n\
         Content-Length: {content_length}\r\nConnection: close\r\n\r\n",
        node.admin, node.token
    );
    stream.write_all(head.as_bytes())?;
    let writer = match body {
        Some(body) => {
            let mut w = stream.try_clone()?;
            Some(std::thread::spawn(move || {
                for part in body.as_bytes().chunks(64 * 1024) {
                    // The server may close while we still write (EPIPE, ECONNRESET): stop.
                    if w.write_all(part).is_err() {
                        return;
                    }
                }
            }))
        }
        None => None,
    };
    let answer = read_answer(&mut stream);
    drop(stream);
    if let Some(w) = writer {
        w.join().unwrap();
    }
    answer
}

/// jsonrpsee's answer to a body over the limit: HTTP 413, code -32007, the limit in `data`.
fn assert_too_large(answer: &RawAnswer) {
    assert_eq!(answer.status, 413, "{answer:?}");
    let v = parse(&answer.body);
    assert_eq!(v["error"]["code"], OVERSIZED_REQUEST, "{answer:?}");
    assert_eq!(v["error"]["message"], "Request is too big", "{answer:?}");
    assert_eq!(v["error"]["data"], format!("Exceeded max limit of {MAX_BODY}"), "{answer:?}");
    assert_eq!(v["id"], Value::Null, "{answer:?}");
}

fn assert_alive(nodes: &mut [NodeProc], after: &str) {
    let info = nodes[0].call("node_info", json!({})).unwrap_or_else(|e| panic!("node_info after {after}: {e}"));
    assert_eq!(info["party"], 0, "after {after}: {info}");
    let exited = nodes[0].child.as_mut().unwrap().try_wait().unwrap();
    assert!(exited.is_none(), "node 0 exited after {after}: {exited:?}");
}

#[test]
fn malformed_oversized_and_deep_calls_get_their_json_rpc_errors_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 2);
    start_all(&mut nodes);

    // 1. Broken JSON. It starts with `{`, so jsonrpsee reads it as a single call; neither a call,
    // a notification nor `{"id": ..}` parses (`prepare_error`): -32700 with id null, HTTP 200
    // (every answer from `handle_rpc_call` goes out as 200).
    let (status, text) = post(&nodes[0], r#"{"jsonrpc":"2.0","id":1,"method":"#);
    let e = single_error(status, &text, 200, PARSE_ERROR, Value::Null);
    assert_eq!(e["message"], "Parse error", "{text}");

    // 2. Valid JSON that is no request.
    // A body that starts with neither `{` nor `[` is refused while the body is read
    // (`read_body` -> HttpError::Malformed -> `response::malformed()`): HTTP 400, -32700.
    for body in ["42", r#""hello""#, "null"] {
        let (status, text) = post(&nodes[0], body);
        let e = single_error(status, &text, 400, PARSE_ERROR, Value::Null);
        assert_eq!(e["message"], "Parse error", "{body}: {text}");
    }
    // An empty batch: one (not an array of) -32600 "Invalid request", id null, HTTP 200
    // (`BatchResponseBuilder::finish` on nothing).
    let (status, text) = post(&nodes[0], "[]");
    let e = single_error(status, &text, 200, INVALID_REQUEST, Value::Null);
    assert_eq!(e["message"], "Invalid request", "{text}");
    // An object without `method` but with an id: -32600 carrying that id.
    let (status, text) = post(&nodes[0], r#"{"jsonrpc":"2.0","id":7}"#);
    single_error(status, &text, 200, INVALID_REQUEST, json!(7));
    // A batch whose one entry is no request: an array with that entry's -32600, id null.
    let (status, text) = post(&nodes[0], "[42]");
    assert_eq!(status, 200, "{text}");
    let v = parse(&text);
    let entries = v.as_array().unwrap_or_else(|| panic!("not a batch answer: {text}"));
    assert_eq!(entries.len(), 1, "{text}");
    assert_eq!(entries[0]["error"]["code"], INVALID_REQUEST, "{text}");
    assert_eq!(entries[0]["id"], Value::Null, "{text}");

    // 3. Wrong parameter types: `serde_json::from_value::<P>` fails in `rpc::register` ->
    // RpcError::InvalidParams -> -32602 (before any wallet lookup: "w" does not exist).
    let (status, text) = post(&nodes[0], &request(31, "wallet_get", r#"{"wallet":42}"#));
    let e = single_error(status, &text, 200, INVALID_PARAMS, json!(31));
    assert!(e["message"].as_str().unwrap().contains("invalid type"), "{text}");
    let (status, text) = post(&nodes[0], &request(32, "sign", r#"{"wallet":"w","wait_ms":"soon"}"#));
    let e = single_error(status, &text, 200, INVALID_PARAMS, json!(32));
    assert!(e["message"].as_str().unwrap().contains("invalid type"), "{text}");
    assert!(e["message"].as_str().unwrap().contains("soon"), "{text}");

    // 4. Bodies over the 1 MiB limit.
    // a) The head announces 11 MiB: jsonrpsee compares Content-Length with the limit before it
    // reads a byte of the body (`read_body` -> HttpError::TooLarge -> `response::too_large`),
    // so with no body sent the 413 comes back whole every time.
    let answer = raw_post(&nodes[0], 11 << 20, None).unwrap();
    assert_too_large(&answer);
    assert_alive(&mut nodes, "an announced 11 MiB body");
    // b) 11 MiB really sent: a JSON string param. The server answers the same 413 after the
    // head and then closes with the rest of the body unread, which resets the connection. Whether
    // the client still reads the answer or only sees the reset depends on timing and the OS
    // (this is the one tolerant assertion): either way the body is refused.
    let huge = request(41, "wallet_get", &format!(r#"{{"wallet":"{}"}}"#, "a".repeat(11 << 20)));
    assert!(huge.len() > MAX_BODY);
    match raw_post(&nodes[0], huge.len(), Some(huge)) {
        Ok(answer) => assert_too_large(&answer),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            ),
            "an 11 MiB body neither got the 413 nor a reset: {e}"
        ),
    }
    assert_alive(&mut nodes, "an 11 MiB body");

    // 5. Deep nesting (about 200 KB, under the size limit).
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // a) In the params. jsonrpsee keeps `params` as a RawValue (serde_json skips it iteratively,
    // no depth limit, no recursion); `rpc::register` then parses it into a Value, which hits
    // serde_json's recursion limit (128), falls back to null and is refused as "not an object
    // of named fields": -32602, and the stack never grows.
    let (status, text) = post(&nodes[0], &request(51, "wallet_get", &format!(r#"{{"wallet":{deep}}}"#)));
    let e = single_error(status, &text, 200, INVALID_PARAMS, json!(51));
    assert!(e["message"].as_str().unwrap().contains("params are an object of named fields"), "{text}");
    assert_alive(&mut nodes, "100000 nested arrays in params");
    // b) As the whole body: a batch of one entry (itself 99999 arrays deep) that is no request;
    // its id cannot be read either (serde_json's recursion limit again): [-32600 with id null].
    let (status, text) = post(&nodes[0], &deep);
    assert_eq!(status, 200, "{text}");
    let v = parse(&text);
    let entries = v.as_array().unwrap_or_else(|| panic!("not a batch answer: {text}"));
    assert_eq!(entries.len(), 1, "{text}");
    assert_eq!(entries[0]["error"]["code"], INVALID_REQUEST, "{text}");
    assert_eq!(entries[0]["id"], Value::Null, "{text}");
    assert_alive(&mut nodes, "a body of 100000 nested arrays");

    // 6. `wait_ms` over the cap. `sign` checks it only after proposing (in `methods::wait`),
    // so a signing would start; `session_get` reaches `wait` right after checking the id's
    // syntax, and `wallet_transfer` checks the cap right after the wallet id's syntax, before
    // it looks anything up: neither needs a wallet nor starts anything.
    let cap = node::rpc::MAX_WAIT_MS;
    let unknown = "00".repeat(32);
    let over = json!({ "session": unknown, "wait_ms": cap + 1 });
    let (status, text) = post(&nodes[0], &request(61, "session_get", &over.to_string()));
    let e = single_error(status, &text, 200, INVALID_PARAMS, json!(61));
    assert_eq!(e["message"], format!("invalid params: wait_ms above {cap}"), "{text}");
    let transfer = json!({ "wallet": "w", "chain": "ethereum", "to": "0x00", "amount": "1", "wait_ms": cap + 1 });
    let (status, text) = post(&nodes[0], &request(62, "wallet_transfer", &transfer.to_string()));
    let e = single_error(status, &text, 200, INVALID_PARAMS, json!(62));
    assert_eq!(e["message"], format!("invalid params: wait_ms above {cap}"), "{text}");
    // The cap itself passes the check: the unknown session is then reported.
    let at_cap = nodes[0].call("session_get", json!({ "session": unknown, "wait_ms": cap })).unwrap_err();
    assert_eq!(at_cap["code"], NOT_FOUND, "{at_cap}");

    // 7. A batch of 1000 calls. The server sets no batch limit (jsonrpsee's default
    // BatchRequestConfig::Unlimited) and the answers (~1.5 KB each) stay under jsonrpsee's
    // default 10 MiB response limit: every call is answered, in one HTTP 200 array.
    let batch: Vec<Value> =
        (0..1000u64).map(|id| json!({ "jsonrpc": "2.0", "id": id, "method": "node_info", "params": {} })).collect();
    let body = Value::Array(batch).to_string();
    assert!(body.len() < MAX_BODY);
    let (status, text) = post(&nodes[0], &body);
    let start: String = text.chars().take(2000).collect();
    assert_eq!(status, 200, "{start}");
    let v = parse(&text);
    let answers = v.as_array().unwrap_or_else(|| panic!("not a batch answer: {start}"));
    assert_eq!(answers.len(), 1000);
    // jsonrpsee 0.26 answers a batch in order, but JSON-RPC does not promise it: match by id.
    let mut ids = BTreeSet::new();
    for a in answers {
        assert_eq!(a["result"]["party"], 0, "{a}");
        ids.insert(a["id"].as_u64().unwrap_or_else(|| panic!("{a}")));
    }
    assert_eq!(ids, (0..1000u64).collect::<BTreeSet<_>>());

    // wallet_get's type error (3) and its deep params (5a) reached the method and were counted.
    assert!(nodes[0].metric("mpc_rpc_calls_total{method=\"wallet_get\",outcome=\"invalid_params\"}") >= 2.0);
    assert_alive(&mut nodes, "everything");
}
