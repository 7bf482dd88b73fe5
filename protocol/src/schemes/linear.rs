//! A key share seen as one value of a degree t−1 polynomial over a curve's scalars: the
//! arithmetic that resharing ([`super::deal`]) and guarded export ([`super::export`]) share
//! across schemes. Each adapter says how its stored share maps onto a [`Linear`] view and back.

use std::ops::{Add, Mul, Sub};

use crate::error::ProtocolError;
use crate::ids::PartyIndex;
use crate::scheme::KeyShare;

/// The group operations the share arithmetic needs.
pub(crate) trait Curve: 'static {
    /// A scalar.
    type Scalar: Copy + PartialEq + Add<Output = Self::Scalar> + Sub<Output = Self::Scalar> + Mul<Output = Self::Scalar>;
    /// A point.
    type Point: Copy + PartialEq + Add<Output = Self::Point>;
    fn zero() -> Self::Scalar;
    fn one() -> Self::Scalar;
    fn invert(s: &Self::Scalar) -> Option<Self::Scalar>;
    fn random() -> Self::Scalar;
    fn identity() -> Self::Point;
    /// `s·G`.
    fn base(s: &Self::Scalar) -> Self::Point;
    /// `s·P`.
    fn mul(p: &Self::Point, s: &Self::Scalar) -> Self::Point;
    fn scalar_bytes(s: &Self::Scalar) -> Vec<u8>;
    fn scalar_from(bytes: &[u8]) -> Result<Self::Scalar, String>;
    fn point_bytes(p: &Self::Point) -> Result<Vec<u8>, String>;
    fn point_from(bytes: &[u8]) -> Result<Self::Point, String>;
}

/// One party's share with the public side of every party's.
pub(crate) struct Linear<K: Curve> {
    pub me: PartyIndex,
    pub threshold: u16,
    /// `x_j`: where party j's share is the polynomial's value, by party index.
    pub points: Vec<K::Scalar>,
    /// `y_j·G` for every party j.
    pub publics: Vec<K::Point>,
    /// The group key `f(0)·G`.
    pub group: K::Point,
    /// `y_me`.
    pub secret: K::Scalar,
}

impl<K: Curve> Drop for Linear<K> {
    fn drop(&mut self) {
        // Best effort: the scalar types do not all implement Zeroize.
        self.secret = std::hint::black_box(K::zero());
    }
}

impl<K: Curve> Linear<K> {
    pub fn point(&self, p: PartyIndex) -> Result<K::Scalar, ProtocolError> {
        self.points
            .get(usize::from(p))
            .copied()
            .ok_or_else(|| ProtocolError::Internal(format!("party {p} has no point")))
    }

    pub fn public(&self, p: PartyIndex) -> Result<K::Point, ProtocolError> {
        self.publics
            .get(usize::from(p))
            .copied()
            .ok_or_else(|| ProtocolError::Internal(format!("party {p} has no public share")))
    }

    /// The Lagrange coefficient at zero of party `i` within `set`.
    pub fn lagrange(&self, set: &[PartyIndex], i: PartyIndex) -> Result<K::Scalar, ProtocolError> {
        let xi = self.point(i)?;
        let (mut num, mut den) = (K::one(), K::one());
        for &m in set.iter().filter(|&&m| m != i) {
            let xm = self.point(m)?;
            num = num * xm;
            den = den * (xm - xi);
        }
        let inv = K::invert(&den).ok_or_else(|| ProtocolError::Internal("two parties share a point".into()))?;
        Ok(num * inv)
    }

    /// `Σ λ_j·Y_j` over `set`: the group key the public shares of `set` define.
    pub fn combine_publics(&self, set: &[PartyIndex]) -> Result<K::Point, ProtocolError> {
        let mut acc = K::identity();
        for &j in set {
            acc = acc + K::mul(&self.public(j)?, &self.lagrange(set, j)?);
        }
        Ok(acc)
    }
}

/// `Σ a_k x^k`.
pub(crate) fn evaluate<K: Curve>(coefficients: &[K::Scalar], x: &K::Scalar) -> K::Scalar {
    coefficients.iter().rev().fold(K::zero(), |acc, a| acc * *x + *a)
}

/// `Σ C_k x^k`: the commitment to `f(x)` from the commitments to its coefficients.
pub(crate) fn evaluate_commitment<K: Curve>(commitments: &[K::Point], x: &K::Scalar) -> K::Point {
    commitments.iter().rev().fold(K::identity(), |acc, c| K::mul(&acc, x) + *c)
}

