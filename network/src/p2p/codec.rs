//! The direct (request-response) protocol's wire format: a 4-byte big-endian length, then an
//! encoded envelope; the answer is one byte. Lengths over the limit are refused before reading.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// Protocol name of private rounds.
pub(crate) const DIRECT: StreamProtocol = StreamProtocol::new("/mpc-node/direct/1");

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
        let mut buf = vec![0u8; len];
        io.read_exact(&mut buf).await?;
        Ok(buf)
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
