//! The local multi-node testnet: `up` starts n `mpc-node` processes on loopback with the chain
//! software they sign for (anvil, a LiteSVM-backed Solana RPC, a regtest Bitcoin RPC facade
//! over Bitcoin Core's interpreter), `status` shows them, `down` stops everything, and `demo`
//! runs every scheme and chain end to end; `drill` measures the circuit breaker against a
//! slow, jittery, silent and cheating member.
#![deny(missing_docs)]

pub mod bench;
pub mod btc_facade;
pub mod demo;
pub mod drill;
pub mod net;
pub mod rpc;
pub mod scenario;
