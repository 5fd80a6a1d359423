use super::*;
/// Reads configuration for `env("NAME")`.
pub type EnvLookup<'a> = dyn Fn(&str) -> Option<String> + 'a;
/// Parses files.
pub fn parse_files(_files: Vec<(std::path::PathBuf, String)>, _env: &EnvLookup<'_>) -> (Spec, Diagnostics) { todo!() }
