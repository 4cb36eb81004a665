//! The blocking move: clients other than the popper LPUSH unique values to the shared list
//! `ma` and BLMOVE them (right to left, short timeouts) to the shared list `mb`, which nothing
//! else touches. After the run, with what both lists hold: no element in both or twice, none
//! that was never pushed, every acknowledged push in one of them (a move never loses one),
//! and every acknowledged move's element in `mb` (moved exactly once).

use super::{CallError, Client};
use crate::resp::Reply;
use std::collections::{BTreeMap, BTreeSet};

/// The list elements are pushed to and moved from.
pub const MOVE_FROM: &[u8] = b"ma";
/// The list they are moved to.
pub const MOVE_TO: &[u8] = b"mb";

/// One client's part of the blocking move.
#[derive(Clone, Debug, Default)]
pub struct MoveLog {
    /// Pushed values and whether the push was acknowledged.
    pushes: Vec<(Vec<u8>, bool)>,
    /// Values acknowledged as moved.
    moved: Vec<Vec<u8>>,
}

impl Client {
    /// An LPUSH to `ma` or a BLMOVE from `ma` to `mb`.
    pub(super) fn move_step(&mut self) -> Option<()> {
        if self.rng.chance(1, 2) {
            let v = self.value();
            let acked = match self.call(&[b"LPUSH", MOVE_FROM, &v]) {
                Ok((Reply::Int(n), _)) if n >= 1 => true,
                Ok((r, _)) => return self.expect("LPUSH of the list moved from", &r, false),
                Err(CallError::Lost) => false,
                Err(CallError::Failed(m)) => {
                    self.fail(m);
                    return None;
                }
            };
            self.queue.moves.pushes.push((v, acked));
            return Some(());
        }
        let tenths = self.rng.between(1, 5);
        let timeout = format!("0.{tenths}");
        let args: [&[u8]; 6] = [
            b"BLMOVE",
            MOVE_FROM,
            MOVE_TO,
            b"RIGHT",
            b"LEFT",
            timeout.as_bytes(),
        ];
        match self.call(&args) {
            Ok((Reply::Bulk(Some(v)), _)) => self.queue.moves.moved.push(v),
            // A timeout: Redis answers a null array, as for the other blocking list pops.
            Ok((Reply::Array(None), _)) => {}
            Ok((r, _)) => return self.expect("BLMOVE", &r, false),
            // It may have moved an element nobody saw: that one is still in `mb`.
            Err(CallError::Lost) => {}
            Err(CallError::Failed(m)) => {
                self.fail(m);
                return None;
            }
        }
        Some(())
    }
}

/// The checks of the blocking move over every client's log and what both lists hold.
pub fn check(logs: &[&MoveLog], from: &[Vec<u8>], to: &[Vec<u8>]) -> Vec<String> {
    let mut failures = Vec::new();
    let pushes: BTreeMap<&[u8], bool> = logs
        .iter()
        .flat_map(|l| l.pushes.iter().map(|(v, a)| (v.as_slice(), *a)))
        .collect();
    let mut held = BTreeSet::new();
    for (name, list) in [("ma", from), ("mb", to)] {
        for v in list {
            if !held.insert(v.as_slice()) {
                failures.push(format!("{name}: {} is held twice (in ma or mb)", show(v)));
            }
            if !pushes.contains_key(v.as_slice()) {
                failures.push(format!("{name}: {} was never pushed", show(v)));
            }
        }
    }
    let in_to: BTreeSet<&[u8]> = to.iter().map(|v| v.as_slice()).collect();
    let mut moved = BTreeSet::new();
    for v in logs.iter().flat_map(|l| l.moved.iter()) {
        if !moved.insert(v.as_slice()) {
            failures.push(format!("mb: {} was moved twice", show(v)));
        }
        if !in_to.contains(v.as_slice()) {
            failures.push(format!("mb: {} was moved but is not in mb", show(v)));
        }
    }
    if let Some((v, _)) = pushes
        .iter()
        .find(|(v, acked)| **acked && !held.contains(*v))
    {
        failures.push(format!(
            "ma: the acknowledged push of {} is in neither ma nor mb (lost)",
            show(v)
        ));
    }
    failures
}

fn show(v: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(v))
}
