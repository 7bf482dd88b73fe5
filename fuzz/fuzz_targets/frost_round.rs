//! FROST DKG round messages (Ed25519 and secp256k1-Taproot), bent from a real one, into a
//! live ceremony of party 0 of 3.
#![no_main]

use std::sync::OnceLock;

use protocol::schemes::{self, SchemeEnv};
use protocol::{Envelope, KeygenParams, Recipient, SessionId};

fn template(name: &str) -> Envelope {
    let scheme = registry().by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let session = SessionId::derive("fuzz", name.as_bytes());
    let mut other = scheme.keygen(&KeygenParams::new(session, 1, 3, 2), None).unwrap_or_else(|e| panic!("{e}"));
    let step = other.start(0).unwrap_or_else(|e| panic!("{e}"));
    step.outgoing
        .into_iter()
        .find(|e| matches!(e.recipient, Recipient::Broadcast | Recipient::Party(0)))
        .unwrap_or_else(|| panic!("no first-round message"))
}

fn registry() -> &'static protocol::schemes::Registry {
    static R: OnceLock<protocol::schemes::Registry> = OnceLock::new();
    R.get_or_init(|| schemes::registry(&SchemeEnv { primes: std::sync::Arc::new(protocol::primes::MemoryPrimePool::default()) }))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static T: OnceLock<[Envelope; 2]> = OnceLock::new();
    let t = T.get_or_init(|| [template("frost-ed25519"), template("frost-secp256k1-tr")]);
    let Some((which, rest)) = data.split_first() else { return };
    let name = if which % 2 == 0 { "frost-ed25519" } else { "frost-secp256k1-tr" };
    let template = &t[usize::from(which % 2)];
    let scheme = registry().by_name(name).unwrap_or_else(|e| panic!("{e}"));
    let make = || {
        scheme
            .keygen(&KeygenParams::new(template.session, 0, 3, 2), None)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    protocol::fuzzing::round_message(&make, template, rest);
});
