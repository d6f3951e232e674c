//! The call and media API: `client.call.*` and `client.media.*` of the JS
//! SDK, as the [`Calls`] and [`Media`] namespaces of a [`Client`].

use std::sync::PoisonError;

use kandy_core::call::media::{MediaOptions, Track, TrackId};
use kandy_core::call::{BandwidthOptions, Call, CallCommand, CallId};
use kandy_core::{Command, Rng};

use crate::{Client, Error};

/// The tone length `send_dtmf` uses when given none (ms), as in the JS SDK.
pub const DTMF_DURATION_MS: u32 = 100;
/// The gap between tones `send_dtmf` uses when given none (ms).
pub const DTMF_GAP_MS: u32 = 70;

/// Mixed into the client's seed so that call ids do not repeat the core's
/// own random sequence (which mints the ids of incoming and joined calls).
const SALT: u64 = 0x6361_6c6c_2d69_6473;

/// Mints the ids of outgoing calls. The JS SDK returns a call's id from
/// `make` synchronously; here the id is minted before the command reaches
/// the driver, so it is part of the recorded input and a replay uses the
/// same one. The counter makes ids unique within the client; the random part
/// (from the client's seed) keeps ids of different clients and runs apart
/// in logs. The `call-` prefix and the dashes keep them apart from the
/// core's 16-hex-digit ids.
#[derive(Debug)]
pub(crate) struct IdMinter {
    next: u64,
    rng: Rng,
}

impl IdMinter {
    pub(crate) fn new(seed: u64) -> Self {
        IdMinter {
            next: 0,
            rng: Rng::new(seed ^ SALT),
        }
    }

    fn mint(&mut self) -> CallId {
        self.next += 1;
        let random = self.rng.next_u64() >> 32;
        CallId(format!("call-{}-{random:08x}", self.next))
    }
}

/// The options of [`Calls::make`] (`CallOptions` of the JS SDK). Start from
/// `MakeOptions::default()` and change fields, or chain the setters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MakeOptions {
    /// Bandwidth limits for what we receive (kbps; 5000 when unset).
    pub bandwidth: BandwidthOptions,
    /// A display name the far end sees (`Name<sip:...>` in `from`).
    pub display_name: Option<String>,
}

impl MakeOptions {
    /// No display name, default bandwidth.
    pub fn new() -> Self {
        MakeOptions::default()
    }

    /// With bandwidth limits.
    pub fn bandwidth(mut self, bandwidth: BandwidthOptions) -> Self {
        self.bandwidth = bandwidth;
        self
    }

    /// With a display name.
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
}

/// `client.call.*` of the JS SDK; from [`Client::call`].
///
/// As in the JS SDK, an operation's **outcome arrives as events**, not as
/// the method's result. A method resolves as soon as the client accepted
/// the operation (it has started: media requested, request sent), with
/// [`Error::Refused`] when the client refused it outright because it is
/// illegal in the call's state or its arguments are invalid (nothing
/// happened then), or [`Error::Closed`] once the client stopped. What
/// happens next comes on [`Client::events`]:
///
/// | operation | events |
/// |---|---|
/// | `make` | `call:start` once the gateway has the call, then `call:stateChange` (Ringing, Connected, or Ended with the error) |
/// | incoming call | `call:receive`, then the `call:stateChange`s of `answer`, `reject`, ... |
/// | `answer`, `hold`, `unhold`, `end`, `reject`, `ignore`, `forward` | `call:stateChange`, with `error` when it failed |
/// | `add_media`, `remove_media` | `call:newMedia`, `call:removedMedia` |
/// | `replace_track` | `call:trackReplaced` |
/// | `get_stats` | `call:statsReceived` |
/// | transfers | `call:stateChange` of both calls (9905 or -1 transitions) |
/// | `join` | `call:join` with the new call's id, then its `call:stateChange`s |
///
/// Subscribe to events before issuing the operation whose events you want.
/// Failures carry the JS SDK's codes: `call:4` when local media could not be
/// had (also when the client has no media engine), `call:2` when the
/// gateway refused, ...
#[derive(Clone, Copy, Debug)]
pub struct Calls<'a> {
    client: &'a Client,
}

