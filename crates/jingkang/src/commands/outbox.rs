//! `jingkang outbox list|retry|drain`: the alerts for external channels; `drain` POSTs each due
//! message to a webhook, signed with HMAC-SHA256.

use std::process::ExitCode;

use jingkang_core::messages::render;
use jingkang_core::store::{Actor, audit};

use crate::OutboxCmd;
use crate::db::{open, user_error};

/// `jingkang outbox …`.
pub async fn run(url: &str, cmd: OutboxCmd) -> anyhow::Result<ExitCode> {
    let (db, _) = open(url).await?;
    use jingkang_core::store::alerts;
    match cmd {
        OutboxCmd::List { limit, json } => {
            let mut tx = db.begin().await?;
            let items = alerts::recent(&mut tx, limit).await?;
            tx.commit().await?;
            if json {
                out!("{}", serde_json::to_string_pretty(&items)?);
            } else if items.is_empty() {
                out!("{}", render("cli-outbox-empty", &[]));
            } else {
                for i in &items {
                    let status = match (&i.delivered_at, &i.last_error) {
                        (Some(at), _) => format!("已送达 {}", at.format("%Y-%m-%d %H:%M:%S")),
                        (None, Some(e)) => format!(
                            "待重试（{}）：{e}",
                            i.next_attempt_at.format("%Y-%m-%d %H:%M:%S")
                        ),
                        (None, None) => "待发送".to_string(),
                    };
                    out!(
                        "{}",
                        render(
                            "cli-outbox-line",
                            &[
                                ("id", &i.id.to_string()),
                                (
                                    "created",
                                    &i.created_at.format("%Y-%m-%d %H:%M:%S").to_string()
                                ),
                                ("topic", &i.topic),
                                ("attempts", &i.attempts.to_string()),
                                ("status", &status),
                            ]
                        )
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCmd::Retry { id } => {
            let mut tx = db.begin().await?;
            let n = alerts::retry_now(&mut tx, id).await?;
            audit::record(
                &mut tx,
                &Actor::cli(),
                "outbox.retry",
                None,
                serde_json::json!({"id": id, "n": n}),
            )
            .await?;
            tx.commit().await?;
            out!("{}", render("cli-outbox-retry", &[("n", &n.to_string())]));
            Ok(ExitCode::SUCCESS)
        }
        OutboxCmd::Drain {
            webhook,
            secret_env,
            limit,
        } => {
            let Ok(secret) = std::env::var(&secret_env) else {
                return Ok(user_error(render(
                    "cli-outbox-secret-missing",
                    &[("var", &secret_env)],
                )));
            };
            if !(webhook.starts_with("http://") || webhook.starts_with("https://")) {
                return Ok(user_error(render(
                    "cli-value-invalid",
                    &[("name", "--webhook"), ("message", "http(s)://…")],
                )));
            }
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?;
            let mut tx = db.begin().await?;
            let due = alerts::due(&mut tx, chrono::Utc::now(), limit).await?;
            tx.commit().await?;
            let (mut sent, mut failed) = (0, 0);
            for item in due {
                let signature = alerts::signature(secret.as_bytes(), item.payload.as_bytes());
                let result = client
                    .post(&webhook)
                    .header("content-type", "application/json")
                    .header("x-jingkang-id", item.id.to_string())
                    .header("x-jingkang-topic", &item.topic)
                    .header("x-jingkang-signature", signature)
                    .body(item.payload.clone())
                    .send()
                    .await;
                let mut tx = db.begin().await?;
                match result {
                    Ok(r) if r.status().is_success() => {
                        alerts::delivered(&mut tx, item.id).await?;
                        sent += 1;
                    }
                    Ok(r) => {
                        alerts::failed(&mut tx, &item, &format!("HTTP {}", r.status().as_u16()))
                            .await?;
                        failed += 1;
                    }
                    Err(e) => {
                        // The URL may carry credentials: log the kind of failure, not the URL.
                        let kind = if e.is_timeout() {
                            "timeout"
                        } else if e.is_connect() {
                            "connect"
                        } else {
                            "request"
                        };
                        alerts::failed(&mut tx, &item, kind).await?;
                        failed += 1;
                    }
                }
                tx.commit().await?;
            }
            out!(
                "{}",
                render(
                    "cli-outbox-drained",
                    &[("sent", &sent.to_string()), ("failed", &failed.to_string())]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
