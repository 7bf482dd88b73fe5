//! Runs one DKG and one signing in process and prints the result as one JSON line.
//!
//! cargo run --release -p protocol --example ceremony -- --scheme <frost-ed25519|frost-secp256k1-tr|cggmp24>
//!     -t 3 -n 5 --message <hex> [--signers 0,2,4] [--fresh-primes] --json
//!
//! For the secp256k1 schemes `--message` is the 32-byte digest itself. CGGMP24 needs safe
//! primes for its committee setup: by default the example uses the public test primes under
//! `protocol/tests/fixtures/` (fine for a demo, never for real keys); `--fresh-primes` finds
//! new ones (about a minute per party per core).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use protocol::primes::{MemoryPrimePool, PrimePool, SafePrimes};
use protocol::schemes::{self, cggmp24, SchemeEnv};
use protocol::sim::Sim;
use protocol::{KeygenParams, SessionId, SetupParams, SignParams};

struct Args {
    scheme: String,
    t: u16,
    n: u16,
    message: Vec<u8>,
    signers: Option<Vec<u16>>,
    fresh_primes: bool,
    json: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        scheme: String::new(),
        t: 0,
        n: 0,
        message: Vec::new(),
        signers: None,
        fresh_primes: false,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--scheme" => a.scheme = value()?,
            "-t" => a.t = value()?.parse().map_err(|e| format!("-t: {e}"))?,
            "-n" => a.n = value()?.parse().map_err(|e| format!("-n: {e}"))?,
            "--message" => a.message = hex::decode(value()?).map_err(|e| format!("--message: {e}"))?,
            "--signers" => {
                let list = value()?;
                let parsed: Result<Vec<u16>, _> = list.split(',').map(|s| s.trim().parse()).collect();
                a.signers = Some(parsed.map_err(|e| format!("--signers: {e}"))?);
            }
            "--fresh-primes" => a.fresh_primes = true,
            "--json" => a.json = true,
            "-h" | "--help" => {
                println!("usage: ceremony --scheme <frost-ed25519|frost-secp256k1-tr|cggmp24> -t T -n N --message HEX [--signers 0,1,..] [--fresh-primes] [--json]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.scheme.is_empty() || a.t == 0 || a.n == 0 {
        return Err("--scheme, -t and -n are required".into());
    }
    Ok(a)
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

fn run(a: Args) -> Result<serde_json::Value, String> {
    let pool: Arc<dyn PrimePool> = if a.scheme != cggmp24::ID.as_str() {
        Arc::new(MemoryPrimePool::default())
    } else if a.fresh_primes {
        eprintln!("finding {} sets of safe primes (slow)...", a.n);
        let sets: Result<Vec<SafePrimes>, _> =
            (0..a.n).map(|_| cggmp24::generate_safe_primes(&mut rand_core::OsRng)).collect();
        Arc::new(MemoryPrimePool::new(sets.map_err(|e| e.to_string())?))
    } else {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/primes.bin");
        let sets: Vec<SafePrimes> = bincode::deserialize(&std::fs::read(path).map_err(|e| format!("{path}: {e}"))?)
            .map_err(|e| format!("{path}: {e}"))?;
        if sets.len() < a.n as usize {
            return Err(format!("the demo prime file has {} sets; use --fresh-primes for n = {}", sets.len(), a.n));
        }
        eprintln!("warning: using the public demo primes; never use these keys for real funds");
        Arc::new(MemoryPrimePool::new(sets))
    };
    let registry = schemes::registry(&SchemeEnv { primes: pool });
    let scheme = registry.by_name(&a.scheme).map_err(|e| e.to_string())?;
    let nonce: [u8; 8] = rand_core::RngCore::next_u64(&mut rand_core::OsRng).to_be_bytes();
    let sid = |what: &str| SessionId::derive(what, &nonce);

    let started = Instant::now();
    let setups = if scheme.needs_setup() {
        let parties: Result<Vec<_>, _> = (0..a.n)
            .map(|i| {
                let p = SetupParams { session: sid("setup"), me: i, parties: a.n, round_timeout_ms: 600_000 };
                scheme.setup(&p).map(|c| (i, c))
            })
            .collect();
        let out = Sim::new(parties.map_err(|e| e.to_string())?).run().into_result();
        out.map_err(|(p, e)| format!("setup failed at party {p}: {e}"))?.into_iter().map(Some).collect()
    } else {
        vec![None; a.n as usize]
    };
    let setup_ms = ms(started);

    let started = Instant::now();
    let parties: Result<Vec<_>, _> = (0..a.n)
        .map(|i| {
            scheme.keygen(&KeygenParams::new(sid("keygen"), i, a.n, a.t), setups[i as usize].as_ref()).map(|c| (i, c))
        })
        .collect();
    let shares = Sim::new(parties.map_err(|e| e.to_string())?)
        .run()
        .into_result()
        .map_err(|(p, e)| format!("keygen failed at party {p}: {e}"))?;
    let keygen_ms = ms(started);

    let signers = a.signers.clone().unwrap_or_else(|| (0..a.t).collect());
    let started = Instant::now();
    let parties: Result<Vec<_>, _> = signers
        .iter()
        .map(|&i| {
            let share =
                shares.get(i as usize).ok_or(protocol::ProtocolError::UnknownParty { party: i, parties: a.n })?;
            scheme.sign(share, &SignParams::new(sid("sign"), signers.clone(), a.message.clone())).map(|c| (i, c))
        })
        .collect();
    let sigs = Sim::new(parties.map_err(|e| e.to_string())?)
        .run()
        .into_result()
        .map_err(|(p, e)| format!("signing failed at party {p}: {e}"))?;
    let sign_ms = ms(started);
    let sig = sigs.first().ok_or("no signature")?;
    let pk = &shares[0].public_key;
    scheme.verify(pk, &a.message, sig).map_err(|e| e.to_string())?;

    let mut out = serde_json::json!({
        "scheme": a.scheme,
        "t": a.t,
        "n": a.n,
        "signers": signers,
        "public_key": hex::encode(&pk.bytes),
        "message": hex::encode(&a.message),
        "signature": hex::encode(&sig.bytes),
        "timings_ms": { "setup": setup_ms, "keygen": keygen_ms, "sign": sign_ms },
    });
    if let Some(v) = sig.recovery_id {
        out["recovery_id"] = v.into();
    }
    Ok(out)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let json = args.json;
    match run(args) {
        Ok(v) if json => println!("{v}"),
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
