//! Ethereum, signed by CGGMP24 ECDSA: address = last 20 bytes of keccak256 of the uncompressed
//! key (EIP-55 checksummed); EIP-1559 transfers and EIP-155 legacy transfers, RLP by
//! `alloy-consensus`; `y_parity`/`v` from the signature's recovery id, low-S enforced.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use k256::ecdsa::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::{
    check_fee, check_scheme, Chain, ChainContext, ChainError, SignedTx, TransferRequest, TxSummary, UnsignedTx,
};
use crate::ids::SchemeId;
use crate::presign::{Hashing, Preimage};
use crate::scheme::{PublicKey, Signature};

/// Ethereum and EVM chains.
pub struct Ethereum;

/// The address of a 33-byte compressed (or 65-byte uncompressed) secp256k1 key.
pub fn address_of(key: &[u8]) -> Result<Address, ChainError> {
    let vk = VerifyingKey::from_sec1_bytes(key).map_err(|e| ChainError::InvalidKey(e.to_string()))?;
    Ok(Address::from_public_key(&vk))
}

/// Parses a recipient: all-lowercase or all-uppercase hex, or a valid EIP-55 checksum.
pub fn parse_address(text: &str) -> Result<Address, ChainError> {
    let hex_part = text.strip_prefix("0x").unwrap_or(text);
    let mixed = hex_part.chars().any(|c| c.is_ascii_lowercase()) && hex_part.chars().any(|c| c.is_ascii_uppercase());
    if mixed {
        Address::parse_checksummed(text, None).map_err(|e| ChainError::InvalidAddress(format!("{text}: {e}")))
    } else {
        text.parse::<Address>().map_err(|e| ChainError::InvalidAddress(format!("{text}: {e}")))
    }
}

#[derive(Serialize, Deserialize)]
enum Body {
    Eip1559 { chain_id: u64, nonce: u64, gas_limit: u64, max_fee: u128, tip: u128, to: [u8; 20], value: [u8; 32] },
    Legacy { chain_id: u64, nonce: u64, gas_limit: u64, gas_price: u128, to: [u8; 20], value: [u8; 32] },
}

impl Body {
    fn eip1559(
        chain_id: u64,
        nonce: u64,
        gas_limit: u64,
        max_fee: u128,
        tip: u128,
        to: Address,
        value: U256,
    ) -> TxEip1559 {
        TxEip1559 {
            chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input: Bytes::new(),
        }
    }

    fn legacy(chain_id: u64, nonce: u64, gas_limit: u64, gas_price: u128, to: Address, value: U256) -> TxLegacy {
        TxLegacy {
            chain_id: Some(chain_id),
            nonce,
            gas_price,
            gas_limit,
            to: TxKind::Call(to),
            value,
            input: Bytes::new(),
        }
    }

    fn signature_hash(&self) -> B256 {
        match *self {
            Body::Eip1559 { chain_id, nonce, gas_limit, max_fee, tip, to, value } => {
                Self::eip1559(chain_id, nonce, gas_limit, max_fee, tip, to.into(), U256::from_be_bytes(value))
                    .signature_hash()
            }
            Body::Legacy { chain_id, nonce, gas_limit, gas_price, to, value } => {
                Self::legacy(chain_id, nonce, gas_limit, gas_price, to.into(), U256::from_be_bytes(value))
                    .signature_hash()
            }
        }
    }

    /// The bytes its signature hash hashes (type byte and RLP of the unsigned fields).
    fn signing_preimage(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match *self {
            Body::Eip1559 { chain_id, nonce, gas_limit, max_fee, tip, to, value } => {
                Self::eip1559(chain_id, nonce, gas_limit, max_fee, tip, to.into(), U256::from_be_bytes(value))
                    .encode_for_signing(&mut out)
            }
            Body::Legacy { chain_id, nonce, gas_limit, gas_price, to, value } => {
                Self::legacy(chain_id, nonce, gas_limit, gas_price, to.into(), U256::from_be_bytes(value))
                    .encode_for_signing(&mut out)
            }
        }
        out
    }

