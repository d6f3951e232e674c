//! A scripted media engine: answers every [`MediaCommand`] at once with
//! plausible SDP and tracks, without any media. For tests and simulations
//! of call signalling (the str0m engine does the real thing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::media::{
    MediaCommand, MediaEvent, MediaEventKind, MediaOp, MediaOptions, SdpKind, Track, TrackId,
    TrackKind,
};
use super::sdp::{Direction, Sdp};
use super::CallId;

/// One call's fake peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakePeer {
    /// Local media kinds.
    pub audio: bool,
    /// Local video.
    pub video: bool,
    /// `o=` version, bumped per description.
    pub version: u64,
    /// The session id (changes when the peer is replaced).
    pub session: u64,
    /// The last remote description applied.
    pub remote: Option<String>,
    /// DTMF tones sent, in order.
    pub dtmf: String,
    /// Closed.
    pub closed: bool,
    /// Next track number.
    pub tracks: u64,
    /// Muted track ids.
    pub muted: Vec<TrackId>,
}

/// The engine: a peer per call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeEngine {
    /// A name mixed into ids and SDP (tells two engines apart).
    pub name: String,
    /// Peers by call.
    pub peers: BTreeMap<CallId, FakePeer>,
    /// Make the next `Open` fail (no camera, ...).
    pub fail_next_open: bool,
    /// Peers created so far (for session ids).
    pub created: u64,
}

impl FakeEngine {
    /// An engine whose SDP and ids carry `name`.
    pub fn new(name: impl Into<String>) -> Self {
        FakeEngine {
            name: name.into(),
            ..FakeEngine::default()
        }
    }

    fn track(&mut self, call: &CallId, kind: TrackKind, local: bool) -> Track {
        let peer = self.peers.entry(call.clone()).or_default();
        peer.tracks += 1;
        let id = TrackId(format!(
            "{}-{}-{}{}",
            self.name,
            call.0,
            if local { "l" } else { "r" },
            peer.tracks
        ));
        Track {
            id,
            kind,
            label: format!("fake {kind:?}"),
            stream_id: format!("{}-{}", self.name, call.0),
            local,
            muted: false,
        }
    }

