//! The effects lease's row in the log's table: `pk="lease", sk="0"` with `holder`, `term` and
//! `version`, read strongly consistent and replaced only on condition that its version is the
//! one read (or that there is none yet), so two replicas can never both take it. Each
//! replica's heartbeat is an item `pk="replica", sk=<id>`, put over its last one.

use super::io::{Io, describe};
use super::table::{PK, SK, query_partition};
use crate::error::StoreError;
use crate::lease::{Heartbeat, LeaseRow, LeaseTable};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::sync::Arc;

const LEASE: &str = "lease";
const ONLY: &str = "0";
const HOLDER: &str = "holder";
const TERM: &str = "term";
const VERSION: &str = "version";
const REPLICA: &str = "replica";
const AT: &str = "at_ms";
const SEQ: &str = "seq";
const LAG: &str = "lag_ms";
const PACER: &str = "pacer";

/// The lease row of one DynamoDB log's table.
pub(crate) struct DynamoLeaseTable {
    io: Arc<Io>,
    client: Client,
    table: String,
}

impl DynamoLeaseTable {
    pub(crate) fn new(io: Arc<Io>, client: Client, table: String) -> Self {
        Self { io, client, table }
    }

    fn key() -> HashMap<String, AttributeValue> {
        key(LEASE, ONLY)
    }
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.into(), AttributeValue::S(pk.into())), (SK.into(), AttributeValue::S(sk.into()))])
}

fn heartbeat(item: &HashMap<String, AttributeValue>) -> Result<Heartbeat, StoreError> {
    let text = |name| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    Ok(Heartbeat {
        replica: text(SK),
        at_ms: number(item, AT)? as i64,
        seq: number(item, SEQ)?,
        lag_ms: number(item, LAG)?,
        term: number(item, TERM)?,
        version: text(PACER),
    })
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<u64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::Read(format!("the lease table's item has no number {name}")))
}

impl LeaseTable for DynamoLeaseTable {
    fn read(&self) -> Result<Option<LeaseRow>, StoreError> {
        let call =
            self.client.get_item().table_name(&self.table).set_key(Some(Self::key())).consistent_read(true);
        let output = self
            .io
            .block(call.send())
            .map_err(StoreError::Read)?
            .map_err(|e| StoreError::Read(describe(e)))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let holder = item.get(HOLDER).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        Ok(Some(LeaseRow { holder, term: number(&item, TERM)?, version: number(&item, VERSION)? }))
    }

    fn replace(&self, expected: Option<u64>, row: &LeaseRow) -> Result<bool, StoreError> {
        let mut item = Self::key();
        item.extend([
            (HOLDER.into(), AttributeValue::S(row.holder.clone())),
            (TERM.into(), AttributeValue::N(row.term.to_string())),
            (VERSION.into(), AttributeValue::N(row.version.to_string())),
        ]);
        let call = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let call = match expected {
            None => {
                call.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK)
            }
            Some(version) => call
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":version", AttributeValue::N(version.to_string())),
        };
        match self.io.block(call.send()).map_err(StoreError::Write)? {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(StoreError::Write(describe(e))),
        }
    }

    fn beat(&self, beat: &Heartbeat) -> Result<(), StoreError> {
        let mut item = key(REPLICA, &beat.replica);
        item.extend([
            (AT.into(), AttributeValue::N(beat.at_ms.max(0).to_string())),
            (SEQ.into(), AttributeValue::N(beat.seq.to_string())),
            (LAG.into(), AttributeValue::N(beat.lag_ms.to_string())),
            (TERM.into(), AttributeValue::N(beat.term.to_string())),
            (PACER.into(), AttributeValue::S(beat.version.clone())),
        ]);
        let call = self.client.put_item().table_name(&self.table).set_item(Some(item));
        self.io.block(call.send()).map_err(StoreError::Write)?.map_err(|e| StoreError::Write(describe(e)))?;
        Ok(())
    }

    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        query_partition(&self.io, &self.client, &self.table, REPLICA)
            .map_err(StoreError::Read)?
            .iter()
            .map(heartbeat)
            .collect()
    }

    fn forget(&self, replica: &str) -> Result<(), StoreError> {
        let call = self.client.delete_item().table_name(&self.table).set_key(Some(key(REPLICA, replica)));
        self.io.block(call.send()).map_err(StoreError::Write)?.map_err(|e| StoreError::Write(describe(e)))?;
        Ok(())
    }
}
