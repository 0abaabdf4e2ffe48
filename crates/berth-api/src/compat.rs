//! Differences between API versions in the JSON we send, applied in one place.
