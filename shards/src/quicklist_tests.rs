use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0u8..6).prop_map(|i| format!("v{i}").into_bytes()),
        2 => (-3i64..300).prop_map(|i| i.to_string().into_bytes()),
        1 => any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        // Compressible runs, incompressible noise, node-sized values.
        1 => (1usize..300).prop_map(|n| vec![b'a'; n]),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => prop::sample::select(vec![4000usize, 5000, 9000]).prop_map(|n| vec![b'z'; n]),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Push(bool, Vec<u8>),
    Pop(bool),
    Set(i64, Vec<u8>),
    Insert(Vec<u8>, Vec<u8>, bool),
    Remove(Vec<u8>, i64),
    Trim(i64, i64),
    DeleteRange(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), value()).prop_map(|(f, v)| Op::Push(f, v)),
        3 => any::<bool>().prop_map(Op::Pop),
        2 => (-40i64..40, value()).prop_map(|(i, v)| Op::Set(i, v)),
        2 => (value(), value(), any::<bool>()).prop_map(|(p, v, a)| Op::Insert(p, v, a)),
        2 => (value(), -3i64..4).prop_map(|(v, c)| Op::Remove(v, c)),
        1 => (-30i64..30, -30i64..30).prop_map(|(a, b)| Op::Trim(a, b)),
        1 => (0usize..40, 0usize..10).prop_map(|(a, b)| Op::DeleteRange(a, b)),
    ]
}

/// Redis's LTRIM/LRANGE clamping of a (start, stop) pair: None when empty.
fn clamp(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let mut e = if stop < 0 { len + stop } else { stop };
    if e >= len {
        e = len - 1;
    }
    (s <= e && s < len).then_some((s as usize, e as usize))
}

fn check(ql: &QuickList, model: &VecDeque<Vec<u8>>) {
    ql.check_invariants();
    assert_eq!(ql.len(), model.len());
    let all: Vec<Vec<u8>> = model.iter().cloned().collect();
    assert_eq!(ql.to_vec(), all);
    let mut rev = Vec::new();
    ql.scan(true, |i, v| {
        assert_eq!(v.to_vec(), model[i]);
        rev.push(i);
        true
    });
    assert_eq!(rev, (0..model.len()).rev().collect::<Vec<_>>());
    let clone = ql.clone();
    clone.check_invariants();
    assert_eq!(clone.to_vec(), all);
    assert!(clone.heap_bytes() > 0);
}

