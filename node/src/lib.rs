//! The `mpc-node` binary's library: TOML config, CLI, JSON-RPC admin server and Prometheus
//! exporter around the actor tree.
//!
//! Filled by the node issue; today it only fixes the crate's place in the layout.
