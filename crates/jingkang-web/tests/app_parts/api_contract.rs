//! The API's error contract: every error under `/api/v1` is `{"code","message"}` in JSON with a
//! Chinese message, whatever produced it (a handler, an extractor, the router, the body limit).

use super::*;

async fn json_error(r: reqwest::Response) -> (StatusCode, String, String) {
    let status = r.status();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(kind.starts_with("application/json"), "{status}: {kind}");
    let body: serde_json::Value = r.json().await.unwrap();
    let (code, message) = (
        body["code"].as_str().unwrap().to_string(),
        body["message"].as_str().unwrap().to_string(),
    );
    assert!(
        message
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{message}"
    );
    (status, code, message)
}

pub async fn api_errors_are_json_everywhere(app: App) {
    app.add_user("api-jz", Role::Township, &app.town_a, false)
        .await;
    let token = app.token_for("api-jz").await;
    let c = client();
    let get = |path: &str| c.get(app.url(path)).bearer_auth(&token).send();

    // A malformed id is nothing that exists.
    let (s, code, _) = json_error(get("/api/v1/persons/abc").await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::NOT_FOUND, "not-found"));
    // A malformed query parameter.
    let (s, code, _) = json_error(get("/api/v1/persons?limit=abc").await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::BAD_REQUEST, "query-invalid")
    );
    // A path under /api that does not exist.
    let (s, code, _) = json_error(get("/api/v1/nothing-here").await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::NOT_FOUND, "not-found"));
    // A method the route does not take.
    let r = c
        .delete(app.url("/api/v1/persons"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (s, code, _) = json_error(r).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed")
    );
    // A body that is not JSON, and JSON of the wrong shape.
    let id = app.person_in(&app.town_a).await;
    for (body, kind) in [
        ("not json", "application/json"),
        ("{\"event\": 5}", "application/json"),
        ("{}", "text/plain"),
    ] {
        let r = c
            .post(app.url(&format!("/api/v1/persons/{id}/registration")))
            .bearer_auth(&token)
            .header("content-type", kind)
            .body(body)
            .send()
            .await
            .unwrap();
        let (s, _, _) = json_error(r).await;
        assert!(s.is_client_error(), "{body}: {s}");
    }
    // An upload over the one limit: 413 naming the limit, on the API as on the page. Sent as a
    // bare request head announcing the length (the server answers before reading any of it).
    let over = jingkang_core::import::limits::UPLOAD_BYTES + 1;
    let (status, head, body) = raw_post(
        &app.base,
        "/api/v1/imports?file_name=r.csv",
        &format!("Authorization: Bearer {token}\r\nContent-Length: {over}\r\n"),
    )
    .await;
    assert_eq!(status, 413, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("application/json"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "upload-too-large");
    assert!(
        body["message"].as_str().unwrap().contains("64 MB"),
        "{body}"
    );
    // A roster of 3 MB (over the framework's 2 MB default) goes through the API.
    let mut csv = String::from("姓名,身份证号\n");
    while csv.len() < 3 * 1024 * 1024 {
        csv.push_str("张三,110101199003077777\n");
    }
    let r = c
        .post(app.url("/api/v1/imports?file_name=r.csv&dry_run=true"))
        .bearer_auth(&token)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert!(
        r.status() == StatusCode::OK || r.status() == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        r.status()
    );
    if r.status() == StatusCode::UNPROCESSABLE_ENTITY {
        json_error(r).await;
    }
    // A route the role may not call: refused before the handler reads anything (the route
    // table's permission, enforced by its layer), even with a body it could not read; and a call
    // without a token.
    let (s, code, _) = json_error(get("/api/v1/users").await.unwrap()).await;
    assert_eq!((s, code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    let (s, code, _) = json_error(r).await;
    assert_eq!((s, code.as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    let (s, code, _) = json_error(c.get(app.url("/api/v1/users")).send().await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    // A page route without a session still sends the browser to the login page.
    let r = c.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/login".to_string())
    );
    // A disabled user's token says so.
    on_pool!(&app.db, p => sqlx::query("UPDATE users SET disabled = TRUE WHERE username = 'api-jz'")
        .execute(p).await.map(drop))
    .unwrap();
    let (s, code, message) = json_error(get("/api/v1/persons").await.unwrap()).await;
    assert_eq!(
        (s, code.as_str()),
        (StatusCode::UNAUTHORIZED, "account-disabled")
    );
    assert!(message.contains("停用"), "{message}");
}

/// POST a request head without its body; the answer's status, head and body.
async fn raw_post(base: &str, path: &str, headers: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut out),
    )
    .await;
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // A chunked body: the JSON is between the first chunk size line and the next.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split("\r\n").nth(1).unwrap_or("").to_string()
    } else {
        body.to_string()
    };
    (status, head.to_string(), body)
}
