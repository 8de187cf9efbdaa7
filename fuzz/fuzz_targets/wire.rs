//! Decode arbitrary bytes as the runners' and controllers' wire frames: no
//! panic, and what decodes encodes back to the same frame.
#![no_main]

use halo_proto::wire::{decode, encode, frame_len, Request, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(header) = data.get(..4) {
        let mut h = [0u8; 4];
        h.copy_from_slice(header);
        let _ = frame_len(h);
    }
    if let Ok(req) = decode::<Request>(data) {
        let again = encode(&req).expect("a decoded request encodes");
        let back: Request = decode(again.get(4..).unwrap_or_default()).expect("and decodes");
        assert_eq!(back, req);
    }
    let _ = decode::<Response>(data);
});
