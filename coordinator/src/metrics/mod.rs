//! Observability over HTTP and INFO: Prometheus `GET /metrics` on the main port, and the
//! per-command latency percentiles of INFO latencystats.
//!
//! - `histogram`: the per-command latency histogram all latency figures come from.
//! - `http`: tells an HTTP request from RESP on a connection's first bytes, then serves it.
//! - `exposition`: the Prometheus text format (HELP/TYPE lines, samples, histograms).
//! - `collect`: gathers the figures from every proactor and writes them out.
//! - `latencystats`: INFO latencystats and its `latency-tracking-info-percentiles` parameter.

pub mod collect;
pub mod exposition;
pub mod histogram;
pub mod http;
pub mod latencystats;
