//! Pipelines of SET, GET and INCR on private keys: replies checked in order against the
//! model (long pipelines run squashed on the server).

use super::{CallError, Client, Entry};
use crate::resp::Reply;
use crate::Plan;

impl Client {
    /// A pipeline of SET, GET and INCR on private keys (long ones run squashed), each reply
    /// checked in order against the model.
    pub(super) fn pipelined(&mut self, plan: &Plan) -> Option<()> {
        let n = if self.rng.chance(1, 2) {
            self.rng.between(2, 6)
        } else {
            self.rng.between(10, 24)
        };
        let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
        for _ in 0..n {
            let k = self.private_key(plan);
            cmds.push(match self.rng.below(3) {
                0 => {
                    let v = self.value();
                    vec![b"SET".to_vec(), k, v]
                }
                1 => vec![b"GET".to_vec(), k],
                _ => {
                    let j = self.rng.below(2);
                    let c = format!("n{}:{}:{j}", self.id, self.gen).into_bytes();
                    vec![b"INCR".to_vec(), c]
                }
            });
        }
        let refs: Vec<Vec<&[u8]>> = cmds
            .iter()
            .map(|c| c.iter().map(|a| a.as_slice()).collect())
            .collect();
        let refs: Vec<&[&[u8]]> = refs.iter().map(|c| c.as_slice()).collect();
        let (replies, span) = match self.pipeline(&refs) {
            Ok(r) => r,
            Err(CallError::Lost) => return Some(()),
            Err(CallError::Failed(m)) => {
                self.fail(m);
                return None;
            }
        };
        for (cmd, r) in cmds.into_iter().zip(replies) {
            match cmd[0].as_slice() {
                b"SET" => {
                    self.expect("SET in a pipeline", &r, r == Reply::ok())?;
                    let mut it = cmd.into_iter().skip(1);
                    let (k, v) = (it.next().expect("key"), it.next().expect("value"));
                    self.private.insert(
                        k,
                        Entry {
                            value: v,
                            expiry: None,
                        },
                    );
                }
                b"GET" => self.check_value(&cmd[1], &r, span)?,
                _ => {
                    let want = self.counters.get(&cmd[1]).copied().unwrap_or(0) + 1;
                    self.expect(
                        &format!("INCR in a pipeline (expected {want})"),
                        &r,
                        r == Reply::Int(want),
                    )?;
                    self.counters.insert(cmd[1].clone(), want);
                }
            }
        }
        Some(())
    }
}
