//! Harnesses that feed untrusted bytes to every decoder a peer can reach: the wire envelope,
//! control messages (proposals with what they ask to sign, votes, aborts, transfer notices)
//! and each scheme's round messages inside a live ceremony. Each must return an error, never
//! panic. The same functions run under proptest in the test suite (`tests/suite/fuzz.rs`) and under
//! libFuzzer (`fuzz/`, `cargo fuzz`).

use crate::abort::{AbortBody, SignedAbort};
use crate::ceremony::{BoxCeremony, Millis};
use crate::chains::{self, Chain};
use crate::envelope::{Envelope, Recipient};
use crate::proposal::{Control, ProposalBook, ProposalKind, Signable};
use crate::scheme::PublicKey;
use crate::wallet::TransferPolicy;

/// The committee size the harnesses assume.
pub const PARTIES: u16 = 5;

/// Decodes a wire envelope; a decoded one must encode again.
pub fn envelope(bytes: &[u8]) {
    if let Ok(e) = Envelope::decode(bytes) {
        let again = e.encode();
        assert!(again.is_ok(), "a decoded envelope encodes");
    }
}

/// Decodes a control message and runs everything a member does with one before it votes:
/// the proposal's shape check, its session id, what it asks to sign (EIP-191 and EIP-712
/// forms, a transfer re-derived by its chain), an abort's body.
pub fn control(bytes: &[u8]) {
    let Ok(control) = Control::decode(bytes) else { return };
    match control {
        Control::Propose(p) => {
            let _ = ProposalBook::check(&p, p.proposer, PARTIES, 0);
            let _ = p.session();
            if let ProposalKind::Sign { signable, .. } | ProposalKind::SignPresigned { signable, .. } = &p.kind {
                signable_checks(signable);
            }
        }
        Control::Abort(signed) => abort(&signed),
        Control::Notice(notice) => {
            let _ = format!("{notice:?}");
        }
        _ => {}
    }
}

/// An abort as a member checks it before the signature: the body's bounds and Merkle root.
pub fn abort(signed: &SignedAbort) {
    if let Ok(body) = AbortBody::decode(&signed.body) {
        assert_eq!(crate::abort::merkle_root(&body.states), body.root);
    }
}

fn signable_checks(signable: &Signable) {
    let _ = signable.payloads();
    match signable {
        Signable::PersonalMessage(m) => {
            let _ = m.check();
        }
        Signable::TypedData(d) => {
            let _ = d.check();
        }
        Signable::Transfer(intent) => {
            let all = chains::registry(chains::bitcoin::Network::Regtest);
            if let Some(chain) = all.get(&intent.chain) {
                let policy = TransferPolicy { chains: [(intent.chain.clone(), Default::default())].into() };
                let _ = policy.review(&*chain, &key_for(&*chain), intent);
            }
        }
        Signable::Raw(_) => {}
    }
}

/// A well-formed key of the chain's scheme (its generator), so a review gets past the key;
/// the seeds of the fuzz runs are built from it.
pub fn key_for(chain: &dyn Chain) -> PublicKey {
    let scheme = chain.scheme();
    let bytes = if scheme.as_str().contains("ed25519") {
        let mut b = [0x66u8; 32];
        b[0] = 0x58;
        b.to_vec()
    } else if scheme.as_str().ends_with("-tr") {
        SECP256K1_G_X.to_vec()
    } else {
        let mut b = vec![0x02];
        b.extend_from_slice(&SECP256K1_G_X);
        b
    };
    PublicKey { scheme, bytes }
}

const SECP256K1_G_X: [u8; 32] = [
    0x79, 0xBE, 0x66, 0x7E, 0xF9, 0xDC, 0xBB, 0xAC, 0x55, 0xA0, 0x62, 0x95, 0xCE, 0x87, 0x0B, 0x07, 0x02, 0x9B, 0xFC,
    0xDB, 0x2D, 0xCE, 0x28, 0xD9, 0x59, 0xF2, 0x81, 0x5B, 0x16, 0xF8, 0x17, 0x98,
];

/// Feeds a fresh ceremony (from `make`) one envelope built from `template` (a real message
/// another party sent) and `data`: the first byte picks how to bend it (payload replaced,
/// bytes flipped, cut short, grown, round, sender or recipient changed), the rest is the
/// material. The ceremony must reject it or end with a typed error; it must not panic.
pub fn round_message<O>(make: &dyn Fn() -> BoxCeremony<O>, template: &Envelope, data: &[u8]) {
    let mut ceremony = make();
    let now: Millis = 0;
    if ceremony.start(now).is_err() {
        return;
    }
    let (op, rest) = data.split_first().map_or((0, data), |(op, rest)| (*op, rest));
    let mut e = template.clone();
    match op % 7 {
        0 => e.payload = rest.to_vec(),
        1 => {
            for (i, b) in rest.chunks(3).filter(|c| c.len() == 3).map(|c| (c[0] as usize | (c[1] as usize) << 8, c[2]))
            {
                let len = e.payload.len().max(1);
                if let Some(x) = e.payload.get_mut(i % len) {
                    *x ^= b;
                }
            }
        }
        2 => {
            let keep = rest.first().map_or(0, |b| usize::from(*b)) * e.payload.len() / 256;
            e.payload.truncate(keep);
        }
        3 => e.payload.extend_from_slice(rest),
        4 => e.round = rest.first().map_or(0, |b| u16::from(*b % 8)),
        5 => e.sender = rest.first().map_or(0, |b| u16::from(*b % 8)),
        _ => e.recipient = rest.first().map_or(Recipient::Broadcast, |b| Recipient::Party(u16::from(*b % 8))),
    }
    let _ = ceremony.on_message(now, e.clone());
    // The same message again (a duplicate or an equivocation) and a tick past every deadline.
    let _ = ceremony.on_message(now, e);
    let _ = ceremony.on_tick(now + 3_600_000);
}
