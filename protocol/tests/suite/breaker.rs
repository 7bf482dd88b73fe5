//! Properties of the DKG circuit breaker over random rounds, aborts and ticks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use protocol::breaker::{Breaker, BreakerConfig, BreakerState};

#[derive(Clone, Debug)]
enum Step {
    Round(Vec<f64>),
    Aborted,
    Tick,
}

fn steps() -> impl Strategy<Value = Vec<(u64, Step)>> {
    let step = prop_oneof![
        4 => prop::collection::vec(0.0f64..1.0, 1..6).prop_map(Step::Round),
        1 => Just(Step::Aborted),
        2 => Just(Step::Tick),
    ];
    prop::collection::vec((0u64..400, step), 1..200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn open_is_left_only_through_cooldown_and_never_closed_over_a_failing_party(steps in steps()) {
        let config = BreakerConfig { cooldown_ms: 1000, ..Default::default() };
        let mut b = Breaker::new(config);
        let mut now = 0u64;
        let mut cooling_since = None;
        for (gap, step) in steps {
            now += gap;
            let before = b.state();
            let t = match &step {
                Step::Round(scores) => {
                    let scores: Vec<(u16, f64)> = scores.iter().enumerate().map(|(i, s)| (i as u16, *s)).collect();
                    let t = b.observe(now, &scores);
                    if scores.iter().any(|(_, s)| *s < config.open_below) {
                        prop_assert_ne!(b.state(), BreakerState::Closed, "closed over a failing party");
                    }
                    if before == BreakerState::HalfOpen && b.state() == BreakerState::Closed {
                        prop_assert!(scores.iter().all(|(_, s)| *s >= config.close_above));
                    }
                    t
                }
                Step::Aborted => b.aborted(now),
                Step::Tick => b.tick(now),
            };
            if let Some(t) = &t {
                prop_assert_eq!(t.from, before);
                prop_assert_eq!(t.to, b.state());
                if t.from == BreakerState::Open {
                    prop_assert_eq!(t.to, BreakerState::Cooldown, "out of open only through cooldown");
                }
                if t.to == BreakerState::Cooldown {
                    cooling_since = Some(now);
                }
                if t.from == BreakerState::Cooldown {
                    prop_assert_eq!(t.to, BreakerState::Recovery);
                    prop_assert!(now >= cooling_since.unwrap() + config.cooldown_ms, "the cooldown is waited out");
                }
            } else {
                prop_assert_eq!(before, b.state(), "no silent change of state");
            }
            prop_assert_eq!(b.admits(), !matches!(b.state(), BreakerState::Open | BreakerState::Cooldown));
        }
    }
}
