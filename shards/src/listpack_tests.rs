use super::*;
use proptest::prelude::*;

fn collect(lp: &Listpack) -> Vec<Vec<u8>> {
    lp.iter().map(|v| v.to_vec()).collect()
}

fn check(lp: &Listpack, model: &[Vec<u8>]) {
    assert_eq!(lp.len(), model.len());
    assert_eq!(lp.is_empty(), model.is_empty());
    assert_eq!(collect(lp), model);
    let mut rev: Vec<Vec<u8>> = lp.iter().rev().map(|v| v.to_vec()).collect();
    rev.reverse();
    assert_eq!(rev, model);
    // Walk by positions both ways.
    let mut fwd = Vec::new();
    let mut p = lp.first();
    while let Some(q) = p {
        fwd.push(lp.get(q).to_vec());
        p = lp.next(q);
    }
    assert_eq!(fwd, model);
    let mut back = Vec::new();
    let mut p = lp.last();
    while let Some(q) = p {
        back.push(lp.get(q).to_vec());
        p = lp.prev(q);
    }
    back.reverse();
    assert_eq!(back, model);
    let size: usize = model.iter().map(|v| Listpack::entry_size(v)).sum();
    assert_eq!(lp.data_bytes(), size);
    assert!(lp.heap_bytes() >= lp.data_bytes());
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        (-5000i64..5000).prop_map(|i| i.to_string().into_bytes()),
        (0i64..200).prop_map(|i| i.to_string().into_bytes()),
        prop::sample::select(vec![
            "",
            "-0",
            "01",
            "+1",
            " 1",
            "1 ",
            "-",
            "00",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "abc",
            "1e3",
            "0x10",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..80),
        prop::sample::select(vec![62usize, 63, 64, 65, 4094, 4095, 4096, 4097, 20000])
            .prop_map(|n| vec![b'x'; n]),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    PushBack(Vec<u8>),
    PushFront(Vec<u8>),
    PushInt(i64),
    InsertBefore(usize, Vec<u8>),
    InsertAfter(usize, Vec<u8>),
    Replace(usize, Vec<u8>),
    Delete(usize),
    DeleteRange(usize, usize),
    SplitAppend(usize),
    /// Deletes the first entry (into the head gap).
    PopFront,
    IntoRaw,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => value().prop_map(Op::PushBack),
        3 => value().prop_map(Op::PushFront),
        1 => any::<i64>().prop_map(Op::PushInt),
        2 => (any::<usize>(), value()).prop_map(|(i, v)| Op::InsertBefore(i, v)),
        2 => (any::<usize>(), value()).prop_map(|(i, v)| Op::InsertAfter(i, v)),
        2 => (any::<usize>(), value()).prop_map(|(i, v)| Op::Replace(i, v)),
        2 => any::<usize>().prop_map(Op::Delete),
        1 => (any::<usize>(), 0usize..5).prop_map(|(i, n)| Op::DeleteRange(i, n)),
        1 => any::<usize>().prop_map(Op::SplitAppend),
        4 => Just(Op::PopFront),
        1 => Just(Op::IntoRaw),
    ]
}