/// How an adapter maps its stored shares onto [`Linear`] and back.
pub(crate) trait LinearShares: 'static {
    type K: Curve;
    fn view(share: &KeyShare) -> Result<Linear<Self::K>, ProtocolError>;
    /// `old` with its secret, public shares and threshold replaced by `new`'s (same group key).
    fn rebuild(old: &KeyShare, new: &Linear<Self::K>) -> Result<KeyShare, ProtocolError>;
}

/// Any `frost_core` ciphersuite's group.
pub(crate) struct FrostCurve<C>(std::marker::PhantomData<C>);

mod frost_curve {
    use frost_core::{Ciphersuite, Field, Group};
    use rand_core::OsRng;

    use super::{Curve, FrostCurve};

    type F<C> = <<C as Ciphersuite>::Group as Group>::Field;
    type G<C> = <C as Ciphersuite>::Group;

    impl<C: Ciphersuite + 'static> Curve for FrostCurve<C> {
        type Scalar = <F<C> as Field>::Scalar;
        type Point = <G<C> as Group>::Element;
        fn zero() -> Self::Scalar {
            F::<C>::zero()
        }
        fn one() -> Self::Scalar {
            F::<C>::one()
        }
        fn invert(s: &Self::Scalar) -> Option<Self::Scalar> {
            F::<C>::invert(s).ok()
        }
        fn random() -> Self::Scalar {
            F::<C>::random(&mut OsRng)
        }
        fn identity() -> Self::Point {
            G::<C>::identity()
        }
        fn base(s: &Self::Scalar) -> Self::Point {
            G::<C>::generator() * *s
        }
        fn mul(p: &Self::Point, s: &Self::Scalar) -> Self::Point {
            *p * *s
        }
        fn scalar_bytes(s: &Self::Scalar) -> Vec<u8> {
            F::<C>::serialize(s).as_ref().to_vec()
        }
        fn scalar_from(bytes: &[u8]) -> Result<Self::Scalar, String> {
            let ser = <F<C> as Field>::Serialization::try_from(bytes).map_err(|_| "a scalar of the wrong length")?;
            F::<C>::deserialize(&ser).map_err(|e| e.to_string())
        }
        fn point_bytes(p: &Self::Point) -> Result<Vec<u8>, String> {
            G::<C>::serialize(p).map(|s| s.as_ref().to_vec()).map_err(|e| e.to_string())
        }
        fn point_from(bytes: &[u8]) -> Result<Self::Point, String> {
            let ser = <G<C> as Group>::Serialization::try_from(bytes).map_err(|_| "a point of the wrong length")?;
            G::<C>::deserialize(&ser).map_err(|e| e.to_string())
        }
    }
}

/// secp256k1 as `cggmp24` sees it.
pub(crate) struct EcCurve;

impl Curve for EcCurve {
    type Scalar = cggmp24::generic_ec::Scalar<cggmp24::supported_curves::Secp256k1>;
    type Point = cggmp24::generic_ec::Point<cggmp24::supported_curves::Secp256k1>;
    fn zero() -> Self::Scalar {
        Self::Scalar::zero()
    }
    fn one() -> Self::Scalar {
        Self::Scalar::one()
    }
    fn invert(s: &Self::Scalar) -> Option<Self::Scalar> {
        s.invert()
    }
    fn random() -> Self::Scalar {
        Self::Scalar::random(&mut rand_core::OsRng)
    }
    fn identity() -> Self::Point {
        Self::Point::zero()
    }
    fn base(s: &Self::Scalar) -> Self::Point {
        Self::Point::generator() * s
    }
    fn mul(p: &Self::Point, s: &Self::Scalar) -> Self::Point {
        p * s
    }
    fn scalar_bytes(s: &Self::Scalar) -> Vec<u8> {
        s.to_be_bytes().as_bytes().to_vec()
    }
    fn scalar_from(bytes: &[u8]) -> Result<Self::Scalar, String> {
        Self::Scalar::from_be_bytes(bytes).map_err(|e| e.to_string())
    }
    fn point_bytes(p: &Self::Point) -> Result<Vec<u8>, String> {
        Ok(p.to_bytes(true).as_bytes().to_vec())
    }
    fn point_from(bytes: &[u8]) -> Result<Self::Point, String> {
        Self::Point::from_bytes(bytes).map_err(|e| e.to_string())
    }
}