    fn signed(&self, sig: alloy_primitives::Signature) -> TxEnvelope {
        match *self {
            Body::Eip1559 { chain_id, nonce, gas_limit, max_fee, tip, to, value } => TxEnvelope::Eip1559(
                Self::eip1559(chain_id, nonce, gas_limit, max_fee, tip, to.into(), U256::from_be_bytes(value))
                    .into_signed(sig),
            ),
            Body::Legacy { chain_id, nonce, gas_limit, gas_price, to, value } => TxEnvelope::Legacy(
                Self::legacy(chain_id, nonce, gas_limit, gas_price, to.into(), U256::from_be_bytes(value))
                    .into_signed(sig),
            ),
        }
    }
}

/// Builds the unsigned transfer (shared with the test vectors).
pub fn build_body(
    from: Address,
    request: &TransferRequest,
    context: &ChainContext,
) -> Result<(Vec<u8>, TxSummary, B256), ChainError> {
    let ChainContext::Account {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas,
        max_priority_fee_per_gas,
        legacy_gas_price,
    } = *context
    else {
        return Err(ChainError::WrongContext("Ethereum needs an account context".into()));
    };
    let to = parse_address(&request.to)?;
    if to == from {
        return Err(ChainError::InvalidTransfer("sender and recipient are the same account".into()));
    }
    if max_priority_fee_per_gas > max_fee_per_gas {
        return Err(ChainError::WrongContext("priority fee above the fee cap".into()));
    }
    let value = U256::from(request.amount).to_be_bytes::<32>();
    let (body, fee) = match legacy_gas_price {
        Some(gas_price) => (Body::Legacy { chain_id, nonce, gas_limit, gas_price, to: to.into(), value }, gas_price),
        None => (
            Body::Eip1559 {
                chain_id,
                nonce,
                gas_limit,
                max_fee: max_fee_per_gas,
                tip: max_priority_fee_per_gas,
                to: to.into(),
                value,
            },
            max_fee_per_gas,
        ),
    };
    let fee =
        fee.checked_mul(u128::from(gas_limit)).ok_or_else(|| ChainError::InvalidTransfer("fee overflows".into()))?;
    check_fee(fee, request.fee_ceiling)?;
    let summary = TxSummary {
        chain: "ethereum".into(),
        network: chain_id.to_string(),
        from: from.to_checksum(None),
        to: to.to_checksum(None),
        amount: request.amount,
        fee,
    };
    let hash = body.signature_hash();
    Ok((bincode::serialize(&body).map_err(|e| ChainError::Encoding(e.to_string()))?, summary, hash))
}

/// Attaches a 64-byte low-S (r, s) signature with its recovery id; checks that it recovers to
/// `from`.
pub fn attach(body: &[u8], from: Address, sig: &Signature) -> Result<SignedTx, ChainError> {
    let body: Body = bincode::deserialize(body).map_err(|e| ChainError::Encoding(e.to_string()))?;
    if sig.bytes.len() != 64 {
        return Err(ChainError::InvalidSignature(format!("need 64 bytes, got {}", sig.bytes.len())));
    }
    let parity = match sig.recovery_id {
        Some(0) => false,
        Some(1) => true,
        other => return Err(ChainError::InvalidSignature(format!("recovery id {other:?} is not 0 or 1"))),
    };
    let ksig =
        k256::ecdsa::Signature::from_slice(&sig.bytes).map_err(|e| ChainError::InvalidSignature(e.to_string()))?;
    if ksig.normalize_s().is_some() {
        return Err(ChainError::InvalidSignature("high S".into()));
    }
    let signature = alloy_primitives::Signature::from_scalars_and_parity(
        B256::from_slice(&sig.bytes[..32]),
        B256::from_slice(&sig.bytes[32..]),
        parity,
    );
    let signer = signature
        .recover_address_from_prehash(&body.signature_hash())
        .map_err(|e| ChainError::InvalidSignature(e.to_string()))?;
    if signer != from {
        return Err(ChainError::InvalidSignature(format!("recovers to {signer}, not the wallet {from}")));
    }
    let envelope = body.signed(signature);
    Ok(SignedTx { raw: envelope.encoded_2718(), txid: format!("{:#x}", envelope.tx_hash()) })
}