    fn sdp(&self, peer: &FakePeer, sections: &[(&str, Direction)]) -> String {
        let mut s = format!(
            "v=0\r\no=- {} {} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE {}\r\n",
            peer.session,
            peer.version,
            (0..sections.len())
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        for (i, (kind, dir)) in sections.iter().enumerate() {
            let (pts, maps) = if *kind == "audio" {
                ("111 0 126", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\n")
            } else {
                (
                    "96 102",
                    "a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n",
                )
            };
            s.push_str(&format!(
                "m={kind} 9 UDP/TLS/RTP/SAVPF {pts}\r\nc=IN IP4 127.0.0.1\r\na=ice-ufrag:{n}{i}\r\na=ice-pwd:{n}pwd{i}\r\na=ice-options:trickle\r\na=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\na=mid:{i}\r\na={}\r\na=rtcp-mux\r\n{maps}a=candidate:1 1 udp 2122260223 127.0.0.1 5{i}000 typ host\r\n",
                dir.as_str(),
                n = self.name,
            ));
        }
        s
    }

    /// Answers one command with the events a real engine would report.
    pub fn handle(&mut self, command: MediaCommand) -> Vec<MediaEvent> {
        let MediaCommand { call, op } = command;
        let ev = |kind| MediaEvent {
            call: call.clone(),
            kind,
        };
        match op {
            MediaOp::Open { media, .. } => {
                if std::mem::take(&mut self.fail_next_open) {
                    return vec![ev(MediaEventKind::Failed {
                        message: "no microphone".into(),
                    })];
                }
                self.created += 1;
                let session = 1000 + self.created;
                let peer = self.peers.entry(call.clone()).or_default();
                peer.audio = media.audio;
                peer.video = media.video;
                peer.session = session;
                let mut tracks = Vec::new();
                if media.audio {
                    tracks.push(self.track(&call, TrackKind::Audio, true));
                }
                if media.video {
                    tracks.push(self.track(&call, TrackKind::Video, true));
                }
                vec![ev(MediaEventKind::Opened { tracks })]
            }
            MediaOp::CreateOffer { direction, restart } => {
                if restart {
                    self.created += 1;
                    let session = 1000 + self.created;
                    self.peers.entry(call.clone()).or_default().session = session;
                }
                let peer = self.peers.entry(call.clone()).or_default();
                peer.version += 1;
                if peer.session == 0 {
                    peer.session = 999;
                }
                let d = direction.unwrap_or(Direction::Sendrecv);
                let mut sections = vec![("audio", d)];
                if peer.video {
                    sections.push(("video", d));
                }
                let peer = peer.clone();
                vec![ev(MediaEventKind::Described {
                    kind: SdpKind::Offer,
                    sdp: self.sdp(&peer, &sections),
                })]
            }
            MediaOp::CreateAnswer { direction } => {
                let peer = self.peers.entry(call.clone()).or_default();
                peer.version += 1;
                if peer.session == 0 {
                    self.created += 1;
                    peer.session = 1000 + self.created;
                }
                let peer = peer.clone();
                let remote = peer.remote.as_deref().and_then(|r| Sdp::parse(r).ok());
                let sections: Vec<(&str, Direction)> = match &remote {
                    Some(r) => r
                        .media
                        .iter()
                        .map(|m| {
                            let kind = if m.kind == "video" { "video" } else { "audio" };
                            let d = direction.unwrap_or(match m.direction() {
                                Direction::Sendrecv => Direction::Sendrecv,
                                Direction::Sendonly => Direction::Recvonly,
                                Direction::Recvonly => Direction::Sendonly,
                                Direction::Inactive => Direction::Inactive,
                            });
                            (kind, d)
                        })
                        .collect(),
                    None => vec![("audio", direction.unwrap_or(Direction::Sendrecv))],
                };
                vec![ev(MediaEventKind::Described {
                    kind: SdpKind::Answer,
                    sdp: self.sdp(&peer, &sections),
                })]
            }
            MediaOp::ApplyLocal { kind, sdp } => vec![ev(MediaEventKind::LocalReady { kind, sdp })],
            MediaOp::ApplyRemote {
                sdp,
                fresh_peer,
                kind,
            } => {
                let first = !self.peers.contains_key(&call);
                let peer = self.peers.entry(call.clone()).or_default();
                let had_remote = peer.remote.is_some();
                peer.remote = Some(sdp.clone());
                let _ = fresh_peer;
                let mut out = vec![ev(MediaEventKind::RemoteApplied)];
                // The far end's media shows up once per peer, on the answer
                // for an offerer (an answerer's tracks arrive before the call
                // exists, as in browsers).
                if kind == SdpKind::Answer && !had_remote && !first {
                    let t = self.track(&call, TrackKind::Audio, false);
                    out.push(ev(MediaEventKind::TrackAdded { track: t }));
                }
                out
            }
            MediaOp::RunSdpHandlers { sdp, .. } => vec![ev(MediaEventKind::SdpHandled {
                sdp: format!("{sdp}a=x-app-handler:{}\r\n", self.name),
            })],
            MediaOp::AddMedia { media } => {
                let mut tracks = Vec::new();
                if media.video {
                    self.peers.entry(call.clone()).or_default().video = true;
                    tracks.push(self.track(&call, TrackKind::Video, true));
                }
                if media.audio && !media.video {
                    tracks.push(self.track(&call, TrackKind::Audio, true));
                }
                vec![ev(MediaEventKind::TracksAdded { tracks })]
            }
            MediaOp::RemoveTracks { tracks } => tracks
                .into_iter()
                .map(|t| {
                    ev(MediaEventKind::TrackEnded {
                        track: t,
                        local: true,
                    })
                })
                .collect(),
            MediaOp::ReplaceTrack { track, media } => {
                let kind = if media.video {
                    TrackKind::Video
                } else {
                    TrackKind::Audio
                };
                let new = self.track(&call, kind, true);
                vec![ev(MediaEventKind::TrackReplaced { old: track, new })]
            }
            MediaOp::InsertDtmf { tones, .. } => {
                self.peers
                    .entry(call.clone())
                    .or_default()
                    .dtmf
                    .push_str(&tones);
                vec![]
            }
            MediaOp::GetStats { track } => vec![ev(MediaEventKind::Stats {
                track,
                report: serde_json::json!({"packetsSent": 0, "packetsReceived": 0}),
            })],
            MediaOp::SetMuted { tracks, muted } => {
                let peer = self.peers.entry(call.clone()).or_default();
                for t in tracks {
                    peer.muted.retain(|m| *m != t);
                    if muted {
                        peer.muted.push(t);
                    }
                }
                vec![]
            }
            MediaOp::Close => {
                if let Some(p) = self.peers.get_mut(&call) {
                    p.closed = true;
                }
                vec![]
            }
        }
    }
}

impl MediaOptions {
    /// Whether any media is asked for.
    pub fn any(&self) -> bool {
        self.audio || self.video
    }
}