impl<'a> Calls<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Calls { client }
    }

    async fn send(&self, command: CallCommand) -> Result<(), Error> {
        self.client.command(Command::Call(Box::new(command))).await
    }

    /// `make(destination, media, options)`: calls `destination` (a SIP or
    /// TEL address, or a bare user of our domain) and returns the new
    /// call's id once the client accepted the call. It has not connected
    /// yet: `call:start` follows when the gateway has it, then
    /// `call:stateChange` to Ringing and Connected (or Ended, with the
    /// error: `call:4` when no media could be had). Refused when not
    /// connected, without audio, or at `call.maxCalls`.
    pub async fn make(
        &self,
        destination: impl Into<String>,
        media: MediaOptions,
        options: MakeOptions,
    ) -> Result<CallId, Error> {
        let call_id = self
            .client
            .inner
            .call_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .mint();
        self.send(CallCommand::Make {
            call_id: call_id.clone(),
            destination: destination.into(),
            media,
            bandwidth: options.bandwidth,
            display_name: options.display_name,
        })
        .await?;
        Ok(call_id)
    }

    /// `answer(callId, media, options)`: answers a ringing incoming call
    /// (announced with `call:receive`). Connected follows as a
    /// `call:stateChange`.
    pub async fn answer(
        &self,
        id: &CallId,
        media: MediaOptions,
        bandwidth: BandwidthOptions,
    ) -> Result<(), Error> {
        self.send(CallCommand::Answer {
            call_id: id.clone(),
            media,
            bandwidth,
        })
        .await
    }

    /// `reject(callId)`: declines a ringing incoming call; the caller is
    /// told. Ended follows once the gateway agreed.
    pub async fn reject(&self, id: &CallId) -> Result<(), Error> {
        self.send(CallCommand::Reject {
            call_id: id.clone(),
        })
        .await
    }

    /// `ignore(callId)`: ends a ringing incoming call here only; the caller
    /// keeps ringing until it gives up.
    pub async fn ignore(&self, id: &CallId) -> Result<(), Error> {
        self.send(CallCommand::Ignore {
            call_id: id.clone(),
        })
        .await
    }

    /// `forward(callId, destination)`: sends a ringing incoming call on.
    pub async fn forward(&self, id: &CallId, destination: impl Into<String>) -> Result<(), Error> {
        self.send(CallCommand::Forward {
            call_id: id.clone(),
            destination: destination.into(),
        })
        .await
    }

    /// `end(callId)`: hangs up. The call is Ended at once (the gateway is
    /// told in the background).
    pub async fn end(&self, id: &CallId) -> Result<(), Error> {
        self.send(CallCommand::End {
            call_id: id.clone(),
        })
        .await
    }

    /// `hold(callId)`: puts a connected call on hold. On Hold (with
    /// `local_hold`) follows once the far end agreed.
    pub async fn hold(&self, id: &CallId) -> Result<(), Error> {
        self.send(CallCommand::Hold {
            call_id: id.clone(),
        })
        .await
    }

    /// `unhold(callId)`: takes a call we hold off hold.
    pub async fn unhold(&self, id: &CallId) -> Result<(), Error> {
        self.send(CallCommand::Unhold {
            call_id: id.clone(),
        })
        .await
    }

    /// `addMedia(callId, media, options)`: adds local tracks (video, ...);
    /// `call:newMedia` follows.
    pub async fn add_media(
        &self,
        id: &CallId,
        media: MediaOptions,
        bandwidth: BandwidthOptions,
    ) -> Result<(), Error> {
        self.send(CallCommand::AddMedia {
            call_id: id.clone(),
            media,
            bandwidth,
        })
        .await
    }

    /// `removeMedia(callId, trackIds, options)`: removes local tracks;
    /// `call:removedMedia` follows.
    pub async fn remove_media(
        &self,
        id: &CallId,
        tracks: impl IntoIterator<Item = TrackId>,
        bandwidth: BandwidthOptions,
    ) -> Result<(), Error> {
        self.send(CallCommand::RemoveMedia {
            call_id: id.clone(),
            tracks: tracks.into_iter().collect(),
            bandwidth,
        })
        .await
    }

    /// `replaceTrack(callId, trackId, media)`: gives a local track a new
    /// source (exactly one kind of media) without renegotiating;
    /// `call:trackReplaced` follows.
    pub async fn replace_track(
        &self,
        id: &CallId,
        track: &TrackId,
        media: MediaOptions,
    ) -> Result<(), Error> {
        self.send(CallCommand::ReplaceTrack {
            call_id: id.clone(),
            track: track.clone(),
            media,
        })
        .await
    }

    /// `sendDTMF(callId, tones, duration, intertoneGap)`: plays tones
    /// (`0-9`, `*`, `#`, `A-D`, `,` for a pause) on a ringing or connected
    /// call. `None` takes the JS SDK's defaults, [`DTMF_DURATION_MS`] and
    /// [`DTMF_GAP_MS`]. No event follows.
    pub async fn send_dtmf(
        &self,
        id: &CallId,
        tones: impl Into<String>,
        duration_ms: Option<u32>,
        gap_ms: Option<u32>,
    ) -> Result<(), Error> {
        self.send(CallCommand::SendDtmf {
            call_id: id.clone(),
            tones: tones.into(),
            duration_ms: duration_ms.unwrap_or(DTMF_DURATION_MS),
            gap_ms: gap_ms.unwrap_or(DTMF_GAP_MS),
        })
        .await
    }

    /// `getStats(callId, trackId)`: asks the media engine for statistics of
    /// one track or the whole call; the report arrives as
    /// `call:statsReceived`.
    pub async fn get_stats(&self, id: &CallId, track: Option<&TrackId>) -> Result<(), Error> {
        self.send(CallCommand::GetStats {
            call_id: id.clone(),
            track: track.cloned(),
        })
        .await
    }

    /// `directTransfer(callId, destination)`: transfers a held call to
    /// `destination`. The call ends with a 9905 transition when it worked,
    /// or reports -1 with the error.
    pub async fn direct_transfer(
        &self,
        id: &CallId,
        destination: impl Into<String>,
    ) -> Result<(), Error> {
        self.send(CallCommand::DirectTransfer {
            call_id: id.clone(),
            destination: destination.into(),
        })
        .await
    }

    /// `consultativeTransfer(callId, otherCallId)`: connects the far ends
    /// of two held calls to each other.
    pub async fn consultative_transfer(&self, id: &CallId, other: &CallId) -> Result<(), Error> {
        self.send(CallCommand::ConsultativeTransfer {
            call_id: id.clone(),
            other: other.clone(),
        })
        .await
    }

    /// `join(callId, otherCallId)`: joins two held calls into a new
    /// audio-only call, whose id arrives with `call:join`.
    pub async fn join(&self, id: &CallId, other: &CallId) -> Result<(), Error> {
        self.send(CallCommand::Join {
            call_id: id.clone(),
            other: other.clone(),
        })
        .await
    }

    /// `getAll()`: every call of the session, ended ones included (up to
    /// `call.maxEndedCalls`), as copies.
    pub async fn get_all(&self) -> Result<Vec<Call>, Error> {
        self.client
            .query(|core| core.calls().into_iter().cloned().collect())
            .await
    }

    /// `getById(callId)`: a copy of the call, if the client knows it.
    pub async fn get_by_id(&self, id: &CallId) -> Result<Option<Call>, Error> {
        let id = id.clone();
        self.client.query(move |core| core.call(&id).cloned()).await
    }
}

