//! SDP as the call layer needs it: a lossless line model, the built-in
//! rewriting handlers of the SDP pipeline (codec remover, SDES remover,
//! bandwidth lines, trickle and BUNDLE clean-up, direction rewrites), and the
//! classification of a remote offer against the previous remote SDP
//! (remote hold, unhold, media added or removed: 02-calls.md §4.6.3).
//!
//! The model keeps every line it does not understand exactly as it came, so
//! `parse` then `to_string` gives the same text (with CRLF line ends). A
//! hostile SDP is refused with a typed [`SdpError`], never a panic; sizes are
//! bounded.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Largest SDP accepted (bytes). Real offers are a few KiB.
pub const MAX_SDP_BYTES: usize = 256 * 1024;
/// Most lines accepted.
pub const MAX_SDP_LINES: usize = 8192;
/// Most m-sections accepted.
pub const MAX_MEDIA_SECTIONS: usize = 64;

/// Why an SDP was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SdpError {
    /// Larger than [`MAX_SDP_BYTES`], more lines than [`MAX_SDP_LINES`] or
    /// more sections than [`MAX_MEDIA_SECTIONS`].
    #[error("SDP too large: {0}")]
    TooLarge(String),
    /// Does not start with `v=0`.
    #[error("SDP does not start with v=0")]
    NoVersion,
    /// A line is not `<letter>=<value>`.
    #[error("malformed SDP line {line}: {text:?}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// The line (truncated).
        text: String,
    },
    /// An `m=` line without kind, port, protocol and formats.
    #[error("malformed m= line {0:?}")]
    BadMediaLine(String),
}

/// One `x=value` line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The type letter (`a`, `c`, `b`, ...).
    pub kind: char,
    /// Everything after `=`.
    pub value: String,
}

impl Line {
    fn new(kind: char, value: impl Into<String>) -> Self {
        Line {
            kind,
            value: value.into(),
        }
    }

    /// For an `a=name:value` or `a=name` line: the name and value.
    pub fn attribute(&self) -> Option<(&str, Option<&str>)> {
        if self.kind != 'a' {
            return None;
        }
        Some(match self.value.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (self.value.as_str(), None),
        })
    }
}

/// A media direction (`a=sendrecv`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Direction {
    /// Both ways.
    Sendrecv,
    /// Sending only.
    Sendonly,
    /// Receiving only.
    Recvonly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Sendrecv => "sendrecv",
            Direction::Sendonly => "sendonly",
            Direction::Recvonly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sendrecv" => Direction::Sendrecv,
            "sendonly" => Direction::Sendonly,
            "recvonly" => Direction::Recvonly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The side that wrote this direction sends.
    pub fn sends(self) -> bool {
        matches!(self, Direction::Sendrecv | Direction::Sendonly)
    }

    /// The side that wrote this direction receives.
    pub fn receives(self) -> bool {
        matches!(self, Direction::Sendrecv | Direction::Recvonly)
    }
}

/// One m-section: its `m=` line fields and the lines under it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaSection {
    /// `audio`, `video`, `application`, ...
    pub kind: String,
    /// The port field (kept as text: it may be `9` or `0` or `n/2`).
    pub port: String,
    /// The transport protocol (`UDP/TLS/RTP/SAVPF`).
    pub proto: String,
    /// The payload types / formats, in order.
    pub formats: Vec<String>,
    /// The lines after the `m=` line, in order.
    pub lines: Vec<Line>,
}

impl MediaSection {
    /// `a=mid`, if any.
    pub fn mid(&self) -> Option<&str> {
        self.attr("mid")
    }

