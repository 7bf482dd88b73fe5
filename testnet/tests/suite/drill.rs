//! The breaker harness at CI size: a fresh 5-node committee, party 1 slow, jittery, silent,
//! then cheating. `MPC_DRILL_RUNS` sets the runs per scenario (2 here; `testnet drill` runs 20).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testnet::drill;

#[test]
fn honest_slow_parties_never_abort_and_failing_ones_are_detected_within_a_second() {
    let runs = std::env::var("MPC_DRILL_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let dir = tempfile::tempdir().unwrap();
    let rows = drill::run(dir.path(), runs, &|l| eprintln!("{l}")).unwrap();
    eprintln!("{}", drill::table(&rows));
    for r in &rows {
        match r.scenario {
            "honest" | "slow" | "jittery" => {
                assert_eq!(r.false_aborts, 0, "{r:?}");
                assert_eq!((r.dkgs.1, r.signs.1), (runs, runs), "{r:?}");
            }
            _ => {
                assert_eq!(r.dkgs.1, 0, "a DKG needs every member: {r:?}");
                assert_eq!(r.signs.1, runs, "signings steer around it: {r:?}");
                assert!(!r.detect_ms.is_empty(), "{r:?}");
                let mean = r.detect_ms.iter().sum::<u64>() / r.detect_ms.len() as u64;
                assert!(mean < 1_000, "detected after {mean} ms on average: {r:?}");
            }
        }
    }
}
