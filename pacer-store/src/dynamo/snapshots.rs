//! The DynamoDB log's snapshots, in S3 as `<prefix>snapshots/state-<seq:020>.snap`. One is
//! streamed in by a multipart upload of [`PART_BYTES`] parts (a small one in one `PutObject`),
//! which only its commit completes: an upload dropped before is aborted, and an unfinished one
//! is never listed, so nothing half-written is ever loaded. The [`SNAPSHOTS_KEPT`] newest stay.
//! A pruned log keeps the snapshot it was pruned under as `<prefix>snapshots/base-<seq:020>.snap`
//! (a copy: snapshots are replaced, the base must stay) until the next prune.

use super::io::{Io, describe};
use crate::error::StoreError;
use crate::log::{SNAPSHOTS_KEPT, SnapshotReader, SnapshotSink};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Buf, Bytes};
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;

/// The size of a snapshot's parts (S3 takes parts of 5 MiB or more, but the last).
pub(crate) const PART_BYTES: usize = 8 << 20;
/// Tries at a snapshot that disappears between listing and reading it (another replica
/// replaced it).
const READ_TRIES: usize = 3;

fn snapshot_err(reason: String) -> StoreError {
    StoreError::Snapshot(reason)
}

/// A log's snapshots in its bucket.
#[derive(Clone)]
pub(crate) struct Snapshots {
    io: Arc<Io>,
    client: Client,
    bucket: String,
    /// Where snapshots' keys begin (`<prefix>snapshots/state-`).
    prefix: String,
    /// Where base snapshots' keys begin (`<prefix>snapshots/base-`).
    base_prefix: String,
}

impl Snapshots {
    pub(crate) fn new(io: Arc<Io>, client: Client, bucket: String, prefix: &str) -> Self {
        let base_prefix = format!("{prefix}snapshots/base-");
        Self { io, client, bucket, prefix: format!("{prefix}snapshots/state-"), base_prefix }
    }

    fn send<T: Send + 'static, E: std::error::Error + Send + 'static>(
        &self,
        call: impl Future<Output = Result<T, E>> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.io.block(call).map_err(snapshot_err)?.map_err(|e| snapshot_err(describe(e)))
    }

    fn key(&self, seq: u64) -> String {
        format!("{}{seq:020}.snap", self.prefix)
    }

    fn base_key(&self, seq: u64) -> String {
        format!("{}{seq:020}.snap", self.base_prefix)
    }

    /// The snapshots' seqs and object keys, oldest first.
    fn list(&self) -> Result<Vec<(u64, String)>, StoreError> {
        self.list_under(&self.prefix)
    }

