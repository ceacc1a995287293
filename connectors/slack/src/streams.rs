//! The four streams as data — schema, key, cursor, sync modes — and how a page of the API's
//! objects becomes a batch of them.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chorus_core::schema::timestamp_type;
use chorus_core::{EXTRA_FIELDS_COLUMN, Error, Result, StreamSpec, SyncMode};
use chorus_http::extra::{extra_array, with_extra_column};

use crate::api::{self, Channel, Message, User};

/// The stream names, in the order the source lists them.
pub const NAMES: [&str; 4] = ["channels", "users", "messages", "threads"];

/// Every stream's spec, with the threads' lookback.
pub fn specs(thread_lookback: Duration, keep_unknown_fields: bool) -> Vec<StreamSpec> {
    let both = vec![SyncMode::FullRefresh, SyncMode::Incremental];
    let kept = |schema| with_extra_column(schema, keep_unknown_fields);
    vec![
        StreamSpec {
            name: "channels".into(),
            schema: kept(channels_schema()),
            primary_key: vec!["id".into()],
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
            lookback: Duration::ZERO,
        },
        StreamSpec {
            name: "users".into(),
            schema: kept(users_schema()),
            primary_key: vec!["id".into()],
            cursor_field: None,
            sync_modes: vec![SyncMode::FullRefresh],
            lookback: Duration::ZERO,
        },
        StreamSpec {
            name: "messages".into(),
            schema: kept(messages_schema()),
            primary_key: vec!["channel_id".into(), "ts".into()],
            cursor_field: Some("created_at".into()),
            sync_modes: both.clone(),
            lookback: Duration::ZERO,
        },
        StreamSpec {
            name: "threads".into(),
            schema: kept(threads_schema()),
            primary_key: vec!["channel_id".into(), "ts".into()],
            cursor_field: Some("thread_ts".into()),
            sync_modes: both,
            lookback: thread_lookback,
        },
    ]
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// `channels`: one row per channel the token can see.
pub fn channels_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("id", false),
        utf8("name", true),
        Field::new("is_private", DataType::Boolean, true),
        Field::new("is_archived", DataType::Boolean, true),
        Field::new("is_member", DataType::Boolean, true),
        Field::new("created", timestamp_type(), true),
        Field::new("num_members", DataType::Int64, true),
        utf8("topic", true),
        utf8("purpose", true),
    ]))
}

/// `users`: one row per member, deactivated ones and bots included.
pub fn users_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("id", false),
        utf8("name", true),
        utf8("real_name", true),
        Field::new("is_bot", DataType::Boolean, true),
        Field::new("deleted", DataType::Boolean, true),
        utf8("tz", true),
        Field::new("updated", timestamp_type(), true),
    ]))
}

/// `messages`: top-level messages of each channel.
pub fn messages_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("channel_id", false),
        utf8("ts", false),
        utf8("user", true),
        utf8("bot_id", true),
        utf8("subtype", true),
        utf8("text", true),
        utf8("thread_ts", true),
        Field::new("reply_count", DataType::Int64, true),
        Field::new("reply_users_count", DataType::Int64, true),
        Field::new("reactions", DataType::Int64, false),
        Field::new("created_at", timestamp_type(), false),
    ]))
}

/// `threads`: replies in threads (the parent is in `messages`).
pub fn threads_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("channel_id", false),
        utf8("thread_ts", false),
        utf8("ts", false),
        utf8("user", true),
        utf8("bot_id", true),
        utf8("subtype", true),
        utf8("text", true),
        Field::new("reactions", DataType::Int64, false),
        Field::new("created_at", timestamp_type(), false),
    ]))
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from(values.collect::<Vec<_>>()))
}

fn bools(values: impl Iterator<Item = Option<bool>>) -> ArrayRef {
    Arc::new(BooleanArray::from(values.collect::<Vec<_>>()))
}

fn ints(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from(values.collect::<Vec<_>>()))
}

fn times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values.collect::<Vec<_>>()).with_timezone("UTC"))
}

/// Appends the unknown-fields column when the schema has one.
fn keep_extra<'a>(
    schema: &SchemaRef,
    columns: &mut Vec<ArrayRef>,
    extras: impl Iterator<Item = Option<&'a str>>,
) {
    if schema.column_with_name(EXTRA_FIELDS_COLUMN).is_some() {
        columns.push(extra_array(extras));
    }
}

fn seconds(s: Option<i64>) -> Option<i64> {
    s.and_then(|s| s.checked_mul(1_000_000))
}

