//! Properties of the limiter's token buckets over random arrivals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use protocol::limits::{Bucket, KeyedBuckets, Rate};

fn rates() -> impl Strategy<Value = Rate> {
    (1u32..5_000, 1u32..8_000).prop_map(|(per_minute, capacity)| Rate { per_minute, capacity })
}

/// Arrivals: (gap since the previous one in ms, cost).
fn arrivals() -> impl Strategy<Value = Vec<(u64, u32)>> {
    prop::collection::vec((0u64..5_000, 1u32..8), 1..400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_grants_more_than_capacity_plus_refill(rate in rates(), arrivals in arrivals(), start in 0u64..1u64 << 41) {
        let mut bucket = Bucket::new();
        let (mut now, mut granted) = (start, 0u64);
        for (gap, cost) in arrivals {
            now += gap;
            if bucket.take(&rate, now, cost).is_ok() {
                granted += u64::from(cost);
            }
            // Tokens are whole: capacity + rate × elapsed, in scaled units to stay exact.
            let elapsed = now - start;
            prop_assert!(granted * 60_000 <= u64::from(rate.capacity) * 60_000 + u64::from(rate.per_minute) * elapsed);
        }
    }

    #[test]
    fn refill_never_exceeds_capacity(rate in rates(), arrivals in arrivals()) {
        let mut bucket = Bucket::new();
        let mut now = 1_000_000u64;
        for (gap, cost) in arrivals {
            now += gap;
            let _ = bucket.take(&rate, now, cost);
            prop_assert!(bucket.level(&rate, now) <= u64::from(rate.capacity));
        }
        let idle = now + 60_000 * u64::from(rate.capacity) / u64::from(rate.per_minute) + 60_000;
        prop_assert_eq!(bucket.level(&rate, idle), u64::from(rate.capacity));
        prop_assert!(bucket.is_full(&rate, idle));
    }

    #[test]
    fn the_retry_time_given_is_exact(rate in rates(), arrivals in arrivals(), cost in 1u32..8) {
        let mut bucket = Bucket::new();
        let mut now = 5_000_000u64;
        for (gap, c) in arrivals {
            now += gap;
            let _ = bucket.take(&rate, now, c);
        }
        if let Err(short) = bucket.after(&rate, now, cost) {
            match short.retry_after_ms {
                None => prop_assert!(cost > rate.capacity),
                Some(wait) => {
                    prop_assert!(wait > 0);
                    prop_assert!(bucket.after(&rate, now + wait, cost).is_ok(), "passes at the time given");
                    prop_assert!(bucket.after(&rate, now + wait - 1, cost).is_err(), "fails a ms before");
                }
            }
        }
    }

    #[test]
    fn cost_five_drains_five_times_as_fast(per_minute in 1u32..5_000, tokens in 1u32..400) {
        let rate = Rate { per_minute, capacity: tokens * 5 };
        let (mut ones, mut fives) = (Bucket::new(), Bucket::new());
        let now = 9_000_000u64;
        let (mut n1, mut n5) = (0u32, 0u32);
        while ones.take(&rate, now, 1).is_ok() { n1 += 1; }
        while fives.take(&rate, now, 5).is_ok() { n5 += 1; }
        prop_assert_eq!(n1, 5 * n5);
        // From empty, waiting for five tokens takes five times waiting for one (to the ms).
        let one = ones.after(&rate, now, 1).unwrap_err().retry_after_ms.unwrap();
        let five = ones.after(&rate, now, 5).unwrap_err().retry_after_ms.unwrap();
        prop_assert!(five.abs_diff(5 * one) < 5, "one {one} ms, five {five} ms");
    }

    #[test]
    fn keyed_memory_stays_bounded_under_many_keys(keys in prop::collection::vec(0u32..100_000, 1..2_000)) {
        let mut table = KeyedBuckets::new(Rate::per_minute(300), 256);
        let mut now = 0u64;
        for k in keys {
            now += 7;
            let _ = table.take(&k, None, now, 1);
            prop_assert!(table.tracked() <= 256);
        }
    }
}
