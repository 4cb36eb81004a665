//! Per-proactor deadline heap. An entry wakes a fiber; a stale entry (the fiber already woke
//! for another reason) only causes a spurious wakeup, which every wait loop tolerates.

use crate::clock::Time;
use crate::fiber::FiberId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<(Time, u64, FiberId)>>,
    seq: u64,
}

impl TimerHeap {
    pub fn insert(&mut self, deadline: Time, fiber: FiberId) {
        self.seq += 1;
        self.heap.push(Reverse((deadline, self.seq, fiber)));
    }

    pub fn next_deadline(&self) -> Option<Time> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Pops every entry due at `now`, in deadline order (ties in insertion order).
    pub fn pop_due(&mut self, now: Time, out: &mut Vec<FiberId>) {
        while let Some(Reverse((t, _, f))) = self.heap.peek() {
            if *t > now {
                break;
            }
            out.push(*f);
            self.heap.pop();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_then_insertion_order() {
        let mut h = TimerHeap::default();
        let f = |n| FiberId::new(n, 0);
        h.insert(Time::from_nanos(30), f(3));
        h.insert(Time::from_nanos(10), f(1));
        h.insert(Time::from_nanos(10), f(2));
        h.insert(Time::from_nanos(50), f(5));
        let mut out = Vec::new();
        h.pop_due(Time::from_nanos(30), &mut out);
        assert_eq!(out, vec![f(1), f(2), f(3)]);
        assert_eq!(h.next_deadline(), Some(Time::from_nanos(50)));
        assert_eq!(h.len(), 1);
    }
}
