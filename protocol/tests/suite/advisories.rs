//! The build's lock file against the advisories on threshold-signing libraries: no GG18/GG20
//! or Lindell17 implementation (BitForge, TSSHOCK, Alpha-Rays, CVE-2023-33242), no `cggmp21`
//! family crate from before its fixes (RUSTSEC-2024-0391..0393, CVE-2025-66016), and the
//! `cggmp24` pieces at or past 0.7.0-alpha.2 (CVE-2025-66016). A dependency change that brings
//! one back fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// (name, version) of every package in the workspace's `Cargo.lock`.
fn locked() -> Vec<(String, String)> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let mut out = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_owned());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            out.push((n, v.trim_matches('"').to_owned()));
        }
    }
    out
}

/// Major, minor, patch and whether it is a pre-release, enough to order these versions.
fn parse(v: &str) -> (u64, u64, u64, String) {
    let (core, pre) = v.split_once('-').unwrap_or((v, "~"));
    let mut n = core.split('.').map(|p| p.parse::<u64>().unwrap());
    (n.next().unwrap(), n.next().unwrap(), n.next().unwrap(), pre.to_owned())
}

#[test]
fn no_threshold_signing_crate_with_a_known_advisory_is_in_the_build() {
    let packages = locked();
    assert!(packages.len() > 100, "the lock file was read: {} packages", packages.len());
    // Implementations of the broken protocols, under the names they are published with.
    for banned in ["multi-party-ecdsa", "kzen-paillier", "curv-kzen", "tss-lib", "gg18", "gg20", "lindell17"] {
        assert!(!packages.iter().any(|(n, _)| n == banned), "{banned} is in the build");
    }
    let at_least = |name: &str, min: &str| {
        for (n, v) in packages.iter().filter(|(n, _)| n == name) {
            assert!(parse(v) >= parse(min), "{n} {v} is older than {min}, which fixed a published advisory");
        }
    };
    // RUSTSEC-2024-0391..0393: ambiguous challenges in the LFDT-Lockness proofs.
    at_least("cggmp21", "0.4.0");
    at_least("cggmp21-keygen", "0.3.0");
    at_least("paillier-zk", "0.4.0");
    // CVE-2025-66016: a missing check let one signer reconstruct the key.
    assert!(!packages.iter().any(|(n, _)| n == "cggmp21"), "threshold ECDSA is cggmp24, not cggmp21");
    at_least("cggmp24", "0.7.0-alpha.2");
    assert!(packages.iter().any(|(n, _)| n == "cggmp24"), "cggmp24 is the threshold ECDSA in the build");
    assert!(parse("0.7.0-alpha.3") > parse("0.7.0-alpha.2"));
    assert!(parse("0.7.0") > parse("0.7.0-alpha.9"), "a release is newer than its pre-releases");
}
