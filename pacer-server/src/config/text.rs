//! Values read from text, whether a YAML scalar or an environment variable: [`FromText`] for
//! each key type and the `deserialize_with` helpers ([`text`], [`optional`], [`list`]) that
//! accept a number or a string for a text field, `null`/empty for an optional one, and a YAML
//! list or a comma-separated string for a list.

use ipnet::IpNet;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use url::Url;

/// A type read from text: a YAML scalar or an environment variable.
pub(super) trait FromText: Sized {
    /// The value, or what the text should have been.
    fn from_text(text: &str) -> Result<Self, String>;
}

impl FromText for String {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl FromText for std::path::PathBuf {
    fn from_text(text: &str) -> Result<Self, String> {
        Ok(text.into())
    }
}

impl FromText for u64 {
    fn from_text(text: &str) -> Result<Self, String> {
        text.trim().parse().map_err(|_| "must be a whole number".into())
    }
}

impl FromText for SocketAddr {
    fn from_text(text: &str) -> Result<Self, String> {
        text.trim().parse().map_err(|_| "must be an address like 127.0.0.1:3000 or [::]:3000".into())
    }
}

impl FromText for Url {
    fn from_text(text: &str) -> Result<Self, String> {
        Url::parse(text.trim()).map_err(|e| format!("must be a URL ({e})"))
    }
}

impl FromText for pacer_aws::BucketLimit {
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse()
    }
}

impl FromText for IpNet {
    fn from_text(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| "must be an IP address or CIDR".into())
    }
}

/// Reads any scalar as its text; an error quotes the text.
struct TextVisitor<T>(PhantomData<T>);

impl<'de, T: FromText> Visitor<'de> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        T::from_text(text).map_err(|message| E::custom(format!("`{text}` {message}")))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<T, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        self.visit_str(&value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        self.visit_str(&value.to_string())
    }
}

impl<'de, T: FromText> DeserializeSeed<'de> for TextVisitor<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_str(self)
    }
}

/// A typed value from its text.
pub(super) fn text<'de, D: Deserializer<'de>, T: FromText>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_str(TextVisitor(PhantomData))
}

/// An optional typed value: absent, null or empty is `None`.
pub(super) fn optional<'de, D: Deserializer<'de>, T: FromText>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    struct OptionalVisitor<T>(PhantomData<T>);

    impl<'de, T: FromText> Visitor<'de> for OptionalVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or nothing")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(self)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            if text.trim().is_empty() { Ok(None) } else { TextVisitor(PhantomData).visit_str(text).map(Some) }
        }
    }

    deserializer.deserialize_option(OptionalVisitor(PhantomData))
}

/// A typed list: a sequence, or (as environment variables give it) its entries separated by
/// commas, optionally in brackets (`a,b` or `[a, b]`).
pub(super) fn list<'de, D: Deserializer<'de>, T: FromText>(deserializer: D) -> Result<Vec<T>, D::Error> {
    struct ListVisitor<T>(PhantomData<T>);

    impl<'de, T: FromText> Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list, or its entries separated by commas")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(entry) = seq.next_element_seed(TextVisitor(PhantomData))? {
                entries.push(entry);
            }
            Ok(entries)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            let text = text.trim();
            let text = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
            text.split(',')
                .map(|entry| entry.trim().trim_matches(|c| c == '"' || c == '\''))
                .filter(|entry| !entry.is_empty())
                .map(|entry| TextVisitor(PhantomData).visit_str(entry))
                .collect()
        }
    }

    deserializer.deserialize_seq(ListVisitor(PhantomData))
}
