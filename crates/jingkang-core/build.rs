//! Rebuild when a migration or a data file is added: `sqlx::migrate!` and `include_str!` embed
//! them at compile time, and cargo does not otherwise notice a new file in these folders.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=data");
}
