//! Calls. Today: the SDP toolkit the call state machine is built on
//! ([`sdp`]). The call state machine, its REST requests and notifications,
//! and the media-engine boundary come with the calls work.

pub mod sdp;
