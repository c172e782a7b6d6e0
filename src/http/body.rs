//! `JsonObject<T>`: a JSON request body that must be an object.
//!
//! serde's derived structs also accept a JSON array of the fields in order (`["hi"]` would be
//! a message), which no client means; going through a map first refuses it with 422.
//!
//! serde's messages quote the offending value (`invalid type: integer `123``), and a 422's
//! detail is both answered and logged; a secret field's value must be neither. So a secret
//! field that is not a string is blanked (set to null) before the typed parse: a body type that
//! declares the field then fails with a message that names only the field, and one that does
//! not declare it ignores it, as it ignores any unknown field (the schema allows them).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::AppError;

pub struct JsonObject<T>(pub T);

/// Fields whose value is never echoed; each is a string wherever it appears (`current` and
/// `new` are the passwords of a password change).
const SECRET_FIELDS: [&str; 4] = ["password", "token", "current", "new"];

/// Blanks every secret field that is not a string and returns the first one's name.
fn blank_wrong_secrets(map: &mut Map<String, Value>) -> Option<&'static str> {
    let mut first = None;
    for field in SECRET_FIELDS {
        if let Some(value) = map.get_mut(field) {
            if !value.is_string() {
                *value = Value::Null;
                first = first.or(Some(field));
            }
        }
    }
    first
}

/// The typed parse of an object whose secrets are already blanked.
fn parse<T: DeserializeOwned>(
    map: Map<String, Value>,
    blanked: Option<&'static str>,
) -> Result<T, AppError> {
    serde_json::from_value(Value::Object(map)).map_err(|e| match blanked {
        // The blanked secret is what the declared field refused (null is never a valid secret).
        Some(field) if e.to_string().contains("invalid type: null") => {
            AppError::validation(field, "must be a string")
        }
        _ => AppError::Validation {
            field: "body",
            message: e.to_string(),
        },
    })
}

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // The map extractor applies the size limit, the content type and the 400/413/415s.
        let map = web::Json::<Map<String, Value>>::from_request(req, payload);
        Box::pin(async move {
            let mut map = map.await?.into_inner();
            let blanked = blank_wrong_secrets(&mut map);
            parse(map, blanked).map(JsonObject).map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_of_the_wrong_type_is_named_not_echoed() {
        for body in [
            r#"{"username":"a","password":123456789}"#,
            r#"{"username":"a","password":{"x":"s3cr3t-value"}}"#,
            r#"{"token":["s3cr3t-value"]}"#,
        ] {
            let mut map: Map<String, Value> = serde_json::from_str(body).unwrap();
            let blanked = blank_wrong_secrets(&mut map);
            let err = parse::<Login>(map, blanked).expect_err("refused");
            let shown = format!("{err:?} {err}");
            assert!(
                shown.contains("password") || shown.contains("token"),
                "{shown}"
            );
            assert!(
                !shown.contains("123456789") && !shown.contains("s3cr3t"),
                "{shown}"
            );
        }
        let mut fine: Map<String, Value> =
            serde_json::from_str(r#"{"username":1,"password":"ok"}"#).unwrap();
        assert!(blank_wrong_secrets(&mut fine).is_none());
    }

    /// A body type without a secret field ignores one of any type, like any unknown field
    /// (the fuzzer sends extra properties, which the schema allows).
    #[test]
    fn an_undeclared_secret_of_any_type_is_ignored() {
        let mut map: Map<String, Value> =
            serde_json::from_str(r#"{"name":"x","password":5,"token":{"a":1}}"#).unwrap();
        let blanked = blank_wrong_secrets(&mut map);
        let parsed = parse::<Named>(map, blanked).expect("parsed");
        assert_eq!(parsed.name, "x");
    }

    #[derive(Debug, serde::Deserialize)]
    struct Named {
        name: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        #[serde(default)]
        password: String,
        #[serde(default)]
        token: String,
    }
}
