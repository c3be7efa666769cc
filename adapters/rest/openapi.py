"""Hand-written OpenAPI 3.1 document of the native API v1, served at ``/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

_AUTH = [{"signedRequest": []}, {"bearer": []}]
_ERR = {"$ref": "#/components/responses/Error"}
_ID = {"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}
_PAGE = [
    {"name": "after", "in": "query", "schema": {"type": "string"}, "description": "cursor"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
]
_RECEIPT = {"$ref": "#/components/schemas/Receipt"}
_XML_BODY = {"content": {"application/xml": {"schema": {"type": "string"}}}, "required": True}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _ERR for c in codes}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "edoc-gateway native API",
        "version": "1.0.0",
        "description": (
            "Exchange of edXML (QCVN 102) documents and status packets between state agencies."
            " Requests are signed (X-Edoc-System, X-Edoc-Timestamp, X-Edoc-Nonce,"
            " X-Edoc-Signature = hex HMAC-SHA256 with the system secret of"
            " METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(SHA256(body))) or carry a bearer"
            " token from POST /v1/tokens (revocable: DELETE /v1/tokens/{token_id})."
            " Credentials are checked from the headers before the body is read; a body must"
            " arrive within limits.read_timeout_s (else 408 REQUEST_TIMEOUT)."
        ),
    },
    "servers": [{"url": "/v1"}],
    "security": _AUTH,
    "paths": {
        "/tokens": {
            "post": {
                "summary": "Issue a bearer token to the signing system",
                "description": (
                    "Only a signed request (the system's secret) mints a token; a request "
                    "carrying a bearer token is refused (401), so a token never renews itself. "
                    "Tokens expire after limits.token_ttl_s; rotating or disabling the system "
                    "revokes every token it holds, and DELETE /v1/tokens/{token_id} (or the CLI "
                    "`edoc-gateway systems revoke-token`) revokes one."
                ),
                "security": [{"signedRequest": []}],
                "responses": {
                    "200": {
                        "description": "token",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Token"}}
                        },
                    },
                    **_errors(401, 408),
                },
            }
        },
        "/tokens/{token_id}": {
            "delete": {
                "summary": "Revoke one bearer token of the calling system",
                "description": (
                    "The caller's own system only (a signed request, or the token itself). "
                    "Every gateway process refuses the token within seconds (401 AUTH_FAILED, "
                    "audited); revoking twice answers revoked: false."
                ),
                "parameters": [
                    {
                        "name": "token_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 64},
                        "description": "token_id of the POST /v1/tokens answer",
                    }
                ],
                "responses": {
                    "200": {
                        "description": "revoked (false: it already was)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "token_id": {"type": "string"},
                                        "revoked": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401),
                },
            }
        },
        "/messages": {
            "post": {
                "summary": "Submit an edXML document or status packet",
                "requestBody": _XML_BODY,
                "responses": {
                    "202": {
                        "description": "accepted; JSON receipt, or the signed XML receipt"
                        " with Accept: application/xml",
                        "content": {
                            "application/json": {"schema": _RECEIPT},
                            "application/xml": {"schema": {"type": "string"}},
                        },
                    },
                    "200": {
                        "description": "duplicate: the original receipt, nothing stored",
                        "content": {"application/json": {"schema": _RECEIPT}},
                    },
                    **_errors(400, 401, 403, 408, 409, 413, 422, 503),
                },
            }
        },
        "/inbox": {
            "get": {
                "summary": "Deliveries waiting for the caller's agencies (pull)",
                "parameters": _PAGE,
                "responses": {
                    "200": {
                        "description": "page of inbox items; `next` is the cursor to pass",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "items": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/InboxItem"},
                                        },
                                        "next": {"type": ["string", "null"]},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401),
                },
            }
        },
        "/sent": {
            "get": {
                "summary": "Messages sent by the caller's agencies, newest first",
                "parameters": _PAGE,
                "responses": {"200": {"description": "page of messages"}, **_errors(401)},
            }
        },
        "/messages/{message_id}": {
            "get": {
                "summary": "The packet bytes (sender and recipients only)",
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "edXML packet",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 404, 410),  # 410: taken down or recalled
                },
            }
        },
        "/messages/{message_id}/ack": {
            "post": {
                "summary": "Confirm arrival; the gateway sends status 01 to the sender",
                "parameters": [_ID],
                "responses": {"200": {"description": "acknowledged codes"}, **_errors(401, 404)},
            }
        },
        "/messages/{message_id}/trace": {
            "get": {
                "summary": "Per-recipient delivery state, status history and hops",
                "description": (
                    "`message`, `deliveries`, `statuses` and `hops`: the nodes a relayed "
                    "message passed before this one, oldest first (`node`, `received_at`, "
                    "`forwarded_at` as each node reported them; `reported_by`, `via`, "
                    "`recorded_at` as this node recorded the report)."
                ),
                "parameters": [_ID],
                "responses": {"200": {"description": "trace"}, **_errors(401, 404)},
            }
        },
    },
    "components": {
        "securitySchemes": {
            "signedRequest": {"type": "apiKey", "in": "header", "name": "X-Edoc-Signature"},
            "bearer": {"type": "http", "scheme": "bearer"},
        },
        "responses": {
            "Error": {
                "description": "refusal",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message_vi", "message_en", "path"],
                        "properties": {
                            "code": {"type": "string"},
                            "message_vi": {"type": "string"},
                            "message_en": {"type": "string"},
                            "path": {"type": "string"},
                        },
                    }
                },
            },
            "Token": {
                "type": "object",
                "properties": {
                    "token": {"type": "string"},
                    "token_type": {"const": "Bearer"},
                    "expires_at": {"type": "integer"},
                    "token_id": {"type": "string", "description": "names it for revocation"},
                },
            },
            "Receipt": {
                "type": "object",
                "required": ["message_id", "content_sha256", "accepted_at", "legal_receipt_at"],
                "properties": {
                    "message_id": {"type": "string"},
                    "kind": {"enum": ["document", "status"]},
                    "document_id": {"type": "string"},
                    "sender": {"type": "string"},
                    "content_sha256": {"type": "string"},
                    "accepted_at": {"type": "string", "format": "date-time"},
                    "legal_receipt_at": {"type": "string", "format": "date-time"},
                    "signature": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "string"},
                            "signer": {"type": ["string", "null"]},
                            "algorithm": {"type": ["string", "null"]},
                        },
                    },
                    "recipients": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "resolved_code": {"type": "string"},
                                "endpoint": {"type": "string"},
                                "delivery_id": {"type": "string"},
                                "state": {"type": "string"},
                            },
                        },
                    },
                    "duplicate": {"type": "boolean"},
                    "warnings": {"type": "array", "items": {"type": "object"}},
                },
            },
            "InboxItem": {
                "type": "object",
                "properties": {
                    "cursor": {"type": "string"},
                    "delivery_id": {"type": "string"},
                    "message_id": {"type": "string"},
                    "kind": {"type": "string"},
                    "sender": {"type": "string"},
                    "recipient": {"type": "string"},
                    "document_id": {"type": "string"},
                    "content_sha256": {"type": "string"},
                    "size": {"type": "integer"},
                    "status_code": {"type": ["integer", "null"]},
                },
            },
        },
    },
}
