//! Fuzz target: arbitrary bytes, fed in chunks whose sizes come from the input itself, must
//! never panic the frame decoder or the packet decoder, and every delivered payload must
//! re-encode to a frame that decodes to the same payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::framing::max_frame_len;
use protocol::{FrameDecoder, MAX_FRAME, Packet, encode_frame};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk_seed, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk_seed).max(1);
    let mut decoder = FrameDecoder::<MAX_FRAME>::new();
    let mut delivered = 0u64;
    for piece in stream.chunks(chunk) {
        let mut input = piece;
        while let Some(result) = decoder.feed(&mut input) {
            let Ok(payload) = result else { continue };
            delivered += 1;
            // The packet decoder must refuse garbage without panicking.
            let _ = Packet::from_payload(payload);
            // Re-framing a delivered payload must give it back unchanged.
            let mut frame = vec![0; max_frame_len(payload.len())];
            let n = encode_frame(payload, &mut frame).expect("a decoded payload always fits");
            let mut again = FrameDecoder::<MAX_FRAME>::new();
            let mut bytes = &frame[..n];
            let back = again.feed(&mut bytes).expect("one frame").expect("valid");
            assert_eq!(back, payload);
        }
    }
    assert_eq!(decoder.stats().frames, delivered);
});
