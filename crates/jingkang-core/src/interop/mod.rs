//! Exchange with other systems: FHIR R4 (`fhir`).

pub mod fhir;
