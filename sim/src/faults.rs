//! Faults a run injects from inside the world while its clients work: partitions between a
//! server's node and its clients' nodes, and proactor stalls. Both stop (and every cut heals)
//! before the quiet phase, whose checks then include liveness after them.

use crate::Plan;
use damselfly_runtime::fiber;
use damselfly_runtime::sim;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The node of client `id` of the server at `server` (the verifier is `usize::MAX`):
/// `127.<server's last octet>.0.<10 + id>`, the verifier at `127.<octet>.1.1`. A partition
/// cuts these nodes from the server's node.
pub fn client_node(server: SocketAddr, id: usize) -> IpAddr {
    let octet = match server.ip() {
        IpAddr::V4(v) => v.octets()[3],
        IpAddr::V6(_) => 0,
    };
    if id == usize::MAX {
        return IpAddr::from([127, octet, 1, 1]);
    }
    IpAddr::from([127, octet, (id / 200) as u8, (10 + id % 200) as u8])
}

/// Until `stop`: every few milliseconds, cuts a seeded subset of the clients' nodes from the
/// server's for 1–200 ms, then heals them. Returns the number of partitions made.
pub fn partitioner(plan: &Plan, server: SocketAddr, stop: Arc<AtomicBool>) -> u64 {
    let mut made = 0;
    while !stop.load(Ordering::Relaxed) {
        fiber::sleep(Duration::from_micros(2_000 + sim::random_below(48_000)));
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let cut: Vec<IpAddr> = (0..plan.clients)
            .filter(|_| sim::random_below(2) == 0)
            .map(|id| client_node(server, id))
            .collect();
        for &node in &cut {
            sim::partition(server.ip(), node);
        }
        made += 1;
        fiber::sleep(Duration::from_micros(1_000 + sim::random_below(199_000)));
        for &node in &cut {
            sim::heal(server.ip(), node);
        }
    }
    made
}

/// Until `stop`: every few milliseconds, one seeded proactor of this server's pool takes no
/// turn for 0.1–20 ms while the others run on. Returns the number of stalls.
pub fn staller(stop: Arc<AtomicBool>) -> u64 {
    let n = damselfly_runtime::proactor_count() as u64;
    let mut made = 0;
    while !stop.load(Ordering::Relaxed) {
        fiber::sleep(Duration::from_micros(1_000 + sim::random_below(29_000)));
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let index = sim::random_below(n) as usize;
        sim::stall_proactor(
            index,
            Duration::from_micros(100 + sim::random_below(19_900)),
        );
        made += 1;
    }
    made
}
