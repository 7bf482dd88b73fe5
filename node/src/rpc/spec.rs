//! The API, described: every method is registered through [`Registrar::add`], which records
//! its name, summary, guard, error codes and the JSON Schemas of the very types its params are
//! read into and its result is written from. `rpc.discover` answers with that record as an
//! OpenRPC document, so the description cannot drift from what the server runs.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use super::access::{Access, Op};
use super::error;
use super::keys::Role;

/// One method as described.
#[derive(Clone, Debug)]
pub struct MethodDoc {
    /// Its name.
    pub name: &'static str,
    /// What it does, one line.
    pub summary: &'static str,
    /// Its guard.
    pub access: Access,
    /// The codes it may answer with.
    pub errors: Vec<i32>,
    /// JSON Schema of its params object.
    pub params: Value,
    /// JSON Schema of its result.
    pub result: Value,
}

/// Codes any method may answer with: the guard's and the node's own.
const COMMON: &[i32] =
    &[error::UNAUTHORIZED, error::FORBIDDEN, error::LIMITED, error::INVALID_PARAMS, error::UNAVAILABLE];

/// Codes of a method that proposes a ceremony.
pub const CEREMONY: &[i32] = &[
    error::NOT_FOUND,
    error::NOT_ENOUGH_SIGNERS,
    error::REFUSED,
    error::CEREMONY_FAILED,
    error::TIMEOUT,
    error::EXPIRED,
    error::CEREMONY_TIMEOUT,
    error::UNREACHABLE,
    error::STORE_REFUSES,
];

fn schema<T: JsonSchema>(settings: SchemaSettings) -> Value {
    let settings = settings.with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let mut v = settings.into_generator().into_root_schema_for::<T>().to_value();
    if let Some(o) = v.as_object_mut() {
        o.remove("title");
    }
    v
}

impl MethodDoc {
    /// Describes a method whose params are read into `P` and whose result is written from `T`.
    pub fn new<P: JsonSchema, T: JsonSchema>(
        name: &'static str,
        summary: &'static str,
        access: Access,
        extra_errors: &[i32],
    ) -> Self {
        let mut errors: Vec<i32> = COMMON.iter().chain(extra_errors).copied().collect();
        errors.sort_unstable_by(|a, b| b.cmp(a));
        errors.dedup();
        Self {
            name,
            summary,
            access,
            errors,
            params: schema::<P>(SchemaSettings::draft07().for_deserialize()),
            result: schema::<T>(SchemaSettings::draft07().for_serialize()),
        }
    }

    /// Its params as OpenRPC content descriptors (one per field of the params object).
    fn param_descriptors(&self) -> Vec<Value> {
        let required: Vec<&str> = self
            .params
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(props) = self.params.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        props
            .iter()
            .map(|(name, schema)| {
                let mut d = Map::new();
                d.insert("name".into(), json!(name));
                if let Some(text) = schema.get("description") {
                    d.insert("description".into(), text.clone());
                }
                d.insert("required".into(), json!(required.contains(&name.as_str())));
                d.insert("schema".into(), schema.clone());
                Value::Object(d)
            })
            .collect()
    }

    fn to_openrpc(&self) -> Value {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|c| json!({ "code": c, "message": error::describe(*c).unwrap_or("undocumented code") }))
            .collect();
        json!({
            "name": self.name,
            "summary": self.summary,
            "paramStructure": "by-name",
            "params": self.param_descriptors(),
            "result": { "name": "result", "schema": self.result },
            "errors": errors,
            "x-role": match self.access.role { Role::Admin => "admin", Role::Client => "client" },
            "x-cost": op_name(self.access.op),
        })
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Read => "read",
        Op::Sign => "sign",
        Op::Transfer => "transfer",
        Op::Keygen => "keygen",
        Op::Setup => "setup",
    }
}

/// The OpenRPC document of `methods`.
pub fn openrpc(methods: &[MethodDoc]) -> Value {
    json!({
        "openrpc": "1.3.2",
        "info": {
            "title": "mpc-node admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "JSON-RPC 2.0 over HTTP POST, every call with `Authorization: Bearer <admin token or API key>`. \
    Params are always an object of named fields; unknown fields are refused. `x-role` is the lowest key role \
    allowed, `x-cost` the limiter bucket the call draws from.",
        },
        "methods": methods.iter().map(MethodDoc::to_openrpc).collect::<Vec<_>>(),
    })
}
