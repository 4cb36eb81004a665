//! Each planted bug is caught within 500 seeds (`cargo test -p damselfly-sim --features
//! sim-mutations`).
#![cfg(feature = "sim-mutations")]

use damselfly_sim::{run_seed, Opts};

fn first_failing_seed(mutation: &str) -> Option<u64> {
    let opts = Opts {
        mutation: Some(mutation.into()),
        ..Default::default()
    };
    (0..500).find(|&seed| !run_seed(seed, &opts).passed())
}

#[test]
fn multikey_commands_without_locks_are_caught() {
    let seed = first_failing_seed("multikey-without-locks");
    assert!(seed.is_some(), "not caught in 500 seeds");
}

#[test]
fn an_expired_key_served_is_caught() {
    let seed = first_failing_seed("expired-key-served");
    assert!(seed.is_some(), "not caught in 500 seeds");
}

#[test]
fn a_bus_that_breaks_one_senders_order_is_caught() {
    let seed = first_failing_seed("bus-reorder");
    assert!(seed.is_some(), "not caught in 500 seeds");
}

#[test]
fn a_skipped_conclude_is_caught() {
    let seed = first_failing_seed("conclude-skipped");
    assert!(seed.is_some(), "not caught in 500 seeds");
}

#[test]
fn intent_locks_released_early_are_caught() {
    let seed = first_failing_seed("intent-locks-released-early");
    assert!(seed.is_some(), "not caught in 500 seeds");
}

#[test]
fn a_hop_handled_twice_is_caught() {
    let seed = first_failing_seed("bus-duplicate");
    assert!(seed.is_some(), "not caught in 500 seeds");
}

#[test]
fn a_lost_wakeup_is_caught() {
    let seed = first_failing_seed("lost-wakeup");
    assert!(seed.is_some(), "not caught in 500 seeds");
}

#[test]
fn a_snapshot_renamed_before_its_fsync_is_caught() {
    let seed = first_failing_seed("snapshot-renamed-before-fsync");
    assert!(seed.is_some(), "no seed of 500 caught it");
}
