//! Property tests of the stream index against a BTreeMap model.

use crate::stream::{NodeLimits, Stream, StreamId, Trim};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    Add(u8, u8),
    Del(u16),
    TrimLen(u8, bool),
    TrimMin(u16, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..4, 0u8..40).prop_map(|(ms_step, n)| Op::Add(ms_step, n)),
        2 => any::<u16>().prop_map(Op::Del),
        1 => (0u8..60, any::<bool>()).prop_map(|(n, a)| Op::TrimLen(n, a)),
        1 => (any::<u16>(), any::<bool>()).prop_map(|(n, a)| Op::TrimMin(n, a)),
    ]
}

/// An entry's strings: mostly the node's master fields (`f`), sometimes others, so both
/// entry layouts are exercised.
fn strings_of(n: u8) -> Vec<Vec<u8>> {
    let value = vec![n; n as usize];
    match n % 4 {
        1 => vec![b"g".to_vec(), value],
        2 => vec![b"f".to_vec(), value, b"h".to_vec(), Vec::new()],
        _ => vec![b"f".to_vec(), value],
    }
}

fn check(s: &Stream, model: &BTreeMap<StreamId, Vec<Vec<u8>>>) {
    assert_eq!(s.len() as usize, model.len());
    let mut got = Vec::new();
    s.range(StreamId::MIN, StreamId::MAX, false, |e| {
        let strings: Vec<Vec<u8>> = e.strings().map(<[u8]>::to_vec).collect();
        assert_eq!(strings.len(), e.pair_count() * 2);
        got.push((e.id, strings));
        true
    });
    let want: Vec<_> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(got, want);
    let mut rev = Vec::new();
    s.range(StreamId::MIN, StreamId::MAX, true, |e| {
        rev.push(e.id);
        true
    });
    rev.reverse();
    assert_eq!(rev, want.iter().map(|p| p.0).collect::<Vec<_>>());
    assert_eq!(s.edge_id(false), model.keys().next().copied());
    assert_eq!(s.edge_id(true), model.keys().next_back().copied());
    if !model.is_empty() {
        assert_eq!(s.first_id, *model.keys().next().unwrap());
    }
    // A sub-range in both directions.
    if model.len() > 2 {
        let ids: Vec<_> = model.keys().copied().collect();
        let (a, b) = (ids[1], ids[ids.len() - 2]);
        let mut fwd = Vec::new();
        s.range(a, b, false, |e| {
            fwd.push(e.id);
            true
        });
        let want: Vec<_> = model.range(a..=b).map(|p| *p.0).collect();
        assert_eq!(fwd, want);
        let mut back = Vec::new();
        s.range(a, b, true, |e| {
            back.push(e.id);
            back.len() < 3
        });
        let want: Vec<_> = model.range(a..=b).rev().take(3).map(|p| *p.0).collect();
        assert_eq!(back, want);
    }
}

proptest! {
    #[test]
    fn index_matches_btreemap(ops in proptest::collection::vec(op(), 0..400), max_entries in 0usize..8, max_bytes in prop_oneof![Just(0usize), 20usize..200]) {
        let limits = NodeLimits { max_bytes, max_entries };
        let mut s = Stream::new();
        let mut model = BTreeMap::new();
        let mut next = StreamId::new(1, 0);
        for op in ops {
            match op {
                Op::Add(step, n) => {
                    // Step 3 is a jump of 2^62 ms (a delta written in two varints), while ids
                    // stay far from the top.
                    let jump = if step == 3 && next.ms < 1 << 62 { 1 << 62 } else { u64::from(step) };
                    let id = if step == 0 { next } else { StreamId::new(next.ms + jump, 0) };
                    let strings = strings_of(n);
                    let refs: Vec<&[u8]> = strings.iter().map(|v| v.as_slice()).collect();
                    s.append(id, &refs, limits);
                    model.insert(id, strings);
                    next = id.next().unwrap();
                }
                Op::Del(i) => {
                    let ids: Vec<_> = model.keys().copied().collect();
                    let id = if ids.is_empty() { StreamId::new(u64::from(i), 0) } else { ids[i as usize % ids.len()] };
                    let was = model.remove(&id).is_some();
                    prop_assert_eq!(s.delete(&[id]), usize::from(was));
                }
                Op::TrimLen(n, approx) => {
                    let before = model.len();
                    let removed = s.trim(Trim::MaxLen(u64::from(n)), approx, 0) as usize;
                    if !approx {
                        prop_assert_eq!(removed, before.saturating_sub(n as usize));
                    }
                    prop_assert!(before - removed >= (n as usize).min(before));
                    for _ in 0..removed {
                        let k = *model.keys().next().unwrap();
                        model.remove(&k);
                    }
                }
                Op::TrimMin(n, approx) => {
                    let ms = next.ms.saturating_sub(u64::from(n % 64));
                    let min = StreamId::new(ms, 0);
                    let removed = s.trim(Trim::MinId(min), approx, 0) as usize;
                    let below = model.range(..min).count();
                    if !approx {
                        prop_assert_eq!(removed, below);
                    }
                    prop_assert!(removed <= below);
                    for _ in 0..removed {
                        let k = *model.keys().next().unwrap();
                        model.remove(&k);
                    }
                }
            }
            check(&s, &model);
        }
    }
}

#[test]
fn trim_limit_drops_whole_nodes_only() {
    let limits = NodeLimits {
        max_bytes: 0,
        max_entries: 10,
    };
    let mut s = Stream::new();
    for i in 1..=100 {
        s.append(StreamId::new(i, 0), &[b"f", b"v"], limits);
    }
    assert_eq!(s.node_count(), 10);
    assert_eq!(s.trim(Trim::MaxLen(0), true, 25), 20);
    assert_eq!(s.len(), 80);
    assert_eq!(s.trim(Trim::MaxLen(75), true, 0), 0);
    assert_eq!(s.trim(Trim::MaxLen(75), false, 0), 5);
    assert_eq!(s.first_id, StreamId::new(26, 0));
    assert_eq!(s.entries_added, 100);
}
