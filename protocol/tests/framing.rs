//! Framing: encode/decode, every split of a stream into two chunks, random multi-way splits,
//! error counters (CRC, oversize, COBS, too short), resynchronisation after garbage, and a
//! decoder fuzz proptest with random and mutated streams.

use proptest::prelude::*;

use protocol::framing::{CRC32, max_frame_len};
use protocol::{DecoderStats, FrameDecoder, FrameError, MAX_FRAME, MAX_PAYLOAD, encode_frame};

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0; max_frame_len(payload.len())];
    let n = encode_frame(payload, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Feeds `chunks` in order and collects every verified payload and every error.
fn decode_chunks<const N: usize>(
    decoder: &mut FrameDecoder<N>,
    chunks: &[&[u8]],
) -> (Vec<Vec<u8>>, Vec<FrameError>) {
    let mut payloads = Vec::new();
    let mut errors = Vec::new();
    for chunk in chunks {
        let mut input = *chunk;
        while let Some(result) = decoder.feed(&mut input) {
            match result {
                Ok(p) => payloads.push(p.to_vec()),
                Err(e) => errors.push(e),
            }
        }
        assert!(
            input.is_empty(),
            "feed returns None only when input is used up"
        );
    }
    (payloads, errors)
}

fn sample_payloads() -> Vec<Vec<u8>> {
    vec![
        vec![1],
        vec![0],
        vec![0, 0, 0],
        b"hello".to_vec(),
        (0..=255u8).collect(),
        vec![0xff; 600],
        (0..3000u32).map(|i| (i % 7) as u8).collect(),
    ]
}

#[test]
fn frames_contain_no_zero_but_the_delimiter() {
    for p in sample_payloads() {
        let f = frame(&p);
        assert_eq!(f.last(), Some(&0));
        assert!(!f[..f.len() - 1].contains(&0));
        assert!(f.len() <= max_frame_len(p.len()));
    }
}

#[test]
fn encode_refuses_oversized_payload_and_small_buffer() {
    let big = vec![1u8; MAX_PAYLOAD + 1];
    let mut out = vec![0; MAX_FRAME * 2];
    assert_eq!(
        encode_frame(&big, &mut out),
        Err(FrameError::PayloadTooLarge {
            len: MAX_PAYLOAD + 1
        })
    );
    let mut small = [0u8; 4];
    assert!(matches!(
        encode_frame(b"hello", &mut small),
        Err(FrameError::OutputTooSmall { .. })
    ));
    let max = vec![0x55; MAX_PAYLOAD];
    let n = encode_frame(&max, &mut out[..MAX_FRAME]).unwrap();
    assert!(n <= MAX_FRAME);
}

/// A stream of several frames is decoded identically however it is cut in two.
#[test]
fn every_split_into_two_chunks() {
    let payloads = sample_payloads();
    let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
    for cut in 0..=stream.len() {
        let mut decoder = FrameDecoder::<MAX_FRAME>::new();
        let (got, errors) = decode_chunks(&mut decoder, &[&stream[..cut], &stream[cut..]]);
        assert!(errors.is_empty(), "cut at {cut}: {errors:?}");
        assert_eq!(got, payloads, "cut at {cut}");
    }
}

/// One byte at a time, and the whole stream at once (well over 64 KiB).
#[test]
fn byte_at_a_time_and_all_at_once() {
    let payloads: Vec<Vec<u8>> = (0..40u32)
        .map(|i| (0..(i * 97 % 4000 + 1)).map(|j| (i ^ j) as u8).collect())
        .collect();
    let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
    assert!(stream.len() > 64 * 1024);

    let mut decoder = FrameDecoder::<MAX_FRAME>::new();
    let singles: Vec<&[u8]> = stream.chunks(1).collect();
    let (got, errors) = decode_chunks(&mut decoder, &singles);
    assert!(errors.is_empty());
    assert_eq!(got, payloads);

    let mut decoder = FrameDecoder::<MAX_FRAME>::new();
    let (got, errors) = decode_chunks(&mut decoder, &[&stream]);
    assert!(errors.is_empty());
    assert_eq!(got, payloads);
    assert_eq!(decoder.stats().frames, payloads.len() as u64);
}

#[test]
fn crc_error_is_reported_and_counted() {
    let mut f = frame(b"temperature 31.5");
    f[3] ^= 0x01; // still no zero byte, so still one frame, but the CRC breaks
    let good = frame(b"next");
    let mut decoder = FrameDecoder::<MAX_FRAME>::new();
    let (got, errors) = decode_chunks(&mut decoder, &[&f, &good]);
    assert_eq!(got, vec![b"next".to_vec()]);
    assert!(matches!(errors[..], [FrameError::Crc { .. }]), "{errors:?}");
    let stats = decoder.stats();
    assert_eq!(stats.crc_errors, 1);
    assert_eq!(stats.frames, 1);
    assert_eq!(stats.bytes_discarded, (f.len() - 1) as u64);
}

#[test]
fn oversize_frame_is_dropped_and_counted_then_decoder_recovers() {
    const N: usize = 64;
    let big = frame(&[7u8; 200]);
    let good = frame(b"ok");
    let mut decoder = FrameDecoder::<N>::new();
    let (got, errors) = decode_chunks(&mut decoder, &[&big[..50], &big[50..], &good]);
    assert_eq!(got, vec![b"ok".to_vec()]);
    assert_eq!(errors, vec![FrameError::Oversize { limit: N }]);
    let stats = decoder.stats();
    assert_eq!(stats.oversize, 1);
    assert_eq!(stats.bytes_discarded, (big.len() - 1) as u64);
    // Exactly N encoded bytes still fit.
    let mut decoder = FrameDecoder::<N>::new();
    let payload = vec![9u8; N - 1 - 4]; // COBS adds 1 byte for a short zero-free run
    let exact = frame(&payload);
    assert_eq!(exact.len() - 1, N);
    let (got, errors) = decode_chunks(&mut decoder, &[&exact]);
    assert!(errors.is_empty());
    assert_eq!(got, vec![payload]);
}

#[test]
fn cobs_and_too_short_errors() {
    // 0x05 promises 4 more bytes, only 1 follows before the delimiter.
    let bad_cobs = [0x05, 0x11, 0x00];
    // Valid COBS of 3 bytes: fewer than CRC + 1.
    let short = [0x04, 0x01, 0x02, 0x03, 0x00];
    // Valid COBS of exactly a CRC of nothing: still refused (no payload).
    let crc_only = frame_raw(&CRC32.checksum(&[]).to_le_bytes());
    let mut decoder = FrameDecoder::<MAX_FRAME>::new();
    let (got, errors) = decode_chunks(&mut decoder, &[&bad_cobs, &short, &crc_only]);
    assert!(got.is_empty());
    assert_eq!(
        errors,
        vec![
            FrameError::Cobs,
            FrameError::TooShort { len: 3 },
            FrameError::TooShort { len: 4 }
        ]
    );
    let DecoderStats {
        cobs_errors,
        too_short,
        ..
    } = decoder.stats();
    assert_eq!((cobs_errors, too_short), (1, 2));
}

/// COBS-encodes `body` as is (no CRC added) with a delimiter.
fn frame_raw(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0; cobs::max_encoding_length(body.len()) + 1];
    let n = cobs::encode(body, &mut out);
    out[n] = 0;
    out.truncate(n + 1);
    out
}

