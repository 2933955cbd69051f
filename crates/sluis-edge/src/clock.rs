//! The edge's clock, for the times it puts in an object's meta.

/// The time of day, RFC 3339 in UTC with microseconds: when the edge received an object, by
/// its own clock (the core records its own).
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}
