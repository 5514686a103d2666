//! The envelope: what one frame carries. A `Packet` is a request with its id, a response with
//! the id of the request it answers, or an unsolicited topic message; postcard-encoded.

use postcard::experimental::max_size::MaxSize;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::framing::{FrameError, MAX_PAYLOAD, encode_frame};
use crate::messages::{Request, Response, Topic};

/// One unit on the wire.
// See `Request` for why the chunk-carrying variants stay inline.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, Deserialize, Schema, MaxSize, Debug, Clone, PartialEq)]
pub enum Packet {
    /// Host → device. The id is chosen by the host and unique among its requests in flight.
    Request {
        /// Request id, echoed by the response.
        id: u32,
        /// The request.
        body: Request,
    },
    /// Device → host, answering request `id`.
    Response {
        /// Id of the request answered.
        id: u32,
        /// The answer.
        body: Response,
    },
    /// Device → host, unsolicited.
    Topic(Topic),
}

// Every packet fits in a frame: encoding can only fail on a too-small caller buffer.
const _: () = assert!(Packet::POSTCARD_MAX_SIZE <= MAX_PAYLOAD);

/// A packet could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// postcard refused the bytes or the value.
    #[error("postcard: {0}")]
    Postcard(postcard::Error),
    /// The framing layer refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

impl Packet {
    /// Encodes the packet into `scratch` (postcard) and then as one frame into `out`; returns
    /// the frame length. `scratch` needs [`MAX_PAYLOAD`] bytes and `out`
    /// [`MAX_FRAME`](crate::framing::MAX_FRAME) bytes to be sure of fitting any packet.
    pub fn encode_frame(&self, scratch: &mut [u8], out: &mut [u8]) -> Result<usize, PacketError> {
        let payload = postcard::to_slice(self, scratch).map_err(PacketError::Postcard)?;
        Ok(encode_frame(payload, out)?)
    }

    /// Postcard payload of this packet (what goes into a frame), as a new vector.
    #[cfg(feature = "alloc")]
    pub fn to_payload(&self) -> Result<alloc::vec::Vec<u8>, PacketError> {
        postcard::to_allocvec(self).map_err(PacketError::Postcard)
    }

    /// The complete frame for this packet, as a new vector.
    #[cfg(feature = "alloc")]
    pub fn to_frame(&self) -> Result<alloc::vec::Vec<u8>, PacketError> {
        let payload = self.to_payload()?;
        let mut out = alloc::vec![0; crate::framing::max_frame_len(payload.len())];
        let n = encode_frame(&payload, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Decodes a packet from a verified frame payload. Trailing bytes are refused, so a payload
    /// from a peer with a longer message set does not silently decode as something shorter.
    pub fn from_payload(payload: &[u8]) -> Result<Packet, PacketError> {
        let (packet, rest) =
            postcard::take_from_bytes::<Packet>(payload).map_err(PacketError::Postcard)?;
        if !rest.is_empty() {
            return Err(PacketError::Postcard(
                postcard::Error::DeserializeBadEncoding,
            ));
        }
        Ok(packet)
    }
}
