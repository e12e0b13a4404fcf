//! Static assets (CSS, vendored htmx) embedded in the binary: deployment is one file, no CDN.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

pub async fn serve(Path(path): Path<String>) -> Response {
    match Static::get(&path) {
        Some(file) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            let mut res = file.data.into_response();
            if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
                res.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            // Vendored files carry their version in the name; ours change with the binary.
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            res
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `/favicon.ico`, which browsers ask for on every page whatever the page links (a 404 there is an
/// error in the console): the site's icon, an SVG.
pub async fn favicon() -> Response {
    serve(Path("favicon.svg".to_string())).await
}
