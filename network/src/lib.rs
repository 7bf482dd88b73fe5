//! The node's edges toward other machines: the libp2p transport between parties (peer
//! identity, gossip for broadcast rounds, request-response for private rounds) and the
//! outbound JSON-RPC clients to chain nodes. No other crate sees a libp2p type.
//!
//! Filled by the node and chains issues; today it only fixes the crate's place in the layout.
