//! Who may call what, and what it costs: each method's role, whether it names a wallet the
//! caller must be given, and its cost from the caller's buckets (checked by the limiter
//! before the method runs, so nothing is proposed for a caller out of tokens).

use jsonrpsee::Extensions;
use protocol::limits::Costs;
use serde_json::Value;

use super::auth::ClientAddr;
use super::keys::{Caller, Role};
use super::{Ctx, RpcError};

/// What an operation is, for its cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Info, lists, status.
    Read,
    /// A signing.
    Sign,
    /// A transfer.
    Transfer,
    /// A wallet's keygen.
    Keygen,
    /// A committee setup.
    Setup,
}

impl Op {
    fn cost(self, c: &Costs) -> u32 {
        match self {
            Op::Read => c.read,
            Op::Sign => c.sign,
            Op::Transfer => c.transfer,
            Op::Keygen => c.keygen,
            Op::Setup => c.setup,
        }
    }
}

/// How a method is guarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Lowest role allowed.
    pub role: Role,
    /// What it costs.
    pub op: Op,
    /// Its result names a wallet (or is a list of them) that a wallet-bound caller must be given.
    pub result_wallet: bool,
}

/// Each method's guard. Unknown names are admin-only reads.
pub fn of(method: &str) -> Access {
    let (role, op, result_wallet) = match method {
        "node_info" | "rpc.discover" => (Role::Client, Op::Read, false),
        "wallet_list" | "tx_get" | "session_get" => (Role::Client, Op::Read, true),
        "wallet_get" | "wallet_history" | "wallet_balance" => (Role::Client, Op::Read, false),
        "sign" => (Role::Client, Op::Sign, false),
        "wallet_transfer" => (Role::Client, Op::Transfer, false),
        "wallet_sweep" => (Role::Admin, Op::Transfer, false),
        "wallet_create" | "wallet_refresh" | "wallet_repair" | "wallet_reshare" => (Role::Admin, Op::Keygen, false),
        "key_export" | "key_export_approve" => (Role::Admin, Op::Setup, false),
        "committee_setup" => (Role::Admin, Op::Setup, false),
        "backup_create" | "backup_restore" => (Role::Admin, Op::Setup, false),
        _ => (Role::Admin, Op::Read, false),
    };
    Access { role, op, result_wallet }
}

/// Lets a call through, or says why not: its role, the wallet it names, then its cost from
/// the caller's key and address buckets.
pub async fn admit(
    ctx: &Ctx,
    ext: &Extensions,
    method: &str,
    access: Access,
    params: &Value,
) -> Result<Caller, RpcError> {
    let caller = ext.get::<Caller>().cloned().ok_or_else(|| RpcError::Forbidden("no caller".into()))?;
    if access.role == Role::Admin && caller.role != Role::Admin {
        return Err(RpcError::Forbidden(format!("{method} needs an admin key; {} is a client key", caller.name)));
    }
    if let Some(wallet) = params.get("wallet").and_then(Value::as_str) {
        if !caller.may_use(wallet) {
            return Err(RpcError::Forbidden(format!("key {} is not given wallet {wallet}", caller.name)));
        }
    }
    let cost = access.op.cost(&ctx.limits.costs);
    if cost == 0 {
        return Ok(caller);
    }
    let ip = ext.get::<ClientAddr>().map(|a| a.0).unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let limiter = ctx.limiter.get().ok_or_else(|| RpcError::Unavailable("the limiter is restarting".into()))?;
    let (key, rate) = (caller.name.clone(), caller.rate);
    ractor::call!(limiter, |reply| actors::limiter::LimiterMsg::Client { key, rate, ip, cost, reply })
        .map_err(|e| RpcError::Unavailable(e.to_string()))?
        .map_err(RpcError::Limited)?;
    Ok(caller)
}

/// A wallet-bound caller sees only its wallets in a result.
pub fn release(caller: &Caller, access: Access, mut result: Value) -> Result<Value, RpcError> {
    if !access.result_wallet || caller.wallets.is_none() {
        return Ok(result);
    }
    let given = |v: &Value| v.get("wallet").and_then(Value::as_str).is_some_and(|w| caller.may_use(w));
    if let Value::Array(items) = &mut result {
        items.retain(given);
        return Ok(result);
    }
    if given(&result) {
        Ok(result)
    } else {
        Err(RpcError::Forbidden(format!("key {} is not given the wallet of this record", caller.name)))
    }
}
