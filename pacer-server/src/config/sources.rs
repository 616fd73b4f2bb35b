//! The layers above the defaults: the YAML file and the `PACER_*` environment variables, each a
//! figment [`Provider`].

use super::{ConfigError, ConfigErrors, env_name};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The YAML file layer, read with serde_yaml_ng.
pub(super) struct YamlFile {
    path: PathBuf,
    data: Dict,
}

impl YamlFile {
    pub(super) fn read(path: &Path) -> Result<YamlFile, ConfigErrors> {
        let fail = |message: String| ConfigErrors(vec![ConfigError { key: "--config".into(), message }]);
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
        let tree: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| fail(format!("{} is not valid YAML: {e}", path.display())))?;
        let data = if tree.is_null() {
            Dict::new()
        } else {
            Dict::deserialize(tree)
                .map_err(|e| fail(format!("{} must be a mapping of keys: {e}", path.display())))?
        };
        Ok(YamlFile { path: path.to_owned(), data })
    }
}

impl Provider for YamlFile {
    fn metadata(&self) -> Metadata {
        Metadata::from("YAML file", self.path.as_path())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

/// The name of the environment layer, which errors look for to name the variable.
pub(super) const ENVIRONMENT: &str = "environment variable";

/// The environment layer: the variable of each key ([`env_name`]) that is set, as text that the
/// key's type reads (other `PACER_*` variables are not configuration keys and are left alone).
pub(super) struct Environment(Dict);

impl Environment {
    pub(super) fn read(keys: &[String], env: impl Fn(&str) -> Option<String>) -> Environment {
        fn insert(dict: &mut Dict, key: &str, value: Value) {
            match key.split_once('.') {
                None => {
                    dict.insert(key.to_owned(), value);
                }
                Some((head, rest)) => {
                    let entry = dict.entry(head.to_owned()).or_insert_with(|| Dict::new().into());
                    if let Value::Dict(_, inner) = entry {
                        insert(inner, rest, value);
                    }
                }
            }
        }
        let mut dict = Dict::new();
        for key in keys {
            if let Some(raw) = env(&env_name(key)) {
                insert(&mut dict, key, Value::from(raw));
            }
        }
        Environment(dict)
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENVIRONMENT)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}