impl Chain for Ethereum {
    fn name(&self) -> &'static str {
        "ethereum"
    }

    fn scheme(&self) -> SchemeId {
        crate::schemes::cggmp24::ID
    }

    fn address(&self, key: &PublicKey) -> Result<String, ChainError> {
        check_scheme(self, key)?;
        Ok(address_of(&key.bytes)?.to_checksum(None))
    }

    fn sweep(
        &self,
        key: &PublicKey,
        _to: &str,
        balance: u128,
        context: &ChainContext,
    ) -> Result<(u128, u128), ChainError> {
        check_scheme(self, key)?;
        let ChainContext::Account { gas_limit, max_fee_per_gas, legacy_gas_price, .. } = *context else {
            return Err(ChainError::WrongContext("Ethereum needs an account context".into()));
        };
        // The fee cap, not the fee: what the cap does not use stays behind.
        let per_gas = legacy_gas_price.unwrap_or(max_fee_per_gas);
        let fee = per_gas
            .checked_mul(u128::from(gas_limit))
            .ok_or_else(|| ChainError::InvalidTransfer("fee overflows".into()))?;
        super::after_fee(balance, fee)
    }

    fn build(
        &self,
        key: &PublicKey,
        request: &TransferRequest,
        context: &ChainContext,
    ) -> Result<UnsignedTx, ChainError> {
        check_scheme(self, key)?;
        let (body, summary, hash) = build_body(address_of(&key.bytes)?, request, context)?;
        Ok(UnsignedTx { summary, payloads: vec![hash.to_vec()], body })
    }

    fn spends(&self, tx: &UnsignedTx) -> Result<Vec<String>, ChainError> {
        let body: Body = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let (chain_id, nonce) = match body {
            Body::Eip1559 { chain_id, nonce, .. } | Body::Legacy { chain_id, nonce, .. } => (chain_id, nonce),
        };
        Ok(vec![format!("ethereum/{chain_id}/nonce/{nonce}")])
    }

    fn inspect(&self, key: &PublicKey, tx: &UnsignedTx) -> Result<TxSummary, ChainError> {
        check_scheme(self, key)?;
        let from = address_of(&key.bytes)?;
        let body: Body = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        if tx.payloads != [body.signature_hash().to_vec()] {
            return Err(ChainError::InvalidTransfer("the payload is not this transaction's signature hash".into()));
        }
        let (chain_id, to, value, fee) = match body {
            Body::Eip1559 { chain_id, gas_limit, max_fee, to, value, .. } => {
                (chain_id, to, value, max_fee.checked_mul(u128::from(gas_limit)))
            }
            Body::Legacy { chain_id, gas_limit, gas_price, to, value, .. } => {
                (chain_id, to, value, gas_price.checked_mul(u128::from(gas_limit)))
            }
        };
        let amount = u128::try_from(U256::from_be_bytes(value))
            .map_err(|_| ChainError::InvalidTransfer("amount exceeds u128".into()))?;
        Ok(TxSummary {
            chain: "ethereum".into(),
            network: chain_id.to_string(),
            from: from.to_checksum(None),
            to: Address::from(to).to_checksum(None),
            amount,
            fee: fee.ok_or_else(|| ChainError::InvalidTransfer("fee overflows".into()))?,
        })
    }

    fn preimages(&self, key: &PublicKey, tx: &UnsignedTx) -> Result<Option<Vec<Preimage>>, ChainError> {
        self.inspect(key, tx)?;
        let body: Body = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let preimage = Preimage { hashing: Hashing::Keccak256, bytes: body.signing_preimage() };
        if tx.payloads != [preimage.digest().to_vec()] {
            return Err(ChainError::Encoding("the signing preimage does not hash to the payload".into()));
        }
        Ok(Some(vec![preimage]))
    }

    fn finalize(&self, key: &PublicKey, tx: &UnsignedTx, signatures: &[Signature]) -> Result<SignedTx, ChainError> {
        check_scheme(self, key)?;
        let [sig] = signatures else {
            return Err(ChainError::InvalidSignature(format!("need 1 signature, got {}", signatures.len())));
        };
        attach(&tx.body, address_of(&key.bytes)?, sig)
    }
}