    /// The first value of an attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .filter_map(Line::attribute)
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v)
    }

    /// The explicit direction attribute, if any.
    pub fn explicit_direction(&self) -> Option<Direction> {
        self.lines
            .iter()
            .filter_map(Line::attribute)
            .find_map(|(n, v)| {
                if v.is_none() {
                    Direction::parse(n)
                } else {
                    None
                }
            })
    }

    /// The direction, `sendrecv` when none is written (RFC 4566 §6).
    pub fn direction(&self) -> Direction {
        self.explicit_direction().unwrap_or(Direction::Sendrecv)
    }

    /// Sets the direction attribute (replacing, or adding one).
    pub fn set_direction(&mut self, d: Direction) {
        let mut found = false;
        for l in &mut self.lines {
            if l.kind == 'a' && Direction::parse(&l.value).is_some() {
                l.value = d.as_str().to_owned();
                found = true;
            }
        }
        if !found {
            self.lines.push(Line::new('a', d.as_str()));
        }
    }

    /// Payload type → codec name (from `a=rtpmap`).
    pub fn codecs(&self) -> BTreeMap<String, String> {
        self.lines
            .iter()
            .filter_map(Line::attribute)
            .filter(|(n, _)| *n == "rtpmap")
            .filter_map(|(_, v)| {
                let (pt, rest) = v?.split_once(' ')?;
                let name = rest.split('/').next()?;
                Some((pt.to_owned(), name.to_owned()))
            })
            .collect()
    }

    /// The `a=fmtp` parameters of a payload type.
    pub fn fmtp(&self, pt: &str) -> Option<&str> {
        self.lines
            .iter()
            .filter_map(Line::attribute)
            .filter(|(n, _)| *n == "fmtp")
            .filter_map(|(_, v)| v?.split_once(' '))
            .find(|(p, _)| *p == pt)
            .map(|(_, params)| params)
    }

    /// Removes payload types from the m= line and their rtpmap, fmtp and
    /// rtcp-fb lines.
    pub fn remove_payloads(&mut self, pts: &[String]) {
        if pts.is_empty() {
            return;
        }
        self.formats.retain(|f| !pts.contains(f));
        self.lines.retain(|l| match l.attribute() {
            Some(("rtpmap" | "fmtp" | "rtcp-fb", Some(v))) => {
                let pt = v.split(' ').next().unwrap_or_default();
                !pts.iter().any(|p| p == pt)
            }
            _ => true,
        });
    }

    /// Sets the `b=` lines of this section (replacing existing ones), placed
    /// where RFC 4566 wants them: after `i=` and `c=`, before `k=`/`a=`.
    pub fn set_bandwidth(&mut self, kbps: u32) {
        self.lines.retain(|l| l.kind != 'b');
        let at = self
            .lines
            .iter()
            .rposition(|l| l.kind == 'c' || l.kind == 'i')
            .map(|i| i + 1)
            .unwrap_or(0);
        self.lines.insert(at, Line::new('b', format!("AS:{kbps}")));
        self.lines.insert(
            at + 1,
            Line::new('b', format!("TIAS:{}", u64::from(kbps) * 1000)),
        );
    }
}

/// A whole SDP: session lines, then m-sections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sdp {
    /// The session-level lines (from `v=` to the first `m=`).
    pub session: Vec<Line>,
    /// The m-sections in order.
    pub media: Vec<MediaSection>,
}

