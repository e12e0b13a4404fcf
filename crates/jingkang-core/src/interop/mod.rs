//! Exchange with other systems: FHIR R4 export (`fhir`) and import (`fhir_import`).

pub mod fhir;
pub mod fhir_import;
