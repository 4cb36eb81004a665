//! Bounded multi-producer queue (Vyukov's array queue with per-slot sequence numbers) for
//! threads that are not proactors: they submit work to a proactor through it.

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Slot<T> {
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

pub(crate) struct MpmcQueue<T> {
    slots: Box<[Slot<T>]>,
    mask: usize,
    enqueue: CachePadded<AtomicUsize>,
    dequeue: CachePadded<AtomicUsize>,
}

// SAFETY: a slot's value is written by the producer that won the CAS on `enqueue` and read by the
// consumer that won the CAS on `dequeue`; the slot's `seq` (Release/Acquire) orders the two.
unsafe impl<T: Send> Send for MpmcQueue<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for MpmcQueue<T> {}

impl<T> MpmcQueue<T> {
    pub fn new(capacity: usize) -> Self {
        let cap = capacity.next_power_of_two().max(2);
        let slots = (0..cap)
            .map(|i| Slot {
                seq: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        MpmcQueue {
            slots,
            mask: cap - 1,
            enqueue: CachePadded::new(AtomicUsize::new(0)),
            dequeue: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    pub fn push(&self, value: T) -> Result<(), T> {
        let mut pos = self.enqueue.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq as isize - pos as isize;
            if diff == 0 {
                match self.enqueue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: winning the CAS gives this producer exclusive use of the slot
                        // until it publishes `seq = pos + 1`.
                        unsafe { (*slot.value.get()).write(value) };
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(p) => pos = p,
                }
            } else if diff < 0 {
                return Err(value);
            } else {
                pos = self.enqueue.load(Ordering::Relaxed);
            }
        }
    }

    pub fn pop(&self) -> Option<T> {
        let mut pos = self.dequeue.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq as isize - pos.wrapping_add(1) as isize;
            if diff == 0 {
                match self.dequeue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the producer published this slot (seq == pos + 1, Acquire) and
                        // winning the CAS makes us its only reader.
                        let v = unsafe { (*slot.value.get()).assume_init_read() };
                        slot.seq
                            .store(pos.wrapping_add(self.mask + 1), Ordering::Release);
                        return Some(v);
                    }
                    Err(p) => pos = p,
                }
            } else if diff < 0 {
                return None;
            } else {
                pos = self.dequeue.load(Ordering::Relaxed);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        let pos = self.dequeue.load(Ordering::Acquire);
        let seq = self.slots[pos & self.mask].seq.load(Ordering::Acquire);
        seq != pos.wrapping_add(1)
    }
}

impl<T> Drop for MpmcQueue<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn many_producers_none_lost() {
        let q = Arc::new(MpmcQueue::new(128));
        let producers: Vec<_> = (0..4u64)
            .map(|t| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000u64 {
                        let mut v = t * 1_000_000 + i;
                        while let Err(b) = q.push(v) {
                            v = b;
                            std::hint::spin_loop();
                        }
                    }
                })
            })
            .collect();
        let mut last = [None::<u64>; 4];
        let mut got = 0;
        while got < 200_000 {
            if let Some(v) = q.pop() {
                let t = (v / 1_000_000) as usize;
                let i = v % 1_000_000;
                assert!(last[t].is_none_or(|l| l + 1 == i), "per-producer FIFO");
                last[t] = Some(i);
                got += 1;
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert!(q.is_empty());
    }
}