fn run(fill: i64, depth: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut ql = QuickList::with_options(fill, depth);
    let mut model: VecDeque<Vec<u8>> = VecDeque::new();
    for op in ops {
        match op {
            Op::Push(front, v) => {
                ql.push(&v, front);
                if front {
                    model.push_front(v)
                } else {
                    model.push_back(v)
                }
            }
            Op::Pop(front) => {
                let want = if front {
                    model.pop_front()
                } else {
                    model.pop_back()
                };
                prop_assert_eq!(ql.pop(front), want);
            }
            Op::Set(i, v) => {
                let idx = ql.normalize(i);
                let ok = ql.set(i, &v);
                prop_assert_eq!(ok, idx.is_some());
                if let Some(idx) = idx {
                    model[idx] = v;
                }
            }
            Op::Insert(pivot, v, after) => {
                let at = model.iter().position(|m| *m == pivot);
                prop_assert_eq!(ql.insert(&pivot, &v, after), at.is_some());
                if let Some(at) = at {
                    model.insert(at + after as usize, v);
                }
            }
            Op::Remove(v, count) => {
                let limit = if count == 0 {
                    usize::MAX
                } else {
                    count.unsigned_abs() as usize
                };
                let mut idx: Vec<usize> = (0..model.len()).filter(|&i| model[i] == v).collect();
                if count < 0 {
                    idx.reverse();
                }
                idx.truncate(limit);
                idx.sort_unstable();
                for &i in idx.iter().rev() {
                    model.remove(i);
                }
                prop_assert_eq!(ql.remove(&v, count), idx.len());
            }
            Op::Trim(a, b) => match clamp(model.len(), a, b) {
                Some((s, e)) => {
                    ql.trim(s, e);
                    model = model.iter().skip(s).take(e - s + 1).cloned().collect();
                }
                None => {
                    ql.trim(1, 0);
                    model.clear();
                }
            },
            Op::DeleteRange(i, n) => {
                ql.delete_range(i, n);
                if i < model.len() {
                    let end = (i + n).min(model.len());
                    model.drain(i..end);
                }
            }
        }
        check(&ql, &model);
    }
    // Index, range and positions against the model.
    for i in -(model.len() as i64) - 1..=model.len() as i64 {
        let want = ql.normalize(i).map(|k| model[k].clone());
        prop_assert_eq!(ql.get(i), want);
    }
    for start in 0..=model.len() {
        for count in [0usize, 1, 3, 1000] {
            let mut got = Vec::new();
            ql.range(start, count, |v| got.push(v.to_vec()));
            let want: Vec<Vec<u8>> = model.iter().skip(start).take(count).cloned().collect();
            prop_assert_eq!(got, want);
        }
    }
    let probes: Vec<Vec<u8>> = model.iter().take(3).cloned().collect();
    for p in probes {
        let matches: Vec<usize> = (0..model.len()).filter(|&i| model[i] == p).collect();
        for rank in [1i64, 2, -1, -2] {
            for (count, maxlen) in [(0usize, 0usize), (1, 0), (2, 3), (0, 5)] {
                let got = ql.positions(&p, rank, count, maxlen);
                let mut seq: Vec<usize> = if rank > 0 {
                    matches.clone()
                } else {
                    matches.iter().rev().cloned().collect()
                };
                if maxlen > 0 {
                    seq.retain(|&i| {
                        if rank > 0 {
                            i < maxlen
                        } else {
                            i >= model.len().saturating_sub(maxlen)
                        }
                    });
                }
                let mut want: Vec<usize> = seq
                    .into_iter()
                    .skip(rank.unsigned_abs() as usize - 1)
                    .collect();
                if count > 0 {
                    want.truncate(count);
                }
                prop_assert_eq!(got, want);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_vecdeque_model(
        fill in prop::sample::select(vec![1i64, 2, 3, 5, 16, 128, -1, -2, -5, 0]),
        depth in prop::sample::select(vec![0usize, 1, 2]),
        ops in prop::collection::vec(op(), 1..150),
    ) {
        run(fill, depth, ops)?;
    }
}

#[test]
fn many_pushes_compress_inner_nodes() {
    let mut ql = QuickList::with_options(-2, 1);
    for i in 0..100_000 {
        ql.push(format!("element-{}", i % 1000).as_bytes(), i & 1 == 0);
    }
    ql.check_invariants();
    assert!(ql.node_count() > 10);
    assert_eq!(ql.compressed_nodes(), ql.node_count() - 2);
    let plain = {
        let mut p = QuickList::with_options(-2, 0);
        for v in ql.to_vec() {
            p.push(&v, false);
        }
        p
    };
    assert!(ql.heap_bytes() * 2 < plain.heap_bytes());
    assert_eq!(ql.get(50_000), plain.get(50_000));
    while let Some(v) = ql.pop(true) {
        assert_eq!(Some(v), plain.get(plain.len() as i64 - ql.len() as i64 - 1));
        if ql.len().is_multiple_of(5000) {
            ql.check_invariants();
        }
    }
    assert_eq!(ql.node_count(), 0);
}

#[test]
fn node_limits() {
    // Count fill: 3 entries per node.
    let mut ql = QuickList::with_options(3, 0);
    for i in 0..10 {
        ql.push(i.to_string().as_bytes(), false);
    }
    assert_eq!(ql.node_count(), 4);
    // Size fill -1: 4 KiB nodes.
    let mut ql = QuickList::with_options(-1, 0);
    for _ in 0..10 {
        ql.push(&[b'x'; 1000], false);
    }
    assert_eq!(ql.node_count(), 3);
    // An element larger than a node gets a node of its own.
    ql.push(&[b'y'; 10_000], true);
    assert_eq!(ql.node_count(), 4);
    ql.check_invariants();
}
