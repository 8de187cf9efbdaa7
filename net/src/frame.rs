//! Messages on QUIC streams: one `halo_proto::wire` frame per message.

use halo_proto::wire;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub async fn write<T: Serialize>(send: &mut quinn::SendStream, msg: &T) -> Result<(), String> {
    let frame = wire::encode(msg)?;
    send.write_all(&frame)
        .await
        .map_err(|e| format!("cannot send: {e}"))
}

/// The next message, or `None` when the peer finished the stream cleanly.
pub async fn read<T: DeserializeOwned>(recv: &mut quinn::RecvStream) -> Result<Option<T>, String> {
    let mut header = [0u8; 4];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(format!("cannot receive: {e}")),
    }
    let n = wire::frame_len(header)?;
    let mut body = vec![0u8; n];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| format!("cannot receive: {e}"))?;
    wire::decode(&body).map(Some)
}
