//! Arbitrary REST requests into the gateway model: no panic, a status in
//! range, and the model's invariants hold after each one.
#![no_main]

use kandy_gateway::{Gateway, GatewayConfig, HttpRequest, Users};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut gw = Gateway::new(GatewayConfig::default(), Users::builtin(), [1; 32]);
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let method = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default().to_vec();
    let req = HttpRequest::new(method, path)
        .with_header("authorization", "basic YWxpY2VAZXhhbXBsZS5jb206YWxpY2U=")
        .with_body(body);
    let resp = gw.handle_http(0, req);
    assert!((100..600).contains(&resp.status));
    gw.check_invariants().expect("invariants");
});