impl Sdp {
    /// Parses an SDP. Line ends may be CRLF or LF; a trailing empty line is
    /// fine.
    pub fn parse(text: &str) -> Result<Sdp, SdpError> {
        if text.len() > MAX_SDP_BYTES {
            return Err(SdpError::TooLarge(format!("{} bytes", text.len())));
        }
        let mut session = Vec::new();
        let mut media: Vec<MediaSection> = Vec::new();
        let mut count = 0;
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                continue;
            }
            count += 1;
            if count > MAX_SDP_LINES {
                return Err(SdpError::TooLarge(format!(
                    "more than {MAX_SDP_LINES} lines"
                )));
            }
            let bad = || SdpError::BadLine {
                line: i + 1,
                text: line.chars().take(80).collect(),
            };
            let mut chars = line.chars();
            let kind = chars
                .next()
                .filter(|c| c.is_ascii_alphabetic())
                .ok_or_else(bad)?;
            if chars.next() != Some('=') {
                return Err(bad());
            }
            let value = &line[2..];
            if count == 1 && (kind != 'v' || value.trim() != "0") {
                return Err(SdpError::NoVersion);
            }
            if kind == 'm' {
                if media.len() >= MAX_MEDIA_SECTIONS {
                    return Err(SdpError::TooLarge(format!(
                        "more than {MAX_MEDIA_SECTIONS} m-sections"
                    )));
                }
                let mut fields = value.split_whitespace();
                let (Some(k), Some(port), Some(proto)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    return Err(SdpError::BadMediaLine(value.chars().take(80).collect()));
                };
                media.push(MediaSection {
                    kind: k.to_owned(),
                    port: port.to_owned(),
                    proto: proto.to_owned(),
                    formats: fields.map(str::to_owned).collect(),
                    lines: Vec::new(),
                });
            } else if let Some(m) = media.last_mut() {
                m.lines.push(Line::new(kind, value));
            } else {
                session.push(Line::new(kind, value));
            }
        }
        if count == 0 {
            return Err(SdpError::NoVersion);
        }
        Ok(Sdp { session, media })
    }

    /// The `o=` session id, which tells a new remote endpoint from a
    /// renegotiation of the same one.
    pub fn session_id(&self) -> Option<&str> {
        self.session
            .iter()
            .find(|l| l.kind == 'o')
            .and_then(|l| l.value.split_whitespace().nth(1))
    }

    /// Whether media flows (the 4.8.0 test): false only when every video
    /// section is inactive and every audio section inactive or sendonly.
    pub fn has_media_flowing(&self) -> bool {
        let audio_idle = self
            .media
            .iter()
            .filter(|m| m.kind == "audio")
            .all(|m| matches!(m.direction(), Direction::Inactive | Direction::Sendonly));
        let video_idle = self
            .media
            .iter()
            .filter(|m| m.kind == "video")
            .all(|m| m.direction() == Direction::Inactive);
        !(audio_idle && video_idle)
    }

    /// Sets the direction of every audio and video section (hold: inactive,
    /// unhold: sendrecv).
    pub fn set_all_directions(&mut self, d: Direction) {
        for m in self
            .media
            .iter_mut()
            .filter(|m| m.kind == "audio" || m.kind == "video")
        {
            m.set_direction(d);
        }
    }

    /// Makes every section that would flow `inactive`: a locally held call
    /// answers a remote offer without media (02-calls §4.6.2 step 3).
    pub fn deactivate(&mut self) {
        for m in &mut self.media {
            if m.explicit_direction()
                .is_some_and(|d| d != Direction::Inactive)
            {
                m.set_direction(Direction::Inactive);
            }
        }
    }

    /// Removes `a=ice-options:trickle` (Link signals no candidates) and every
    /// `a=group` line (4.8.0 never offers BUNDLE).
    pub fn remove_trickle_and_groups(&mut self) {
        let keep = |l: &Line| {
            !matches!(
                l.attribute(),
                Some(("group", _)) | Some(("ice-options", Some("trickle")))
            )
        };
        self.session.retain(keep);
        for m in &mut self.media {
            m.lines.retain(keep);
        }
    }

    /// The SDES remover: drops `a=crypto` from sections that also carry a
    /// DTLS fingerprint.
    pub fn remove_sdes(&mut self) {
        let session_fp = self
            .session
            .iter()
            .any(|l| matches!(l.attribute(), Some(("fingerprint", _))));
        for m in &mut self.media {
            let fp = session_fp || m.attr("fingerprint").is_some();
            if fp && m.attr("crypto").is_some() {
                m.lines
                    .retain(|l| !matches!(l.attribute(), Some(("crypto", _))));
            }
        }
    }

    /// The codec remover (`sdpHandlers.createCodecRemover`): removes the
    /// payload types of the named codecs (optionally only those whose fmtp
    /// has all the given parameters) and their RTX payloads (`apt=`).
    pub fn remove_codecs(&mut self, specs: &[CodecSpec]) {
        for m in &mut self.media {
            let codecs = m.codecs();
            let mut doomed: Vec<String> = codecs
                .iter()
                .filter(|(pt, name)| {
                    specs.iter().any(|s| {
                        s.name.eq_ignore_ascii_case(name)
                            && s.fmtp_params.iter().all(|p| {
                                m.fmtp(pt)
                                    .is_some_and(|f| f.split(';').any(|x| x.trim() == p.trim()))
                            })
                    })
                })
                .map(|(pt, _)| pt.clone())
                .collect();
            let rtx: Vec<String> = codecs
                .keys()
                .filter(|pt| {
                    m.fmtp(pt).is_some_and(|f| {
                        f.split(';').any(|x| {
                            x.trim()
                                .strip_prefix("apt=")
                                .is_some_and(|apt| doomed.iter().any(|d| d == apt))
                        })
                    })
                })
                .cloned()
                .collect();
            doomed.extend(rtx);
            m.remove_payloads(&doomed);
        }
    }

    /// The bandwidth handler for local SDPs: `b=AS` and `b=TIAS` on every
    /// audio and video section.
    pub fn set_bandwidth(&mut self, bandwidth: Bandwidth) {
        for m in &mut self.media {
            match m.kind.as_str() {
                "audio" => m.set_bandwidth(bandwidth.audio),
                "video" => m.set_bandwidth(bandwidth.video),
                _ => {}
            }
        }
    }
}

