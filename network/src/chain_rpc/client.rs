//! A small JSON-RPC 2.0 client: per-call timeout, retries with exponential backoff on
//! transport failures and gateway errors, a cap on response size, typed errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use protocol::chains::rpc::RpcError;
use serde_json::{json, Value};

/// How to talk to one endpoint.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `http(s)://host:port/path`.
    pub url: String,
    /// Whole-call timeout.
    pub timeout: Duration,
    /// Extra attempts after a transport failure or a 502/503/504.
    pub retries: u32,
    /// First backoff; doubles per attempt, capped at 2 s.
    pub backoff: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: u64,
    /// HTTP basic auth (Bitcoin Core).
    pub basic_auth: Option<(String, String)>,
}

impl ClientConfig {
    /// Defaults: 10 s timeout, 3 retries from 200 ms, 8 MiB responses.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(200),
            max_response_bytes: 8 * 1024 * 1024,
            basic_auth: None,
        }
    }
}

/// A JSON-RPC endpoint.
pub struct JsonRpcClient {
    config: ClientConfig,
    agent: ureq::Agent,
    next_id: AtomicU64,
}

enum Attempt {
    Retry(String),
    Done(Result<Value, RpcError>),
}

impl JsonRpcClient {
    /// A client for `config.url`.
    pub fn new(config: ClientConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self { config, agent, next_id: AtomicU64::new(1) }
    }

    /// The endpoint (for logs; never includes credentials).
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// Calls `method`; returns its `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string();
        let mut last = String::new();
        for attempt in 0..=self.config.retries {
            if attempt > 0 {
                let wait = self.config.backoff.saturating_mul(1 << (attempt - 1).min(10)).min(Duration::from_secs(2));
                std::thread::sleep(wait);
            }
            match self.attempt(&body) {
                Attempt::Done(result) => return result,
                Attempt::Retry(why) => last = why,
            }
        }
        Err(RpcError::Unreachable(format!("{method} at {}: {last}", self.config.url)))
    }

    fn attempt(&self, body: &str) -> Attempt {
        let mut req = self.agent.post(&self.config.url).header("content-type", "application/json");
        if let Some((user, pass)) = &self.config.basic_auth {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            req = req.header("authorization", &format!("Basic {token}"));
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let status = resp.status().as_u16();
        if matches!(status, 502..=504) {
            return Attempt::Retry(format!("HTTP {status}"));
        }
        if status == 401 || status == 403 {
            return Attempt::Done(Err(RpcError::Unreachable(format!("HTTP {status}: check the RPC credentials"))));
        }
        let bytes = match resp.body_mut().with_config().limit(self.config.max_response_bytes).read_to_vec() {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(limit)) => {
                return Attempt::Done(Err(RpcError::BadResponse(format!("response larger than {limit} bytes"))))
            }
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        Attempt::Done(parse_response(status, &bytes))
    }
}

fn parse_response(status: u16, bytes: &[u8]) -> Result<Value, RpcError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        let preview: String = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into();
        RpcError::BadResponse(format!("HTTP {status}, not JSON ({e}): {preview:?}"))
    })?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = err.get("message").and_then(Value::as_str).unwrap_or("").chars().take(500).collect();
        return Err(RpcError::Node { code, message });
    }
    match v.get("result") {
        Some(r) => Ok(r.clone()),
        None => Err(RpcError::BadResponse(format!("HTTP {status}: no result and no error"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_parsed_into_typed_errors() {
        assert_eq!(parse_response(200, br#"{"jsonrpc":"2.0","id":1,"result":"0x1"}"#), Ok(json!("0x1")));
        assert_eq!(
            parse_response(500, br#"{"result":null,"error":{"code":-25,"message":"bad-txns"},"id":1}"#),
            Err(RpcError::Node { code: -25, message: "bad-txns".into() })
        );
        assert!(matches!(parse_response(200, b"<html>"), Err(RpcError::BadResponse(_))));
        assert!(matches!(parse_response(200, br#"{"id":1}"#), Err(RpcError::BadResponse(_))));
    }
}