    /// The seqs and object keys of the snapshots whose keys begin with `prefix`, oldest first.
    fn list_under(&self, prefix: &str) -> Result<Vec<(u64, String)>, StoreError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let call = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send();
            let listed = self.send(call)?;
            for object in listed.contents.unwrap_or_default() {
                let Some(key) = object.key else { continue };
                let seq = key.strip_prefix(prefix).and_then(|k| k.strip_suffix(".snap")?.parse().ok());
                if let Some(seq) = seq {
                    out.push((seq, key));
                }
            }
            match listed.next_continuation_token {
                Some(next) if listed.is_truncated == Some(true) => token = Some(next),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    /// Starts storing the snapshot covering `seq`.
    pub(crate) fn create(&self, seq: u64) -> Result<Box<dyn SnapshotSink>, StoreError> {
        Ok(Box::new(self.upload(seq, self.key(seq))))
    }

    pub(crate) fn remove(&self, seq: u64) -> Result<(), StoreError> {
        self.delete(self.key(seq))
    }

    fn delete(&self, key: String) -> Result<(), StoreError> {
        let call = self.client.delete_object().bucket(&self.bucket).key(key).send();
        self.send(call).map(drop)
    }

    /// Copies the snapshot at `seq` to the base snapshot at `seq`, streamed through a new
    /// upload (any size; the copy is complete once this returns).
    pub(crate) fn keep_as_base(&self, seq: u64) -> Result<(), StoreError> {
        let call = self.client.get_object().bucket(&self.bucket).key(self.key(seq)).send();
        let body = self.send(call)?.body;
        let mut from = Download { io: self.io.clone(), body: Some(body), chunk: Bytes::new() };
        let mut to = self.upload(seq, self.base_key(seq));
        std::io::copy(&mut from, &mut to).map_err(|e| snapshot_err(e.to_string()))?;
        to.finish()
    }

    /// Removes the snapshots below `base_seq` and every base snapshot but the one at it.
    pub(crate) fn remove_below_base(&self, base_seq: u64) -> Result<(), StoreError> {
        for (seq, key) in self.list()? {
            if seq < base_seq {
                self.delete(key)?;
            }
        }
        for (seq, key) in self.list_under(&self.base_prefix)? {
            if seq != base_seq {
                self.delete(key)?;
            }
        }
        Ok(())
    }

    /// The base snapshot at `seq`, open for reading; `None` when it is missing.
    pub(crate) fn open_base(&self, seq: u64) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let call = self.client.get_object().bucket(&self.bucket).key(self.base_key(seq)).send();
        match self.io.block(call).map_err(snapshot_err)? {
            Ok(object) => {
                let reader = Download { io: self.io.clone(), body: Some(object.body), chunk: Bytes::new() };
                Ok(Some((seq, Box::new(reader))))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(e) => Err(snapshot_err(describe(e))),
        }
    }

    fn upload(&self, seq: u64, key: String) -> Upload {
        Upload {
            store: self.clone(),
            seq,
            key,
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
            committed: false,
        }
    }

    /// The newest snapshot's seq and its object, open for reading.
    fn newest(&self) -> Result<Option<(u64, ByteStream)>, StoreError> {
        for _ in 0..READ_TRIES {
            let Some((seq, key)) = self.list()?.pop() else { return Ok(None) };
            let call = self.client.get_object().bucket(&self.bucket).key(key).send();
            match self.io.block(call).map_err(snapshot_err)? {
                Ok(object) => return Ok(Some((seq, object.body))),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => continue,
                Err(e) => return Err(snapshot_err(describe(e))),
            }
        }
        Err(snapshot_err("the newest snapshot keeps being replaced while it is read".into()))
    }

    pub(crate) fn load(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some((seq, body)) = self.newest()? else { return Ok(None) };
        let bytes = self.send(body.collect())?.into_bytes();
        Ok(Some((seq, bytes.to_vec())))
    }

    pub(crate) fn open(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let Some((seq, body)) = self.newest()? else { return Ok(None) };
        let reader = Download { io: self.io.clone(), body: Some(body), chunk: Bytes::new() };
        Ok(Some((seq, Box::new(reader))))
    }

    /// Removes the snapshots beyond the [`SNAPSHOTS_KEPT`] newest.
    fn prune(&self) -> Result<(), StoreError> {
        let mut all = self.list()?;
        while all.len() > SNAPSHOTS_KEPT {
            let (seq, _) = all.remove(0);
            self.remove(seq)?;
        }
        Ok(())
    }
}

/// A snapshot being uploaded: buffered a part at a time.
struct Upload {
    store: Snapshots,
    seq: u64,
    key: String,
    buffer: Vec<u8>,
    /// The multipart upload, once the first part is sent.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    committed: bool,
}

impl Upload {
    /// Uploads what is buffered as the next part, starting the multipart upload first.
    fn send_part(&mut self) -> Result<(), StoreError> {
        let store = &self.store;
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let call = store.client.create_multipart_upload().bucket(&store.bucket).key(&self.key).send();
                let id =
                    store.send(call)?.upload_id.ok_or_else(|| snapshot_err("S3 gave no upload id".into()))?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let call = store
            .client
            .upload_part()
            .bucket(&store.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(std::mem::take(&mut self.buffer)))
            .send();
        let e_tag = store.send(call)?.e_tag;
        self.parts.push(CompletedPart::builder().part_number(number).set_e_tag(e_tag).build());
        Ok(())
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= PART_BYTES {
            self.send_part().map_err(std::io::Error::other)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SnapshotSink for Upload {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let store = self.store.clone();
        (*self).finish()?;
        store.prune()
    }
}

impl Upload {
    /// Completes the upload: the object appears whole.
    fn finish(mut self) -> Result<(), StoreError> {
        let store = self.store.clone();
        match self.upload_id.clone() {
            None => {
                let body = ByteStream::from(std::mem::take(&mut self.buffer));
                let call = store.client.put_object().bucket(&store.bucket).key(&self.key).body(body).send();
                store.send(call)?;
            }
            Some(upload_id) => {
                if !self.buffer.is_empty() {
                    self.send_part()?;
                }
                let parts =
                    CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts)));
                let call = store
                    .client
                    .complete_multipart_upload()
                    .bucket(&store.bucket)
                    .key(&self.key)
                    .upload_id(upload_id)
                    .multipart_upload(parts.build())
                    .send();
                store.send(call)?;
            }
        }
        self.committed = true;
        tracing::debug!(seq = self.seq, key = %self.key, "snapshot stored in S3");
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if let Some(upload_id) = self.upload_id.take() {
            let store = &self.store;
            let call = store
                .client
                .abort_multipart_upload()
                .bucket(&store.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .send();
            if let Err(error) = store.send(call) {
                tracing::warn!(seq = self.seq, %error, "could not abort an unfinished snapshot's upload");
            }
        }
    }
}

/// A snapshot being downloaded, a chunk at a time.
struct Download {
    io: Arc<Io>,
    /// `None` at its end.
    body: Option<ByteStream>,
    chunk: Bytes,
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(mut body) = self.body.take() else { return Ok(0) };
            let (next, body) = self
                .io
                .block(async move {
                    let next = body.try_next().await;
                    (next, body)
                })
                .map_err(std::io::Error::other)?;
            match next.map_err(std::io::Error::other)? {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.body = Some(body);
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}