impl fmt::Display for Sdp {
    /// The SDP text with CRLF line ends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.session {
            write!(f, "{}={}\r\n", l.kind, l.value)?;
        }
        for m in &self.media {
            write!(f, "m={} {} {}", m.kind, m.port, m.proto)?;
            for fmt_ in &m.formats {
                write!(f, " {fmt_}")?;
            }
            f.write_str("\r\n")?;
            for l in &m.lines {
                write!(f, "{}={}\r\n", l.kind, l.value)?;
            }
        }
        Ok(())
    }
}

/// A codec to remove (`CodecSpec`): a name, and optionally fmtp parameters
/// that must all be present for a payload type to go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodecSpec {
    /// Codec name as in `a=rtpmap` (`H264`), compared case-insensitively.
    pub name: String,
    /// `a=fmtp` parameters (`packetization-mode=0`).
    #[serde(default)]
    pub fmtp_params: Vec<String>,
}

impl CodecSpec {
    /// Every payload type of a codec.
    pub fn named(name: impl Into<String>) -> Self {
        CodecSpec {
            name: name.into(),
            fmtp_params: Vec::new(),
        }
    }
}

/// `BandwidthControls` in kbps; missing values default to 5000, as in 4.8.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// Audio kbps.
    pub audio: u32,
    /// Video kbps.
    pub video: u32,
}

impl Default for Bandwidth {
    fn default() -> Self {
        Bandwidth {
            audio: 5000,
            video: 5000,
        }
    }
}

/// What a remote offer does compared with the previous remote SDP
/// (02-calls §4.6.3), by the rules in their order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum RemoteOperation {
    /// Every section went inactive.
    Hold,
    /// Media started flowing again.
    Unhold,
    /// Music on hold started.
    StartMoh,
    /// Media was added.
    AddMedia,
    /// Music on hold stopped.
    StopMoh,
    /// Media was removed.
    RemoveMedia,
    /// Nothing changed.
    NoChange,
    /// None of the above.
    Unknown,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flag {
    Start,
    Stop,
    Same,
}

fn flag(before: bool, after: bool) -> Flag {
    match (before, after) {
        (false, true) => Flag::Start,
        (true, false) => Flag::Stop,
        _ => Flag::Same,
    }
}