/// A batch of channels.
pub fn channels_batch(schema: &SchemaRef, rows: &[Channel]) -> Result<RecordBatch> {
    let mut columns = vec![
        strings(rows.iter().map(|c| Some(c.id.as_str()))),
        strings(rows.iter().map(|c| c.name.as_deref())),
        bools(rows.iter().map(|c| c.is_private)),
        bools(rows.iter().map(|c| c.is_archived)),
        bools(rows.iter().map(|c| c.is_member)),
        times(rows.iter().map(|c| seconds(c.created))),
        ints(rows.iter().map(|c| c.num_members)),
        strings(
            rows.iter()
                .map(|c| c.topic.as_ref().and_then(|t| t.value.as_deref())),
        ),
        strings(
            rows.iter()
                .map(|c| c.purpose.as_ref().and_then(|t| t.value.as_deref())),
        ),
    ];
    keep_extra(
        schema,
        &mut columns,
        rows.iter().map(|r| r.extra.as_deref()),
    );
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// A batch of members; the full name falls back to the profile's.
pub fn users_batch(schema: &SchemaRef, rows: &[User]) -> Result<RecordBatch> {
    let mut columns = vec![
        strings(rows.iter().map(|u| Some(u.id.as_str()))),
        strings(rows.iter().map(|u| u.name.as_deref())),
        strings(rows.iter().map(|u| {
            u.real_name
                .as_deref()
                .or_else(|| u.profile.as_ref().and_then(|p| p.real_name.as_deref()))
        })),
        bools(rows.iter().map(|u| u.is_bot)),
        bools(rows.iter().map(|u| u.deleted)),
        strings(rows.iter().map(|u| u.tz.as_deref())),
        times(rows.iter().map(|u| seconds(u.updated))),
    ];
    keep_extra(
        schema,
        &mut columns,
        rows.iter().map(|r| r.extra.as_deref()),
    );
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The exact creation time of each message, from its ts; a ts that is not one breaks the
/// contract.
fn created(rows: &[Message]) -> Result<Vec<i64>> {
    rows.iter()
        .map(|m| {
            api::parse_ts(&m.ts).ok_or_else(|| {
                Error::contract(format!(
                    "column ts: Slack sent \"{}\", which is not a message timestamp",
                    m.ts
                ))
            })
        })
        .collect()
}

fn reaction_total(m: &Message) -> i64 {
    m.reactions.iter().map(|r| r.count).sum()
}

/// A batch of top-level messages of `channel`.
pub fn messages_batch(schema: &SchemaRef, channel: &str, rows: &[Message]) -> Result<RecordBatch> {
    let created = created(rows)?;
    let mut columns = vec![
        strings(rows.iter().map(|_| Some(channel))),
        strings(rows.iter().map(|m| Some(m.ts.as_str()))),
        strings(rows.iter().map(|m| m.user.as_deref())),
        strings(rows.iter().map(|m| m.bot_id.as_deref())),
        strings(rows.iter().map(|m| m.subtype.as_deref())),
        strings(rows.iter().map(|m| m.text.as_deref())),
        strings(rows.iter().map(|m| m.thread_ts.as_deref())),
        ints(rows.iter().map(|m| m.reply_count)),
        ints(rows.iter().map(|m| m.reply_users_count)),
        ints(rows.iter().map(|m| Some(reaction_total(m)))),
        times(created.into_iter().map(Some)),
    ];
    keep_extra(
        schema,
        &mut columns,
        rows.iter().map(|r| r.extra.as_deref()),
    );
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// A batch of replies in the thread `thread_ts` of `channel`.
pub fn threads_batch(
    schema: &SchemaRef,
    channel: &str,
    thread_ts: &str,
    rows: &[Message],
) -> Result<RecordBatch> {
    let created = created(rows)?;
    let mut columns = vec![
        strings(rows.iter().map(|_| Some(channel))),
        strings(rows.iter().map(|_| Some(thread_ts))),
        strings(rows.iter().map(|m| Some(m.ts.as_str()))),
        strings(rows.iter().map(|m| m.user.as_deref())),
        strings(rows.iter().map(|m| m.bot_id.as_deref())),
        strings(rows.iter().map(|m| m.subtype.as_deref())),
        strings(rows.iter().map(|m| m.text.as_deref())),
        ints(rows.iter().map(|m| Some(reaction_total(m)))),
        times(created.into_iter().map(Some)),
    ];
    keep_extra(
        schema,
        &mut columns,
        rows.iter().map(|r| r.extra.as_deref()),
    );
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
