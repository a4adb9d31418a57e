//! The public test kit (feature `testkit`): generators of scripted histories, a reference model of
//! the rules written independently of the core, and checks over played logs. Embedders run the
//! same property tests we do against their own engines and connectors.

pub mod generate;
pub mod reference;
