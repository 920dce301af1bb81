//! JSON-RPC 2.0 envelopes and the error codes of the Kurento Protocol.

use serde_json::{json, Map, Value};

/// An error answered to a request: JSON-RPC's own codes (-32700 ... -32602) or
/// Kurento's (40001 ... 40911), with Kurento's name of it in `data.type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// The numeric code.
    pub code: i64,
    /// Human-readable cause.
    pub message: String,
    /// Kurento's name of the code (`data.type`).
    pub kind: &'static str,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $fn:ident => $code:expr, $kind:expr; )*) => {
        impl RpcError {
            $(
                $(#[$doc])*
                pub fn $fn(message: impl Into<String>) -> RpcError {
                    RpcError { code: $code, message: message.into(), kind: $kind }
                }
            )*
        }
    };
}

codes! {
    /// -32700: the text is not JSON.
    parse_error => -32700, "PARSE_ERROR";
    /// -32600: JSON, but not a JSON-RPC 2.0 request.
    invalid_request => -32600, "INVALID_REQUEST";
    /// -32601: no such method.
    method_not_found => -32601, "METHOD_NOT_FOUND";
    /// -32602: the params are missing or of the wrong shape.
    invalid_params => -32602, "INVALID_PARAMS";
    /// 40006: the server does not implement this (yet).
    not_implemented => 40006, "NOT_IMPLEMENTED";
    /// 40007: `connect` named a session the server does not know.
    invalid_session => 40007, "INVALID_SESSION";
    /// 40008: a transaction's ids or `newref:` references are wrong.
    malformed_transaction => 40008, "MALFORMED_TRANSACTION";
    /// 40009: a resource limit (sessions, pipelines, system resources) was reached.
    not_enough_resources => 40009, "NOT_ENOUGH_RESOURCES";
    /// 40100: unknown type, or constructor parameters that do not fit it.
    type_not_found => 40100, "MEDIA_OBJECT_TYPE_NOT_FOUND";
    /// 40101: no live object with that id (never created, or released).
    object_not_found => 40101, "MEDIA_OBJECT_NOT_FOUND";
    /// 40105: the object has no such operation.
    operation_not_found => 40105, "MEDIA_OBJECT_METHOD_NOT_FOUND";
    /// 40106: the object raises no such event.
    event_not_supported => 40106, "MEDIA_OBJECT_EVENT_NOT_SUPPORTED";
    /// 40107: an operation parameter is out of its domain.
    illegal_param => 40107, "MEDIA_OBJECT_ILLEGAL_PARAM_ERROR";
    /// 40110: `getTag` of a key that is not set.
    tag_not_found => 40110, "MEDIA_OBJECT_TAG_KEY_NOT_FOUND";
    /// 40111: the operation cannot be done on this object.
    operation_not_supported => 40111, "MEDIA_OBJECT_OPERATION_NOT_SUPPORTED";
    /// 40201: an SDP does not parse.
    sdp_parse => 40201, "SDP_PARSE_ERROR";
    /// 40202: no local SDP yet.
    no_local_sdp => 40202, "SDP_END_POINT_NO_LOCAL_SDP_ERROR";
    /// 40203: no remote SDP yet.
    no_remote_sdp => 40203, "SDP_END_POINT_NO_REMOTE_SDP_ERROR";
    /// 40205: the offer could not be processed.
    process_offer => 40205, "SDP_END_POINT_PROCESS_OFFER_ERROR";
    /// 40206: the answer could not be processed.
    process_answer => 40206, "SDP_END_POINT_PROCESS_ANSWER_ERROR";
    /// 40208: the endpoint already negotiated.
    already_negotiated => 40208, "SDP_END_POINT_ALREADY_NEGOTIATED";
    /// 40209: `processAnswer` without a generated offer.
    not_offer_generated => 40209, "SDP_END_POINT_NOT_OFFER_GENERATED";
    /// 40400: candidates could not be gathered.
    gather_candidates => 40400, "ICE_GATHER_CANDIDATES_ERROR";
    /// 40401: a remote candidate was refused.
    add_candidate => 40401, "ICE_ADD_CANDIDATE_ERROR";
    /// 40003: anything else.
    unexpected => 40003, "UNEXPECTED_ERROR";
}

impl RpcError {
    /// The `error` member of a response.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message, "data": {"type": self.kind}})
    }
}

/// A response to request `id` with `result`.
pub fn result_response(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// A response to request `id` (null when it could not be read) with `error`.
pub fn error_response(id: &Value, error: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()})
}

