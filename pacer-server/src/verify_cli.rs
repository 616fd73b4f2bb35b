//! `pacer verify`: checks the tamper-evident chain of a stopped Pacer's log (RocksDB in a data
//! directory, or the log a configuration names) and reports where it starts, where it breaks,
//! if it does, and its head, to compare with one noted before.

use crate::config::Config;
use crate::serve::Storage;
use anyhow::Context;
use pacer_store::{ChainBreak, ChainLink, EventLog, verify_chain};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Checks the chain of the RocksDB log in `data`; `Ok(false)` when it is broken.
pub(crate) fn run(data: &Path, out: &mut dyn Write) -> anyhow::Result<bool> {
    let log = crate::user_cli::open_data(data)?;
    report(&*log, out)
}

/// Checks the chain of the log `config`'s storage names (RocksDB or DynamoDB), as [`run`] does.
pub(crate) async fn run_configured(config: &Config, out: &mut dyn Write) -> anyhow::Result<bool> {
    let (log, _) = Storage::of(config).open(&config.storage.path, Box::new(|_| {})).await?;
    tokio::task::block_in_place(|| report(&*log, out))
}

/// The chain report of `log`; false when the chain is broken.
fn report(log: &dyn EventLog, out: &mut dyn Write) -> anyhow::Result<bool> {
    let started = Instant::now();
    let report = verify_chain(log, ChainLink::default()).context("reading the log")?;
    let seconds = started.elapsed().as_secs_f64();
    writeln!(out, "records     {}", log.last_seq())?;
    match report.starts_at {
        None => writeln!(
            out,
            "chain       none yet: no record carries a chain hash; the next one appended starts it"
        )?,
        Some(1) => writeln!(out, "chain       starts at seq 1")?,
        Some(start) => writeln!(
            out,
            "chain       starts at seq {start}: records 1 to {} were written before the chain existed and are not covered",
            start - 1
        )?,
    }
    let head = match report.head.hash {
        Some(hash) => format!("seq {} hash {hash}", report.head.seq),
        None => format!("seq {} (no chain hash)", report.head.seq),
    };
    match &report.broken {
        None => {
            writeln!(out, "verified    every chained record follows the one before ({seconds:.3} s)")?;
            writeln!(out, "head        {head} (compare with a head noted before)")?;
        }
        Some(ChainBreak { seq, reason }) => {
            writeln!(out, "BROKEN      at seq {seq}: {reason}")?;
            writeln!(out, "last whole  {head}")?;
        }
    }
    Ok(report.broken.is_none())
}