#[test]
fn empty_frames_are_ignored() {
    let mut stream = vec![0, 0, 0];
    stream.extend(frame(b"x"));
    stream.extend([0, 0]);
    let mut decoder = FrameDecoder::<MAX_FRAME>::new();
    let (got, errors) = decode_chunks(&mut decoder, &[&stream]);
    assert_eq!(got, vec![b"x".to_vec()]);
    assert!(errors.is_empty());
    assert_eq!(decoder.stats().bytes_discarded, 0);
}

#[test]
fn garbage_before_a_delimiter_is_dropped() {
    let mut stream = b"\x13\x37garbage from a half-open line".to_vec();
    stream.push(0);
    stream.extend(frame(b"first"));
    let mut decoder = FrameDecoder::<MAX_FRAME>::new();
    let (got, errors) = decode_chunks(&mut decoder, &[&stream]);
    assert_eq!(got, vec![b"first".to_vec()]);
    assert_eq!(errors.len(), 1);
    assert!(decoder.stats().bytes_discarded > 0);
}

fn payloads_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 1..12)
}

proptest! {
    /// Random cut points: the decoded payloads never depend on how the stream was chunked.
    #[test]
    fn random_multi_way_splits(
        payloads in payloads_strategy(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&stream[last..p]);
            last = p;
        }
        chunks.push(&stream[last..]);
        let mut decoder = FrameDecoder::<MAX_FRAME>::new();
        let (got, errors) = decode_chunks(&mut decoder, &chunks);
        prop_assert!(errors.is_empty());
        prop_assert_eq!(got, payloads);
    }

    /// Decoder fuzzing: arbitrary bytes in arbitrary chunks never panic, and every reported
    /// payload carries a valid CRC.
    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..5000),
        chunk in 1usize..700,
    ) {
        let mut decoder = FrameDecoder::<256>::new();
        let chunks: Vec<&[u8]> = bytes.chunks(chunk).collect();
        let (got, _) = decode_chunks(&mut decoder, &chunks);
        for p in &got {
            prop_assert!(!p.is_empty());
        }
        let s = decoder.stats();
        prop_assert_eq!(s.frames, got.len() as u64);
        prop_assert!(s.bytes_discarded <= bytes.len() as u64);
    }

    /// Valid frames hidden in garbage are still found: garbage (which may contain zeros, and
    /// is ended by a delimiter as a sender's opening flush provides) is dropped, frames after
    /// it come through.
    #[test]
    fn valid_frames_inside_garbage_are_found(
        payloads in payloads_strategy(),
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..12),
        chunk in 1usize..900,
    ) {
        let mut stream = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            stream.extend_from_slice(&garbage[i % garbage.len()]);
            stream.push(0);
            stream.extend(frame(p));
        }
        let mut decoder = FrameDecoder::<MAX_FRAME>::new();
        let chunks: Vec<&[u8]> = stream.chunks(chunk).collect();
        let (got, _) = decode_chunks(&mut decoder, &chunks);
        // Garbage could by chance itself be a valid frame (CRC-32 makes that ~2^-32); allow
        // extra payloads but require every real one, in order.
        let mut it = got.iter();
        for p in &payloads {
            prop_assert!(it.any(|g| g == p), "payload lost: {:?}", p);
        }
    }

    /// Mutated streams (flipped, inserted and deleted bytes) never panic, never deliver a
    /// payload that was not sent, and frames away from the damage survive.
    #[test]
    fn mutated_streams(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 3..10),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
    ) {
        let mut stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
        for (at, op, byte) in &edits {
            let i = at.index(stream.len());
            match op {
                0 => stream[i] ^= byte | 1,
                1 => stream.insert(i, *byte),
                _ => { stream.remove(i); }
            }
        }
        let mut decoder = FrameDecoder::<MAX_FRAME>::new();
        let (got, _) = decode_chunks(&mut decoder, &[&stream]);
        for p in &got {
            prop_assert!(payloads.contains(p), "decoded a payload that was never sent");
        }
        // Each edit can destroy at most two frames (it may remove or corrupt a delimiter).
        prop_assert!(got.len() + 2 * edits.len() >= payloads.len());
    }
}
