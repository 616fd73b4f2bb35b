//! `pacer verify`: checks the tamper-evident chain of a stopped Pacer's log (RocksDB in a data
//! directory, or the log a configuration names) and reports where it starts, where it breaks,
//! if it does, and its head, to compare with one noted before. A pruned log is checked from its
//! base (the last pruned record's hash, which the archive of the pruned records ends with), and
//! its base snapshot against the log.

use crate::config::Config;
use crate::serve::Storage;
use anyhow::Context;
use pacer_store::{ChainBreak, EventLog, verify_base, verify_chain};
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
    let base = log.base();
    let report = verify_chain(log, base.link).context("reading the log")?;
    let seconds = started.elapsed().as_secs_f64();
    writeln!(out, "records     {}", log.last_seq())?;
    let mut base_whole = true;
    if base.link.seq > 0 {
        let hash = base.link.hash.map_or_else(|| "no chain hash".to_owned(), |hash| format!("hash {hash}"));
        writeln!(
            out,
            "pruned      records 1 to {} (through {}); the chain is checked from there: seq {} {hash}",
            base.link.seq, base.at, base.link.seq
        )?;
        match verify_base(log) {
            Ok(_) => writeln!(
                out,
                "base        the snapshot at seq {} checks out against the log",
                base.snapshot_seq
            )?,
            Err(error) => {
                base_whole = false;
                writeln!(out, "BROKEN      base snapshot: {error}")?;
            }
        }
    }
    match report.starts_at {
        Some(start) if start == base.link.seq + 1 && base.link.seq > 0 => {}
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
    Ok(report.broken.is_none() && base_whole)
}
