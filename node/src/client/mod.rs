//! The operator's client: `mpc-node call`, `wallet ...`, `transfer`, `sessions` and the rest
//! talk to a running node's admin JSON-RPC, print tables (or the raw JSON with `--json`), draw
//! a progress bar for anything long, and exit with a status that names the error.

pub mod commands;
pub mod progress;
pub mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::Config;

/// Exit status when the node cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 69;
/// Exit status when the client's own options or the config are wrong.
pub const EXIT_USAGE: u8 = 64;
/// Exit status for a JSON-RPC protocol error (unknown method, bad request).
pub const EXIT_PROTOCOL: u8 = 65;

/// Where the node is and what to show it.
#[derive(Clone, Debug, clap::Args)]
pub struct Target {
    /// Admin RPC address of the node (host:port). Default: `admin.listen` of --node-config.
    #[arg(long, global = true, env = "MPC_NODE")]
    pub node: Option<String>,
    /// A node's TOML config: its admin address and token file are used.
    #[arg(long, global = true, env = "MPC_NODE_CONFIG")]
    pub node_config: Option<PathBuf>,
    /// File holding the bearer token (admin token or API key). The token may also come from
    /// the MPC_TOKEN environment variable; never from the command line.
    #[arg(long, global = true, env = "MPC_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Print the node's JSON answer instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with a JSON-RPC error.
    #[error("error {code}: {message}{}", data.as_ref().map(|d| format!("\n{d}")).unwrap_or_default())]
    Rpc {
        /// Its stable code (README, `rpc.discover`).
        code: i64,
        /// Its message.
        message: String,
        /// Its data, if any.
        data: Option<Value>,
    },
    /// The node could not be reached or answered something that is not JSON-RPC.
    #[error("{0}")]
    Unreachable(String),
    /// Options or config.
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    /// The process exit status: the node's own codes -32001..-32099 as 1..99 (`-32015`,
    /// ceremony failed, exits 15), JSON-RPC protocol errors 65, usage 64, unreachable 69.
    pub fn exit_status(&self) -> u8 {
        match self {
            Self::Rpc { code, .. } if (-32099..=-32001).contains(code) => (-code - 32000) as u8,
            Self::Rpc { .. } => EXIT_PROTOCOL,
            Self::Unreachable(_) => EXIT_UNREACHABLE,
            Self::Usage(_) => EXIT_USAGE,
        }
    }
}

/// A connection to one node.
pub struct Client {
    url: String,
    token: String,
    agent: ureq::Agent,
}

fn read_token(path: &Path) -> Result<String, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
    Ok(text.trim().to_owned())
}

impl Client {
    /// Resolves the address and token from flags, environment and config.
    pub fn new(target: &Target) -> Result<Self, ClientError> {
        let config = match &target.node_config {
            Some(p) => Some(Config::load(p).map_err(|e| ClientError::Usage(e.to_string()))?),
            None => None,
        };
        let addr = match (&target.node, &config) {
            (Some(a), _) => a.clone(),
            (None, Some(c)) if c.admin.listen.ends_with(":0") => {
                return Err(ClientError::Usage(
                    "the config's admin.listen has port 0; pass --node with the address the node printed".into(),
                ))
            }
            (None, Some(c)) => c.admin.listen.clone(),
            (None, None) => {
                return Err(ClientError::Usage(
                    "which node? pass --node-config <node.toml> (or MPC_NODE_CONFIG), or --node <host:port>".into(),
                ))
            }
        };
        let token = match (std::env::var("MPC_TOKEN").ok(), &target.token_file, &config) {
            (Some(t), _, _) if !t.trim().is_empty() => t.trim().to_owned(),
            (_, Some(p), _) => read_token(p)?,
            (_, None, Some(c)) => read_token(&c.in_data_dir(&c.admin.token_file))?,
            _ => {
                return Err(ClientError::Usage(
                    "no token: pass --token-file, set MPC_TOKEN, or --node-config to use the node's admin token".into(),
                ))
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(660)))
            .build()
            .into();
        let url = if addr.starts_with("http://") { addr } else { format!("http://{addr}") };
        Ok(Self { url, token, agent })
    }

    /// The node's address, as called.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// One call: its result, or the node's error with its code.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
        let mut response = self
            .agent
            .post(&format!("{}/", self.url))
            .header("content-type", "application/json")
            .header("authorization", &format!("Bearer {}", self.token))
            .send(body.as_str())
            .map_err(|e| ClientError::Unreachable(format!("{}: {e}", self.url)))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::Unreachable(format!("{}: reading the answer: {e}", self.url)))?;
        let answer: Value = serde_json::from_str(&text)
            .map_err(|_| ClientError::Unreachable(format!("{}: HTTP {status}, not JSON-RPC: {text:.200}", self.url)))?;
        if let Some(result) = answer.get("result") {
            return Ok(result.clone());
        }
        let error = &answer["error"];
        Err(ClientError::Rpc {
            code: error["code"].as_i64().unwrap_or(0),
            message: error["message"].as_str().unwrap_or("no message").to_owned(),
            data: error.get("data").filter(|d| !d.is_null()).cloned(),
        })
    }
}

/// `k=v` pairs as a params object: `v` is read as JSON when it parses (numbers, true, lists,
/// objects), else taken as a string.
pub fn params_from_pairs(pairs: &[String], json_params: Option<&str>) -> Result<Value, ClientError> {
    let mut params = match json_params {
        Some(text) => {
            serde_json::from_str::<Value>(text).map_err(|e| ClientError::Usage(format!("--params is not JSON: {e}")))?
        }
        None => json!({}),
    };
    let Some(object) = params.as_object_mut() else {
        return Err(ClientError::Usage("--params must be a JSON object of named params".into()));
    };
    for pair in pairs {
        let (k, v) =
            pair.split_once('=').ok_or_else(|| ClientError::Usage(format!("--param {pair:?}: expected key=value")))?;
        let value = serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        object.insert(k.to_owned(), value);
    }
    Ok(params)
}
