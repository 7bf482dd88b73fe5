//! JSON-RPC over HTTP: the nodes' admin endpoint (with its token) and the chain services.

use std::time::Duration;

use serde_json::{json, Value};

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Transport.
    #[error("{url}: {message}")]
    Http {
        /// Where.
        url: String,
        /// Why.
        message: String,
    },
    /// A JSON-RPC error answer.
    #[error("{method}: error {code}: {message}")]
    Rpc {
        /// The method.
        method: String,
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
        /// Its data (blame, session), if any.
        data: Value,
    },
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}

/// Calls `method` at `url` (with a bearer token for the nodes).
pub fn call(
    url: &str,
    token: Option<&str>,
    method: &str,
    params: Value,
    timeout: Duration,
) -> Result<Value, CallError> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let http = |e: &dyn std::fmt::Display| CallError::Http { url: url.to_owned(), message: e.to_string() };
    let mut req = agent(timeout).post(url).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body.as_str()).map_err(|e| http(&e))?;
    let text = resp.body_mut().read_to_string().map_err(|e| http(&e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| http(&e))?;
    match v.get("error") {
        Some(e) if !e.is_null() => Err(CallError::Rpc {
            method: method.to_owned(),
            code: e["code"].as_i64().unwrap_or(0),
            message: e["message"].as_str().unwrap_or_default().to_owned(),
            data: e["data"].clone(),
        }),
        _ => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
    }
}
