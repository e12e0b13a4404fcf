//! Exchange with other systems: FHIR R4 export (`fhir`) and import (`fhir_import`); the
//! referral-platform exchange file (`platform`).

pub mod fhir;
pub mod fhir_import;
pub mod platform;
