//! EIP-712 typed data, hashed by each member itself from the JSON a wallet shows its user
//! (`{types, primaryType, domain, message}`): what is signed is read, not taken on trust.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{keccak256, I256, U256};
use serde_json::{Map, Value};

/// Largest typed-data document accepted (bytes of JSON).
pub const MAX_TYPED_DATA: usize = 64 * 1024;
/// Deepest nesting of structs and arrays hashed.
const MAX_DEPTH: usize = 32;

/// Why typed data cannot be hashed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("EIP-712: {0}")]
pub struct TypedDataError(String);

impl TypedDataError {
    /// The digest sent is not the document's.
    pub fn mismatch() -> Self {
        Self("the digest is not the typed data's".into())
    }
}

fn err<T>(why: impl Into<String>) -> Result<T, TypedDataError> {
    Err(TypedDataError(why.into()))
}

type Fields = Vec<(String, String)>;

struct Types(BTreeMap<String, Fields>);

fn base_type(t: &str) -> &str {
    t.find('[').map_or(t, |i| &t[..i])
}

impl Types {
    fn parse(v: &Value) -> Result<Self, TypedDataError> {
        let Some(obj) = v.as_object() else { return err("types must be an object") };
        let mut out = BTreeMap::new();
        for (name, fields) in obj {
            let Some(list) = fields.as_array() else { return err(format!("type {name} must list its fields")) };
            let mut parsed = Vec::new();
            for f in list {
                let (Some(n), Some(t)) = (f["name"].as_str(), f["type"].as_str()) else {
                    return err(format!("a field of {name} lacks a name or type"));
                };
                parsed.push((n.to_owned(), t.to_owned()));
            }
            out.insert(name.clone(), parsed);
        }
        Ok(Self(out))
    }

    fn deps(&self, t: &str, found: &mut BTreeSet<String>) {
        let t = base_type(t);
        if found.contains(t) || !self.0.contains_key(t) {
            return;
        }
        found.insert(t.to_owned());
        for (_, ft) in &self.0[t] {
            self.deps(ft, found);
        }
    }

    fn encode_type(&self, primary: &str) -> String {
        let mut deps = BTreeSet::new();
        self.deps(primary, &mut deps);
        deps.remove(primary);
        let one = |t: &str| {
            let fields: Vec<String> = self.0[t].iter().map(|(n, ft)| format!("{ft} {n}")).collect();
            format!("{t}({})", fields.join(","))
        };
        let mut s = one(primary);
        for d in deps {
            s.push_str(&one(&d));
        }
        s
    }

    fn hash_struct(&self, t: &str, v: &Value, depth: usize) -> Result<[u8; 32], TypedDataError> {
        if depth > MAX_DEPTH {
            return err("nested too deeply");
        }
        let Some(fields) = self.0.get(t) else { return err(format!("unknown type {t}")) };
        let Some(obj) = v.as_object() else { return err(format!("a {t} must be an object")) };
        let mut enc = keccak256(self.encode_type(t).as_bytes()).to_vec();
        for (name, ft) in fields {
            let value = obj.get(name).unwrap_or(&Value::Null);
            enc.extend_from_slice(&self.encode_value(ft, value, depth + 1)?);
        }
        Ok(keccak256(&enc).0)
    }

    fn encode_value(&self, t: &str, v: &Value, depth: usize) -> Result<[u8; 32], TypedDataError> {
        if let Some(open) = t.rfind('[') {
            let (inner, len) = (&t[..open], &t[open + 1..t.len() - 1]);
            let Some(items) = v.as_array() else { return err(format!("{t} must be an array")) };
            if !len.is_empty() && len.parse::<usize>().ok() != Some(items.len()) {
                return err(format!("{t} holds {} items", items.len()));
            }
            let mut enc = Vec::with_capacity(items.len() * 32);
            for item in items {
                enc.extend_from_slice(&self.encode_value(inner, item, depth + 1)?);
            }
            return Ok(keccak256(&enc).0);
        }
        if self.0.contains_key(t) {
            return self.hash_struct(t, v, depth);
        }
        atomic(t, v)
    }
}

fn hex_bytes(v: &Value) -> Result<Vec<u8>, TypedDataError> {
    let Some(s) = v.as_str() else { return err("bytes must be 0x-hex strings") };
    hex::decode(s.trim_start_matches("0x")).or_else(|e| err(format!("not hex: {e}")))
}

fn number(v: &Value) -> Result<String, TypedDataError> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s.clone()),
        _ => err("a number must be a JSON number or a string"),
    }
}