proptest! {
    #[test]
    fn matches_vec_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut lp = Listpack::new();
        let mut model: Vec<Vec<u8>> = Vec::new();
        for op in ops {
            match op {
                Op::PushBack(v) => { lp.push_back(&v); model.push(v); }
                Op::PushFront(v) => { lp.push_front(&v); model.insert(0, v); }
                Op::PushInt(i) => { lp.push_int_back(i); model.push(i.to_string().into_bytes()); }
                Op::InsertBefore(i, v) if !model.is_empty() => {
                    let i = i % model.len();
                    lp.insert_before(lp.seek(i as i64).unwrap(), &v);
                    model.insert(i, v);
                }
                Op::InsertAfter(i, v) if !model.is_empty() => {
                    let i = i % model.len();
                    lp.insert_after(lp.seek(-(i as i64) - 1).unwrap(), &v);
                    let at = model.len() - i;
                    model.insert(at, v);
                }
                Op::Replace(i, v) if !model.is_empty() => {
                    let i = i % model.len();
                    let p = lp.seek(i as i64).unwrap();
                    lp.replace(p, &v);
                    prop_assert_eq!(lp.get(p).to_vec(), v.clone());
                    model[i] = v;
                }
                Op::Delete(i) if !model.is_empty() => {
                    let i = i % model.len();
                    let next = lp.delete(lp.seek(i as i64).unwrap());
                    model.remove(i);
                    prop_assert_eq!(next.map(|p| lp.get(p).to_vec()), model.get(i).cloned());
                }
                Op::DeleteRange(i, n) => {
                    let i = if model.is_empty() { 0 } else { i % (model.len() + 1) };
                    lp.delete_range(i, n);
                    let end = (i + n).min(model.len());
                    if i < model.len() { model.drain(i..end); }
                }
                Op::PopFront if !model.is_empty() => {
                    let next = lp.delete(lp.first().unwrap());
                    model.remove(0);
                    prop_assert_eq!(next, lp.first());
                }
                Op::IntoRaw => {
                    let (buf, n) = std::mem::take(&mut lp).into_raw();
                    prop_assert_eq!(buf.len(), Listpack::from_raw(buf.clone(), n).data_bytes());
                    lp = Listpack::from_raw(buf, n);
                }
                Op::SplitAppend(i) => {
                    let i = if model.is_empty() { 0 } else { i % (model.len() + 1) };
                    let tail = lp.split_off(i);
                    prop_assert_eq!(collect(&tail), model[i..].to_vec());
                    check(&lp, &model[..i]);
                    lp.append(&tail);
                }
                _ => {}
            }
            check(&lp, &model);
        }
        // seek, both signs
        for i in 0..model.len() {
            prop_assert_eq!(lp.get(lp.seek(i as i64).unwrap()).to_vec(), model[i].clone());
            let neg = i as i64 - model.len() as i64;
            prop_assert_eq!(lp.get(lp.seek(neg).unwrap()).to_vec(), model[i].clone());
        }
        prop_assert!(lp.seek(model.len() as i64).is_none());
        prop_assert!(lp.seek(-(model.len() as i64) - 1).is_none());
        // find with skip 0 and 1
        if let Some(first) = lp.first() {
            for (i, v) in model.iter().enumerate() {
                let want = model.iter().position(|m| m == v).unwrap();
                let got = lp.find(first, v, 0).unwrap();
                prop_assert_eq!(lp.get(got).to_vec(), v.clone());
                prop_assert_eq!(got, lp.seek(want as i64).unwrap());
                let pair = model.iter().step_by(2).position(|m| m == v);
                let got = lp.find(first, v, 1);
                prop_assert_eq!(got, pair.map(|k| lp.seek(2 * k as i64).unwrap()));
                let _ = i;
            }
        }
        let clone = lp.clone();
        check(&clone, &model);
        let raw = Listpack::from_raw(lp.as_bytes().to_vec(), lp.len());
        check(&raw, &model);
    }

    #[test]
    fn value_helpers(v in value()) {
        let mut lp = Listpack::new();
        lp.push_back(&v);
        let got = lp.get(lp.first().unwrap());
        prop_assert!(got.eq_bytes(&v));
        prop_assert_eq!(got.len(), v.len());
        let parsed = std::str::from_utf8(&v).ok().and_then(|s| s.parse::<i64>().ok())
            .filter(|i| i.to_string().as_bytes() == v.as_slice());
        prop_assert_eq!(got.as_int(), parsed);
        prop_assert_eq!(matches!(got, LpValue::Int(_)), parsed.is_some());
        let mut out = b"pre".to_vec();
        got.write_to(&mut out);
        prop_assert_eq!(&out[3..], v.as_slice());
    }
}

#[test]
fn integer_encodings_round_trip() {
    let edges = [
        0i64,
        127,
        128,
        -1,
        -4096,
        -4097,
        4095,
        4096,
        i16::MIN as i64,
        i16::MAX as i64,
        32768,
        -(1 << 23),
        (1 << 23) - 1,
        1 << 23,
        i32::MIN as i64,
        i32::MAX as i64,
        i32::MAX as i64 + 1,
        i64::MIN,
        i64::MAX,
    ];
    let mut lp = Listpack::new();
    for &e in &edges {
        lp.push_int_back(e);
        lp.push_back(e.to_string().as_bytes());
    }
    let got: Vec<i64> = lp.iter().map(|v| v.as_int().unwrap()).collect();
    let want: Vec<i64> = edges.iter().flat_map(|&e| [e, e]).collect();
    assert_eq!(got, want);
    assert!(lp.iter().all(|v| matches!(v, LpValue::Int(_))));
    // Small integers are one byte plus one backlen byte.
    assert_eq!(Listpack::entry_size(b"5"), 2);
    assert_eq!(Listpack::entry_size(b"abc"), 5);
}

#[test]
fn long_backlen_walks_back() {
    let big = vec![b'y'; 300_000];
    let mut lp = Listpack::new();
    lp.push_back(b"a");
    lp.push_back(&big);
    lp.push_back(b"b");
    let last = lp.last().unwrap();
    let mid = lp.prev(last).unwrap();
    assert_eq!(lp.get(mid).len(), big.len());
    assert_eq!(lp.get(lp.prev(mid).unwrap()), LpValue::Str(b"a"));
}

#[test]
fn head_pushes_reuse_a_gap_without_moving_entries() {
    let mut lp = Listpack::new();
    let mut model: Vec<Vec<u8>> = Vec::new();
    let mut moves = 0;
    for i in 0..2000u32 {
        let v = format!("v{i}").into_bytes();
        let before = lp.head();
        lp.push_front(&v);
        if lp.head() >= before {
            // The entries were moved (into a freshly made gap) rather than written into it.
            moves += 1;
        }
        model.insert(0, v);
        if i % 97 == 0 {
            let t = format!("t{i}").into_bytes();
            lp.push_back(&t);
            model.push(t);
        }
    }
    check(&lp, &model);
    assert_eq!(lp.len(), model.len());
    // Capacity grows by an eighth at a time; each growth leaves a gap for many pushes.
    assert!(moves < 200, "{moves} head pushes moved the entries");
    // The memory counted is the allocation, whatever part of it is gap.
    assert_eq!(lp.heap_bytes(), lp.buf.capacity());
    let exact = lp.clone();
    assert_eq!(exact.as_bytes(), lp.as_bytes());
}
