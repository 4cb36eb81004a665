//! Encoding thresholds of the collection types, as Redis names them in its config
//! (`list-max-listpack-size`, `hash-max-listpack-entries`...). The coordinator reads them from
//! the config and passes a copy to every shard-side write, so a CONFIG SET applies to the next
//! write without any shard holding config state.

/// Where collections switch from the packed encoding to their large one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectionLimits {
    /// `list-max-listpack-size`: > 0 entries per node; -1..-5 node bytes of 4, 8, 16, 32, 64 KiB.
    pub list_max_listpack_size: i64,
    /// `list-compress-depth`: nodes at each end kept uncompressed; 0 = no compression.
    pub list_compress_depth: usize,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// `stream-node-max-bytes` (0 = no limit).
    pub stream_node_max_bytes: usize,
    /// `stream-node-max-entries` (0 = no limit).
    pub stream_node_max_entries: usize,
}

impl CollectionLimits {
    /// The node thresholds of streams.
    pub fn stream_nodes(&self) -> crate::stream::NodeLimits {
        crate::stream::NodeLimits {
            max_bytes: self.stream_node_max_bytes,
            max_entries: self.stream_node_max_entries,
        }
    }
}

impl Default for CollectionLimits {
    /// Redis 7's defaults.
    fn default() -> CollectionLimits {
        CollectionLimits {
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}
