//! The transaction queue of one shard (VLL). Multi-shard transactions that conflict run in
//! txid order on every shard — the order that makes the whole schedule serializable without
//! deadlocks. Entries are kept in queue order; a multi-shard transaction that arrives after a
//! later txid was admitted is placed before the later multi-shard entries when all of those
//! wait for their turn (none may run out of order); it is refused (the coordinator retries
//! with a fresh txid) when one may run out of order, or when a later txid already ran a hop
//! here — it may have observed state this one would change. An entry may run when it is at
//! the head, or at any time when all its locks were free on arrival (out of order: nothing
//! before it conflicts, and everything after it that conflicts waits for its locks).

use damselfly_runtime::bus::RawCall;
use std::collections::VecDeque;

/// Distance between the seqs of entries appended in turn, so that late transactions can be
/// placed between them while staying sorted by seq.
const SEQ_GAP: u64 = 1 << 16;

pub struct QueueEntry {
    /// Global txid for multi-shard transactions; 0 for single-shard ones.
    pub txid: u64,
    /// Local sequence number, unique in this queue.
    pub seq: u64,
    /// All locks were free on arrival.
    pub out_of_order: bool,
    /// A hop that arrived before the entry could run; run it when it can.
    pub armed: Option<RawCall>,
}

#[derive(Default)]
pub struct TxQueue {
    entries: VecDeque<QueueEntry>,
    next_seq: u64,
    /// Highest multi-shard txid ever admitted here.
    max_txid: u64,
    /// Highest multi-shard txid that ran a hop here.
    ran_txid: u64,
}

impl TxQueue {
    /// Admits a transaction; `out_of_order` says its locks were all free on arrival. None when
    /// a multi-shard txid arrives below one admitted before and conflicts with a queued
    /// transaction (the coordinator retries with a fresh txid).
    pub fn admit(&mut self, txid: u64, out_of_order: bool) -> Option<u64> {
        if txid != 0 {
            if txid <= self.ran_txid {
                return None;
            }
            if txid <= self.max_txid && !out_of_order {
                return self.insert_before_later(txid);
            }
            self.max_txid = self.max_txid.max(txid);
        }
        self.append(txid, out_of_order)
    }

    fn append(&mut self, txid: u64, out_of_order: bool) -> Option<u64> {
        self.next_seq += SEQ_GAP;
        let seq = self.next_seq;
        self.entries.push_back(QueueEntry {
            txid,
            seq,
            out_of_order,
            armed: None,
        });
        Some(seq)
    }

    /// Admits late multi-shard `txid` (no later txid ran here) just before the first queued
    /// multi-shard entry with a later txid, when every multi-shard entry from there on waits
    /// for its turn at the head (none may run out of order), so each of them now also waits
    /// for this one and nothing else changes. None (the caller retries) otherwise: an earlier
    /// txid or an out-of-order entry sits after that point, or no seq is left between the
    /// neighbours.
    fn insert_before_later(&mut self, txid: u64) -> Option<u64> {
        let Some(i) = self.entries.iter().position(|e| e.txid > txid) else {
            // The later txids left without running here (undone elsewhere): nothing queued
            // is later than this one.
            return self.append(txid, false);
        };
        // Refused when a later multi-shard entry may run out of order: it could run before
        // this one here while this one runs first elsewhere, and taking its right away would
        // make it wait for entries it does not conflict with (a wait cycle across shards).
        if self
            .entries
            .iter()
            .skip(i)
            .any(|e| e.txid != 0 && (e.txid < txid || e.out_of_order))
        {
            return None;
        }
        let next = self.entries[i].seq;
        let prev = match i {
            0 => next.saturating_sub(SEQ_GAP),
            _ => self.entries[i - 1].seq,
        };
        let seq = prev + (next - prev) / 2;
        if seq == prev {
            return None;
        }
        self.entries.insert(
            i,
            QueueEntry {
                txid,
                seq,
                out_of_order: false,
                armed: None,
            },
        );
        Some(seq)
    }

    fn position(&self, seq: u64) -> Option<usize> {
        // Entries are in seq order: binary search.
        self.entries.binary_search_by_key(&seq, |e| e.seq).ok()
    }

    /// The transaction `seq` is about to run a hop here.
    pub fn note_running(&mut self, seq: u64) {
        if let Some(i) = self.position(seq) {
            self.ran_txid = self.ran_txid.max(self.entries[i].txid);
        }
    }

