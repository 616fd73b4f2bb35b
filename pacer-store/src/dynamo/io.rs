//! The DynamoDB log's own small tokio runtime and its AWS clients. The log's interface is
//! synchronous and is called from plain threads and from other runtimes' workers alike, where
//! `Runtime::block_on` would panic: every SDK call is spawned on this runtime instead, and the
//! caller waits for its answer on a std channel.

use super::DynamoSettings;
use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use std::future::Future;
use std::time::Duration;
use tokio::runtime::Runtime;

/// How long one DynamoDB request may take before it is tried again (or fails).
const DYNAMO_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one S3 request (a snapshot part of several MiB) may take.
const S3_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The runtime every SDK call of one log runs on.
pub(crate) struct Io {
    /// `None` only while dropping.
    runtime: Option<Runtime>,
}

impl Io {
    pub(crate) fn new() -> Result<Io, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pacer-dynamo-io")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the DynamoDB log's runtime: {e}"))?;
        Ok(Io { runtime: Some(runtime) })
    }

    /// Runs `future` on this runtime and waits for its output on the calling thread (any
    /// thread but this runtime's own).
    pub(crate) fn block<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, String> {
        let runtime = self.runtime.as_ref().ok_or("the log is closed")?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| "the DynamoDB log's runtime stopped".to_owned())
    }

    /// The DynamoDB and S3 clients `settings` describe.
    pub(crate) fn clients(
        &self,
        settings: &DynamoSettings,
    ) -> Result<(aws_sdk_dynamodb::Client, aws_sdk_s3::Client), String> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.region.clone()))
            .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build());
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(credentials) = &settings.credentials {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                credentials.access_key_id.clone(),
                credentials.secret_access_key.clone(),
                None,
                None,
                "pacer-settings",
            ));
        }
        let config = self.block(loader.load())?;
        let timeouts = |attempt| {
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt)
                .build()
        };
        let dynamo = aws_sdk_dynamodb::config::Builder::from(&config)
            .timeout_config(timeouts(DYNAMO_ATTEMPT_TIMEOUT))
            .build();
        // An emulator serves every bucket under its one host name.
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .timeout_config(timeouts(S3_ATTEMPT_TIMEOUT))
            .force_path_style(settings.endpoint_url.is_some())
            .build();
        Ok((aws_sdk_dynamodb::Client::from_conf(dynamo), aws_sdk_s3::Client::from_conf(s3)))
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime's worker; the log may
        // well be dropped there.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// An SDK error with its causes (the SDK's own `Display` says little more than "service
/// error").
pub(crate) fn describe(error: impl std::error::Error) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string()
}
