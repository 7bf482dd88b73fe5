//! Solana: address = base58 of the Ed25519 group key; a System Program transfer in a legacy
//! message, serialized exactly as the runtime reads it (shortvec lengths, header, account keys,
//! recent blockhash, compiled instructions). The signature covers the message bytes.

use serde::{Deserialize, Serialize};

use super::{
    check_fee, check_scheme, Chain, ChainContext, ChainError, SignedTx, TransferRequest, TxSummary, UnsignedTx,
};
use crate::ids::SchemeId;
use crate::scheme::{PublicKey, Signature};

/// The base fee of a one-signature transaction, lamports.
pub const FEE_LAMPORTS: u64 = 5000;

/// Solana, signed by FROST-Ed25519.
pub struct Solana;

impl Chain for Solana {
    fn name(&self) -> &'static str {
        "solana"
    }

    fn scheme(&self) -> SchemeId {
        crate::schemes::frost_ed25519::ID
    }

    fn address(&self, key: &PublicKey) -> Result<String, ChainError> {
        check_scheme(self, key)?;
        address(&key.bytes)
    }

    fn sweep(
        &self,
        key: &PublicKey,
        _to: &str,
        balance: u128,
        context: &ChainContext,
    ) -> Result<(u128, u128), ChainError> {
        self.address(key)?;
        if !matches!(context, ChainContext::Blockhash { .. }) {
            return Err(ChainError::WrongContext("Solana needs a recent blockhash".into()));
        }
        super::after_fee(balance, u128::from(FEE_LAMPORTS))
    }

    fn build(
        &self,
        key: &PublicKey,
        request: &TransferRequest,
        context: &ChainContext,
    ) -> Result<UnsignedTx, ChainError> {
        let from_text = self.address(key)?;
        let ChainContext::Blockhash { recent_blockhash } = context else {
            return Err(ChainError::WrongContext("Solana needs a recent blockhash".into()));
        };
        let lamports = u64::try_from(request.amount)
            .map_err(|_| ChainError::InvalidTransfer("amount exceeds u64 lamports".into()))?;
        if lamports == 0 {
            return Err(ChainError::InvalidTransfer("amount is zero".into()));
        }
        check_fee(u128::from(FEE_LAMPORTS), request.fee_ceiling)?;
        let transfer = Transfer {
            from: parse_address(&from_text)?,
            to: parse_address(&request.to)?,
            lamports,
            recent_blockhash: parse_address(recent_blockhash)
                .map_err(|e| ChainError::WrongContext(format!("recent blockhash: {e}")))?,
        };
        let message = transfer.message()?;
        Ok(UnsignedTx {
            summary: TxSummary {
                chain: self.name().into(),
                network: "solana".into(),
                from: from_text,
                to: request.to.clone(),
                amount: request.amount,
                fee: u128::from(FEE_LAMPORTS),
            },
            payloads: vec![message],
            body: bincode::serialize(&transfer).map_err(|e| ChainError::Encoding(e.to_string()))?,
        })
    }

    fn spends(&self, _tx: &UnsignedTx) -> Result<Vec<String>, ChainError> {
        // No nonce: each transfer is its own transaction (and expires with its blockhash).
        Ok(Vec::new())
    }

    fn inspect(&self, key: &PublicKey, tx: &UnsignedTx) -> Result<TxSummary, ChainError> {
        let from = self.address(key)?;
        let transfer: Transfer = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        if transfer.from.as_slice() != key.bytes.as_slice() {
            return Err(ChainError::InvalidTransfer("the transfer does not pay from the wallet".into()));
        }
        if tx.payloads != [transfer.message()?] {
            return Err(ChainError::InvalidTransfer("the payload is not this transfer's message".into()));
        }
        Ok(TxSummary {
            chain: self.name().into(),
            network: "solana".into(),
            from,
            to: bs58::encode(transfer.to).into_string(),
            amount: u128::from(transfer.lamports),
            fee: u128::from(FEE_LAMPORTS),
        })
    }

    fn finalize(&self, key: &PublicKey, tx: &UnsignedTx, signatures: &[Signature]) -> Result<SignedTx, ChainError> {
        check_scheme(self, key)?;
        let transfer: Transfer = bincode::deserialize(&tx.body).map_err(|e| ChainError::Encoding(e.to_string()))?;
        let [sig] = signatures else {
            return Err(ChainError::InvalidSignature(format!("need 1 signature, got {}", signatures.len())));
        };
        let message = transfer.message()?;
        if tx.payloads.first() != Some(&message) || transfer.from.as_slice() != key.bytes.as_slice() {
            return Err(ChainError::InvalidTransfer("body does not match its payload or key".into()));
        }
        let vk = ed25519_key(&key.bytes)?;
        let s = frost_ed25519::Signature::deserialize(&sig.bytes)
            .map_err(|e| ChainError::InvalidSignature(e.to_string()))?;
        vk.verify(&message, &s)
            .map_err(|_| ChainError::InvalidSignature("does not verify under the wallet key".into()))?;
        let (raw, txid) = transfer.signed(&sig.bytes)?;
        Ok(SignedTx { raw, txid })
    }
}

