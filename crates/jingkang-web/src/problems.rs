//! Problems of a form as its page shows them: every one listed at the top (`form_errors.html`,
//! each linking to its field) and each beside its field (`self.problem("field")` in a template).
//! A leaf: it imports no feature.

/// A form page with problems by field: (field, message), in the form's order.
pub trait FieldProblems {
    fn problems(&self) -> &[(String, String)];

    /// The problem of `field`, if it has one.
    fn problem(&self, field: &str) -> Option<&str> {
        of(self.problems(), field)
    }
}

/// The problem of `field` in a list of (field, message), for a page with more than one form.
pub fn of<'a>(problems: &'a [(String, String)], field: &str) -> Option<&'a str> {
    problems
        .iter()
        .find(|(f, _)| f == field)
        .map(|(_, m)| m.as_str())
}
