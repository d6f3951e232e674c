//! Application SDP handlers (`call.sdpHandlers`, `SdpHandlerFunction`).
//!
//! The core cannot hold functions and stay replayable, so it asks the
//! driver to run them (`MediaOp::RunSdpHandlers`) and receives the result as
//! an input that a recording keeps. Handlers run in the order they were
//! registered, before the built-in handlers (H264 and SDES removal,
//! bandwidth lines), on local and remote SDPs alike.

use kandy_core::call::media::{SdpEndpoint, SdpKind};
use kandy_core::call::sdp::{Bandwidth, CodecSpec, Sdp};

/// What an SDP handler is looking at (`SdpHandlerInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SdpHandlerInfo {
    /// Offer or answer.
    pub kind: SdpKind,
    /// Ours (about to be sent) or the far end's (about to be applied).
    pub endpoint: SdpEndpoint,
    /// The call's bandwidth settings.
    pub bandwidth: Bandwidth,
}

/// An SDP handler: the SDP so far, what it is, and the SDP as it was before
/// any handler ran; returns the SDP to go on with.
pub type SdpHandler = Box<dyn FnMut(Sdp, &SdpHandlerInfo, &Sdp) -> Sdp + Send>;

/// `sdpHandlers.createCodecRemover(codecs)`: a handler removing the given
/// codecs (and their RTX payloads) from every SDP.
pub fn codec_remover(codecs: Vec<CodecSpec>) -> SdpHandler {
    Box::new(move |mut sdp: Sdp, _: &SdpHandlerInfo, _: &Sdp| {
        sdp.remove_codecs(&codecs);
        sdp
    })
}

/// Runs the handlers over an SDP text. An SDP that does not parse is handed
/// back unchanged: the core refuses it with a typed error.
pub(crate) fn run(handlers: &mut [SdpHandler], text: String, info: &SdpHandlerInfo) -> String {
    let Ok(original) = Sdp::parse(&text) else {
        return text;
    };
    let mut sdp = original.clone();
    for h in handlers.iter_mut() {
        sdp = h(sdp, info, &original);
    }
    sdp.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_run_in_order_and_the_codec_remover_removes() {
        let text = "v=0\r\nm=video 9 RTP/AVP 96 102\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n".to_string();
        let info = SdpHandlerInfo {
            kind: SdpKind::Offer,
            endpoint: SdpEndpoint::Local,
            bandwidth: Bandwidth::default(),
        };
        let mut handlers = vec![
            codec_remover(vec![CodecSpec::named("VP8")]),
            Box::new(|mut s: Sdp, i: &SdpHandlerInfo, o: &Sdp| {
                assert_eq!(
                    o.media[0].formats,
                    ["96", "102"],
                    "the original is untouched"
                );
                assert_eq!(i.kind, SdpKind::Offer);
                s.session.push(kandy_core::call::sdp::Line {
                    kind: 'a',
                    value: "x-seen".into(),
                });
                s
            }) as SdpHandler,
        ];
        let out = run(&mut handlers, text, &info);
        assert!(
            out.contains("m=video 9 RTP/AVP 102\r\n")
                && out.contains("a=x-seen")
                && !out.contains("VP8")
        );
        assert_eq!(run(&mut handlers, "junk".into(), &info), "junk");
    }
}