fn ed25519_key(bytes: &[u8]) -> Result<frost_ed25519::VerifyingKey, ChainError> {
    frost_ed25519::VerifyingKey::deserialize(bytes).map_err(|e| ChainError::InvalidKey(e.to_string()))
}

/// The System Program's id (32 zero bytes, `11111111111111111111111111111111`).
pub const SYSTEM_PROGRAM: [u8; 32] = [0; 32];
/// System Program instruction index of `Transfer`.
const TRANSFER: u32 = 2;

/// Base58 address of a 32-byte Ed25519 key.
pub fn address(public_key: &[u8]) -> Result<String, ChainError> {
    let key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| ChainError::InvalidKey(format!("Solana keys are 32 bytes, got {}", public_key.len())))?;
    Ok(bs58::encode(key).into_string())
}

/// Decodes a base58 address into its 32 bytes.
pub fn parse_address(text: &str) -> Result<[u8; 32], ChainError> {
    let bytes = bs58::decode(text).into_vec().map_err(|e| ChainError::InvalidAddress(format!("{text}: {e}")))?;
    bytes.try_into().map_err(|_| ChainError::InvalidAddress(format!("{text}: not 32 bytes")))
}

/// Appends Solana's compact-u16 ("shortvec") length.
fn shortvec(out: &mut Vec<u8>, mut n: usize) -> Result<(), ChainError> {
    if n > u16::MAX as usize {
        return Err(ChainError::Encoding(format!("length {n} does not fit a shortvec")));
    }
    loop {
        let mut byte = (n & 0x7f) as u8;
        n >>= 7;
        if n != 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return Ok(());
        }
    }
}

/// An unsigned System Program transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Payer and signer.
    pub from: [u8; 32],
    /// Recipient.
    pub to: [u8; 32],
    /// Lamports.
    pub lamports: u64,
    /// A recent blockhash (the transaction expires with it).
    pub recent_blockhash: [u8; 32],
}

impl Transfer {
    /// The legacy message bytes the signer signs.
    pub fn message(&self) -> Result<Vec<u8>, ChainError> {
        if self.from == self.to {
            return Err(ChainError::InvalidTransfer("sender and recipient are the same account".into()));
        }
        let mut m = Vec::with_capacity(150);
        // Header: 1 signature; 0 read-only signed; 1 read-only unsigned (the program).
        m.extend_from_slice(&[1, 0, 1]);
        shortvec(&mut m, 3)?;
        m.extend_from_slice(&self.from);
        m.extend_from_slice(&self.to);
        m.extend_from_slice(&SYSTEM_PROGRAM);
        m.extend_from_slice(&self.recent_blockhash);
        shortvec(&mut m, 1)?; // one instruction
        m.push(2); // program id index
        shortvec(&mut m, 2)?;
        m.extend_from_slice(&[0, 1]); // from, to
        let mut data = TRANSFER.to_le_bytes().to_vec();
        data.extend_from_slice(&self.lamports.to_le_bytes());
        shortvec(&mut m, data.len())?;
        m.extend_from_slice(&data);
        Ok(m)
    }

    /// The signed wire transaction and its id (base58 of the signature).
    pub fn signed(&self, signature: &[u8]) -> Result<(Vec<u8>, String), ChainError> {
        if signature.len() != 64 {
            return Err(ChainError::InvalidSignature(format!(
                "Ed25519 signatures are 64 bytes, got {}",
                signature.len()
            )));
        }
        let mut tx = Vec::with_capacity(64 + 150);
        shortvec(&mut tx, 1)?;
        tx.extend_from_slice(signature);
        tx.extend_from_slice(&self.message()?);
        Ok((tx, bs58::encode(signature).into_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortvec_matches_the_runtime_encoding() {
        for (n, want) in [
            (0usize, vec![0u8]),
            (0x7f, vec![0x7f]),
            (0x80, vec![0x80, 0x01]),
            (0x3fff, vec![0xff, 0x7f]),
            (0x4000, vec![0x80, 0x80, 0x01]),
        ] {
            let mut out = Vec::new();
            shortvec(&mut out, n).unwrap();
            assert_eq!(out, want, "{n}");
        }
        assert!(shortvec(&mut Vec::new(), 70_000).is_err());
    }

    #[test]
    fn system_program_address() {
        assert_eq!(address(&SYSTEM_PROGRAM).unwrap(), "11111111111111111111111111111111");
        assert_eq!(parse_address("11111111111111111111111111111111").unwrap(), SYSTEM_PROGRAM);
        assert!(parse_address("0OIl").is_err());
        assert!(address(&[1; 31]).is_err());
    }

    #[test]
    fn transfer_message_layout() {
        let t = Transfer { from: [1; 32], to: [2; 32], lamports: 5, recent_blockhash: [3; 32] };
        let m = t.message().unwrap();
        assert_eq!(&m[..4], &[1, 0, 1, 3]);
        assert_eq!(m.len(), 3 + 1 + 96 + 32 + 1 + 1 + 1 + 2 + 1 + 12);
        assert_eq!(&m[m.len() - 12..], &[2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
        let self_transfer = Transfer { to: [1; 32], ..t };
        assert!(self_transfer.message().is_err());
    }
}