/// A server notification (no id).
pub fn notification(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

/// A request read from the wire: checked to be JSON-RPC 2.0.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The request id; `None` for a notification (no response is sent).
    pub id: Option<Value>,
    /// The method name.
    pub method: String,
    /// The params (an empty object when absent or null).
    pub params: Map<String, Value>,
}

/// Why a text is not a request, with the id to answer to (null when unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    /// The id the error response carries.
    pub id: Value,
    /// The error.
    pub error: RpcError,
}

/// Reads one request from a text message.
pub fn parse_request(text: &str) -> Result<Request, Rejected> {
    let value: Value = serde_json::from_str(text).map_err(|e| Rejected {
        id: Value::Null,
        error: RpcError::parse_error(format!("Parse error: {e}")),
    })?;
    request_from_value(value)
}

/// Checks a parsed JSON value to be a request (also used for transaction operations).
pub fn request_from_value(value: Value) -> Result<Request, Rejected> {
    let Value::Object(mut obj) = value else {
        return Err(Rejected {
            id: Value::Null,
            error: RpcError::invalid_request(
                "a request is a JSON object (batches are not supported)",
            ),
        });
    };
    let id = obj.remove("id");
    let reject = |error: RpcError, id: &Option<Value>| Rejected {
        id: id.clone().unwrap_or(Value::Null),
        error,
    };
    if let Some(bad) = id
        .as_ref()
        .filter(|v| !(v.is_number() || v.is_string() || v.is_null()))
    {
        return Err(Rejected {
            id: Value::Null,
            error: RpcError::invalid_request(format!("id must be a number or a string, not {bad}")),
        });
    }
    match obj.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        other => {
            let got = other.map_or("nothing".to_owned(), Value::to_string);
            return Err(reject(
                RpcError::invalid_request(format!("jsonrpc must be \"2.0\", got {got}")),
                &id,
            ));
        }
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => {
            return Err(reject(
                RpcError::invalid_request("method must be a string"),
                &id,
            ))
        }
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err(reject(
                RpcError::invalid_params("params must be an object"),
                &id,
            ))
        }
    };
    Ok(Request {
        id: id.filter(|v| !v.is_null()),
        method,
        params,
    })
}

/// Typed access to request params, with -32602 / 40107 errors naming the parameter.
pub trait Params {
    /// A required string.
    fn str_param(&self, name: &str) -> Result<&str, RpcError>;
    /// An optional string.
    fn opt_str(&self, name: &str) -> Result<Option<&str>, RpcError>;
    /// An optional boolean.
    fn opt_bool(&self, name: &str) -> Result<Option<bool>, RpcError>;
    /// An optional unsigned integer.
    fn opt_u64(&self, name: &str) -> Result<Option<u64>, RpcError>;
}

impl Params for Map<String, Value> {
    fn str_param(&self, name: &str) -> Result<&str, RpcError> {
        self.opt_str(name)?
            .ok_or_else(|| RpcError::invalid_params(format!("'{name}' is required")))
    }

    fn opt_str(&self, name: &str) -> Result<Option<&str>, RpcError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(RpcError::invalid_params(format!(
                "'{name}' must be a string"
            ))),
        }
    }

    fn opt_bool(&self, name: &str) -> Result<Option<bool>, RpcError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(RpcError::invalid_params(format!(
                "'{name}' must be a boolean"
            ))),
        }
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, RpcError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                RpcError::invalid_params(format!("'{name}' must be a non-negative integer"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        let r = parse_request(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert_eq!((r.id, r.method.as_str()), (Some(json!(1)), "ping"));
        let bad = parse_request("{nope").unwrap_err();
        assert_eq!((bad.id, bad.error.code), (Value::Null, -32700));
        let v1 = parse_request(r#"{"jsonrpc":"1","id":7,"method":"ping"}"#).unwrap_err();
        assert_eq!((v1.id, v1.error.code), (json!(7), -32600));
        let batch = parse_request("[]").unwrap_err();
        assert_eq!(batch.error.code, -32600);
        let params =
            parse_request(r#"{"jsonrpc":"2.0","id":"a","method":"x","params":3}"#).unwrap_err();
        assert_eq!((params.id, params.error.code), (json!("a"), -32602));
        let no_method = parse_request(r#"{"jsonrpc":"2.0","id":2}"#).unwrap_err();
        assert_eq!(no_method.error.code, -32600);
        let notification = parse_request(r#"{"jsonrpc":"2.0","method":"ping"}"#).unwrap();
        assert_eq!(notification.id, None);
    }
}