/// Classifies `new` (a remote offer) against `old` (the previous remote
/// SDP), per section keyed by `a=mid` (the position when a section has no
/// mid). A section without a direction counts as `sendrecv` (4.8.0 crashes
/// on it).
pub fn classify(old: &Sdp, new: &Sdp) -> RemoteOperation {
    let key = |i: usize, m: &MediaSection| {
        m.mid()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("#{i}"))
    };
    let before: BTreeMap<String, (&MediaSection, Direction)> = old
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| (key(i, m), (m, m.direction())))
        .collect();
    let after: BTreeMap<String, (&MediaSection, Direction)> = new
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| (key(i, m), (m, m.direction())))
        .collect();
    let added: Vec<&Direction> = after
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .map(|(_, (_, d))| d)
        .collect();
    let removed = before.keys().filter(|k| !after.contains_key(*k)).count();
    struct Changed<'a> {
        kind: &'a str,
        s: Flag,
        r: Flag,
        now: Direction,
    }
    let mut changed: Vec<Changed<'_>> = Vec::new();
    let mut unchanged: Vec<Direction> = Vec::new();
    for (k, (m, d_new)) in &after {
        if let Some((_, d_old)) = before.get(k) {
            if d_old.sends() != d_new.sends() || d_old.receives() != d_new.receives() {
                changed.push(Changed {
                    kind: &m.kind,
                    s: flag(d_old.sends(), d_new.sends()),
                    r: flag(d_old.receives(), d_new.receives()),
                    now: *d_new,
                });
            } else {
                unchanged.push(*d_new);
            }
        }
    }
    let flowing = |d: &Direction| d.sends() && d.receives();
    let was_flowing = before.values().any(|(_, d)| flowing(d));
    let is_flowing = after.values().any(|(_, d)| flowing(d));
    let off = |d: &Direction| !d.sends() && !d.receives();
    let structural = added.is_empty() && removed == 0;
    let all_unchanged_off = unchanged.iter().all(off);

    if was_flowing
        && !is_flowing
        && structural
        && !changed.is_empty()
        && changed.iter().all(|c| off(&c.now))
        && all_unchanged_off
    {
        return RemoteOperation::Hold;
    }
    if !was_flowing
        && is_flowing
        && structural
        && !changed.is_empty()
        && changed
            .iter()
            .all(|c| c.s != Flag::Stop && c.r != Flag::Stop)
        && all_unchanged_off
    {
        return RemoteOperation::Unhold;
    }
    let add_media = removed == 0
        && (!added.is_empty() || !changed.is_empty())
        && added.iter().all(|d| d.sends())
        && changed
            .iter()
            .all(|c| c.s == Flag::Start && c.r == Flag::Same);
    if add_media {
        if added.is_empty()
            && changed.len() == 1
            && changed[0].kind == "audio"
            && !changed[0].now.receives()
            && all_unchanged_off
        {
            return RemoteOperation::StartMoh;
        }
        return RemoteOperation::AddMedia;
    }
    let remove_media = structural
        && !changed.is_empty()
        && changed
            .iter()
            .all(|c| c.s == Flag::Stop && c.r != Flag::Stop);
    if remove_media {
        if changed.len() == 1
            && changed[0].kind == "audio"
            && !changed[0].now.receives()
            && all_unchanged_off
        {
            return RemoteOperation::StopMoh;
        }
        return RemoteOperation::RemoveMedia;
    }
    if structural && changed.is_empty() && !after.is_empty() {
        return RemoteOperation::NoChange;
    }
    RemoteOperation::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(sections: &[(&str, &str, &str)]) -> Sdp {
        let mut text = String::from("v=0\r\no=- 42 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        for (kind, mid, dir) in sections {
            text.push_str(&format!("m={kind} 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\na={dir}\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"));
        }
        Sdp::parse(&text).unwrap()
    }

    #[test]
    fn round_trips_losslessly() {
        let text = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 126\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n";
        let s = Sdp::parse(text).unwrap();
        assert_eq!(s.to_string(), text);
        assert_eq!(s.session_id(), Some("1"));
        assert_eq!(Sdp::parse(&text.replace("\r\n", "\n")).unwrap(), s);
    }

    #[test]
    fn hostile_input_is_a_typed_error() {
        assert_eq!(Sdp::parse(""), Err(SdpError::NoVersion));
        assert_eq!(Sdp::parse("x=1\r\n"), Err(SdpError::NoVersion));
        assert!(matches!(
            Sdp::parse("v=0\r\nnot a line\r\n"),
            Err(SdpError::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            Sdp::parse("v=0\r\nm=audio\r\n"),
            Err(SdpError::BadMediaLine(_))
        ));
        assert!(matches!(
            Sdp::parse(&"v=0\r\n".repeat(100_000)),
            Err(SdpError::TooLarge(_))
        ));
        assert!(matches!(
            Sdp::parse(&format!("v=0\r\n{}", "m=audio 9 RTP/AVP 0\r\n".repeat(65))),
            Err(SdpError::TooLarge(_))
        ));
        assert!(Sdp::parse("v=0\r\n\u{e9}=x\r\n").is_err());
    }

    #[test]
    fn classification_follows_the_rules() {
        let live = sdp(&[("audio", "0", "sendrecv"), ("video", "1", "sendrecv")]);
        let held = sdp(&[("audio", "0", "inactive"), ("video", "1", "inactive")]);
        assert_eq!(classify(&live, &held), RemoteOperation::Hold);
        assert_eq!(classify(&held, &live), RemoteOperation::Unhold);
        assert_eq!(classify(&live, &live), RemoteOperation::NoChange);
        assert_eq!(classify(&held, &held), RemoteOperation::NoChange);
        // A SIP-style sendonly hold is not a hold.
        let sendonly = sdp(&[("audio", "0", "sendonly"), ("video", "1", "sendonly")]);
        assert_eq!(classify(&live, &sendonly), RemoteOperation::Unknown);
        let audio = sdp(&[("audio", "0", "sendrecv")]);
        assert_eq!(classify(&audio, &live), RemoteOperation::AddMedia);
        let recv_video = sdp(&[("audio", "0", "sendrecv"), ("video", "1", "recvonly")]);
        assert_eq!(classify(&live, &recv_video), RemoteOperation::RemoveMedia);
        let moh = sdp(&[("audio", "0", "sendonly"), ("video", "1", "inactive")]);
        assert_eq!(classify(&held, &moh), RemoteOperation::StartMoh);
        assert_eq!(classify(&moh, &held), RemoteOperation::StopMoh);
        assert_eq!(classify(&live, &audio), RemoteOperation::Unknown);
        assert!(live.has_media_flowing() && !held.has_media_flowing() && !moh.has_media_flowing());
    }

    #[test]
    fn direction_rewrites() {
        let mut s = sdp(&[("audio", "0", "sendrecv"), ("video", "1", "recvonly")]);
        s.set_all_directions(Direction::Inactive);
        assert!(s.media.iter().all(|m| m.direction() == Direction::Inactive));
        let mut s = sdp(&[("audio", "0", "sendrecv")]);
        s.deactivate();
        assert_eq!(s.media[0].direction(), Direction::Inactive);
        let mut bare = Sdp::parse("v=0\r\nm=audio 9 RTP/AVP 0\r\n").unwrap();
        assert_eq!(bare.media[0].direction(), Direction::Sendrecv);
        bare.set_all_directions(Direction::Inactive);
        assert!(bare.to_string().contains("a=inactive\r\n"));
    }

    #[test]
    fn codec_remover_takes_rtx_along_and_honours_fmtp() {
        let text = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1\r\na=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=rtpmap:104 H264/90000\r\na=fmtp:104 packetization-mode=0\r\n";
        let mut s = Sdp::parse(text).unwrap();
        s.remove_codecs(&[CodecSpec {
            name: "h264".into(),
            fmtp_params: vec!["packetization-mode=1".into()],
        }]);
        assert_eq!(s.media[0].formats, ["96", "97", "104"]);
        assert!(!s.to_string().contains(":102 ") && !s.to_string().contains(":103 "));
        s.remove_codecs(&[CodecSpec::named("H264")]);
        assert_eq!(s.media[0].formats, ["96", "97"]);
    }

    #[test]
    fn bandwidth_sdes_trickle_and_groups() {
        let text = "v=0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\nb=AS:30\r\na=ice-options:trickle\r\na=fingerprint:sha-256 AA\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        let mut s = Sdp::parse(text).unwrap();
        s.set_bandwidth(Bandwidth {
            audio: 64,
            video: 500,
        });
        s.remove_sdes();
        s.remove_trickle_and_groups();
        let out = s.to_string();
        assert!(
            out.contains("c=IN IP4 0.0.0.0\r\nb=AS:64\r\nb=TIAS:64000\r\na=fingerprint"),
            "{out}"
        );
        assert!(
            out.contains("m=video 9 UDP/TLS/RTP/SAVPF 96\r\nb=AS:500\r\nb=TIAS:500000\r\na=mid:1")
        );
        assert!(
            !out.contains("b=AS:30")
                && !out.contains("crypto")
                && !out.contains("trickle")
                && !out.contains("group")
        );
    }
}
