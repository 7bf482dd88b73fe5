//! CGGMP24 DKG round messages, bent from a real one, into a live ceremony of party 0 of 3
//! (with the committed test-only committee setup).
#![no_main]

use std::sync::OnceLock;

use protocol::schemes::{self, SchemeEnv};
use protocol::{Envelope, KeygenParams, Recipient, SessionId, SetupMaterial};

struct Fixture {
    registry: protocol::schemes::Registry,
    setups: Vec<SetupMaterial>,
    template: Envelope,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let registry = schemes::registry(&SchemeEnv { primes: std::sync::Arc::new(protocol::primes::MemoryPrimePool::default()) });
        let setups: Vec<SetupMaterial> =
            bincode::deserialize(include_bytes!("../../protocol/tests/fixtures/setup-3.bin")).unwrap_or_else(|e| panic!("{e}"));
        let scheme = registry.by_name("cggmp24").unwrap_or_else(|e| panic!("{e}"));
        let session = SessionId::derive("fuzz", b"cggmp24");
        let mut other =
            scheme.keygen(&KeygenParams::new(session, 1, 3, 2), Some(&setups[1])).unwrap_or_else(|e| panic!("{e}"));
        let template = other
            .start(0)
            .unwrap_or_else(|e| panic!("{e}"))
            .outgoing
            .into_iter()
            .find(|e| matches!(e.recipient, Recipient::Broadcast | Recipient::Party(0)))
            .unwrap_or_else(|| panic!("no first-round message"));
        Fixture { registry, setups, template }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let scheme = f.registry.by_name("cggmp24").unwrap_or_else(|e| panic!("{e}"));
    let make = || {
        scheme
            .keygen(&KeygenParams::new(f.template.session, 0, 3, 2), Some(&f.setups[0]))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    protocol::fuzzing::round_message(&make, &f.template, data);
});
