//! The transaction queue of one shard (VLL). Entries are kept in arrival order. A multi-shard
//! transaction arriving with a txid below one admitted before is refused (the coordinator
//! retries with a fresh txid) if a later txid already ran a hop here — it may have observed
//! state this one would change — or if its locks conflict with a queued transaction.
//! Otherwise it is admitted: nothing it conflicts with is ordered after it here. So on every
//! shard, transactions that conflict run in txid order — the order that makes the whole
//! schedule serializable without deadlocks — and a late txid with nothing to conflict with is
//! not sent round again. An entry may run when it is at the head,
//! or at any time when all its locks were free on arrival (out of order: nothing before it
//! conflicts, and everything after it that conflicts waits for its locks).

use damselfly_runtime::bus::RawCall;
use std::collections::VecDeque;

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
            if txid <= self.ran_txid || (txid <= self.max_txid && !out_of_order) {
                return None;
            }
            self.max_txid = self.max_txid.max(txid);
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.entries.push_back(QueueEntry {
            txid,
            seq,
            out_of_order,
            armed: None,
        });
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
        assert!(q.admit(4, false).is_none(), "late and conflicting");
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
}
