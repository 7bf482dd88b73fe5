//! The direct (request-response) protocol's wire format: a 4-byte big-endian length, then an
//! encoded envelope; the answer is one byte. Lengths over the limit are refused before reading.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// Protocol name of private rounds.
pub(crate) const DIRECT: StreamProtocol = StreamProtocol::new("/mpc-node/direct/1");

/// Reads exactly `len` bytes, growing the buffer as they come: a peer that announces a large
/// message and sends little makes us hold only what it sent.
async fn read_body<T: AsyncRead + Unpin>(io: &mut T, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("message cut short: {} of {len} bytes", buf.len()),
        ));
    }
    Ok(buf)
}

#[derive(Clone)]
pub(crate) struct DirectCodec {
    pub max_bytes: usize,
}

impl libp2p::request_response::Codec for DirectCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = u8;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len > self.max_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("message of {len} bytes over the limit"),
            ));
        }
        read_body(io, len).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<u8> {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        Ok(b[0])
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()> {
        let len = u32::try_from(req.len()).map_err(|_| std::io::Error::other("message too large"))?;
        io.write_all(&len.to_be_bytes()).await?;
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: u8,
    ) -> std::io::Result<()> {
        io.write_all(&[res]).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::request_response::Codec;

    fn read(bytes: Vec<u8>, max_bytes: usize) -> std::io::Result<Vec<u8>> {
        let mut codec = DirectCodec { max_bytes };
        let mut io = futures::io::Cursor::new(bytes);
        futures::executor::block_on(codec.read_request(&DIRECT, &mut io))
    }

    #[test]
    fn a_message_is_read_whole_and_a_short_or_oversize_one_refused() {
        let mut ok = 5u32.to_be_bytes().to_vec();
        ok.extend_from_slice(b"hello");
        assert_eq!(read(ok, 1024).unwrap(), b"hello");
        // Announces 4 MiB, sends 10 bytes: refused, holding only what came.
        let mut short = (4u32 << 20).to_be_bytes().to_vec();
        short.extend_from_slice(&[7; 10]);
        assert_eq!(read(short, 8 << 20).unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        let over = (2048u32).to_be_bytes().to_vec();
        assert_eq!(read(over, 1024).unwrap_err().kind(), std::io::ErrorKind::InvalidData);
    }
}