    pub fn can_run(&self, seq: u64) -> bool {
        match self.position(seq) {
            Some(0) => true,
            Some(i) => self.entries[i].out_of_order,
            None => panic!("transaction {seq} is not queued here"),
        }
    }

    pub fn arm(&mut self, seq: u64, call: RawCall) {
        let i = self
            .position(seq)
            .expect("armed a transaction that is not queued");
        assert!(self.entries[i].armed.is_none(), "two hops armed at once");
        self.entries[i].armed = Some(call);
    }

    pub fn remove(&mut self, seq: u64) {
        let i = self
            .position(seq)
            .expect("removed a transaction that is not queued");
        let e = self.entries.remove(i).expect("position is valid");
        assert!(
            e.armed.is_none(),
            "removed a transaction with a hop still armed"
        );
    }

    /// Takes the armed hops that may run now, in queue order.
    pub fn take_runnable(&mut self, out: &mut Vec<RawCall>) {
        for (i, e) in self.entries.iter_mut().enumerate() {
            if i == 0 || e.out_of_order {
                if let Some(c) = e.armed.take() {
                    out.push(c);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn max_txid(&self) -> u64 {
        self.max_txid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nop(_: usize) {}

    #[test]
    fn admits_multi_shard_txids_in_order_only() {
        let mut q = TxQueue::default();
        let a = q.admit(5, false).unwrap();
        let late = q.admit(3, true).expect("late but free of conflicts");
        assert!(q.can_run(late));
        q.remove(late);
        q.note_running(a);
        assert!(q.admit(2, true).is_none(), "a later txid already ran here");
        let b = q.admit(0, false).unwrap();
        let c = q.admit(9, true).unwrap();
        assert!(q.can_run(a));
        assert!(!q.can_run(b));
        assert!(q.can_run(c));
        q.arm(b, RawCall { func: nop, arg: 1 });
        let mut out = Vec::new();
        q.take_runnable(&mut out);
        assert!(out.is_empty());
        q.remove(a);
        q.take_runnable(&mut out);
        assert_eq!(out.len(), 1);
        q.remove(b);
        q.remove(c);
        assert!(q.is_empty());
        assert_eq!(q.max_txid(), 9);
    }

    #[test]
    fn a_late_conflicting_txid_goes_before_later_ones_that_wait_their_turn() {
        let mut q = TxQueue::default();
        let single = q.admit(0, false).unwrap();
        let later = q.admit(8, false).unwrap();
        let last = q.admit(9, false).unwrap();
        let late = q.admit(6, false).expect("placed before 8 and 9");
        assert!(!q.can_run(late), "the single-shard entry is still ahead");
        q.remove(single);
        assert!(q.can_run(late));
        assert!(!q.can_run(later), "8 waits for 6");
        // An earlier txid queued after the insertion point: 7 cannot sit before 8 and after 5.
        let early_free = q.admit(5, true).unwrap();
        assert!(q.admit(7, false).is_none());
        q.remove(early_free);
        q.note_running(late);
        q.remove(late);
        q.note_running(later);
        assert!(q.admit(7, false).is_none(), "8 already ran here");
        q.remove(later);
        q.remove(last);
        assert!(q.is_empty());
    }

    #[test]
    fn a_later_entry_that_may_run_out_of_order_refuses_a_late_one() {
        let mut q = TxQueue::default();
        let head = q.admit(0, false).unwrap();
        let free = q.admit(8, true).unwrap();
        assert!(q.can_run(free), "its locks were free");
        // Placing 6 before 8 would either let 8 run first here or make 8 wait for the head.
        assert!(q.admit(6, false).is_none());
        assert!(q.can_run(free), "8 keeps its right");
        q.remove(free);
        q.remove(head);
        assert!(q.is_empty());
    }

    #[test]
    fn late_txids_left_alone_append_and_seqs_stay_sorted() {
        let mut q = TxQueue::default();
        let a = q.admit(10, false).unwrap();
        q.remove(a); // undone: 10 never ran here
        let b = q.admit(4, false).expect("nothing later is queued");
        let c = q.admit(11, false).unwrap();
        // Keep inserting just before 11: the gap halves each time until it is used up.
        let mut placed = 0;
        for t in 5..10 {
            if q.admit(t, false).is_some() {
                placed += 1;
            }
        }
        assert_eq!(placed, 5);
        let seqs: Vec<u64> = q.entries.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        let txids: Vec<u64> = q.entries.iter().map(|e| e.txid).collect();
        assert_eq!(txids, vec![4, 5, 6, 7, 8, 9, 11]);
        assert!(q.can_run(b));
        assert!(!q.can_run(c));
    }
}
