//! How a geo search orders its results, so that points at equal distances come out in the
//! order redis-server gives them. Redis sorts the whole result with the C library's `qsort`
//! (a stable merge sort in glibc) when it returns everything, and with a partial quicksort
//! (Bentley and McIlroy's "Engineering a Sort Function", recursing only into the parts that
//! overlap the ranks it returns) when COUNT cuts the result. The two place ties differently;
//! both are reproduced here.

use std::cmp::Ordering;

/// Sorts `v` by `key` (ascending, or descending with `desc`) so that ranks `0..keep` are
/// final, as Redis does: stable when every rank is kept, the partial quicksort otherwise.
pub fn sort_results<T>(v: &mut [T], keep: usize, desc: bool, key: impl Fn(&T) -> f64) {
    if keep >= v.len() {
        // Redis's comparator is a total order except for NaN, which this one orders last.
        if desc {
            v.sort_by(|a, b| key(b).total_cmp(&key(a)));
        } else {
            v.sort_by(|a, b| key(a).total_cmp(&key(b)));
        }
    } else if keep > 0 {
        // Redis's comparator: greater, equal, else less; negated for DESC.
        let cmp = |a: &T, b: &T| {
            let (x, y) = (key(a), key(b));
            let asc = if x > y {
                Ordering::Greater
            } else if x == y {
                Ordering::Equal
            } else {
                Ordering::Less
            };
            if desc {
                asc.reverse()
            } else {
                asc
            }
        };
        partial_quicksort(v, 0, keep - 1, &cmp);
    }
}

/// The median of three positions under `cmp`, picked as the reference algorithm picks it.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

/// Swaps `n` elements starting at `a` with `n` starting at `b`, pairwise.
fn swap_blocks<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// Three-way quicksort of `v` (whose first element has rank `base` in the whole array)
/// that leaves alone every part lying outside ranks `lo..=hi`.
fn partial_quicksort<T>(
    mut v: &mut [T],
    mut base: usize,
    hi: usize,
    cmp: &impl Fn(&T, &T) -> Ordering,
) {
    // `lo` is always 0 here: a search keeps its first ranks.
    let lo = 0;
    let overlaps = |first: usize, len: usize| !(hi < first || lo > first + len - 1);
    loop {
        let n = v.len();
        if n < 7 {
            // Insertion sort of a short run.
            for m in 1..n {
                let mut l = m;
                while l > 0 && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = n / 2;
        if n > 7 {
            let (mut pl, mut pn) = (0, n - 1);
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        // The pivot sits at 0; equal elements gather at both ends while partitioning.
        v.swap(0, pm);
        let (mut pa, mut pb) = (1, 1);
        let (mut pc, mut pd) = (n - 1, n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[0]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[0]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        // Move the equal runs from the ends to the middle.
        let r = pa.min(pb - pa);
        swap_blocks(v, 0, pb - r, r);
        let r = (pd - pc).min(n - pd - 1);
        swap_blocks(v, pb, n - r, r);
        let left = pb - pa;
        if left > 1 && overlaps(base, left) {
            partial_quicksort(&mut v[..left], base, hi, cmp);
        }
        let right = pd - pc;
        if right <= 1 || !overlaps(base + n - right, right) {
            return;
        }
        base += n - right;
        v = &mut std::mem::take(&mut v)[n - right..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn kept_ranks_are_sorted() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        for _ in 0..300 {
            let n = (rng(&mut seed) % 120) as usize + 1;
            let keep = (rng(&mut seed) % n as u64) as usize + 1;
            let desc = n.is_multiple_of(2);
            let mut v: Vec<(f64, usize)> =
                (0..n).map(|i| ((rng(&mut seed) % 10) as f64, i)).collect();
            let mut want = v.clone();
            want.sort_by(|a, b| a.0.total_cmp(&b.0));
            if desc {
                want.reverse();
            }
            sort_results(&mut v, keep, desc, |p| p.0);
            let got: Vec<f64> = v[..keep].iter().map(|p| p.0).collect();
            let want: Vec<f64> = want[..keep].iter().map(|p| p.0).collect();
            assert_eq!(got, want, "n {n} keep {keep}");
            // Still a permutation.
            let mut ids: Vec<usize> = v.iter().map(|p| p.1).collect();
            ids.sort_unstable();
            assert_eq!(ids, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn full_sort_is_stable() {
        let mut v = vec![(1.0, 'a'), (0.0, 'b'), (1.0, 'c'), (0.0, 'd')];
        sort_results(&mut v, 4, false, |p| p.0);
        assert_eq!(v, vec![(0.0, 'b'), (0.0, 'd'), (1.0, 'a'), (1.0, 'c')]);
        sort_results(&mut v, 4, true, |p| p.0);
        assert_eq!(v, vec![(1.0, 'a'), (1.0, 'c'), (0.0, 'b'), (0.0, 'd')]);
    }
}
