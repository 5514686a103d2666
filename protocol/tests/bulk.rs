//! Bulk helpers: whole-object CRC, chunking for senders, and the receiver state machine
//! (idempotent resends, refused gaps and overruns, CRC at commit, resume after a restart).

use proptest::prelude::*;

use protocol::NackCode;
use protocol::bulk::{
    BULK_CHUNK, BulkError, BulkReceiver, ObjectCrc, VecReceiver, chunk_data, chunks, object_crc32,
};

fn object(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 253) as u8).collect()
}

#[test]
fn crc_is_crc32_iso_hdlc() {
    // The standard check value of CRC-32/ISO-HDLC.
    assert_eq!(object_crc32(b"123456789"), 0xcbf4_3926);
    let mut inc = ObjectCrc::new();
    inc.update(b"1234");
    inc.update(b"56789");
    assert_eq!(inc.value(), 0xcbf4_3926);
}

#[test]
fn chunks_cover_the_object_from_a_start_offset() {
    let data = object(3 * BULK_CHUNK + 100);
    let all: Vec<(u32, &[u8])> = chunks(&data, 0).collect();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3], ((3 * BULK_CHUNK) as u32, &data[3 * BULK_CHUNK..]));
    let resumed: Vec<u32> = chunks(&data, 5000).map(|(o, _)| o).collect();
    assert_eq!(resumed, vec![5000, 5000 + BULK_CHUNK as u32]);
    assert_eq!(chunks(&data, u32::MAX).count(), 0);
    assert_eq!(chunk_data(&data).len(), BULK_CHUNK);
}

#[test]
fn in_order_transfer_commits() {
    let data = object(10_000);
    let mut rx = VecReceiver::new(data.len() as u32, object_crc32(&data));
    for (offset, chunk) in chunks(&data, 0) {
        rx.write(offset, chunk).unwrap();
    }
    assert_eq!(rx.commit().unwrap(), data);
}

#[test]
fn resends_are_idempotent_and_overlaps_keep_only_new_bytes() {
    let data = object(1000);
    let mut rx = BulkReceiver::new(1000, object_crc32(&data));
    let a = rx.write(0, &data[..400]).unwrap();
    assert_eq!((a.offset, a.new_bytes.len(), a.next_offset), (0, 400, 400));
    // Exact resend: nothing new.
    let again = rx.write(0, &data[..400]).unwrap();
    assert!(again.new_bytes.is_empty());
    assert_eq!(again.next_offset, 400);
    // Overlapping chunk: only the tail past 400 is new.
    let overlap = rx.write(300, &data[300..700]).unwrap();
    assert_eq!((overlap.offset, overlap.new_bytes), (400, &data[400..700]));
    rx.write(700, &data[700..]).unwrap();
    assert_eq!(rx.commit(), Ok(()));
}

#[test]
fn gaps_and_overruns_are_refused() {
    let data = object(1000);
    let mut rx = BulkReceiver::new(1000, object_crc32(&data));
    rx.write(0, &data[..100]).unwrap();
    assert_eq!(
        rx.write(200, &data[200..300]),
        Err(BulkError::Gap {
            offset: 200,
            next_offset: 100
        })
    );
    assert_eq!(
        rx.write(900, &[0; 200]),
        Err(BulkError::PastEnd {
            offset: 900,
            len: 200,
            total_len: 1000
        })
    );
    assert!(matches!(
        rx.write(u32::MAX, &[1]),
        Err(BulkError::PastEnd { .. })
    ));
    assert_eq!(rx.next_offset(), 100, "refused chunks change nothing");
    assert_eq!(
        rx.commit(),
        Err(BulkError::Incomplete {
            received: 100,
            total_len: 1000
        })
    );
}

#[test]
fn checksum_mismatch_at_commit() {
    let data = object(500);
    let mut corrupted = data.clone();
    corrupted[123] ^= 0x40;
    let mut rx = VecReceiver::new(500, object_crc32(&data));
    rx.write(0, &corrupted).unwrap();
    let (err, _) = rx.commit().unwrap_err();
    assert!(matches!(err, BulkError::ChecksumMismatch { .. }));
    let nack = err.to_nack();
    assert_eq!(nack.code, NackCode::ChecksumMismatch);
    assert!(nack.detail.contains("checksum"), "{}", nack.detail);
}

#[test]
fn resume_after_restart_by_replaying_stored_bytes() {
    let data = object(9000);
    let crc = object_crc32(&data);
    let mut stored = Vec::new();
    {
        let mut rx = BulkReceiver::new(9000, crc);
        for (offset, chunk) in chunks(&data, 0).take(1) {
            stored.extend_from_slice(rx.write(offset, chunk).unwrap().new_bytes);
        }
    } // the device restarts here
    let mut rx = BulkReceiver::new(9000, crc);
    rx.write(0, &stored).unwrap();
    let resume = rx.next_offset();
    assert_eq!(resume as usize, BULK_CHUNK);
    for (offset, chunk) in chunks(&data, resume) {
        stored.extend_from_slice(rx.write(offset, chunk).unwrap().new_bytes);
    }
    assert_eq!(rx.commit(), Ok(()));
    assert_eq!(stored, data);
}

#[test]
fn empty_object() {
    let rx = BulkReceiver::new(0, object_crc32(&[]));
    assert!(rx.is_complete());
    assert_eq!(rx.commit(), Ok(()));
}

proptest! {
    /// Any sequence of writes that never skips ahead (resends, overlaps, varying chunk sizes)
    /// assembles exactly the object.
    #[test]
    fn retransmission_patterns_assemble_the_object(
        len in 0usize..20_000,
        steps in proptest::collection::vec((0usize..3000, 1usize..5000), 1..200),
    ) {
        let data = object(len);
        let mut rx = VecReceiver::new(len as u32, object_crc32(&data));
        for (back, size) in steps {
            let next = rx.next_offset() as usize;
            let start = next.saturating_sub(back);
            let end = (start + size).min(len);
            rx.write(start as u32, &data[start..end]).unwrap();
        }
        // Finish in order.
        for (offset, chunk) in chunks(&data, rx.next_offset()) {
            rx.write(offset, chunk).unwrap();
        }
        prop_assert_eq!(rx.commit().unwrap(), data);
    }
}