fn atomic(t: &str, v: &Value) -> Result<[u8; 32], TypedDataError> {
    let mut out = [0u8; 32];
    match t {
        "string" => {
            let Some(s) = v.as_str() else { return err("string fields must be strings") };
            return Ok(keccak256(s.as_bytes()).0);
        }
        "bytes" => return Ok(keccak256(hex_bytes(v)?).0),
        "bool" => {
            let Some(b) = v.as_bool() else { return err("bool fields must be true or false") };
            out[31] = u8::from(b);
        }
        "address" => {
            let b = hex_bytes(v)?;
            if b.len() != 20 {
                return err("an address is 20 bytes");
            }
            out[12..].copy_from_slice(&b);
        }
        _ if t.starts_with("bytes") => {
            let n: usize = t[5..].parse().or_else(|_| err(format!("unknown type {t}")))?;
            let b = hex_bytes(v)?;
            if !(1..=32).contains(&n) || b.len() != n {
                return err(format!("{t} takes exactly {n} bytes"));
            }
            out[..n].copy_from_slice(&b);
        }
        _ if t.starts_with("uint") => {
            let bits: usize = t[4..].parse().or_else(|_| err(format!("unknown type {t}")))?;
            let n: U256 = number(v)?.parse().or_else(|_| err(format!("not a {t}")))?;
            if bits == 0 || bits > 256 || bits % 8 != 0 || n.bit_len() > bits {
                return err(format!("out of range for {t}"));
            }
            out = n.to_be_bytes();
        }
        _ if t.starts_with("int") => {
            let bits: usize = t[3..].parse().or_else(|_| err(format!("unknown type {t}")))?;
            let n: I256 = number(v)?.parse().or_else(|_| err(format!("not an {t}")))?;
            let limit = I256::ONE.wrapping_shl(bits.saturating_sub(1));
            if bits == 0 || bits > 256 || bits % 8 != 0 || (bits < 256 && (n >= limit || n < -limit)) {
                return err(format!("out of range for {t}"));
            }
            out = n.to_be_bytes();
        }
        _ => return err(format!("unknown type {t}")),
    }
    Ok(out)
}

/// The digest a wallet signs for `json`: keccak256(0x1901 ‖ domain separator ‖ message hash).
pub fn typed_data_digest(json: &str) -> Result<[u8; 32], TypedDataError> {
    Ok(keccak256(typed_data_preimage(json)?).0)
}

/// What the EIP-712 digest hashes: 0x1901 ‖ domain separator ‖ message hash.
pub fn typed_data_preimage(json: &str) -> Result<Vec<u8>, TypedDataError> {
    if json.len() > MAX_TYPED_DATA {
        return err(format!("typed data above {MAX_TYPED_DATA} bytes"));
    }
    let doc: Value = serde_json::from_str(json).or_else(|e| err(e.to_string()))?;
    let types = Types::parse(&doc["types"])?;
    let Some(primary) = doc["primaryType"].as_str() else { return err("primaryType is missing") };
    if !types.0.contains_key("EIP712Domain") {
        return err("types must define EIP712Domain");
    }
    let empty = Value::Object(Map::new());
    let domain = types.hash_struct("EIP712Domain", doc.get("domain").unwrap_or(&empty), 0)?;
    let mut enc = vec![0x19, 0x01];
    enc.extend_from_slice(&domain);
    if primary != "EIP712Domain" {
        enc.extend_from_slice(&types.hash_struct(primary, &doc["message"], 0)?);
    }
    Ok(enc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "Mail" example of the EIP-712 specification, with its published digest.
    pub const MAIL: &str = r#"{
      "types": {
        "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},
                         {"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
        "Person": [{"name":"name","type":"string"},{"name":"wallet","type":"address"}],
        "Mail": [{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]
      },
      "primaryType": "Mail",
      "domain": {"name":"Ether Mail","version":"1","chainId":1,
                 "verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
      "message": {"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
                  "to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
                  "contents":"Hello, Bob!"}
    }"#;

    #[test]
    fn the_specifications_example_hashes_to_its_published_digest() {
        assert_eq!(
            hex::encode(typed_data_digest(MAIL).unwrap()),
            "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
        );
    }

    #[test]
    fn malformed_typed_data_is_an_error() {
        assert!(typed_data_digest("{}").is_err());
        assert!(typed_data_digest(&MAIL.replace("\"chainId\":1", "\"chainId\":-1")).is_err());
        assert!(typed_data_digest(&MAIL.replace("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826", "0x12")).is_err());
        assert!(typed_data_digest(&"x".repeat(MAX_TYPED_DATA + 1)).is_err());
    }
}
