//! `JsonObject<T>`: a JSON request body that must be an object.
//!
//! serde's derived structs also accept a JSON array of the fields in order (`["hi"]` would be
//! a message), which no client means; going through a map first refuses it with 422.
//!
//! serde's messages quote the offending value (`invalid type: integer `123``), and a 422's
//! detail is both answered and logged; a secret field's value must be neither. So a secret
//! field that is not a string is refused first, with a message that names only the field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::AppError;

pub struct JsonObject<T>(pub T);

/// Fields whose value is never echoed; each is a string wherever it appears.
const SECRET_FIELDS: [&str; 2] = ["password", "token"];

/// A secret field of the wrong type, named without its value.
fn secret_of_wrong_type(map: &Map<String, Value>) -> Option<AppError> {
    SECRET_FIELDS
        .into_iter()
        .find_map(|field| match map.get(field) {
            Some(value) if !value.is_string() => {
                Some(AppError::validation(field, "must be a string"))
            }
            _ => None,
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
            let map = map.await?.into_inner();
            if let Some(refused) = secret_of_wrong_type(&map) {
                return Err(refused.into());
            }
            serde_json::from_value(Value::Object(map))
                .map(JsonObject)
                .map_err(|e| {
                    AppError::Validation {
                        field: "body",
                        message: e.to_string(),
                    }
                    .into()
                })
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
            let map: Map<String, Value> = serde_json::from_str(body).unwrap();
            let err = secret_of_wrong_type(&map).expect("refused");
            let shown = err.to_string();
            assert!(
                !shown.contains("123456789") && !shown.contains("s3cr3t"),
                "{shown}"
            );
        }
        let fine: Map<String, Value> =
            serde_json::from_str(r#"{"username":1,"password":"ok"}"#).unwrap();
        assert!(secret_of_wrong_type(&fine).is_none());
    }
}
