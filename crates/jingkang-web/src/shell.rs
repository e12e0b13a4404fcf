//! The page shell every template extends (`base.html`): the header a signed-in page shows, and
//! the error page. A leaf: it imports no other module of this crate, so the error type and the
//! extractors can render pages without depending on the features (`Chrome::of`, which reads the
//! user's permissions, lives with the pages).

use askama::Template;
use askama_web::WebTemplate;

/// What every signed-in page shows in its header.
pub struct Chrome {
    pub display_name: String,
    pub role_label: &'static str,
    pub region_name: String,
    pub csrf: String,
    pub can_read_registry: bool,
    pub can_edit_registry: bool,
    pub is_admin: bool,
    pub can_audit: bool,
    pub can_read_clinical: bool,
    pub can_read_notifications: bool,
    pub can_refer: bool,
    pub can_read_institutions: bool,
    pub can_read_reports: bool,
    pub can_read_indicators: bool,
    pub can_compare_lists: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Error pages carry no header menu (the request may have no valid session).
    pub chrome: Option<Chrome>,
    pub status: u16,
    pub message: String,
}
