//! Free loopback ports for local committees (the testnet, the tests).

use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// Where ports are picked: below Linux's ephemeral range (32768 and up). A port the kernel
/// hands out for `:0` can be taken by any outgoing connection before a node binds it; one
/// picked here cannot.
const FIRST: u16 = 20_000;
const SPAN: u16 = 12_000;

/// A loopback port that is free now and was never handed out before by this process.
pub fn free_loopback_port() -> std::io::Result<u16> {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let seed = RandomState::new();
    for attempt in 0u32..10_000 {
        let port = FIRST + (seed.hash_one((std::process::id(), attempt)) % u64::from(SPAN)) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if given.contains(&port) || std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        given.push(port);
        return Ok(port);
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free loopback port between 20000 and 32000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200).map(|_| free_loopback_port().unwrap()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
        assert!(ports.iter().all(|p| (FIRST..FIRST + SPAN).contains(p)));
    }
}
