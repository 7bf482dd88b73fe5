//! The scheme adapters and their registry. Adding a scheme: one module here and one line in
//! [`registry`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::ProtocolError;
use crate::ids::SchemeId;
use crate::primes::PrimePool;
use crate::scheme::ThresholdScheme;

pub mod cggmp24;
mod cggmp24_linear;
mod cggmp24_presign;
mod deal;
mod export;
pub mod frost;
pub mod frost_ed25519;
mod frost_linear;
mod frost_repair;
pub mod frost_secp256k1_tr;
mod linear;

/// What adapters may need from their host.
#[derive(Clone)]
pub struct SchemeEnv {
    /// Safe primes for CGGMP24 committee setups.
    pub primes: Arc<dyn PrimePool>,
}

/// The schemes this node runs, by id.
#[derive(Clone, Default)]
pub struct Registry {
    schemes: BTreeMap<SchemeId, Arc<dyn ThresholdScheme>>,
}

impl Registry {
    /// Adds (or replaces) a scheme.
    pub fn register(&mut self, scheme: Arc<dyn ThresholdScheme>) {
        self.schemes.insert(scheme.id(), scheme);
    }

    /// The scheme named `id`.
    pub fn get(&self, id: &SchemeId) -> Result<Arc<dyn ThresholdScheme>, ProtocolError> {
        self.schemes.get(id).cloned().ok_or_else(|| ProtocolError::UnknownScheme(id.clone()))
    }

    /// Looks a scheme up by its name (from config or RPC).
    pub fn by_name(&self, name: &str) -> Result<Arc<dyn ThresholdScheme>, ProtocolError> {
        self.get(&SchemeId::from_name(name))
    }

    /// Registered scheme ids, sorted.
    pub fn ids(&self) -> Vec<SchemeId> {
        self.schemes.keys().cloned().collect()
    }
}

/// Every scheme this build supports.
pub fn registry(env: &SchemeEnv) -> Registry {
    let mut r = Registry::default();
    r.register(Arc::new(frost_ed25519::scheme()));
    r.register(Arc::new(frost_secp256k1_tr::scheme()));
    r.register(Arc::new(cggmp24::scheme(env.primes.clone())));
    r
}
