//! Real WebRTC media for kandy-rs, on the sans-IO [str0m] stack.
//!
//! This crate will hold the media engine that answers the core's media
//! effects (create offer, set remote description, tracks, DTMF, stats) with
//! ICE, DTLS, SRTP and RTP over UDP. It is deliberately empty today: the core
//! has no call feature yet, so there is nothing for an engine to serve. The
//! "Real WebRTC media through str0m" issue fills it; until then no crate
//! depends on it and it exports nothing.
//!
//! [str0m]: https://crates.io/crates/str0m
