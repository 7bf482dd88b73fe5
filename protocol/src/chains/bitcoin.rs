//! Bitcoin, with the `bitcoin` crate (0.32) for encodings and sighashes:
//! - P2TR key-path spends signed by FROST-secp256k1-TR: the group key is already the BIP341
//!   output key Q (tweaked with no script tree), the address is bech32m of Q, each input signs
//!   its BIP341 sighash (`SIGHASH_DEFAULT`), the witness is the 64-byte BIP340 signature.
//! - P2WPKH spends signed by CGGMP24 ECDSA: bech32 address of the compressed key, BIP143
//!   sighash (`SIGHASH_ALL`), witness = DER low-S signature + sighash byte, then the key.

use std::str::FromStr;

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode;
use bitcoin::hashes::Hash;
use bitcoin::key::{CompressedPublicKey, TweakedPublicKey, XOnlyPublicKey};
use bitcoin::secp256k1::{self, Message, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::transaction::Version;
pub use bitcoin::Network;
use bitcoin::{Address, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use serde::{Deserialize, Serialize};

use super::{
    check_fee, check_scheme, Chain, ChainContext, ChainError, SignedTx, TransferRequest, TxSummary, UnsignedTx,
};
use crate::ids::SchemeId;
use crate::presign::{Hashing, Preimage};
use crate::scheme::{PublicKey, Signature};

/// Outputs below this are not created (change goes to the fee instead).
const DUST_SAT: u64 = 546;

/// Which output type the wallet's key controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Taproot key path, FROST-secp256k1-TR.
    P2tr,
    /// Native segwit v0 key hash, CGGMP24.
    P2wpkh,
}

/// One Bitcoin address type on one network.
pub struct BitcoinChain {
    kind: Kind,
    network: Network,
}

impl BitcoinChain {
    /// Taproot key-path spends on `network`.
    pub fn p2tr(network: Network) -> Self {
        Self { kind: Kind::P2tr, network }
    }

    /// P2WPKH spends on `network`.
    pub fn p2wpkh(network: Network) -> Self {
        Self { kind: Kind::P2wpkh, network }
    }

    fn wallet_address(&self, key: &[u8]) -> Result<Address, ChainError> {
        match self.kind {
            Kind::P2tr => {
                let q =
                    XOnlyPublicKey::from_slice(key).map_err(|e| ChainError::InvalidKey(format!("x-only key: {e}")))?;
                Ok(Address::p2tr_tweaked(TweakedPublicKey::dangerous_assume_tweaked(q), self.network))
            }
            Kind::P2wpkh => {
                let pk = CompressedPublicKey::from_slice(key)
                    .map_err(|e| ChainError::InvalidKey(format!("compressed key: {e}")))?;
                Ok(Address::p2wpkh(&pk, self.network))
            }
        }
    }

    /// Virtual size of one of our inputs, rounded up.
    fn input_vbytes(&self) -> u64 {
        match self.kind {
            Kind::P2tr => 58,
            Kind::P2wpkh => 68,
        }
    }
}

/// The unsigned transaction and the outputs it spends, in input order.
#[derive(Serialize, Deserialize)]
struct Body {
    tx: Vec<u8>,
    prevouts: Vec<(u64, Vec<u8>)>,
}

fn output_vbytes(script: &ScriptBuf) -> u64 {
    9 + script.len() as u64
}

/// Parses a recipient address and checks its network.
pub fn parse_address(text: &str, network: Network) -> Result<Address, ChainError> {
    Address::from_str(text)
        .map_err(|e| ChainError::InvalidAddress(format!("{text}: {e}")))?
        .require_network(network)
        .map_err(|e| ChainError::InvalidAddress(format!("{text}: {e}")))
}

impl Chain for BitcoinChain {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::P2tr => "bitcoin-p2tr",
            Kind::P2wpkh => "bitcoin-p2wpkh",
        }
    }

    fn scheme(&self) -> SchemeId {
        match self.kind {
            Kind::P2tr => crate::schemes::frost_secp256k1_tr::ID,
            Kind::P2wpkh => crate::schemes::cggmp24::ID,
        }
    }

    fn address(&self, key: &PublicKey) -> Result<String, ChainError> {
        check_scheme(self, key)?;
        Ok(self.wallet_address(&key.bytes)?.to_string())
    }

    fn sweep(
        &self,
        key: &PublicKey,
        to: &str,
        _balance: u128,
        context: &ChainContext,
    ) -> Result<(u128, u128), ChainError> {
        check_scheme(self, key)?;
        let ChainContext::Utxos { utxos, fee_rate_sat_vb } = context else {
            return Err(ChainError::WrongContext("Bitcoin needs the wallet's UTXOs".into()));
        };
        let from = self.wallet_address(&key.bytes)?;
        let to = parse_address(to, self.network)?;
        // Sized as `build` sizes it (with a change output): the change then falls below dust
        // and goes to the fee, so the spend takes every output and pays exactly this.
        let vbytes = 11
            + output_vbytes(&to.script_pubkey())
            + output_vbytes(&from.script_pubkey())
            + self.input_vbytes() * utxos.len() as u64;
        let fee = u128::from(fee_rate_sat_vb.saturating_mul(vbytes));
        let total: u128 = utxos.iter().map(|u| u128::from(u.amount)).sum();
        let (amount, fee) = super::after_fee(total, fee)?;
        if amount < u128::from(DUST_SAT) {
            return Err(ChainError::InsufficientFunds { needed: fee + u128::from(DUST_SAT), available: total });
        }
        Ok((amount, fee))
    }

    fn build(
        &self,
        key: &PublicKey,
        request: &TransferRequest,
        context: &ChainContext,
    ) -> Result<UnsignedTx, ChainError> {
        check_scheme(self, key)?;
        let ChainContext::Utxos { utxos, fee_rate_sat_vb } = context else {
            return Err(ChainError::WrongContext("Bitcoin needs the wallet's UTXOs".into()));
        };
        let from = self.wallet_address(&key.bytes)?;
        let our_script = from.script_pubkey();
        let to = parse_address(&request.to, self.network)?;
        let amount =
            u64::try_from(request.amount).map_err(|_| ChainError::InvalidTransfer("amount exceeds u64".into()))?;
        if amount < DUST_SAT {
            return Err(ChainError::InvalidTransfer(format!("amount {amount} sat is below dust ({DUST_SAT})")));
        }
        let mut candidates = utxos.clone();
        candidates.sort_by_key(|u| std::cmp::Reverse(u.amount));
        let fixed = 11 + output_vbytes(&to.script_pubkey()) + output_vbytes(&our_script);
        let mut chosen = Vec::new();
        let mut total = 0u64;
        let mut fee = 0u64;
        for u in candidates {
            total =
                total.checked_add(u.amount).ok_or_else(|| ChainError::InvalidTransfer("UTXO sum overflows".into()))?;
            chosen.push(u);
            fee = fee_rate_sat_vb.saturating_mul(fixed + self.input_vbytes() * chosen.len() as u64);
            if total >= amount.saturating_add(fee) {
                break;
            }
        }
        let needed = amount.saturating_add(fee);
        if total < needed {
            return Err(ChainError::InsufficientFunds { needed: u128::from(needed), available: u128::from(total) });
        }
        let mut change = total - needed;
        if change < DUST_SAT {
            fee += change;
            change = 0;
        }
        check_fee(u128::from(fee), request.fee_ceiling)?;
        let mut input = Vec::new();
        for u in &chosen {
            let txid =
                Txid::from_str(&u.txid).map_err(|e| ChainError::WrongContext(format!("utxo txid {}: {e}", u.txid)))?;
            input.push(TxIn {
                previous_output: OutPoint { txid, vout: u.vout },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            });
        }
        let mut output = vec![TxOut { value: Amount::from_sat(amount), script_pubkey: to.script_pubkey() }];
        if change > 0 {
            output.push(TxOut { value: Amount::from_sat(change), script_pubkey: our_script.clone() });
        }
        let tx = Transaction { version: Version::TWO, lock_time: LockTime::ZERO, input, output };
        let prevouts: Vec<TxOut> = chosen
            .iter()
            .map(|u| TxOut { value: Amount::from_sat(u.amount), script_pubkey: our_script.clone() })
            .collect();
        let payloads = sighashes(self.kind, &tx, &prevouts, &key.bytes)?;
        let body = Body {
            tx: encode::serialize(&tx),
            prevouts: chosen.iter().map(|u| (u.amount, our_script.to_bytes())).collect(),
        };
        Ok(UnsignedTx {
            summary: TxSummary {
                chain: self.name().into(),
                network: self.network.to_string(),
                from: from.to_string(),
                to: to.to_string(),
                amount: request.amount,
                fee: u128::from(fee),
            },
            payloads,
            body: bincode::serialize(&body).map_err(|e| ChainError::Encoding(e.to_string()))?,
        })
    }

    fn spends(&self, tx: &UnsignedTx) -> Result<Vec<String>, ChainError> {
        let body: Body = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let btx: Transaction = encode::deserialize(&body.tx).map_err(|e| ChainError::Encoding(e.to_string()))?;
        Ok(btx.input.iter().map(|i| format!("bitcoin/{}/{}", self.network, i.previous_output)).collect())
    }

    fn inspect(&self, key: &PublicKey, tx: &UnsignedTx) -> Result<TxSummary, ChainError> {
        check_scheme(self, key)?;
        let from = self.wallet_address(&key.bytes)?;
        let ours = from.script_pubkey();
        let body: Body = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let btx: Transaction = encode::deserialize(&body.tx).map_err(|e| ChainError::Encoding(e.to_string()))?;
        if body.prevouts.len() != btx.input.len() || body.prevouts.iter().any(|(_, s)| s.as_slice() != ours.as_bytes())
        {
            return Err(ChainError::InvalidTransfer("every input must spend one of the wallet's outputs".into()));
        }
        let prevouts: Vec<TxOut> = body
            .prevouts
            .iter()
            .map(|(v, s)| TxOut { value: Amount::from_sat(*v), script_pubkey: ScriptBuf::from_bytes(s.clone()) })
            .collect();
        if sighashes(self.kind, &btx, &prevouts, &key.bytes)? != tx.payloads {
            return Err(ChainError::InvalidTransfer("the payloads are not this transaction's sighashes".into()));
        }
        let paid: Vec<&TxOut> = btx.output.iter().filter(|o| o.script_pubkey != ours).collect();
        let [recipient] = paid.as_slice() else {
            return Err(ChainError::InvalidTransfer(format!("{} outputs pay others; expected one", paid.len())));
        };
        let to = Address::from_script(&recipient.script_pubkey, self.network)
            .map_err(|e| ChainError::InvalidAddress(e.to_string()))?;
        let spent: u64 = body.prevouts.iter().map(|(v, _)| *v).sum();
        let out: u64 = btx.output.iter().map(|o| o.value.to_sat()).sum();
        let fee = spent.checked_sub(out).ok_or_else(|| ChainError::InvalidTransfer("outputs exceed inputs".into()))?;
        Ok(TxSummary {
            chain: self.name().into(),
            network: self.network.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            amount: u128::from(recipient.value.to_sat()),
            fee: u128::from(fee),
        })
    }

    fn preimages(&self, key: &PublicKey, tx: &UnsignedTx) -> Result<Option<Vec<Preimage>>, ChainError> {
        if self.kind != Kind::P2wpkh {
            return Ok(None); // Taproot is FROST's: no presignatures
        }
        self.inspect(key, tx)?;
        let body: Body = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let btx: Transaction = encode::deserialize(&body.tx).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let mut cache = SighashCache::new(&btx);
        let mut out = Vec::with_capacity(body.prevouts.len());
        for (i, (value, script)) in body.prevouts.iter().enumerate() {
            let script_code = ScriptBuf::from_bytes(script.clone())
                .p2wpkh_script_code()
                .ok_or_else(|| ChainError::InvalidTransfer(format!("input {i} is not P2WPKH")))?;
            let mut bytes = Vec::new();
            cache
                .segwit_v0_encode_signing_data_to(
                    &mut bytes,
                    i,
                    &script_code,
                    Amount::from_sat(*value),
                    EcdsaSighashType::All,
                )
                .map_err(|e| ChainError::Encoding(e.to_string()))?;
            out.push(Preimage { hashing: Hashing::DoubleSha256, bytes });
        }
        if out.iter().map(|p| p.digest().to_vec()).ne(tx.payloads.iter().cloned()) {
            return Err(ChainError::Encoding("the BIP143 preimages do not hash to the payloads".into()));
        }
        Ok(Some(out))
    }

    fn finalize(&self, key: &PublicKey, tx: &UnsignedTx, signatures: &[Signature]) -> Result<SignedTx, ChainError> {
        check_scheme(self, key)?;
        let body: Body = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let mut btx: Transaction = encode::deserialize(&body.tx).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let prevouts: Vec<TxOut> = body
            .prevouts
            .iter()
            .map(|(v, s)| TxOut { value: Amount::from_sat(*v), script_pubkey: ScriptBuf::from_bytes(s.clone()) })
            .collect();
        if signatures.len() != btx.input.len() || prevouts.len() != btx.input.len() {
            return Err(ChainError::InvalidSignature(format!(
                "need {} signatures, got {}",
                btx.input.len(),
                signatures.len()
            )));
        }
        let digests = sighashes(self.kind, &btx, &prevouts, &key.bytes)?;
        let secp = Secp256k1::verification_only();
        if digests != tx.payloads {
            return Err(ChainError::InvalidTransfer("payloads do not match the transaction".into()));
        }
        for (i, (sig, digest)) in signatures.iter().zip(&digests).enumerate() {
            let msg = Message::from_digest_slice(digest).map_err(|e| ChainError::Encoding(e.to_string()))?;
            btx.input[i].witness = match self.kind {
                Kind::P2tr => {
                    let q =
                        XOnlyPublicKey::from_slice(&key.bytes).map_err(|e| ChainError::InvalidKey(e.to_string()))?;
                    let s = secp256k1::schnorr::Signature::from_slice(&sig.bytes)
                        .map_err(|e| ChainError::InvalidSignature(e.to_string()))?;
                    secp.verify_schnorr(&s, &msg, &q)
                        .map_err(|_| ChainError::InvalidSignature(format!("input {i}: BIP340 check failed")))?;
                    Witness::from_slice(&[sig.bytes.as_slice()])
                }
                Kind::P2wpkh => {
                    let pk = secp256k1::PublicKey::from_slice(&key.bytes)
                        .map_err(|e| ChainError::InvalidKey(e.to_string()))?;
                    let s = secp256k1::ecdsa::Signature::from_compact(&sig.bytes)
                        .map_err(|e| ChainError::InvalidSignature(e.to_string()))?;
                    let mut low = s;
                    low.normalize_s();
                    if low != s {
                        return Err(ChainError::InvalidSignature(format!("input {i}: high S")));
                    }
                    secp.verify_ecdsa(&msg, &s, &pk)
                        .map_err(|_| ChainError::InvalidSignature(format!("input {i}: ECDSA check failed")))?;
                    Witness::p2wpkh(
                        &bitcoin::ecdsa::Signature { signature: s, sighash_type: EcdsaSighashType::All },
                        &pk,
                    )
                }
            };
        }
        Ok(SignedTx { raw: encode::serialize(&btx), txid: btx.compute_txid().to_string() })
    }
}

fn sighashes(kind: Kind, tx: &Transaction, prevouts: &[TxOut], key: &[u8]) -> Result<Vec<Vec<u8>>, ChainError> {
    let mut cache = SighashCache::new(tx);
    let mut out = Vec::with_capacity(prevouts.len());
    for (i, prevout) in prevouts.iter().enumerate() {
        let digest = match kind {
            Kind::P2tr => cache
                .taproot_key_spend_signature_hash(i, &Prevouts::All(prevouts), TapSighashType::Default)
                .map_err(|e| ChainError::Encoding(e.to_string()))?
                .to_byte_array(),
            Kind::P2wpkh => {
                let pk = CompressedPublicKey::from_slice(key).map_err(|e| ChainError::InvalidKey(e.to_string()))?;
                let script = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
                if script != prevout.script_pubkey {
                    return Err(ChainError::InvalidTransfer(format!("input {i} is not the wallet's output")));
                }
                cache
                    .p2wpkh_signature_hash(i, &prevout.script_pubkey, prevout.value, EcdsaSighashType::All)
                    .map_err(|e| ChainError::Encoding(e.to_string()))?
                    .to_byte_array()
            }
        };
        out.push(digest.to_vec());
    }
    Ok(out)
}
