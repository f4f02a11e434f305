/// The OpenAPI 3.1 description of the API, served at `/api/v1/openapi.json`.
///
/// Written by hand next to the handlers. `HTTPAPITests` keeps the two honest: every registered
/// route must be documented, every documented operation must be served, and the bodies of the
/// tested calls must carry the properties their schema marks required.
enum OpenAPIDocument {
    /// The document as JSON text.
    static let json = #"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "lmdflow",
            "version": "1",
            "summary": "Runs, files, re-selection and retries of the lmdflow drop-folder service.",
            "description": "When token files are configured (always when the API is bound to a non-loopback address) every request except GET /healthz needs `Authorization: Bearer TOKEN`. Read tokens may GET; write tokens may also POST. Errors are `{\"error\": {\"code\", \"message\"}}`."
          },
          "servers": [{"url": "/"}],
          "security": [{"bearer": []}],
          "paths": {
            "/healthz": {
              "get": {
                "operationId": "health",
                "summary": "Liveness: 200 while the server is serving. Needs no token.",
                "security": [],
                "responses": {
                  "200": {"description": "Serving.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
                }
              }
            },
            "/readyz": {
              "get": {
                "operationId": "ready",
                "summary": "Readiness: the catalog answers and the daemon's status row is fresh.",
                "responses": {
                  "200": {"description": "Ready.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ready"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "429": {"$ref": "#/components/responses/TooManyRequests"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/metrics": {
              "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format), refreshed from the catalog at each scrape.",
                "responses": {
                  "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "429": {"$ref": "#/components/responses/TooManyRequests"},
                  "503": {"$ref": "#/components/responses/Error"}
                }
              }
            },
            "/": {
              "get": {
                "operationId": "statusPage",
                "summary": "Status page: the newest runs with progress, previews and download links (HTML, reloads every 10 s).",
                "responses": {
                  "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "429": {"$ref": "#/components/responses/TooManyRequests"}
                }
              }
            },
            "/api/v1/openapi.json": {
              "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "responses": {
                  "200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"}
                }
              }
            },
            "/api/v1/runs": {
              "get": {
                "operationId": "listRuns",
                "summary": "Runs, newest first.",
                "parameters": [
                  {"name": "state", "in": "query", "schema": {"$ref": "#/components/schemas/RunState"}},
                  {"name": "profile", "in": "query", "schema": {"type": "string"}},
                  {"name": "since", "in": "query", "description": "Created at or after: ISO 8601 time or date, or seconds since 1970.", "schema": {"type": "string"}},
                  {"name": "until", "in": "query", "description": "Created before: ISO 8601 time or date, or seconds since 1970.", "schema": {"type": "string"}},
                  {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
                ],
                "responses": {
                  "200": {"description": "The runs.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunList"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "429": {"$ref": "#/components/responses/TooManyRequests"}
                }
              }
            },
            "/api/v1/runs/{id}": {
              "parameters": [{"$ref": "#/components/parameters/RunID"}],
              "get": {
                "operationId": "getRun",
                "summary": "One run: stages with timings and metrics, cell counts, selections, errors, outputs with download URLs, events.",
                "responses": {
                  "200": {"description": "The run.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunDetails"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/TooManyRequests"}
                }
              }
            },
            "/api/v1/runs/{id}/files/{name}": {
              "parameters": [
                {"$ref": "#/components/parameters/RunID"},
                {"name": "name", "in": "path", "required": true, "description": "Base name of one of the run's outputs (cut XML, preview PNG, features CSV, run.json, …), percent-encoded.", "schema": {"type": "string"}}
              ],
              "get": {
                "operationId": "getRunFile",
                "summary": "Download a file the catalog lists as the run's output. Only files inside the run's directory or the outbox are served.",
                "responses": {
                  "200": {
                    "description": "The file.",
                    "content": {
                      "application/xml": {"schema": {"type": "string"}},
                      "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
                      "text/csv": {"schema": {"type": "string"}},
                      "application/json": {"schema": {"type": "object"}},
                      "application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
                    }
                  },
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/TooManyRequests"}
                }
              }
            },
            "/api/v1/runs/{id}/select": {
              "parameters": [{"$ref": "#/components/parameters/RunID"}],
              "post": {
                "operationId": "selectCells",
                "summary": "Re-select cells on a succeeded run and write a new cut-file version (needs a write token).",
                "requestBody": {
                  "required": true,
                  "description": "The sets document `lmdflow select --sets` takes (YAML, or the same as JSON): `cell_sets` and `max_per_well`. `ids_csv` paths are relative to the run directory.",
                  "content": {
                    "application/yaml": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"$ref": "#/components/schemas/SetsDocument"}}
                  }
                },
                "responses": {
                  "201": {"description": "The new selection version.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Selection"}}}},
                  "400": {"$ref": "#/components/responses/Error"},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"},
                  "413": {"$ref": "#/components/responses/Error"},
                  "422": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/TooManyRequests"}
                }
              }
            },
            "/api/v1/runs/{id}/retry": {
              "parameters": [{"$ref": "#/components/parameters/RunID"}],
              "post": {
                "operationId": "retryRun",
                "summary": "Queue a new run for the input of a failed or cancelled run (needs a write token).",
                "responses": {
                  "202": {"description": "The new, queued run.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Retry"}}}},
                  "401": {"$ref": "#/components/responses/Unauthorized"},
                  "403": {"$ref": "#/components/responses/Error"},
                  "404": {"$ref": "#/components/responses/Error"},
                  "409": {"$ref": "#/components/responses/Error"},
                  "429": {"$ref": "#/components/responses/TooManyRequests"}
                }
              }
            }
          },
          "components": {
            "securitySchemes": {
              "bearer": {"type": "http", "scheme": "bearer", "description": "A token from read_tokens_file or write_tokens_file."}
            },
            "parameters": {
              "RunID": {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}
            },
            "responses": {
              "Error": {"description": "An error.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
              "Unauthorized": {
                "description": "No token, or an unknown one.",
                "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
              },
              "TooManyRequests": {
                "description": "More requests than requests_per_minute from this client.",
                "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
              }
            },
            "schemas": {
              "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                  "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                  }
                }
              },
              "RunState": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
              "Run": {
                "type": "object",
                "required": ["id", "state", "profile", "input_id", "input_path", "attempts", "stage_count", "stages_done", "created_at", "version", "url"],
                "properties": {
                  "id": {"type": "integer"},
                  "state": {"$ref": "#/components/schemas/RunState"},
                  "profile": {"type": "string"},
                  "input_id": {"type": "integer"},
                  "input_path": {"type": "string"},
                  "attempts": {"type": "integer"},
                  "stage_count": {"type": "integer"},
                  "stages_done": {"type": "integer"},
                  "current_stage": {"type": "string"},
                  "created_at": {"type": "string", "format": "date-time"},
                  "started_at": {"type": "string", "format": "date-time"},
                  "finished_at": {"type": "string", "format": "date-time"},
                  "duration_s": {"type": "number"},
                  "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                  },
                  "version": {"type": "string"},
                  "retry_of": {"type": "integer"},
                  "url": {"type": "string"}
                }
              },
              "RunList": {
                "type": "object",
                "required": ["runs", "count"],
                "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}, "count": {"type": "integer"}}
              },
              "Stage": {
                "type": "object",
                "required": ["ordinal", "name", "state", "metrics"],
                "properties": {
                  "ordinal": {"type": "integer"},
                  "name": {"type": "string"},
                  "state": {"type": "string", "enum": ["pending", "running", "succeeded", "skipped", "failed", "interrupted"]},
                  "started_at": {"type": "string", "format": "date-time"},
                  "finished_at": {"type": "string", "format": "date-time"},
                  "duration_s": {"type": "number"},
                  "message": {"type": "string"},
                  "metrics": {"type": "object", "additionalProperties": {"type": "number"}}
                }
              },
              "Output": {
                "type": "object",
                "required": ["name", "kind", "bytes", "sha256", "created_at", "url"],
                "properties": {
                  "name": {"type": "string"},
                  "kind": {"type": "string"},
                  "bytes": {"type": "integer"},
                  "sha256": {"type": "string"},
                  "created_at": {"type": "string", "format": "date-time"},
                  "url": {"type": "string"}
                }
              },
              "Cells": {
                "type": "object",
                "required": ["count", "sets"],
                "properties": {
                  "count": {"type": "integer"},
                  "sets": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": ["version", "name", "count"],
                      "properties": {"version": {"type": "integer"}, "name": {"type": "string"}, "well": {"type": "string"}, "count": {"type": "integer"}}
                    }
                  }
                }
              },
              "Event": {
                "type": "object",
                "required": ["at", "level", "kind", "message"],
                "properties": {
                  "at": {"type": "string", "format": "date-time"},
                  "level": {"type": "string"},
                  "kind": {"type": "string"},
                  "message": {"type": "string"}
                }
              },
              "RunDetails": {
                "type": "object",
                "required": ["run", "stages", "cells", "outputs", "events"],
                "properties": {
                  "run": {"$ref": "#/components/schemas/Run"},
                  "stages": {"type": "array", "items": {"$ref": "#/components/schemas/Stage"}},
                  "cells": {"$ref": "#/components/schemas/Cells"},
                  "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Output"}},
                  "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}
                }
              },
              "Retry": {
                "type": "object",
                "required": ["run"],
                "properties": {"run": {"$ref": "#/components/schemas/Run"}}
              },
              "SetsDocument": {
                "type": "object",
                "required": ["cell_sets"],
                "properties": {
                  "max_per_well": {"type": "integer", "minimum": 1},
                  "cell_sets": {"type": "array", "items": {"type": "object"}}
                }
              },
              "Selection": {
                "type": "object",
                "required": ["run_id", "version", "sets", "summary", "files"],
                "properties": {
                  "run_id": {"type": "integer"},
                  "version": {"type": "integer"},
                  "sets": {
                    "type": "array",
                    "items": {
                      "type": "object",
                      "required": ["name", "count"],
                      "properties": {"name": {"type": "string"}, "well": {"type": "string"}, "count": {"type": "integer"}}
                    }
                  },
                  "summary": {"type": "string"},
                  "files": {"type": "array", "items": {"$ref": "#/components/schemas/Output"}}
                }
              },
              "Health": {
                "type": "object",
                "required": ["status", "version"],
                "properties": {"status": {"type": "string", "const": "ok"}, "version": {"type": "string"}}
              },
              "Ready": {
                "type": "object",
                "required": ["status", "daemon", "runs"],
                "properties": {
                  "status": {"type": "string", "const": "ready"},
                  "daemon": {
                    "type": "object",
                    "required": ["state", "heartbeat_at", "age_s", "version"],
                    "properties": {
                      "state": {"type": "string"},
                      "heartbeat_at": {"type": "string", "format": "date-time"},
                      "age_s": {"type": "number"},
                      "version": {"type": "string"}
                    }
                  },
                  "runs": {"type": "object", "additionalProperties": {"type": "integer"}}
                }
              }
            }
          }
        }
        """#
}
