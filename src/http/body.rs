//! `JsonObject<T>`: a JSON request body that must be an object.
//!
//! serde's derived structs also accept a JSON array of the fields in order (`["hi"]` would be
//! a message), which no client means; going through a map first refuses it with 422.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::AppError;

pub struct JsonObject<T>(pub T);

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