/// `client.media.*` of the JS SDK; from [`Client::media`]. Like [`Calls`],
/// commands resolve once accepted (`media:muted` / `media:unmuted` follow
/// in the same step) and are refused for unknown tracks.
#[derive(Clone, Copy, Debug)]
pub struct Media<'a> {
    client: &'a Client,
}

impl<'a> Media<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Media { client }
    }

    /// `muteTracks(trackIds)`: silence (or black frames) instead of the
    /// tracks' media, local or remote tracks of live calls.
    pub async fn mute_tracks(
        &self,
        tracks: impl IntoIterator<Item = TrackId>,
    ) -> Result<(), Error> {
        self.client
            .command(Command::Call(Box::new(CallCommand::MuteTracks {
                tracks: tracks.into_iter().collect(),
            })))
            .await
    }

    /// `unmuteTracks(trackIds)`.
    pub async fn unmute_tracks(
        &self,
        tracks: impl IntoIterator<Item = TrackId>,
    ) -> Result<(), Error> {
        self.client
            .command(Command::Call(Box::new(CallCommand::UnmuteTracks {
                tracks: tracks.into_iter().collect(),
            })))
            .await
    }

    /// `getTrackById(trackId)`: the track as last known, from a live call
    /// if one has it, else from the ended call that had it.
    pub async fn get_track_by_id(&self, id: &TrackId) -> Result<Option<Track>, Error> {
        let id = id.clone();
        self.client
            .query(move |core| {
                let calls = core.calls();
                let find = |live: bool| {
                    calls
                        .iter()
                        .filter(|c| c.ended() != live)
                        .find_map(|c| c.tracks.get(&id))
                };
                find(true).or_else(|| find(false)).cloned()
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_are_unique_per_client_and_follow_the_seed() {
        let mut a = IdMinter::new(7);
        let ids: Vec<CallId> = (0..3).map(|_| a.mint()).collect();
        assert!(ids[0].0.starts_with("call-1-") && ids[2].0.starts_with("call-3-"));
        assert_ne!(ids[0], ids[1]);
        assert_eq!(IdMinter::new(7).mint(), ids[0]);
        assert_ne!(IdMinter::new(8).mint(), ids[0]);
    }
}
